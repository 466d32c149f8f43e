//! The site's copy of the log, checked before it is shown.
//!
//! The site never shows what it has not verified: it pulls the latest signed
//! checkpoint and the entries up to its size from the public
//! `TransparencyLogService`, replays them (`vrs_draw::audit::Ledger`), and
//! takes the new state only if the checkpoint opens with the log's key (or the
//! key its logged rotations lead to) and its root is the root of the entries
//! it replayed. Otherwise the last verified state stays on the site with a
//! warning. What is kept per pool and per plate is what the public log holds:
//! numbers, plates, rounds, times and commitments, never personal data.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use vrs_draw::audit::{KeyChain, Ledger, apply_effect};
use vrs_draw::entry::Entry;
use vrs_draw::pool::PoolState;
use vrs_draw::receipt::Trust;
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::transparency_log_service_client::TransparencyLogServiceClient;

/// Draws kept per pool for its page (the log keeps all; the download has them).
pub const RECENT_DRAWS: usize = 200;

/// Entries asked for per call (the API's limit).
const PAGE: u64 = 10_000;

/// One draw as the public log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draw {
    pub pool_id: String,
    pub plate: String,
    pub number: u32,
    pub beacon_id: String,
    pub round: u64,
    pub commit_index: u64,
    pub result_index: u64,
    /// Hex of the commit's salted application commitment.
    pub commitment: String,
    pub committed_at_ms: u64,
    pub resolved_at_ms: u64,
    /// Candidates read before this number (1: the first was free).
    pub attempts: u32,
    /// The pool's available numbers when the draw was committed.
    pub available_at_commit: u32,
}

/// A pool: its state now and its latest draws, newest first.
#[derive(Debug, Clone)]
pub struct Pool {
    pub state: PoolState,
    pub opened_at_ms: u64,
    pub draws: VecDeque<Draw>,
    pub drawn: u64,
    /// Draws committed and not yet answered.
    pub pending: u64,
}

/// The last verified state of the log.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The checkpoint note, its size and root, as verified.
    pub note: String,
    pub size: u64,
    pub root: [u8; 32],
    pub pools: BTreeMap<String, Pool>,
    pub plates: HashMap<String, Draw>,
    /// Audit findings of the replay (an honest log has none).
    pub findings: Vec<String>,
    /// Log key rotations, as (index, old key, new key).
    pub rotations: Vec<(u64, String, String)>,
    /// When this state was verified (Unix ms).
    pub verified_at_ms: i64,
    /// Commits not yet answered, by log index: (commitment, time, available).
    open: HashMap<u64, (String, u64, u32)>,
}

/// What the site shows: the verified view, the trust it was checked with,
/// and the last error, if the latest attempt failed.
#[derive(Debug, Default)]
pub struct Shared {
    pub view: View,
    pub trust: Option<Trust>,
    pub trust_json: String,
    pub rotations_json: String,
    pub error: Option<String>,
}

/// The site's state, shared by the refresher and the pages.
pub type State = Arc<RwLock<Shared>>;

