//! Receipts and audit, end to end on an in-memory log: honest draws verify;
//! every kind of tampering is caught and named. With `VRS_GOLDEN_DIR=<dir>`
//! the receipts (valid and tampered), `trust.json` and `cases.json` are
//! written there for the independent verifier (contracts/draw/verify_receipt.py).

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;
use vrs_draw::audit::{Auditor, BeaconKey};
use vrs_draw::beacon::{self, SecretKey};
use vrs_draw::entry::{DrawCommit, DrawResult, Entry, PoolChange, PoolOpen};
use vrs_draw::merkle::{Tree, leaf_hash};
use vrs_draw::note::{Checkpoint, NoteSigner};
use vrs_draw::pool::{PoolState, special_patterns};
use vrs_draw::receipt::{BeaconEvidence, RULES_VERSION, Receipt, ReceiptParts, Trust, TrustedBeacon, resolve, verify};
use vrs_draw::sampler::{application_commitment, draw_index, seed};

const POOL: &str = "30-car-white-A";
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
        let recorded: serde_json::Value =
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

    fn publish_ms(&self, round: u64) -> i64 {
        self.genesis_ms + ((round - 1) * self.period_ms) as i64
    }

    fn signature(&self, round: u64) -> Vec<u8> {
        match &self.beacon {
            BeaconKind::Local(k) => k.sign_round(round).to_vec(),
            BeaconKind::Quicknet(r) => r.get(&round).cloned().expect("recorded round"),
        }
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

    fn evidence(&self, round: u64) -> BeaconEvidence {
        let sig = self.signature(round);
        BeaconEvidence {
            beacon_id: self.beacon_id.clone(),
            scheme: beacon::SCHEME.into(),
            public_key: hex::encode(&self.public_key),
            genesis_unix_ms: self.genesis_ms,
            period_ms: self.period_ms,
            round,
            randomness: hex::encode(beacon::randomness(&sig)),
            signature: hex::encode(sig),
        }
    }
}

/// A log with one draw of interest.
#[derive(Clone)]
struct Draw {
    entries: Vec<Vec<u8>>,
    commit_index: u64,
    result_index: u64,
    app_id: String,
    salt: [u8; 32],
    bitmap: Vec<u8>,
    round: u64,
}

fn commit(env: &Env, app: &str, salt: &[u8; 32], round: u64) -> DrawCommit {
    DrawCommit {
        pool_id: POOL.into(),
        rules_version: RULES_VERSION.into(),
        application_commitment: application_commitment(salt, app),
        beacon_id: env.beacon_id.clone(),
        round,
        at_ms: (env.publish_ms(round) - 2_000) as u64,
    }
}

/// An honest log: pool opened, special patterns withheld, `prior` earlier
/// draws, then our commit, an unrelated commit for the same round, and both results.
fn honest(env: &Env, prior: usize) -> Draw {
    let mut entries = vec![
        Entry::PoolOpen(PoolOpen {
            pool_id: POOL.into(),
            rules_version: RULES_VERSION.into(),
            legal_basis: "Circular 79/2024/TT-BCA".into(),
            at_ms: 1,
        })
        .encode(),
        Entry::PoolWithhold(PoolChange {
            pool_id: POOL.into(),
            reason: "SPECIAL_PATTERN".into(),
            legal_basis: "Decree 156/2024/ND-CP".into(),
            numbers: special_patterns(),
            at_ms: 2,
        })
        .encode(),
    ];
    let mut pool = PoolState::open();
    for n in special_patterns() {
        pool.change(n, vrs_draw::pool::Status::Available, vrs_draw::pool::Status::Withheld)
            .expect("withhold");
    }
    let rounds = env.rounds();
    let draw = |entries: &mut Vec<Vec<u8>>, app: &str, salt: [u8; 32], round: u64| {
        let c = commit(env, app, &salt, round);
        let bytes = Entry::DrawCommit(c.clone()).encode();
        let ci = entries.len() as u64;
        entries.push(bytes.clone());
        (ci, c, bytes)
    };
    for i in 0..prior {
        let round = rounds[i % (rounds.len() - 1)];
        let (ci, c, bytes) = draw(&mut entries, &format!("prior-{i}"), [i as u8; 32], round);
        let sig = env.signature(round);
        let r = resolve(
            ci,
            &bytes,
            &c,
            &sig,
            beacon::randomness(&sig),
            &mut pool,
            c.at_ms + 3_000,
        )
        .expect("draw");
        entries.push(Entry::DrawResult(r).encode());
    }
    let round = *rounds.last().expect("a round");
    let salt = [0xa5; 32];
    let app_id = "3f2b8c1e-0d4a-4b6e-9f7a-1c2d3e4f5a6b".to_string();
    let (ci, c, bytes) = draw(&mut entries, &app_id, salt, round);
    let (oi, oc, obytes) = draw(&mut entries, "other-application", [0x11; 32], round);
    let sig = env.signature(round);
    let bitmap = pool.bitmap();
    let r = resolve(
        ci,
        &bytes,
        &c,
        &sig,
        beacon::randomness(&sig),
        &mut pool,
        c.at_ms + 3_000,
    )
    .expect("draw");
    let ri = entries.len() as u64;
    entries.push(Entry::DrawResult(r).encode());
    let o = resolve(
        oi,
        &obytes,
        &oc,
        &sig,
        beacon::randomness(&sig),
        &mut pool,
        oc.at_ms + 3_000,
    )
    .expect("draw");
    entries.push(Entry::DrawResult(o).encode());
    Draw {
        entries,
        commit_index: ci,
        result_index: ri,
        app_id,
        salt,
        bitmap,
        round,
    }
}

