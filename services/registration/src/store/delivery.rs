//! The outbox's rows: portal events written with each change (see
//! [`super::portal_events`]), claimed, and settled, each a set at a time.
//!
//! A delivery pass costs three statements whatever its size: one claims a
//! batch (and reads what the portal is shown of each application with it), one
//! records every outcome. Per event it was a claim share, a read of the
//! application and an update.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement, Value};

use super::Store;
use super::entities::{application, outbox};
use super::records::rows_sql;

pub const PENDING: &str = "PENDING";
pub const DELIVERED: &str = "DELIVERED";
pub const DEAD: &str = "DEAD";

/// How one delivery attempt ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Delivered,
    /// To be tried again at `at_ms`.
    Retry {
        at_ms: i64,
        error: String,
    },
    /// Given up: the portal refused it, or every attempt failed.
    Dead {
        error: String,
    },
}

/// The outcome of one claimed event, recorded if its claim still holds.
#[derive(Debug, Clone)]
pub struct Settled {
    pub id: i64,
    pub attempts: i32,
    pub outcome: Outcome,
}

/// Counts of the outbox, for operators and metrics.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub pending: u64,
    pub dead: u64,
    pub delivered: u64,
    /// Age of the oldest undelivered event, 0 if none.
    pub oldest_pending_age_ms: i64,
}

impl Store {
    /// Claims up to `limit` due events, each heading its application's queue
    /// (nothing earlier of its application undelivered: a dead letter holds
    /// back the rest of its application until retried), by moving their due
    /// time to `lease`; with the rows of their applications (declarations opened).
    ///
    /// Replicas share the queue: on PostgreSQL each claims rows the others have
    /// not locked (SKIP LOCKED), so three replicas split a backlog instead of
    /// all selecting the same rows.
    pub async fn claim_events(
        &self,
        now_ms: i64,
        lease: i64,
        limit: u64,
    ) -> Result<(Vec<outbox::Model>, HashMap<String, application::Model>), DbErr> {
        let db = self.connection();
        let backend = db.get_database_backend();
        let skip_locked = if backend == DbBackend::Postgres {
            " FOR UPDATE OF o SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE outbox SET next_attempt_at_ms = {lease} WHERE id IN (\
             SELECT o.id FROM outbox o WHERE o.delivery = '{PENDING}' AND o.next_attempt_at_ms <= {now_ms} \
             AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.application_id = o.application_id \
             AND p.seq < o.seq AND p.delivery <> '{DELIVERED}') \
             ORDER BY o.next_attempt_at_ms, o.id LIMIT {limit}{skip_locked}) RETURNING *"
        );
        let txn = self.begin_write().await?;
        let mut claimed: Vec<outbox::Model> = txn
            .query_all_raw(Statement::from_string(backend, sql))
            .await?
            .iter()
            .map(|row| outbox::Model::from_query_result(row, ""))
            .collect::<Result<_, _>>()?;
        txn.commit().await?;
        claimed.sort_by_key(|e| (e.application_id.clone(), e.seq));
        let mut ids: Vec<&str> = claimed.iter().map(|e| e.application_id.as_str()).collect();
        ids.dedup();
        let mut apps = HashMap::new();
        if !ids.is_empty() {
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
            for app in application::Entity::find()
                .filter(application::Column::Id.is_in(ids))
                .all(db)
                .await?
            {
                let app = self.opened(app)?;
                apps.insert(app.id.clone(), app);
            }
        }
        Ok((claimed, apps))
    }

    /// Records the outcomes of a pass in one statement; an event whose claim
    /// (`lease`) was lost meanwhile is left to its new holder. Returns how
    /// many were recorded.
    pub async fn settle_events(&self, lease: i64, now_ms: i64, settled: &[Settled]) -> Result<u64, DbErr> {
        if settled.is_empty() {
            return Ok(0);
        }
        let db = self.connection();
        let backend = db.get_database_backend();
        let rows: Vec<Vec<Value>> = settled
            .iter()
            .map(|s| {
                let (delivery, next, error, delivered_at): (&str, Option<i64>, &str, Option<i64>) = match &s.outcome {
                    Outcome::Delivered => (DELIVERED, None, "", Some(now_ms)),
                    Outcome::Retry { at_ms, error } => (PENDING, Some(*at_ms), error, None),
                    Outcome::Dead { error } => (DEAD, None, error, None),
                };
                vec![
                    s.id.into(),
                    delivery.into(),
                    s.attempts.into(),
                    next.into(),
                    error.chars().take(250).collect::<String>().into(),
                    delivered_at.into(),
                ]
            })
            .collect();
        let values_sql = rows_sql(backend, 0, &rows);
        let sql = format!(
            "WITH v (v_id, v_delivery, v_attempts, v_next, v_error, v_delivered_at) AS (VALUES {values_sql}) \
             UPDATE outbox SET delivery = v.v_delivery, attempts = v.v_attempts, \
             next_attempt_at_ms = COALESCE(v.v_next, next_attempt_at_ms), last_error = v.v_error, \
             delivered_at_ms = v.v_delivered_at \
             FROM v WHERE id = v.v_id AND delivery = '{PENDING}' AND next_attempt_at_ms = {lease}"
        );
        let txn = self.begin_write().await?;
        let res = txn
            .execute_raw(Statement::from_sql_and_values(backend, sql, rows.concat()))
            .await?;
        txn.commit().await?;
        Ok(res.rows_affected())
    }

    /// Counts of pending, dead and delivered events, in one statement.
    pub async fn outbox_status(&self) -> Result<Status, DbErr> {
        let db = self.connection();
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(CASE WHEN delivery = '{PENDING}' THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN delivery = '{DEAD}' THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN delivery = '{DELIVERED}' THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(MIN(CASE WHEN delivery <> '{DELIVERED}' THEN at_ms END) AS BIGINT) FROM outbox"
        );
        let row = db
            .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
            .await?
            .ok_or_else(|| DbErr::Custom("no outbox counts".into()))?;
        let count = |i: usize| row.try_get_by_index::<i64>(i).map(|n| u64::try_from(n).unwrap_or(0));
        let oldest: Option<i64> = row.try_get_by_index(3)?;
        Ok(Status {
            pending: count(0)?,
            dead: count(1)?,
            delivered: count(2)?,
            oldest_pending_age_ms: oldest.map(|t| (crate::now_ms() - t).max(0)).unwrap_or(0),
        })
    }

    /// The oldest `limit` dead letters.
    pub async fn dead_letters(&self, limit: u64) -> Result<Vec<outbox::Model>, DbErr> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
        outbox::Entity::find()
            .filter(outbox::Column::Delivery.eq(DEAD))
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .all(self.connection())
            .await
    }

    /// Puts dead letters back in the queue (after the portal is fixed); returns how many.
    pub async fn retry_dead_events(&self, now_ms: i64) -> Result<u64, DbErr> {
        let db = self.connection();
        let backend = db.get_database_backend();
        let sql = format!(
            "UPDATE outbox SET delivery = '{PENDING}', attempts = 0, next_attempt_at_ms = {now_ms} \
             WHERE delivery = '{DEAD}'"
        );
        let txn = self.begin_write().await?;
        let res = txn.execute_raw(Statement::from_string(backend, sql)).await?;
        txn.commit().await?;
        Ok(res.rows_affected())
    }
}
