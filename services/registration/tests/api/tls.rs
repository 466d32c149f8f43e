//! TLS where traffic leaves the pod: the outbox's POSTs to the portal over
//! HTTPS, and the database connection with `sslmode=verify-full` against a
//! PostgreSQL cluster of the test's own that accepts TLS only.
//!
//! The database test needs the PostgreSQL server binaries to start that
//! cluster (`vrs_kit::pg`); without them it prints SKIPPED, and fails under
//! `VRS_REQUIRE_PG=1` (CI).

use std::io::Write;
use std::time::Duration;

use portal_standin::Portal;
use registration::app::Application;
use vrs_kit::pg::{ClusterOptions, LocalPostgres};
use vrs_kit::tls::LocalPki;
use vrs_kit::world::Case;
use vrs_proto::pb::registration::v1 as pb;

use crate::helpers::{Backend, spawn_app_with};
use crate::portal_sync::{drained, fast_outbox, sequence};

/// A portal serving HTTPS with a certificate from its own CA.
async fn https_portal(dir: &std::path::Path) -> (Portal, String) {
    let pki = LocalPki::generate(dir).expect("portal CA");
    let tls = pki.issue("portal-https").expect("portal certificate");
    let portal = Portal::start_tls(&tls.cert_file, &tls.key_file)
        .await
        .expect("HTTPS portal stand-in");
    assert!(portal.url().starts_with("https://"), "{}", portal.url());
    (portal, tls.ca_file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_delivers_to_a_portal_over_https_trusting_the_configured_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (portal, ca_file) = https_portal(dir.path()).await;
    let app = spawn_app_with(Backend::Sqlite, |cfg| {
        fast_outbox(cfg, &portal);
        cfg.portal.ca_file = ca_file.clone();
    })
    .await;
    app.submit(app.sample(Case::Clean, 1, "G01.008001"))
        .await
        .expect("submit");
    let status = drained(&app.supervisor(), Duration::from_secs(30)).await;
    assert_eq!((status.dead, status.delivered), (0, 2), "{status:?}");
    let statuses: Vec<String> = sequence(&portal, "G01.008001").into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses, ["SUBMITTED", "VERIFIED"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_refuses_a_portal_certificate_it_does_not_trust() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (portal, _ca_file) = https_portal(dir.path()).await;
    // Public web roots only: the portal's private CA is not among them.
    let app = spawn_app_with(Backend::Sqlite, |cfg| {
        fast_outbox(cfg, &portal);
        cfg.portal.max_attempts = 2;
    })
    .await;
    app.submit(app.sample(Case::Clean, 1, "G01.008002"))
        .await
        .expect("submit");
    let s = crate::portal_sync::dead_lettered(&app.supervisor(), Duration::from_secs(30)).await;
    assert_eq!(s.delivered, 0, "{s:?}");
    // The handshake failed: no request ever reached the portal.
    assert_eq!(portal.calls(), 0);
    assert!(portal.events_of("G01.008002").is_empty());
}

#[tokio::test]
async fn a_bad_portal_url_or_ca_file_stops_the_start_with_the_setting_named() {
    let mut cfg = registration::config::Config::default();
    let dir = tempfile::tempdir().expect("tempdir");
    cfg.database.url = format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display());
    cfg.privacy.data_key_file = dir.path().join("data.key").display().to_string();
    cfg.draw.log_key_file = dir.path().join("log.key").display().to_string();
    cfg.auth.issuer_seed_file = dir.path().join("issuer.key").display().to_string();
    cfg.server.listen = ([127, 0, 0, 1], 0).into();
    let cases = [
        ("ftp://portal.example/status", "", "portal.url"),
        ("portal.example/status", "", "portal.url"),
        ("https://portal.example/status", "/nonexistent/ca.pem", "portal.ca_file"),
    ];
    for (url, ca, named) in cases {
        cfg.portal.url = url.into();
        cfg.portal.ca_file = ca.into();
        let err = match Application::build(&cfg).await {
            Ok(_) => panic!("{url} with ca_file {ca:?} was accepted"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains(named), "{url}: {err}");
    }
}

/// A PostgreSQL cluster accepting TLS connections only, with a server
/// certificate for 127.0.0.1 from `pki`; `None` (announced) when the server
/// binaries are missing and CI does not require them.
fn tls_only_postgres(pki: &LocalPki, test: &str) -> Option<LocalPostgres> {
    if let Err(e) = vrs_kit::pg::PgBinaries::find() {
        assert!(!vrs_kit::pg::required(), "VRS_REQUIRE_PG=1 and {e}");
        let _ = writeln!(std::io::stderr(), "SKIPPED ({e}): {test}");
        return None;
    }
    let server = pki.issue("postgres").expect("server certificate");
    let read = |p: &str| std::fs::read(p).expect("certificate file");
    let opts = ClusterOptions {
        settings: vec![
            "ssl = on".into(),
            "ssl_cert_file = 'server.crt'".into(),
            "ssl_key_file = 'server.key'".into(),
        ],
        files: vec![
            ("server.crt".into(), read(&server.cert_file), 0o644),
            ("server.key".into(), read(&server.key_file), 0o600),
        ],
        // TLS or nothing: a plaintext connection is refused by the server.
        hba: Some("hostssl all all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 reject\n".into()),
    };
    Some(LocalPostgres::start(&opts).expect("a TLS-only PostgreSQL cluster"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_uses_postgresql_over_tls_with_verify_full_and_refuses_an_untrusted_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = LocalPki::generate(&dir.path().join("db-ca")).expect("database CA");
    let Some(pg) = tls_only_postgres(&pki, "tls::a_replica_uses_postgresql_over_tls_with_verify_full") else {
        return;
    };
    pg.psql("postgres", "CREATE DATABASE vrs").expect("create database");
    let ca = pki.trust_only().ca_file;

    // Verified against the CA that signed the server's certificate: it works,
    // and the server sees every connection of ours encrypted.
    let url = pg.url("vrs", &format!("sslmode=verify-full&sslrootcert={ca}"));
    let app = spawn_app_with(Backend::Sqlite, |cfg| cfg.database.url = url.clone()).await;
    let a = app
        .submit(app.sample(Case::Clean, 1, "G01.008003"))
        .await
        .expect("submit");
    assert_eq!(a.state(), pb::ApplicationState::Verified, "{:?}", a.reasons);
    let ours = pg
        .psql(
            "postgres",
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s USING (pid) WHERE a.datname = 'vrs'",
        )
        .expect("pg_stat_ssl");
    let (encrypted, all) = ours.split_once('|').expect("two counts");
    assert!(all != "0" && encrypted == all, "encrypted|all connections: {ours}");

    // The same server, but a CA we do not trust (an impostor on the
    // network would present exactly this): the replica refuses to start.
    let other = LocalPki::generate(&dir.path().join("other-ca")).expect("another CA");
    let impostor_url = pg.url(
        "vrs",
        &format!("sslmode=verify-full&sslrootcert={}", other.trust_only().ca_file),
    );
    let mut cfg = registration::config::Config::default();
    cfg.database.url = impostor_url;
    cfg.privacy.data_key_file = dir.path().join("data.key").display().to_string();
    cfg.server.listen = ([127, 0, 0, 1], 0).into();
    let err = match Application::build(&cfg).await {
        Ok(_) => panic!("connected to a server whose certificate we do not trust"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.to_lowercase().contains("certificate") || err.contains("UnknownIssuer"),
        "{err}"
    );
}
