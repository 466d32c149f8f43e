//! The plate draw through the API: commit, beacon, resolution, receipts that
//! verify offline, idempotency, retained plates, and an audit of the log.

use std::collections::{HashMap, HashSet};

use vrs_draw::receipt::{Receipt, Trust, verify};
use vrs_kit::world::{Case, Owner};
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::transparency_log_service_client::TransparencyLogServiceClient;

use crate::helpers::{Backend, TestApp, both_databases, dossier, spawn_app, spawn_app_with};
use registration::domain::workflow::Ordering;
use vrs_kit::token::Role;

both_databases!(
    a_draw_gives_a_plate_and_a_receipt_that_verifies,
    concurrent_draws_never_share_a_plate_and_the_log_audits_clean,
    a_revoked_plate_is_retained_for_its_owner,
    series_roll_over_offices_use_their_code_and_auction_wins_are_confirmed
);

/// The keys the service publishes for verifiers, as an auditor fetches them.
pub async fn trust(app: &TestApp) -> Trust {
    let mut log = TransparencyLogServiceClient::new(app.channel());
    let json = log
        .get_trust(pb::GetTrustRequest {})
        .await
        .expect("trust")
        .into_inner()
        .json;
    serde_json::from_str(&json).expect("trust json")
}

async fn draw(app: &TestApp, id: &str) -> Result<pb::DrawPlateResponse, tonic::Status> {
    let owner = app.get(id).await.owner;
    app.client
        .clone()
        .draw_plate(crate::helpers::for_owner(
            pb::DrawPlateRequest {
                application_id: id.to_owned(),
            },
            &owner,
        ))
        .await
        .map(|r| r.into_inner())
}

/// The receipt of a draw, parsed.
pub fn receipt(r: &pb::DrawPlateResponse) -> Receipt {
    serde_json::from_str(&r.receipt.as_ref().expect("a receipt").json).expect("receipt json")
}

async fn a_draw_gives_a_plate_and_a_receipt_that_verifies(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app
        .submit(app.sample(Case::Clean, 0, "G01.000001"))
        .await
        .expect("submit");
    let r = draw(&app, &a.application_id).await.expect("draw");
    assert_eq!(r.method, "draw");
    let got = r.application.clone().expect("application");
    assert_eq!(got.state(), pb::ApplicationState::PlateAssigned);
    assert_eq!(got.plate, r.plate);
    assert!(
        r.plate.starts_with(&a.locality_code),
        "{} in locality {}",
        r.plate,
        a.locality_code
    );
    let last = got.history.last().expect("history");
    assert_eq!(
        (last.reason_code.as_str(), last.note.as_str()),
        ("PLATE_DRAWN", r.plate.as_str())
    );

    let trust = trust(&app).await;
    let rc = receipt(&r);
    let v = verify(&rc, &trust).expect("the receipt verifies offline");
    assert_eq!(v.plate, r.plate);

    // Idempotent: the same plate and receipt again, no second draw.
    let again = draw(&app, &a.application_id).await.expect("again");
    assert_eq!(again.plate, r.plate);
    assert_eq!(receipt(&again), rc);
    let stored = app
        .log()
        .get_receipt(pb::GetReceiptRequest {
            application_id: a.application_id.clone(),
        })
        .await
        .expect("receipt")
        .into_inner();
    assert_eq!(serde_json::from_str::<Receipt>(&stored.json).expect("json"), rc);

    // Not drawable: an application that needs correction.
    let b = app
        .submit(app.sample(Case::FeeUnpaid, 0, "G01.000002"))
        .await
        .expect("submit");
    let err = draw(&app, &b.application_id).await.expect_err("not verified");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
}

/// Replays the whole log through the API and returns the findings.
pub async fn audit(app: &TestApp, trust: &Trust) -> (u64, Vec<String>) {
    let log = TransparencyLogServiceClient::new(app.channel());
    audit_channel(log, trust).await
}

