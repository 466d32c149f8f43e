//! The client side: a pool of tonic channels to every replica, used round
//! robin, with a load balancer's failover.
//!
//! Two kinds of caller, as in production: the portal, known by its TLS client
//! certificate (no token; it names the citizen acting in `x-citizen-id`), and
//! staff (clerks, supervisors), who present signed tokens over channels that
//! carry no client certificate.
//!
//! A call that fails because its replica is gone (connection refused or
//! reset, UNAVAILABLE) is sent again to the next replica, as a load balancer
//! would; every operation the tool sends is idempotent (submission by dossier
//! code, draw by application, payment by reference), so that is safe. The
//! replica is then passed over for a second. Each failover is counted.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use vrs_kit::token::{Bearer, Role};
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::registration_service_client::RegistrationServiceClient;
use vrs_proto::pb::registration::v1::transparency_log_service_client::TransparencyLogServiceClient;

use crate::stack::{ISSUER, Stack};

/// A registration client with its caller's credentials.
pub type Client = RegistrationServiceClient<InterceptedService<Channel, Bearer>>;

/// Who is calling.
#[derive(Clone)]
pub enum Caller {
    /// The portal, by its certificate.
    Portal,
    /// A member of staff, by token.
    Staff(Bearer),
}

/// How long a replica that refused a connection is passed over.
const SUSPECT_MS: u64 = 1_000;

struct Target {
    addr: SocketAddr,
    portal: Vec<Channel>,
    staff: Vec<Channel>,
    /// Milliseconds since the pool's epoch until which this replica is passed over.
    suspect_until: AtomicU64,
}

/// Channels to every replica.
pub struct Pool {
    targets: Vec<Target>,
    next: AtomicUsize,
    epoch: std::time::Instant,
    /// Calls sent again to another replica.
    failovers: AtomicU64,
    issuer: ed25519_dalek::SigningKey,
}

impl Pool {
    /// Opens `connections` channels of each kind to every replica of `stack`.
    pub async fn connect(stack: &Stack, connections: usize) -> anyhow::Result<Pool> {
        let trust = stack.pki.trust_only();
        let mut targets = Vec::new();
        for r in &stack.replicas {
            let mut portal = Vec::new();
            let mut staff = Vec::new();
            for _ in 0..connections.max(1) {
                portal.push(stack.channel(r.addr, &stack.portal_tls).await?);
                staff.push(stack.channel(r.addr, &trust).await?);
            }
            targets.push(Target {
                addr: r.addr,
                portal,
                staff,
                suspect_until: AtomicU64::new(0),
            });
        }
        anyhow::ensure!(!targets.is_empty(), "no replicas");
        Ok(Pool {
            targets,
            next: AtomicUsize::new(0),
            epoch: std::time::Instant::now(),
            failovers: AtomicU64::new(0),
            issuer: stack.issuer.clone(),
        })
    }

    pub fn replicas(&self) -> usize {
        self.targets.len()
    }

    pub fn failovers(&self) -> u64 {
        self.failovers.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The next replica in turn that is not passed over (or the next in turn,
    /// if all are), and a connection number.
    fn pick(&self) -> (usize, usize) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let replicas = self.targets.len();
        let now = self.now_ms();
        let first = n % replicas;
        let target = (0..replicas)
            .map(|k| (first + k) % replicas)
            .find(|&t| self.targets[t].suspect_until.load(Ordering::Relaxed) <= now)
            .unwrap_or(first);
        (target, (n / replicas) % self.targets[target].portal.len())
    }

    fn client(&self, target: usize, conn: usize, caller: &Caller) -> Client {
        let t = &self.targets[target];
        match caller {
            Caller::Portal => RegistrationServiceClient::with_interceptor(t.portal[conn].clone(), Bearer::none()),
            Caller::Staff(b) => RegistrationServiceClient::with_interceptor(t.staff[conn].clone(), b.clone()),
        }
    }

    /// A token-bearing caller: `subject` with `role` (and `office` for clerks).
    pub fn staff(&self, subject: &str, role: Role, office: Option<&str>) -> anyhow::Result<Caller> {
        let token = vrs_kit::token::mint(&self.issuer, ISSUER, subject, &[role], office, 24 * 3_600);
        Ok(Caller::Staff(Bearer::new(&token)?))
    }

    /// Calls `f` on the next replica; when the replica is gone, again on the
    /// next one (at most twice round the replicas).
    pub async fn call<T, F, Fut>(&self, caller: &Caller, f: F) -> Result<T, tonic::Status>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let attempts = 2 * self.targets.len() + 1;
        let mut last = None;
        for attempt in 0..attempts {
            let (target, conn) = self.pick();
            match f(self.client(target, conn, caller)).await {
                Ok(r) => return Ok(r.into_inner()),
                Err(s) if replica_gone(&s) && attempt + 1 < attempts => {
                    self.targets[target]
                        .suspect_until
                        .store(self.now_ms() + SUSPECT_MS, Ordering::Relaxed);
                    self.failovers.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(replica = %self.targets[target].addr, error = %s, "failing over");
                    last = Some(s);
                    tokio::time::sleep(Duration::from_millis(10 * attempt as u64)).await;
                }
                Err(s) => return Err(s),
            }
        }
        Err(last.unwrap_or_else(|| tonic::Status::unavailable("no replica answered")))
    }

