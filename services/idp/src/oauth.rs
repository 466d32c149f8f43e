//! The protocol, without HTTP: reading parameters, checking an authorisation
//! request, the one-time codes, client authentication at the token endpoint,
//! PKCE, and signing the ID token.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use vrs_kit::html::with_query;
use vrs_kit::keys::same_secret;
use vrs_kit::token::Role;

use crate::Client;

/// How long a code can be redeemed (RFC 6749 §4.1.2 recommends at most ten minutes).
pub const CODE_TTL: Duration = Duration::from_secs(60);

/// Longest `state` or `nonce` kept: they come back in URLs and tokens.
const MAX_OPAQUE_LEN: usize = 1024;

/// The parameters of a query string or form body, by name.
#[derive(Debug, Default)]
pub struct Params {
    values: HashMap<String, String>,
    /// The names sent more than once (RFC 6749 §3.1 forbids it), in the
    /// order they were first repeated.
    duplicates: Vec<String>,
}

impl Params {
    pub fn parse(input: &[u8]) -> Params {
        let mut p = Params::default();
        for (name, value) in form_urlencoded::parse(input) {
            if p.values.contains_key(name.as_ref()) {
                if !p.duplicates.iter().any(|d| *d == name) {
                    p.duplicates.push(name.into_owned());
                }
            } else {
                p.values.insert(name.into_owned(), value.into_owned());
            }
        }
        p
    }

    /// The value of `name`; one sent empty counts as not sent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The first name sent more than once.
    pub fn duplicate(&self) -> Option<&str> {
        self.duplicates.first().map(String::as_str)
    }

    /// Whether `name` was sent more than once (not only the first such name:
    /// `state` repeated must not hide a repeated `client_id`).
    fn is_duplicate(&self, name: &str) -> bool {
        self.duplicates.iter().any(|d| d == name)
    }
}

/// Why an authorisation request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The client or the redirect URI is wrong: the browser must not be sent
    /// anywhere (RFC 6749 §4.1.2.1), so it gets a page.
    Page { vi: &'static str, en: &'static str },
    /// Anything else: back to the client's redirect URI with `error`.
    Redirect(String),
}

/// A checked authorisation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: String,
    pub nonce: Option<String>,
    pub code_challenge: String,
}

