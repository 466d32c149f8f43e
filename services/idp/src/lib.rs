//! A stand-in for the police identity provider: a small OpenID Connect
//! provider (authorisation code flow with PKCE, OpenID Connect Core 1.0,
//! RFC 6749, RFC 7636) for `vrs-stack` and the tests. Production uses the
//! real provider; this one lets the console's sign-in run end to end on a
//! laptop, with the same protocol.
//!
//! The access tokens it issues are exactly the ones the registration service
//! already verifies ([`vrs_kit::token::sign_token`], signed with the token
//! issuer's Ed25519 seed), so nothing downstream knows it is a stand-in. The
//! ID tokens are signed with the same key, published in `/jwks.json`.
//!
//! How a sign-in flows:
//!
//! 1. the relying party (the console) sends the browser to `GET /authorize`
//!    with its client id, redirect URI, `state`, `nonce` and PKCE challenge;
//!    [`oauth::validate`] checks the client and redirect URI first (a bad one
//!    gets an error page, never a redirect), then the rest (errors go back to
//!    the redirect URI, RFC 6749 §4.1.2.1);
//! 2. the sign-in page ([`pages`]) posts the same parameters with a user
//!    name and password to `POST /authorize`, which checks them again and the
//!    password ([`accounts`]), and redirects with a one-time code;
//! 3. the relying party redeems the code at `POST /token` with its PKCE
//!    verifier (and its secret, for a confidential client) for an access
//!    token and an ID token.
//!
//! There is no sign-in session: every `/authorize` asks for the password, so
//! `/logout` only sends the browser back.

pub mod accounts;
pub mod oauth;
pub mod pages;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use vrs_kit::token::Role;

use crate::oauth::{Params, Refusal, TokenRefusal};

/// `VRS_IDP__*`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Where the provider listens (plain HTTP: TLS ends at the ingress).
    pub listen: SocketAddr,
    /// The provider's issuer URL: the `iss` of its ID tokens and of its
    /// discovery document, which relying parties compare exactly. Empty:
    /// `http://` and the bound address (loopback when bound to all addresses).
    pub issuer_url: String,
    /// The token issuer's Ed25519 seed (hex), the one the registration
    /// service verifies with; created at first start when missing.
    pub signing_key_file: String,
    /// The `iss` of access tokens: the registration service's `auth.issuer`.
    pub access_token_issuer: String,
    /// Lifetime of access and ID tokens, in seconds: 8 hours, a working
    /// shift, by default. The console's session lasts as long as its token
    /// (there are no refresh tokens); a supervisor's `RevokeAccess` ends it
    /// sooner on every registration replica.
    pub access_token_ttl_s: i64,
    /// The relying parties allowed to ask for sign-ins.
    pub clients: Vec<Client>,
    /// The accounts file (TOML `[[accounts]]`), read when `accounts` is
    /// empty, and created with fresh random passwords when missing.
    pub accounts_file: String,
    /// Accounts given directly (tests, a fixed stack); when non-empty,
    /// `accounts_file` is not read.
    pub accounts: Vec<Account>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8092)),
            issuer_url: String::new(),
            signing_key_file: "var/token-issuer.key".into(),
            access_token_issuer: "vrs-local-issuer".into(),
            access_token_ttl_s: 8 * 3600,
            clients: vec![Client {
                client_id: "vrs-console".into(),
                client_secret: String::new(),
                redirect_uris: vec!["http://127.0.0.1:8091/auth/callback".into()],
            }],
            accounts_file: "var/idp-accounts.toml".into(),
            accounts: Vec::new(),
        }
    }
}

/// A relying party.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Client {
    pub client_id: String,
    /// Empty: a public client, which proves itself by PKCE alone.
    pub client_secret: String,
    /// Where codes may be sent, compared exactly (RFC 6749 §3.1.2.3); their
    /// origins are also where the sign-in form may lead (the CSP's `form-action`).
    pub redirect_uris: Vec<String>,
}

