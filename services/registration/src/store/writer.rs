//! Group commit: concurrent state changes written together.
//!
//! Every submission, lookup verdict, payment, physical check and clerk action
//! is a new row or a change of one application row, with its history row, its
//! portal events and its evidence. Written one by one, that was five or more
//! statements and one commit per change; PostgreSQL's commits, not its CPU,
//! bounded throughput. The writer gathers the changes that arrive within a few
//! milliseconds and writes each table's rows of the whole batch with one
//! statement, in one transaction. A caller is answered only after its batch
//! commits, so durability is what it was.
//!
//! One bad row fails its own caller only: a version conflict, a duplicate
//! dossier or vehicle, or a payment reference already used are found per row
//! (`RETURNING`, `ON CONFLICT DO NOTHING`) and answered as such while the
//! others commit; any other failure of the batch is retried row by row.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, Set, Statement, Value};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::entities::{application, evidence, history, physical_check};
use super::records::{children, placeholders, rows_sql};
use super::stats::Stats;
use super::{HistoryEntry, NewEvidence, Record, StoreError, history_row, portal_events};
use crate::domain::workflow::State;

/// A physical check to record with a change.
#[derive(Debug, Clone)]
pub struct NewCheck {
    pub actor: String,
    pub chassis_matches: bool,
    pub engine_matches: bool,
    pub note: String,
}

/// A payment to record with a change; its reference is unique.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub reference: String,
    pub amount_vnd: i64,
}

/// A registration certificate to issue with a change. Its number,
/// `<locality>-<year>-<row id>`, is unique nationwide; the writer sets it on
/// the application and as the note of the change's history row.
#[derive(Debug, Clone)]
pub struct NewCertificate {
    pub actor: String,
}

/// A change of one application, applied only if its row is still at
/// `expected_version`.
#[derive(Debug, Clone)]
pub struct Change {
    /// The row as it will be. Its declaration (already written) is not written
    /// again; `version`, `history_seq` and `outbox_seq` are set by the writer.
    pub next: application::Model,
    pub expected_version: i64,
    pub entry: Option<HistoryEntry>,
    pub evidence: Vec<NewEvidence>,
    pub check: Option<NewCheck>,
    pub payment: Option<NewPayment>,
    pub certificate: Option<NewCertificate>,
}

enum Op {
    /// A new application, its declaration sealed (`sealed`) and open (`next.declaration`).
    Create {
        next: application::Model,
        sealed: Vec<u8>,
        actor: String,
    },
    Change(Change),
}

impl Op {
    fn id(&self) -> &str {
        match self {
            Op::Create { next, .. } => &next.id,
            Op::Change(c) => &c.next.id,
        }
    }
}

struct Job {
    op: Op,
    /// The trace context of the step, carried to its portal events.
    trace_parent: Option<String>,
    reply: oneshot::Sender<Result<Record, StoreError>>,
}

/// The handle callers write through; cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    tx: mpsc::Sender<JobBox>,
}

/// `Job` boxed, so the channel's slots stay small.
struct JobBox(Box<Job>);

impl std::fmt::Debug for JobBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl Writer {
    /// Starts `writers` tasks that share one queue. They end when every handle is dropped.
    pub fn start(
        db: DatabaseConnection,
        stats: Arc<Stats>,
        events: Arc<tokio::sync::Notify>,
        gather: Duration,
        batch_max: usize,
        writers: usize,
    ) -> Writer {
        let batch_max = batch_max.max(1);
        let (tx, rx) = mpsc::channel::<JobBox>(batch_max * 4);
        let rx = Arc::new(Mutex::new(rx));
        let writers = if db.get_database_backend() == DbBackend::Sqlite {
            1
        } else {
            writers.max(1)
        };
        for _ in 0..writers {
            let (db, stats, rx, events) = (db.clone(), stats.clone(), rx.clone(), events.clone());
            tokio::spawn(async move {
                let mut carried: Vec<Job> = Vec::new();
                while let Some(batch) = gather_batch(&rx, &mut carried, gather, batch_max).await {
                    write_batch(&db, &stats, batch).await;
                    // Every committed change writes portal events (a failed one wrote nothing;
                    // a spurious wake-up costs the outbox one empty pass).
                    events.notify_one();
                }
            });
        }
        Writer { tx }
    }

