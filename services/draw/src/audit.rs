//! Replay of the whole log (draw spec §8): rebuilds the tree and every pool
//! from the entries alone, re-derives every draw, and names each entry that
//! breaks a rule. The registration service uses the same [`Ledger`] to know
//! its pools' state; auditors use [`Auditor`].

use std::collections::{BTreeMap, HashMap};

use crate::beacon;
use crate::entry::{DrawCommit, Entry};
use crate::merkle::{Hash, Tree, leaf_hash};
use crate::pool::{PoolState, Status};
use crate::receipt::resolve;

/// One rule an entry breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Log index of the offending entry.
    pub index: u64,
    /// Stable name: `decode`, `pool`, `transition`, `link`, `duplicate`, `beacon`, `draw`, `gap`, `checkpoint`.
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
        Entry::PoolOpen(_) | Entry::DrawCommit(_) => Ok(()),
    }
}

/// A pinned beacon for replay: its public key and timing.
#[derive(Debug, Clone)]
pub struct BeaconKey {
    pub public_key: Vec<u8>,
    pub genesis_unix_ms: i64,
    pub period_ms: u64,
}

/// The log's tree and every pool's state, built entry by entry.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    tree: Tree,
    pools: HashMap<String, PoolState>,
    /// Commits still waiting for their result: log index → (leaf hash, commit).
    open_commits: BTreeMap<u64, (Hash, DrawCommit)>,
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

    pub fn pool(&self, id: &str) -> Option<&PoolState> {
        self.pools.get(id)
    }

    pub fn pool_mut(&mut self, id: &str) -> Option<&mut PoolState> {
        self.pools.get_mut(id)
    }

    /// Commits without a result, oldest first.
    pub fn open_commits(&self) -> impl Iterator<Item = (u64, &DrawCommit)> {
        self.open_commits.iter().map(|(i, (_, c))| (*i, c))
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
        let pool_id = entry.pool_id().to_owned();
        if !matches!(entry, Entry::PoolOpen(_)) && !self.pools.contains_key(&pool_id) {
            find("pool", format!("pool {pool_id} was never opened"));
            return findings;
        }
        match entry {
            Entry::PoolOpen(_) => {
                if let std::collections::hash_map::Entry::Vacant(slot) = self.pools.entry(pool_id.clone()) {
                    slot.insert(PoolState::open());
                } else {
                    find("pool", format!("pool {pool_id} opened twice"));
                }
            }
            Entry::PoolWithhold(c) | Entry::PoolRelease(c) => {
                let (from, to) = if bytes[4] == crate::entry::KIND_POOL_WITHHOLD {
                    (Status::Available, Status::Withheld)
                } else {
                    (Status::Withheld, Status::Available)
                };
                if !c.numbers.windows(2).all(|w| w[0] < w[1]) {
                    find("pool", "numbers are not strictly ascending".into());
                }
                if let Some(pool) = self.pools.get_mut(&pool_id) {
                    for n in c.numbers {
                        if let Err(e) = pool.change(n, from, to) {
                            find("transition", e.to_string());
                        }
                    }
                }
            }
            Entry::PlateAssign(a) => {
                if let Some(pool) = self.pools.get_mut(&pool_id)
                    && let Err(e) = pool.change(a.number, Status::Withheld, Status::Issued)
                {
                    find("transition", e.to_string());
                }
            }
            Entry::PlateRevoke(r) => {
                if let Some(pool) = self.pools.get_mut(&pool_id)
                    && let Err(e) = pool.change(r.number, Status::Issued, Status::Withheld)
                {
                    find("transition", e.to_string());
                }
            }
            Entry::DrawCommit(c) => {
                self.open_commits.insert(index, (leaf, c));
            }
            Entry::DrawResult(r) => {
                let Some((hash, commit)) = self.open_commits.remove(&r.commit_index) else {
                    find(
                        "link",
                        format!("answers entry {}, which is not an open commit", r.commit_index),
                    );
                    return findings;
                };
                if hash != r.commit_hash {
                    find("link", format!("commit hash differs from entry {}'s", r.commit_index));
                }
                if r.pool_id != commit.pool_id || r.beacon_id != commit.beacon_id || r.round != commit.round {
                    find(
                        "link",
                        format!("pool, beacon or round differs from entry {}'s", r.commit_index),
                    );
                }
                let Some(pool) = self.pools.get_mut(&commit.pool_id) else {
                    return findings;
                };
                // Re-derive the draw from the commit and the logged beacon value.
                let commit_bytes = Entry::DrawCommit(commit.clone()).encode();
                match resolve(
                    r.commit_index,
                    &commit_bytes,
                    &commit,
                    &r.signature,
                    r.randomness,
                    pool,
                    r.at_ms,
                ) {
                    Ok(expected) if expected == r => {}
                    Ok(expected) => {
                        find(
                            "draw",
                            format!(
                                "does not follow from its commit and the pool: expected index {} number {} ({}), logged index {} number {} ({})",
                                expected.index, expected.number, expected.plate, r.index, r.number, r.plate
                            ),
                        );
                        // Keep the pool as the log says, so later findings are about later entries.
                        let _ = pool.change(expected.number, Status::Issued, Status::Withheld);
                        let _ = pool.change(expected.number, Status::Withheld, Status::Available);
                        if pool.change(r.number, Status::Available, Status::Issued).is_err() {
                            find("transition", format!("number {} is not available", r.number));
                        }
                    }
                    Err(e) => find("draw", e.to_string()),
                }
            }
        }
        findings
    }
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
        if let Ok(Entry::DrawResult(r)) = Entry::decode(bytes) {
            self.check_beacon(index, &r.beacon_id, r.round, &r.signature, &r.randomness);
        }
        if let Ok(Entry::DrawCommit(c)) = Entry::decode(bytes)
            && let Some(b) = self.beacons.get(&c.beacon_id)
        {
            let publish = b.genesis_unix_ms + (c.round.saturating_sub(1) * b.period_ms) as i64;
            if c.at_ms as i64 >= publish {
                self.findings.push(Finding {
                    index,
                    rule: "commit-before-beacon",
                    detail: format!(
                        "committed at {} ms, round {} published at {publish} ms",
                        c.at_ms, c.round
                    ),
                });
            }
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
                let b = self.beacons.get(&c.beacon_id)?;
                let publish = b.genesis_unix_ms + (c.round.saturating_sub(1) * b.period_ms) as i64;
                (publish + grace_ms < now_ms).then(|| Finding {
                    index,
                    rule: "gap",
                    detail: format!("commit for round {} of {} has no result", c.round, c.beacon_id),
                })
            })
            .collect()
    }
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

