//! The local beacon over real gRPC on loopback, and both clients: the
//! `LocalBeacon` client against it, the `Drand` client against a local HTTP
//! server replaying recorded drand quicknet rounds.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::routing::get;
use beacon::client::{BeaconSource, ClientError, Clock, Drand, LocalBeacon, now_unix_ms};
use beacon::{Config, build};
use serde::Deserialize;
use tonic::Code;
use tonic::server::NamedService;
use tonic::transport::Channel;
use vrs_draw::beacon::{self as bls, quicknet};
use vrs_kit::agency::{Running, ensure_serving, start};
use vrs_proto::pb::beacon::v1 as pb;

use pb::beacon_service_client::BeaconServiceClient;
use pb::beacon_service_server::BeaconServiceServer;

const PERIOD_MS: u64 = 100;

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "vrs-beacon-test-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct TestBeacon {
    client: BeaconServiceClient<Channel>,
    server: Running,
    cfg: Config,
    _dir: Arc<TempDir>,
}

fn config(dir: &TempDir) -> Config {
    Config {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        key_file: dir.0.join("keys/beacon.key"),
        period_ms: PERIOD_MS,
        tls: Default::default(),
        probe_listen: None,
    }
}

async fn spawn_with(cfg: Config, dir: Arc<TempDir>) -> anyhow::Result<TestBeacon> {
    vrs_kit::telemetry::init_for_tests();
    let server = start(build(&cfg).await?).await?;
    Ok(TestBeacon {
        client: BeaconServiceClient::new(server.channel.clone()),
        server,
        cfg,
        _dir: dir,
    })
}

async fn spawn_app() -> anyhow::Result<TestBeacon> {
    let dir = Arc::new(TempDir::new("app"));
    spawn_with(config(&dir), dir).await
}

async fn info(app: &mut TestBeacon) -> anyhow::Result<pb::BeaconInfo> {
    Ok(app.client.get_info(pb::GetInfoRequest {}).await?.into_inner())
}

/// Sleeps (real time: the server runs on the system clock) until `round` is published.
async fn wait_for(info: &pb::BeaconInfo, round: u64) {
    let due = info.genesis_unix_ms + (round as i64 - 1) * i64::from(info.period_ms);
    let wait = due - now_unix_ms();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64 + 5)).await;
    }
}

fn current_round(info: &pb::BeaconInfo) -> u64 {
    let elapsed = now_unix_ms() - info.genesis_unix_ms;
    (elapsed / i64::from(info.period_ms)) as u64 + 1
}

#[tokio::test]
async fn info_describes_the_beacon_and_it_is_serving() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let info = info(&mut app).await?;
    assert_eq!(info.scheme, "bls-unchained-g1-rfc9380");
    assert_eq!(info.public_key.len(), 96);
    bls::check_public_key(&info.public_key).unwrap();
    assert_eq!(info.beacon_id, bls::beacon_id(&info.public_key));
    assert!(info.beacon_id.starts_with("vrs-local-"), "{}", info.beacon_id);
    assert_eq!(u64::from(info.period_ms), PERIOD_MS);
    assert_eq!(info.genesis_unix_ms % PERIOD_MS as i64, 0);
    assert!(info.genesis_unix_ms <= now_unix_ms());
    ensure_serving(
        app.server.channel.clone(),
        BeaconServiceServer::<beacon::BeaconService>::NAME,
    )
    .await
    .unwrap();
    Ok(())
}

#[tokio::test]
async fn future_rounds_are_failed_precondition_and_round_zero_is_invalid() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let info = info(&mut app).await?;
    let future = current_round(&info) + 1000;
    let status = app
        .client
        .get_round(pb::GetRoundRequest { round: future })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("not published yet"), "{}", status.message());
    let status = app
        .client
        .get_round(pb::GetRoundRequest { round: 0 })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    Ok(())
}

#[tokio::test]
async fn a_round_becomes_available_when_due_and_verifies() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let info = info(&mut app).await?;
    let target = current_round(&info) + 2;
    let early = app.client.get_round(pb::GetRoundRequest { round: target }).await;
    // Unless the test was descheduled for two periods, it is too early.
    if let Err(status) = &early {
        assert_eq!(status.code(), Code::FailedPrecondition);
    }
    wait_for(&info, target).await;
    let round = app
        .client
        .get_round(pb::GetRoundRequest { round: target })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(round.round, target);
    assert_eq!(round.signature.len(), 48);
    let randomness = bls::verify_round(&info.public_key, target, &round.signature).unwrap();
    assert_eq!(round.randomness, randomness.to_vec());
    assert_eq!(randomness, bls::randomness(&round.signature));
    // The value of a round never changes, and round 1 stays available.
    let again = app
        .client
        .get_round(pb::GetRoundRequest { round: target })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, round);
    let first = app
        .client
        .get_round(pb::GetRoundRequest { round: 1 })
        .await
        .unwrap()
        .into_inner();
    bls::verify_round(&info.public_key, 1, &first.signature).unwrap();

    let latest = app
        .client
        .get_latest(pb::GetLatestRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(latest.round >= target);
    bls::verify_round(&info.public_key, latest.round, &latest.signature).unwrap();
    Ok(())
}

