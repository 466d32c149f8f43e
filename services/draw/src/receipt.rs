//! The receipt a citizen keeps and its offline verification (draw spec §7).
//!
//! A receipt is read under a strict grammar (§7.1: no duplicate or unknown
//! members, integers as plain digits, canonical base64, lower-case hex), so two
//! honest verifiers can never disagree on what a receipt says, and then checked
//! in the order of §7.3; the first check that fails is reported by name.
//!
//! A receipt may carry the log key's rotations (§6.4): each a handover
//! checkpoint signed by the old and the new key, and the key-rotation entry
//! it hands over. Check `rotations` follows them from the pinned key, so a
//! verifier pinned to any key the log has had verifies receipts signed by
//! the current one.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::beacon;
use crate::draw;
use crate::entry::{DrawCommit, DrawResult, Entry, NONE};
use crate::merkle::{Hash, Tree, leaf_hash, verify_inclusion};
use crate::note::NoteVerifier;
use crate::pool::{BITMAP_BYTES, PoolId, PoolState};
use crate::sampler;

/// Receipt format version.
pub const RECEIPT_VERSION: &str = "vrs-receipt-v2";
/// The rules this implementation draws by (written into pool-open and every commit).
pub const RULES_VERSION: &str = "vrs-draw-rules-v2";
/// Largest integer a receipt may carry: every JSON implementation reads it exactly.
pub const MAX_JSON_INT: u64 = (1 << 53) - 1;
/// Longest inclusion proof (a tree of 2^64 entries needs 64 hashes).
const MAX_PROOF: usize = 64;

/// Strict JSON integers: digits only (serde_json hands `-0`, fractions and
/// exponents to `visit_f64`, negatives to `visit_i64`: both refused), at most 2^53 − 1.
mod strict {
    use serde::Deserializer;
    use serde::de::{Error, Visitor};

    struct Int;

    impl Visitor<'_> for Int {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "an integer written with digits only, at most 2^53 - 1")
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<u64, E> {
            if v <= super::MAX_JSON_INT {
                Ok(v)
            } else {
                Err(E::custom(format!("{v} is above 2^53 - 1")))
            }
        }
    }

    pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_u64(Int)
    }

    pub fn int_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        // At most 2^53 − 1, so it fits.
        d.deserialize_u64(Int).map(|v| v as i64)
    }

    /// A member that must be present, possibly `null` (serde would take a
    /// missing `Option` for `None`).
    pub fn nullable<'de, D: Deserializer<'de>, T: serde::Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
        Option::<T>::deserialize(d)
    }

    use serde::Deserialize;
}

/// An entry with its position in the log and its inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggedEntry {
    #[serde(deserialize_with = "strict::int")]
    pub index: u64,
    /// Base64 of the entry bytes.
    pub entry: String,
    /// Base64 hashes of the inclusion proof to the checkpoint.
    pub proof: Vec<String>,
}

/// The beacon round used, with the parameters needed to place it in time:
/// for people reading the receipt; the `beacon` check holds it to the pinned
/// and logged values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeaconEvidence {
    pub beacon_id: String,
    pub scheme: String,
    /// Hex of the compressed G2 public key.
    pub public_key: String,
    #[serde(deserialize_with = "strict::int_i64")]
    pub genesis_unix_ms: i64,
    #[serde(deserialize_with = "strict::int")]
    pub period_ms: u64,
    #[serde(deserialize_with = "strict::int")]
    pub round: u64,
    /// Hex of the G1 signature.
    pub signature: String,
    /// Hex of SHA-256(signature).
    pub randomness: String,
}

