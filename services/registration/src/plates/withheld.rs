//! Withheld numbers: auction wins recorded and issued, identity plates
//! retained for five years after a revocation and reissued to the owner.

use super::*;

impl Plates {
    /// Records an auction winner for a number on a pool's auction list.
    pub async fn record_auction_win(&self, pool_id: &str, number: u32, owner_id: &str) -> Result<String, Error> {
        let Some(pid) = PoolId::parse(pool_id) else {
            return Err(Error::invalid("pool_id", "not a pool id like 30-car-white-A"));
        };
        if !(1..=99_999).contains(&number) {
            return Err(Error::invalid("number", "must be 1 to 99999"));
        }
        let status = {
            let ledger = self.sync(self.db()).await?;
            ledger.pool(pool_id).and_then(|p| p.status(number))
        };
        if status != Some(vrs_draw::pool::Status::Withheld) || !self.cfg.auction_numbers.contains(&number) {
            return Err(Error::Precondition(format!(
                "{} is not withheld for auction in pool {pool_id}",
                pid.plate(number)
            )));
        }
        let plate_text = pid.plate(number);
        let row = plate::ActiveModel {
            pool_id: Set(pool_id.to_owned()),
            number: Set(number as i32),
            plate: Set(plate_text.clone()),
            application_id: Set(String::new()),
            owner_key: Set(self.privacy.owner_key(owner_id)),
            owner_salt: Set(None),
            status: Set("auction".into()),
            retained_until_ms: Set(None),
            updated_at_ms: Set(crate::now_ms()),
        };
        match row.insert(self.db()).await {
            Ok(_) => Ok(plate_text),
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Err(Error::AlreadyExists {
                field: "number",
                message: format!("{plate_text} already has a holder"),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The latest `limit` auction results: wins awaiting their winner (plates
    /// held as `auction`) and wins confirmed by the winner's draw (draws by
    /// the `auction` method), newest first, as (pool, number, plate,
    /// application id or empty, when in ms).
    pub async fn auction_results(&self, limit: u64) -> Result<Vec<(String, u32, String, String, i64)>, Error> {
        let awaiting = plate::Entity::find()
            .filter(plate::Column::Status.eq("auction"))
            .order_by_desc(plate::Column::UpdatedAtMs)
            .limit(limit)
            .all(self.db())
            .await?;
        let confirmed = draw::Entity::find()
            .filter(draw::Column::Method.eq(Method::Auction.as_str()))
            .order_by_desc(draw::Column::AtMs)
            .limit(limit)
            .all(self.db())
            .await?;
        let mut all: Vec<(String, u32, String, String, i64)> = awaiting
            .into_iter()
            .map(|p| (p.pool_id, p.number as u32, p.plate, String::new(), p.updated_at_ms))
            .chain(confirmed.into_iter().map(|d| {
                (
                    d.pool_id,
                    d.number.unwrap_or_default() as u32,
                    d.plate.unwrap_or_default(),
                    d.application_id,
                    d.resolved_at_ms.unwrap_or(d.at_ms),
                )
            }))
            .collect();
        all.sort_by_key(|r| std::cmp::Reverse(r.4));
        all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(all)
    }

    /// Issues a withheld number held for the owner (a retained identity plate,
    /// or an auction win) to the owner's new application, without a draw.
    pub(super) async fn assign_withheld(
        &self,
        app: &application::Model,
        state: State,
        p: plate::Model,
        method: Method,
    ) -> Result<Outcome, Error> {
        let (status, reason, legal_basis, history_reason) = match method {
            Method::Auction => (
                "auction",
                "AUCTION_WON",
                "Decree 156/2024/ND-CP (plate auctions)",
                "AUCTION_PLATE_CONFIRMED",
            ),
            _ => (
                "retained",
                "RETAINED_REISSUE",
                "Circular 79/2024/TT-BCA (identity plates)",
                "RETAINED_PLATE_REISSUED",
            ),
        };
        let now = crate::now_ms();
        let salt = random32()?;
        let txn = self.store.begin_write().await?;
        lock_pool(&txn, &p.pool_id).await?;
        let entry = Entry::PlateAssign(PlateAssign {
            pool_id: p.pool_id.clone(),
            number: p.number as u32,
            plate: p.plate.clone(),
            reason: reason.into(),
            legal_basis: legal_basis.into(),
            application_commitment: application_commitment(&salt, &app.id),
            at_ms: now as u64,
        });
        let seq = log::append(&txn, &[entry], now).await? as i64;
        let changed = plate::Entity::update_many()
            .col_expr(plate::Column::Status, Expr::value("issued"))
            .col_expr(plate::Column::ApplicationId, Expr::value(app.id.as_str()))
            .col_expr(plate::Column::RetainedUntilMs, Expr::value(Option::<i64>::None))
            .col_expr(plate::Column::UpdatedAtMs, Expr::value(now))
            .filter(plate::Column::PoolId.eq(p.pool_id.as_str()))
            .filter(plate::Column::Number.eq(p.number))
            .filter(plate::Column::Status.eq(status))
            .exec(&txn)
            .await?;
        if changed.rows_affected != 1 {
            return Err(Error::Conflict("the plate was assigned meanwhile; call again".into()));
        }
        draw::ActiveModel {
            application_id: Set(app.id.clone()),
            pool_id: Set(p.pool_id.clone()),
            method: Set(method.as_str().into()),
            owner_key: Set(p.owner_key.clone()),
            salt: Set(salt.to_vec()),
            beacon_id: Set(String::new()),
            round: Set(0),
            commit_seq: Set(seq),
            result_seq: Set(Some(seq)),
            number: Set(Some(p.number)),
            plate: Set(Some(p.plate.clone())),
            at_ms: Set(now),
            resolved_at_ms: Set(Some(now)),
            previous_result_seq: Set(None),
        }
        .insert(&txn)
        .await?;
        let to = workflow::next(self.ordering, state, Event::PlateAssigned)?;
        transition_in(
            &txn,
            &app.id,
            &[state],
            to,
            "system",
            history_reason,
            &p.plate,
            Some(&p.plate),
            now,
        )
        .await?;
        txn.commit().await?;
        self.checkpoint().await?;
        tracing::info!(application_id = %app.id, method = method.as_str(), "withheld plate issued without a draw");
        let application = self
            .store
            .records(&[app.id.as_str()])
            .await?
            .remove(&app.id)
            .ok_or_else(|| internal("the application vanished"))?;
        Ok(Outcome {
            plate: p.plate,
            method,
            receipt: None,
            application,
        })
    }

    /// Revokes an application's plate into its owner's five-year retention
    /// (ownership transfer, scrapping): logged, withheld from draws, reissued to
    /// the owner's next registration of the same class.
    /// Ends a registration: the application moves from ISSUED or DELIVERED to
    /// DEREGISTERED, and its plate into the owner's retention, in one transaction.
    pub async fn revoke(&self, application_id: &str, reason: &str, actor: &str) -> Result<String, Error> {
        use crate::domain::workflow::State;
        let now = crate::now_ms();
        let txn = self.store.begin_write().await?;
        let p = plate::Entity::find()
            .filter(plate::Column::ApplicationId.eq(application_id))
            .filter(plate::Column::Status.eq("issued"))
            .one(&txn)
            .await?
            .ok_or_else(|| Error::NotFound(format!("issued plate of application {application_id}")))?;
        lock_pool(&txn, &p.pool_id).await?;
        let moved = crate::store::transition_in(
            &txn,
            application_id,
            &[State::Issued, State::Delivered],
            State::Deregistered,
            actor,
            reason,
            &p.plate,
            None,
            now,
        )
        .await?;
        if !moved {
            return Err(Error::Precondition(
                "only a registration whose certificate is issued (ISSUED or DELIVERED) can be ended".into(),
            ));
        }
        let salt = random32()?;
        let until = now + RETENTION_MS;
        let entry = Entry::PlateRevoke(PlateRevoke {
            pool_id: p.pool_id.clone(),
            number: p.number as u32,
            plate: p.plate.clone(),
            reason: reason.to_owned(),
            legal_basis: "Circular 79/2024/TT-BCA (identity plates: five-year retention)".into(),
            owner_commitment: application_commitment(&salt, &p.owner_key),
            retained_until_ms: until as u64,
            at_ms: now as u64,
        });
        log::append(&txn, &[entry], now).await?;
        plate::Entity::update_many()
            .col_expr(plate::Column::Status, Expr::value("retained"))
            .col_expr(plate::Column::RetainedUntilMs, Expr::value(until))
            .col_expr(plate::Column::OwnerSalt, Expr::value(salt.to_vec()))
            .col_expr(plate::Column::UpdatedAtMs, Expr::value(now))
            .filter(plate::Column::PoolId.eq(p.pool_id.as_str()))
            .filter(plate::Column::Number.eq(p.number))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        self.checkpoint().await?;
        Ok(p.plate)
    }

    /// Returns plates whose retention has run out to their pools.
    pub async fn expire_retentions(&self) -> Result<usize, Error> {
        let now = crate::now_ms();
        let expired = plate::Entity::find()
            .filter(plate::Column::Status.eq("retained"))
            .filter(plate::Column::RetainedUntilMs.lte(now))
            .limit(1_000)
            .all(self.db())
            .await?;
        let n = expired.len();
        for p in expired {
            let txn = self.store.begin_write().await?;
            lock_pool(&txn, &p.pool_id).await?;
            let gone = plate::Entity::delete_many()
                .filter(plate::Column::PoolId.eq(p.pool_id.as_str()))
                .filter(plate::Column::Number.eq(p.number))
                .filter(plate::Column::Status.eq("retained"))
                .exec(&txn)
                .await?;
            if gone.rows_affected == 1 {
                let entry = Entry::PoolRelease(PoolChange {
                    pool_id: p.pool_id.clone(),
                    reason: "RETENTION_EXPIRED".into(),
                    legal_basis: "Circular 79/2024/TT-BCA (five years after revocation)".into(),
                    numbers: vec![p.number as u32],
                    at_ms: now as u64,
                });
                log::append(&txn, &[entry], now).await?;
            }
            txn.commit().await?;
        }
        Ok(n)
    }
}
