//! Starting the system under test, so that one command gives a figure.
//!
//! In this process: a [`LocalPki`], the four agency stand-ins and the local
//! beacon on port 0 (over mTLS, as in production), and the portal stand-in.
//! As child processes: N `registration` replicas, each on a free port,
//! configured by `VRS_REGISTRATION__*` variables the way Kubernetes does it,
//! sharing the log key, the data key and the token issuer's key through files
//! (Secrets in Kubernetes). Their stderr goes to `replica-<i>.log` in the run
//! directory. Children are killed when the [`Stack`] is dropped.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ed25519_dalek::SigningKey;
use portal_standin::Portal;
use registration::store::database_url::{create_fresh, redact};
use sea_orm::{ConnectionTrait, Database};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use vrs_kit::faults::Faults;
use vrs_kit::tls::{LocalPki, TlsConfig};
use vrs_kit::world::World;

use crate::cli::AgencyKind;

/// The token issuer name every replica expects and every token carries.
pub const ISSUER: &str = "vrs-load-issuer";

/// The settings the tool gives every replica besides addresses and keys;
/// each one says why. `--replica-env` overrides any of them.
pub const HARNESS_ENV: &[(&str, &str)] = &[
    // As the Kubernetes base sets it.
    ("VRS_REGISTRATION__DATABASE__MAX_CONNECTIONS", "10"),
    // One simulated clerk reads its queue far more often than a person; the
    // per-caller limiter is not what the queue scenario measures.
    ("VRS_REGISTRATION__AUTH__STAFF_RPS", "1000000"),
    // An application waiting for an agency is retried within seconds of the
    // agency's return, so a fault scenario settles within its two minutes.
    ("VRS_REGISTRATION__WORKER__POLL_INTERVAL_MS", "100"),
    ("VRS_REGISTRATION__WORKER__RETRY_BASE_MS", "200"),
    ("VRS_REGISTRATION__WORKER__RETRY_MAX_MS", "2000"),
    // The same for the portal outbox after a portal outage, and nothing is
    // dead-lettered by an outage of seconds (the bound is for days-long ones).
    ("VRS_REGISTRATION__PORTAL__TIMEOUT_MS", "1000"),
    ("VRS_REGISTRATION__PORTAL__RETRY_BASE_MS", "100"),
    ("VRS_REGISTRATION__PORTAL__RETRY_MAX_MS", "2000"),
    ("VRS_REGISTRATION__PORTAL__MAX_ATTEMPTS", "100000"),
    ("RUST_LOG", "warn"),
];

/// What to start.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// `sqlite` or a PostgreSQL server URL.
    pub db: String,
    pub replicas: usize,
    pub registration_bin: PathBuf,
    pub beacon_period_ms: u64,
    /// Applied after [`HARNESS_ENV`].
    pub replica_env: Vec<(String, String)>,
    pub world: Arc<World>,
}

/// An agency stand-in running in this process, with its live fault switches.
pub struct Agency {
    pub kind: AgencyKind,
    pub addr: SocketAddr,
    /// Latency, error rate and outage, switched while traffic flows.
    pub faults: Faults,
    stop: CancellationToken,
}

