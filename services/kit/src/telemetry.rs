//! The one place that builds the tracing subscriber.
//!
//! `RUST_LOG` filters (default `info`, with HTTP/2 internals quietened);
//! `VRS_LOG_FORMAT=json` switches to JSON lines for production. Tests stay
//! quiet unless `TEST_LOG` is set. Personal identifiers never go into fields:
//! callers log application ids and dossier codes, not people.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

const DEFAULT_FILTER: &str = "info,h2=warn,hyper=warn,tower=warn,sqlx=warn,sea_orm=warn";

/// Initialises the global subscriber once; later calls are no-ops.
pub fn init(service: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let json = std::env::var("VRS_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let res = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    if res.is_ok() {
        tracing::debug!(service, "telemetry initialised");
    }
}

/// For tests: logs only when `TEST_LOG` is set.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        init("test");
    }
}
