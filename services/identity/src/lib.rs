//! Stand-in for the national population database and the enterprise register,
//! as the vehicle registry sees them: read-only lookups of a citizen by personal
//! ID and of an organisation by tax code, served over gRPC from the seeded
//! [`World`].
//!
//! A request flows through:
//!
//! 1. tonic decodes it (at most 16 KiB) and calls [`IdentityService`];
//! 2. the handler applies the injected faults ([`Faults::inject`]: latency,
//!    random `UNAVAILABLE`, outage) so callers can be tested against a slow or
//!    failing agency;
//! 3. it validates the key (`INVALID_ARGUMENT` with a `BadRequest` field
//!    violation when empty or ill-formed);
//! 4. it looks the key up in the world. A missing record is an answer, not an
//!    error: the response then carries no record;
//! 5. every response carries evidence: the SHA-256 of the request's protobuf
//!    encoding and the time it was answered.
//!
//! [`build`] binds the listener and returns the server together with the live
//! fault switches; `main` serves it until SIGTERM. Personal IDs are never logged.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use vrs_kit::agency::{self, AgencyConfig, MAX_REQUEST_BYTES, invalid, is_personal_id};
use vrs_kit::evidence::{now_rfc3339, sha256_of};
use vrs_kit::faults::Faults;
use vrs_kit::grpc::GrpcServer;
use vrs_kit::world::{self, World};
use vrs_proto::pb::identity::v1 as pb;

use pb::identity_service_server::{IdentityService as IdentityApi, IdentityServiceServer};

/// Configuration: `[faults]` and `listen` (default `127.0.0.1:50061`),
/// overridable by `VRS_IDENTITY__*`.
pub type Config = AgencyConfig<50061>;

/// Binds `cfg.listen` and assembles the server. The caller serves it with
/// [`GrpcServer::serve`]; the returned [`Faults`] steer it while it runs.
pub async fn build(cfg: &Config, world: Arc<World>) -> anyhow::Result<(GrpcServer, Faults)> {
    let (server, faults) = agency::bind("identity", cfg).await?;
    let service = IdentityService::new(world, faults.clone());
    let server = server.add_service(IdentityServiceServer::new(service).max_decoding_message_size(MAX_REQUEST_BYTES));
    Ok((server, faults))
}

/// The `vrs.identity.v1.IdentityService` implementation over a [`World`].
#[derive(Debug, Clone)]
pub struct IdentityService {
    /// The population database and enterprise register.
    world: Arc<World>,
    /// Injected latency, errors and outage.
    faults: Faults,
}

impl IdentityService {
    pub fn new(world: Arc<World>, faults: Faults) -> Self {
        IdentityService { world, faults }
    }
}

#[tonic::async_trait]
impl IdentityApi for IdentityService {
    #[tracing::instrument(name = "identity.GetCitizen", skip_all)]
    async fn get_citizen(
        &self,
        request: Request<pb::GetCitizenRequest>,
    ) -> Result<Response<pb::GetCitizenResponse>, Status> {
        self.faults.inject().await?;
        let request = request.into_inner();
        if !is_personal_id(&request.personal_id) {
            return Err(invalid("personal_id", "must be 12 digits"));
        }
        let citizen = self.world.citizen(&request.personal_id).map(citizen_to_pb);
        tracing::debug!(found = citizen.is_some(), "citizen looked up");
        Ok(Response::new(pb::GetCitizenResponse {
            citizen,
            request_sha256: sha256_of(&request),
            answered_at: now_rfc3339(),
        }))
    }

    #[tracing::instrument(name = "identity.GetOrganisation", skip_all)]
    async fn get_organisation(
        &self,
        request: Request<pb::GetOrganisationRequest>,
    ) -> Result<Response<pb::GetOrganisationResponse>, Status> {
        self.faults.inject().await?;
        let request = request.into_inner();
        if !world::is_valid_tax_code(&request.tax_code) {
            return Err(invalid(
                "tax_code",
                "must be 10 digits with a valid check digit, or NNNNNNNNNN-NNN for a branch",
            ));
        }
        let organisation = self.world.organisation(&request.tax_code).map(organisation_to_pb);
        tracing::debug!(found = organisation.is_some(), "organisation looked up");
        Ok(Response::new(pb::GetOrganisationResponse {
            organisation,
            request_sha256: sha256_of(&request),
            answered_at: now_rfc3339(),
        }))
    }
}

fn citizen_to_pb(c: &world::Citizen) -> pb::Citizen {
    pb::Citizen {
        personal_id: c.personal_id.clone(),
        full_name: c.full_name.clone(),
        date_of_birth: c.date_of_birth.to_string(),
        gender: match c.gender {
            world::Gender::Male => pb::Gender::Male,
            world::Gender::Female => pb::Gender::Female,
        } as i32,
        life_status: match c.life_status {
            world::LifeStatus::Alive => pb::LifeStatus::Alive,
            world::LifeStatus::Deceased => pb::LifeStatus::Deceased,
        } as i32,
        residence: Some(residence_to_pb(&c.residence)),
    }
}

fn organisation_to_pb(o: &world::Organisation) -> pb::Organisation {
    pb::Organisation {
        tax_code: o.tax_code.clone(),
        name: o.name.clone(),
        status: match o.status {
            world::OrganisationStatus::Active => pb::OrganisationStatus::Active,
            world::OrganisationStatus::Closed => pb::OrganisationStatus::Closed,
        } as i32,
        seat: Some(residence_to_pb(&o.seat)),
    }
}

fn residence_to_pb(r: &world::Residence) -> pb::Residence {
    pb::Residence {
        locality_code: r.locality_code.clone(),
        province: r.province.clone(),
        address: r.address.clone(),
    }
}
