//! The beacon failing while draws are in flight: down for many periods, serving
//! values that do not verify (a broken or compromised relay), and publishing
//! its rounds late by several periods.
//!
//! Properties: no draw resolves without a valid value of its round; when the
//! beacon is back every waiting draw resolves, no commit is left without its
//! result, and every receipt verifies against the pinned key (so a forged value
//! was never used); the `beacon` health service says NOT_SERVING while the
//! beacon cannot be used, which is what operators alert on.

use std::collections::HashSet;
use std::time::Duration;

use tokio::task::JoinHandle;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use vrs_draw::receipt::verify;
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::transparency_log_service_client::TransparencyLogServiceClient;

use crate::helpers::{BEACON_PERIOD_MS, Backend, TestApp, both_databases, dossier, spawn_app_with};

both_databases!(draws_wait_out_a_beacon_that_is_down_forged_or_late_and_use_only_valid_values);

/// Verified applications of one pool (Hà Nội cars at PC-30).
async fn verified(app: &TestApp, from: usize, n: usize) -> Vec<pb::Application> {
    let cars: Vec<usize> = app.clean_cars_in("Hà Nội").skip(from).take(n).collect();
    let mut out = Vec::new();
    for (i, index) in cars.into_iter().enumerate() {
        let mut req = vrs_kit::samples::submit_request(&app.world, index, &dossier("BF", from + i));
        req.office_code = "PC-30".into();
        let a = app.submit(req).await.expect("submit");
        if a.state() == pb::ApplicationState::Verified {
            out.push(a);
        }
    }
    assert!(out.len() >= n / 2, "enough verified applications: {}", out.len());
    out
}

type Draw = JoinHandle<Result<pb::DrawPlateResponse, tonic::Status>>;

fn draw_all(app: &std::sync::Arc<TestApp>, apps: &[pb::Application]) -> Vec<Draw> {
    apps.iter()
        .map(|a| {
            let (app, a) = (app.clone(), a.clone());
            tokio::spawn(async move { app.draw_for(&a).await })
        })
        .collect()
}

async fn beacon_health(app: &TestApp) -> Option<ServingStatus> {
    let req = HealthCheckRequest {
        service: "beacon".into(),
    };
    HealthClient::new(app.channel())
        .check(req)
        .await
        .ok()
        .map(|r| r.into_inner().status())
}

/// Waits until the `beacon` health service reports `want`.
async fn beacon_health_becomes(app: &TestApp, want: ServingStatus, while_: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while beacon_health(app).await != Some(want) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "beacon health never {want:?} {while_}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits `periods` beacon periods and asserts no draw finished meanwhile.
async fn none_resolves(tasks: &[Draw], periods: u64, what: &str) {
    tokio::time::sleep(Duration::from_millis(periods * BEACON_PERIOD_MS)).await;
    let finished = tasks.iter().filter(|t| t.is_finished()).count();
    assert_eq!(finished, 0, "{finished} draws finished while the beacon was {what}");
}

async fn receipts(tasks: Vec<Draw>, trust: &vrs_draw::receipt::Trust, plates: &mut HashSet<String>) {
    for t in tasks {
        let r = t
            .await
            .expect("join")
            .expect("the draw resolves once the beacon is usable");
        verify(&crate::draw::receipt(&r), trust).expect("the receipt verifies against the pinned beacon key");
        assert!(plates.insert(r.plate.clone()), "plate {} twice", r.plate);
    }
}

async fn draws_wait_out_a_beacon_that_is_down_forged_or_late_and_use_only_valid_values(backend: Backend) {
    let app = std::sync::Arc::new(
        spawn_app_with(backend, |cfg| {
            cfg.server.readiness_interval_ms = 100;
            cfg.draw.draw_timeout_ms = 50_000;
        })
        .await,
    );
    let trust = crate::draw::trust(&app).await;
    let mut plates = HashSet::new();
    beacon_health_becomes(&app, ServingStatus::Serving, "at start").await;

    // Down for 40 periods: draws commit (no beacon needed), then wait.
    app.beacon_faults.set_down(true);
    let tasks = draw_all(&app, &verified(&app, 0, 6).await);
    beacon_health_becomes(&app, ServingStatus::NotServing, "while it is down").await;
    none_resolves(&tasks, 40, "down").await;
    app.beacon_faults.set_down(false);
    receipts(tasks, &trust, &mut plates).await;

    // Forged values: refused, never used; the draws wait for valid ones.
    app.beacon_faults.set_forged(true);
    let tasks = draw_all(&app, &verified(&app, 6, 6).await);
    beacon_health_becomes(&app, ServingStatus::NotServing, "while it serves forged values").await;
    none_resolves(&tasks, 15, "forging").await;
    app.beacon_faults.set_forged(false);
    beacon_health_becomes(&app, ServingStatus::Serving, "after the forgery stops").await;
    receipts(tasks, &trust, &mut plates).await;

    // Late by ten periods: each round comes ten periods after its time.
    app.beacon_faults.set_lag(Duration::from_millis(10 * BEACON_PERIOD_MS));
    let tasks = draw_all(&app, &verified(&app, 12, 6).await);
    none_resolves(&tasks, 6, "late").await;
    receipts(tasks, &trust, &mut plates).await;
    app.beacon_faults.set_lag(Duration::ZERO);

    // No commit without its result, and the log replays clean.
    let log = TransparencyLogServiceClient::new(app.channel());
    let (size, findings) = crate::draw::audit_channel(log, &trust).await;
    assert!(findings.is_empty(), "{findings:?}");
    assert!(
        size >= 2 * plates.len() as u64,
        "log size {size} for {} plates",
        plates.len()
    );
}