impl Authorization {
    /// The request, as the sign-in form posts it back.
    pub fn hidden_fields(&self) -> Vec<(&'static str, &str)> {
        let mut f = vec![
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("scope", self.scope.as_str()),
            ("state", self.state.as_str()),
            ("code_challenge", self.code_challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if let Some(n) = &self.nonce {
            f.push(("nonce", n.as_str()));
        }
        f
    }
}

/// Checks an authorisation request: the client and its redirect URI first,
/// since an error can only be sent back to a redirect URI known to be the
/// client's; then the rest.
pub fn validate(clients: &[Client], p: &Params) -> Result<Authorization, Refusal> {
    if p.is_duplicate("client_id") || p.is_duplicate("redirect_uri") {
        return Err(Refusal::Page {
            vi: "Yêu cầu gửi client_id hoặc redirect_uri nhiều lần.",
            en: "client_id or redirect_uri was sent more than once.",
        });
    }
    let Some(client) = p
        .get("client_id")
        .and_then(|id| clients.iter().find(|c| c.client_id == id))
    else {
        return Err(Refusal::Page {
            vi: "Ứng dụng yêu cầu đăng nhập chưa được đăng ký với cổng định danh.",
            en: "The application asking for a sign-in is not registered.",
        });
    };
    let Some(redirect_uri) = p
        .get("redirect_uri")
        .filter(|uri| client.redirect_uris.iter().any(|r| r == uri))
    else {
        return Err(Refusal::Page {
            vi: "Địa chỉ quay lại (redirect_uri) không phải địa chỉ đã đăng ký của ứng dụng.",
            en: "The redirect URI is not one registered for the application.",
        });
    };
    let state = p.get("state");
    let back = |error: &str, description: &str| {
        let mut pairs = vec![("error", error), ("error_description", description)];
        if let Some(s) = state {
            pairs.push(("state", s));
        }
        Refusal::Redirect(with_query(redirect_uri, &pairs))
    };
    if let Some(name) = p.duplicate() {
        return Err(back(
            "invalid_request",
            &format!("parameter {name} sent more than once"),
        ));
    }
    let Some(state) = state else {
        return Err(back("invalid_request", "state is required"));
    };
    if state.len() > MAX_OPAQUE_LEN || p.get("nonce").is_some_and(|n| n.len() > MAX_OPAQUE_LEN) {
        return Err(back("invalid_request", "state or nonce is too long"));
    }
    match p.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(back(
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
        None => return Err(back("invalid_request", "response_type is required")),
    }
    let scope = p.get("scope").unwrap_or_default();
    if !scope.split(' ').any(|s| s == "openid") {
        return Err(back("invalid_scope", "the scope must include openid"));
    }
    if p.get("request").is_some() {
        return Err(back("request_not_supported", "request objects are not supported"));
    }
    if p.get("request_uri").is_some() {
        return Err(back("request_uri_not_supported", "request_uri is not supported"));
    }
    // Every sign-in asks for the password: none can happen without the user.
    if p.get("prompt").is_some_and(|pr| pr.split(' ').any(|x| x == "none")) {
        return Err(back("login_required", "this provider keeps no sign-in session"));
    }
    match p.get("code_challenge_method") {
        Some("S256") => {}
        Some("plain") | None => {
            return Err(back(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted)",
            ));
        }
        Some(_) => return Err(back("invalid_request", "transform algorithm not supported")),
    }
    let Some(code_challenge) = p.get("code_challenge").filter(|c| pkce_text(c)) else {
        return Err(back(
            "invalid_request",
            "code_challenge is required: 43 to 128 characters of A-Z a-z 0-9 - . _ ~",
        ));
    };
    Ok(Authorization {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope: scope.to_owned(),
        state: state.to_owned(),
        nonce: p.get("nonce").map(str::to_owned),
        code_challenge: code_challenge.to_owned(),
    })
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters (verifiers and S256 challenges alike).
fn pkce_text(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6: BASE64URL(SHA256(verifier)) == challenge.
pub fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    pkce_text(verifier) && same_secret(&URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())), challenge)
}

/// `scheme://host[:port]` of an absolute http(s) URL (scheme and host in
/// lower case, the default port dropped), as a CSP source and for comparing
/// origins; `None` for anything else.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .to_ascii_lowercase();
    let host = host.strip_suffix(default_port).unwrap_or(&host);
    let plain = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if host.is_empty() || host.starts_with(':') || !plain {
        return None;
    }
    Some(format!("{scheme}://{host}"))
}

/// What a code stands for until it is redeemed.
#[derive(Debug, Clone)]
pub struct Grant {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    /// Index into the provider's accounts.
    pub account: usize,
    /// When the password was checked (the ID token's `auth_time`), Unix seconds.
    pub auth_time: i64,
}

/// The codes issued in the last [`CODE_TTL`], by the SHA-256 of the code (so
/// the codes themselves are not kept); a redeemed code stays as a marker
/// until it would have expired, so a second redemption is told apart.
#[derive(Debug, Default)]
pub struct Codes {
    entries: HashMap<[u8; 32], (Instant, Option<Grant>)>,
}

/// The outcome of presenting a code.
#[derive(Debug)]
pub enum Redeemed {
    Fresh(Grant),
    /// Redeemed before: a replay.
    Again,
    Unknown,
}

impl Codes {
    /// A new one-time code for `grant` (32 random bytes, base64url); expired
    /// codes are dropped first.
    pub fn issue(&mut self, grant: Grant, now: Instant) -> anyhow::Result<String> {
        self.entries.retain(|_, (expires, _)| *expires > now);
        let code = vrs_kit::keys::random_token()?;
        self.entries
            .insert(Sha256::digest(code.as_bytes()).into(), (now + CODE_TTL, Some(grant)));
        Ok(code)
    }

