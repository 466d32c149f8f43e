//! Caller tokens: JWTs signed with Ed25519 (`alg: EdDSA`) carrying roles and an office.
//!
//! The issuer (in production the police identity provider; locally a seed file
//! that `vrsctl` and the tests read) signs; the registration service verifies
//! with the issuer's public key only. The format is plain RFC 7519 / RFC 8037,
//! so any JWT library can mint tokens for us.
//!
//! Every token names its key in the header's `kid`: the key's RFC 7638 JWK
//! thumbprint ([`key_id`]), which is what an OpenID provider's JWKS publishes.
//! The verifier holds a [`KeySet`] (the current key and the ones still
//! accepted during a rotation) and checks each token against the one key its
//! `kid` names: never against every key in turn.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// Roles a caller may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The National Public Service Portal, acting for citizens on their dossiers.
    Portal,
    /// A police registry clerk of one office.
    Clerk,
    /// Reads everything and operates the outbox and auctions; approves nothing.
    Supervisor,
    /// Reads applications, actions and receipts; changes nothing.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Portal, Role::Clerk, Role::Supervisor, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Portal => "portal",
            Role::Clerk => "clerk",
            Role::Supervisor => "supervisor",
            Role::Auditor => "auditor",
        }
    }
}

/// The claims of a caller token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub roles: Vec<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office: Option<String>,
    pub iat: i64,
    pub exp: i64,
    /// The token's own identifier (RFC 7519 `jti`), by which one token can be
    /// revoked. Tokens minted before it existed have none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jti: String,
}

/// The audience every token for this service must name.
pub const AUDIENCE: &str = "vrs-registration";

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: String,
    /// The signing key's id ([`key_id`]); tokens minted before key ids have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
}

/// The id of an issuer key: its RFC 7638 JWK thumbprint, the base64url
/// (unpadded) SHA-256 of `{"crv":"Ed25519","kty":"OKP","x":"<key>"}`
/// (RFC 8037 §2), as a JWKS would publish it.
pub fn key_id(key: &VerifyingKey) -> String {
    let jwk = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(key.as_bytes())
    );
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(jwk.as_bytes()))
}

/// The issuer keys a verifier accepts, by key id: the primary (the issuer's
/// current key) and the previous ones still accepted during a rotation, until
/// the tokens they signed expire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySet {
    /// Primary first; no key twice. A handful at most, so a list.
    keys: Vec<(String, VerifyingKey)>,
}

impl KeySet {
    /// A set of one key, the primary.
    pub fn new(primary: VerifyingKey) -> KeySet {
        KeySet {
            keys: vec![(key_id(&primary), primary)],
        }
    }

    /// Adds a key still accepted (a previous issuer key); a key already in the set is ignored.
    pub fn with_previous(mut self, key: VerifyingKey) -> KeySet {
        if !self.keys.iter().any(|(_, k)| *k == key) {
            self.keys.push((key_id(&key), key));
        }
        self
    }

    /// The issuer's current key: the one tokens without a `kid` are checked against.
    pub fn primary(&self) -> &VerifyingKey {
        &self.keys[0].1
    }

    /// The primary key's id.
    pub fn primary_id(&self) -> &str {
        &self.keys[0].0
    }

    /// The key with id `kid`, if the set has it.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.iter().find(|(id, _)| id == kid).map(|(_, k)| k)
    }

    /// Every key with its id, the primary first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &VerifyingKey)> {
        self.keys.iter().map(|(id, k)| (id.as_str(), k))
    }
}

impl From<VerifyingKey> for KeySet {
    fn from(primary: VerifyingKey) -> KeySet {
        KeySet::new(primary)
    }
}

/// Signs a token (the issuer's side: tests, `vrsctl token`, the local stack),
/// naming the key in the header's `kid`.
pub fn sign_token(key: &SigningKey, claims: &Claims) -> String {
    let header = Header {
        alg: "EdDSA".into(),
        typ: "JWT".into(),
        kid: Some(key_id(&key.verifying_key())),
    };
    let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default());
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let sig = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

/// Why a token was refused (never more detailed to the caller than this).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("token signature does not verify")]
    BadSignature,
    /// The token's `kid` names no key this service accepts (another issuer,
    /// or a key retired after a rotation).
    #[error("token signed by a key this service does not accept")]
    UnknownKey,
    #[error("token from another issuer or for another audience")]
    WrongIssuer,
    #[error("token expired")]
    Expired,
    #[error("clerk token without an office")]
    NoOffice,
}

