//! Rotation of the data key: the service restarted on the same database with
//! a new current key and the old one retired still opens and finds every old
//! row, seals new ones under the new key, and its re-seal job rewrites the
//! old ones, after which the old key can go. A replica started without the
//! old key before the job has finished refuses to start, naming the key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use registration::privacy::{KeyId, Sealing};
use registration::store::Store;
use tokio_util::sync::CancellationToken;
use vrs_kit::world::{Case, Owner};
use vrs_proto::pb::registration::v1 as pb;

use crate::helpers::{Backend, TestApp, both_databases, fresh_postgres, spawn_app_keyed};

both_databases!(
    the_data_key_rotates_without_losing_a_row,
    replicas_reseal_at_once_without_undoing_each_other
);

/// One database and one set of key files, for services started one after another.
struct Site {
    backend: Backend,
    keys: tempfile::TempDir,
    url: String,
}

impl Site {
    async fn new(backend: Backend) -> Site {
        let keys = tempfile::tempdir().expect("tempdir");
        let url = match &backend {
            Backend::Sqlite => format!("sqlite://{}?mode=rwc", keys.path().join("registration.db").display()),
            Backend::Postgres(server) => fresh_postgres(server).await,
        };
        Site { backend, keys, url }
    }

    fn key(&self, name: &str) -> PathBuf {
        self.keys.path().join(name)
    }

    fn key_id(&self, name: &str) -> KeyId {
        KeyId::of(&vrs_kit::keys::load_seed(&self.key(name)).expect("key file"))
    }

    /// The configuration of a service with `current` and `retired` data keys.
    fn configure(&self, cfg: &mut registration::config::Config, current: &str, retired: &[&str], reseal: bool) {
        cfg.database.url = self.url.clone();
        cfg.privacy.data_key_file = path(&self.key(current));
        cfg.privacy.retired_data_key_files = retired.iter().map(|k| path(&self.key(k))).collect();
        cfg.privacy.reseal_enabled = reseal;
        cfg.privacy.reseal_interval_ms = 100;
        // Small batches: the job pages through every table several times.
        cfg.privacy.reseal_batch = 2;
    }

    async fn start(&self, current: &str, retired: &[&str], reseal: bool) -> TestApp {
        spawn_app_keyed(self.backend.clone(), self.keys.path(), |cfg| {
            self.configure(cfg, current, retired, reseal);
        })
        .await
    }

