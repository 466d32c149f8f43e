//! A real HTTP server standing in for the portal's status endpoint, with the
//! failures a real one has: it can be down (not listening), answer 503, stall
//! past the caller's timeout, or fail every other request. It records every
//! POST and keeps each event once by its `Idempotency-Key`, as the portal does.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use registration::outbox::PortalEvent;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Up = 0,
    /// 503 to everything.
    Unavailable = 1,
    /// Holds each request for 5 s (past any sane client timeout), then 200.
    Stall = 2,
    /// Alternates: 500; processed but answered after 5 s; 200; 200.
    Flaky = 3,
    /// 422: the portal refuses the event itself.
    Refuse = 4,
}

#[derive(Default)]
pub struct Seen {
    /// Accepted events, first delivery of each key, in arrival order.
    pub events: Vec<PortalEvent>,
    keys: HashSet<String>,
    /// Deliveries of a key already accepted.
    pub duplicates: u64,
    /// Requests whose Idempotency-Key did not match the body's event id.
    pub bad_keys: u64,
}

#[derive(Clone)]
struct Shared {
    mode: Arc<AtomicU8>,
    calls: Arc<AtomicU64>,
    seen: Arc<Mutex<Seen>>,
}

pub struct Portal {
    pub addr: SocketAddr,
    shared: Shared,
    stop: CancellationToken,
}

impl Portal {
    pub async fn start() -> Portal {
        let shared = Shared {
            mode: Arc::new(AtomicU8::new(Mode::Up as u8)),
            calls: Arc::new(AtomicU64::new(0)),
            seen: Arc::new(Mutex::new(Seen::default())),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut p = Portal {
            addr,
            shared,
            stop: CancellationToken::new(),
        };
        p.serve(listener);
        p
    }

    pub fn url(&self) -> String {
        format!("http://{}/status", self.addr)
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        self.stop = CancellationToken::new();
        let app = axum::Router::new()
            .route("/status", post(receive))
            .with_state(self.shared.clone());
        let stop = self.stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
    }

    pub fn set(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Stops listening: connections are refused until [`Portal::up`].
    pub fn down(&self) {
        self.stop.cancel();
    }

    /// Listens again on the same port.
    pub async fn up(&mut self) {
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("portal port {} not free again: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    pub fn calls(&self) -> u64 {
        self.shared.calls.load(Ordering::SeqCst)
    }

    /// The accepted events of one dossier, in arrival order.
    pub fn events_of(&self, dossier_code: &str) -> Vec<PortalEvent> {
        let seen = self.shared.seen.lock().expect("lock");
        seen.events
            .iter()
            .filter(|e| e.dossier_code == dossier_code)
            .cloned()
            .collect()
    }

    pub fn with_seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.shared.seen.lock().expect("lock"))
    }
}

impl Drop for Portal {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn receive(State(s): State<Shared>, headers: HeaderMap, body: axum::Json<PortalEvent>) -> StatusCode {
    let n = s.calls.fetch_add(1, Ordering::SeqCst);
    let mode = s.mode.load(Ordering::SeqCst);
    let stall = || tokio::time::sleep(Duration::from_secs(5));
    // Flaky: a 500, then one processed whose answer comes too late (the sender
    // retries what the portal already has), then two quick successes.
    let mut stall_after = false;
    match mode {
        m if m == Mode::Unavailable as u8 => return StatusCode::SERVICE_UNAVAILABLE,
        m if m == Mode::Refuse as u8 => return StatusCode::UNPROCESSABLE_ENTITY,
        m if m == Mode::Stall as u8 => stall().await,
        m if m == Mode::Flaky as u8 => match n % 4 {
            0 => return StatusCode::INTERNAL_SERVER_ERROR,
            1 => stall_after = true,
            _ => {}
        },
        _ => {}
    }
    let event = body.0;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    {
        let mut seen = s.seen.lock().expect("lock");
        if key != event.event_id {
            seen.bad_keys += 1;
            return StatusCode::BAD_REQUEST;
        }
        if seen.keys.insert(key) {
            seen.events.push(event);
        } else {
            seen.duplicates += 1;
        }
    }
    if stall_after {
        stall().await;
    }
    StatusCode::OK
}
