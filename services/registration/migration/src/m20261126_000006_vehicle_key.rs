//! One active registration per vehicle, enforced by the database.
//!
//! `vehicle_key` is a keyed hash of the chassis number (the chassis number
//! itself is inside the sealed declaration). It is set while an application
//! is active and cleared when it ends (rejected, withdrawn, deregistered); a
//! unique index over it, where NULLs never collide on SQLite or PostgreSQL,
//! refuses a second active application for the same vehicle, even from two
//! replicas at once.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Applications {
    Table,
    VehicleKey,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .add_column(string_len_null(Applications::VehicleKey, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_applications_active_vehicle")
                    .table(Applications::Table)
                    .col(Applications::VehicleKey)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_applications_active_vehicle")
                    .table(Applications::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .drop_column(Applications::VehicleKey)
                    .to_owned(),
            )
            .await
    }
}
