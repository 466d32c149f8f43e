//! A real HTTP server standing in for the portal's status endpoint, the far
//! end of the registration service's outbox (DESIGN §4, "Outbox").
//!
//! The outbox promises the portal every status change of every dossier, in
//! order, exactly once after deduplication by `Idempotency-Key`, through the
//! portal's own failures. Checking that promise needs a portal that fails the
//! way a real one does, so this one can be down (not listening at all), answer
//! 503, stall past the caller's timeout, fail every other request, or refuse an
//! event; see [`Mode`]. It records every POST and keeps each event once by its
//! key, as the portal does, so a test or the load generator can then compare
//! what arrived with each application's history ([`Portal::check_history`]).
//!
//! It is a library (not a test module) because both the registration
//! service's integration tests and `vrs-load`'s post-run checker drive it.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let portal = portal_standin::Portal::start().await?;
//! // Point the service's `portal.url` at `portal.url()`, run, then:
//! portal.set(portal_standin::Mode::Flaky);
//! portal.down();
//! # Ok(()) }
//! ```

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio_util::sync::CancellationToken;
use vrs_proto::pb::registration::v1 as pb;

/// The event as the registration service posts it (its JSON body). Re-exported
/// so that users of the stand-in need not depend on the service's modules.
pub use registration::outbox::PortalEvent;

/// How long a stalled answer takes: past any sane client timeout.
const STALL: Duration = Duration::from_secs(5);

/// How the stand-in answers, switchable while traffic flows ([`Portal::set`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// 200 to every well-formed event.
    Up = 0,
    /// 503 to everything: an overloaded portal.
    Unavailable = 1,
    /// Holds each request for 5 s (past any sane client timeout), then
    /// accepts it: the sender times out on events the portal did receive.
    Stall = 2,
    /// Alternates: 500; processed but answered after 5 s; 200; 200. Both
    /// retries and redeliveries of events the portal already has.
    Flaky = 3,
    /// 422: the portal refuses the event itself (dead letter on our side).
    Refuse = 4,
}

impl Mode {
    fn from_u8(v: u8) -> Mode {
        match v {
            1 => Mode::Unavailable,
            2 => Mode::Stall,
            3 => Mode::Flaky,
            4 => Mode::Refuse,
            _ => Mode::Up,
        }
    }
}

/// What the stand-in accepted, for inspection ([`Portal::with_seen`]).
#[derive(Debug, Default)]
pub struct Seen {
    /// Accepted events, first delivery of each key, in arrival order.
    pub events: Vec<PortalEvent>,
    /// The W3C `traceparent` each accepted event came with ("" if none),
    /// parallel to `events`: the sender's trace continues into the portal.
    pub traceparents: Vec<String>,
    /// Deliveries of a key already accepted (dropped, as the portal does).
    pub duplicates: u64,
    /// Requests whose `Idempotency-Key` did not match the body's event id:
    /// a sender bug, answered 400.
    pub bad_keys: u64,
    keys: HashSet<String>,
    /// Indexes into `events` per dossier: a load run holds hundreds of
    /// thousands of events and checks each dossier's, so no linear scans.
    by_dossier: HashMap<String, Vec<usize>>,
}

impl Seen {
    /// The accepted events of one dossier, in arrival order.
    pub fn events_of(&self, dossier_code: &str) -> Vec<&PortalEvent> {
        self.by_dossier
            .get(dossier_code)
            .map(|ix| ix.iter().map(|&i| &self.events[i]).collect())
            .unwrap_or_default()
    }
}

