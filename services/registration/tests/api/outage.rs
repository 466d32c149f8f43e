//! Agency outages: applications wait in AWAITING_AGENCY and the worker
//! resumes them when the agency returns. None is lost, none stays stuck.

use std::time::Duration;

use prost::Message;
use registration::domain::declaration::Declaration;
use registration::service::today_vn;
use registration::store::entities::application;
use vrs_kit::world::Case;
use vrs_proto::pb::registration::v1 as pb;

use crate::helpers::{Backend, both_databases, dossier, reason_codes, spawn_app};

both_databases!(
    applications_wait_for_a_dead_agency_and_resume,
    an_outage_in_the_middle_of_traffic_loses_nothing,
    an_application_orphaned_by_a_crash_is_resumed
);

async fn applications_wait_for_a_dead_agency_and_resume(backend: Backend) {
    let mut app = spawn_app(backend).await;
    app.tax.stop().await;

    let mut ids = Vec::new();
    for n in 0..5 {
        let a = app
            .submit(app.sample(Case::Clean, n, &dossier("OUT", n)))
            .await
            .expect("accepted while tax is down");
        assert_eq!(a.state(), pb::ApplicationState::AwaitingAgency);
        assert_eq!(reason_codes(&a), ["AGENCY_UNAVAILABLE"]);
        assert!(a.reasons[0].message.starts_with("tax "), "{:?}", a.reasons);
        ids.push(a.application_id);
    }
    // While the agency stays down the worker keeps trying; the applications wait.
    tokio::time::sleep(Duration::from_millis(800)).await;
    for id in &ids {
        let a = app.get(id).await;
        assert_eq!(a.state(), pb::ApplicationState::AwaitingAgency);
        assert!(a.attempts >= 2, "worker retried: {}", a.attempts);
    }

    app.tax.restart().await;
    for id in &ids {
        let a = app.settled(id, Duration::from_secs(20)).await;
        assert_eq!(a.state(), pb::ApplicationState::Verified, "{:?}", a.reasons);
        assert!(a.reasons.is_empty());
        let states: Vec<_> = a.history.iter().map(|h| h.to_state()).collect();
        use pb::ApplicationState as S;
        assert_eq!(
            states,
            [S::Submitted, S::AwaitingAgency, S::Verified],
            "one history row per transition"
        );
        assert!(a.evidence.iter().any(|e| e.agency == "tax"));
    }
    assert_eq!(app.registry.store().count().await.expect("count"), 5);
}

async fn an_outage_in_the_middle_of_traffic_loses_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let total = 30;
    let mut acknowledged = Vec::new();
    for n in 0..total {
        if n == 8 {
            app.identity.faults.set_outage(true);
        }
        if n == 20 {
            app.identity.faults.set_outage(false);
        }
        // Every other submission is sent twice concurrently, as a portal retrying would.
        let req = app.sample(Case::Clean, n, &dossier("MID", n));
        let (a, b) = tokio::join!(app.submit(req.clone()), async {
            if n % 2 == 0 {
                Some(app.submit(req.clone()).await)
            } else {
                None
            }
        });
        let a = a.expect("every submission is acknowledged");
        if let Some(b) = b {
            assert_eq!(b.expect("retry acknowledged").application_id, a.application_id);
        }
        acknowledged.push(a.application_id);
    }
    let mut verified = 0;
    for id in &acknowledged {
        let a = app.settled(id, Duration::from_secs(20)).await;
        assert_eq!(a.state(), pb::ApplicationState::Verified, "{id}: {:?}", a.reasons);
        verified += 1;
    }
    assert_eq!(verified, total);
    assert_eq!(app.registry.store().count().await.expect("count"), total as u64);
}

async fn an_application_orphaned_by_a_crash_is_resumed(backend: Backend) {
    let app = spawn_app(backend).await;
    // What a replica killed between storing a submission and its lookups leaves
    // behind: SUBMITTED, with a lease that has run out.
    let req = app.sample(Case::Clean, 3, "G01.000007");
    let (decl, _) = Declaration::validate(&req, today_vn()).expect("valid");
    let now = registration::now_ms();
    let orphan = application::Model {
        id: uuid::Uuid::new_v4().to_string(),
        dossier_code: decl.dossier_code.as_str().to_owned(),
        content_hash: hex::encode(decl.content_hash()),
        declaration: decl.to_pb().encode_to_vec(),
        office_code: decl.office_code.as_str().to_owned(),
        locality_code: decl.locality_code.as_str().to_owned(),
        state: "SUBMITTED".into(),
        reasons: "[]".into(),
        warnings: "[]".into(),
        attempts: 0,
        next_attempt_at_ms: Some(now - 1),
        version: 1,
        created_at_ms: now - 60_000,
        updated_at_ms: now - 60_000,
        plate: None,
        vehicle_value_vnd: None,
        certificate_number: None,
        blocked_reason: None,
        vehicle_key: None,
        history_seq: 1,
        outbox_seq: 1,
    };
    let id = orphan.id.clone();
    app.registry.store().create(orphan, "citizen").await.expect("insert");
    let a = app.settled(&id, Duration::from_secs(10)).await;
    assert_eq!(a.state(), pb::ApplicationState::Verified);
    // The portal retrying the same dossier meanwhile gets the same application.
    assert_eq!(app.submit(req).await.expect("retry").application_id, id);
}
