//! Replay of the whole log (draw spec §8): rebuilds the tree and every pool
//! from the entries alone, re-derives every draw, and names each entry that
//! breaks a rule. The registration service uses the same [`Ledger`] to know
//! its pools' state, to write commits and to resolve them; auditors use
//! [`Auditor`], which adds the checks that need pinned beacon keys.
//!
//! Per pool the ledger keeps the state in log order and, for the draws still
//! pending, the available set each one's commit named (spec §5.1). Commits
//! with no availability change between them share one snapshot, so a burst of
//! thousands of pending draws holds a handful of bitmaps.
//!
//! The log's key rotations (spec §6.4) are kept by the ledger; [`KeyChain`]
//! follows them from an auditor's pinned key and says which key must sign a
//! checkpoint of each size, and [`check_checkpoints`] holds the checkpoints an
//! auditor keeps to it (spec §8, "Keys and checkpoints").

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use crate::beacon;
use crate::draw::{self, Drawn};
use crate::entry::{DrawCommit, DrawResult, Entry, KeyRotation, NONE};
use crate::merkle::{Hash, Tree, leaf_hash};
use crate::note::{Checkpoint, NoteVerifier};
use crate::pool::{PoolId, PoolState, Status};
use crate::receipt::RULES_VERSION;
use crate::sampler;

/// One rule an entry breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Log index of the offending entry.
    pub index: u64,
    /// Stable name (spec §8): `decode`, `pool`, `rules`, `transition`, `frozen`,
    /// `previous`, `commit-state`, `commit-before-beacon`, `link`, `duplicate`,
    /// `order`, `beacon`, `draw`, `gap`, `key-rotation`, `handover`.
    pub rule: &'static str,
    pub detail: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "entry {}: {}: {}", self.index, self.rule, self.detail)
    }
}

/// Applies an entry's effect on its pool without re-deriving draws: enough to
/// know which numbers are available (e.g. to rebuild the state a receipt shows).
/// Entries of other kinds, or of pools other than `pool`'s, are the caller's to filter.
pub fn apply_effect(pool: &mut PoolState, entry: &Entry) -> Result<(), crate::pool::IllegalChange> {
    match entry {
        Entry::PoolWithhold(c) => c
            .numbers
            .iter()
            .try_for_each(|n| pool.change(*n, Status::Available, Status::Withheld)),
        Entry::PoolRelease(c) => c
            .numbers
            .iter()
            .try_for_each(|n| pool.change(*n, Status::Withheld, Status::Available)),
        Entry::PlateAssign(a) => pool.change(a.number, Status::Withheld, Status::Issued),
        Entry::PlateRevoke(r) => pool.change(r.number, Status::Issued, Status::Withheld),
        Entry::DrawResult(r) => pool.change(r.number, Status::Available, Status::Issued),
        Entry::PoolOpen(_) | Entry::DrawCommit(_) | Entry::KeyRotation(_) => Ok(()),
    }
}

/// A pinned beacon for replay: its public key and timing.
#[derive(Debug, Clone)]
pub struct BeaconKey {
    pub public_key: Vec<u8>,
    pub genesis_unix_ms: i64,
    pub period_ms: u64,
}

impl BeaconKey {
    /// When `round` is published ([`beacon::publish_ms`]).
    pub fn publish_ms(&self, round: u64) -> Option<i128> {
        beacon::publish_ms(self.genesis_unix_ms, self.period_ms, round)
    }

    /// The timing rule of spec §5.3 ([`beacon::committed_in_time`]).
    pub fn committed_in_time(&self, at_ms: u64, round: u64) -> bool {
        beacon::committed_in_time(self.genesis_unix_ms, self.period_ms, at_ms, round)
    }
}

/// What a new draw-commit of a pool must say (spec §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitState {
    pub previous_commit: u64,
    pub available_count: u32,
    pub pool_digest: Hash,
    /// Draws of the pool committed and not yet answered: each will take one
    /// number of the set.
    pub pending: u32,
}

impl CommitState {
    /// Numbers of the set not owed to a pending draw: a commit needs one
    /// (spec §5.1 rule 4), or it could never be answered.
    pub fn room(&self) -> u32 {
        self.available_count.saturating_sub(self.pending)
    }
}

