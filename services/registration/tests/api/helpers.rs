//! `spawn_app()`: four agency servers and the registration service on port 0,
//! with a fresh database migrated by the real migrations.
//!
//! PostgreSQL: set `VRS_TEST_PG_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`);
//! each test then creates its own database next to that one. Without it, the
//! PostgreSQL variant of every test prints a SKIPPED line straight to stderr
//! (not captured by the test harness) and returns; with `VRS_REQUIRE_PG=1`
//! (CI) a missing URL fails the test instead.

#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Once};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use registration::app::Application;
use registration::config::Config;
use registration::service::Registry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use vrs_kit::faults::{FaultConfig, Faults};
use vrs_kit::tls::{LocalPki, TlsConfig};
use vrs_kit::token::{Bearer, Role};
use vrs_kit::world::{Case, World};
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::registration_service_client::RegistrationServiceClient;
use vrs_proto::pb::registration::v1::transparency_log_service_client::TransparencyLogServiceClient;

/// Runs `$body(backend)` once per database.
macro_rules! both_databases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(crate::helpers::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(b) = crate::helpers::Backend::postgres(concat!(module_path!())) {
                        super::$name(b).await
                    }
                }
            }
        )*
    };
}
pub(crate) use both_databases;

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// Server URL of an existing database; tests create their own beside it.
    Postgres(String),
}

impl Backend {
    /// The PostgreSQL backend, or `None` (announced loudly) when not configured.
    pub fn postgres(test: &str) -> Option<Backend> {
        match std::env::var("VRS_TEST_PG_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres(url)),
            _ => {
                assert!(
                    std::env::var_os("VRS_REQUIRE_PG").is_none(),
                    "VRS_REQUIRE_PG is set but VRS_TEST_PG_URL is not: refusing to skip PostgreSQL"
                );
                static BANNER: Once = Once::new();
                BANNER.call_once(|| {
                    let _ = writeln!(
                        std::io::stderr(),
                        "\n*** PostgreSQL tests SKIPPED: set VRS_TEST_PG_URL=postgres://user@host:5432/db to run them ***\n"
                    );
                });
                let _ = writeln!(std::io::stderr(), "SKIPPED (no PostgreSQL): {test}::postgres");
                None
            }
        }
    }
}

/// Which agency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Identity,
    Tax,
    Customs,
    Register,
}

/// A running agency server that a test can take down and bring back on the same port.
pub struct Agency {
    pub kind: Kind,
    pub addr: SocketAddr,
    pub faults: Faults,
    world: Arc<World>,
    tls: TlsConfig,
    stop: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Identity => "identity",
            Kind::Tax => "tax",
            Kind::Customs => "customs",
            Kind::Register => "register",
        }
    }
}

impl Agency {
    /// Starts an agency on `addr` (port 0 for any), over mTLS with a certificate from `pki`.
    pub async fn start_on(kind: Kind, addr: SocketAddr, world: Arc<World>, pki: &LocalPki) -> Agency {
        let tls = pki.issue(kind.name()).expect("agency certificate");
        Agency::start(kind, addr, world, tls).await
    }

    async fn start(kind: Kind, addr: SocketAddr, world: Arc<World>, tls: TlsConfig) -> Agency {
        let faults_cfg = FaultConfig::default();
        let (server, faults) = match kind {
            Kind::Identity => {
                identity::build(
                    &identity::Config {
                        listen: addr,
                        faults: faults_cfg,
                        tls: tls.clone(),
                        ..Default::default()
                    },
                    world.clone(),
                )
                .await
            }
            Kind::Tax => {
                tax::build(
                    &tax::Config {
                        listen: addr,
                        faults: faults_cfg,
                        tls: tls.clone(),
                        ..Default::default()
                    },
                    world.clone(),
                )
                .await
            }
            Kind::Customs => {
                customs::build(
                    &customs::Config {
                        listen: addr,
                        faults: faults_cfg,
                        tls: tls.clone(),
                        ..Default::default()
                    },
                    world.clone(),
                )
                .await
            }
            Kind::Register => {
                register::build(
                    &register::Config {
                        listen: addr,
                        faults: faults_cfg,
                        tls: tls.clone(),
                        ..Default::default()
                    },
                    world.clone(),
                )
                .await
            }
        }
        .expect("agency starts");
        let addr = server.local_addr();
        let stop = CancellationToken::new();
        let task = tokio::spawn(server.serve(stop.clone()));
        Agency {
            kind,
            addr,
            faults,
            world,
            tls,
            stop,
            task: Some(task),
        }
    }

