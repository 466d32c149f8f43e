//! Personal data at rest (DESIGN §6).
//!
//! The declaration (owner's personal ID, name, birth date…) is stored sealed
//! with ChaCha20-Poly1305 under the data key; the only identifier stored in
//! the clear-text columns is a keyed hash (HMAC-SHA-256) for retained-plate
//! lookup, which someone with the database but without the key cannot reverse
//! by trying all 10^12 personal IDs. The key is a file (a Kubernetes Secret in
//! production), generated at first start for local runs, never committed.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Prefix of sealed values (a format version).
const SEALED: &[u8; 4] = b"VRS1";

#[derive(Clone)]
pub struct Privacy {
    aead: ChaCha20Poly1305,
    lookup_key: [u8; 32],
}

impl std::fmt::Debug for Privacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Privacy { .. }")
    }
}

impl Privacy {
    /// Derives the sealing and lookup keys from one 32-byte data key.
    pub fn new(data_key: &[u8; 32]) -> Privacy {
        let derive = |label: &[u8]| -> [u8; 32] {
            let mut h = Sha256::new();
            h.update(label);
            h.update(data_key);
            h.finalize().into()
        };
        let seal_key = derive(b"vrs-seal-v1\0");
        Privacy {
            aead: ChaCha20Poly1305::new(&Key::from(seal_key)),
            lookup_key: derive(b"vrs-lookup-v1\0"),
        }
    }

    /// `SEALED ‖ nonce ‖ ciphertext+tag`, with a fresh random nonce, bound to
    /// `row` (the application id) so that sealed values cannot be swapped between rows.
    pub fn seal(&self, plain: &[u8], row: &str) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let ct = self
            .aead
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: row.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut out = Vec::with_capacity(4 + 12 + ct.len());
        out.extend_from_slice(SEALED);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// The plaintext of a value sealed for `row` (a wrong key, another row or
    /// a changed byte fails, and so does anything not sealed).
    pub fn open(&self, stored: &[u8], row: &str) -> anyhow::Result<Vec<u8>> {
        let Some(rest) = stored.strip_prefix(SEALED.as_slice()) else {
            anyhow::bail!("value is not sealed");
        };
        if rest.len() < 12 {
            anyhow::bail!("sealed value too short");
        }
        let (nonce, ct) = rest.split_at(12);
        let nonce: [u8; 12] = nonce.try_into()?;
        self.aead
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: row.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("sealed value does not open with this data key"))
    }

    /// The keyed hash of a vehicle's (normalised) chassis number.
    pub fn vehicle_key(&self, chassis: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.lookup_key).expect("any key length");
        mac.update(b"vehicle\0");
        mac.update(chassis.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The keyed lookup hash of an owner (personal ID or tax code).
    pub fn owner_key(&self, owner_id: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.lookup_key).expect("any key length");
        mac.update(b"owner\0");
        mac.update(owner_id.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_hide_the_id() {
        let p = Privacy::new(&[1u8; 32]);
        let plain = b"\x0a\x0c012345678901 NGUYEN VAN A";
        let sealed = p.seal(plain, "row-1").unwrap();
        assert!(
            !sealed.windows(12).any(|w| w == b"012345678901"),
            "no personal ID in the clear"
        );
        assert_eq!(p.open(&sealed, "row-1").unwrap(), plain);
        assert_ne!(p.seal(plain, "row-1").unwrap(), sealed, "fresh nonce each time");
        assert!(Privacy::new(&[2u8; 32]).open(&sealed, "row-1").is_err());
        assert!(p.open(&sealed, "row-2").is_err(), "moved to another row");
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(p.open(&flipped, "row-1").is_err());
        // Plaintext planted in the column is refused, not read.
        assert!(p.open(plain, "row-1").is_err());
    }

    #[test]
    fn owner_keys_depend_on_the_key() {
        let (a, b) = (Privacy::new(&[1u8; 32]), Privacy::new(&[2u8; 32]));
        assert_eq!(a.owner_key("012345678901"), a.owner_key("012345678901"));
        assert_ne!(a.owner_key("012345678901"), b.owner_key("012345678901"));
        assert_ne!(a.owner_key("012345678901"), a.owner_key("012345678902"));
    }
}
