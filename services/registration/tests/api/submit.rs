//! Submission: verification against the agencies, idempotency, corrections.

use vrs_kit::world::Case;
use vrs_proto::pb::registration::v1 as pb;

use crate::helpers::{Backend, both_databases, dossier, reason_codes, spawn_app};

both_databases!(
    clean_application_is_verified_with_evidence,
    every_deliberate_case_gets_its_reason,
    retries_are_idempotent_and_reuse_is_refused,
    a_correction_is_reverified,
    the_pool_follows_from_the_owners_residence
);

async fn clean_application_is_verified_with_evidence(backend: Backend) {
    let app = spawn_app(backend).await;
    let req = app.sample(Case::Clean, 0, "G01.000001");
    let a = app.submit(req.clone()).await.expect("submit");
    assert_eq!(a.state(), pb::ApplicationState::Verified, "reasons: {:?}", a.reasons);
    assert_eq!(a.dossier_code, "G01.000001");
    assert_eq!(a.attempts, 1);
    let agencies: Vec<&str> = a.evidence.iter().map(|e| e.agency.as_str()).collect();
    let origin = if req.vehicle.as_ref().map(|v| v.origin()) == Some(pb::VehicleOrigin::Imported) {
        "customs"
    } else {
        "register"
    };
    for agency in ["identity", "tax", origin] {
        assert!(
            agencies.contains(&agency),
            "evidence from {agency} missing: {agencies:?}"
        );
    }
    assert!(
        a.evidence
            .iter()
            .all(|e| e.request_sha256.len() == 64 && e.response_sha256.len() == 64 && e.outcome == "found")
    );
    let transitions: Vec<(i32, i32)> = a.history.iter().map(|h| (h.from_state, h.to_state)).collect();
    assert_eq!(
        transitions,
        [
            (
                pb::ApplicationState::Unspecified as i32,
                pb::ApplicationState::Submitted as i32
            ),
            (
                pb::ApplicationState::Submitted as i32,
                pb::ApplicationState::Verified as i32
            )
        ]
    );
    assert_eq!(a.history[0].actor, "citizen");
    assert_eq!(a.history[1].actor, "system");
    // What GetApplication returns is what SubmitApplication returned.
    assert_eq!(app.get(&a.application_id).await, a);
}

async fn every_deliberate_case_gets_its_reason(backend: Backend) {
    let app = spawn_app(backend).await;
    use pb::ApplicationState::{NeedsCorrection, Rejected, Verified};
    let expectations = [
        (Case::Clean, Verified, None),
        (Case::Organisation, Verified, None),
        (Case::FeeUnpaid, NeedsCorrection, Some("FEE_UNPAID")),
        (Case::VinMismatch, NeedsCorrection, Some("FEE_RECORD_VIN_MISMATCH")),
        (Case::EngineMismatch, NeedsCorrection, Some("ENGINE_NUMBER_MISMATCH")),
        (Case::NameMismatch, NeedsCorrection, Some("OWNER_NAME_MISMATCH")),
        (Case::MinorOwner, NeedsCorrection, Some("GUARDIAN_CONSENT_REQUIRED")),
        (Case::UnknownOwner, NeedsCorrection, Some("OWNER_ID_UNKNOWN")),
        (Case::NoOriginRecord, NeedsCorrection, Some("ORIGIN_RECORD_NOT_FOUND")),
        (Case::DeceasedOwner, Rejected, Some("OWNER_DECEASED")),
        (Case::ClosedOrganisation, Rejected, Some("OWNER_ORGANISATION_CLOSED")),
        (
            Case::LocalityElsewhere,
            NeedsCorrection,
            Some("LOCALITY_NOT_OWNER_PROVINCE"),
        ),
        (Case::OfficeElsewhere, NeedsCorrection, Some("OFFICE_OUTSIDE_PROVINCE")),
    ];
    let mut n = 0;
    for (case, state, reason) in expectations {
        // Three examples of each case, so no single record carries the test.
        for nth in 0..3 {
            n += 1;
            let a = app
                .submit(app.sample(case, nth, &dossier("CASE", n)))
                .await
                .expect("submit");
            assert_eq!(a.state(), state, "{case} #{nth}: {:?}", a.reasons);
            match reason {
                Some(code) => assert!(
                    reason_codes(&a).iter().any(|c| c == code),
                    "{case} #{nth}: {:?}",
                    a.reasons
                ),
                None => assert!(a.reasons.is_empty(), "{case} #{nth}: {:?}", a.reasons),
            }
        }
    }
}

