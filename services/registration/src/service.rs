//! The registry: what the gRPC handlers and the background worker call.
//!
//! A submission is validated, stored in SUBMITTED (one transaction), then its
//! agency lookups run at once. When they settle, one more transaction moves it
//! to VERIFIED, NEEDS_CORRECTION or REJECTED; when an agency cannot be
//! reached it moves to AWAITING_AGENCY with a due time, and the worker
//! ([`Registry::resume_due`]) tries again. An application stored with a lease
//! whose holder died (crash between the two transactions) is picked up by the
//! worker once the lease runs out, so none is lost or stuck.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use futures::StreamExt;
use prost::Message;
use vrs_proto::pb::registration::v1 as pb;

use crate::domain::checks::{self, Reason, Verdict};
use crate::domain::declaration::{Declaration, Warning};
use crate::domain::fees::{Fee, FeesConfig};
use crate::domain::ids::OfficeCode;
use crate::domain::jurisdiction::Offices;
use crate::domain::workflow::{self, Event, Ordering, State};
use crate::error::{Error, Result};
use crate::lookups::{Agencies, Unreachable};
use crate::plates::Plates;
use crate::retry::backoff;
use crate::store::entities::application;
use crate::store::writer::{Change, NewCertificate, NewCheck, NewPayment};
use crate::store::{Changes, Cursor, HistoryEntry, NewEvidence, Record, Store, StoreError};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkflowConfig {
    /// `draw-first` (Decision 1383/QĐ-BCA) or `check-first` (Decision 9093/QĐ-BCA).
    pub ordering: Ordering,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerConfig {
    /// How often the worker looks for applications whose lookups are due.
    pub poll_interval_ms: u64,
    /// How long a claimed application is left to its claimer before another worker may take it.
    pub lease_ms: u64,
    /// Backoff of an application waiting for an agency: base, doubled per attempt, capped.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Applications claimed per poll.
    pub batch: u64,
    /// Applications processed at once by one worker.
    pub concurrency: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            poll_interval_ms: 500,
            lease_ms: 30_000,
            retry_base_ms: 1_000,
            retry_max_ms: 60_000,
            batch: 64,
            concurrency: 16,
        }
    }
}

/// Actors recorded in history when no person acted.
pub const ACTOR_SYSTEM: &str = "system";
pub const ACTOR_CITIZEN: &str = "citizen";

/// Queue page sizes.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

pub struct Registry {
    store: Store,
    agencies: Agencies,
    plates: Arc<Plates>,
    fees: FeesConfig,
    ordering: Ordering,
    worker: WorkerConfig,
    /// Which offices serve which province (the plate's province is the owner's).
    offices: Offices,
}

/// Today's date in Viet Nam (UTC+7), which is what ages are counted in.
pub fn today_vn() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(7)).date_naive()
}

/// A clerk's or citizen's action on an application.
#[derive(Debug, Clone)]
pub struct Action {
    pub event: Event,
    pub actor: String,
    pub reason_code: String,
    pub note: String,
}

impl Registry {
    pub fn new(
        store: Store,
        agencies: Agencies,
        plates: Arc<Plates>,
        offices: Offices,
        fees: FeesConfig,
        workflow: &WorkflowConfig,
        worker: WorkerConfig,
    ) -> Registry {
        Registry {
            store,
            agencies,
            plates,
            offices,
            fees,
            ordering: workflow.ordering,
            worker,
        }
    }

