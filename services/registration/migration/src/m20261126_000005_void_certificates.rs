//! Certificate numbers made void by a reissue (lost or damaged certificates).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum VoidCertificates {
    Table,
    Number,
    ApplicationId,
    ReplacedBy,
    Reason,
    Actor,
    AtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(VoidCertificates::Table)
                    // A number is void once, for good: a lost certificate found later is worthless.
                    .col(string_len(VoidCertificates::Number, 32).primary_key())
                    .col(string_len(VoidCertificates::ApplicationId, 36))
                    .col(string_len_uniq(VoidCertificates::ReplacedBy, 32))
                    .col(string_len(VoidCertificates::Reason, 32))
                    .col(string_len(VoidCertificates::Actor, 64))
                    .col(big_integer(VoidCertificates::AtMs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(VoidCertificates::Table).to_owned())
            .await
    }
}
