//! Delivery of status changes to the portal (DESIGN §4, "Outbox").
//!
//! Every transition writes its portal events in its own transaction
//! ([`crate::store`]), so a change and its event commit or vanish together.
//! This worker posts them: at least once, with an `Idempotency-Key` the portal
//! deduplicates on, in order per application (an event goes out only once
//! every earlier event of its application is delivered), with exponential
//! backoff and jitter, and a dead-letter state after a bounded number of
//! attempts. Any replica may deliver: each event is leased before it is sent.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::domain::fees::FeesConfig;
use crate::error::Result;
use crate::store::Store;
use crate::store::delivery::{Outcome, Settled, Status};
use crate::store::entities::{application, outbox};

/// Where and how status changes are pushed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PortalConfig {
    /// The portal's status endpoint, `https://` in production (`http://` for a
    /// portal on the same machine); empty keeps events queued (visible in `GetOutboxStatus`).
    pub url: String,
    /// CA certificates (PEM) to trust for the portal's HTTPS besides the public
    /// web roots: a private CA, a portal under development. Empty: public roots only.
    pub ca_file: String,
    /// Deadline of one POST.
    pub timeout_ms: u64,
    /// How often delivery looks for due events without being told of new ones:
    /// retries, and events written by other replicas.
    pub poll_interval_ms: u64,
    /// How long delivery waits, once told of new events, for more to gather.
    pub gather_ms: u64,
    /// First retry delay; doubles per attempt with ±50 % jitter, capped at `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Attempts after which an event is dead-lettered (and its application's later events wait).
    pub max_attempts: i32,
    /// How long a replica holds an event it is sending before another may try.
    pub lease_ms: u64,
    /// Events fetched per pass, and POSTs in flight at once.
    pub batch: u64,
    pub concurrency: usize,
}

impl PortalConfig {
    /// Checks the URL and builds the HTTPS client's TLS configuration, so that
    /// a start with a mistyped URL or CA file stops at once, naming the setting.
    pub fn tls(&self) -> anyhow::Result<rustls::ClientConfig> {
        if !self.url.is_empty() {
            let url = reqwest::Url::parse(&self.url)
                .map_err(|e| anyhow::anyhow!("portal.url {:?} is not a URL: {e}", self.url))?;
            if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
                anyhow::bail!(
                    "portal.url {:?} must be an https:// (or http://) URL with a host",
                    self.url
                );
            }
        }
        vrs_kit::tls::https_client_config(&self.ca_file).map_err(|e| anyhow::anyhow!("portal.ca_file: {e:#}"))
    }
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            url: String::new(),
            ca_file: String::new(),
            timeout_ms: 2_000,
            poll_interval_ms: 1_000,
            gather_ms: 20,
            retry_base_ms: 500,
            retry_max_ms: 300_000,
            max_attempts: 25,
            lease_ms: 30_000,
            batch: 256,
            concurrency: 32,
        }
    }
}

/// What the portal receives, as JSON, for each event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortalEvent {
    /// `<application_id>:<seq>`, also sent as the `Idempotency-Key` header.
    pub event_id: String,
    pub application_id: String,
    pub dossier_code: String,
    pub seq: i32,
    /// The new state (`SUBMITTED`, `VERIFIED`, … `DELIVERED`) or `FEE_DUE`.
    pub status: String,
    pub reason_code: String,
    pub detail: String,
    pub at_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub plate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fee_due_vnd: Option<u64>,
}

/// An error with its causes, so that the recorded `last_error` of an event
/// says why a POST failed ("invalid peer certificate: UnknownIssuer"), not
/// only that it did.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        cause = c.source();
    }
    msg
}

enum Failure {
    /// Worth retrying: timeouts, refused connections, 408, 425, 429, 5xx.
    Transient(String),
    /// The portal refused the event itself (other 4xx): retrying cannot help.
    Permanent(String),
}

/// The delivering side of the outbox.
pub struct Outbox {
    store: Store,
    /// The fee the portal shows with `FEE_DUE`.
    fees: FeesConfig,
    cfg: PortalConfig,
    client: reqwest::Client,
}

