//! Workflow orderings, illegal transitions, health, reflection and shutdown.

use vrs_kit::world::Case;
use vrs_proto::pb::registration::v1 as pb;

use crate::helpers::{Backend, both_databases, for_owner, spawn_app, spawn_app_with, violated_fields};
use registration::domain::workflow::Ordering;

both_databases!(
    draw_first_from_submission_to_delivery,
    check_first_from_submission_to_delivery,
    draw_first_refuses_early_approval,
    check_first_approves_verified,
    clerk_rejection_and_withdrawal,
    a_replica_with_other_keys_refuses_to_start
);

/// A replica whose Secret was not mounted generates its own keys; it must not
/// start on a database sealed and hashed with others'.
async fn a_replica_with_other_keys_refuses_to_start(backend: Backend) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let keep = seen.clone();
    let _app = spawn_app_with(backend, move |cfg| *keep.lock().expect("lock") = Some(cfg.clone())).await;
    let mut cfg: registration::config::Config = seen.lock().expect("lock").clone().expect("config");
    cfg.server.listen = "127.0.0.1:0".parse().expect("addr");
    let dir = tempfile::tempdir().expect("tempdir");
    let same = registration::app::Application::build(&cfg).await;
    assert!(same.is_ok(), "a second replica with the same keys starts");
    for (name, change) in [
        (
            "data",
            (|c, d| c.privacy.data_key_file = d) as fn(&mut registration::config::Config, String),
        ),
        ("log-signing", |c, d| c.draw.log_key_file = d),
        ("token-issuer", |c, d| c.auth.issuer_seed_file = d),
    ] {
        let mut other = cfg.clone();
        change(&mut other, dir.path().join(format!("{name}.key")).display().to_string());
        let err = registration::app::Application::build(&other)
            .await
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(err.contains(&format!("the {name} key differs")), "{name}: {err}");
    }
}

async fn draw_first_refuses_early_approval(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app
        .submit(app.sample(Case::Clean, 0, "G01.000001"))
        .await
        .expect("submit");
    assert_eq!(a.state(), pb::ApplicationState::Verified);
    let mut c = app.clerk(&a);
    let status = c
        .approve_application(pb::ApproveApplicationRequest {
            application_id: a.application_id.clone(),
            note: String::new(),
        })
        .await
        .expect_err("approval before draw and fee under Decision 1383");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(status.message().contains("VERIFIED"), "{}", status.message());
    assert_eq!(app.get(&a.application_id).await, a, "nothing changed");

    let missing = c
        .get_application(pb::GetApplicationRequest {
            application_id: "no-such-id".into(),
        })
        .await
        .expect_err("missing");
    assert_eq!(missing.code(), tonic::Code::NotFound);
}

async fn check_first_approves_verified(backend: Backend) {
    let app = spawn_app_with(backend, |cfg| cfg.workflow.ordering = Ordering::CheckFirst).await;
    let a = app
        .submit(app.sample(Case::Clean, 0, "G01.000001"))
        .await
        .expect("submit");
    let mut c = app.clerk(&a);
    app.pass_physical_check(&a).await;
    let approved = c
        .approve_application(pb::ApproveApplicationRequest {
            application_id: a.application_id.clone(),
            note: "documents in order".into(),
        })
        .await
        .expect("approve under Decision 9093")
        .into_inner();
    assert_eq!(approved.state(), pb::ApplicationState::Approved);
    let last = approved.history.last().expect("history");
    assert_eq!(
        (last.actor.as_str(), last.note.as_str()),
        ("clerk-017", "documents in order")
    );
    // Approving twice is an illegal transition, not a silent success.
    let again = c
        .approve_application(pb::ApproveApplicationRequest {
            application_id: a.application_id.clone(),
            note: String::new(),
        })
        .await
        .expect_err("twice");
    assert_eq!(again.code(), tonic::Code::FailedPrecondition);
}