    pub async fn create(
        &self,
        next: application::Model,
        sealed: Vec<u8>,
        actor: &str,
        trace_parent: Option<String>,
    ) -> Result<Record, StoreError> {
        let op = Op::Create {
            next,
            sealed,
            actor: actor.to_owned(),
        };
        self.send(op, trace_parent).await
    }

    pub async fn change(&self, change: Change, trace_parent: Option<String>) -> Result<Record, StoreError> {
        self.send(Op::Change(change), trace_parent).await
    }

    async fn send(&self, op: Op, trace_parent: Option<String>) -> Result<Record, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(JobBox(Box::new(Job {
                op,
                trace_parent,
                reply,
            })))
            .await
            .map_err(|_| DbErr::Custom("the store's writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| DbErr::Custom("the store's writer stopped before answering".into()))?
    }
}

/// Waits for a first job, then takes what else arrives within `gather`, up to
/// `max`. A second change of an application already in the batch waits for
/// the next one (its version check then decides). `None` once the queue is closed.
async fn gather_batch(
    rx: &Mutex<mpsc::Receiver<JobBox>>,
    carried: &mut Vec<Job>,
    gather: Duration,
    max: usize,
) -> Option<Vec<Job>> {
    let mut batch: Vec<Job> = Vec::new();
    let mut ids: HashSet<String> = HashSet::new();
    let mut later: Vec<Job> = Vec::new();
    let mut take = |job: Job, batch: &mut Vec<Job>, later: &mut Vec<Job>| {
        if ids.insert(job.op.id().to_owned()) {
            batch.push(job);
        } else {
            later.push(job);
        }
    };
    for job in carried.drain(..) {
        take(job, &mut batch, &mut later);
    }
    let mut rx = rx.lock().await;
    if batch.is_empty() {
        let JobBox(first) = rx.recv().await?;
        take(*first, &mut batch, &mut later);
    }
    let deadline = tokio::time::Instant::now() + gather;
    while batch.len() < max {
        match rx.try_recv() {
            Ok(JobBox(job)) => take(*job, &mut batch, &mut later),
            Err(mpsc::error::TryRecvError::Empty) if !gather.is_zero() => {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(JobBox(job))) => take(*job, &mut batch, &mut later),
                    Ok(None) | Err(_) => break,
                }
            }
            Err(_) => break,
        }
    }
    *carried = later;
    Some(batch)
}

/// Writes a batch in one transaction; if the transaction fails as a whole,
/// writes its jobs one by one, so that only the job at fault fails.
async fn write_batch(db: &DatabaseConnection, stats: &Stats, batch: Vec<Job>) {
    let ops: Vec<&Op> = batch.iter().map(|j| &j.op).collect();
    let traces: Vec<Option<&str>> = batch.iter().map(|j| j.trace_parent.as_deref()).collect();
    match apply_in_transaction(db, stats, &ops, &traces).await {
        Ok(outcomes) => {
            for (job, outcome) in batch.into_iter().zip(outcomes) {
                let _ = job.reply.send(outcome);
            }
        }
        Err(e) if batch.len() == 1 => {
            let job = batch.into_iter().next().expect("one job");
            let _ = job.reply.send(Err(e.into()));
        }
        Err(e) => {
            tracing::warn!(error = %e, jobs = batch.len(), "batched write failed; writing its jobs one by one");
            for job in batch {
                let outcome = match apply_in_transaction(db, stats, &[&job.op], &[job.trace_parent.as_deref()]).await {
                    Ok(mut o) => o
                        .pop()
                        .unwrap_or_else(|| Err(DbErr::Custom("no outcome".into()).into())),
                    Err(e) => Err(e.into()),
                };
                let _ = job.reply.send(outcome);
            }
        }
    }
}

