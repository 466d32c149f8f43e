//! Persistence: sea-orm over SQLite (embedded default) or PostgreSQL.
//!
//! Every change of an application's state is one transaction that updates the
//! row under an optimistic version check, appends the history row (who, when,
//! why) and the agency evidence. Uniqueness of dossier codes is enforced by the
//! database, not by a read-then-write check.

pub mod certificates;
pub mod database_url;
pub mod delivery;
pub mod entities;
pub mod outage;
pub mod rate_windows;
pub mod records;
pub mod revocations;
pub mod rotation;
pub mod stats;
pub mod writer;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr, TransactionTrait,
};

use crate::domain::workflow::State;
use entities::{application, evidence, history, outbox, physical_check};

/// Store-level failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer changed the application first (optimistic version check).
    #[error("application {0} was changed concurrently")]
    Conflict(String),
    /// A row with this dossier code already exists.
    #[error("dossier code already used")]
    DuplicateDossier,
    /// Another active application is for the same vehicle.
    #[error("the vehicle has another active application")]
    VehicleActive,
    /// The payment reference is already recorded (for this or another application).
    #[error("payment reference already used")]
    PaymentTaken,
    /// This replica's key differs from the one the database was started with.
    #[error(
        "the {0} key differs from the one this database was first used with: every replica must \
         run with the same keys (mount the same Secret); refusing to start"
    )]
    KeyMismatch(String),
    /// None of the token issuer's keys is one this database has pinned.
    #[error(
        "the token-issuer key differs from every one this database was used with: every replica \
         must run with the same keys (mount the same Secret); to rotate the issuer key, first start \
         with the new key current and the old one in auth.issuer_previous_public_keys; refusing \
         to start"
    )]
    IssuerKeysUnknown,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A history entry to append with a change.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub from: Option<State>,
    pub to: State,
    pub actor: String,
    pub reason_code: String,
    pub note: String,
}

/// Agency evidence to keep with a change.
#[derive(Debug, Clone)]
pub struct NewEvidence {
    pub agency: &'static str,
    pub request_sha256: String,
    pub response_sha256: String,
    pub outcome: &'static str,
    pub fetched_at_ms: i64,
}

/// Column changes of one update; `None` leaves a column as it is.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    pub state: Option<State>,
    pub reasons_json: Option<String>,
    pub warnings_json: Option<String>,
    pub attempts: Option<i32>,
    pub next_attempt_at_ms: Option<Option<i64>>,
    /// Taxable value from the fee record, once verified.
    pub vehicle_value_vnd: Option<Option<i64>>,
    /// A corrected declaration: (encoded request, content hash, office, locality).
    pub declaration: Option<(Vec<u8>, String, String, String)>,
    /// Set or clear the physical-check block.
    pub blocked_reason: Option<Option<String>>,
    /// The vehicle of a corrected declaration.
    pub vehicle_key: Option<String>,
}

/// An application with everything recorded about it.
#[derive(Debug, Clone)]
pub struct Record {
    pub app: application::Model,
    pub history: Vec<history::Model>,
    pub evidence: Vec<evidence::Model>,
    pub physical_checks: Vec<physical_check::Model>,
}

/// The database and how its writes are batched. Owned by the store; only
/// `app` reads the whole configuration.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `sqlite://path?mode=rwc` (default) or `postgres://…`. `DATABASE_URL` overrides.
    pub url: String,
    pub max_connections: u32,
    /// How long the writer gathers concurrent state changes into one
    /// transaction before it commits them (group commit). Callers are answered
    /// only after their batch commits; 0 takes whatever is already queued.
    pub gather_ms: u64,
    /// Most state changes written in one transaction.
    pub batch_max: usize,
    /// Transactions the writer has in flight at once (SQLite has one writer: 1 there).
    pub writers: usize,
    /// How long a call waits for a connection, reconnecting meanwhile, before
    /// it is answered UNAVAILABLE: a database restart or failover shorter than
    /// this is ridden through, a longer one is reported to callers to retry.
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://var/registration.db?mode=rwc".into(),
            max_connections: 16,
            gather_ms: 2,
            batch_max: 256,
            writers: 2,
            acquire_timeout_ms: 10_000,
        }
    }
}

