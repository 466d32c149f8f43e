//! The public transparency site against a real registry: it shows only what
//! it verified (checkpoint signature and Merkle root), the pools and draws of
//! the log with their evidence, never personal data, and serves every page
//! with a Content-Security-Policy that forbids inline script.

use std::time::Duration;

use base64::Engine;
use vrs_draw::entry::Entry;
use vrs_proto::pb::registration::v1 as pb;

use crate::helpers::{Backend, TestApp, both_databases, spawn_app};

both_databases!(the_site_shows_the_verified_log_and_a_plates_evidence);
both_databases!(a_log_that_does_not_match_its_checkpoint_is_not_shown);

async fn site_for(app: &TestApp) -> (String, tokio_util::sync::CancellationToken) {
    let site = crate::helpers::Site::start(app).await;
    (site.url, site.stop)
}

async fn get(url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let tls = vrs_kit::tls::https_client_config("").expect("TLS configuration");
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .expect("client");
    let r = http.get(url).send().await.expect("the site answers");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.expect("a body"))
}

async fn the_site_shows_the_verified_log_and_a_plates_evidence(backend: Backend) {
    let app = spawn_app(backend).await;
    let (site, stop) = site_for(&app).await;

    let req = app.sample(vrs_kit::world::Case::Clean, 0, "G01.000031");
    let Some(pb::owner::Kind::Individual(owner)) = req.owner.clone().and_then(|o| o.kind) else {
        panic!("the clean sample is an individual");
    };
    let a = app.submit(req).await.expect("submit");
    let drawn = app.draw_for(&a).await.expect("draw");
    let receipt: serde_json::Value =
        serde_json::from_str(&drawn.receipt.expect("a receipt").json).expect("receipt json");
    let commit_bytes = base64::engine::general_purpose::STANDARD
        .decode(receipt["commit"]["entry"].as_str().expect("commit entry"))
        .expect("base64");
    let Ok(Entry::DrawCommit(commit)) = Entry::decode(&commit_bytes) else {
        panic!("the receipt's commit is a draw-commit");
    };

    // The plate's page appears once the site has verified a checkpoint that holds the draw.
    let plate_url = format!("{site}/plates/{}", transparency::pages::seg(&drawn.plate));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let plate_page = loop {
        let (status, _, body) = get(&plate_url).await;
        if status == 200 {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the plate never appeared: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        plate_page.contains(&hex::encode(commit.application_commitment)),
        "{plate_page}"
    );
    assert!(plate_page.contains(&format!("vòng {}", commit.round)), "{plate_page}");
    assert!(plate_page.contains(&commit.pool_id));

    // The home page: the latest checkpoint as served by the log, and the pool.
    let (status, headers, home) = get(&format!("{site}/")).await;
    assert_eq!(status, 200);
    let csp = headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .expect("a CSP");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(
        headers.get("x-frame-options").and_then(|v| v.to_str().ok()),
        Some("DENY")
    );
    let cp = app
        .log()
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await
        .expect("checkpoint")
        .into_inner();
    assert!(
        home.contains(&hex::encode(&cp.root)) || home.contains("Số mục"),
        "{home}"
    );
    assert!(home.contains(&format!("/pools/{}", commit.pool_id)), "{home}");
    assert!(!home.contains("<script>"), "no inline script");

    // The pool's page lists the draw.
    let (status, _, pool) = get(&format!("{site}/pools/{}", commit.pool_id)).await;
    assert_eq!(status, 200);
    assert!(pool.contains(&drawn.plate), "{pool}");

    // No page carries the owner's personal data.
    for page in [&home, &pool, &plate_page] {
        assert!(!page.contains(&owner.full_name), "the owner's name on a public page");
        assert!(!page.contains(&owner.personal_id), "the owner's ID on a public page");
        assert!(!page.contains(&a.application_id), "the application id on a public page");
    }

    // The receipt checker embeds the trust the log serves, as data, and the verifier bundle.
    let (status, _, verify) = get(&format!("{site}/verify")).await;
    assert_eq!(status, 200);
    let trust = app
        .log()
        .get_trust(pb::GetTrustRequest {})
        .await
        .expect("trust")
        .into_inner();
    let log_key = serde_json::from_str::<serde_json::Value>(&trust.json).expect("trust json")["log_key"]
        .as_str()
        .expect("log key")
        .to_owned();
    assert!(verify.contains(&transparency::pages::esc(&log_key)), "{verify}");
    assert!(verify.contains(r#"<script type="application/json" id="trust">"#));
    assert!(verify.contains(&transparency::pages::fingerprint(&log_key)));
    let (status, headers, bundle) = get(&format!("{site}/static/verify.bundle.js")).await;
    assert_eq!(status, 200);
    assert!(
        headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/javascript"))
    );
    assert!(bundle.contains("vrsVerify"), "the bundle exposes the verifier");
    let (_, _, served_trust) = get(&format!("{site}/trust.json")).await;
    assert_eq!(served_trust, trust.json);

    // Downloads: the entries as the log holds them; a range past the verified log is refused.
    let (status, _, entries) = get(&format!("{site}/log/entries?start=0&end=1")).await;
    assert_eq!(status, 200, "{entries}");
    let entries: serde_json::Value = serde_json::from_str(&entries).expect("json");
    assert_eq!(entries["entries"][0]["index"], 0);
    let (status, _, _) = get(&format!("{site}/log/entries?start=0&end=100000000")).await;
    assert_eq!(status, 400);
    let (status, _, body) = get(&format!("{site}/plates/99A-999.99")).await;
    assert_eq!(status, 404);
    assert!(body.contains("Không có lượt bốc nào"), "{body}");
    let (status, _, _) = get(&format!("{site}/readyz")).await;
    assert_eq!(status, 200, "ready once a state is verified");
    let (status, _, _) = get(&format!("{site}/admin")).await;
    assert_eq!(status, 404, "nothing but the public pages");

    stop.cancel();
    app.shutdown().await;
}

/// Someone with database access changes one byte of a stored draw result:
/// the entries the log API serves no longer make the signed checkpoint's
/// root, so the site shows none of it, says why, and has no page for the plate.
async fn a_log_that_does_not_match_its_checkpoint_is_not_shown(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app
        .submit(app.sample(vrs_kit::world::Case::Clean, 0, "G01.000032"))
        .await
        .expect("submit");
    let drawn = app.draw_for(&a).await.expect("draw");
    crate::helpers::tamper_latest_draw_result(&app).await;

    let (site, stop) = site_for(&app).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let home = loop {
        let (status, _, body) = get(&format!("{site}/")).await;
        assert_eq!(status, 200);
        if body.contains("không kiểm chứng được") {
            break body;
        }
        assert!(tokio::time::Instant::now() < deadline, "no warning: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(home.contains("root"), "the reason is given: {home}");
    assert!(
        !home.contains("/pools/"),
        "no pool of an unverified log is shown: {home}"
    );
    let (status, _, _) = get(&format!("{site}/plates/{}", transparency::pages::seg(&drawn.plate))).await;
    assert_eq!(status, 404);
    let (status, _, _) = get(&format!("{site}/log/checkpoint")).await;
    assert_eq!(status, 503, "no verified checkpoint to offer");
    let (status, _, _) = get(&format!("{site}/readyz")).await;
    assert_eq!(status, 503, "not ready to take visitors without a verified state");
    stop.cancel();
    app.shutdown().await;
}
