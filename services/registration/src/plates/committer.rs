//! The committer: batches concurrent DrawPlate requests into one transaction
//! that appends their `draw-commit` entries (draw spec §5.1).
//!
//! A commit names its pool's available set and the pool's previous commit, so
//! it is built while the log's head is locked, from the mirror brought up to
//! that head: nobody else can append in between. A commit is refused when the
//! pool could not answer it (every available number already owed to a draw
//! committed before it): under the rule that results follow commit order, such
//! a commit would hold up the pool for good.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::{CaseStatement, Expr, OnConflict};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Set};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use vrs_draw::entry::{DrawCommit, Entry};
use vrs_draw::receipt::RULES_VERSION;
use vrs_draw::sampler::application_commitment;

use super::{Method, Plates, log, random32};
use crate::store::entities::draw;

/// A DrawPlate request waiting for its commit.
pub(super) struct CommitRequest {
    pub application_id: String,
    pub pool_id: String,
    pub owner_key: String,
    /// The beacon round of the commit, or why there is none.
    pub reply: oneshot::Sender<Result<i64, CommitError>>,
}

/// Why a request got no commit.
#[derive(Debug, Clone)]
pub(super) enum CommitError {
    /// Every available number of the pool is owed to draws committed earlier.
    NoRoom,
    /// The application's draw was committed before (a repeated call).
    Exists,
    /// The batch could not be stored.
    Failed,
}

