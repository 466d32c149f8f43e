//! Log entries (draw spec §3). Every change to a pool's membership and every
//! draw is one entry; the log is the only source of truth an auditor needs.
//!
//! A number of a pool is in one of three states: available, withheld (auction
//! list, special pattern, retained identity plate…) or issued.
//!
//! | entry | effect on the number(s) |
//! |---|---|
//! | `PoolOpen` | all of 00001–99999 available |
//! | `PoolWithhold` | available → withheld |
//! | `PoolRelease` | withheld → available |
//! | `PlateAssign` | withheld → issued (retained plate reissued, auction win confirmed) |
//! | `PlateRevoke` | issued → withheld (retained for the owner) |
//! | `DrawCommit` | none: fixes the pool's available set, rules and beacon round before the randomness exists |
//! | `DrawResult` | the drawn number: available → issued |
//! | `KeyRotation` | none (no pool): hands the log's checkpoint key over to a new key (spec §6.4) |

use crate::encoding::{DecodeError, Reader, Writer};

/// First bytes of every entry of rules v2 (v1 logs started with `VRS1`).
pub const MAGIC: &[u8; 4] = b"VRS2";

pub const KIND_POOL_OPEN: u8 = 0x01;
pub const KIND_POOL_WITHHOLD: u8 = 0x02;
pub const KIND_POOL_RELEASE: u8 = 0x03;
pub const KIND_PLATE_ASSIGN: u8 = 0x04;
pub const KIND_PLATE_REVOKE: u8 = 0x05;
pub const KIND_DRAW_COMMIT: u8 = 0x10;
pub const KIND_DRAW_RESULT: u8 = 0x11;
pub const KIND_KEY_ROTATION: u8 = 0x20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolOpen {
    pub pool_id: String,
    pub rules_version: String,
    pub legal_basis: String,
    pub at_ms: u64,
}

/// A withholding or a release of numbers, with its legal reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolChange {
    pub pool_id: String,
    /// e.g. `SPECIAL_PATTERN`, `AUCTION_LIST`, `AUCTION_FAILED`, `RETENTION_EXPIRED`.
    pub reason: String,
    pub legal_basis: String,
    /// Strictly ascending, each in 1–99,999.
    pub numbers: Vec<u32>,
    pub at_ms: u64,
}

/// A withheld number issued without a draw: a retained identity plate
/// reissued to its owner, or an auction win confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlateAssign {
    pub pool_id: String,
    pub number: u32,
    pub plate: String,
    /// `RETAINED_REISSUE` or `AUCTION_WON`.
    pub reason: String,
    pub legal_basis: String,
    /// Salted commitment to the application (no personal data on the log).
    pub application_commitment: [u8; 32],
    pub at_ms: u64,
}

/// An issued plate revoked (sale, scrapping) and retained for its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlateRevoke {
    pub pool_id: String,
    pub number: u32,
    pub plate: String,
    /// `OWNERSHIP_TRANSFER`, `SCRAPPED`, `DAMAGED`.
    pub reason: String,
    pub legal_basis: String,
    /// Salted commitment to the owner's identity.
    pub owner_commitment: [u8; 32],
    /// End of the 5-year retention.
    pub retained_until_ms: u64,
    pub at_ms: u64,
}

/// "I will draw for this application from this pool, as it stands now, with
/// the randomness of this future beacon round." The pool's available set is
/// named here (its size and digest), before the randomness exists, so nothing
/// appended later can change what the draw picks from (spec §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawCommit {
    pub pool_id: String,
    pub rules_version: String,
    pub application_commitment: [u8; 32],
    pub beacon_id: String,
    pub round: u64,
    /// Log index of the pool's previous draw-commit, or [`NONE`]: results follow
    /// this chain, so a receipt can show that the draw before it was answered first.
    pub previous_commit: u64,
    /// Available numbers of the pool at the commit's position.
    pub available_count: u32,
    /// Digest of that available set (spec §5).
    pub pool_digest: [u8; 32],
    pub at_ms: u64,
}

/// `previous_commit` of a pool's first draw-commit.
pub const NONE: u64 = u64::MAX;

/// The outcome of a committed draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawResult {
    /// Log index of the `DrawCommit` entry.
    pub commit_index: u64,
    /// Its leaf hash.
    pub commit_hash: [u8; 32],
    pub pool_id: String,
    pub beacon_id: String,
    pub round: u64,
    /// The beacon's signature for the round (its evidence).
    pub signature: Vec<u8>,
    pub randomness: [u8; 32],
    pub seed: [u8; 32],
    /// Candidates read from the seed's stream: 1, or more when earlier-committed
    /// draws had taken the first ones.
    pub attempts: u32,
    /// Position of the drawn number in the commit's available set.
    pub index: u32,
    pub number: u32,
    pub plate: String,
    pub at_ms: u64,
}

