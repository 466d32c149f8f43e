//! Stand-in for the General Department of Taxation as the vehicle registry sees
//! it: the registration-fee (lệ phí trước bạ) records a payer has declared,
//! served over gRPC from the seeded [`World`].
//!
//! The registry asks for *all* records of a payer (an individual's personal ID
//! or an organisation's tax code) and picks the one for its vehicle itself, so a
//! record whose chassis number was mistyped at the tax office shows up as a
//! mismatch rather than as "not found".
//!
//! A request flows through:
//!
//! 1. tonic decodes it (at most 16 KiB) and calls [`TaxService`];
//! 2. the handler applies the injected faults ([`Faults::inject`]);
//! 3. it validates the payer ID (`INVALID_ARGUMENT` with a `BadRequest` field
//!    violation unless 12 digits or a valid tax code);
//! 4. it lists the payer's records, in dossier order; none is a valid answer;
//! 5. the response carries evidence: the SHA-256 of the request's protobuf
//!    encoding and the time it was answered.
//!
//! [`build`] binds the listener and returns the server together with the live
//! fault switches; `main` serves it until SIGTERM. Payer IDs are never logged.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use vrs_kit::agency::{self, AgencyConfig, MAX_REQUEST_BYTES, invalid, is_personal_id};
use vrs_kit::evidence::{now_rfc3339, sha256_of};
use vrs_kit::faults::Faults;
use vrs_kit::grpc::GrpcServer;
use vrs_kit::world::{self, World};
use vrs_proto::pb::tax::v1 as pb;

use pb::tax_service_server::{TaxService as TaxApi, TaxServiceServer};

/// Configuration: `[faults]` and `listen` (default `127.0.0.1:50062`),
/// overridable by `VRS_TAX__*`.
pub type Config = AgencyConfig<50062>;

/// Binds `cfg.listen` and assembles the server. The caller serves it with
/// [`GrpcServer::serve`]; the returned [`Faults`] steer it while it runs.
pub async fn build(cfg: &Config, world: Arc<World>) -> anyhow::Result<(GrpcServer, Faults)> {
    let (server, faults) = agency::bind("tax", cfg).await?;
    let service = TaxService::new(world, faults.clone());
    let server = server.add_service(TaxServiceServer::new(service).max_decoding_message_size(MAX_REQUEST_BYTES));
    Ok((server, faults))
}

/// The `vrs.tax.v1.TaxService` implementation over a [`World`].
#[derive(Debug, Clone)]
pub struct TaxService {
    /// The registration-fee records.
    world: Arc<World>,
    /// Injected latency, errors and outage.
    faults: Faults,
}

impl TaxService {
    pub fn new(world: Arc<World>, faults: Faults) -> Self {
        TaxService { world, faults }
    }
}

#[tonic::async_trait]
impl TaxApi for TaxService {
    #[tracing::instrument(name = "tax.ListRegistrationFees", skip_all)]
    async fn list_registration_fees(
        &self,
        request: Request<pb::ListRegistrationFeesRequest>,
    ) -> Result<Response<pb::ListRegistrationFeesResponse>, Status> {
        self.faults.inject().await?;
        let request = request.into_inner();
        if !is_personal_id(&request.payer_id) && !world::is_valid_tax_code(&request.payer_id) {
            return Err(invalid(
                "payer_id",
                "must be a 12-digit personal ID or a tax code (10 digits with a valid check digit, or NNNNNNNNNN-NNN)",
            ));
        }
        let records: Vec<pb::FeeRecord> = self
            .world
            .fee_records_of(&request.payer_id)
            .map(fee_record_to_pb)
            .collect();
        tracing::debug!(records = records.len(), "fee records listed");
        Ok(Response::new(pb::ListRegistrationFeesResponse {
            records,
            request_sha256: sha256_of(&request),
            answered_at: now_rfc3339(),
        }))
    }
}

fn fee_record_to_pb(r: &world::FeeRecord) -> pb::FeeRecord {
    pb::FeeRecord {
        dossier_code: r.dossier_code.clone(),
        payer_id: r.payer_id.clone(),
        payer_name: r.payer_name.clone(),
        vehicle_type: r.vehicle_type.as_str().to_string(),
        brand: r.brand.clone(),
        model: r.model.clone(),
        engine_number: r.engine_number.clone(),
        chassis_number: r.chassis_number.clone(),
        capacity_cc: r.capacity_cc,
        seats: r.seats,
        country_of_manufacture: r.country_of_manufacture.clone(),
        year_of_manufacture: r.year_of_manufacture,
        taxable_value_vnd: r.taxable_value_vnd,
        rate_permille: r.rate_permille,
        fee_due_vnd: r.fee_due_vnd,
        fee_paid_vnd: r.fee_paid_vnd,
        payment_date: r.payment_date.map(|d| d.to_string()).unwrap_or_default(),
        status: match r.status {
            world::PaymentStatus::Paid => pb::PaymentStatus::Paid,
            world::PaymentStatus::Unpaid => pb::PaymentStatus::Unpaid,
        } as i32,
    }
}
