//! An insider with database access and the beacon's key — who knows a round's
//! randomness before the registry resolves it — tries to move a chosen pending
//! draw onto a chosen number (draw spec §5.4). Under the v1 rules a
//! withholding slipped in after the commit shifted the number the drawn index
//! landed on. Now the plate does not move, or the audit and the citizen's
//! receipt both fail and name the entry.

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use vrs_draw::audit::Ledger;
use vrs_draw::entry::{DrawCommit, DrawResult, Entry, PoolChange};
use vrs_draw::pool::PoolId;
use vrs_draw::receipt::{Receipt, verify};
use vrs_proto::pb::registration::v1 as pb;

use crate::helpers::{Backend, TestApp, both_databases, dossier, for_owner, spawn_app_with};

both_databases!(
    a_withholding_slipped_in_after_the_commit_does_not_move_the_plate,
    a_result_forged_out_of_commit_order_fails_the_receipt_and_the_audit
);

/// The registry with its resolver idle: the test resolves when the insider is done.
async fn registry(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| {
        c.draw.resolver_poll_ms = 3_600_000;
        c.draw.draw_timeout_ms = 120_000;
    })
    .await
}

/// Two cars of Hà Nội residents at office PC-30: one pool.
async fn verified(app: &TestApp, tag: &str, skip: usize) -> Vec<(String, Option<pb::Owner>)> {
    let cars: Vec<usize> = app.clean_cars_in("Hà Nội").skip(skip).take(4).collect();
    let mut out = Vec::new();
    for (n, index) in cars.into_iter().enumerate() {
        let mut req = vrs_kit::samples::submit_request(&app.world, index, &dossier(tag, n));
        req.office_code = "PC-30".into();
        let a = app.submit(req).await.expect("submit");
        if a.state() == pb::ApplicationState::Verified {
            out.push((a.application_id, a.owner));
        }
    }
    assert!(out.len() >= 2, "two verified applications");
    out.truncate(2);
    out
}

