//! What the agency stand-ins (`identity`, `tax`, `customs`, `register`) share.
//!
//! Each stand-in is one gRPC service over the seeded [`World`], with injected
//! [`Faults`]. Everything around its handlers is the same and lives here:
//!
//! - [`AgencyConfig`]: `listen` and `[faults]`, with the agency's default port
//!   as a const parameter; each crate names it `pub type Config = AgencyConfig<PORT>`.
//! - [`run`]: the whole `main` — telemetry, `--config FILE`, configuration
//!   (`VRS_<AGENCY>__*`), the standard world, the crate's `build`, serving until
//!   SIGTERM.
//! - [`bind`]: the first half of each crate's `build`: bind the listener (with
//!   the agency's name in the error) and create the live fault switches.
//! - Handler helpers: [`invalid`] (`INVALID_ARGUMENT` with a `BadRequest`
//!   field violation), [`is_personal_id`], [`is_chassis_number`].
//! - [`start`]: serves a built server on its bound address in the background
//!   and connects a [`Channel`] to it, for tests and tools; [`spawn`] builds an
//!   agency on loopback and does that, for integration tests;
//!   [`ensure_serving`] checks the standard health service.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Deserializer, Serialize};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::{ErrorDetails, StatusExt};

use crate::faults::{FaultConfig, Faults};
use crate::grpc::GrpcServer;
use crate::world::World;

/// Largest request an agency decodes; every lookup key fits many times over.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// Configuration of an agency stand-in whose default port is `PORT`: `listen`
/// and `[faults]`, overridable by `VRS_<AGENCY>__*`. A field left out takes
/// its [`Default`].
#[derive(Debug, Clone, Serialize)]
pub struct AgencyConfig<const PORT: u16> {
    /// Address the gRPC server binds (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Faults injected into every call, switchable at run time through [`Faults`].
    pub faults: FaultConfig,
    /// mTLS: only clients with a certificate from our CA get in.
    pub tls: crate::tls::TlsConfig,
    /// A plaintext port serving gRPC health alone, for kubelet probes (off by default).
    pub probe_listen: Option<SocketAddr>,
    /// After SIGTERM, how long to answer NOT_SERVING before refusing
    /// connections (see [`GrpcServer::with_drain`]); 0 locally.
    pub drain_delay_ms: u64,
}

impl<const PORT: u16> Default for AgencyConfig<PORT> {
    /// `127.0.0.1:PORT`, no faults.
    fn default() -> Self {
        AgencyConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, PORT)),
            faults: FaultConfig::default(),
            tls: Default::default(),
            probe_listen: None,
            drain_delay_ms: 0,
        }
    }
}

/// What `#[derive(Deserialize)]` with `#[serde(default)]` would do, were const
/// generics supported by the derive: missing fields take their defaults.
impl<'de, const PORT: u16> Deserialize<'de> for AgencyConfig<PORT> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Default, Deserialize)]
        #[serde(default)]
        struct Fields {
            listen: Option<SocketAddr>,
            faults: FaultConfig,
            tls: crate::tls::TlsConfig,
            probe_listen: Option<SocketAddr>,
            drain_delay_ms: u64,
        }
        let fields = Fields::deserialize(deserializer)?;
        let defaults = AgencyConfig::<PORT>::default();
        Ok(AgencyConfig {
            listen: fields.listen.unwrap_or(defaults.listen),
            faults: fields.faults,
            tls: fields.tls,
            probe_listen: fields.probe_listen,
            drain_delay_ms: fields.drain_delay_ms,
        })
    }
}

impl<const PORT: u16> AgencyConfig<PORT> {
    /// An ephemeral loopback port (`127.0.0.1:0`) and no faults: for tests.
    pub fn ephemeral() -> Self {
        AgencyConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            faults: FaultConfig::default(),
            tls: Default::default(),
            probe_listen: None,
            drain_delay_ms: 0,
        }
    }
}

