//! Longer key fingerprint names: the token issuer's keys are pinned one per
//! key id (`token-issuer:<kid>`, 56 characters), so that the issuer key can be
//! rotated while a key id still means the same key on every replica.
//!
//! SQLite does not enforce `varchar` lengths (nor alter a column's type):
//! only PostgreSQL needs the change.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KeyFingerprints {
    Table,
    Name,
}

/// Widens (or, going down, narrows) the name column on PostgreSQL.
async fn name_length(manager: &SchemaManager<'_>, len: u32) -> Result<(), DbErr> {
    if manager.get_database_backend() != sea_orm_migration::sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    manager
        .alter_table(
            Table::alter()
                .table(KeyFingerprints::Table)
                .modify_column(string_len(KeyFingerprints::Name, len))
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        name_length(manager, 96).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        name_length(manager, 32).await
    }
}
