//! What the store sends to the database: statements by kind and write
//! transactions, counted in the connection layer.
//!
//! The hot path is bounded by round trips and commits, not by CPU (BENCHMARKS.md),
//! so these counts are the figure of merit a test can hold steady: unlike a
//! timing, they do not change with the machine's load.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters shared by every clone of one store's connection.
#[derive(Debug, Default)]
pub struct Stats {
    select: AtomicU64,
    insert: AtomicU64,
    update: AtomicU64,
    delete: AtomicU64,
    other: AtomicU64,
    write_transactions: AtomicU64,
}

/// A reading of [`Stats`]; subtract two readings to count one step.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub select: u64,
    pub insert: u64,
    pub update: u64,
    pub delete: u64,
    pub other: u64,
    /// Transactions begun to write (each ends in one commit or one rollback).
    pub write_transactions: u64,
}

impl Counts {
    /// Every statement sent, of any kind (BEGIN and COMMIT not included).
    pub fn statements(&self) -> u64 {
        self.select + self.insert + self.update + self.delete + self.other
    }
}

impl std::ops::Sub for Counts {
    type Output = Counts;
    fn sub(self, o: Counts) -> Counts {
        Counts {
            select: self.select - o.select,
            insert: self.insert - o.insert,
            update: self.update - o.update,
            delete: self.delete - o.delete,
            other: self.other - o.other,
            write_transactions: self.write_transactions - o.write_transactions,
        }
    }
}

impl Stats {
    pub fn new() -> Arc<Stats> {
        Arc::new(Stats::default())
    }

    /// Counts one statement by its first keyword (a CTE counts as what it ends in).
    pub fn statement(&self, sql: &str) {
        let head = sql.trim_start();
        let keyword = |k: &str| head.len() >= k.len() && head[..k.len()].eq_ignore_ascii_case(k);
        let counter = if keyword("SELECT") {
            &self.select
        } else if keyword("INSERT") {
            &self.insert
        } else if keyword("UPDATE") {
            &self.update
        } else if keyword("DELETE") {
            &self.delete
        } else if keyword("WITH") {
            let upper = head.to_ascii_uppercase();
            if upper.contains(") UPDATE ") {
                &self.update
            } else if upper.contains(") INSERT ") {
                &self.insert
            } else {
                &self.select
            }
        } else {
            &self.other
        };
        counter.fetch_add(1, Relaxed);
    }

    pub fn write_transaction(&self) {
        self.write_transactions.fetch_add(1, Relaxed);
    }

    pub fn read(&self) -> Counts {
        Counts {
            select: self.select.load(Relaxed),
            insert: self.insert.load(Relaxed),
            update: self.update.load(Relaxed),
            delete: self.delete.load(Relaxed),
            other: self.other.load(Relaxed),
            write_transactions: self.write_transactions.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_counted_by_kind() {
        let s = Stats::default();
        for sql in [
            "SELECT 1",
            "  select * from t",
            "INSERT INTO t VALUES (1)",
            "UPDATE t SET a = 1",
            "DELETE FROM t",
            "WITH v(a) AS (VALUES (1)) UPDATE t SET a = v.a FROM v",
            "WITH v(a) AS (VALUES (1)) SELECT a FROM v",
            "PRAGMA x",
        ] {
            s.statement(sql);
        }
        s.write_transaction();
        let c = s.read();
        assert_eq!((c.select, c.insert, c.update, c.delete, c.other), (3, 1, 2, 1, 1));
        assert_eq!(c.statements(), 8);
        assert_eq!((c - Counts::default()).write_transactions, 1);
    }
}