async fn clerk_rejection_and_withdrawal(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app
        .submit(app.sample(Case::Clean, 0, "G01.000001"))
        .await
        .expect("submit");
    let mut c = app.clerk(&a);
    let no_reason = c
        .reject_application(pb::RejectApplicationRequest {
            application_id: a.application_id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("reason required");
    assert_eq!(violated_fields(&no_reason), ["reason_code"]);
    let rejected = c
        .reject_application(pb::RejectApplicationRequest {
            application_id: a.application_id.clone(),
            reason_code: "documents_forged".into(),
            note: String::new(),
        })
        .await
        .expect("reject")
        .into_inner();
    assert_eq!(rejected.state(), pb::ApplicationState::Rejected);
    assert_eq!(
        rejected.history.last().map(|h| h.reason_code.as_str()),
        Some("DOCUMENTS_FORGED")
    );
    let mut c = app.client.clone();
    let late = c
        .withdraw_application(for_owner(
            pb::WithdrawApplicationRequest {
                application_id: a.application_id.clone(),
                note: String::new(),
            },
            &a.owner,
        ))
        .await
        .expect_err("rejected is terminal");
    assert_eq!(late.code(), tonic::Code::FailedPrecondition);

    let b = app
        .submit(app.sample(Case::FeeUnpaid, 0, "G01.000002"))
        .await
        .expect("submit");
    let withdrawn = c
        .withdraw_application(for_owner(
            pb::WithdrawApplicationRequest {
                application_id: b.application_id.clone(),
                note: "sold".into(),
            },
            &b.owner,
        ))
        .await
        .expect("withdraw")
        .into_inner();
    assert_eq!(withdrawn.state(), pb::ApplicationState::Withdrawn);
}

#[tokio::test]
async fn health_and_both_reflection_versions() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    use tonic_reflection::pb::{v1, v1alpha};

    let app = spawn_app(Backend::Sqlite).await;
    // Health and reflection need no credentials (probes, grpcurl), but do need TLS.
    let channel = app.channel();
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "vrs.registration.v1.RegistrationService"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health")
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{service:?}");
    }

    let mut v1c = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let req = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut stream = v1c
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .expect("v1")
        .into_inner();
    let resp = stream.message().await.expect("v1 answer").expect("one message");
    let names: Vec<String> = match resp.message_response {
        Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(l)) => {
            l.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected {other:?}"),
    };
    // What this port answers, and nothing it would answer UNIMPLEMENTED (the
    // agencies' and the beacon's services are in the same descriptor set).
    let mut names = names;
    names.sort();
    names.retain(|n| !n.starts_with("grpc.reflection."));
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "vrs.registration.v1.RegistrationService",
            "vrs.registration.v1.TransparencyLogService",
        ],
    );

    let mut alpha = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let req = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "vrs.registration.v1.RegistrationService".into(),
            ),
        ),
    };
    let mut stream = alpha
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .expect("v1alpha")
        .into_inner();
    let resp = stream.message().await.expect("v1alpha answer").expect("one message");
    assert!(matches!(
        resp.message_response,
        Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()
    ));

    // Draining: the service reports NOT_SERVING is not observable after it stops, but it
    // must stop cleanly and refuse new connections.
    let addr = app.addr;
    app.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

async fn pay(
    app: &crate::helpers::TestApp,
    id: &str,
    reference: &str,
    amount: u64,
) -> Result<pb::Application, tonic::Status> {
    app.client
        .clone()
        .confirm_payment(pb::ConfirmPaymentRequest {
            application_id: id.into(),
            payment_reference: reference.into(),
            amount_vnd: amount,
        })
        .await
        .map(|r| r.into_inner())
}

/// The states an application went through; a physical check, which changes
/// no state, must be in the history exactly when the vehicle needs one.
fn state_changes(a: &pb::Application) -> Vec<pb::ApplicationState> {
    let checks = a
        .history
        .iter()
        .filter(|h| h.reason_code == "PHYSICAL_CHECK_PASSED" && h.actor == "clerk-017")
        .count();
    assert_eq!(checks, usize::from(a.physical_check_required), "{:?}", a.history);
    a.history
        .iter()
        .filter(|h| !h.reason_code.starts_with("PHYSICAL_CHECK"))
        .map(|h| h.to_state())
        .collect()
}

