//! Calls per caller and time window, summed over every replica: the shared
//! rate limit (`limits`). Each replica adds what it admitted every
//! `auth.rate_sync_ms` and reads the totals back in the same statement; rows
//! older than a few windows are deleted.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RateWindows {
    Table,
    /// The limited caller, e.g. `caller:portal`.
    Key,
    /// Unix time divided by the window's length.
    Window,
    /// Calls admitted in the window by all replicas.
    Count,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RateWindows::Table)
                    .col(string_len(RateWindows::Key, 300))
                    .col(big_integer(RateWindows::Window))
                    .col(big_integer(RateWindows::Count))
                    .primary_key(Index::create().col(RateWindows::Key).col(RateWindows::Window))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RateWindows::Table).to_owned())
            .await
    }
}