    /// The trivial RPC of the baseline: a health check of the server as a
    /// whole, over the portal's channels (same TLS, same HTTP/2 connections).
    pub async fn health_check(&self) -> Result<(), tonic::Status> {
        let (target, conn) = self.pick();
        HealthClient::new(self.targets[target].portal[conn].clone())
            .check(HealthCheckRequest { service: String::new() })
            .await
            .map(|_| ())
    }

    /// A transparency-log client (public calls: no credentials) on a replica
    /// that answers, trying each in turn.
    pub async fn log(&self) -> Result<TransparencyLogServiceClient<Channel>, tonic::Status> {
        let mut last = None;
        for _ in 0..self.targets.len() {
            let (target, conn) = self.pick();
            let mut log = TransparencyLogServiceClient::new(self.targets[target].staff[conn].clone())
                .max_decoding_message_size(256 * 1024 * 1024);
            match log.get_trust(pb::GetTrustRequest {}).await {
                Ok(_) => return Ok(log),
                Err(s) if replica_gone(&s) => {
                    self.targets[target]
                        .suspect_until
                        .store(self.now_ms() + SUSPECT_MS, Ordering::Relaxed);
                    last = Some(s);
                }
                Err(s) => return Err(s),
            }
        }
        Err(last.unwrap_or_else(|| tonic::Status::unavailable("no replica answered")))
    }

    /// Reads the outbox as `supervisor`.
    pub async fn outbox_status(&self, supervisor: &Caller) -> Result<pb::OutboxStatus, tonic::Status> {
        self.call(supervisor, |mut c| async move {
            c.get_outbox_status(pb::GetOutboxStatusRequest::default()).await
        })
        .await
    }
}

/// Whether a failure means the replica is not there (any more), rather than
/// an answer from it: worth sending to another one.
pub fn replica_gone(s: &tonic::Status) -> bool {
    match s.code() {
        Code::Unavailable => true,
        // A connection reset mid-call surfaces as UNKNOWN/INTERNAL/CANCELLED
        // carrying the transport's error rather than a server's status.
        Code::Unknown | Code::Internal | Code::Cancelled => {
            let m = s.message().to_ascii_lowercase();
            [
                "transport",
                "connection",
                "h2 protocol",
                "broken pipe",
                "reset",
                "stream closed",
            ]
            .iter()
            .any(|w| m.contains(w))
        }
        _ => false,
    }
}

/// A portal call made for the citizen (or organisation) that owns `owner`.
pub fn for_owner<T>(msg: T, owner: &Option<pb::Owner>) -> tonic::Request<T> {
    let id = owner.as_ref().map_or("", |o| o.id());
    let mut r = tonic::Request::new(msg);
    if let Ok(v) = id.parse() {
        r.metadata_mut().insert(registration::api::CITIZEN_HEADER, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_counts_as_a_replica_gone() {
        assert!(replica_gone(&tonic::Status::unavailable("tcp connect error")));
        assert!(replica_gone(&tonic::Status::unknown("transport error")));
        assert!(!replica_gone(&tonic::Status::unknown("something the server said")));
        assert!(!replica_gone(&tonic::Status::invalid_argument("bad")));
        assert!(!replica_gone(&tonic::Status::deadline_exceeded("slow")));
    }
}