    pub fn plates(&self) -> &Arc<Plates> {
        &self.plates
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn agencies(&self) -> &Agencies {
        &self.agencies
    }

    /// Files an application, idempotently on its dossier code.
    pub async fn submit(&self, req: &pb::SubmitApplicationRequest) -> Result<Record> {
        let (decl, warnings) = Declaration::validate(req, today_vn()).map_err(Error::Invalid)?;
        let hash = hex::encode(decl.content_hash());
        // A new dossier is inserted at once; the dossier code's uniqueness tells
        // a retry or correction (read then) from a new one, without a read first.
        let now = crate::now_ms();
        let id = uuid::Uuid::new_v4().to_string();
        let model = application::Model {
            id: id.clone(),
            dossier_code: decl.dossier_code.as_str().to_owned(),
            content_hash: hash.clone(),
            declaration: decl.to_pb().encode_to_vec(),
            history_seq: 1,
            outbox_seq: 1,
            office_code: decl.office_code.as_str().to_owned(),
            locality_code: decl.locality_code.as_str().to_owned(),
            state: State::Submitted.as_str().to_owned(),
            reasons: "[]".into(),
            warnings: warnings_json(&warnings),
            attempts: 0,
            // Leased to this call; the worker takes over if we die before the lookups settle.
            next_attempt_at_ms: Some(now + self.lease_ms()),
            version: 1,
            created_at_ms: now,
            updated_at_ms: now,
            plate: None,
            vehicle_value_vnd: None,
            certificate_number: None,
            blocked_reason: None,
            vehicle_key: Some(self.store.vehicle_key(decl.vehicle.chassis.as_str())),
        };
        let stored = match self.store.create(model, ACTOR_CITIZEN).await {
            Ok(rec) => rec,
            Err(StoreError::DuplicateDossier | StoreError::VehicleActive) => {
                // A concurrent retry of the same dossier won the insert; anything
                // else is a second application for a vehicle that has one.
                let Some(existing) = self.store.find_by_dossier(decl.dossier_code.as_str()).await? else {
                    return Err(StoreError::VehicleActive.into());
                };
                return self.resubmit(existing, &decl, &warnings, hash).await;
            }
            Err(e) => return Err(e.into()),
        };
        tracing::info!(application_id = %id, dossier_code = decl.dossier_code.as_str(), "application submitted");
        match self.process_row(stored.app.clone()).await? {
            Some(rec) => Ok(rec),
            None => self.get(&id).await,
        }
    }

    /// Same dossier code again: a retry, a correction, or a conflicting reuse.
    async fn resubmit(
        &self,
        existing: Record,
        decl: &Declaration,
        warnings: &[Warning],
        hash: String,
    ) -> Result<Record> {
        // A dossier is corrected (or retried) only by its owner: the owner comes
        // from the portal's VNeID session, so it never legitimately changes.
        let stored = stored_declaration(&existing.app)?;
        if crate::domain::declaration::owner_id(&stored) != crate::domain::declaration::owner_id(&decl.to_pb()) {
            return Err(Error::PermissionDenied(
                "this dossier code belongs to another owner's dossier".into(),
            ));
        }
        if existing.app.content_hash == hash {
            return Ok(existing);
        }
        let state = parse_state(&existing.app.state)?;
        if state != State::NeedsCorrection {
            return Err(Error::AlreadyExists {
                field: "dossier_code",
                message: format!(
                    "dossier code already used with different content (state {state}); \
                     corrections are accepted only in NEEDS_CORRECTION"
                ),
            });
        }
        let to = workflow::next(self.ordering, state, Event::Corrected)?;
        let now = crate::now_ms();
        let changes = Changes {
            state: Some(to),
            reasons_json: Some("[]".into()),
            warnings_json: Some(warnings_json(warnings)),
            attempts: Some(0),
            next_attempt_at_ms: Some(Some(now + self.lease_ms())),
            vehicle_value_vnd: Some(None),
            declaration: Some((
                decl.to_pb().encode_to_vec(),
                hash,
                decl.office_code.as_str().to_owned(),
                decl.locality_code.as_str().to_owned(),
            )),
            blocked_reason: None,
            vehicle_key: Some(self.store.vehicle_key(decl.vehicle.chassis.as_str())),
        };
        let entry = HistoryEntry {
            from: Some(state),
            to,
            actor: ACTOR_CITIZEN.into(),
            reason_code: "CORRECTED".into(),
            note: String::new(),
        };
        self.store
            .update(
                &existing.app.id,
                existing.app.version,
                changes,
                Some(entry),
                vec![],
                now,
            )
            .await?;
        tracing::info!(application_id = %existing.app.id, "correction received");
        self.process(&existing.app.id).await?;
        self.get(&existing.app.id).await
    }

    pub async fn get(&self, id: &str) -> Result<Record> {
        if id.trim().is_empty() {
            return Err(Error::invalid("application_id", "must not be empty"));
        }
        self.store
            .find(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("application {id}")))
    }