    /// A real outage: the server stops and its port refuses connections.
    pub async fn stop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            t.await.expect("agency task").expect("agency stopped cleanly");
        }
    }

    /// Brings the agency back on the same address.
    pub async fn restart(&mut self) {
        let again = Agency::start(self.kind, self.addr, self.world.clone(), self.tls.clone()).await;
        *self = again;
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Agency {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A registration client that sends a caller token on every call.
pub type Client = RegistrationServiceClient<InterceptedService<Channel, Bearer>>;
pub type LogClient = TransparencyLogServiceClient<InterceptedService<Channel, Bearer>>;

/// The issuer name the tests' tokens carry.
pub const ISSUER: &str = "vrs-test-issuer";

pub struct TestApp {
    /// The portal: submits, draws, pays and withdraws for citizens.
    pub client: Client,
    /// The token issuer's key, to mint callers of any role.
    pub issuer: SigningKey,
    /// The test's CA: every part talks mTLS with certificates it issued.
    pub pki: LocalPki,
    /// A TLS channel without a client certificate (callers with tokens).
    channel: Channel,
    pub addr: SocketAddr,
    pub registry: Arc<Registry>,
    pub world: Arc<World>,
    pub identity: Agency,
    pub tax: Agency,
    pub customs: Agency,
    pub register: Agency,
    /// The local beacon's key file: an insider who holds it knows every round in advance.
    pub beacon_key: std::path::PathBuf,
    /// Switches that make the beacon fail: down, forged values, late rounds.
    pub beacon_faults: beacon::BeaconFaults,
    shutdown: CancellationToken,
    beacon_stop: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.beacon_stop.cancel();
    }
}

/// Beacon rounds in tests: fast, so draws resolve within a second.
pub const BEACON_PERIOD_MS: u64 = 200;

/// Starts everything with fast retry timings; `tweak` adjusts the configuration.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn(backend, None, tweak).await
}

/// Like [`spawn_app_with`], with the keys (beacon, log, token issuer, data)
/// kept in `keys`: a second service over the same database, or over a restored
/// copy of it, is then the same registry.
pub async fn spawn_app_keyed(backend: Backend, keys: &std::path::Path, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn(backend, Some(keys), tweak).await
}