async fn retries_are_idempotent_and_reuse_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let req = app.sample(Case::Clean, 1, "G01.000002");
    let first = app.submit(req.clone()).await.expect("submit");
    // A retry, even spelled differently (lower-case VIN), is the same application.
    let mut retry = req.clone();
    if let Some(v) = retry.vehicle.as_mut() {
        v.chassis_number = v.chassis_number.to_lowercase();
    }
    let again = app.submit(retry.clone()).await.expect("retry");
    assert_eq!(again, first);
    // The dossier code is the portal's key, taken as given: another spelling
    // of it is refused (naming the field), not taken for this dossier.
    retry.dossier_code = format!("  {}  ", req.dossier_code.to_lowercase());
    let refused = app.submit(retry).await.expect_err("a padded lower-case code");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(crate::helpers::violated_fields(&refused), ["dossier_code"]);
    assert_eq!(app.get(&first.application_id).await, first);
    // Concurrent retries: still one application.
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let mut c = app.client.clone();
            let r = app.sample(Case::Clean, 2, "G01.000003");
            let r = crate::helpers::for_owner(r.clone(), &r.owner);
            tokio::spawn(async move { c.submit_application(r).await.map(|r| r.into_inner().application_id) })
        })
        .collect();
    let mut ids = Vec::new();
    for r in racers {
        ids.push(r.await.expect("join").expect("submit"));
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "concurrent retries created {ids:?}");
    assert_eq!(app.registry.store().count().await.expect("count"), 2);

    // The same owner reusing the dossier code for another vehicle is refused, naming the field.
    let mut other = app.sample(Case::Clean, 5, "G01.000002");
    let strangers = other.clone();
    other.owner = req.owner.clone();
    let err = app.submit(other).await.expect_err("reuse");
    assert_eq!(err.code(), tonic::Code::AlreadyExists);
    assert_eq!(crate::helpers::violated_fields(&err), ["dossier_code"]);
    // Another owner cannot touch this dossier at all.
    let denied = app.submit(strangers).await.expect_err("another owner");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        app.get(&first.application_id).await,
        first,
        "the first application is untouched"
    );
}

async fn a_correction_is_reverified(backend: Backend) {
    let app = spawn_app(backend).await;
    let (index, _) = app.world.vehicles_with(Case::NameMismatch).next().expect("example");
    let mut req = vrs_kit::samples::submit_request(&app.world, index, "G01.000004");
    let a = app.submit(req.clone()).await.expect("submit");
    assert_eq!(a.state(), pb::ApplicationState::NeedsCorrection);

    // The citizen corrects the name to the population database's spelling.
    let pid = match req.owner.as_ref().and_then(|o| o.kind.as_ref()) {
        Some(pb::owner::Kind::Individual(i)) => i.personal_id.clone(),
        other => panic!("individual owner expected, got {other:?}"),
    };
    let citizen = app.world.citizen(&pid).expect("citizen in identity");
    if let Some(pb::owner::Kind::Individual(i)) = req.owner.as_mut().and_then(|o| o.kind.as_mut()) {
        i.full_name = citizen.full_name.clone();
    }
    // Someone else cannot "correct" it: a stranger's declaration under this
    // dossier code is refused and the dossier stays as it was.
    let (other, _) = app.world.vehicles_with(Case::Clean).next().expect("another vehicle");
    let stranger = vrs_kit::samples::submit_request(&app.world, other, "G01.000004");
    let refused = app.submit(stranger).await.expect_err("not the owner");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    assert!(!refused.message().contains(&a.application_id), "{}", refused.message());
    assert_eq!(app.get(&a.application_id).await, a);

    let b = app.submit(req).await.expect("correction");
    assert_eq!(b.application_id, a.application_id);
    assert_eq!(b.state(), pb::ApplicationState::Verified, "{:?}", b.reasons);
    let states: Vec<pb::ApplicationState> = b.history.iter().map(|h| h.to_state()).collect();
    use pb::ApplicationState as S;
    assert_eq!(states, [S::Submitted, S::NeedsCorrection, S::Submitted, S::Verified]);
    assert_eq!(b.history[2].reason_code, "CORRECTED");
    assert_eq!(b.evidence.len(), 6, "evidence of both lookups is kept");
}

/// The plate's province is the owner's residence as identity reports it: a
/// citizen cannot pick the pool they draw from by declaring another province's
/// locality or office (DESIGN §3.2).
async fn the_pool_follows_from_the_owners_residence(backend: Backend) {
    let app = spawn_app(backend).await;
    let honest = app.sample_in(Case::Clean, "Cà Mau", 0, "G01.009001");
    // The black-box attempt: a clean sample declared under HCM's code and office.
    let mut elsewhere = honest.clone();
    elsewhere.locality_code = "51".into();
    elsewhere.office_code = "PC-51".into();
    let a = app.submit(elsewhere).await.expect("submit");
    assert_eq!(a.state(), pb::ApplicationState::NeedsCorrection, "{:?}", a.reasons);
    let named: Vec<(&str, &str)> = a.reasons.iter().map(|r| (r.code.as_str(), r.field.as_str())).collect();
    assert_eq!(
        named,
        [
            ("LOCALITY_NOT_OWNER_PROVINCE", "locality_code"),
            ("OFFICE_OUTSIDE_PROVINCE", "office_code")
        ]
    );
    assert!(a.reasons[0].message.contains("Cà Mau"), "{}", a.reasons[0].message);
    // It cannot draw.
    let refused = app
        .client
        .clone()
        .draw_plate(crate::helpers::for_owner(
            pb::DrawPlateRequest {
                application_id: a.application_id.clone(),
            },
            &honest.owner,
        ))
        .await
        .expect_err("no draw before verification");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    // An office of the right shape that no province has.
    let mut unknown = app.sample_in(Case::Clean, "Cà Mau", 1, "G01.009002");
    unknown.office_code = "HN-PC99".into();
    let u = app.submit(unknown).await.expect("submit");
    assert_eq!(reason_codes(&u), ["OFFICE_UNKNOWN"]);
    // Corrected to the residence's province, the same dossier is verified.
    let mut fixed = honest.clone();
    fixed.dossier_code = a.dossier_code.clone();
    let v = app.submit(fixed).await.expect("correction");
    assert_eq!(v.application_id, a.application_id);
    assert_eq!(v.state(), pb::ApplicationState::Verified, "{:?}", v.reasons);
}
