//! Receipts and audit, end to end on an in-memory log: honest draws verify;
//! every kind of tampering — the insider attacks of spec §5.4 included — is
//! caught and named. With `VRS_GOLDEN_DIR=<dir>` the receipts (valid and
//! tampered), `trust.json` and `cases.json` are written there for the
//! independent verifier (contracts/draw/verify_receipt.py): one directory per
//! beacon, and one per pinned key for receipts across the log key's rotations.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use vrs_draw::audit::{Auditor, BeaconKey, Ledger, apply_effect, replay, replay_holding};
use vrs_draw::beacon::{self, SecretKey};
use vrs_draw::draw::{candidates, pick};
use vrs_draw::entry::{DrawCommit, DrawResult, Entry, KeyRotation, PoolChange, PoolOpen};
use vrs_draw::merkle::{Tree, leaf_hash};
use vrs_draw::note::{Checkpoint, NoteSigner, sign_by_all};
use vrs_draw::pool::{PoolId, PoolState, special_patterns};
use vrs_draw::receipt::{
    BeaconEvidence, RULES_VERSION, Receipt, ReceiptParts, Rotation, Trust, TrustedBeacon, verify_json,
};
use vrs_draw::sampler::{application_commitment, seed};

const POOL: &str = "30-car-white-A";
/// A pool with six free numbers: earlier draws take our candidates.
const SMALL: &str = "30-car-white-B";
const SMALL_FREE: [u32; 6] = [10_001, 20_002, 30_003, 40_004, 50_005, 60_006];
const ORIGIN: &str = "vn.gov.vrs/plate-draw-log/test";

/// Where a beacon's values come from in a scenario.
enum BeaconKind {
    Local(SecretKey),
    /// Recorded real drand quicknet rounds: round → signature.
    Quicknet(HashMap<u64, Vec<u8>>),
}

struct Env {
    signer: NoteSigner,
    beacon: BeaconKind,
    beacon_id: String,
    public_key: Vec<u8>,
    genesis_ms: i64,
    period_ms: u64,
}

impl Env {
    fn local() -> Env {
        let key = SecretKey::generate().expect("beacon key");
        let public_key = key.public_key().to_vec();
        Env {
            signer: NoteSigner::generate("vrs-test-log").expect("log key").0,
            beacon_id: beacon::beacon_id(&public_key),
            public_key,
            beacon: BeaconKind::Local(key),
            genesis_ms: 1_780_000_000_000,
            period_ms: 1_000,
        }
    }

    fn quicknet() -> Env {
        let recorded: Value =
            serde_json::from_str(include_str!("../../../contracts/beacons/drand-quicknet.json")).expect("json");
        let rounds = recorded["rounds"]
            .as_array()
            .expect("rounds")
            .iter()
            .map(|r| {
                (
                    r["round"].as_u64().expect("round"),
                    hex::decode(r["signature"].as_str().expect("sig")).expect("hex"),
                )
            })
            .collect();
        Env {
            signer: NoteSigner::generate("vrs-test-log").expect("log key").0,
            beacon_id: beacon::quicknet::BEACON_ID.into(),
            public_key: hex::decode(beacon::quicknet::PUBLIC_KEY_HEX).expect("hex"),
            beacon: BeaconKind::Quicknet(rounds),
            genesis_ms: beacon::quicknet::GENESIS_UNIX * 1000,
            period_ms: u64::from(beacon::quicknet::PERIOD_SECONDS) * 1000,
        }
    }

    fn publish_ms(&self, round: u64) -> u64 {
        (self.genesis_ms + ((round - 1) * self.period_ms) as i64) as u64
    }

    /// A comfortable commit time for `round`: two periods before it is published.
    fn commit_ms(&self, round: u64) -> u64 {
        self.publish_ms(round) - 2 * self.period_ms
    }

    fn signature(&self, round: u64) -> Option<Vec<u8>> {
        match &self.beacon {
            BeaconKind::Local(k) => Some(k.sign_round(round).to_vec()),
            BeaconKind::Quicknet(r) => r.get(&round).cloned(),
        }
    }

    fn value(&self, round: u64) -> Option<(Vec<u8>, [u8; 32])> {
        self.signature(round).map(|s| {
            let r = beacon::randomness(&s);
            (s, r)
        })
    }

    /// Rounds this beacon can produce, ascending.
    fn rounds(&self) -> Vec<u64> {
        match &self.beacon {
            BeaconKind::Local(_) => (100..200).collect(),
            BeaconKind::Quicknet(r) => {
                let mut v: Vec<u64> = r.keys().copied().collect();
                v.sort_unstable();
                v
            }
        }
    }

    fn trust(&self) -> Trust {
        Trust {
            log_origin: ORIGIN.into(),
            log_key: self.signer.verifier_key(),
            beacons: vec![TrustedBeacon {
                beacon_id: self.beacon_id.clone(),
                public_key: hex::encode(&self.public_key),
                genesis_unix_ms: self.genesis_ms,
                period_ms: self.period_ms,
            }],
        }
    }

    fn evidence(&self, round: u64, signature: &[u8]) -> BeaconEvidence {
        BeaconEvidence {
            beacon_id: self.beacon_id.clone(),
            scheme: beacon::SCHEME.into(),
            public_key: hex::encode(&self.public_key),
            genesis_unix_ms: self.genesis_ms,
            period_ms: self.period_ms,
            round,
            randomness: hex::encode(beacon::randomness(signature)),
            signature: hex::encode(signature),
        }
    }
}

/// A log under construction, checked by a ledger as it grows: an honest
/// registry's log has no finding; an insider's may (`strict` off).
#[derive(Clone)]
struct Log {
    entries: Vec<Vec<u8>>,
    ledger: Ledger,
    strict: bool,
}

impl Log {
    fn new() -> Log {
        Log {
            entries: Vec::new(),
            ledger: Ledger::new(),
            strict: true,
        }
    }

    fn push(&mut self, e: &Entry) -> u64 {
        let bytes = e.encode();
        let findings = self.ledger.append(&bytes);
        if self.strict {
            assert!(findings.is_empty(), "an honest log breaks a rule: {findings:?}");
        }
        self.entries.push(bytes);
        self.entries.len() as u64 - 1
    }

    fn open(&mut self, pool: &str, withheld: Vec<u32>) {
        self.push(&Entry::PoolOpen(PoolOpen {
            pool_id: pool.into(),
            rules_version: RULES_VERSION.into(),
            legal_basis: "Circular 79/2024/TT-BCA".into(),
            at_ms: 1,
        }));
        self.push(&Entry::PoolWithhold(PoolChange {
            pool_id: pool.into(),
            reason: "SPECIAL_PATTERN".into(),
            legal_basis: "Decree 156/2024/ND-CP".into(),
            numbers: withheld,
            at_ms: 2,
        }));
    }

    /// An insider's log: entries that break a rule are written all the same.
    fn lenient() -> Log {
        Log {
            strict: false,
            ..Log::new()
        }
    }

    /// A withholding for the auction list.
    fn withhold(&mut self, pool: &str, numbers: Vec<u32>) -> u64 {
        self.push(&Entry::PoolWithhold(PoolChange {
            pool_id: pool.into(),
            reason: "AUCTION_LIST".into(),
            legal_basis: "Decree 156/2024/ND-CP".into(),
            numbers,
            at_ms: 4,
        }))
    }

