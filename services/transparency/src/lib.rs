//! The public draw-transparency site (issue 13): what the log shows anyone,
//! on a separate binary and port from the clerks' console, with no sign-in.
//!
//! - [`mirror`]: the site's verified copy of the log, refreshed from the
//!   registration service's public `TransparencyLogService`;
//! - [`pages`]: the HTML;
//! - this module: configuration, the routes and the headers every answer carries.
//!
//! The receipt checker (`/verify`) runs `contracts/draw/verify-js`, the third
//! independent verifier, in the citizen's browser: the receipt never leaves it.

pub mod mirror;
pub mod pages;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use vrs_kit::tls::TlsConfig;
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::transparency_log_service_client::TransparencyLogServiceClient;

use crate::mirror::Shared;

/// `VRS_TRANSPARENCY__*`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Where the site listens (plain HTTP: TLS ends at the ingress).
    pub listen: SocketAddr,
    /// The registration service's gRPC address (its public log API).
    pub registration_url: String,
    /// TLS to the registration service: only `ca_file` is needed (the log API
    /// asks for no client certificate).
    pub tls: TlsConfig,
    /// How often the site reads the log for new entries.
    pub refresh_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            registration_url: "http://127.0.0.1:50051".into(),
            tls: TlsConfig::default(),
            refresh_ms: 2_000,
        }
    }
}

/// The browser side of the receipt checker, built from `contracts/draw/verify-js`.
const VERIFY_BUNDLE: &str = include_str!("../../../contracts/draw/verify-js/dist/verify.bundle.js");
const VERIFY_PAGE: &str = include_str!("../static/verify-page.js");
const SITE_CSS: &str = include_str!("../static/site.css");

/// Every answer: scripts and styles only from the site itself (no inline
/// script), no framing, no referrer, nothing sniffed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The site, bound, not yet serving.
pub struct Site {
    listener: tokio::net::TcpListener,
    state: mirror::State,
    channel: tonic::transport::Channel,
    refresh: Duration,
}

