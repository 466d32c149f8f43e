//! The portal sees every status change of a dossier, in order, exactly once
//! (after its deduplication by idempotency key), through failures of its own;
//! a dead letter holds back the rest of its dossier until it is retried.

use std::time::Duration;

use portal_standin::{Mode, Portal};
use vrs_kit::world::{Case, Origin};
use vrs_proto::pb::registration::v1 as pb;

use crate::helpers::{Backend, Client, both_databases, spawn_app_with, violated_fields};

both_databases!(
    one_dossier_from_submission_to_delivery_reaches_a_flaky_portal_in_order,
    a_refused_event_is_dead_lettered_and_holds_back_its_dossier
);

/// Fast outbox timings: the portal's stalls outlast the 300 ms timeout.
pub fn fast_outbox(cfg: &mut registration::config::Config, portal: &Portal) {
    cfg.portal.url = portal.url();
    cfg.portal.timeout_ms = 300;
    cfg.portal.poll_interval_ms = 20;
    cfg.portal.retry_base_ms = 20;
    cfg.portal.retry_max_ms = 200;
    cfg.portal.lease_ms = 2_000;
    cfg.portal.batch = 32;
}

/// The outbox status once every event is delivered or dead (or a panic
/// after `limit`), asked as `supervisor`.
pub async fn drained(supervisor: &Client, limit: Duration) -> pb::OutboxStatus {
    outbox_until(supervisor, limit, "drained", |s| s.pending == 0).await
}

/// The outbox status once at least one event is dead-lettered.
pub async fn dead_lettered(supervisor: &Client, limit: Duration) -> pb::OutboxStatus {
    outbox_until(supervisor, limit, "dead-lettered", |s| s.dead >= 1).await
}

