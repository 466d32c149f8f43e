//! Data key rotation, the database's side ([`crate::privacy`] has the formats,
//! [`crate::reseal`] the job): the key ids pinned per database, the start-up
//! check that no data is left under a key no longer configured, the re-seal
//! job's batches, and what is left for it.
//!
//! Pins live in `key_fingerprints`: `data:<key id>` → SHA-256 of that key
//! (a key id always means the same key), `data` → the one data key of the
//! versions before key ids (whose values carry no id), and
//! `data-drained:<key id>` (or `data-drained:legacy`) once the re-seal job
//! found nothing left under that key. A replica may start without a pinned
//! key only if it is marked drained: checking the marks is one read of a
//! small table, where looking for the key's data would scan every row.

use std::collections::{BTreeSet, HashMap, HashSet};

use prost::Message;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, OnConflict};
use sea_orm::{ColumnTrait, Condition, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use vrs_proto::pb::registration::v1 as pb;

use super::entities::{application, draw, key_fingerprint as kf, plate};
use super::{Store, StoreError};
use crate::privacy::{Privacy, Sealing};

/// The single pin of the versions before key ids.
const LEGACY_PIN: &str = "data";
const PIN: &str = "data:";
const DRAINED: &str = "data-drained:";
/// The key of values without an id (`VRS1`, owner hashes of 64 hex digits).
const LEGACY: &str = "legacy";

/// Why the data keys are refused at start-up.
#[derive(Debug, thiserror::Error)]
pub enum DataKeyError {
    /// A key the database holds data under is no longer configured.
    #[error(
        "this database still holds data sealed or hashed under {0}, which is neither \
         privacy.data_key_file nor one of privacy.retired_data_key_files: put that key back among \
         the retired keys and remove it only after the re-seal job has logged that nothing is left \
         under the retired keys; refusing to start"
    )]
    StillInUse(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DbErr> for DataKeyError {
    fn from(e: DbErr) -> Self {
        DataKeyError::Store(StoreError::Db(e))
    }
}

/// Rows not (entirely) under the current data key.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Left {
    /// Declarations sealed under another key or before key ids (their
    /// vehicle hashes go with them).
    pub applications: u64,
    /// Draws whose owner hash is under another key.
    pub draws: u64,
    /// Plates whose owner hash is under another key.
    pub plates: u64,
}

impl Left {
    pub fn total(&self) -> u64 {
        self.applications + self.draws + self.plates
    }

    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }
}

/// What one batch of the re-seal job did.
#[derive(Debug, Default, Clone)]
pub struct Batch<C> {
    /// Where the next batch starts; `None` once the table is done.
    pub next: Option<C>,
    /// Rows rewritten under the current key.
    pub rewritten: u64,
    /// Rows changed by someone else between read and write (left for the next pass).
    pub raced: u64,
    /// Rows that cannot be rewritten, and why (no personal data: ids and key ids).
    pub stuck: Vec<String>,
    /// Keys the rows seen were under (key ids, or `legacy`).
    pub seen: BTreeSet<String>,
}

impl Store {
    /// The data key set this store seals and hashes with.
    pub fn privacy(&self) -> &Privacy {
        &self.privacy
    }

