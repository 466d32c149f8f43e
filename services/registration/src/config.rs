//! Configuration of the registration service. `Config::default()` is a
//! working local setup: SQLite under `var/`, agencies on their default ports.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::workflow::Ordering;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub agencies: AgenciesConfig,
    pub workflow: WorkflowConfig,
    pub worker: WorkerConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Largest request accepted, in bytes; larger ones get RESOURCE_EXHAUSTED.
    pub max_message_bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `sqlite://path?mode=rwc` (default) or `postgres://…`. `DATABASE_URL` overrides.
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AgenciesConfig {
    pub identity_url: String,
    pub tax_url: String,
    pub customs_url: String,
    pub register_url: String,
    /// Deadline of one call to one agency.
    pub call_timeout_ms: u64,
    /// Retries after the first attempt, on transient codes only.
    pub retries: u32,
    /// First retry delay; doubles each retry, with ±50 % jitter.
    pub retry_base_ms: u64,
    /// Consecutive failures that open an agency's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker fails fast before letting one probe through.
    pub breaker_cooldown_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkflowConfig {
    /// `draw-first` (Decision 1383/QĐ-BCA) or `check-first` (Decision 9093/QĐ-BCA).
    pub ordering: Ordering,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerConfig {
    /// How often the worker looks for applications whose lookups are due.
    pub poll_interval_ms: u64,
    /// How long a claimed application is left to its claimer before another worker may take it.
    pub lease_ms: u64,
    /// Backoff of an application waiting for an agency: base, doubled per attempt, capped.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Applications claimed per poll.
    pub batch: u64,
    /// Applications processed at once by one worker.
    pub concurrency: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            max_message_bytes: 64 * 1024,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://var/registration.db?mode=rwc".into(),
            max_connections: 16,
        }
    }
}

impl Default for AgenciesConfig {
    fn default() -> Self {
        AgenciesConfig {
            identity_url: "http://127.0.0.1:50061".into(),
            tax_url: "http://127.0.0.1:50062".into(),
            customs_url: "http://127.0.0.1:50063".into(),
            register_url: "http://127.0.0.1:50064".into(),
            call_timeout_ms: 1_000,
            retries: 2,
            retry_base_ms: 50,
            breaker_failures: 5,
            breaker_cooldown_ms: 5_000,
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            poll_interval_ms: 500,
            lease_ms: 30_000,
            retry_base_ms: 1_000,
            retry_max_ms: 60_000,
            batch: 64,
            concurrency: 16,
        }
    }
}

impl Config {
    /// Defaults, then the optional file, then `VRS_REGISTRATION__*` variables,
    /// then `DATABASE_URL`.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut cfg: Config = vrs_kit::config::load("registration", file)?;
        if let Ok(url) = std::env::var("DATABASE_URL") {
            cfg.database.url = url;
        }
        Ok(cfg)
    }
}

impl AgenciesConfig {
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }
}
