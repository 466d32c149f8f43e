//! The shared rate limit's counters: calls admitted per caller and window,
//! summed over every replica (`limits` keeps the per-replica side).

use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::Store;
use super::entities::rate_window;

/// Rows written per statement (well under either database's bind limit).
const CHUNK: usize = 500;

impl Store {
    /// Adds each `(key, window, calls)` to the totals and returns the totals
    /// after the addition, in one statement per [`CHUNK`] rows. Adding 0 reads
    /// a total without changing it. Rows are written in key order, so two
    /// replicas flushing the same callers at once never deadlock.
    pub async fn add_calls(&self, mut adds: Vec<(String, i64, i64)>) -> Result<Vec<(String, i64, i64)>, DbErr> {
        adds.sort();
        let mut totals = Vec::with_capacity(adds.len());
        for chunk in adds.chunks(CHUNK) {
            let mut q = Query::insert();
            q.into_table(rate_window::Entity).columns([
                rate_window::Column::Key,
                rate_window::Column::Window,
                rate_window::Column::Count,
            ]);
            for (key, window, calls) in chunk {
                q.values_panic([key.clone().into(), (*window).into(), (*calls).into()]);
            }
            q.on_conflict(
                OnConflict::columns([rate_window::Column::Key, rate_window::Column::Window])
                    .value(
                        rate_window::Column::Count,
                        Expr::col((rate_window::Entity, rate_window::Column::Count))
                            .add(Expr::col((Alias::new("excluded"), rate_window::Column::Count))),
                    )
                    .to_owned(),
            )
            .returning(Query::returning().columns([
                rate_window::Column::Key,
                rate_window::Column::Window,
                rate_window::Column::Count,
            ]));
            for row in self.connection().query_all(&q).await? {
                totals.push((
                    row.try_get::<String>("", "key")?,
                    row.try_get::<i64>("", "window")?,
                    row.try_get::<i64>("", "count")?,
                ));
            }
        }
        Ok(totals)
    }

    /// Deletes the counters of windows before `window`.
    pub async fn forget_windows_before(&self, window: i64) -> Result<u64, DbErr> {
        let done = rate_window::Entity::delete_many()
            .filter(rate_window::Column::Window.lt(window))
            .exec(self.connection())
            .await?;
        Ok(done.rows_affected)
    }
}