/// Keeps the view up to date every `every` until `stop`.
pub async fn run(state: State, channel: Channel, every: Duration, stop: CancellationToken) {
    let mut mirror = Mirror::new(channel);
    loop {
        match mirror.refresh().await {
            Ok(Some(update)) => {
                // The verified entries go into the one view the pages read:
                // no second copy of the pools and plates to keep or clone.
                let mut s = state.write().unwrap_or_else(std::sync::PoisonError::into_inner);
                let v = &mut s.view;
                for (index, bytes) in &update.entries {
                    v.take(*index, bytes);
                }
                v.note = update.note;
                v.size = update.size;
                v.root = update.root;
                v.findings.extend(update.findings);
                v.rotations = update.rotations;
                v.verified_at_ms = chrono::Utc::now().timestamp_millis();
                s.trust = Some(update.trust);
                s.trust_json = update.trust_json;
                s.rotations_json = update.rotations_json;
                s.error = None;
            }
            Ok(None) => {
                state.write().unwrap_or_else(std::sync::PoisonError::into_inner).error = None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the log could not be verified; the last verified state stays");
                state.write().unwrap_or_else(std::sync::PoisonError::into_inner).error = Some(e.to_string());
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// A refresh that verified: the new entries and the checkpoint they make.
struct Update {
    entries: Vec<(u64, Vec<u8>)>,
    note: String,
    size: u64,
    root: [u8; 32],
    findings: Vec<String>,
    rotations: Vec<(u64, String, String)>,
    trust: Trust,
    trust_json: String,
    rotations_json: String,
}

/// The replayed log, kept between refreshes so each one reads only new entries.
struct Mirror {
    client: TransparencyLogServiceClient<Channel>,
    ledger: Ledger,
    /// The checkpoint last verified.
    note: String,
    /// Entries read but not yet under a verified checkpoint, and what their
    /// replay found: they reach the pages with the next checkpoint that verifies.
    unpublished: Vec<(u64, Vec<u8>)>,
    findings: Vec<String>,
}

impl View {
    /// Adds entry `index` to the pools and plates.
    fn take(&mut self, index: u64, bytes: &[u8]) {
        let Ok(entry) = Entry::decode(bytes) else {
            return; // The ledger reported it.
        };
        if let Entry::PoolOpen(p) = &entry {
            self.pools.entry(p.pool_id.clone()).or_insert_with(|| Pool {
                state: PoolState::open(),
                opened_at_ms: p.at_ms,
                draws: VecDeque::new(),
                drawn: 0,
                pending: 0,
            });
            return;
        }
        let Some(pool) = self.pools.get_mut(entry.pool_id()) else {
            return;
        };
        // An illegal change is the ledger's finding; the site shows the state as applied.
        let _ = apply_effect(&mut pool.state, &entry);
        match entry {
            Entry::DrawCommit(c) => {
                pool.pending += 1;
                self.open.insert(
                    index,
                    (hex::encode(c.application_commitment), c.at_ms, c.available_count),
                );
            }
            Entry::DrawResult(r) => {
                let Some((commitment, committed_at_ms, available)) = self.open.remove(&r.commit_index) else {
                    return;
                };
                pool.pending = pool.pending.saturating_sub(1);
                pool.drawn += 1;
                let draw = Draw {
                    pool_id: r.pool_id,
                    plate: r.plate,
                    number: r.number,
                    beacon_id: r.beacon_id,
                    round: r.round,
                    commit_index: r.commit_index,
                    result_index: index,
                    commitment,
                    committed_at_ms,
                    resolved_at_ms: r.at_ms,
                    attempts: r.attempts,
                    available_at_commit: available,
                };
                self.plates.insert(draw.plate.clone(), draw.clone());
                pool.draws.push_front(draw);
                pool.draws.truncate(RECENT_DRAWS);
            }
            _ => {}
        }
    }
}

impl Mirror {
    fn new(channel: Channel) -> Mirror {
        Mirror {
            client: TransparencyLogServiceClient::new(channel).max_decoding_message_size(256 * 1024 * 1024),
            ledger: Ledger::new(),
            note: String::new(),
            unpublished: Vec::new(),
            findings: Vec::new(),
        }
    }

    /// Reads what is new; `None` when nothing is.
    async fn refresh(&mut self) -> anyhow::Result<Option<Update>> {
        let trust_msg = self.client.get_trust(pb::GetTrustRequest {}).await?.into_inner();
        let trust: Trust = serde_json::from_str(&trust_msg.json)?;
        let cp = self
            .client
            .get_checkpoint(pb::GetCheckpointRequest {})
            .await?
            .into_inner();
        if cp.size == self.ledger.size() && cp.note == self.note {
            return Ok(None);
        }
        anyhow::ensure!(
            cp.size >= self.ledger.size(),
            "the log shrank from {} to {} entries",
            self.ledger.size(),
            cp.size
        );
        let mut start = self.ledger.size();
        while start < cp.size {
            let end = (start + PAGE).min(cp.size);
            let page = self
                .client
                .get_entries(pb::GetEntriesRequest { start, end })
                .await?
                .into_inner();
            anyhow::ensure!(!page.entries.is_empty(), "the log served no entries from {start}");
            for e in page.entries {
                anyhow::ensure!(e.index == start, "entry {} served where {start} was due", e.index);
                self.findings.extend(
                    self.ledger
                        .append(&e.entry)
                        .into_iter()
                        .map(|f| format!("{}: {} ({})", f.index, f.rule, f.detail)),
                );
                self.unpublished.push((start, e.entry));
                start += 1;
            }
        }
        // The checkpoint must open with the log's key as its rotations lead,
        // and name the root of exactly the entries replayed.
        let chain = KeyChain::follow(&trust.log_key, self.ledger.rotations()).map_err(anyhow::Error::msg)?;
        let opened = chain.open(&cp.note, &trust.log_origin).map_err(anyhow::Error::msg)?;
        let root = self.ledger.tree().root(opened.size).ok_or_else(|| {
            anyhow::anyhow!(
                "the checkpoint names {} entries; the log served {}",
                opened.size,
                self.ledger.size()
            )
        })?;
        anyhow::ensure!(
            opened.size == cp.size && root == opened.root,
            "the checkpoint's root is not the root of the entries served"
        );
        self.note.clone_from(&cp.note);
        Ok(Some(Update {
            entries: std::mem::take(&mut self.unpublished),
            note: cp.note,
            size: cp.size,
            root,
            findings: std::mem::take(&mut self.findings),
            rotations: self
                .ledger
                .rotations()
                .iter()
                .map(|(i, r)| (*i, r.old_key.clone(), r.new_key.clone()))
                .collect(),
            trust,
            trust_json: trust_msg.json,
            rotations_json: trust_msg.rotations_json,
        }))
    }
}