/// Replays the whole log of the registry behind `log`.
pub async fn audit_channel(
    mut log: TransparencyLogServiceClient<tonic::transport::Channel>,
    trust: &Trust,
) -> (u64, Vec<String>) {
    let cp = log
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await
        .expect("checkpoint")
        .into_inner();
    let mut entries = Vec::new();
    while (entries.len() as u64) < cp.size {
        let start = entries.len() as u64;
        let end = (start + 10_000).min(cp.size);
        let page = log
            .get_entries(pb::GetEntriesRequest { start, end })
            .await
            .expect("entries")
            .into_inner();
        assert!(!page.entries.is_empty(), "entries from {start} missing");
        for e in page.entries {
            assert_eq!(e.index, entries.len() as u64, "entries in order, no gaps");
            entries.push(e.entry);
        }
    }
    let report = vrs_draw::audit::replay(trust, &cp.note, &entries, registration::now_ms(), 10_000)
        .expect("the checkpoint verifies with the registry's trust");
    let findings = report.findings;
    (cp.size, findings)
}

async fn concurrent_draws_never_share_a_plate_and_the_log_audits_clean(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.workflow.ordering = Ordering::DrawFirst).await;
    let n = 40;
    let cars: Vec<usize> = app.clean_cars_in("Hà Nội").take(n).collect();
    let mut ids = Vec::new();
    for (i, index) in cars.into_iter().enumerate() {
        // All Hà Nội residents at the office drawing from code 30, so they share a pool.
        let mut req = vrs_kit::samples::submit_request(&app.world, index, &dossier("D", i));
        req.office_code = "PC-30".into();
        let a = app.submit(req).await.expect("submit");
        if a.state() == pb::ApplicationState::Verified {
            ids.push((a.application_id, a.owner));
        }
    }
    assert!(ids.len() >= 20, "enough verified applications: {}", ids.len());
    let tasks: Vec<_> = ids
        .iter()
        .map(|(id, owner)| {
            let mut c = app.client.clone();
            let req = crate::helpers::for_owner(
                pb::DrawPlateRequest {
                    application_id: id.clone(),
                },
                owner,
            );
            tokio::spawn(async move { c.draw_plate(req).await.map(|r| r.into_inner()) })
        })
        .collect();
    let trust = trust(&app).await;
    let mut plates = HashSet::new();
    for t in tasks {
        let r = t.await.expect("join").expect("draw");
        verify(&receipt(&r), &trust).expect("every receipt verifies");
        assert!(plates.insert(r.plate.clone()), "plate {} drawn twice", r.plate);
    }
    let (size, findings) = audit(&app, &trust).await;
    assert!(findings.is_empty(), "{findings:?}");
    assert!(size >= 2 + 2 * ids.len() as u64);

    // Someone with database access changes one byte of a stored draw result:
    // the audit names that entry.
    let seq = crate::helpers::tamper_latest_draw_result(&app).await;
    let (_, findings) = audit(&app, &trust).await;
    let named = format!("entry {seq}:");
    assert!(
        findings.iter().any(|f| f.starts_with(&named)),
        "{named} not in {findings:?}"
    );
    assert!(findings.iter().any(|f| f.contains("checkpoint root")), "{findings:?}");
}

