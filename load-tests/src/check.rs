//! The checker run after a scenario: did the system keep its promises under
//! load and faults (DESIGN §7)?
//!
//! 1. **settled**: background work finishes: no application still waiting for
//!    an agency, no draw without its result, nothing pending in the portal
//!    outbox, nothing dead-lettered.
//! 2. **acknowledged**: every application the service acknowledged (Submit
//!    answered OK) exists under the id it was given.
//! 3. **plates**: no plate is held by two applications, and each plate
//!    DrawPlate answered is the one stored (a retried draw never yields a second).
//! 4. **audit**: the transparency log replays clean through its public API
//!    (checkpoint signature, Merkle root, every draw from its commit, the
//!    beacon and the pool), as `vrsctl audit` does.
//! 5. **portal**: the portal stand-in holds every application's history as
//!    events, once each, in order ([`portal_standin::Portal::check_history`]).
//! 6. **api**: a sample of applications read through the API agrees with the store.
//!
//! Bulk checks read the registration database directly (one query instead of
//! one GetApplication per application: a run makes tens of thousands); the
//! audit and the sample go through the API.

use std::collections::HashMap;
use std::time::Duration;

use sea_orm::{
    ColumnTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use tokio::time::Instant;
use vrs_draw::receipt::Trust;
use vrs_proto::pb::registration::v1 as pb;

use registration::domain::workflow::State;
use registration::store::entities::{application, draw, history};

use crate::client::{Caller, Pool};
use crate::flows::Ledger;
use crate::stack::Stack;

/// One check and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub passed: bool,
    pub checks: Vec<Check>,
    /// Applications in the database.
    pub applications: u64,
    /// Applications the tool was told about (Submit OK).
    pub acknowledged: u64,
    /// Plates held by applications.
    pub plates: u64,
    pub log_entries: u64,
    pub draws_in_log: u64,
    pub audit_secs: f64,
    /// How long background work took to finish after the scenario.
    pub settle_secs: f64,
    pub portal_events: u64,
    /// Deliveries the portal dropped as already seen (at-least-once at work).
    pub portal_redeliveries: u64,
    pub secs: f64,
}

impl CheckReport {
    pub fn failed(&self) -> Vec<&'static str> {
        self.checks.iter().filter(|c| !c.passed).map(|c| c.name).collect()
    }
}

/// Up to `n` items, for a failure message.
fn some<T: std::fmt::Debug>(items: &[T], n: usize) -> String {
    let shown: Vec<&T> = items.iter().take(n).collect();
    if items.len() > n {
        format!("{shown:?} and {} more", items.len() - n)
    } else {
        format!("{shown:?}")
    }
}

fn verdict(name: &'static str, problems: &[String], ok_detail: String) -> Check {
    Check {
        name,
        passed: problems.is_empty(),
        detail: if problems.is_empty() {
            ok_detail
        } else {
            format!("{} problem(s): {}", problems.len(), some(problems, 5))
        },
    }
}