    fn release(&mut self, pool: &str, number: u32) -> u64 {
        self.push(&Entry::PoolRelease(PoolChange {
            pool_id: pool.into(),
            reason: "RETENTION_EXPIRED".into(),
            legal_basis: "Circular 79/2024/TT-BCA".into(),
            numbers: vec![number],
            at_ms: 3,
        }))
    }

    /// A draw-commit naming the pool as the ledger has it.
    fn commit_entry(
        &mut self,
        env: &Env,
        pool: &str,
        app: &str,
        salt: &[u8; 32],
        round: u64,
        at_ms: u64,
    ) -> DrawCommit {
        let state = self.ledger.commit_state(pool).expect("opened pool");
        DrawCommit {
            pool_id: pool.into(),
            rules_version: RULES_VERSION.into(),
            application_commitment: application_commitment(salt, app),
            beacon_id: env.beacon_id.clone(),
            round,
            previous_commit: state.previous_commit,
            available_count: state.available_count,
            pool_digest: state.pool_digest,
            at_ms,
        }
    }

    fn commit(&mut self, env: &Env, pool: &str, app: &str, salt: &[u8; 32], round: u64) -> u64 {
        let c = self.commit_entry(env, pool, app, salt, round, env.commit_ms(round));
        self.push(&Entry::DrawCommit(c))
    }

    /// Resolves the pool's pending draws as the registry does; the results' indices.
    fn resolve(&mut self, env: &Env, pool: &str) -> Vec<u64> {
        let results = self
            .ledger
            .resolve(pool, usize::MAX, |c| env.value(c.round), 9)
            .expect("resolvable");
        results
            .into_iter()
            .map(|r| self.push(&Entry::DrawResult(r.result)))
            .collect()
    }
}

/// A log with one draw of interest.
#[derive(Clone)]
struct Draw {
    log: Log,
    commit_index: u64,
    result_index: u64,
    app_id: String,
    salt: [u8; 32],
}

const APP: &str = "3f2b8c1e-0d4a-4b6e-9f7a-1c2d3e4f5a6b";

/// An honest log: `prior` draws resolved one by one, then our draw between two
/// others of the same round, with a release logged while ours is pending
/// (releases may come at any time: they count for later commits only).
fn honest(env: &Env, prior: usize, our_commit_ms: Option<u64>) -> Draw {
    let mut log = Log::new();
    log.open(POOL, special_patterns());
    let rounds = env.rounds();
    for i in 0..prior {
        let round = rounds[i % (rounds.len() - 1)];
        log.commit(env, POOL, &format!("prior-{i}"), &[i as u8; 32], round);
        log.resolve(env, POOL);
    }
    let round = *rounds.last().expect("a round");
    let salt = [0xa5; 32];
    log.commit(env, POOL, "other-before", &[0x11; 32], round);
    let at = our_commit_ms.unwrap_or(env.commit_ms(round));
    let c = log.commit_entry(env, POOL, APP, &salt, round, at);
    let ci = log.push(&Entry::DrawCommit(c));
    log.release(POOL, 55_555);
    log.commit(env, POOL, "other-after", &[0x22; 32], round);
    let results = log.resolve(env, POOL);
    Draw {
        log,
        commit_index: ci,
        result_index: results[1],
        app_id: APP.into(),
        salt,
    }
}

/// A pool of six free numbers, three draws committed before ours: our first
/// candidates are often taken. The first salt for which `want` holds of our
/// result, its first candidates and the numbers the earlier draws took.
fn crowded(env: &Env, want: impl Fn(&DrawResult, &[u32], &HashSet<u32>) -> bool) -> Draw {
    let round = *env.rounds().last().expect("a round");
    for s in 0..=255u8 {
        let mut log = Log::new();
        let withheld: Vec<u32> = (1..=99_999).filter(|n| !SMALL_FREE.contains(n)).collect();
        log.open(SMALL, withheld);
        for i in 0..3u8 {
            log.commit(env, SMALL, &format!("earlier-{i}"), &[0x40 + i; 32], round);
        }
        let salt = [s; 32];
        let ci = log.commit(env, SMALL, APP, &salt, round);
        let results = log.resolve(env, SMALL);
        let r = decode_result(&log.entries[results[3] as usize]);
        let taken: HashSet<u32> = results[..3]
            .iter()
            .map(|i| decode_result(&log.entries[*i as usize]).number)
            .collect();
        let set = set_at(&log.entries, SMALL, ci);
        let first: Vec<u32> = candidates(r.seed, &set).take(4).map(|(_, n)| n).collect();
        if want(&r, &first, &taken) {
            return Draw {
                log,
                commit_index: ci,
                result_index: results[3],
                app_id: APP.into(),
                salt,
            };
        }
    }
    panic!("no salt gave the wanted candidates")
}

/// Our draw as the first of its pool: no previous commit.
fn first_in_pool(env: &Env) -> Draw {
    let round = *env.rounds().last().expect("a round");
    let mut log = Log::new();
    log.open(POOL, special_patterns());
    let salt = [0x77; 32];
    let ci = log.commit(env, POOL, APP, &salt, round);
    let results = log.resolve(env, POOL);
    Draw {
        log,
        commit_index: ci,
        result_index: results[0],
        app_id: APP.into(),
        salt,
    }
}

fn decode_result(bytes: &[u8]) -> DrawResult {
    match Entry::decode(bytes) {
        Ok(Entry::DrawResult(r)) => r,
        other => panic!("not a result: {other:?}"),
    }
}

fn decode_commit(bytes: &[u8]) -> DrawCommit {
    match Entry::decode(bytes) {
        Ok(Entry::DrawCommit(c)) => c,
        other => panic!("not a commit: {other:?}"),
    }
}

/// The available set of `pool` at position `at`, replayed from the entries.
fn set_at(entries: &[Vec<u8>], pool: &str, at: u64) -> PoolState {
    let mut state = PoolState::open();
    for e in &entries[..at as usize] {
        if let Ok(entry) = Entry::decode(e)
            && entry.pool_id() == pool
        {
            let _ = apply_effect(&mut state, &entry);
        }
    }
    state
}

/// The receipt a registry builds for `d` from its log: the previous commit's
/// result, the results that took skipped candidates, the committed set.
fn receipt_with(env: &Env, d: &Draw, note: impl FnOnce(&NoteSigner, &Checkpoint) -> String) -> Receipt {
    let entries = &d.log.entries;
    let mut tree = Tree::new();
    for e in entries {
        tree.push(leaf_hash(e));
    }
    let size = tree.size();
    let note = note(
        &env.signer,
        &Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: tree.root(size).expect("root"),
        },
    );
    let commit = decode_commit(&entries[d.commit_index as usize]);
    let result = decode_result(&entries[d.result_index as usize]);
    let results: Vec<(u64, DrawResult)> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match Entry::decode(e) {
            Ok(Entry::DrawResult(r)) if r.pool_id == commit.pool_id => Some((i as u64, r)),
            _ => None,
        })
        .collect();
    let previous = results
        .iter()
        .find(|(_, r)| r.commit_index == commit.previous_commit)
        .map(|(i, _)| *i);
    let set = set_at(entries, &commit.pool_id, d.commit_index);
    let taken: Vec<u64> = candidates(result.seed, &set)
        .take(result.attempts.saturating_sub(1) as usize)
        .filter_map(|(_, number)| {
            results
                .iter()
                .find(|(i, r)| r.number == number && *i > d.commit_index && *i < d.result_index)
                .map(|(i, _)| *i)
        })
        .collect();
    let bytes = |i: u64| (i, entries[i as usize].as_slice());
    Receipt::assemble(ReceiptParts {
        application_id: &d.app_id,
        salt: &d.salt,
        checkpoint: &note,
        checkpoint_size: size,
        tree: &tree,
        commit: bytes(d.commit_index),
        result: bytes(d.result_index),
        previous: previous.map(bytes),
        taken: taken.into_iter().map(bytes).collect(),
        beacon: env.evidence(result.round, &result.signature),
        pool_bitmap: &set.bitmap(),
        plate: &result.plate,
    })
    .expect("assemble")
}

