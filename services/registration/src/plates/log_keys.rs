//! The log's signing key and its rotation (draw spec §6.4).
//!
//! The database pins the fingerprint of the key the log is signed with
//! (`log-signing` in `key_fingerprints`). A replica started with that key runs
//! as before. One started with a new key in `draw.log_key_file` and the
//! pinned one among `draw.retired_log_key_files` rotates: in one transaction,
//! under the log head's lock, it moves the pin, appends a key-rotation entry
//! and stores the handover checkpoint (the tree ending with that entry,
//! signed by both keys) in `checkpoints` and `log_key_rotations`. Signing the
//! handover inside the transaction means a rotation never exists without its
//! handover, and no checkpoint of that size signed by one key alone can be
//! written first. Moving the pin decides: of two replicas starting at once,
//! the second finds it moved and rotates nothing. Any other key is refused.
//!
//! A replica still running with the old key stops signing checkpoints once
//! the pin has moved ([`Plates::ensure_signing_key`]). Receipts carry every
//! rotation up to their checkpoint ([`Plates::synced_with_rotations`]), so a
//! verifier pinned to an earlier key follows the log to the current one.

use std::path::Path;

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use tokio::sync::MutexGuard;
use vrs_draw::audit::Ledger;
use vrs_draw::entry::{Entry, KeyRotation};
use vrs_draw::merkle::leaf_hash;
use vrs_draw::note::{Checkpoint, NoteSigner, sign_by_all};
use vrs_draw::receipt::Rotation;

use super::{DrawConfig, Plates, internal, log};
use crate::error::Error;
use crate::store::StoreError;
use crate::store::entities::{checkpoint, key_fingerprint, log_key_rotation};

/// The log key's pin in `key_fingerprints`.
const PIN: &str = "log-signing";
/// The reason logged with a rotation the configuration asks for.
const REASON: &str = "scheduled rotation";

/// A log signing key and what identifies it.
pub struct LogKey {
    pub signer: NoteSigner,
    /// SHA-256 of the seed, hex: what the database pins.
    fingerprint: String,
    /// Where it was read from, to name it in errors.
    file: String,
}

impl LogKey {
    fn new(name: &str, file: &str, seed: &[u8; 32]) -> anyhow::Result<LogKey> {
        Ok(LogKey {
            signer: NoteSigner::from_seed(name, seed)?,
            fingerprint: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(seed)),
            file: file.to_owned(),
        })
    }
}

/// The key the log is signed with, and the retired ones a rotation may hand over from.
pub struct LogKeys {
    pub current: LogKey,
    pub retired: Vec<LogKey>,
}

