//! Seed, stream and sampler (draw spec §4). Nothing here depends on a
//! library's unspecified algorithm: the stream is the ChaCha20 block function
//! of RFC 8439 (as `rand_chacha`'s `ChaCha20Rng` produces it, pinned by the
//! known-answer tests below), and the bounded sampler is ours.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

/// Domain separation of the seed derivation.
pub const SEED_DOMAIN: &[u8] = b"vrs-draw-seed-v1";
/// Domain separation of the application commitment.
pub const COMMITMENT_DOMAIN: &[u8] = b"vrs-application-commitment-v1";

/// `SHA-256("vrs-draw-seed-v1" ‖ 0x00 ‖ commit leaf hash ‖ round (u64 BE) ‖ randomness)`.
pub fn seed(commit_hash: &[u8; 32], round: u64, randomness: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(SEED_DOMAIN);
    h.update([0u8]);
    h.update(commit_hash);
    h.update(round.to_be_bytes());
    h.update(randomness);
    h.finalize().into()
}

/// `SHA-256("vrs-application-commitment-v1" ‖ 0x00 ‖ salt ‖ application id)`:
/// binds a draw to an application without putting anything personal on the log.
pub fn application_commitment(salt: &[u8; 32], application_id: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(COMMITMENT_DOMAIN);
    h.update([0u8]);
    h.update(salt);
    h.update(application_id.as_bytes());
    h.finalize().into()
}

/// The keystream of ChaCha20 (20 rounds, RFC 8439 block function) with
/// key = seed, nonce = 0, block counter from 0, read as consecutive
/// little-endian u64 words.
pub struct Stream(ChaCha20Rng);

impl Stream {
    pub fn new(seed: [u8; 32]) -> Stream {
        Stream(ChaCha20Rng::from_seed(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}

/// A uniform index in `0..n` (n ≥ 1) by rejection sampling: with
/// `r = 2^64 mod n`, draw words until one is below `2^64 − r`; the index is
/// that word mod n. Every index is equally likely; the expected number of
/// words is below 2.
pub fn uniform_index(stream: &mut Stream, n: u64) -> u64 {
    assert!(n > 0, "sampling from an empty range");
    let r = n.wrapping_neg() % n; // (2^64 − n) mod n = 2^64 mod n
    let limit = u64::MAX - r; // accept x ≤ 2^64 − r − 1
    loop {
        let x = stream.next_u64();
        if x <= limit {
            return x % n;
        }
    }
}

/// The index of one draw: the first [`uniform_index`] of the seed's stream.
pub fn draw_index(seed: [u8; 32], available: u32) -> u32 {
    let mut s = Stream::new(seed);
    // `available` fits in u32, so the index does.
    uniform_index(&mut s, u64::from(available)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8439 §A.1 test vector #1: key and nonce all zero, block counter 0.
    const RFC8439_ZERO_BLOCK0: &str = "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7\
                                       da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586";

    #[test]
    fn stream_is_rfc8439_chacha20() {
        let mut s = Stream::new([0; 32]);
        let mut bytes = Vec::new();
        for _ in 0..8 {
            bytes.extend_from_slice(&s.next_u64().to_le_bytes());
        }
        assert_eq!(hex::encode(bytes), RFC8439_ZERO_BLOCK0);
    }

    #[test]
    fn rejection_sampling_rejects_the_top_zone() {
        // n = 2^63 + 1: r = 2^63 − 1, limit = 2^63: words above 2^63 are rejected.
        let n = (1u64 << 63) + 1;
        assert_eq!(n.wrapping_neg() % n, (1u64 << 63) - 1);
        // n a power of two: nothing is rejected.
        assert_eq!(1024u64.wrapping_neg() % 1024, 0);
        let mut s = Stream::new([0; 32]);
        assert_eq!(uniform_index(&mut s, 1), 0);
    }

    #[test]
    fn seeds_and_commitments_are_domain_separated() {
        let a = seed(&[1; 32], 5, &[2; 32]);
        assert_ne!(a, seed(&[1; 32], 6, &[2; 32]));
        assert_ne!(a, seed(&[2; 32], 5, &[2; 32]));
        assert_ne!(
            application_commitment(&[0; 32], "a"),
            application_commitment(&[1; 32], "a")
        );
    }
}
