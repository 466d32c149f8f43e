//! DrawPlate: a plate held for the owner is reissued; otherwise the call goes
//! to the committer and waits for the resolver to hand it its answer
//! (plate, receipt and record), built with the other answers of its batch.

use super::family::Family;
use super::*;

impl Plates {
    /// Gets an application its plate (see the module docs). Idempotent.
    pub async fn draw_plate(&self, app: &application::Model) -> Result<Outcome, Error> {
        let reading = self.reading().await?;
        let state = State::parse(&app.state).ok_or_else(|| internal("unknown stored state"))?;
        if let Err(refused) = workflow::next(self.ordering, state, Event::PlateAssigned) {
            // A repeated call once the plate is out is answered from its draw.
            return match draw::Entity::find_by_id(app.id.as_str()).one(self.db()).await? {
                Some(d) => {
                    drop(reading);
                    self.await_outcome(&app.id, Known::Row(Box::new(d))).await
                }
                None => Err(refused.into()),
            };
        }
        let req = pb::SubmitApplicationRequest::decode(app.declaration.as_slice()).map_err(internal)?;
        let owner_id = match req.owner.as_ref().map(|o| o.id()) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => return Err(internal("stored declaration without owner")),
        };
        let key = self.privacy.owner_key(&owner_id);
        // The office's code: a verified application's office serves the owner's province.
        let locality = self
            .offices
            .draws_from(&app.office_code)
            .map_or_else(|| app.locality_code.clone(), str::to_owned);
        let vehicle = req
            .vehicle
            .as_ref()
            .ok_or_else(|| internal("stored declaration without vehicle"))?;
        let kind = Family::of(&locality, vehicle);
        let family = kind.id();
        // Under any key of the data key set: rows hashed before a rotation
        // count until the re-seal job has hashed them again.
        let (retained, won) = self.owner_plates(&self.privacy.owner_keys(&owner_id), &kind).await?;
        if let Some(retained) = retained {
            return self.assign_withheld(app, state, retained, Method::Retained).await;
        }
        if let Some(won) = won {
            return self.assign_withheld(app, state, won, Method::Auction).await;
        }
        let series = match kind.class {
            vrs_draw::pool::Class::Car => &self.cfg.car_series,
            vrs_draw::pool::Class::Motorbike => &self.cfg.motorbike_series,
        };
        drop(reading);
        // A pool's last numbers can be promised to concurrent calls on several
        // replicas at once; the committer refuses a commit its pool could not
        // answer, and the call rolls over to the next series.
        for attempt in 0..3 {
            let cached = (attempt == 0)
                .then(|| self.pools.lock().ok().and_then(|p| p.get(&family).cloned()))
                .flatten();
            let pool_id = match cached {
                Some(p) => p,
                None => {
                    // One call looks (and opens a series) at a time; the others then
                    // find its answer: a series opening is not a thousand racing inserts.
                    let _turn = self.pool_turn.lock().await;
                    let again = (attempt == 0)
                        .then(|| self.pools.lock().ok().and_then(|p| p.get(&family).cloned()))
                        .flatten();
                    match again {
                        Some(p) => p,
                        None => {
                            let _reading = self.reading().await?;
                            let p = self.current_pool(&family, series).await?;
                            if let Ok(mut pools) = self.pools.lock() {
                                pools.insert(family.clone(), p.clone());
                            }
                            p
                        }
                    }
                }
            };
            let (tx, rx) = oneshot::channel();
            let request = CommitRequest {
                application_id: app.id.clone(),
                pool_id: pool_id.clone(),
                owner_key: key.clone(),
                reply: tx,
            };
            self.commits
                .send(request)
                .await
                .map_err(|_| Error::Unavailable("shutting down".into()))?;
            match rx.await.map_err(|_| Error::Unavailable("shutting down".into()))? {
                Ok(round) => return self.await_outcome(&app.id, Known::Batch((pool_id, round))).await,
                // A repeated call while the draw is pending: wait for it.
                Err(CommitError::Exists) => {
                    let d = {
                        let _reading = self.reading().await?;
                        draw::Entity::find_by_id(app.id.as_str())
                            .one(self.db())
                            .await?
                            .ok_or_else(|| internal("a committed draw has no row"))?
                    };
                    return self.await_outcome(&app.id, Known::Row(Box::new(d))).await;
                }
                Err(CommitError::NoRoom) => {
                    // The pool is used up (maybe by another replica): look again.
                    if let Ok(mut pools) = self.pools.lock() {
                        pools.remove(&family);
                    }
                    continue;
                }
                Err(CommitError::Failed) => {
                    return Err(Error::Unavailable(
                        "draw not committed: the commit could not be stored".into(),
                    ));
                }
            }
        }
        Err(Error::Unavailable(
            "the pool filled up while this draw was being committed: call DrawPlate again".into(),
        ))
    }

    /// A turn to read the database for a DrawPlate call (see `readers`).
    pub(super) async fn reading(&self) -> Result<tokio::sync::SemaphorePermit<'_>, Error> {
        self.readers
            .acquire()
            .await
            .map_err(|_| Error::Unavailable("shutting down".into()))
    }

    /// Waits until the application's draw is resolved and under a checkpoint:
    /// the resolver hands over the answer (see `waiters`). If none comes by
    /// a while after the round (a resolver elsewhere, a lost wake-up), the call
    /// looks for itself.
    pub(super) async fn await_outcome(&self, application_id: &str, known: Known) -> Result<Outcome, Error> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.cfg.draw_timeout_ms);
        let mut batch = match known {
            Known::Row(d) if d.result_seq.is_some() => return self.outcome_now(*d).await,
            Known::Row(d) => (d.pool_id, d.round),
            Known::Batch(b) => b,
        };
        loop {
            let (answer, answered) = oneshot::channel();
            {
                let mut waiters = self.waiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let mine = waiters.entry(application_id.to_owned()).or_default();
                mine.retain(|w| !w.answer.is_closed());
                mine.push(Waiter {
                    batch: batch.clone(),
                    answer,
                });
            }
            if let Ok(mut watched) = self.watched.lock() {
                watched.insert(batch.clone());
            }
            self.resolver_wake.notify_one();
            let until_round = self.beacon.params().publish_time_ms(batch.1 as u64) - crate::now_ms();
            let fallback = Duration::from_millis(until_round.max(0) as u64 + 5_000);
            let now = tokio::time::Instant::now();
            if let Ok(Ok(outcome)) = tokio::time::timeout((deadline - now).min(fallback), answered).await {
                return Ok(outcome);
            }
            let d = {
                let _reading = self.reading().await?;
                draw::Entity::find_by_id(application_id)
                    .one(self.db())
                    .await?
                    .ok_or_else(|| internal("draw row vanished"))?
            };
            if d.result_seq.is_some() {
                return self.outcome_now(d).await;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Unavailable(format!(
                    "draw committed for beacon round {}; its result is not out yet: call DrawPlate again",
                    d.round
                )));
            }
            batch = (d.pool_id, d.round);
        }
    }

    /// The answer of one resolved draw row.
    pub(super) async fn outcome_now(&self, d: draw::Model) -> Result<Outcome, Error> {
        let id = d.application_id.clone();
        let _reading = self.reading().await?;
        self.outcomes_of(vec![d])
            .await?
            .remove(&id)
            .ok_or_else(|| internal("a resolved draw has no answer"))
    }

    /// The answers of resolved draw rows, built together: one checkpoint, one
    /// read of the entries, sets and records for all. Unresolved rows are left out.
    pub(super) async fn outcomes_of(
        &self,
        rows: Vec<draw::Model>,
    ) -> Result<std::collections::HashMap<String, Outcome>, Error> {
        let rows: Vec<draw::Model> = rows
            .into_iter()
            .filter(|d| d.result_seq.is_some() && d.plate.is_some())
            .collect();
        if rows.is_empty() {
            return Ok(std::collections::HashMap::new());
        }
        let ids: Vec<&str> = rows.iter().map(|d| d.application_id.as_str()).collect();
        let mut records = self.store.records(&ids).await?;
        let methods: Vec<(String, String, Method)> = rows
            .iter()
            .map(|d| {
                Method::parse(&d.method)
                    .map(|m| (d.application_id.clone(), d.plate.clone().unwrap_or_default(), m))
                    .ok_or_else(|| internal("unknown stored draw method"))
            })
            .collect::<Result<_, _>>()?;
        let mut receipts = self.receipts_of(rows).await?;
        let mut out = std::collections::HashMap::with_capacity(methods.len());
        for (id, plate, method) in methods {
            // A repeated call for an auction win must not look for a receipt.
            let receipt = match method {
                Method::Draw => Some(receipt_text(
                    &receipts
                        .remove(&id)
                        .ok_or_else(|| internal("a drawn plate has no receipt"))?,
                )?),
                Method::Retained | Method::Auction => None,
            };
            let application = records
                .remove(&id)
                .ok_or_else(|| internal("a drawn plate's application is missing"))?;
            out.insert(
                id,
                Outcome {
                    plate,
                    method,
                    receipt,
                    application,
                },
            );
        }
        Ok(out)
    }

    /// Answers the calls waiting on `batches` whose draws are resolved.
    pub(super) async fn answer_waiters(&self, batches: &std::collections::HashSet<(String, i64)>) -> Result<(), Error> {
        let ids: Vec<String> = {
            let waiters = self.waiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            waiters
                .iter()
                .filter(|(_, ws)| ws.iter().any(|w| batches.contains(&w.batch) && !w.answer.is_closed()))
                .map(|(id, _)| id.clone())
                .collect()
        };
        for chunk in ids.chunks(5_000) {
            let rows = draw::Entity::find()
                .filter(draw::Column::ApplicationId.is_in(chunk.iter().map(String::as_str)))
                .filter(draw::Column::ResultSeq.is_not_null())
                .all(self.db())
                .await?;
            let outcomes = self.outcomes_of(rows).await?;
            let mut waiters = self.waiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for (id, outcome) in outcomes {
                for w in waiters.remove(&id).unwrap_or_default() {
                    let _ = w.answer.send(outcome.clone());
                }
            }
            waiters.retain(|_, ws| {
                ws.retain(|w| !w.answer.is_closed());
                !ws.is_empty()
            });
        }
        Ok(())
    }

    /// Plates held for the owner, in one query: `retained` (identity plate,
    /// same class and colour, any locality: a move does not change the plate;
    /// a white plate is not reissued as a yellow one) and `auction` (won in
    /// this family). `keys` are the owner's hashes under every data key.
    pub(super) async fn owner_plates(
        &self,
        keys: &[String],
        family: &Family,
    ) -> Result<(Option<plate::Model>, Option<plate::Model>), Error> {
        let now = crate::now_ms();
        let rows = plate::Entity::find()
            .filter(plate::Column::OwnerKey.is_in(keys.iter().map(String::as_str)))
            .filter(plate::Column::Status.is_in(["retained", "auction"]))
            .order_by_asc(plate::Column::UpdatedAtMs)
            .all(self.db())
            .await?;
        let retained = rows
            .iter()
            .find(|p| {
                p.status == "retained"
                    && PoolId::parse(&p.pool_id).is_some_and(|pool| family.same_kind(&pool))
                    && p.retained_until_ms.is_some_and(|t| t > now)
            })
            .cloned();
        let won = rows
            .into_iter()
            .find(|p| p.status == "auction" && family.holds(&p.pool_id));
        Ok((retained, won))
    }
}
