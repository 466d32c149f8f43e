//! Personal data at rest (DESIGN §6).
//!
//! The declaration (owner's personal ID, name, birth date…) is stored sealed
//! with ChaCha20-Poly1305 under the data key; the only identifiers stored in
//! the clear-text columns are keyed hashes (HMAC-SHA-256) for retained-plate
//! lookup and for the one-active-application-per-vehicle index, which someone
//! with the database but without the key cannot reverse by trying all 10^12
//! personal IDs. The key is a file (a Kubernetes Secret in production),
//! generated at first start for local runs, never committed.
//!
//! # Key rotation
//!
//! The data key is a set: the *current* key (`privacy.data_key_file`) seals
//! new declarations and hashes new lookups; *retired* keys
//! (`privacy.retired_data_key_files`) still open and find what was written
//! under them, until the re-seal job ([`crate::reseal`]) has rewritten it under
//! the current key. Each key has an id, [`KeyId`], written into what it
//! seals (`VRS2 ‖ key id ‖ nonce ‖ ciphertext+tag`) and into the owner hashes
//! it makes (`<key id>:<hmac>`), so that the job finds what is left by a
//! query and a value never has to be tried against every key.
//!
//! Formats before key ids still open: `VRS1 ‖ nonce ‖ ciphertext+tag` (tried
//! under the current key, then the retired ones) and owner hashes of 64 hex
//! digits without an id (looked up under every key of the set).
//!
//! The vehicle hash carries no id: it is a unique index, and a value under the
//! same key must stay the same value whatever version of the service wrote it
//! (an id-less hash of an old row and an id-tagged one of a new row would not
//! collide). It is made under the key that sealed its row's declaration, and
//! the re-seal job rewrites both together.

use std::sync::Arc;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Prefix of values sealed before key ids: no id, the row alone as AAD.
const SEALED_V1: &[u8; 4] = b"VRS1";
/// Prefix of values sealed with a key id: `VRS2 ‖ key id ‖ nonce ‖ ct+tag`,
/// with `VRS2 ‖ key id ‖ row` as AAD.
const SEALED_V2: &[u8; 4] = b"VRS2";
const NONCE_LEN: usize = 12;
/// Hex digits of the HMAC kept in an owner hash with an id, so that
/// `<8-digit id>:<hmac>` fits the 64 characters of the owner-key columns
/// (220 bits of HMAC: still far beyond guessing).
const TAGGED_MAC_HEX: usize = 64 - 8 - 1;

/// A data key's id: the first four bytes of SHA-256(`vrs-data-key-id-v1\0` ‖
/// key), written as 8 hex digits. Pinned per database to the key's
/// fingerprint, so an id always means the same key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 4]);

impl KeyId {
    pub fn of(key: &[u8; 32]) -> KeyId {
        let mut h = Sha256::new();
        h.update(b"vrs-data-key-id-v1\0");
        h.update(key);
        let digest: [u8; 32] = h.finalize().into();
        KeyId([digest[0], digest[1], digest[2], digest[3]])
    }

    /// The 8 hex digits of the id.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyId({})", self.hex())
    }
}

/// How a stored value is sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealing {
    /// Before key ids: which key is known only by trying.
    V1,
    /// Under the key with this id.
    V2(KeyId),
    /// Not a sealed value at all.
    NotSealed,
}

impl Sealing {
    pub fn of(stored: &[u8]) -> Sealing {
        match stored.get(..4) {
            Some(p) if p == SEALED_V2 && stored.len() >= 8 => {
                Sealing::V2(KeyId([stored[4], stored[5], stored[6], stored[7]]))
            }
            Some(p) if p == SEALED_V1 => Sealing::V1,
            _ => Sealing::NotSealed,
        }
    }
}

/// One key of the set, with what is derived from it.
struct DataKey {
    id: KeyId,
    /// SHA-256 of the key, hex: what the database pins for its id.
    fingerprint: String,
    aead: ChaCha20Poly1305,
    lookup_key: [u8; 32],
}

impl DataKey {
    fn new(data_key: &[u8; 32]) -> DataKey {
        let derive = |label: &[u8]| -> [u8; 32] {
            let mut h = Sha256::new();
            h.update(label);
            h.update(data_key);
            h.finalize().into()
        };
        DataKey {
            id: KeyId::of(data_key),
            fingerprint: hex::encode(Sha256::digest(data_key)),
            aead: ChaCha20Poly1305::new(&Key::from(derive(b"vrs-seal-v1\0"))),
            lookup_key: derive(b"vrs-lookup-v1\0"),
        }
    }

