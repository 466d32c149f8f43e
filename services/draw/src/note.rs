//! Checkpoints in the C2SP signed-note format (c2sp.org/signed-note,
//! c2sp.org/tlog-checkpoint), signed with Ed25519.
//!
//! ```text
//! <origin>
//! <tree size, decimal>
//! <root hash, base64>
//!
//! — <key name> <base64(key id (4 bytes) ‖ Ed25519 signature (64 bytes))>
//! ```
//!
//! The key id is the first four bytes of `SHA-256(key name ‖ "\n" ‖ 0x01 ‖ public key)`;
//! the signature covers the body (the three lines, each ending in "\n").
//! Verifier keys are written `<name>+<key id, 8 hex>+<base64(0x01 ‖ public key)>`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// Signature algorithm byte of Ed25519 in signed notes.
const ALG_ED25519: u8 = 0x01;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("malformed verifier key")]
    Key,
    #[error("no valid signature by {0}")]
    Unsigned(String),
}

/// A checkpoint: the log's origin, size and root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The signed body.
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, B64.encode(self.root))
    }

    fn parse_body(body: &str) -> Result<Checkpoint, NoteError> {
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or(NoteError::Malformed("origin"))?;
        let size = lines
            .next()
            .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) && (l.len() == 1 || !l.starts_with('0')))
            .and_then(|l| l.parse().ok())
            .ok_or(NoteError::Malformed("tree size"))?;
        let root: Hash = lines
            .next()
            .and_then(|l| B64.decode(l).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or(NoteError::Malformed("root hash"))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The log's signing key.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// From a 32-byte Ed25519 seed. The name must not contain spaces or '+'.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<NoteSigner, NoteError> {
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '+') {
            return Err(NoteError::Key);
        }
        Ok(NoteSigner {
            name: name.to_owned(),
            key: SigningKey::from_bytes(seed),
        })
    }

    /// A fresh key from the operating system's randomness.
    pub fn generate(name: &str) -> Result<(NoteSigner, [u8; 32]), NoteError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| NoteError::Key)?;
        Ok((NoteSigner::from_seed(name, &seed)?, seed))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key string, for publication and pinning.
    pub fn verifier_key(&self) -> String {
        let public = self.key.verifying_key().to_bytes();
        let mut enc = vec![ALG_ED25519];
        enc.extend_from_slice(&public);
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(key_id(&self.name, &public)),
            B64.encode(enc)
        )
    }

    /// The signed note of a checkpoint.
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        let body = checkpoint.body();
        let sig = self.key.sign(body.as_bytes()).to_bytes();
        let mut blob = key_id(&self.name, &self.key.verifying_key().to_bytes()).to_vec();
        blob.extend_from_slice(&sig);
        format!("{body}\n\u{2014} {} {}\n", self.name, B64.encode(blob))
    }
}

/// A pinned verifier key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    pub fn parse(vkey: &str) -> Result<NoteVerifier, NoteError> {
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::Key);
        };
        let id: [u8; 4] = hex::decode(id_hex)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(NoteError::Key)?;
        let enc = B64.decode(key_b64).map_err(|_| NoteError::Key)?;
        let (&alg, public) = enc.split_first().ok_or(NoteError::Key)?;
        let public: [u8; 32] = public.try_into().map_err(|_| NoteError::Key)?;
        if alg != ALG_ED25519 || key_id(name, &public) != id {
            return Err(NoteError::Key);
        }
        let key = VerifyingKey::from_bytes(&public).map_err(|_| NoteError::Key)?;
        Ok(NoteVerifier {
            name: name.to_owned(),
            id,
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Verifies a signed checkpoint note and returns its checkpoint. Signatures
    /// by other keys are ignored; one valid signature by this key is required.
    pub fn open(&self, note: &str) -> Result<Checkpoint, NoteError> {
        let (body, sigs) = note
            .split_once("\n\n")
            .ok_or(NoteError::Malformed("no signature block"))?;
        let body = format!("{body}\n");
        if !note.ends_with('\n') {
            return Err(NoteError::Malformed("no final newline"));
        }
        for line in sigs.lines() {
            let Some(rest) = line.strip_prefix("\u{2014} ") else {
                return Err(NoteError::Malformed("signature line"));
            };
            let Some((name, blob)) = rest.split_once(' ') else {
                return Err(NoteError::Malformed("signature line"));
            };
            if name != self.name {
                continue;
            }
            let Ok(blob) = B64.decode(blob) else { continue };
            if blob.len() != 68 || blob[..4] != self.id {
                continue;
            }
            let Ok(sig) = Signature::from_slice(&blob[4..]) else {
                continue;
            };
            if self.key.verify(body.as_bytes(), &sig).is_ok() {
                return Checkpoint::parse_body(&body);
            }
        }
        Err(NoteError::Unsigned(self.name.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "vn.gov.vrs/plate-draw-log".into(),
            size: 42,
            root: [7; 32],
        }
    }

    #[test]
    fn sign_then_open() {
        let signer = NoteSigner::from_seed("vrs-log", &[1; 32]).expect("key");
        let note = signer.sign(&checkpoint());
        assert!(note.starts_with("vn.gov.vrs/plate-draw-log\n42\n"));
        assert!(note.contains("\n\n\u{2014} vrs-log "));
        let v = NoteVerifier::parse(&signer.verifier_key()).expect("vkey");
        assert_eq!(v.open(&note), Ok(checkpoint()));
    }

    #[test]
    fn tampering_and_foreign_keys_fail() {
        let signer = NoteSigner::from_seed("vrs-log", &[1; 32]).expect("key");
        let note = signer.sign(&checkpoint());
        let v = NoteVerifier::parse(&signer.verifier_key()).expect("vkey");
        assert!(v.open(&note.replacen("\n42\n", "\n43\n", 1)).is_err());
        let other = NoteSigner::from_seed("vrs-log", &[2; 32]).expect("key");
        let v2 = NoteVerifier::parse(&other.verifier_key()).expect("vkey");
        assert!(matches!(v2.open(&note), Err(NoteError::Unsigned(_))));
        // A verifier key whose id does not match its name and key is refused.
        let vk = signer.verifier_key();
        let forged = vk.replacen("vrs-log+", "vrs-loh+", 1);
        assert_eq!(NoteVerifier::parse(&forged), Err(NoteError::Key));
    }
}
