//! Fingerprints of the keys the data depends on (data key, log key, token
//! issuer), pinned by the first replica that starts on this database.
//!
//! A replica started with another key (a Secret not mounted, so a fresh key
//! generated) would seal rows others cannot open, hash vehicles and owners
//! differently (defeating the one-application-per-vehicle index), or sign
//! another log: it refuses to start instead.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KeyFingerprints {
    Table,
    Name,
    Sha256,
    PinnedAtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KeyFingerprints::Table)
                    .col(string_len(KeyFingerprints::Name, 32).primary_key())
                    .col(string_len(KeyFingerprints::Sha256, 64))
                    .col(big_integer(KeyFingerprints::PinnedAtMs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(KeyFingerprints::Table).to_owned())
            .await
    }
}
