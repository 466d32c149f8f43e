//! Beacon rounds: verification of a round's value and, for the local beacon,
//! its production.
//!
//! Both beacons the draw accepts use drand's scheme `bls-unchained-g1-rfc9380`
//! (the scheme of drand quicknet):
//!
//! - the message of round `R` is `SHA-256(R as 8 bytes, big-endian)`
//!   ([`round_message`]);
//! - it is hashed to G1 per RFC 9380 (`hash_to_curve`, expand_message_xmd with
//!   SHA-256, simplified SWU) with the domain separation tag [`DST`];
//! - the value of the round is the BLS signature `sk · H(m)`, a G1 point of 48
//!   bytes compressed, verified against the public key `sk · g2`, a G2 point of
//!   96 bytes compressed: `e(sig, g2) == e(H(m), pk)` ([`verify_round`]);
//! - the round's randomness is `SHA-256(signature)` ([`randomness`]).
//!
//! A BLS signature is unique for a key and a message, so the beacon operator
//! has exactly one valid value per round and cannot grind. Everything here is
//! pure: no I/O, no clock.

use std::fmt;

use bls12_381::hash_to_curve::{ExpandMsgXmd, HashToCurve};
use bls12_381::{G1Affine, G1Projective, G2Affine, G2Prepared, Gt, Scalar, multi_miller_loop};
use sha2::{Digest, Sha256};

/// The scheme identifier, as drand names it.
pub const SCHEME: &str = "bls-unchained-g1-rfc9380";

/// The RFC 9380 domain separation tag of signatures on G1.
pub const DST: &[u8] = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";

/// Length of a compressed G1 signature.
pub const SIGNATURE_LEN: usize = 48;

/// Length of a compressed G2 public key.
pub const PUBLIC_KEY_LEN: usize = 96;

/// Length of a secret key (a scalar, big-endian as drand encodes it).
pub const SECRET_KEY_LEN: usize = 32;

/// drand quicknet, pinned: the chain the draw accepts as its public beacon.
pub mod quicknet {
    /// The chain hash (SHA-256 of the chain info), the chain's identity in drand's HTTP API.
    pub const CHAIN_HASH: &str = "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971";
    /// The group public key, compressed G2, hex.
    pub const PUBLIC_KEY_HEX: &str = "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a";
    /// When round 1 was published, Unix seconds (2023-08-23T15:09:27Z).
    pub const GENESIS_UNIX: i64 = 1692803367;
    /// Seconds between rounds.
    pub const PERIOD_SECONDS: u32 = 3;
    /// How the draw's log entries name this beacon.
    pub const BEACON_ID: &str = "drand-quicknet";
}

/// Why a round (or a key) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BeaconError {
    /// The public key is not 96 bytes.
    #[error("public key must be {PUBLIC_KEY_LEN} bytes, got {0}")]
    PublicKeyLength(usize),
    /// The public key does not decode to a point of G2's prime-order subgroup.
    #[error("public key is not a valid compressed G2 point")]
    InvalidPublicKey,
    /// The public key is the identity, which would verify anything signed by nobody.
    #[error("public key is the identity point")]
    IdentityPublicKey,
    /// The signature is not 48 bytes.
    #[error("signature must be {SIGNATURE_LEN} bytes, got {0}")]
    SignatureLength(usize),
    /// The signature does not decode to a point of G1's prime-order subgroup.
    #[error("signature is not a valid compressed G1 point")]
    InvalidSignature,
    /// The signature is well formed but is not the beacon's value for this round.
    #[error("signature does not verify for round {0}")]
    Mismatch(u64),
    /// A secret key is not 32 bytes or not a canonical non-zero scalar.
    #[error("secret key must be a canonical non-zero scalar of {SECRET_KEY_LEN} bytes")]
    InvalidSecretKey,
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Rng(String),
}

/// The message signed for `round`: `SHA-256(round as 8 bytes, big-endian)`.
pub fn round_message(round: u64) -> [u8; 32] {
    Sha256::digest(round.to_be_bytes()).into()
}

/// The randomness of a round: `SHA-256(signature)`, over the signature's bytes as given.
pub fn randomness(signature: &[u8]) -> [u8; 32] {
    Sha256::digest(signature).into()
}