async fn spawn(backend: Backend, keys: Option<&std::path::Path>, tweak: impl FnOnce(&mut Config)) -> TestApp {
    vrs_kit::telemetry::init_for_tests();
    let world = World::standard();
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let (url, dir) = database_url(&backend).await;
    let dir = dir.unwrap_or_else(|| tempfile::tempdir().expect("tempdir"));
    let keys = keys.unwrap_or(dir.path()).to_owned();
    let pki = LocalPki::generate(&dir.path().join("tls")).expect("local CA");
    let identity = Agency::start_on(Kind::Identity, any, world.clone(), &pki).await;
    let tax = Agency::start_on(Kind::Tax, any, world.clone(), &pki).await;
    let customs = Agency::start_on(Kind::Customs, any, world.clone(), &pki).await;
    let register = Agency::start_on(Kind::Register, any, world.clone(), &pki).await;

    let beacon_cfg = beacon::Config {
        listen: any,
        key_file: keys.join("beacon.key"),
        period_ms: BEACON_PERIOD_MS,
        tls: pki.issue("beacon").expect("beacon certificate"),
        probe_listen: None,
    };
    let (beacon_server, beacon_faults) = beacon::build_with_faults(&beacon_cfg).await.expect("beacon starts");
    let beacon_addr = beacon_server.local_addr();
    let beacon_stop = CancellationToken::new();
    tokio::spawn(beacon_server.serve(beacon_stop.clone()));
    let mut cfg = Config::default();
    cfg.server.listen = any;
    cfg.database.url = url;
    cfg.database.max_connections = 8;
    cfg.agencies.identity_url = identity.url();
    cfg.agencies.tax_url = tax.url();
    cfg.agencies.customs_url = customs.url();
    cfg.agencies.register_url = register.url();
    cfg.agencies.call_timeout_ms = 2_000;
    cfg.agencies.retries = 1;
    cfg.agencies.retry_base_ms = 10;
    cfg.agencies.breaker_failures = 3;
    cfg.agencies.breaker_cooldown_ms = 200;
    cfg.worker.poll_interval_ms = 50;
    cfg.worker.lease_ms = 3_000;
    cfg.worker.retry_base_ms = 100;
    cfg.worker.retry_max_ms = 400;
    cfg.draw.beacon_url = format!("http://{beacon_addr}");
    cfg.draw.log_key_file = keys.join("log.key").display().to_string();
    cfg.draw.resolver_poll_ms = 20;
    cfg.draw.draw_timeout_ms = 20_000;
    cfg.tls = pki.issue("registration").expect("registration certificate");
    cfg.auth.issuer = ISSUER.into();
    cfg.auth.issuer_seed_file = keys.join("issuer.key").display().to_string();
    cfg.privacy.data_key_file = keys.join("data.key").display().to_string();
    tweak(&mut cfg);
    let issuer = SigningKey::from_bytes(
        &registration::app::load_or_create_seed(std::path::Path::new(&cfg.auth.issuer_seed_file)).expect("issuer key"),
    );

    let app = Application::build(&cfg).await.expect("registration builds");
    let addr = app.local_addr();
    let registry = app.registry();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(app.run(shutdown.clone()));
    let channel = tls_channel(addr, &pki.trust_only()).await;
    // The portal is known by its client certificate: no token.
    let portal_tls = pki.issue("portal").expect("portal certificate");
    let client = RegistrationServiceClient::with_interceptor(tls_channel(addr, &portal_tls).await, Bearer::none());
    TestApp {
        client,
        issuer,
        pki,
        channel,
        addr,
        registry,
        world,
        identity,
        tax,
        customs,
        register,
        shutdown,
        beacon_stop,
        beacon_key: keys.join("beacon.key"),
        beacon_faults,
        task: Some(task),
        _dir: dir,
    }
}