/// What a citizen keeps: everything needed to check the draw offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub version: String,
    pub plate: String,
    pub application_id: String,
    /// Hex of the 32-byte salt of the application commitment.
    pub salt: String,
    /// The signed checkpoint note every entry below is included under.
    pub checkpoint: String,
    pub commit: LoggedEntry,
    pub result: LoggedEntry,
    /// The result answering the commit's `previous_commit`; `null` when it is `NONE`.
    #[serde(deserialize_with = "strict::nullable")]
    pub previous: Option<LoggedEntry>,
    /// One result per rejected candidate, in candidate order: the draw that took it.
    pub taken: Vec<LoggedEntry>,
    pub beacon: BeaconEvidence,
    /// Base64 of the availability bitmap the commit named (spec §5).
    pub pool_bitmap: String,
    /// The log key's rotations up to the checkpoint, oldest first (spec §6.4).
    /// Left out when there are none: receipts of a log that never rotated its
    /// key are byte for byte what they were before rotations existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rotations: Vec<Rotation>,
}

/// A rotation of the log key as a receipt carries it (spec §7.1): the
/// handover checkpoint, and the key-rotation entry with its inclusion proof
/// under **that** checkpoint (of size `index + 1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// The handover note, signed by the old and the new key.
    pub checkpoint: String,
    pub rotation: LoggedEntry,
}