    /// Takes the grant of `code`, once.
    pub fn redeem(&mut self, code: &str, now: Instant) -> Redeemed {
        let id: [u8; 32] = Sha256::digest(code.as_bytes()).into();
        match self.entries.get_mut(&id) {
            Some((expires, _)) if *expires <= now => {
                self.entries.remove(&id);
                Redeemed::Unknown
            }
            Some((_, grant)) => grant.take().map_or(Redeemed::Again, Redeemed::Fresh),
            None => Redeemed::Unknown,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A token endpoint error (RFC 6749 §5.2).
#[derive(Debug, PartialEq, Eq)]
pub struct TokenRefusal {
    pub error: &'static str,
    pub description: String,
}

impl TokenRefusal {
    pub fn new(error: &'static str, description: &str) -> TokenRefusal {
        TokenRefusal {
            error,
            description: description.to_owned(),
        }
    }

    pub fn request(description: &str) -> TokenRefusal {
        TokenRefusal::new("invalid_request", description)
    }

    pub fn request_owned(description: String) -> TokenRefusal {
        TokenRefusal {
            error: "invalid_request",
            description,
        }
    }

    pub fn grant(description: &str) -> TokenRefusal {
        TokenRefusal::new("invalid_grant", description)
    }

    pub fn client(description: &str) -> TokenRefusal {
        TokenRefusal::new("invalid_client", description)
    }

    pub fn server() -> TokenRefusal {
        TokenRefusal::new("server_error", "the tokens could not be made")
    }

    /// 401 for a client that failed to authenticate, 500 for our own
    /// failure, 400 for everything else.
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self.error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Decodes one `application/x-www-form-urlencoded` component, as the id and
/// secret in HTTP Basic are encoded (RFC 6749 §2.3.1).
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The id and secret of an `Authorization: Basic` header.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// The client making a token request (RFC 6749 §2.3.1, §3.2.1): HTTP Basic,
/// or `client_id` and `client_secret` in the body, or `client_id` alone for a
/// public client. One method only.
pub fn authenticate<'a>(
    clients: &'a [Client],
    authorization: Option<&str>,
    p: &Params,
) -> Result<&'a Client, TokenRefusal> {
    let (id, secret) = match authorization {
        Some(value) => {
            let (id, secret) = basic_credentials(value)
                .ok_or_else(|| TokenRefusal::client("the Authorization header is not valid HTTP Basic"))?;
            if p.get("client_secret").is_some() {
                return Err(TokenRefusal::request("more than one client authentication method"));
            }
            if p.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(TokenRefusal::request("client_id differs from the authenticated client"));
            }
            (id, Some(secret).filter(|s| !s.is_empty()))
        }
        None => {
            let id = p
                .get("client_id")
                .ok_or_else(|| TokenRefusal::client("client authentication is required"))?;
            (id.to_owned(), p.get("client_secret").map(str::to_owned))
        }
    };
    let client = clients
        .iter()
        .find(|c| c.client_id == id)
        .ok_or_else(|| TokenRefusal::client("unknown client"))?;
    let authenticated = match (client.client_secret.is_empty(), secret) {
        (true, None) => true,
        (true, Some(_)) => false,
        (false, Some(s)) => same_secret(&s, &client.client_secret),
        (false, None) => false,
    };
    if authenticated {
        Ok(client)
    } else {
        Err(TokenRefusal::client("client authentication failed"))
    }
}

/// The claims of an ID token (OpenID Connect Core §2), with the roles and
/// office the console shows.
#[derive(Debug, Serialize)]
pub struct IdClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub iat: i64,
    pub exp: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office: Option<&'a str>,
    pub roles: &'a [Role],
}