fn receipt(env: &Env, d: &Draw) -> Receipt {
    receipt_with(env, d, |s, cp| s.sign(cp))
}

fn text(r: &Receipt) -> String {
    serde_json::to_string_pretty(r).expect("json")
}

/// Rewrites our result entry with `f` (the operator cheating and re-signing).
fn with_result(d: &Draw, f: impl FnOnce(&mut DrawResult)) -> Draw {
    let mut d = d.clone();
    let mut r = decode_result(&d.log.entries[d.result_index as usize]);
    f(&mut r);
    d.log.entries[d.result_index as usize] = Entry::DrawResult(r).encode();
    d
}

/// Our result as the rule gives it for `set` when `taken` numbers are out.
fn redraw(d: &Draw, set: &PoolState, taken: &HashSet<u32>) -> Draw {
    let commit_bytes = d.log.entries[d.commit_index as usize].clone();
    let commit = decode_commit(&commit_bytes);
    with_result(d, |res| {
        res.seed = seed(&leaf_hash(&commit_bytes), commit.round, &res.randomness);
        let got = pick(res.seed, set, |m| taken.contains(&m), || taken.len()).expect("a number");
        res.attempts = got.attempts;
        res.index = got.index;
        res.number = got.number;
        res.plate = PoolId::parse(&commit.pool_id).expect("pool").plate(got.number);
    })
}

fn flip_b64(s: &str, at: usize) -> String {
    let mut b = B64.decode(s).expect("b64");
    let i = at.min(b.len() - 1);
    b[i] ^= 0x01;
    B64.encode(b)
}

/// Our commit rebuilt by `f`, and everything after it re-derived as an insider would.
fn with_commit(env: &Env, d: &Draw, f: impl FnOnce(&mut DrawCommit)) -> Draw {
    let mut log = Log::lenient();
    for e in &d.log.entries[..d.commit_index as usize] {
        log.push(&Entry::decode(e).expect("entry"));
    }
    let mut c = decode_commit(&d.log.entries[d.commit_index as usize]);
    f(&mut c);
    let ci = log.push(&Entry::DrawCommit(c.clone()));
    let set = set_at(&log.entries, &c.pool_id, ci);
    let (signature, randomness) = env.value(c.round).expect("round");
    let commit_hash = leaf_hash(&log.entries[ci as usize]);
    let s = seed(&commit_hash, c.round, &randomness);
    let got = pick(s, &set, |_| false, || 0).expect("a number");
    let ri = log.push(&Entry::DrawResult(DrawResult {
        commit_index: ci,
        commit_hash,
        pool_id: c.pool_id.clone(),
        beacon_id: c.beacon_id.clone(),
        round: c.round,
        signature,
        randomness,
        seed: s,
        attempts: got.attempts,
        index: got.index,
        number: got.number,
        plate: PoolId::parse(&c.pool_id).expect("pool").plate(got.number),
        at_ms: 9,
    }));
    Draw {
        log,
        commit_index: ci,
        result_index: ri,
        app_id: d.app_id.clone(),
        salt: d.salt,
    }
}

/// The insider's log: ours committed, then (after seeing the round) a
/// withholding of the number ours would get, then ours resolved either by v1's
/// rule (the pool just before the result) or by skipping that number.
fn withhold_slipped(d: &Draw, redraw_from_state_now: bool) -> Draw {
    let mut log = Log::lenient();
    let planned = decode_result(&d.log.entries[d.result_index as usize]);
    for (i, e) in d.log.entries[..d.result_index as usize].iter().enumerate() {
        log.push(&Entry::decode(e).expect("entry"));
        if i as u64 == d.commit_index {
            log.withhold(POOL, vec![planned.number]);
        }
    }
    let ri = log.push(&Entry::DrawResult(planned.clone()));
    let out = Draw {
        log,
        commit_index: d.commit_index,
        result_index: ri,
        app_id: d.app_id.clone(),
        salt: d.salt,
    };
    if redraw_from_state_now {
        let now = set_at(&out.log.entries, POOL, ri);
        redraw(&out, &now, &HashSet::new())
    } else {
        let mut taken: HashSet<u32> = out.log.entries[d.commit_index as usize + 1..ri as usize]
            .iter()
            .filter_map(|e| match Entry::decode(e) {
                Ok(Entry::DrawResult(r)) => Some(r.number),
                _ => None,
            })
            .collect();
        taken.insert(planned.number);
        let set = set_at(&out.log.entries, POOL, d.commit_index);
        redraw(&out, &set, &taken)
    }
}

/// The insider's log: ours and the draw committed before it resolved in the
/// wrong order, ours ignoring the earlier draw's number.
fn results_swapped(d: &Draw) -> Draw {
    let mut log = Log::lenient();
    let mut pending = Vec::new();
    for (i, e) in d.log.entries.iter().enumerate() {
        match Entry::decode(e).expect("entry") {
            Entry::DrawResult(r) if r.commit_index < d.commit_index && i as u64 > d.commit_index => {
                pending.push(r);
            }
            Entry::DrawResult(r) if i as u64 == d.result_index => {
                let set = set_at(&d.log.entries, POOL, d.commit_index);
                let got = pick(r.seed, &set, |_| false, || 0).expect("a number");
                let ri = log.push(&Entry::DrawResult(DrawResult {
                    attempts: got.attempts,
                    index: got.index,
                    number: got.number,
                    plate: PoolId::parse(POOL).expect("pool").plate(got.number),
                    ..r
                }));
                for p in pending.drain(..) {
                    log.push(&Entry::DrawResult(p));
                }
                return Draw {
                    log,
                    result_index: ri,
                    ..d.clone()
                };
            }
            other => {
                log.push(&other);
            }
        }
    }
    panic!("our result not found")
}