async fn draw_first_from_submission_to_delivery(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut c = app.client.clone();
    // A car of up to nine seats in Hà Nội: 20,000,000 VND (Circular 60/2023/TT-BTC, area I).
    let (index, _) = app
        .world
        .vehicles_with(Case::Clean)
        .find(|(_, v)| {
            v.class == vrs_kit::world::VehicleClass::Car
                && v.seats <= 9
                && vrs_kit::world::province_of(&v.declared.locality_code) == Some("Hà Nội")
        })
        .expect("a car");
    let mut req = vrs_kit::samples::submit_request(&app.world, index, "G01.000100");
    // Any of Hà Nội's codes is the owner's to declare; the certificate carries it.
    req.locality_code = "30".into();
    let a = app.submit(req).await.expect("submit");
    assert_eq!(a.fee_due_vnd, 20_000_000);
    assert!(a.fee_legal_source.contains("area I"), "{}", a.fee_legal_source);
    let id = a.application_id.clone();

    let early = pay(&app, &id, "PAY-1", 20_000_000).await.expect_err("no plate yet");
    assert_eq!(early.code(), tonic::Code::FailedPrecondition);
    c.draw_plate(for_owner(
        pb::DrawPlateRequest {
            application_id: id.clone(),
        },
        &a.owner,
    ))
    .await
    .expect("draw");
    let wrong = pay(&app, &id, "PAY-1", 500_000).await.expect_err("wrong amount");
    assert_eq!(wrong.code(), tonic::Code::InvalidArgument);
    assert_eq!(violated_fields(&wrong), ["amount_vnd"]);
    let paid = pay(&app, &id, "PAY-1", 20_000_000).await.expect("pay");
    assert_eq!(paid.state(), pb::ApplicationState::FeePaid);
    // The platform retrying the same confirmation: the same answer, no second payment.
    assert_eq!(pay(&app, &id, "PAY-1", 20_000_000).await.expect("retry"), paid);
    let second = pay(&app, &id, "PAY-2", 20_000_000).await.expect_err("already paid");
    assert_eq!(second.code(), tonic::Code::FailedPrecondition);
    let reused = pay(&app, "another-application", "PAY-1", 20_000_000)
        .await
        .expect_err("reference reused");
    assert_eq!(reused.code(), tonic::Code::AlreadyExists);

    let mut c = app.clerk(&a);
    let early_issue = c
        .issue_certificate(pb::IssueCertificateRequest {
            application_id: id.clone(),
        })
        .await
        .expect_err("not approved");
    assert_eq!(early_issue.code(), tonic::Code::FailedPrecondition);
    app.pass_physical_check(&a).await;
    c.approve_application(pb::ApproveApplicationRequest {
        application_id: id.clone(),
        note: String::new(),
    })
    .await
    .expect("approve");
    let issued = c
        .issue_certificate(pb::IssueCertificateRequest {
            application_id: id.clone(),
        })
        .await
        .expect("issue")
        .into_inner();
    assert_eq!(issued.state(), pb::ApplicationState::Issued);
    assert!(
        issued.certificate_number.starts_with("30-"),
        "{}",
        issued.certificate_number
    );
    let delivered = c
        .confirm_delivery(pb::ConfirmDeliveryRequest {
            application_id: id.clone(),
        })
        .await
        .expect("deliver")
        .into_inner();
    use pb::ApplicationState as S;
    let states = state_changes(&delivered);
    assert_eq!(
        states,
        [
            S::Submitted,
            S::Verified,
            S::PlateAssigned,
            S::FeePaid,
            S::Approved,
            S::Issued,
            S::Delivered
        ]
    );
    assert!(!delivered.plate.is_empty());

    // A lost certificate: a new number, twice; the state stays DELIVERED.
    let mut reissued = Vec::new();
    for _ in 0..2 {
        let r = c
            .reissue_certificate(pb::ReissueCertificateRequest {
                application_id: id.clone(),
                reason_code: "lost".into(),
            })
            .await
            .expect("reissue")
            .into_inner();
        assert_eq!(r.state(), S::Delivered);
        reissued.push(r.certificate_number);
    }
    assert_eq!(
        reissued,
        [
            format!("{}-R1", issued.certificate_number),
            format!("{}-R2", issued.certificate_number)
        ]
    );
    let bad = c
        .reissue_certificate(pb::ReissueCertificateRequest {
            application_id: id.clone(),
            reason_code: "BORED".into(),
        })
        .await
        .expect_err("not a reason");
    assert_eq!(violated_fields(&bad), ["reason_code"]);
    // One vehicle, one active registration: the same car under another dossier is refused.
    let mut again_req = vrs_kit::samples::submit_request(&app.world, index, "G01.000199");
    again_req.locality_code = "30".into();
    let twice = app.submit(again_req.clone()).await.expect_err("registered already");
    assert_eq!(twice.code(), tonic::Code::AlreadyExists);
    assert_eq!(violated_fields(&twice), ["vehicle.chassis_number"]);
    // Sold: the registration ends and the plate goes into the seller's retention.
    let ended = c
        .revoke_plate(pb::RevokePlateRequest {
            application_id: id.clone(),
            reason_code: "OWNERSHIP_TRANSFER".into(),
        })
        .await
        .expect("transfer")
        .into_inner();
    assert_eq!(ended.plate, delivered.plate);
    let after = app.get(&id).await;
    assert_eq!(after.state(), S::Deregistered);
    let again = c
        .reissue_certificate(pb::ReissueCertificateRequest {
            application_id: id.clone(),
            reason_code: "LOST".into(),
        })
        .await
        .expect_err("deregistered");
    assert_eq!(again.code(), tonic::Code::FailedPrecondition);
    // The registration ended, so the vehicle can be registered again (here by
    // the same owner, who gets the retained plate back instead of a draw).
    let anew = app.submit(again_req).await.expect("the vehicle is free");
    assert_eq!(anew.state(), S::Verified);
    let reissued_plate = app
        .client
        .clone()
        .draw_plate(for_owner(
            pb::DrawPlateRequest {
                application_id: anew.application_id.clone(),
            },
            &anew.owner,
        ))
        .await
        .expect("draw")
        .into_inner();
    assert_eq!(
        (reissued_plate.method.as_str(), reissued_plate.plate.as_str()),
        ("retained", delivered.plate.as_str())
    );
}

