//! The re-seal job: after a data key rotation, rewrites under the current key
//! what is still sealed or hashed under a retired one (or in the format from
//! before key ids), so that the retired key can be removed.
//!
//! It runs on every replica while `privacy.retired_data_key_files` is not
//! empty: declarations with their vehicle hashes, then the owner hashes of
//! draws and plates, `privacy.reseal_batch` rows per transaction, by keyset
//! (rows after the last one seen). Every row is written under a
//! compare-and-set (its version, or the hash read), so replicas doing it at
//! once never undo each other or a concurrent change: one write wins, the
//! others find the row changed and leave it to the next pass.
//!
//! A pass that finds nothing left logs that the retired keys can be removed
//! and marks them drained in the database (a replica then starts without
//! them; before that it refuses to, see [`Store::pin_data_keys`]). The job
//! looks again every `privacy.reseal_interval_ms`: while a rotation rolls out,
//! a replica still running the old configuration seals with the old key.

use std::time::Duration;

use sea_orm::DbErr;
use tokio_util::sync::CancellationToken;

use crate::store::Store;
use crate::store::rotation::{Batch, Left};

/// How the job runs (from [`crate::config::PrivacyConfig`]).
#[derive(Debug, Clone)]
pub struct Settings {
    pub enabled: bool,
    /// Rows per transaction.
    pub batch: u64,
    /// The wait between passes once nothing is left (or only stuck rows).
    pub every: Duration,
}

impl From<&crate::config::PrivacyConfig> for Settings {
    fn from(cfg: &crate::config::PrivacyConfig) -> Self {
        Settings {
            enabled: cfg.reseal_enabled,
            batch: cfg.reseal_batch.max(1),
            every: Duration::from_millis(cfg.reseal_interval_ms.max(1)),
        }
    }
}

/// What one pass did, and what is left after it.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Declarations re-sealed (with their vehicle hashes).
    pub resealed: u64,
    /// Owner hashes of draws and plates rewritten.
    pub rehashed: u64,
    /// Rows changed by someone else meanwhile: the next pass takes them.
    pub raced: u64,
    /// Rows that cannot be rewritten, and why.
    pub stuck: Vec<String>,
    /// Keys (ids, or `legacy`) rows were found under.
    pub seen: std::collections::BTreeSet<String>,
    /// Counted after the pass.
    pub left: Left,
}

impl Report {
    fn add<C>(&mut self, b: Batch<C>, declarations: bool) {
        if declarations {
            self.resealed += b.rewritten;
        } else {
            self.rehashed += b.rewritten;
        }
        self.raced += b.raced;
        self.stuck.extend(b.stuck);
        self.seen.extend(b.seen);
    }
}

/// One pass over every table, then the count of what is left; marks the
/// retired keys drained when nothing is, and takes the marks back of keys
/// data was found under. Stops early (with what it did) when `stop` fires.
pub async fn pass(store: &Store, batch: u64, stop: &CancellationToken) -> Result<Report, DbErr> {
    let mut report = Report::default();
    let resealed = metric();
    let mut batches = 0u64;
    let mut progress = |report: &Report| {
        batches += 1;
        if batches.is_multiple_of(50) {
            tracing::info!(
                resealed = report.resealed,
                rehashed = report.rehashed,
                "re-sealing under the current data key"
            );
        }
    };
    let mut after: Option<String> = None;
    while !stop.is_cancelled() {
        let b = store.reseal_applications(after.as_deref(), batch).await?;
        resealed.add(b.rewritten, &[]);
        after = b.next.clone();
        report.add(b, true);
        progress(&report);
        if after.is_none() {
            break;
        }
    }
    let mut after: Option<String> = None;
    while !stop.is_cancelled() {
        let b = store.rehash_draws(after.as_deref(), batch).await?;
        after = b.next.clone();
        report.add(b, false);
        progress(&report);
        if after.is_none() {
            break;
        }
    }
    let mut after: Option<(String, i32)> = None;
    while !stop.is_cancelled() {
        let b = store.rehash_plates(after.clone(), batch).await?;
        after = b.next.clone();
        report.add(b, false);
        progress(&report);
        if after.is_none() {
            break;
        }
    }
    if stop.is_cancelled() {
        return Ok(report);
    }
    report.left = store.data_left().await?;
    if report.left.is_empty() {
        store.mark_retired_drained().await?;
    } else {
        store.clear_drained(&report.seen).await?;
    }
    Ok(report)
}

fn metric() -> opentelemetry::metrics::Counter<u64> {
    vrs_kit::telemetry::meter()
        .u64_counter("vrs.privacy.resealed")
        .with_description("Declarations re-sealed under the current data key")
        .build()
}

/// Runs passes while retired keys are configured, until `stop`.
pub async fn run(store: Store, settings: Settings, stop: CancellationToken) {
    let privacy = store.privacy().clone();
    let retired: Vec<String> = privacy.retired_ids().iter().map(|k| k.hex()).collect();
    if retired.is_empty() || !settings.enabled {
        return;
    }
    tracing::info!(current = %privacy.current_id(), ?retired, "re-seal job started");
    loop {
        let wait = match pass(&store, settings.batch, &stop).await {
            Ok(_) if stop.is_cancelled() => return,
            Ok(r) if r.left.is_empty() => {
                if r.resealed + r.rehashed > 0 {
                    tracing::info!(resealed = r.resealed, rehashed = r.rehashed, "re-seal pass done");
                }
                tracing::info!(
                    current = %privacy.current_id(),
                    ?retired,
                    "nothing is left under the retired data keys: once every replica runs with this \
                     current key, they can be removed from privacy.retired_data_key_files"
                );
                settings.every
            }
            Ok(r) => {
                for why in r.stuck.iter().take(10) {
                    tracing::warn!(row = %why, "not re-sealed");
                }
                tracing::info!(
                    resealed = r.resealed,
                    rehashed = r.rehashed,
                    raced = r.raced,
                    stuck = r.stuck.len(),
                    left_applications = r.left.applications,
                    left_draws = r.left.draws,
                    left_plates = r.left.plates,
                    "re-seal pass done; rows are left under retired data keys"
                );
                // Rows that moved meanwhile (or arrived) are taken soon; stuck ones wait.
                if r.raced > 0 || r.resealed + r.rehashed > 0 {
                    settings.every.min(Duration::from_secs(1))
                } else {
                    settings.every
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "re-seal pass failed; it is tried again");
                settings.every.min(Duration::from_secs(10))
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}