impl Outbox {
    pub fn new(store: Store, fees: FeesConfig, cfg: PortalConfig) -> anyhow::Result<Outbox> {
        // A claimed event must be sent (or given up) before its lease runs out,
        // or another replica may send it at the same time.
        let rounds = cfg.batch.max(1).div_ceil(cfg.concurrency.max(1) as u64);
        if cfg.lease_ms <= cfg.timeout_ms.saturating_mul(rounds) {
            anyhow::bail!(
                "portal.lease_ms ({}) must exceed portal.timeout_ms ({}) × batch/concurrency ({rounds})",
                cfg.lease_ms,
                cfg.timeout_ms
            );
        }
        let tls = cfg.tls()?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .connect_timeout(Duration::from_millis(cfg.timeout_ms))
            .tls_backend_preconfigured(tls)
            .https_only(cfg.url.starts_with("https://"))
            .build()?;
        Ok(Outbox {
            store,
            fees,
            cfg,
            client,
        })
    }

    /// Delivers every due event that heads its application's queue, then
    /// records every outcome at once; returns how many were sent.
    pub async fn deliver_due(&self) -> Result<usize> {
        let store = &self.store;
        let now = crate::now_ms();
        let lease = now + i64::try_from(self.cfg.lease_ms).unwrap_or(i64::MAX / 2);
        let (claimed, apps) = store.claim_events(now, lease, self.cfg.batch.max(1)).await?;
        let n = claimed.len();
        if n == 0 {
            return Ok(0);
        }
        use futures::StreamExt;
        let settled: Vec<Settled> = futures::stream::iter(claimed)
            .map(|ev| {
                let app = apps.get(&ev.application_id);
                async move { self.deliver(ev, app).await }
            })
            .buffer_unordered(self.cfg.concurrency.max(1))
            .collect()
            .await;
        let recorded = store.settle_events(lease, crate::now_ms(), &settled).await?;
        if recorded < settled.len() as u64 {
            tracing::warn!(
                lost = settled.len() as u64 - recorded,
                "leases on portal events lost before their outcomes were recorded"
            );
        }
        Ok(n)
    }

    /// Sends one claimed event; its outcome, to be recorded with the pass's others.
    async fn deliver(&self, ev: outbox::Model, app: Option<&application::Model>) -> Settled {
        let event_id = format!("{}:{}", ev.application_id, ev.seq);
        // An event that cannot even be rendered counts as a failed attempt, so
        // that it ends as a visible dead letter rather than retrying unseen.
        // The delivery belongs to the trace of the step that wrote the event.
        let span = tracing::info_span!(
            "portal.deliver",
            otel.kind = "client",
            event_id = %event_id,
            attempt = ev.attempts + 1,
        );
        vrs_kit::telemetry::propagation::continue_from(&span, ev.trace_parent.as_deref());
        let outcome = async {
            match app {
                Some(app) => self.post(&self.render(&ev, app)).await,
                None => Err(Failure::Transient(format!(
                    "cannot render the event: application {} not found",
                    ev.application_id
                ))),
            }
        }
        .instrument(span)
        .await;
        let attempts = ev.attempts + 1;
        let outcome = match outcome {
            Ok(()) => Outcome::Delivered,
            Err(failure) => {
                let (error, dead) = match failure {
                    Failure::Permanent(e) => (e, true),
                    Failure::Transient(e) => (e, attempts >= self.cfg.max_attempts),
                };
                if dead {
                    tracing::warn!(%event_id, attempts, %error, "portal event dead-lettered");
                    Outcome::Dead { error }
                } else {
                    tracing::debug!(%event_id, attempts, %error, "portal event will be retried");
                    let delay = crate::retry::backoff(
                        Duration::from_millis(self.cfg.retry_base_ms),
                        u32::try_from(attempts).unwrap_or(1),
                    )
                    .min(Duration::from_millis(self.cfg.retry_max_ms));
                    let at_ms = crate::now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
                    Outcome::Retry { at_ms, error }
                }
            }
        };
        Settled {
            id: ev.id,
            attempts,
            outcome,
        }
    }

    /// The JSON body of an event, with what the portal needs to show it.
    fn render(&self, ev: &outbox::Model, app: &application::Model) -> PortalEvent {
        let fee_due_vnd = (ev.status == crate::store::FEE_DUE)
            .then(|| {
                let decl = <vrs_proto::pb::registration::v1::SubmitApplicationRequest as prost::Message>::decode(
                    app.declaration.as_slice(),
                )
                .ok()?;
                self.fees
                    .fee_of(&decl, &app.locality_code, app.vehicle_value_vnd)
                    .map(|f| f.amount_vnd)
            })
            .flatten();
        PortalEvent {
            event_id: format!("{}:{}", ev.application_id, ev.seq),
            application_id: ev.application_id.clone(),
            dossier_code: app.dossier_code.clone(),
            seq: ev.seq,
            status: ev.status.clone(),
            reason_code: ev.reason_code.clone(),
            detail: ev.detail.clone(),
            at_ms: ev.at_ms,
            plate: app.plate.clone(),
            fee_due_vnd,
        }
    }