/// A channel to `addr` over TLS as `tls` says.
pub async fn tls_channel(addr: SocketAddr, tls: &TlsConfig) -> Channel {
    tls.endpoint(&format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect")
}

/// A portal call made for the citizen (or organisation) that owns `owner`:
/// the portal names who acts in `x-citizen-id`.
pub fn for_owner<T>(msg: T, owner: &Option<pb::Owner>) -> tonic::Request<T> {
    let id = owner.as_ref().map_or("", |o| o.id());
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert(registration::api::CITIZEN_HEADER, id.parse().expect("ascii id"));
    r
}

/// Records a matching physical check, as `clerk`, where approval needs one.
pub async fn pass_physical_check(clerk: &Client, app: &pb::Application) {
    if !app.physical_check_required {
        return;
    }
    let v = app.vehicle.clone().expect("vehicle");
    clerk
        .clone()
        .record_physical_check(pb::RecordPhysicalCheckRequest {
            application_id: app.application_id.clone(),
            chassis_number: v.chassis_number,
            engine_number: v.engine_number,
            note: "numbers match".into(),
        })
        .await
        .expect("physical check");
}

/// Takes an application with a plate to ISSUED under draw-first: the fee paid
/// (by `portal`), the physical check where needed, approval and the certificate
/// (by `clerk` of its office).
pub async fn register_fully(portal: &Client, clerk: &Client, a: &pb::Application) -> pb::Application {
    let id = a.application_id.clone();
    portal
        .clone()
        .confirm_payment(pb::ConfirmPaymentRequest {
            application_id: id.clone(),
            payment_reference: format!("PAY-{}", &id[..8]),
            amount_vnd: a.fee_due_vnd,
        })
        .await
        .expect("pay");
    pass_physical_check(clerk, a).await;
    let mut clerk = clerk.clone();
    clerk
        .approve_application(pb::ApproveApplicationRequest {
            application_id: id.clone(),
            note: String::new(),
        })
        .await
        .expect("approve");
    clerk
        .issue_certificate(pb::IssueCertificateRequest { application_id: id })
        .await
        .expect("issue")
        .into_inner()
}

/// A token from `issuer` for one hour.
pub fn token(issuer: &SigningKey, subject: &str, roles: &[Role], office: Option<&str>) -> String {
    vrs_kit::token::mint(issuer, ISSUER, subject, roles, office, 3_600)
}

pub fn with_token(channel: &Channel, token: &str) -> Client {
    RegistrationServiceClient::with_interceptor(channel.clone(), Bearer::new(token).expect("token"))
}

pub fn log_with_token(channel: &Channel, token: &str) -> LogClient {
    TransparencyLogServiceClient::with_interceptor(channel.clone(), Bearer::new(token).expect("token"))
}

impl TestApp {
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// A client acting as `subject` with `roles` (and `office` for clerks).
    pub fn caller(&self, subject: &str, roles: &[Role], office: Option<&str>) -> Client {
        with_token(&self.channel, &token(&self.issuer, subject, roles, office))
    }

    /// Clerk `clerk-017` of the office that handles `app`.
    pub fn clerk(&self, app: &pb::Application) -> Client {
        self.caller("clerk-017", &[Role::Clerk], Some(&app.office_code))
    }

    /// Records a matching physical check where approval needs one.
    pub async fn pass_physical_check(&self, app: &pb::Application) {
        pass_physical_check(&self.clerk(app), app).await;
    }

    /// Takes an application with a plate to ISSUED under draw-first.
    pub async fn register_fully(&self, application_id: &str) -> pb::Application {
        let a = self.get(application_id).await;
        register_fully(&self.client, &self.clerk(&a), &a).await
    }

    pub fn supervisor(&self) -> Client {
        self.caller("supervisor-01", &[Role::Supervisor], None)
    }

    /// The transparency log, read as an auditor (receipts need a caller).
    pub fn log(&self) -> LogClient {
        let t = token(&self.issuer, "auditor-01", &[Role::Auditor], None);
        TransparencyLogServiceClient::with_interceptor(self.channel.clone(), Bearer::new(&t).expect("token"))
    }

    /// The submission for the `nth` example of `case`, under `dossier`.
    pub fn sample(&self, case: Case, nth: usize, dossier: &str) -> pb::SubmitApplicationRequest {
        let (index, _) = self.world.vehicles_with(case).nth(nth).expect("enough examples");
        vrs_kit::samples::submit_request(&self.world, index, dossier)
    }

    /// Clean cars whose owners live in `province` (one class, one province: one pool).
    pub fn clean_cars_in<'a>(&'a self, province: &'a str) -> impl Iterator<Item = usize> + 'a {
        self.world
            .vehicles_with(Case::Clean)
            .filter(move |(_, v)| {
                v.class == vrs_kit::world::VehicleClass::Car
                    && vrs_kit::world::province_of(&v.declared.locality_code) == Some(province)
            })
            .map(|(i, _)| i)
    }

    /// Like [`TestApp::sample`], among owners whose residence (or seat) is in `province`.
    pub fn sample_in(&self, case: Case, province: &str, nth: usize, dossier: &str) -> pb::SubmitApplicationRequest {
        let (index, _) = self
            .world
            .vehicles_with(case)
            .filter(|(_, v)| vrs_kit::world::province_of(&v.declared.locality_code) == Some(province))
            .nth(nth)
            .expect("enough examples in the province");
        vrs_kit::samples::submit_request(&self.world, index, dossier)
    }

    pub async fn submit(&self, req: pb::SubmitApplicationRequest) -> Result<pb::Application, tonic::Status> {
        self.client
            .clone()
            .submit_application(for_owner(req.clone(), &req.owner))
            .await
            .map(|r| r.into_inner())
    }

    /// DrawPlate for `a`, as the portal acting for its owner.
    pub async fn draw_for(&self, a: &pb::Application) -> Result<pb::DrawPlateResponse, tonic::Status> {
        let req = pb::DrawPlateRequest {
            application_id: a.application_id.clone(),
        };
        self.client
            .clone()
            .draw_plate(for_owner(req, &a.owner))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn get(&self, id: &str) -> pb::Application {
        self.client
            .clone()
            .get_application(pb::GetApplicationRequest {
                application_id: id.to_owned(),
            })
            .await
            .expect("get")
            .into_inner()
    }

    /// Polls until the application leaves the lookup states, or panics after `limit`.
    pub async fn settled(&self, id: &str, limit: Duration) -> pb::Application {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let app = self.get(id).await;
            if !matches!(
                app.state(),
                pb::ApplicationState::Submitted | pb::ApplicationState::AwaitingAgency
            ) {
                return app;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "application {id} still {:?}",
                app.state()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the service the way SIGTERM would and waits for it.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            t.await.expect("join").expect("clean shutdown");
        }
    }
}

async fn database_url(backend: &Backend) -> (String, Option<tempfile::TempDir>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("registration.db").display());
            (url, Some(dir))
        }
        Backend::Postgres(server_url) => (fresh_postgres(server_url).await, None),
    }
}

