//! A backup that is restored: the proof behind k8s/README.md's "Backups and
//! restore". A base backup (`pg_basebackup`) of a loaded database, WAL
//! archived continuously, more writes after the backup, then a point-in-time
//! recovery into a second PostgreSQL instance on another port, up to the last
//! acknowledged write. The registry served from the restored copy holds every
//! acknowledged application with its plate, gives no plate twice, and its log
//! replays clean and is consistent with the last checkpoint a citizen holds.
//!
//! Needs the PostgreSQL server binaries (`vrs_kit::pg`): SKIPPED without them,
//! a failure under `VRS_REQUIRE_PG=1` (CI).

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::time::Duration;

use vrs_draw::merkle::{Hash, verify_consistency};
use vrs_kit::pg::{ClusterOptions, LocalPostgres};
use vrs_kit::world::Case;
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::transparency_log_service_client::TransparencyLogServiceClient;

use crate::helpers::{Backend, TestApp, spawn_app_keyed};

/// Submits and draws `n` applications from `first`; returns id → (dossier, plate).
async fn register(app: &TestApp, first: usize, n: usize, out: &mut BTreeMap<String, (String, String)>) {
    for i in first..first + n {
        let dossier = format!("RST.{i:06}");
        let a = app.submit(app.sample(Case::Clean, i, &dossier)).await.expect("submit");
        assert_eq!(a.state(), pb::ApplicationState::Verified, "{:?}", a.reasons);
        let drawn = app.draw_for(&a).await.expect("draw");
        out.insert(a.application_id, (dossier, drawn.plate));
    }
}

async fn checkpoint(app: &TestApp) -> pb::Checkpoint {
    TransparencyLogServiceClient::new(app.channel())
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await
        .expect("checkpoint")
        .into_inner()
}

fn root(cp: &pb::Checkpoint) -> Hash {
    cp.root.as_slice().try_into().expect("32-byte root")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_point_in_time_restore_holds_every_acknowledged_application_and_the_log_citizens_hold() {
    if let Err(e) = vrs_kit::pg::PgBinaries::find() {
        assert!(!vrs_kit::pg::required(), "VRS_REQUIRE_PG=1 and {e}");
        let _ = writeln!(std::io::stderr(), "SKIPPED ({e}): restore");
        return;
    }
    // The primary archives every WAL segment (what CloudNativePG sends to
    // object storage) into `archive/` beside its data directory.
    let primary = LocalPostgres::start(&ClusterOptions {
        settings: vec![
            "wal_level = replica".into(),
            "archive_mode = on".into(),
            "archive_command = 'mkdir -p ../archive && test ! -f ../archive/%f && cp %p ../archive/%f'".into(),
            "max_wal_senders = 4".into(),
        ],
        ..Default::default()
    })
    .expect("primary");
    let archive = primary.root().join("archive");
    primary
        .psql("postgres", "CREATE DATABASE vrs")
        .expect("create database");
    let keys = tempfile::tempdir().expect("keys");
    let url = primary.url("vrs", "");
    let app = spawn_app_keyed(Backend::Sqlite, keys.path(), |cfg| cfg.database.url = url.clone()).await;

    // Load, then the base backup, then more acknowledged writes.
    let mut acknowledged = BTreeMap::new();
    register(&app, 0, 12, &mut acknowledged).await;
    let backup_root = tempfile::Builder::new()
        .prefix("vrs-restore-")
        .tempdir()
        .expect("tempdir");
    let data = backup_root.path().join("data");
    vrs_kit::pg::give_to_server_user(backup_root.path()).expect("chown");
    let out = primary
        .bins()
        .command("pg_basebackup")
        .args(["-h", "127.0.0.1", "-p", &primary.port.to_string(), "-U", "postgres"])
        .arg("-D")
        .arg(&data)
        .args(["-X", "stream", "--checkpoint=fast", "--no-sync"])
        .output()
        .expect("pg_basebackup runs");
    assert!(
        out.status.success(),
        "pg_basebackup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    register(&app, 12, 12, &mut acknowledged).await;

    // The last acknowledged write, and the checkpoint a citizen took home with
    // their receipt: the restore must reach both.
    let held = checkpoint(&app).await;
    let trust = crate::draw::trust(&app).await;
    let target = primary
        .psql("postgres", "SELECT pg_current_wal_insert_lsn()")
        .expect("lsn");
    // Close the segment so the archive holds it (an idle database does this
    // by archive_timeout), and wait until it is archived.
    let segment = primary
        .psql("postgres", &format!("SELECT pg_walfile_name('{target}')"))
        .expect("segment");
    primary.psql("postgres", "SELECT pg_switch_wal()").expect("switch");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !archive.join(&segment).exists() {
        assert!(std::time::Instant::now() < deadline, "{segment} never archived");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The primary is lost; the registry is restored elsewhere.
    drop(app);
    primary.stop("immediate").expect("primary lost");
    std::fs::write(data.join("recovery.signal"), "").expect("recovery.signal");
    let restored = LocalPostgres::adopt(
        backup_root,
        data,
        &ClusterOptions {
            settings: vec![
                format!("restore_command = 'cp {}/%f %p'", archive.display()),
                format!("recovery_target_lsn = '{target}'"),
                "recovery_target_action = 'promote'".into(),
                // The restored copy must not archive into the lost primary's store.
                "archive_mode = off".into(),
            ],
            ..Default::default()
        },
    )
    .expect("the restored instance starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while restored.psql("postgres", "SELECT pg_is_in_recovery()").ok().as_deref() != Some("f") {
        assert!(std::time::Instant::now() < deadline, "recovery never finished");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_ne!(restored.port, primary.port);

    let url = restored.url("vrs", "");
    let app = spawn_app_keyed(Backend::Sqlite, keys.path(), |cfg| cfg.database.url = url.clone()).await;

    // Every acknowledged application, with the plate it was given, once.
    let mut plates = HashSet::new();
    for (id, (dossier, plate)) in &acknowledged {
        let a = app.get(id).await;
        assert_eq!(&a.dossier_code, dossier);
        assert_eq!(&a.plate, plate, "{id}");
        assert!(plates.insert(plate.clone()), "plate {plate} twice");
    }
    assert_eq!(plates.len(), 24);

    // The log replays clean, with the same keys, and it is the log the
    // citizen's checkpoint describes: at least as long, and consistent with it.
    let now = checkpoint(&app).await;
    assert!(
        now.size >= held.size,
        "the restore lost log entries: {} < {}",
        now.size,
        held.size
    );
    let proof = TransparencyLogServiceClient::new(app.channel())
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            first: held.size,
            second: now.size,
        })
        .await
        .expect("consistency proof")
        .into_inner();
    let proof: Vec<Hash> = proof
        .hashes
        .iter()
        .map(|h| h.as_slice().try_into().expect("32-byte hash"))
        .collect();
    assert!(
        verify_consistency(held.size, now.size, &root(&held), &root(&now), &proof),
        "the restored log is not an extension of the checkpoint the citizen holds"
    );
    let (size, findings) = crate::draw::audit_channel(TransparencyLogServiceClient::new(app.channel()), &trust).await;
    assert!(findings.is_empty(), "{findings:?}");
    assert!(size >= 48, "every commit and result: {size}");
}
