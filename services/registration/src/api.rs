//! gRPC handlers: prost messages in, [`Registry`] calls, prost messages out.
//! Errors become `tonic::Status` through `From<Error>` in [`crate::error`].

use std::sync::Arc;

use prost::Message;
use tonic::{Request, Response, Status};
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::registration_service_server::RegistrationService;

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
}

#[tonic::async_trait]
impl RegistrationService for Api {
    async fn submit_application(
        &self,
        request: Request<pb::SubmitApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let rec = self.registry.submit(request.get_ref()).await?;
        Ok(Response::new(to_pb(&rec)?))
    }

    async fn get_application(
        &self,
        request: Request<pb::GetApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let rec = self.registry.get(&request.get_ref().application_id).await?;
        Ok(Response::new(to_pb(&rec)?))
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
        let reason_code = r.reason_code.trim().to_ascii_uppercase();
        if reason_code.is_empty()
            || reason_code.len() > 64
            || !reason_code
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(Error::invalid("reason_code", "required: 1–64 characters of A–Z, 0–9 and '_'").into());
        }
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
    })
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}
