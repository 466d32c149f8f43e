//! The authorisation matrix, RPC by RPC and role by role, as the README prints
//! it; and what happens without credentials or with bad ones.

use ed25519_dalek::SigningKey;
use vrs_kit::token::Role;
use vrs_kit::world::Case;
use vrs_proto::pb::registration::v1 as pb;

use crate::helpers::{Backend, Client, LogClient, both_databases, log_with_token, spawn_app, token, with_token};

both_databases!(every_rpc_checks_role_and_office);

/// Callers, in the matrix's column order.
const CALLERS: [&str; 5] = [
    "portal",
    "clerk (own office)",
    "clerk (other office)",
    "supervisor",
    "auditor",
];

/// Y: allowed; -: PERMISSION_DENIED. Written out by hand, not derived from the code.
const MATRIX: [(&str, [char; 5]); 21] = [
    ("SubmitApplication", ['Y', '-', '-', '-', '-']),
    ("GetApplication", ['Y', 'Y', '-', 'Y', 'Y']),
    ("InspectApplication", ['-', 'Y', '-', 'Y', 'Y']),
    ("ListApplications", ['-', 'Y', '-', 'Y', 'Y']),
    ("ApproveApplication", ['-', 'Y', '-', '-', '-']),
    ("RejectApplication", ['-', 'Y', '-', '-', '-']),
    ("WithdrawApplication", ['Y', '-', '-', '-', '-']),
    ("DrawPlate", ['Y', '-', '-', '-', '-']),
    ("RevokePlate", ['-', 'Y', '-', '-', '-']),
    ("RecordAuctionWin", ['-', '-', '-', 'Y', '-']),
    ("ListAuctionResults", ['-', '-', '-', 'Y', 'Y']),
    ("ConfirmPayment", ['Y', '-', '-', '-', '-']),
    ("IssueCertificate", ['-', 'Y', '-', '-', '-']),
    ("ReissueCertificate", ['-', 'Y', '-', '-', '-']),
    ("ConfirmDelivery", ['Y', 'Y', '-', '-', '-']),
    ("RecordPhysicalCheck", ['-', 'Y', '-', '-', '-']),
    ("ListActions", ['-', 'Y', '-', 'Y', 'Y']),
    ("GetOutboxStatus", ['-', '-', '-', 'Y', '-']),
    ("RetryDeadLetters", ['-', '-', '-', 'Y', '-']),
    ("GetReceipt", ['Y', 'Y', '-', 'Y', 'Y']),
    ("RevokeAccess", ['-', '-', '-', 'Y', '-']),
];

/// Calls `rpc` about application `id` (of office `office`) with requests that
/// change nothing when allowed (they fail validation or a precondition after
/// the caller is checked); returns the status code.
fn ok<T>(_: T) -> tonic::Code {
    tonic::Code::Ok
}

