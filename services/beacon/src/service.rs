//! The `vrs.beacon.v1.BeaconService` handlers.
//!
//! Stateless apart from the key: round `R`'s value is `sign_round(R)`,
//! recomputed on each request (about a millisecond), and it is served only
//! once `R`'s publication time has come on this server's clock.

use std::fmt;
use std::sync::Arc;

use tonic::{Request, Response, Status};
use vrs_draw::beacon::{self as bls, SecretKey};
use vrs_proto::pb::beacon::v1 as pb;

use crate::client::{BeaconParams, Clock, now_unix_ms};
use crate::keyfile::LocalKey;

use pb::beacon_service_server::BeaconService as BeaconApi;

/// The local beacon: a key and a schedule.
#[derive(Clone)]
pub struct BeaconService {
    /// Signs rounds. Shared, never printed.
    key: Arc<SecretKey>,
    /// Public key, genesis, period, identifier.
    params: BeaconParams,
    /// Decides which rounds are published.
    clock: Clock,
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
        }
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
        let signature = self.key.sign_round(round);
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
        let now = (self.clock)();
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
        let latest = self.params.round_at((self.clock)());
        if latest == 0 {
            return Err(Status::failed_precondition(format!(
                "no round is published before genesis ({} Unix ms)",
                self.params.genesis_unix_ms
            )));
        }
        Ok(Response::new(self.round(latest)))
    }
}