impl Rotation {
    /// The rotation logged at `index` (its bytes `entry`) with its handover
    /// note; `None` if `tree` does not hold `index + 1` entries.
    pub fn assemble(tree: &Tree, index: u64, entry: &[u8], handover: &str) -> Option<Rotation> {
        let proof = tree.inclusion_proof(index, index.checked_add(1)?)?;
        Some(Rotation {
            checkpoint: handover.to_owned(),
            rotation: LoggedEntry {
                index,
                entry: B64.encode(entry),
                proof: proof.iter().map(|h| B64.encode(h)).collect(),
            },
        })
    }
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

impl Trust {
    /// Refuses pinned trust that cannot be right (spec §7.2): a malformed log
    /// key, a beacon pinned twice, a beacon key that is not 96 bytes of hex, a
    /// period of 0, or a local beacon
    /// whose id does not follow from its key (§9).
    pub fn check(&self) -> Result<(), String> {
        NoteVerifier::parse(&self.log_key).map_err(|e| format!("log key: {e}"))?;
        if self.log_origin.is_empty() {
            return Err("the log origin is empty".into());
        }
        for (i, b) in self.beacons.iter().enumerate() {
            if self.beacons[..i].iter().any(|o| o.beacon_id == b.beacon_id) {
                return Err(format!("beacon {} is pinned twice", b.beacon_id));
            }
            let key = lower_hex(&b.public_key)
                .filter(|k| k.len() == beacon::PUBLIC_KEY_LEN)
                .ok_or_else(|| format!("beacon {}: key is not 96 bytes of hex", b.beacon_id))?;
            if b.period_ms == 0 || b.genesis_unix_ms < 0 {
                return Err(format!("beacon {}: period 0 or genesis before 1970", b.beacon_id));
            }
            if b.beacon_id.starts_with(beacon::LOCAL_ID_PREFIX) && beacon::beacon_id(&key) != b.beacon_id {
                return Err(format!(
                    "beacon {}: a local beacon's id must be {} for this key",
                    b.beacon_id,
                    beacon::beacon_id(&key)
                ));
            }
        }
        Ok(())
    }
}

/// The first check a receipt fails, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{check}: {detail}")]
pub struct ReceiptError {
    /// Stable name of the check (spec §7.3), e.g. `beacon`, `result-inclusion`;
    /// `trust` when the pinned trust itself is refused.
    pub check: &'static str,
    pub detail: String,
}

fn fail<T>(check: &'static str, detail: impl Into<String>) -> Result<T, ReceiptError> {
    Err(ReceiptError {
        check,
        detail: detail.into(),
    })
}

/// Canonical base64 (§7.1): decodes, and is exactly the encoding of what it decodes to.
pub use crate::note::canonical_b64;

/// Lower-case hex of even length.
fn lower_hex(s: &str) -> Option<Vec<u8>> {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        .then(|| hex::decode(s).ok())
        .flatten()
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    lower_hex(s).and_then(|b| b.try_into().ok())
}

/// A logged entry's bytes and proof, once `format` has passed.
struct Logged {
    index: u64,
    bytes: Vec<u8>,
    proof: Vec<Hash>,
}

fn logged(name: &str, l: &LoggedEntry) -> Result<Logged, ReceiptError> {
    let Some(bytes) = canonical_b64(&l.entry).filter(|b| b.len() >= 5) else {
        return fail("format", format!("{name}.entry is not canonical base64 of an entry"));
    };
    if l.index > MAX_JSON_INT {
        return fail("format", format!("{name}.index is above 2^53 - 1"));
    }
    if l.proof.len() > MAX_PROOF {
        return fail("format", format!("{name}.proof has more than {MAX_PROOF} hashes"));
    }
    let proof = l
        .proof
        .iter()
        .map(|h| canonical_b64(h).and_then(|b| <Hash>::try_from(b).ok()))
        .collect::<Option<Vec<Hash>>>();
    let Some(proof) = proof else {
        return fail(
            "format",
            format!("{name}.proof holds a hash that is not canonical base64 of 32 bytes"),
        );
    };
    Ok(Logged {
        index: l.index,
        bytes,
        proof,
    })
}

/// Everything `format` establishes beyond the JSON grammar serde enforces.
struct Formatted {
    salt: [u8; 32],
    commit: Logged,
    result: Logged,
    previous: Option<Logged>,
    taken: Vec<Logged>,
    bitmap: Vec<u8>,
    rotations: Vec<Logged>,
}

fn format(r: &Receipt) -> Result<Formatted, ReceiptError> {
    if r.version != RECEIPT_VERSION {
        return fail("format", format!("version {:?} is not {RECEIPT_VERSION}", r.version));
    }
    if r.application_id.is_empty() {
        return fail("format", "application_id is empty");
    }
    let Some(salt) = hex32(&r.salt) else {
        return fail("format", "salt is not 64 lower-case hex digits");
    };
    let b = &r.beacon;
    if lower_hex(&b.public_key).is_none() || lower_hex(&b.signature).is_none() || hex32(&b.randomness).is_none() {
        return fail(
            "format",
            "beacon.public_key, signature or randomness is not lower-case hex (randomness: 64 digits)",
        );
    }
    if [b.genesis_unix_ms as u64, b.period_ms, b.round]
        .iter()
        .any(|v| *v > MAX_JSON_INT)
    {
        return fail("format", "a beacon integer is above 2^53 - 1");
    }
    let Some(bitmap) = canonical_b64(&r.pool_bitmap).filter(|b| b.len() == BITMAP_BYTES) else {
        return fail("format", "pool_bitmap is not canonical base64 of 16384 bytes");
    };
    Ok(Formatted {
        salt,
        commit: logged("commit", &r.commit)?,
        result: logged("result", &r.result)?,
        previous: r.previous.as_ref().map(|p| logged("previous", p)).transpose()?,
        taken: r
            .taken
            .iter()
            .enumerate()
            .map(|(i, t)| logged(&format!("taken[{i}]"), t))
            .collect::<Result<_, _>>()?,
        bitmap,
        rotations: format_rotations(&r.rotations)?,
    })
}

fn format_rotations(rotations: &[Rotation]) -> Result<Vec<Logged>, ReceiptError> {
    rotations
        .iter()
        .enumerate()
        .map(|(i, r)| logged(&format!("rotations[{i}].rotation"), &r.rotation))
        .collect()
}

/// The log key a verifier reaches from its pinned one (check `rotations`).
#[derive(Debug, Clone)]
pub struct Followed {
    /// The key in force, as text: the pinned one if no rotation was followed.
    pub key: String,
    pub verifier: NoteVerifier,
    /// Size of the last handover checkpoint followed; 0 if none.
    pub handover_size: u64,
    /// How many rotations were followed (the others were skipped).
    pub followed: usize,
}

/// Follows the log key from the pinned one through `rotations` (spec §7.3,
/// check `rotations`); a malformed element fails `format`. Also what
/// `vrsctl` uses to follow the rotations the registry publishes with its trust.
pub fn follow_rotations(trust: &Trust, rotations: &[Rotation]) -> Result<Followed, ReceiptError> {
    let formatted = format_rotations(rotations)?;
    check_rotations(trust, rotations, &formatted)
}

fn check_rotations(trust: &Trust, rotations: &[Rotation], formatted: &[Logged]) -> Result<Followed, ReceiptError> {
    let verifier = NoteVerifier::parse(&trust.log_key).or_else(|e| fail("trust", e.to_string()))?;
    let mut now = Followed {
        key: trust.log_key.clone(),
        verifier,
        handover_size: 0,
        followed: 0,
    };
    for (i, (r, l)) in rotations.iter().zip(formatted).enumerate() {
        let Ok(Entry::KeyRotation(rotation)) = Entry::decode(&l.bytes) else {
            return fail("rotations", format!("rotations[{i}] is not a key-rotation entry"));
        };
        if rotation.old_key != now.key {
            if now.followed == 0 {
                continue; // a handover before the pinned key: this verifier starts later
            }
            return fail(
                "rotations",
                format!(
                    "rotations[{i}] hands over from another key than the one the rotation before it handed over to"
                ),
            );
        }
        if rotation.new_key == now.key {
            return fail("rotations", format!("rotations[{i}] hands the key over to itself"));
        }
        let next = NoteVerifier::parse(&rotation.new_key)
            .or_else(|e| fail("rotations", format!("rotations[{i}]: the new key: {e}")))?;
        let cp = now.verifier.open(&r.checkpoint).or_else(|e| {
            fail(
                "rotations",
                format!("rotations[{i}]: the handover does not open with the key in force: {e}"),
            )
        })?;
        if next.open(&r.checkpoint).is_err() {
            return fail(
                "rotations",
                format!("rotations[{i}]: the handover is not signed by the new key"),
            );
        }
        if cp.origin != trust.log_origin {
            return fail(
                "rotations",
                format!("rotations[{i}]: origin {:?} is not the pinned one", cp.origin),
            );
        }
        if l.index.checked_add(1) != Some(cp.size) {
            return fail(
                "rotations",
                format!(
                    "rotations[{i}]: the rotation at entry {} is not the last entry of its handover (size {})",
                    l.index, cp.size
                ),
            );
        }
        if cp.size <= now.handover_size {
            return fail(
                "rotations",
                format!("rotations[{i}]: handed over before the rotation followed before it"),
            );
        }
        if !verify_inclusion(l.index, cp.size, &leaf_hash(&l.bytes), &l.proof, &cp.root) {
            return fail(
                "rotations",
                format!("rotations[{i}]: the rotation is not included in its handover's tree"),
            );
        }
        now = Followed {
            key: rotation.new_key,
            verifier: next,
            handover_size: cp.size,
            followed: now.followed + 1,
        };
    }
    Ok(now)
}

/// What a valid receipt establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub plate: String,
    pub pool_id: String,
    pub round: u64,
    pub attempts: u32,
    pub index: u32,
    pub available_count: u32,
    pub checkpoint_size: u64,
    /// The log key that signed the checkpoint: the pinned one, or the one its
    /// rotations lead to.
    pub log_key: String,
}

