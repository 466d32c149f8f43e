//! Which database errors mean "the database is not there right now" (a
//! restart, a failover, connections cut, a stall past the pool's timeout) as
//! opposed to a fault in a statement or in our data.
//!
//! The difference decides what a caller is told: UNAVAILABLE, which every gRPC
//! client may retry and which says nothing was decided, instead of INTERNAL,
//! which says we broke. Nothing here is retried inside the service: a write
//! that failed this way was rolled back with its transaction, and the caller's
//! retry is the one safe place to try again (submissions are idempotent on the
//! dossier code, draws on the application).

use sea_orm::{DbErr, RuntimeErr};

/// Whether `e` says the database could not be reached or dropped us, rather
/// than refusing what we asked.
pub fn is_outage(e: &DbErr) -> bool {
    match e {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(r) | DbErr::Exec(r) | DbErr::Query(r) => match r {
            RuntimeErr::SqlxError(e) => sqlx_outage(e),
            RuntimeErr::Internal(_) => false,
        },
        _ => false,
    }
}

fn sqlx_outage(e: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as E;
    match e {
        E::Io(_) | E::Tls(_) | E::Protocol(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception), 57P01-57P05 (the server is
        // shutting down, crashed, starting up, or ended the session: an
        // operator's pg_terminate_backend), 53300 (too many connections), and
        // SQLite's busy/locked past the busy timeout.
        E::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c == "53300" || c == "5" || c == "6"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn connection_failures_are_outages_and_statement_faults_are_not() {
        let io = || sea_orm::sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(is_outage(&DbErr::Conn(RuntimeErr::SqlxError(Arc::new(io())))));
        assert!(is_outage(&DbErr::Exec(RuntimeErr::SqlxError(Arc::new(io())))));
        assert!(is_outage(&DbErr::Query(RuntimeErr::SqlxError(Arc::new(
            sea_orm::sqlx::Error::PoolTimedOut
        )))));
        assert!(is_outage(&DbErr::ConnectionAcquire(
            sea_orm::error::ConnAcquireErr::ConnectionClosed
        )));
        assert!(!is_outage(&DbErr::Query(RuntimeErr::SqlxError(Arc::new(
            sea_orm::sqlx::Error::RowNotFound
        )))));
        assert!(!is_outage(&DbErr::Custom("no outcome".into())));
        assert!(!is_outage(&DbErr::RecordNotFound("application".into())));
    }
}