/// Creates a fresh database on the server and returns its URL.
pub async fn fresh_postgres(server_url: &str) -> String {
    registration::store::database_url::create_fresh(server_url, "vrs_test")
        .await
        .unwrap_or_else(|e| panic!("creating a test database on VRS_TEST_PG_URL: {e}"))
        .0
}

/// The field paths of a status's BadRequest details.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// Reason codes of an application.
pub fn reason_codes(app: &pb::Application) -> Vec<String> {
    app.reasons.iter().map(|r| r.code.clone()).collect()
}

/// A dossier code unique within a test.
pub fn dossier(prefix: &str, n: usize) -> String {
    format!("{prefix}.{n:06}")
}

/// The public transparency site in front of a test registry.
pub struct Site {
    pub url: String,
    pub addr: SocketAddr,
    pub stop: CancellationToken,
    pub task: JoinHandle<anyhow::Result<()>>,
}

impl Site {
    /// Starts the site against `app` on a free port, reading the log every 100 ms.
    pub async fn start(app: &TestApp) -> Site {
        let cfg = transparency::Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            registration_url: format!("http://{}", app.addr),
            tls: app.pki.trust_only(),
            refresh_ms: 100,
        };
        let site = transparency::Site::build(&cfg).await.expect("the site starts");
        let addr = site.local_addr();
        let stop = CancellationToken::new();
        let task = tokio::spawn(site.serve(stop.clone()));
        Site {
            url: format!("http://{addr}"),
            addr,
            stop,
            task,
        }
    }

    /// Stops the site and waits until its port refuses connections.
    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the site stops (its idle connections closed)")
            .expect("join")
            .expect("clean stop");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(self.addr).await.is_ok() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the site's port still accepts connections"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// ListApplications of office PC-60 as `c`: a cheap authenticated call.
pub async fn list_pc60(c: &Client) -> Result<(), tonic::Status> {
    c.clone()
        .list_applications(pb::ListApplicationsRequest {
            office_code: "PC-60".into(),
            ..Default::default()
        })
        .await
        .map(|_| ())
}

/// What an insider with database access does: flips one bit inside the plate
/// text of the latest stored draw result. Returns that entry's index.
pub async fn tamper_latest_draw_result(app: &TestApp) -> i64 {
    use registration::store::entities::log_entry;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, sea_query::Expr};
    let db = app.registry.store().connection();
    let victim = log_entry::Entity::find()
        .filter(log_entry::Column::Kind.eq("draw-result"))
        .order_by_desc(log_entry::Column::Seq)
        .one(db)
        .await
        .expect("query")
        .expect("a draw result");
    let mut bytes = victim.entry.clone();
    let at = bytes.len() - 12; // inside the plate text
    bytes[at] ^= 0x01;
    log_entry::Entity::update_many()
        .col_expr(log_entry::Column::Entry, Expr::value(bytes))
        .filter(log_entry::Column::Seq.eq(victim.seq))
        .exec(db)
        .await
        .expect("tamper");
    victim.seq
}