/// Every tampered variant of the honest draw, with the check that must reject it.
fn tampered(env: &Env, d: &Draw) -> Vec<(String, &'static str, String)> {
    let good = receipt(env, d);
    let mut out: Vec<(String, &'static str, String)> = Vec::new();
    let mut add = |name: &str, check: &'static str, r: String| out.push((name.into(), check, r));

    let other_signer = NoteSigner::generate("vrs-test-log").expect("key").0;
    add(
        "foreign-checkpoint-key",
        "checkpoint",
        text(&receipt_with(env, d, |_, cp| other_signer.sign(cp))),
    );
    // A second line by the pinned key whose signature fails: the whole note is rejected.
    add(
        "checkpoint-known-key-failing-signature",
        "checkpoint",
        text(&receipt_with(env, d, |s, cp| {
            let note = s.sign(cp);
            let line = note.rsplit_once("\n\n").expect("split").1.to_owned();
            let (head, sig) = line.trim_end().rsplit_once(' ').expect("line");
            format!("{note}{head} {}\n", flip_b64(sig, 10))
        })),
    );
    add(
        "checkpoint-control-character",
        "checkpoint",
        text(&receipt_with(env, d, |s, cp| s.sign(cp).replacen('\n', "\r\n", 1))),
    );
    add(
        "checkpoint-malformed-signature-line",
        "checkpoint",
        text(&receipt_with(env, d, |s, cp| {
            format!("{}\u{2014} lonely-name\n", s.sign(cp))
        })),
    );
    add(
        "checkpoint-seventeen-signatures",
        "checkpoint",
        text(&receipt_with(env, d, |s, cp| {
            let mut note = s.sign(cp);
            for i in 0..16 {
                let (other, _) = NoteSigner::generate(&format!("witness-{i}")).expect("key");
                let sig = other.sign(cp);
                note.push_str(sig.rsplit_once("\n\n").expect("split").1);
            }
            note
        })),
    );
    // Signed correctly, but the text has a line more than origin, size and root.
    add(
        "checkpoint-extra-line",
        "checkpoint",
        text(&receipt_with(env, d, |s, cp| {
            s.sign(&Checkpoint {
                origin: format!("{}\nextension", cp.origin),
                ..cp.clone()
            })
        })),
    );

    let mut r = good.clone();
    r.commit.entry = flip_b64(&r.commit.entry, 20);
    add("commit-byte-flipped", "commit-inclusion", text(&r));

    let mut r = good.clone();
    r.result.entry = flip_b64(&r.result.entry, 60);
    add("result-byte-flipped", "result-inclusion", text(&r));

    let mut r = good.clone();
    if let Some(p) = r.result.proof.first_mut() {
        *p = flip_b64(p, 0);
    }
    add("proof-hash-flipped", "result-inclusion", text(&r));

    let v1 = with_commit(env, d, |c| c.rules_version = "vrs-draw-rules-v1".into());
    add("commit-rules-v1", "rules", text(&receipt(env, &v1)));

    let mut swapped_order = d.clone();
    swapped_order
        .log
        .entries
        .swap(d.commit_index as usize, d.result_index as usize);
    swapped_order.commit_index = d.result_index;
    swapped_order.result_index = d.commit_index;
    let reordered = with_result(&swapped_order, |res| res.commit_index = d.result_index);
    add("result-before-commit", "order", text(&receipt(env, &reordered)));

    let relinked = with_result(d, |res| res.commit_hash[0] ^= 1);
    add("commit-hash-altered", "link", text(&receipt(env, &relinked)));

    let mut r = good.clone();
    r.salt = hex::encode([0x5a; 32]);
    add("wrong-salt", "commitment", text(&r));

    // The operator swaps in another round's beacon value and redraws consistently.
    let set = set_at(&d.log.entries, POOL, d.commit_index);
    let other_round = env.rounds()[0];
    let swapped = with_result(d, |res| {
        let (sig, rnd) = env.value(other_round).expect("round");
        res.signature = sig;
        res.randomness = rnd;
    });
    let swapped = redraw(&swapped, &set, &HashSet::new());
    add("beacon-value-swapped", "beacon", text(&receipt(env, &swapped)));

    let mut r = good.clone();
    r.beacon.round += 1;
    add("beacon-object-misleading", "beacon", text(&r));

    // A commit one millisecond past the timing boundary (spec §5.3).
    let round = decode_commit(&d.log.entries[d.commit_index as usize]).round;
    let late = with_commit(env, d, |c| c.at_ms = env.publish_ms(round) - env.period_ms + 1);
    add(
        "commit-after-boundary",
        "commit-before-beacon",
        text(&receipt(env, &late)),
    );

    let mut r = good.clone();
    r.previous = None;
    add("previous-missing", "previous", text(&r));

    add("results-swapped", "previous", text(&receipt(env, &results_swapped(d))));

    let reseeded = with_result(d, |res| res.seed[0] ^= 1);
    add("seed-altered", "seed", text(&receipt(env, &reseeded)));

    let mut r = good.clone();
    let mut bitmap = B64.decode(&r.pool_bitmap).expect("b64");
    bitmap[100] = 0; // eight numbers less
    r.pool_bitmap = B64.encode(bitmap);
    add("pool-bitmap-altered", "pool", text(&r));

    // The insider attack of spec §5.4: a withholding slipped in after the commit.
    let redrawn = withhold_slipped(d, true);
    let mut r = receipt(env, &redrawn);
    r.pool_bitmap = B64.encode(set_at(&redrawn.log.entries, POOL, redrawn.result_index).bitmap());
    add("withhold-slipped-redrawn", "pool", text(&r));
    add(
        "withhold-slipped-skipped",
        "taken",
        text(&receipt(env, &withhold_slipped(d, false))),
    );

    // The operator steers: the next position instead of the drawn one.
    let steered = with_result(d, |res| {
        res.index = (res.index + 1) % set.available_count();
        res.number = set.nth_available(res.index).expect("number");
        res.plate = PoolId::parse(POOL).expect("pool").plate(res.number);
    });
    add("index-steered", "index", text(&receipt(env, &steered)));

    let mut r = good.clone();
    r.plate = "30A-999.98".into();
    add("plate-text-altered", "plate", text(&r));

    for (name, t) in malformed(&good) {
        add(&format!("format-{name}"), "format", t);
    }
    out
}

/// Receipts that break the grammar of spec §7.1, as JSON text.
fn malformed(good: &Receipt) -> Vec<(&'static str, String)> {
    let pretty = text(good);
    let v: Value = serde_json::to_value(good).expect("value");
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut v = v.clone();
        f(&mut v);
        serde_json::to_string_pretty(&v).expect("json")
    };
    let index = good.commit.index;
    let commit_index = format!("\"index\": {index},");
    let entry = good.commit.entry.clone();
    // Entries are base64 with padding when their length is not a multiple of 3.
    let padded = entry.ends_with('=').then(|| {
        let data = entry.trim_end_matches('=');
        let pos = data.len() - 1;
        // The last data character holds the zero padding bits: make one of them 1.
        let bumped = B64.encode([0u8]).as_bytes()[0] + 1; // 'B' after 'A'
        let c = if data.as_bytes()[pos] == bumped { b'C' } else { bumped };
        format!("{}{}{}", &data[..pos], c as char, &entry[data.len()..])
    });
    let mut out = vec![
        (
            "index-as-string",
            pretty.replacen(&commit_index, &format!("\"index\": \"{index}\","), 1),
        ),
        (
            "index-as-float",
            pretty.replacen(&commit_index, &format!("\"index\": {index}.0,"), 1),
        ),
        (
            "index-with-exponent",
            pretty.replacen(&commit_index, &format!("\"index\": {index}e0,"), 1),
        ),
        (
            "period-negative-zero",
            edit(&|v| v["beacon"]["period_ms"] = json!(0)).replacen("\"period_ms\": 0", "\"period_ms\": -0", 1),
        ),
        (
            "integer-above-2-53",
            edit(&|v| v["beacon"]["round"] = json!(9_007_199_254_740_993u64)),
        ),
        (
            "duplicate-member",
            pretty.replacen("{\n  \"version\"", "{\n  \"plate\": \"30A-000.01\",\n  \"version\"", 1),
        ),
        (
            "duplicate-nested-member",
            pretty.replacen(&commit_index, &format!("{commit_index}\n    \"index\": {index},"), 1),
        ),
        ("unknown-member", edit(&|v| v["note"] = json!("hello"))),
        (
            "unknown-nested-member",
            edit(&|v| v["beacon"]["chain_hash"] = json!("00")),
        ),
        (
            "missing-beacon",
            edit(&|v| {
                v.as_object_mut().expect("object").remove("beacon");
            }),
        ),
        (
            "missing-previous",
            edit(&|v| {
                v.as_object_mut().expect("object").remove("previous");
            }),
        ),
        (
            "beacon-missing-member",
            edit(&|v| {
                v["beacon"].as_object_mut().expect("object").remove("randomness");
            }),
        ),
        (
            "base64-with-line-break",
            edit(&|v| {
                let b = v["pool_bitmap"].as_str().expect("str").to_owned();
                v["pool_bitmap"] = json!(format!("{}\n{}", &b[..76], &b[76..]));
            }),
        ),
        (
            "hex-upper-case",
            edit(&|v| v["salt"] = json!(good.salt.to_ascii_uppercase())),
        ),
        ("byte-order-mark", format!("\u{feff}{pretty}")),
        ("not-an-object", format!("[{pretty}]")),
        (
            "lone-surrogate",
            pretty.replacen(
                &format!("\"application_id\": \"{}\"", good.application_id),
                "\"application_id\": \"\\ud800\"",
                1,
            ),
        ),
    ];
    if let Some(padded) = padded {
        out.push((
            "base64-nonzero-padding-bits",
            edit(&|v| v["commit"]["entry"] = json!(padded.clone())),
        ));
        out.push((
            "base64-padding-missing",
            edit(&|v| v["commit"]["entry"] = json!(entry.trim_end_matches('='))),
        ));
    }
    out
}

