//! Who is calling, and may they (DESIGN §6).
//!
//! Clerks, supervisors and auditors present a signed token (a JWT signed with
//! Ed25519, `alg: EdDSA`, by the configured issuer) carrying their roles and,
//! for clerks, their office. The portal presents either its TLS client
//! certificate (mTLS, subject common name listed in `portal_client_names`) or
//! a token with the `portal` role. Nothing else gets in: no credentials is
//! `UNAUTHENTICATED`, a valid caller without the role or the office is
//! `PERMISSION_DENIED`. The matrix of who may call what is [`allowed`], and
//! the README prints it.

use std::collections::HashMap;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
pub use vrs_kit::token::Role;
use vrs_kit::token::{KeySet, verify_token};

use crate::error::Error;

/// The RPCs that check a caller; the public transparency-log reads are not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rpc {
    SubmitApplication,
    GetApplication,
    InspectApplication,
    ListApplications,
    ApproveApplication,
    RejectApplication,
    WithdrawApplication,
    DrawPlate,
    RevokePlate,
    RecordAuctionWin,
    ListAuctionResults,
    ConfirmPayment,
    IssueCertificate,
    ReissueCertificate,
    ConfirmDelivery,
    RecordPhysicalCheck,
    ListActions,
    GetOutboxStatus,
    RetryDeadLetters,
    GetReceipt,
    RevokeAccess,
}

/// Whether a role may call an RPC, and if so whether only for its own office.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    Denied,
    /// Any application.
    Any,
    /// Only applications of the caller's office (clerks).
    OwnOffice,
}