/// A draw the resolver computed: its result, and the available set its
/// commit named (shared with the other commits that named the same set).
#[derive(Debug, Clone)]
pub struct Resolved {
    pub result: DrawResult,
    /// The commit's `previous_commit`: the result answering it is the one a
    /// receipt shows as `previous`.
    pub previous_commit: u64,
    /// Log index of the first pending commit that named this set.
    pub set_since: u64,
    pub set: Arc<PoolState>,
}

/// Why a pending draw cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("every number of pool {0}'s set is taken by earlier draws")]
    Exhausted(String),
    #[error("pool id {0:?} is not a valid pool")]
    BadPool(String),
    #[error("pool {0} is not in the log")]
    UnknownPool(String),
}

/// The available set a pending commit named, shared by consecutive commits.
#[derive(Debug, Clone)]
struct Snapshot {
    /// Log index of the first commit that named it.
    since: u64,
    /// The pool's `version` when it was taken.
    version: u64,
    set: Arc<PoolState>,
}

/// One pool as the ledger tracks it.
#[derive(Debug, Clone)]
struct PoolBook {
    /// The state in log order.
    state: PoolState,
    /// Bumped by every change of the available set.
    version: u64,
    /// Open commits, in commit order.
    open: VecDeque<u64>,
    /// Log index of the pool's latest draw-commit.
    latest_commit: Option<u64>,
    /// The sets named by the open commits, oldest first.
    snapshots: VecDeque<Snapshot>,
    /// Numbers drawn while a commit of the pool was open: number → the result's
    /// log index. `taken(C)` is the part logged after C (spec §5.2).
    drawn: HashMap<u32, u64>,
    /// `drawn`'s size after its last pruning.
    pruned_at: usize,
}

impl PoolBook {
    fn new() -> PoolBook {
        PoolBook {
            state: PoolState::open(),
            version: 0,
            open: VecDeque::new(),
            latest_commit: None,
            snapshots: VecDeque::new(),
            drawn: HashMap::new(),
            pruned_at: 0,
        }
    }

    /// Moves a number, counting changes of the available set.
    fn change(&mut self, n: u32, from: Status, to: Status) -> Result<(), crate::pool::IllegalChange> {
        self.state.change(n, from, to)?;
        if from == Status::Available || to == Status::Available {
            self.version += 1;
        }
        Ok(())
    }

    fn commit_state(&mut self) -> CommitState {
        CommitState {
            previous_commit: self.latest_commit.unwrap_or(NONE),
            available_count: self.state.available_count(),
            pool_digest: self.state.digest(),
            pending: self.open.len() as u32,
        }
    }

    /// Records a commit at `index` as open, naming the current set.
    fn open_commit(&mut self, index: u64) {
        if self.snapshots.back().is_none_or(|s| s.version != self.version) {
            self.state.digest(); // the copy carries its digest
            self.snapshots.push_back(Snapshot {
                since: index,
                version: self.version,
                set: Arc::new(self.state.clone()),
            });
        }
        self.open.push_back(index);
        self.latest_commit = Some(index);
    }

    /// The set the open commit at `index` named.
    fn snapshot_of(&self, index: u64) -> Option<&Snapshot> {
        self.snapshots.iter().rev().find(|s| s.since <= index)
    }

    /// Closes the open commit at `index` (the oldest unless the log is out of
    /// order) and records the number its result drew at `result_index`.
    fn close_commit(&mut self, index: u64, result_index: u64, number: u32) {
        if let Some(at) = self.open.iter().position(|&c| c == index) {
            self.open.remove(at);
        }
        let Some(&oldest) = self.open.front() else {
            self.snapshots.clear();
            self.drawn.clear();
            self.pruned_at = 0;
            return;
        };
        self.drawn.insert(number, result_index);
        while self.snapshots.len() > 1 && self.snapshots[1].since <= oldest {
            self.snapshots.pop_front();
        }
        // Draws logged before the oldest open commit no longer count for anyone.
        if self.drawn.len() > 64 && self.drawn.len() >= 2 * self.pruned_at {
            self.drawn.retain(|_, at| *at > oldest);
            self.pruned_at = self.drawn.len();
        }
    }