struct Case {
    name: String,
    valid: bool,
    check: Option<&'static str>,
    text: String,
}

fn check_env(env: &Env, prior: usize) -> Vec<Case> {
    let trust = env.trust();
    let mut cases = Vec::new();
    let mut valid = |name: String, r: &Receipt| {
        let t = text(r);
        let v = verify_json(&t, &trust).unwrap_or_else(|e| panic!("{name}: an honest receipt fails: {e}"));
        assert_eq!(v.plate, r.plate);
        cases.push(Case {
            name,
            valid: true,
            check: None,
            text: t,
        });
    };
    let d = honest(env, prior, None);
    valid(format!("valid-{prior}"), &receipt(env, &d));
    let crowd = crowded(env, |r, _, _| r.attempts >= 2);
    let crowded_receipt = receipt(env, &crowd);
    assert!(!crowded_receipt.taken.is_empty());
    valid(format!("valid-crowded-{prior}"), &crowded_receipt);
    let round = *env.rounds().last().expect("round");
    let boundary = honest(env, prior, Some(env.publish_ms(round) - env.period_ms));
    valid(format!("valid-commit-at-boundary-{prior}"), &receipt(env, &boundary));
    // Lines by other keys — another name, or our name with another key id — are ignored.
    let witnessed = receipt_with(env, &d, |s, cp| {
        let (other, _) = NoteSigner::generate("vrs-test-log").expect("key");
        let (witness, _) = NoteSigner::generate("witness.example/w1").expect("key");
        let tail = |n: String| n.rsplit_once("\n\n").expect("split").1.to_owned();
        format!("{}{}{}", s.sign(cp), tail(other.sign(cp)), tail(witness.sign(cp)))
    });
    valid(format!("valid-foreign-signatures-ignored-{prior}"), &witnessed);
    let first = first_in_pool(env);
    let first_receipt = receipt(env, &first);
    assert!(first_receipt.previous.is_none());
    valid(format!("valid-first-in-pool-{prior}"), &first_receipt);

    let mut tampered_cases = tampered(env, &d);
    let mut r = crowded_receipt.clone();
    r.taken.clear();
    tampered_cases.push(("taken-missing".into(), "taken", text(&r)));
    let mut r = crowded_receipt.clone();
    r.taken[0] = r.previous.clone().expect("previous");
    if decode_result(&B64.decode(&r.taken[0].entry).expect("b64")).number
        == decode_result(&B64.decode(&crowded_receipt.taken[0].entry).expect("b64")).number
    {
        r.taken[0] = r.commit.clone();
    }
    tampered_cases.push(("taken-wrong-draw".into(), "taken", text(&r)));
    let mut r = first_receipt.clone();
    r.previous = Some(r.result.clone());
    tampered_cases.push(("previous-given-for-first".into(), "previous", text(&r)));
    // The sampler returned a taken candidate twice; the operator stops at the
    // repeat, which the receipt already shows taken.
    let repeat = crowded(env, |r, c, t| r.attempts >= 3 && t.contains(&c[0]) && c[1] == c[0]);
    let set = set_at(&repeat.log.entries, SMALL, repeat.commit_index);
    let second = candidates(
        decode_result(&repeat.log.entries[repeat.result_index as usize]).seed,
        &set,
    )
    .nth(1)
    .expect("candidate");
    let claimed = with_result(&repeat, |res| {
        res.attempts = 2;
        res.index = second.0;
        res.number = second.1;
        res.plate = PoolId::parse(SMALL).expect("pool").plate(second.1);
    });
    tampered_cases.push(("taken-candidate-drawn".into(), "taken", text(&receipt(env, &claimed))));
    for (name, check, t) in tampered_cases {
        let err = verify_json(&t, &trust).expect_err(&name);
        assert_eq!(err.check, check, "{name}: {err}");
        cases.push(Case {
            name: format!("tampered-{name}-{prior}"),
            valid: false,
            check: Some(check),
            text: t,
        });
    }
    cases
}

#[test]
fn local_beacon_receipts_verify_and_tampering_is_named() {
    let env = Env::local();
    let mut cases = check_env(&env, 0);
    cases.extend(check_env(&env, 7));
    write_golden("local", &env.trust(), &cases);
}

#[test]
fn quicknet_receipts_verify_with_real_rounds() {
    let env = Env::quicknet();
    let cases = check_env(&env, 3);
    write_golden("quicknet", &env.trust(), &cases);
}

#[test]
fn trust_with_a_local_beacon_id_that_is_not_its_keys_is_refused() {
    let env = Env::local();
    let d = honest(&env, 0, None);
    let t = text(&receipt(&env, &d));
    let mut trust = env.trust();
    trust.beacons[0].beacon_id = "vrs-local-00000000".into();
    assert_eq!(verify_json(&t, &trust).expect_err("refused").check, "trust");
}

fn write_golden(name: &str, trust: &Trust, cases: &[Case]) {
    let Some(root) = std::env::var_os("VRS_GOLDEN_DIR") else {
        return;
    };
    let dir = std::path::Path::new(&root).join(name);
    std::fs::create_dir_all(&dir).expect("golden dir");
    std::fs::write(
        dir.join("trust.json"),
        serde_json::to_string_pretty(trust).expect("json"),
    )
    .expect("write");
    let mut index = Vec::new();
    for c in cases {
        let f = format!("{}.json", c.name);
        std::fs::write(dir.join(&f), &c.text).expect("write");
        index.push(json!({ "file": f, "valid": c.valid, "check": c.check }));
    }
    std::fs::write(
        dir.join("cases.json"),
        serde_json::to_string_pretty(&index).expect("json"),
    )
    .expect("write");
}

fn auditor(env: &Env) -> Auditor {
    let key = BeaconKey {
        public_key: env.public_key.clone(),
        genesis_unix_ms: env.genesis_ms,
        period_ms: env.period_ms,
    };
    Auditor::new(HashMap::from([(env.beacon_id.clone(), key)]))
}

