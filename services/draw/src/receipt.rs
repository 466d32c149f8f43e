//! Resolving a committed draw, and the receipt that proves it (draw spec §6–§7).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::beacon;
use crate::entry::{DrawCommit, DrawResult, Entry};
use crate::merkle::{Hash, leaf_hash, verify_inclusion};
use crate::note::NoteVerifier;
use crate::pool::{PoolId, PoolState, Status};
use crate::sampler;

/// Receipt format version.
pub const RECEIPT_VERSION: &str = "vrs-receipt-v1";
/// The rules this implementation draws by (written into every commit).
pub const RULES_VERSION: &str = "vrs-draw-rules-v1";

/// Why a commit cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("pool {0} has no available number")]
    Exhausted(String),
    #[error("pool id {0:?} is not a valid pool")]
    BadPool(String),
}

/// Resolves a commit with its beacon round against the pool state just before
/// it (log order): computes the result and marks the drawn number issued.
pub fn resolve(
    commit_index: u64,
    commit_bytes: &[u8],
    commit: &DrawCommit,
    signature: &[u8],
    randomness: [u8; 32],
    pool: &mut PoolState,
    at_ms: u64,
) -> Result<DrawResult, ResolveError> {
    let pool_id = PoolId::parse(&commit.pool_id).ok_or_else(|| ResolveError::BadPool(commit.pool_id.clone()))?;
    let available_count = pool.available_count();
    if available_count == 0 {
        return Err(ResolveError::Exhausted(commit.pool_id.clone()));
    }
    let commit_hash = leaf_hash(commit_bytes);
    let seed = sampler::seed(&commit_hash, commit.round, &randomness);
    let pool_digest = pool.digest();
    let index = sampler::draw_index(seed, available_count);
    let number = pool
        .nth_available(index)
        .ok_or_else(|| ResolveError::Exhausted(commit.pool_id.clone()))?;
    pool.change(number, Status::Available, Status::Issued)
        .map_err(|_| ResolveError::Exhausted(commit.pool_id.clone()))?;
    Ok(DrawResult {
        commit_index,
        commit_hash,
        pool_id: commit.pool_id.clone(),
        beacon_id: commit.beacon_id.clone(),
        round: commit.round,
        signature: signature.to_vec(),
        randomness,
        seed,
        available_count,
        pool_digest,
        index,
        number,
        plate: pool_id.plate(number),
        at_ms,
    })
}

/// An entry with its position in the log and its inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedEntry {
    pub index: u64,
    /// Base64 of the entry bytes.
    pub entry: String,
    /// Base64 hashes of the inclusion proof to the checkpoint.
    pub proof: Vec<String>,
}

/// The beacon round used, with the parameters needed to place it in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeaconEvidence {
    pub beacon_id: String,
    pub scheme: String,
    /// Hex of the compressed G2 public key.
    pub public_key: String,
    pub genesis_unix_ms: i64,
    pub period_ms: u64,
    pub round: u64,
    /// Hex of the G1 signature.
    pub signature: String,
    /// Hex of SHA-256(signature).
    pub randomness: String,
}

/// What a citizen keeps: everything needed to check the draw offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub version: String,
    pub plate: String,
    pub application_id: String,
    /// Hex of the 32-byte salt of the application commitment.
    pub salt: String,
    /// The signed checkpoint note both entries are included under.
    pub checkpoint: String,
    pub commit: LoggedEntry,
    pub result: LoggedEntry,
    pub beacon: BeaconEvidence,
    /// Base64 of the pool's availability bitmap just before the draw (spec §5).
    pub pool_bitmap: String,
}

/// A beacon the verifier trusts, pinned independently of any receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedBeacon {
    pub beacon_id: String,
    pub public_key: String,
    pub genesis_unix_ms: i64,
    pub period_ms: u64,
}

/// The keys a verifier pins: the log's checkpoint key and the beacons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trust {
    /// Origin line of the log's checkpoints.
    pub log_origin: String,
    /// C2SP verifier key of the log.
    pub log_key: String,
    pub beacons: Vec<TrustedBeacon>,
}

