//! gRPC handlers: prost messages in, [`Registry`] calls, prost messages out.
//! Errors become `tonic::Status` through `From<Error>` in [`crate::error`].

use std::sync::Arc;

use tonic::{Request, Response, Status};
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::registration_service_server::RegistrationService;
use vrs_proto::pb::registration::v1::transparency_log_service_server::TransparencyLogService;

use crate::auth::{Authenticator, Caller, Grant, Rpc};
use crate::domain::checks::Reason;
use crate::domain::workflow::{Event, State};
use crate::error::Error;
use crate::service::{ACTOR_CITIZEN, Action, Registry, stored_declaration};
use crate::store::Record;
use crate::store::entities::application;

pub struct Api {
    registry: Arc<Registry>,
    auth: Arc<Authenticator>,
}

impl Api {
    pub fn new(registry: Arc<Registry>, auth: Arc<Authenticator>) -> Api {
        Api { registry, auth }
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

    /// Authenticates the caller and checks `rpc` against its roles.
    fn caller<T>(&self, req: &Request<T>, rpc: Rpc) -> Result<(Caller, Grant), Error> {
        let caller = self.auth.caller(req)?;
        let grant = caller.require(rpc)?;
        Ok((caller, grant))
    }

    /// Authenticates, loads the application's row (one query) and checks
    /// `rpc` for its office. A change answers with the record it wrote; a
    /// read loads the rest with [`Registry::record_of`].
    async fn caller_for<T>(&self, req: &Request<T>, rpc: Rpc, id: &str) -> Result<(Caller, application::Model), Error> {
        let (caller, _) = self.caller(req, rpc)?;
        let app = self.registry.row(id).await?;
        caller.require_for_office(rpc, &app.office_code)?;
        Ok((caller, app))
    }

    /// A clerk's action on an application of their office. The caller is
    /// checked before the request's fields, so a stranger learns nothing from errors.
    async fn clerk_act(
        &self,
        req: &Request<impl Sized>,
        rpc: Rpc,
        id: &str,
        event: Event,
        reason_code: Result<String, Status>,
        note: &str,
    ) -> Result<pb::Application, Status> {
        let (caller, rec) = self.caller_for(req, rpc, id).await?;
        let action = Action {
            event,
            actor: caller.subject,
            reason_code: reason_code?,
            note: bounded_note(note)?,
        };
        Ok(self.view(&self.registry.act(rec, action).await?)?)
    }
}

#[tonic::async_trait]
impl RegistrationService for Api {
    async fn submit_application(
        &self,
        request: Request<pb::SubmitApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        self.caller(&request, Rpc::SubmitApplication)?;
        citizen_owns(&request, request.get_ref())?;
        let rec = self.registry.submit(request.get_ref()).await?;
        Ok(Response::new(self.view(&rec)?))
    }

    async fn get_application(
        &self,
        request: Request<pb::GetApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let (_, app) = self
            .caller_for(&request, Rpc::GetApplication, &request.get_ref().application_id)
            .await?;
        Ok(Response::new(self.view(&self.registry.record_of(app).await?)?))
    }

