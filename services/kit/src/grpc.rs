//! Serving tonic services the same way everywhere: bind first (port 0 in
//! tests, the bound address is exposed), add standard health checking and
//! server reflection v1 + v1alpha, trace every call and record its duration
//! ([`crate::telemetry::propagation::ServerLayer`]), and mark each service
//! SERVING.
//!
//! Readiness: with [`GrpcServer::with_readiness`] a probe (the database, the
//! beacon…) runs every few seconds and each named service's health status
//! follows it, so a load balancer sends nothing to a replica that could only
//! fail. The server as a whole (service `""`) stays SERVING: that is liveness,
//! and restarting a replica because its database is down helps no one.
//!
//! Shutdown (SIGTERM from Kubernetes): every service turns NOT_SERVING at
//! once while the server keeps answering for the drain delay (the time load
//! balancers take to notice); then it stops accepting connections and lets
//! in-flight calls finish within the grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// A bound gRPC server, not yet serving.
pub struct GrpcServer {
    listener: TcpListener,
    addr: SocketAddr,
    routes: Routes,
    health: HealthReporter,
    /// Names of the application services, reported SERVING once serving.
    names: Vec<&'static str>,
    /// Longest any call may run, whatever deadline the client sent (or none).
    timeout: std::time::Duration,
    /// Served by us rather than by tonic, so that it can follow its files (see [`crate::tls`]).
    tls: Option<Arc<rustls::ServerConfig>>,
    /// The health service alone, for a plaintext probe port.
    health_service: Routes,
    probe_listener: Option<TcpListener>,
    readiness: Option<Readiness>,
    /// Checked with readiness and reported under their own names, without gating it.
    dependencies: Vec<(&'static str, Probe)>,
    drain_delay: Duration,
    grace: Duration,
}

/// A check of what the server needs besides itself; `Err` says what is missing.
pub type Probe = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

struct Readiness {
    probe: Probe,
    every: Duration,
}

type Body = tonic::body::Body;

/// Server reflection (v1 and v1alpha) that lists the services this server
/// answers, health and reflection included, and no other: a generic client
/// that lists a port must not be offered services that answer UNIMPLEMENTED
/// there (`vrs-stack` serves seven, each on its own port).
fn with_reflection(routes: Routes, names: &[&'static str]) -> anyhow::Result<Routes> {
    let configure = || {
        let mut b = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(vrs_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health");
        for name in names {
            b = b.with_service_name(*name);
        }
        b
    };
    Ok(routes
        .add_service(configure().build_v1()?)
        .add_service(configure().build_v1alpha()?))
}

/// Answers a request over the size limit with RESOURCE_EXHAUSTED, as gRPC's
/// status codes define it and our API promises, instead of the OUT_OF_RANGE
/// tonic's decoder reports ("decoded message length too large"): a client
/// library retries or reports by code, and OUT_OF_RANGE means a bad argument.
#[derive(Clone)]
struct TooLarge<S>(S);

impl<S, B> tower::Service<http::Request<B>> for TooLarge<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let fut = self.0.call(req);
        Box::pin(async move {
            let mut res = fut.await?;
            let headers = res.headers_mut();
            // A refused request is answered trailers-only: the status is in the headers.
            let too_large = headers.get("grpc-status").is_some_and(|v| v == "11")
                && headers
                    .get("grpc-message")
                    .and_then(|m| m.to_str().ok())
                    .is_some_and(|m| m.replace("%20", " ").contains("message length too large"));
            if too_large {
                headers.insert("grpc-status", http::HeaderValue::from_static("8"));
            }
            Ok(res)
        })
    }
}

impl GrpcServer {
    /// Binds `addr` (use port 0 for an ephemeral port) and prepares health and reflection.
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (health, health_service) = tonic_health::server::health_reporter();
        let probe_routes = Routes::new(health_service.clone());
        let routes = Routes::new(health_service);
        Ok(GrpcServer {
            listener,
            addr,
            routes,
            health,
            names: Vec::new(),
            timeout: std::time::Duration::from_secs(60),
            tls: None,
            health_service: probe_routes,
            probe_listener: None,
            readiness: None,
            dependencies: Vec::new(),
            drain_delay: Duration::ZERO,
            grace: Duration::from_secs(30),
        })
    }