fn receipt_with(env: &Env, d: &Draw, signer: &NoteSigner) -> Receipt {
    let mut tree = Tree::new();
    for e in &d.entries {
        tree.push(leaf_hash(e));
    }
    let size = tree.size();
    let note = signer.sign(&Checkpoint {
        origin: ORIGIN.into(),
        size,
        root: tree.root(size).expect("root"),
    });
    let result = match Entry::decode(&d.entries[d.result_index as usize]) {
        Ok(Entry::DrawResult(r)) => r,
        other => panic!("not a result: {other:?}"),
    };
    Receipt::assemble(ReceiptParts {
        application_id: &d.app_id,
        salt: &d.salt,
        checkpoint: &note,
        checkpoint_size: size,
        tree: &tree,
        commit: (d.commit_index, &d.entries[d.commit_index as usize]),
        result: (d.result_index, &d.entries[d.result_index as usize]),
        beacon: env.evidence(d.round),
        pool_bitmap: &d.bitmap,
        plate: &result.plate,
    })
    .expect("assemble")
}

fn receipt(env: &Env, d: &Draw) -> Receipt {
    receipt_with(env, d, &env.signer)
}

/// Rewrites our result entry with `f` (the operator cheating and re-signing).
fn with_result(d: &Draw, f: impl FnOnce(&mut DrawResult)) -> Draw {
    let mut d = d.clone();
    let Ok(Entry::DrawResult(mut r)) = Entry::decode(&d.entries[d.result_index as usize]) else {
        panic!("result expected")
    };
    f(&mut r);
    d.entries[d.result_index as usize] = Entry::DrawResult(r).encode();
    d
}

fn flip_b64(s: &str, at: usize) -> String {
    let mut b = B64.decode(s).expect("b64");
    let i = at.min(b.len() - 1);
    b[i] ^= 0x01;
    B64.encode(b)
}

/// Every tampered variant, with the check that must reject it.
fn tampered(env: &Env, d: &Draw) -> Vec<(&'static str, &'static str, Receipt)> {
    let good = receipt(env, d);
    let pool_now = PoolState::from_bitmap(&B64.decode(&good.pool_bitmap).expect("b64")).expect("bitmap");
    let mut out = Vec::new();

    let other_signer = NoteSigner::generate("vrs-test-log").expect("key").0;
    out.push((
        "foreign-checkpoint-key",
        "checkpoint",
        receipt_with(env, d, &other_signer),
    ));

    let mut r = good.clone();
    r.commit.entry = flip_b64(&r.commit.entry, 20);
    out.push(("commit-byte-flipped", "commit-inclusion", r));

    let mut r = good.clone();
    r.result.entry = flip_b64(&r.result.entry, 60);
    out.push(("result-byte-flipped", "result-inclusion", r));

    let mut r = good.clone();
    if let Some(p) = r.result.proof.first_mut() {
        *p = flip_b64(p, 0);
    }
    out.push(("proof-hash-flipped", "result-inclusion", r));

    let mut r = good.clone();
    r.salt = hex::encode([0x5a; 32]);
    out.push(("wrong-salt", "commitment", r));

    // The operator swaps in another round's beacon value and redraws consistently.
    let swapped = with_result(d, |res| {
        let other_round = env.rounds()[0];
        let sig = env.signature(other_round);
        res.signature = sig.clone();
        res.randomness = beacon::randomness(&sig);
        res.seed = seed(&res.commit_hash, res.round, &res.randomness);
        res.index = draw_index(res.seed, res.available_count);
        res.number = pool_now.nth_available(res.index).expect("number");
        res.plate = vrs_draw::pool::PoolId::parse(POOL).expect("pool").plate(res.number);
    });
    out.push(("beacon-value-swapped", "beacon", receipt(env, &swapped)));

    // The operator steers: the next number instead of the drawn one.
    let steered = with_result(d, |res| {
        res.index = (res.index + 1) % res.available_count;
        res.number = pool_now.nth_available(res.index).expect("number");
        res.plate = vrs_draw::pool::PoolId::parse(POOL).expect("pool").plate(res.number);
    });
    out.push(("index-steered", "index", receipt(env, &steered)));

    let reseeded = with_result(d, |res| res.seed[0] ^= 1);
    out.push(("seed-altered", "seed", receipt(env, &reseeded)));

    let relinked = with_result(d, |res| res.commit_hash[0] ^= 1);
    out.push(("commit-hash-altered", "link", receipt(env, &relinked)));

    let mut r = good.clone();
    let mut bitmap = B64.decode(&r.pool_bitmap).expect("b64");
    bitmap[100] = 0; // eight numbers less
    r.pool_bitmap = B64.encode(bitmap);
    out.push(("pool-bitmap-altered", "pool", r));

    let mut r = good.clone();
    r.plate = "30A-999.98".into();
    out.push(("plate-text-altered", "plate", r));

    // A commit made after its round was already public.
    let mut late = d.clone();
    let Ok(Entry::DrawCommit(mut c)) = Entry::decode(&late.entries[late.commit_index as usize]) else {
        panic!("commit expected")
    };
    c.at_ms = env.publish_ms(c.round) as u64 + 1;
    let cbytes = Entry::DrawCommit(c.clone()).encode();
    late.entries[late.commit_index as usize] = cbytes.clone();
    let mut pool = PoolState::from_bitmap(&late.bitmap).expect("bitmap");
    let sig = env.signature(c.round);
    let res = resolve(
        late.commit_index,
        &cbytes,
        &c,
        &sig,
        beacon::randomness(&sig),
        &mut pool,
        c.at_ms,
    )
    .expect("draw");
    late.entries[late.result_index as usize] = Entry::DrawResult(res).encode();
    out.push(("commit-after-round", "commit-before-beacon", receipt(env, &late)));

    // Result placed before its commit in the log.
    let mut swapped_order = d.clone();
    swapped_order
        .entries
        .swap(d.commit_index as usize, d.result_index as usize);
    let (ci, ri) = (d.result_index, d.commit_index);
    swapped_order.commit_index = ci;
    swapped_order.result_index = ri;
    let reordered = with_result(&swapped_order, |res| res.commit_index = ci);
    out.push(("result-before-commit", "order", receipt(env, &reordered)));
    out
}