/// Never prints the secret.
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(&self.client_secret))
            .field("redirect_uris", &self.redirect_uris)
            .finish()
    }
}

/// Someone who can sign in.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Account {
    /// The token's `sub`.
    pub username: String,
    pub password: String,
    /// Display name (Vietnamese, with diacritics): the ID token's `name`.
    pub name: String,
    pub roles: Vec<Role>,
    /// The registry office of a clerk (the registration service refuses a
    /// clerk's token without one).
    pub office: Option<String>,
}

/// Never prints the password.
impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .field("name", &self.name)
            .field("roles", &self.roles)
            .field("office", &self.office)
            .finish()
    }
}

fn redacted(secret: &str) -> &'static str {
    if secret.is_empty() { "" } else { "<redacted>" }
}

/// The provider, bound, not yet serving.
pub struct Provider {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    inner: Arc<Inner>,
}

/// What every handler reads; the codes are the only thing that changes.
struct Inner {
    issuer: String,
    access_token_issuer: String,
    ttl_s: i64,
    key: SigningKey,
    kid: String,
    clients: Vec<Client>,
    accounts: Vec<Account>,
    codes: Mutex<oauth::Codes>,
    csp: HeaderValue,
}

impl Inner {
    fn codes(&self) -> MutexGuard<'_, oauth::Codes> {
        self.codes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Provider {
    /// Checks the clients, binds the port, loads (or creates) the signing key
    /// and the accounts.
    pub async fn build(cfg: &Config) -> anyhow::Result<Provider> {
        check_clients(&cfg.clients)?;
        anyhow::ensure!(cfg.access_token_ttl_s > 0, "access_token_ttl_s must be positive");
        let accounts = if cfg.accounts.is_empty() {
            accounts::load_or_create(Path::new(&cfg.accounts_file))?
        } else {
            cfg.accounts.clone()
        };
        accounts::check(&accounts)?;
        let seed = vrs_kit::keys::load_or_create_seed(Path::new(&cfg.signing_key_file))
            .with_context(|| format!("signing_key_file {}", cfg.signing_key_file))?;
        let key = SigningKey::from_bytes(&seed);
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("binding {}", cfg.listen))?;
        let addr = listener.local_addr()?;
        let issuer = if cfg.issuer_url.is_empty() {
            // A browser cannot go to 0.0.0.0: name loopback instead.
            let mut shown = addr;
            if shown.ip().is_unspecified() {
                shown.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{shown}")
        } else {
            cfg.issuer_url.trim_end_matches('/').to_owned()
        };
        let csp = HeaderValue::from_str(&csp(&cfg.clients)).context("the Content-Security-Policy")?;
        Ok(Provider {
            listener,
            addr,
            inner: Arc::new(Inner {
                issuer,
                access_token_issuer: cfg.access_token_issuer.clone(),
                ttl_s: cfg.access_token_ttl_s,
                kid: vrs_kit::token::key_id(&key.verifying_key()),
                key,
                clients: cfg.clients.clone(),
                accounts,
                codes: Mutex::new(oauth::Codes::default()),
                csp,
            }),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Registers a client, or replaces the one with its id, before serving:
    /// for a client whose redirect URI is known only once it has bound its
    /// own port (the console in `vrs-stack` and in the tests).
    pub fn add_client(&mut self, client: Client) -> anyhow::Result<()> {
        let inner = Arc::get_mut(&mut self.inner).context("clients are added before the provider serves")?;
        let mut clients: Vec<Client> = inner
            .clients
            .iter()
            .filter(|c| c.client_id != client.client_id)
            .cloned()
            .collect();
        clients.push(client);
        check_clients(&clients)?;
        inner.csp = HeaderValue::from_str(&csp(&clients)).context("the Content-Security-Policy")?;
        inner.clients = clients;
        Ok(())
    }

    /// The `iss` of the ID tokens, under which the discovery document is.
    pub fn issuer_url(&self) -> String {
        self.inner.issuer.clone()
    }

    /// Serves until `stop`.
    pub async fn serve(self, stop: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(addr = %self.addr, issuer = %self.inner.issuer, "identity provider serving");
        axum::serve(self.listener, router(self.inner))
            .with_graceful_shutdown(stop.cancelled_owned())
            .await?;
        Ok(())
    }
}

/// Client ids unique and non-empty; every redirect URI an absolute http(s)
/// URL without fragment (RFC 6749 §3.1.2) made of visible ASCII, so it can
/// go into a `Location` header and its origin into the CSP unchanged.
fn check_clients(clients: &[Client]) -> anyhow::Result<()> {
    anyhow::ensure!(!clients.is_empty(), "no clients configured");
    for (i, c) in clients.iter().enumerate() {
        anyhow::ensure!(!c.client_id.is_empty(), "clients[{i}] has no client_id");
        if clients[..i].iter().any(|o| o.client_id == c.client_id) {
            bail!("client {} is configured twice", c.client_id);
        }
        anyhow::ensure!(
            !c.redirect_uris.is_empty(),
            "client {} has no redirect_uris",
            c.client_id
        );
        for uri in &c.redirect_uris {
            let plain = uri.bytes().all(|b| b.is_ascii_graphic()) && !uri.contains('#');
            if !plain || oauth::origin(uri).is_none() {
                bail!(
                    "client {}: redirect URI {uri:?} is not an absolute http(s) URL of visible ASCII without a fragment",
                    c.client_id
                );
            }
        }
    }
    Ok(())
}

/// No script at all, styles only from here, no framing. The sign-in form
/// posts here, and what follows the post is a redirect to a client, which
/// Chromium also holds to `form-action`: hence the redirect URIs' origins.
fn csp(clients: &[Client]) -> String {
    let mut origins: Vec<String> = clients
        .iter()
        .flat_map(|c| &c.redirect_uris)
        .filter_map(|u| oauth::origin(u))
        .collect();
    origins.sort();
    origins.dedup();
    let mut form_action = String::from("'self'");
    for o in origins {
        form_action.push(' ');
        form_action.push_str(&o);
    }
    format!("default-src 'none'; style-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'")
}

const CSS: &str = include_str!("../static/idp.css");

fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks.json", get(jwks))
        .route("/authorize", get(authorize).post(sign_in))
        .route("/token", axum::routing::post(token))
        .route("/logout", get(logout))
        .route("/static/idp.css", get(|| async { css() }))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, Html(pages::not_found())) })
        // Sign-in forms and token requests are a few hundred bytes.
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(axum::middleware::map_response_with_state(inner.clone(), headers))
        .with_state(inner)
}