    /// The rule of spec §5.2 for the open commit at `commit_index`: `also`
    /// holds numbers drawn after every open commit but not logged yet.
    fn pick(&self, commit_index: u64, seed: [u8; 32], set: &PoolState, also: &HashMap<u32, ()>) -> Option<Drawn> {
        let taken = |m: u32| also.contains_key(&m) || self.drawn.get(&m).is_some_and(|&at| at > commit_index);
        let in_set = || {
            self.drawn
                .iter()
                .filter(|&(m, &at)| at > commit_index && !also.contains_key(m))
                .map(|(m, _)| *m)
                .chain(also.keys().copied())
                .filter(|m| set.status(*m) == Some(Status::Available))
                .count()
        };
        draw::pick(seed, set, taken, in_set)
    }
}

/// A growable set of log indices (commits already answered).
#[derive(Debug, Default, Clone)]
struct IndexSet(Vec<u64>);

impl IndexSet {
    fn insert(&mut self, i: u64) {
        let (w, b) = ((i / 64) as usize, i % 64);
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << b;
    }
    fn contains(&self, i: u64) -> bool {
        self.0.get((i / 64) as usize).is_some_and(|w| w >> (i % 64) & 1 == 1)
    }
}

/// The log's tree and every pool's state, built entry by entry.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    tree: Tree,
    pools: HashMap<String, PoolBook>,
    /// Commits still waiting for their result: log index → (leaf hash, commit).
    open_commits: BTreeMap<u64, (Hash, DrawCommit)>,
    answered: IndexSet,
    /// The log key's rotations, in log order, with their indices.
    rotations: Vec<(u64, KeyRotation)>,
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger {
            tree: Tree::new(),
            ..Default::default()
        }
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// The key-rotation entries so far, in log order, with their indices.
    pub fn rotations(&self) -> &[(u64, KeyRotation)] {
        &self.rotations
    }

    /// A pool's state in log order.
    pub fn pool(&self, id: &str) -> Option<&PoolState> {
        self.pools.get(id).map(|b| &b.state)
    }

    /// Commits without a result, oldest first.
    pub fn open_commits(&self) -> impl Iterator<Item = (u64, &DrawCommit)> {
        self.open_commits.iter().map(|(i, (_, c))| (*i, c))
    }

    /// What a draw-commit of `pool_id` appended next must carry (spec §5.1);
    /// `None` if the pool was never opened.
    pub fn commit_state(&mut self, pool_id: &str) -> Option<CommitState> {
        self.pools.get_mut(pool_id).map(PoolBook::commit_state)
    }

    /// Resolves the pool's open commits in commit order (spec §5.2), as long as
    /// `value` gives the beacon signature and randomness of their round and at
    /// most `limit` of them. Nothing is changed: the results become part of the
    /// ledger when they are appended like any other entry. A commit whose set
    /// has no number left for it (spec §5.1 rule 4 broken) ends the batch, and
    /// is an error when it is the first.
    pub fn resolve(
        &self,
        pool_id: &str,
        limit: usize,
        mut value: impl FnMut(&DrawCommit) -> Option<(Vec<u8>, Hash)>,
        at_ms: u64,
    ) -> Result<Vec<Resolved>, ResolveError> {
        let pid = PoolId::parse(pool_id).ok_or_else(|| ResolveError::BadPool(pool_id.to_owned()))?;
        let book = self
            .pools
            .get(pool_id)
            .ok_or_else(|| ResolveError::UnknownPool(pool_id.to_owned()))?;
        let mut drawn_now = HashMap::new();
        let mut out = Vec::new();
        for &c in book.open.iter().take(limit) {
            let Some((hash, commit)) = self.open_commits.get(&c) else {
                break;
            };
            let Some((signature, randomness)) = value(commit) else {
                break;
            };
            let snap = book
                .snapshot_of(c)
                .ok_or_else(|| ResolveError::UnknownPool(pool_id.to_owned()))?;
            let seed = sampler::seed(hash, commit.round, &randomness);
            let Some(d) = book.pick(c, seed, &snap.set, &drawn_now) else {
                // The draws before it still get their plates; this one never can.
                if out.is_empty() {
                    return Err(ResolveError::Exhausted(pool_id.to_owned()));
                }
                break;
            };
            drawn_now.insert(d.number, ());
            out.push(Resolved {
                result: DrawResult {
                    commit_index: c,
                    commit_hash: *hash,
                    pool_id: pool_id.to_owned(),
                    beacon_id: commit.beacon_id.clone(),
                    round: commit.round,
                    signature,
                    randomness,
                    seed,
                    attempts: d.attempts,
                    index: d.index,
                    number: d.number,
                    plate: pid.plate(d.number),
                    at_ms,
                },
                previous_commit: commit.previous_commit,
                set_since: snap.since,
                set: snap.set.clone(),
            });
        }
        Ok(out)
    }

    /// Appends an entry and applies its effects. An entry that breaks a rule
    /// is still appended (the log is what it is) and the finding returned; its
    /// effects are applied only as far as they are legal.
    pub fn append(&mut self, bytes: &[u8]) -> Vec<Finding> {
        let index = self.tree.size();
        let leaf = leaf_hash(bytes);
        self.tree.push(leaf);
        let mut findings = Vec::new();
        let mut find = |rule: &'static str, detail: String| findings.push(Finding { index, rule, detail });
        let entry = match Entry::decode(bytes) {
            Ok(e) => e,
            Err(e) => {
                find("decode", e.to_string());
                return findings;
            }
        };
        // No pool: whether the rotation is valid depends on the key an auditor pins ([`KeyChain`]).
        if let Entry::KeyRotation(r) = entry {
            self.rotations.push((index, r));
            return findings;
        }
        let pool_id = entry.pool_id().to_owned();
        if let Entry::PoolOpen(o) = &entry {
            if o.rules_version != RULES_VERSION {
                find("rules", format!("unknown rules version {:?}", o.rules_version));
            }
            match self.pools.entry(pool_id) {
                std::collections::hash_map::Entry::Occupied(o) => {
                    find("pool", format!("pool {} opened twice", o.key()));
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(PoolBook::new());
                }
            }
            return findings;
        }
        let Some(book) = self.pools.get_mut(&pool_id) else {
            find("pool", format!("pool {pool_id} was never opened"));
            return findings;
        };
        match entry {
            Entry::PoolOpen(_) | Entry::KeyRotation(_) => {}
            Entry::PoolWithhold(c) | Entry::PoolRelease(c) => {
                let withhold = bytes[4] == crate::entry::KIND_POOL_WITHHOLD;
                if !c.numbers.windows(2).all(|w| w[0] < w[1]) {
                    find("pool", "numbers are not strictly ascending".into());
                }
                if withhold && let Some(open) = book.open.front() {
                    find(
                        "frozen",
                        format!("a withholding while the draw committed at entry {open} is pending; it has no effect"),
                    );
                    return findings;
                }
                let (from, to) = if withhold {
                    (Status::Available, Status::Withheld)
                } else {
                    (Status::Withheld, Status::Available)
                };
                for n in c.numbers {
                    if let Err(e) = book.change(n, from, to) {
                        find("transition", e.to_string());
                    }
                }
            }
            Entry::PlateAssign(a) => {
                if let Err(e) = book.change(a.number, Status::Withheld, Status::Issued) {
                    find("transition", e.to_string());
                }
            }
            Entry::PlateRevoke(r) => {
                if let Err(e) = book.change(r.number, Status::Issued, Status::Withheld) {
                    find("transition", e.to_string());
                }
            }
            Entry::DrawCommit(c) => {
                if c.rules_version != RULES_VERSION {
                    find("rules", format!("unknown rules version {:?}", c.rules_version));
                }
                let expected = book.commit_state();
                if c.previous_commit != expected.previous_commit {
                    find(
                        "previous",
                        format!(
                            "names entry {} as the pool's previous commit; it is {}",
                            show_index(c.previous_commit),
                            show_index(expected.previous_commit)
                        ),
                    );
                }
                if expected.room() == 0 {
                    find(
                        "commit-state",
                        format!(
                            "pool {pool_id} has {} available numbers, all owed to the {} draws pending: this draw could never be answered",
                            expected.available_count, expected.pending
                        ),
                    );
                } else if c.available_count != expected.available_count || c.pool_digest != expected.pool_digest {
                    find(
                        "commit-state",
                        format!(
                            "names a set of {} numbers; the pool has {} (or another digest)",
                            c.available_count, expected.available_count
                        ),
                    );
                }
                book.open_commit(index);
                self.open_commits.insert(index, (leaf, c));
            }
            Entry::DrawResult(r) => {
                let Some((hash, commit)) = self.open_commits.remove(&r.commit_index) else {
                    let rule = if self.answered.contains(r.commit_index) {
                        "duplicate"
                    } else {
                        "link"
                    };
                    find(
                        rule,
                        format!("answers entry {}, which is not an open commit", r.commit_index),
                    );
                    return findings;
                };
                self.answered.insert(r.commit_index);
                if hash != r.commit_hash {
                    find("link", format!("commit hash differs from entry {}'s", r.commit_index));
                }
                if r.pool_id != commit.pool_id || r.beacon_id != commit.beacon_id || r.round != commit.round {
                    find(
                        "link",
                        format!("pool, beacon or round differs from entry {}'s", r.commit_index),
                    );
                }
                if let Some(&oldest) = book.open.front()
                    && oldest != r.commit_index
                {
                    find(
                        "order",
                        format!(
                            "answers entry {} while the pool's earlier commit at entry {oldest} is open",
                            r.commit_index
                        ),
                    );
                }
                // Re-derive the draw from the commit's set and the logged beacon value.
                let seed = sampler::seed(&hash, commit.round, &r.randomness);
                let expected = book
                    .snapshot_of(r.commit_index)
                    .and_then(|s| book.pick(r.commit_index, seed, &s.set, &HashMap::new()));
                let plate = PoolId::parse(&commit.pool_id).map(|p| p.plate(r.number));
                match expected {
                    Some(d)
                        if d.attempts == r.attempts
                            && d.index == r.index
                            && d.number == r.number
                            && seed == r.seed
                            && plate.as_deref() == Some(r.plate.as_str()) => {}
                    Some(d) => find(
                        "draw",
                        format!(
                            "does not follow from its commit: expected attempts {} index {} number {}, logged attempts {} index {} number {} ({})",
                            d.attempts, d.index, d.number, r.attempts, r.index, r.number, r.plate
                        ),
                    ),
                    None => find("draw", "the commit's set has no free number".into()),
                }
                // The number as logged, so later findings are about later entries.
                if let Err(e) = book.change(r.number, Status::Available, Status::Issued) {
                    find("transition", e.to_string());
                }
                book.close_commit(r.commit_index, index, r.number);
            }
        }
        findings
    }
}