/// The authorisation matrix. The README's table is this function, row by row.
pub fn allowed(rpc: Rpc, role: Role) -> Grant {
    use Grant::{Any, Denied, OwnOffice};
    use Role::*;
    use Rpc::*;
    match (rpc, role) {
        // Citizens act through the portal: submit, correct, draw, withdraw, pay.
        (SubmitApplication | WithdrawApplication | DrawPlate | ConfirmPayment, Portal) => Any,
        (GetApplication | GetReceipt, Portal | Supervisor | Auditor) => Any,
        (GetApplication | GetReceipt, Clerk) => OwnOffice,
        // Agency records hold personal data: staff only, not the portal.
        (InspectApplication, Supervisor | Auditor) => Any,
        (InspectApplication, Clerk) => OwnOffice,
        (ListApplications, Supervisor | Auditor) => Any,
        (ListApplications, Clerk) => OwnOffice,
        (
            ApproveApplication | RejectApplication | IssueCertificate | ReissueCertificate | RecordPhysicalCheck
            | RevokePlate,
            Clerk,
        ) => OwnOffice,
        // The post's delivery confirmation arrives through the portal, or the office hands over.
        (ConfirmDelivery, Portal) => Any,
        (ConfirmDelivery, Clerk) => OwnOffice,
        // Auction results come from the national auction platform, entered by a supervisor.
        (RecordAuctionWin | GetOutboxStatus | RetryDeadLetters | RevokeAccess, Supervisor) => Any,
        (ListActions | ListAuctionResults, Supervisor | Auditor) => Any,
        // A clerk may read their own actions (checked against the subject).
        (ListActions, Clerk) => OwnOffice,
        _ => Denied,
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who, as recorded in history: the token subject, or `portal`.
    pub subject: String,
    pub roles: Vec<Role>,
    /// The clerk's office, e.g. `PC-60`.
    pub office: Option<String>,
}

impl Caller {
    /// The strongest grant any of the caller's roles has for `rpc`, or PERMISSION_DENIED.
    pub fn require(&self, rpc: Rpc) -> Result<Grant, Error> {
        let grants = self.roles.iter().map(|r| allowed(rpc, *r));
        let best = grants.fold(Grant::Denied, |best, g| match (best, g) {
            (Grant::Any, _) | (_, Grant::Any) => Grant::Any,
            (Grant::OwnOffice, _) | (_, Grant::OwnOffice) => Grant::OwnOffice,
            _ => Grant::Denied,
        });
        if best == Grant::Denied {
            let roles: Vec<&str> = self.roles.iter().map(|r| r.as_str()).collect();
            return Err(Error::PermissionDenied(format!(
                "{rpc:?} is not allowed for role {}",
                roles.join("+")
            )));
        }
        Ok(best)
    }

    /// Checks `rpc` for an application of `office`.
    pub fn require_for_office(&self, rpc: Rpc, office: &str) -> Result<(), Error> {
        match self.require(rpc)? {
            Grant::Any => Ok(()),
            Grant::OwnOffice if self.office.as_deref() == Some(office) => Ok(()),
            _ => Err(Error::PermissionDenied(format!(
                "this application belongs to office {office}, not to the caller's office"
            ))),
        }
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Authentication and rate limits of the registration API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// `iss` every token must carry.
    pub issuer: String,
    /// The issuer's current Ed25519 public key, hex. Empty: derived from `issuer_seed_file`.
    pub issuer_public_key: String,
    /// For local runs and tests only: the issuer's seed, generated at first
    /// start, from which `vrsctl` mints tokens. Production sets `issuer_public_key`.
    pub issuer_seed_file: String,
    /// The issuer's previous public keys (hex), still accepted during a
    /// rotation: tokens they signed keep working until they expire. Each
    /// token names its key (`kid`) and is checked with that key only.
    pub issuer_previous_public_keys: Vec<String>,
    /// Common names of TLS client certificates (from our CA) that are the portal.
    pub portal_client_names: Vec<String>,
    /// Sustained calls per second allowed to one caller, by role; unauthenticated
    /// log reads are limited per client address with `public_rps`.
    pub portal_rps: f64,
    pub staff_rps: f64,
    pub public_rps: f64,
    /// Calls a caller may make at once above its rate.
    pub burst_seconds: f64,
    /// How often each replica reads the revocations (`RevokeAccess`) made on
    /// any replica: the longest a revoked token still works elsewhere.
    pub revocation_refresh_ms: u64,
    /// Failed authentications (bad, expired or revoked tokens, no
    /// credentials) allowed per second from one client address. Past it the
    /// address is refused before any signature is checked: verifying Ed25519
    /// is the expensive part of a call, and a flood of bad tokens must not buy
    /// it. Valid callers never spend from this budget.
    pub bad_credentials_rps: f64,
    /// Whether callers' rates are counted over all replicas (through the
    /// database) rather than per replica: with N replicas, per-replica
    /// limits allow N times the rate. See `limits`.
    pub shared_rate_limits: bool,
    /// How often each replica adds its admitted calls to the shared count
    /// and reads the totals: the replicas together can overshoot by what
    /// they admit in this interval, made up in the next window.
    pub rate_sync_ms: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            issuer: "vrs-local-issuer".into(),
            issuer_public_key: String::new(),
            issuer_seed_file: "var/token-issuer.key".into(),
            issuer_previous_public_keys: Vec::new(),
            portal_client_names: vec!["portal".into()],
            portal_rps: 20_000.0,
            staff_rps: 50.0,
            public_rps: 200.0,
            burst_seconds: 2.0,
            revocation_refresh_ms: 2_000,
            bad_credentials_rps: 20.0,
            shared_rate_limits: true,
            rate_sync_ms: 100,
        }
    }
}

/// An issuer public key (64 hex digits) from the setting `name`.
fn issuer_public_key(name: &str, hex: &str) -> anyhow::Result<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| anyhow::anyhow!("{name} must be an Ed25519 public key: 32 bytes in hex (64 digits)"))?;
    let key =
        VerifyingKey::from_bytes(&bytes).map_err(|_| anyhow::anyhow!("{name} is not a valid Ed25519 public key"))?;
    // A small-order key verifies no signature strictly: every token would be refused.
    anyhow::ensure!(!key.is_weak(), "{name} is a weak Ed25519 key (of small order)");
    Ok(key)
}

/// Verifies callers and keeps their rate budgets.
pub struct Authenticator {
    cfg: AuthConfig,
    /// The issuer's keys by key id: the current one and those still accepted.
    keys: KeySet,
    limits: std::sync::Arc<crate::limits::Limiter>,
    /// Revoked token ids and subjects (with the time up to which a subject's
    /// tokens are refused), as last read from the store.
    revoked: std::sync::RwLock<RevokedSet>,
}

#[derive(Default)]
struct RevokedSet {
    tokens: std::collections::HashSet<String>,
    subjects: HashMap<String, i64>,
}