/// A page position in an office queue: (created_at_ms, id) of the last row seen.
pub type Cursor = (i64, String);

#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
    /// Seals declarations on the way in, opens them on the way out.
    privacy: crate::privacy::Privacy,
    /// Statements and write transactions sent, for the statement budget.
    stats: std::sync::Arc<stats::Stats>,
    /// Batches concurrent state changes into shared transactions.
    writer: writer::Writer,
    /// Signalled when portal events are committed here, so that delivery
    /// follows the events rather than a clock.
    events: std::sync::Arc<tokio::sync::Notify>,
}

impl Store {
    /// Connects and brings the schema up to date with the real migrations.
    /// `sqlite` or `postgresql`, as OpenTelemetry names database systems.
    fn system(&self) -> &'static str {
        match self.db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "postgresql",
            sea_orm::DatabaseBackend::Sqlite => "sqlite",
            _ => "other",
        }
    }

    /// Begins a transaction that will write (see [`begin_write`]), and counts it.
    pub async fn begin_write(&self) -> Result<sea_orm::DatabaseTransaction, DbErr> {
        self.stats.write_transaction();
        begin_write(&self.db).await
    }

    /// Tells the outbox that portal events were committed (see `events`).
    pub fn events_written(&self) {
        self.events.notify_one();
    }

    /// Resolves once events are committed after the last [`Store::events_written`] was seen.
    pub async fn events_pending(&self) {
        self.events.notified().await;
    }

    /// What this store has sent to the database so far.
    pub fn stats(&self) -> stats::Counts {
        self.stats.read()
    }

    pub async fn connect(cfg: &DatabaseConfig, privacy: crate::privacy::Privacy) -> Result<Store, DbErr> {
        let url = cfg.url.as_str();
        ensure_sqlite_dir(url)?;
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.max_connections(cfg.max_connections)
            .acquire_timeout(Duration::from_millis(std::cmp::Ord::max(cfg.acquire_timeout_ms, 1)))
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                // WAL lets readers (queue listings) run beside the single writer;
                // NORMAL sync is durable across process crashes in WAL mode.
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        let mut db = Database::connect(opts).await?;
        let stats = stats::Stats::new();
        let counted = stats.clone();
        db.set_metric_callback(move |info| counted.statement(&info.statement.sql));
        migrate(url).await?;
        let events = std::sync::Arc::new(tokio::sync::Notify::new());
        let writer = writer::Writer::start(
            db.clone(),
            stats.clone(),
            events.clone(),
            Duration::from_millis(cfg.gather_ms),
            cfg.batch_max,
            cfg.writers,
        );
        Ok(Store {
            db,
            privacy,
            stats,
            writer,
            events,
        })
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Files a new application in SUBMITTED with its first history row and
    /// portal event, in a batch with other writes. `app.declaration` is the
    /// open declaration; it is sealed on the way in. A dossier code or vehicle
    /// already taken is [`StoreError::DuplicateDossier`] (the caller reads by
    /// dossier code to tell which).
    #[tracing::instrument(level = "info", name = "db", skip_all, fields(otel.name = "INSERT application", otel.kind = "client", db.system = self.system()))]
    pub async fn create(&self, app: application::Model, actor: &str) -> Result<Record, StoreError> {
        if app.vehicle_key.is_some() && self.vehicle_active_under_retired(&app.declaration, None).await? {
            return Err(StoreError::VehicleActive);
        }
        let sealed = self.seal(&app.declaration, &app.id)?;
        let trace_parent = vrs_kit::telemetry::propagation::traceparent();
        self.writer.create(app, sealed, actor, trace_parent).await
    }

    /// Applies `change` if the row is still at its expected version, in a
    /// batch with other writes; the record as written.
    #[tracing::instrument(level = "info", name = "db", skip_all, fields(otel.name = "UPDATE application", otel.kind = "client", db.system = self.system()))]
    pub async fn change(&self, mut change: writer::Change) -> Result<Record, StoreError> {
        if State::parse(&change.next.state).is_some_and(State::is_terminal) {
            // The vehicle is free for another application.
            change.next.vehicle_key = None;
        }
        let trace_parent = vrs_kit::telemetry::propagation::traceparent();
        self.writer.change(change, trace_parent).await
    }

    #[tracing::instrument(level = "info", name = "db", skip_all, fields(otel.name = "SELECT application", otel.kind = "client", db.system = self.system()))]
    pub async fn find(&self, id: &str) -> Result<Option<Record>, DbErr> {
        match self.find_application(id).await? {
            Some(app) => self.complete(app).await.map(Some),
            None => Ok(None),
        }
    }

    /// Whole records of `ids`, in two statements whatever their number.
    pub async fn records(&self, ids: &[&str]) -> Result<std::collections::HashMap<String, Record>, DbErr> {
        if ids.is_empty() {
            return Ok(std::collections::HashMap::new());
        }
        let apps = application::Entity::find()
            .filter(application::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?;
        Ok(self
            .with_children(apps)
            .await?
            .into_iter()
            .map(|r| (r.app.id.clone(), r))
            .collect())
    }

    /// Rows as read (declarations sealed), opened and completed with their
    /// history, evidence and checks: one statement for all of them.
    async fn with_children(&self, apps: Vec<application::Model>) -> Result<Vec<Record>, DbErr> {
        let ids: Vec<&str> = apps.iter().map(|a| a.id.as_str()).collect();
        let mut kids = records::children(&self.db, &ids).await?;
        apps.into_iter()
            .map(|app| {
                let app = self.opened(app)?;
                Ok(kids.remove(&app.id).unwrap_or_default().with(app))
            })
            .collect()
    }

    /// The application row alone, its declaration opened: one query, for
    /// callers that need neither history nor evidence (the outbox).
    #[tracing::instrument(level = "info", name = "db", skip_all, fields(otel.name = "SELECT application", otel.kind = "client", db.system = self.system()))]
    pub async fn find_application(&self, id: &str) -> Result<Option<application::Model>, DbErr> {
        let Some(app) = application::Entity::find_by_id(id.to_owned()).one(&self.db).await? else {
            return Ok(None);
        };
        self.opened(app).map(Some)
    }

    fn opened(&self, mut app: application::Model) -> Result<application::Model, DbErr> {
        app.declaration = self
            .privacy
            .open(&app.declaration, &app.id)
            .map_err(|e| DbErr::Custom(format!("application {}: {e}", app.id)))?;
        Ok(app)
    }

    #[tracing::instrument(level = "info", name = "db", skip_all, fields(otel.name = "SELECT application by dossier", otel.kind = "client", db.system = self.system()))]
    pub async fn find_by_dossier(&self, dossier_code: &str) -> Result<Option<Record>, DbErr> {
        let app = application::Entity::find()
            .filter(application::Column::DossierCode.eq(dossier_code))
            .one(&self.db)
            .await?;
        match app {
            Some(app) => self.complete(self.opened(app)?).await.map(Some),
            None => Ok(None),
        }
    }

    /// The keyed hash that makes a vehicle's active application unique.
    pub fn vehicle_key(&self, chassis: &str) -> String {
        self.privacy.vehicle_key(chassis)
    }

    fn seal(&self, plain: &[u8], row: &str) -> Result<Vec<u8>, DbErr> {
        self.privacy.seal(plain, row).map_err(|e| DbErr::Custom(e.to_string()))
    }

    /// History, evidence and checks of an application whose declaration is opened.
    pub async fn complete(&self, app: application::Model) -> Result<Record, DbErr> {
        let mut kids = records::children(&self.db, &[app.id.as_str()]).await?;
        Ok(kids.remove(&app.id).unwrap_or_default().with(app))
    }

    /// Applies `changes` if the row still has `expected_version`, in one
    /// transaction with its history entry and evidence.
    #[tracing::instrument(level = "info", name = "db", skip_all, fields(otel.name = "UPDATE application", otel.kind = "client", db.system = self.system()))]
    pub async fn update(
        &self,
        id: &str,
        expected_version: i64,
        changes: Changes,
        entry: Option<HistoryEntry>,
        new_evidence: Vec<NewEvidence>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        use application::Column as C;
        if let (Some(_), Some((decl, ..))) = (&changes.vehicle_key, &changes.declaration)
            && self.vehicle_active_under_retired(decl, Some(id)).await?
        {
            return Err(StoreError::VehicleActive);
        }
        let txn = self.begin_write().await?;
        let mut upd = application::Entity::update_many()
            .col_expr(C::Version, Expr::value(expected_version + 1))
            .col_expr(C::UpdatedAtMs, Expr::value(now_ms));
        if let Some(s) = changes.state {
            upd = upd.col_expr(C::State, Expr::value(s.as_str()));
            if s.is_terminal() {
                // The vehicle is free for another application.
                upd = upd.col_expr(C::VehicleKey, Expr::value(Option::<String>::None));
            }
        }
        if let Some(k) = changes.vehicle_key {
            upd = upd.col_expr(C::VehicleKey, Expr::value(k));
        }
        if let Some(r) = changes.reasons_json {
            upd = upd.col_expr(C::Reasons, Expr::value(r));
        }
        if let Some(w) = changes.warnings_json {
            upd = upd.col_expr(C::Warnings, Expr::value(w));
        }
        if let Some(a) = changes.attempts {
            upd = upd.col_expr(C::Attempts, Expr::value(a));
        }
        if let Some(n) = changes.next_attempt_at_ms {
            upd = upd.col_expr(C::NextAttemptAtMs, Expr::value(n));
        }
        if let Some(b) = changes.blocked_reason {
            upd = upd.col_expr(C::BlockedReason, Expr::value(b));
        }
        if let Some(v) = changes.vehicle_value_vnd {
            upd = upd.col_expr(C::VehicleValueVnd, Expr::value(v));
        }
        if let Some((decl, hash, office, locality)) = changes.declaration {
            upd = upd
                .col_expr(C::Declaration, Expr::value(self.seal(&decl, id)?))
                .col_expr(C::ContentHash, Expr::value(hash))
                .col_expr(C::OfficeCode, Expr::value(office))
                .col_expr(C::LocalityCode, Expr::value(locality));
        }
        let res = upd
            .filter(C::Id.eq(id))
            .filter(C::Version.eq(expected_version))
            .exec(&txn)
            .await
            .map_err(unique_violation)?;
        if res.rows_affected != 1 {
            return Err(StoreError::Conflict(id.to_owned()));
        }
        if let Some(entry) = entry {
            append_history_in(&txn, id, &entry, now_ms).await?;
        }
        if !new_evidence.is_empty() {
            let attempt = changes.attempts.unwrap_or(0);
            let rows = new_evidence.into_iter().map(|e| evidence::ActiveModel {
                application_id: Set(id.to_owned()),
                attempt: Set(attempt),
                agency: Set(e.agency.to_owned()),
                request_sha256: Set(e.request_sha256),
                response_sha256: Set(e.response_sha256),
                outcome: Set(e.outcome.to_owned()),
                fetched_at_ms: Set(e.fetched_at_ms),
                ..Default::default()
            });
            evidence::Entity::insert_many(rows).exec(&txn).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Takes a lease on a due application so that one worker (of any replica)
    /// processes it: moves `next_attempt_at_ms` from `seen` to `lease_until`.
    /// The version is untouched, so a concurrent state change still wins.
    pub async fn claim(&self, id: &str, seen: i64, lease_until: i64) -> Result<bool, DbErr> {
        use application::Column as C;
        let res = application::Entity::update_many()
            .col_expr(C::NextAttemptAtMs, Expr::value(lease_until))
            .filter(C::Id.eq(id))
            .filter(C::NextAttemptAtMs.eq(seen))
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Applications whose lookups are due: (id, next_attempt_at_ms), oldest first.
    pub async fn due(&self, now_ms: i64, limit: u64) -> Result<Vec<(String, i64)>, DbErr> {
        use application::Column as C;
        let rows: Vec<(String, Option<i64>)> = application::Entity::find()
            .select_only()
            .column(C::Id)
            .column(C::NextAttemptAtMs)
            .filter(C::NextAttemptAtMs.lte(now_ms))
            .filter(C::State.is_in([State::Submitted.as_str(), State::AwaitingAgency.as_str()]))
            .order_by_asc(C::NextAttemptAtMs)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().filter_map(|(id, at)| at.map(|at| (id, at))).collect())
    }

    /// One page of an office's queue, oldest first.
    #[tracing::instrument(level = "info", name = "db", skip_all, fields(otel.name = "SELECT queue", otel.kind = "client", db.system = self.system()))]
    pub async fn list(
        &self,
        office_code: &str,
        states: &[State],
        after: Option<Cursor>,
        limit: u64,
    ) -> Result<Vec<Record>, DbErr> {
        use application::Column as C;
        let mut q = application::Entity::find().filter(C::OfficeCode.eq(office_code));
        if !states.is_empty() {
            q = q.filter(C::State.is_in(states.iter().map(|s| s.as_str())));
        }
        if let Some((created, id)) = after {
            q = q.filter(
                Condition::any()
                    .add(C::CreatedAtMs.gt(created))
                    .add(Condition::all().add(C::CreatedAtMs.eq(created)).add(C::Id.gt(id))),
            );
        }
        let apps = q
            .order_by_asc(C::CreatedAtMs)
            .order_by_asc(C::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        self.with_children(apps).await
    }

    /// How many applications of an office are in each state (states with none
    /// are left out): one grouped count over the office's rows, which the
    /// office index bounds.
    #[tracing::instrument(level = "info", name = "db", skip_all, fields(otel.name = "SELECT queue counts", otel.kind = "client", db.system = self.system()))]
    pub async fn count_by_state(&self, office_code: &str) -> Result<Vec<(State, u64)>, DbErr> {
        use application::Column as C;
        let rows: Vec<(String, i64)> = application::Entity::find()
            .select_only()
            .column(C::State)
            // COUNT(*), not COUNT(id): the (office, state) index alone answers it.
            .column_as(Expr::cust("COUNT(*)"), "n")
            .filter(C::OfficeCode.eq(office_code))
            .group_by(C::State)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(state, n)| Some((State::parse(&state)?, u64::try_from(n).unwrap_or(0))))
            .collect())
    }

    /// Number of applications, for tests and metrics.
    pub async fn count(&self) -> Result<u64, DbErr> {
        application::Entity::find().count(&self.db).await
    }

    /// One actor's history rows, newest first, before `before` (a history row id).
    #[tracing::instrument(level = "info", name = "db", skip_all, fields(otel.name = "SELECT history by actor", otel.kind = "client", db.system = self.system()))]
    pub async fn actions(&self, actor: &str, before: Option<i64>, limit: u64) -> Result<Vec<history::Model>, DbErr> {
        let mut q = history::Entity::find().filter(history::Column::Actor.eq(actor));
        if let Some(b) = before {
            q = q.filter(history::Column::Id.lt(b));
        }
        q.order_by_desc(history::Column::Id).limit(limit).all(&self.db).await
    }

    /// Pins `name`'s key fingerprint on first start; afterwards a different
    /// key is refused (every replica must run with the same keys).
    pub async fn pin_key(&self, name: &str, fingerprint: &str) -> Result<(), StoreError> {
        use entities::key_fingerprint as kf;
        let row = kf::ActiveModel {
            name: Set(name.to_owned()),
            sha256: Set(fingerprint.to_owned()),
            pinned_at_ms: Set(crate::now_ms()),
        };
        let inserted = kf::Entity::insert(row)
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(kf::Column::Name)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        let _ = inserted;
        let pinned = kf::Entity::find_by_id(name.to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| DbErr::Custom(format!("key fingerprint {name} vanished")))?;
        if pinned.sha256 != fingerprint {
            return Err(StoreError::KeyMismatch(name.to_owned()));
        }
        Ok(())
    }

    /// Pins the token issuer's keys, one per key id (`token-issuer:<kid>`,
    /// the key's fingerprint), so that a key id means the same key on every
    /// replica. `keys` are (key id, fingerprint), the current key first.
    ///
    /// Pinning per key id lets the issuer key be rotated, but not replaced
    /// outright: once any issuer key is pinned, at least one of `keys` must be
    /// (by key id, or as the single `token-issuer` pin of versions before key
    /// ids). A replica whose keys are all new (a Secret not mounted, so a
    /// fresh key generated) refuses to start; a rotation first starts with
    /// the new key current and the old one still accepted.
    pub async fn pin_issuer_keys(&self, keys: &[(String, String)]) -> Result<(), StoreError> {
        use entities::key_fingerprint as kf;
        const PIN: &str = "token-issuer";
        let known: Vec<String> = kf::Entity::find()
            .filter(
                Condition::any()
                    .add(kf::Column::Name.eq(PIN))
                    .add(kf::Column::Name.starts_with(format!("{PIN}:"))),
            )
            .all(&self.db)
            .await?
            .into_iter()
            .map(|pin| pin.sha256)
            .collect();
        if !known.is_empty() && !keys.iter().any(|(_, fingerprint)| known.contains(fingerprint)) {
            return Err(StoreError::IssuerKeysUnknown);
        }
        for (kid, fingerprint) in keys {
            self.pin_key(&format!("{PIN}:{kid}"), fingerprint).await?;
        }
        Ok(())
    }

    /// Number of history rows, for tests that prove a refused request wrote nothing.
    pub async fn count_history(&self) -> Result<u64, DbErr> {
        history::Entity::find().count(&self.db).await
    }
}

/// Runs the migrations. On PostgreSQL, replicas starting together take turns
/// under an advisory lock held by one dedicated session.
pub async fn migrate(url: &str) -> Result<(), DbErr> {
    ensure_sqlite_dir(url)?;
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(1).min_connections(1).sqlx_logging(false);
    let conn = Database::connect(opts).await?;
    let postgres = conn.get_database_backend() == sea_orm::DbBackend::Postgres;
    if postgres {
        conn.execute_unprepared("SELECT pg_advisory_lock(7351606)").await?;
    }
    let result = Migrator::up(&conn, None).await;
    if postgres {
        conn.execute_unprepared("SELECT pg_advisory_unlock(7351606)").await?;
    }
    conn.close().await?;
    result
}

/// Appends a history row (and its portal events) after the last one, in the
/// caller's transaction: the application's row numbers them (`UPDATE …
/// RETURNING` of its counters), so nothing is read first.
pub async fn append_history_in<C: sea_orm::ConnectionTrait>(
    conn: &C,
    id: &str,
    entry: &HistoryEntry,
    at_ms: i64,
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let events = writer::event_count(entry.to);
    let sql = format!(
        "UPDATE applications SET history_seq = history_seq + 1, outbox_seq = outbox_seq + {events} \
         WHERE id = {} RETURNING history_seq, outbox_seq",
        records::placeholders(backend, 0, 1)
    );
    let row = conn
        .query_one_raw(sea_orm::Statement::from_sql_and_values(backend, sql, [id.into()]))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("application {id}")))?;
    let (history_seq, outbox_seq): (i32, i32) = (row.try_get_by_index(0)?, row.try_get_by_index(1)?);
    history_row(id, history_seq, entry, at_ms).insert(conn).await?;
    let rows = portal_events(
        id,
        outbox_seq - events + 1,
        entry.to,
        &entry.reason_code,
        &entry.note,
        at_ms,
        vrs_kit::telemetry::propagation::traceparent(),
    );
    outbox::Entity::insert_many(rows).exec(conn).await?;
    Ok(())
}

