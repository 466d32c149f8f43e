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

mod checkpoints;
mod committer;
mod draw_plate;
pub mod family;
pub mod log;
mod log_keys;
mod pools;
mod receipts;
mod resolver;
mod withheld;

use committer::{CommitError, CommitRequest};
pub use log_keys::LogKeys;
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
    /// Seeds of earlier checkpoint keys (never generated). To rotate the log
    /// key: the new key becomes `log_key_file` and the one in force moves
    /// here; the first replica started so logs the rotation, signed by both
    /// keys (draw spec §6.4). A replica started with a retired key alone is refused.
    pub retired_log_key_files: Vec<String>,
    /// How often the resolver looks again while a batch it watches (committed
    /// or waited on here) has its round out but no answer yet. It first looks
    /// just after the round is published.
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
            retired_log_key_files: Vec::new(),
            resolver_poll_ms: 25,
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
    /// The database, through the store: write transactions begin (and are counted) there.
    store: crate::store::Store,
    cfg: DrawConfig,
    /// Which locality code each office draws from.
    offices: Offices,
    ordering: Ordering,
    beacon: Arc<dyn BeaconSource>,
    /// The checkpoint key, and the retired keys a rotation hands over from.
    keys: LogKeys,
    /// The handover checkpoint of each key rotation, by the rotation's log
    /// index: receipts carry them (see `log_keys`).
    handovers: std::sync::RwLock<std::collections::BTreeMap<u64, String>>,
    /// This replica's copy of the log, brought up to date before use.
    mirror: Mutex<Ledger>,
    /// Available numbers per pool as of the last sync: a cheap, possibly stale
    /// answer for choosing a pool, so DrawPlate calls do not queue on the mirror.
    available: Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
    /// Entries in the log as this replica last read it (`vrs.log.size`).
    log_size: Arc<std::sync::atomic::AtomicU64>,
    /// `vrs.draws.resolved` by pool.
    draws: opentelemetry::metrics::Counter<u64>,
    /// `vrs.beacon.rejected`: rounds the beacon served that did not verify
    /// against the pinned key (refused, never used: an alert).
    beacon_rejected: opentelemetry::metrics::Counter<u64>,
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
    /// Wakes the resolver when a batch is newly watched (see `next_pass_in`).
    resolver_wake: tokio::sync::Notify,
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
        keys: LogKeys,
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
        let beacon_rejected = meter
            .u64_counter("vrs.beacon.rejected")
            .with_description("Beacon rounds refused because their signature does not verify against the pinned key")
            .build();
        Plates {
            store,
            cfg,
            offices,
            ordering,
            beacon,
            keys,
            handovers: Default::default(),
            mirror: Mutex::new(Ledger::new()),
            available,
            log_size,
            draws,
            beacon_rejected,
            watched: std::sync::Mutex::new(std::collections::HashSet::new()),
            commits: tx,
            commit_rx: std::sync::Mutex::new(Some(rx)),
            waiters: std::sync::Mutex::new(std::collections::HashMap::new()),
            pools: std::sync::Mutex::new(std::collections::HashMap::new()),
            pool_turn: Mutex::new(()),
            idle_since: std::sync::Mutex::new(std::time::Instant::now()),
            resolver_wake: tokio::sync::Notify::new(),
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
        let first = log::entries(self.db(), 0, 1).await?;
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
            log_key: self.keys.current.signer.verifier_key(),
            beacons: vec![TrustedBeacon {
                beacon_id: p.beacon_id.clone(),
                public_key: hex::encode(&p.public_key),
                genesis_unix_ms: p.genesis_unix_ms,
                period_ms: p.period_ms,
            }],
        }
    }

    /// The log's tree as this replica knows it, brought up to date.
    pub async fn tree_size_and<T>(&self, f: impl FnOnce(&vrs_draw::merkle::Tree) -> T) -> Result<T, Error> {
        let ledger = self.sync(self.db()).await?;
        Ok(f(ledger.tree()))
    }

    /// Whether the application has a committed draw without its result.
    pub async fn draw_pending(&self, application_id: &str) -> Result<bool, Error> {
        Ok(draw::Entity::find_by_id(application_id)
            .one(self.db())
            .await?
            .is_some_and(|d| d.result_seq.is_none()))
    }

    /// The randomness beacon draws are resolved with.
    pub fn beacon(&self) -> &Arc<dyn BeaconSource> {
        &self.beacon
    }

    pub fn db(&self) -> &DatabaseConnection {
        self.store.connection()
    }

    pub fn signer(&self) -> &NoteSigner {
        &self.keys.current.signer
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

/// Locks the pools no other transaction holds and returns them (PostgreSQL
/// `SKIP LOCKED`, one statement for all; SQLite's writer lock is held already).
async fn try_lock_pools<C: ConnectionTrait>(conn: &C, pools: &[String]) -> Result<Vec<String>, DbErr> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(pools.to_vec());
    }
    let mut held: Vec<String> = pool::Entity::find()
        .select_only()
        .column(pool::Column::PoolId)
        .filter(pool::Column::PoolId.is_in(pools.iter().map(String::as_str)))
        .lock_with_behavior(
            sea_orm::sea_query::LockType::Update,
            sea_orm::sea_query::LockBehavior::SkipLocked,
        )
        .into_tuple()
        .all(conn)
        .await?;
    held.sort();
    Ok(held)
}