/// Every answer: the CSP, no sniffing, no referrer (codes travel in URLs),
/// no framing; and not stored unless the handler said otherwise.
async fn headers(State(inner): State<Arc<Inner>>, mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, inner.csp.clone());
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

/// A 303 to `to`, which is a configured redirect URI with a query added (so
/// a valid header value); a 500 page if it somehow is not.
fn see_other(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Html(pages::refused(
                "Địa chỉ quay lại không hợp lệ.",
                "The redirect URI is not valid.",
            )),
        )
            .into_response(),
    }
}

/// OpenID Connect Discovery 1.0 §3 (RFC 8414).
async fn discovery(State(p): State<Arc<Inner>>) -> Response {
    let i = &p.issuer;
    json(
        StatusCode::OK,
        &serde_json::json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/authorize"),
            "token_endpoint": format!("{i}/token"),
            "jwks_uri": format!("{i}/jwks.json"),
            "end_session_endpoint": format!("{i}/logout"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "scopes_supported": ["openid", "profile"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "name", "roles", "office"],
        }),
    )
}

/// The one signing key, as an RFC 8037 OKP JWK.
async fn jwks(State(p): State<Arc<Inner>>) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({ "keys": [{
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(p.key.verifying_key().as_bytes()),
            "kid": p.kid,
            "alg": "EdDSA",
            "use": "sig",
        }]}),
    )
}

