//! Fees, payments and registration certificates.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Applications {
    Table,
    VehicleValueVnd,
    CertificateNumber,
}

#[derive(DeriveIden)]
enum Payments {
    Table,
    PaymentReference,
    ApplicationId,
    AmountVnd,
    AtMs,
}

#[derive(DeriveIden)]
enum Certificates {
    Table,
    Id,
    ApplicationId,
    Number,
    Actor,
    AtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The taxable value from the fee record, which sets the motorbike fee band.
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .add_column(big_integer_null(Applications::VehicleValueVnd))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .add_column(string_len_null(Applications::CertificateNumber, 32))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Payments::Table)
                    // The payment platform's reference: a confirmation is idempotent on it.
                    .col(string_len(Payments::PaymentReference, 64).primary_key())
                    // One payment per application, by the database.
                    .col(string_len_uniq(Payments::ApplicationId, 36))
                    .col(big_integer(Payments::AmountVnd))
                    .col(big_integer(Payments::AtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Certificates::Table)
                    .col(big_pk_auto(Certificates::Id))
                    .col(string_len_uniq(Certificates::ApplicationId, 36))
                    .col(string_len_uniq(Certificates::Number, 32))
                    .col(string_len(Certificates::Actor, 64))
                    .col(big_integer(Certificates::AtMs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Certificates::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Payments::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .drop_column(Applications::CertificateNumber)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .drop_column(Applications::VehicleValueVnd)
                    .to_owned(),
            )
            .await
    }
}