impl Receipt {
    /// Reads a receipt under the grammar of spec §7.1 (check `format`).
    pub fn parse(text: &str) -> Result<Receipt, ReceiptError> {
        serde_json::from_str(text).or_else(|e| fail("format", e.to_string()))
    }
}

/// Reads and verifies a receipt's JSON text (spec §7.3).
pub fn verify_json(text: &str, trust: &Trust) -> Result<Verified, ReceiptError> {
    trust.check().or_else(|e| fail("trust", e))?;
    verify(&Receipt::parse(text)?, trust)
}

/// Verifies a receipt offline against pinned keys, check by check (spec §7.3).
pub fn verify(receipt: &Receipt, trust: &Trust) -> Result<Verified, ReceiptError> {
    trust.check().or_else(|e| fail("trust", e))?;
    let f = format(receipt)?;

    // The log key, followed from the pinned one through the rotations given.
    let key = check_rotations(trust, &receipt.rotations, &f.rotations)?;

    // The checkpoint is signed by that key, for the pinned origin, and is no older than its handover.
    let cp = key
        .verifier
        .open(&receipt.checkpoint)
        .or_else(|e| fail("checkpoint", e.to_string()))?;
    if cp.origin != trust.log_origin {
        return fail("checkpoint", format!("origin {:?} is not the pinned one", cp.origin));
    }
    if cp.size < key.handover_size {
        return fail(
            "checkpoint",
            format!(
                "size {} is older than the handover (size {}) to the key that signs it",
                cp.size, key.handover_size
            ),
        );
    }
    let included = |l: &Logged| verify_inclusion(l.index, cp.size, &leaf_hash(&l.bytes), &l.proof, &cp.root);

    // Both entries are in the log under that checkpoint.
    for (check, l) in [("commit-inclusion", &f.commit), ("result-inclusion", &f.result)] {
        if !included(l) {
            return fail(
                check,
                format!("entry {} is not in the log of size {}", l.index, cp.size),
            );
        }
    }
    let commit_leaf = leaf_hash(&f.commit.bytes);
    let Ok(Entry::DrawCommit(commit)) = Entry::decode(&f.commit.bytes) else {
        return fail("commit-entry", "not a draw-commit entry");
    };
    let Ok(Entry::DrawResult(result)) = Entry::decode(&f.result.bytes) else {
        return fail("result-entry", "not a draw-result entry");
    };
    if commit.rules_version != RULES_VERSION {
        return fail("rules", format!("unknown rules version {:?}", commit.rules_version));
    }

    // The result answers this commit, later in the log.
    if f.commit.index >= f.result.index {
        return fail("order", "the result is not after the commit in the log");
    }
    if result.commit_index != f.commit.index || result.commit_hash != commit_leaf {
        return fail("link", "the result names another commit");
    }
    if result.pool_id != commit.pool_id || result.beacon_id != commit.beacon_id || result.round != commit.round {
        return fail("link", "the result's pool, beacon or round differs from the commit's");
    }

    // The draw is this application's.
    if sampler::application_commitment(&f.salt, &receipt.application_id) != commit.application_commitment {
        return fail("commitment", "salt and application id do not open the commitment");
    }

    // The beacon round is genuine (pinned key), and the receipt says so truthfully.
    let pinned = check_beacon(receipt, trust, &commit, &result)?;

    // The round came out at least a period after the commit.
    let (genesis, period) = (pinned.genesis_unix_ms, pinned.period_ms);
    if !beacon::committed_in_time(genesis, period, commit.at_ms, commit.round) {
        return fail(
            "commit-before-beacon",
            format!(
                "committed at {} ms; round {} is published at {:?} ms, less than a period ({} ms) later",
                commit.at_ms,
                commit.round,
                beacon::publish_ms(genesis, period, commit.round),
                pinned.period_ms
            ),
        );
    }

    // The draw committed just before this one in the pool was answered first.
    check_previous(&f, &commit, &included)?;

    // Seed, candidates and number follow from the randomness and the committed set.
    if sampler::seed(&commit_leaf, commit.round, &result.randomness) != result.seed {
        return fail("seed", "the seed does not follow from commit, round and randomness");
    }
    let Some(mut set) = PoolState::from_bitmap(&f.bitmap) else {
        return fail("pool", "malformed availability bitmap");
    };
    if set.digest() != commit.pool_digest {
        return fail("pool", "the bitmap is not the set the commit named");
    }
    if set.available_count() != commit.available_count || commit.available_count == 0 {
        return fail("pool", "available count differs from the bitmap, or is 0");
    }
    let (index, number) = check_taken(&f, &commit, &result, &set, &included)?;
    if index != result.index {
        return fail("index", format!("candidate {} is at index {index}", result.attempts));
    }
    if number != result.number {
        return fail("plate", "the number is not the drawn candidate");
    }
    let pool_id = PoolId::parse(&result.pool_id).map_or_else(|| fail("plate", "invalid pool id"), Ok)?;
    if pool_id.plate(result.number) != result.plate || result.plate != receipt.plate {
        return fail("plate", "the plate text does not match the number");
    }
    Ok(Verified {
        plate: result.plate,
        pool_id: result.pool_id,
        round: result.round,
        attempts: result.attempts,
        index: result.index,
        available_count: commit.available_count,
        checkpoint_size: cp.size,
        log_key: key.key,
    })
}

