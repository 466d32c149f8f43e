//! The portal outbox, physical checks, and an index for reading a clerk's actions.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Applications {
    Table,
    BlockedReason,
}

#[derive(DeriveIden)]
enum ApplicationHistory {
    Table,
    Actor,
    AtMs,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    ApplicationId,
    Seq,
    Status,
    ReasonCode,
    Detail,
    AtMs,
    Delivery,
    Attempts,
    NextAttemptAtMs,
    LastError,
    DeliveredAtMs,
}

#[derive(DeriveIden)]
enum PhysicalChecks {
    Table,
    Id,
    ApplicationId,
    Actor,
    ChassisMatches,
    EngineMatches,
    Note,
    AtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Why a clerk's physical check blocks the application, while it does.
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .add_column(string_len_null(Applications::BlockedReason, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(big_pk_auto(Outbox::Id))
                    .col(string_len(Outbox::ApplicationId, 36))
                    // Order of the portal's events for one application, from 1.
                    .col(integer(Outbox::Seq))
                    .col(string_len(Outbox::Status, 32))
                    .col(string_len(Outbox::ReasonCode, 64))
                    .col(string_len(Outbox::Detail, 128))
                    .col(big_integer(Outbox::AtMs))
                    // PENDING, DELIVERED or DEAD (gave up after the configured attempts).
                    .col(string_len(Outbox::Delivery, 16))
                    .col(integer(Outbox::Attempts))
                    .col(big_integer(Outbox::NextAttemptAtMs))
                    .col(string_len(Outbox::LastError, 256))
                    .col(big_integer_null(Outbox::DeliveredAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_outbox_application_seq")
                    .table(Outbox::Table)
                    .col(Outbox::ApplicationId)
                    .col(Outbox::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_outbox_delivery")
                    .table(Outbox::Table)
                    .col(Outbox::Delivery)
                    .col(Outbox::ApplicationId)
                    .col(Outbox::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PhysicalChecks::Table)
                    .col(big_pk_auto(PhysicalChecks::Id))
                    .col(string_len(PhysicalChecks::ApplicationId, 36))
                    .col(string_len(PhysicalChecks::Actor, 64))
                    .col(boolean(PhysicalChecks::ChassisMatches))
                    .col(boolean(PhysicalChecks::EngineMatches))
                    .col(string_len(PhysicalChecks::Note, 256))
                    .col(big_integer(PhysicalChecks::AtMs))
                    .to_owned(),
            )
            .await?;
        // A supervisor reads one clerk's actions, newest first.
        manager
            .create_index(
                Index::create()
                    .name("ix_history_actor")
                    .table(ApplicationHistory::Table)
                    .col(ApplicationHistory::Actor)
                    .col(ApplicationHistory::AtMs)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_history_actor")
                    .table(ApplicationHistory::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(PhysicalChecks::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Outbox::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .drop_column(Applications::BlockedReason)
                    .to_owned(),
            )
            .await
    }
}