    fn mac(&self, label: &[u8], value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.lookup_key).expect("any key length");
        mac.update(label);
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// `<id>:<hmac>`, 64 characters.
    fn tagged_owner_key(&self, owner_id: &str) -> String {
        let mac = self.mac(b"owner\0", owner_id);
        format!("{}:{}", self.id, &mac[..TAGGED_MAC_HEX])
    }
}

/// The data key set: the current key first, then the retired ones.
#[derive(Clone)]
pub struct Privacy {
    keys: Arc<[DataKey]>,
}

impl std::fmt::Debug for Privacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<String> = self.keys.iter().map(|k| k.id.hex()).collect();
        write!(f, "Privacy {{ key ids: {ids:?} }}")
    }
}

impl Privacy {
    /// One data key, nothing retired.
    pub fn new(data_key: &[u8; 32]) -> Privacy {
        Privacy {
            keys: Arc::from([DataKey::new(data_key)]),
        }
    }

    /// `current` seals and hashes; `retired` keys still open and find what
    /// they wrote. A key listed twice, or two keys with one id, is refused.
    pub fn with_retired(current: &[u8; 32], retired: &[[u8; 32]]) -> anyhow::Result<Privacy> {
        let mut keys = vec![DataKey::new(current)];
        for key in retired {
            let k = DataKey::new(key);
            if let Some(same) = keys.iter().find(|o| o.id == k.id) {
                if same.fingerprint == k.fingerprint {
                    anyhow::bail!(
                        "data key {} is configured twice (privacy.data_key_file and privacy.retired_data_key_files \
                         must name different keys)",
                        k.id
                    );
                }
                anyhow::bail!(
                    "two different data keys share the key id {}: generate another key",
                    k.id
                );
            }
            keys.push(k);
        }
        Ok(Privacy { keys: keys.into() })
    }

    fn current(&self) -> &DataKey {
        &self.keys[0]
    }

    /// The id of the key that seals and hashes new data.
    pub fn current_id(&self) -> KeyId {
        self.current().id
    }

    /// Ids of the retired keys (still opened, no longer used for new data).
    pub fn retired_ids(&self) -> Vec<KeyId> {
        self.keys[1..].iter().map(|k| k.id).collect()
    }

    pub fn has_retired(&self) -> bool {
        self.keys.len() > 1
    }

    /// (id, fingerprint) of every key, the current one first.
    pub fn fingerprints(&self) -> Vec<(KeyId, String)> {
        self.keys.iter().map(|k| (k.id, k.fingerprint.clone())).collect()
    }

    /// What every value sealed under the current key starts with.
    pub fn current_prefix(&self) -> [u8; 8] {
        let id = self.current_id().0;
        [
            SEALED_V2[0],
            SEALED_V2[1],
            SEALED_V2[2],
            SEALED_V2[3],
            id[0],
            id[1],
            id[2],
            id[3],
        ]
    }

    /// What every owner hash under the current key starts with (`<id>:`).
    pub fn current_owner_prefix(&self) -> String {
        format!("{}:", self.current_id())
    }

    /// `VRS2 ‖ key id ‖ nonce ‖ ciphertext+tag` under the current key, with a
    /// fresh random nonce, bound to `row` (the application id) and to the key
    /// id, so that sealed values cannot be swapped between rows nor relabelled.
    pub fn seal(&self, plain: &[u8], row: &str) -> anyhow::Result<Vec<u8>> {
        let key = self.current();
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let ct = key
            .aead
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: &v2_aad(key.id, row),
                },
            )
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut out = Vec::with_capacity(8 + NONCE_LEN + ct.len());
        out.extend_from_slice(SEALED_V2);
        out.extend_from_slice(&key.id.0);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// The plaintext of a value sealed for `row` under any key of the set
    /// (another key, another row, a changed byte or anything not sealed fails).
    pub fn open(&self, stored: &[u8], row: &str) -> anyhow::Result<Vec<u8>> {
        match Sealing::of(stored) {
            Sealing::V2(id) => {
                let Some(key) = self.keys.iter().find(|k| k.id == id) else {
                    anyhow::bail!(
                        "sealed under data key {id}, which is neither privacy.data_key_file nor one of \
                         privacy.retired_data_key_files (add it back to the retired keys)"
                    );
                };
                let (nonce, ct) = split_nonce(&stored[8..])?;
                key.aead
                    .decrypt(
                        &Nonce::from(nonce),
                        Payload {
                            msg: ct,
                            aad: &v2_aad(id, row),
                        },
                    )
                    .map_err(|_| anyhow::anyhow!("sealed value does not open with data key {id}: altered or moved"))
            }
            Sealing::V1 => {
                let (nonce, ct) = split_nonce(&stored[4..])?;
                self.keys
                    .iter()
                    .find_map(|k| {
                        k.aead
                            .decrypt(
                                &Nonce::from(nonce),
                                Payload {
                                    msg: ct,
                                    aad: row.as_bytes(),
                                },
                            )
                            .ok()
                    })
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "sealed value (VRS1, before key ids) opens with none of the configured data keys: \
                             altered, moved, or sealed under a key no longer configured"
                        )
                    })
            }
            Sealing::NotSealed => anyhow::bail!("value is not sealed"),
        }
    }

    /// Whether `stored` is sealed under the current key (nothing for the
    /// re-seal job to do).
    pub fn is_current(&self, stored: &[u8]) -> bool {
        Sealing::of(stored) == Sealing::V2(self.current_id())
    }

    /// The keyed hash of a vehicle's (normalised) chassis number under the
    /// current key (no id: see the module docs).
    pub fn vehicle_key(&self, chassis: &str) -> String {
        self.current().mac(b"vehicle\0", chassis)
    }

    /// The vehicle's hashes under the retired keys: an active application
    /// filed before the rotation and not yet re-sealed holds one of these.
    pub fn retired_vehicle_keys(&self, chassis: &str) -> Vec<String> {
        self.keys[1..].iter().map(|k| k.mac(b"vehicle\0", chassis)).collect()
    }

    /// The keyed lookup hash of an owner (personal ID or tax code) under the
    /// current key, with its id: `<key id>:<hmac>`.
    pub fn owner_key(&self, owner_id: &str) -> String {
        self.current().tagged_owner_key(owner_id)
    }

    /// Every hash an owner's rows may hold: under each key of the set, with
    /// and without an id (rows written before ids). A lookup asks for any.
    pub fn owner_keys(&self, owner_id: &str) -> Vec<String> {
        self.keys
            .iter()
            .flat_map(|k| [k.tagged_owner_key(owner_id), k.mac(b"owner\0", owner_id)])
            .collect()
    }
}

