//! Assembly: configuration in, a bound server and its worker out.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use vrs_kit::grpc::GrpcServer;
use vrs_proto::pb::registration::v1::registration_service_server::RegistrationServiceServer;

use beacon::client::{BeaconSource, Drand, LocalBeacon};
use vrs_proto::pb::registration::v1::transparency_log_service_server::TransparencyLogServiceServer;

use crate::api::{Api, LogApi};
use crate::auth::Authenticator;
use crate::config::Config;
use crate::config::DrawConfig;
use crate::domain::jurisdiction::Offices;
use crate::lookups::Agencies;
use crate::outbox::Outbox;
use crate::plates::{LogKeys, Plates};
use crate::service::{Registry, run_worker};
use crate::store::Store;

/// A registration service, bound and migrated, not yet serving.
pub struct Application {
    server: GrpcServer,
    registry: Arc<Registry>,
    auth: Arc<Authenticator>,
    outbox: Outbox,
    metrics_every: std::time::Duration,
    reseal: crate::reseal::Settings,
}

impl Application {
    /// Connects the database (running migrations), prepares the agency
    /// clients and binds the gRPC listener.
    pub async fn build(cfg: &Config) -> anyhow::Result<Application> {
        // Settings that need no network are checked before anything connects.
        cfg.portal.tls()?;
        let privacy = cfg.privacy.keys()?;
        let store = Store::connect(&cfg.database, privacy.clone()).await?;
        // Pinned per key id, refusing a key set that would leave data behind.
        store.pin_data_keys().await?;
        tracing::info!(
            current = %privacy.current_id(),
            retired = ?privacy.retired_ids(),
            "data keys"
        );
        let agencies = Agencies::new(&cfg.agencies, &cfg.tls)?;
        let beacon = connect_beacon(&cfg.draw, &cfg.tls).await?;
        let log_keys = LogKeys::load(&cfg.draw)?;
        let offices = Offices::new(&cfg.draw.office_localities).map_err(anyhow::Error::msg)?;
        let plates = Arc::new(Plates::new(
            store.clone(),
            cfg.draw.clone(),
            offices.clone(),
            cfg.workflow.ordering,
            beacon,
            log_keys,
            privacy,
            cfg.database.max_connections,
        ));
        plates.check_log_rules().await?;
        // The pinned log key, or a rotation to the configured one (draw.retired_log_key_files).
        plates.adopt_log_key().await?;
        let registry = Arc::new(Registry::new(
            store,
            agencies,
            plates,
            offices,
            cfg.fees.clone(),
            &cfg.workflow,
            cfg.worker.clone(),
        ));
        let auth = Arc::new(Authenticator::new(&cfg.auth)?);
        auth.set_revocations(registry.store().revocations().await?);
        // Pinned per key id, so the issuer key can be rotated (see `Store::pin_issuer_keys`).
        let issuer_keys = auth.issuer_keys();
        let pins: Vec<(String, String)> = issuer_keys
            .iter()
            .map(|(kid, key)| {
                let fingerprint = <sha2::Sha256 as sha2::Digest>::digest(key.as_bytes());
                (kid.to_owned(), hex::encode(fingerprint))
            })
            .collect();
        registry.store().pin_issuer_keys(&pins).await?;
        let previous: Vec<&str> = issuer_keys.iter().skip(1).map(|(kid, _)| kid).collect();
        tracing::info!(
            issuer = %cfg.auth.issuer,
            kid = issuer_keys.primary_id(),
            previous_kids = ?previous,
            "token issuer keys"
        );
        let api = RegistrationServiceServer::new(Api::new(registry.clone(), auth.clone()))
            .max_decoding_message_size(cfg.server.max_message_bytes);
        let log_api = TransparencyLogServiceServer::new(LogApi::new(registry.clone(), auth.clone()))
            .max_decoding_message_size(cfg.server.max_message_bytes)
            .max_encoding_message_size(64 * 1024 * 1024);
        let ms = std::time::Duration::from_millis;
        let server = GrpcServer::bind(cfg.server.listen)
            .await?
            .with_timeout(ms(cfg.server.request_timeout_ms))
            .with_tls(&cfg.tls, vrs_kit::tls::ClientAuth::Optional)?
            .with_probe_port(cfg.server.probe_listen)
            .await?
            .with_readiness(readiness(&registry), ms(cfg.server.readiness_interval_ms))
            .with_dependency("beacon", beacon_check(&registry))
            .with_drain(ms(cfg.server.drain_delay_ms), ms(cfg.server.shutdown_grace_ms))
            .add_service(api)
            .add_service(log_api);
        let outbox = Outbox::new(registry.store().clone(), cfg.fees.clone(), cfg.portal.clone())?;
        Ok(Application {
            server,
            registry,
            auth,
            outbox,
            metrics_every: ms(cfg.server.metrics_interval_ms),
            reseal: (&cfg.privacy).into(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The plaintext health port, if configured.
    pub fn probe_addr(&self) -> Option<SocketAddr> {
        self.server.probe_addr()
    }

    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// Serves and runs the background workers until `shutdown`; then stops
    /// taking calls and lets in-flight calls finish (see [`GrpcServer::serve`]).
    /// The workers stop only after that: a DrawPlate still in flight needs the
    /// committer and the resolver to get its plate.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let workers = CancellationToken::new();
        let worker = tokio::spawn(run_worker(self.registry.clone(), workers.clone()));
        let plates = self.registry.plates().clone();
        let committer = tokio::spawn(plates.clone().run_committer(workers.clone()));
        let resolver = tokio::spawn(plates.run_resolver(workers.clone()));
        let outbox = tokio::spawn(crate::outbox::run(self.outbox, workers.clone()));
        let revocations = tokio::spawn(refresh_revocations(
            self.registry.clone(),
            self.auth.clone(),
            workers.clone(),
        ));
        let rate_sync = self.auth.rate_sync().map(|every| {
            tokio::spawn(crate::limits::run_sync(
                self.auth.limits(),
                self.registry.store().clone(),
                every,
                workers.clone(),
            ))
        });
        let reseal = tokio::spawn(crate::reseal::run(
            self.registry.store().clone(),
            self.reseal,
            workers.clone(),
        ));
        let gauges = tokio::spawn(crate::outbox::run_gauges(
            self.registry.store().clone(),
            self.metrics_every,
            workers.clone(),
        ));
        let served = self.server.serve(shutdown.clone()).await;
        workers.cancel();
        worker.await?;
        committer.await?;
        resolver.await?;
        outbox.await?;
        gauges.await?;
        revocations.await?;
        reseal.await?;
        if let Some(sync) = rate_sync {
            sync.await?;
        }
        tracing::info!("registration service stopped");
        served
    }
}

/// Re-reads the revocations every `auth.revocation_refresh_ms`, so a token
/// revoked on any replica is refused here within that time. A failed read
/// keeps the set in force (it never shrinks on an outage).
async fn refresh_revocations(registry: Arc<Registry>, auth: Arc<Authenticator>, stop: CancellationToken) {
    let every = auth.revocation_refresh();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        match registry.store().revocations().await {
            Ok(all) => auth.set_revocations(all),
            Err(e) => tracing::warn!(error = %e, "revocations not refreshed; the last ones stay in force"),
        }
    }
}

/// Ready when the database answers: without it every call fails.
fn readiness(registry: &Arc<Registry>) -> vrs_kit::grpc::Probe {
    let registry = registry.clone();
    Arc::new(move || {
        let registry = registry.clone();
        Box::pin(async move {
            registry
                .store()
                .connection()
                .ping()
                .await
                .map_err(|e| format!("database: {e}"))
        })
    })
}

/// The beacon serves a verified round. Reported as health service `beacon`
/// but not gating readiness: every replica shares the beacon, so making them
/// all unready would turn away submissions, payments and clerks' work that do
/// not need it; draws wait for their round and resolve when it is back.
fn beacon_check(registry: &Arc<Registry>) -> vrs_kit::grpc::Probe {
    let registry = registry.clone();
    Arc::new(move || {
        let registry = registry.clone();
        Box::pin(async move {
            match registry.plates().beacon().round(1).await {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err("no round published yet".into()),
                Err(e) => Err(e.to_string()),
            }
        })
    })
}

/// The configured beacon. The local beacon is retried for a while at start-up,
/// since in a deployment it may come up after us.
async fn connect_beacon(cfg: &DrawConfig, tls: &vrs_kit::tls::TlsConfig) -> anyhow::Result<Arc<dyn BeaconSource>> {
    match cfg.beacon.as_str() {
        "drand" => Ok(Arc::new(Drand::quicknet(cfg.beacon_url.clone())?)),
        "local" => {
            let mut last = None;
            for _ in 0..20 {
                match LocalBeacon::connect(cfg.beacon_url.clone(), tls).await {
                    Ok(b) => return Ok(Arc::new(b)),
                    Err(e) => last = Some(e),
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            anyhow::bail!("beacon at {} unreachable: {last:?}", cfg.beacon_url)
        }
        other => anyhow::bail!("unknown beacon {other:?}: use \"local\" or \"drand\""),
    }
}

pub use vrs_kit::keys::load_or_create_seed;