fn audit(env: &Env, entries: &[Vec<u8>]) -> Vec<String> {
    let mut a = auditor(env);
    for e in entries {
        a.push(e);
    }
    let mut f: Vec<String> = a.findings.iter().map(|f| format!("{}:{}", f.index, f.rule)).collect();
    f.extend(
        a.gaps(i64::MAX / 2, 0)
            .iter()
            .map(|f| format!("{}:{}", f.index, f.rule)),
    );
    f
}

#[test]
fn audit_replays_honest_logs_clean_and_names_tampered_entries() {
    let env = Env::local();
    let d = honest(&env, 6, None);
    assert!(
        audit(&env, &d.log.entries).is_empty(),
        "{:?}",
        audit(&env, &d.log.entries)
    );
    let crowd = crowded(&env, |r, _, _| r.attempts >= 2);
    assert!(audit(&env, &crowd.log.entries).is_empty());
    let (ci, ri) = (d.commit_index as usize, d.result_index as usize);

    // One byte changed in a stored result: the draw no longer follows.
    let mut e = d.log.entries.clone();
    let at = e[ri].len() - 20; // inside the plate text or number
    e[ri][at] ^= 0x01;
    let f = audit(&env, &e);
    assert!(f.iter().any(|x| x.starts_with(&format!("{ri}:"))), "{f:?}");

    // A byte of a commit: its result no longer links to it (and it names another set).
    let mut e = d.log.entries.clone();
    e[ci][10] ^= 0x01;
    let f = audit(&env, &e);
    assert!(f.contains(&format!("{ri}:link")), "{f:?}");

    // A dropped result leaves a gap at its commit, and the next result is out of order.
    let mut e = d.log.entries.clone();
    e.remove(ri);
    let f = audit(&env, &e);
    assert!(f.contains(&format!("{ci}:gap")), "{f:?}");
    assert!(f.contains(&format!("{ri}:order")), "{f:?}");

    // A result repeated.
    let mut e = d.log.entries.clone();
    e.push(e[ri].clone());
    let f = audit(&env, &e);
    assert!(f.contains(&format!("{}:duplicate", e.len() - 1)), "{f:?}");

    // Another round's beacon value.
    let swapped = with_result(&d, |res| res.signature = env.signature(env.rounds()[0]).expect("round"));
    let f = audit(&env, &swapped.log.entries);
    assert!(f.contains(&format!("{ri}:beacon")), "{f:?}");

    // A commit that names a set other than the pool's, or the wrong previous commit.
    let lied = with_commit(&env, &d, |c| c.available_count -= 1);
    assert!(audit(&env, &lied.log.entries).contains(&format!("{ci}:commit-state")));
    let lied = with_commit(&env, &d, |c| c.previous_commit = vrs_draw::entry::NONE);
    assert!(audit(&env, &lied.log.entries).contains(&format!("{ci}:previous")));
    let round = decode_commit(&d.log.entries[ci]).round;
    let late = with_commit(&env, &d, |c| c.at_ms = env.publish_ms(round) - env.period_ms + 1);
    assert!(audit(&env, &late.log.entries).contains(&format!("{ci}:commit-before-beacon")));
    let on_time = with_commit(&env, &d, |c| c.at_ms = env.publish_ms(round) - env.period_ms);
    assert!(!audit(&env, &on_time.log.entries).contains(&format!("{ci}:commit-before-beacon")));
}

#[test]
fn insider_attacks_after_the_commit_are_named_by_the_audit() {
    let env = Env::local();
    let d = honest(&env, 2, None);
    let ci = d.commit_index;
    // A withholding slipped in after the commit: frozen, whatever the result says.
    for redrawn in [true, false] {
        let w = withhold_slipped(&d, redrawn);
        let f = audit(&env, &w.log.entries);
        assert!(f.contains(&format!("{}:frozen", ci + 1)), "{f:?}");
        assert!(f.contains(&format!("{}:draw", w.result_index)), "{f:?}");
    }
    // The honest result after the same withholding draws the same plate.
    let mut log = Log::lenient();
    for e in &d.log.entries[..=ci as usize] {
        log.push(&Entry::decode(e).expect("entry"));
    }
    let planned = decode_result(&d.log.entries[d.result_index as usize]);
    log.withhold(POOL, vec![planned.number]);
    let results = log
        .ledger
        .resolve(POOL, usize::MAX, |c| env.value(c.round), 9)
        .expect("resolve");
    let ours = results
        .iter()
        .find(|r| r.result.commit_index == ci)
        .expect("ours resolved");
    assert_eq!(ours.result.number, planned.number, "the withholding moved the draw");

    // Results swapped against commit order.
    let s = results_swapped(&d);
    let f = audit(&env, &s.log.entries);
    assert!(f.contains(&format!("{}:order", s.result_index)), "{f:?}");
}

#[test]
fn a_release_while_a_draw_is_pending_counts_for_later_commits_only() {
    let env = Env::local();
    let round = *env.rounds().last().expect("round");
    let mut log = Log::new();
    // Everything withheld but 1 and 2; then 3 released after the first commit.
    log.open(SMALL, (3..=99_999).collect());
    let first = log.commit(&env, SMALL, "a", &[1; 32], round);
    log.release(SMALL, 3);
    let second = log.commit(&env, SMALL, "b", &[2; 32], round);
    let results = log.resolve(&env, SMALL);
    let got: Vec<DrawResult> = results
        .iter()
        .map(|i| decode_result(&log.entries[*i as usize]))
        .collect();
    assert_eq!(decode_commit(&log.entries[first as usize]).available_count, 2);
    assert_eq!(decode_commit(&log.entries[second as usize]).available_count, 3);
    assert!([1, 2].contains(&got[0].number), "{}", got[0].number);
    assert_ne!(got[0].number, got[1].number);
    assert!(audit(&env, &log.entries).is_empty());
}

#[test]
fn a_commit_the_pool_could_never_answer_is_named() {
    let env = Env::local();
    let round = *env.rounds().last().expect("round");
    let mut log = Log::lenient();
    log.open(SMALL, (3..=99_999).collect());
    log.commit(&env, SMALL, "a", &[1; 32], round);
    log.commit(&env, SMALL, "b", &[2; 32], round);
    let third = log.commit(&env, SMALL, "c", &[3; 32], round);
    let f = audit(&env, &log.entries);
    let named: Vec<&String> = f.iter().filter(|x| !x.ends_with(":gap")).collect();
    assert_eq!(named, [&format!("{third}:commit-state")], "{f:?}");
    // The first two are answered; the third can never be.
    let results = log.resolve(&env, SMALL);
    assert_eq!(results.len(), 2);
    assert!(matches!(
        log.ledger.resolve(SMALL, usize::MAX, |c| env.value(c.round), 9),
        Err(vrs_draw::audit::ResolveError::Exhausted(_))
    ));
}

// ---------------------------------------------------------------- key rotations (spec §6.4)

/// The leaf tree of `entries`.
fn tree_of(entries: &[Vec<u8>]) -> Tree {
    let mut tree = Tree::new();
    for e in entries {
        tree.push(leaf_hash(e));
    }
    tree
}

/// The checkpoint of the first `size` entries.
fn checkpoint_of(entries: &[Vec<u8>], size: u64) -> Checkpoint {
    Checkpoint {
        origin: ORIGIN.into(),
        size,
        root: tree_of(&entries[..size as usize]).root(size).expect("root"),
    }
}