/// Accepts TCP connections and completes their TLS handshake; a client that
/// fails it (an untrusted certificate on its side, plaintext) is dropped and
/// the next one accepted, as a real HTTPS server does.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, peer)) = self.tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let handshake = self.acceptor.accept(tcp);
            if let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(5), handshake).await {
                return (tls, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

#[derive(Clone)]
struct Shared {
    mode: Arc<AtomicU8>,
    calls: Arc<AtomicU64>,
    seen: Arc<Mutex<Seen>>,
}

impl Shared {
    fn seen(&self) -> MutexGuard<'_, Seen> {
        // A panic while holding the lock leaves `Seen` consistent enough to read.
        self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The running stand-in: on loopback, on a port of its own that it keeps
/// across [`Portal::down`] and [`Portal::up`]. Stops listening when dropped.
pub struct Portal {
    /// Where it listens (`127.0.0.1`, a port chosen at start).
    pub addr: SocketAddr,
    shared: Shared,
    stop: CancellationToken,
    /// Serving HTTPS with this configuration, as the real portal does.
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Portal {
    /// Starts listening on `127.0.0.1` on a free port, in [`Mode::Up`].
    /// Needs a Tokio runtime; the server runs as a task of it.
    pub async fn start() -> std::io::Result<Portal> {
        Self::start_with(None).await
    }

    /// Starts serving HTTPS with this certificate and key (PEM files), as the
    /// real portal does; the outbox must trust the certificate's CA.
    pub async fn start_tls(cert_file: &str, key_file: &str) -> anyhow::Result<Portal> {
        let config = vrs_kit::tls::https_server_config(cert_file, key_file)?;
        Ok(Self::start_with(Some(Arc::new(config))).await?)
    }

    async fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> std::io::Result<Portal> {
        let shared = Shared {
            mode: Arc::new(AtomicU8::new(Mode::Up as u8)),
            calls: Arc::new(AtomicU64::new(0)),
            seen: Arc::new(Mutex::new(Seen::default())),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut p = Portal {
            addr,
            shared,
            stop: CancellationToken::new(),
            tls,
        };
        p.serve(listener);
        Ok(p)
    }

    /// The status endpoint, what the registration service's `portal.url` names.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/status", self.addr)
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        self.stop = CancellationToken::new();
        let app = axum::Router::new()
            .route("/status", post(receive))
            .with_state(self.shared.clone());
        let stop = self.stop.clone();
        match &self.tls {
            None => {
                tokio::spawn(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async move { stop.cancelled().await })
                        .await
                });
            }
            Some(config) => {
                let listener = TlsListener {
                    tcp: listener,
                    acceptor: tokio_rustls::TlsAcceptor::from(config.clone()),
                };
                tokio::spawn(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async move { stop.cancelled().await })
                        .await
                });
            }
        }
    }

    /// Switches how requests are answered from now on.
    pub fn set(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        Mode::from_u8(self.shared.mode.load(Ordering::SeqCst))
    }

    /// Stops listening: connections are refused until [`Portal::up`]. What it
    /// accepted so far is kept.
    pub fn down(&self) {
        self.stop.cancel();
    }

    /// Listens again on the same port (retrying for up to 5 s while the old
    /// listener lets go of it).
    pub async fn up(&mut self) -> std::io::Result<()> {
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) if tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        };
        self.serve(listener);
        Ok(())
    }

    /// Requests received, in any mode, including refused and duplicate ones.
    pub fn calls(&self) -> u64 {
        self.shared.calls.load(Ordering::SeqCst)
    }

    /// The accepted events of one dossier, in arrival order.
    pub fn events_of(&self, dossier_code: &str) -> Vec<PortalEvent> {
        self.shared
            .seen()
            .events_of(dossier_code)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Reads what was accepted under the lock.
    pub fn with_seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.shared.seen())
    }

    /// Checks that the portal accepted exactly `app`'s history as events, once
    /// each, numbered 1, 2, 3… in arrival order: what the outbox promises.
    /// Returns how many events that is, or what differs.
    ///
    /// `app` must be read after the outbox drained (`GetOutboxStatus.pending`
    /// is 0), or its latest changes may not have been sent yet.
    pub fn check_history(&self, app: &pb::Application) -> Result<usize, String> {
        let expected = expected_statuses(app);
        let seen = self.shared.seen();
        let events = seen.events_of(&app.dossier_code);
        let seqs: Vec<i32> = events.iter().map(|e| e.seq).collect();
        if seqs.iter().copied().ne(1..=events.len() as i32) {
            return Err(format!(
                "{}: events out of order or missing, seq {seqs:?}",
                app.dossier_code
            ));
        }
        if let Some(e) = events.iter().find(|e| e.application_id != app.application_id) {
            return Err(format!(
                "{}: event {} names application {}, not {}",
                app.dossier_code, e.event_id, e.application_id, app.application_id
            ));
        }
        let got: Vec<&str> = events.iter().map(|e| e.status.as_str()).collect();
        if got != expected {
            return Err(format!(
                "{}: the portal got {got:?}, the history says {expected:?}",
                app.dossier_code
            ));
        }
        Ok(got.len())
    }
}

/// The statuses the portal should have received for `app`, in order: one per
/// state change of its history, plus `FEE_DUE` right after `PLATE_ASSIGNED`
/// (the fee becomes known with the plate).
pub fn expected_statuses(app: &pb::Application) -> Vec<String> {
    let mut expected = Vec::with_capacity(app.history.len() + 1);
    for h in &app.history {
        let name = h.to_state().as_str_name().trim_start_matches("APPLICATION_STATE_");
        expected.push(name.to_owned());
        if name == "PLATE_ASSIGNED" {
            expected.push("FEE_DUE".to_owned());
        }
    }
    expected
}

