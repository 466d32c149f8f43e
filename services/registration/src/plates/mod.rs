//! Plates: pools, the commit-then-beacon draw, the transparency log and receipts
//! (contracts/draw/SPEC.md; the protocol itself is the `vrs-draw` crate).
//!
//! A `DrawPlate` call flows through:
//!
//! 1. precedence: a retained identity plate of the owner is reissued at once
//!    (a `plate-assign` entry), no draw;
//! 2. the [`committer`] task, which batches concurrent requests and appends
//!    their `draw-commit` entries in one transaction, each naming its pool's
//!    available set, the pool's previous commit and a beacon round
//!    `rounds_ahead` rounds in the future;
//! 3. the [`resolver`] task of any replica, which, once the round is out, locks
//!    the pool and answers its pending commits in commit order in one
//!    transaction (results, plates, application states), then signs a
//!    checkpoint: each draw picks from the set its commit named, so nothing
//!    logged after the commit moves its plate (spec §5.4);
//! 4. the [`receipts`], built from the log.
//!
//! Appends are serialised by the `log_head` row; pools by their row lock
//! (PostgreSQL) or SQLite's single writer. Each replica mirrors the log in a
//! [`Ledger`] that it brings up to date from the database before it uses it.

mod committer;
pub mod log;
mod receipts;
mod resolver;

use committer::{CommitError, CommitRequest};
use serde::{Deserialize, Serialize};

use std::sync::Arc;
use std::time::Duration;

use beacon::client::BeaconSource;
use prost::Message;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};
use tokio::sync::{Mutex, mpsc, oneshot};
use vrs_draw::audit::Ledger;
use vrs_draw::entry::{Entry, PlateAssign, PlateRevoke, PoolChange, PoolOpen};
use vrs_draw::note::{Checkpoint, NoteSigner};
use vrs_draw::pool::{PoolId, PoolState, special_patterns};
use vrs_draw::receipt::{RULES_VERSION, Receipt, Trust, TrustedBeacon};
use vrs_draw::sampler::application_commitment;
use vrs_proto::pb::registration::v1 as pb;

use crate::domain::jurisdiction::Offices;
use crate::domain::workflow::{self, Event, Ordering, State};
use crate::error::Error;
use crate::store::entities::{application, checkpoint, draw, log_entry, plate, pool};
use crate::store::transition_in;

/// The plate draw: beacon, log, pools.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DrawConfig {
    /// `local` (the beacon service at `beacon_url`) or `drand` (quicknet relay at `beacon_url`).
    pub beacon: String,
    pub beacon_url: String,
    /// A draw commits to the round this many rounds after the latest published one (≥ 2, so
    /// that the commit lands well before the round).
    pub rounds_ahead: u64,
    /// Origin line of the log's checkpoints.
    pub log_origin: String,
    /// Name of the log's checkpoint key.
    pub log_key_name: String,
    /// Ed25519 seed of the checkpoint key; generated at first start. In Kubernetes, a Secret.
    pub log_key_file: String,
    /// How often the resolver looks for commits whose round is out, while it
    /// watches a batch (committed or waited on here).
    pub resolver_poll_ms: u64,
    /// How often it looks when it watches none: for draws committed by other
    /// replicas whose callers went away.
    pub resolver_idle_ms: u64,
    /// Most commits appended in one transaction.
    pub commit_batch: usize,
    /// How long the committer gathers concurrent DrawPlate calls into one transaction.
    pub commit_gather_ms: u64,
    /// How long DrawPlate waits for its result before answering UNAVAILABLE (call again).
    pub draw_timeout_ms: u64,
    /// Which locality code an office draws from, and so which province it
    /// serves (merged provinces have several codes). Offices named `PC-<code>`
    /// need no entry; any other office is unknown, and a declaration naming it
    /// needs correction.
    pub office_localities: std::collections::BTreeMap<String, String>,
    /// Series in the order they open, per class.
    pub car_series: Vec<String>,
    pub motorbike_series: Vec<String>,
    /// Numbers withheld for auction when a series opens (the minister's list).
    pub auction_numbers: Vec<u32>,
}

impl Default for DrawConfig {
    fn default() -> Self {
        DrawConfig {
            beacon: "local".into(),
            beacon_url: "http://127.0.0.1:50070".into(),
            rounds_ahead: 2,
            log_origin: "vn.gov.vrs/plate-draw-log".into(),
            log_key_name: "vrs-plate-log".into(),
            log_key_file: "var/log-signing.key".into(),
            resolver_poll_ms: 100,
            resolver_idle_ms: 1_000,
            commit_batch: 2_000,
            commit_gather_ms: 5,
            draw_timeout_ms: 30_000,
            office_localities: Default::default(),
            car_series: vrs_draw::pool::CAR_SERIES.iter().map(|s| s.to_string()).collect(),
            motorbike_series: ["AA", "AB", "AC", "AD", "AE", "AF", "AG", "AH", "AK", "AL"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            auction_numbers: Vec::new(),
        }
    }
}

/// Legal basis written into pool entries.
const LEGAL_BASIS: &str = "Circular 79/2024/TT-BCA; Decree 156/2024/ND-CP";
/// Identity plates are retained for their owner for five years (DESIGN §3.4).
const RETENTION_MS: i64 = 5 * 365 * 24 * 3600 * 1000 + 24 * 3600 * 1000;

/// How a plate was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Draw,
    Retained,
    Auction,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Draw => "draw",
            Method::Retained => "retained",
            Method::Auction => "auction",
        }
    }

    /// The stored form back (`as_str`).
    pub fn parse(s: &str) -> Option<Method> {
        [Method::Draw, Method::Retained, Method::Auction]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// A receipt as the API returns it.
fn receipt_text(r: &Receipt) -> Result<String, Error> {
    serde_json::to_string_pretty(r).map_err(internal)
}

/// What DrawPlate returns.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub plate: String,
    pub method: Method,
    /// Receipt JSON for drawn plates.
    pub receipt: Option<String>,
    /// The application as it stands with its plate.
    pub application: crate::store::Record,
}