/// The log's checkpoint key handed over from `old_key` to `new_key` (spec
/// §6.4). It is the last entry of its handover checkpoint, which both keys
/// sign; from the next tree on only `new_key` signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotation {
    /// The key in force until the handover, as verifiers pin it (`<name>+<id>+<base64>`).
    pub old_key: String,
    /// Its successor, in the same form.
    pub new_key: String,
    /// e.g. `scheduled rotation`.
    pub reason: String,
    pub at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    PoolOpen(PoolOpen),
    PoolWithhold(PoolChange),
    PoolRelease(PoolChange),
    PlateAssign(PlateAssign),
    PlateRevoke(PlateRevoke),
    DrawCommit(DrawCommit),
    DrawResult(DrawResult),
    KeyRotation(KeyRotation),
}

impl Entry {
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::PoolOpen(_) => "pool-open",
            Entry::PoolWithhold(_) => "pool-withhold",
            Entry::PoolRelease(_) => "pool-release",
            Entry::PlateAssign(_) => "plate-assign",
            Entry::PlateRevoke(_) => "plate-revoke",
            Entry::DrawCommit(_) => "draw-commit",
            Entry::DrawResult(_) => "draw-result",
            Entry::KeyRotation(_) => "key-rotation",
        }
    }

    /// The pool the entry changes; empty for a key rotation, which names none.
    pub fn pool_id(&self) -> &str {
        match self {
            Entry::PoolOpen(e) => &e.pool_id,
            Entry::PoolWithhold(e) | Entry::PoolRelease(e) => &e.pool_id,
            Entry::PlateAssign(e) => &e.pool_id,
            Entry::PlateRevoke(e) => &e.pool_id,
            Entry::DrawCommit(e) => &e.pool_id,
            Entry::DrawResult(e) => &e.pool_id,
            Entry::KeyRotation(_) => "",
        }
    }

    /// The canonical bytes: what the log stores and hashes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.raw(MAGIC);
        match self {
            Entry::PoolOpen(e) => {
                w.u8(KIND_POOL_OPEN)
                    .str(&e.pool_id)
                    .str(&e.rules_version)
                    .str(&e.legal_basis)
                    .u64(e.at_ms);
            }
            Entry::PoolWithhold(e) | Entry::PoolRelease(e) => {
                let kind = if matches!(self, Entry::PoolWithhold(_)) {
                    KIND_POOL_WITHHOLD
                } else {
                    KIND_POOL_RELEASE
                };
                w.u8(kind)
                    .str(&e.pool_id)
                    .str(&e.reason)
                    .str(&e.legal_basis)
                    .numbers(&e.numbers)
                    .u64(e.at_ms);
            }
            Entry::PlateAssign(e) => {
                w.u8(KIND_PLATE_ASSIGN)
                    .str(&e.pool_id)
                    .u32(e.number)
                    .str(&e.plate)
                    .str(&e.reason)
                    .str(&e.legal_basis)
                    .raw(&e.application_commitment)
                    .u64(e.at_ms);
            }
            Entry::PlateRevoke(e) => {
                w.u8(KIND_PLATE_REVOKE)
                    .str(&e.pool_id)
                    .u32(e.number)
                    .str(&e.plate)
                    .str(&e.reason)
                    .str(&e.legal_basis)
                    .raw(&e.owner_commitment)
                    .u64(e.retained_until_ms)
                    .u64(e.at_ms);
            }
            Entry::DrawCommit(e) => {
                w.u8(KIND_DRAW_COMMIT)
                    .str(&e.pool_id)
                    .str(&e.rules_version)
                    .raw(&e.application_commitment)
                    .str(&e.beacon_id)
                    .u64(e.round)
                    .u64(e.previous_commit)
                    .u32(e.available_count)
                    .raw(&e.pool_digest)
                    .u64(e.at_ms);
            }
            Entry::DrawResult(e) => {
                w.u8(KIND_DRAW_RESULT)
                    .u64(e.commit_index)
                    .raw(&e.commit_hash)
                    .str(&e.pool_id)
                    .str(&e.beacon_id)
                    .u64(e.round)
                    .bytes(&e.signature)
                    .raw(&e.randomness)
                    .raw(&e.seed)
                    .u32(e.attempts)
                    .u32(e.index)
                    .u32(e.number)
                    .str(&e.plate)
                    .u64(e.at_ms);
            }
            Entry::KeyRotation(e) => {
                w.u8(KIND_KEY_ROTATION)
                    .str(&e.old_key)
                    .str(&e.new_key)
                    .str(&e.reason)
                    .u64(e.at_ms);
            }
        }
        w.finish()
    }

    /// Strict decoding: the inverse of [`Entry::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Entry, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.raw(4)? != MAGIC {
            return Err(DecodeError::Kind(0));
        }
        let entry = match r.u8()? {
            KIND_POOL_OPEN => Entry::PoolOpen(PoolOpen {
                pool_id: r.str()?,
                rules_version: r.str()?,
                legal_basis: r.str()?,
                at_ms: r.u64()?,
            }),
            k @ (KIND_POOL_WITHHOLD | KIND_POOL_RELEASE) => {
                let c = PoolChange {
                    pool_id: r.str()?,
                    reason: r.str()?,
                    legal_basis: r.str()?,
                    numbers: r.numbers()?,
                    at_ms: r.u64()?,
                };
                if k == KIND_POOL_WITHHOLD {
                    Entry::PoolWithhold(c)
                } else {
                    Entry::PoolRelease(c)
                }
            }
            KIND_PLATE_ASSIGN => Entry::PlateAssign(PlateAssign {
                pool_id: r.str()?,
                number: r.u32()?,
                plate: r.str()?,
                reason: r.str()?,
                legal_basis: r.str()?,
                application_commitment: r.hash()?,
                at_ms: r.u64()?,
            }),
            KIND_PLATE_REVOKE => Entry::PlateRevoke(PlateRevoke {
                pool_id: r.str()?,
                number: r.u32()?,
                plate: r.str()?,
                reason: r.str()?,
                legal_basis: r.str()?,
                owner_commitment: r.hash()?,
                retained_until_ms: r.u64()?,
                at_ms: r.u64()?,
            }),
            KIND_DRAW_COMMIT => Entry::DrawCommit(DrawCommit {
                pool_id: r.str()?,
                rules_version: r.str()?,
                application_commitment: r.hash()?,
                beacon_id: r.str()?,
                round: r.u64()?,
                previous_commit: r.u64()?,
                available_count: r.u32()?,
                pool_digest: r.hash()?,
                at_ms: r.u64()?,
            }),
            KIND_DRAW_RESULT => Entry::DrawResult(DrawResult {
                commit_index: r.u64()?,
                commit_hash: r.hash()?,
                pool_id: r.str()?,
                beacon_id: r.str()?,
                round: r.u64()?,
                signature: r.bytes()?,
                randomness: r.hash()?,
                seed: r.hash()?,
                attempts: r.u32()?,
                index: r.u32()?,
                number: r.u32()?,
                plate: r.str()?,
                at_ms: r.u64()?,
            }),
            KIND_KEY_ROTATION => Entry::KeyRotation(KeyRotation {
                old_key: r.str()?,
                new_key: r.str()?,
                reason: r.str()?,
                at_ms: r.u64()?,
            }),
            other => return Err(DecodeError::Kind(other)),
        };
        r.finish()?;
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn samples() -> Vec<Entry> {
        vec![
            Entry::PoolOpen(PoolOpen {
                pool_id: "30-car-white-A".into(),
                rules_version: "vrs-draw-rules-v2".into(),
                legal_basis: "Circular 79/2024/TT-BCA".into(),
                at_ms: 1_790_000_000_000,
            }),
            Entry::PoolWithhold(PoolChange {
                pool_id: "30-car-white-A".into(),
                reason: "SPECIAL_PATTERN".into(),
                legal_basis: "Decree 156/2024/ND-CP".into(),
                numbers: vec![55555, 56789, 66666],
                at_ms: 1_790_000_000_001,
            }),
            Entry::PoolRelease(PoolChange {
                pool_id: "30-car-white-A".into(),
                reason: "RETENTION_EXPIRED".into(),
                legal_basis: "Circular 79/2024/TT-BCA".into(),
                numbers: vec![12345],
                at_ms: 1_790_000_000_002,
            }),
            Entry::DrawCommit(DrawCommit {
                pool_id: "30-car-white-A".into(),
                rules_version: "vrs-draw-rules-v2".into(),
                application_commitment: [7; 32],
                beacon_id: "drand-quicknet".into(),
                round: 657_413,
                previous_commit: NONE,
                available_count: 99_993,
                pool_digest: [3; 32],
                at_ms: 1_790_000_000_003,
            }),
            Entry::DrawResult(DrawResult {
                commit_index: 3,
                commit_hash: [9; 32],
                pool_id: "30-car-white-A".into(),
                beacon_id: "drand-quicknet".into(),
                round: 657_413,
                signature: vec![0xb7; 48],
                randomness: [1; 32],
                seed: [2; 32],
                attempts: 1,
                index: 48_216,
                number: 48_217,
                plate: "30A-482.17".into(),
                at_ms: 1_790_000_000_004,
            }),
            Entry::KeyRotation(KeyRotation {
                old_key: "vrs-log+12345678+AQ==".into(),
                new_key: "vrs-log+9abcdef0+Ag==".into(),
                reason: "scheduled rotation".into(),
                at_ms: 1_790_000_000_005,
            }),
        ]
    }

    #[test]
    fn entries_round_trip() {
        for e in samples() {
            assert_eq!(Entry::decode(&e.encode()), Ok(e.clone()), "{}", e.kind());
        }
    }

    #[test]
    fn decoding_is_strict() {
        for e in samples() {
            let bytes = e.encode();
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(Entry::decode(&longer), Err(DecodeError::Trailing(1)));
            assert!(Entry::decode(&bytes[..bytes.len() - 1]).is_err());
        }
        assert!(matches!(Entry::decode(b"VRS2\x7f"), Err(DecodeError::Kind(0x7f))));
        assert!(Entry::decode(b"XXXX\x01").is_err());
        // A v1 entry (other magic) is not a v2 entry.
        let mut v1 = samples()[0].encode();
        v1[3] = b'1';
        assert!(Entry::decode(&v1).is_err());
    }
}