fn show_index(i: u64) -> String {
    if i == NONE { "NONE".into() } else { i.to_string() }
}

/// A full audit: the ledger plus beacon checks and gap detection.
pub struct Auditor {
    pub ledger: Ledger,
    beacons: HashMap<String, BeaconKey>,
    /// Verified (beacon, round, signature) → randomness: each round is checked once.
    verified: HashMap<(String, u64), (Vec<u8>, [u8; 32])>,
    pub findings: Vec<Finding>,
}

impl Auditor {
    pub fn new(beacons: HashMap<String, BeaconKey>) -> Auditor {
        Auditor {
            ledger: Ledger::new(),
            beacons,
            verified: HashMap::new(),
            findings: Vec::new(),
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        let index = self.ledger.size();
        match Entry::decode(bytes) {
            Ok(Entry::DrawResult(r)) => self.check_beacon(index, &r.beacon_id, r.round, &r.signature, &r.randomness),
            Ok(Entry::DrawCommit(c)) => {
                if let Some(b) = self.beacons.get(&c.beacon_id)
                    && !b.committed_in_time(c.at_ms, c.round)
                {
                    self.findings.push(Finding {
                        index,
                        rule: "commit-before-beacon",
                        detail: format!(
                            "committed at {} ms; round {} is published at {:?} ms, less than a period ({} ms) later",
                            c.at_ms,
                            c.round,
                            b.publish_ms(c.round),
                            b.period_ms
                        ),
                    });
                }
            }
            _ => {}
        }
        let found = self.ledger.append(bytes);
        self.findings.extend(found);
    }

    fn check_beacon(&mut self, index: u64, beacon_id: &str, round: u64, signature: &[u8], randomness: &[u8; 32]) {
        let key = (beacon_id.to_owned(), round);
        if let Some((sig, rnd)) = self.verified.get(&key) {
            if sig.as_slice() != signature || rnd != randomness {
                self.findings.push(Finding {
                    index,
                    rule: "beacon",
                    detail: format!("round {round} differs from its earlier use"),
                });
            }
            return;
        }
        let Some(b) = self.beacons.get(beacon_id) else {
            self.findings.push(Finding {
                index,
                rule: "beacon",
                detail: format!("beacon {beacon_id:?} is not trusted"),
            });
            return;
        };
        match beacon::verify_round(&b.public_key, round, signature) {
            Ok(r) if &r == randomness => {
                self.verified.insert(key, (signature.to_vec(), r));
            }
            Ok(_) => self.findings.push(Finding {
                index,
                rule: "beacon",
                detail: "randomness is not SHA-256 of the signature".into(),
            }),
            Err(e) => self.findings.push(Finding {
                index,
                rule: "beacon",
                detail: format!("round {round}: {e}"),
            }),
        }
    }

    /// Commits whose round was published before `now_ms − grace_ms` and that have no result.
    pub fn gaps(&self, now_ms: i64, grace_ms: i64) -> Vec<Finding> {
        self.ledger
            .open_commits()
            .filter_map(|(index, c)| {
                let publish = self.beacons.get(&c.beacon_id)?.publish_ms(c.round)?;
                (publish + i128::from(grace_ms) < i128::from(now_ms)).then(|| Finding {
                    index,
                    rule: "gap",
                    detail: format!("commit for round {} of {} has no result", c.round, c.beacon_id),
                })
            })
            .collect()
    }
}

/// A key rotation the audit follows (spec §8).
#[derive(Debug, Clone)]
struct Followed {
    /// Log index of the key-rotation entry.
    index: u64,
    old: NoteVerifier,
    new: NoteVerifier,
    /// After the rotation that brought in the pinned key (or every one, when
    /// the pinned key is the log's first): the auditor holds its handover.
    needs_handover: bool,
}

/// The log key's history as an auditor pinned to one key follows it through
/// the log's key-rotation entries (spec §8, "Keys and checkpoints").
#[derive(Debug, Clone)]
pub struct KeyChain {
    first: NoteVerifier,
    followed: Vec<Followed>,
    /// `key-rotation` findings: the rotations that are not valid, not followed.
    pub findings: Vec<Finding>,
}

impl KeyChain {
    /// Follows `rotations` (the ledger's, in log order) from the pinned key.
    /// The first key is `pinned`, unless the log's first rotation hands over
    /// from another key and some rotation names `pinned` as its new key (an
    /// auditor pinned to a later key): then the log's first key is its
    /// first rotation's old key, and the rotations up to the one that brought
    /// in `pinned` are taken from the log without their handovers.
    pub fn follow(pinned: &str, rotations: &[(u64, KeyRotation)]) -> Result<KeyChain, String> {
        let pinned_key = NoteVerifier::parse(pinned).map_err(|e| format!("log key: {e}"))?;
        let later = rotations
            .first()
            .filter(|(_, r)| r.old_key != pinned)
            .and_then(|(_, first)| {
                let since = rotations.iter().find(|(_, r)| r.new_key == pinned)?.0;
                Some((NoteVerifier::parse(&first.old_key).ok()?, first.old_key.clone(), since))
            });
        let (first, mut in_force, since) = match later {
            Some((key, text, since)) => (key, text, Some(since)),
            None => (pinned_key, pinned.to_owned(), None),
        };
        let mut chain = KeyChain {
            first: first.clone(),
            followed: Vec::new(),
            findings: Vec::new(),
        };
        let mut key = first;
        for (index, r) in rotations {
            let next = if r.old_key != in_force {
                Err(format!(
                    "hands over from {:?}, which is not the key in force",
                    r.old_key
                ))
            } else if r.new_key == r.old_key {
                Err("hands the key over to itself".to_owned())
            } else {
                NoteVerifier::parse(&r.new_key).map_err(|e| format!("the new key: {e}"))
            };
            match next {
                Ok(new) => {
                    chain.followed.push(Followed {
                        index: *index,
                        old: key,
                        new: new.clone(),
                        needs_handover: since.is_none_or(|s| *index > s),
                    });
                    key = new;
                    in_force = r.new_key.clone();
                }
                Err(detail) => chain.findings.push(Finding {
                    index: *index,
                    rule: "key-rotation",
                    detail: format!("{detail}; not followed"),
                }),
            }
        }
        Ok(chain)
    }