/// `H(m)`: the round's message hashed to G1 per RFC 9380 with [`DST`].
fn hash_to_g1(round: u64) -> G1Projective {
    <G1Projective as HashToCurve<ExpandMsgXmd<Sha256>>>::hash_to_curve([round_message(round)], DST)
}

fn decode_public_key(public_key: &[u8]) -> Result<G2Affine, BeaconError> {
    let bytes: &[u8; PUBLIC_KEY_LEN] = public_key
        .try_into()
        .map_err(|_| BeaconError::PublicKeyLength(public_key.len()))?;
    // `from_compressed` checks the point is on the curve and in the subgroup.
    let point = Option::<G2Affine>::from(G2Affine::from_compressed(bytes)).ok_or(BeaconError::InvalidPublicKey)?;
    if bool::from(point.is_identity()) {
        return Err(BeaconError::IdentityPublicKey);
    }
    Ok(point)
}

fn decode_signature(signature: &[u8]) -> Result<G1Affine, BeaconError> {
    let bytes: &[u8; SIGNATURE_LEN] = signature
        .try_into()
        .map_err(|_| BeaconError::SignatureLength(signature.len()))?;
    Option::<G1Affine>::from(G1Affine::from_compressed(bytes)).ok_or(BeaconError::InvalidSignature)
}

/// Checks that `public_key` is a valid beacon public key (96 bytes, a non-identity G2 point).
pub fn check_public_key(public_key: &[u8]) -> Result<(), BeaconError> {
    decode_public_key(public_key).map(|_| ())
}

/// Verifies a round and returns its randomness.
///
/// `public_key` is the compressed G2 key, `signature` the compressed G1 value
/// of `round`. Checks `e(sig, g2) == e(H(m), pk)` as one multi-Miller loop:
/// `e(-sig, g2) · e(H(m), pk) == 1`.
pub fn verify_round(public_key: &[u8], round: u64, signature: &[u8]) -> Result<[u8; 32], BeaconError> {
    let pk = decode_public_key(public_key)?;
    let sig = decode_signature(signature)?;
    let hm = G1Affine::from(hash_to_g1(round));
    let g2 = G2Prepared::from(G2Affine::generator());
    let pk = G2Prepared::from(pk);
    let result = multi_miller_loop(&[(&-sig, &g2), (&hm, &pk)]).final_exponentiation();
    if result == Gt::identity() {
        Ok(randomness(signature))
    } else {
        Err(BeaconError::Mismatch(round))
    }
}

/// The identifier of a local beacon (spec §9): `"vrs-local-"` and the lower-case
/// hex of the first 4 bytes of SHA-256 over the 96 raw bytes of the compressed
/// public key (not its hex text).
pub fn beacon_id(public_key: &[u8]) -> String {
    let digest = Sha256::digest(public_key);
    format!("{LOCAL_ID_PREFIX}{}", hex::encode(&digest[..4]))
}

/// When `round` is published (spec §9), Unix ms: `genesis + (round − 1) · period`;
/// `None` for round 0.
pub fn publish_ms(genesis_unix_ms: i64, period_ms: u64, round: u64) -> Option<i128> {
    (round >= 1).then(|| i128::from(genesis_unix_ms) + i128::from(round - 1) * i128::from(period_ms))
}

/// The timing rule of spec §5.3: round ≥ 1 and `at_ms + period ≤ publish(round)`.
pub fn committed_in_time(genesis_unix_ms: i64, period_ms: u64, at_ms: u64, round: u64) -> bool {
    publish_ms(genesis_unix_ms, period_ms, round).is_some_and(|t| i128::from(at_ms) + i128::from(period_ms) <= t)
}

/// Beacon ids of local beacons start with this; the rest follows from the key.
pub const LOCAL_ID_PREFIX: &str = "vrs-local-";

/// A beacon's secret key: a non-zero scalar. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct SecretKey(Scalar);