/// Check `beacon`: the pinned beacon, a valid signature, and an honest `beacon` object.
fn check_beacon<'t>(
    receipt: &Receipt,
    trust: &'t Trust,
    commit: &DrawCommit,
    result: &DrawResult,
) -> Result<&'t TrustedBeacon, ReceiptError> {
    let Some(pinned) = trust.beacons.iter().find(|b| b.beacon_id == commit.beacon_id) else {
        return fail("beacon", format!("beacon {:?} is not trusted", commit.beacon_id));
    };
    let pk = hex::decode(&pinned.public_key).or_else(|_| fail("trust", "beacon key is not hex"))?;
    let randomness = beacon::verify_round(&pk, commit.round, &result.signature)
        .or_else(|e| fail("beacon", format!("round {}: {e}", commit.round)))?;
    if randomness != result.randomness {
        return fail("beacon", "randomness is not SHA-256 of the round's signature");
    }
    let b = &receipt.beacon;
    let honest = b.beacon_id == commit.beacon_id
        && b.round == commit.round
        && b.scheme == beacon::SCHEME
        && b.public_key == pinned.public_key.to_ascii_lowercase()
        && b.genesis_unix_ms == pinned.genesis_unix_ms
        && b.period_ms == pinned.period_ms
        && b.signature == hex::encode(&result.signature)
        && b.randomness == hex::encode(result.randomness);
    if !honest {
        return fail(
            "beacon",
            "the receipt's beacon object differs from the pinned beacon or the logged round",
        );
    }
    Ok(pinned)
}

