//! The known-answer vectors of `contracts/draw/vectors.json`: this test
//! recomputes every vector and compares; `VRS_WRITE_VECTORS=1` rewrites the file
//! (only when the specification itself changes).

use serde_json::{Value, json};
use vrs_draw::entry::{DrawCommit, DrawResult, Entry, PoolChange, PoolOpen};
use vrs_draw::merkle::{Tree, leaf_hash};
use vrs_draw::pool::{PoolId, PoolState, Status, special_patterns};
use vrs_draw::receipt::{RULES_VERSION, resolve};
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
    let commit = DrawCommit {
        pool_id: "30-car-white-A".into(),
        rules_version: RULES_VERSION.into(),
        application_commitment: commitment,
        beacon_id: "drand-quicknet".into(),
        round: 657_413,
        // Two seconds before quicknet round 657413 was published (1694775603000).
        at_ms: 1_694_775_601_000,
    };
    let commit_bytes = Entry::DrawCommit(commit.clone()).encode();
    let commit_hash = leaf_hash(&commit_bytes);
    // Randomness of quicknet round 657413 (see contracts/beacons/drand-quicknet.json).
    let signature =
        hex::decode("b713718a38ae728dfd477991af2822e08d2f305e47718cef9f7848ce4050e7be41076862b98fad56e91a6b85b89cd97b")
            .expect("hex");
    let randomness: [u8; 32] = hex::decode("fc1873a13f3545aeade8401532ef5519920652eee6b0d2b19ca12643b87b3587")
        .expect("hex")
        .try_into()
        .expect("32 bytes");

    let mut pool = PoolState::open();
    let fresh_digest = pool.digest();
    for n in special_patterns() {
        pool.change(n, Status::Available, Status::Withheld).expect("withhold");
    }
    let withheld_digest = pool.digest();
    let nth: Vec<Value> = [0u32, 1, 55_553, 99_992]
        .iter()
        .map(|k| json!({ "k": k, "number": pool.nth_available(*k) }))
        .collect();
    // The log below is [pool-open, pool-withhold, draw-commit, draw-result]: the commit is entry 2.
    let result = resolve(
        2,
        &commit_bytes,
        &commit,
        &signature,
        randomness,
        &mut pool,
        1_694_775_604_000,
    )
    .expect("draw");

    let entries = [
        (
            "pool-open",
            Entry::PoolOpen(PoolOpen {
                pool_id: "30-car-white-A".into(),
                rules_version: RULES_VERSION.into(),
                legal_basis: "Circular 79/2024/TT-BCA".into(),
                at_ms: 1_694_000_000_000,
            }),
        ),
        (
            "pool-withhold",
            Entry::PoolWithhold(PoolChange {
                pool_id: "30-car-white-A".into(),
                reason: "SPECIAL_PATTERN".into(),
                legal_basis: "Decree 156/2024/ND-CP".into(),
                numbers: special_patterns(),
                at_ms: 1_694_000_000_000,
            }),
        ),
        ("draw-commit", Entry::DrawCommit(commit.clone())),
        ("draw-result", Entry::DrawResult(DrawResult { ..result.clone() })),
    ];
    let entries_json: Vec<Value> = entries
        .iter()
        .map(|(name, e)| {
            let bytes = e.encode();
            json!({ "kind": name, "hex": hex::encode(&bytes), "leaf_hash": hex::encode(leaf_hash(&bytes)) })
        })
        .collect();

    let mut tree = Tree::new();
    for (_, e) in &entries {
        tree.push(leaf_hash(&e.encode()));
    }
    let proof_hex = |p: Vec<[u8; 32]>| p.iter().map(hex::encode).collect::<Vec<_>>();

    let plates: Vec<Value> = [
        ("30-car-white-A", 48_217u32),
        ("30-car-white-A", 1),
        ("29-motorbike-white-AB", 12_345),
        ("51-car-yellow-F", 99_999),
    ]
    .iter()
    .map(|(pool, n)| json!({ "pool_id": pool, "number": n, "plate": PoolId::parse(pool).expect("pool").plate(*n) }))
    .collect();

    json!({
        "spec": "vrs-draw-rules-v1",
        "chacha20_zero_key_words_le_u64": chacha,
        "sampler": sampler,
        "commitment": { "salt": hex::encode(salt), "application_id": "6f1c2d0e-7a3b-4c5d-9e8f-0a1b2c3d4e5f", "commitment": hex::encode(commitment) },
        "seed": { "commit_hash": hex::encode(commit_hash), "round": 657_413, "randomness": hex::encode(randomness), "seed": hex::encode(seed(&commit_hash, 657_413, &randomness)) },
        "entries": entries_json,
        "tree": {
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
            "pool_state": "fresh, then the special patterns withheld",
            "commit_index": 2,
            "commit_hex": hex::encode(&commit_bytes),
            "round": 657_413,
            "signature": hex::encode(&signature),
            "randomness": hex::encode(randomness),
            "seed": hex::encode(result.seed),
            "available_count": result.available_count,
            "pool_digest": hex::encode(result.pool_digest),
            "index": result.index,
            "number": result.number,
            "plate": result.plate,
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
