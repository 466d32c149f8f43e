//! Stand-in for Vietnam Register as the vehicle registry sees it: the factory
//! quality certificate (phiếu xuất xưởng, "PXX") of a domestically manufactured
//! or assembled vehicle, looked up by chassis number and served over gRPC from
//! the seeded [`World`]. Imported vehicles have a customs declaration instead
//! (the `customs` crate).
//!
//! A request flows through:
//!
//! 1. tonic decodes it (at most 16 KiB) and calls [`RegisterService`];
//! 2. the handler applies the injected faults ([`Faults::inject`]);
//! 3. it validates the chassis number (`INVALID_ARGUMENT` with a `BadRequest`
//!    field violation unless 6–20 letters and digits); lookups ignore case;
//! 4. it looks the certificate up; a missing one is an answer without record;
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
use vrs_proto::pb::register::v1 as pb;

use pb::vehicle_register_service_server::{VehicleRegisterService, VehicleRegisterServiceServer};

/// Configuration: `[faults]` and `listen` (default `127.0.0.1:50064`),
/// overridable by `VRS_REGISTER__*`.
pub type Config = AgencyConfig<50064>;

/// Binds `cfg.listen` and assembles the server. The caller serves it with
/// [`GrpcServer::serve`]; the returned [`Faults`] steer it while it runs.
pub async fn build(cfg: &Config, world: Arc<World>) -> anyhow::Result<(GrpcServer, Faults)> {
    let (server, faults) = agency::bind("register", cfg).await?;
    let service = RegisterService::new(world, faults.clone());
    let server =
        server.add_service(VehicleRegisterServiceServer::new(service).max_decoding_message_size(MAX_REQUEST_BYTES));
    Ok((server, faults))
}

/// The `vrs.register.v1.VehicleRegisterService` implementation over a [`World`].
#[derive(Debug, Clone)]
pub struct RegisterService {
    /// The quality certificates.
    world: Arc<World>,
    /// Injected latency, errors and outage.
    faults: Faults,
}

impl RegisterService {
    pub fn new(world: Arc<World>, faults: Faults) -> Self {
        RegisterService { world, faults }
    }
}

#[tonic::async_trait]
impl VehicleRegisterService for RegisterService {
    #[tracing::instrument(name = "register.GetQualityCertificate", skip_all)]
    async fn get_quality_certificate(
        &self,
        request: Request<pb::GetQualityCertificateRequest>,
    ) -> Result<Response<pb::GetQualityCertificateResponse>, Status> {
        self.faults.inject().await?;
        let request = request.into_inner();
        if !is_chassis_number(&request.chassis_number) {
            return Err(invalid("chassis_number", "must be 6–20 letters and digits"));
        }
        let certificate = self
            .world
            .quality_certificate(&request.chassis_number)
            .map(certificate_to_pb);
        tracing::debug!(found = certificate.is_some(), "quality certificate looked up");
        Ok(Response::new(pb::GetQualityCertificateResponse {
            certificate,
            request_sha256: sha256_of(&request),
            answered_at: now_rfc3339(),
        }))
    }
}

fn certificate_to_pb(c: &world::QualityCertificate) -> pb::QualityCertificate {
    pb::QualityCertificate {
        certificate_number: c.certificate_number.clone(),
        manufacturer: c.manufacturer.clone(),
        chassis_number: c.chassis_number.clone(),
        engine_number: c.engine_number.clone(),
        make: c.make.clone(),
        model: c.model.clone(),
        year_of_manufacture: c.year_of_manufacture,
        seats: c.seats,
        vehicle_type: c.vehicle_type.as_str().to_string(),
        issued_on: c.issued_on.to_string(),
    }
}
