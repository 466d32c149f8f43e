//! Configuration of the registration service. `Config::default()` is a
//! working local setup: SQLite under `var/`, agencies on their default ports.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::lookups::AgenciesConfig;
pub use crate::plates::DrawConfig;
pub use crate::service::{WorkerConfig, WorkflowConfig};
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
    /// The current 32-byte data key (hex): it seals new declarations and
    /// hashes new lookups; generated at first start. In Kubernetes, a Secret
    /// shared by all replicas.
    pub data_key_file: String,
    /// Older data keys (hex files, never generated) that still open and find
    /// what they sealed and hashed, while the re-seal job rewrites it under
    /// the current key. To rotate: the new key becomes `data_key_file`, the
    /// old one moves here, and leaves once the job logs that nothing is left.
    pub retired_data_key_files: Vec<String>,
    /// Whether this replica runs the re-seal job while retired keys are configured.
    pub reseal_enabled: bool,
    /// How often the re-seal job looks again once nothing is left.
    pub reseal_interval_ms: u64,
    /// Rows the re-seal job rewrites per transaction.
    pub reseal_batch: u64,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            data_key_file: "var/data.key".into(),
            retired_data_key_files: Vec::new(),
            reseal_enabled: true,
            reseal_interval_ms: 60_000,
            reseal_batch: 200,
        }
    }
}

impl PrivacyConfig {
    /// The data key set: the current key (generated at first start if its
    /// file is missing) and the retired ones (which must exist).
    pub fn keys(&self) -> anyhow::Result<crate::privacy::Privacy> {
        let current = vrs_kit::keys::load_or_create_seed(Path::new(&self.data_key_file))?;
        let retired = self
            .retired_data_key_files
            .iter()
            .filter(|f| !f.trim().is_empty())
            .map(|f| vrs_kit::keys::load_seed(Path::new(f.trim())))
            .collect::<anyhow::Result<Vec<_>>>()?;
        crate::privacy::Privacy::with_retired(&current, &retired)
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