async fn a_revoked_plate_is_retained_for_its_owner(backend: Backend) {
    let app = spawn_app(backend).await;
    // Two clean vehicles of one citizen.
    let mut by_owner: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, v) in app.world.vehicles_with(Case::Clean) {
        if let Owner::Citizen(c) = v.owner {
            by_owner.entry(c).or_default().push(i);
        }
    }
    let pair = by_owner
        .values()
        .find(|v| v.len() >= 2 && app.world.vehicles[v[0]].class == app.world.vehicles[v[1]].class)
        .expect("a citizen with two vehicles of one class")
        .clone();
    let first = vrs_kit::samples::submit_request(&app.world, pair[0], "G01.000010");
    let a = app.submit(first).await.expect("submit");
    let drawn = draw(&app, &a.application_id).await.expect("draw");
    let mut c = app.clerk(&a);
    // Only a registration whose certificate is issued can end.
    let early = c
        .revoke_plate(pb::RevokePlateRequest {
            application_id: a.application_id.clone(),
            reason_code: "SCRAPPED".into(),
        })
        .await
        .expect_err("not issued yet");
    assert_eq!(early.code(), tonic::Code::FailedPrecondition);
    app.register_fully(&a.application_id).await;
    let revoked = c
        .revoke_plate(pb::RevokePlateRequest {
            application_id: a.application_id.clone(),
            reason_code: "scrapped".into(),
        })
        .await
        .expect("revoke")
        .into_inner();
    assert_eq!(revoked.plate, drawn.plate);
    let ended = app.get(&a.application_id).await;
    assert_eq!(ended.state(), pb::ApplicationState::Deregistered);
    let last = ended.history.last().expect("history");
    assert_eq!(
        (last.reason_code.as_str(), last.actor.as_str()),
        ("SCRAPPED", "clerk-017")
    );

    let second = vrs_kit::samples::submit_request(&app.world, pair[1], "G01.000011");
    let b = app.submit(second).await.expect("submit");
    let r = draw(&app, &b.application_id).await.expect("reissue");
    assert_eq!(
        (r.method.as_str(), r.plate.as_str()),
        ("retained", drawn.plate.as_str())
    );
    assert!(r.receipt.is_none());
    assert_eq!(r.application.expect("app").state(), pb::ApplicationState::PlateAssigned);

    // White to yellow: the second vehicle goes into a transport business. Its
    // registration ends, and it registers anew with a plate drawn from the
    // yellow pools; the white plate goes back into its owner's retention.
    app.register_fully(&b.application_id).await;
    let converted = c
        .revoke_plate(pb::RevokePlateRequest {
            application_id: b.application_id.clone(),
            reason_code: "COLOUR_CONVERSION".into(),
        })
        .await
        .expect("conversion")
        .into_inner();
    assert_eq!(converted.plate, drawn.plate);
    let mut yellow = vrs_kit::samples::submit_request(&app.world, pair[1], "G01.000012");
    yellow.vehicle.as_mut().expect("vehicle").commercial_use = true;
    let y = app.submit(yellow).await.expect("submit as commercial");
    assert_eq!(y.state(), pb::ApplicationState::Verified);
    assert!(y.vehicle.as_ref().expect("vehicle").commercial_use);
    let yr = draw(&app, &y.application_id).await.expect("yellow draw");
    assert_eq!(yr.method, "draw");
    assert_ne!(yr.plate, drawn.plate);

    let trust = trust(&app).await;
    let v = verify(&receipt(&yr), &trust).expect("the yellow receipt verifies");
    assert!(v.pool_id.contains("-yellow-"), "{}", v.pool_id);
    let (_, findings) = audit(&app, &trust).await;
    assert!(findings.is_empty(), "{findings:?}");
}