    /// Also serves gRPC health alone, in plaintext, on `addr`: for kubelet
    /// probes, which cannot present a client certificate. It reveals nothing
    /// but SERVING or NOT_SERVING.
    pub async fn with_probe_port(mut self, addr: Option<SocketAddr>) -> anyhow::Result<Self> {
        if let Some(addr) = addr {
            self.probe_listener = Some(TcpListener::bind(addr).await?);
        }
        Ok(self)
    }

    /// The probe port's bound address, if there is one.
    pub fn probe_addr(&self) -> Option<SocketAddr> {
        self.probe_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Runs `probe` every `every`; while it fails, every service is NOT_SERVING.
    pub fn with_readiness(mut self, probe: Probe, every: Duration) -> Self {
        self.readiness = Some(Readiness { probe, every });
        self
    }

    /// Also checks `probe` every readiness interval and reports it as health
    /// service `name`, without making the server unready: for a dependency
    /// some calls need and others do not, so that operators see it but a load
    /// balancer does not drop every replica at once when a shared one fails.
    pub fn with_dependency(mut self, name: &'static str, probe: Probe) -> Self {
        self.dependencies.push((name, probe));
        self
    }

    /// On shutdown: answer NOT_SERVING for `drain_delay` before refusing
    /// connections, then give in-flight calls up to `grace` to finish.
    pub fn with_drain(mut self, drain_delay: Duration, grace: Duration) -> Self {
        self.drain_delay = drain_delay;
        self.grace = grace;
        self
    }

    /// Adds an application service.
    pub fn add_service<S>(mut self, svc: S) -> Self
    where
        S: tower::Service<http::Request<Body>, Error = std::convert::Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.routes = self.routes.add_service(svc);
        self.names.push(S::NAME);
        self
    }

    /// Bounds every call: past it the caller gets DEADLINE_EXCEEDED (default 60 s).
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Serves over TLS as `tls` says (see [`crate::tls`]); plaintext when it is disabled.
    pub fn with_tls(mut self, tls: &crate::tls::TlsConfig, auth: crate::tls::ClientAuth) -> anyhow::Result<Self> {
        self.tls = tls.server(auth)?;
        Ok(self)
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The health reporter, for readiness that depends on more than the process.
    pub fn health(&self) -> HealthReporter {
        self.health.clone()
    }

    /// Serves until `shutdown` is cancelled, then drains as the module says.
    /// Returns at the latest `drain delay + grace` after `shutdown`, whatever
    /// clients do (a health `Watch` stream never ends by itself).
    pub async fn serve(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let GrpcServer {
            listener,
            addr,
            routes,
            health,
            names,
            timeout,
            tls,
            health_service,
            probe_listener,
            readiness,
            dependencies,
            drain_delay,
            grace,
        } = self;
        let routes = with_reflection(routes, &names)?;
        let every = readiness
            .as_ref()
            .map_or(Duration::from_secs(5), |r| r.every)
            .max(Duration::from_millis(100));
        let mut ready = Ok(());
        if let Some(r) = &readiness {
            ready = check(&r.probe, every).await;
        }
        set_status(&health, &names, &ready).await;
        report_dependencies(&health, &dependencies, every).await;
        health.set_service_status("", ServingStatus::Serving).await;
        tracing::info!(%addr, services = ?names, "gRPC server listening");
        // Refusing connections starts only after the drain delay.
        let stop_accepting = CancellationToken::new();
        let watcher = {
            let (stop_accepting, shutdown) = (stop_accepting.clone(), shutdown.clone());
            async move {
                while readiness.is_some() || !dependencies.is_empty() {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(every) => {}
                    }
                    // A check in flight must not delay the shutdown.
                    let now = tokio::select! {
                        _ = shutdown.cancelled() => break,
                        now = async {
                            report_dependencies(&health, &dependencies, every).await;
                            match &readiness {
                                Some(r) => check(&r.probe, every).await,
                                None => Ok(()),
                            }
                        } => now,
                    };
                    if now != ready {
                        set_status(&health, &names, &now).await;
                        ready = now;
                    }
                }
                shutdown.cancelled().await;
                set_status(&health, &names, &Err("shutting down".into())).await;
                health.set_service_status("", ServingStatus::NotServing).await;
                tokio::time::sleep(drain_delay).await;
                stop_accepting.cancel();
            }
        };
        let probe_server = probe_listener.map(|l| {
            let stop = stop_accepting.clone();
            tonic::transport::Server::builder()
                .add_routes(health_service)
                .serve_with_incoming_shutdown(incoming(l), async move { stop.cancelled().await })
        });
        let router = tonic::transport::Server::builder()
            .timeout(timeout)
            .layer(crate::telemetry::propagation::ServerLayer::new(timeout))
            .layer(tower::layer::layer_fn(TooLarge))
            .add_routes(routes);
        let stopped = stop_accepting.clone().cancelled_owned();
        // Two connection types (a TLS stream carries the peer's certificates
        // to `Request::peer_certs`), so two future types.
        let served: Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>> = match tls {
            Some(tls) => Box::pin(router.serve_with_incoming_shutdown(tls_incoming(listener, tls), stopped)),
            None => Box::pin(router.serve_with_incoming_shutdown(incoming(listener), stopped)),
        };
        let probes = async {
            match probe_server {
                Some(p) => p.await,
                None => Ok(()),
            }
        };
        let out_of_grace = async {
            stop_accepting.cancelled().await;
            tokio::time::sleep(grace).await;
        };
        let both = async { tokio::join!(served, probes) };
        let (result, ()) = tokio::join!(
            async {
                tokio::select! {
                    (served, probes) = both => served.and(probes),
                    () = out_of_grace => {
                        tracing::warn!(%addr, grace_ms = grace.as_millis() as u64, "grace period over; abandoning calls and streams still open");
                        Ok(())
                    }
                }
            },
            watcher,
        );
        result?;
        tracing::info!(%addr, "gRPC server stopped");
        Ok(())
    }
}