/// One `registration` child process.
pub struct Replica {
    pub index: usize,
    pub addr: SocketAddr,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Replica {
    /// The process's peak resident set so far (`VmHWM`), in MiB; `None` once it
    /// is gone or where `/proc` is not Linux's.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }

    /// `kill -9`: the process gets no chance to finish anything.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill().context("SIGKILL")?;
            c.wait().context("reaping the killed replica")?;
        }
        Ok(())
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The running system.
pub struct Stack {
    pub pki: LocalPki,
    pub world: Arc<World>,
    pub agencies: Vec<Agency>,
    pub portal: Portal,
    pub replicas: Vec<Replica>,
    /// The registration database (with credentials, never printed).
    pub db_url: String,
    /// The token issuer's key: the tool mints clerk and supervisor tokens.
    pub issuer: SigningKey,
    /// The portal's client certificate: the registration service knows the portal by it.
    pub portal_tls: TlsConfig,
    pub beacon_period_ms: u64,
    /// Switches that make the local beacon fail (`fault-beacon`).
    pub beacon_faults: beacon::BeaconFaults,
    beacon_stop: CancellationToken,
    /// The PostgreSQL server and the database created for this run, dropped at
    /// the end unless the run directory is kept.
    pg: Option<(String, String)>,
    keep_database: bool,
    /// With `--db own`: the run's own PostgreSQL cluster, which `fault-db`
    /// restarts, cuts off and stalls (stopped and deleted with the stack).
    pub own_db: Option<vrs_kit::pg::LocalPostgres>,
    /// Declared last: removed after the children that write into it are gone.
    dir: Option<tempfile::TempDir>,
}

impl Stack {
    pub async fn start(cfg: &StackConfig) -> anyhow::Result<Stack> {
        anyhow::ensure!(
            cfg.registration_bin.is_file(),
            "the registration binary {} does not exist: build it (`cargo build --release -p registration`) or pass \
             --registration-bin",
            cfg.registration_bin.display()
        );
        let dir = tempfile::Builder::new().prefix("vrs-load-").tempdir()?;
        let path = dir.path().to_owned();
        let pki = LocalPki::generate(&path.join("tls"))?;
        let any = SocketAddr::from(([127, 0, 0, 1], 0));

        let mut agencies = Vec::new();
        for kind in AgencyKind::ALL {
            agencies.push(start_agency(kind, &pki, cfg.world.clone()).await?);
        }
        let beacon_stop = CancellationToken::new();
        let (beacon, beacon_faults) = beacon::build_with_faults(&beacon::Config {
            listen: any,
            key_file: path.join("beacon.key"),
            period_ms: cfg.beacon_period_ms,
            tls: pki.issue("beacon")?,
            ..Default::default()
        })
        .await?;
        let beacon_addr = beacon.local_addr();
        tokio::spawn(beacon.serve(beacon_stop.clone()));
        let portal = Portal::start().await.context("portal stand-in")?;

        let mut own_db = None;
        let (db_url, pg) = if cfg.db == "sqlite" {
            let url = format!("sqlite://{}?mode=rwc", path.join("registration.db").display());
            (url, None)
        } else if cfg.db == "own" {
            let cluster = vrs_kit::pg::LocalPostgres::start(&vrs_kit::pg::ClusterOptions::default())
                .context("starting a PostgreSQL cluster of our own (--db own)")?;
            cluster.psql("postgres", "CREATE DATABASE vrs")?;
            let url = cluster.url("vrs", "");
            own_db = Some(cluster);
            (url, None)
        } else {
            let (url, name) = create_fresh(&cfg.db, "vrs_load")
                .await
                .with_context(|| format!("creating a database on the PostgreSQL at {}", redact(&cfg.db)))?;
            (url, Some((cfg.db.clone(), name)))
        };
        let issuer_file = path.join("issuer.key");
        let issuer = SigningKey::from_bytes(&registration::app::load_or_create_seed(&issuer_file)?);
        let replica_tls = pki.issue("registration")?;
        let portal_tls = pki.issue("portal")?;

        let mut env: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), db_url.clone()),
            (
                "VRS_REGISTRATION__DRAW__BEACON_URL".into(),
                format!("http://{beacon_addr}"),
            ),
            ("VRS_REGISTRATION__DRAW__LOG_KEY_FILE".into(), file(&path, "log.key")),
            (
                "VRS_REGISTRATION__PRIVACY__DATA_KEY_FILE".into(),
                file(&path, "data.key"),
            ),
            ("VRS_REGISTRATION__AUTH__ISSUER".into(), ISSUER.into()),
            (
                "VRS_REGISTRATION__AUTH__ISSUER_SEED_FILE".into(),
                file(&path, "issuer.key"),
            ),
            ("VRS_REGISTRATION__PORTAL__URL".into(), portal.url()),
            ("VRS_REGISTRATION__TLS__CA_FILE".into(), replica_tls.ca_file.clone()),
            ("VRS_REGISTRATION__TLS__CERT_FILE".into(), replica_tls.cert_file.clone()),
            ("VRS_REGISTRATION__TLS__KEY_FILE".into(), replica_tls.key_file.clone()),
        ];
        for a in &agencies {
            env.push((
                format!("VRS_REGISTRATION__AGENCIES__{}_URL", a.kind.name().to_uppercase()),
                format!("http://{}", a.addr),
            ));
        }
        env.extend(HARNESS_ENV.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        env.extend(cfg.replica_env.iter().cloned());

        let mut stack = Stack {
            pki,
            world: cfg.world.clone(),
            agencies,
            portal,
            replicas: Vec::new(),
            db_url,
            issuer,
            portal_tls,
            beacon_period_ms: cfg.beacon_period_ms,
            beacon_faults,
            beacon_stop,
            pg,
            keep_database: false,
            own_db,
            dir: Some(dir),
        };
        match stack.start_replicas(cfg, &env, &path).await {
            Ok(()) => Ok(stack),
            Err(e) => {
                // The replicas' logs stay for a post-mortem; the empty database goes.
                let dir = stack.dir.take().map(|d| d.keep());
                stack.shutdown().await;
                match dir {
                    Some(d) => Err(e.context(format!("run directory kept: {}", d.display()))),
                    None => Err(e),
                }
            }
        }
    }

    /// The first replica migrates the database; the others start once it is ready.
    async fn start_replicas(&mut self, cfg: &StackConfig, env: &[(String, String)], dir: &Path) -> anyhow::Result<()> {
        for index in 0..cfg.replicas {
            let replica = spawn_replica(index, &cfg.registration_bin, env, dir)?;
            self.replicas.push(replica);
            if index == 0 {
                self.wait_ready(0).await?;
            }
        }
        for index in 1..cfg.replicas {
            self.wait_ready(index).await?;
        }
        Ok(())
    }

    /// The run directory (keys, database file, replica logs).
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new(""), |d| d.path())
    }

    /// The PostgreSQL database created for this run, if any.
    pub fn database_name(&self) -> Option<&str> {
        self.pg.as_ref().map(|(_, name)| name.as_str())
    }

    /// Keeps the run directory, and the PostgreSQL database, after the tool
    /// exits; returns where the directory is.
    pub fn keep_dir(&mut self) -> Option<PathBuf> {
        self.keep_database = true;
        self.dir.take().map(|d| d.keep())
    }

    pub fn agency(&self, kind: AgencyKind) -> &Agency {
        // `agencies` holds every kind, in `AgencyKind::ALL` order.
        &self.agencies[AgencyKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)]
    }

    /// A TLS channel with the CA only (callers that present tokens).
    pub async fn channel(&self, addr: SocketAddr, tls: &TlsConfig) -> anyhow::Result<Channel> {
        Ok(tls
            .endpoint(&format!("http://{addr}"))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .connect()
            .await?)
    }

    /// Waits until replica `index` answers health checks as SERVING.
    async fn wait_ready(&mut self, index: usize) -> anyhow::Result<()> {
        let addr = self.replicas[index].addr;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        let trust = self.pki.trust_only();
        loop {
            if let Ok(channel) = self.channel(addr, &trust).await {
                let serving = HealthClient::new(channel)
                    .check(HealthCheckRequest {
                        service: "vrs.registration.v1.RegistrationService".into(),
                    })
                    .await
                    .is_ok_and(|r| r.into_inner().status == 1);
                if serving {
                    tracing::info!(replica = index, %addr, "registration replica ready");
                    return Ok(());
                }
            }
            let replica = &mut self.replicas[index];
            if !replica.is_running() {
                anyhow::bail!(
                    "registration replica {index} exited at start; its log: {}",
                    replica.log.display()
                );
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!(
                    "registration replica {index} not ready after 90 s; its log: {}",
                    replica.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Each running replica's peak resident set, in MiB (index, MiB).
    pub fn peak_rss_mib(&self) -> Vec<(usize, f64)> {
        self.replicas
            .iter()
            .filter_map(|r| r.peak_rss_mib().map(|m| (r.index, m)))
            .collect()
    }

    /// Stops everything; drops the run's PostgreSQL database unless it is kept
    /// ([`Stack::keep_dir`]: a post-mortem wants both).
    pub async fn shutdown(mut self) {
        let keep_db = self.keep_database;
        for r in &mut self.replicas {
            let _ = r.kill();
        }
        self.beacon_stop.cancel();
        for a in &self.agencies {
            a.stop.cancel();
        }
        if let (Some((server, name)), false) = (self.pg.take(), keep_db)
            && let Ok(admin) = Database::connect(&server).await
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            let _ = admin.close().await;
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.beacon_stop.cancel();
        for a in &self.agencies {
            a.stop.cancel();
        }
    }
}

fn file(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

async fn start_agency(kind: AgencyKind, pki: &LocalPki, world: Arc<World>) -> anyhow::Result<Agency> {
    let tls = pki.issue(kind.name())?;
    let (server, faults) = match kind {
        AgencyKind::Identity => {
            identity::build(
                &identity::Config {
                    tls,
                    ..identity::Config::ephemeral()
                },
                world,
            )
            .await?
        }
        AgencyKind::Tax => {
            tax::build(
                &tax::Config {
                    tls,
                    ..tax::Config::ephemeral()
                },
                world,
            )
            .await?
        }
        AgencyKind::Customs => {
            customs::build(
                &customs::Config {
                    tls,
                    ..customs::Config::ephemeral()
                },
                world,
            )
            .await?
        }
        AgencyKind::Register => {
            register::build(
                &register::Config {
                    tls,
                    ..register::Config::ephemeral()
                },
                world,
            )
            .await?
        }
    };
    let addr = server.local_addr();
    let stop = CancellationToken::new();
    tokio::spawn(server.serve(stop.clone()));
    Ok(Agency {
        kind,
        addr,
        faults,
        stop,
    })
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn spawn_replica(index: usize, bin: &Path, env: &[(String, String)], dir: &Path) -> anyhow::Result<Replica> {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let log = dir.join(format!("replica-{index}.log"));
    let mut cmd = Command::new(bin);
    cmd.env("VRS_REGISTRATION__SERVER__LISTEN", addr.to_string());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log)?))
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    Ok(Replica {
        index,
        addr,
        log,
        child: Some(child),
    })
}
