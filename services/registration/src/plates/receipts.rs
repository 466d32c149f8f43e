//! Receipts (draw spec §7): what a citizen keeps to check their draw offline.
//!
//! A receipt holds the commit and result entries, the set the commit named
//! (stored by the resolver), the result of the pool's previous commit, and the
//! results that took any candidate the draw skipped, each with its inclusion
//! proof under one signed checkpoint.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use vrs_draw::entry::{Entry, NONE};
use vrs_draw::pool::PoolState;
use vrs_draw::receipt::{BeaconEvidence, Receipt, ReceiptParts};

use super::{Method, Plates, internal, log, receipt_text};
use crate::error::Error;
use crate::store::entities::{draw, log_entry, pool_snapshot};

impl Plates {
    /// The receipt of a drawn plate, as JSON.
    pub async fn receipt_json(&self, application_id: &str) -> Result<String, Error> {
        receipt_text(&self.receipt(application_id).await?)
    }

    pub async fn receipt(&self, application_id: &str) -> Result<Receipt, Error> {
        let d = draw::Entity::find_by_id(application_id)
            .one(&self.db)
            .await?
            .filter(|d| d.method == Method::Draw.as_str())
            .ok_or_else(|| Error::NotFound(format!("drawn plate of application {application_id}")))?;
        self.receipt_of(&d).await
    }

    /// The receipt of a draw row already read (method `draw`).
    pub(super) async fn receipt_of(&self, d: &draw::Model) -> Result<Receipt, Error> {
        let result_seq = d
            .result_seq
            .ok_or_else(|| Error::Unavailable("the draw is not resolved yet".into()))?;
        let mut cp = log::latest_checkpoint(&self.db).await?;
        if cp.as_ref().is_none_or(|c| c.size <= result_seq) {
            cp = Some(self.checkpoint().await?);
        }
        let cp = cp.ok_or_else(|| internal("no checkpoint"))?;
        let pair = entries(self, &[d.commit_seq, result_seq]).await?;
        let (Some(commit_bytes), Some(result_bytes)) = (pair.get(&d.commit_seq), pair.get(&result_seq)) else {
            return Err(internal("draw entries missing from the log"));
        };
        let (Ok(Entry::DrawCommit(commit)), Ok(Entry::DrawResult(result))) =
            (Entry::decode(commit_bytes), Entry::decode(result_bytes))
        else {
            return Err(internal("the draw's entries are not a draw-commit and a draw-result"));
        };
        // The set the commit named: the resolver stored it at the first commit that named it.
        let snap = pool_snapshot::Entity::find()
            .filter(pool_snapshot::Column::PoolId.eq(d.pool_id.as_str()))
            .filter(pool_snapshot::Column::Seq.lte(d.commit_seq))
            .order_by_desc(pool_snapshot::Column::Seq)
            .one(&self.db)
            .await?
            .ok_or_else(|| internal("no pool snapshot for the draw's commit"))?;
        let set = PoolState::from_bitmap(&snap.bitmap).ok_or_else(|| internal("malformed pool snapshot"))?;
        // The results the receipt names: the previous commit's, and those that took skipped candidates.
        let skipped: Vec<i32> = vrs_draw::draw::candidates(result.seed, &set)
            .take(result.attempts.saturating_sub(1) as usize)
            .map(|(_, number)| number as i32)
            .collect();
        let mut wanted = sea_orm::Condition::any();
        if commit.previous_commit != NONE {
            wanted = wanted.add(draw::Column::CommitSeq.eq(commit.previous_commit as i64));
        }
        if !skipped.is_empty() {
            wanted = wanted.add(draw::Column::Number.is_in(skipped.iter().copied()));
        }
        // (commit index, number, result index) of the pool's draws the receipt names.
        let others: Vec<(i64, Option<i32>, Option<i64>)> = if wanted.is_empty() {
            Vec::new()
        } else {
            draw::Entity::find()
                .filter(draw::Column::PoolId.eq(d.pool_id.as_str()))
                .filter(wanted)
                .select_only()
                .column(draw::Column::CommitSeq)
                .column(draw::Column::Number)
                .column(draw::Column::ResultSeq)
                .into_tuple()
                .all(&self.db)
                .await?
        };
        let result_of = |found: Option<&(i64, Option<i32>, Option<i64>)>, what: &str| {
            found
                .and_then(|(_, _, r)| *r)
                .ok_or_else(|| internal(format!("{what} has no result in the draw table")))
        };
        let previous = (commit.previous_commit != NONE)
            .then(|| {
                let found = others.iter().find(|(c, _, _)| *c == commit.previous_commit as i64);
                result_of(found, "the previous commit")
            })
            .transpose()?;
        // A result that skips a candidate no draw took breaks the rules (someone
        // wrote it who should not have): the receipt is still given, and fails
        // its `taken` check, so that the citizen holds the evidence.
        let taken: Vec<i64> = skipped
            .iter()
            .filter_map(|n| {
                let found = others.iter().find(|(_, m, _)| *m == Some(*n)).and_then(|(_, _, r)| *r);
                if found.is_none() {
                    tracing::error!(
                        application_id = %d.application_id,
                        number = n,
                        "the draw's result skips a candidate no draw took: the log breaks the draw rules"
                    );
                }
                found
            })
            .collect();
        let more: Vec<i64> = previous.iter().chain(&taken).copied().collect();
        let more = entries(self, &more).await?;
        let bytes_of = |seq: i64| {
            more.get(&seq)
                .map(|b| (seq as u64, b.as_slice()))
                .ok_or_else(|| internal("an entry the receipt names is missing"))
        };
        let previous = previous.map(bytes_of).transpose()?;
        let taken = taken.iter().map(|s| bytes_of(*s)).collect::<Result<Vec<_>, _>>()?;
        let salt: [u8; 32] = d.salt.as_slice().try_into().map_err(internal)?;
        let params = self.beacon.params();
        let ledger = self.sync(&self.db).await?;
        let receipt = Receipt::assemble(ReceiptParts {
            application_id: &d.application_id,
            salt: &salt,
            checkpoint: &cp.note,
            checkpoint_size: cp.size as u64,
            tree: ledger.tree(),
            commit: (d.commit_seq as u64, commit_bytes),
            result: (result_seq as u64, result_bytes),
            previous,
            taken,
            beacon: BeaconEvidence {
                beacon_id: params.beacon_id.clone(),
                scheme: params.scheme.clone(),
                public_key: hex::encode(&params.public_key),
                genesis_unix_ms: params.genesis_unix_ms,
                period_ms: params.period_ms,
                round: result.round,
                signature: hex::encode(&result.signature),
                randomness: hex::encode(result.randomness),
            },
            pool_bitmap: &set.bitmap(),
            plate: &result.plate,
        })
        .ok_or_else(|| internal("entries not under the checkpoint"))?;
        Ok(receipt)
    }
}

/// Log entries by index.
async fn entries(plates: &Plates, seqs: &[i64]) -> Result<HashMap<i64, Vec<u8>>, Error> {
    if seqs.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(log_entry::Entity::find()
        .filter(log_entry::Column::Seq.is_in(seqs.iter().copied()))
        .all(&plates.db)
        .await?
        .into_iter()
        .map(|e| (e.seq, e.entry))
        .collect())
}
