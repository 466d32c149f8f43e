//! Reading whole applications: the row, then everything recorded about it
//! (history, agency evidence, physical checks) in one query for any number of
//! applications. A record cost four queries and a queue page of fifty 151;
//! now one costs two and a page two.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbErr, Statement, Value};

use super::Record;
use super::entities::{application, evidence, history, physical_check};

/// History, evidence and checks of one application, in the order they were written.
#[derive(Debug, Default, Clone)]
pub struct Children {
    pub history: Vec<history::Model>,
    pub evidence: Vec<evidence::Model>,
    pub physical_checks: Vec<physical_check::Model>,
}

impl Children {
    pub fn with(self, app: application::Model) -> Record {
        Record {
            app,
            history: self.history,
            evidence: self.evidence,
            physical_checks: self.physical_checks,
        }
    }
}

/// `?` or `$n` placeholders for `n` values starting after `used`.
pub(super) fn placeholders(backend: sea_orm::DbBackend, used: usize, n: usize) -> String {
    (used + 1..=used + n)
        .map(|i| match backend {
            sea_orm::DbBackend::Postgres => format!("${i}"),
            _ => "?".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(…), (…)` for `rows` of values, numbering placeholders after `used`.
pub(super) fn rows_sql(backend: sea_orm::DbBackend, used: usize, rows: &[Vec<Value>]) -> String {
    let mut n = used;
    rows.iter()
        .map(|r| {
            let p = placeholders(backend, n, r.len());
            n += r.len();
            format!("({p})")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The children of `ids`, by application id, in one statement: the three
/// tables as one UNION ALL of a common row shape. Every column is cast, so
/// PostgreSQL and SQLite decode the same types.
pub async fn children<C: ConnectionTrait>(conn: &C, ids: &[&str]) -> Result<HashMap<String, Children>, DbErr> {
    let mut out: HashMap<String, Children> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let backend = conn.get_database_backend();
    let mut values: Vec<Value> = Vec::with_capacity(ids.len() * 3);
    let list = |values: &mut Vec<Value>| {
        let p = placeholders(backend, values.len(), ids.len());
        values.extend(ids.iter().map(|id| Value::from(*id)));
        p
    };
    let (h, e, p) = (list(&mut values), list(&mut values), list(&mut values));
    let sql = format!(
        "SELECT 'h' AS k, application_id, CAST(id AS BIGINT) AS id, CAST(seq AS INTEGER) AS n1, \
           CAST(0 AS INTEGER) AS n2, from_state AS s1, to_state AS s2, actor AS s3, reason_code AS s4, \
           note AS s5, CAST(at_ms AS BIGINT) AS t FROM application_history WHERE application_id IN ({h}) \
         UNION ALL \
         SELECT 'e', application_id, CAST(id AS BIGINT), CAST(attempt AS INTEGER), CAST(0 AS INTEGER), \
           agency, request_sha256, response_sha256, outcome, '', CAST(fetched_at_ms AS BIGINT) \
           FROM application_evidence WHERE application_id IN ({e}) \
         UNION ALL \
         SELECT 'p', application_id, CAST(id AS BIGINT), \
           CAST(CASE WHEN chassis_matches THEN 1 ELSE 0 END AS INTEGER), \
           CAST(CASE WHEN engine_matches THEN 1 ELSE 0 END AS INTEGER), \
           actor, note, '', '', '', CAST(at_ms AS BIGINT) \
           FROM physical_checks WHERE application_id IN ({p}) \
         ORDER BY 1, 2, 3"
    );
    for row in conn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
    {
        let kind: String = row.try_get_by_index(0)?;
        let application_id: String = row.try_get_by_index(1)?;
        let id: i64 = row.try_get_by_index(2)?;
        let n1: i32 = row.try_get_by_index(3)?;
        let n2: i32 = row.try_get_by_index(4)?;
        let s = |i: usize| row.try_get_by_index::<String>(i);
        let at_ms: i64 = row.try_get_by_index(10)?;
        let entry = out.entry(application_id.clone()).or_default();
        match kind.as_str() {
            "h" => entry.history.push(history::Model {
                id,
                application_id,
                seq: n1,
                from_state: s(5)?,
                to_state: s(6)?,
                actor: s(7)?,
                reason_code: s(8)?,
                note: s(9)?,
                at_ms,
            }),
            "e" => entry.evidence.push(evidence::Model {
                id,
                application_id,
                attempt: n1,
                agency: s(5)?,
                request_sha256: s(6)?,
                response_sha256: s(7)?,
                outcome: s(8)?,
                fetched_at_ms: at_ms,
            }),
            _ => entry.physical_checks.push(physical_check::Model {
                id,
                application_id,
                actor: s(5)?,
                chassis_matches: n1 == 1,
                engine_matches: n2 == 1,
                note: s(6)?,
                at_ms,
            }),
        }
    }
    Ok(out)
}
