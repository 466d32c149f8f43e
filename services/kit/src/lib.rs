//! Shared plumbing of every service in the workspace.
//!
//! - [`config`]: typed configuration — defaults that just work, then an optional
//!   TOML file, then `VRS_<SERVICE>__SECTION__KEY` environment variables.
//! - [`telemetry`]: the one place that builds the tracing subscriber.
//! - [`shutdown`]: a [`tokio_util::sync::CancellationToken`] cancelled by SIGTERM or Ctrl-C.
//! - [`grpc`]: binds a listener and serves tonic services together with standard
//!   health checking and server reflection (v1 and v1alpha), draining on shutdown.
//! - [`faults`]: injected latency, error rate and outage for the agency stand-ins.
//! - [`agency`]: what the agency stand-ins share: their configuration, their
//!   `main`, binding, request-validation helpers, and serving on loopback for
//!   tests and tools.
//! - [`evidence`]: the request hash every agency response carries.
//! - [`samples`]: submissions built from the data set, for the CLI, tests and load tests.
//! - [`tls`]: mutual TLS between services, and the HTTPS client configuration.
//! - [`pg`]: a throwaway PostgreSQL cluster of its own, for tests that restart,
//!   stall, back up or encrypt the database.
//! - [`world`]: the seeded, deterministic data set the agency stand-ins serve.

pub mod agency;
pub mod config;
pub mod evidence;
pub mod faults;
pub mod grpc;
pub mod html;
pub mod keys;
pub mod pg;
pub mod samples;
pub mod shutdown;
pub mod telemetry;
pub mod tls;
pub mod token;
pub mod world;
