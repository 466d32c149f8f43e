//! Caller tokens: JWTs signed with Ed25519 (`alg: EdDSA`) carrying roles and an office.
//!
//! The issuer (in production the police identity provider; locally a seed file
//! that `vrsctl` and the tests read) signs; the registration service verifies
//! with the issuer's public key only. The format is plain RFC 7519 / RFC 8037,
//! so any JWT library can mint tokens for us.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

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
}

/// Signs a token (the issuer's side: tests, `vrsctl token`, the local stack).
pub fn sign_token(key: &SigningKey, claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#);
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
    #[error("token from another issuer or for another audience")]
    WrongIssuer,
    #[error("token expired")]
    Expired,
    #[error("clerk token without an office")]
    NoOffice,
}

/// Checks a token against the issuer's key; `now` in seconds.
pub fn verify_token(key: &VerifyingKey, issuer: &str, token: &str, now: i64) -> Result<Claims, TokenError> {
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
        let vk = k.verifying_key();
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
        // Another issuer's key.
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let t2 = sign_token(&other, &claims(vec![Role::Clerk], Some("PC-60")));
        assert_eq!(verify_token(&vk, "iss", &t2, 1_500), Err(TokenError::BadSignature));
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
        let vk = k.verifying_key();
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
}
