//! Clients of the beacons the draw accepts, behind one trait.
//!
//! - [`LocalBeacon`]: the local beacon over gRPC. Its parameters (public key,
//!   genesis, period) are fetched once, at [`LocalBeacon::connect`]; pin them
//!   (e.g. compare [`BeaconParams::public_key`] to a configured key) where the
//!   beacon's identity matters.
//! - [`Drand`]: drand quicknet over drand's HTTP API. Its parameters are
//!   pinned from [`vrs_draw::beacon::quicknet`]; nothing the relay says about
//!   the chain is trusted.
//!
//! Whatever the source, every [`BeaconRound`] returned has been verified with
//! [`vrs_draw::beacon::verify_round`] against [`BeaconSource::params`]'s
//! public key, and its randomness is `SHA-256(signature)`. A round that is not
//! yet published is `Ok(None)`, not an error: the draw waits for it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use tonic::transport::Channel;
use tonic::{Code, Status};
use vrs_draw::beacon::{self as bls, BeaconError, quicknet};
use vrs_proto::pb::beacon::v1 as pb;

use pb::beacon_service_client::BeaconServiceClient;

/// The current time, Unix milliseconds.
pub fn now_unix_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// A clock in Unix milliseconds; replaceable in tests.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

fn system_clock() -> Clock {
    Arc::new(now_unix_ms)
}

/// A beacon's public parameters: who it is, its key, and its schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeaconParams {
    /// How log entries name the beacon, e.g. `vrs-local-1a2b3c4d` or `drand-quicknet`.
    pub beacon_id: String,
    /// The scheme, `bls-unchained-g1-rfc9380`.
    pub scheme: String,
    /// The compressed G2 public key rounds are verified against, 96 bytes.
    pub public_key: Vec<u8>,
    /// When round 1 is published, Unix milliseconds.
    pub genesis_unix_ms: i64,
    /// Milliseconds between rounds (a zero period publishes nothing).
    pub period_ms: u64,
}

impl BeaconParams {
    /// The latest round published at `unix_ms`: 0 before genesis, 1 from
    /// genesis, then one more every period.
    pub fn round_at(&self, unix_ms: i64) -> u64 {
        let elapsed = i128::from(unix_ms) - i128::from(self.genesis_unix_ms);
        if elapsed < 0 || self.period_ms == 0 {
            return 0;
        }
        let round = elapsed / i128::from(self.period_ms) + 1;
        u64::try_from(round).unwrap_or(u64::MAX)
    }

    /// When `round` is published, Unix milliseconds: `genesis + (round − 1) ·
    /// period`, saturating. Round 0 is never published (`i64::MAX`).
    pub fn publish_time_ms(&self, round: u64) -> i64 {
        if round == 0 {
            return i64::MAX;
        }
        let t = i128::from(self.genesis_unix_ms) + (i128::from(round) - 1) * i128::from(self.period_ms);
        i64::try_from(t).unwrap_or(i64::MAX)
    }

    /// Whether `round` is published at `unix_ms`.
    pub fn is_published(&self, round: u64, unix_ms: i64) -> bool {
        round != 0 && round <= self.round_at(unix_ms)
    }
}

/// One verified round of a beacon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeaconRound {
    /// The round number, ≥ 1.
    pub round: u64,
    /// The round's value: the compressed G1 signature, 48 bytes.
    pub signature: Vec<u8>,
    /// `SHA-256(signature)`.
    pub randomness: [u8; 32],
}

impl BeaconRound {
    /// Verifies `signature` as the value of `round` under `public_key`.
    pub fn verify(public_key: &[u8], round: u64, signature: Vec<u8>) -> Result<Self, ClientError> {
        let randomness = bls::verify_round(public_key, round, &signature)
            .map_err(|source| ClientError::Verification { round, source })?;
        Ok(BeaconRound {
            round,
            signature,
            randomness,
        })
    }
}

/// Why a beacon could not give a round.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Rounds start at 1.
    #[error("beacon round 0 does not exist")]
    RoundZero,
    /// The beacon could not be reached or failed; worth retrying.
    #[error("beacon unavailable: {0}")]
    Unavailable(String),
    /// The beacon answered, but not with a round (unexpected status, malformed
    /// body, the wrong round, a randomness that is not SHA-256 of the
    /// signature). A beacon or relay that does this is misbehaving.
    #[error("beacon answered with an invalid response: {0}")]
    Invalid(String),
    /// The served signature does not verify against the pinned public key.
    #[error("beacon served a value for round {round} that does not verify: {source}")]
    Verification {
        round: u64,
        #[source]
        source: BeaconError,
    },
}