impl Authenticator {
    pub fn new(cfg: &AuthConfig) -> anyhow::Result<Authenticator> {
        for (name, rate) in [
            ("portal_rps", cfg.portal_rps),
            ("staff_rps", cfg.staff_rps),
            ("public_rps", cfg.public_rps),
            ("burst_seconds", cfg.burst_seconds),
            ("bad_credentials_rps", cfg.bad_credentials_rps),
        ] {
            if !(rate.is_finite() && rate > 0.0) {
                anyhow::bail!("auth.{name} must be a positive number, got {rate}");
            }
        }
        let key = if cfg.issuer_public_key.trim().is_empty() {
            let seed = vrs_kit::keys::load_or_create_seed(std::path::Path::new(&cfg.issuer_seed_file))?;
            SigningKey::from_bytes(&seed).verifying_key()
        } else {
            issuer_public_key("auth.issuer_public_key", &cfg.issuer_public_key)?
        };
        let mut keys = KeySet::new(key);
        // Blank entries are none (an empty environment variable is one blank entry).
        for (i, hex) in cfg.issuer_previous_public_keys.iter().enumerate() {
            if !hex.trim().is_empty() {
                keys = keys.with_previous(issuer_public_key(
                    &format!("auth.issuer_previous_public_keys[{i}]"),
                    hex,
                )?);
            }
        }
        Ok(Authenticator {
            cfg: cfg.clone(),
            keys,
            limits: std::sync::Arc::new(crate::limits::Limiter::new(cfg.burst_seconds)),
            revoked: std::sync::RwLock::new(RevokedSet::default()),
        })
    }

    /// Takes in the revocations read from the store. Revocations are never
    /// lifted, so this only adds: a read that raced a revocation made here
    /// cannot drop it.
    pub fn set_revocations(&self, all: Vec<(crate::store::revocations::Revoked, i64)>) {
        for (what, at) in all {
            self.add_revocation(what, at);
        }
    }

    /// Adds one revocation at once (this replica; the others read it from the store).
    pub fn add_revocation(&self, what: crate::store::revocations::Revoked, at: i64) {
        use crate::store::revocations::Revoked;
        let mut set = self.revoked.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match what {
            Revoked::Token(jti) => {
                set.tokens.insert(jti);
            }
            Revoked::Subject(sub) => {
                let t = set.subjects.entry(sub).or_insert(at);
                *t = (*t).max(at);
            }
        }
    }

    fn is_revoked(&self, claims: &vrs_kit::token::Claims) -> bool {
        let set = self.revoked.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        (!claims.jti.is_empty() && set.tokens.contains(&claims.jti))
            || set.subjects.get(&claims.sub).is_some_and(|at| claims.iat <= *at)
    }