    /// The key in force for a checkpoint of `size` and, when it is a
    /// handover's size, the old key that must also sign it.
    pub fn signers(&self, size: u64) -> (&NoteVerifier, Option<&NoteVerifier>) {
        match self.followed.iter().rev().find(|f| f.index < size) {
            Some(f) => (&f.new, (f.index + 1 == size).then_some(&f.old)),
            None => (&self.first, None),
        }
    }

    /// Every key of the chain, the first one first.
    fn keys(&self) -> impl Iterator<Item = &NoteVerifier> {
        std::iter::once(&self.first).chain(self.followed.iter().map(|f| &f.new))
    }

    /// Opens a checkpoint with the keys in force for its size (spec §8), for `origin`.
    pub fn open(&self, note: &str, origin: &str) -> Result<Checkpoint, String> {
        let cp = self
            .keys()
            .find_map(|k| k.open(note).ok())
            .map_or_else(|| Err(self.signers(u64::MAX).0.open(note).err()), Ok)
            .map_err(|e| match e {
                Some(e) => format!("{e} (nor by any earlier key of the log)"),
                None => "no key of the log opens it".to_owned(),
            })?;
        if cp.origin != origin {
            return Err(format!("origin {:?} is not the pinned one", cp.origin));
        }
        let (key, old) = self.signers(cp.size);
        key.open(note)
            .map_err(|e| format!("size {}: not signed by the key in force, {}: {e}", cp.size, key.name()))?;
        if let Some(old) = old {
            old.open(note)
                .map_err(|e| format!("size {}: a handover not signed by the old key: {e}", cp.size))?;
        }
        Ok(cp)
    }

