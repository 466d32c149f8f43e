//! Schema migrations of the registration service.
//!
//! Migrations describe tables with sea-query only and never import the entity
//! code, so that changing an entity cannot silently rewrite history. The same
//! migrations run on SQLite (embedded default) and PostgreSQL (production).

// async_trait impls of MigrationTrait cannot name the SchemaManager lifetime.
#![allow(elided_lifetimes_in_paths)]

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_applications;
mod m20261126_000002_draws;
mod m20261126_000003_fees;
mod m20261126_000004_outbox;
mod m20261126_000005_void_certificates;
mod m20261126_000006_vehicle_key;
mod m20261126_000007_key_fingerprints;
mod m20261126_000008_outbox_trace;
mod m20261203_000009_draw_lookups;
mod m20261203_000010_application_seqs;
mod m20261204_000011_revocations;
mod m20261204_000012_rate_windows;
mod m20261204_000013_key_fingerprint_names;
mod m20261204_000015_log_key_rotations;
mod m20261204_000016_queue_counts;

/// Applies every migration in order; `Migrator::up(&db, None)` brings a fresh database up to date.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_applications::Migration),
            Box::new(m20261126_000002_draws::Migration),
            Box::new(m20261126_000003_fees::Migration),
            Box::new(m20261126_000004_outbox::Migration),
            Box::new(m20261126_000005_void_certificates::Migration),
            Box::new(m20261126_000006_vehicle_key::Migration),
            Box::new(m20261126_000007_key_fingerprints::Migration),
            Box::new(m20261126_000008_outbox_trace::Migration),
            Box::new(m20261203_000009_draw_lookups::Migration),
            Box::new(m20261203_000010_application_seqs::Migration),
            Box::new(m20261204_000011_revocations::Migration),
            Box::new(m20261204_000012_rate_windows::Migration),
            Box::new(m20261204_000013_key_fingerprint_names::Migration),
            Box::new(m20261204_000015_log_key_rotations::Migration),
            Box::new(m20261204_000016_queue_counts::Migration),
        ]
    }
}
