//! The database failing under load, as production sees it: PostgreSQL
//! restarted as by a crash, every session of the service terminated (an
//! operator, a failover's fencing), and the whole server stalled (SIGSTOP).
//!
//! Runs against a cluster of the test's own (`vrs_kit::pg`), never the shared
//! server other tests use. Properties, not timings: calls in flight fail with
//! UNAVAILABLE or DEADLINE_EXCEEDED, never INTERNAL; readiness reports
//! NOT_SERVING while the database is gone; the service recovers by itself;
//! nothing acknowledged is lost; no plate is given twice; the log replays
//! clean; the portal gets every status change once and in order.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portal_standin::Portal;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use vrs_kit::pg::{ClusterOptions, LocalPostgres};
use vrs_kit::world::Case;
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::transparency_log_service_client::TransparencyLogServiceClient;

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::portal_sync::{drained, portal_matches_history};

/// The next clean vehicle of the data set: each submission is for another
/// vehicle (an active application blocks its vehicle).
static NEXT_VEHICLE: AtomicUsize = AtomicUsize::new(0);

fn next_sample(app: &TestApp, dossier: &str) -> pb::SubmitApplicationRequest {
    app.sample(Case::Clean, NEXT_VEHICLE.fetch_add(1, Ordering::SeqCst), dossier)
}

/// What the load saw: acknowledged applications and plates, and every error code.
#[derive(Default)]
struct Seen {
    /// dossier → application id, for every submission answered OK.
    submitted: BTreeMap<String, String>,
    /// application id → plate, for every draw answered OK.
    plates: BTreeMap<String, String>,
    /// Codes of failed calls, with a message each.
    errors: Vec<(tonic::Code, String)>,
}

async fn load(app: Arc<TestApp>, worker: usize, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let dossier = format!("DBF{worker:02}.{n:06}");
        let req = next_sample(&app, &dossier);
        let submitted = tokio::time::timeout(Duration::from_secs(20), app.submit(req)).await;
        let a = match submitted {
            Ok(Ok(a)) => a,
            Ok(Err(s)) => {
                seen.lock()
                    .expect("seen")
                    .errors
                    .push((s.code(), s.message().to_owned()));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(_) => {
                seen.lock()
                    .expect("seen")
                    .errors
                    .push((tonic::Code::DeadlineExceeded, "client gave up after 20 s".into()));
                continue;
            }
        };
        seen.lock()
            .expect("seen")
            .submitted
            .insert(dossier, a.application_id.clone());
        if a.state() != pb::ApplicationState::Verified {
            continue;
        }
        match app.draw_for(&a).await {
            Ok(r) => {
                seen.lock()
                    .expect("seen")
                    .plates
                    .insert(a.application_id.clone(), r.plate);
            }
            Err(s) => seen
                .lock()
                .expect("seen")
                .errors
                .push((s.code(), s.message().to_owned())),
        }
    }
}

async fn readiness(app: &TestApp) -> Option<ServingStatus> {
    let mut health = HealthClient::new(app.channel());
    let req = HealthCheckRequest {
        service: "vrs.registration.v1.RegistrationService".into(),
    };
    let r = tokio::time::timeout(Duration::from_secs(2), health.check(req)).await;
    match r {
        Ok(Ok(r)) => Some(r.into_inner().status()),
        _ => None,
    }
}

