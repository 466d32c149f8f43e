//! What a citizen does through the portal, step by step, as the scenarios
//! run it: submit (the agencies are looked up), wait for the background
//! lookups if an agency did not answer in time, draw a plate, pay the fee.
//! Also the shared state of a run: which vehicles are still unused, and what
//! the service acknowledged (for the checker).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use tokio::time::Instant;
use vrs_draw::entry::Entry;
use vrs_kit::world::{Case, VehicleClass, World};
use vrs_proto::pb::registration::v1 as pb;

use crate::client::{Caller, Pool, for_owner};
use crate::driver::{Failure, Outcome, Sample};

/// The vehicles of the data set whose applications pass verification
/// (clean ones, and those of active organisations), handed out once each:
/// a vehicle has one active application at a time.
pub struct Vehicles {
    general: Vec<usize>,
    next: AtomicUsize,
    /// Cars set aside for the draw storm (one pool: one class, owners of one
    /// province, since the plate's province is the owner's).
    cars: Vec<usize>,
    next_car: AtomicUsize,
}

impl Vehicles {
    /// Hands out the data set's clean vehicles, `reserve_cars` cars of owners in
    /// `storm_province` set aside for the draw storm.
    pub fn new(world: &World, reserve_cars: usize, storm_province: &str) -> Vehicles {
        let mut general = Vec::new();
        let mut cars = Vec::new();
        for (i, v) in world.vehicles.iter().enumerate() {
            if !matches!(v.case, Case::Clean | Case::Organisation) {
                continue;
            }
            let in_province = vrs_kit::world::province_of(&v.declared.locality_code) == Some(storm_province);
            if v.class == VehicleClass::Car && in_province && cars.len() < reserve_cars {
                cars.push(i);
            } else {
                general.push(i);
            }
        }
        Vehicles {
            general,
            next: AtomicUsize::new(0),
            cars,
            next_car: AtomicUsize::new(0),
        }
    }

    pub fn next(&self) -> Option<usize> {
        self.general.get(self.next.fetch_add(1, Ordering::Relaxed)).copied()
    }

    pub fn next_car(&self) -> Option<usize> {
        self.cars.get(self.next_car.fetch_add(1, Ordering::Relaxed)).copied()
    }

    /// The next `n` vehicles `next` will hand out, without taking them.
    pub fn upcoming(&self, n: usize) -> &[usize] {
        let from = self.next.load(Ordering::Relaxed).min(self.general.len());
        &self.general[from..(from + n).min(self.general.len())]
    }

    pub fn left(&self) -> usize {
        self.general.len().saturating_sub(self.next.load(Ordering::Relaxed))
    }
}

/// What the service acknowledged to the tool, for the checker.
#[derive(Default)]
pub struct Ledger {
    /// Dossier code → application id, for every submission answered OK.
    acked: Mutex<HashMap<String, String>>,
    /// Application id → the plate DrawPlate answered.
    plates: Mutex<HashMap<String, String>>,
    /// Applications that were answered two different plates.
    conflicts: Mutex<Vec<String>>,
}

impl Ledger {
    pub fn ack(&self, dossier: &str, id: &str) {
        lock(&self.acked).insert(dossier.to_owned(), id.to_owned());
    }

    pub fn plate(&self, id: &str, plate: &str) {
        let previous = lock(&self.plates).insert(id.to_owned(), plate.to_owned());
        if previous.is_some_and(|p| p != plate) {
            lock(&self.conflicts).push(id.to_owned());
        }
    }

    pub fn acked(&self) -> HashMap<String, String> {
        lock(&self.acked).clone()
    }

    pub fn plates(&self) -> HashMap<String, String> {
        lock(&self.plates).clone()
    }