/// Check `previous`: the result of the pool's previous commit came first.
fn check_previous(f: &Formatted, commit: &DrawCommit, included: &impl Fn(&Logged) -> bool) -> Result<(), ReceiptError> {
    match (&f.previous, commit.previous_commit) {
        (None, NONE) => Ok(()),
        (Some(_), NONE) => fail(
            "previous",
            "the commit is its pool's first, yet a previous result is given",
        ),
        (None, c) => fail(
            "previous",
            format!("the result answering the previous commit (entry {c}) is missing"),
        ),
        (Some(p), c) => {
            if !included(p) {
                return fail(
                    "previous",
                    format!("entry {} is not in the log of size of the checkpoint", p.index),
                );
            }
            let Ok(Entry::DrawResult(prev)) = Entry::decode(&p.bytes) else {
                return fail("previous", "not a draw-result entry");
            };
            if prev.commit_index != c || prev.pool_id != commit.pool_id {
                return fail(
                    "previous",
                    format!("it does not answer the pool's previous commit (entry {c})"),
                );
            }
            if p.index >= f.result.index {
                return fail(
                    "previous",
                    format!(
                        "the previous commit was answered at entry {}, after this result: results out of commit order",
                        p.index
                    ),
                );
            }
            Ok(())
        }
    }
}