async fn apply_in_transaction(
    db: &DatabaseConnection,
    stats: &Stats,
    ops: &[&Op],
    traces: &[Option<&str>],
) -> Result<Vec<Result<Record, StoreError>>, DbErr> {
    stats.write_transaction();
    let txn = super::begin_write(db).await?;
    let outcomes = apply(&txn, ops, traces).await?;
    txn.commit().await?;
    Ok(outcomes)
}

/// What one row of the batch came to before its record is read back.
enum Fate {
    Written { history_seq: i32, outbox_seq: i32 },
    Failed(StoreError),
}

async fn apply<C: ConnectionTrait>(
    conn: &C,
    ops: &[&Op],
    traces: &[Option<&str>],
) -> Result<Vec<Result<Record, StoreError>>, DbErr> {
    let backend = conn.get_database_backend();
    let mut fate: Vec<Option<Fate>> = ops.iter().map(|_| None).collect();

    // Payments first: a reference already used fails its change before the row moves.
    let payments: Vec<(usize, &str, &NewPayment)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::Change(c) => c.payment.as_ref().map(|p| (i, c.next.id.as_str(), p)),
            Op::Create { .. } => None,
        })
        .collect();
    let mut paid: HashSet<String> = HashSet::new();
    if !payments.is_empty() {
        let rows: Vec<Vec<Value>> = payments
            .iter()
            .map(|(i, id, p)| {
                let at = match ops[*i] {
                    Op::Change(c) => c.next.updated_at_ms,
                    Op::Create { .. } => 0,
                };
                vec![p.reference.clone().into(), (*id).into(), p.amount_vnd.into(), at.into()]
            })
            .collect();
        let sql = format!(
            "INSERT INTO payments (payment_reference, application_id, amount_vnd, at_ms) VALUES {} \
             ON CONFLICT DO NOTHING RETURNING payment_reference",
            rows_sql(backend, 0, &rows)
        );
        for row in conn
            .query_all_raw(Statement::from_sql_and_values(backend, sql, rows.concat()))
            .await?
        {
            paid.insert(row.try_get_by_index::<String>(0)?);
        }
        for (i, _, p) in &payments {
            if !paid.contains(&p.reference) {
                fate[*i] = Some(Fate::Failed(StoreError::PaymentTaken));
            }
        }
    }

    // New applications: a dossier code or vehicle already taken fails its row only.
    let creates: Vec<(usize, &application::Model, &Vec<u8>)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::Create { next, sealed, .. } => Some((i, next, sealed)),
            Op::Change(_) => None,
        })
        .collect();
    if !creates.is_empty() {
        let rows: Vec<Vec<Value>> = creates
            .iter()
            .map(|(_, a, sealed)| {
                vec![
                    a.id.clone().into(),
                    a.dossier_code.clone().into(),
                    a.content_hash.clone().into(),
                    (*sealed).clone().into(),
                    a.office_code.clone().into(),
                    a.locality_code.clone().into(),
                    a.state.clone().into(),
                    a.reasons.clone().into(),
                    a.warnings.clone().into(),
                    a.attempts.into(),
                    a.next_attempt_at_ms.into(),
                    1i64.into(),
                    a.created_at_ms.into(),
                    a.updated_at_ms.into(),
                    a.vehicle_key.clone().into(),
                    1i32.into(),
                    1i32.into(),
                ]
            })
            .collect();
        let sql = format!(
            "INSERT INTO applications (id, dossier_code, content_hash, declaration, office_code, \
             locality_code, state, reasons, warnings, attempts, next_attempt_at_ms, version, \
             created_at_ms, updated_at_ms, vehicle_key, history_seq, outbox_seq) VALUES {} \
             ON CONFLICT DO NOTHING RETURNING id",
            rows_sql(backend, 0, &rows)
        );
        let mut inserted: HashSet<String> = HashSet::new();
        for row in conn
            .query_all_raw(Statement::from_sql_and_values(backend, sql, rows.concat()))
            .await?
        {
            inserted.insert(row.try_get_by_index::<String>(0)?);
        }
        for (i, a, _) in &creates {
            fate[*i] = Some(if inserted.contains(&a.id) {
                Fate::Written {
                    history_seq: 1,
                    outbox_seq: 1,
                }
            } else {
                // Which key it ran into is for the caller to find out (it reads by dossier code).
                Fate::Failed(StoreError::DuplicateDossier)
            });
        }
    }

    // Certificates: numbered from their rows' ids, so inserted first; one
    // already issued for the application fails that change only.
    let mut numbers: HashMap<String, String> = HashMap::new();
    let mut certificate_ids: HashMap<String, i64> = HashMap::new();
    let issuing: Vec<(usize, &Change, &NewCertificate)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::Change(c) if fate[i].is_none() => c.certificate.as_ref().map(|k| (i, c, k)),
            _ => None,
        })
        .collect();
    if !issuing.is_empty() {
        let rows: Vec<Vec<Value>> = issuing
            .iter()
            .map(|(_, c, k)| {
                vec![
                    c.next.id.clone().into(),
                    // Provisional and unique until the id is known.
                    c.next.id.replace('-', "").into(),
                    k.actor.clone().into(),
                    c.next.updated_at_ms.into(),
                ]
            })
            .collect();
        let sql = format!(
            "INSERT INTO certificates (application_id, number, actor, at_ms) VALUES {} \
             ON CONFLICT DO NOTHING RETURNING id, application_id",
            rows_sql(backend, 0, &rows)
        );
        for row in conn
            .query_all_raw(Statement::from_sql_and_values(backend, sql, rows.concat()))
            .await?
        {
            let id: i64 = row.try_get_by_index(0)?;
            certificate_ids.insert(row.try_get_by_index::<String>(1)?, id);
        }
        let mut named: Vec<Vec<Value>> = Vec::new();
        for (i, c, _) in &issuing {
            match certificate_ids.get(&c.next.id) {
                Some(&row_id) => {
                    let year = chrono::DateTime::from_timestamp_millis(c.next.updated_at_ms)
                        .map(|t| t.format("%Y").to_string())
                        .unwrap_or_default();
                    let number = format!("{}-{year}-{row_id:07}", c.next.locality_code);
                    named.push(vec![row_id.into(), number.clone().into()]);
                    numbers.insert(c.next.id.clone(), number);
                }
                None => fate[*i] = Some(Fate::Failed(StoreError::Conflict(c.next.id.clone()))),
            }
        }
        if !named.is_empty() {
            let sql = format!(
                "WITH v (v_id, v_number) AS (VALUES {}) UPDATE certificates SET number = v.v_number \
                 FROM v WHERE id = v.v_id",
                rows_sql(backend, 0, &named)
            );
            conn.execute_raw(Statement::from_sql_and_values(backend, sql, named.concat()))
                .await?;
        }
    }

    // Changes, under their version checks, numbering their history and events.
    let changes: Vec<(usize, &Change)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::Change(c) if fate[i].is_none() => Some((i, c)),
            _ => None,
        })
        .collect();
    if !changes.is_empty() {
        let rows: Vec<Vec<Value>> = changes
            .iter()
            .map(|(_, c)| {
                let a = &c.next;
                let events = c.entry.as_ref().map_or(0, |e| event_count(e.to));
                vec![
                    a.id.clone().into(),
                    c.expected_version.into(),
                    a.state.clone().into(),
                    a.reasons.clone().into(),
                    a.warnings.clone().into(),
                    a.attempts.into(),
                    a.next_attempt_at_ms.into(),
                    a.vehicle_value_vnd.into(),
                    a.blocked_reason.clone().into(),
                    a.vehicle_key.clone().into(),
                    a.plate.clone().into(),
                    numbers
                        .get(&a.id)
                        .cloned()
                        .or_else(|| a.certificate_number.clone())
                        .into(),
                    a.updated_at_ms.into(),
                    i32::from(c.entry.is_some()).into(),
                    events.into(),
                ]
            })
            .collect();
        let sql = format!(
            "WITH v (v_id, v_expected, v_state, v_reasons, v_warnings, v_attempts, v_next, v_value, \
             v_blocked, v_vehicle, v_plate, v_certificate, v_at, v_h, v_o) AS (VALUES {}) \
             UPDATE applications SET state = v.v_state, reasons = v.v_reasons, warnings = v.v_warnings, \
             attempts = v.v_attempts, next_attempt_at_ms = v.v_next, vehicle_value_vnd = v.v_value, \
             blocked_reason = v.v_blocked, vehicle_key = v.v_vehicle, plate = v.v_plate, \
             certificate_number = v.v_certificate, updated_at_ms = v.v_at, version = version + 1, \
             history_seq = history_seq + v.v_h, outbox_seq = outbox_seq + v.v_o \
             FROM v WHERE id = v.v_id AND version = v.v_expected \
             RETURNING id, history_seq, outbox_seq",
            rows_sql(backend, 0, &rows)
        );
        let mut moved: HashMap<String, (i32, i32)> = HashMap::new();
        for row in conn
            .query_all_raw(Statement::from_sql_and_values(backend, sql, rows.concat()))
            .await?
        {
            moved.insert(
                row.try_get_by_index::<String>(0)?,
                (row.try_get_by_index::<i32>(1)?, row.try_get_by_index::<i32>(2)?),
            );
        }
        let mut unpaid: Vec<Value> = Vec::new();
        let mut unissued: Vec<Value> = Vec::new();
        for (i, c) in &changes {
            fate[*i] = Some(match moved.get(&c.next.id) {
                Some(&(history_seq, outbox_seq)) => Fate::Written {
                    history_seq,
                    outbox_seq,
                },
                None => {
                    if let Some(p) = &c.payment {
                        unpaid.push(p.reference.clone().into());
                    }
                    if let Some(&row_id) = certificate_ids.get(&c.next.id) {
                        unissued.push(row_id.into());
                    }
                    Fate::Failed(StoreError::Conflict(c.next.id.clone()))
                }
            });
        }
        // Their rows moved meanwhile: their payments and certificates are not recorded either.
        delete_in(conn, "payments", "payment_reference", unpaid).await?;
        delete_in(conn, "certificates", "id", unissued).await?;
    }

    // The rows that go with each written change: history, portal events, evidence, checks.
    let mut history_rows: Vec<history::ActiveModel> = Vec::new();
    let mut events = Vec::new();
    let mut evidence_rows: Vec<evidence::ActiveModel> = Vec::new();
    let mut checks: Vec<physical_check::ActiveModel> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let Some(Fate::Written {
            history_seq,
            outbox_seq,
        }) = fate[i]
        else {
            continue;
        };
        let (id, at, entry) = match op {
            Op::Create { next, actor, .. } => (
                next.id.as_str(),
                next.created_at_ms,
                HistoryEntry {
                    from: None,
                    to: State::Submitted,
                    actor: actor.clone(),
                    reason_code: String::new(),
                    note: String::new(),
                },
            ),
            Op::Change(c) => {
                let Some(entry) = &c.entry else { continue };
                let mut entry = entry.clone();
                if let Some(number) = numbers.get(&c.next.id) {
                    entry.note = number.clone();
                }
                (c.next.id.as_str(), c.next.updated_at_ms, entry)
            }
        };
        history_rows.push(history_row(id, history_seq, &entry, at));
        let first = outbox_seq - event_count(entry.to) + 1;
        events.extend(portal_events(
            id,
            first,
            entry.to,
            &entry.reason_code,
            &entry.note,
            at,
            traces.get(i).copied().flatten().map(str::to_owned),
        ));
        if let Op::Change(c) = op {
            checks.extend(c.check.iter().map(|k| physical_check::ActiveModel {
                application_id: Set(id.to_owned()),
                actor: Set(k.actor.clone()),
                chassis_matches: Set(k.chassis_matches),
                engine_matches: Set(k.engine_matches),
                note: Set(k.note.clone()),
                at_ms: Set(at),
                ..Default::default()
            }));
        }
    }
    // Evidence of every written change, with a history row or without (a retried lookup).
    for (i, op) in ops.iter().enumerate() {
        if let (Some(Fate::Written { .. }), Op::Change(c)) = (&fate[i], op) {
            evidence_rows.extend(c.evidence.iter().map(|e| evidence::ActiveModel {
                application_id: Set(c.next.id.clone()),
                attempt: Set(c.next.attempts),
                agency: Set(e.agency.to_owned()),
                request_sha256: Set(e.request_sha256.clone()),
                response_sha256: Set(e.response_sha256.clone()),
                outcome: Set(e.outcome.to_owned()),
                fetched_at_ms: Set(e.fetched_at_ms),
                ..Default::default()
            }));
        }
    }
    if !history_rows.is_empty() {
        history::Entity::insert_many(history_rows).exec(conn).await?;
    }
    if !events.is_empty() {
        super::entities::outbox::Entity::insert_many(events).exec(conn).await?;
    }
    if !evidence_rows.is_empty() {
        evidence::Entity::insert_many(evidence_rows).exec(conn).await?;
    }
    if !checks.is_empty() {
        physical_check::Entity::insert_many(checks).exec(conn).await?;
    }

    // Each caller gets its record as written: the row it sent, now numbered,
    // and everything recorded about it, read in one statement for the batch.
    let written: Vec<&str> = ops
        .iter()
        .enumerate()
        .filter(|(i, _)| matches!(fate[*i], Some(Fate::Written { .. })))
        .map(|(_, op)| op.id())
        .collect();
    let mut kids = children(conn, &written).await?;
    Ok(ops
        .iter()
        .zip(fate)
        .map(|(op, fate)| match fate {
            Some(Fate::Written {
                history_seq,
                outbox_seq,
            }) => {
                let mut app = match op {
                    Op::Create { next, .. } => next.clone(),
                    Op::Change(c) => {
                        let mut a = c.next.clone();
                        a.version = c.expected_version + 1;
                        if let Some(number) = numbers.get(&a.id) {
                            a.certificate_number = Some(number.clone());
                        }
                        a
                    }
                };
                if let Op::Create { .. } = op {
                    app.version = 1;
                }
                app.history_seq = history_seq;
                app.outbox_seq = outbox_seq;
                Ok(kids.remove(&app.id).unwrap_or_default().with(app))
            }
            Some(Fate::Failed(e)) => Err(e),
            None => Err(DbErr::Custom("a write was left without an outcome".into()).into()),
        })
        .collect())
}

/// Deletes the rows of `table` whose `column` is one of `values` (none: no statement).
async fn delete_in<C: ConnectionTrait>(conn: &C, table: &str, column: &str, values: Vec<Value>) -> Result<(), DbErr> {
    if values.is_empty() {
        return Ok(());
    }
    let backend = conn.get_database_backend();
    let sql = format!(
        "DELETE FROM {table} WHERE {column} IN ({})",
        placeholders(backend, 0, values.len())
    );
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// Portal events written for a history row entering `to` (see `portal_events`).
pub(super) fn event_count(to: State) -> i32 {
    if to == State::PlateAssigned { 2 } else { 1 }
}
