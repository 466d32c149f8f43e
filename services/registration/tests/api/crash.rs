//! kill -9 of the registration process in the middle of a run, with the
//! portal down for part of it: no acknowledged application is lost, and the
//! portal ends with every status change of every dossier, from submission to
//! delivery, exactly once and in order.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use portal_standin::{Mode, Portal};
use tokio_util::sync::CancellationToken;
use vrs_kit::tls::{LocalPki, TlsConfig};
use vrs_kit::token::Role;
use vrs_kit::world::{Case, World};
use vrs_proto::pb::registration::v1 as pb;

use crate::helpers::{Agency, Backend, Client, Kind, both_databases, for_owner, register_fully, token, with_token};
use crate::multiprocess::{connect, free_port};

both_databases!(killed_mid_run_with_the_portal_down_loses_nothing);

const DOSSIERS: usize = 30;

pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `registration` process these tests run: configured by environment, as in a deployment.
pub(crate) fn command(
    db_url: &str,
    addr: SocketAddr,
    dir: &Path,
    agencies: &[Agency; 4],
    beacon: SocketAddr,
    portal: &str,
    tls: &TlsConfig,
) -> Command {
    let urls = ["IDENTITY", "TAX", "CUSTOMS", "REGISTER"];
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_registration"));
    for (name, agency) in urls.iter().zip(agencies) {
        cmd.env(format!("VRS_REGISTRATION__AGENCIES__{name}_URL"), agency.url());
    }
    cmd.env("DATABASE_URL", db_url)
        .env("VRS_REGISTRATION__SERVER__LISTEN", addr.to_string())
        .env("VRS_REGISTRATION__DRAW__BEACON_URL", format!("http://{beacon}"))
        .env("VRS_REGISTRATION__DRAW__LOG_KEY_FILE", dir.join("log.key"))
        .env("VRS_REGISTRATION__DRAW__RESOLVER_POLL_MS", "20")
        .env("VRS_REGISTRATION__AUTH__ISSUER", crate::helpers::ISSUER)
        .env("VRS_REGISTRATION__TLS__CA_FILE", &tls.ca_file)
        .env("VRS_REGISTRATION__TLS__CERT_FILE", &tls.cert_file)
        .env("VRS_REGISTRATION__TLS__KEY_FILE", &tls.key_file)
        .env("VRS_REGISTRATION__AUTH__ISSUER_SEED_FILE", dir.join("issuer.key"))
        .env("VRS_REGISTRATION__PRIVACY__DATA_KEY_FILE", dir.join("data.key"))
        .env("VRS_REGISTRATION__PORTAL__URL", portal)
        .env("VRS_REGISTRATION__PORTAL__TIMEOUT_MS", "300")
        .env("VRS_REGISTRATION__PORTAL__POLL_INTERVAL_MS", "20")
        .env("VRS_REGISTRATION__PORTAL__RETRY_BASE_MS", "20")
        .env("VRS_REGISTRATION__PORTAL__RETRY_MAX_MS", "200")
        .env("VRS_REGISTRATION__PORTAL__LEASE_MS", "1000")
        .env("VRS_REGISTRATION__PORTAL__BATCH", "32")
        // Outages here last seconds; the bound is for days-long ones.
        .env("VRS_REGISTRATION__PORTAL__MAX_ATTEMPTS", "10000")
        .env("VRS_REGISTRATION__WORKER__POLL_INTERVAL_MS", "50")
        .env("VRS_REGISTRATION__WORKER__LEASE_MS", "1000")
        .env("VRS_REGISTRATION__DATABASE__MAX_CONNECTIONS", "8")
        // Everything the service logs at info, which is what production keeps.
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log_path(dir))
                .expect("log file"),
        ));
    cmd
}

/// Both runs' logs, kept after the test for a post-mortem.
pub(crate) fn log_path(dir: &Path) -> String {
    let tag = dir.file_name().and_then(|n| n.to_str()).unwrap_or("run");
    format!("{}/crash-{tag}.log", env!("CARGO_TARGET_TMPDIR"))
}

