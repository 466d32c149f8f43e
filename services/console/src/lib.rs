//! The clerks' console (issue 13): the web application police registry
//! clerks work in all day, on its own binary and port, apart from the public
//! transparency site.
//!
//! It is a client of the registration gRPC API like any other caller: it
//! never touches the database, and every call carries the signed-in clerk's
//! own access token, so registration authorises each action as it would
//! authorise it from `vrsctl` (a clerk of another office is refused there,
//! not here). Sign-in is OpenID Connect with the police identity provider.
//!
//! - [`session`]: sessions and sign-ins under way (cookies, CSRF, idle timeout);
//! - [`oidc`]: the relying party (code flow with PKCE, ID token checks);
//! - [`registry`]: the registration service as the console calls it;
//! - [`routes`]: one module per job (sign-in, queue, dossier, certificate, supervisor);
//! - [`view`], [`i18n`]: the page frame, Vietnamese first and English second;
//! - [`pdf`]: the certificate as PDF;
//! - [`error`]: the one error type and the page each error becomes.

pub mod error;
pub mod i18n;
pub mod oidc;
pub mod pdf;
pub mod registry;
pub mod routes;
pub mod session;
pub mod view;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use vrs_kit::tls::TlsConfig;

use crate::error::Problem;
use crate::i18n::Lang;
use crate::session::{Session, Sessions};

/// `VRS_CONSOLE__*`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Where the console listens (plain HTTP: TLS ends at the ingress).
    pub listen: SocketAddr,
    /// The console's address as browsers reach it (the OpenID redirect URI
    /// is under it, and forms must come from it). Empty: `http://` and the
    /// bound address, for local runs.
    pub public_url: String,
    /// The registration service's gRPC address.
    pub registration_url: String,
    /// TLS to the registration service (its CA; a client certificate is not needed).
    pub tls: TlsConfig,
    pub oidc: oidc::OidcConfig,
    /// A session without a request for this long ends (the clerk signs in again).
    pub idle_timeout_s: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8091)),
            public_url: String::new(),
            registration_url: "http://127.0.0.1:50051".into(),
            tls: TlsConfig::default(),
            oidc: oidc::OidcConfig::default(),
            idle_timeout_s: 900,
        }
    }
}

const CONSOLE_CSS: &str = include_str!("../static/console.css");
const CONSOLE_JS: &str = include_str!("../static/console.js");

/// Scripts and styles from the console only, no inline script, never
/// framed; forms posted to the console only, whose sign-out form then
/// redirects to the identity provider (browsers hold redirects after a form
/// to `form-action` too, so the provider's origin is named).
fn csp(provider: &str) -> anyhow::Result<HeaderValue> {
    let origin = provider
        .split_once("://")
        .map(|(scheme, rest)| format!("{scheme}://{}", rest.split('/').next().unwrap_or_default()))
        .unwrap_or_default();
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         form-action 'self' {origin}; base-uri 'none'; frame-ancestors 'none'"
    );
    Ok(HeaderValue::from_str(policy.trim())?)
}

/// What every handler reaches.
pub struct Inner {
    pub public_url: String,
    pub sessions: Sessions,
    pub oidc: oidc::Provider,
    pub registry: registry::Registry,
    csp: HeaderValue,
}

pub type App = Arc<Inner>;

/// The console, bound, not yet serving.
pub struct Console {
    listener: tokio::net::TcpListener,
    app: App,
}