/// A DrawPlate call waiting for its draw's (pool, round) batch.
struct Waiter {
    batch: (String, i64),
    answer: oneshot::Sender<Outcome>,
}

pub struct Plates {
    db: DatabaseConnection,
    /// The store that owns `db`: write transactions begin (and are counted) there.
    store: crate::store::Store,
    cfg: DrawConfig,
    /// Which locality code each office draws from.
    offices: Offices,
    ordering: Ordering,
    beacon: Arc<dyn BeaconSource>,
    signer: NoteSigner,
    /// This replica's copy of the log, brought up to date before use.
    mirror: Mutex<Ledger>,
    /// Available numbers per pool as of the last sync: a cheap, possibly stale
    /// answer for choosing a pool, so DrawPlate calls do not queue on the mirror.
    available: Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
    /// Entries in the log as this replica last read it (`vrs.log.size`).
    log_size: Arc<std::sync::atomic::AtomicU64>,
    /// `vrs.draws.resolved` by pool.
    draws: opentelemetry::metrics::Counter<u64>,
    /// The (pool, round) batches due at the last resolver pass, and those
    /// DrawPlate calls wait on: one whose round is out and that is no longer
    /// due was resolved (maybe by another replica), and its waiters are woken.
    watched: std::sync::Mutex<std::collections::HashSet<(String, i64)>>,
    commits: mpsc::Sender<CommitRequest>,
    commit_rx: std::sync::Mutex<Option<mpsc::Receiver<CommitRequest>>>,
    /// DrawPlate calls waiting for their draws, by application. When a batch
    /// is resolved (here or by another replica) the resolver builds the
    /// answers of all its waiting calls at once, receipts included, and hands
    /// each its own: a woken call reads nothing. Woken to read for itself,
    /// each call rebuilt its receipt with about eight queries.
    waiters: std::sync::Mutex<std::collections::HashMap<String, Vec<Waiter>>>,
    /// The open pool of each family as last seen: a DrawPlate call looks it
    /// up only when a commit is refused for lack of room (and at first use).
    pools: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// Taken to look up (or open) a family's pool when `pools` has no answer.
    pool_turn: Mutex<()>,
    /// When the resolver last looked for due draws without a batch to watch.
    idle_since: std::sync::Mutex<std::time::Instant>,
    /// Keyed lookup of owners' retained and auctioned plates.
    privacy: crate::privacy::Privacy,
    /// DrawPlate calls reading the database at once: four per pooled connection.
    /// When a round resolves thousands of waiting draws, each waking call used
    /// to queue for a pooled connection once per query; with the pool's queue
    /// thousands deep, some waited past its acquire timeout and were answered
    /// UNAVAILABLE, and the committer and resolver starved with them. Waiting
    /// here has no timeout and is first come first served; the pool's queue
    /// stays a few calls deep, so the committer and resolver get a connection
    /// promptly. More permits than connections because a call spends part of
    /// its turn off the database (decoding, signing, hashing): with one permit
    /// per connection, 2,000 draws on three replicas took 50 s, with four 39 s,
    /// unbounded 35 s (and the timeouts).
    readers: tokio::sync::Semaphore,
}

/// What a waiting DrawPlate call knows of its draw.
enum Known {
    /// Its row, just read (a repeated call).
    Row(Box<draw::Model>),
    /// The (pool, round) batch its commit went into.
    Batch((String, i64)),
}

fn random32() -> Result<[u8; 32], Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| Error::Internal(anyhow::anyhow!("no randomness: {e}")))?;
    Ok(b)
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(anyhow::anyhow!("{e}"))
}