    /// Pins every configured data key by id and refuses a key set that would
    /// leave data behind, in this order:
    ///
    /// 1. once any data key is pinned, at least one configured key must be a
    ///    pinned one ([`StoreError::KeyMismatch`]: a replica whose Secret was
    ///    not mounted generated a fresh key);
    /// 2. every pinned key that is not configured must be marked drained by
    ///    the re-seal job ([`DataKeyError::StillInUse`], naming the key);
    /// 3. each configured key id is pinned to its key's fingerprint (a key id
    ///    already pinned to another key is [`StoreError::KeyMismatch`]).
    ///
    /// The current key's drained mark, if any, goes: it seals from now on. A
    /// retired key pinned here for the first time is marked drained at once:
    /// only a current key seals, so nothing can be under it yet.
    pub async fn pin_data_keys(&self) -> Result<(), DataKeyError> {
        let pins = DataPins::read(self).await?;
        let configured = self.privacy.fingerprints();
        let known = |fp: &String| pins.legacy.as_ref() == Some(fp) || pins.ids.values().any(|p| p == fp);
        if (pins.legacy.is_some() || !pins.ids.is_empty()) && !configured.iter().any(|(_, fp)| known(fp)) {
            return Err(StoreError::KeyMismatch("data".into()).into());
        }
        let mut gone: Vec<&String> = pins
            .ids
            .keys()
            .filter(|id| !configured.iter().any(|(c, _)| c.hex() == **id) && !pins.drained.contains(*id))
            .collect();
        gone.sort();
        if let Some(id) = gone.first() {
            return Err(DataKeyError::StillInUse(format!("data key {id}")));
        }
        if let Some(fp) = &pins.legacy
            && !configured.iter().any(|(_, c)| c == fp)
            && !pins.drained.contains(LEGACY)
        {
            return Err(DataKeyError::StillInUse(format!(
                "the data key of fingerprint {}… (data sealed before key ids)",
                &fp[..fp.len().min(16)]
            )));
        }
        for (id, fp) in &configured {
            self.pin_key(&format!("{PIN}{id}"), fp).await?;
        }
        // Only a current key seals: one first seen as retired holds nothing yet
        // (a rotation's first step, which can be rolled back).
        let unused: Vec<kf::ActiveModel> = configured[1..]
            .iter()
            .filter(|(id, _)| !pins.ids.contains_key(&id.hex()))
            .map(|(id, fp)| mark(&id.hex(), fp))
            .collect();
        if !unused.is_empty() {
            kf::Entity::insert_many(unused)
                .on_conflict(OnConflict::column(kf::Column::Name).do_nothing().to_owned())
                .exec_without_returning(&self.db)
                .await?;
        }
        kf::Entity::delete_many()
            .filter(kf::Column::Name.eq(format!("{DRAINED}{}", self.privacy.current_id())))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Records that nothing is left under any data key but the current one:
    /// a replica may now start without them.
    pub async fn mark_retired_drained(&self) -> Result<(), DbErr> {
        let pins = DataPins::read(self).await?;
        let current = self.privacy.current_id().hex();
        let current_fp = &self.privacy.fingerprints()[0].1;
        let mut marks: Vec<kf::ActiveModel> = pins
            .ids
            .iter()
            .filter(|(id, _)| **id != current && !pins.drained.contains(*id))
            .map(|(id, fp)| mark(id, fp))
            .collect();
        if let Some(fp) = pins.legacy.as_ref().filter(|fp| *fp != current_fp)
            && !pins.drained.contains(LEGACY)
        {
            marks.push(mark(LEGACY, fp));
        }
        if marks.is_empty() {
            return Ok(());
        }
        kf::Entity::insert_many(marks)
            .on_conflict(OnConflict::column(kf::Column::Name).do_nothing().to_owned())
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// Takes back the drained marks of keys data was found under again (an
    /// older replica kept sealing with one while the rotation rolled out).
    pub async fn clear_drained(&self, keys: &BTreeSet<String>) -> Result<(), DbErr> {
        if keys.is_empty() {
            return Ok(());
        }
        kf::Entity::delete_many()
            .filter(kf::Column::Name.is_in(keys.iter().map(|k| format!("{DRAINED}{k}"))))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// How application `id`'s declaration is stored (which key sealed it).
    pub async fn sealing(&self, id: &str) -> Result<Option<Sealing>, DbErr> {
        let sealed: Option<Vec<u8>> = application::Entity::find_by_id(id.to_owned())
            .select_only()
            .column(application::Column::Declaration)
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(sealed.map(|s| Sealing::of(&s)))
    }

    /// What the re-seal job has left to do (three counts, each a scan).
    pub async fn data_left(&self) -> Result<Left, DbErr> {
        let owner_prefix = format!("{}%", self.privacy.current_owner_prefix());
        Ok(Left {
            applications: application::Entity::find()
                .filter(self.not_sealed_under_current())
                .count(&self.db)
                .await?,
            draws: draw::Entity::find()
                .filter(draw::Column::OwnerKey.not_like(owner_prefix.clone()))
                .count(&self.db)
                .await?,
            plates: plate::Entity::find()
                .filter(plate::Column::OwnerKey.not_like(owner_prefix))
                .count(&self.db)
                .await?,
        })
    }

    /// `substr(declaration, 1, 8) <> <current prefix>` (bytes, on both databases).
    fn not_sealed_under_current(&self) -> sea_orm::sea_query::SimpleExpr {
        let head = Func::cust(Alias::new("substr"))
            .arg(Expr::col(application::Column::Declaration))
            .arg(1)
            .arg(8);
        Expr::expr(head).ne(self.privacy.current_prefix().to_vec())
    }

    /// Re-seals up to `limit` applications after `after` (by id) that are not
    /// sealed under the current key, with their vehicle hashes, in one
    /// transaction. Each row is written only if its version is still the one
    /// read (and its version moves on, so a writer holding the old row does
    /// not put its old vehicle hash back): replicas doing this at once never
    /// undo each other.
    pub async fn reseal_applications(&self, after: Option<&str>, limit: u64) -> Result<Batch<String>, DbErr> {
        use application::Column as C;
        let mut q = application::Entity::find()
            .select_only()
            .column(C::Id)
            .column(C::Declaration)
            .column(C::VehicleKey)
            .column(C::Version)
            .filter(self.not_sealed_under_current());
        if let Some(a) = after {
            q = q.filter(C::Id.gt(a));
        }
        let rows: Vec<(String, Vec<u8>, Option<String>, i64)> =
            q.order_by_asc(C::Id).limit(limit).into_tuple().all(&self.db).await?;
        let mut batch = Batch {
            next: (rows.len() as u64 == limit)
                .then(|| rows.last().map(|r| r.0.clone()))
                .flatten(),
            ..Batch::default()
        };
        struct Reseal {
            id: String,
            version: i64,
            sealed: Vec<u8>,
            vehicle_key: Option<String>,
        }
        let mut todo = Vec::new();
        for (id, stored, vehicle_key, version) in rows {
            batch.seen.insert(key_label(Sealing::of(&stored)));
            let plain = match self.privacy.open(&stored, &id) {
                Ok(p) => p,
                Err(e) => {
                    batch.stuck.push(format!("application {id}: {e}"));
                    continue;
                }
            };
            let vehicle_key = match vehicle_key {
                None => None,
                Some(_) => match chassis(&plain) {
                    Some(c) => Some(self.privacy.vehicle_key(&c)),
                    None => {
                        batch
                            .stuck
                            .push(format!("application {id}: its declaration names no vehicle"));
                        continue;
                    }
                },
            };
            let sealed = self.seal(&plain, &id)?;
            todo.push(Reseal {
                id,
                version,
                sealed,
                vehicle_key,
            });
        }
        // A vehicle hash under the current key already held by another active
        // application: two were filed for one vehicle while the key rotated
        // (the unique index compares hashes under one key). Left for a clerk.
        let new_keys: Vec<&str> = todo.iter().filter_map(|r| r.vehicle_key.as_deref()).collect();
        let mut holders: HashMap<String, String> = if new_keys.is_empty() {
            HashMap::new()
        } else {
            application::Entity::find()
                .select_only()
                .column(C::VehicleKey)
                .column(C::Id)
                .filter(C::VehicleKey.is_in(new_keys))
                .into_tuple::<(String, String)>()
                .all(&self.db)
                .await?
                .into_iter()
                .collect()
        };
        todo.retain(|r| {
            let Some(key) = &r.vehicle_key else { return true };
            match holders.get(key) {
                Some(other) if *other != r.id => {
                    batch.stuck.push(format!(
                        "applications {} and {other} are both active for one vehicle (filed while the data key \
                         was rotated): a clerk must end one; {} stays under its old key until then",
                        r.id, r.id
                    ));
                    false
                }
                _ => {
                    holders.insert(key.clone(), r.id.clone());
                    true
                }
            }
        });
        if todo.is_empty() {
            return Ok(batch);
        }
        let txn = self.begin_write().await?;
        for r in todo {
            let done = application::Entity::update_many()
                .col_expr(C::Declaration, Expr::value(r.sealed))
                .col_expr(C::VehicleKey, Expr::value(r.vehicle_key))
                .col_expr(C::Version, Expr::col(C::Version).add(1))
                .filter(C::Id.eq(r.id.as_str()))
                .filter(C::Version.eq(r.version))
                .exec(&txn)
                .await?;
            if done.rows_affected == 1 {
                batch.rewritten += 1;
            } else {
                batch.raced += 1;
            }
        }
        txn.commit().await?;
        Ok(batch)
    }

    /// Rewrites the owner hashes of up to `limit` draws after `after` (by
    /// application id) that are not under the current key, from their
    /// applications' declarations; each only if it still holds the hash read.
    pub async fn rehash_draws(&self, after: Option<&str>, limit: u64) -> Result<Batch<String>, DbErr> {
        use draw::Column as C;
        let mut q = draw::Entity::find()
            .select_only()
            .column(C::ApplicationId)
            .column(C::OwnerKey)
            .filter(C::OwnerKey.not_like(format!("{}%", self.privacy.current_owner_prefix())));
        if let Some(a) = after {
            q = q.filter(C::ApplicationId.gt(a));
        }
        let rows: Vec<(String, String)> = q
            .order_by_asc(C::ApplicationId)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut batch = Batch {
            next: (rows.len() as u64 == limit)
                .then(|| rows.last().map(|r| r.0.clone()))
                .flatten(),
            ..Batch::default()
        };
        let owners = self.owners(rows.iter().map(|r| r.0.as_str())).await?;
        let mut todo = Vec::new();
        for (id, old) in rows {
            batch.seen.insert(hash_label(&old));
            match owners.get(&id) {
                Some(Ok(owner)) => todo.push((id, old, self.privacy.owner_key(owner))),
                Some(Err(e)) => batch.stuck.push(format!("draw of application {id}: {e}")),
                None => batch
                    .stuck
                    .push(format!("draw of application {id}: no such application")),
            }
        }
        if todo.is_empty() {
            return Ok(batch);
        }
        let txn = self.begin_write().await?;
        for (id, old, new) in todo {
            let done = draw::Entity::update_many()
                .col_expr(C::OwnerKey, Expr::value(new))
                .filter(C::ApplicationId.eq(id))
                .filter(C::OwnerKey.eq(old))
                .exec(&txn)
                .await?;
            tally(&mut batch, done.rows_affected);
        }
        txn.commit().await?;
        Ok(batch)
    }

    /// Rewrites the owner hashes of up to `limit` plates after `after` (by
    /// pool and number) that are not under the current key, from the
    /// declaration of the application each was issued to; each only if it
    /// still holds the hash read. An auction win not yet issued has no
    /// application, so no owner id to hash again: it stays under its key
    /// (stuck) until its winner's application takes it.
    pub async fn rehash_plates(&self, after: Option<(String, i32)>, limit: u64) -> Result<Batch<(String, i32)>, DbErr> {
        use plate::Column as C;
        let mut q = plate::Entity::find()
            .select_only()
            .column(C::PoolId)
            .column(C::Number)
            .column(C::Plate)
            .column(C::ApplicationId)
            .column(C::OwnerKey)
            .filter(C::OwnerKey.not_like(format!("{}%", self.privacy.current_owner_prefix())));
        if let Some((pool, number)) = after {
            q = q.filter(
                Condition::any().add(C::PoolId.gt(pool.as_str())).add(
                    Condition::all()
                        .add(C::PoolId.eq(pool.as_str()))
                        .add(C::Number.gt(number)),
                ),
            );
        }
        let rows: Vec<(String, i32, String, String, String)> = q
            .order_by_asc(C::PoolId)
            .order_by_asc(C::Number)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut batch = Batch {
            next: (rows.len() as u64 == limit)
                .then(|| rows.last().map(|r| (r.0.clone(), r.1)))
                .flatten(),
            ..Batch::default()
        };
        let owners = self
            .owners(rows.iter().map(|r| r.3.as_str()).filter(|a| !a.is_empty()))
            .await?;
        let mut todo = Vec::new();
        for (pool, number, text, app, old) in rows {
            batch.seen.insert(hash_label(&old));
            if app.is_empty() {
                batch.stuck.push(format!(
                    "auction win {text}: recorded before the rotation and not yet issued, its owner's id is \
                     not stored, so its hash is rewritten only once its winner's application takes it"
                ));
                continue;
            }
            match owners.get(&app) {
                Some(Ok(owner)) => todo.push((pool, number, old, self.privacy.owner_key(owner))),
                Some(Err(e)) => batch.stuck.push(format!("plate {text}: {e}")),
                None => batch.stuck.push(format!("plate {text}: application {app} not found")),
            }
        }
        if todo.is_empty() {
            return Ok(batch);
        }
        let txn = self.begin_write().await?;
        for (pool, number, old, new) in todo {
            let done = plate::Entity::update_many()
                .col_expr(C::OwnerKey, Expr::value(new))
                .filter(C::PoolId.eq(pool))
                .filter(C::Number.eq(number))
                .filter(C::OwnerKey.eq(old))
                .exec(&txn)
                .await?;
            tally(&mut batch, done.rows_affected);
        }
        txn.commit().await?;
        Ok(batch)
    }

    /// The owner ids of applications `ids`, from their declarations (or why not).
    async fn owners<'a>(
        &self,
        ids: impl Iterator<Item = &'a str>,
    ) -> Result<HashMap<String, Result<String, String>>, DbErr> {
        let ids: HashSet<&str> = ids.collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(String, Vec<u8>)> = application::Entity::find()
            .select_only()
            .column(application::Column::Id)
            .column(application::Column::Declaration)
            .filter(application::Column::Id.is_in(ids))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, stored)| {
                let owner = self
                    .privacy
                    .open(&stored, &id)
                    .map_err(|e| format!("application {id}: {e}"))
                    .and_then(|plain| {
                        pb::SubmitApplicationRequest::decode(plain.as_slice())
                            .map(|req| crate::domain::declaration::owner_id(&req))
                            .ok()
                            .filter(|o| !o.is_empty())
                            .ok_or_else(|| format!("application {id}: its declaration names no owner"))
                    });
                (id, owner)
            })
            .collect())
    }

    /// Whether an active application holds the vehicle of `declaration` (an
    /// open, encoded request) hashed under a retired key: filed before the
    /// rotation and not yet re-sealed, it is invisible to the unique index,
    /// which compares hashes under one key. `except`: the application being
    /// corrected. Always false without retired keys (no statement).
    pub(super) async fn vehicle_active_under_retired(
        &self,
        declaration: &[u8],
        except: Option<&str>,
    ) -> Result<bool, DbErr> {
        use application::Column as C;
        if !self.privacy.has_retired() {
            return Ok(false);
        }
        let Some(chassis) = chassis(declaration) else {
            return Ok(false);
        };
        let mut q = application::Entity::find()
            .select_only()
            .column(C::Id)
            .filter(C::VehicleKey.is_in(self.privacy.retired_vehicle_keys(&chassis)));
        if let Some(id) = except {
            q = q.filter(C::Id.ne(id));
        }
        Ok(q.into_tuple::<String>().one(&self.db).await?.is_some())
    }
}