/// Check `taken`: each rejected candidate was drawn by an earlier commit of
/// the pool, logged between this commit and its result. Returns the accepted
/// candidate's (index, number).
fn check_taken(
    f: &Formatted,
    commit: &DrawCommit,
    result: &DrawResult,
    set: &PoolState,
    included: &impl Fn(&Logged) -> bool,
) -> Result<(u32, u32), ReceiptError> {
    if result.attempts == 0 || f.taken.len() as u64 != u64::from(result.attempts) - 1 {
        return fail(
            "taken",
            format!(
                "{} attempts need {} taken entries, the receipt has {}",
                result.attempts,
                result.attempts.saturating_sub(1),
                f.taken.len()
            ),
        );
    }
    let mut candidates = draw::candidates(result.seed, set);
    let mut shown_taken = Vec::with_capacity(f.taken.len());
    for (j, t) in f.taken.iter().enumerate() {
        let Some((_, number)) = candidates.next() else {
            return fail("taken", "no candidate");
        };
        let Ok(Entry::DrawResult(other)) = Entry::decode(&t.bytes) else {
            return fail("taken", format!("taken[{j}] is not a draw-result entry"));
        };
        let proves = included(t)
            && other.pool_id == commit.pool_id
            && other.number == number
            && other.commit_index < f.commit.index
            && f.commit.index < t.index
            && t.index < f.result.index;
        if !proves {
            return fail(
                "taken",
                format!(
                    "candidate {} ({}) is not shown taken by a draw committed earlier in the pool and logged before this result",
                    j + 1,
                    number
                ),
            );
        }
        shown_taken.push(number);
    }
    let Some((index, number)) = candidates.next() else {
        return fail("index", "no candidate");
    };
    if shown_taken.contains(&number) {
        return fail(
            "taken",
            format!(
                "candidate {} ({number}) is one the receipt shows taken",
                result.attempts
            ),
        );
    }
    Ok((index, number))
}

/// The pieces a receipt is assembled from: entries as `(log index, bytes)`.
pub struct ReceiptParts<'a> {
    pub application_id: &'a str,
    pub salt: &'a [u8; 32],
    /// The signed checkpoint note, of size `checkpoint_size`.
    pub checkpoint: &'a str,
    pub checkpoint_size: u64,
    pub tree: &'a crate::merkle::Tree,
    pub commit: (u64, &'a [u8]),
    pub result: (u64, &'a [u8]),
    pub previous: Option<(u64, &'a [u8])>,
    pub taken: Vec<(u64, &'a [u8])>,
    pub beacon: BeaconEvidence,
    /// The bitmap of the set the commit named.
    pub pool_bitmap: &'a [u8],
    pub plate: &'a str,
}

impl Receipt {
    /// Assembles a receipt; `None` if an entry is not under the checkpoint.
    /// It carries no rotations: a registry whose key was rotated sets
    /// `rotations` (see [`Rotation::assemble`]).
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
            previous: p.previous.map(logged).map_or(Some(None), |l| l.map(Some))?,
            taken: p.taken.into_iter().map(logged).collect::<Option<_>>()?,
            beacon: p.beacon,
            pool_bitmap: B64.encode(p.pool_bitmap),
            rotations: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_hex_must_be_canonical() {
        assert_eq!(canonical_b64("AAE="), Some(vec![0, 1]));
        for bad in ["AAF=", "AAE", " AAE=", "AA\nE=", "AAE=\n", "AA=E"] {
            assert_eq!(canonical_b64(bad), None, "{bad:?}");
        }
        assert!(lower_hex("0aff").is_some());
        assert!(lower_hex("0AFF").is_none());
        assert!(lower_hex("0af").is_none());
    }

    #[test]
    fn integers_are_digits_only() {
        let parse =
            |s: &str| serde_json::from_str::<LoggedEntry>(&format!(r#"{{"index": {s}, "entry": "", "proof": []}}"#));
        assert_eq!(parse("3").expect("plain").index, 3);
        assert_eq!(parse("9007199254740991").expect("2^53-1").index, MAX_JSON_INT);
        for bad in [
            "3.0",
            "3e0",
            "-0",
            "-1",
            "9007199254740992",
            "\"3\"",
            "03",
            "NaN",
            "null",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn members_are_exactly_the_grammars() {
        let ok = r#"{"index": 1, "entry": "", "proof": []}"#;
        assert!(serde_json::from_str::<LoggedEntry>(ok).is_ok());
        for bad in [
            r#"{"index": 1, "index": 2, "entry": "", "proof": []}"#,
            r#"{"index": 1, "entry": "", "proof": [], "extra": 0}"#,
            r#"{"index": 1, "proof": []}"#,
        ] {
            assert!(serde_json::from_str::<LoggedEntry>(bad).is_err(), "{bad}");
        }
    }
}
