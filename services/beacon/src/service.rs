//! The `vrs.beacon.v1.BeaconService` handlers.
//!
//! Stateless apart from the key: round `R`'s value is `sign_round(R)`,
//! recomputed on each request (about a millisecond), and it is served only
//! once `R`'s publication time has come on this server's clock.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use tonic::{Request, Response, Status};
use vrs_draw::beacon::{self as bls, SecretKey};
use vrs_proto::pb::beacon::v1 as pb;

use crate::client::{BeaconParams, Clock, now_unix_ms};
use crate::keyfile::LocalKey;

use pb::beacon_service_server::BeaconService as BeaconApi;

/// Misbehaviour switched on while traffic flows, for fault tests and `vrs-load`:
/// what a real beacon or relay does when it fails.
#[derive(Debug, Clone, Default)]
pub struct BeaconFaults {
    /// Every call is UNAVAILABLE (the beacon unreachable).
    down: Arc<AtomicBool>,
    /// Rounds are signed with another key than the one the beacon publishes:
    /// a compromised or broken relay. Clients must refuse every such value.
    forged: Arc<AtomicBool>,
    /// Rounds are published this many milliseconds after their time: a
    /// beacon late by several periods.
    lag_ms: Arc<AtomicI64>,
}

impl BeaconFaults {
    pub fn set_down(&self, on: bool) {
        self.down.store(on, Ordering::SeqCst);
    }

    pub fn set_forged(&self, on: bool) {
        self.forged.store(on, Ordering::SeqCst);
    }

    /// Publishes each round `lag` late (zero: on time).
    pub fn set_lag(&self, lag: std::time::Duration) {
        self.lag_ms
            .store(i64::try_from(lag.as_millis()).unwrap_or(i64::MAX), Ordering::SeqCst);
    }
}

/// The local beacon: a key and a schedule.
#[derive(Clone)]
pub struct BeaconService {
    /// Signs rounds. Shared, never printed.
    key: Arc<SecretKey>,
    /// Public key, genesis, period, identifier.
    params: BeaconParams,
    /// Decides which rounds are published.
    clock: Clock,
    faults: BeaconFaults,
    /// Signs forged rounds while [`BeaconFaults::set_forged`] is on.
    forger: Arc<SecretKey>,
}

impl fmt::Debug for BeaconService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BeaconService")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl BeaconService {
    /// A beacon over `key`, on the system clock.
    pub fn new(key: LocalKey) -> Self {
        let public_key = key.secret.public_key().to_vec();
        let params = BeaconParams {
            beacon_id: bls::beacon_id(&public_key),
            scheme: bls::SCHEME.to_string(),
            public_key,
            genesis_unix_ms: key.genesis_unix_ms,
            period_ms: key.period_ms,
        };
        BeaconService {
            key: Arc::new(key.secret),
            params,
            clock: Arc::new(now_unix_ms),
            faults: BeaconFaults::default(),
            // Any key but the beacon's: 0x07… is below the group order.
            forger: Arc::new(SecretKey::from_bytes(&[7u8; 32]).expect("a valid scalar")),
        }
    }

    /// The switches of injected faults (all off at start).
    pub fn faults(&self) -> BeaconFaults {
        self.faults.clone()
    }

    /// The clock as the (possibly late) beacon sees it, or UNAVAILABLE when down.
    fn now(&self) -> Result<i64, Status> {
        if self.faults.down.load(Ordering::SeqCst) {
            return Err(Status::unavailable("the beacon is down (injected fault)"));
        }
        Ok((self.clock)() - self.faults.lag_ms.load(Ordering::SeqCst))
    }

    /// Replaces the clock that decides which rounds are published.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The beacon's public parameters.
    pub fn params(&self) -> &BeaconParams {
        &self.params
    }

    fn round(&self, round: u64) -> pb::Round {
        let key = if self.faults.forged.load(Ordering::SeqCst) {
            &self.forger
        } else {
            &self.key
        };
        let signature = key.sign_round(round);
        pb::Round {
            round,
            signature: signature.to_vec(),
            randomness: bls::randomness(&signature).to_vec(),
        }
    }
}

#[tonic::async_trait]
impl BeaconApi for BeaconService {
    #[tracing::instrument(name = "beacon.GetInfo", skip_all)]
    async fn get_info(&self, _request: Request<pb::GetInfoRequest>) -> Result<Response<pb::BeaconInfo>, Status> {
        let p = &self.params;
        Ok(Response::new(pb::BeaconInfo {
            beacon_id: p.beacon_id.clone(),
            scheme: p.scheme.clone(),
            public_key: p.public_key.clone(),
            genesis_unix_ms: p.genesis_unix_ms,
            // Checked to fit when the key file was read.
            period_ms: u32::try_from(p.period_ms).map_err(|_| Status::internal("period out of range"))?,
        }))
    }

    #[tracing::instrument(name = "beacon.GetRound", skip_all, fields(round = request.get_ref().round))]
    async fn get_round(&self, request: Request<pb::GetRoundRequest>) -> Result<Response<pb::Round>, Status> {
        let round = request.into_inner().round;
        if round == 0 {
            return Err(Status::invalid_argument("round must be at least 1"));
        }
        let now = self.now()?;
        if !self.params.is_published(round, now) {
            let at = self.params.publish_time_ms(round);
            return Err(Status::failed_precondition(format!(
                "round {round} is not published yet: it is due at {at} (Unix ms), in {} ms",
                i128::from(at) - i128::from(now)
            )));
        }
        Ok(Response::new(self.round(round)))
    }

    #[tracing::instrument(name = "beacon.GetLatest", skip_all)]
    async fn get_latest(&self, _request: Request<pb::GetLatestRequest>) -> Result<Response<pb::Round>, Status> {
        let latest = self.params.round_at(self.now()?);
        if latest == 0 {
            return Err(Status::failed_precondition(format!(
                "no round is published before genesis ({} Unix ms)",
                self.params.genesis_unix_ms
            )));
        }
        Ok(Response::new(self.round(latest)))
    }
}
