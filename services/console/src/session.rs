//! Signed-in clerks' sessions, and the sign-ins under way.
//!
//! A session lives in this process's memory, named by a 256-bit random
//! cookie value (`HttpOnly`, `Secure`, `SameSite=Lax`, host-only): the
//! browser holds nothing but that name, so the access token never reaches
//! the page's scripts, and signing out or an idle timeout ends the session
//! here, at once. A session ends at the first of: sign-out, `idle_timeout`
//! without a request, the access token's expiry. Each form carries the
//! session's CSRF token, compared in constant time on every POST.
//!
//! Being in memory, sessions do not survive a restart and are not shared
//! between replicas: the k8s Service keeps a clerk on one replica (client
//! affinity), and a restart asks the clerk to sign in again, which the
//! identity provider makes one click when its own session is still open.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use vrs_kit::token::Role;

/// The session cookie. `__Host-`: only set over HTTPS (or loopback), for the
/// whole host, never a parent domain.
pub const COOKIE: &str = "__Host-vrs-console";
/// Binds a sign-in under way to the browser that started it (the `state`).
pub const SIGNIN_COOKIE: &str = "__Host-vrs-signin";

/// A signed-in clerk (or supervisor, or auditor).
#[derive(Debug, Clone)]
pub struct Session {
    /// The identity provider's subject: the clerk's account name.
    pub subject: String,
    /// The name to greet, from the ID token.
    pub name: String,
    pub roles: Vec<Role>,
    pub office: Option<String>,
    /// The access token sent to the registration service on every call.
    pub token: String,
    /// Compared with every form's `csrf` field.
    pub csrf: String,
    /// Unix seconds: the access token's expiry, the session's hard end.
    pub expires_at: i64,
    last_seen: Instant,
    /// A message for the next page (after a redirect), shown once.
    pub flash: Option<String>,
}

impl Session {
    pub fn new(
        subject: String,
        name: String,
        roles: Vec<Role>,
        office: Option<String>,
        token: String,
        expires_at: i64,
    ) -> Session {
        Session {
            subject,
            name,
            roles,
            office,
            token,
            csrf: random_token(),
            expires_at,
            last_seen: Instant::now(),
            flash: None,
        }
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether `given` is this session's CSRF token (constant time).
    pub fn csrf_ok(&self, given: &str) -> bool {
        vrs_kit::keys::same_secret(&self.csrf, given)
    }
}

/// A sign-in under way: what the callback needs to finish it.
#[derive(Debug, Clone)]
pub struct Pending {
    pub verifier: String,
    pub nonce: String,
    /// The console path to return to (a path of ours, never a full URL).
    pub next: String,
    started: Instant,
}

/// Why there is no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// No cookie, or one this process never issued (another replica's, or before a restart).
    Unknown,
    /// Idle for longer than the timeout.
    Idle,
    /// The access token expired.
    Expired,
}

/// Every session and sign-in under way of this process.
pub struct Sessions {
    idle: Duration,
    /// Keyed by the SHA-256 of the cookie value, so that what this map holds
    /// (a heap dump, a debug print) does not give away a usable cookie.
    live: Mutex<HashMap<[u8; 32], Session>>,
    pending: Mutex<HashMap<String, Pending>>,
}

/// A sign-in must be finished within this time.
const SIGNIN_WINDOW: Duration = Duration::from_secs(600);
/// At most this many sign-ins under way: a flood of `/auth/login` cannot grow memory without bound.
const MAX_PENDING: usize = 10_000;