    /// How often revocations are re-read.
    pub fn revocation_refresh(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.cfg.revocation_refresh_ms.max(100))
    }

    /// The issuer's keys (current first), for pinning and the startup log.
    pub fn issuer_keys(&self) -> &KeySet {
        &self.keys
    }

    /// The caller of a request: bearer token first, then the portal's client certificate.
    ///
    /// An address that recently sent more bad credentials than
    /// `bad_credentials_rps` allows is refused first, before any signature is
    /// verified; each failure spends from that budget, success never does.
    pub fn caller<T>(&self, req: &tonic::Request<T>) -> Result<Caller, Error> {
        let peer = format!(
            "bad:{}",
            req.remote_addr().map(|a| a.ip().to_string()).unwrap_or_default()
        );
        self.limits.check(&peer, self.cfg.bad_credentials_rps)?;
        let caller = match self.identify(req) {
            Ok(c) => c,
            Err(e) => {
                // The refusal itself is the answer; an exhausted budget shows on the next call.
                let _ = self.limits.spend(&peer, self.cfg.bad_credentials_rps);
                return Err(e);
            }
        };
        let rate = if caller.has(Role::Portal) {
            self.cfg.portal_rps
        } else {
            self.cfg.staff_rps
        };
        let key = format!("caller:{}", caller.subject);
        if self.cfg.shared_rate_limits {
            self.limits.spend_shared(&key, rate)?;
        } else {
            self.limits.spend(&key, rate)?;
        }
        Ok(caller)
    }

    /// Rate limit for calls that need no credentials, by client address.
    pub fn public<T>(&self, req: &tonic::Request<T>) -> Result<(), Error> {
        let who = req.remote_addr().map(|a| a.ip().to_string()).unwrap_or_default();
        self.limits.spend(&format!("ip:{who}"), self.cfg.public_rps)
    }

    fn identify<T>(&self, req: &tonic::Request<T>) -> Result<Caller, Error> {
        if let Some(value) = req.metadata().get("authorization") {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| Error::Unauthenticated("authorization must be \"Bearer <token>\"".into()))?;
            let now = chrono::Utc::now().timestamp();
            let claims = verify_token(&self.keys, &self.cfg.issuer, token.trim(), now)
                .map_err(|e| Error::Unauthenticated(e.to_string()))?;
            if self.is_revoked(&claims) {
                return Err(Error::Unauthenticated("token revoked".into()));
            }
            return Ok(Caller {
                subject: claims.sub,
                roles: claims.roles,
                office: claims.office,
            });
        }
        if let Some(name) = vrs_kit::tls::peer_common_name(req)
            && self.cfg.portal_client_names.contains(&name)
        {
            return Ok(Caller {
                subject: "portal".into(),
                roles: vec![Role::Portal],
                office: None,
            });
        }
        Err(Error::Unauthenticated(
            "no credentials: present a bearer token or the portal's client certificate".into(),
        ))
    }

    /// The rate limiter, for the task that shares its counts ([`crate::limits::run_sync`]).
    pub fn limits(&self) -> std::sync::Arc<crate::limits::Limiter> {
        self.limits.clone()
    }

    /// How often the shared rate counts are synced, if they are shared.
    pub fn rate_sync(&self) -> Option<std::time::Duration> {
        self.cfg
            .shared_rate_limits
            .then(|| std::time::Duration::from_millis(self.cfg.rate_sync_ms.max(10)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_keys_are_checked_at_start_and_named_when_wrong() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hex_of = |seed: u8| hex::encode(SigningKey::from_bytes(&[seed; 32]).verifying_key().as_bytes());
        let cfg = AuthConfig {
            issuer_seed_file: dir.path().join("issuer.key").display().to_string(),
            issuer_public_key: hex_of(2),
            // Blank entries are none (an empty environment variable); a key twice is one.
            issuer_previous_public_keys: vec![hex_of(1), String::new(), hex_of(1), hex_of(2)],
            ..AuthConfig::default()
        };
        let auth = Authenticator::new(&cfg).expect("authenticator");
        let kids: Vec<&str> = auth.issuer_keys().iter().map(|(kid, _)| kid).collect();
        let id = |seed: u8| vrs_kit::token::key_id(&SigningKey::from_bytes(&[seed; 32]).verifying_key());
        assert_eq!(kids, [id(2), id(1)], "the current key first");
        for (bad, why) in [
            ("zz", "32 bytes in hex"),
            ("00", "32 bytes in hex"),
            // The identity point: of small order.
            (
                "0100000000000000000000000000000000000000000000000000000000000000",
                "weak",
            ),
        ] {
            let mut c = cfg.clone();
            c.issuer_previous_public_keys = vec![hex_of(1), bad.into()];
            let err = Authenticator::new(&c).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                err.contains("auth.issuer_previous_public_keys[1]") && err.contains(why),
                "{err}"
            );
            let mut c = cfg.clone();
            c.issuer_public_key = bad.into();
            let err = Authenticator::new(&c).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.starts_with("auth.issuer_public_key ") && err.contains(why), "{err}");
        }
    }

    #[test]
    fn clerks_act_only_on_their_office() {
        let clerk = Caller {
            subject: "c".into(),
            roles: vec![Role::Clerk],
            office: Some("PC-60".into()),
        };
        assert!(clerk.require_for_office(Rpc::ApproveApplication, "PC-60").is_ok());
        assert!(matches!(
            clerk.require_for_office(Rpc::ApproveApplication, "PC-01"),
            Err(Error::PermissionDenied(_))
        ));
        assert!(matches!(
            clerk.require(Rpc::SubmitApplication),
            Err(Error::PermissionDenied(_))
        ));
        let auditor = Caller {
            subject: "a".into(),
            roles: vec![Role::Auditor],
            office: None,
        };
        assert!(auditor.require_for_office(Rpc::GetApplication, "PC-01").is_ok());
        assert!(auditor.require(Rpc::ApproveApplication).is_err());
    }
}