/// Logs the rotation `from` → `to` as the registry does; returns its index.
fn log_rotation(log: &mut Log, from: &str, to: &str) -> u64 {
    log.push(&Entry::KeyRotation(KeyRotation {
        old_key: from.into(),
        new_key: to.into(),
        reason: "scheduled rotation".into(),
        at_ms: 5,
    }))
}

/// A draw committed and resolved at the end of `log`: (commit, result) indices.
fn draw_at_end(env: &Env, log: &mut Log, app: &str, salt: &[u8; 32]) -> (u64, u64) {
    let round = *env.rounds().last().expect("a round");
    let c = log.commit(env, POOL, app, salt, round);
    let r = log.resolve(env, POOL);
    (c, r[0])
}

/// A log whose key was rotated twice, K0 → K1 → K2, with a draw before the
/// first rotation, one between the two and one after the second.
struct Rotated {
    /// K1 and K2 (K0 is the environment's signer).
    k1: NoteSigner,
    k2: NoteSigner,
    entries: Vec<Vec<u8>>,
    /// Indices of the two key-rotation entries.
    at: [u64; 2],
    /// The two handover notes, each signed by both keys.
    handovers: [String; 2],
    before: Draw,
    between: Draw,
    after: Draw,
}

impl Rotated {
    fn build(env: &Env) -> Rotated {
        let k1 = NoteSigner::generate("vrs-test-log").expect("key").0;
        let k2 = NoteSigner::generate("vrs-test-log").expect("key").0;
        let mut d = honest(env, 2, None);
        let log = &mut d.log;
        let r1 = log_rotation(log, &env.signer.verifier_key(), &k1.verifier_key());
        let h1 = sign_by_all(&[&env.signer, &k1], &checkpoint_of(&log.entries, r1 + 1));
        let (c_mid, r_mid) = draw_at_end(env, log, "between-rotations", &[0x33; 32]);
        let r2 = log_rotation(log, &k1.verifier_key(), &k2.verifier_key());
        let h2 = sign_by_all(&[&k1, &k2], &checkpoint_of(&log.entries, r2 + 1));
        let (c_after, r_after) = draw_at_end(env, log, "after-rotations", &[0x44; 32]);
        let entries = log.entries.clone();
        let draw = |commit_index, result_index, app: &str, salt: [u8; 32]| Draw {
            log: d.log.clone(),
            commit_index,
            result_index,
            app_id: app.into(),
            salt,
        };
        let mut between = draw(c_mid, r_mid, "between-rotations", [0x33; 32]);
        // Its receipt is signed by K1 before the second rotation.
        between.log.entries.truncate(r2 as usize);
        Rotated {
            before: draw(d.commit_index, d.result_index, &d.app_id, d.salt),
            between,
            after: draw(c_after, r_after, "after-rotations", [0x44; 32]),
            k1,
            k2,
            entries,
            at: [r1, r2],
            handovers: [h1, h2],
        }
    }

    /// The first `n` rotations as a receipt carries them.
    fn rotations(&self, n: usize) -> Vec<Rotation> {
        let tree = tree_of(&self.entries);
        (0..n)
            .map(|i| {
                let at = self.at[i];
                Rotation::assemble(&tree, at, &self.entries[at as usize], &self.handovers[i]).expect("rotation")
            })
            .collect()
    }

    /// `d`'s receipt under a checkpoint of its whole log signed by `signer`, with the first `n` rotations.
    fn receipt(&self, env: &Env, d: &Draw, signer: &NoteSigner, n: usize) -> Receipt {
        let mut r = receipt_with(env, d, |_, cp| signer.sign(cp));
        r.rotations = self.rotations(n);
        r
    }

    fn trust(&self, env: &Env, key: &NoteSigner) -> Trust {
        Trust {
            log_key: key.verifier_key(),
            ..env.trust()
        }
    }
}

/// A rotation element of another log: the rotation `old` → `new` logged after
/// `prefix`, handed over by `signers`.
fn foreign_rotation(prefix: &[Vec<u8>], old: &str, new: &str, signers: &[&NoteSigner]) -> Rotation {
    let mut entries = prefix.to_vec();
    entries.push(
        Entry::KeyRotation(KeyRotation {
            old_key: old.into(),
            new_key: new.into(),
            reason: "scheduled rotation".into(),
            at_ms: 5,
        })
        .encode(),
    );
    let at = prefix.len() as u64;
    let note = sign_by_all(signers, &checkpoint_of(&entries, at + 1));
    Rotation::assemble(&tree_of(&entries), at, &entries[at as usize], &note).expect("rotation")
}