/// The history row of `entry`, numbered `seq`.
fn history_row(id: &str, seq: i32, entry: &HistoryEntry, at_ms: i64) -> history::ActiveModel {
    history::ActiveModel {
        application_id: Set(id.to_owned()),
        seq: Set(seq),
        from_state: Set(entry.from.map(State::as_str).unwrap_or("").to_owned()),
        to_state: Set(entry.to.as_str().to_owned()),
        actor: Set(entry.actor.clone()),
        reason_code: Set(entry.reason_code.clone()),
        note: Set(entry.note.clone()),
        at_ms: Set(at_ms),
        ..Default::default()
    }
}

/// Status reported to the portal after a plate is assigned: the fee is now due.
pub const FEE_DUE: &str = "FEE_DUE";

/// Begins a transaction that will write. On SQLite it takes the write lock at
/// `BEGIN IMMEDIATE`: a deferred transaction that reads first and writes later
/// fails with SQLITE_BUSY_SNAPSHOT ("database is locked", code 517) whenever
/// another writer committed in between, and `busy_timeout` cannot cure that;
/// waiting at BEGIN can. PostgreSQL ignores the option.
async fn begin_write(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, DbErr> {
    db.begin_with_options(sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// The portal events of one history row, numbered from `seq`: its new state,
/// and after a plate assignment also [`FEE_DUE`].
///
/// `trace_parent` is the step's trace context, read where the step runs (the
/// writer's task has none of its own): delivery continues that trace.
fn portal_events(
    id: &str,
    seq: i32,
    to: State,
    reason_code: &str,
    note: &str,
    at_ms: i64,
    trace_parent: Option<String>,
) -> Vec<outbox::ActiveModel> {
    let row = |seq: i32, status: &str, reason: &str, detail: &str| outbox::ActiveModel {
        application_id: Set(id.to_owned()),
        seq: Set(seq),
        status: Set(status.to_owned()),
        reason_code: Set(reason.chars().take(64).collect()),
        detail: Set(detail.chars().take(128).collect()),
        at_ms: Set(at_ms),
        delivery: Set(delivery::PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at_ms: Set(at_ms),
        last_error: Set(String::new()),
        delivered_at_ms: Set(None),
        trace_parent: Set(trace_parent.clone()),
        ..Default::default()
    };
    // Only notes the system writes (plate, certificate and payment numbers) go
    // to the portal; a clerk's or citizen's free text might name a person.
    let system_note = matches!(
        reason_code,
        "PLATE_DRAWN" | "RETAINED_PLATE_REISSUED" | "AUCTION_PLATE_CONFIRMED" | "FEE_PAID" | "CERTIFICATE_ISSUED"
    ) || reason_code.starts_with("CERTIFICATE_REISSUED")
        || to == State::Deregistered;
    let detail = if system_note { note } else { "" };
    let mut rows = vec![row(seq, to.as_str(), reason_code, detail)];
    if to == State::PlateAssigned {
        rows.push(row(seq + 1, FEE_DUE, "", ""));
    }
    rows
}

/// Which uniqueness a failed write ran into.
fn unique_violation(e: DbErr) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(msg)) if msg.contains("vehicle") => StoreError::VehicleActive,
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::DuplicateDossier,
        _ => StoreError::Db(e),
    }
}

/// Creates the directory of a SQLite file, so that the defaults work in an empty directory.
fn ensure_sqlite_dir(url: &str) -> Result<(), DbErr> {
    let sqlite_dir = sqlite_file(url).and_then(|p| std::path::Path::new(p).parent());
    if let Some(dir) = sqlite_dir.filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", dir.display())))?;
    }
    Ok(())
}

