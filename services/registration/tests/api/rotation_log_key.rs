//! Rotating the log's signing key (draw spec §6.4): a replica started with a
//! new key and the old one retired logs a key-rotation entry and a handover
//! checkpoint signed by both; receipts issued before and after verify for
//! verifiers pinned to either key; a replica with the old key alone is
//! refused; restarting (even two replicas at once) rotates once; and the
//! whole log audits clean from either key.

use std::sync::Mutex;
use std::time::Duration;

use registration::app::Application;
use registration::config::Config;
use vrs_draw::entry::{Entry, KeyRotation};
use vrs_draw::note::NoteVerifier;
use vrs_draw::receipt::{Receipt, Rotation, Trust, verify};
use vrs_kit::world::Case;
use vrs_proto::pb::registration::v1 as pb;

use crate::draw::{audit, receipt, trust};
use crate::helpers::{Backend, TestApp, both_databases, fresh_postgres, spawn_app_keyed};

both_databases!(a_log_key_rotation_is_logged_signed_by_both_keys_and_followed_by_verifiers);

/// Submits the `nth` clean sample and draws its plate.
async fn drawn(app: &TestApp, nth: usize) -> (String, pb::DrawPlateResponse) {
    let a = app
        .submit(app.sample(Case::Clean, nth, &format!("K{nth:02}.000001")))
        .await
        .expect("submit");
    let a = app.settled(&a.application_id, Duration::from_secs(20)).await;
    assert_eq!(a.state(), pb::ApplicationState::Verified, "{a:?}");
    let r = app.draw_for(&a).await.expect("draw");
    assert_eq!(r.method, "draw");
    (a.application_id, r)
}

/// The whole log, and the checkpoint it was read under.
async fn log_entries(app: &TestApp) -> (pb::Checkpoint, Vec<Vec<u8>>) {
    let mut log = app.log();
    let cp = log
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await
        .expect("checkpoint")
        .into_inner();
    let entries = log
        .get_entries(pb::GetEntriesRequest { start: 0, end: cp.size })
        .await
        .expect("entries")
        .into_inner()
        .entries
        .into_iter()
        .map(|e| e.entry)
        .collect();
    (cp, entries)
}

/// The key-rotation entries of the log, with their indices.
async fn rotations_logged(app: &TestApp) -> Vec<(u64, KeyRotation)> {
    let (_, entries) = log_entries(app).await;
    entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match Entry::decode(e) {
            Ok(Entry::KeyRotation(r)) => Some((i as u64, r)),
            _ => None,
        })
        .collect()
}

/// The rotation chain the registry publishes beside its trust.
async fn published_rotations(app: &TestApp) -> Vec<Rotation> {
    let t = app
        .log()
        .get_trust(pb::GetTrustRequest {})
        .await
        .expect("trust")
        .into_inner();
    serde_json::from_str(&t.rotations_json).expect("rotations json")
}

async fn fetched_receipt(app: &TestApp, application_id: &str) -> Receipt {
    let json = app
        .log()
        .get_receipt(pb::GetReceiptRequest {
            application_id: application_id.to_owned(),
        })
        .await
        .expect("receipt")
        .into_inner()
        .json;
    serde_json::from_str(&json).expect("receipt json")
}

fn verifies(r: &Receipt, pinned: &Trust, signed_by: &Trust, what: &str) {
    let v = verify(r, pinned).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(v.log_key, signed_by.log_key, "{what}");
}