/// Sends DrawPlate for each application in turn, each once the previous one's
/// commit is logged; the calls wait for their result.
async fn commit_in_order(
    app: &TestApp,
    apps: &[(String, Option<pb::Owner>)],
) -> Vec<tokio::task::JoinHandle<Result<pb::DrawPlateResponse, tonic::Status>>> {
    let mut calls = Vec::new();
    for (id, owner) in apps {
        let mut c = app.client.clone();
        let req = for_owner(
            pb::DrawPlateRequest {
                application_id: id.clone(),
            },
            owner,
        );
        calls.push(tokio::spawn(
            async move { c.draw_plate(req).await.map(|r| r.into_inner()) },
        ));
        let plates = app.registry.plates().clone();
        for _ in 0..600 {
            if plates.draw_pending(id).await.expect("read") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(plates.draw_pending(id).await.expect("read"), "committed");
    }
    calls
}

/// The whole log, as the insider reads it from the database.
async fn log(app: &TestApp) -> Vec<Vec<u8>> {
    let plates = app.registry.plates();
    let size = plates.tree_size_and(|t| t.size()).await.expect("size");
    registration::plates::log::entries(plates.db(), 0, size + 1_000)
        .await
        .expect("entries")
        .into_iter()
        .map(|e| e.entry)
        .collect()
}

fn commit_of(entries: &[Vec<u8>], commit_index: u64) -> DrawCommit {
    match Entry::decode(&entries[commit_index as usize]) {
        Ok(Entry::DrawCommit(c)) => c,
        other => panic!("not a commit: {other:?}"),
    }
}

/// The commit index of an application's draw.
async fn commit_index(app: &TestApp, id: &str) -> u64 {
    use registration::store::entities::draw;
    let row = draw::Entity::find_by_id(id.to_owned())
        .one(app.registry.plates().db())
        .await
        .expect("read")
        .expect("draw row");
    row.commit_seq as u64
}

/// What the insider knows: every pending draw's honest outcome, computed from
/// the log and the beacon's key before the registry resolves anything.
fn foresee(app: &TestApp, entries: &[Vec<u8>], pool: &str) -> HashMap<u64, DrawResult> {
    let key = beacon::keyfile::read(&app.beacon_key)
        .expect("key file")
        .expect("a key");
    let mut ledger = Ledger::new();
    for e in entries {
        ledger.append(e);
    }
    ledger
        .resolve(
            pool,
            usize::MAX,
            |c| {
                let s = key.secret.sign_round(c.round).to_vec();
                let r = vrs_draw::beacon::randomness(&s);
                Some((s, r))
            },
            0,
        )
        .expect("foreseen")
        .into_iter()
        .map(|r| (r.result.commit_index, r.result))
        .collect()
}

/// Appends entries the way an insider with database access can.
async fn insider_appends(app: &TestApp, entries: &[Entry]) -> u64 {
    let txn = app.registry.store().begin_write().await.expect("txn");
    let at = registration::plates::log::append(&txn, entries, registration::now_ms())
        .await
        .expect("append");
    txn.commit().await.expect("commit");
    at
}

/// Resolves until every call has its answer (the round must be out first).
async fn resolve_all(
    app: &TestApp,
    calls: Vec<tokio::task::JoinHandle<Result<pb::DrawPlateResponse, tonic::Status>>>,
) -> Vec<pb::DrawPlateResponse> {
    let plates = app.registry.plates().clone();
    let resolving = tokio::spawn(async move {
        loop {
            let _ = plates.resolve_due().await;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    });
    let mut out = Vec::new();
    for c in calls {
        out.push(c.await.expect("join").expect("draw"));
    }
    resolving.abort();
    out
}

/// Audits the log as an outside auditor would; the findings, each naming its entry.
async fn audit(app: &TestApp) -> Vec<String> {
    let plates = app.registry.plates();
    let cp = plates.checkpoint().await.expect("checkpoint");
    let entries = registration::plates::log::entries(plates.db(), 0, cp.size as u64)
        .await
        .expect("entries");
    let bytes: Vec<Vec<u8>> = entries.into_iter().map(|e| e.entry).collect();
    vrs_draw::audit::replay(&plates.trust(), &cp.note, &bytes, registration::now_ms(), 60_000)
        .expect("auditable")
        .findings
}

fn receipt(r: &pb::DrawPlateResponse) -> Receipt {
    serde_json::from_str(&r.receipt.as_ref().expect("a receipt").json).expect("receipt json")
}

async fn a_withholding_slipped_in_after_the_commit_does_not_move_the_plate(backend: Backend) {
    let app = registry(backend).await;
    let apps = verified(&app, "INS", 0).await;
    let calls = commit_in_order(&app, &apps).await;
    let victim = commit_index(&app, &apps[1].0).await;
    let entries = log(&app).await;
    let pool = commit_of(&entries, victim).pool_id;
    let planned = foresee(&app, &entries, &pool)
        .remove(&victim)
        .expect("the victim's draw");

    // v1's rule drew the index-th number of the pool just before the result:
    // withholding the planned number moved the victim onto the next one, the
    // number the insider wants. Also, a special number released in passing.
    let pid = PoolId::parse(&pool).expect("pool");
    let wanted = (planned.number + 1..=99_999)
        .find(|n| !vrs_draw::pool::special_patterns().contains(n))
        .expect("a next number");
    let withhold = insider_appends(
        &app,
        &[
            Entry::PoolWithhold(PoolChange {
                pool_id: pool.clone(),
                reason: "AUCTION_LIST".into(),
                legal_basis: "Decree 156/2024/ND-CP".into(),
                numbers: vec![planned.number],
                at_ms: registration::now_ms() as u64,
            }),
            Entry::PoolRelease(PoolChange {
                pool_id: pool.clone(),
                reason: "AUCTION_FAILED".into(),
                legal_basis: "Decree 156/2024/ND-CP".into(),
                numbers: vec![99_999],
                at_ms: registration::now_ms() as u64,
            }),
        ],
    )
    .await;

    let answers = resolve_all(&app, calls).await;
    assert_eq!(
        answers[1].plate,
        planned.plate,
        "the insider moved the draw (wanted {})",
        pid.plate(wanted)
    );
    assert_ne!(answers[1].plate, pid.plate(wanted));
    // The citizen's receipt verifies: the plate is the one the commit fixed.
    let trust = app.registry.plates().trust();
    let v = verify(&receipt(&answers[1]), &trust).expect("the receipt verifies");
    assert_eq!(v.plate, planned.plate);
    // The audit names the withholding slipped in while draws were pending.
    let findings = audit(&app).await;
    assert!(
        findings
            .iter()
            .any(|f| f.starts_with(&format!("entry {withhold}: frozen"))),
        "{findings:?}"
    );
    assert!(
        findings.iter().all(|f| f.starts_with(&format!("entry {withhold}:"))),
        "only the withholding breaks a rule: {findings:?}"
    );
}

async fn a_result_forged_out_of_commit_order_fails_the_receipt_and_the_audit(backend: Backend) {
    use registration::store::entities::draw;
    let app = registry(backend).await;
    let apps = verified(&app, "FORGE", 4).await;
    let calls = commit_in_order(&app, &apps).await;
    let (earlier, victim) = (
        commit_index(&app, &apps[0].0).await,
        commit_index(&app, &apps[1].0).await,
    );
    let entries = log(&app).await;
    let pool = commit_of(&entries, victim).pool_id;
    let foreseen = foresee(&app, &entries, &pool);
    let planned = foreseen[&victim].clone();

    // The insider answers the victim first, before the draw committed earlier,
    // claiming its first candidate was taken so that it gets the second.
    let set = {
        let mut ledger = Ledger::new();
        for e in &entries[..victim as usize] {
            ledger.append(e);
        }
        ledger.pool(&pool).expect("pool").clone()
    };
    let second = vrs_draw::draw::candidates(planned.seed, &set)
        .nth(1)
        .expect("candidate");
    let pid = PoolId::parse(&pool).expect("pool");
    let forged = DrawResult {
        attempts: 2,
        index: second.0,
        number: second.1,
        plate: pid.plate(second.1),
        ..planned.clone()
    };
    let at = insider_appends(&app, &[Entry::DrawResult(forged.clone())]).await;
    // And makes the registry's tables agree, so the citizen gets that plate.
    draw::Entity::update_many()
        .col_expr(draw::Column::ResultSeq, Expr::value(at as i64))
        .col_expr(draw::Column::Number, Expr::value(forged.number as i32))
        .col_expr(draw::Column::Plate, Expr::value(forged.plate.clone()))
        .col_expr(draw::Column::ResolvedAtMs, Expr::value(registration::now_ms()))
        .filter(draw::Column::ApplicationId.eq(apps[1].0.as_str()))
        .exec(app.registry.plates().db())
        .await
        .expect("update");

    let answers = resolve_all(&app, calls).await;
    assert_eq!(
        answers[0].plate, foreseen[&earlier].plate,
        "the earlier draw is unaffected"
    );
    assert_eq!(
        answers[1].plate, forged.plate,
        "the forged plate is what the tables say"
    );
    // The citizen's receipt fails, naming the rule: the draw committed before
    // it was answered after it.
    let trust = app.registry.plates().trust();
    let err = verify(&receipt(&answers[1]), &trust).expect_err("a forged draw");
    assert_eq!(err.check, "previous", "{err}");
    // The audit names the forged entry.
    let findings = audit(&app).await;
    assert!(
        findings.iter().any(|f| f.starts_with(&format!("entry {at}: order"))),
        "{findings:?}"
    );
    assert!(
        findings.iter().any(|f| f.starts_with(&format!("entry {at}: draw"))),
        "{findings:?}"
    );
}