    /// `handover` findings: rotations followed without a handover among `notes`.
    pub fn missing_handovers(&self, origin: &str, notes: &[&str]) -> Vec<Finding> {
        self.followed
            .iter()
            .filter(|f| f.needs_handover)
            .filter(|f| {
                !notes.iter().any(|n| {
                    let both = f.old.open(n).ok().filter(|_| f.new.open(n).is_ok());
                    both.is_some_and(|cp| cp.size == f.index + 1 && cp.origin == origin)
                })
            })
            .map(|f| Finding {
                index: f.index,
                rule: "handover",
                detail: format!(
                    "no checkpoint of size {} signed by both {} keys is held",
                    f.index + 1,
                    f.old.name()
                ),
            })
            .collect()
    }
}

/// What a checkpoint an auditor holds breaks (spec §8), each finding naming
/// its size: a root other than the tree head of that many entries of `tree`
/// (not compared without a tree), a key other than the one in force for its
/// size (`checkpoint`), or a retired key's signature beyond its handover
/// (`retired-key`).
pub fn check_checkpoint(chain: &KeyChain, origin: &str, tree: Option<&Tree>, note: &str) -> Vec<String> {
    let Some(cp) = chain.keys().find_map(|k| k.open(note).ok()) else {
        return vec!["checkpoint: a checkpoint held opens with no key of the log".into()];
    };
    let n = cp.size;
    let mut out = Vec::new();
    if cp.origin != origin {
        out.push(format!(
            "checkpoint of size {n}: checkpoint: origin {:?} is not the pinned one",
            cp.origin
        ));
    }
    if let Some(tree) = tree {
        match tree.root(n) {
            None => out.push(format!(
                "checkpoint of size {n}: checkpoint: the log served has only {} entries",
                tree.size()
            )),
            Some(root) if root != cp.root => out.push(format!(
                "checkpoint of size {n}: checkpoint: its root is not the tree head of the first {n} entries: history rewritten"
            )),
            Some(_) => {}
        }
    }
    let (key, old) = chain.signers(n);
    if key.open(note).is_err() {
        out.push(format!(
            "checkpoint of size {n}: checkpoint: not signed by the key in force for its size ({})",
            key.name()
        ));
    }
    if old.is_some_and(|old| old.open(note).is_err()) {
        out.push(format!(
            "checkpoint of size {n}: checkpoint: a handover not signed by the old key"
        ));
    }
    for f in chain.followed.iter().filter(|f| f.index + 1 < n) {
        if f.old.open(note).is_ok() {
            out.push(format!(
                "checkpoint of size {n}: retired-key: signed by the key retired at entry {}, beyond its handover (size {})",
                f.index,
                f.index + 1
            ));
        }
    }
    out
}

/// What a full replay under a signed checkpoint concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The checkpoint's tree size (and root) the entries were replayed against.
    pub size: u64,
    pub root: crate::merkle::Hash,
    pub pools: u64,
    pub draws: u64,
    /// Every finding, each naming its entry where there is one.
    pub findings: Vec<String>,
}