impl Console {
    pub async fn build(cfg: &Config) -> anyhow::Result<Console> {
        let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
        let public_url = if cfg.public_url.is_empty() {
            format!("http://{}", listener.local_addr()?)
        } else {
            cfg.public_url.trim_end_matches('/').to_owned()
        };
        let app = Arc::new(Inner {
            public_url,
            sessions: Sessions::new(Duration::from_secs(cfg.idle_timeout_s.max(1))),
            oidc: oidc::Provider::new(cfg.oidc.clone())?,
            registry: registry::Registry::new(&cfg.registration_url, &cfg.tls)?,
            csp: csp(&cfg.oidc.issuer_url).context("oidc.issuer_url")?,
        });
        Ok(Console { listener, app })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// The address browsers use, under which the sign-in callback is.
    pub fn public_url(&self) -> &str {
        &self.app.public_url
    }

    pub async fn serve(self, stop: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(addr = %self.listener.local_addr()?, "clerks' console serving");
        axum::serve(self.listener, router(self.app))
            .with_graceful_shutdown(stop.cancelled_owned())
            .await?;
        Ok(())
    }
}

fn router(app: App) -> Router {
    use routes::{auth, certificate, dossier, queue, supervisor};
    Router::new()
        .route("/", get(|| async { Redirect::to("/queue") }))
        .route("/auth/login", get(auth::login))
        .route("/auth/callback", get(auth::callback))
        .route("/auth/logout", post(auth::logout))
        .route("/signed-out", get(auth::signed_out))
        .route("/lang/{code}", get(auth::language))
        .route("/queue", get(queue::queue))
        .route("/dossiers/{id}", get(dossier::show))
        .route("/dossiers/{id}/{action}", post(dossier::act))
        .route("/dossiers/{id}/certificate", get(certificate::sheet))
        .route("/dossiers/{id}/certificate.pdf", get(certificate::pdf))
        .route("/actions", get(supervisor::actions))
        .route("/supervisor/outbox", get(supervisor::outbox))
        .route("/supervisor/outbox/retry", post(supervisor::retry))
        .route(
            "/supervisor/auctions",
            get(supervisor::auctions).post(supervisor::record_auction),
        )
        .route(
            "/supervisor/access",
            get(supervisor::access).post(supervisor::revoke_access),
        )
        .route(
            "/static/console.css",
            get(|| async { asset("text/css; charset=utf-8", CONSOLE_CSS) }),
        )
        .route(
            "/static/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", CONSOLE_JS) }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .fallback(|| async { Problem::NotFound(String::new()) })
        .layer(axum::middleware::map_response_with_state(app.clone(), headers))
        .with_state(app)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "max-age=300")],
        body,
    )
        .into_response()
}

async fn headers(axum::extract::State(app): axum::extract::State<App>, mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, app.csp.clone());
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // same-origin, not no-referrer: under no-referrer a browser sends
    // `Origin: null` with every form, and the origin check could not tell
    // the console's own forms from another site's.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    r
}

/// Ready while the registration service answers (the console is useless without it).
async fn ready(axum::extract::State(app): axum::extract::State<App>) -> Response {
    match app.registry.ping().await {
        Ok(()) => "ok".into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("registration: {e}\n")).into_response(),
    }
}

/// The clerk's language, from the cookie; Vietnamese when none.
impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(header_cookie(&parts.headers, i18n::COOKIE)
            .and_then(|v| Lang::parse(&v))
            .unwrap_or_default())
    }
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn header_cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| session::cookie(h, name).map(str::to_owned))
}

/// A signed-in request: the session, its cookie, and the page's path.
pub struct Signed {
    pub session: Session,
    pub cookie: String,
    pub lang: Lang,
    pub path: String,
}

impl Signed {
    pub fn frame(&self) -> view::Frame<'_> {
        view::Frame {
            lang: self.lang,
            session: Some(&self.session),
            path: &self.path,
        }
    }
}

impl FromRequestParts<App> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let Ok(lang) = Lang::from_request_parts(parts, app).await;
        // With its query: the language switch and the sign-in return to the page as it was.
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
        let cookie = header_cookie(&parts.headers, session::COOKIE).unwrap_or_default();
        match app.sessions.touch(&cookie) {
            Ok(session) => Ok(Signed {
                session,
                cookie,
                lang,
                path,
            }),
            Err(_) => {
                // Back to this page after signing in (a GET's path: ids only, never personal data).
                let next = if parts.method == axum::http::Method::GET {
                    path
                } else {
                    "/queue".into()
                };
                Err(Redirect::to(&format!("/auth/login?next={}", vrs_kit::html::seg(&next))).into_response())
            }
        }
    }
}

/// A posted form of a signed-in clerk, its CSRF token checked (and, when the
/// browser says where the form came from, that it came from the console).
pub struct Posted {
    pub signed: Signed,
    pub fields: Vec<(String, String)>,
}

impl Posted {
    /// The value of a field, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> String {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    }
}

impl FromRequest<App> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let signed = Signed::from_request_parts(&mut parts, app).await?;
        if let Some(origin) = parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
            && origin != app.public_url
        {
            tracing::warn!(%origin, "form from another origin refused");
            return Err(Problem::Csrf.into_response());
        }
        let req = Request::from_parts(parts, body);
        let axum::Form(fields) = axum::Form::<Vec<(String, String)>>::from_request(req, app)
            .await
            .map_err(|e| (StatusCode::BAD_REQUEST, e.body_text()).into_response())?;
        let posted = Posted { signed, fields };
        if !posted.signed.session.csrf_ok(&posted.get("csrf")) {
            tracing::warn!(subject = %posted.signed.session.subject, "form without its CSRF token refused");
            return Err(Problem::Csrf.into_response());
        }
        Ok(posted)
    }
}