/// Accepted connections with `TCP_NODELAY`: without it Nagle's algorithm and
/// delayed ACKs put a ~40 ms floor under unary answers that span two segments.
fn incoming(listener: TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Longest a client may take over its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections accepted on `listener` (as [`incoming`]) after their TLS
/// handshake with `config`, done concurrently so a slow client delays no
/// other. Accepting stops, and the listener closes, once the server drops
/// the stream (when it stops accepting).
fn tls_incoming(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> TlsIncoming {
    use tokio_stream::StreamExt as _;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let mut tcp = incoming(listener);
        let mut handshakes = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                () = tx.closed() => break,
                accepted = tcp.next() => match accepted {
                    Some(Ok(stream)) => {
                        let acceptor = acceptor.clone();
                        handshakes.spawn(tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)));
                    }
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "accept failed");
                        // Out of file descriptors, say: do not spin.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    None => break,
                },
                Some(done) = handshakes.join_next(), if !handshakes.is_empty() => match done {
                    Ok(Ok(Ok(stream))) => {
                        if tx.send(stream).await.is_err() {
                            break;
                        }
                    }
                    Ok(Ok(Err(e))) => tracing::debug!(error = %e, "TLS handshake failed"),
                    Ok(Err(_)) => tracing::debug!("TLS handshake timed out"),
                    Err(e) => tracing::debug!(error = %e, "TLS handshake task failed"),
                },
            }
        }
    });
    TlsIncoming(rx)
}

/// The stream [`tls_incoming`] returns.
struct TlsIncoming(tokio::sync::mpsc::Receiver<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>);

impl tokio_stream::Stream for TlsIncoming {
    type Item = std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|next| next.map(Ok))
    }
}

async fn check(probe: &Probe, every: Duration) -> Result<(), String> {
    match tokio::time::timeout(every.max(Duration::from_secs(1)), probe()).await {
        Ok(res) => res,
        Err(_) => Err("probe timed out".into()),
    }
}

/// Reports each dependency under its own health name; they do not gate readiness.
async fn report_dependencies(health: &HealthReporter, dependencies: &[(&'static str, Probe)], every: Duration) {
    for (name, probe) in dependencies {
        let status = match check(probe, every).await {
            Ok(()) => ServingStatus::Serving,
            Err(why) => {
                tracing::warn!(dependency = name, reason = %why, "dependency unavailable");
                ServingStatus::NotServing
            }
        };
        health.set_service_status(*name, status).await;
    }
}

async fn set_status(health: &HealthReporter, names: &[&'static str], ready: &Result<(), String>) {
    let status = match ready {
        Ok(()) => ServingStatus::Serving,
        Err(why) => {
            tracing::warn!(reason = %why, "not ready: health is NOT_SERVING");
            ServingStatus::NotServing
        }
    };
    if ready.is_ok() {
        tracing::info!("ready: health is SERVING");
    }
    for name in names {
        health.set_service_status(*name, status).await;
    }
}