    async fn list_applications(
        &self,
        request: Request<pb::ListApplicationsRequest>,
    ) -> Result<Response<pb::ListApplicationsResponse>, Status> {
        let (caller, grant) = self.caller(&request, Rpc::ListApplications)?;
        let asked = request.get_ref().office_code.trim();
        if grant == Grant::OwnOffice && !caller.office.as_deref().is_some_and(|o| o.eq_ignore_ascii_case(asked)) {
            return Err(Error::PermissionDenied("a clerk lists only their own office's queue".into()).into());
        }
        let (rows, next_page_token, counts) = self.registry.list(request.get_ref()).await?;
        let applications = rows.iter().map(|r| self.view(r)).collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListApplicationsResponse {
            applications,
            next_page_token,
            counts: counts
                .into_iter()
                .map(|(state, count)| pb::StateCount {
                    state: state.to_pb() as i32,
                    count,
                })
                .collect(),
        }))
    }

    async fn approve_application(
        &self,
        request: Request<pb::ApproveApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let r = request.get_ref();
        let app = self
            .clerk_act(
                &request,
                Rpc::ApproveApplication,
                &r.application_id,
                Event::ClerkApproved,
                Ok(String::new()),
                &r.note,
            )
            .await?;
        Ok(Response::new(app))
    }

    async fn reject_application(
        &self,
        request: Request<pb::RejectApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let r = request.get_ref();
        let app = self
            .clerk_act(
                &request,
                Rpc::RejectApplication,
                &r.application_id,
                Event::ClerkRejected,
                required_code("reason_code", &r.reason_code),
                &r.note,
            )
            .await?;
        Ok(Response::new(app))
    }

    async fn withdraw_application(
        &self,
        request: Request<pb::WithdrawApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let (_, rec) = self
            .caller_for(&request, Rpc::WithdrawApplication, &request.get_ref().application_id)
            .await?;
        citizen_owns(&request, &stored_declaration(&rec)?)?;
        let r = request.into_inner();
        let action = Action {
            event: Event::Withdrawn,
            actor: ACTOR_CITIZEN.into(),
            reason_code: "WITHDRAWN_BY_CITIZEN".into(),
            note: bounded_note(&r.note)?,
        };
        Ok(Response::new(self.view(&self.registry.act(rec, action).await?)?))
    }

    async fn draw_plate(
        &self,
        request: Request<pb::DrawPlateRequest>,
    ) -> Result<Response<pb::DrawPlateResponse>, Status> {
        let (_, rec) = self
            .caller_for(&request, Rpc::DrawPlate, &request.get_ref().application_id)
            .await?;
        citizen_owns(&request, &stored_declaration(&rec)?)?;
        let outcome = self.registry.plates().draw_plate(&rec).await?;
        Ok(Response::new(pb::DrawPlateResponse {
            application: Some(self.view(&outcome.application)?),
            plate: outcome.plate,
            method: outcome.method.as_str().into(),
            receipt: outcome.receipt.map(|json| pb::Receipt { json }),
        }))
    }

    async fn revoke_plate(
        &self,
        request: Request<pb::RevokePlateRequest>,
    ) -> Result<Response<pb::RevokePlateResponse>, Status> {
        let r = request.get_ref();
        let (caller, _) = self.caller_for(&request, Rpc::RevokePlate, &r.application_id).await?;
        let reason = required_code("reason_code", &r.reason_code)?;
        if !["OWNERSHIP_TRANSFER", "SCRAPPED", "COLOUR_CONVERSION"].contains(&reason.as_str()) {
            return Err(Error::invalid("reason_code", "one of OWNERSHIP_TRANSFER, SCRAPPED, COLOUR_CONVERSION").into());
        }
        let plate = self
            .registry
            .plates()
            .revoke(&r.application_id, &reason, &caller.subject)
            .await?;
        tracing::info!(application_id = %r.application_id, actor = %caller.subject, %reason, "plate revoked");
        Ok(Response::new(pb::RevokePlateResponse { plate }))
    }

    async fn confirm_payment(
        &self,
        request: Request<pb::ConfirmPaymentRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        self.caller(&request, Rpc::ConfirmPayment)?;
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
        let id = &request.get_ref().application_id;
        let (caller, rec) = self.caller_for(&request, Rpc::IssueCertificate, id).await?;
        let rec = self.registry.issue_certificate(rec, &caller.subject).await?;
        Ok(Response::new(self.view(&rec)?))
    }

    async fn confirm_delivery(
        &self,
        request: Request<pb::ConfirmDeliveryRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let id = &request.get_ref().application_id;
        let app = self
            .clerk_act(
                &request,
                Rpc::ConfirmDelivery,
                id,
                Event::Delivered,
                Ok("DELIVERED".into()),
                "",
            )
            .await?;
        Ok(Response::new(app))
    }

    async fn record_auction_win(
        &self,
        request: Request<pb::RecordAuctionWinRequest>,
    ) -> Result<Response<pb::RecordAuctionWinResponse>, Status> {
        let (caller, _) = self.caller(&request, Rpc::RecordAuctionWin)?;
        let r = request.into_inner();
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
        tracing::info!(actor = %caller.subject, %plate, "auction win recorded");
        Ok(Response::new(pb::RecordAuctionWinResponse { plate }))
    }

    async fn list_auction_results(
        &self,
        request: Request<pb::ListAuctionResultsRequest>,
    ) -> Result<Response<pb::ListAuctionResultsResponse>, Status> {
        self.caller(&request, Rpc::ListAuctionResults)?;
        let limit = match request.get_ref().limit {
            0 => 50,
            n if n <= 500 => n,
            _ => return Err(Error::invalid("limit", "at most 500").into()),
        };
        let results = self
            .registry
            .plates()
            .auction_results(u64::from(limit))
            .await?
            .into_iter()
            .map(|(pool_id, number, plate, application_id, at_ms)| pb::AuctionResult {
                pool_id,
                number,
                plate,
                application_id,
                at: rfc3339(at_ms),
            })
            .collect();
        Ok(Response::new(pb::ListAuctionResultsResponse { results }))
    }

    async fn inspect_application(
        &self,
        request: Request<pb::InspectApplicationRequest>,
    ) -> Result<Response<pb::InspectApplicationResponse>, Status> {
        use crate::lookups::{OriginAnswer, OwnerAnswer};
        use pb::agency_record::Record as R;
        let (_, app) = self
            .caller_for(&request, Rpc::InspectApplication, &request.get_ref().application_id)
            .await?;
        let rec = self.registry.record_of(app).await?;
        let answers = self.registry.inspect(&rec).await?;
        // The latest evidence kept per agency (the verifying attempt).
        let kept = |agency: &str| {
            rec.evidence
                .iter()
                .rev()
                .find(|e| e.agency == agency)
                .map(|e| pb::Evidence {
                    agency: e.agency.clone(),
                    request_sha256: e.request_sha256.clone(),
                    response_sha256: e.response_sha256.clone(),
                    outcome: e.outcome.clone(),
                    fetched_at: rfc3339(e.fetched_at_ms),
                })
        };
        let records = answers
            .evidence
            .iter()
            .map(|e| {
                let agency = e.agency.as_str();
                let (record, fee_records) = match e.agency {
                    crate::lookups::Agency::Identity => (
                        match &answers.owner {
                            OwnerAnswer::Citizen(c) => c.clone().map(R::Citizen),
                            OwnerAnswer::Organisation(o) => o.clone().map(R::Organisation),
                        },
                        vec![],
                    ),
                    crate::lookups::Agency::Tax => (None, answers.fees.clone()),
                    crate::lookups::Agency::Customs | crate::lookups::Agency::Register => (
                        match &answers.origin {
                            OriginAnswer::Customs(d) => d.clone().map(R::ImportDeclaration),
                            OriginAnswer::Register(q) => q.clone().map(R::QualityCertificate),
                        },
                        vec![],
                    ),
                };
                pb::AgencyRecord {
                    agency: agency.into(),
                    evidence: kept(agency),
                    response_sha256: e.response_sha256.clone(),
                    record,
                    fee_records,
                }
            })
            .collect();
        Ok(Response::new(pb::InspectApplicationResponse {
            application: Some(self.view(&rec)?),
            records,
        }))
    }

    async fn reissue_certificate(
        &self,
        request: Request<pb::ReissueCertificateRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let r = request.get_ref();
        let (caller, rec) = self
            .caller_for(&request, Rpc::ReissueCertificate, &r.application_id)
            .await?;
        let reason = required_code("reason_code", &r.reason_code)?;
        if !["LOST", "DAMAGED"].contains(&reason.as_str()) {
            return Err(Error::invalid("reason_code", "one of LOST, DAMAGED").into());
        }
        let rec = self.registry.reissue_certificate(rec, &reason, &caller.subject).await?;
        Ok(Response::new(self.view(&rec)?))
    }

    async fn record_physical_check(
        &self,
        request: Request<pb::RecordPhysicalCheckRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let r = request.get_ref();
        let (caller, rec) = self
            .caller_for(&request, Rpc::RecordPhysicalCheck, &r.application_id)
            .await?;
        let rec = self
            .registry
            .record_physical_check(rec, &caller.subject, &r.chassis_number, &r.engine_number, &r.note)
            .await?;
        Ok(Response::new(self.view(&rec)?))
    }

    async fn list_actions(
        &self,
        request: Request<pb::ListActionsRequest>,
    ) -> Result<Response<pb::ListActionsResponse>, Status> {
        let (caller, grant) = self.caller(&request, Rpc::ListActions)?;
        let r = request.get_ref();
        let actor = r.actor.trim();
        if actor.is_empty() || actor.len() > 64 {
            return Err(Error::invalid("actor", "required: at most 64 characters").into());
        }
        if grant == Grant::OwnOffice && actor != caller.subject {
            return Err(Error::PermissionDenied("a clerk reads only their own actions".into()).into());
        }
        let size = match r.page_size {
            0 => 50,
            n @ 1..=500 => n,
            _ => return Err(Error::invalid("page_size", "at most 500").into()),
        };
        let before = match r.page_token.as_str() {
            "" => None,
            t => Some(
                t.parse::<i64>()
                    .map_err(|_| Error::invalid("page_token", "not a token from a previous page"))?,
            ),
        };
        let rows = self
            .registry
            .store()
            .actions(actor, before, u64::from(size))
            .await
            .map_err(Error::from)?;
        let next_page_token = match rows.last() {
            Some(last) if rows.len() == size as usize => last.id.to_string(),
            _ => String::new(),
        };
        let actions = rows
            .iter()
            .map(|h| pb::Action {
                application_id: h.application_id.clone(),
                change: Some(state_change(h)),
            })
            .collect();
        Ok(Response::new(pb::ListActionsResponse {
            actions,
            next_page_token,
        }))
    }

    async fn get_outbox_status(
        &self,
        request: Request<pb::GetOutboxStatusRequest>,
    ) -> Result<Response<pb::OutboxStatus>, Status> {
        self.caller(&request, Rpc::GetOutboxStatus)?;
        let asked = request.get_ref().dead_letters;
        if asked > 200 {
            return Err(Error::invalid("dead_letters", "at most 200").into());
        }
        let s = crate::outbox::status(self.registry.store()).await?;
        // The counts say whether there is any: no second query when there is none.
        let dead_letters = if asked == 0 || s.dead == 0 {
            Vec::new()
        } else {
            crate::outbox::dead_letters(self.registry.store(), asked)
                .await?
                .into_iter()
                .map(|d| pb::DeadLetter {
                    application_id: d.application_id,
                    seq: u32::try_from(d.seq).unwrap_or(0),
                    status: d.status,
                    reason_code: d.reason_code,
                    at: rfc3339(d.at_ms),
                    attempts: u32::try_from(d.attempts).unwrap_or(0),
                    last_error: d.last_error,
                })
                .collect()
        };
        Ok(Response::new(pb::OutboxStatus {
            pending: s.pending,
            dead: s.dead,
            delivered: s.delivered,
            oldest_pending_age_ms: s.oldest_pending_age_ms,
            dead_letters,
        }))
    }

    async fn retry_dead_letters(
        &self,
        request: Request<pb::RetryDeadLettersRequest>,
    ) -> Result<Response<pb::RetryDeadLettersResponse>, Status> {
        let (caller, _) = self.caller(&request, Rpc::RetryDeadLetters)?;
        let requeued = crate::outbox::retry_dead(self.registry.store()).await?;
        tracing::info!(actor = %caller.subject, requeued, "dead letters requeued");
        Ok(Response::new(pb::RetryDeadLettersResponse { requeued }))
    }

    async fn revoke_access(
        &self,
        request: Request<pb::RevokeAccessRequest>,
    ) -> Result<Response<pb::RevokeAccessResponse>, Status> {
        use crate::store::revocations::Revoked;
        let (caller, _) = self.caller(&request, Rpc::RevokeAccess)?;
        let req = request.into_inner();
        let token_id = req.token_id.trim();
        let subject = req.subject.trim();
        let what = match (token_id.is_empty(), subject.is_empty()) {
            (false, true) if token_id.len() <= 128 => Revoked::Token(token_id.to_owned()),
            (true, false) if subject.len() <= 200 => Revoked::Subject(subject.to_owned()),
            (true, true) => {
                return Err(Error::Invalid(vec![
                    field_violation("token_id", "give the token's id (jti) or a subject"),
                    field_violation("subject", "give the token's id (jti) or a subject"),
                ])
                .into());
            }
            (false, false) => return Err(Error::invalid("subject", "give either token_id or subject, not both").into()),
            (false, true) => return Err(Error::invalid("token_id", "at most 128 characters").into()),
            (true, false) => return Err(Error::invalid("subject", "at most 200 characters").into()),
        };
        if req.reason.chars().count() > 500 {
            return Err(Error::invalid("reason", "at most 500 characters").into());
        }
        let at = chrono::Utc::now().timestamp();
        self.registry
            .store()
            .revoke(&what, at, &caller.subject, &req.reason)
            .await
            .map_err(Error::from)?;
        self.auth.add_revocation(what.clone(), at);
        tracing::warn!(actor = %caller.subject, revoked = ?what, reason = %req.reason, "access revoked");
        Ok(Response::new(pb::RevokeAccessResponse { revoked_at: at }))
    }
}