/// The file path of a `sqlite://` URL, if it names a file.
fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Moves an application to `to` inside the caller's transaction if it is in one
/// of `from`, with its history row; sets its plate when given. Returns whether it moved.
#[allow(clippy::too_many_arguments)]
pub async fn transition_in<C: sea_orm::ConnectionTrait>(
    conn: &C,
    id: &str,
    from: &[State],
    to: State,
    actor: &str,
    reason_code: &str,
    note: &str,
    plate: Option<&str>,
    now_ms: i64,
) -> Result<bool, DbErr> {
    use application::Column as C;
    let current: Option<String> = application::Entity::find_by_id(id.to_owned())
        .select_only()
        .column(C::State)
        .into_tuple()
        .one(conn)
        .await?;
    let Some(from_state) = current.as_deref().and_then(State::parse).filter(|s| from.contains(s)) else {
        return Ok(false);
    };
    let mut upd = application::Entity::update_many()
        .col_expr(C::State, Expr::value(to.as_str()))
        .col_expr(C::Version, Expr::col(C::Version).add(1))
        .col_expr(C::UpdatedAtMs, Expr::value(now_ms));
    if let Some(p) = plate {
        upd = upd.col_expr(C::Plate, Expr::value(p));
    }
    if to.is_terminal() {
        upd = upd.col_expr(C::VehicleKey, Expr::value(Option::<String>::None));
    }
    let res = upd
        .filter(C::Id.eq(id))
        .filter(C::State.eq(from_state.as_str()))
        .exec(conn)
        .await?;
    if res.rows_affected != 1 {
        return Ok(false);
    }
    let entry = HistoryEntry {
        from: Some(from_state),
        to,
        actor: actor.to_owned(),
        reason_code: reason_code.to_owned(),
        note: note.to_owned(),
    };
    append_history_in(conn, id, &entry, now_ms).await?;
    Ok(true)
}