impl SecretKey {
    /// A fresh key: 64 bytes from the operating system reduced modulo the group
    /// order (bias below 2^-250).
    pub fn generate() -> Result<Self, BeaconError> {
        loop {
            let mut wide = [0u8; 64];
            getrandom::fill(&mut wide).map_err(|e| BeaconError::Rng(e.to_string()))?;
            let scalar = Scalar::from_bytes_wide(&wide);
            wide.fill(0);
            if scalar != Scalar::zero() {
                return Ok(SecretKey(scalar));
            }
        }
    }

    /// Decodes a key of 32 bytes, big-endian (drand's encoding of scalars).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BeaconError> {
        let be: &[u8; SECRET_KEY_LEN] = bytes.try_into().map_err(|_| BeaconError::InvalidSecretKey)?;
        let mut le = *be;
        le.reverse();
        let scalar = Option::<Scalar>::from(Scalar::from_bytes(&le)).ok_or(BeaconError::InvalidSecretKey)?;
        le.fill(0);
        if scalar == Scalar::zero() {
            return Err(BeaconError::InvalidSecretKey);
        }
        Ok(SecretKey(scalar))
    }

    /// Encodes the key as 32 bytes, big-endian.
    pub fn to_bytes(&self) -> [u8; SECRET_KEY_LEN] {
        let mut bytes = self.0.to_bytes();
        bytes.reverse();
        bytes
    }

    /// The public key `sk · g2`, compressed.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        G2Affine::from(G2Affine::generator() * self.0).to_compressed()
    }

    /// The value of `round`: `sk · H(SHA-256(round))`, compressed.
    pub fn sign_round(&self, round: u64) -> [u8; SIGNATURE_LEN] {
        G1Affine::from(hash_to_g1(round) * self.0).to_compressed()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Recorded {
        chain_hash: String,
        public_key: String,
        genesis_unix: i64,
        period_seconds: u32,
        scheme: String,
        rounds: Vec<RecordedRound>,
    }

    #[derive(Deserialize)]
    struct RecordedRound {
        round: u64,
        signature: String,
        randomness: String,
    }

    fn recorded() -> Recorded {
        serde_json::from_str(include_str!("../../../contracts/beacons/drand-quicknet.json")).unwrap()
    }

    fn quicknet_key() -> Vec<u8> {
        hex::decode(quicknet::PUBLIC_KEY_HEX).unwrap()
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let sk = SecretKey::generate().unwrap();
        let pk = sk.public_key();
        for round in [1, 2, 1_000_000, u64::MAX] {
            let sig = sk.sign_round(round);
            assert_eq!(verify_round(&pk, round, &sig), Ok(randomness(&sig)));
            // Unique: signing again gives the same value.
            assert_eq!(sk.sign_round(round), sig);
        }
    }

    #[test]
    fn wrong_round_wrong_key_or_flipped_bit_fail() {
        let sk = SecretKey::generate().unwrap();
        let pk = sk.public_key();
        let sig = sk.sign_round(7);
        assert_eq!(verify_round(&pk, 8, &sig), Err(BeaconError::Mismatch(8)));
        let other = SecretKey::generate().unwrap().public_key();
        assert_eq!(verify_round(&other, 7, &sig), Err(BeaconError::Mismatch(7)));
        for bit in [0, 7, 100, 383] {
            let mut bad = sig;
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(verify_round(&pk, 7, &bad).is_err(), "bit {bit}");
        }
        let mut bad_pk = pk;
        bad_pk[50] ^= 1;
        assert!(verify_round(&bad_pk, 7, &sig).is_err());
    }

    #[test]
    fn malformed_inputs_are_errors_not_panics() {
        let sk = SecretKey::generate().unwrap();
        let pk = sk.public_key();
        let sig = sk.sign_round(1);
        assert_eq!(verify_round(&pk[..95], 1, &sig), Err(BeaconError::PublicKeyLength(95)));
        assert_eq!(verify_round(&pk, 1, &sig[..47]), Err(BeaconError::SignatureLength(47)));
        assert_eq!(verify_round(&pk, 1, &[]), Err(BeaconError::SignatureLength(0)));
        let identity_pk = G2Affine::identity().to_compressed();
        assert_eq!(verify_round(&identity_pk, 1, &sig), Err(BeaconError::IdentityPublicKey));
        let identity_sig = G1Affine::identity().to_compressed();
        assert_eq!(verify_round(&pk, 1, &identity_sig), Err(BeaconError::Mismatch(1)));
        assert_eq!(verify_round(&pk, 1, &[0xff; 48]), Err(BeaconError::InvalidSignature));
        assert!(check_public_key(&pk).is_ok());
        assert!(check_public_key(&quicknet_key()).is_ok());
    }

    #[test]
    fn randomness_is_sha256_of_the_signature() {
        let sk = SecretKey::generate().unwrap();
        let sig = sk.sign_round(42);
        let expected: [u8; 32] = Sha256::digest(sig).into();
        assert_eq!(randomness(&sig), expected);
        assert_eq!(
            hex::encode(round_message(1)),
            hex::encode(Sha256::digest(1u64.to_be_bytes()))
        );
    }

    #[test]
    fn secret_key_bytes_round_trip_and_never_print() {
        let sk = SecretKey::generate().unwrap();
        let bytes = sk.to_bytes();
        let back = SecretKey::from_bytes(&bytes).unwrap();
        assert_eq!(back.public_key(), sk.public_key());
        assert_eq!(back.to_bytes(), bytes);
        assert_eq!(format!("{sk:?}"), "SecretKey(<redacted>)");
        assert!(!format!("{sk:?}").contains(&hex::encode(bytes)));
        assert!(SecretKey::from_bytes(&[0; 32]).is_err());
        assert!(SecretKey::from_bytes(&[0xff; 32]).is_err());
        assert!(SecretKey::from_bytes(&bytes[..31]).is_err());
        // Big-endian: the scalar 1 is 31 zero bytes then 0x01, its key the generator.
        let mut one = [0u8; 32];
        one[31] = 1;
        let one = SecretKey::from_bytes(&one).unwrap();
        assert_eq!(one.public_key(), G2Affine::generator().to_compressed());
    }

    #[test]
    fn beacon_id_is_derived_from_the_key() {
        let pk = [7u8; 96];
        let id = beacon_id(&pk);
        assert_eq!(id.len(), "vrs-local-".len() + 8);
        assert!(id.starts_with("vrs-local-"));
        assert_eq!(&id[10..], &hex::encode(Sha256::digest(pk))[..8]);
    }

    #[test]
    fn recorded_quicknet_chain_info_matches_the_pinned_constants() {
        let rec = recorded();
        assert_eq!(rec.chain_hash, quicknet::CHAIN_HASH);
        assert_eq!(rec.public_key, quicknet::PUBLIC_KEY_HEX);
        assert_eq!(rec.genesis_unix, quicknet::GENESIS_UNIX);
        assert_eq!(rec.period_seconds, quicknet::PERIOD_SECONDS);
        assert_eq!(rec.scheme, SCHEME);
    }

    #[test]
    fn recorded_quicknet_rounds_verify() {
        let rec = recorded();
        let pk = quicknet_key();
        assert!(rec.rounds.len() >= 5);
        for r in &rec.rounds {
            let sig = hex::decode(&r.signature).unwrap();
            let got = verify_round(&pk, r.round, &sig).unwrap_or_else(|e| panic!("round {}: {e}", r.round));
            assert_eq!(hex::encode(got), r.randomness, "round {}", r.round);
        }
    }

    #[test]
    fn tampered_quicknet_rounds_fail() {
        let rec = recorded();
        let pk = quicknet_key();
        let first = &rec.rounds[0];
        let sig = hex::decode(&first.signature).unwrap();
        // Another round number.
        assert_eq!(
            verify_round(&pk, first.round + 1, &sig),
            Err(BeaconError::Mismatch(first.round + 1))
        );
        // Another round's signature.
        let other = hex::decode(&rec.rounds[1].signature).unwrap();
        assert_eq!(
            verify_round(&pk, first.round, &other),
            Err(BeaconError::Mismatch(first.round))
        );
        // A flipped bit.
        let mut bad = sig.clone();
        bad[20] ^= 0x10;
        assert!(verify_round(&pk, first.round, &bad).is_err());
    }
}
