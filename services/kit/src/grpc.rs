//! Serving tonic services the same way everywhere: bind first (port 0 in
//! tests, the bound address is exposed), add standard health checking and
//! server reflection v1 + v1alpha, mark each service SERVING, and on shutdown
//! mark them NOT_SERVING before draining in-flight calls.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
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
    tls: Option<tonic::transport::ServerTlsConfig>,
}

type Body = tonic::body::Body;

impl GrpcServer {
    /// Binds `addr` (use port 0 for an ephemeral port) and prepares health and reflection.
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (health, health_service) = tonic_health::server::health_reporter();
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(vrs_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(vrs_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;
        let routes = Routes::new(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);
        Ok(GrpcServer {
            listener,
            addr,
            routes,
            health,
            names: Vec::new(),
            timeout: std::time::Duration::from_secs(60),
            tls: None,
        })
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

    /// Serves until `shutdown` is cancelled, then reports NOT_SERVING and drains.
    pub async fn serve(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let GrpcServer {
            listener,
            addr,
            routes,
            health,
            names,
            timeout,
            tls,
        } = self;
        for name in &names {
            health.set_service_status(*name, ServingStatus::Serving).await;
        }
        health.set_service_status("", ServingStatus::Serving).await;
        tracing::info!(%addr, services = ?names, "gRPC server listening");
        let drain = async move {
            shutdown.cancelled().await;
            for name in &names {
                health.set_service_status(*name, ServingStatus::NotServing).await;
            }
            health.set_service_status("", ServingStatus::NotServing).await;
        };
        let mut builder = tonic::transport::Server::builder().timeout(timeout);
        if let Some(tls) = tls {
            builder = builder.tls_config(tls)?;
        }
        builder
            .add_routes(routes)
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), drain)
            .await?;
        tracing::info!(%addr, "gRPC server stopped");
        Ok(())
    }
}