/// The first check a receipt fails, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{check}: {detail}")]
pub struct ReceiptError {
    /// Stable name of the check (spec §7), e.g. `beacon`, `result-inclusion`.
    pub check: &'static str,
    pub detail: String,
}

fn fail<T>(check: &'static str, detail: impl Into<String>) -> Result<T, ReceiptError> {
    Err(ReceiptError {
        check,
        detail: detail.into(),
    })
}

fn b64(check: &'static str, s: &str) -> Result<Vec<u8>, ReceiptError> {
    B64.decode(s).or_else(|_| fail(check, "not base64"))
}

fn hex32(check: &'static str, s: &str) -> Result<[u8; 32], ReceiptError> {
    hex::decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .map_or_else(|| fail(check, "not 32 bytes of hex"), Ok)
}

fn proof(check: &'static str, p: &[String]) -> Result<Vec<Hash>, ReceiptError> {
    p.iter()
        .map(|h| {
            b64(check, h)?
                .try_into()
                .or_else(|_| fail(check, "proof hash is not 32 bytes"))
        })
        .collect()
}

/// What a valid receipt establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub plate: String,
    pub pool_id: String,
    pub round: u64,
    pub index: u32,
    pub available_count: u32,
    pub checkpoint_size: u64,
}

/// Verifies a receipt offline against pinned keys, check by check (spec §7).
pub fn verify(receipt: &Receipt, trust: &Trust) -> Result<Verified, ReceiptError> {
    if receipt.version != RECEIPT_VERSION {
        return fail("version", format!("unknown receipt version {:?}", receipt.version));
    }
    // 1. The checkpoint is signed by the pinned log key.
    let log_key = NoteVerifier::parse(&trust.log_key).or_else(|e| fail("trust", e.to_string()))?;
    let cp = log_key
        .open(&receipt.checkpoint)
        .or_else(|e| fail("checkpoint", e.to_string()))?;

    // 2. Both entries are in the log under that checkpoint.
    let commit_bytes = b64("commit-inclusion", &receipt.commit.entry)?;
    let result_bytes = b64("result-inclusion", &receipt.result.entry)?;
    let commit_leaf = leaf_hash(&commit_bytes);
    let result_leaf = leaf_hash(&result_bytes);
    if !verify_inclusion(
        receipt.commit.index,
        cp.size,
        &commit_leaf,
        &proof("commit-inclusion", &receipt.commit.proof)?,
        &cp.root,
    ) {
        return fail(
            "commit-inclusion",
            format!("entry {} is not in the log of size {}", receipt.commit.index, cp.size),
        );
    }
    if !verify_inclusion(
        receipt.result.index,
        cp.size,
        &result_leaf,
        &proof("result-inclusion", &receipt.result.proof)?,
        &cp.root,
    ) {
        return fail(
            "result-inclusion",
            format!("entry {} is not in the log of size {}", receipt.result.index, cp.size),
        );
    }
    let Ok(Entry::DrawCommit(commit)) = Entry::decode(&commit_bytes) else {
        return fail("commit-entry", "not a draw-commit entry");
    };
    let Ok(Entry::DrawResult(result)) = Entry::decode(&result_bytes) else {
        return fail("result-entry", "not a draw-result entry");
    };

    // 3. The result answers this commit, later in the log.
    if receipt.commit.index >= receipt.result.index {
        return fail("order", "the result is not after the commit in the log");
    }
    if result.commit_index != receipt.commit.index || result.commit_hash != commit_leaf {
        return fail("link", "the result names another commit");
    }
    if result.pool_id != commit.pool_id || result.beacon_id != commit.beacon_id || result.round != commit.round {
        return fail("link", "the result's pool, beacon or round differs from the commit's");
    }
    if commit.round == 0 {
        return fail("commit-before-beacon", "round 0 does not exist");
    }
    if commit.rules_version != RULES_VERSION {
        return fail("rules", format!("unknown rules version {:?}", commit.rules_version));
    }

    // 4. The draw is this application's.
    let salt = hex32("commitment", &receipt.salt)?;
    if sampler::application_commitment(&salt, &receipt.application_id) != commit.application_commitment {
        return fail("commitment", "salt and application id do not open the commitment");
    }

    // 5. The beacon round is genuine (pinned key) and was published after the commit.
    let Some(pinned) = trust.beacons.iter().find(|b| b.beacon_id == commit.beacon_id) else {
        return fail("beacon", format!("beacon {:?} is not trusted", commit.beacon_id));
    };
    let pk = hex::decode(&pinned.public_key).or_else(|_| fail("trust", "beacon key is not hex"))?;
    let randomness = beacon::verify_round(&pk, commit.round, &result.signature)
        .or_else(|e| fail("beacon", format!("round {}: {e}", commit.round)))?;
    if randomness != result.randomness {
        return fail("beacon", "randomness is not SHA-256 of the round's signature");
    }
    let round_ms =
        i128::from(pinned.genesis_unix_ms) + i128::from(commit.round.saturating_sub(1)) * i128::from(pinned.period_ms);
    if i128::from(commit.at_ms) >= round_ms {
        return fail(
            "commit-before-beacon",
            format!("committed at {} ms, round published at {round_ms} ms", commit.at_ms),
        );
    }

    // 6. Seed, index and number follow from the randomness and the pool.
    if sampler::seed(&commit_leaf, commit.round, &randomness) != result.seed {
        return fail("seed", "the seed does not follow from commit, round and randomness");
    }
    let bitmap = b64("pool", &receipt.pool_bitmap)?;
    let Some(mut pool) = PoolState::from_bitmap(&bitmap) else {
        return fail("pool", "malformed availability bitmap");
    };
    if pool.digest() != result.pool_digest {
        return fail("pool", "the bitmap is not the pool state the log committed to");
    }
    if pool.available_count() != result.available_count {
        return fail("pool", "available count differs from the bitmap");
    }
    if sampler::draw_index(result.seed, result.available_count) != result.index {
        return fail("index", "the index does not follow from the seed");
    }
    if pool.nth_available(result.index) != Some(result.number) {
        return fail("plate", "the number is not the index-th available number");
    }
    let pool_id = PoolId::parse(&result.pool_id).map_or_else(|| fail("plate", "invalid pool id"), Ok)?;
    if pool_id.plate(result.number) != result.plate || result.plate != receipt.plate {
        return fail("plate", "the plate text does not match the number");
    }
    Ok(Verified {
        plate: result.plate,
        pool_id: result.pool_id,
        round: result.round,
        index: result.index,
        available_count: result.available_count,
        checkpoint_size: cp.size,
    })
}