/// A compact JWS (RFC 7515) of `claims_json` under `header_json`, signed
/// with Ed25519, as [`vrs_kit::token::sign_token`] signs access tokens.
pub fn sign_jws(key: &SigningKey, header_json: &str, claims_json: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(claims_json)
    );
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clients() -> Vec<Client> {
        vec![Client {
            client_id: "app".into(),
            client_secret: String::new(),
            redirect_uris: vec!["https://app.example/cb?tenant=1".into()],
        }]
    }

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn request(extra: &[(&str, &str)]) -> Params {
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", "app"),
            ("redirect_uri", "https://app.example/cb?tenant=1"),
            ("scope", "openid profile"),
            ("state", "s t"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            pairs.retain(|(name, _)| name != k);
            pairs.push((k, v));
        }
        let q = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Params::parse(q.as_bytes())
    }

    #[test]
    fn the_rfc_7636_example_verifier_matches_its_challenge() {
        assert!(verifier_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            CHALLENGE
        ));
        assert!(!verifier_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
            CHALLENGE
        ));
        assert!(!verifier_matches("short", CHALLENGE));
    }

    #[test]
    fn errors_go_back_to_a_known_redirect_uri_only() {
        assert!(validate(&clients(), &request(&[])).is_ok());
        let page = validate(&clients(), &request(&[("redirect_uri", "https://evil.example/cb")]));
        assert!(matches!(page, Err(Refusal::Page { .. })), "{page:?}");
        let page = validate(&clients(), &request(&[("client_id", "other")]));
        assert!(matches!(page, Err(Refusal::Page { .. })), "{page:?}");
        let Err(Refusal::Redirect(to)) = validate(&clients(), &request(&[("response_type", "token")])) else {
            panic!("a redirect");
        };
        assert_eq!(
            to,
            "https://app.example/cb?tenant=1&error=unsupported_response_type\
             &error_description=only+response_type%3Dcode+is+supported&state=s+t"
        );
        for (extra, error) in [
            (("scope", "profile"), "invalid_scope"),
            (("code_challenge_method", "plain"), "invalid_request"),
            (("code_challenge", "too-short"), "invalid_request"),
            (("prompt", "none"), "login_required"),
        ] {
            let Err(Refusal::Redirect(to)) = validate(&clients(), &request(&[extra])) else {
                panic!("a redirect for {extra:?}");
            };
            assert!(to.contains(&format!("error={error}&")), "{to}");
        }
    }

    #[test]
    fn a_parameter_sent_twice_is_refused() {
        let twice = Params::parse(b"client_id=app&client_id=other");
        assert!(matches!(validate(&clients(), &twice), Err(Refusal::Page { .. })));
        let q = "response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Ftenant%3D1\
                 &scope=openid&state=1&state=2";
        let Err(Refusal::Redirect(to)) = validate(&clients(), &Params::parse(q.as_bytes())) else {
            panic!("a redirect");
        };
        assert!(to.contains("error=invalid_request"), "{to}");
        // A repeated client_id after a repeated state still gets a page, never a redirect.
        let both =
            Params::parse(b"state=1&state=2&client_id=app&client_id=other&redirect_uri=https%3A%2F%2Fapp.example%2Fcb");
        assert!(matches!(validate(&clients(), &both), Err(Refusal::Page { .. })));
    }

    #[test]
    fn origins_are_scheme_host_and_port() {
        assert_eq!(
            origin("http://127.0.0.1:8091/auth/callback").as_deref(),
            Some("http://127.0.0.1:8091")
        );
        assert_eq!(
            origin("HTTPS://App.Example:443/x?y").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(origin("https://u:p@h.example/").as_deref(), Some("https://h.example"));
        assert_eq!(origin("http://[::1]:80/").as_deref(), Some("http://[::1]"));
        assert_eq!(origin("javascript://x/"), None);
        assert_eq!(origin("/relative"), None);
        assert_eq!(origin("https://a;b/"), None);
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20app:s%3Acr+t"));
        assert_eq!(
            basic_credentials(&header),
            Some(("my app".to_owned(), "s:cr t".to_owned()))
        );
        assert_eq!(basic_credentials("Bearer abc"), None);
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%+1"), None);
    }

    #[test]
    fn codes_are_single_use_and_expire() {
        let grant = Grant {
            client_id: "app".into(),
            redirect_uri: "https://app.example/cb".into(),
            code_challenge: CHALLENGE.into(),
            nonce: None,
            account: 0,
            auth_time: 0,
        };
        let mut codes = Codes::default();
        let t0 = Instant::now();
        let code = codes.issue(grant.clone(), t0).expect("a code");
        assert!(matches!(codes.redeem(&code, t0), Redeemed::Fresh(_)));
        assert!(matches!(codes.redeem(&code, t0), Redeemed::Again));
        assert!(matches!(codes.redeem("nonsense", t0), Redeemed::Unknown));
        let late = codes.issue(grant.clone(), t0).expect("a code");
        assert!(matches!(codes.redeem(&late, t0 + CODE_TTL), Redeemed::Unknown));
        // Issuing sweeps what has expired.
        codes.issue(grant, t0 + CODE_TTL * 2).expect("a code");
        assert_eq!(codes.len(), 1);
    }
}
