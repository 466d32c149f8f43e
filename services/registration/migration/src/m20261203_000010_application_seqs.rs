//! The last history and outbox sequence numbers of each application, kept on
//! its row. A state change then numbers its history row and portal events
//! from the row it updates (`UPDATE … RETURNING`), instead of two `MAX(seq)`
//! reads per change; and a batch of changes numbers all its rows at once.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Applications {
    Table,
    HistorySeq,
    OutboxSeq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [Applications::HistorySeq, Applications::OutboxSeq] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Applications::Table)
                        .add_column(integer(col).default(0))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE applications SET \
                 history_seq = COALESCE((SELECT MAX(h.seq) FROM application_history h \
                   WHERE h.application_id = applications.id), 0), \
                 outbox_seq = COALESCE((SELECT MAX(o.seq) FROM outbox o \
                   WHERE o.application_id = applications.id), 0)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [Applications::HistorySeq, Applications::OutboxSeq] {
            manager
                .alter_table(Table::alter().table(Applications::Table).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}