/// The pieces a receipt is assembled from.
pub struct ReceiptParts<'a> {
    pub application_id: &'a str,
    pub salt: &'a [u8; 32],
    /// The signed checkpoint note, of size `checkpoint_size`.
    pub checkpoint: &'a str,
    pub checkpoint_size: u64,
    pub tree: &'a crate::merkle::Tree,
    pub commit: (u64, &'a [u8]),
    pub result: (u64, &'a [u8]),
    pub beacon: BeaconEvidence,
    pub pool_bitmap: &'a [u8],
    pub plate: &'a str,
}

impl Receipt {
    /// Assembles a receipt; `None` if an entry is not under the checkpoint.
    pub fn assemble(p: ReceiptParts<'_>) -> Option<Receipt> {
        let logged = |(index, bytes): (u64, &[u8])| -> Option<LoggedEntry> {
            let proof = p.tree.inclusion_proof(index, p.checkpoint_size)?;
            Some(LoggedEntry {
                index,
                entry: B64.encode(bytes),
                proof: proof.iter().map(|h| B64.encode(h)).collect(),
            })
        };
        Some(Receipt {
            version: RECEIPT_VERSION.into(),
            plate: p.plate.into(),
            application_id: p.application_id.into(),
            salt: hex::encode(p.salt),
            checkpoint: p.checkpoint.into(),
            commit: logged(p.commit)?,
            result: logged(p.result)?,
            beacon: p.beacon,
            pool_bitmap: B64.encode(p.pool_bitmap),
        })
    }
}
