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

/// Canonical base64 (receipts §7.1, notes §6): decodes, and is exactly the
/// encoding of what it decodes to.
pub fn canonical_b64(s: &str) -> Option<Vec<u8>> {
    B64.decode(s).ok().filter(|b| B64.encode(b) == s)
}

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
    #[error("a signature by {0} does not verify")]
    BadSignature(String),
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

    /// The body of spec §6.3: exactly origin, size and root, each ending in a newline.
    fn parse_body(body: &str) -> Result<Checkpoint, NoteError> {
        let lines: Vec<&str> = body.strip_suffix('\n').unwrap_or(body).split('\n').collect();
        let [origin, size, root] = lines[..] else {
            return Err(NoteError::Malformed("the text is not exactly origin, size and root"));
        };
        if origin.is_empty() {
            return Err(NoteError::Malformed("origin"));
        }
        let size = Some(size)
            .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) && (l.len() == 1 || !l.starts_with('0')))
            .and_then(|l| l.parse().ok())
            .ok_or(NoteError::Malformed("tree size"))?;
        let root: Hash = canonical_b64(root)
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
        sign_by_all(&[self], checkpoint)
    }

    /// This key's signature line over `body`, with its final newline.
    fn line(&self, body: &str) -> String {
        let sig = self.key.sign(body.as_bytes()).to_bytes();
        let mut blob = key_id(&self.name, &self.key.verifying_key().to_bytes()).to_vec();
        blob.extend_from_slice(&sig);
        format!("\u{2014} {} {}\n", self.name, B64.encode(blob))
    }
}

/// One note signed by several keys, one line each in the order given: the
/// handover checkpoint of a key rotation (spec §6.4) is signed by the old and
/// the new key. Each key opens it and ignores the other's line (§6.3 rule 4).
pub fn sign_by_all(signers: &[&NoteSigner], checkpoint: &Checkpoint) -> String {
    let body = checkpoint.body();
    let lines: String = signers.iter().map(|s| s.line(&body)).collect();
    format!("{body}\n{lines}")
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
        if !valid_key_name(name) || id_hex.len() != 8 || id_hex.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(NoteError::Key);
        }
        let id: [u8; 4] = hex::decode(id_hex)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(NoteError::Key)?;
        let enc = canonical_b64(key_b64).ok_or(NoteError::Key)?;
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

    /// The verifier key text (`<name>+<key id>+<base64>`), as [`NoteSigner::verifier_key`] writes it.
    pub fn verifier_key(&self) -> String {
        let mut enc = vec![ALG_ED25519];
        enc.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, hex::encode(self.id), B64.encode(enc))
    }

    /// Opens a signed checkpoint note (spec §6.3, c2sp.org/signed-note) and
    /// returns its checkpoint. Signatures by other keys are ignored; at least
    /// one by this key must verify, and one by this key that fails rejects the
    /// whole note (c2sp's SHOULD, made a MUST so that verifiers agree).
    pub fn open(&self, note: &str) -> Result<Checkpoint, NoteError> {
        if note.chars().any(|c| c < ' ' && c != '\n') {
            return Err(NoteError::Malformed("control character"));
        }
        if !note.ends_with('\n') {
            return Err(NoteError::Malformed("no final newline"));
        }
        // The text ends at the last blank line (the text itself may hold blank lines).
        let split = note.rfind("\n\n").ok_or(NoteError::Malformed("no signature block"))?;
        let (text, sigs) = (&note[..=split], &note[split + 2..]);
        let lines: Vec<&str> = sigs.strip_suffix('\n').unwrap_or(sigs).split('\n').collect();
        if sigs.is_empty() {
            return Err(NoteError::Malformed("no signature line"));
        }
        if lines.len() > MAX_SIGNATURES {
            return Err(NoteError::Malformed("more than 16 signature lines"));
        }
        let mut verified = false;
        for line in lines {
            let (name, blob) = line
                .strip_prefix("\u{2014} ")
                .and_then(|rest| rest.split_once(' '))
                .filter(|(name, blob)| valid_key_name(name) && !blob.contains(' '))
                .ok_or(NoteError::Malformed("signature line"))?;
            let blob = canonical_b64(blob)
                .filter(|b| b.len() >= 5)
                .ok_or(NoteError::Malformed("signature line"))?;
            if name != self.name || blob[..4] != self.id {
                continue;
            }
            let good =
                Signature::from_slice(&blob[4..]).is_ok_and(|sig| self.key.verify(text.as_bytes(), &sig).is_ok());
            if !good {
                return Err(NoteError::BadSignature(self.name.clone()));
            }
            verified = true;
        }
        if !verified {
            return Err(NoteError::Unsigned(self.name.clone()));
        }
        Checkpoint::parse_body(text)
    }
}

