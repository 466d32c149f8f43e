//! gRPC handlers: prost messages in, [`Registry`] calls, prost messages out.
//! Errors become `tonic::Status` through `From<Error>` in [`crate::error`].

use std::sync::Arc;

use prost::Message;
use tonic::{Request, Response, Status};
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::registration_service_server::RegistrationService;
use vrs_proto::pb::registration::v1::transparency_log_service_server::TransparencyLogService;

use crate::domain::checks::Reason;
use crate::domain::workflow::{Event, State};
use crate::error::Error;
use crate::service::{ACTOR_CITIZEN, Action, Registry};
use crate::store::Record;

pub struct Api {
    registry: Arc<Registry>,
}

impl Api {
    pub fn new(registry: Arc<Registry>) -> Api {
        Api { registry }
    }

    /// The API view, with the fee due.
    fn view(&self, rec: &Record) -> Result<pb::Application, Error> {
        let mut app = to_pb(rec)?;
        if let Some(fee) = self.registry.fee_for(rec) {
            app.fee_due_vnd = fee.amount_vnd;
            app.fee_legal_source = format!("{}, area {}", fee.legal_source, fee.area);
        }
        Ok(app)
    }
}

#[tonic::async_trait]
impl RegistrationService for Api {
    async fn submit_application(
        &self,
        request: Request<pb::SubmitApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let rec = self.registry.submit(request.get_ref()).await?;
        Ok(Response::new(self.view(&rec)?))
    }

    async fn get_application(
        &self,
        request: Request<pb::GetApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let rec = self.registry.get(&request.get_ref().application_id).await?;
        Ok(Response::new(self.view(&rec)?))
    }

    async fn list_applications(
        &self,
        request: Request<pb::ListApplicationsRequest>,
    ) -> Result<Response<pb::ListApplicationsResponse>, Status> {
        let (rows, next_page_token) = self.registry.list(request.get_ref()).await?;
        let applications = rows.iter().map(to_pb).collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListApplicationsResponse {
            applications,
            next_page_token,
        }))
    }

    async fn approve_application(
        &self,
        request: Request<pb::ApproveApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let r = request.into_inner();
        let actor = required_actor(&r.actor)?;
        let action = Action {
            event: Event::ClerkApproved,
            actor,
            reason_code: String::new(),
            note: r.note,
        };
        Ok(Response::new(to_pb(
            &self.registry.act(&r.application_id, action).await?,
        )?))
    }

    async fn reject_application(
        &self,
        request: Request<pb::RejectApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let r = request.into_inner();
        let actor = required_actor(&r.actor)?;
        let reason_code = required_code("reason_code", &r.reason_code)?;
        let action = Action {
            event: Event::ClerkRejected,
            actor,
            reason_code,
            note: r.note,
        };
        Ok(Response::new(to_pb(
            &self.registry.act(&r.application_id, action).await?,
        )?))
    }

    async fn withdraw_application(
        &self,
        request: Request<pb::WithdrawApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let r = request.into_inner();
        let action = Action {
            event: Event::Withdrawn,
            actor: ACTOR_CITIZEN.into(),
            reason_code: "WITHDRAWN_BY_CITIZEN".into(),
            note: r.note,
        };
        Ok(Response::new(to_pb(
            &self.registry.act(&r.application_id, action).await?,
        )?))
    }
    async fn draw_plate(
        &self,
        request: Request<pb::DrawPlateRequest>,
    ) -> Result<Response<pb::DrawPlateResponse>, Status> {
        let id = &request.get_ref().application_id;
        let rec = self.registry.get(id).await?;
        let outcome = self.registry.plates().draw_plate(&rec.app).await?;
        let rec = self.registry.get(id).await?;
        Ok(Response::new(pb::DrawPlateResponse {
            application: Some(to_pb(&rec)?),
            plate: outcome.plate,
            method: outcome.method.as_str().into(),
            receipt: outcome.receipt.map(|json| pb::Receipt { json }),
        }))
    }

    async fn revoke_plate(
        &self,
        request: Request<pb::RevokePlateRequest>,
    ) -> Result<Response<pb::RevokePlateResponse>, Status> {
        let r = request.into_inner();
        required_actor(&r.actor)?;
        let reason = required_code("reason_code", &r.reason_code)?;
        if !["OWNERSHIP_TRANSFER", "SCRAPPED", "DAMAGED"].contains(&reason.as_str()) {
            return Err(Error::invalid("reason_code", "one of OWNERSHIP_TRANSFER, SCRAPPED, DAMAGED").into());
        }
        self.registry.get(&r.application_id).await?;
        let plate = self.registry.plates().revoke(&r.application_id, &reason).await?;
        Ok(Response::new(pb::RevokePlateResponse { plate }))
    }

    async fn confirm_payment(
        &self,
        request: Request<pb::ConfirmPaymentRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let r = request.into_inner();
        let rec = self
            .registry
            .confirm_payment(&r.application_id, &r.payment_reference, r.amount_vnd)
            .await?;
        Ok(Response::new(self.view(&rec)?))
    }

    async fn issue_certificate(
        &self,
        request: Request<pb::IssueCertificateRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let r = request.into_inner();
        let actor = required_actor(&r.actor)?;
        let rec = self.registry.issue_certificate(&r.application_id, &actor).await?;
        Ok(Response::new(self.view(&rec)?))
    }

    async fn confirm_delivery(
        &self,
        request: Request<pb::ConfirmDeliveryRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let r = request.into_inner();
        let actor = required_actor(&r.actor)?;
        let action = Action {
            event: Event::Delivered,
            actor,
            reason_code: "DELIVERED".into(),
            note: String::new(),
        };
        Ok(Response::new(
            self.view(&self.registry.act(&r.application_id, action).await?)?,
        ))
    }

    async fn record_auction_win(
        &self,
        request: Request<pb::RecordAuctionWinRequest>,
    ) -> Result<Response<pb::RecordAuctionWinResponse>, Status> {
        let r = request.into_inner();
        required_actor(&r.actor)?;
        let owner = r.owner_id.trim();
        let is_personal_id = owner.len() == 12 && owner.bytes().all(|b| b.is_ascii_digit());
        if !is_personal_id && crate::domain::ids::TaxCode::parse(owner).is_err() {
            return Err(Error::invalid("owner_id", "a 12-digit personal ID or a tax code").into());
        }
        let plate = self
            .registry
            .plates()
            .record_auction_win(r.pool_id.trim(), r.number, owner)
            .await?;
        Ok(Response::new(pb::RecordAuctionWinResponse { plate }))
    }
}