fn refusal(r: Refusal) -> Response {
    match r {
        Refusal::Page { vi, en } => (StatusCode::BAD_REQUEST, Html(pages::refused(vi, en))).into_response(),
        Refusal::Redirect(to) => see_other(&to),
    }
}

/// The sign-in page for a checked request.
fn sign_in_page(status: StatusCode, a: &oauth::Authorization, username: &str, failed: bool) -> Response {
    let html = pages::sign_in(&pages::SignIn {
        hidden: &a.hidden_fields(),
        client_id: &a.client_id,
        username,
        failed,
    });
    (status, Html(html)).into_response()
}

/// `GET /authorize`: checks the request, then asks for the password.
async fn authorize(State(p): State<Arc<Inner>>, RawQuery(q): RawQuery) -> Response {
    let params = Params::parse(q.as_deref().unwrap_or_default().as_bytes());
    match oauth::validate(&p.clients, &params) {
        Ok(a) => sign_in_page(StatusCode::OK, &a, "", false),
        Err(r) => refusal(r),
    }
}

/// `POST /authorize`: the sign-in form. The request is checked again (the
/// form's hidden fields are the browser's to change), then the password.
async fn sign_in(State(p): State<Arc<Inner>>, body: Bytes) -> Response {
    let params = Params::parse(&body);
    let a = match oauth::validate(&p.clients, &params) {
        Ok(a) => a,
        Err(r) => return refusal(r),
    };
    let username = params.get("username").unwrap_or_default();
    let password = params.get("password").unwrap_or_default();
    let Some(account) = accounts::find(&p.accounts, username, password) else {
        // Neither the name tried (it may be a mistyped password) nor the reason.
        tracing::info!(client_id = %a.client_id, "sign-in refused: wrong user name or password");
        return sign_in_page(StatusCode::UNAUTHORIZED, &a, username, true);
    };
    let grant = oauth::Grant {
        client_id: a.client_id.clone(),
        redirect_uri: a.redirect_uri.clone(),
        code_challenge: a.code_challenge.clone(),
        nonce: a.nonce.clone(),
        account,
        auth_time: chrono::Utc::now().timestamp(),
    };
    let code = match p.codes().issue(grant, Instant::now()) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = %e, "no authorisation code");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(pages::refused("Không tạo được mã đăng nhập.", "No code could be made.")),
            )
                .into_response();
        }
    };
    let subject = p.accounts.get(account).map(|a| a.username.as_str()).unwrap_or_default();
    tracing::info!(client_id = %a.client_id, subject = %subject, "signed in");
    see_other(&vrs_kit::html::with_query(
        &a.redirect_uri,
        &[("code", code.as_str()), ("state", a.state.as_str())],
    ))
}