impl Drop for Portal {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn receive(State(s): State<Shared>, headers: HeaderMap, body: axum::Json<PortalEvent>) -> StatusCode {
    let n = s.calls.fetch_add(1, Ordering::SeqCst);
    // Flaky: a 500, then one processed whose answer comes too late (the sender
    // retries what the portal already has), then two quick successes.
    let mut stall_after = false;
    match Mode::from_u8(s.mode.load(Ordering::SeqCst)) {
        Mode::Unavailable => return StatusCode::SERVICE_UNAVAILABLE,
        Mode::Refuse => return StatusCode::UNPROCESSABLE_ENTITY,
        Mode::Stall => tokio::time::sleep(STALL).await,
        Mode::Flaky => match n % 4 {
            0 => return StatusCode::INTERNAL_SERVER_ERROR,
            1 => stall_after = true,
            _ => {}
        },
        Mode::Up => {}
    }
    let event = body.0;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    {
        let mut seen = s.seen();
        if key != event.event_id {
            seen.bad_keys += 1;
            return StatusCode::BAD_REQUEST;
        }
        if seen.keys.insert(key) {
            let traceparent = headers.get("traceparent").and_then(|v| v.to_str().ok()).unwrap_or("");
            seen.traceparents.push(traceparent.to_owned());
            let index = seen.events.len();
            seen.by_dossier
                .entry(event.dossier_code.clone())
                .or_default()
                .push(index);
            seen.events.push(event);
        } else {
            seen.duplicates += 1;
        }
    }
    if stall_after {
        tokio::time::sleep(STALL).await;
    }
    StatusCode::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(dossier: &str, seq: i32, status: &str) -> PortalEvent {
        PortalEvent {
            event_id: format!("app-{dossier}:{seq}"),
            application_id: format!("app-{dossier}"),
            dossier_code: dossier.into(),
            seq,
            status: status.into(),
            reason_code: String::new(),
            detail: String::new(),
            at_ms: 0,
            plate: None,
            fee_due_vnd: None,
        }
    }

    async fn post(client: &reqwest::Client, url: &str, e: &PortalEvent, key: &str) -> Option<u16> {
        client
            .post(url)
            .header("idempotency-key", key)
            .json(e)
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }

    #[tokio::test]
    async fn keeps_each_event_once_refuses_when_told_and_comes_back_on_the_same_port() {
        let mut portal = Portal::start().await.expect("portal");
        // A connection per request: a pooled keep-alive connection could
        // still carry a request to the listener that is shutting down.
        let tls = vrs_kit::tls::https_client_config("").expect("TLS configuration");
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .tls_backend_preconfigured(tls)
            .build()
            .expect("client");
        let url = portal.url();
        let first = event("D1", 1, "SUBMITTED");
        assert_eq!(post(&http, &url, &first, &first.event_id).await, Some(200));
        assert_eq!(post(&http, &url, &first, &first.event_id).await, Some(200));
        assert_eq!(post(&http, &url, &first, "wrong-key").await, Some(400));
        portal.set(Mode::Refuse);
        let second = event("D1", 2, "VERIFIED");
        assert_eq!(post(&http, &url, &second, &second.event_id).await, Some(422));
        portal.set(Mode::Unavailable);
        assert_eq!(post(&http, &url, &second, &second.event_id).await, Some(503));

        portal.down();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            post(&http, &url, &second, &second.event_id).await,
            None,
            "not listening"
        );
        portal.up().await.expect("up again");
        portal.set(Mode::Up);
        assert_eq!(post(&http, &url, &second, &second.event_id).await, Some(200));

        assert_eq!(portal.with_seen(|s| (s.duplicates, s.bad_keys)), (1, 1));
        let statuses: Vec<String> = portal.events_of("D1").into_iter().map(|e| e.status).collect();
        assert_eq!(statuses, ["SUBMITTED", "VERIFIED"]);
        assert_eq!(portal.calls(), 6, "the refused connection never arrived");

        let history = |to: pb::ApplicationState| pb::StateChange {
            to_state: to as i32,
            ..Default::default()
        };
        let mut app = pb::Application {
            application_id: "app-D1".into(),
            dossier_code: "D1".into(),
            history: vec![
                history(pb::ApplicationState::Submitted),
                history(pb::ApplicationState::Verified),
            ],
            ..Default::default()
        };
        assert_eq!(portal.check_history(&app), Ok(2));
        app.history.push(history(pb::ApplicationState::PlateAssigned));
        assert_eq!(
            expected_statuses(&app),
            ["SUBMITTED", "VERIFIED", "PLATE_ASSIGNED", "FEE_DUE"]
        );
        assert!(portal.check_history(&app).is_err(), "a missing event is found");
        let _ = serde_json::to_string(&portal.events_of("D1")).expect("events serialise");
    }
}