/// The transparency log for auditors.
pub struct LogApi {
    registry: Arc<Registry>,
}

impl LogApi {
    pub fn new(registry: Arc<Registry>) -> LogApi {
        LogApi { registry }
    }
}

/// Most entries per GetEntries call.
const MAX_ENTRIES: u64 = 10_000;

#[tonic::async_trait]
impl TransparencyLogService for LogApi {
    async fn get_checkpoint(&self, _: Request<pb::GetCheckpointRequest>) -> Result<Response<pb::Checkpoint>, Status> {
        let cp = self.registry.plates().checkpoint().await?;
        Ok(Response::new(pb::Checkpoint {
            note: cp.note,
            size: cp.size as u64,
            root: cp.root,
        }))
    }

    async fn get_entries(
        &self,
        request: Request<pb::GetEntriesRequest>,
    ) -> Result<Response<pb::GetEntriesResponse>, Status> {
        let r = request.into_inner();
        if r.end < r.start || r.end - r.start > MAX_ENTRIES {
            return Err(Error::invalid("end", format!("must be between start and start + {MAX_ENTRIES}")).into());
        }
        let rows = crate::plates::log::entries(self.registry.plates().db(), r.start, r.end)
            .await
            .map_err(Error::from)?;
        let entries = rows
            .into_iter()
            .map(|e| pb::LogEntry {
                index: e.seq as u64,
                entry: e.entry,
            })
            .collect();
        Ok(Response::new(pb::GetEntriesResponse { entries }))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::Proof>, Status> {
        let r = request.into_inner();
        let proof = self
            .registry
            .plates()
            .tree_size_and(|t| t.inclusion_proof(r.index, r.tree_size))
            .await?;
        let proof = proof.ok_or_else(|| Error::invalid("index", "not below tree_size, or tree_size beyond the log"))?;
        Ok(Response::new(pb::Proof {
            hashes: proof.iter().map(|h| h.to_vec()).collect(),
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::Proof>, Status> {
        let r = request.into_inner();
        let proof = self
            .registry
            .plates()
            .tree_size_and(|t| t.consistency_proof(r.first, r.second))
            .await?;
        let proof = proof.ok_or_else(|| Error::invalid("first", "need 0 < first ≤ second ≤ log size"))?;
        Ok(Response::new(pb::Proof {
            hashes: proof.iter().map(|h| h.to_vec()).collect(),
        }))
    }

    async fn get_trust(&self, _: Request<pb::GetTrustRequest>) -> Result<Response<pb::Trust>, Status> {
        let json =
            serde_json::to_string_pretty(&self.registry.plates().trust()).map_err(|e| Error::Internal(e.into()))?;
        Ok(Response::new(pb::Trust { json }))
    }

    async fn get_receipt(&self, request: Request<pb::GetReceiptRequest>) -> Result<Response<pb::Receipt>, Status> {
        let json = self
            .registry
            .plates()
            .receipt_json(&request.get_ref().application_id)
            .await?;
        Ok(Response::new(pb::Receipt { json }))
    }
}

fn required_code(field: &str, code: &str) -> Result<String, Status> {
    let c = code.trim().to_ascii_uppercase();
    if c.is_empty()
        || c.len() > 64
        || !c
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(Error::invalid(field, "required: 1–64 characters of A–Z, 0–9 and '_'").into());
    }
    Ok(c)
}

fn required_actor(actor: &str) -> Result<String, Status> {
    let a = actor.trim();
    if a.is_empty() || a.len() > 64 {
        return Err(Error::invalid("actor", "required: the clerk's identifier, at most 64 characters").into());
    }
    Ok(a.to_owned())
}

/// The API view of a stored application.
pub fn to_pb(rec: &Record) -> Result<pb::Application, Error> {
    let decl = pb::SubmitApplicationRequest::decode(rec.app.declaration.as_slice())
        .map_err(|e| Error::Internal(anyhow::Error::new(e).context("stored declaration")))?;
    let state = State::parse(&rec.app.state)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("unknown stored state {:?}", rec.app.state)))?;
    let reasons = |json: &str| -> Result<Vec<pb::Reason>, Error> {
        let r: Vec<Reason> = serde_json::from_str(json).map_err(|e| Error::Internal(e.into()))?;
        Ok(r.iter().map(Reason::to_pb).collect())
    };
    let pb_state = |s: &str| {
        State::parse(s)
            .map(State::to_pb)
            .unwrap_or(pb::ApplicationState::Unspecified) as i32
    };
    Ok(pb::Application {
        application_id: rec.app.id.clone(),
        dossier_code: rec.app.dossier_code.clone(),
        state: state.to_pb() as i32,
        owner: decl.owner,
        vehicle: decl.vehicle,
        office_code: rec.app.office_code.clone(),
        locality_code: rec.app.locality_code.clone(),
        reasons: reasons(&rec.app.reasons)?,
        warnings: reasons(&rec.app.warnings)?,
        history: rec
            .history
            .iter()
            .map(|h| pb::StateChange {
                from_state: pb_state(&h.from_state),
                to_state: pb_state(&h.to_state),
                actor: h.actor.clone(),
                at: rfc3339(h.at_ms),
                reason_code: h.reason_code.clone(),
                note: h.note.clone(),
            })
            .collect(),
        evidence: rec
            .evidence
            .iter()
            .map(|e| pb::Evidence {
                agency: e.agency.clone(),
                request_sha256: e.request_sha256.clone(),
                response_sha256: e.response_sha256.clone(),
                outcome: e.outcome.clone(),
                fetched_at: rfc3339(e.fetched_at_ms),
            })
            .collect(),
        created_at: rfc3339(rec.app.created_at_ms),
        updated_at: rfc3339(rec.app.updated_at_ms),
        attempts: u32::try_from(rec.app.attempts).unwrap_or(0),
        plate: rec.app.plate.clone().unwrap_or_default(),
        fee_due_vnd: 0,
        fee_legal_source: String::new(),
        certificate_number: rec.app.certificate_number.clone().unwrap_or_default(),
    })
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}