/// Waits until readiness is `want` (or panics after `limit`).
async fn wait_readiness(app: &TestApp, want: ServingStatus, limit: Duration, while_: &str) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if readiness(app).await == Some(want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readiness never became {want:?} {while_}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a submission succeeds again: the service recovered by itself.
async fn recovered(app: &TestApp, tag: &str, limit: Duration, seen: &Mutex<Seen>) {
    let deadline = tokio::time::Instant::now() + limit;
    let mut n = 0;
    loop {
        n += 1;
        let req = next_sample(app, &format!("REC{tag}.{n:06}"));
        let last = match app.submit(req).await {
            Ok(_) => return,
            Err(e) => e,
        };
        seen.lock()
            .expect("seen")
            .errors
            .push((last.code(), last.message().to_owned()));
        assert!(
            tokio::time::Instant::now() < deadline,
            "not recovered {tag} within {limit:?}: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_restarted_cut_off_and_stalled_under_load_loses_nothing_acknowledged() {
    if let Err(e) = vrs_kit::pg::PgBinaries::find() {
        assert!(!vrs_kit::pg::required(), "VRS_REQUIRE_PG=1 and {e}");
        let _ = writeln!(std::io::stderr(), "SKIPPED ({e}): db_faults");
        return;
    }
    let pg = LocalPostgres::start(&ClusterOptions::default()).expect("a PostgreSQL cluster of our own");
    pg.psql("postgres", "CREATE DATABASE vrs").expect("create database");
    let portal = Portal::start().await.expect("portal stand-in");
    let url = pg.url("vrs", "");
    let app = Arc::new(
        spawn_app_with(Backend::Sqlite, |cfg| {
            cfg.database.url = url.clone();
            cfg.server.readiness_interval_ms = 200;
            // Outages longer than this reach callers as UNAVAILABLE.
            cfg.database.acquire_timeout_ms = 1_000;
            cfg.portal.url = portal.url();
            cfg.portal.poll_interval_ms = 50;
            cfg.portal.retry_base_ms = 50;
            cfg.portal.retry_max_ms = 500;
        })
        .await,
    );
    wait_readiness(&app, ServingStatus::Serving, Duration::from_secs(10), "at start").await;

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let workers: Vec<_> = (0..6)
        .map(|w| tokio::spawn(load(app.clone(), w, stop.clone(), seen.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 1. A crash and restart: down for two seconds.
    pg.stop("immediate").expect("stop");
    wait_readiness(
        &app,
        ServingStatus::NotServing,
        Duration::from_secs(10),
        "while the database is down",
    )
    .await;
    // A call now waits for a connection up to the acquire timeout, then is
    // told to retry.
    let during = app.submit(next_sample(&app, "DOWN.000001")).await;
    let status = during.expect_err("accepted while the database is down");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    seen.lock()
        .expect("seen")
        .errors
        .push((status.code(), status.message().to_owned()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    pg.start_again().expect("start again");
    recovered(&app, "A", Duration::from_secs(30), &seen).await;
    wait_readiness(
        &app,
        ServingStatus::Serving,
        Duration::from_secs(10),
        "after the restart",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // 2. Every session of ours terminated at once.
    pg.psql(
        "postgres",
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = 'vrs' AND pid <> pg_backend_pid()",
    )
    .expect("terminate");
    recovered(&app, "B", Duration::from_secs(30), &seen).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // 3. The whole server stalled, then resumed.
    pg.signal_all("STOP").expect("SIGSTOP");
    // A call during the stall either waits it out or is told to retry.
    let during = tokio::spawn({
        let app = app.clone();
        async move { app.submit(next_sample(&app, "STALL.000001")).await }
    });
    tokio::time::sleep(Duration::from_secs(4)).await;
    pg.signal_all("CONT").expect("SIGCONT");
    match during.await.expect("join") {
        Ok(a) => {
            seen.lock()
                .expect("seen")
                .submitted
                .insert(a.dossier_code.clone(), a.application_id);
        }
        Err(s) => seen
            .lock()
            .expect("seen")
            .errors
            .push((s.code(), s.message().to_owned())),
    }
    recovered(&app, "C", Duration::from_secs(30), &seen).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.expect("worker");
    }
    let seen = std::mem::take(&mut *seen.lock().expect("seen"));

    // Calls in flight failed as "retry", never as "we broke".
    let bad: Vec<_> = seen
        .errors
        .iter()
        .filter(|(c, _)| !matches!(c, tonic::Code::Unavailable | tonic::Code::DeadlineExceeded))
        .collect();
    assert!(bad.is_empty(), "errors other than UNAVAILABLE: {bad:?}");
    assert!(!seen.submitted.is_empty(), "the load made progress");

    // Nothing acknowledged is lost; a plate given stays given, and only once.
    let mut plates = HashSet::new();
    for (dossier, id) in &seen.submitted {
        let a = app.settled(id, Duration::from_secs(60)).await;
        assert_eq!(&a.dossier_code, dossier);
        if let Some(plate) = seen.plates.get(id) {
            assert_eq!(&a.plate, plate, "{id} lost its plate");
            assert!(plates.insert(plate.clone()), "plate {plate} given twice");
        }
    }

    // The log replays clean against the keys the service publishes.
    let trust = crate::draw::trust(&app).await;
    let log = TransparencyLogServiceClient::new(app.channel());
    let (size, findings) = crate::draw::audit_channel(log, &trust).await;
    assert!(findings.is_empty(), "{findings:?}");
    assert!(size >= 2 * seen.plates.len() as u64, "log size {size}");

    // The portal got every status change of every acknowledged application,
    // once and in order.
    let status = drained(&app.supervisor(), Duration::from_secs(60)).await;
    assert_eq!(status.dead, 0, "{status:?}");
    for id in seen.submitted.values() {
        portal_matches_history(&portal, &app.get(id).await);
    }
    let unavailable = seen
        .errors
        .iter()
        .filter(|(c, _)| *c == tonic::Code::Unavailable)
        .count();
    let _ = writeln!(
        std::io::stderr(),
        "db_faults: {} acknowledged submissions, {} plates; {unavailable} calls answered UNAVAILABLE, {} DEADLINE_EXCEEDED",
        seen.submitted.len(),
        seen.plates.len(),
        seen.errors.len() - unavailable
    );
}