fn check_env(env: &Env, prior: usize) -> Vec<(String, bool, Option<&'static str>, Receipt)> {
    let d = honest(env, prior);
    let trust = env.trust();
    let good = receipt(env, &d);
    let v = verify(&good, &trust).expect("an honest receipt verifies");
    assert_eq!(v.plate, good.plate);
    let mut cases = vec![(format!("valid-{prior}"), true, None, good)];
    for (name, check, r) in tampered(env, &d) {
        let err = verify(&r, &trust).expect_err(name);
        assert_eq!(err.check, check, "{name}: {err}");
        cases.push((format!("tampered-{name}-{prior}"), false, Some(check), r));
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

fn write_golden(name: &str, trust: &Trust, cases: &[(String, bool, Option<&'static str>, Receipt)]) {
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
    for (file, valid, check, r) in cases {
        let f = format!("{file}.json");
        std::fs::write(dir.join(&f), serde_json::to_string_pretty(r).expect("json")).expect("write");
        index.push(json!({ "file": f, "valid": valid, "check": check }));
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
fn audit_replays_an_honest_log_clean_and_names_tampered_entries() {
    let env = Env::local();
    let d = honest(&env, 6);
    assert!(audit(&env, &d.entries).is_empty(), "{:?}", audit(&env, &d.entries));

    // One byte changed in a stored result: the draw no longer follows.
    let mut e = d.entries.clone();
    let ri = d.result_index as usize;
    let at = e[ri].len() - 20; // inside the plate text or number
    e[ri][at] ^= 0x01;
    let f = audit(&env, &e);
    assert!(f.iter().any(|x| x.starts_with(&format!("{ri}:"))), "{f:?}");

    // A byte of a commit: its result no longer links to it.
    let mut e = d.entries.clone();
    let ci = d.commit_index as usize;
    e[ci][10] ^= 0x01;
    let f = audit(&env, &e);
    assert!(f.contains(&format!("{ri}:link")), "{f:?}");

    // A dropped result leaves a gap at its commit.
    let mut e = d.entries.clone();
    e.remove(ri);
    let f = audit(&env, &e);
    assert!(f.contains(&format!("{ci}:gap")), "{f:?}");

    // Two draws of the same pool swapped: the first one out of order no longer follows from the pool.
    let mut e = d.entries.clone();
    e.swap(ri, ri + 1);
    let f = audit(&env, &e);
    assert!(f.contains(&format!("{ri}:draw")), "{f:?}");

    // Another round's beacon value.
    let swapped = with_result(&d, |res| res.signature = env.signature(env.rounds()[0]));
    let f = audit(&env, &swapped.entries);
    assert!(f.contains(&format!("{ri}:beacon")), "{f:?}");
}