pub async fn run(stack: &Stack, pool: &Pool, ledger: &Ledger, settle_limit: Duration) -> anyhow::Result<CheckReport> {
    let started = Instant::now();
    let db = Database::connect(&stack.db_url).await?;
    let supervisor = pool.staff("supervisor-load", vrs_kit::token::Role::Supervisor, None)?;
    let mut checks = Vec::new();

    // 1. Settled.
    let settle = settle(&db, pool, &supervisor, settle_limit).await;
    let settle_secs = started.elapsed().as_secs_f64();
    checks.push(match settle {
        Ok(detail) => Check {
            name: "settled",
            passed: true,
            detail,
        },
        Err(detail) => Check {
            name: "settled",
            passed: false,
            detail,
        },
    });

    // 2. Acknowledged applications exist.
    let apps: Vec<(String, String, Option<String>, String)> = application::Entity::find()
        .select_only()
        .column(application::Column::Id)
        .column(application::Column::DossierCode)
        .column(application::Column::Plate)
        .column(application::Column::State)
        .into_tuple()
        .all(&db)
        .await?;
    let by_id: HashMap<&str, (&str, Option<&str>, &str)> = apps
        .iter()
        .map(|(id, d, p, s)| (id.as_str(), (d.as_str(), p.as_deref(), s.as_str())))
        .collect();
    let acked = ledger.acked();
    let mut problems = Vec::new();
    for (dossier, id) in &acked {
        match by_id.get(id.as_str()) {
            None => problems.push(format!("{dossier}: acknowledged as {id}, not stored")),
            Some((d, _, _)) if d != dossier => problems.push(format!("{id}: stored as dossier {d}, not {dossier}")),
            Some(_) => {}
        }
    }
    checks.push(verdict(
        "acknowledged",
        &problems,
        format!("all {} acknowledged applications stored under their ids", acked.len()),
    ));

    // 3. Plates.
    let mut holders: HashMap<&str, Vec<&str>> = HashMap::new();
    for (id, _, plate, _) in &apps {
        if let Some(p) = plate {
            holders.entry(p.as_str()).or_default().push(id.as_str());
        }
    }
    let mut problems: Vec<String> = holders
        .iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(p, ids)| format!("plate {p} held by {ids:?}"))
        .collect();
    for (id, plate) in ledger.plates() {
        match by_id.get(id.as_str()) {
            Some((_, Some(stored), _)) if *stored == plate => {}
            Some((_, stored, _)) => problems.push(format!("{id}: answered {plate}, stored {stored:?}")),
            None => problems.push(format!("{id}: answered {plate}, application not stored")),
        }
    }
    for id in ledger.conflicts() {
        problems.push(format!("{id}: DrawPlate answered two different plates"));
    }
    checks.push(verdict(
        "plates",
        &problems,
        format!("{} plates, each held once and as answered", holders.len()),
    ));

    // 4. The log audit.
    let audit_started = Instant::now();
    let (log_entries, draws_in_log, audit) = audit(pool).await;
    let audit_secs = audit_started.elapsed().as_secs_f64();
    checks.push(match audit {
        Ok(findings) => verdict(
            "audit",
            &findings,
            format!("{log_entries} entries ({draws_in_log} draws) replay clean"),
        ),
        Err(e) => Check {
            name: "audit",
            passed: false,
            detail: format!("could not audit: {e:#}"),
        },
    });

    // 5. The portal got every event, once, in order.
    let rows: Vec<(String, i32, String)> = history::Entity::find()
        .select_only()
        .column(history::Column::ApplicationId)
        .column(history::Column::Seq)
        .column(history::Column::ToState)
        .order_by_asc(history::Column::ApplicationId)
        .order_by_asc(history::Column::Seq)
        .into_tuple()
        .all(&db)
        .await?;
    let mut histories: HashMap<&str, Vec<pb::StateChange>> = HashMap::new();
    for (id, _, to) in &rows {
        let to_state = State::parse(to).map_or(pb::ApplicationState::Unspecified, State::to_pb);
        histories.entry(id.as_str()).or_default().push(pb::StateChange {
            to_state: to_state as i32,
            ..Default::default()
        });
    }
    let mut problems = Vec::new();
    let mut portal_events = 0u64;
    for (id, (dossier, _, _)) in &by_id {
        let app = pb::Application {
            application_id: (*id).to_owned(),
            dossier_code: (*dossier).to_owned(),
            history: histories.remove(id).unwrap_or_default(),
            ..Default::default()
        };
        match stack.portal.check_history(&app) {
            Ok(n) => portal_events += n as u64,
            Err(e) => problems.push(e),
        }
    }
    let (redeliveries, bad_keys, accepted) = stack
        .portal
        .with_seen(|s| (s.duplicates, s.bad_keys, s.events.len() as u64));
    if bad_keys > 0 {
        problems.push(format!(
            "{bad_keys} deliveries with an Idempotency-Key not matching the event"
        ));
    }
    if accepted != portal_events && problems.is_empty() {
        problems.push(format!(
            "the portal accepted {accepted} events, the histories account for {portal_events}"
        ));
    }
    checks.push(verdict(
        "portal",
        &problems,
        format!(
            "{portal_events} events of {} applications, each once and in order",
            by_id.len()
        ),
    ));

    // 6. A sample through the API agrees with the store.
    let mut problems = Vec::new();
    let mut sample: Vec<&String> = acked.values().collect();
    sample.sort();
    let step = (sample.len() / 50).max(1);
    for id in sample.iter().step_by(step).take(50) {
        let got = pool
            .call(&Caller::Portal, |mut c| {
                let r = pb::GetApplicationRequest {
                    application_id: (*id).clone(),
                };
                async move { c.get_application(r).await }
            })
            .await;
        match (got, by_id.get(id.as_str())) {
            (Ok(a), Some((_, plate, state))) => {
                let api_state = a
                    .state()
                    .as_str_name()
                    .trim_start_matches("APPLICATION_STATE_")
                    .to_owned();
                if api_state != *state || a.plate != plate.unwrap_or("") {
                    problems.push(format!(
                        "{id}: API says {api_state}/{}, store {state}/{plate:?}",
                        a.plate
                    ));
                }
            }
            (Err(e), _) => problems.push(format!("{id}: {e}")),
            (Ok(_), None) => problems.push(format!("{id}: readable but not stored")),
        }
    }
    checks.push(verdict(
        "api",
        &problems,
        format!(
            "{} applications read through the API match the store",
            sample.len().min(50)
        ),
    ));
    db.close().await.ok();

    Ok(CheckReport {
        passed: checks.iter().all(|c| c.passed),
        checks,
        applications: apps.len() as u64,
        acknowledged: acked.len() as u64,
        plates: holders.len() as u64,
        log_entries,
        draws_in_log,
        audit_secs,
        settle_secs,
        portal_events,
        portal_redeliveries: redeliveries,
        secs: started.elapsed().as_secs_f64(),
    })
}