async fn call(
    c: &mut Client,
    log: &mut LogClient,
    rpc: &str,
    id: &str,
    office: &str,
    owner: &Option<pb::Owner>,
) -> tonic::Code {
    let application_id = id.to_owned();
    let code = |r: Result<tonic::Code, tonic::Status>| r.unwrap_or_else(|s| s.code());
    code(match rpc {
        // The portal names the owner as the citizen acting; the request is then invalid.
        "SubmitApplication" => c
            .submit_application(crate::helpers::for_owner(
                pb::SubmitApplicationRequest {
                    owner: owner.clone(),
                    ..Default::default()
                },
                owner,
            ))
            .await
            .map(ok),
        "GetApplication" => c
            .get_application(pb::GetApplicationRequest { application_id })
            .await
            .map(ok),
        "InspectApplication" => c
            .inspect_application(pb::InspectApplicationRequest { application_id })
            .await
            .map(ok),
        "ListApplications" => c
            .list_applications(pb::ListApplicationsRequest {
                office_code: office.into(),
                ..Default::default()
            })
            .await
            .map(ok),
        "ApproveApplication" => c
            .approve_application(pb::ApproveApplicationRequest {
                application_id,
                note: "x".repeat(300),
            })
            .await
            .map(ok),
        "RejectApplication" => c
            .reject_application(pb::RejectApplicationRequest {
                application_id,
                ..Default::default()
            })
            .await
            .map(ok),
        "WithdrawApplication" => c
            .withdraw_application(crate::helpers::for_owner(
                pb::WithdrawApplicationRequest {
                    application_id,
                    note: "x".repeat(300),
                },
                owner,
            ))
            .await
            .map(ok),
        "DrawPlate" => c
            .draw_plate(pb::DrawPlateRequest {
                application_id: "no-such-application".into(),
            })
            .await
            .map(ok),
        "RevokePlate" => c
            .revoke_plate(pb::RevokePlateRequest {
                application_id,
                reason_code: "NOT_A_REASON".into(),
            })
            .await
            .map(ok),
        "ListAuctionResults" => c
            .list_auction_results(pb::ListAuctionResultsRequest::default())
            .await
            .map(ok),
        "RecordAuctionWin" => c
            .record_auction_win(pb::RecordAuctionWinRequest {
                owner_id: "bad".into(),
                ..Default::default()
            })
            .await
            .map(ok),
        "ConfirmPayment" => c
            .confirm_payment(pb::ConfirmPaymentRequest {
                application_id,
                ..Default::default()
            })
            .await
            .map(ok),
        "IssueCertificate" => c
            .issue_certificate(pb::IssueCertificateRequest { application_id })
            .await
            .map(ok),
        "ReissueCertificate" => c
            .reissue_certificate(pb::ReissueCertificateRequest {
                application_id,
                reason_code: "NOT_A_REASON".into(),
            })
            .await
            .map(ok),
        "ConfirmDelivery" => c
            .confirm_delivery(pb::ConfirmDeliveryRequest { application_id })
            .await
            .map(ok),
        "RecordPhysicalCheck" => c
            .record_physical_check(pb::RecordPhysicalCheckRequest {
                application_id,
                ..Default::default()
            })
            .await
            .map(ok),
        "ListActions" => c
            .list_actions(pb::ListActionsRequest {
                actor: "clerk-017".into(),
                ..Default::default()
            })
            .await
            .map(ok),
        "GetOutboxStatus" => c.get_outbox_status(pb::GetOutboxStatusRequest::default()).await.map(ok),
        "RetryDeadLetters" => c.retry_dead_letters(pb::RetryDeadLettersRequest {}).await.map(ok),
        "GetReceipt" => log.get_receipt(pb::GetReceiptRequest { application_id }).await.map(ok),
        // Names nothing to revoke: INVALID_ARGUMENT once the caller may.
        "RevokeAccess" => c.revoke_access(pb::RevokeAccessRequest::default()).await.map(ok),
        other => panic!("no call for {other}"),
    })
}