/// Receipts across the rotations, valid for trust pinned to `pinned` (0, 1 or 2: K0, K1, K2),
/// and tampered ones with the check that must reject them.
fn rotation_cases(env: &Env, rot: &Rotated, pinned: usize) -> (Trust, Vec<Case>) {
    let keys = [&env.signer, &rot.k1, &rot.k2];
    let trust = rot.trust(env, keys[pinned]);
    let mut cases = Vec::new();
    let mut valid: Vec<(String, Receipt)> = vec![
        ("before-two-rotations".into(), rot.receipt(env, &rot.before, &rot.k2, 2)),
        ("after-two-rotations".into(), rot.receipt(env, &rot.after, &rot.k2, 2)),
    ];
    if pinned < 2 {
        valid.push((
            "between-one-rotation".into(),
            rot.receipt(env, &rot.between, &rot.k1, 1),
        ));
    }
    if pinned == 0 {
        // Issued before any rotation, and never re-fetched: no rotations, signed by K0.
        let early = receipt_with(env, &honest(env, 2, None), |s, cp| s.sign(cp));
        valid.push(("issued-before-rotation".into(), early));
    }
    for (name, r) in &valid {
        let t = text(r);
        let v = verify_json(&t, &trust).unwrap_or_else(|e| panic!("{name} pinned to K{pinned}: {e}"));
        let signed_by = match name.as_str() {
            "issued-before-rotation" => 0,
            "between-one-rotation" => 1,
            _ => 2,
        };
        assert_eq!(v.log_key, keys[signed_by].verifier_key(), "{name}");
        cases.push(Case {
            name: format!("valid-{name}"),
            valid: true,
            check: None,
            text: t,
        });
    }

    let good = rot.receipt(env, &rot.after, &rot.k2, 2);
    let mut bad: Vec<(&str, &'static str, Receipt)> = Vec::new();
    // The rotation this verifier follows first (K0 → K1 pinned to K0, K1 → K2 pinned to K1).
    if pinned < 2 {
        let i = pinned;
        let (old, new) = (keys[i], keys[i + 1]);
        let size = rot.at[i] + 1;
        let cp = checkpoint_of(&rot.entries, size);
        let mut r = good.clone();
        r.rotations[i].checkpoint = new.sign(&cp);
        bad.push(("handover-new-key-only", "rotations", r));
        let mut r = good.clone();
        r.rotations[i].checkpoint = old.sign(&cp);
        bad.push(("handover-old-key-only", "rotations", r));
        // Handed over one entry later: the rotation is not the last entry of the tree.
        let mut r = good.clone();
        let later = checkpoint_of(&rot.entries, size + 1);
        r.rotations[i].checkpoint = sign_by_all(&[old, new], &later);
        r.rotations[i].rotation.proof = tree_of(&rot.entries)
            .inclusion_proof(rot.at[i], size + 1)
            .expect("proof")
            .iter()
            .map(|h| B64.encode(h))
            .collect();
        bad.push(("rotation-not-last-of-handover", "rotations", r));
        let mut r = good.clone();
        if let Some(p) = r.rotations[i].rotation.proof.first_mut() {
            *p = flip_b64(p, 3);
        }
        bad.push(("rotation-proof-altered", "rotations", r));
        // The next rotation hands over from a key other than the one just followed.
        let (stranger, _) = NoteSigner::generate("vrs-test-log").expect("key");
        let mut r = good.clone();
        let strange = foreign_rotation(
            &rot.entries[..rot.at[1] as usize],
            &stranger.verifier_key(),
            &rot.k2.verifier_key(),
            &[&stranger, &rot.k2],
        );
        if i == 0 {
            r.rotations[1] = strange;
        } else {
            r.rotations.push(strange);
        }
        bad.push(("old-key-not-the-key-followed", "rotations", r));
        // The receipt's checkpoint signed by the new key, but older than the handover.
        let older = Draw {
            log: Log {
                entries: rot.entries[..rot.at[1] as usize].to_vec(),
                ..rot.before.log.clone()
            },
            ..rot.before.clone()
        };
        let mut r = receipt_with(env, &older, |_, cp| rot.k2.sign(cp));
        r.rotations = rot.rotations(2);
        bad.push(("checkpoint-older-than-handover", "checkpoint", r));
    }
    // The receipt's checkpoint signed by a retired key, beside the rotations that retire it.
    let retired = if pinned == 2 { &rot.k1 } else { keys[pinned] };
    bad.push((
        "checkpoint-by-retired-key",
        "checkpoint",
        rot.receipt(env, &rot.after, retired, 2),
    ));
    // Every element must be a key-rotation, followed or skipped.
    let mut r = good.clone();
    r.rotations[0].rotation = r.commit.clone();
    bad.push(("rotation-not-a-key-rotation", "rotations", r));
    for (name, check, r) in bad {
        let t = text(&r);
        let err = verify_json(&t, &trust).expect_err(name);
        assert_eq!(err.check, check, "{name} pinned to K{pinned}: {err}");
        cases.push(Case {
            name: format!("tampered-{name}"),
            valid: false,
            check: Some(check),
            text: t,
        });
    }
    // Grammar: `rotations` is an array of objects with exactly two members.
    let v: Value = serde_json::to_value(&good).expect("value");
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut v = v.clone();
        f(&mut v);
        serde_json::to_string_pretty(&v).expect("json")
    };
    for (name, t) in [
        ("rotations-null", edit(&|v| v["rotations"] = Value::Null)),
        (
            "rotation-unknown-member",
            edit(&|v| v["rotations"][0]["why"] = json!("x")),
        ),
        (
            "rotation-missing-checkpoint",
            edit(&|v| {
                v["rotations"][0].as_object_mut().expect("object").remove("checkpoint");
            }),
        ),
        (
            "rotation-entry-not-base64",
            edit(&|v| v["rotations"][0]["rotation"]["entry"] = json!("not base64")),
        ),
    ] {
        let err = verify_json(&t, &trust).expect_err(name);
        assert_eq!(err.check, "format", "{name}: {err}");
        cases.push(Case {
            name: format!("tampered-format-{name}"),
            valid: false,
            check: Some("format"),
            text: t,
        });
    }
    (trust, cases)
}

#[test]
fn receipts_follow_key_rotations_from_any_pinned_key_and_tampering_is_named() {
    let env = Env::local();
    let rot = Rotated::build(&env);
    for (pinned, dir) in [
        (0, "rotation-first-key"),
        (1, "rotation-middle-key"),
        (2, "rotation-last-key"),
    ] {
        let (trust, cases) = rotation_cases(&env, &rot, pinned);
        write_golden(dir, &trust, &cases);
    }
}

#[test]
fn receipts_without_rotations_are_unchanged() {
    let env = Env::local();
    let r = receipt(&env, &honest(&env, 0, None));
    assert!(r.rotations.is_empty());
    let t = text(&r);
    assert!(!t.contains("rotations"), "an empty rotations member is left out");
    let explicit = t.replacen("{\n", "{\n  \"rotations\": [],\n", 1);
    assert!(
        verify_json(&explicit, &env.trust()).is_ok(),
        "an explicit empty list is the same"
    );
}

#[test]
fn the_audit_follows_rotations_and_names_retired_keys() {
    let env = Env::local();
    let rot = Rotated::build(&env);
    let keys = [&env.signer, &rot.k1, &rot.k2];
    let size = rot.entries.len() as u64;
    let latest = rot.k2.sign(&checkpoint_of(&rot.entries, size));
    let handovers = rot.handovers.to_vec();
    let now = i64::MAX / 2;
    for (i, key) in keys.iter().enumerate() {
        let trust = rot.trust(&env, key);
        let report = replay_holding(&trust, &latest, &handovers, &rot.entries, now, i64::MAX / 4).expect("replay");
        assert!(report.findings.is_empty(), "pinned to K{i}: {:?}", report.findings);
    }
    // Pinned to a later key, the handovers before it are not needed.
    let report = replay(&rot.trust(&env, &rot.k2), &latest, &rot.entries, now, i64::MAX / 4).expect("replay");
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    // Pinned to the first key without the handovers: each rotation followed is a finding.
    let trust = rot.trust(&env, &env.signer);
    let report = replay(&trust, &latest, &rot.entries, now, i64::MAX / 4).expect("replay");
    let named: Vec<&String> = report.findings.iter().filter(|f| f.contains("handover")).collect();
    assert_eq!(named.len(), 2, "{:?}", report.findings);
    // A retired key signing beyond its handover, and a checkpoint signed by it alone.
    let misuse = sign_by_all(&[&rot.k2, &env.signer], &checkpoint_of(&rot.entries, size));
    let report = replay_holding(
        &trust,
        &latest,
        &[handovers.clone(), vec![misuse]].concat(),
        &rot.entries,
        now,
        i64::MAX / 4,
    )
    .expect("replay");
    assert!(
        report.findings.iter().any(|f| f.contains("retired-key")),
        "{:?}",
        report.findings
    );
    let old_only = env.signer.sign(&checkpoint_of(&rot.entries, size - 1));
    let report = replay_holding(
        &trust,
        &latest,
        &[handovers.clone(), vec![old_only.clone()]].concat(),
        &rot.entries,
        now,
        i64::MAX / 4,
    )
    .expect("replay");
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.contains("not signed by the key in force")),
        "{:?}",
        report.findings
    );
    // The audited checkpoint itself signed by a retired key alone: nothing can be audited against it.
    let err =
        replay_holding(&trust, &old_only, &handovers, &rot.entries[..size as usize - 1], now, 0).expect_err("refused");
    assert!(err.starts_with("checkpoint:"), "{err}");
    // A rotation from a key other than the one in force is named, and not followed.
    let mut log = Log::new();
    log.open(POOL, special_patterns());
    let (stranger, _) = NoteSigner::generate("vrs-test-log").expect("key");
    let at = log_rotation(&mut log, &stranger.verifier_key(), &rot.k1.verifier_key());
    let note = env.signer.sign(&checkpoint_of(&log.entries, log.entries.len() as u64));
    let report = replay(&env.trust(), &note, &log.entries, now, 0).expect("replay");
    assert!(
        report.findings.contains(&format!(
            "entry {at}: key-rotation: hands over from {:?}, which is not the key in force; not followed",
            stranger.verifier_key()
        )),
        "{:?}",
        report.findings
    );
}