/// Waits until nothing is in flight in the background; `Err` says what is left.
async fn settle(db: &DatabaseConnection, pool: &Pool, supervisor: &Caller, limit: Duration) -> Result<String, String> {
    let deadline = Instant::now() + limit;
    loop {
        let waiting = application::Entity::find()
            .filter(application::Column::State.is_in([State::Submitted.as_str(), State::AwaitingAgency.as_str()]))
            .count(db)
            .await
            .map_err(|e| e.to_string())?;
        let unresolved = draw::Entity::find()
            .filter(draw::Column::ResultSeq.is_null())
            .count(db)
            .await
            .map_err(|e| e.to_string())?;
        let outbox = pool.outbox_status(supervisor).await.map_err(|e| e.to_string())?;
        if outbox.dead > 0 {
            return Err(format!("{} portal events dead-lettered", outbox.dead));
        }
        if waiting == 0 && unresolved == 0 && outbox.pending == 0 {
            return Ok(format!("outbox drained: {} events delivered", outbox.delivered));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "after {} s: {waiting} applications awaiting agencies, {unresolved} draws without result, \
                 {} portal events pending (oldest {} ms)",
                limit.as_secs(),
                outbox.pending,
                outbox.oldest_pending_age_ms
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Replays the whole log through the public API: (entries, draws, findings).
async fn audit(pool: &Pool) -> (u64, u64, anyhow::Result<Vec<String>>) {
    let result = async {
        let mut log = pool.log().await?;
        let trust: Trust = serde_json::from_str(&log.get_trust(pb::GetTrustRequest {}).await?.into_inner().json)?;
        let cp = log.get_checkpoint(pb::GetCheckpointRequest {}).await?.into_inner();
        let mut entries: Vec<Vec<u8>> = Vec::with_capacity(cp.size as usize);
        let mut findings = Vec::new();
        while (entries.len() as u64) < cp.size {
            let start = entries.len() as u64;
            let page = log
                .get_entries(pb::GetEntriesRequest {
                    start,
                    end: (start + 10_000).min(cp.size),
                })
                .await?
                .into_inner();
            anyhow::ensure!(!page.entries.is_empty(), "entries from {start} missing");
            for e in page.entries {
                if e.index != entries.len() as u64 {
                    findings.push(format!("entry {} served out of order", e.index));
                }
                entries.push(e.entry);
            }
        }
        let now = registration::now_ms();
        let report = vrs_draw::audit::replay(&trust, &cp.note, &entries, now, 10_000).map_err(anyhow::Error::msg)?;
        findings.extend(report.findings);
        Ok((report.size, report.draws, findings))
    }
    .await;
    match result {
        Ok((size, draws, findings)) => (size, draws, Ok(findings)),
        Err(e) => (0, 0, Err(e)),
    }
}
