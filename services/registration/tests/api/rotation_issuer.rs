//! Rotating the token issuer's key (issue 12, item 6): tokens name their key
//! (`kid`), the service accepts the current key and the previous ones listed
//! in `auth.issuer_previous_public_keys`, and the keys are pinned per key id,
//! so each step of a rotation starts on the same database.

use ed25519_dalek::SigningKey;
use vrs_kit::token::{Role, key_id};
use vrs_proto::pb::registration::v1 as pb;

use crate::helpers::{Backend, TestApp, both_databases, fresh_postgres, spawn_app_keyed, token, with_token};

both_databases!(the_issuer_key_rotates_on_a_running_registry);

/// A clerk call of office PC-60 with token `t`.
async fn list(app: &TestApp, t: &str) -> Result<(), tonic::Status> {
    with_token(&app.channel(), t)
        .list_applications(pb::ListApplicationsRequest {
            office_code: "PC-60".into(),
            ..Default::default()
        })
        .await
        .map(|_| ())
}

fn clerk_token(issuer: &SigningKey) -> String {
    token(issuer, "clerk-060", &[Role::Clerk], Some("PC-60"))
}

/// The `kid` of a token's header.
fn kid_of(t: &str) -> Option<String> {
    use base64::Engine;
    let header = t.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    header["kid"].as_str().map(str::to_owned)
}

async fn the_issuer_key_rotates_on_a_running_registry(backend: Backend) {
    // One database and the same data, log and beacon keys throughout; the
    // issuer key A is the seed file's, B the identity provider's next key.
    let keys = tempfile::tempdir().expect("keys");
    let url = match &backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", keys.path().join("shared.db").display()),
        Backend::Postgres(server) => fresh_postgres(server).await,
    };
    let b = SigningKey::from_bytes(&[0xb0; 32]);
    let b_hex = hex::encode(b.verifying_key().as_bytes());

    // 1. Key A only.
    let app = spawn_app_keyed(Backend::Sqlite, keys.path(), |cfg| cfg.database.url = url.clone()).await;
    let a = app.issuer.clone();
    let a_hex = hex::encode(a.verifying_key().as_bytes());
    let by_a = clerk_token(&a);
    assert_eq!(kid_of(&by_a), Some(key_id(&a.verifying_key())), "tokens name their key");
    list(&app, &by_a).await.expect("A's token while A is the issuer key");
    let early = list(&app, &clerk_token(&b)).await.expect_err("B is not accepted yet");
    assert_eq!(early.code(), tonic::Code::Unauthenticated);
    app.shutdown().await;

    // 2. The rotation: B current, A still accepted. It starts (a single
    // pinned issuer key would have refused B), and both tokens work.
    let app = spawn_app_keyed(Backend::Sqlite, keys.path(), |cfg| {
        cfg.database.url = url.clone();
        cfg.auth.issuer_public_key = b_hex.clone();
        cfg.auth.issuer_previous_public_keys = vec![a_hex.clone()];
    })
    .await;
    list(&app, &by_a).await.expect("A's token, minted before the rotation");
    list(&app, &clerk_token(&a))
        .await
        .expect("a token A mints during the rotation");
    list(&app, &clerk_token(&b)).await.expect("B's token");
    app.shutdown().await;

    // 3. A retired: its tokens are refused, B's work.
    let app = spawn_app_keyed(Backend::Sqlite, keys.path(), |cfg| {
        cfg.database.url = url.clone();
        cfg.auth.issuer_public_key = b_hex.clone();
    })
    .await;
    let retired = list(&app, &by_a).await.expect_err("A is retired");
    assert_eq!(retired.code(), tonic::Code::Unauthenticated, "{retired:?}");
    assert!(retired.message().contains("key"), "{retired:?}");
    list(&app, &clerk_token(&b)).await.expect("B's token");
    app.shutdown().await;

    // A replica with a key unrelated to any this database has seen (a Secret
    // not mounted, a key pasted wrong) still refuses to start: rotating
    // means starting with the new key and the old one accepted first.
    let stranger = hex::encode(SigningKey::from_bytes(&[0xc0; 32]).verifying_key().as_bytes());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let keep = seen.clone();
    let app = spawn_app_keyed(Backend::Sqlite, keys.path(), move |cfg| {
        cfg.database.url = url.clone();
        cfg.auth.issuer_public_key = b_hex.clone();
        *keep.lock().expect("lock") = Some(cfg.clone());
    })
    .await;
    let mut cfg: registration::config::Config = seen.lock().expect("lock").clone().expect("config");
    cfg.server.listen = "127.0.0.1:0".parse().expect("addr");
    cfg.auth.issuer_public_key = stranger;
    let err = registration::app::Application::build(&cfg)
        .await
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(err.contains("the token-issuer key differs"), "{err}");
    assert!(
        err.contains("issuer_previous_public_keys"),
        "the error says how to rotate: {err}"
    );
    app.shutdown().await;
}
