//! What a v2 receipt needs (draw spec §7): the result of the pool's previous
//! commit, recorded with each result (`previous_result_seq`) so a receipt reads
//! its entries in one query, and found by the commit's log index for rows
//! without it; and, when candidates were skipped, the draws that took them (by
//! pool and number). Without the indexes, each receipt scanned the draws table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Draws {
    Table,
    CommitSeq,
    PoolId,
    Number,
    PreviousResultSeq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Draws::Table)
                    .add_column(big_integer_null(Draws::PreviousResultSeq))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_draws_commit_seq")
                    .table(Draws::Table)
                    .col(Draws::CommitSeq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_draws_pool_number")
                    .table(Draws::Table)
                    .col(Draws::PoolId)
                    .col(Draws::Number)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_draws_pool_number")
                    .table(Draws::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name("ix_draws_commit_seq").table(Draws::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Draws::Table)
                    .drop_column(Draws::PreviousResultSeq)
                    .to_owned(),
            )
            .await
    }
}
