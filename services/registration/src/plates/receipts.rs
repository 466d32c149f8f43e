//! Receipts (draw spec §7): what a citizen keeps to check their draw offline.
//!
//! A receipt holds the commit and result entries, the set the commit named
//! (stored by the resolver), the result of the pool's previous commit, and the
//! results that took any candidate the draw skipped, each with its inclusion
//! proof under one signed checkpoint, and the log key's rotations up to it.
//!
//! Receipts are built a batch at a time: the entries, sets and checkpoint of
//! a whole resolved batch are read with a handful of statements and every
//! proof comes from one pass over the mirror. Built per waiting call, a
//! 10,000-draw storm read the same checkpoint and sets 10,000 times.

use std::collections::{BTreeSet, HashMap};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use vrs_draw::entry::{DrawResult, Entry, NONE};
use vrs_draw::pool::PoolState;
use vrs_draw::receipt::{BeaconEvidence, Receipt, ReceiptParts};

use super::{Method, Plates, internal, log, receipt_text};
use crate::error::Error;
use crate::store::entities::{draw, log_entry, pool_snapshot};

/// One draw's decoded entries and where its other entries are.
struct Parts {
    row: draw::Model,
    result_seq: i64,
    result: DrawResult,
    previous: Option<i64>,
    /// Candidates the draw skipped (rare: taken by a draw committed just before).
    skipped: Vec<i32>,
    taken: Vec<i64>,
    set: std::sync::Arc<PoolState>,
}

impl Plates {
    /// The receipt of a drawn plate, as JSON.
    pub async fn receipt_json(&self, application_id: &str) -> Result<String, Error> {
        receipt_text(&self.receipt(application_id).await?)
    }

    pub async fn receipt(&self, application_id: &str) -> Result<Receipt, Error> {
        let d = draw::Entity::find_by_id(application_id)
            .one(self.db())
            .await?
            .filter(|d| d.method == Method::Draw.as_str())
            .ok_or_else(|| Error::NotFound(format!("drawn plate of application {application_id}")))?;
        let mut built = self.receipts_of(vec![d]).await?;
        built
            .remove(application_id)
            .ok_or_else(|| Error::Unavailable("the draw is not resolved yet".into()))
    }

