//! Configuration of the registration service. `Config::default()` is a
//! working local setup: SQLite under `var/`, agencies on their default ports.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::workflow::Ordering;
pub use crate::store::DatabaseConfig;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub agencies: AgenciesConfig,
    pub workflow: WorkflowConfig,
    pub worker: WorkerConfig,
    pub draw: DrawConfig,
    pub fees: crate::domain::fees::FeesConfig,
    pub portal: crate::outbox::PortalConfig,
    pub auth: crate::auth::AuthConfig,
    pub privacy: PrivacyConfig,
    /// mTLS: this service's certificate (as server, and as client of agencies
    /// and the beacon) and the CA it trusts. Empty: plaintext.
    pub tls: vrs_kit::tls::TlsConfig,
}

/// Personal data at rest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PrivacyConfig {
    /// The 32-byte data key (hex) that seals declarations and keys owner lookups;
    /// generated at first start. In Kubernetes, a Secret shared by all replicas.
    pub data_key_file: String,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            data_key_file: "var/data.key".into(),
        }
    }
}

/// The plate draw: beacon, log, pools.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DrawConfig {
    /// `local` (the beacon service at `beacon_url`) or `drand` (quicknet relay at `beacon_url`).
    pub beacon: String,
    pub beacon_url: String,
    /// A draw commits to the round this many rounds after the latest published one (≥ 2, so
    /// that the commit lands well before the round).
    pub rounds_ahead: u64,
    /// Origin line of the log's checkpoints.
    pub log_origin: String,
    /// Name of the log's checkpoint key.
    pub log_key_name: String,
    /// Ed25519 seed of the checkpoint key; generated at first start. In Kubernetes, a Secret.
    pub log_key_file: String,
    /// How often the resolver looks for commits whose round is out, while it
    /// watches a batch (committed or waited on here).
    pub resolver_poll_ms: u64,
    /// How often it looks when it watches none: for draws committed by other
    /// replicas whose callers went away.
    pub resolver_idle_ms: u64,
    /// Most commits appended in one transaction.
    pub commit_batch: usize,
    /// How long the committer gathers concurrent DrawPlate calls into one transaction.
    pub commit_gather_ms: u64,
    /// How long DrawPlate waits for its result before answering UNAVAILABLE (call again).
    pub draw_timeout_ms: u64,
    /// Which locality code an office draws from, and so which province it
    /// serves (merged provinces have several codes). Offices named `PC-<code>`
    /// need no entry; any other office is unknown, and a declaration naming it
    /// needs correction.
    pub office_localities: std::collections::BTreeMap<String, String>,
    /// Series in the order they open, per class.
    pub car_series: Vec<String>,
    pub motorbike_series: Vec<String>,
    /// Numbers withheld for auction when a series opens (the minister's list).
    pub auction_numbers: Vec<u32>,
}

impl Default for DrawConfig {
    fn default() -> Self {
        DrawConfig {
            beacon: "local".into(),
            beacon_url: "http://127.0.0.1:50070".into(),
            rounds_ahead: 2,
            log_origin: "vn.gov.vrs/plate-draw-log".into(),
            log_key_name: "vrs-plate-log".into(),
            log_key_file: "var/log-signing.key".into(),
            resolver_poll_ms: 100,
            resolver_idle_ms: 1_000,
            commit_batch: 2_000,
            commit_gather_ms: 5,
            draw_timeout_ms: 30_000,
            office_localities: Default::default(),
            car_series: vrs_draw::pool::CAR_SERIES.iter().map(|s| s.to_string()).collect(),
            motorbike_series: ["AA", "AB", "AC", "AD", "AE", "AF", "AG", "AH", "AK", "AL"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            auction_numbers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Largest request accepted, in bytes; larger ones get RESOURCE_EXHAUSTED.
    pub max_message_bytes: usize,
    /// Longest any call may run (DrawPlate waits for its beacon round within it).
    pub request_timeout_ms: u64,
    /// A plaintext port serving gRPC health alone, for kubelet probes (which
    /// cannot present a client certificate). Off by default.
    pub probe_listen: Option<SocketAddr>,
    /// How often readiness (the database, the beacon) is checked.
    pub readiness_interval_ms: u64,
    /// After SIGTERM: how long to keep answering, NOT_SERVING, before refusing
    /// connections, so load balancers stop sending first (a few seconds in Kubernetes).
    pub drain_delay_ms: u64,
    /// After that: how long in-flight calls get to finish before they are abandoned.
    pub shutdown_grace_ms: u64,
    /// How often the database-backed gauges (outbox) are sampled.
    pub metrics_interval_ms: u64,
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
            request_timeout_ms: 60_000,
            probe_listen: None,
            readiness_interval_ms: 5_000,
            drain_delay_ms: 0,
            shutdown_grace_ms: 25_000,
            metrics_interval_ms: 10_000,
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
