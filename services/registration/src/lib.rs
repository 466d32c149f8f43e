//! The vehicle registration service.
//!
//! A request flows through these parts:
//!
//! - [`api`]: tonic handlers. They turn prost messages into calls on the
//!   [`service::Registry`] and its results back into messages.
//! - [`domain`]: validated identifiers and the declaration ([`domain::ids`],
//!   [`domain::declaration`]), the cross-agency checks ([`domain::checks`]) and
//!   the workflow state machine ([`domain::workflow`]). No I/O.
//! - [`service`]: the registry itself — submission (idempotent on the dossier
//!   code), lookups and their outcome, clerk actions, the office queue, and the
//!   background worker that resumes applications waiting for an agency.
//! - [`lookups`]: gRPC clients of identity, tax, customs and Vietnam Register,
//!   called in parallel with deadlines, retries with jitter and circuit breakers.
//! - [`store`]: sea-orm persistence on SQLite or PostgreSQL; each transition is
//!   one transaction with its history row and evidence.
//! - [`auth`]: who is calling (Ed25519-signed tokens with roles and office),
//!   the authorisation matrix, and per-caller rate limits.
//! - [`outbox`]: delivery of every status change to the portal, in order per
//!   application, at least once with an idempotency key.
//! - [`privacy`]: sealing of declarations at rest and keyed owner lookups,
//!   under a data key set that can be rotated; [`reseal`] rewrites old data
//!   under the current key after a rotation.
//! - [`error`]: the one error type and its one mapping to `tonic::Status`.
//! - [`app`] and [`config`]: assembly and configuration.

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod limits;
pub mod lookups;
pub mod outbox;
pub mod plates;
pub mod privacy;
pub mod reseal;
pub mod retry;
pub mod service;
pub mod store;

/// Milliseconds since the Unix epoch: the time unit of every stored timestamp.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