/// Personal IDs, tax codes and names in a declaration.
fn personal_data(req: &pb::SubmitApplicationRequest) -> Vec<String> {
    match req.owner.clone().and_then(|o| o.kind) {
        Some(pb::owner::Kind::Individual(i)) => vec![i.personal_id, i.full_name],
        Some(pb::owner::Kind::Organisation(o)) => vec![o.tax_code, o.name],
        None => vec![],
    }
}

/// Submits the dossiers (a portal retrying is the same call): the ids acknowledged.
async fn submit_all(client: &Client, world: &World, indices: &[(usize, usize)]) -> Vec<Option<pb::Application>> {
    let reqs: Vec<pb::SubmitApplicationRequest> = indices
        .iter()
        .map(|(n, index)| vrs_kit::samples::submit_request(world, *index, &format!("K9.{n:06}")))
        .collect();
    let client = client.clone();
    futures::stream::iter(reqs)
        .map(move |req| {
            let mut c = client.clone();
            async move {
                c.submit_application(for_owner(req.clone(), &req.owner))
                    .await
                    .ok()
                    .map(|r| r.into_inner())
            }
        })
        .buffer_unordered(8)
        .collect()
        .await
}

async fn killed_mid_run_with_the_portal_down_loses_nothing(backend: Backend) {
    vrs_kit::telemetry::init_for_tests();
    let world = World::standard();
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = LocalPki::generate(&dir.path().join("tls")).expect("local CA");
    let tls = pki.issue("registration").expect("certificate");
    let agencies = [
        Agency::start_on(Kind::Identity, any, world.clone(), &pki).await,
        Agency::start_on(Kind::Tax, any, world.clone(), &pki).await,
        Agency::start_on(Kind::Customs, any, world.clone(), &pki).await,
        Agency::start_on(Kind::Register, any, world.clone(), &pki).await,
    ];
    let beacon_stop = CancellationToken::new();
    let beacon_server = beacon::build(&beacon::Config {
        listen: any,
        key_file: dir.path().join("beacon.key"),
        period_ms: crate::helpers::BEACON_PERIOD_MS,
        tls: pki.issue("beacon").expect("certificate"),
        probe_listen: None,
    })
    .await
    .expect("beacon");
    let beacon = beacon_server.local_addr();
    tokio::spawn(beacon_server.serve(beacon_stop.clone()));
    let db_url = match &backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.path().join("registration.db").display()),
        Backend::Postgres(server) => crate::helpers::fresh_postgres(server).await,
    };
    let mut portal = Portal::start().await.expect("portal stand-in");
    portal.down();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let first = Killed(
        command(&db_url, addr, dir.path(), &agencies, beacon, &portal.url(), &tls)
            .spawn()
            .expect("registration starts"),
    );
    let issuer = ed25519_dalek::SigningKey::from_bytes(
        &registration::app::load_or_create_seed(&dir.path().join("issuer.key")).expect("issuer key"),
    );
    let client = with_token(
        &connect(addr, &pki.trust_only()).await,
        &token(&issuer, "portal", &[Role::Portal], None),
    );
    let indices: Vec<(usize, usize)> = world
        .vehicles_with(Case::Clean)
        .map(|(i, _)| i)
        .take(DOSSIERS)
        .enumerate()
        .collect();

    // Half the dossiers while the portal is down: their events wait in the outbox.
    let mut acked: Vec<pb::Application> = submit_all(&client, &world, &indices[..DOSSIERS / 2])
        .await
        .into_iter()
        .map(|a| a.expect("acknowledged while the portal is down"))
        .collect();
    // The portal comes back, flaky; the rest are submitted and drawn while the process is killed.
    portal.up().await.expect("portal back");
    portal.set(Mode::Flaky);
    let in_flight = {
        let client = client.clone();
        let world = world.clone();
        let rest = indices.clone();
        let got_fut = async move {
            let got = submit_all(&client, &world, &rest[DOSSIERS / 2..]).await;
            for a in got.iter().flatten() {
                let mut c = client.clone();
                let _ = c
                    .draw_plate(for_owner(
                        pb::DrawPlateRequest {
                            application_id: a.application_id.clone(),
                        },
                        &a.owner,
                    ))
                    .await;
            }
            got
        };
        tokio::spawn(got_fut)
    };
    tokio::time::sleep(Duration::from_millis(120)).await;
    let mut first = first;
    first.0.kill().expect("kill -9");
    first.0.wait().expect("reaped");
    acked.extend(in_flight.await.expect("join").into_iter().flatten());
    let delivered_before = portal.with_seen(|s| s.events.len());
    portal.down();

    // Restarted on the same database; the portal resubmits everything (idempotent) and draws.
    let _second = Killed(
        command(&db_url, addr, dir.path(), &agencies, beacon, &portal.url(), &tls)
            .spawn()
            .expect("registration restarts"),
    );
    let client = with_token(
        &connect(addr, &pki.trust_only()).await,
        &token(&issuer, "portal", &[Role::Portal], None),
    );
    let all: Vec<pb::Application> = submit_all(&client, &world, &indices)
        .await
        .into_iter()
        .map(|a| a.expect("resubmission after restart"))
        .collect();
    for a in &acked {
        let same = all
            .iter()
            .find(|b| b.dossier_code == a.dossier_code)
            .expect("still there");
        assert_eq!(
            same.application_id, a.application_id,
            "an acknowledged application kept its id"
        );
    }
    for a in &all {
        client
            .clone()
            .draw_plate(for_owner(
                pb::DrawPlateRequest {
                    application_id: a.application_id.clone(),
                },
                &a.owner,
            ))
            .await
            .expect("draw after restart");
    }
    portal.up().await.expect("portal back");
    portal.set(Mode::Flaky);

    // The rest of every dossier while events flow: payment, the physical check
    // where needed, approval, the certificate, delivery.
    let channel = connect(addr, &pki.trust_only()).await;
    for a in &all {
        let a = client
            .clone()
            .get_application(pb::GetApplicationRequest {
                application_id: a.application_id.clone(),
            })
            .await
            .expect("get")
            .into_inner();
        let clerk = with_token(
            &channel,
            &token(&issuer, "clerk-017", &[Role::Clerk], Some(&a.office_code)),
        );
        register_fully(&client, &clerk, &a).await;
        client
            .clone()
            .confirm_delivery(pb::ConfirmDeliveryRequest {
                application_id: a.application_id.clone(),
            })
            .await
            .expect("deliver");
    }

    let supervisor = with_token(
        &connect(addr, &pki.trust_only()).await,
        &token(&issuer, "supervisor-01", &[Role::Supervisor], None),
    );
    let status = crate::portal_sync::drained(&supervisor, Duration::from_secs(90)).await;
    assert_eq!(status.dead, 0);

    // Every dossier: the portal's events are exactly its history, in order, once.
    let mut total = 0;
    for a in &all {
        let app = supervisor
            .clone()
            .get_application(pb::GetApplicationRequest {
                application_id: a.application_id.clone(),
            })
            .await
            .expect("get")
            .into_inner();
        assert_eq!(app.state(), pb::ApplicationState::Delivered, "{}", app.dossier_code);
        total += crate::portal_sync::portal_matches_history(&portal, &app);
    }
    let (duplicates, bad) = portal.with_seen(|s| (s.duplicates, s.bad_keys));
    assert_eq!(bad, 0);
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "crash: {} acknowledged before kill -9, {delivered_before} events delivered before it, \
             {total} in the end, {duplicates} redeliveries dropped by key, {} portal calls\n",
            acked.len(),
            portal.calls()
        )
        .as_bytes(),
    );

    // Neither the logs of both runs nor anything the portal received carry personal data.
    let logs = std::fs::read_to_string(log_path(dir.path())).expect("logs");
    assert!(logs.contains("application submitted"), "the logs were captured");
    let portal_json = portal.with_seen(|s| serde_json::to_string(&s.events).expect("json"));
    for (n, index) in &indices {
        let req = vrs_kit::samples::submit_request(&world, *index, &format!("K9.{n:06}"));
        for secret in personal_data(&req) {
            assert!(
                !logs.contains(&secret),
                "the log shows personal data of {}",
                req.dossier_code
            );
            assert!(!portal_json.contains(&secret), "a portal event carries personal data");
        }
    }
    beacon_stop.cancel();
}