/// Checks a token against the issuer's keys; `now` in seconds.
///
/// A token with a `kid` is checked with that key only, and one whose `kid`
/// is not in `keys` is refused before any signature is verified (verifying
/// is the expensive part, which a stream of bad tokens must not buy); one
/// without (minted before key ids) with the primary key only.
pub fn verify_token(keys: &KeySet, issuer: &str, token: &str, now: i64) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed)?;
    // Only EdDSA: never "none", never an algorithm the caller picks.
    if header.alg != "EdDSA" {
        return Err(TokenError::Malformed);
    }
    let key = match &header.kid {
        Some(kid) => keys.get(kid).ok_or(TokenError::UnknownKey)?,
        None => keys.primary(),
    };
    let sig: [u8; 64] = URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(TokenError::Malformed)?;
    key.verify_strict(format!("{h}.{p}").as_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| TokenError::BadSignature)?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed)?;
    if claims.iss != issuer || claims.aud != AUDIENCE {
        return Err(TokenError::WrongIssuer);
    }
    // A minute of leeway for clock skew between the issuer and us (saturating:
    // the times are the issuer's, and `exp` near i64::MAX must not overflow).
    if claims.exp.saturating_add(60) < now || claims.iat.saturating_sub(60) > now {
        return Err(TokenError::Expired);
    }
    if claims.roles.contains(&Role::Clerk) && claims.office.as_deref().is_none_or(str::is_empty) {
        return Err(TokenError::NoOffice);
    }
    Ok(claims)
}