fn field_violation(field: &str, description: &str) -> crate::domain::declaration::FieldViolation {
    crate::domain::declaration::FieldViolation {
        field: field.to_owned(),
        description: description.to_owned(),
    }
}

/// The transparency log for auditors.
pub struct LogApi {
    registry: Arc<Registry>,
    auth: Arc<Authenticator>,
}

impl LogApi {
    pub fn new(registry: Arc<Registry>, auth: Arc<Authenticator>) -> LogApi {
        LogApi { registry, auth }
    }
}

/// Most entries per GetEntries call.
const MAX_ENTRIES: u64 = 10_000;

#[tonic::async_trait]
impl TransparencyLogService for LogApi {
    async fn get_checkpoint(&self, req: Request<pb::GetCheckpointRequest>) -> Result<Response<pb::Checkpoint>, Status> {
        self.auth.public(&req)?;
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
        self.auth.public(&request)?;
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
        self.auth.public(&request)?;
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
        self.auth.public(&request)?;
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

    async fn get_trust(&self, req: Request<pb::GetTrustRequest>) -> Result<Response<pb::Trust>, Status> {
        self.auth.public(&req)?;
        let plates = self.registry.plates();
        let json = serde_json::to_string_pretty(&plates.trust()).map_err(|e| Error::Internal(e.into()))?;
        let rotations_json =
            serde_json::to_string(&plates.rotations().await?).map_err(|e| Error::Internal(e.into()))?;
        Ok(Response::new(pb::Trust { json, rotations_json }))
    }

    async fn get_receipt(&self, request: Request<pb::GetReceiptRequest>) -> Result<Response<pb::Receipt>, Status> {
        let caller = self.auth.caller(&request)?;
        caller.require(Rpc::GetReceipt)?;
        let rec = self.registry.row(&request.get_ref().application_id).await?;
        caller.require_for_office(Rpc::GetReceipt, &rec.office_code)?;
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

/// The metadata key in which the portal names the citizen (or organisation)
/// acting: the personal ID or tax code its VNeID session authenticated.
pub const CITIZEN_HEADER: &str = "x-citizen-id";

/// Citizens act only on their own dossiers: the portal must name who acts,
/// and it must be the dossier's owner.
fn citizen_owns<T>(req: &Request<T>, decl: &pb::SubmitApplicationRequest) -> Result<(), Error> {
    let acting = req
        .metadata()
        .get(CITIZEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .ok_or_else(|| {
            Error::PermissionDenied(format!("the portal must name the citizen acting ({CITIZEN_HEADER})"))
        })?;
    let owner = crate::domain::declaration::owner_id(decl);
    // A declaration without an owner is refused by validation, naming the field.
    if !owner.is_empty() && acting != owner {
        return Err(Error::PermissionDenied(
            "the citizen acting is not this dossier's owner".into(),
        ));
    }
    Ok(())
}

fn bounded_note(note: &str) -> Result<String, Status> {
    if note.chars().count() > 256 {
        return Err(Error::invalid("note", "at most 256 characters").into());
    }
    Ok(note.trim().to_owned())
}

fn state_change(h: &crate::store::entities::history::Model) -> pb::StateChange {
    let pb_state = |s: &str| {
        State::parse(s)
            .map(State::to_pb)
            .unwrap_or(pb::ApplicationState::Unspecified) as i32
    };
    pb::StateChange {
        from_state: pb_state(&h.from_state),
        to_state: pb_state(&h.to_state),
        actor: h.actor.clone(),
        at: rfc3339(h.at_ms),
        reason_code: h.reason_code.clone(),
        note: h.note.clone(),
    }
}

/// The API view of a stored application.
pub fn to_pb(rec: &Record) -> Result<pb::Application, Error> {
    let decl = stored_declaration(&rec.app)?;
    let physical_check_required = crate::service::physical_check_required(&decl);
    let state = State::parse(&rec.app.state)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("unknown stored state {:?}", rec.app.state)))?;
    let reasons = |json: &str| -> Result<Vec<pb::Reason>, Error> {
        let r: Vec<Reason> = serde_json::from_str(json).map_err(|e| Error::Internal(e.into()))?;
        Ok(r.iter().map(Reason::to_pb).collect())
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
        history: rec.history.iter().map(state_change).collect(),
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
        blocked_reason: rec.app.blocked_reason.clone().unwrap_or_default(),
        physical_check_required,
        physical_checks: rec
            .physical_checks
            .iter()
            .map(|c| pb::PhysicalCheck {
                actor: c.actor.clone(),
                chassis_matches: c.chassis_matches,
                engine_matches: c.engine_matches,
                note: c.note.clone(),
                at: rfc3339(c.at_ms),
            })
            .collect(),
    })
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}