fn v2_aad(id: KeyId, row: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(8 + row.len());
    aad.extend_from_slice(SEALED_V2);
    aad.extend_from_slice(&id.0);
    aad.extend_from_slice(row.as_bytes());
    aad
}

fn split_nonce(rest: &[u8]) -> anyhow::Result<([u8; NONCE_LEN], &[u8])> {
    if rest.len() < NONCE_LEN {
        anyhow::bail!("sealed value too short");
    }
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    Ok((nonce.try_into()?, ct))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value as the service sealed it before key ids (`VRS1`).
    fn seal_v1(key: &[u8; 32], plain: &[u8], row: &str) -> Vec<u8> {
        let k = DataKey::new(key);
        let nonce = [9u8; NONCE_LEN];
        let ct = k
            .aead
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: row.as_bytes(),
                },
            )
            .unwrap();
        [SEALED_V1.as_slice(), &nonce, &ct].concat()
    }

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
    fn new_values_carry_the_current_key_id() {
        let (k0, k1) = ([1u8; 32], [2u8; 32]);
        let p = Privacy::with_retired(&k1, &[k0]).unwrap();
        let sealed = p.seal(b"x", "row-1").unwrap();
        assert_eq!(&sealed[..4], b"VRS2");
        assert_eq!(Sealing::of(&sealed), Sealing::V2(KeyId::of(&k1)));
        assert_eq!(sealed[..8], p.current_prefix());
        assert!(p.is_current(&sealed));
        assert_eq!(p.current_id(), KeyId::of(&k1));
        assert_eq!(p.retired_ids(), vec![KeyId::of(&k0)]);
        // The id is the first 8 hex digits of SHA-256("vrs-data-key-id-v1\0" ‖ key).
        let digest = Sha256::digest([b"vrs-data-key-id-v1\0".as_slice(), &k1].concat());
        assert_eq!(KeyId::of(&k1).hex(), hex::encode(&digest[..4]));
    }

    #[test]
    fn old_data_opens_under_a_retired_key_and_new_data_under_the_current_one() {
        let (k0, k1) = ([1u8; 32], [2u8; 32]);
        let before = Privacy::new(&k0);
        let old = before.seal(b"old", "row-1").unwrap();
        let after = Privacy::with_retired(&k1, &[k0]).unwrap();
        assert_eq!(after.open(&old, "row-1").unwrap(), b"old");
        assert!(!after.is_current(&old));
        let new = after.seal(b"new", "row-2").unwrap();
        // The old key alone does not know the new key's id, and says which.
        let err = before.open(&new, "row-2").unwrap_err().to_string();
        assert!(err.contains(&KeyId::of(&k1).hex()), "{err}");
        assert!(err.contains("retired"), "{err}");
        // The new key alone opens what it sealed, not what the old one did.
        let k1_only = Privacy::new(&k1);
        assert_eq!(k1_only.open(&new, "row-2").unwrap(), b"new");
        let err = k1_only.open(&old, "row-1").unwrap_err().to_string();
        assert!(err.contains(&KeyId::of(&k0).hex()), "{err}");
    }

    #[test]
    fn vrs1_values_from_before_key_ids_still_open() {
        let (k0, k1) = ([1u8; 32], [2u8; 32]);
        let v1 = seal_v1(&k0, b"legacy", "row-1");
        assert_eq!(Sealing::of(&v1), Sealing::V1);
        // Under the current key…
        assert_eq!(Privacy::new(&k0).open(&v1, "row-1").unwrap(), b"legacy");
        // …or a retired one.
        let rotated = Privacy::with_retired(&k1, &[k0]).unwrap();
        assert_eq!(rotated.open(&v1, "row-1").unwrap(), b"legacy");
        assert!(!rotated.is_current(&v1), "the re-seal job rewrites VRS1 values");
        assert!(rotated.open(&v1, "row-2").is_err(), "still bound to its row");
        assert!(Privacy::new(&k1).open(&v1, "row-1").is_err());
        let mut flipped = v1.clone();
        flipped[20] ^= 1;
        assert!(rotated.open(&flipped, "row-1").is_err());
    }

    #[test]
    fn a_changed_key_id_or_a_truncated_value_is_refused() {
        let (k0, k1) = ([1u8; 32], [2u8; 32]);
        let p = Privacy::with_retired(&k1, &[k0]).unwrap();
        let sealed = p.seal(b"secret", "row-1").unwrap();
        // Relabelled as the other key's: that key does not open it.
        let mut relabelled = sealed.clone();
        relabelled[4..8].copy_from_slice(&KeyId::of(&k0).0);
        let err = p.open(&relabelled, "row-1").unwrap_err().to_string();
        assert!(err.contains("does not open"), "{err}");
        // An id no key has: named in the error.
        let mut unknown = sealed.clone();
        unknown[4..8].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let err = p.open(&unknown, "row-1").unwrap_err().to_string();
        assert!(err.contains("deadbeef"), "{err}");
        // The AAD binds the id: the same bytes under a forged header with the
        // right key but as VRS1 do not open either.
        let mut as_v1 = b"VRS1".to_vec();
        as_v1.extend_from_slice(&sealed[8..]);
        assert!(p.open(&as_v1, "row-1").is_err());
        for cut in [4, 8, 19] {
            assert!(p.open(&sealed[..cut], "row-1").is_err(), "cut at {cut}");
        }
        let mut tampered = sealed.clone();
        tampered[10] ^= 1;
        assert!(p.open(&tampered, "row-1").is_err());
    }

    #[test]
    fn a_key_set_refuses_a_key_listed_twice() {
        let err = Privacy::with_retired(&[1u8; 32], &[[1u8; 32]]).unwrap_err().to_string();
        assert!(err.contains("configured twice"), "{err}");
        assert!(Privacy::with_retired(&[1u8; 32], &[[2u8; 32], [2u8; 32]]).is_err());
    }

    #[test]
    fn owner_keys_depend_on_the_key() {
        let (a, b) = (Privacy::new(&[1u8; 32]), Privacy::new(&[2u8; 32]));
        assert_eq!(a.owner_key("012345678901"), a.owner_key("012345678901"));
        assert_ne!(a.owner_key("012345678901"), b.owner_key("012345678901"));
        assert_ne!(a.owner_key("012345678901"), a.owner_key("012345678902"));
        assert_ne!(a.vehicle_key("VIN"), b.vehicle_key("VIN"));
    }

    #[test]
    fn owner_keys_carry_their_key_id_and_lookups_cover_every_key() {
        let (k0, k1) = ([1u8; 32], [2u8; 32]);
        let old = Privacy::new(&k0);
        let rotated = Privacy::with_retired(&k1, &[k0]).unwrap();
        let new_key = rotated.owner_key("012345678901");
        assert_eq!(new_key.len(), 64, "fits the owner-key columns");
        assert!(new_key.starts_with(&rotated.current_owner_prefix()));
        assert!(new_key.starts_with(&format!("{}:", KeyId::of(&k1))));
        let candidates = rotated.owner_keys("012345678901");
        assert!(candidates.contains(&new_key));
        assert!(
            candidates.contains(&old.owner_key("012345678901")),
            "written under the retired key"
        );
        // Written before ids: the bare HMAC, 64 hex digits.
        let legacy = DataKey::new(&k0).mac(b"owner\0", "012345678901");
        assert_eq!(legacy.len(), 64);
        assert!(!legacy.contains(':'));
        assert!(candidates.contains(&legacy));
        assert!(!rotated.owner_keys("012345678902").contains(&new_key));
        // Vehicle hashes: none under the current key among the retired ones.
        assert_eq!(rotated.retired_vehicle_keys("VIN"), vec![old.vehicle_key("VIN")]);
    }
}