    /// The receipts of resolved draw rows (method `draw`), by application id;
    /// rows not resolved yet are left out.
    pub(super) async fn receipts_of(&self, rows: Vec<draw::Model>) -> Result<HashMap<String, Receipt>, Error> {
        let rows: Vec<(draw::Model, i64)> = rows
            .into_iter()
            .filter(|d| d.method == Method::Draw.as_str())
            .filter_map(|d| d.result_seq.map(|r| (d, r)))
            .collect();
        if rows.is_empty() {
            return Ok(HashMap::new());
        }
        let top = rows.iter().map(|(_, r)| *r).max().unwrap_or(0);
        let mut cp = log::latest_checkpoint(self.db()).await?;
        if cp.as_ref().is_none_or(|c| c.size <= top) {
            cp = Some(self.checkpoint().await?);
        }
        let cp = cp.ok_or_else(|| internal("no checkpoint"))?;

        // One read for every draw's commit, result, and previous commit's result
        // (recorded with the result).
        let wanted: Vec<i64> = rows
            .iter()
            .flat_map(|(d, r)| [Some(d.commit_seq), Some(*r), d.previous_result_seq])
            .flatten()
            .collect();
        let mut read = entries(self, &wanted).await?;
        let sets = self.sets_named(&rows).await?;

        let mut parts: Vec<Parts> = Vec::with_capacity(rows.len());
        // Skipped candidates, per pool: the results that took them are looked up together.
        let mut skipped_by_pool: HashMap<String, BTreeSet<i32>> = HashMap::new();
        for (d, result_seq) in rows {
            let (Some(commit_bytes), Some(result_bytes)) = (read.get(&d.commit_seq), read.get(&result_seq)) else {
                return Err(internal("draw entries missing from the log"));
            };
            let (Ok(Entry::DrawCommit(commit)), Ok(Entry::DrawResult(result))) =
                (Entry::decode(commit_bytes), Entry::decode(result_bytes))
            else {
                return Err(internal("the draw's entries are not a draw-commit and a draw-result"));
            };
            let set = sets
                .get(&(d.pool_id.clone(), d.commit_seq))
                .cloned()
                .ok_or_else(|| internal("no pool snapshot for the draw's commit"))?;
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
            let skipped: Vec<i32> = vrs_draw::draw::candidates(result.seed, &set)
                .take(result.attempts.saturating_sub(1) as usize)
                .map(|(_, number)| number as i32)
                .collect();
            skipped_by_pool
                .entry(d.pool_id.clone())
                .or_default()
                .extend(skipped.iter().copied());
            parts.push(Parts {
                row: d,
                result_seq,
                result,
                previous,
                skipped,
                taken: Vec::new(),
                set,
            });
        }
        let mut taking: HashMap<(String, i32), i64> = HashMap::new();
        for (pool_id, numbers) in skipped_by_pool.into_iter().filter(|(_, n)| !n.is_empty()) {
            for (number, seq) in self
                .results_of(&pool_id, draw::Column::Number.is_in(numbers.iter().copied()))
                .await?
            {
                if let Some(n) = number {
                    taking.insert((pool_id.clone(), n), seq);
                }
            }
        }
        for p in &mut parts {
            // A result that skips a candidate no draw took breaks the rules (someone
            // wrote it who should not have): the receipt is still given, and fails
            // its `taken` check, so that the citizen holds the evidence.
            for &n in &p.skipped {
                match taking.get(&(p.row.pool_id.clone(), n)) {
                    Some(seq) => p.taken.push(*seq),
                    None => tracing::error!(
                        application_id = %p.row.application_id,
                        number = n,
                        "the draw's result skips a candidate no draw took: the log breaks the draw rules"
                    ),
                }
            }
        }
        let missing: Vec<i64> = parts
            .iter()
            .flat_map(|p| p.previous.iter().chain(&p.taken))
            .filter(|s| !read.contains_key(s))
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        read.extend(entries(self, &missing).await?);

        let params = self.beacon.params();
        // The log key's rotations up to the checkpoint, for verifiers pinned to an earlier key.
        let (rotations, ledger) = self.synced_with_rotations(cp.size as u64).await?;
        let mut out = HashMap::with_capacity(parts.len());
        for p in parts {
            let bytes_of = |seq: i64| {
                read.get(&seq)
                    .map(|b| (seq as u64, b.as_slice()))
                    .ok_or_else(|| internal("an entry the receipt names is missing"))
            };
            let salt: [u8; 32] = p.row.salt.as_slice().try_into().map_err(internal)?;
            let mut receipt = Receipt::assemble(ReceiptParts {
                application_id: &p.row.application_id,
                salt: &salt,
                checkpoint: &cp.note,
                checkpoint_size: cp.size as u64,
                tree: ledger.tree(),
                commit: bytes_of(p.row.commit_seq)?,
                result: bytes_of(p.result_seq)?,
                previous: p.previous.map(bytes_of).transpose()?,
                taken: p.taken.iter().map(|s| bytes_of(*s)).collect::<Result<Vec<_>, _>>()?,
                beacon: BeaconEvidence {
                    beacon_id: params.beacon_id.clone(),
                    scheme: params.scheme.clone(),
                    public_key: hex::encode(&params.public_key),
                    genesis_unix_ms: params.genesis_unix_ms,
                    period_ms: params.period_ms,
                    round: p.result.round,
                    signature: hex::encode(&p.result.signature),
                    randomness: hex::encode(p.result.randomness),
                },
                pool_bitmap: &p.set.bitmap(),
                plate: &p.result.plate,
            })
            .ok_or_else(|| internal("entries not under the checkpoint"))?;
            receipt.rotations = rotations.clone();
            out.insert(p.row.application_id.clone(), receipt);
        }
        Ok(out)
    }