impl Sessions {
    pub fn new(idle: Duration) -> Sessions {
        Sessions {
            idle,
            live: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a session; returns the cookie value.
    pub fn open(&self, session: Session) -> String {
        let cookie = random_token();
        let mut live = lock(&self.live);
        let now = Instant::now();
        let unix = chrono::Utc::now().timestamp();
        live.retain(|_, s| now.duration_since(s.last_seen) < self.idle && s.expires_at > unix);
        live.insert(key(&cookie), session);
        cookie
    }

    /// The session named by `cookie`, touched (its idle clock restarts).
    pub fn touch(&self, cookie: &str) -> Result<Session, Ended> {
        let mut live = lock(&self.live);
        let k = key(cookie);
        let Some(s) = live.get_mut(&k) else {
            return Err(Ended::Unknown);
        };
        let now = Instant::now();
        if now.duration_since(s.last_seen) >= self.idle {
            live.remove(&k);
            return Err(Ended::Idle);
        }
        if s.expires_at <= chrono::Utc::now().timestamp() {
            live.remove(&k);
            return Err(Ended::Expired);
        }
        s.last_seen = now;
        let copy = s.clone();
        s.flash = None;
        Ok(copy)
    }

    /// Leaves a message for the session's next page.
    pub fn flash(&self, cookie: &str, message: String) {
        if let Some(s) = lock(&self.live).get_mut(&key(cookie)) {
            s.flash = Some(message);
        }
    }

    /// Ends a session (sign-out, or the registration service no longer accepts its token).
    pub fn close(&self, cookie: &str) {
        lock(&self.live).remove(&key(cookie));
    }

    /// Records a sign-in under way; returns its `state`.
    pub fn begin(&self, verifier: String, nonce: String, next: String) -> String {
        let state = random_token();
        let mut pending = lock(&self.pending);
        let now = Instant::now();
        pending.retain(|_, p| now.duration_since(p.started) < SIGNIN_WINDOW);
        if pending.len() >= MAX_PENDING {
            // The oldest go first; a clerk whose sign-in is dropped just starts again.
            if let Some(oldest) = pending.iter().min_by_key(|(_, p)| p.started).map(|(k, _)| k.clone()) {
                pending.remove(&oldest);
            }
        }
        pending.insert(
            state.clone(),
            Pending {
                verifier,
                nonce,
                next,
                started: now,
            },
        );
        state
    }

    /// Takes the sign-in of `state` (once: a replayed callback finds nothing).
    pub fn finish(&self, state: &str) -> Option<Pending> {
        let p = lock(&self.pending).remove(state)?;
        (p.started.elapsed() < SIGNIN_WINDOW).then_some(p)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn key(cookie: &str) -> [u8; 32] {
    Sha256::digest(cookie.as_bytes()).into()
}

/// 32 random bytes, base64url: session names, CSRF tokens, PKCE verifiers, states, nonces.
pub fn random_token() -> String {
    // Without the system's randomness no session can be made safely.
    vrs_kit::keys::random_token().unwrap_or_else(|e| panic!("{e}"))
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::new(
            "clerk-30".into(),
            "Nguyễn Văn An".into(),
            vec![Role::Clerk],
            Some("PC-30".into()),
            "t".into(),
            chrono::Utc::now().timestamp() + 600,
        )
    }

    #[test]
    fn a_session_ends_when_idle_and_when_closed() {
        let sessions = Sessions::new(Duration::from_millis(50));
        let c = sessions.open(session());
        assert_eq!(sessions.touch(&c).map(|s| s.subject).as_deref(), Ok("clerk-30"));
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(sessions.touch(&c).err(), Some(Ended::Idle));
        assert_eq!(sessions.touch(&c).err(), Some(Ended::Unknown));
        let sessions = Sessions::new(Duration::from_secs(60));
        let c = sessions.open(session());
        sessions.close(&c);
        assert_eq!(sessions.touch(&c).err(), Some(Ended::Unknown));
        let mut expired = session();
        expired.expires_at = chrono::Utc::now().timestamp() - 1;
        let c = sessions.open(expired);
        assert_eq!(sessions.touch(&c).err(), Some(Ended::Expired));
    }

    #[test]
    fn a_flash_is_shown_once() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let c = sessions.open(session());
        sessions.flash(&c, "done".into());
        assert_eq!(sessions.touch(&c).ok().and_then(|s| s.flash).as_deref(), Some("done"));
        assert_eq!(sessions.touch(&c).ok().and_then(|s| s.flash), None);
    }

    #[test]
    fn a_sign_in_finishes_once() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let state = sessions.begin("v".into(), "n".into(), "/queue".into());
        assert_eq!(sessions.finish(&state).map(|p| p.next).as_deref(), Some("/queue"));
        assert!(sessions.finish(&state).is_none(), "a replayed callback");
    }

    #[test]
    fn csrf_and_cookies() {
        let s = session();
        assert!(s.csrf_ok(&s.csrf.clone()));
        assert!(!s.csrf_ok(""));
        assert!(!s.csrf_ok(&random_token()));
        assert_eq!(cookie("a=1; __Host-vrs-console=xyz; b=2", COOKIE), Some("xyz"));
        assert_eq!(cookie("a=1", COOKIE), None);
    }
}
