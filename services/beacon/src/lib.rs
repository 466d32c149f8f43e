//! The local randomness beacon, and the clients of both beacons the draw uses.
//!
//! A beacon publishes, every period, a value nobody can predict before its
//! round and anybody can verify. The draw commits to a **future** round and
//! takes its randomness from that round once published (see
//! `contracts/draw-spec.md` and `contracts/beacons/README.md`).
//!
//! Both beacons use drand's scheme `bls-unchained-g1-rfc9380`, implemented in
//! [`vrs_draw::beacon`]: the value of round `R` is the BLS signature of
//! `SHA-256(R)`, unique for the key, so the operator cannot grind.
//!
//! - The **server** (this crate's binary, `beacon [--config FILE]`) is the
//!   local beacon, run by a party independent of the registry. [`build`]
//!   loads its key and genesis from [`Config::key_file`] (generating both at
//!   first start, see [`keyfile`]), binds the listener and returns a
//!   [`GrpcServer`] serving `vrs.beacon.v1.BeaconService` ([`service`]).
//!   Round `R` is published at `genesis + (R − 1) · period`; asking for a
//!   later round is `FAILED_PRECONDITION`.
//! - The **clients** ([`client`]) are what the registration service uses:
//!   [`client::LocalBeacon`] over gRPC and [`client::Drand`] for drand
//!   quicknet over HTTP, both behind [`client::BeaconSource`]. Every round a
//!   client returns has been verified against the beacon's public key — for
//!   drand, the key pinned in [`vrs_draw::beacon::quicknet`], never one
//!   served by the relay.
//!
//! The secret key never appears in logs, `Debug` output or errors.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use vrs_kit::grpc::GrpcServer;
use vrs_proto::pb::beacon::v1::beacon_service_server::BeaconServiceServer;

pub mod client;
pub mod keyfile;
pub mod service;

pub use service::{BeaconFaults, BeaconService};

/// Default gRPC port of the local beacon.
pub const DEFAULT_PORT: u16 = 50070;

/// Largest request the beacon decodes; every request is a few bytes.
pub const MAX_REQUEST_BYTES: usize = 1024;

/// Configuration: `listen`, `key_file`, `period_ms`, overridable by
/// `VRS_BEACON__*` (e.g. `VRS_BEACON__KEY_FILE`). A field left out takes its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address the gRPC server binds (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Where the secret key, genesis and period are kept (created at first
    /// start, mode 0600). Losing it means a new beacon with a new identity.
    pub key_file: PathBuf,
    /// Milliseconds between rounds, for a beacon created now. An existing key
    /// file keeps the period it was created with; a different value here is
    /// an error rather than a silent change of the published schedule.
    pub period_ms: u64,
    /// mTLS: only clients with a certificate from our CA may read rounds.
    pub tls: vrs_kit::tls::TlsConfig,
    /// A plaintext port serving gRPC health alone, for kubelet probes (off by default).
    pub probe_listen: Option<SocketAddr>,
}

impl Default for Config {
    /// `127.0.0.1:50070`, `var/beacon.key`, one round per second.
    fn default() -> Self {
        Config {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            key_file: PathBuf::from("var/beacon.key"),
            period_ms: 1000,
            tls: Default::default(),
            probe_listen: None,
        }
    }
}

/// Loads (or at first start creates) the beacon's key file, binds
/// `cfg.listen` and assembles the server. The caller serves it with
/// [`GrpcServer::serve`].
pub async fn build(cfg: &Config) -> anyhow::Result<GrpcServer> {
    Ok(build_with_faults(cfg).await?.0)
}

/// [`build`], and the switches that make the running beacon fail (down,
/// forged signatures, late rounds) for fault tests and `vrs-load`.
pub async fn build_with_faults(cfg: &Config) -> anyhow::Result<(GrpcServer, BeaconFaults)> {
    let beacon = keyfile::load_or_create(&cfg.key_file, cfg.period_ms, client::now_unix_ms())
        .with_context(|| format!("beacon key file {}", cfg.key_file.display()))?;
    let service = BeaconService::new(beacon);
    let faults = service.faults();
    let params = service.params().clone();
    let server = GrpcServer::bind(cfg.listen)
        .await
        .with_context(|| format!("binding the beacon service to {}", cfg.listen))?
        .with_tls(&cfg.tls, vrs_kit::tls::ClientAuth::Required)?
        .with_probe_port(cfg.probe_listen)
        .await?;
    tracing::info!(
        beacon_id = %params.beacon_id,
        public_key = %hex::encode(&params.public_key),
        genesis_unix_ms = params.genesis_unix_ms,
        period_ms = params.period_ms,
        "local beacon ready"
    );
    let server = server.add_service(BeaconServiceServer::new(service).max_decoding_message_size(MAX_REQUEST_BYTES));
    Ok((server, faults))
}