async fn outbox_until(
    supervisor: &Client,
    limit: Duration,
    what: &str,
    done: impl Fn(&pb::OutboxStatus) -> bool,
) -> pb::OutboxStatus {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let s = supervisor
            .clone()
            .get_outbox_status(pb::GetOutboxStatusRequest::default())
            .await
            .expect("outbox status")
            .into_inner();
        if done(&s) {
            return s;
        }
        assert!(tokio::time::Instant::now() < deadline, "outbox never {what}: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts that the portal holds exactly `app`'s history as events (plus
/// FEE_DUE after PLATE_ASSIGNED), once each, in order; returns how many.
pub fn portal_matches_history(portal: &Portal, app: &pb::Application) -> usize {
    portal.check_history(app).unwrap_or_else(|e| panic!("{e}"))
}

/// (status, reason code) of a dossier's events as the portal accepted them,
/// after checking they are numbered 1, 2, 3… in arrival order.
pub fn sequence(portal: &Portal, dossier: &str) -> Vec<(String, String)> {
    let events = portal.events_of(dossier);
    let seqs: Vec<i32> = events.iter().map(|e| e.seq).collect();
    let expected: Vec<i32> = (1..=events.len() as i32).collect();
    assert_eq!(seqs, expected, "in order, none missing: {events:?}");
    events.into_iter().map(|e| (e.status, e.reason_code)).collect()
}

async fn one_dossier_from_submission_to_delivery_reaches_a_flaky_portal_in_order(backend: Backend) {
    let portal = Portal::start().await.expect("portal stand-in");
    portal.set(Mode::Flaky);
    let app = spawn_app_with(backend, |cfg| fast_outbox(cfg, &portal)).await;
    // An imported car: the clerk must check chassis and engine on the vehicle.
    let (index, _) = app
        .world
        .vehicles_with(Case::Clean)
        .find(|(_, v)| v.origin == Origin::Imported)
        .expect("an imported vehicle");
    let a = app
        .submit(vrs_kit::samples::submit_request(&app.world, index, "G01.007001"))
        .await
        .expect("submit");
    assert_eq!(a.state(), pb::ApplicationState::Verified, "{:?}", a.reasons);
    assert!(a.physical_check_required);
    let id = a.application_id.clone();
    let mut portal_client = app.client.clone();
    // The portal acts for the owner only; for anyone else it is refused.
    let stranger = portal_client
        .draw_plate(crate::helpers::for_owner(
            pb::DrawPlateRequest {
                application_id: id.clone(),
            },
            &Some(pb::Owner {
                kind: Some(pb::owner::Kind::Individual(pb::Individual {
                    personal_id: "001099000001".into(),
                    ..Default::default()
                })),
            }),
        ))
        .await
        .expect_err("not the owner");
    assert_eq!(stranger.code(), tonic::Code::PermissionDenied);
    let anonymous = portal_client
        .draw_plate(pb::DrawPlateRequest {
            application_id: id.clone(),
        })
        .await
        .expect_err("no citizen named");
    assert_eq!(anonymous.code(), tonic::Code::PermissionDenied);
    let drawn = portal_client
        .draw_plate(crate::helpers::for_owner(
            pb::DrawPlateRequest {
                application_id: id.clone(),
            },
            &a.owner,
        ))
        .await
        .expect("draw")
        .into_inner();
    let fee = drawn.application.as_ref().expect("app").fee_due_vnd;
    portal_client
        .confirm_payment(pb::ConfirmPaymentRequest {
            application_id: id.clone(),
            payment_reference: "PAY-7001".into(),
            amount_vnd: fee,
        })
        .await
        .expect("pay");

    // The clerk opens the dossier: each agency's record beside the declaration,
    // the same answers that were kept as evidence at verification.
    let mut clerk = app.clerk(&a);
    let inspected = clerk
        .inspect_application(pb::InspectApplicationRequest {
            application_id: id.clone(),
        })
        .await
        .expect("inspect")
        .into_inner();
    let agencies: Vec<&str> = inspected.records.iter().map(|r| r.agency.as_str()).collect();
    assert_eq!(agencies, ["identity", "tax", "customs"]);
    for r in &inspected.records {
        let kept = r.evidence.as_ref().expect("evidence beside each record");
        let stored = a.evidence.iter().rev().find(|e| e.agency == r.agency).expect("stored");
        assert_eq!(kept, stored);
        assert_eq!(r.response_sha256.len(), 64);
    }
    use pb::agency_record::Record;
    let declared_chassis = a.vehicle.as_ref().expect("vehicle").chassis_number.clone();
    match (&inspected.records[0].record, a.owner.clone().and_then(|o| o.kind)) {
        (Some(Record::Citizen(c)), Some(pb::owner::Kind::Individual(i))) => assert_eq!(c.personal_id, i.personal_id),
        (Some(Record::Organisation(o)), Some(pb::owner::Kind::Organisation(d))) => assert_eq!(o.tax_code, d.tax_code),
        other => panic!("identity record {other:?}"),
    }
    assert!(!inspected.records[1].fee_records.is_empty(), "fee records");
    match &inspected.records[2].record {
        Some(Record::ImportDeclaration(d)) => assert!(d.chassis_number.eq_ignore_ascii_case(&declared_chassis)),
        other => panic!("customs record {other:?}"),
    }
    // Agency records hold personal data: the portal may not read them this way.
    let denied = app
        .client
        .clone()
        .inspect_application(pb::InspectApplicationRequest {
            application_id: id.clone(),
        })
        .await
        .expect_err("portal");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);

    // The clerk reads a wrong engine number off the vehicle: blocked, approval refused.
    let v = a.vehicle.clone().expect("vehicle");
    let empty = clerk
        .record_physical_check(pb::RecordPhysicalCheckRequest {
            application_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("numbers required");
    assert_eq!(violated_fields(&empty), ["chassis_number", "engine_number"]);
    let blocked = clerk
        .record_physical_check(pb::RecordPhysicalCheckRequest {
            application_id: id.clone(),
            chassis_number: v.chassis_number.to_lowercase(),
            engine_number: format!("{}9", v.engine_number),
            note: "engine plate reads differently".into(),
        })
        .await
        .expect("check recorded")
        .into_inner();
    assert_eq!(blocked.blocked_reason, "ENGINE_NUMBER_MISMATCH");
    let refused = clerk
        .approve_application(pb::ApproveApplicationRequest {
            application_id: id.clone(),
            note: String::new(),
        })
        .await
        .expect_err("blocked");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(
        refused.message().contains("ENGINE_NUMBER_MISMATCH"),
        "{}",
        refused.message()
    );
    // Read again, carefully: it matches (case, spaces and dashes do not count).
    let passed = clerk
        .record_physical_check(pb::RecordPhysicalCheckRequest {
            application_id: id.clone(),
            chassis_number: format!(" {} ", v.chassis_number),
            engine_number: v.engine_number.clone(),
            note: String::new(),
        })
        .await
        .expect("check recorded")
        .into_inner();
    assert_eq!(passed.blocked_reason, "");
    assert_eq!(passed.physical_checks.len(), 2);
    clerk
        .approve_application(pb::ApproveApplicationRequest {
            application_id: id.clone(),
            note: "documents in order".into(),
        })
        .await
        .expect("approve");
    let issued = clerk
        .issue_certificate(pb::IssueCertificateRequest {
            application_id: id.clone(),
        })
        .await
        .expect("issue")
        .into_inner();
    portal_client
        .confirm_delivery(pb::ConfirmDeliveryRequest {
            application_id: id.clone(),
        })
        .await
        .expect("delivered");

    let status = drained(&app.supervisor(), Duration::from_secs(60)).await;
    assert_eq!(status.dead, 0);
    // At rest, the declaration is sealed: neither the personal ID nor the name is in the row.
    {
        use registration::store::entities::application;
        use sea_orm::EntityTrait;
        let row = application::Entity::find_by_id(id.clone())
            .one(app.registry.store().connection())
            .await
            .expect("read")
            .expect("row");
        let owner = match a.owner.clone().and_then(|o| o.kind) {
            Some(pb::owner::Kind::Individual(i)) => vec![i.personal_id, i.full_name],
            Some(pb::owner::Kind::Organisation(o)) => vec![o.tax_code, o.name],
            None => panic!("owner"),
        };
        for secret in owner {
            assert!(
                !row.declaration.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret:?} stored in the clear"
            );
        }
    }
    let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        sequence(&portal, "G01.007001"),
        [
            s("SUBMITTED", ""),
            s("VERIFIED", ""),
            s("PLATE_ASSIGNED", "PLATE_DRAWN"),
            s("FEE_DUE", ""),
            s("FEE_PAID", "FEE_PAID"),
            s("FEE_PAID", "ENGINE_NUMBER_MISMATCH"),
            s("FEE_PAID", "PHYSICAL_CHECK_PASSED"),
            s("APPROVED", ""),
            s("ISSUED", "CERTIFICATE_ISSUED"),
            s("DELIVERED", "DELIVERED"),
        ]
    );
    let events = portal.events_of("G01.007001");
    assert_eq!(events[2].plate.as_deref(), Some(drawn.plate.as_str()));
    assert_eq!(events[3].fee_due_vnd, Some(fee));
    assert_eq!(events[8].detail, issued.certificate_number);
    assert!(events.iter().all(|e| e.application_id == id));
    // The clerk's free-text notes stay with us: they might name a person.
    assert!(
        events
            .iter()
            .all(|e| !e.detail.contains("engine plate") && !e.detail.contains("documents in order")),
        "{events:?}"
    );
    // The flaky portal failed or stalled about half the calls: retries happened,
    // and the keys let the portal drop what it had already seen.
    assert!(portal.calls() > 10, "retries: {} calls", portal.calls());
    assert_eq!(portal.with_seen(|s| s.bad_keys), 0);

    // A supervisor reads the clerk's actions, newest first.
    let actions = app
        .supervisor()
        .list_actions(pb::ListActionsRequest {
            actor: "clerk-017".into(),
            ..Default::default()
        })
        .await
        .expect("actions")
        .into_inner()
        .actions;
    let codes: Vec<(String, i32)> = actions
        .iter()
        .map(|a| {
            let c = a.change.clone().expect("change");
            (c.reason_code, c.to_state)
        })
        .collect();
    use pb::ApplicationState as S;
    assert_eq!(
        codes,
        [
            ("CERTIFICATE_ISSUED".into(), S::Issued as i32),
            (String::new(), S::Approved as i32),
            ("PHYSICAL_CHECK_PASSED".into(), S::FeePaid as i32),
            ("ENGINE_NUMBER_MISMATCH".into(), S::FeePaid as i32),
        ]
    );
}

async fn a_refused_event_is_dead_lettered_and_holds_back_its_dossier(backend: Backend) {
    let portal = Portal::start().await.expect("portal stand-in");
    portal.set(Mode::Refuse);
    let app = spawn_app_with(backend, |cfg| fast_outbox(cfg, &portal)).await;
    let a = app
        .submit(app.sample(Case::Clean, 1, "G01.007002"))
        .await
        .expect("submit");
    // SUBMITTED is refused (422): dead at once, and VERIFIED waits behind it.
    let status = dead_lettered(&app.supervisor(), Duration::from_secs(20)).await;
    assert_eq!(status.dead, 1, "{status:?}");
    // Properties, not counts: how many events follow the dead letter depends
    // on timing (a slow machine sees the agencies time out first, and the
    // dossier passes through AWAITING_AGENCY), but none of them is delivered.
    assert!(status.pending >= 1 && status.delivered == 0, "{status:?}");
    // The supervisor sees what was refused, and why.
    let listed = app
        .supervisor()
        .get_outbox_status(pb::GetOutboxStatusRequest { dead_letters: 10 })
        .await
        .expect("status with dead letters")
        .into_inner()
        .dead_letters;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (
            listed[0].application_id.as_str(),
            listed[0].seq,
            listed[0].status.as_str()
        ),
        (a.application_id.as_str(), 1, "SUBMITTED")
    );
    assert!(
        !listed[0].last_error.is_empty() && listed[0].attempts >= 1,
        "{listed:?}"
    );
    let too_many = app
        .supervisor()
        .get_outbox_status(pb::GetOutboxStatusRequest { dead_letters: 201 })
        .await
        .expect_err("over the limit");
    assert_eq!(too_many.code(), tonic::Code::InvalidArgument);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(portal.calls(), 1, "nothing after the dead letter was sent");
    // Only a supervisor may requeue; then everything goes, in order.
    let denied = app
        .clerk(&a)
        .retry_dead_letters(pb::RetryDeadLettersRequest {})
        .await
        .expect_err("clerk");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    portal.set(Mode::Up);
    let requeued = app
        .supervisor()
        .retry_dead_letters(pb::RetryDeadLettersRequest {})
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(requeued.requeued, 1);
    // Once the application has settled, everything goes, once and in order.
    let settled = app.settled(&a.application_id, Duration::from_secs(30)).await;
    let status = drained(&app.supervisor(), Duration::from_secs(20)).await;
    let delivered = portal_matches_history(&portal, &settled);
    assert_eq!((status.dead, status.delivered), (0, delivered as u64), "{status:?}");
    let statuses: Vec<String> = sequence(&portal, "G01.007002").into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses.first().map(String::as_str), Some("SUBMITTED"));
    assert_eq!(statuses.last().map(String::as_str), Some("VERIFIED"));
}