impl LogKeys {
    /// `draw.log_key_file` (generated at first start) and
    /// `draw.retired_log_key_files` (which must exist), all named `draw.log_key_name`.
    pub fn load(cfg: &DrawConfig) -> anyhow::Result<LogKeys> {
        let file = cfg.log_key_file.as_str();
        let seed = vrs_kit::keys::load_or_create_seed(Path::new(file))?;
        let current = LogKey::new(&cfg.log_key_name, file, &seed)?;
        let retired = cfg
            .retired_log_key_files
            .iter()
            .map(|f| f.trim())
            .filter(|f| !f.is_empty())
            .map(|f| {
                let seed = vrs_kit::keys::load_seed(Path::new(f))
                    .map_err(|e| anyhow::anyhow!("draw.retired_log_key_files: {e}"))?;
                LogKey::new(&cfg.log_key_name, f, &seed)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(LogKeys { current, retired })
    }
}

impl Plates {
    /// At start: keeps signing with the pinned key, or rotates to
    /// `draw.log_key_file` from the pinned one if it is retired; refuses any
    /// other key (see the module's documentation).
    pub async fn adopt_log_key(&self) -> anyhow::Result<()> {
        let current = &self.keys.current;
        // Each pass settles one step: pinned at first start, rotated, or found in force.
        for _ in 0..4 {
            let pinned = key_fingerprint::Entity::find_by_id(PIN).one(self.db()).await?;
            let Some(pinned) = pinned else {
                match self.store.pin_key(PIN, &current.fingerprint).await {
                    Ok(()) | Err(StoreError::KeyMismatch(_)) => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            if pinned.sha256 == current.fingerprint {
                self.load_handovers().await?;
                return Ok(());
            }
            match self.keys.retired.iter().find(|k| k.fingerprint == pinned.sha256) {
                Some(old) => self.rotate_from(old).await?,
                None => return Err(self.refusal().await),
            }
        }
        anyhow::bail!("the log key's pin keeps changing while this replica starts")
    }

    /// Why this replica's key is refused, as clearly as the log can say.
    async fn refusal(&self) -> anyhow::Error {
        let current = &self.keys.current;
        let ours = current.signer.verifier_key();
        let retired_at = log_key_rotation::Entity::find()
            .filter(log_key_rotation::Column::OldKey.eq(ours.as_str()))
            .one(self.db())
            .await;
        match retired_at {
            Ok(Some(r)) => anyhow::anyhow!(
                "the log signing key in draw.log_key_file ({}) was retired at entry {} of the transparency log, \
                 when the log was handed over to {}: start this replica with the current key in \
                 draw.log_key_file (the retired one may stay in draw.retired_log_key_files); refusing to start",
                current.file,
                r.seq,
                r.new_key
            ),
            _ => anyhow::anyhow!(
                "the log-signing key differs from the one this database's transparency log is signed with: \
                 neither the key in draw.log_key_file ({}) nor any of draw.retired_log_key_files is the key \
                 in force; every replica must run with the same key (mount the same Secret); to rotate the \
                 log key, start with the new key in draw.log_key_file and the key in force in \
                 draw.retired_log_key_files; refusing to start",
                current.file
            ),
        }
    }

    /// Rotates the log key from `old` to the current one, unless another
    /// replica has moved the pin first: one transaction under the log head's
    /// lock (the pin, the key-rotation entry, the handover checkpoint).
    async fn rotate_from(&self, old: &LogKey) -> anyhow::Result<()> {
        let new = &self.keys.current;
        let txn = self.store.begin_write().await?;
        let at = log::lock_head(&txn).await?;
        let now = crate::now_ms();
        let moved = key_fingerprint::Entity::update_many()
            .col_expr(key_fingerprint::Column::Sha256, Expr::value(new.fingerprint.clone()))
            .col_expr(key_fingerprint::Column::PinnedAtMs, Expr::value(now))
            .filter(key_fingerprint::Column::Name.eq(PIN))
            .filter(key_fingerprint::Column::Sha256.eq(old.fingerprint.as_str()))
            .exec(&txn)
            .await?
            .rows_affected;
        if moved == 0 {
            // Another replica rotated first; the caller reads the pin again.
            txn.rollback().await?;
            return Ok(());
        }
        let rotation = KeyRotation {
            old_key: old.signer.verifier_key(),
            new_key: new.signer.verifier_key(),
            reason: REASON.into(),
            at_ms: now as u64,
        };
        let entry = Entry::KeyRotation(rotation.clone());
        let root = {
            let ledger = self.sync(&txn).await?;
            anyhow::ensure!(
                ledger.size() == at,
                "the log has {} entries, its head says {at}",
                ledger.size()
            );
            ledger.tree().root_with(leaf_hash(&entry.encode()))
        };
        let handover = sign_by_all(
            &[&old.signer, &new.signer],
            &Checkpoint {
                origin: self.cfg.log_origin.clone(),
                size: at + 1,
                root,
            },
        );
        let index = log::append(&txn, &[entry], now).await?;
        anyhow::ensure!(index == at, "the log head moved under its lock");
        checkpoint::ActiveModel::from(checkpoint::Model {
            size: at as i64 + 1,
            root: root.to_vec(),
            note: handover.clone(),
            at_ms: now,
        })
        .insert(&txn)
        .await?;
        log_key_rotation::ActiveModel::from(log_key_rotation::Model {
            seq: at as i64,
            old_key: rotation.old_key.clone(),
            new_key: rotation.new_key.clone(),
            handover,
            at_ms: now,
        })
        .insert(&txn)
        .await?;
        txn.commit().await?;
        tracing::warn!(
            entry = at,
            old_key = %rotation.old_key,
            new_key = %rotation.new_key,
            "log key rotated: the handover checkpoint is signed by both keys, the old one signs no more"
        );
        Ok(())
    }

    /// Refuses to sign with a key the log no longer pins: another replica
    /// rotated it, and a checkpoint this one signed now would be the retired
    /// key's signature past its handover (spec §8 `retired-key`).
    pub(super) async fn ensure_signing_key(&self) -> Result<(), Error> {
        let pinned = key_fingerprint::Entity::find_by_id(PIN).one(self.db()).await?;
        if pinned.is_some_and(|p| p.sha256 == self.keys.current.fingerprint) {
            return Ok(());
        }
        tracing::error!(
            key_file = %self.keys.current.file,
            "this replica's log signing key was rotated out: it signs no more checkpoints; restart it with the current key"
        );
        Err(Error::Unavailable(
            "this replica's log signing key was retired by a key rotation; it signs no checkpoint (use another replica)"
                .into(),
        ))
    }

    /// Reads every rotation's handover into memory (they change only when a replica rotates at start).
    async fn load_handovers(&self) -> Result<(), sea_orm::DbErr> {
        let rows = log_key_rotation::Entity::find()
            .order_by_asc(log_key_rotation::Column::Seq)
            .all(self.db())
            .await?;
        let mut handovers = self
            .handovers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *handovers = rows.into_iter().map(|r| (r.seq as u64, r.handover)).collect();
        Ok(())
    }

    /// The rotations a receipt under a checkpoint of `size` carries (spec
    /// §7.1): every one whose handover is no larger. `None` when a rotation
    /// of the log has no handover in memory (rotated by a replica started
    /// after this one).
    fn rotations_under(&self, ledger: &Ledger, size: u64) -> Option<Vec<Rotation>> {
        let handovers = self.handovers.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        ledger
            .rotations()
            .iter()
            .take_while(|(at, _)| *at < size)
            .map(|(at, r)| {
                let bytes = Entry::KeyRotation(r.clone()).encode();
                Rotation::assemble(ledger.tree(), *at, &bytes, handovers.get(at)?)
            })
            .collect()
    }

    /// The mirror brought up to date, and the rotations a receipt under a
    /// checkpoint of `size` carries.
    pub(super) async fn synced_with_rotations(
        &self,
        size: u64,
    ) -> Result<(Vec<Rotation>, MutexGuard<'_, Ledger>), Error> {
        let ledger = self.sync(self.db()).await?;
        if let Some(rotations) = self.rotations_under(&ledger, size) {
            return Ok((rotations, ledger));
        }
        // Not while holding the mirror (see `sync`).
        drop(ledger);
        self.load_handovers().await?;
        let ledger = self.sync(self.db()).await?;
        let rotations = self
            .rotations_under(&ledger, size)
            .ok_or_else(|| internal("a key rotation of the log has no handover checkpoint"))?;
        Ok((rotations, ledger))
    }

    /// The log key's whole chain of rotations, oldest first: what a verifier
    /// pinned to an earlier key follows to the current one.
    pub async fn rotations(&self) -> Result<Vec<Rotation>, Error> {
        Ok(self.synced_with_rotations(u64::MAX).await?.0)
    }
}
