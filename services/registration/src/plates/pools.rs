//! Pools: the open series of each family, opened in order when the last is
//! used up (with its withheld numbers logged), and whether one has room.

use super::*;

impl Plates {
    /// The open pool of a family (`<locality>-<class>-<colour>`), opening the
    /// next series when there is none or the current one is used up.
    pub(super) async fn current_pool(&self, family: &str, series: &[String]) -> Result<String, Error> {
        loop {
            // Series open in order and roll over only when used up, so the highest
            // rank is the one in use (one query: no race between "open?" and "last?").
            let last = pool::Entity::find()
                .filter(pool::Column::Family.eq(family))
                .order_by_desc(pool::Column::SeriesRank)
                .one(self.db())
                .await?;
            let rank = match last {
                Some(p) if p.status == "open" => {
                    if self.has_room(&p.pool_id).await? {
                        return Ok(p.pool_id);
                    }
                    pool::Entity::update_many()
                        .col_expr(pool::Column::Status, Expr::value("exhausted"))
                        .filter(pool::Column::PoolId.eq(p.pool_id.as_str()))
                        .exec(self.db())
                        .await?;
                    tracing::info!(pool = %p.pool_id, "series used up; rolling over");
                    p.series_rank + 1
                }
                Some(p) => p.series_rank + 1,
                None => 0,
            };
            let Some(s) = series.get(rank as usize) else {
                return Err(Error::Unavailable(format!(
                    "every configured series of {family} is used up"
                )));
            };
            let pool_id = format!("{family}-{s}");
            if PoolId::parse(&pool_id).is_none() {
                return Err(internal(format!(
                    "configured series {s:?} makes an invalid pool id {pool_id}"
                )));
            }
            match self.open_pool(family, rank, &pool_id).await {
                Ok(()) => return Ok(pool_id),
                // Another replica opened it first: use theirs.
                Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Whether a pool can take one more commit: available numbers beyond its pending commits.
    pub(super) async fn has_room(&self, pool_id: &str) -> Result<bool, Error> {
        let cached = self.available.lock().ok().and_then(|c| c.get(pool_id).copied());
        let available = match cached {
            Some(n) => n,
            None => {
                let ledger = self.sync(self.db()).await?;
                ledger.pool(pool_id).map_or(0, PoolState::available_count)
            }
        };
        if available > 50_000 {
            return Ok(true);
        }
        let pending = draw::Entity::find()
            .filter(draw::Column::PoolId.eq(pool_id))
            .filter(draw::Column::ResultSeq.is_null())
            .count(self.db())
            .await?;
        Ok(u64::from(available) > pending)
    }

    pub(super) async fn open_pool(&self, family: &str, rank: i32, pool_id: &str) -> Result<(), DbErr> {
        let now = crate::now_ms();
        let txn = self.store.begin_write().await?;
        pool::ActiveModel {
            pool_id: Set(pool_id.to_owned()),
            family: Set(family.to_owned()),
            series_rank: Set(rank),
            status: Set("open".into()),
            opened_seq: Set(0),
            at_ms: Set(now),
        }
        .insert(&txn)
        .await?;
        let mut withheld: Vec<u32> = special_patterns();
        withheld.extend(
            self.cfg
                .auction_numbers
                .iter()
                .copied()
                .filter(|n| (1..=99_999).contains(n)),
        );
        withheld.sort_unstable();
        withheld.dedup();
        let (specials, auction): (Vec<u32>, Vec<u32>) =
            withheld.into_iter().partition(|n| special_patterns().contains(n));
        let mut entries = vec![
            Entry::PoolOpen(PoolOpen {
                pool_id: pool_id.to_owned(),
                rules_version: RULES_VERSION.into(),
                legal_basis: LEGAL_BASIS.into(),
                at_ms: now as u64,
            }),
            Entry::PoolWithhold(PoolChange {
                pool_id: pool_id.to_owned(),
                reason: "SPECIAL_PATTERN".into(),
                legal_basis: "Decree 156/2024/ND-CP (re-listed after failed auctions)".into(),
                numbers: specials,
                at_ms: now as u64,
            }),
        ];
        if !auction.is_empty() {
            entries.push(Entry::PoolWithhold(PoolChange {
                pool_id: pool_id.to_owned(),
                reason: "AUCTION_LIST".into(),
                legal_basis: "Decree 156/2024/ND-CP".into(),
                numbers: auction,
                at_ms: now as u64,
            }));
        }
        let first = log::append(&txn, &entries, now).await?;
        pool::Entity::update_many()
            .col_expr(pool::Column::OpenedSeq, Expr::value(first as i64))
            .filter(pool::Column::PoolId.eq(pool_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        tracing::info!(pool = pool_id, "pool opened");
        Ok(())
    }
}