impl Plates {
    /// Batches DrawPlate requests into commit transactions until `shutdown`.
    pub async fn run_committer(self: Arc<Self>, shutdown: CancellationToken) {
        let Some(mut rx) = self.commit_rx.lock().ok().and_then(|mut g| g.take()) else {
            tracing::error!("committer started twice");
            return;
        };
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = rx.recv() => match r { Some(r) => r, None => break },
            };
            let mut batch = vec![first];
            // Gather what arrives within `commit_gather_ms`: concurrent calls then
            // share one transaction (its statements and the head's lock) instead
            // of taking turns. A commit lands rounds ahead of its round, so the
            // wait costs a call nothing.
            let deadline = tokio::time::Instant::now() + Duration::from_millis(self.cfg.commit_gather_ms);
            while batch.len() < self.cfg.commit_batch.max(1) {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(r)) => batch.push(r),
                        Ok(None) | Err(_) => break,
                    },
                }
            }
            let mut outcome = self.commit_batch(&batch).await;
            for _ in 0..3 {
                if outcome.is_ok() {
                    break;
                }
                // A serialisation failure against another replica's batch: try again; claims
                // already made elsewhere are skipped.
                tokio::time::sleep(Duration::from_millis(fastrand::u64(10..50))).await;
                outcome = self.commit_batch(&batch).await;
            }
            let (refused, existing, round) = match outcome {
                Ok(done) => done,
                Err(e) => {
                    tracing::error!(error = ?e, size = batch.len(), "commit batch failed");
                    for r in batch {
                        let _ = r.reply.send(Err(CommitError::Failed));
                    }
                    continue;
                }
            };
            for r in batch {
                let answer = if refused.contains(&r.application_id) {
                    Err(CommitError::NoRoom)
                } else if existing.contains(&r.application_id) {
                    Err(CommitError::Exists)
                } else {
                    Ok(round)
                };
                let _ = r.reply.send(answer);
            }
        }
        tracing::info!("committer stopped");
    }

    /// Claims the batch's applications and appends their commits; returns the
    /// applications refused because their pool has no room left.
    async fn commit_batch(&self, batch: &[CommitRequest]) -> Result<(HashSet<String>, HashSet<String>, i64), DbErr> {
        let now = crate::now_ms();
        let params = self.beacon.params();
        // A round well after now: the commit is public before the randomness exists,
        // and the round comes out more than a period after the commit (spec §5.3).
        let round = params.round_at(now) + self.cfg.rounds_ahead.max(2);
        // Bring the mirror up to date first: under the head's lock below, only
        // what other replicas appended meanwhile is left to read, and the lock
        // every replica's appends wait for is held briefly.
        drop(self.sync(self.db()).await?);
        let txn = self.store.begin_write().await?;
        // Claim the applications first. A claim another replica holds makes this
        // insert wait for its transaction and then skip the row, never fail.
        let mut salts = HashMap::new();
        let mut claims = Vec::new();
        for r in batch {
            if salts.contains_key(&r.application_id) {
                continue;
            }
            let salt = random32().map_err(|e| DbErr::Custom(e.to_string()))?;
            salts.insert(r.application_id.clone(), salt);
            claims.push(draw::ActiveModel {
                application_id: Set(r.application_id.clone()),
                pool_id: Set(r.pool_id.clone()),
                method: Set(Method::Draw.as_str().into()),
                owner_key: Set(r.owner_key.clone()),
                salt: Set(salt.to_vec()),
                beacon_id: Set(params.beacon_id.clone()),
                round: Set(round as i64),
                commit_seq: Set(-1),
                result_seq: Set(None),
                number: Set(None),
                plate: Set(None),
                at_ms: Set(now),
                resolved_at_ms: Set(None),
                previous_result_seq: Set(None),
            });
        }
        // One order for every replica: two batches claiming overlapping applications
        // then wait for each other in turn instead of deadlocking.
        claims.sort_by(|a, b| a.application_id.as_ref().cmp(b.application_id.as_ref()));
        for chunk in claims.chunks(500) {
            draw::Entity::insert_many(chunk.to_vec())
                .on_conflict(OnConflict::column(draw::Column::ApplicationId).do_nothing().to_owned())
                .exec_without_returning(&txn)
                .await?;
        }
        // Ours are the rows still without a commit: other transactions' are either invisible or complete.
        let ids: Vec<&str> = salts.keys().map(String::as_str).collect();
        let mut mine: Vec<(String, String)> = draw::Entity::find()
            .select_only()
            .column(draw::Column::ApplicationId)
            .column(draw::Column::PoolId)
            .filter(draw::Column::ApplicationId.is_in(ids))
            .filter(draw::Column::CommitSeq.eq(-1))
            .into_tuple()
            .all(&txn)
            .await?;
        // The others were committed before: repeated calls, answered from their rows.
        let existing: HashSet<String> = {
            let ours: HashSet<&str> = mine.iter().map(|(a, _)| a.as_str()).collect();
            salts.keys().filter(|a| !ours.contains(a.as_str())).cloned().collect()
        };
        if mine.is_empty() {
            txn.commit().await?;
            return Ok((Default::default(), existing, round as i64));
        }
        mine.sort();
        // From here until the transaction ends nobody else appends.
        let head = log::lock_head(&txn).await?;
        let mut refused = HashSet::new();
        let mut entries = Vec::with_capacity(mine.len());
        let mut accepted = Vec::with_capacity(mine.len());
        {
            let mut ledger = self.sync(&txn).await?;
            if ledger.size() != head {
                return Err(DbErr::Custom(format!(
                    "the log has {} entries, its head says {head}",
                    ledger.size()
                )));
            }
            // Per pool, as the batch's commits go in: commits change no number,
            // so each names the same set, with one more draw pending.
            let mut pools: HashMap<String, vrs_draw::audit::CommitState> = HashMap::new();
            for (app, pool_id) in &mine {
                let state = match pools.entry(pool_id.clone()) {
                    std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => v.insert(
                        ledger
                            .commit_state(pool_id)
                            .ok_or_else(|| DbErr::Custom(format!("pool {pool_id} is not in the log")))?,
                    ),
                };
                if state.room() == 0 {
                    refused.insert(app.clone());
                    continue;
                }
                let index = head + entries.len() as u64;
                let salt = salts.get(app).copied().unwrap_or_default();
                entries.push(Entry::DrawCommit(DrawCommit {
                    pool_id: pool_id.clone(),
                    rules_version: RULES_VERSION.into(),
                    application_commitment: application_commitment(&salt, app),
                    beacon_id: params.beacon_id.clone(),
                    round,
                    previous_commit: state.previous_commit,
                    available_count: state.available_count,
                    pool_digest: state.pool_digest,
                    at_ms: now as u64,
                }));
                accepted.push((app.clone(), index));
                state.previous_commit = index;
                state.pending += 1;
            }
        }
        if !refused.is_empty() {
            draw::Entity::delete_many()
                .filter(draw::Column::ApplicationId.is_in(refused.iter().map(String::as_str)))
                .filter(draw::Column::CommitSeq.eq(-1))
                .exec(&txn)
                .await?;
        }
        if !entries.is_empty() {
            log::append(&txn, &entries, now).await?;
        }
        for chunk in accepted.chunks(500) {
            let mut seq = CaseStatement::new();
            for (app, index) in chunk {
                let is = sea_orm::sea_query::ExprTrait::eq(Expr::col(draw::Column::ApplicationId), app.as_str());
                seq = seq.case(is, Expr::value(*index as i64));
            }
            draw::Entity::update_many()
                .col_expr(draw::Column::CommitSeq, seq.into())
                .filter(draw::Column::ApplicationId.is_in(chunk.iter().map(|(a, _)| a.as_str())))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        if !refused.is_empty() {
            tracing::info!(
                refused = refused.len(),
                "draws refused: their pool has no number left for them"
            );
        }
        tracing::debug!(count = entries.len(), round, "draws committed");
        // The resolver watches the batches it is owed, whoever waits on them.
        if let Ok(mut watched) = self.watched.lock() {
            for (app, pool_id) in &mine {
                if !refused.contains(app) {
                    watched.insert((pool_id.clone(), round as i64));
                }
            }
        }
        self.resolver_wake.notify_one();
        Ok((refused, existing, round as i64))
    }
}