/// [`transition_in`] for many applications at once, each with its plate: a few
/// statements per chunk instead of several per application (the resolver moves
/// a whole round's draws). Applications no longer in `from` are left alone;
/// returns how many moved.
pub async fn transition_many_in<C: sea_orm::ConnectionTrait>(
    conn: &C,
    items: &[(String, String)],
    from: &[State],
    to: State,
    actor: &str,
    reason_code: &str,
    now_ms: i64,
) -> Result<usize, DbErr> {
    use application::Column as C;
    use sea_orm::sea_query::CaseStatement;
    let mut moved = 0;
    for chunk in items.chunks(500) {
        let ids: Vec<&str> = chunk.iter().map(|(id, _)| id.as_str()).collect();
        let mut select = application::Entity::find()
            .select_only()
            .column(C::Id)
            .column(C::State)
            .filter(C::Id.is_in(ids.clone()));
        if conn.get_database_backend() == sea_orm::DbBackend::Postgres {
            // Hold them until commit: what is read here is what the update below changes.
            select = select.lock_exclusive();
        }
        let current: Vec<(String, String)> = select.into_tuple().all(conn).await?;
        let movable: std::collections::HashMap<String, State> = current
            .into_iter()
            .filter_map(|(id, s)| State::parse(&s).filter(|s| from.contains(s)).map(|s| (id, s)))
            .collect();
        let rows: Vec<&(String, String)> = chunk.iter().filter(|(id, _)| movable.contains_key(id)).collect();
        if rows.is_empty() {
            continue;
        }
        let plate = rows.iter().fold(CaseStatement::new(), |case, (id, plate)| {
            case.case(Expr::col(C::Id).eq(id.as_str()), Expr::value(plate.as_str()))
        });
        let events = writer::event_count(to);
        let updated = application::Entity::update_many()
            .col_expr(C::State, Expr::value(to.as_str()))
            .col_expr(C::Version, Expr::col(C::Version).add(1))
            .col_expr(C::UpdatedAtMs, Expr::value(now_ms))
            .col_expr(C::Plate, plate.into())
            .col_expr(C::HistorySeq, Expr::col(C::HistorySeq).add(1))
            .col_expr(C::OutboxSeq, Expr::col(C::OutboxSeq).add(events))
            .filter(C::Id.is_in(rows.iter().map(|(id, _)| id.as_str())))
            .filter(C::State.is_in(from.iter().map(|s| s.as_str())))
            .exec_with_returning(conn)
            .await?;
        if updated.len() != rows.len() {
            // Cannot happen under the locks above (or SQLite's single writer); refuse
            // rather than write history that does not match the rows.
            return Err(DbErr::Custom(format!(
                "{} of {} applications moved concurrently",
                rows.len() - updated.len(),
                rows.len()
            )));
        }
        // Numbered by the rows themselves: their counters, as updated.
        let seqs: std::collections::HashMap<String, (i32, i32)> = updated
            .into_iter()
            .map(|a| (a.id, (a.history_seq, a.outbox_seq)))
            .collect();
        let seq = |id: &str| seqs.get(id).copied().unwrap_or((1, events));
        let history_rows = rows.iter().map(|(id, plate)| history::ActiveModel {
            application_id: Set(id.clone()),
            seq: Set(seq(id).0),
            from_state: Set(movable.get(id).map(|s| s.as_str()).unwrap_or("").to_owned()),
            to_state: Set(to.as_str().to_owned()),
            actor: Set(actor.to_owned()),
            reason_code: Set(reason_code.to_owned()),
            note: Set(plate.clone()),
            at_ms: Set(now_ms),
            ..Default::default()
        });
        history::Entity::insert_many(history_rows.collect::<Vec<_>>())
            .exec(conn)
            .await?;
        let events: Vec<outbox::ActiveModel> = rows
            .iter()
            .flat_map(|(id, plate)| {
                portal_events(
                    id,
                    seq(id).1 - events + 1,
                    to,
                    reason_code,
                    plate,
                    now_ms,
                    vrs_kit::telemetry::propagation::traceparent(),
                )
            })
            .collect();
        outbox::Entity::insert_many(events).exec(conn).await?;
        moved += rows.len();
    }
    Ok(moved)
}