    /// What the agencies hold now about an application's declaration, for the
    /// clerk to read beside it. Agencies that cannot answer are UNAVAILABLE.
    pub async fn inspect(&self, rec: &Record) -> Result<crate::lookups::Answers> {
        let req = stored_declaration(&rec.app)?;
        let (decl, _) = Declaration::validate(&req, today_vn())
            .map_err(|v| Error::Internal(anyhow::anyhow!("stored declaration no longer valid: {v:?}")))?;
        self.agencies
            .fetch(&decl)
            .await
            .map_err(|u| Error::Unavailable(u.to_string()))
    }

    /// Runs the agency lookups of an application that awaits them and records the outcome.
    /// Does nothing if the application has moved on meanwhile.
    pub async fn process(&self, id: &str) -> Result<()> {
        let app = self
            .store
            .find_application(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("application {id}")))?;
        self.process_row(app).await.map(|_| ())
    }

    /// [`Registry::process`] of a row the caller holds; the record as written,
    /// or `None` when the application had moved on (nothing written).
    async fn process_row(&self, app: application::Model) -> Result<Option<Record>> {
        let id = app.id.as_str();
        let state = parse_state(&app.state)?;
        if !matches!(state, State::Submitted | State::AwaitingAgency) {
            return Ok(None);
        }
        let req = stored_declaration(&app)?;
        let today = today_vn();
        let (decl, _) = Declaration::validate(&req, today)
            .map_err(|v| Error::Internal(anyhow::anyhow!("stored declaration no longer valid: {v:?}")))?;
        let attempts = app.attempts + 1;
        let fetched = self.agencies.fetch(&decl).await;
        let now = crate::now_ms();
        let result = match fetched {
            Ok(answers) => {
                let (event, reasons) = match checks::verdict(&decl, &answers, &self.offices, today) {
                    Verdict::Verified => (Event::LookupsPassed, vec![]),
                    Verdict::NeedsCorrection(r) => (Event::LookupsNeedCorrection, r),
                    Verdict::Refused(r) => (Event::LookupsRefused, r),
                };
                let to = workflow::next(self.ordering, state, event)?;
                let evidence = answers
                    .evidence
                    .iter()
                    .map(|e| NewEvidence {
                        agency: e.agency.as_str(),
                        request_sha256: e.request_sha256.clone(),
                        response_sha256: e.response_sha256.clone(),
                        outcome: if e.found { "found" } else { "not_found" },
                        fetched_at_ms: e.fetched_at_ms,
                    })
                    .collect();
                let entry = HistoryEntry {
                    from: Some(state),
                    to,
                    actor: ACTOR_SYSTEM.into(),
                    reason_code: reasons.first().map(|r| r.code.clone()).unwrap_or_default(),
                    note: String::new(),
                };
                let value = answers
                    .fees
                    .iter()
                    .find(|r| {
                        r.chassis_number
                            .trim()
                            .eq_ignore_ascii_case(decl.vehicle.chassis.as_str())
                    })
                    .and_then(|r| i64::try_from(r.taxable_value_vnd).ok());
                let mut next = app.clone();
                next.state = to.as_str().to_owned();
                next.reasons = reasons_json(&reasons);
                next.attempts = attempts;
                next.next_attempt_at_ms = None;
                next.vehicle_value_vnd = value;
                next.updated_at_ms = now;
                tracing::info!(application_id = %id, state = %to, attempts, "lookups settled");
                self.store
                    .change(Change {
                        next,
                        expected_version: app.version,
                        entry: Some(entry),
                        evidence,
                        check: None,
                        payment: None,
                        certificate: None,
                    })
                    .await
            }
            Err(Unreachable(down)) => {
                let to = workflow::next(self.ordering, state, Event::AgencyUnavailable)?;
                let delay = self.retry_delay(attempts);
                let reasons: Vec<Reason> = down
                    .iter()
                    .map(|(agency, why)| Reason {
                        code: "AGENCY_UNAVAILABLE".into(),
                        field: String::new(),
                        message: format!("{} did not answer ({why}); retrying automatically", agency.as_str()),
                    })
                    .collect();
                // Entering AWAITING_AGENCY is history; each further failed retry is not.
                let entry = (state != to).then(|| HistoryEntry {
                    from: Some(state),
                    to,
                    actor: ACTOR_SYSTEM.into(),
                    reason_code: "AGENCY_UNAVAILABLE".into(),
                    note: String::new(),
                });
                let mut next = app.clone();
                next.state = to.as_str().to_owned();
                next.reasons = reasons_json(&reasons);
                next.attempts = attempts;
                next.next_attempt_at_ms = Some(now + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                next.updated_at_ms = now;
                tracing::warn!(application_id = %id, attempts, retry_in_ms = delay.as_millis() as u64, "agency unavailable");
                self.store
                    .change(Change {
                        next,
                        expected_version: app.version,
                        entry,
                        evidence: vec![],
                        check: None,
                        payment: None,
                        certificate: None,
                    })
                    .await
            }
        };
        match result {
            Ok(rec) => Ok(Some(rec)),
            // Someone else (a worker on another replica, a withdrawal) moved it first: theirs stands.
            Err(StoreError::Conflict(_)) => {
                tracing::debug!(application_id = %id, "application changed while its lookups ran");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A clerk's or citizen's action on `rec` (as the caller loaded it to
    /// check its office), checked against the workflow.
    pub async fn act(&self, app: application::Model, action: Action) -> Result<Record> {
        let id = app.id.as_str();
        if action.event == Event::Withdrawn && self.plates.draw_pending(id).await? {
            return Err(Error::Precondition(
                "a plate draw is in progress for this application; it cannot be withdrawn until it is resolved".into(),
            ));
        }
        let state = parse_state(&app.state)?;
        let to = workflow::next(self.ordering, state, action.event)?;
        if action.event == Event::ClerkApproved {
            self.physical_check_passed(&app).await?;
        }
        let entry = HistoryEntry {
            from: Some(state),
            to,
            actor: action.actor,
            reason_code: action.reason_code,
            note: action.note,
        };
        // Leaving the lookup states settles any pending retry.
        let mut next = app.clone();
        next.state = to.as_str().to_owned();
        next.next_attempt_at_ms = None;
        next.updated_at_ms = crate::now_ms();
        let rec = self.change(&app, next, entry, None, None, None).await?;
        tracing::info!(application_id = %id, from = %state, to = %to, "application moved");
        Ok(rec)
    }

    /// Writes a change of `app` made by a caller (under its version check):
    /// a concurrent change is a conflict to reload and retry.
    async fn change(
        &self,
        app: &application::Model,
        next: application::Model,
        entry: HistoryEntry,
        check: Option<NewCheck>,
        payment: Option<NewPayment>,
        certificate: Option<NewCertificate>,
    ) -> Result<Record> {
        let id = app.id.as_str();
        match self
            .store
            .change(Change {
                next,
                expected_version: app.version,
                entry: Some(entry),
                evidence: vec![],
                check,
                payment,
                certificate,
            })
            .await
        {
            Ok(rec) => Ok(rec),
            Err(StoreError::Conflict(_)) => Err(Error::Conflict(format!(
                "application {id} changed meanwhile; reload and retry"
            ))),
            Err(StoreError::PaymentTaken) => Err(Error::Precondition(
                "the fee of this application is already paid".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// A clerk's physical check of chassis and engine numbers, compared with the declaration.
    pub async fn record_physical_check(
        &self,
        app: application::Model,
        actor: &str,
        chassis_read: &str,
        engine_read: &str,
        note: &str,
    ) -> Result<Record> {
        use crate::domain::ids::EngineNumber;
        let mut bad = Vec::new();
        if chassis_read.trim().is_empty() {
            bad.push(("chassis_number", "required: the number as read on the vehicle"));
        }
        if engine_read.trim().is_empty() {
            bad.push(("engine_number", "required: the number as read on the vehicle"));
        }
        if note.chars().count() > 256 {
            bad.push(("note", "at most 256 characters"));
        }
        if !bad.is_empty() {
            return Err(Error::Invalid(
                bad.into_iter()
                    .map(|(f, d)| crate::domain::declaration::FieldViolation {
                        field: f.into(),
                        description: d.into(),
                    })
                    .collect(),
            ));
        }
        let id = app.id.as_str();
        let state = parse_state(&app.state)?;
        if !matches!(state, State::Verified | State::PlateAssigned | State::FeePaid) {
            return Err(Error::Precondition(format!(
                "a physical check is recorded before approval; the application is {state}"
            )));
        }
        let decl = stored_declaration(&app)?;
        let vehicle = decl.vehicle.unwrap_or_default();
        let chassis_matches = EngineNumber::normalise(chassis_read) == EngineNumber::normalise(&vehicle.chassis_number);
        let engine_matches = EngineNumber::normalise(engine_read) == EngineNumber::normalise(&vehicle.engine_number);
        let blocked = match (chassis_matches, engine_matches) {
            (true, true) => None,
            (false, true) => Some("CHASSIS_NUMBER_MISMATCH"),
            (true, false) => Some("ENGINE_NUMBER_MISMATCH"),
            (false, false) => Some("CHASSIS_AND_ENGINE_NUMBER_MISMATCH"),
        };
        let check = NewCheck {
            actor: actor.to_owned(),
            chassis_matches,
            engine_matches,
            note: note.to_owned(),
        };
        let entry = HistoryEntry {
            from: Some(state),
            to: state,
            actor: actor.to_owned(),
            reason_code: blocked.unwrap_or("PHYSICAL_CHECK_PASSED").to_owned(),
            note: note.to_owned(),
        };
        let mut next = app.clone();
        next.blocked_reason = blocked.map(str::to_owned);
        next.updated_at_ms = crate::now_ms();
        let rec = self.change(&app, next, entry, Some(check), None, None).await?;
        tracing::info!(application_id = %id, chassis_matches, engine_matches, "physical check recorded");
        Ok(rec)
    }

    /// Approval is refused while a check contradicts the declaration, and for
    /// vehicles that need one until a check matches (the checks are read only then).
    async fn physical_check_passed(&self, app: &application::Model) -> Result<()> {
        if let Some(reason) = &app.blocked_reason {
            return Err(Error::Precondition(format!(
                "blocked by the physical check: {reason}; check again or reject"
            )));
        }
        if !physical_check_required(&stored_declaration(app)?) {
            return Ok(());
        }
        let rec = self.record_of(app.clone()).await?;
        let passed = rec
            .physical_checks
            .last()
            .is_some_and(|c| c.chassis_matches && c.engine_matches);
        if !passed {
            return Err(Error::Precondition(
                "an imported vehicle needs a physical check of chassis and engine numbers before approval".into(),
            ));
        }
        Ok(())
    }

    /// The application row alone, its declaration opened (one query): what
    /// handlers authorise from before they change it.
    pub async fn row(&self, id: &str) -> Result<application::Model> {
        if id.trim().is_empty() {
            return Err(Error::invalid("application_id", "must not be empty"));
        }
        self.store
            .find_application(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("application {id}")))
    }

    /// Everything recorded about a row the caller holds (one more query).
    pub async fn record_of(&self, app: application::Model) -> Result<Record> {
        Ok(self.store.complete(app).await?)
    }

    /// The certificate-and-plate fee of an application.
    pub fn fee_for(&self, rec: &Record) -> Option<Fee> {
        self.fee_for_app(&rec.app)
    }

    pub fn fee_for_app(&self, app: &application::Model) -> Option<Fee> {
        let req = stored_declaration(app).ok()?;
        self.fees.fee_of(&req, &app.locality_code, app.vehicle_value_vnd)
    }

    /// The payment platform confirms the fee. Idempotent on the payment
    /// reference; the amount must be the fee due.
    pub async fn confirm_payment(&self, id: &str, reference: &str, amount_vnd: u64) -> Result<Record> {
        let reference = reference.trim();
        if reference.is_empty()
            || reference.len() > 64
            || !reference
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(Error::invalid(
                "payment_reference",
                "1–64 characters of A–Z, a–z, 0–9, '-', '_', '.'",
            ));
        }
        if id.trim().is_empty() {
            return Err(Error::invalid("application_id", "must not be empty"));
        }
        // A reference seen before is looked up only when the payment cannot
        // be recorded as new: a retry is answered as the first call was, a
        // reference of another payment is refused.
        let seen_before = |refused: Error| async move {
            match self.store.payment(reference).await? {
                Some(p) if p.application_id != id || p.amount_vnd as u64 != amount_vnd => Err(Error::AlreadyExists {
                    field: "payment_reference",
                    message: "this payment reference confirmed another payment".into(),
                }),
                Some(_) => self.get(id).await,
                None => Err(refused),
            }
        };
        let Some(app) = self.store.find_application(id).await? else {
            return seen_before(Error::NotFound(format!("application {id}"))).await;
        };
        let state = parse_state(&app.state)?;
        let to = match workflow::next(self.ordering, state, Event::FeePaid) {
            Ok(to) => to,
            Err(e) => return seen_before(e.into()).await,
        };
        let fee = self
            .fee_for_app(&app)
            .ok_or_else(|| Error::Precondition("no fee rule applies to this vehicle".into()))?;
        if amount_vnd != fee.amount_vnd {
            return Err(Error::invalid(
                "amount_vnd",
                format!(
                    "the fee due is {} VND (area {}, {}), not {amount_vnd}",
                    fee.amount_vnd, fee.area, fee.legal_source
                ),
            ));
        }
        let entry = HistoryEntry {
            from: Some(state),
            to,
            actor: "payment-platform".into(),
            reason_code: "FEE_PAID".into(),
            note: reference.to_owned(),
        };
        let mut next = app.clone();
        next.state = to.as_str().to_owned();
        next.updated_at_ms = crate::now_ms();
        let payment = NewPayment {
            reference: reference.to_owned(),
            amount_vnd: amount_vnd as i64,
        };
        let rec = match self.change(&app, next, entry, None, Some(payment), None).await {
            Err(e @ Error::Precondition(_)) => return seen_before(e).await,
            other => other?,
        };
        tracing::info!(application_id = %id, "fee paid");
        Ok(rec)
    }

    /// A clerk issues the registration certificate: a number unique nationwide.
    pub async fn issue_certificate(&self, app: application::Model, actor: &str) -> Result<Record> {
        let id = app.id.as_str();
        let state = parse_state(&app.state)?;
        let to = workflow::next(self.ordering, state, Event::CertificateIssued)?;
        let entry = HistoryEntry {
            from: Some(state),
            to,
            actor: actor.to_owned(),
            reason_code: "CERTIFICATE_ISSUED".into(),
            // The writer puts the certificate's number here.
            note: String::new(),
        };
        let mut next = app.clone();
        next.state = to.as_str().to_owned();
        next.updated_at_ms = crate::now_ms();
        let certificate = NewCertificate {
            actor: actor.to_owned(),
        };
        let rec = self.change(&app, next, entry, None, None, Some(certificate)).await?;
        tracing::info!(application_id = %id, "certificate issued");
        Ok(rec)
    }

    /// Replaces a lost or damaged certificate: the next `-R<n>` number, the old
    /// number void, a history row (and portal event); the state stays.
    pub async fn reissue_certificate(&self, app: application::Model, reason: &str, actor: &str) -> Result<Record> {
        use crate::store::certificates::Reissued;
        let id = app.id.as_str();
        let state = parse_state(&app.state)?;
        if !matches!(state, State::Issued | State::Delivered) {
            return Err(Error::Precondition(format!(
                "only an issued certificate can be reissued; the application is {state}"
            )));
        }
        match self
            .store
            .reissue_certificate(&app, state, reason, actor, crate::now_ms())
            .await
        {
            Ok(Reissued::Done { .. }) => {}
            Ok(Reissued::NoCertificate) => {
                return Err(Error::Internal(anyhow::anyhow!(
                    "issued application {id} has no certificate"
                )));
            }
            Err(StoreError::Conflict(_)) => {
                return Err(Error::Conflict(format!(
                    "the certificate of application {id} was reissued or changed meanwhile; reload and retry"
                )));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(application_id = %id, "certificate reissued");
        self.get(id).await
    }

    /// One page of an office's queue, with the office's count per state when asked.
    pub async fn list(&self, req: &pb::ListApplicationsRequest) -> Result<(Vec<Record>, String, Vec<(State, u64)>)> {
        let mut bad = Vec::new();
        let office = OfficeCode::parse(&req.office_code)
            .map_err(|d| bad.push(("office_code", d)))
            .ok();
        let mut states = Vec::new();
        for s in &req.states {
            match pb::ApplicationState::try_from(*s).ok().and_then(State::from_pb) {
                Some(st) => states.push(st),
                None => bad.push(("states", format!("unknown state {s}"))),
            }
        }
        let page_size = match req.page_size {
            0 => DEFAULT_PAGE,
            n if n <= MAX_PAGE => n,
            n => {
                bad.push(("page_size", format!("{n} is over the maximum of {MAX_PAGE}")));
                DEFAULT_PAGE
            }
        };
        let cursor = if req.page_token.is_empty() {
            None
        } else {
            match decode_page_token(&req.page_token) {
                Some(c) => Some(c),
                None => {
                    bad.push(("page_token", "not a token returned by this API".into()));
                    None
                }
            }
        };
        if !bad.is_empty() {
            return Err(Error::Invalid(
                bad.into_iter()
                    .map(|(f, d)| crate::domain::declaration::FieldViolation {
                        field: f.into(),
                        description: d,
                    })
                    .collect(),
            ));
        }
        let office = office.ok_or_else(|| Error::invalid("office_code", "missing"))?;
        let mut rows = self
            .store
            .list(office.as_str(), &states, cursor, u64::from(page_size) + 1)
            .await?;
        let next = if rows.len() > page_size as usize {
            rows.truncate(page_size as usize);
            rows.last()
                .map(|r| encode_page_token(r.app.created_at_ms, &r.app.id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let counts = if req.with_counts {
            self.store.count_by_state(office.as_str()).await?
        } else {
            Vec::new()
        };
        Ok((rows, next, counts))
    }

    /// One pass of the background worker: claims due applications and runs their lookups.
    pub async fn resume_due(&self) -> Result<usize> {
        let now = crate::now_ms();
        let due = self.store.due(now, self.worker.batch).await?;
        let mut claimed = Vec::with_capacity(due.len());
        for (id, seen) in due {
            if self.store.claim(&id, seen, now + self.lease_ms()).await? {
                claimed.push(id);
            }
        }
        let n = claimed.len();
        futures::stream::iter(claimed)
            .for_each_concurrent(self.worker.concurrency.max(1), |id| async move {
                if let Err(e) = self.process(&id).await {
                    tracing::error!(application_id = %id, error = ?e, "resuming application failed");
                }
            })
            .await;
        Ok(n)
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.worker.lease_ms).unwrap_or(i64::MAX)
    }

    fn retry_delay(&self, attempts: i32) -> Duration {
        let d = backoff(
            Duration::from_millis(self.worker.retry_base_ms),
            u32::try_from(attempts).unwrap_or(1),
        );
        d.min(Duration::from_millis(self.worker.retry_max_ms))
    }
}

/// Runs the worker until `shutdown`; the pass in progress is finished first.
pub async fn run_worker(registry: Arc<Registry>, shutdown: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(registry.worker.poll_interval_ms.max(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        if let Err(e) = registry.resume_due().await {
            tracing::error!(error = ?e, "lookup worker pass failed");
        }
    }
    tracing::info!("lookup worker stopped");
}

/// Whether approval needs a clerk's physical check first: vehicles without
/// full electronic data, i.e. imported ones (DESIGN §2, step 5).
pub fn physical_check_required(decl: &pb::SubmitApplicationRequest) -> bool {
    decl.vehicle
        .as_ref()
        .is_some_and(|v| v.origin() == pb::VehicleOrigin::Imported)
}

/// The declaration of a stored application, as its protobuf request.
pub fn stored_declaration(app: &application::Model) -> Result<pb::SubmitApplicationRequest> {
    pb::SubmitApplicationRequest::decode(app.declaration.as_slice())
        .map_err(|e| Error::Internal(anyhow::Error::new(e).context("stored declaration")))
}

fn parse_state(s: &str) -> Result<State> {
    State::parse(s).ok_or_else(|| Error::Internal(anyhow::anyhow!("unknown stored state {s:?}")))
}

fn reasons_json(reasons: &[Reason]) -> String {
    serde_json::to_string(reasons).unwrap_or_else(|_| "[]".into())
}

fn warnings_json(warnings: &[Warning]) -> String {
    let as_reasons: Vec<Reason> = warnings
        .iter()
        .map(|w| Reason {
            code: w.code.clone(),
            field: w.field.clone(),
            message: w.message.clone(),
        })
        .collect();
    reasons_json(&as_reasons)
}

/// Page tokens are opaque to callers: hex of `created_at_ms:id`.
pub(crate) fn encode_page_token(created_at_ms: i64, id: &str) -> String {
    hex::encode(format!("{created_at_ms}:{id}"))
}

pub(crate) fn decode_page_token(token: &str) -> Option<Cursor> {
    let raw = String::from_utf8(hex::decode(token).ok()?).ok()?;
    let (created, id) = raw.split_once(':')?;
    let created = created.parse().ok()?;
    uuid::Uuid::parse_str(id).ok()?;
    Some((created, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        let id = uuid::Uuid::new_v4().to_string();
        assert_eq!(decode_page_token(&encode_page_token(42, &id)), Some((42, id)));
        assert_eq!(decode_page_token("zz"), None);
        assert_eq!(decode_page_token(&hex::encode("42:not-a-uuid")), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 512,
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Page tokens come back from callers: arbitrary text never panics,
        /// and what `encode_page_token` made decodes to what it encoded.
        #[test]
        fn page_tokens_decode_only_what_was_encoded(created in proptest::prelude::any::<i64>(), garbage in ".{0,64}") {
            let id = "6f1c1f5e-8a0f-4b9e-9a55-1f9c2e3d4b5a";
            proptest::prop_assert_eq!(
                decode_page_token(&encode_page_token(created, id)),
                Some((created, id.to_owned()))
            );
            let _ = decode_page_token(&garbage);
            let decoded = decode_page_token(&hex::encode(&garbage));
            if let Some((_, id)) = decoded {
                proptest::prop_assert!(uuid::Uuid::parse_str(&id).is_ok());
            }
        }
    }
}
