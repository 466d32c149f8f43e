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
    let n = entries.len() as i64;
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
    let first = end - n;
    let models: Vec<log_entry::ActiveModel> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let bytes = e.encode();
            log_entry::ActiveModel {
                seq: Set(first + i as i64),
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
    Ok(first as u64)
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