    async fn post(&self, event: &PortalEvent) -> std::result::Result<(), Failure> {
        let mut trace = reqwest::header::HeaderMap::new();
        vrs_kit::telemetry::propagation::inject(&mut trace);
        let res = self
            .client
            .post(&self.cfg.url)
            .headers(trace)
            .header("Idempotency-Key", &event.event_id)
            .json(event)
            .send()
            .await
            .map_err(|e| Failure::Transient(with_causes(&e)))?;
        let status = res.status();
        if status.is_success() {
            return Ok(());
        }
        let msg = format!("portal answered {status}");
        match status.as_u16() {
            408 | 425 | 429 | 500..=599 => Err(Failure::Transient(msg)),
            _ => Err(Failure::Permanent(msg)),
        }
    }
}

/// Counts of pending, dead and delivered events.
pub async fn status(store: &Store) -> Result<Status> {
    Ok(store.outbox_status().await?)
}

/// The oldest `limit` dead letters.
pub async fn dead_letters(store: &Store, limit: u32) -> Result<Vec<crate::store::entities::outbox::Model>> {
    Ok(store.dead_letters(u64::from(limit)).await?)
}

/// Reads [`status`] every `every` for the `vrs.outbox.*` gauges: the database
/// is read here, never in a metric callback (which must not block).
pub async fn run_gauges(store: Store, every: Duration, shutdown: CancellationToken) {
    let last = Arc::new(std::sync::Mutex::new(Status::default()));
    let meter = vrs_kit::telemetry::meter();
    /// Name, description, and the figure it reports.
    type Gauge = (&'static str, &'static str, fn(&Status) -> u64);
    let gauges: [Gauge; 3] = [
        (
            "vrs.outbox.pending",
            "Status changes not yet delivered to the portal",
            |s| s.pending,
        ),
        (
            "vrs.outbox.dead",
            "Dead letters: events the portal refused or that failed every attempt",
            |s| s.dead,
        ),
        ("vrs.outbox.lag", "Age in ms of the oldest undelivered event", |s| {
            u64::try_from(s.oldest_pending_age_ms).unwrap_or(0)
        }),
    ];
    for (name, description, pick) in gauges {
        let last = last.clone();
        meter
            .u64_observable_gauge(name)
            .with_description(description)
            .with_callback(move |obs| {
                if let Ok(s) = last.lock() {
                    obs.observe(pick(&s), &[]);
                }
            })
            .build();
    }
    loop {
        match status(&store).await {
            Ok(s) => {
                if let Ok(mut l) = last.lock() {
                    *l = s;
                }
            }
            Err(e) => tracing::warn!(error = ?e, "outbox status for metrics failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Puts dead letters back in the queue (after the portal is fixed); returns how many.
pub async fn retry_dead(store: &Store) -> Result<u64> {
    Ok(store.retry_dead_events(crate::now_ms()).await?)
}

/// Runs delivery until `shutdown`; the pass in progress finishes first. Does
/// nothing if no portal URL is configured (events wait in the table).
pub async fn run(outbox: Outbox, shutdown: CancellationToken) {
    if outbox.cfg.url.is_empty() {
        tracing::warn!("no portal URL configured: status changes are kept in the outbox, not delivered");
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(outbox.cfg.poll_interval_ms.max(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let store = outbox.store.clone();
    loop {
        // Events committed here wake delivery at once; the clock is for retries
        // and for events other replicas wrote.
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
            _ = store.events_pending() => {
                // Let the events of concurrent changes gather into one pass.
                tokio::time::sleep(Duration::from_millis(outbox.cfg.gather_ms)).await;
            }
        }
        // Keep going while full batches come back: a backlog drains without waiting for ticks.
        loop {
            match outbox.deliver_due().await {
                Ok(n) if n as u64 >= outbox.cfg.batch && !shutdown.is_cancelled() => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::error!(error = ?e, "outbox pass failed");
                    break;
                }
            }
        }
    }
    tracing::info!("outbox worker stopped");
}
