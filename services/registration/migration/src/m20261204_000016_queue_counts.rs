//! The console's queue shows an office's count per state on every page
//! (`ListApplications.with_counts`): one grouped count over the office's
//! rows, which this index answers without reading the table.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Applications {
    Table,
    OfficeCode,
    State,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_applications_office_state")
                    .table(Applications::Table)
                    .col(Applications::OfficeCode)
                    .col(Applications::State)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_applications_office_state")
                    .table(Applications::Table)
                    .to_owned(),
            )
            .await
    }
}