    /// The error a replica with `current` and `retired` keys refuses to start
    /// with: the data keys are checked before anything else connects.
    async fn build_error(&self, current: &str, retired: &[&str]) -> String {
        let mut cfg = registration::config::Config::default();
        self.configure(&mut cfg, current, retired, false);
        cfg.server.listen = "127.0.0.1:0".parse().expect("addr");
        match registration::app::Application::build(&cfg).await {
            Ok(_) => panic!("started with data keys {current} and {retired:?}"),
            Err(e) => format!("{e:#}"),
        }
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn store(app: &TestApp) -> &Store {
    app.registry.store()
}

/// Which key sealed application `id`'s declaration.
async fn sealed_under(app: &TestApp, id: &str) -> Sealing {
    store(app).sealing(id).await.expect("read").expect("row")
}

/// What the citizen declared, as the service shows it.
fn declared(a: &pb::Application) -> (Option<pb::Owner>, Option<pb::Vehicle>) {
    (a.owner.clone(), a.vehicle.clone())
}

/// Every owner hash stored (draws and plates).
async fn owner_keys(app: &TestApp) -> Vec<String> {
    use registration::store::entities::{draw, plate};
    use sea_orm::EntityTrait;
    let db = store(app).connection();
    let draws = draw::Entity::find().all(db).await.expect("draws");
    let plates = plate::Entity::find().all(db).await.expect("plates");
    draws
        .into_iter()
        .map(|d| d.owner_key)
        .chain(plates.into_iter().map(|p| p.owner_key))
        .collect()
}

/// Polls until the re-seal job has left nothing, or panics after `limit`.
async fn resealed(app: &TestApp, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = store(app).data_left().await.expect("count");
        if left.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the re-seal job left {left:?} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Vehicles of one citizen with two of one class, and clean vehicles of other owners.
fn vehicles(app: &TestApp) -> ([usize; 2], Vec<usize>) {
    let mut by_owner: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, v) in app.world.vehicles_with(Case::Clean) {
        if let Owner::Citizen(c) = v.owner {
            by_owner.entry(c).or_default().push(i);
        }
    }
    let (owner, pair) = by_owner
        .iter()
        .find(|(_, v)| v.len() >= 2 && app.world.vehicles[v[0]].class == app.world.vehicles[v[1]].class)
        .expect("a citizen with two vehicles of one class");
    let others = by_owner
        .iter()
        .filter(|(o, _)| *o != owner)
        .map(|(_, v)| v[0])
        .take(5)
        .collect();
    ([pair[0], pair[1]], others)
}

async fn submit(app: &TestApp, vehicle: usize, dossier: &str) -> Result<pb::Application, tonic::Status> {
    app.submit(vrs_kit::samples::submit_request(&app.world, vehicle, dossier))
        .await
}

async fn revoke(app: &TestApp, a: &pb::Application) -> String {
    app.register_fully(&a.application_id).await;
    app.clerk(a)
        .revoke_plate(pb::RevokePlateRequest {
            application_id: a.application_id.clone(),
            reason_code: "SCRAPPED".into(),
        })
        .await
        .expect("revoke")
        .into_inner()
        .plate
}

async fn the_data_key_rotates_without_losing_a_row(backend: Backend) {
    let site = Site::new(backend).await;

    // 1. K0 alone: a registration ended (its plate retained for its owner)
    //    and applications still active.
    let app = site.start("k0.key", &[], false).await;
    let k0 = site.key_id("k0.key");
    let ([first, second], others) = vehicles(&app);
    let a = submit(&app, first, "ROT.000001").await.expect("submit");
    app.draw_for(&a).await.expect("draw");
    let retained = revoke(&app, &a).await;
    let mut old = vec![app.get(&a.application_id).await];
    for (n, v) in others[..others.len() - 1].iter().enumerate() {
        let o = submit(&app, *v, &format!("ROT.1{n:05}")).await.expect("submit");
        assert_eq!(o.state(), pb::ApplicationState::Verified, "{:?}", o.reasons);
        old.push(o);
    }
    for o in &old {
        assert_eq!(sealed_under(&app, &o.application_id).await, Sealing::V2(k0));
    }
    app.shutdown().await;

    // The rotation's first step: every replica learns K1, as a retired key
    // (the job off), before any seals with it; K0 still seals. It can be
    // rolled back: nothing is under K1.
    registration::app::load_or_create_seed(&site.key("k1.key")).expect("K1");
    let app = site.start("k0.key", &["k1.key"], false).await;
    let late = submit(&app, others[others.len() - 1], "ROT.200000")
        .await
        .expect("submit");
    assert_eq!(sealed_under(&app, &late.application_id).await, Sealing::V2(k0));
    old.push(late.clone());
    app.shutdown().await;
    let app = site.start("k0.key", &[], false).await;
    assert_eq!(declared(&app.get(&late.application_id).await), declared(&late));
    app.shutdown().await;

    // 2. K1 current, K0 retired (the job held back, to see the old rows as they are).
    let app = site.start("k1.key", &["k0.key"], false).await;
    let k1 = site.key_id("k1.key");
    assert_ne!(k0, k1);
    for o in &old {
        let now = app.get(&o.application_id).await;
        assert_eq!(
            declared(&now),
            declared(o),
            "{} opens under the retired key",
            o.application_id
        );
        assert_eq!(sealed_under(&app, &o.application_id).await, Sealing::V2(k0));
    }
    let inspected = app
        .clerk(&old[1])
        .inspect_application(pb::InspectApplicationRequest {
            application_id: old[1].application_id.clone(),
        })
        .await
        .expect("inspect")
        .into_inner();
    assert_eq!(
        declared(inspected.application.as_ref().expect("application")),
        declared(&old[1])
    );
    // New data: sealed under K1.
    let b = submit(&app, second, "ROT.000002").await.expect("submit");
    assert_eq!(sealed_under(&app, &b.application_id).await, Sealing::V2(k1));
    // The owner's retained plate, hashed under K0, is found for the new application.
    let drawn = app.draw_for(&b).await.expect("draw");
    assert_eq!(
        (drawn.method.as_str(), drawn.plate.as_str()),
        ("retained", retained.as_str())
    );
    // A vehicle with an active application filed under K0 is still refused.
    let again = submit(&app, others[0], "ROT.000003")
        .await
        .expect_err("a second application for one vehicle");
    assert_eq!(again.code(), tonic::Code::AlreadyExists, "{again:?}");
    let left = store(&app).data_left().await.expect("count");
    assert!(left.applications >= old.len() as u64, "{left:?}");
    assert!(left.plates >= 1 && left.draws >= 1, "{left:?}");
    app.shutdown().await;

    // Without K0 before the job has run: refused, naming the key.
    let err = site.build_error("k1.key", &[]).await;
    assert!(err.contains(&format!("data key {k0}")), "{err}");
    assert!(err.contains("retired"), "{err}");

    // 3. The job rewrites every row under K1.
    let app = site.start("k1.key", &["k0.key"], true).await;
    resealed(&app, Duration::from_secs(30)).await;
    for o in old.iter().chain([&b]) {
        assert_eq!(sealed_under(&app, &o.application_id).await, Sealing::V2(k1));
    }
    let prefix = format!("{k1}:");
    let hashes = owner_keys(&app).await;
    assert!(
        !hashes.is_empty() && hashes.iter().all(|k| k.starts_with(&prefix)),
        "{hashes:?}"
    );
    app.shutdown().await;

    // 4. K1 alone: every row opens, and every lookup finds its rows.
    let app = site.start("k1.key", &[], false).await;
    for o in &old {
        let now = app.get(&o.application_id).await;
        assert_eq!(declared(&now), declared(o));
    }
    let again = submit(&app, others[0], "ROT.000004")
        .await
        .expect_err("the vehicle's application is still active");
    assert_eq!(again.code(), tonic::Code::AlreadyExists, "{again:?}");
    // The plate reissued in 2 (its hash rewritten by the job) is retained again
    // and found again for the same vehicle's next registration.
    let plate = revoke(&app, &b).await;
    assert_eq!(plate, retained);
    let c = submit(&app, second, "ROT.000005").await.expect("submit");
    let drawn = app.draw_for(&c).await.expect("draw");
    assert_eq!(
        (drawn.method.as_str(), drawn.plate.as_str()),
        ("retained", retained.as_str())
    );
    app.shutdown().await;
}

/// Two replicas re-sealing the same rows at once: each row is rewritten once,
/// whatever the interleaving, and all of it opens afterwards. One row is as
/// the versions before key ids wrote it (`VRS1`, owner hashes without an id,
/// the single `data` pin): it opens, and is rewritten like the others.
async fn replicas_reseal_at_once_without_undoing_each_other(backend: Backend) {
    let site = Site::new(backend).await;
    let app = site.start("k0.key", &[], false).await;
    let (_, others) = vehicles(&app);
    let mut ids = Vec::new();
    for (n, v) in others.iter().enumerate() {
        let a = submit(&app, *v, &format!("RSL.{n:06}")).await.expect("submit");
        if n % 2 == 0 {
            app.draw_for(&a).await.expect("draw");
        }
        ids.push(a.application_id);
    }
    let k0 = vrs_kit::keys::load_seed(&site.key("k0.key")).expect("k0");
    as_before_key_ids(&app, &k0, &ids[0]).await;
    assert_eq!(sealed_under(&app, &ids[0]).await, Sealing::V1);
    app.shutdown().await;

    let app = site.start("k1.key", &["k0.key"], false).await;
    let k1 = site.key_id("k1.key");
    app.get(&ids[0]).await;
    let privacy = store(&app).privacy().clone();
    let mut cfg = registration::config::Config::default();
    site.configure(&mut cfg, "k1.key", &["k0.key"], false);
    let other = Store::connect(&cfg.database, privacy)
        .await
        .expect("a second replica's store");
    let before = store(&app).data_left().await.expect("count");
    assert_eq!(before.applications, ids.len() as u64);
    let stop = CancellationToken::new();
    let replicas = [store(&app).clone(), other.clone()].map(|s| {
        let stop = stop.clone();
        tokio::spawn(async move { registration::reseal::pass(&s, 1, &stop).await })
    });
    let [one, two] = replicas;
    let (one, two) = (
        one.await.expect("join").expect("pass"),
        two.await.expect("join").expect("pass"),
    );
    assert!(one.stuck.is_empty() && two.stuck.is_empty(), "{one:?} {two:?}");
    assert_eq!(one.resealed + two.resealed, before.applications, "{one:?} {two:?}");
    assert_eq!(
        one.rehashed + two.rehashed,
        before.draws + before.plates,
        "{one:?} {two:?}"
    );
    assert!(store(&app).data_left().await.expect("count").is_empty());
    // Idempotent: another pass finds nothing to do.
    let third = registration::reseal::pass(&other, 200, &stop).await.expect("pass");
    assert_eq!((third.resealed, third.rehashed, third.left.total()), (0, 0, 0));
    for id in &ids {
        assert_eq!(sealed_under(&app, id).await, Sealing::V2(k1));
    }
    app.shutdown().await;

    // Nothing is left under K0, nor in the old formats: K1 alone starts.
    let app = site.start("k1.key", &[], false).await;
    for id in &ids {
        app.get(id).await;
    }
    app.shutdown().await;
}

/// Rewrites application `id`, its draw and plate, and the data key's pin as
/// the versions before key ids stored them, under `key`.
async fn as_before_key_ids(app: &TestApp, key: &[u8; 32], id: &str) {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use hmac::Mac;
    use prost::Message;
    use registration::store::entities::{application, draw, key_fingerprint, plate};
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
    use sha2::Digest;
    let derive = |label: &[u8]| -> [u8; 32] {
        sha2::Sha256::new()
            .chain_update(label)
            .chain_update(key)
            .finalize()
            .into()
    };
    let db = store(app).connection();
    let plain = store(app)
        .find_application(id)
        .await
        .expect("read")
        .expect("row")
        .declaration;
    let aead = chacha20poly1305::ChaCha20Poly1305::new(&derive(b"vrs-seal-v1\0").into());
    let nonce = [7u8; 12];
    let ct = aead
        .encrypt(
            &nonce.into(),
            Payload {
                msg: &plain,
                aad: id.as_bytes(),
            },
        )
        .expect("seal");
    application::Entity::update_many()
        .col_expr(
            application::Column::Declaration,
            Expr::value([b"VRS1".as_slice(), &nonce, &ct].concat()),
        )
        .filter(application::Column::Id.eq(id))
        .exec(db)
        .await
        .expect("VRS1");
    let owner = registration::domain::declaration::owner_id(
        &pb::SubmitApplicationRequest::decode(plain.as_slice()).expect("declaration"),
    );
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&derive(b"vrs-lookup-v1\0")).expect("key");
    mac.update(b"owner\0");
    mac.update(owner.as_bytes());
    let bare = hex::encode(mac.finalize().into_bytes());
    draw::Entity::update_many()
        .col_expr(draw::Column::OwnerKey, Expr::value(bare.clone()))
        .filter(draw::Column::ApplicationId.eq(id))
        .exec(db)
        .await
        .expect("draw");
    plate::Entity::update_many()
        .col_expr(plate::Column::OwnerKey, Expr::value(bare))
        .filter(plate::Column::ApplicationId.eq(id))
        .exec(db)
        .await
        .expect("plate");
    key_fingerprint::Entity::delete_many()
        .filter(key_fingerprint::Column::Name.starts_with("data:"))
        .exec(db)
        .await
        .expect("unpin");
    key_fingerprint::Entity::insert(key_fingerprint::ActiveModel {
        name: Set("data".into()),
        sha256: Set(hex::encode(sha2::Sha256::digest(key))),
        pinned_at_ms: Set(0),
    })
    .exec_without_returning(db)
    .await
    .expect("pin");
}