impl Site {
    /// Binds the port and prepares the connection to the registration service
    /// (connected lazily: the site starts, and says so, while it is away).
    pub async fn build(cfg: &Config) -> anyhow::Result<Site> {
        // Only the CA is used: the log API asks for no client certificate.
        let trust = TlsConfig {
            ca_file: cfg.tls.ca_file.clone(),
            ..TlsConfig::default()
        };
        let channel = trust
            .endpoint(&cfg.registration_url)?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect_lazy();
        let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
        Ok(Site {
            listener,
            state: Arc::new(RwLock::new(Shared::default())),
            channel,
            refresh: Duration::from_millis(cfg.refresh_ms.max(100)),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `stop`, refreshing the mirror in the background.
    pub async fn serve(self, stop: CancellationToken) -> anyhow::Result<()> {
        let refresher = tokio::spawn(mirror::run(
            self.state.clone(),
            self.channel.clone(),
            self.refresh,
            stop.clone(),
        ));
        let app = router(self.state, self.channel);
        tracing::info!(addr = %self.listener.local_addr()?, "transparency site serving");
        axum::serve(self.listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await?;
        refresher.await?;
        Ok(())
    }
}

#[derive(Clone)]
struct App {
    state: mirror::State,
    channel: tonic::transport::Channel,
}

fn router(state: mirror::State, channel: tonic::transport::Channel) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/pools/{id}", get(pool))
        .route("/plates/{plate}", get(plate))
        .route("/verify", get(verify))
        .route("/log", get(log))
        .route("/log/checkpoint", get(checkpoint))
        .route("/log/entries", get(entries))
        .route("/log/rotations.json", get(rotations))
        .route("/trust.json", get(trust))
        .route("/static/verify.bundle.js", get(|| async { js(VERIFY_BUNDLE) }))
        .route("/static/verify-page.js", get(|| async { js(VERIFY_PAGE) }))
        .route("/static/site.css", get(|| async { css(SITE_CSS) }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .fallback(|| async { (StatusCode::NOT_FOUND, page(pages::not_found("Không có trang này."))) })
        .layer(axum::middleware::map_response(headers))
        .with_state(App { state, channel })
}

async fn headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

fn page(html: String) -> Response {
    let mut r = Html(html).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn js(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], body).into_response()
}

fn css(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], body).into_response()
}

fn read(app: &App) -> std::sync::RwLockReadGuard<'_, Shared> {
    app.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Ready once a state of the log has been verified: a new replica does not
/// take visitors while it would show an empty site.
async fn ready(State(app): State<App>) -> Response {
    if read(&app).view.note.is_empty() {
        (StatusCode::SERVICE_UNAVAILABLE, "no verified state of the log yet\n").into_response()
    } else {
        "ok".into_response()
    }
}

async fn home(State(app): State<App>) -> Response {
    page(pages::home(&read(&app)))
}

async fn pool(State(app): State<App>, Path(id): Path<String>) -> Response {
    match pages::pool(&read(&app), &id) {
        Some(html) => page(html),
        None => (
            StatusCode::NOT_FOUND,
            page(pages::not_found(&format!("Nhật ký không có kho số {id}."))),
        )
            .into_response(),
    }
}

async fn plate(State(app): State<App>, Path(plate): Path<String>) -> Response {
    match pages::plate(&read(&app), &plate) {
        Some(html) => page(html),
        None => (
            StatusCode::NOT_FOUND,
            page(pages::not_found(&format!(
                "Không có lượt bốc nào cho biển số {plate} trong nhật ký đã kiểm chứng."
            ))),
        )
            .into_response(),
    }
}

async fn verify(State(app): State<App>) -> Response {
    page(pages::verify(&read(&app)))
}

async fn log(State(app): State<App>) -> Response {
    page(pages::log(&read(&app)))
}

async fn checkpoint(State(app): State<App>) -> Response {
    let note = read(&app).view.note.clone();
    if note.is_empty() {
        return (StatusCode::SERVICE_UNAVAILABLE, "no verified checkpoint yet\n").into_response();
    }
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response()
}

async fn trust(State(app): State<App>) -> Response {
    let json = read(&app).trust_json.clone();
    if json.is_empty() {
        return (StatusCode::SERVICE_UNAVAILABLE, "no trust read yet\n").into_response();
    }
    ([(header::CONTENT_TYPE, "application/json")], json).into_response()
}

async fn rotations(State(app): State<App>) -> Response {
    let json = read(&app).rotations_json.clone();
    let json = if json.is_empty() { "[]".to_owned() } else { json };
    ([(header::CONTENT_TYPE, "application/json")], json).into_response()
}

#[derive(Deserialize)]
struct Range {
    start: u64,
    end: u64,
}

/// Entries `start..end` of the verified log (at most 10,000), as JSON.
async fn entries(State(app): State<App>, Query(r): Query<Range>) -> Response {
    let size = read(&app).view.size;
    if r.start >= r.end || r.end > size || r.end - r.start > 10_000 {
        return (
            StatusCode::BAD_REQUEST,
            format!("start and end: 0 ≤ start < end ≤ {size} (the verified log's size), at most 10,000 entries\n"),
        )
            .into_response();
    }
    let mut client =
        TransparencyLogServiceClient::new(app.channel.clone()).max_decoding_message_size(256 * 1024 * 1024);
    match client
        .get_entries(pb::GetEntriesRequest {
            start: r.start,
            end: r.end,
        })
        .await
    {
        Ok(page) => {
            let b64 = base64::engine::general_purpose::STANDARD;
            let list: Vec<serde_json::Value> = page
                .into_inner()
                .entries
                .into_iter()
                .map(|e| serde_json::json!({ "index": e.index, "entry": b64.encode(&e.entry) }))
                .collect();
            let body = serde_json::json!({ "start": r.start, "end": r.end, "entries": list });
            (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CONTENT_DISPOSITION, "attachment; filename=\"entries.json\""),
                ],
                body.to_string(),
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            format!("the log did not answer: {}\n", e.message()),
        )
            .into_response(),
    }
}