impl Plates {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: crate::store::Store,
        cfg: DrawConfig,
        offices: Offices,
        ordering: Ordering,
        beacon: Arc<dyn BeaconSource>,
        signer: NoteSigner,
        privacy: crate::privacy::Privacy,
        max_connections: u32,
    ) -> Plates {
        let (tx, rx) = mpsc::channel(cfg.commit_batch.max(1) * 4);
        let available = Arc::new(std::sync::Mutex::new(std::collections::HashMap::<String, u32>::new()));
        let log_size = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let meter = vrs_kit::telemetry::meter();
        let counts = available.clone();
        meter
            .u64_observable_gauge("vrs.pool.remaining")
            .with_description("Numbers still free in each pool this replica has seen in the log")
            .with_callback(move |obs| {
                if let Ok(counts) = counts.lock() {
                    for (pool, n) in counts.iter() {
                        obs.observe(u64::from(*n), &[opentelemetry::KeyValue::new("pool", pool.clone())]);
                    }
                }
            })
            .build();
        let size = log_size.clone();
        meter
            .u64_observable_gauge("vrs.log.size")
            .with_description("Entries in the transparency log, as this replica last read it")
            .with_callback(move |obs| obs.observe(size.load(std::sync::atomic::Ordering::Relaxed), &[]))
            .build();
        let draws = meter
            .u64_counter("vrs.draws.resolved")
            .with_description("Draws resolved (plates assigned by the beacon round) by pool")
            .build();
        Plates {
            db: store.connection().clone(),
            store,
            cfg,
            offices,
            ordering,
            beacon,
            signer,
            mirror: Mutex::new(Ledger::new()),
            available,
            log_size,
            draws,
            watched: std::sync::Mutex::new(std::collections::HashSet::new()),
            commits: tx,
            commit_rx: std::sync::Mutex::new(Some(rx)),
            waiters: std::sync::Mutex::new(std::collections::HashMap::new()),
            pools: std::sync::Mutex::new(std::collections::HashMap::new()),
            pool_turn: Mutex::new(()),
            idle_since: std::sync::Mutex::new(std::time::Instant::now()),
            privacy,
            readers: tokio::sync::Semaphore::new((max_connections as usize * 4).max(1)),
        }
    }

    /// Brings the mirror up to date with the log as `conn` sees it.
    ///
    /// The database is read without holding the mirror. Holding it across the
    /// read inverted the lock order with the resolver, which holds a connection
    /// (and on SQLite the write lock) while it waits for the mirror: a receipt
    /// holding the mirror while waiting for a pooled connection stalled both
    /// until a timeout, and under load the pool never recovered.
    async fn sync<C: ConnectionTrait>(&self, conn: &C) -> Result<tokio::sync::MutexGuard<'_, Ledger>, DbErr> {
        loop {
            let from = self.mirror.lock().await.size() as i64;
            let rows = log_entry::Entity::find()
                .filter(log_entry::Column::Seq.gte(from))
                .order_by_asc(log_entry::Column::Seq)
                .limit(10_000)
                .all(conn)
                .await?;
            let n = rows.len();
            let mut ledger = self.mirror.lock().await;
            let mut touched = std::collections::HashSet::new();
            let mut contiguous = true;
            for r in rows {
                // Another task may have applied some of these meanwhile.
                if (r.seq as u64) < ledger.size() {
                    continue;
                }
                if r.seq as u64 != ledger.size() {
                    contiguous = false;
                    break;
                }
                for f in ledger.append(&r.entry) {
                    tracing::error!(finding = %f, "the log breaks a rule");
                }
                touched.insert(r.pool_id);
            }
            self.log_size.store(ledger.size(), std::sync::atomic::Ordering::Relaxed);
            if let Ok(mut counts) = self.available.lock() {
                for p in touched {
                    if let Some(state) = ledger.pool(&p) {
                        counts.insert(p, state.available_count());
                    }
                }
            }
            if !contiguous || n < 10_000 {
                return Ok(ledger);
            }
        }
    }

    /// Refuses a log written under other draw rules: v2 cannot extend a v1 log
    /// (its entries do not decode under v2, and nothing under v1 was deployed).
    pub async fn check_log_rules(&self) -> anyhow::Result<()> {
        let first = log::entries(&self.db, 0, 1).await?;
        if let Some(e) = first.first()
            && !e.entry.starts_with(vrs_draw::entry::MAGIC)
        {
            anyhow::bail!(
                "the transparency log in this database was written under earlier draw rules ({:?}), which this version cannot extend; start from a fresh database (locally: delete var/registration.db)",
                String::from_utf8_lossy(&e.entry[..e.entry.len().min(4)])
            );
        }
        Ok(())
    }

    /// What verifiers pin.
    pub fn trust(&self) -> Trust {
        let p = self.beacon.params();
        Trust {
            log_origin: self.cfg.log_origin.clone(),
            log_key: self.signer.verifier_key(),
            beacons: vec![TrustedBeacon {
                beacon_id: p.beacon_id.clone(),
                public_key: hex::encode(&p.public_key),
                genesis_unix_ms: p.genesis_unix_ms,
                period_ms: p.period_ms,
            }],
        }
    }

    // ----- pools -------------------------------------------------------------

    /// The open pool of a family (`<locality>-<class>-<colour>`), opening the
    /// next series when there is none or the current one is used up.
    async fn current_pool(&self, family: &str, series: &[String]) -> Result<String, Error> {
        loop {
            // Series open in order and roll over only when used up, so the highest
            // rank is the one in use (one query: no race between "open?" and "last?").
            let last = pool::Entity::find()
                .filter(pool::Column::Family.eq(family))
                .order_by_desc(pool::Column::SeriesRank)
                .one(&self.db)
                .await?;
            let rank = match last {
                Some(p) if p.status == "open" => {
                    if self.has_room(&p.pool_id).await? {
                        return Ok(p.pool_id);
                    }
                    pool::Entity::update_many()
                        .col_expr(pool::Column::Status, Expr::value("exhausted"))
                        .filter(pool::Column::PoolId.eq(p.pool_id.as_str()))
                        .exec(&self.db)
                        .await?;
                    tracing::info!(pool = %p.pool_id, "series used up; rolling over");
                    p.series_rank + 1
                }
                Some(p) => p.series_rank + 1,
                None => 0,
            };
            let Some(s) = series.get(rank as usize) else {
                return Err(Error::Unavailable(format!(
                    "every configured series of {family} is used up"
                )));
            };
            let pool_id = format!("{family}-{s}");
            if PoolId::parse(&pool_id).is_none() {
                return Err(internal(format!(
                    "configured series {s:?} makes an invalid pool id {pool_id}"
                )));
            }
            match self.open_pool(family, rank, &pool_id).await {
                Ok(()) => return Ok(pool_id),
                // Another replica opened it first: use theirs.
                Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Whether a pool can take one more commit: available numbers beyond its pending commits.
    async fn has_room(&self, pool_id: &str) -> Result<bool, Error> {
        let cached = self.available.lock().ok().and_then(|c| c.get(pool_id).copied());
        let available = match cached {
            Some(n) => n,
            None => {
                let ledger = self.sync(&self.db).await?;
                ledger.pool(pool_id).map_or(0, PoolState::available_count)
            }
        };
        if available > 50_000 {
            return Ok(true);
        }
        let pending = draw::Entity::find()
            .filter(draw::Column::PoolId.eq(pool_id))
            .filter(draw::Column::ResultSeq.is_null())
            .count(&self.db)
            .await?;
        Ok(u64::from(available) > pending)
    }

    async fn open_pool(&self, family: &str, rank: i32, pool_id: &str) -> Result<(), DbErr> {
        let now = crate::now_ms();
        let txn = self.store.begin_write().await?;
        pool::ActiveModel {
            pool_id: Set(pool_id.to_owned()),
            family: Set(family.to_owned()),
            series_rank: Set(rank),
            status: Set("open".into()),
            opened_seq: Set(0),
            at_ms: Set(now),
        }
        .insert(&txn)
        .await?;
        let mut withheld: Vec<u32> = special_patterns();
        withheld.extend(
            self.cfg
                .auction_numbers
                .iter()
                .copied()
                .filter(|n| (1..=99_999).contains(n)),
        );
        withheld.sort_unstable();
        withheld.dedup();
        let (specials, auction): (Vec<u32>, Vec<u32>) =
            withheld.into_iter().partition(|n| special_patterns().contains(n));
        let mut entries = vec![
            Entry::PoolOpen(PoolOpen {
                pool_id: pool_id.to_owned(),
                rules_version: RULES_VERSION.into(),
                legal_basis: LEGAL_BASIS.into(),
                at_ms: now as u64,
            }),
            Entry::PoolWithhold(PoolChange {
                pool_id: pool_id.to_owned(),
                reason: "SPECIAL_PATTERN".into(),
                legal_basis: "Decree 156/2024/ND-CP (re-listed after failed auctions)".into(),
                numbers: specials,
                at_ms: now as u64,
            }),
        ];
        if !auction.is_empty() {
            entries.push(Entry::PoolWithhold(PoolChange {
                pool_id: pool_id.to_owned(),
                reason: "AUCTION_LIST".into(),
                legal_basis: "Decree 156/2024/ND-CP".into(),
                numbers: auction,
                at_ms: now as u64,
            }));
        }
        let first = log::append(&txn, &entries, now).await?;
        pool::Entity::update_many()
            .col_expr(pool::Column::OpenedSeq, Expr::value(first as i64))
            .filter(pool::Column::PoolId.eq(pool_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        tracing::info!(pool = pool_id, "pool opened");
        Ok(())
    }

    // ----- DrawPlate ---------------------------------------------------------

    /// Gets an application its plate (see the module docs). Idempotent.
    pub async fn draw_plate(&self, app: &application::Model) -> Result<Outcome, Error> {
        let reading = self.reading().await?;
        let state = State::parse(&app.state).ok_or_else(|| internal("unknown stored state"))?;
        if let Err(refused) = workflow::next(self.ordering, state, Event::PlateAssigned) {
            // A repeated call once the plate is out is answered from its draw.
            return match draw::Entity::find_by_id(app.id.as_str()).one(&self.db).await? {
                Some(d) => {
                    drop(reading);
                    self.await_outcome(&app.id, Known::Row(Box::new(d))).await
                }
                None => Err(refused.into()),
            };
        }
        let req = pb::SubmitApplicationRequest::decode(app.declaration.as_slice()).map_err(internal)?;
        let (owner_id, class) = owner_and_class(&req)?;
        let key = self.privacy.owner_key(&owner_id);
        // The office's code: a verified application's office serves the owner's province.
        let locality = self
            .offices
            .draws_from(&app.office_code)
            .map_or_else(|| app.locality_code.clone(), str::to_owned);
        // Transport businesses get yellow plates from their own pools.
        let colour = if req.vehicle.as_ref().is_some_and(|v| v.commercial_use) {
            "yellow"
        } else {
            "white"
        };
        let family = format!("{locality}-{class}-{colour}");
        let (retained, won) = self.owner_plates(&key, &family).await?;
        if let Some(retained) = retained {
            return self.assign_withheld(app, state, retained, Method::Retained).await;
        }
        if let Some(won) = won {
            return self.assign_withheld(app, state, won, Method::Auction).await;
        }
        let series = if class == "car" {
            &self.cfg.car_series
        } else {
            &self.cfg.motorbike_series
        };
        drop(reading);
        // A pool's last numbers can be promised to concurrent calls on several
        // replicas at once; the committer refuses a commit its pool could not
        // answer, and the call rolls over to the next series.
        for attempt in 0..3 {
            let cached = (attempt == 0)
                .then(|| self.pools.lock().ok().and_then(|p| p.get(&family).cloned()))
                .flatten();
            let pool_id = match cached {
                Some(p) => p,
                None => {
                    // One call looks (and opens a series) at a time; the others then
                    // find its answer: a series opening is not a thousand racing inserts.
                    let _turn = self.pool_turn.lock().await;
                    let again = (attempt == 0)
                        .then(|| self.pools.lock().ok().and_then(|p| p.get(&family).cloned()))
                        .flatten();
                    match again {
                        Some(p) => p,
                        None => {
                            let _reading = self.reading().await?;
                            let p = self.current_pool(&family, series).await?;
                            if let Ok(mut pools) = self.pools.lock() {
                                pools.insert(family.clone(), p.clone());
                            }
                            p
                        }
                    }
                }
            };
            let (tx, rx) = oneshot::channel();
            let request = CommitRequest {
                application_id: app.id.clone(),
                pool_id: pool_id.clone(),
                owner_key: key.clone(),
                reply: tx,
            };
            self.commits
                .send(request)
                .await
                .map_err(|_| Error::Unavailable("shutting down".into()))?;
            match rx.await.map_err(|_| Error::Unavailable("shutting down".into()))? {
                Ok(round) => return self.await_outcome(&app.id, Known::Batch((pool_id, round))).await,
                // A repeated call while the draw is pending: wait for it.
                Err(CommitError::Exists) => {
                    let d = {
                        let _reading = self.reading().await?;
                        draw::Entity::find_by_id(app.id.as_str())
                            .one(&self.db)
                            .await?
                            .ok_or_else(|| internal("a committed draw has no row"))?
                    };
                    return self.await_outcome(&app.id, Known::Row(Box::new(d))).await;
                }
                Err(CommitError::NoRoom) => {
                    // The pool is used up (maybe by another replica): look again.
                    if let Ok(mut pools) = self.pools.lock() {
                        pools.remove(&family);
                    }
                    continue;
                }
                Err(CommitError::Failed) => {
                    return Err(Error::Unavailable(
                        "draw not committed: the commit could not be stored".into(),
                    ));
                }
            }
        }
        Err(Error::Unavailable(
            "the pool filled up while this draw was being committed: call DrawPlate again".into(),
        ))
    }

    /// A turn to read the database for a DrawPlate call (see `readers`).
    async fn reading(&self) -> Result<tokio::sync::SemaphorePermit<'_>, Error> {
        self.readers
            .acquire()
            .await
            .map_err(|_| Error::Unavailable("shutting down".into()))
    }

    /// Waits until the application's draw is resolved and under a checkpoint:
    /// the resolver hands over the answer (see `waiters`). If none comes by
    /// a while after the round (a resolver elsewhere, a lost wake-up), the call
    /// looks for itself.
    async fn await_outcome(&self, application_id: &str, known: Known) -> Result<Outcome, Error> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.cfg.draw_timeout_ms);
        let mut batch = match known {
            Known::Row(d) if d.result_seq.is_some() => return self.outcome_now(*d).await,
            Known::Row(d) => (d.pool_id, d.round),
            Known::Batch(b) => b,
        };
        loop {
            let (answer, answered) = oneshot::channel();
            {
                let mut waiters = self.waiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let mine = waiters.entry(application_id.to_owned()).or_default();
                mine.retain(|w| !w.answer.is_closed());
                mine.push(Waiter {
                    batch: batch.clone(),
                    answer,
                });
            }
            if let Ok(mut watched) = self.watched.lock() {
                watched.insert(batch.clone());
            }
            let until_round = self.beacon.params().publish_time_ms(batch.1 as u64) - crate::now_ms();
            let fallback = Duration::from_millis(until_round.max(0) as u64 + 5_000);
            let now = tokio::time::Instant::now();
            if let Ok(Ok(outcome)) = tokio::time::timeout((deadline - now).min(fallback), answered).await {
                return Ok(outcome);
            }
            let d = {
                let _reading = self.reading().await?;
                draw::Entity::find_by_id(application_id)
                    .one(&self.db)
                    .await?
                    .ok_or_else(|| internal("draw row vanished"))?
            };
            if d.result_seq.is_some() {
                return self.outcome_now(d).await;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Unavailable(format!(
                    "draw committed for beacon round {}; its result is not out yet: call DrawPlate again",
                    d.round
                )));
            }
            batch = (d.pool_id, d.round);
        }
    }

    /// The answer of one resolved draw row.
    async fn outcome_now(&self, d: draw::Model) -> Result<Outcome, Error> {
        let id = d.application_id.clone();
        let _reading = self.reading().await?;
        self.outcomes_of(vec![d])
            .await?
            .remove(&id)
            .ok_or_else(|| internal("a resolved draw has no answer"))
    }

    /// The answers of resolved draw rows, built together: one checkpoint, one
    /// read of the entries, sets and records for all. Unresolved rows are left out.
    async fn outcomes_of(&self, rows: Vec<draw::Model>) -> Result<std::collections::HashMap<String, Outcome>, Error> {
        let rows: Vec<draw::Model> = rows
            .into_iter()
            .filter(|d| d.result_seq.is_some() && d.plate.is_some())
            .collect();
        if rows.is_empty() {
            return Ok(std::collections::HashMap::new());
        }
        let ids: Vec<&str> = rows.iter().map(|d| d.application_id.as_str()).collect();
        let mut records = self.store.records(&ids).await?;
        let methods: Vec<(String, String, Method)> = rows
            .iter()
            .map(|d| {
                Method::parse(&d.method)
                    .map(|m| (d.application_id.clone(), d.plate.clone().unwrap_or_default(), m))
                    .ok_or_else(|| internal("unknown stored draw method"))
            })
            .collect::<Result<_, _>>()?;
        let mut receipts = self.receipts_of(rows).await?;
        let mut out = std::collections::HashMap::with_capacity(methods.len());
        for (id, plate, method) in methods {
            // A repeated call for an auction win must not look for a receipt.
            let receipt = match method {
                Method::Draw => Some(receipt_text(
                    &receipts
                        .remove(&id)
                        .ok_or_else(|| internal("a drawn plate has no receipt"))?,
                )?),
                Method::Retained | Method::Auction => None,
            };
            let application = records
                .remove(&id)
                .ok_or_else(|| internal("a drawn plate's application is missing"))?;
            out.insert(
                id,
                Outcome {
                    plate,
                    method,
                    receipt,
                    application,
                },
            );
        }
        Ok(out)
    }

    /// Answers the calls waiting on `batches` whose draws are resolved.
    async fn answer_waiters(&self, batches: &std::collections::HashSet<(String, i64)>) -> Result<(), Error> {
        let ids: Vec<String> = {
            let waiters = self.waiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            waiters
                .iter()
                .filter(|(_, ws)| ws.iter().any(|w| batches.contains(&w.batch) && !w.answer.is_closed()))
                .map(|(id, _)| id.clone())
                .collect()
        };
        for chunk in ids.chunks(5_000) {
            let rows = draw::Entity::find()
                .filter(draw::Column::ApplicationId.is_in(chunk.iter().map(String::as_str)))
                .filter(draw::Column::ResultSeq.is_not_null())
                .all(&self.db)
                .await?;
            let outcomes = self.outcomes_of(rows).await?;
            let mut waiters = self.waiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for (id, outcome) in outcomes {
                for w in waiters.remove(&id).unwrap_or_default() {
                    let _ = w.answer.send(outcome.clone());
                }
            }
            waiters.retain(|_, ws| {
                ws.retain(|w| !w.answer.is_closed());
                !ws.is_empty()
            });
        }
        Ok(())
    }

    /// Plates held for the owner, in one query: `retained` (identity plate,
    /// same class and colour, any locality: a move does not change the plate;
    /// a white plate is not reissued as a yellow one) and `auction` (won in
    /// this family).
    async fn owner_plates(
        &self,
        key: &str,
        family: &str,
    ) -> Result<(Option<plate::Model>, Option<plate::Model>), Error> {
        let now = crate::now_ms();
        let rows = plate::Entity::find()
            .filter(plate::Column::OwnerKey.eq(key))
            .filter(plate::Column::Status.is_in(["retained", "auction"]))
            .order_by_asc(plate::Column::UpdatedAtMs)
            .all(&self.db)
            .await?;
        // `<locality>-<class>-<colour>`: everything but the locality must match.
        let kind = |id: &str| id.split('-').skip(1).take(2).collect::<Vec<_>>().join("-");
        let wanted = kind(family);
        let retained = rows
            .iter()
            .find(|p| {
                p.status == "retained" && kind(&p.pool_id) == wanted && p.retained_until_ms.is_some_and(|t| t > now)
            })
            .cloned();
        let won = rows
            .into_iter()
            .find(|p| p.status == "auction" && p.pool_id.starts_with(&format!("{family}-")));
        Ok((retained, won))
    }

    /// Records an auction winner for a number on a pool's auction list.
    pub async fn record_auction_win(&self, pool_id: &str, number: u32, owner_id: &str) -> Result<String, Error> {
        let Some(pid) = PoolId::parse(pool_id) else {
            return Err(Error::invalid("pool_id", "not a pool id like 30-car-white-A"));
        };
        if !(1..=99_999).contains(&number) {
            return Err(Error::invalid("number", "must be 1 to 99999"));
        }
        let status = {
            let ledger = self.sync(&self.db).await?;
            ledger.pool(pool_id).and_then(|p| p.status(number))
        };
        if status != Some(vrs_draw::pool::Status::Withheld) || !self.cfg.auction_numbers.contains(&number) {
            return Err(Error::Precondition(format!(
                "{} is not withheld for auction in pool {pool_id}",
                pid.plate(number)
            )));
        }
        let plate_text = pid.plate(number);
        let row = plate::ActiveModel {
            pool_id: Set(pool_id.to_owned()),
            number: Set(number as i32),
            plate: Set(plate_text.clone()),
            application_id: Set(String::new()),
            owner_key: Set(self.privacy.owner_key(owner_id)),
            owner_salt: Set(None),
            status: Set("auction".into()),
            retained_until_ms: Set(None),
            updated_at_ms: Set(crate::now_ms()),
        };
        match row.insert(&self.db).await {
            Ok(_) => Ok(plate_text),
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Err(Error::AlreadyExists {
                field: "number",
                message: format!("{plate_text} already has a holder"),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Issues a withheld number held for the owner (a retained identity plate,
    /// or an auction win) to the owner's new application, without a draw.
    async fn assign_withheld(
        &self,
        app: &application::Model,
        state: State,
        p: plate::Model,
        method: Method,
    ) -> Result<Outcome, Error> {
        let (status, reason, legal_basis, history_reason) = match method {
            Method::Auction => (
                "auction",
                "AUCTION_WON",
                "Decree 156/2024/ND-CP (plate auctions)",
                "AUCTION_PLATE_CONFIRMED",
            ),
            _ => (
                "retained",
                "RETAINED_REISSUE",
                "Circular 79/2024/TT-BCA (identity plates)",
                "RETAINED_PLATE_REISSUED",
            ),
        };
        let now = crate::now_ms();
        let salt = random32()?;
        let txn = self.store.begin_write().await?;
        lock_pool(&txn, &p.pool_id).await?;
        let entry = Entry::PlateAssign(PlateAssign {
            pool_id: p.pool_id.clone(),
            number: p.number as u32,
            plate: p.plate.clone(),
            reason: reason.into(),
            legal_basis: legal_basis.into(),
            application_commitment: application_commitment(&salt, &app.id),
            at_ms: now as u64,
        });
        let seq = log::append(&txn, &[entry], now).await? as i64;
        let changed = plate::Entity::update_many()
            .col_expr(plate::Column::Status, Expr::value("issued"))
            .col_expr(plate::Column::ApplicationId, Expr::value(app.id.as_str()))
            .col_expr(plate::Column::RetainedUntilMs, Expr::value(Option::<i64>::None))
            .col_expr(plate::Column::UpdatedAtMs, Expr::value(now))
            .filter(plate::Column::PoolId.eq(p.pool_id.as_str()))
            .filter(plate::Column::Number.eq(p.number))
            .filter(plate::Column::Status.eq(status))
            .exec(&txn)
            .await?;
        if changed.rows_affected != 1 {
            return Err(Error::Conflict("the plate was assigned meanwhile; call again".into()));
        }
        draw::ActiveModel {
            application_id: Set(app.id.clone()),
            pool_id: Set(p.pool_id.clone()),
            method: Set(method.as_str().into()),
            owner_key: Set(p.owner_key.clone()),
            salt: Set(salt.to_vec()),
            beacon_id: Set(String::new()),
            round: Set(0),
            commit_seq: Set(seq),
            result_seq: Set(Some(seq)),
            number: Set(Some(p.number)),
            plate: Set(Some(p.plate.clone())),
            at_ms: Set(now),
            resolved_at_ms: Set(Some(now)),
            previous_result_seq: Set(None),
        }
        .insert(&txn)
        .await?;
        let to = workflow::next(self.ordering, state, Event::PlateAssigned)?;
        transition_in(
            &txn,
            &app.id,
            &[state],
            to,
            "system",
            history_reason,
            &p.plate,
            Some(&p.plate),
            now,
        )
        .await?;
        txn.commit().await?;
        self.checkpoint().await?;
        tracing::info!(application_id = %app.id, method = method.as_str(), "withheld plate issued without a draw");
        let application = self
            .store
            .records(&[app.id.as_str()])
            .await?
            .remove(&app.id)
            .ok_or_else(|| internal("the application vanished"))?;
        Ok(Outcome {
            plate: p.plate,
            method,
            receipt: None,
            application,
        })
    }

    /// Revokes an application's plate into its owner's five-year retention
    /// (ownership transfer, scrapping): logged, withheld from draws, reissued to
    /// the owner's next registration of the same class.
    /// Ends a registration: the application moves from ISSUED or DELIVERED to
    /// DEREGISTERED, and its plate into the owner's retention, in one transaction.
    pub async fn revoke(&self, application_id: &str, reason: &str, actor: &str) -> Result<String, Error> {
        use crate::domain::workflow::State;
        let now = crate::now_ms();
        let txn = self.store.begin_write().await?;
        let p = plate::Entity::find()
            .filter(plate::Column::ApplicationId.eq(application_id))
            .filter(plate::Column::Status.eq("issued"))
            .one(&txn)
            .await?
            .ok_or_else(|| Error::NotFound(format!("issued plate of application {application_id}")))?;
        lock_pool(&txn, &p.pool_id).await?;
        let moved = crate::store::transition_in(
            &txn,
            application_id,
            &[State::Issued, State::Delivered],
            State::Deregistered,
            actor,
            reason,
            &p.plate,
            None,
            now,
        )
        .await?;
        if !moved {
            return Err(Error::Precondition(
                "only a registration whose certificate is issued (ISSUED or DELIVERED) can be ended".into(),
            ));
        }
        let salt = random32()?;
        let until = now + RETENTION_MS;
        let entry = Entry::PlateRevoke(PlateRevoke {
            pool_id: p.pool_id.clone(),
            number: p.number as u32,
            plate: p.plate.clone(),
            reason: reason.to_owned(),
            legal_basis: "Circular 79/2024/TT-BCA (identity plates: five-year retention)".into(),
            owner_commitment: application_commitment(&salt, &p.owner_key),
            retained_until_ms: until as u64,
            at_ms: now as u64,
        });
        log::append(&txn, &[entry], now).await?;
        plate::Entity::update_many()
            .col_expr(plate::Column::Status, Expr::value("retained"))
            .col_expr(plate::Column::RetainedUntilMs, Expr::value(until))
            .col_expr(plate::Column::OwnerSalt, Expr::value(salt.to_vec()))
            .col_expr(plate::Column::UpdatedAtMs, Expr::value(now))
            .filter(plate::Column::PoolId.eq(p.pool_id.as_str()))
            .filter(plate::Column::Number.eq(p.number))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        self.checkpoint().await?;
        Ok(p.plate)
    }

    /// Returns plates whose retention has run out to their pools.
    pub async fn expire_retentions(&self) -> Result<usize, Error> {
        let now = crate::now_ms();
        let expired = plate::Entity::find()
            .filter(plate::Column::Status.eq("retained"))
            .filter(plate::Column::RetainedUntilMs.lte(now))
            .limit(1_000)
            .all(&self.db)
            .await?;
        let n = expired.len();
        for p in expired {
            let txn = self.store.begin_write().await?;
            lock_pool(&txn, &p.pool_id).await?;
            let gone = plate::Entity::delete_many()
                .filter(plate::Column::PoolId.eq(p.pool_id.as_str()))
                .filter(plate::Column::Number.eq(p.number))
                .filter(plate::Column::Status.eq("retained"))
                .exec(&txn)
                .await?;
            if gone.rows_affected == 1 {
                let entry = Entry::PoolRelease(PoolChange {
                    pool_id: p.pool_id.clone(),
                    reason: "RETENTION_EXPIRED".into(),
                    legal_basis: "Circular 79/2024/TT-BCA (five years after revocation)".into(),
                    numbers: vec![p.number as u32],
                    at_ms: now as u64,
                });
                log::append(&txn, &[entry], now).await?;
            }
            txn.commit().await?;
        }
        Ok(n)
    }

    // ----- log and receipts ---------------------------------------------------

    /// Signs a checkpoint of the log as it is now (once per size).
    pub async fn checkpoint(&self) -> Result<crate::store::entities::checkpoint::Model, Error> {
        let (size, root) = {
            let ledger = self.sync(&self.db).await?;
            let size = ledger.size();
            (
                size,
                ledger
                    .tree()
                    .root(size)
                    .ok_or_else(|| internal("tree shorter than itself"))?,
            )
        };
        if let Some(cp) = checkpoint::Entity::find_by_id(size as i64).one(&self.db).await? {
            return Ok(cp);
        }
        let note = self.signer.sign(&Checkpoint {
            origin: self.cfg.log_origin.clone(),
            size,
            root,
        });
        let model = checkpoint::Model {
            size: size as i64,
            root: root.to_vec(),
            note,
            at_ms: crate::now_ms(),
        };
        match checkpoint::ActiveModel::from(model.clone()).insert(&self.db).await {
            Ok(_) => Ok(model),
            // Another replica signed the same size first; both notes are valid, keep theirs.
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                checkpoint::Entity::find_by_id(size as i64)
                    .one(&self.db)
                    .await?
                    .ok_or_else(|| internal("checkpoint vanished"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The log's tree as this replica knows it, brought up to date.
    pub async fn tree_size_and<T>(&self, f: impl FnOnce(&vrs_draw::merkle::Tree) -> T) -> Result<T, Error> {
        let ledger = self.sync(&self.db).await?;
        Ok(f(ledger.tree()))
    }

    /// Whether the application has a committed draw without its result.
    pub async fn draw_pending(&self, application_id: &str) -> Result<bool, Error> {
        Ok(draw::Entity::find_by_id(application_id)
            .one(&self.db)
            .await?
            .is_some_and(|d| d.result_seq.is_none()))
    }

    /// The randomness beacon draws are resolved with.
    pub fn beacon(&self) -> &Arc<dyn BeaconSource> {
        &self.beacon
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn signer(&self) -> &NoteSigner {
        &self.signer
    }
}

/// Locks a pool's row until the end of the transaction (PostgreSQL; SQLite's
/// single writer already serialises).
async fn lock_pool<C: ConnectionTrait>(conn: &C, pool_id: &str) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        pool::Entity::find_by_id(pool_id.to_owned())
            .lock_exclusive()
            .one(conn)
            .await?;
    }
    Ok(())
}

/// Like [`lock_pool`], but gives up at once (`false`) if another transaction
/// holds the pool (PostgreSQL `SKIP LOCKED`; SQLite's writer lock is held already).
async fn try_lock_pool<C: ConnectionTrait>(conn: &C, pool_id: &str) -> Result<bool, DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        let got = pool::Entity::find_by_id(pool_id.to_owned())
            .lock_with_behavior(
                sea_orm::sea_query::LockType::Update,
                sea_orm::sea_query::LockBehavior::SkipLocked,
            )
            .one(conn)
            .await?;
        return Ok(got.is_some());
    }
    Ok(true)
}

/// The owner's identifier and the vehicle class of a stored declaration.
fn owner_and_class(req: &pb::SubmitApplicationRequest) -> Result<(String, &'static str), Error> {
    let owner = match req.owner.as_ref().map(|o| o.id()) {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => return Err(internal("stored declaration without owner")),
    };
    let class = match req.vehicle.as_ref().map(|v| v.vehicle_class()) {
        Some(pb::VehicleClass::Motorbike) => "motorbike",
        _ => "car",
    };
    Ok((owner, class))
}