    /// The set each draw's commit named, by (pool, commit index): the snapshot
    /// the resolver stored at the first commit that named it, i.e. the latest
    /// at or before the commit. Two statements for all the draws' pools: the
    /// snapshots' indexes, then the bitmaps needed, each read once.
    async fn sets_named(
        &self,
        rows: &[(draw::Model, i64)],
    ) -> Result<HashMap<(String, i64), std::sync::Arc<PoolState>>, Error> {
        let top = rows.iter().map(|(d, _)| d.commit_seq).max().unwrap_or(0);
        let pools: BTreeSet<&str> = rows.iter().map(|(d, _)| d.pool_id.as_str()).collect();
        let indexed: Vec<(String, i64)> = pool_snapshot::Entity::find()
            .select_only()
            .column(pool_snapshot::Column::PoolId)
            .column(pool_snapshot::Column::Seq)
            .filter(pool_snapshot::Column::PoolId.is_in(pools.iter().copied()))
            .filter(pool_snapshot::Column::Seq.lte(top))
            .into_tuple()
            .all(self.db())
            .await?;
        let mut seqs: HashMap<&str, Vec<i64>> = HashMap::new();
        for (pool_id, seq) in &indexed {
            seqs.entry(pool_id.as_str()).or_default().push(*seq);
        }
        for v in seqs.values_mut() {
            v.sort_unstable();
        }
        let at = |pool_id: &str, c: i64| {
            let v = seqs.get(pool_id)?;
            v.partition_point(|s| *s <= c).checked_sub(1).map(|i| v[i])
        };
        let needed: BTreeSet<(&str, i64)> = rows
            .iter()
            .filter_map(|(d, _)| at(&d.pool_id, d.commit_seq).map(|s| (d.pool_id.as_str(), s)))
            .collect();
        let mut sets: HashMap<(String, i64), std::sync::Arc<PoolState>> = HashMap::new();
        let needed: Vec<(&str, i64)> = needed.into_iter().collect();
        // A bitmap is 12.5 KB: a bounded number per statement.
        for chunk in needed.chunks(64) {
            let wanted = chunk.iter().fold(sea_orm::Condition::any(), |any, (pool_id, seq)| {
                any.add(
                    sea_orm::Condition::all()
                        .add(pool_snapshot::Column::PoolId.eq(*pool_id))
                        .add(pool_snapshot::Column::Seq.eq(*seq)),
                )
            });
            for snap in pool_snapshot::Entity::find().filter(wanted).all(self.db()).await? {
                let set = PoolState::from_bitmap(&snap.bitmap).ok_or_else(|| internal("malformed pool snapshot"))?;
                sets.insert((snap.pool_id, snap.seq), std::sync::Arc::new(set));
            }
        }
        let mut out = HashMap::new();
        for (d, _) in rows {
            if let Some(set) = at(&d.pool_id, d.commit_seq).and_then(|s| sets.get(&(d.pool_id.clone(), s))) {
                out.insert((d.pool_id.clone(), d.commit_seq), set.clone());
            }
        }
        Ok(out)
    }

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
            .all(self.db())
            .await?;
        Ok(rows.into_iter().filter_map(|(n, r)| Some((n, r?))).collect())
    }
}

/// Log entries by index.
async fn entries(plates: &Plates, seqs: &[i64]) -> Result<HashMap<i64, Vec<u8>>, Error> {
    if seqs.is_empty() {
        return Ok(HashMap::new());
    }
    let mut out = HashMap::with_capacity(seqs.len());
    // Bounded statements: a batch of thousands of draws names thousands of entries.
    for chunk in seqs.chunks(1_000) {
        out.extend(
            log_entry::Entity::find()
                .filter(log_entry::Column::Seq.is_in(chunk.iter().copied()))
                .all(plates.db())
                .await?
                .into_iter()
                .map(|e| (e.seq, e.entry)),
        );
    }
    Ok(out)
}