/// A beacon the draw can take randomness from.
#[tonic::async_trait]
pub trait BeaconSource: Send + Sync {
    /// The beacon's parameters; rounds are verified against its public key.
    fn params(&self) -> &BeaconParams;

    /// Round `round`, verified; `Ok(None)` while it is not yet published.
    ///
    /// Every returned round is verified with [`vrs_draw::beacon::verify_round`]
    /// against `params().public_key`.
    async fn round(&self, round: u64) -> Result<Option<BeaconRound>, ClientError>;
}

/// Checks a served randomness (when the server sends one) against the verified one.
fn check_randomness(round: &BeaconRound, served: &[u8]) -> Result<(), ClientError> {
    if served.is_empty() || served == round.randomness {
        Ok(())
    } else {
        Err(ClientError::Invalid(format!(
            "round {}: served randomness is not SHA-256 of the signature",
            round.round
        )))
    }
}

// ---------------------------------------------------------------------------
// The local beacon over gRPC.

/// The local beacon, over gRPC.
#[derive(Clone)]
pub struct LocalBeacon {
    client: BeaconServiceClient<vrs_kit::telemetry::propagation::TracedChannel>,
    params: BeaconParams,
}

impl fmt::Debug for LocalBeacon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalBeacon")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

fn unavailable(status: &Status) -> ClientError {
    ClientError::Unavailable(format!("{:?}: {}", status.code(), status.message()))
}

impl LocalBeacon {
    /// Connects to the beacon at `url` (e.g. `http://127.0.0.1:50070`) and
    /// fetches its parameters once; over mTLS when `tls` is enabled.
    pub async fn connect(url: impl Into<String>, tls: &vrs_kit::tls::TlsConfig) -> Result<Self, ClientError> {
        let url = url.into();
        let endpoint = tls
            .endpoint(&url)
            .map_err(|e| ClientError::Invalid(format!("beacon address {url:?}: {e}")))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10));
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| ClientError::Unavailable(format!("connecting to {url}: {e}")))?;
        Self::from_channel(channel).await
    }

    /// Uses an existing channel and fetches the beacon's parameters once.
    pub async fn from_channel(channel: Channel) -> Result<Self, ClientError> {
        let mut client = BeaconServiceClient::new(vrs_kit::telemetry::propagation::propagating(channel));
        let info = client
            .get_info(pb::GetInfoRequest {})
            .await
            .map_err(|s| unavailable(&s))?
            .into_inner();
        let params = params_from_info(info)?;
        Ok(LocalBeacon { client, params })
    }

    /// The latest published round, verified.
    pub async fn latest(&self) -> Result<BeaconRound, ClientError> {
        let served = self
            .client
            .clone()
            .get_latest(pb::GetLatestRequest {})
            .await
            .map_err(|s| unavailable(&s))?
            .into_inner();
        self.check(served, None)
    }

    fn check(&self, served: pb::Round, expected: Option<u64>) -> Result<BeaconRound, ClientError> {
        if let Some(expected) = expected
            && served.round != expected
        {
            return Err(ClientError::Invalid(format!(
                "asked for round {expected}, got round {}",
                served.round
            )));
        }
        if served.round == 0 {
            return Err(ClientError::Invalid("served round 0".into()));
        }
        let round = BeaconRound::verify(&self.params.public_key, served.round, served.signature)?;
        check_randomness(&round, &served.randomness)?;
        Ok(round)
    }
}

/// Validates what `GetInfo` says: the scheme we verify, a well-formed key, a schedule.
fn params_from_info(info: pb::BeaconInfo) -> Result<BeaconParams, ClientError> {
    if info.scheme != bls::SCHEME {
        return Err(ClientError::Invalid(format!(
            "scheme {:?} is not {:?}",
            info.scheme,
            bls::SCHEME
        )));
    }
    bls::check_public_key(&info.public_key).map_err(|e| ClientError::Invalid(format!("public key: {e}")))?;
    if info.period_ms == 0 {
        return Err(ClientError::Invalid("period_ms is 0".into()));
    }
    if info.beacon_id.is_empty() {
        return Err(ClientError::Invalid("beacon_id is empty".into()));
    }
    Ok(BeaconParams {
        beacon_id: info.beacon_id,
        scheme: info.scheme,
        public_key: info.public_key,
        genesis_unix_ms: info.genesis_unix_ms,
        period_ms: u64::from(info.period_ms),
    })
}