async fn check_first_from_submission_to_delivery(backend: Backend) {
    let app = spawn_app_with(backend, |cfg| cfg.workflow.ordering = Ordering::CheckFirst).await;
    let mut c = app.client.clone();
    let a = app
        .submit(app.sample(Case::Clean, 3, "G01.000101"))
        .await
        .expect("submit");
    let id = a.application_id.clone();
    let refused = c
        .draw_plate(for_owner(
            pb::DrawPlateRequest {
                application_id: id.clone(),
            },
            &a.owner,
        ))
        .await
        .expect_err("clerk first");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    app.pass_physical_check(&a).await;
    app.clerk(&a)
        .approve_application(pb::ApproveApplicationRequest {
            application_id: id.clone(),
            note: String::new(),
        })
        .await
        .expect("approve");
    c.draw_plate(for_owner(
        pb::DrawPlateRequest {
            application_id: id.clone(),
        },
        &a.owner,
    ))
    .await
    .expect("draw");
    let paid = pay(&app, &id, "PAY-9", a.fee_due_vnd).await.expect("pay");
    assert_eq!(paid.state(), pb::ApplicationState::FeePaid);
    let issued = app
        .clerk(&a)
        .issue_certificate(pb::IssueCertificateRequest {
            application_id: id.clone(),
        })
        .await
        .expect("issue")
        .into_inner();
    use pb::ApplicationState as S;
    let states = state_changes(&issued);
    assert_eq!(
        states,
        [
            S::Submitted,
            S::Verified,
            S::Approved,
            S::PlateAssigned,
            S::FeePaid,
            S::Issued
        ]
    );
}