/// `POST /token`: an authorisation code for tokens (RFC 6749 §4.1.3).
async fn token(State(p): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut r = match redeem(&p, &headers, &body) {
        Ok(value) => json(StatusCode::OK, &value),
        Err(e) => {
            let mut r = json(
                e.status(),
                &serde_json::json!({ "error": e.error, "error_description": e.description }),
            );
            if e.error == "invalid_client" {
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"vrs-idp\""),
                );
            }
            r
        }
    };
    // RFC 6749 §5.1: the answer holds tokens (and errors are not cached either).
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn redeem(p: &Inner, headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Value, TokenRefusal> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !form_type {
        return Err(TokenRefusal::request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let params = Params::parse(body);
    if let Some(name) = params.duplicate() {
        return Err(TokenRefusal::request_owned(format!(
            "parameter {name} sent more than once"
        )));
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default());
    let client = oauth::authenticate(&p.clients, authorization, &params)?;
    match params.get("grant_type") {
        None => return Err(TokenRefusal::request("grant_type is missing")),
        Some("authorization_code") => {}
        Some(_) => {
            return Err(TokenRefusal::new(
                "unsupported_grant_type",
                "only authorization_code is supported",
            ));
        }
    }
    let (Some(code), Some(redirect_uri), Some(verifier)) = (
        params.get("code"),
        params.get("redirect_uri"),
        params.get("code_verifier"),
    ) else {
        return Err(TokenRefusal::request(
            "code, redirect_uri and code_verifier are required",
        ));
    };
    let grant = match p.codes().redeem(code, Instant::now()) {
        oauth::Redeemed::Fresh(g) => g,
        oauth::Redeemed::Again => {
            // RFC 6749 §4.1.2: a code used twice may have been stolen.
            tracing::warn!(client_id = %client.client_id, "an authorisation code was presented a second time");
            return Err(TokenRefusal::grant("the code has already been used"));
        }
        oauth::Redeemed::Unknown => return Err(TokenRefusal::grant("the code is unknown or has expired")),
    };
    if grant.client_id != client.client_id {
        return Err(TokenRefusal::grant("the code was issued to another client"));
    }
    if grant.redirect_uri != redirect_uri {
        return Err(TokenRefusal::grant(
            "redirect_uri is not the one the code was issued for",
        ));
    }
    if !oauth::verifier_matches(verifier, &grant.code_challenge) {
        return Err(TokenRefusal::grant("code_verifier does not match the code_challenge"));
    }
    let account = p
        .accounts
        .get(grant.account)
        .ok_or_else(|| TokenRefusal::grant("the account is gone"))?;
    let now = chrono::Utc::now().timestamp();
    let exp = now.saturating_add(p.ttl_s);
    let jti = vrs_kit::token::new_jti();
    let access_token = vrs_kit::token::sign_token(
        &p.key,
        &vrs_kit::token::Claims {
            iss: p.access_token_issuer.clone(),
            sub: account.username.clone(),
            aud: vrs_kit::token::AUDIENCE.to_owned(),
            roles: account.roles.clone(),
            office: account.office.clone(),
            iat: now,
            exp,
            jti: jti.clone(),
        },
    );
    let id_claims = oauth::IdClaims {
        iss: &p.issuer,
        sub: &account.username,
        aud: &client.client_id,
        iat: now,
        exp,
        auth_time: grant.auth_time,
        nonce: grant.nonce.as_deref(),
        name: &account.name,
        office: account.office.as_deref(),
        roles: &account.roles,
    };
    let header = serde_json::json!({ "alg": "EdDSA", "typ": "JWT", "kid": p.kid }).to_string();
    let claims = serde_json::to_string(&id_claims).map_err(|_| TokenRefusal::server())?;
    let id_token = oauth::sign_jws(&p.key, &header, &claims);
    tracing::info!(client_id = %client.client_id, subject = %account.username, jti = %jti, "tokens issued");
    Ok(serde_json::json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": p.ttl_s,
        "id_token": id_token,
        "scope": "openid profile",
    }))
}

/// RP-initiated logout: there is no session to end here, so the browser goes
/// back where the client asked, if that is one of the client's own origins.
async fn logout(State(p): State<Arc<Inner>>, RawQuery(q): RawQuery) -> Response {
    let params = Params::parse(q.as_deref().unwrap_or_default().as_bytes());
    let back = params.get("post_logout_redirect_uri").filter(|uri| {
        let client = params
            .get("client_id")
            .and_then(|id| p.clients.iter().find(|c| c.client_id == id));
        let plain = uri.bytes().all(|b| b.is_ascii_graphic()) && !uri.contains('#');
        match (client, oauth::origin(uri)) {
            (Some(c), Some(o)) if plain => c
                .redirect_uris
                .iter()
                .any(|r| oauth::origin(r).as_deref() == Some(o.as_str())),
            _ => false,
        }
    });
    match back {
        Some(uri) => match params.get("state") {
            Some(state) => see_other(&vrs_kit::html::with_query(uri, &[("state", state)])),
            None => see_other(uri),
        },
        None => Html(pages::signed_out()).into_response(),
    }
}