#[tokio::test]
async fn a_restart_keeps_the_key_genesis_and_values() -> anyhow::Result<()> {
    let dir = Arc::new(TempDir::new("restart"));
    let mut first = spawn_with(config(&dir), dir.clone()).await?;
    let info_before = info(&mut first).await?;
    let round_before = first
        .client
        .get_round(pb::GetRoundRequest { round: 1 })
        .await
        .unwrap()
        .into_inner();
    let cfg = first.cfg.clone();
    drop(first);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cfg.key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let text = std::fs::read_to_string(&cfg.key_file).unwrap();
    assert!(text.contains(&hex::encode(&info_before.public_key)));

    let mut second = spawn_with(cfg.clone(), dir.clone()).await?;
    let info_after = info(&mut second).await?;
    assert_eq!(info_after, info_before);
    let round_after = second
        .client
        .get_round(pb::GetRoundRequest { round: 1 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(round_after, round_before);

    // A different period on an existing key file is refused, not applied.
    let changed = Config {
        period_ms: PERIOD_MS * 2,
        ..cfg
    };
    let err = build(&changed)
        .await
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(err.contains("period_ms"), "{err}");
    Ok(())
}

#[tokio::test]
async fn local_beacon_client_returns_verified_rounds() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let info = info(&mut app).await?;
    let local = LocalBeacon::connect(format!("http://{}", app.server.addr), &Default::default())
        .await
        .unwrap();
    let params = local.params().clone();
    assert_eq!(params.beacon_id, info.beacon_id);
    assert_eq!(params.public_key, info.public_key);
    assert_eq!(params.genesis_unix_ms, info.genesis_unix_ms);
    assert_eq!(params.period_ms, PERIOD_MS);

    let target = params.round_at(now_unix_ms()) + 2;
    assert_eq!(local.round(target + 1000).await.unwrap(), None);
    wait_for(&info, target).await;
    let round = local.round(target).await.unwrap().unwrap();
    assert_eq!(round.round, target);
    assert_eq!(
        round.randomness,
        bls::verify_round(&params.public_key, target, &round.signature).unwrap()
    );
    assert!(params.publish_time_ms(target) <= now_unix_ms());

    let latest = local.latest().await.unwrap();
    assert!(latest.round >= target);
    assert!(matches!(local.round(0).await, Err(ClientError::RoundZero)));

    // A beacon that is down is unavailable, not "not yet published".
    let addr = app.server.addr;
    drop(app);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(matches!(
        LocalBeacon::connect(format!("http://{addr}"), &Default::default()).await,
        Err(ClientError::Unavailable(_))
    ));
    Ok(())
}

// ---------------------------------------------------------------------------
// drand, replayed from the recorded quicknet rounds.

#[derive(Deserialize)]
struct Recorded {
    rounds: Vec<RecordedRound>,
}

#[derive(Deserialize, Clone)]
struct RecordedRound {
    round: u64,
    signature: String,
    randomness: String,
}

fn recorded() -> anyhow::Result<Vec<RecordedRound>> {
    let text = include_str!("../../../contracts/beacons/drand-quicknet.json");
    Ok(serde_json::from_str::<Recorded>(text)?.rounds)
}

/// What the fake relay serves: a JSON body per round, or a bare status.
#[derive(Clone, Default)]
struct Relay {
    bodies: HashMap<u64, String>,
    statuses: HashMap<u64, StatusCode>,
    requests: Arc<AtomicUsize>,
}

fn body(round: u64, signature: &str, randomness: &str) -> String {
    serde_json::json!({ "round": round, "randomness": randomness, "signature": signature }).to_string()
}

async fn relay_round(
    State(relay): State<Arc<Relay>>,
    Path((chain, round)): Path<(String, String)>,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], String) {
    relay.requests.fetch_add(1, Ordering::Relaxed);
    let json = [(header::CONTENT_TYPE, "application/json")];
    let Ok(round) = round.parse::<u64>() else {
        return (StatusCode::BAD_REQUEST, json, String::new());
    };
    if chain != quicknet::CHAIN_HASH {
        return (StatusCode::NOT_FOUND, json, String::new());
    }
    if let Some(status) = relay.statuses.get(&round) {
        return (*status, json, String::new());
    }
    match relay.bodies.get(&round) {
        Some(body) => (StatusCode::OK, json, body.clone()),
        None => (StatusCode::NOT_FOUND, json, String::new()),
    }
}

