//! A supervisor revokes a token (by its `jti`) or a clerk (every token of the
//! subject issued so far): refused at once on the replica that took the
//! revocation, and on every other replica within its refresh interval.

use std::time::Duration;

use vrs_kit::token::Role;
use vrs_proto::pb::registration::v1 as pb;

use crate::helpers::{
    Backend, Client, TestApp, both_databases, fresh_postgres, list_pc60, spawn_app_keyed, token, violated_fields,
    with_token,
};

both_databases!(a_revoked_token_or_clerk_is_refused_on_every_replica);

/// Waits until `c`'s calls are refused as revoked (or panics after 10 s).
async fn refused_soon(c: &Client, where_: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match list_pc60(c).await {
            Err(s) if s.code() == tonic::Code::Unauthenticated => {
                assert!(s.message().contains("revoked"), "{s:?}");
                return;
            }
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "still accepted on {where_}: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn jti_of(app: &TestApp, t: &str) -> String {
    vrs_kit::token::verify_token(
        &app.issuer.verifying_key().into(),
        crate::helpers::ISSUER,
        t,
        chrono::Utc::now().timestamp(),
    )
    .expect("a valid token")
    .jti
}

async fn a_revoked_token_or_clerk_is_refused_on_every_replica(backend: Backend) {
    // Two replicas of one registry: one database, the same keys.
    let keys = tempfile::tempdir().expect("keys");
    let url = match &backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", keys.path().join("shared.db").display()),
        Backend::Postgres(server) => fresh_postgres(server).await,
    };
    let tweak = |cfg: &mut registration::config::Config| {
        cfg.database.url = url.clone();
        cfg.auth.revocation_refresh_ms = 200;
    };
    let a = spawn_app_keyed(Backend::Sqlite, keys.path(), tweak).await;
    let b = spawn_app_keyed(Backend::Sqlite, keys.path(), tweak).await;

    let stolen = token(&a.issuer, "clerk-099", &[Role::Clerk], Some("PC-60"));
    let other = token(&a.issuer, "clerk-099", &[Role::Clerk], Some("PC-60"));
    let (on_a, on_b) = (with_token(&a.channel(), &stolen), with_token(&b.channel(), &stolen));
    list_pc60(&on_a).await.expect("a valid clerk token");
    list_pc60(&on_b).await.expect("valid on the other replica too");

    // Nothing named, or both: refused, naming the fields.
    let none = a
        .supervisor()
        .revoke_access(pb::RevokeAccessRequest::default())
        .await
        .expect_err("nothing to revoke");
    assert_eq!(none.code(), tonic::Code::InvalidArgument);
    assert_eq!(violated_fields(&none), ["token_id", "subject"]);

    // One token: refused at once here, within the refresh elsewhere; the
    // clerk's other token still works.
    a.supervisor()
        .revoke_access(pb::RevokeAccessRequest {
            token_id: jti_of(&a, &stolen),
            reason: "laptop stolen".into(),
            ..Default::default()
        })
        .await
        .expect("revoke the token");
    let refused = list_pc60(&on_a).await.expect_err("revoked here");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    refused_soon(&on_b, "the other replica").await;
    list_pc60(&with_token(&b.channel(), &other))
        .await
        .expect("the clerk's other token");

    // The clerk: every token issued so far, on both replicas.
    let at = b
        .supervisor()
        .revoke_access(pb::RevokeAccessRequest {
            subject: "clerk-099".into(),
            reason: "left the office".into(),
            ..Default::default()
        })
        .await
        .expect("revoke the clerk")
        .into_inner()
        .revoked_at;
    refused_soon(&with_token(&b.channel(), &other), "the replica that revoked").await;
    refused_soon(&with_token(&a.channel(), &other), "the first replica").await;
    // Other callers are untouched.
    list_pc60(&with_token(
        &a.channel(),
        &token(&a.issuer, "clerk-100", &[Role::Clerk], Some("PC-60")),
    ))
    .await
    .expect("another clerk");
    // A token the identity provider issues after the revocation (re-vetted) works.
    while chrono::Utc::now().timestamp() <= at {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fresh = token(&a.issuer, "clerk-099", &[Role::Clerk], Some("PC-60"));
    list_pc60(&with_token(&a.channel(), &fresh))
        .await
        .expect("a token issued after the revocation");
}