    pub fn conflicts(&self) -> Vec<String> {
        lock(&self.conflicts).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Everything a flow needs, shared by all tasks of a run.
pub struct Ctx {
    pub pool: Pool,
    pub world: Arc<World>,
    pub vehicles: Vehicles,
    pub ledger: Ledger,
    /// Numbers the dossier codes.
    seq: AtomicU64,
    /// Submissions answered AWAITING_AGENCY (an agency did not answer in time).
    pub awaiting_agency: AtomicU64,
    /// DrawPlate calls made again because the service said the result was not
    /// out yet (a beacon late or down past the draw timeout).
    pub draws_repeated: AtomicU64,
}

/// How long a flow waits for background lookups before it gives up.
const SETTLE_LIMIT: Duration = Duration::from_secs(150);

impl Ctx {
    pub fn new(pool: Pool, world: Arc<World>, vehicles: Vehicles) -> Ctx {
        Ctx {
            pool,
            world,
            vehicles,
            ledger: Ledger::default(),
            seq: AtomicU64::new(1),
            awaiting_agency: AtomicU64::new(0),
            draws_repeated: AtomicU64::new(0),
        }
    }

    /// A fresh dossier code: `L<tag>.<n>`.
    pub fn dossier(&self, tag: &str) -> String {
        format!("L{tag}.{:07}", self.seq.fetch_add(1, Ordering::Relaxed))
    }

    /// The submission of the next unused vehicle.
    pub fn next_request(&self, tag: &str) -> Result<pb::SubmitApplicationRequest, Failure> {
        let index = self
            .vehicles
            .next()
            .ok_or_else(|| Failure::new("setup", "WORLD_EXHAUSTED"))?;
        Ok(vrs_kit::samples::submit_request(&self.world, index, &self.dossier(tag)))
    }

    /// Submit → (lookups) → draw → pay: one end-to-end registration.
    pub async fn e2e(&self, tag: &str) -> Outcome {
        let mut s = Sample::default();
        let req = self.next_request(tag)?;
        let app = self.submit(req, &mut s).await?;
        let drawn = self.draw(&app, &mut s).await?;
        self.pay(&drawn, &mut s).await?;
        Ok(s)
    }

    /// Submits as the portal for the owner; where an agency did not answer in
    /// time (AWAITING_AGENCY), waits for the background lookups ("settle").
    /// The application must end VERIFIED.
    pub async fn submit(&self, req: pb::SubmitApplicationRequest, s: &mut Sample) -> Result<pb::Application, Failure> {
        let t = Instant::now();
        let owner = req.owner.clone();
        let app = self
            .pool
            .call(&Caller::Portal, |mut c| {
                let r = for_owner(req.clone(), &owner);
                async move { c.submit_application(r).await }
            })
            .await
            .map_err(|e| Failure::status("submit", &e))?;
        s.step("submit", t.elapsed());
        self.ledger.ack(&app.dossier_code, &app.application_id);
        let app = match app.state() {
            pb::ApplicationState::Submitted | pb::ApplicationState::AwaitingAgency => {
                self.awaiting_agency.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let app = self.settle(&app.application_id).await?;
                s.step("settle", t.elapsed());
                app
            }
            _ => app,
        };
        match app.state() {
            pb::ApplicationState::Verified => Ok(app),
            other => Err(Failure::new(
                "submit",
                format!("STATE_{}", other.as_str_name().trim_start_matches("APPLICATION_STATE_")),
            )),
        }
    }

    /// Polls (backing off from 200 ms to 1 s) until the lookups are done.
    async fn settle(&self, id: &str) -> Result<pb::Application, Failure> {
        let deadline = Instant::now() + SETTLE_LIMIT;
        let mut pause = Duration::from_millis(200);
        loop {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
            let app = self
                .pool
                .call(&Caller::Portal, |mut c| {
                    let r = pb::GetApplicationRequest {
                        application_id: id.to_owned(),
                    };
                    async move { c.get_application(r).await }
                })
                .await
                .map_err(|e| Failure::status("settle", &e))?;
            if !matches!(
                app.state(),
                pb::ApplicationState::Submitted | pb::ApplicationState::AwaitingAgency
            ) {
                return Ok(app);
            }
            if Instant::now() > deadline {
                return Err(Failure::new("settle", "SETTLE_TIMEOUT"));
            }
        }
    }

    /// DrawPlate for the owner. It blocks until the beacon round the draw
    /// committed to is published and the draw resolved; that wait is taken
    /// from the receipt and reported apart (`beacon_wait`, and excluded from
    /// `total_excl_beacon` and `draw_excl_beacon`).
    pub async fn draw(&self, app: &pb::Application, s: &mut Sample) -> Result<pb::DrawPlateResponse, Failure> {
        let t = Instant::now();
        let mut again = 0;
        let resp = loop {
            let answer = self
                .pool
                .call(&Caller::Portal, |mut c| {
                    let r = for_owner(
                        pb::DrawPlateRequest {
                            application_id: app.application_id.clone(),
                        },
                        &app.owner,
                    );
                    async move { c.draw_plate(r).await }
                })
                .await;
            match answer {
                // The draw is committed and waits for its beacon round: call
                // again, as the service asks (bounded: an hour of waiting).
                Err(e)
                    if e.code() == tonic::Code::Unavailable
                        && e.message().contains("call DrawPlate again")
                        && again < 120 =>
                {
                    again += 1;
                    self.draws_repeated.fetch_add(1, Ordering::Relaxed);
                }
                other => break other.map_err(|e| Failure::status("draw", &e))?,
            }
        };
        let took = t.elapsed();
        if resp.plate.is_empty() {
            return Err(Failure::new("draw", "NO_PLATE"));
        }
        self.ledger.plate(&app.application_id, &resp.plate);
        let wait = resp
            .receipt
            .as_ref()
            .and_then(|r| beacon_wait(&r.json))
            .unwrap_or_default()
            .min(took);
        s.step("draw", took);
        s.step("beacon_wait", wait);
        s.step("draw_excl_beacon", took - wait);
        s.excluded += wait;
        Ok(resp)
    }

    /// ConfirmPayment of the fee due, as the payment platform (through the portal).
    pub async fn pay(&self, drawn: &pb::DrawPlateResponse, s: &mut Sample) -> Result<(), Failure> {
        let app = drawn
            .application
            .as_ref()
            .ok_or_else(|| Failure::new("pay", "NO_APPLICATION"))?;
        let t = Instant::now();
        let req = pb::ConfirmPaymentRequest {
            application_id: app.application_id.clone(),
            payment_reference: format!("LOAD-{}", app.application_id),
            amount_vnd: app.fee_due_vnd,
        };
        self.pool
            .call(&Caller::Portal, |mut c| {
                let r = req.clone();
                async move { c.confirm_payment(r).await }
            })
            .await
            .map_err(|e| Failure::status("pay", &e))?;
        s.step("pay", t.elapsed());
        Ok(())
    }
}

#[derive(Deserialize)]
struct ReceiptTiming {
    commit: LoggedEntry,
    beacon: BeaconTiming,
}

#[derive(Deserialize)]
struct LoggedEntry {
    entry: String,
}

#[derive(Deserialize)]
struct BeaconTiming {
    genesis_unix_ms: i64,
    period_ms: u64,
    round: u64,
}

/// How long a draw waited for its beacon round: from its commit (the
/// `draw-commit` entry's time) until the round it names was published.
///
/// The draw commits to a round at least two rounds after the latest one
/// (contracts/draw/SPEC.md: the commit must be public before the randomness
/// exists), so every DrawPlate call waits one to two beacon periods however
/// fast the service is; the 250 ms p99 target excludes that wait. What comes
/// after publication (the resolver noticing, resolving the pool's batch,
/// signing a checkpoint, building the receipt) stays in the measured latency.
pub fn beacon_wait(receipt_json: &str) -> Option<Duration> {
    let r: ReceiptTiming = serde_json::from_str(receipt_json).ok()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(&r.commit.entry).ok()?;
    let Entry::DrawCommit(commit) = Entry::decode(&bytes).ok()? else {
        return None;
    };
    let published = r
        .beacon
        .genesis_unix_ms
        .saturating_add(i64::try_from(r.beacon.round.saturating_sub(1).saturating_mul(r.beacon.period_ms)).ok()?);
    let waited = published.saturating_sub(i64::try_from(commit.at_ms).ok()?);
    Some(Duration::from_millis(u64::try_from(waited).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_beacon_wait_runs_from_the_commit_to_the_round() {
        let commit = Entry::DrawCommit(vrs_draw::entry::DrawCommit {
            pool_id: "30-car-white-A".into(),
            rules_version: "x".into(),
            application_commitment: [0; 32],
            beacon_id: "b".into(),
            round: 12,
            previous_commit: vrs_draw::entry::NONE,
            available_count: 1,
            pool_digest: [0; 32],
            at_ms: 10_300,
        });
        let json = serde_json::json!({
            "commit": { "index": 1, "entry": base64::engine::general_purpose::STANDARD.encode(commit.encode()), "proof": [] },
            "beacon": { "genesis_unix_ms": 0, "period_ms": 1_000, "round": 12 },
        });
        // Round 12 is published at 11 000 ms: 700 ms after the commit.
        assert_eq!(beacon_wait(&json.to_string()), Some(Duration::from_millis(700)));
        assert_eq!(beacon_wait("{}"), None);
    }

    #[test]
    fn vehicles_are_handed_out_once() {
        let world = World::standard();
        let v = Vehicles::new(&world, 10, "Hà Nội");
        let a = v.next();
        assert!(a.is_some());
        assert_ne!(a, v.next());
        let car = v.next_car().expect("a car");
        assert_eq!(world.vehicles[car].class, VehicleClass::Car);
        assert!(v.left() > 20_000);
        let l = Ledger::default();
        l.plate("a", "30A-000.01");
        l.plate("a", "30A-000.01");
        assert!(l.conflicts().is_empty());
        l.plate("a", "30A-000.02");
        assert_eq!(l.conflicts(), ["a"]);
    }
}