/// A full audit (spec §8): opens the signed checkpoint `note` with the pinned
/// log key and origin, replays `entries` from index 0, compares the root, and
/// reports every finding, including commits whose round was published more
/// than `grace_ms` before `now_ms` and that have no result. An unverifiable
/// checkpoint is an error, not a finding: nothing can be audited against it.
pub fn replay<E: AsRef<[u8]>>(
    trust: &crate::receipt::Trust,
    note: &str,
    entries: impl IntoIterator<Item = E>,
    now_ms: i64,
    grace_ms: i64,
) -> Result<Report, String> {
    let verifier = crate::note::NoteVerifier::parse(&trust.log_key).map_err(|e| format!("trust: {e}"))?;
    let cp = verifier.open(note).map_err(|e| format!("checkpoint: {e}"))?;
    if cp.origin != trust.log_origin {
        return Err(format!("checkpoint origin {:?} is not the pinned one", cp.origin));
    }
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
    let mut findings = Vec::new();
    if auditor.ledger.tree().root(cp.size).is_none_or(|root| root != cp.root) {
        findings.push(format!(
            "the {} entries served do not hash to the signed checkpoint root: an entry was altered, dropped or reordered",
            cp.size
        ));
    }
    findings.extend(auditor.findings.iter().map(|f| f.to_string()));
    findings.extend(auditor.gaps(now_ms, grace_ms).iter().map(|f| f.to_string()));
    Ok(Report {
        size: cp.size,
        root: cp.root,
        pools,
        draws,
        findings,
    })
}
