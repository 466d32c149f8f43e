//! Applications, their state history and the agency evidence behind them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Applications {
    Table,
    Id,
    DossierCode,
    ContentHash,
    Declaration,
    OfficeCode,
    LocalityCode,
    State,
    Reasons,
    Warnings,
    Attempts,
    NextAttemptAtMs,
    Version,
    CreatedAtMs,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
enum ApplicationHistory {
    Table,
    Id,
    ApplicationId,
    Seq,
    FromState,
    ToState,
    Actor,
    ReasonCode,
    Note,
    AtMs,
}

#[derive(DeriveIden)]
enum ApplicationEvidence {
    Table,
    Id,
    ApplicationId,
    Attempt,
    Agency,
    RequestSha256,
    ResponseSha256,
    Outcome,
    FetchedAtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Applications::Table)
                    .col(string_len(Applications::Id, 36).primary_key())
                    // The portal's idempotency key: one application per dossier, enforced here.
                    .col(string_len_uniq(Applications::DossierCode, 40))
                    // Hex SHA-256 of the normalised declaration: tells a retry from a conflicting reuse.
                    .col(string_len(Applications::ContentHash, 64))
                    // The normalised SubmitApplicationRequest, protobuf-encoded.
                    .col(blob(Applications::Declaration))
                    .col(string_len(Applications::OfficeCode, 32))
                    .col(string_len(Applications::LocalityCode, 2))
                    .col(string_len(Applications::State, 32))
                    // JSON arrays of {code, field, message}.
                    .col(text(Applications::Reasons))
                    .col(text(Applications::Warnings))
                    .col(integer(Applications::Attempts))
                    // When the lookup worker may (re)try; NULL once lookups are settled.
                    .col(big_integer_null(Applications::NextAttemptAtMs))
                    // Optimistic concurrency: every transition bumps it, guarded by WHERE version = ?.
                    .col(big_integer(Applications::Version))
                    .col(big_integer(Applications::CreatedAtMs))
                    .col(big_integer(Applications::UpdatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_applications_queue")
                    .table(Applications::Table)
                    .col(Applications::OfficeCode)
                    .col(Applications::CreatedAtMs)
                    .col(Applications::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_applications_due")
                    .table(Applications::Table)
                    .col(Applications::NextAttemptAtMs)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApplicationHistory::Table)
                    .col(big_pk_auto(ApplicationHistory::Id))
                    .col(string_len(ApplicationHistory::ApplicationId, 36))
                    .col(integer(ApplicationHistory::Seq))
                    .col(string_len(ApplicationHistory::FromState, 32))
                    .col(string_len(ApplicationHistory::ToState, 32))
                    .col(string_len(ApplicationHistory::Actor, 64))
                    .col(string_len(ApplicationHistory::ReasonCode, 64))
                    .col(text(ApplicationHistory::Note))
                    .col(big_integer(ApplicationHistory::AtMs))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApplicationHistory::Table, ApplicationHistory::ApplicationId)
                            .to(Applications::Table, Applications::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_history_app_seq")
                    .table(ApplicationHistory::Table)
                    .col(ApplicationHistory::ApplicationId)
                    .col(ApplicationHistory::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApplicationEvidence::Table)
                    .col(big_pk_auto(ApplicationEvidence::Id))
                    .col(string_len(ApplicationEvidence::ApplicationId, 36))
                    .col(integer(ApplicationEvidence::Attempt))
                    .col(string_len(ApplicationEvidence::Agency, 16))
                    .col(string_len(ApplicationEvidence::RequestSha256, 64))
                    .col(string_len(ApplicationEvidence::ResponseSha256, 64))
                    .col(string_len(ApplicationEvidence::Outcome, 16))
                    .col(big_integer(ApplicationEvidence::FetchedAtMs))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApplicationEvidence::Table, ApplicationEvidence::ApplicationId)
                            .to(Applications::Table, Applications::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_evidence_app")
                    .table(ApplicationEvidence::Table)
                    .col(ApplicationEvidence::ApplicationId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApplicationEvidence::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ApplicationHistory::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Applications::Table).to_owned())
            .await
    }
}