/// The data key pins of a database.
struct DataPins {
    /// Fingerprint of the key of the versions before key ids.
    legacy: Option<String>,
    /// Key id (hex) → fingerprint.
    ids: HashMap<String, String>,
    /// Key ids (or `legacy`) the re-seal job found nothing left under.
    drained: HashSet<String>,
}

impl DataPins {
    async fn read(store: &Store) -> Result<DataPins, DbErr> {
        let rows = kf::Entity::find()
            .filter(
                Condition::any()
                    .add(kf::Column::Name.eq(LEGACY_PIN))
                    .add(kf::Column::Name.starts_with(PIN))
                    .add(kf::Column::Name.starts_with(DRAINED)),
            )
            .all(&store.db)
            .await?;
        let mut pins = DataPins {
            legacy: None,
            ids: HashMap::new(),
            drained: HashSet::new(),
        };
        for row in rows {
            if row.name == LEGACY_PIN {
                pins.legacy = Some(row.sha256);
            } else if let Some(id) = row.name.strip_prefix(PIN) {
                pins.ids.insert(id.to_owned(), row.sha256);
            } else if let Some(id) = row.name.strip_prefix(DRAINED) {
                pins.drained.insert(id.to_owned());
            }
        }
        Ok(pins)
    }
}

fn mark(key: &str, fingerprint: &str) -> kf::ActiveModel {
    kf::ActiveModel {
        name: Set(format!("{DRAINED}{key}")),
        sha256: Set(fingerprint.to_owned()),
        pinned_at_ms: Set(crate::now_ms()),
    }
}

fn tally<C>(batch: &mut Batch<C>, rows_affected: u64) {
    if rows_affected == 1 {
        batch.rewritten += 1;
    } else {
        batch.raced += 1;
    }
}

/// The key a sealed value is under, as the drained marks name it.
fn key_label(sealing: Sealing) -> String {
    match sealing {
        Sealing::V2(id) => id.hex(),
        Sealing::V1 | Sealing::NotSealed => LEGACY.to_owned(),
    }
}

/// The key an owner hash is under: `<id>:<hmac>`, or a bare HMAC from before ids.
fn hash_label(owner_key: &str) -> String {
    owner_key
        .split_once(':')
        .map_or_else(|| LEGACY.to_owned(), |(id, _)| id.to_owned())
}

/// The (normalised) chassis number of an open, encoded declaration.
fn chassis(declaration: &[u8]) -> Option<String> {
    pb::SubmitApplicationRequest::decode(declaration)
        .ok()?
        .vehicle
        .map(|v| v.chassis_number)
        .filter(|c| !c.is_empty())
}
