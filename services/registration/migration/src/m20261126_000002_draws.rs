//! The transparency log, checkpoints, pools, draws and plates.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LogHead {
    Table,
    Id,
    Size,
}

#[derive(DeriveIden)]
enum LogEntries {
    Table,
    Seq,
    Kind,
    PoolId,
    Entry,
    LeafHash,
    AtMs,
}

#[derive(DeriveIden)]
enum Checkpoints {
    Table,
    Size,
    Root,
    Note,
    AtMs,
}

#[derive(DeriveIden)]
enum Pools {
    Table,
    PoolId,
    Family,
    SeriesRank,
    Status,
    OpenedSeq,
    AtMs,
}

#[derive(DeriveIden)]
enum Draws {
    Table,
    ApplicationId,
    PoolId,
    Method,
    OwnerKey,
    Salt,
    BeaconId,
    Round,
    CommitSeq,
    ResultSeq,
    Number,
    Plate,
    AtMs,
    ResolvedAtMs,
}

#[derive(DeriveIden)]
enum Plates {
    Table,
    PoolId,
    Number,
    Plate,
    ApplicationId,
    OwnerKey,
    OwnerSalt,
    Status,
    RetainedUntilMs,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
enum PoolSnapshots {
    Table,
    PoolId,
    Seq,
    Bitmap,
}

#[derive(DeriveIden)]
enum Applications {
    Table,
    Plate,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One row: the log's size. Appending entries updates it, which serialises
        // appends across replicas (the row lock is held until commit).
        manager
            .create_table(
                Table::create()
                    .table(LogHead::Table)
                    .col(integer(LogHead::Id).primary_key())
                    .col(big_integer(LogHead::Size))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(LogHead::Table)
                    .columns([LogHead::Id, LogHead::Size])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LogEntries::Table)
                    // The entry's index in the log, from 0.
                    .col(big_integer(LogEntries::Seq).primary_key())
                    .col(string_len(LogEntries::Kind, 16))
                    .col(string_len(LogEntries::PoolId, 32))
                    // The entry bytes, exactly as hashed (contracts/draw/SPEC.md §3).
                    .col(blob(LogEntries::Entry))
                    .col(blob(LogEntries::LeafHash))
                    .col(big_integer(LogEntries::AtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_log_pool_seq")
                    .table(LogEntries::Table)
                    .col(LogEntries::PoolId)
                    .col(LogEntries::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Checkpoints::Table)
                    .col(big_integer(Checkpoints::Size).primary_key())
                    .col(blob(Checkpoints::Root))
                    .col(text(Checkpoints::Note))
                    .col(big_integer(Checkpoints::AtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Pools::Table)
                    .col(string_len(Pools::PoolId, 32).primary_key())
                    // Locality, class and colour without the series: pools of one family roll over.
                    .col(string_len(Pools::Family, 32))
                    .col(integer(Pools::SeriesRank))
                    // "open" or "exhausted".
                    .col(string_len(Pools::Status, 16))
                    .col(big_integer(Pools::OpenedSeq))
                    .col(big_integer(Pools::AtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_pools_family_rank")
                    .table(Pools::Table)
                    .col(Pools::Family)
                    .col(Pools::SeriesRank)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Draws::Table)
                    // One plate per application: a second DrawPlate finds this row.
                    .col(string_len(Draws::ApplicationId, 36).primary_key())
                    .col(string_len(Draws::PoolId, 32))
                    // "draw" or "retained".
                    .col(string_len(Draws::Method, 16))
                    .col(string_len(Draws::OwnerKey, 64))
                    // Opens the commit's application commitment; given to the citizen in the receipt.
                    .col(blob(Draws::Salt))
                    .col(string_len(Draws::BeaconId, 64))
                    .col(big_integer(Draws::Round))
                    .col(big_integer(Draws::CommitSeq))
                    .col(big_integer_null(Draws::ResultSeq))
                    .col(integer_null(Draws::Number))
                    .col(string_len_null(Draws::Plate, 16))
                    .col(big_integer(Draws::AtMs))
                    .col(big_integer_null(Draws::ResolvedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_draws_pending")
                    .table(Draws::Table)
                    .col(Draws::ResultSeq)
                    .col(Draws::Round)
                    .col(Draws::PoolId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Plates::Table)
                    .col(string_len(Plates::PoolId, 32))
                    .col(integer(Plates::Number))
                    // The database, not a read-then-write check, makes plates unique.
                    .col(string_len_uniq(Plates::Plate, 16))
                    .col(string_len(Plates::ApplicationId, 36))
                    // Keyed hash of the owner's identifier, to find retained plates.
                    .col(string_len(Plates::OwnerKey, 64))
                    // Salt of the owner commitment logged when the plate is revoked into retention.
                    .col(blob_null(Plates::OwnerSalt))
                    // "issued" or "retained".
                    .col(string_len(Plates::Status, 16))
                    .col(big_integer_null(Plates::RetainedUntilMs))
                    .col(big_integer(Plates::UpdatedAtMs))
                    .primary_key(Index::create().col(Plates::PoolId).col(Plates::Number))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_plates_owner")
                    .table(Plates::Table)
                    .col(Plates::OwnerKey)
                    .to_owned(),
            )
            .await?;
        // The availability bitmap of a pool just before a batch of results (log
        // index of the batch's first result), so receipts need not replay the pool.
        manager
            .create_table(
                Table::create()
                    .table(PoolSnapshots::Table)
                    .col(string_len(PoolSnapshots::PoolId, 32))
                    .col(big_integer(PoolSnapshots::Seq))
                    .col(blob(PoolSnapshots::Bitmap))
                    .primary_key(Index::create().col(PoolSnapshots::PoolId).col(PoolSnapshots::Seq))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .add_column(string_len_null(Applications::Plate, 16))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .drop_column(Applications::Plate)
                    .to_owned(),
            )
            .await?;
        for t in [
            "pool_snapshots",
            "plates",
            "draws",
            "pools",
            "checkpoints",
            "log_entries",
            "log_head",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(t)).to_owned())
                .await?;
        }
        Ok(())
    }
}