async fn a_log_key_rotation_is_logged_signed_by_both_keys_and_followed_by_verifiers(backend: Backend) {
    let keys = tempfile::tempdir().expect("keys");
    let url = match &backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", keys.path().join("shared.db").display()),
        Backend::Postgres(server) => fresh_postgres(server).await,
    };
    let old_key = keys.path().join("log.key").display().to_string();
    let new_key = keys.path().join("log-next.key").display().to_string();

    // K0: a draw, its receipt kept. This replica keeps running with K0.
    let stale = spawn_app_keyed(Backend::Sqlite, keys.path(), |cfg| {
        cfg.database.url = url.clone();
        cfg.draw.draw_timeout_ms = 3_000;
    })
    .await;
    let k0 = trust(&stale).await;
    let (first_id, first) = drawn(&stale, 0).await;
    let kept = receipt(&first);
    assert!(kept.rotations.is_empty(), "no rotation yet: the receipt has none");
    verifies(&kept, &k0, &k0, "the first receipt, pinned to K0");
    assert!(published_rotations(&stale).await.is_empty());

    // K1 current, K0 retired, on two replicas started at once: one rotation.
    let rotated = Mutex::new(None::<Config>);
    let tweak = |cfg: &mut Config| {
        cfg.database.url = url.clone();
        cfg.draw.log_key_file = new_key.clone();
        cfg.draw.retired_log_key_files = vec![old_key.clone()];
        *rotated.lock().expect("lock") = Some(cfg.clone());
    };
    let (app, other) = tokio::join!(
        spawn_app_keyed(Backend::Sqlite, keys.path(), tweak),
        spawn_app_keyed(Backend::Sqlite, keys.path(), tweak)
    );
    let k1 = trust(&app).await;
    assert_ne!(k1.log_key, k0.log_key, "the new key is in force");
    assert_eq!(trust(&other).await.log_key, k1.log_key);
    let logged = rotations_logged(&app).await;
    assert_eq!(logged.len(), 1, "two replicas started at once rotate once: {logged:?}");
    let (at, rotation) = &logged[0];
    assert_eq!(
        (
            rotation.old_key.as_str(),
            rotation.new_key.as_str(),
            rotation.reason.as_str()
        ),
        (k0.log_key.as_str(), k1.log_key.as_str(), "scheduled rotation")
    );
    let chain = published_rotations(&app).await;
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0].rotation.index, *at);

    // A replica started with K0 alone is refused, and says why (while the
    // replicas whose configuration it copies still have their files).
    let mut alone = rotated.lock().expect("lock").clone().expect("config");
    alone.draw.log_key_file = old_key.clone();
    alone.draw.retired_log_key_files = Vec::new();
    let refused = Application::build(&alone)
        .await
        .err()
        .expect("a retired key alone is refused");
    let message = format!("{refused:#}");
    assert!(
        message.contains("draw.log_key_file") && message.contains(&format!("retired at entry {at}")),
        "{message}"
    );

    // A draw under K1 (any replica's resolver may answer it, the stale one's
    // too): its receipt follows the rotation from K0, and verifies pinned to K1.
    let (_, second) = drawn(&app, 1).await;
    let fresh = receipt(&second);
    assert_eq!(fresh.rotations, chain, "the receipt carries the rotation");
    verifies(&fresh, &k0, &k1, "a receipt after the rotation, pinned to K0");
    verifies(&fresh, &k1, &k1, "a receipt after the rotation, pinned to K1");
    // The first draw's receipt, fetched again: now under a K1 checkpoint, with the rotation.
    let again = fetched_receipt(&app, &first_id).await;
    assert_eq!(again.plate, kept.plate);
    verifies(&again, &k1, &k1, "the first receipt fetched again, pinned to K1");
    verifies(&again, &k0, &k1, "the first receipt fetched again, pinned to K0");
    // The receipt kept from before still verifies for K0 (and not for K1: K0 signed it).
    verifies(&kept, &k0, &k0, "the kept receipt, pinned to K0");
    assert_eq!(verify(&kept, &k1).expect_err("not K1's").check, "checkpoint");
    other.shutdown().await;
    app.shutdown().await;

    // The replica still running with K0 signs nothing once the pin moved: a
    // draw on it appends its commit, and the checkpoint it would need is refused.
    let a = stale
        .submit(stale.sample(Case::Clean, 2, "K02.000001"))
        .await
        .expect("submit");
    let a = stale.settled(&a.application_id, Duration::from_secs(20)).await;
    let pending = {
        let (portal, a) = (stale.client.clone(), a.clone());
        tokio::spawn(async move {
            let req = pb::DrawPlateRequest {
                application_id: a.application_id.clone(),
            };
            portal
                .clone()
                .draw_plate(crate::helpers::for_owner(req, &a.owner))
                .await
        })
    };
    let k0_verifier = NoteVerifier::parse(&k0.log_key).expect("K0");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let refusal = loop {
        match stale.log().get_checkpoint(pb::GetCheckpointRequest {}).await {
            Err(e) => break e,
            Ok(cp) => {
                let cp = cp.into_inner();
                assert!(
                    cp.size <= *at + 1 || k0_verifier.open(&cp.note).is_err(),
                    "the stale replica signed past the handover"
                );
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no refusal");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(refusal.code(), tonic::Code::Unavailable, "{refusal:?}");
    assert!(refusal.message().contains("retired"), "{refusal:?}");
    assert!(pending.await.expect("join").is_err(), "no receipt without a checkpoint");
    stale.shutdown().await;

    // Restarted with K1 (K0 still retired): no second rotation; the pending
    // draw gets its plate and a receipt K0 verifies through the rotation.
    let app = spawn_app_keyed(Backend::Sqlite, keys.path(), tweak).await;
    let third = app.draw_for(&a).await.expect("the pending draw, answered");
    verifies(&receipt(&third), &k0, &k1, "a receipt after the restart, pinned to K0");
    assert_eq!(
        rotations_logged(&app).await.len(),
        1,
        "restarting does not rotate again"
    );

    // The whole log audits clean pinned to K1, and pinned to K0 with the handover published.
    let (size, findings) = audit(&app, &k1).await;
    assert!(findings.is_empty(), "pinned to K1: {findings:?}");
    let (cp, entries) = log_entries(&app).await;
    assert!(size <= cp.size);
    let handovers: Vec<String> = published_rotations(&app)
        .await
        .into_iter()
        .map(|r| r.checkpoint)
        .collect();
    let report = vrs_draw::audit::replay_holding(&k0, &cp.note, &handovers, &entries, registration::now_ms(), 10_000)
        .expect("the checkpoint opens with the key K0's rotation leads to");
    assert!(report.findings.is_empty(), "pinned to K0: {:?}", report.findings);
    app.shutdown().await;
}