/// A client interceptor that sends `authorization: Bearer <token>` on every call.
#[derive(Clone)]
pub struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl Bearer {
    pub fn new(token: &str) -> anyhow::Result<Bearer> {
        Ok(Bearer(Some(format!("Bearer {token}").parse()?)))
    }

    /// Sends nothing: for public calls, or a caller known by its client certificate.
    pub fn none() -> Bearer {
        Bearer(None)
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// Mints a token valid for `ttl_s` seconds from now.
pub fn mint(key: &SigningKey, issuer: &str, subject: &str, roles: &[Role], office: Option<&str>, ttl_s: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    sign_token(
        key,
        &Claims {
            iss: issuer.to_owned(),
            sub: subject.to_owned(),
            aud: AUDIENCE.to_owned(),
            roles: roles.to_vec(),
            office: office.map(str::to_owned),
            iat: now,
            exp: now.saturating_add(ttl_s),
            jti: new_jti(),
        },
    )
}

/// 16 random bytes, hex: unique for every token minted.
pub fn new_jti() -> String {
    let mut id = [0u8; 16];
    // Without the system's randomness a token cannot be minted safely anyway.
    getrandom::fill(&mut id).unwrap_or_else(|e| panic!("no system randomness for a token id: {e}"));
    hex::encode(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn claims(roles: Vec<Role>, office: Option<&str>) -> Claims {
        Claims {
            iss: "iss".into(),
            sub: "clerk-1".into(),
            aud: AUDIENCE.into(),
            roles,
            office: office.map(str::to_owned),
            iat: 1_000,
            exp: 2_000,
            jti: "j-1".into(),
        }
    }

    #[test]
    fn tokens_verify_and_refuse_tampering() {
        let k = key();
        let t = sign_token(&k, &claims(vec![Role::Clerk], Some("PC-60")));
        let vk = KeySet::new(k.verifying_key());
        assert_eq!(verify_token(&vk, "iss", &t, 1_500).map(|c| c.sub), Ok("clerk-1".into()));
        assert_eq!(verify_token(&vk, "other", &t, 1_500), Err(TokenError::WrongIssuer));
        assert_eq!(verify_token(&vk, "iss", &t, 2_100), Err(TokenError::Expired));
        // A payload swapped for one claiming the supervisor role keeps the old signature.
        let forged_claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(vec![Role::Supervisor], None)).unwrap());
        let mut parts: Vec<&str> = t.split('.').collect();
        parts[1] = &forged_claims;
        assert_eq!(
            verify_token(&vk, "iss", &parts.join("."), 1_500),
            Err(TokenError::BadSignature)
        );
        // Another issuer's key: its key id is unknown here.
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let t2 = sign_token(&other, &claims(vec![Role::Clerk], Some("PC-60")));
        assert_eq!(verify_token(&vk, "iss", &t2, 1_500), Err(TokenError::UnknownKey));
        // alg "none" is refused outright.
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), parts[1]);
        assert_eq!(verify_token(&vk, "iss", &none, 1_500), Err(TokenError::Malformed));
        assert_eq!(verify_token(&vk, "iss", "a.b", 1_500), Err(TokenError::Malformed));
        let no_office = sign_token(&k, &claims(vec![Role::Clerk], None));
        assert_eq!(verify_token(&vk, "iss", &no_office, 1_500), Err(TokenError::NoOffice));
    }

    /// Regression (found by tests/props.rs): times at the edges of i64 overflowed
    /// the leeway arithmetic (a panic in debug builds, a wrong verdict in release).
    #[test]
    fn times_at_the_edges_of_i64_do_not_overflow() {
        let k = key();
        let vk = KeySet::new(k.verifying_key());
        let mut c = claims(vec![Role::Auditor], None);
        c.exp = i64::MAX;
        assert_eq!(verify_token(&vk, "iss", &sign_token(&k, &c), 1_500), Ok(c.clone()));
        c.iat = i64::MIN;
        assert_eq!(verify_token(&vk, "iss", &sign_token(&k, &c), 1_500), Ok(c.clone()));
        c.exp = i64::MIN;
        assert_eq!(
            verify_token(&vk, "iss", &sign_token(&k, &c), 1_500),
            Err(TokenError::Expired)
        );
        c.exp = i64::MAX;
        c.iat = i64::MAX;
        assert_eq!(
            verify_token(&vk, "iss", &sign_token(&k, &c), i64::MAX - 61),
            Err(TokenError::Expired)
        );
    }
    /// RFC 8037 Appendix A.3: the thumbprint of the example Ed25519 key.
    #[test]
    fn key_ids_are_rfc_7638_thumbprints() {
        let bytes: [u8; 32] = hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        let vk = VerifyingKey::from_bytes(&bytes).expect("a key");
        assert_eq!(key_id(&vk), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    /// A token signed by `key` with `header` as its header, as any JWT library could make it.
    fn signed_with_header(key: &SigningKey, header: &str, c: &Claims) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).expect("claims"))
        );
        let sig = key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    #[test]
    fn a_key_set_checks_each_token_with_the_key_its_kid_names() {
        let (a, b) = (key(), SigningKey::from_bytes(&[8u8; 32]));
        let c = claims(vec![Role::Clerk], Some("PC-60"));
        // B is the current issuer key, A the previous one still accepted.
        let set = KeySet::new(b.verifying_key()).with_previous(a.verifying_key());
        assert_eq!(set.primary_id(), key_id(&b.verifying_key()));
        assert_eq!(set.iter().count(), 2);
        assert_eq!(
            KeySet::new(b.verifying_key())
                .with_previous(b.verifying_key())
                .iter()
                .count(),
            1,
            "a key listed twice is one key"
        );
        let (by_a, by_b) = (sign_token(&a, &c), sign_token(&b, &c));
        for t in [&by_a, &by_b] {
            assert_eq!(verify_token(&set, "iss", t, 1_500), Ok(c.clone()));
        }
        // The header names the key.
        let header: Header = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(by_a.split('.').next().expect("header"))
                .expect("base64"),
        )
        .expect("header");
        assert_eq!(header.kid, Some(key_id(&a.verifying_key())));
        // Once A is retired, its tokens name a key the set does not have.
        let b_only = KeySet::new(b.verifying_key());
        assert_eq!(verify_token(&b_only, "iss", &by_a, 1_500), Err(TokenError::UnknownKey));
        assert_eq!(verify_token(&b_only, "iss", &by_b, 1_500), Ok(c.clone()));
        // An unknown kid is refused whatever the signature (none at all here):
        // no key is tried.
        let unknown = signed_with_header(&a, r#"{"alg":"EdDSA","kid":"no-such-key"}"#, &c);
        let unsigned = format!("{}.", unknown.rsplit_once('.').expect("signature").0);
        assert_eq!(verify_token(&set, "iss", &unknown, 1_500), Err(TokenError::UnknownKey));
        assert_eq!(verify_token(&set, "iss", &unsigned, 1_500), Err(TokenError::UnknownKey));
        // A token without kid (minted before key ids) is checked against the
        // primary only: B's verifies, A's does not, although A is in the set.
        let old_b = signed_with_header(&b, r#"{"alg":"EdDSA","typ":"JWT"}"#, &c);
        let old_a = signed_with_header(&a, r#"{"alg":"EdDSA","typ":"JWT"}"#, &c);
        assert_eq!(verify_token(&set, "iss", &old_b, 1_500), Ok(c.clone()));
        assert_eq!(verify_token(&set, "iss", &old_a, 1_500), Err(TokenError::BadSignature));
        // A header naming A on a token signed by B: checked with A, refused.
        let kid_a = format!(
            r#"{{"alg":"EdDSA","typ":"JWT","kid":"{}"}}"#,
            key_id(&a.verifying_key())
        );
        let lying = signed_with_header(&b, &kid_a, &c);
        assert_eq!(verify_token(&set, "iss", &lying, 1_500), Err(TokenError::BadSignature));
        // The kid is part of what is signed: swapping it for B's breaks B's check too.
        let swapped = by_a.replacen(
            by_a.split('.').next().expect("header"),
            &URL_SAFE_NO_PAD.encode(format!(
                r#"{{"alg":"EdDSA","typ":"JWT","kid":"{}"}}"#,
                key_id(&b.verifying_key())
            )),
            1,
        );
        assert_eq!(
            verify_token(&set, "iss", &swapped, 1_500),
            Err(TokenError::BadSignature)
        );
        // A kid that is not a string is malformed, not a missing kid.
        let numeric = signed_with_header(&b, r#"{"alg":"EdDSA","kid":7}"#, &c);
        assert_eq!(verify_token(&set, "iss", &numeric, 1_500), Err(TokenError::Malformed));
    }
}
