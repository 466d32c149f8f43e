//! The resolver: once a round is out, answers a pool's pending draws in commit
//! order, in one transaction (draw spec §5.2).
//!
//! The draws themselves are computed by the replica's mirror of the log
//! ([`vrs_draw::audit::Ledger::resolve`]): each from the set its commit named,
//! skipping numbers taken by draws committed before it, so the outcome does
//! not depend on when this pass runs or on anything appended since the commit.
//! A pool is resolved by one replica at a time (its row lock); its pending
//! commits are answered up to the first whose round is not out yet, however
//! many rounds that spans.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use beacon::client::BeaconRound;
use sea_orm::sea_query::{CaseStatement, Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use tracing::field::Empty;
use vrs_draw::entry::Entry;

use super::{Plates, internal, log, try_lock_pools};
use crate::domain::workflow::{self, Event, State};
use crate::error::Error;
use crate::store::entities::{draw, plate, pool_snapshot};
use crate::store::transition_many_in;

/// Most draws answered in one transaction: a backlog is worked off in
/// transactions of bounded size rather than in one that holds the pool for long.
const MAX_BATCH: usize = 5_000;

impl Plates {
    /// Resolves due draws until `shutdown`.
    pub async fn run_resolver(self: Arc<Self>, shutdown: CancellationToken) {
        let mut expired_at = std::time::Instant::now();
        'passes: loop {
            let mut at = tokio::time::Instant::now() + self.next_pass_in();
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break 'passes,
                    _ = tokio::time::sleep_until(at) => break,
                    // A batch newly watched may be due sooner than planned (never later:
                    // a stream of new calls must not keep postponing the pass).
                    _ = self.resolver_wake.notified() => {
                        at = at.min(tokio::time::Instant::now() + self.next_pass_in());
                    }
                }
            }
            if let Err(e) = self.resolve_due().await {
                tracing::error!(error = ?e, "resolver pass failed");
            }
            if expired_at.elapsed() >= Duration::from_secs(60) {
                expired_at = std::time::Instant::now();
                if let Err(e) = self.expire_retentions().await {
                    tracing::error!(error = ?e, "retention expiry failed");
                }
            }
        }
        tracing::info!("resolver stopped");
    }

    /// When the next pass is due: just after the earliest watched round is
    /// published; every `resolver_poll_ms` while a watched round is out and not
    /// answered yet (the beacon late, another replica resolving it); every
    /// `resolver_idle_ms` when nothing is watched. A fixed tick made an answer
    /// wait up to a tick after its round, and another on each other replica.
    fn next_pass_in(&self) -> Duration {
        let params = self.beacon.params();
        let now = crate::now_ms();
        let latest = params.round_at(now) as i64;
        let idle = Duration::from_millis(self.cfg.resolver_idle_ms.max(10));
        let first = self.watched.lock().ok().and_then(|w| w.iter().map(|b| b.1).min());
        match first {
            Some(round) if round <= latest => Duration::from_millis(self.cfg.resolver_poll_ms.max(5)),
            Some(round) => {
                let until = (params.publish_time_ms(round as u64) - now).max(0) as u64;
                Duration::from_millis(until + 2).min(idle)
            }
            None => idle,
        }
    }

    /// One resolver pass: every pool with a pending draw whose round is out.
    ///
    /// The pass reads the database only when a watched batch (committed here,
    /// or waited on here) has its round out, or once per `resolver_idle_ms`
    /// for draws committed elsewhere whose callers went away: an idle replica
    /// polling ten times a second cost more statements than the draws it served.
    pub async fn resolve_due(&self) -> Result<usize, Error> {
        let latest = self.beacon.params().round_at(crate::now_ms());
        let expected = self
            .watched
            .lock()
            .map(|w| w.iter().any(|b| b.1 <= latest as i64))
            .unwrap_or(true);
        {
            let mut idle = self
                .idle_since
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !expected && idle.elapsed() < Duration::from_millis(self.cfg.resolver_idle_ms) {
                return Ok(0);
            }
            *idle = std::time::Instant::now();
        }
        let due: Vec<(String, i64)> = draw::Entity::find()
            .select_only()
            .column(draw::Column::PoolId)
            .column(draw::Column::Round)
            .distinct()
            .filter(draw::Column::ResultSeq.is_null())
            .filter(draw::Column::CommitSeq.gte(0))
            .filter(draw::Column::Round.lte(latest as i64))
            .order_by_asc(draw::Column::Round)
            .into_tuple()
            .all(self.db())
            .await?;
        let due_set: HashSet<(String, i64)> = due.iter().cloned().collect();
        // Each round is fetched and its signature verified once per pass, not once per pool.
        let mut rounds: HashMap<u64, BeaconRound> = HashMap::new();
        for round in due.iter().map(|(_, r)| *r as u64).collect::<BTreeSet<_>>() {
            match self.beacon.round(round).await {
                Ok(Some(v)) => {
                    rounds.insert(round, v);
                }
                Ok(None) => {}
                // A value that does not verify is refused and never used: the
                // beacon (or a relay in front of it) is broken or compromised,
                // which an operator must hear of. Draws wait for a valid value.
                Err(e @ beacon::client::ClientError::Verification { .. }) => {
                    self.beacon_rejected.add(1, &[]);
                    tracing::error!(round, error = %e, "ALERT: the beacon served a round that does not verify against the pinned key; refused");
                }
                Err(e) => tracing::warn!(round, error = %e, "beacon round not available"),
            }
        }
        let mut resolved = 0;
        let mut done: Vec<(String, i64)> = Vec::new();
        let pools: Vec<String> = due
            .iter()
            .map(|(p, _)| p.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Every due pool in one transaction; if that fails, each pool alone, so
        // that one pool's failure does not hold up the others.
        let span = tracing::info_span!("draw.resolve", pools = pools.len(), draws = Empty);
        let batches = match self.resolve_pools(&pools, &rounds).instrument(span.clone()).await {
            Ok(b) => b,
            Err(e) if pools.len() > 1 => {
                tracing::warn!(error = ?e, pools = pools.len(), "resolving the pools together failed; one by one");
                let mut all = HashMap::new();
                for pool_id in &pools {
                    match self.resolve_pools(std::slice::from_ref(pool_id), &rounds).await {
                        Ok(b) => all.extend(b),
                        Err(e) => tracing::error!(pool = %pool_id, error = ?e, "resolving a pool failed"),
                    }
                }
                all
            }
            Err(e) => {
                tracing::error!(pools = ?pools, error = ?e, "resolving a pool failed");
                HashMap::new()
            }
        };
        let mut per_pool: HashMap<&str, u64> = HashMap::new();
        for ((pool_id, _), n) in &batches {
            *per_pool.entry(pool_id.as_str()).or_default() += *n as u64;
            resolved += n;
        }
        for (pool_id, n) in per_pool {
            self.draws
                .add(n, &[opentelemetry::KeyValue::new("pool", pool_id.to_owned())]);
        }
        span.record("draws", resolved);
        done.extend(batches.into_keys());
        if resolved > 0 {
            self.checkpoint().await?;
        }
        // Batches watched and no longer due were resolved, here or elsewhere:
        // the DrawPlate calls waiting for them get their answers.
        {
            let mut last = self.watched.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // Watched batches whose round is not out yet stay watched.
            let (waiting, out): (Vec<_>, Vec<_>) = last.drain().partition(|b| b.1 > latest as i64);
            done.extend(out.into_iter().filter(|b| !due_set.contains(b)));
            *last = due_set;
            last.extend(waiting);
        }
        let done: HashSet<(String, i64)> = done.into_iter().collect();
        if !done.is_empty() {
            self.answer_waiters(&done).await?;
        }
        Ok(resolved)
    }

    /// Answers the pending draws of `pools` in commit order, as far as
    /// `rounds` allows, in one transaction with set-based statements; the
    /// number answered per (pool, round). Pools another transaction holds
    /// (another replica's resolver, a revocation) are left for the next pass.
    async fn resolve_pools(
        &self,
        pools: &[String],
        rounds: &HashMap<u64, BeaconRound>,
    ) -> Result<HashMap<(String, i64), usize>, Error> {
        let now = crate::now_ms();
        let txn = self.store.begin_write().await?;
        let held = try_lock_pools(&txn, pools).await?;
        let beacon_id = self.beacon.params().beacon_id.clone();
        let resolved = {
            let ledger = self.sync(&txn).await?;
            let value = |c: &vrs_draw::entry::DrawCommit| {
                rounds
                    .get(&c.round)
                    .filter(|_| c.beacon_id == beacon_id)
                    .map(|v| (v.signature.clone(), v.randomness))
            };
            let mut all = Vec::new();
            for pool_id in &held {
                let room = MAX_BATCH.saturating_sub(all.len());
                if room == 0 {
                    break;
                }
                match ledger.resolve(pool_id, room, value, now as u64) {
                    Ok(r) => all.extend(r),
                    // A pool whose log breaks a rule is named, not resolved; the others go on.
                    Err(e) => tracing::error!(pool = %pool_id, error = %e, "cannot resolve the pool"),
                }
            }
            all
        };
        if resolved.is_empty() {
            txn.commit().await?;
            return Ok(HashMap::new());
        }
        // The draw rows of the commits answered now (not of those whose round is not out).
        let mut pending: HashMap<i64, draw::Model> = HashMap::new();
        let commits: Vec<i64> = resolved.iter().map(|r| r.result.commit_index as i64).collect();
        for chunk in commits.chunks(1_000) {
            pending.extend(
                draw::Entity::find()
                    .filter(draw::Column::CommitSeq.is_in(chunk.iter().copied()))
                    .filter(draw::Column::ResultSeq.is_null())
                    .all(&txn)
                    .await?
                    .into_iter()
                    .map(|d| (d.commit_seq, d)),
            );
        }
        let rows: Vec<&draw::Model> = resolved
            .iter()
            .map(|r| pending.get(&(r.result.commit_index as i64)))
            .collect::<Option<_>>()
            .ok_or_else(|| internal("a pending commit of the log has no draw row"))?;
        let entries: Vec<Entry> = resolved.iter().map(|r| Entry::DrawResult(r.result.clone())).collect();
        let first = log::append(&txn, &entries, now).await? as i64;

        // The sets the commits named, once each: a receipt shows its commit's.
        let mut snapshots: Vec<pool_snapshot::ActiveModel> = Vec::new();
        let mut stored = HashSet::new();
        for r in &resolved {
            if stored.insert((r.result.pool_id.as_str(), r.set_since)) {
                snapshots.push(pool_snapshot::ActiveModel {
                    pool_id: Set(r.result.pool_id.clone()),
                    seq: Set(r.set_since as i64),
                    bitmap: Set(r.set.bitmap()),
                });
            }
        }
        // A pool's bitmap is 12.5 KB: a few per statement keep statements small.
        // An earlier batch may have stored the same set already.
        for chunk in snapshots.chunks(16) {
            pool_snapshot::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::columns([pool_snapshot::Column::PoolId, pool_snapshot::Column::Seq])
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        // Where the result of each draw's previous commit is: in this batch, or
        // (for the batch's first) logged earlier. A receipt reads it with its own.
        let mut result_at: HashMap<u64, i64> = resolved
            .iter()
            .enumerate()
            .map(|(i, r)| (r.result.commit_index, first + i as i64))
            .collect();
        let earlier: Vec<i64> = resolved
            .iter()
            .map(|r| r.previous_commit)
            .filter(|c| *c != vrs_draw::entry::NONE && !result_at.contains_key(c))
            .map(|c| c as i64)
            .collect();
        if !earlier.is_empty() {
            let found: Vec<(i64, Option<i64>)> = draw::Entity::find()
                .select_only()
                .column(draw::Column::CommitSeq)
                .column(draw::Column::ResultSeq)
                .filter(draw::Column::CommitSeq.is_in(earlier))
                .into_tuple()
                .all(&txn)
                .await?;
            result_at.extend(found.into_iter().filter_map(|(c, r)| Some((c as u64, r?))));
        }
        let pairs: Vec<(usize, (&&draw::Model, &vrs_draw::audit::Resolved))> =
            rows.iter().zip(&resolved).enumerate().collect();
        for chunk in pairs.chunks(500) {
            // One statement per chunk: result index, number, plate and the previous
            // commit's result per application.
            let (mut seq_case, mut number_case, mut plate_case, mut previous_case) = (
                CaseStatement::new(),
                CaseStatement::new(),
                CaseStatement::new(),
                CaseStatement::new(),
            );
            for (i, (d, r)) in chunk {
                let is = sea_orm::sea_query::ExprTrait::eq(
                    Expr::col(draw::Column::ApplicationId),
                    d.application_id.as_str(),
                );
                seq_case = seq_case.case(is.clone(), Expr::value(first + *i as i64));
                number_case = number_case.case(is.clone(), Expr::value(r.result.number as i32));
                plate_case = plate_case.case(is.clone(), Expr::value(r.result.plate.as_str()));
                previous_case = previous_case.case(is, Expr::value(result_at.get(&r.previous_commit).copied()));
            }
            draw::Entity::update_many()
                .col_expr(draw::Column::ResultSeq, seq_case.into())
                .col_expr(draw::Column::Number, number_case.into())
                .col_expr(draw::Column::Plate, plate_case.into())
                .col_expr(draw::Column::PreviousResultSeq, previous_case.into())
                .col_expr(draw::Column::ResolvedAtMs, Expr::value(now))
                .filter(draw::Column::ApplicationId.is_in(chunk.iter().map(|(_, (d, _))| d.application_id.as_str())))
                .exec(&txn)
                .await?;
        }
        let plates: Vec<plate::ActiveModel> = rows
            .iter()
            .zip(&resolved)
            .map(|(d, r)| plate::ActiveModel {
                pool_id: Set(r.result.pool_id.clone()),
                number: Set(r.result.number as i32),
                plate: Set(r.result.plate.clone()),
                application_id: Set(d.application_id.clone()),
                owner_key: Set(d.owner_key.clone()),
                owner_salt: Set(None),
                status: Set("issued".into()),
                retained_until_ms: Set(None),
                updated_at_ms: Set(now),
            })
            .collect();
        let items: Vec<(String, String)> = rows
            .iter()
            .zip(&resolved)
            .map(|(d, r)| (d.application_id.clone(), r.result.plate.clone()))
            .collect();
        let from_states = self.plate_from_states();
        let moved = transition_many_in(
            &txn,
            &items,
            &from_states,
            State::PlateAssigned,
            "system",
            "PLATE_DRAWN",
            now,
        )
        .await?;
        if moved != items.len() {
            tracing::warn!(
                left = items.len() - moved,
                "applications had left the drawable state; plates kept"
            );
        }
        // The database refuses a second holder of any plate.
        for chunk in plates.chunks(500) {
            plate::Entity::insert_many(chunk.to_vec()).exec(&txn).await?;
        }
        txn.commit().await?;
        self.store.events_written();
        let mut batches: HashMap<(String, i64), usize> = HashMap::new();
        for r in &resolved {
            *batches
                .entry((r.result.pool_id.clone(), r.result.round as i64))
                .or_default() += 1;
        }
        tracing::info!(pools = held.len(), draws = resolved.len(), "draws resolved");
        Ok(batches)
    }

    /// States from which a plate may be assigned under the configured ordering.
    fn plate_from_states(&self) -> Vec<State> {
        State::ALL
            .into_iter()
            .filter(|s| workflow::next(self.ordering, *s, Event::PlateAssigned).is_ok())
            .collect()
    }
}