#[tonic::async_trait]
impl BeaconSource for LocalBeacon {
    fn params(&self) -> &BeaconParams {
        &self.params
    }

    async fn round(&self, round: u64) -> Result<Option<BeaconRound>, ClientError> {
        if round == 0 {
            return Err(ClientError::RoundZero);
        }
        match self.client.clone().get_round(pb::GetRoundRequest { round }).await {
            Ok(response) => self.check(response.into_inner(), Some(round)).map(Some),
            Err(status) if status.code() == Code::FailedPrecondition => Ok(None),
            Err(status) => Err(unavailable(&status)),
        }
    }
}

// ---------------------------------------------------------------------------
// drand quicknet over HTTP.

/// drand quicknet, over drand's HTTP API (`GET {base}/{chain hash}/public/{round}`).
///
/// The chain hash, public key, genesis and period are pinned from
/// [`vrs_draw::beacon::quicknet`]; the relay is trusted for availability only.
#[derive(Clone)]
pub struct Drand {
    http: reqwest::Client,
    base_url: String,
    chain_hash: String,
    params: BeaconParams,
    clock: Clock,
}

impl fmt::Debug for Drand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drand")
            .field("base_url", &self.base_url)
            .field("chain_hash", &self.chain_hash)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// A round as drand's HTTP API serves it. `randomness` is absent from the v2 API.
#[derive(Deserialize)]
struct DrandRound {
    round: u64,
    signature: String,
    #[serde(default)]
    randomness: Option<String>,
}

impl Drand {
    /// drand quicknet through the relay at `base_url` (e.g. `https://api.drand.sh`).
    pub fn quicknet(base_url: impl Into<String>) -> Result<Self, ClientError> {
        let public_key = hex::decode(quicknet::PUBLIC_KEY_HEX)
            .map_err(|e| ClientError::Invalid(format!("pinned quicknet key: {e}")))?;
        let params = BeaconParams {
            beacon_id: quicknet::BEACON_ID.to_string(),
            scheme: bls::SCHEME.to_string(),
            public_key,
            genesis_unix_ms: quicknet::GENESIS_UNIX * 1000,
            period_ms: u64::from(quicknet::PERIOD_SECONDS) * 1000,
        };
        // HTTPS to the relay with the workspace's one rustls provider (ring)
        // and the public web roots.
        let tls = vrs_kit::tls::https_client_config("").map_err(|e| ClientError::Invalid(format!("{e:#}")))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| ClientError::Invalid(format!("building the HTTP client: {e}")))?;
        Ok(Drand {
            http,
            base_url: base_url.into().trim_end_matches('/').to_string(),
            chain_hash: quicknet::CHAIN_HASH.to_string(),
            params,
            clock: system_clock(),
        })
    }

    /// Replaces the clock that decides whether a round is published yet.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn url(&self, round: u64) -> String {
        format!("{}/{}/public/{round}", self.base_url, self.chain_hash)
    }

    fn check(&self, served: DrandRound, round: u64) -> Result<BeaconRound, ClientError> {
        if served.round != round {
            return Err(ClientError::Invalid(format!(
                "asked for round {round}, got round {}",
                served.round
            )));
        }
        let signature = hex::decode(&served.signature)
            .map_err(|e| ClientError::Invalid(format!("round {round}: signature is not hex: {e}")))?;
        let verified = BeaconRound::verify(&self.params.public_key, round, signature)?;
        if let Some(randomness) = served.randomness {
            let randomness = hex::decode(&randomness)
                .map_err(|e| ClientError::Invalid(format!("round {round}: randomness is not hex: {e}")))?;
            if randomness.is_empty() {
                return Err(ClientError::Invalid(format!("round {round}: empty randomness")));
            }
            check_randomness(&verified, &randomness)?;
        }
        Ok(verified)
    }
}