/// The body of an agency's `main`: initialises telemetry, reads `--config FILE`
/// and the configuration prefixed `VRS_<NAME>__`, builds the service over the
/// standard world with `build` (the crate's own `build`), and serves it until
/// SIGTERM or Ctrl-C.
pub async fn run<const PORT: u16, F>(name: &'static str, build: F) -> anyhow::Result<()>
where
    F: AsyncFnOnce(&AgencyConfig<PORT>, Arc<World>) -> anyhow::Result<(GrpcServer, Faults)>,
{
    let _telemetry = crate::telemetry::init(name);
    let path = crate::config::file_from_args()?;
    let cfg: AgencyConfig<PORT> = crate::config::load(name, path.as_deref())?;
    let (server, _faults) = build(&cfg, World::standard()).await?;
    server.serve(crate::shutdown::on_signal()).await
}

/// Binds `cfg.listen` for the agency called `name` and creates its live fault
/// switches from `cfg.faults`. The caller adds its service (limited to
/// [`MAX_REQUEST_BYTES`]) and hands the [`Faults`] to it.
pub async fn bind<const PORT: u16>(name: &str, cfg: &AgencyConfig<PORT>) -> anyhow::Result<(GrpcServer, Faults)> {
    let server = GrpcServer::bind(cfg.listen)
        .await
        .with_context(|| format!("binding the {name} service to {}", cfg.listen))?
        .with_tls(&cfg.tls, crate::tls::ClientAuth::Required)?
        .with_probe_port(cfg.probe_listen)
        .await?
        .with_drain(Duration::from_millis(cfg.drain_delay_ms), Duration::from_secs(25));
    Ok((server, Faults::new(&cfg.faults)))
}

/// `INVALID_ARGUMENT` with one `BadRequest` field violation. Never echoes the value.
pub fn invalid(field: &str, description: &str) -> Status {
    Status::with_error_details(
        Code::InvalidArgument,
        format!("{field} {description}"),
        ErrorDetails::with_bad_request_violation(field, description),
    )
}

/// A personal ID: 12 ASCII digits.
pub fn is_personal_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// A VIN (17) or frame number: 6–20 ASCII letters and digits, any case.
pub fn is_chassis_number(chassis: &str) -> bool {
    (6..=20).contains(&chassis.len()) && chassis.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A server serving in the background on its bound address, with a channel to
/// it. Dropping it cancels the server (which then reports NOT_SERVING and drains).
#[derive(Debug)]
pub struct Running {
    /// The address the server is bound to.
    pub addr: SocketAddr,
    /// A connected channel to `addr`, for clients.
    pub channel: Channel,
    /// Cancelled on drop.
    shutdown: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Serves `server` in a background task and connects a channel to it.
pub async fn start(server: GrpcServer) -> anyhow::Result<Running> {
    let addr = server.local_addr();
    let shutdown = CancellationToken::new();
    let serving = server.serve(shutdown.clone());
    tokio::spawn(async move {
        if let Err(e) = serving.await {
            tracing::error!(%addr, error = format!("{e:#}"), "gRPC server failed");
        }
    });
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    Ok(Running {
        addr,
        channel,
        shutdown,
    })
}

/// An agency built over the standard world on an ephemeral loopback port,
/// serving in the background, with a client to it: what integration tests drive.
#[derive(Debug)]
pub struct Spawned<C> {
    /// A client of the agency's service over `server.channel`.
    pub client: C,
    /// The agency's live fault switches.
    pub faults: Faults,
    /// The data set it serves.
    pub world: Arc<World>,
    /// The server; dropping it (with the rest) stops it.
    pub server: Running,
}

/// Builds an agency with `build` (the crate's own `build`) over
/// [`World::standard`] on `127.0.0.1:0` without faults, [`start`]s it, and
/// makes a client with `client` (the generated `…Client::new`). Logs only when
/// `TEST_LOG` is set.
pub async fn spawn<const PORT: u16, B, C>(build: B, client: impl FnOnce(Channel) -> C) -> anyhow::Result<Spawned<C>>
where
    B: AsyncFnOnce(&AgencyConfig<PORT>, Arc<World>) -> anyhow::Result<(GrpcServer, Faults)>,
{
    crate::telemetry::init_for_tests();
    let world = World::standard();
    let (server, faults) = build(&AgencyConfig::ephemeral(), world.clone()).await?;
    let server = start(server).await?;
    Ok(Spawned {
        client: client(server.channel.clone()),
        faults,
        world,
        server,
    })
}

/// Asks the standard health service behind `channel` about the whole server
/// (`""`) and about `service`; an error unless both are SERVING.
pub async fn ensure_serving(channel: Channel, service: &str) -> anyhow::Result<()> {
    let mut health = HealthClient::new(channel);
    for name in ["", service] {
        let response = health
            .check(HealthCheckRequest {
                service: name.to_string(),
            })
            .await
            .with_context(|| format!("health check of {name:?}"))?
            .into_inner();
        anyhow::ensure!(
            response.status() == ServingStatus::Serving,
            "{name:?} is {:?}, not SERVING",
            response.status()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_listens_on_the_agency_port() {
        let cfg = AgencyConfig::<50061>::default();
        assert_eq!(cfg.listen, SocketAddr::from((Ipv4Addr::LOCALHOST, 50061)));
        assert!(!cfg.faults.outage);
        assert_eq!(AgencyConfig::<50061>::ephemeral().listen.port(), 0);
    }

    #[test]
    fn configuration_overrides_the_defaults() -> anyhow::Result<()> {
        let env = std::collections::HashMap::from([
            ("VRS_TAX__LISTEN".to_string(), "0.0.0.0:7000".to_string()),
            ("VRS_TAX__FAULTS__OUTAGE".to_string(), "true".to_string()),
        ]);
        let cfg: AgencyConfig<50062> = crate::config::load_from("tax", None, env)?;
        assert_eq!(cfg.listen, SocketAddr::from(([0, 0, 0, 0], 7000)));
        assert!(cfg.faults.outage);
        let cfg: AgencyConfig<50062> = crate::config::load_from("tax", None, Default::default())?;
        assert_eq!(cfg.listen.port(), 50062);
        Ok(())
    }

    #[test]
    fn missing_fields_take_their_defaults() -> anyhow::Result<()> {
        let cfg: AgencyConfig<50063> = toml::from_str("[faults]\nlatency_ms = 5\n")?;
        assert_eq!(cfg.listen, SocketAddr::from((Ipv4Addr::LOCALHOST, 50063)));
        assert_eq!(cfg.faults.latency_ms, 5);
        let cfg: AgencyConfig<50063> = toml::from_str("listen = \"127.0.0.1:9\"\n")?;
        assert_eq!(cfg.listen.port(), 9);
        assert!(!cfg.faults.outage);
        Ok(())
    }

    #[test]
    fn keys() {
        assert!(is_personal_id("079046678321"));
        for bad in ["", "07904667832", "0790466783211", "07904667832a"] {
            assert!(!is_personal_id(bad), "{bad:?}");
        }
        for good in ["ABC123", "abc123", "RLH07KWE5SK742656", "A1B2C3D4E5F6G7H8I9J0"] {
            assert!(is_chassis_number(good), "{good:?}");
        }
        for bad in ["A1B2C", "A1B2C3D4E5F6G7H8I9J0K", "ABC-123", "ÄBC123", "ABC123\n"] {
            assert!(!is_chassis_number(bad), "{bad:?}");
        }
    }

    #[test]
    fn invalid_carries_a_field_violation() {
        let status = invalid("chassis_number", "must be 6–20 letters and digits");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "chassis_number must be 6–20 letters and digits");
        let details = status.get_error_details();
        let violations = details
            .bad_request()
            .map(|b| b.field_violations.clone())
            .unwrap_or_default();
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "chassis_number");
        assert_eq!(violations[0].description, "must be 6–20 letters and digits");
    }

    #[tokio::test]
    async fn started_server_is_serving() -> anyhow::Result<()> {
        let (server, _faults) = bind("test", &AgencyConfig::<1>::ephemeral()).await?;
        let running = start(server).await?;
        assert_ne!(running.addr.port(), 0);
        ensure_serving(running.channel.clone(), "").await?;
        let unknown = ensure_serving(running.channel.clone(), "vrs.nothing.v1.Nothing").await;
        assert!(unknown.is_err());
        Ok(())
    }

    #[tokio::test]
    async fn spawned_agency_has_client_and_world() -> anyhow::Result<()> {
        let build = async |cfg: &AgencyConfig<1>, _world: Arc<World>| bind("test", cfg).await;
        let app = spawn(build, HealthClient::new).await?;
        assert!(!app.world.citizens.is_empty());
        let mut health = app.client;
        let response = health.check(HealthCheckRequest::default()).await?.into_inner();
        assert_eq!(response.status(), ServingStatus::Serving);
        Ok(())
    }

    #[tokio::test]
    async fn binding_a_taken_port_names_the_agency() -> anyhow::Result<()> {
        let (server, _faults) = bind("test", &AgencyConfig::<1>::ephemeral()).await?;
        let cfg = AgencyConfig::<1> {
            listen: server.local_addr(),
            faults: FaultConfig::default(),
            tls: Default::default(),
            probe_listen: None,
            drain_delay_ms: 0,
        };
        let err = bind("customs", &cfg)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("binding the customs service to "), "{err}");
        Ok(())
    }
}