async fn every_rpc_checks_role_and_office(backend: Backend) {
    // Every RPC with bad tokens, all from 127.0.0.1: past the default budget
    // of failures the address would be cut off (tested on its own below).
    let app = crate::helpers::spawn_app_with(backend, |cfg| cfg.auth.bad_credentials_rps = 10_000.0).await;
    let a = app
        .submit(app.sample(Case::Clean, 0, "G01.008001"))
        .await
        .expect("submit");
    let office = a.office_code.clone();
    let other_office = if office == "HN-PC08" { "HCM-PC01" } else { "HN-PC08" };
    let ch = app.channel();
    let tokens = [
        token(&app.issuer, "portal", &[Role::Portal], None),
        token(&app.issuer, "clerk-017", &[Role::Clerk], Some(&office)),
        token(&app.issuer, "clerk-099", &[Role::Clerk], Some(other_office)),
        token(&app.issuer, "supervisor-01", &[Role::Supervisor], None),
        token(&app.issuer, "auditor-01", &[Role::Auditor], None),
    ];
    let mut mismatches = Vec::new();
    for (rpc, row) in MATRIX {
        for (i, t) in tokens.iter().enumerate() {
            let (mut c, mut log) = (with_token(&ch, t), log_with_token(&ch, t));
            let got = call(&mut c, &mut log, rpc, &a.application_id, &office, &a.owner).await;
            assert_ne!(got, tonic::Code::Unauthenticated, "{rpc} as {}", CALLERS[i]);
            let allowed = got != tonic::Code::PermissionDenied;
            if allowed != (row[i] == 'Y') {
                mismatches.push(format!("{rpc} as {}: got {got:?}", CALLERS[i]));
            }
        }
        // No credentials, a token from another issuer's key, an expired token: UNAUTHENTICATED.
        let stranger = SigningKey::from_bytes(&[9u8; 32]);
        let expired = vrs_kit::token::mint(
            &app.issuer,
            crate::helpers::ISSUER,
            "s",
            &[Role::Supervisor],
            None,
            -3_600,
        );
        let bad = [
            token(&stranger, "supervisor-01", &[Role::Supervisor], None),
            expired,
            "not-a-jwt".into(),
        ];
        for t in &bad {
            let (mut c, mut log) = (with_token(&ch, t), log_with_token(&ch, t));
            let got = call(&mut c, &mut log, rpc, &a.application_id, &office, &a.owner).await;
            assert_eq!(got, tonic::Code::Unauthenticated, "{rpc} with a bad token");
        }
        let mut bare =
            vrs_proto::pb::registration::v1::registration_service_client::RegistrationServiceClient::new(ch.clone());
        let status = bare
            .get_application(pb::GetApplicationRequest {
                application_id: a.application_id.clone(),
            })
            .await
            .expect_err("no credentials");
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    // Nothing was changed by all of that.
    let after = app.get(&a.application_id).await;
    assert_eq!(after.history, a.history);
    // The public log needs no credentials.
    let mut public =
        vrs_proto::pb::registration::v1::transparency_log_service_client::TransparencyLogServiceClient::new(ch);
    public
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await
        .expect("public checkpoint");
    public.get_trust(pb::GetTrustRequest {}).await.expect("public trust");
}

both_databases!(a_caller_over_its_rate_is_slowed_and_no_one_else_is);

async fn a_caller_over_its_rate_is_slowed_and_no_one_else_is(backend: Backend) {
    use tonic_types::StatusExt;
    let app = crate::helpers::spawn_app_with(backend, |cfg| {
        cfg.auth.staff_rps = 5.0;
        cfg.auth.burst_seconds = 1.0;
    })
    .await;
    let a = app
        .submit(app.sample(Case::Clean, 0, "G01.008002"))
        .await
        .expect("submit");
    let get = |mut c: Client| {
        let application_id = a.application_id.clone();
        async move { c.get_application(pb::GetApplicationRequest { application_id }).await }
    };
    let greedy = app.caller("auditor-greedy", &[Role::Auditor], None);
    let mut refused = None;
    for _ in 0..20 {
        if let Err(s) = get(greedy.clone()).await {
            refused = Some(s);
            break;
        }
    }
    let refused = refused.expect("20 calls at once exceed 5/s with a 1 s burst");
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    let retry = refused
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .expect("retry info");
    // The budget is counted over all replicas in windows of the burst's
    // length (`limits`): the wait is at most two windows.
    assert!(retry > std::time::Duration::ZERO && retry <= std::time::Duration::from_secs(2));
    // Another caller is not affected, and the greedy one gets through after
    // the wait it was told.
    get(app.caller("auditor-other", &[Role::Auditor], None))
        .await
        .expect("another caller");
    tokio::time::sleep(retry).await;
    get(greedy).await.expect("after the wait");
}

both_databases!(only_our_certificates_get_through);

/// mTLS: the portal is known by its certificate; another certificate of ours
/// is not the portal; a certificate from another CA, or none, does not reach
/// an agency at all.
async fn only_our_certificates_get_through(backend: Backend) {
    use vrs_proto::pb::identity::v1::identity_service_client::IdentityServiceClient;
    let app = spawn_app(backend).await;
    // The portal's certificate alone (app.client sends no token) files an application.
    let a = app
        .submit(app.sample(Case::Clean, 0, "G01.008003"))
        .await
        .expect("the portal by certificate");
    // Our CA's certificate for another name, without a token, is nobody.
    let other_name = app.pki.issue("not-the-portal").expect("cert");
    let status = with_token_none(crate::helpers::tls_channel(app.addr, &other_name).await)
        .get_application(pb::GetApplicationRequest {
            application_id: a.application_id.clone(),
        })
        .await
        .expect_err("not the portal");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    // A certificate from a CA we do not trust: the handshake fails.
    let dir = tempfile::tempdir().expect("tempdir");
    let rogue = vrs_kit::tls::LocalPki::generate(dir.path()).expect("rogue CA");
    let mut rogue_portal = rogue.issue("portal").expect("cert");
    rogue_portal.ca_file = app.pki.trust_only().ca_file;
    let rogue_channel = rogue_portal
        .endpoint(&format!("http://{}", app.addr))
        .expect("endpoint")
        .connect()
        .await;
    if let Ok(ch) = rogue_channel {
        let err = with_token_none(ch)
            .get_application(pb::GetApplicationRequest {
                application_id: a.application_id.clone(),
            })
            .await
            .expect_err("rogue certificate");
        assert_ne!(err.code(), tonic::Code::Ok);
    }

    // Agencies take only our services: no client certificate, no answer.
    let identity_addr = app.identity.addr;
    let no_cert = app
        .pki
        .trust_only()
        .endpoint(&format!("http://{identity_addr}"))
        .expect("endpoint")
        .connect()
        .await;
    let refused = match no_cert {
        Err(_) => true,
        Ok(ch) => IdentityServiceClient::new(ch)
            .get_citizen(vrs_proto::pb::identity::v1::GetCitizenRequest::default())
            .await
            // A transport failure, not an answer from the service (which would
            // be INVALID_ARGUMENT for this empty request).
            .is_err_and(|s| {
                !matches!(
                    s.code(),
                    tonic::Code::InvalidArgument | tonic::Code::NotFound | tonic::Code::Ok
                )
            }),
    };
    assert!(refused, "an agency answered a client without a certificate");
    // Plaintext to a TLS server does not get a gRPC answer either.
    let plain = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
        .expect("uri")
        .connect()
        .await;
    if let Ok(ch) = plain {
        let r = with_token_none(ch)
            .get_application(pb::GetApplicationRequest {
                application_id: a.application_id.clone(),
            })
            .await;
        assert!(r.is_err(), "plaintext answered");
    }
}

fn with_token_none(ch: tonic::transport::Channel) -> Client {
    vrs_proto::pb::registration::v1::registration_service_client::RegistrationServiceClient::with_interceptor(
        ch,
        vrs_kit::token::Bearer::none(),
    )
}

both_databases!(bad_tokens_from_one_address_are_refused_before_their_signature_is_checked);

/// A flood of bad tokens from one address spends that address's budget of
/// failures; past it the address is refused (RESOURCE_EXHAUSTED) before any
/// signature is verified. Callers from other addresses are not affected.
async fn bad_tokens_from_one_address_are_refused_before_their_signature_is_checked(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, |cfg| {
        cfg.auth.bad_credentials_rps = 5.0;
        cfg.auth.burst_seconds = 1.0;
    })
    .await;
    // The attacker connects from 127.0.0.2 (any 127/8 address is loopback).
    let attacker_channel = app
        .pki
        .trust_only()
        .endpoint(&format!("http://{}", app.addr))
        .expect("endpoint")
        .local_address(Some("127.0.0.2".parse().expect("ip")))
        .connect()
        .await
        .expect("connect from 127.0.0.2");
    // Well-formed tokens signed by a key that is not the issuer's: only the
    // signature check can tell, which is what the flood wants to buy.
    let forger = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let forged = crate::helpers::token(&forger, "auditor-x", &[Role::Auditor], None);
    let attacker = with_token(&attacker_channel, &forged);
    let mut codes = Vec::new();
    for _ in 0..30 {
        let r = attacker
            .clone()
            .list_actions(pb::ListActionsRequest {
                actor: "clerk-017".into(),
                ..Default::default()
            })
            .await;
        codes.push(r.expect_err("a forged token").code());
    }
    assert_eq!(codes[0], tonic::Code::Unauthenticated, "{codes:?}");
    assert_eq!(
        codes.last(),
        Some(&tonic::Code::ResourceExhausted),
        "the address is cut off once its failures exceed the budget: {codes:?}"
    );
    // A valid caller from 127.0.0.1 is not affected.
    app.supervisor()
        .get_outbox_status(pb::GetOutboxStatusRequest::default())
        .await
        .expect("a valid caller from another address");
}
