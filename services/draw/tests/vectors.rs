//! The known-answer vectors of `contracts/draw/vectors.json`: this test
//! recomputes every vector and compares; `VRS_WRITE_VECTORS=1` rewrites the file
//! (only when the specification itself changes).

use std::collections::HashSet;

use serde_json::{Value, json};
use vrs_draw::audit::{BeaconKey, Ledger};
use vrs_draw::beacon::{self, SecretKey};
use vrs_draw::draw::{candidates, pick};
use vrs_draw::entry::{DrawCommit, Entry, KeyRotation, PlateAssign, PlateRevoke, PoolChange, PoolOpen};
use vrs_draw::merkle::{Tree, leaf_hash};
use vrs_draw::note::{Checkpoint, NoteSigner, sign_by_all};
use vrs_draw::pool::{PoolId, PoolState, special_patterns};
use vrs_draw::receipt::RULES_VERSION;
use vrs_draw::sampler::{Stream, application_commitment, seed, uniform_index};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../contracts/draw/vectors.json");

fn h32(byte: u8) -> [u8; 32] {
    [byte; 32]
}

fn compute() -> Value {
    let mut zero = Stream::new([0; 32]);
    let chacha: Vec<String> = (0..8).map(|_| format!("{:016x}", zero.next_u64())).collect();

    let mut sampler = Vec::new();
    for (seed_byte, n, count) in [
        (1u8, 99_999u64, 5usize),
        (2, 1, 3),
        (3, 2, 5),
        (4, 1 << 32, 3),
        (5, (1 << 63) + 1, 6),
        (6, u64::MAX, 4),
    ] {
        let mut s = Stream::new(h32(seed_byte));
        let indices: Vec<String> = (0..count).map(|_| uniform_index(&mut s, n).to_string()).collect();
        sampler.push(json!({ "seed": hex::encode(h32(seed_byte)), "n": n.to_string(), "indices": indices }));
    }

    let salt = h32(0x5a);
    let commitment = application_commitment(&salt, "6f1c2d0e-7a3b-4c5d-9e8f-0a1b2c3d4e5f");
    // Randomness of quicknet round 657413 (see contracts/beacons/drand-quicknet.json).
    let signature =
        hex::decode("b713718a38ae728dfd477991af2822e08d2f305e47718cef9f7848ce4050e7be41076862b98fad56e91a6b85b89cd97b")
            .expect("hex");
    let randomness: [u8; 32] = hex::decode("fc1873a13f3545aeade8401532ef5519920652eee6b0d2b19ca12643b87b3587")
        .expect("hex")
        .try_into()
        .expect("32 bytes");

    let mut fresh = PoolState::open();
    let fresh_digest = fresh.digest();
    let pool_open = Entry::PoolOpen(PoolOpen {
        pool_id: "30-car-white-A".into(),
        rules_version: RULES_VERSION.into(),
        legal_basis: "Circular 79/2024/TT-BCA".into(),
        at_ms: 1_694_000_000_000,
    });
    let withhold = Entry::PoolWithhold(PoolChange {
        pool_id: "30-car-white-A".into(),
        reason: "SPECIAL_PATTERN".into(),
        legal_basis: "Decree 156/2024/ND-CP".into(),
        numbers: special_patterns(),
        at_ms: 1_694_000_000_000,
    });
    // The log [pool-open, pool-withhold, draw-commit, draw-result], built by the ledger.
    let mut ledger = Ledger::new();
    for e in [&pool_open, &withhold] {
        assert!(ledger.append(&e.encode()).is_empty());
    }
    let mut pool = ledger.pool("30-car-white-A").expect("opened").clone();
    let withheld_digest = pool.digest();
    let nth: Vec<Value> = [0u32, 1, 55_553, 99_992]
        .iter()
        .map(|k| json!({ "k": k, "number": pool.nth_available(*k) }))
        .collect();
    let state = ledger.commit_state("30-car-white-A").expect("pool");
    let commit = DrawCommit {
        pool_id: "30-car-white-A".into(),
        rules_version: RULES_VERSION.into(),
        application_commitment: commitment,
        beacon_id: "drand-quicknet".into(),
        round: 657_413,
        previous_commit: state.previous_commit,
        available_count: state.available_count,
        pool_digest: state.pool_digest,
        // One period and a second before quicknet round 657413 was published (1694775603000).
        at_ms: 1_694_775_599_000,
    };
    let commit_bytes = Entry::DrawCommit(commit.clone()).encode();
    let commit_hash = leaf_hash(&commit_bytes);
    assert!(ledger.append(&commit_bytes).is_empty());
    let resolved = ledger
        .resolve(
            "30-car-white-A",
            1,
            |_| Some((signature.clone(), randomness)),
            1_694_775_604_000,
        )
        .expect("draw");
    let result = resolved[0].result.clone();
    assert!(ledger.append(&Entry::DrawResult(result.clone()).encode()).is_empty());

    // The same commit when draws committed before it took its first two candidates.
    let first: Vec<(u32, u32)> = candidates(result.seed, &pool).take(3).collect();
    let taken: HashSet<u32> = [first[0].1, first[1].1].into();
    let skipped = pick(result.seed, &pool, |m| taken.contains(&m), || 2).expect("drawn");

    let more = [
        (
            "pool-release",
            Entry::PoolRelease(PoolChange {
                pool_id: "30-car-white-A".into(),
                reason: "RETENTION_EXPIRED".into(),
                legal_basis: "Circular 79/2024/TT-BCA".into(),
                numbers: vec![12_345],
                at_ms: 1_694_000_000_001,
            }),
        ),
        (
            "plate-assign",
            Entry::PlateAssign(PlateAssign {
                pool_id: "30-car-white-A".into(),
                number: 12_345,
                plate: "30A-123.45".into(),
                reason: "RETAINED_REISSUE".into(),
                legal_basis: "Circular 79/2024/TT-BCA".into(),
                application_commitment: h32(0x11),
                at_ms: 1_694_000_000_002,
            }),
        ),
        (
            "plate-revoke",
            Entry::PlateRevoke(PlateRevoke {
                pool_id: "30-car-white-A".into(),
                number: 12_345,
                plate: "30A-123.45".into(),
                reason: "OWNERSHIP_TRANSFER".into(),
                legal_basis: "Circular 79/2024/TT-BCA".into(),
                owner_commitment: h32(0x22),
                retained_until_ms: 1_851_000_000_000,
                at_ms: 1_694_000_000_003,
            }),
        ),
        (
            "key-rotation",
            Entry::KeyRotation(KeyRotation {
                old_key: NoteSigner::from_seed("vrs-plate-log", &h32(0x01))
                    .expect("key")
                    .verifier_key(),
                new_key: NoteSigner::from_seed("vrs-plate-log", &h32(0x02))
                    .expect("key")
                    .verifier_key(),
                reason: "scheduled rotation".into(),
                at_ms: 1_694_000_000_004,
            }),
        ),
    ];
    let log = [
        ("pool-open", pool_open),
        ("pool-withhold", withhold),
        ("draw-commit", Entry::DrawCommit(commit.clone())),
        ("draw-result", Entry::DrawResult(result.clone())),
    ];
    let entry_json = |(name, e): &(&str, Entry)| {
        let bytes = e.encode();
        json!({ "kind": name, "hex": hex::encode(&bytes), "leaf_hash": hex::encode(leaf_hash(&bytes)) })
    };
    let mut tree = Tree::new();
    for (_, e) in &log {
        tree.push(leaf_hash(&e.encode()));
    }
    let proof_hex = |p: Vec<[u8; 32]>| p.iter().map(hex::encode).collect::<Vec<_>>();

    // The key-rotation above logged after the four entries of "log", and its
    // handover: the checkpoint of size 5, signed by the old and the new key.
    let (old, new) = (
        NoteSigner::from_seed("vrs-plate-log", &h32(0x01)).expect("key"),
        NoteSigner::from_seed("vrs-plate-log", &h32(0x02)).expect("key"),
    );
    let rotation = more
        .iter()
        .find(|(k, _)| *k == "key-rotation")
        .expect("rotation")
        .1
        .encode();
    let mut rotated = tree.clone();
    rotated.push(leaf_hash(&rotation));
    let handover = Checkpoint {
        origin: "vn.gov.vrs/plate-draw-log".into(),
        size: 5,
        root: rotated.root(5).expect("root"),
    };
    let handover_note = sign_by_all(&[&old, &new], &handover);

    let plates: Vec<Value> = [
        ("30-car-white-A", 48_217u32),
        ("30-car-white-A", 1),
        ("29-motorbike-white-AB", 12_345),
        ("51-car-yellow-F", 99_999),
    ]
    .iter()
    .map(|(pool, n)| json!({ "pool_id": pool, "number": n, "plate": PoolId::parse(pool).expect("pool").plate(*n) }))
    .collect();

    let quicknet = BeaconKey {
        public_key: Vec::new(),
        genesis_unix_ms: beacon::quicknet::GENESIS_UNIX * 1000,
        period_ms: u64::from(beacon::quicknet::PERIOD_SECONDS) * 1000,
    };
    let publish = quicknet.publish_ms(657_413).expect("round") as u64;
    let boundary = publish - quicknet.period_ms;
    let one = SecretKey::from_bytes(&{
        let mut k = [0u8; 32];
        k[31] = 1;
        k
    })
    .expect("key");

    json!({
        "spec": "vrs-draw-rules-v2",
        "chacha20_zero_key_words_le_u64": chacha,
        "sampler": sampler,
        "commitment": { "salt": hex::encode(salt), "application_id": "6f1c2d0e-7a3b-4c5d-9e8f-0a1b2c3d4e5f", "commitment": hex::encode(commitment) },
        "seed": { "commit_hash": hex::encode(commit_hash), "round": 657_413, "randomness": hex::encode(randomness), "seed": hex::encode(seed(&commit_hash, 657_413, &randomness)) },
        "log": log.iter().map(entry_json).collect::<Vec<_>>(),
        "more_entries": more.iter().map(entry_json).collect::<Vec<_>>(),
        "tree": {
            "of": "the four entries of \"log\"",
            "size": tree.size(),
            "root": hex::encode(tree.root(4).expect("root")),
            "root_of_3": hex::encode(tree.root(3).expect("root")),
            "inclusion_of_2_in_4": proof_hex(tree.inclusion_proof(2, 4).expect("proof")),
            "consistency_3_to_4": proof_hex(tree.consistency_proof(3, 4).expect("proof")),
        },
        "pool": {
            "fresh_digest": hex::encode(fresh_digest),
            "special_patterns": special_patterns(),
            "digest_after_special_patterns": hex::encode(withheld_digest),
            "nth_available_after_special_patterns": nth,
        },
        "draw": {
            "pool_id": "30-car-white-A",
            "pool_state": "fresh, then the special patterns withheld: the set the commit names",
            "commit_index": 2,
            "commit_hex": hex::encode(&commit_bytes),
            "previous_commit": commit.previous_commit.to_string(),
            "available_count": commit.available_count,
            "pool_digest": hex::encode(commit.pool_digest),
            "round": 657_413,
            "signature": hex::encode(&signature),
            "randomness": hex::encode(randomness),
            "seed": hex::encode(result.seed),
            "attempts": result.attempts,
            "index": result.index,
            "number": result.number,
            "plate": result.plate,
        },
        "draw_with_taken": {
            "about": "the draw above, had draws committed earlier in the pool taken its first two candidates",
            "seed": hex::encode(result.seed),
            "n": pool.available_count(),
            "candidates": first.iter().map(|(i, m)| json!({ "index": i, "number": m })).collect::<Vec<_>>(),
            "taken": [first[0].1, first[1].1],
            "attempts": skipped.attempts,
            "index": skipped.index,
            "number": skipped.number,
            "plate": PoolId::parse("30-car-white-A").expect("pool").plate(skipped.number),
        },
        "timing": {
            "beacon_id": "drand-quicknet",
            "genesis_unix_ms": quicknet.genesis_unix_ms,
            "period_ms": quicknet.period_ms,
            "round": 657_413,
            "published_ms": publish,
            "commit_at_ms_valid": [boundary - 1, boundary],
            "commit_at_ms_invalid": [boundary + 1, publish],
        },
        "local_beacon_id": {
            "public_key": hex::encode(one.public_key()),
            "beacon_id": beacon::beacon_id(&one.public_key()),
        },
        "key_rotation": {
            "about": "the key-rotation of \"more_entries\" logged at index 4, after the four entries of \"log\"; its handover checkpoint (size 5) signed by both keys (Ed25519 signatures are deterministic)",
            "old_key_seed": hex::encode(h32(0x01)),
            "new_key_seed": hex::encode(h32(0x02)),
            "old_key": old.verifier_key(),
            "new_key": new.verifier_key(),
            "index": 4,
            "root_of_5": hex::encode(handover.root),
            "inclusion_of_4_in_5": proof_hex(rotated.inclusion_proof(4, 5).expect("proof")),
            "handover_note": handover_note,
        },
        "plates": plates,
    })
}

#[test]
fn vectors_match_the_contract() {
    let computed = compute();
    if std::env::var_os("VRS_WRITE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&computed).expect("json") + "\n";
        std::fs::write(PATH, text).expect("write vectors");
    }
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(PATH).expect("contracts/draw/vectors.json")).expect("json");
    assert_eq!(
        stored, computed,
        "implementation and contracts/draw/vectors.json disagree"
    );
}

#[test]
fn chacha_vector_is_rfc8439() {
    // Independent of the file: RFC 8439 §A.1 #1, first eight bytes, little-endian.
    assert_eq!(Stream::new([0; 32]).next_u64(), 0x903d_f1a0_ade0_b876);
}
