//! The log key's rotations (draw spec §6.4): one row per key-rotation entry,
//! with the handover checkpoint both keys signed. Receipts carry them, so a
//! verifier pinned to an earlier key follows the log to the current one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LogKeyRotations {
    Table,
    /// The key-rotation entry's log index.
    Seq,
    /// Verifier keys (`<name>+<key id>+<base64>`), as the entry names them.
    OldKey,
    NewKey,
    /// The checkpoint of size `seq + 1`, signed by both keys.
    Handover,
    AtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LogKeyRotations::Table)
                    .col(big_integer(LogKeyRotations::Seq).primary_key())
                    .col(text(LogKeyRotations::OldKey))
                    .col(text(LogKeyRotations::NewKey))
                    .col(text(LogKeyRotations::Handover))
                    .col(big_integer(LogKeyRotations::AtMs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LogKeyRotations::Table).to_owned())
            .await
    }
}