/// The clerks' console and the identity provider stand-in, against `app`:
/// three staff accounts, each with a password made for this run.
pub struct ConsoleStack {
    pub url: String,
    pub idp_url: String,
    /// The password of every account (`clerk-here` of `office`, `clerk-elsewhere`
    /// of another office, `supervisor-1`).
    pub password: String,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
    _keys: tempfile::TempDir,
}

impl ConsoleStack {
    pub async fn start(app: &TestApp, office: &str) -> ConsoleStack {
        Self::start_with(app, office, |_| {}).await
    }

    pub async fn start_with(app: &TestApp, office: &str, tweak: impl FnOnce(&mut console::Config)) -> ConsoleStack {
        let keys = tempfile::tempdir().expect("tempdir");
        let key_file = keys.path().join("issuer.key");
        std::fs::write(&key_file, hex::encode(app.issuer.to_bytes())).expect("issuer key file");
        let password = uuid::Uuid::new_v4().simple().to_string();
        let secret = uuid::Uuid::new_v4().simple().to_string();
        let account = |username: &str, name: &str, roles: Vec<Role>, office: Option<&str>| idp::Account {
            username: username.into(),
            password: password.clone(),
            name: name.into(),
            roles,
            office: office.map(str::to_owned),
        };
        let elsewhere = if office == "PC-29" { "PC-30" } else { "PC-29" };
        let mut provider = idp::Provider::build(&idp::Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            issuer_url: String::new(),
            signing_key_file: key_file.display().to_string(),
            access_token_issuer: ISSUER.into(),
            access_token_ttl_s: 3600,
            accounts: vec![
                account("clerk-here", "Nguyễn Văn An", vec![Role::Clerk], Some(office)),
                account("clerk-elsewhere", "Trần Thị Bình", vec![Role::Clerk], Some(elsewhere)),
                account("supervisor-1", "Phạm Quốc Dũng", vec![Role::Supervisor], None),
            ],
            ..idp::Config::default()
        })
        .await
        .expect("the identity provider starts");
        let mut cfg = console::Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            registration_url: format!("http://{}", app.addr),
            tls: app.pki.trust_only(),
            oidc: console::oidc::OidcConfig {
                issuer_url: provider.issuer_url(),
                client_id: "vrs-console".into(),
                client_secret: secret.clone(),
                ca_file: String::new(),
            },
            ..console::Config::default()
        };
        tweak(&mut cfg);
        let site = console::Console::build(&cfg).await.expect("the console starts");
        let url = site.public_url().to_owned();
        provider
            .add_client(idp::Client {
                client_id: "vrs-console".into(),
                client_secret: secret,
                redirect_uris: vec![format!("{url}/auth/callback")],
            })
            .expect("the console as a client of the provider");
        let idp_url = provider.issuer_url();
        let stop = CancellationToken::new();
        let tasks = vec![
            tokio::spawn(provider.serve(stop.clone())),
            tokio::spawn(site.serve(stop.clone())),
        ];
        ConsoleStack {
            url,
            idp_url,
            password,
            stop,
            tasks,
            _keys: keys,
        }
    }

    pub async fn stop(self) {
        self.stop.cancel();
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
        }
    }
}

/// Takes a submitted application through the citizen's steps (through the
/// portal) to FEE_PAID under draw-first: the plate drawn, the fee paid.
pub async fn to_fee_paid(app: &TestApp, a: &pb::Application) -> pb::Application {
    app.draw_for(a).await.expect("draw");
    let drawn = app.get(&a.application_id).await;
    app.client
        .clone()
        .confirm_payment(pb::ConfirmPaymentRequest {
            application_id: a.application_id.clone(),
            payment_reference: format!("PAY-{}", &a.application_id[..8]),
            amount_vnd: drawn.fee_due_vnd,
        })
        .await
        .expect("pay")
        .into_inner()
}
