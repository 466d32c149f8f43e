//! The transparency log in the database: appends serialised by the `log_head`
//! row, checkpoints, and reads for the log API.

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use vrs_draw::entry::Entry;
use vrs_draw::merkle::leaf_hash;

use crate::store::entities::{checkpoint, log_entry, log_head};

/// Appends entries in the caller's transaction; returns the index of the first.
/// The `log_head` update takes that row's lock until the transaction ends, so
/// appends from every replica get consecutive indices and commit in order.
pub async fn append<C: ConnectionTrait>(conn: &C, entries: &[Entry], now_ms: i64) -> Result<u64, DbErr> {
    let first = reserve(conn, entries.len()).await?;
    insert(conn, first, entries, now_ms).await?;
    Ok(first)
}

/// Reserves the next `n` indices of the log and returns the first. From here
/// to the end of the transaction nobody else appends: every entry before
/// `first` is committed and readable, so an entry whose content depends on the
/// log before it (a draw-commit names its pool's state) can be built now.
pub async fn reserve<C: ConnectionTrait>(conn: &C, n: usize) -> Result<u64, DbErr> {
    let n = n as i64;
    let q = Query::update()
        .table(log_head::Entity)
        .value(log_head::Column::Size, Expr::col(log_head::Column::Size).add(n))
        .and_where(Expr::col(log_head::Column::Id).eq(1))
        .returning(Query::returning().column(log_head::Column::Size))
        .to_owned();
    let row = conn
        .query_one(&q)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("log_head".into()))?;
    let end: i64 = row.try_get("", "size")?;
    Ok((end - n) as u64)
}

/// Locks the log's head until the transaction ends and returns its size: the
/// index the caller's next append gets.
pub async fn lock_head<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    reserve(conn, 0).await
}

/// Writes entries at the indices [`reserve`] returned, from `first`.
pub async fn insert<C: ConnectionTrait>(conn: &C, first: u64, entries: &[Entry], now_ms: i64) -> Result<(), DbErr> {
    let models: Vec<log_entry::ActiveModel> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let bytes = e.encode();
            log_entry::ActiveModel {
                seq: Set(first as i64 + i as i64),
                kind: Set(e.kind().to_owned()),
                pool_id: Set(e.pool_id().to_owned()),
                leaf_hash: Set(leaf_hash(&bytes).to_vec()),
                entry: Set(bytes),
                at_ms: Set(now_ms),
            }
        })
        .collect();
    for chunk in models.chunks(500) {
        log_entry::Entity::insert_many(chunk.to_vec()).exec(conn).await?;
    }
    Ok(())
}

pub async fn latest_checkpoint<C: ConnectionTrait>(conn: &C) -> Result<Option<checkpoint::Model>, DbErr> {
    checkpoint::Entity::find()
        .order_by_desc(checkpoint::Column::Size)
        .one(conn)
        .await
}

/// Entries `start..end` in order.
pub async fn entries<C: ConnectionTrait>(conn: &C, start: u64, end: u64) -> Result<Vec<log_entry::Model>, DbErr> {
    log_entry::Entity::find()
        .filter(log_entry::Column::Seq.gte(start as i64))
        .filter(log_entry::Column::Seq.lt(end as i64))
        .order_by_asc(log_entry::Column::Seq)
        .limit(end.saturating_sub(start))
        .all(conn)
        .await
}
