//! The process lifecycle Kubernetes relies on, on a real `registration`
//! process: the beacon's state is reported without making the replica unready;
//! SIGTERM turns health NOT_SERVING at once while a call in flight still
//! finishes, then the process exits 0.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use vrs_kit::tls::LocalPki;
use vrs_kit::token::Role;
use vrs_kit::world::{Case, World};

use crate::crash::{Killed, command};
use crate::helpers::{Agency, Kind, for_owner, token, with_token};
use crate::multiprocess::{connect, free_port};

const SERVICE: &str = "vrs.registration.v1.RegistrationService";

/// The status the plaintext probe port reports for `service`, or `None` if it does not answer.
async fn probe(addr: SocketAddr, service: &str) -> Option<ServingStatus> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .ok()?
        .connect_timeout(Duration::from_millis(300))
        .connect()
        .await
        .ok()?;
    let resp = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .ok()?;
    ServingStatus::try_from(resp.into_inner().status).ok()
}

/// Polls until `service` reports `want`; how long that took.
async fn until(addr: SocketAddr, service: &str, want: Option<ServingStatus>, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let got = probe(addr, service).await;
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{service}: still {got:?} after {limit:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start_beacon(listen: SocketAddr, dir: &std::path::Path, pki: &LocalPki) -> (SocketAddr, CancellationToken) {
    let server = beacon::build(&beacon::Config {
        listen,
        key_file: dir.join("beacon.key"),
        period_ms: crate::helpers::BEACON_PERIOD_MS,
        tls: pki.issue("beacon").expect("certificate"),
        probe_listen: None,
    })
    .await
    .expect("beacon");
    let stop = CancellationToken::new();
    let addr = server.local_addr();
    tokio::spawn(server.serve(stop.clone()));
    (addr, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_beacon_is_reported_and_sigterm_drains_then_exits_zero() {
    vrs_kit::telemetry::init_for_tests();
    let world = World::standard();
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = LocalPki::generate(&dir.path().join("tls")).expect("local CA");
    let agencies = [
        Agency::start_on(Kind::Identity, any, world.clone(), &pki).await,
        Agency::start_on(Kind::Tax, any, world.clone(), &pki).await,
        Agency::start_on(Kind::Customs, any, world.clone(), &pki).await,
        Agency::start_on(Kind::Register, any, world.clone(), &pki).await,
    ];
    let (beacon, beacon_stop) = start_beacon(any, dir.path(), &pki).await;
    let db_url = format!("sqlite://{}?mode=rwc", dir.path().join("registration.db").display());
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let probes = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let tls = pki.issue("registration").expect("certificate");
    let mut cmd = command(&db_url, addr, dir.path(), &agencies, beacon, "", &tls);
    cmd.env("VRS_REGISTRATION__SERVER__PROBE_LISTEN", probes.to_string())
        .env("VRS_REGISTRATION__SERVER__READINESS_INTERVAL_MS", "200")
        .env("VRS_REGISTRATION__SERVER__DRAIN_DELAY_MS", "1500")
        .env("VRS_REGISTRATION__SERVER__SHUTDOWN_GRACE_MS", "10000");
    let mut process = Killed(cmd.spawn().expect("registration starts"));
    let issuer = ed25519_dalek::SigningKey::from_bytes(
        &registration::app::load_or_create_seed(&dir.path().join("issuer.key")).expect("issuer key"),
    );
    let client = with_token(
        &connect(addr, &pki.trust_only()).await,
        &token(&issuer, "portal", &[Role::Portal], None),
    );
    until(probes, SERVICE, Some(ServingStatus::Serving), Duration::from_secs(10)).await;
    assert_eq!(probe(probes, "").await, Some(ServingStatus::Serving));

    // The beacon down: reported as such, but the replica stays ready, since
    // submissions and payments do not need it (and every replica shares it).
    until(probes, "beacon", Some(ServingStatus::Serving), Duration::from_secs(10)).await;
    beacon_stop.cancel();
    until(
        probes,
        "beacon",
        Some(ServingStatus::NotServing),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        probe(probes, SERVICE).await,
        Some(ServingStatus::Serving),
        "still ready"
    );
    assert_eq!(probe(probes, "").await, Some(ServingStatus::Serving), "still live");
    let (_, beacon_stop) = start_beacon(beacon, dir.path(), &pki).await;
    until(probes, "beacon", Some(ServingStatus::Serving), Duration::from_secs(10)).await;

    // A submission that takes a while: the identity agency answers slowly (within its deadline).
    agencies[0].faults.set_latency(Duration::from_millis(900));
    let (index, _) = world.vehicles_with(Case::Clean).next().expect("a clean vehicle");
    let req = vrs_kit::samples::submit_request(&world, index, "S1.000001");
    let in_flight = {
        let mut c = client.clone();
        tokio::spawn(async move { c.submit_application(for_owner(req.clone(), &req.owner)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = process.0.id().to_string();
    let sent = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());

    // At once NOT_SERVING, the process as a whole too: load balancers stop sending.
    let took = until(probes, "", Some(ServingStatus::NotServing), Duration::from_secs(1)).await;
    assert_eq!(probe(probes, SERVICE).await, Some(ServingStatus::NotServing));
    assert!(took < Duration::from_millis(1_000), "NOT_SERVING after {took:?}");

    // The call in flight finishes normally.
    let answered = in_flight
        .await
        .expect("task")
        .expect("the in-flight submission is answered");
    assert!(!answered.into_inner().application_id.is_empty());

    // Then the process exits by itself, with 0, within the drain delay and grace.
    let code = loop {
        if let Some(code) = process.0.try_wait().expect("wait") {
            break code;
        }
        assert!(sent.elapsed() < Duration::from_secs(15), "still running after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(code.success(), "exit status {code:?}");
    assert!(
        sent.elapsed() >= Duration::from_millis(1_500),
        "it kept answering for the drain delay"
    );
    assert_eq!(probe(probes, "").await, None, "nothing listens any more");
    beacon_stop.cancel();
}
