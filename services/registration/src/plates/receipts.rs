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
        // One read for the entries: the commit, the result, and the result of the
        // pool's previous commit, recorded with the result.
        let mut wanted = vec![d.commit_seq, result_seq];
        wanted.extend(d.previous_result_seq);
        let mut read = entries(self, &wanted).await?;
        let (Some(commit_bytes), Some(result_bytes)) = (read.get(&d.commit_seq), read.get(&result_seq)) else {
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
        let previous = match (commit.previous_commit, d.previous_result_seq) {
            (NONE, _) => None,
            (_, Some(seq)) => Some(seq),
            // A row resolved without it (or written by someone else): look it up.
            (c, None) => Some(
                self.results_of(&d.pool_id, draw::Column::CommitSeq.eq(c as i64))
                    .await?
                    .first()
                    .map(|(_, seq)| *seq)
                    .ok_or_else(|| internal("the previous commit has no result"))?,
            ),
        };
        // The results that took skipped candidates (rare: a draw skips a number
        // only when a draw committed just before it took it).
        let skipped: Vec<i32> = vrs_draw::draw::candidates(result.seed, &set)
            .take(result.attempts.saturating_sub(1) as usize)
            .map(|(_, number)| number as i32)
            .collect();
        let taking = if skipped.is_empty() {
            Vec::new()
        } else {
            self.results_of(&d.pool_id, draw::Column::Number.is_in(skipped.iter().copied()))
                .await?
        };
        // A result that skips a candidate no draw took breaks the rules (someone
        // wrote it who should not have): the receipt is still given, and fails
        // its `taken` check, so that the citizen holds the evidence.
        let taken: Vec<i64> = skipped
            .iter()
            .filter_map(|n| {
                let found = taking.iter().find(|(m, _)| *m == Some(*n)).map(|(_, seq)| *seq);
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
        let missing: Vec<i64> = previous
            .iter()
            .chain(&taken)
            .filter(|s| !read.contains_key(s))
            .copied()
            .collect();
        read.extend(entries(self, &missing).await?);
        let bytes_of = |seq: i64| {
            read.get(&seq)
                .map(|b| (seq as u64, b.as_slice()))
                .ok_or_else(|| internal("an entry the receipt names is missing"))
        };
        let (commit_bytes, result_bytes) = (bytes_of(d.commit_seq)?.1, bytes_of(result_seq)?.1);
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

impl Plates {
    /// (number, result index) of the pool's resolved draws matching `condition`.
    async fn results_of(
        &self,
        pool_id: &str,
        condition: sea_orm::sea_query::SimpleExpr,
    ) -> Result<Vec<(Option<i32>, i64)>, Error> {
        let rows: Vec<(Option<i32>, Option<i64>)> = draw::Entity::find()
            .filter(draw::Column::PoolId.eq(pool_id))
            .filter(condition)
            .select_only()
            .column(draw::Column::Number)
            .column(draw::Column::ResultSeq)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().filter_map(|(n, r)| Some((n, r?))).collect())
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