/// The pinned beacons of a trust file, keyed by beacon id.
pub fn beacon_keys(trust: &crate::receipt::Trust) -> HashMap<String, BeaconKey> {
    trust
        .beacons
        .iter()
        .map(|b| {
            let key = BeaconKey {
                public_key: hex::decode(&b.public_key).unwrap_or_default(),
                genesis_unix_ms: b.genesis_unix_ms,
                period_ms: b.period_ms,
            };
            (b.beacon_id.clone(), key)
        })
        .collect()
}

/// A full audit (spec §8) against the signed checkpoint `note`, holding no
/// other checkpoint: [`replay_holding`] with none.
pub fn replay<E: AsRef<[u8]>>(
    trust: &crate::receipt::Trust,
    note: &str,
    entries: impl IntoIterator<Item = E>,
    now_ms: i64,
    grace_ms: i64,
) -> Result<Report, String> {
    replay_holding(trust, note, &[], entries, now_ms, grace_ms)
}

/// A full audit (spec §8): replays `entries` from index 0, opens the signed
/// checkpoint `note` with the key in force for its size (the pinned log key,
/// or the one the log's rotations lead to, [`KeyChain`]) and the pinned
/// origin, compares the root, and reports every finding, including commits
/// whose round was published more than `grace_ms` before `now_ms` and that
/// have no result. `held` are the other checkpoints the auditor keeps, the
/// handovers of the rotations it follows among them: each is checked like
/// `note` (root, signing key, no retired key). An unverifiable checkpoint or
/// trust file is an error, not a finding: nothing can be audited against it.
pub fn replay_holding<E: AsRef<[u8]>>(
    trust: &crate::receipt::Trust,
    note: &str,
    held: &[String],
    entries: impl IntoIterator<Item = E>,
    now_ms: i64,
    grace_ms: i64,
) -> Result<Report, String> {
    trust.check().map_err(|e| format!("trust: {e}"))?;
    let mut auditor = Auditor::new(beacon_keys(trust));
    let (mut pools, mut draws) = (0u64, 0u64);
    for e in entries {
        let e = e.as_ref();
        match e.get(4) {
            Some(&crate::entry::KIND_DRAW_RESULT) => draws += 1,
            Some(&crate::entry::KIND_POOL_OPEN) => pools += 1,
            _ => {}
        }
        auditor.push(e);
    }
    let chain = KeyChain::follow(&trust.log_key, auditor.ledger.rotations()).map_err(|e| format!("trust: {e}"))?;
    let cp = chain
        .open(note, &trust.log_origin)
        .map_err(|e| format!("checkpoint: {e}"))?;
    let mut findings = Vec::new();
    if auditor.ledger.tree().root(cp.size).is_none_or(|root| root != cp.root) {
        findings.push(format!(
            "the {} entries served do not hash to the signed checkpoint root: an entry was altered, dropped or reordered",
            cp.size
        ));
    }
    findings.extend(auditor.findings.iter().map(|f| f.to_string()));
    findings.extend(chain.findings.iter().map(|f| f.to_string()));
    let mut notes: Vec<&str> = held.iter().map(String::as_str).collect();
    for held in &notes {
        findings.extend(check_checkpoint(
            &chain,
            &trust.log_origin,
            Some(auditor.ledger.tree()),
            held,
        ));
    }
    // The audited checkpoint opened with the right keys and its root was compared above: only a retired key is left.
    findings.extend(check_checkpoint(&chain, &trust.log_origin, None, note));
    notes.push(note);
    findings.extend(
        chain
            .missing_handovers(&trust.log_origin, &notes)
            .iter()
            .map(|f| f.to_string()),
    );
    findings.extend(auditor.gaps(now_ms, grace_ms).iter().map(|f| f.to_string()));
    Ok(Report {
        size: cp.size,
        root: cp.root,
        pools,
        draws,
        findings,
    })
}