/// Serves `relay` on an ephemeral loopback port; returns its base URL.
async fn serve_relay(relay: Relay) -> anyhow::Result<String> {
    let app = Router::new()
        .route("/{chain}/public/{round}", get(relay_round))
        .with_state(Arc::new(relay));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}/"))
}

/// A clock just after the last recorded round, so every recorded round is published.
fn clock_after_recorded(drand: &Drand) -> anyhow::Result<Clock> {
    let last = recorded()?.iter().map(|r| r.round).max().unwrap_or(0);
    let at = drand.params().publish_time_ms(last) + 1;
    Ok(Arc::new(move || at))
}

#[tokio::test]
async fn drand_client_verifies_recorded_quicknet_rounds() -> anyhow::Result<()> {
    let rounds = recorded()?;
    let relay = Relay {
        bodies: rounds
            .iter()
            .map(|r| (r.round, body(r.round, &r.signature, &r.randomness)))
            .collect(),
        ..Relay::default()
    };
    let requests = relay.requests.clone();
    let base = serve_relay(relay).await?;
    let drand = Drand::quicknet(base.clone()).unwrap();
    let drand = drand.clone().with_clock(clock_after_recorded(&drand)?);
    assert_eq!(drand.params().beacon_id, "drand-quicknet");
    assert_eq!(hex::encode(&drand.params().public_key), quicknet::PUBLIC_KEY_HEX);

    for r in &rounds {
        let got = drand
            .round(r.round)
            .await
            .unwrap()
            .expect("recorded rounds are published");
        assert_eq!(got.round, r.round);
        assert_eq!(hex::encode(&got.signature), r.signature);
        assert_eq!(hex::encode(got.randomness), r.randomness);
    }

    // Published by the clock but unknown to the relay (404): not yet.
    assert_eq!(drand.round(5).await.unwrap(), None);
    // In the future by the clock: not asked at all.
    let before = requests.load(Ordering::Relaxed);
    let future = drand.params().round_at(drand.params().publish_time_ms(657_413) + 1) + 1;
    assert_eq!(drand.round(future).await.unwrap(), None);
    assert_eq!(requests.load(Ordering::Relaxed), before);
    assert!(matches!(drand.round(0).await, Err(ClientError::RoundZero)));

    // On the real clock, the recorded rounds are long published.
    let real = Drand::quicknet(base).unwrap();
    assert!(real.round(rounds[0].round).await.unwrap().is_some());
    Ok(())
}

#[tokio::test]
async fn drand_client_rejects_what_does_not_verify() -> anyhow::Result<()> {
    let rounds = recorded()?;
    let (a, b) = (&rounds[0], &rounds[1]);
    let mut relay = Relay::default();
    // Round a served with round b's (valid, real) signature and randomness.
    relay.bodies.insert(a.round, body(a.round, &b.signature, &b.randomness));
    // Round b served with its own signature but another randomness.
    relay.bodies.insert(b.round, body(b.round, &b.signature, &a.randomness));
    // A relay answering round 8 with round 10.
    let c = rounds.iter().find(|r| r.round == 10).unwrap();
    relay.bodies.insert(8, body(10, &c.signature, &c.randomness));
    // Garbage and a failing relay.
    relay.bodies.insert(123, "{\"round\":123,\"signature\":\"zz\"}".into());
    relay.statuses.insert(657_413, StatusCode::INTERNAL_SERVER_ERROR);
    relay.statuses.insert(4, StatusCode::from_u16(425).unwrap());
    let base = serve_relay(relay).await?;
    let drand = Drand::quicknet(base).unwrap();
    let drand = drand.clone().with_clock(clock_after_recorded(&drand)?);

    match drand.round(a.round).await {
        Err(ClientError::Verification { round, .. }) => assert_eq!(round, a.round),
        other => panic!("a swapped signature must be rejected, got {other:?}"),
    }
    assert!(matches!(drand.round(b.round).await, Err(ClientError::Invalid(_))));
    assert!(matches!(drand.round(8).await, Err(ClientError::Invalid(_))));
    assert!(matches!(drand.round(123).await, Err(ClientError::Invalid(_))));
    assert!(matches!(drand.round(657_413).await, Err(ClientError::Unavailable(_))));
    assert_eq!(drand.round(4).await.unwrap(), None);

    // Nothing listening: unavailable.
    let gone = Drand::quicknet("http://127.0.0.1:9").unwrap();
    assert!(matches!(gone.round(2).await, Err(ClientError::Unavailable(_))));
    Ok(())
}