#[tonic::async_trait]
impl BeaconSource for Drand {
    fn params(&self) -> &BeaconParams {
        &self.params
    }

    #[tracing::instrument(name = "drand.round", skip(self), fields(beacon = %self.params.beacon_id))]
    async fn round(&self, round: u64) -> Result<Option<BeaconRound>, ClientError> {
        if round == 0 {
            return Err(ClientError::RoundZero);
        }
        if !self.params.is_published(round, (self.clock)()) {
            return Ok(None);
        }
        let url = self.url(round);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| ClientError::Unavailable(format!("GET {url}: {e}")))?;
        let status = response.status();
        // 404: not there (yet); 425 Too Early: drand's answer for a future round.
        if status == reqwest::StatusCode::NOT_FOUND || status.as_u16() == 425 {
            tracing::debug!(%status, "round not served yet");
            return Ok(None);
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(ClientError::Unavailable(format!("GET {url}: HTTP {status}")));
        }
        if !status.is_success() {
            return Err(ClientError::Invalid(format!("GET {url}: HTTP {status}")));
        }
        let served: DrandRound = response
            .json()
            .await
            .map_err(|e| ClientError::Invalid(format!("GET {url}: {e}")))?;
        self.check(served, round).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(genesis_unix_ms: i64, period_ms: u64) -> BeaconParams {
        BeaconParams {
            beacon_id: "t".into(),
            scheme: bls::SCHEME.into(),
            public_key: vec![],
            genesis_unix_ms,
            period_ms,
        }
    }

    #[test]
    fn round_schedule() {
        let p = params(10_000, 1000);
        assert_eq!(p.round_at(9_999), 0);
        assert_eq!(p.round_at(10_000), 1);
        assert_eq!(p.round_at(10_999), 1);
        assert_eq!(p.round_at(11_000), 2);
        assert_eq!(p.publish_time_ms(1), 10_000);
        assert_eq!(p.publish_time_ms(2), 11_000);
        assert_eq!(p.publish_time_ms(0), i64::MAX);
        assert_eq!(p.publish_time_ms(u64::MAX), i64::MAX);
        for round in 1..50 {
            let t = p.publish_time_ms(round);
            assert_eq!(p.round_at(t), round);
            assert_eq!(p.round_at(t - 1), round - 1);
        }
        assert!(!p.is_published(0, i64::MAX));
        assert!(p.is_published(2, 11_000));
        assert!(!p.is_published(3, 11_000));
        assert_eq!(params(0, 0).round_at(i64::MAX), 0);
        assert_eq!(params(i64::MIN, 1).round_at(i64::MAX), u64::MAX);
    }

    #[test]
    fn quicknet_schedule_matches_drand() {
        let drand = Drand::quicknet("http://127.0.0.1:1/").unwrap();
        let p = drand.params();
        assert_eq!(p.beacon_id, "drand-quicknet");
        assert_eq!(p.publish_time_ms(1), 1_692_803_367_000);
        // Sui's drand example: round 8 is exactly genesis + 3·7 s.
        assert_eq!(p.publish_time_ms(8), (1_692_803_367 + 3 * 7) * 1000);
        assert_eq!(
            drand.url(8),
            format!("http://127.0.0.1:1/{}/public/8", quicknet::CHAIN_HASH)
        );
    }

    #[test]
    fn get_info_is_validated() {
        let key = bls::SecretKey::generate().unwrap().public_key().to_vec();
        let good = pb::BeaconInfo {
            beacon_id: bls::beacon_id(&key),
            scheme: bls::SCHEME.into(),
            public_key: key,
            genesis_unix_ms: 1,
            period_ms: 100,
        };
        assert_eq!(params_from_info(good.clone()).unwrap().period_ms, 100);
        for bad in [
            pb::BeaconInfo {
                scheme: "pedersen-bls-chained".into(),
                ..good.clone()
            },
            pb::BeaconInfo {
                public_key: vec![1; 96],
                ..good.clone()
            },
            pb::BeaconInfo {
                period_ms: 0,
                ..good.clone()
            },
            pb::BeaconInfo {
                beacon_id: String::new(),
                ..good.clone()
            },
        ] {
            assert!(matches!(params_from_info(bad), Err(ClientError::Invalid(_))));
        }
    }
}