async fn series_roll_over_offices_use_their_code_and_auction_wins_are_confirmed(backend: Backend) {
    // Everything but three numbers of each series is on the auction list, so a series is
    // used up after three draws; office HN-TEST draws from code 31 (a multi-code province).
    let keep = [101u32, 202, 303];
    let app = spawn_app_with(backend, |c| {
        c.draw.auction_numbers = (1..=99_999).filter(|n| !keep.contains(n)).collect();
        c.draw.office_localities.insert("HN-TEST".into(), "31".into());
    })
    .await;
    // Residents of Hà Nội: the province office HN-TEST serves.
    let cars: Vec<usize> = app.clean_cars_in("Hà Nội").take(5).collect();
    let mut ids = Vec::new();
    for (n, index) in cars.iter().enumerate() {
        let mut req = vrs_kit::samples::submit_request(&app.world, *index, &dossier("SER", n));
        req.office_code = "HN-TEST".into();
        let a = app.submit(req).await.expect("submit");
        assert_eq!(a.state(), pb::ApplicationState::Verified, "{:?}", a.reasons);
        ids.push(a.application_id);
    }
    let mut plates = Vec::new();
    for id in &ids[..3] {
        plates.push(draw(&app, id).await.expect("draw").plate);
    }
    plates.sort();
    assert_eq!(
        plates,
        ["31A-001.01", "31A-002.02", "31A-003.03"],
        "the three drawable numbers of series A"
    );
    let fourth = draw(&app, &ids[3]).await.expect("draw");
    assert!(fourth.plate.starts_with("31B-"), "series B opened: {}", fourth.plate);

    // The fifth owner won 31A-123.45 at auction: confirmed, not drawn.
    let owner = match vrs_kit::samples::submit_request(&app.world, cars[4], "X")
        .owner
        .and_then(|o| o.kind)
    {
        Some(pb::owner::Kind::Individual(i)) => i.personal_id,
        Some(pb::owner::Kind::Organisation(o)) => o.tax_code,
        None => panic!("owner"),
    };
    let mut c = app.supervisor();
    let won = c
        .record_auction_win(pb::RecordAuctionWinRequest {
            pool_id: "31-car-white-A".into(),
            number: 12_345,
            owner_id: owner.clone(),
        })
        .await
        .expect("auction win")
        .into_inner();
    assert_eq!(won.plate, "31A-123.45");
    let listed = c
        .list_auction_results(pb::ListAuctionResultsRequest::default())
        .await
        .expect("auction results")
        .into_inner()
        .results;
    assert_eq!(
        listed
            .iter()
            .map(|r| (r.plate.as_str(), r.application_id.as_str()))
            .collect::<Vec<_>>(),
        [("31A-123.45", "")],
        "recorded, its winner not yet come"
    );
    let not_listed = c
        .record_auction_win(pb::RecordAuctionWinRequest {
            pool_id: "31-car-white-A".into(),
            number: 101,
            owner_id: owner,
        })
        .await
        .expect_err("101 was drawn, not auctioned");
    assert_eq!(not_listed.code(), tonic::Code::FailedPrecondition);
    let fifth = draw(&app, &ids[4]).await.expect("confirm");
    assert_eq!((fifth.method.as_str(), fifth.plate.as_str()), ("auction", "31A-123.45"));
    let again = draw(&app, &ids[4]).await.expect("confirm again (a portal retrying)");
    assert_eq!((again.method.as_str(), again.plate.as_str()), ("auction", "31A-123.45"));
    assert!(again.receipt.is_none(), "an auction win has no draw receipt");
    let listed = app
        .caller("auditor-01", &[Role::Auditor], None)
        .list_auction_results(pb::ListAuctionResultsRequest::default())
        .await
        .expect("auction results, as an auditor")
        .into_inner()
        .results;
    assert_eq!(
        listed
            .iter()
            .map(|r| (r.plate.as_str(), r.application_id.as_str(), r.number))
            .collect::<Vec<_>>(),
        [("31A-123.45", ids[4].as_str(), 12_345)],
        "confirmed for the winner's application, listed once"
    );

    // A retention that has run out returns the number to its pool, by a logged release.
    let mut c = app.caller("clerk-017", &[Role::Clerk], Some("HN-TEST"));
    app.register_fully(&ids[0]).await;
    c.revoke_plate(pb::RevokePlateRequest {
        application_id: ids[0].clone(),
        reason_code: "OWNERSHIP_TRANSFER".into(),
    })
    .await
    .expect("revoke");
    {
        use registration::store::entities::plate;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        plate::Entity::update_many()
            .col_expr(plate::Column::RetainedUntilMs, Expr::value(registration::now_ms() - 1))
            .filter(plate::Column::Status.eq("retained"))
            .exec(app.registry.store().connection())
            .await
            .expect("age the retention");
    }
    assert_eq!(app.registry.plates().expire_retentions().await.expect("expiry"), 1);
    let trust = trust(&app).await;
    let (_, findings) = audit(&app, &trust).await;
    assert!(findings.is_empty(), "{findings:?}");
}