/// Signature lines a note may carry (c2sp: verifiers must accept at least 16).
pub const MAX_SIGNATURES: usize = 16;

/// A key name: non-empty, no white space, no `+`.
fn valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '+')
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

    /// The signature line of a note (everything after the blank line).
    fn line(note: &str) -> &str {
        note.rsplit_once("\n\n").expect("signed").1
    }

    #[test]
    fn c2sp_rules_for_signature_lines() {
        let signer = NoteSigner::from_seed("vrs-log", &[1; 32]).expect("key");
        let v = NoteVerifier::parse(&signer.verifier_key()).expect("vkey");
        let note = signer.sign(&checkpoint());
        // Another key under our name (other id) and a witness: ignored.
        let same_name = NoteSigner::from_seed("vrs-log", &[2; 32]).expect("key");
        let witness = NoteSigner::from_seed("witness.example/w", &[3; 32]).expect("key");
        let cosigned = format!(
            "{note}{}{}",
            line(&same_name.sign(&checkpoint())),
            line(&witness.sign(&checkpoint()))
        );
        assert_eq!(v.open(&cosigned), Ok(checkpoint()));
        // A failing line by our key rejects the note, even beside a valid one.
        let ours = line(&note).trim_end().to_owned();
        let (head, sig) = ours.rsplit_once(' ').expect("line");
        let mut bad = B64.decode(sig).expect("b64");
        bad[10] ^= 1;
        let failing = format!("{note}{head} {}\n", B64.encode(bad));
        assert_eq!(v.open(&failing), Err(NoteError::BadSignature("vrs-log".into())));
        // Sixteen lines are accepted, seventeen are not.
        let mut many = note.clone();
        for _ in 0..15 {
            many.push_str(line(&witness.sign(&checkpoint())));
        }
        assert!(v.open(&many).is_ok());
        many.push_str(line(&witness.sign(&checkpoint())));
        assert!(matches!(v.open(&many), Err(NoteError::Malformed(_))));
        // Malformed lines and control characters reject the note.
        for broken in [
            format!("{note}\u{2014} lonely\n"),
            format!("{note}- vrs-log AAAAAAA=\n"),
            format!("{note}\u{2014} vrs-log  {}\n", sig),
            note.replacen('\n', "\r\n", 1),
            note.replacen("vrs-log ", "vrs-log\t", 1),
            note.trim_end().to_owned(),
        ] {
            assert!(matches!(v.open(&broken), Err(NoteError::Malformed(_))), "{broken:?}");
        }
    }

    #[test]
    fn a_note_signed_by_two_keys_opens_with_each() {
        let old = NoteSigner::from_seed("vrs-log", &[1; 32]).expect("key");
        let new = NoteSigner::from_seed("vrs-log", &[2; 32]).expect("key");
        let note = sign_by_all(&[&old, &new], &checkpoint());
        assert_eq!(note.matches('\u{2014}').count(), 2);
        for k in [&old, &new] {
            let v = NoteVerifier::parse(&k.verifier_key()).expect("vkey");
            assert_eq!(v.verifier_key(), k.verifier_key());
            assert_eq!(v.open(&note), Ok(checkpoint()));
        }
        let third = NoteSigner::from_seed("vrs-log", &[3; 32]).expect("key");
        let v = NoteVerifier::parse(&third.verifier_key()).expect("vkey");
        assert!(matches!(v.open(&note), Err(NoteError::Unsigned(_))));
    }

    #[test]
    fn the_text_ends_at_the_last_blank_line_and_has_three_lines() {
        let signer = NoteSigner::from_seed("vrs-log", &[1; 32]).expect("key");
        let v = NoteVerifier::parse(&signer.verifier_key()).expect("vkey");
        let extended = Checkpoint {
            origin: "vn.gov.vrs/plate-draw-log\n\nextension".into(),
            ..checkpoint()
        };
        // Signed over a text holding a blank line: it verifies, but is no checkpoint.
        assert_eq!(
            v.open(&signer.sign(&extended)),
            Err(NoteError::Malformed("the text is not exactly origin, size and root"))
        );
    }
}
