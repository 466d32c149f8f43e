//! Stand-in for the General Department of Customs as the vehicle registry sees
//! it: the import declaration that cleared a vehicle, looked up by chassis
//! number and served over gRPC from the seeded [`World`]. Only imported
//! vehicles have one; domestic vehicles have a Vietnam Register certificate
//! instead (the `register` crate).
//!
//! A request flows through:
//!
//! 1. tonic decodes it (at most 16 KiB) and calls [`CustomsService`];
//! 2. the handler applies the injected faults ([`Faults::inject`]);
//! 3. it validates the chassis number (`INVALID_ARGUMENT` with a `BadRequest`
//!    field violation unless 6–20 letters and digits); lookups ignore case;
//! 4. it looks the declaration up; a missing one is an answer without record;
//! 5. the response carries evidence: the SHA-256 of the request's protobuf
//!    encoding and the time it was answered.
//!
//! [`build`] binds the listener and returns the server together with the live
//! fault switches; `main` serves it until SIGTERM.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use vrs_kit::agency::{self, AgencyConfig, MAX_REQUEST_BYTES, invalid, is_chassis_number};
use vrs_kit::evidence::{now_rfc3339, sha256_of};
use vrs_kit::faults::Faults;
use vrs_kit::grpc::GrpcServer;
use vrs_kit::world::{self, World};
use vrs_proto::pb::customs::v1 as pb;

use pb::customs_service_server::{CustomsService as CustomsApi, CustomsServiceServer};

/// Configuration: `[faults]` and `listen` (default `127.0.0.1:50063`),
/// overridable by `VRS_CUSTOMS__*`.
pub type Config = AgencyConfig<50063>;

/// Binds `cfg.listen` and assembles the server. The caller serves it with
/// [`GrpcServer::serve`]; the returned [`Faults`] steer it while it runs.
pub async fn build(cfg: &Config, world: Arc<World>) -> anyhow::Result<(GrpcServer, Faults)> {
    let (server, faults) = agency::bind("customs", cfg).await?;
    let service = CustomsService::new(world, faults.clone());
    let server = server.add_service(CustomsServiceServer::new(service).max_decoding_message_size(MAX_REQUEST_BYTES));
    Ok((server, faults))
}

/// The `vrs.customs.v1.CustomsService` implementation over a [`World`].
#[derive(Debug, Clone)]
pub struct CustomsService {
    /// The import declarations.
    world: Arc<World>,
    /// Injected latency, errors and outage.
    faults: Faults,
}

impl CustomsService {
    pub fn new(world: Arc<World>, faults: Faults) -> Self {
        CustomsService { world, faults }
    }
}

#[tonic::async_trait]
impl CustomsApi for CustomsService {
    #[tracing::instrument(name = "customs.GetImportDeclaration", skip_all)]
    async fn get_import_declaration(
        &self,
        request: Request<pb::GetImportDeclarationRequest>,
    ) -> Result<Response<pb::GetImportDeclarationResponse>, Status> {
        self.faults.inject().await?;
        let request = request.into_inner();
        if !is_chassis_number(&request.chassis_number) {
            return Err(invalid("chassis_number", "must be 6–20 letters and digits"));
        }
        let declaration = self
            .world
            .import_declaration(&request.chassis_number)
            .map(declaration_to_pb);
        tracing::debug!(found = declaration.is_some(), "import declaration looked up");
        Ok(Response::new(pb::GetImportDeclarationResponse {
            declaration,
            request_sha256: sha256_of(&request),
            answered_at: now_rfc3339(),
        }))
    }
}

fn declaration_to_pb(d: &world::ImportDeclaration) -> pb::ImportDeclaration {
    pb::ImportDeclaration {
        declaration_number: d.declaration_number.clone(),
        importer_tax_code: d.importer_tax_code.clone(),
        importer_name: d.importer_name.clone(),
        chassis_number: d.chassis_number.clone(),
        engine_number: d.engine_number.clone(),
        make: d.make.clone(),
        model: d.model.clone(),
        year_of_manufacture: d.year_of_manufacture,
        seats: d.seats,
        vehicle_type: d.vehicle_type.as_str().to_string(),
        country_of_origin: d.country_of_origin.clone(),
        cleared_on: d.cleared_on.to_string(),
    }
}
