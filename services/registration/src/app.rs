//! Assembly: configuration in, a bound server and its worker out.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use vrs_kit::grpc::GrpcServer;
use vrs_proto::pb::registration::v1::registration_service_server::RegistrationServiceServer;

use crate::api::Api;
use crate::config::Config;
use crate::lookups::Agencies;
use crate::service::{Registry, run_worker};
use crate::store::Store;

/// A registration service, bound and migrated, not yet serving.
pub struct Application {
    server: GrpcServer,
    registry: Arc<Registry>,
}

impl Application {
    /// Connects the database (running migrations), prepares the agency
    /// clients and binds the gRPC listener.
    pub async fn build(cfg: &Config) -> anyhow::Result<Application> {
        let store = Store::connect(&cfg.database.url, cfg.database.max_connections).await?;
        let agencies = Agencies::new(&cfg.agencies)?;
        let registry = Arc::new(Registry::new(store, agencies, cfg));
        let api = RegistrationServiceServer::new(Api::new(registry.clone()))
            .max_decoding_message_size(cfg.server.max_message_bytes);
        let server = GrpcServer::bind(cfg.server.listen).await?.add_service(api);
        Ok(Application { server, registry })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// Serves and runs the lookup worker until `shutdown`; then stops taking
    /// calls, lets in-flight calls and the worker's current pass finish.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let worker = tokio::spawn(run_worker(self.registry.clone(), shutdown.clone()));
        let served = self.server.serve(shutdown.clone()).await;
        shutdown.cancel();
        worker.await?;
        served
    }
}
