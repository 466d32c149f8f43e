//! Revoked caller tokens: one token by its id (`jti`), or every token of a
//! subject issued up to a time. Every replica reads this table every few
//! seconds, so a revocation takes effect everywhere without a restart.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Revocations {
    Table,
    /// `token:<jti>` or `subject:<sub>`: one row per thing revoked.
    Id,
    /// Tokens issued at or before this (Unix seconds) are refused.
    RevokedAt,
    Actor,
    Reason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Revocations::Table)
                    .col(string_len(Revocations::Id, 300).primary_key())
                    .col(big_integer(Revocations::RevokedAt))
                    .col(string_len(Revocations::Actor, 200))
                    .col(string_len(Revocations::Reason, 500))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Revocations::Table).to_owned())
            .await
    }
}
