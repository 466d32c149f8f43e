//! Injected faults for the agency stand-ins: added latency, a random error rate
//! and a full outage, switchable from configuration at start and at run time
//! (tests and load tests flip them while traffic flows).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Faults as configured (`[faults]` section, or `VRS_<AGENCY>__FAULTS__*`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultConfig {
    /// Added to every call before it is answered.
    pub latency_ms: u64,
    /// Share of calls answered with `UNAVAILABLE`, 0.0–1.0.
    pub error_rate: f64,
    /// Answer every call with `UNAVAILABLE`.
    pub outage: bool,
}

/// Live fault switches, shared by a service and whoever steers it.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    latency_ms: AtomicU64,
    /// Error rate in parts per million.
    error_ppm: AtomicU32,
    outage: AtomicBool,
}

impl Faults {
    pub fn new(cfg: &FaultConfig) -> Self {
        let f = Faults::default();
        f.set_latency(Duration::from_millis(cfg.latency_ms));
        f.set_error_rate(cfg.error_rate);
        f.set_outage(cfg.outage);
        f
    }

    pub fn set_latency(&self, latency: Duration) {
        self.0.latency_ms.store(
            u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub fn set_error_rate(&self, rate: f64) {
        let ppm = (rate.clamp(0.0, 1.0) * 1_000_000.0).round() as u32;
        self.0.error_ppm.store(ppm, Ordering::Relaxed);
    }

    pub fn set_outage(&self, outage: bool) {
        self.0.outage.store(outage, Ordering::Relaxed);
    }

    /// Applies the configured faults to one call: sleeps for the latency, then
    /// fails with `UNAVAILABLE` on outage or with the configured probability.
    pub async fn inject(&self) -> Result<(), tonic::Status> {
        let latency = self.0.latency_ms.load(Ordering::Relaxed);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        if self.0.outage.load(Ordering::Relaxed) {
            return Err(tonic::Status::unavailable("agency outage (injected)"));
        }
        let ppm = self.0.error_ppm.load(Ordering::Relaxed);
        if ppm > 0 && fastrand::u32(0..1_000_000) < ppm {
            return Err(tonic::Status::unavailable("transient agency error (injected)"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outage_and_error_rate() {
        let f = Faults::new(&FaultConfig::default());
        assert!(f.inject().await.is_ok());
        f.set_outage(true);
        assert_eq!(f.inject().await.map_err(|s| s.code()), Err(tonic::Code::Unavailable));
        f.set_outage(false);
        f.set_error_rate(1.0);
        assert!(f.inject().await.is_err());
        f.set_error_rate(0.0);
        assert!(f.inject().await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn latency_is_added() {
        let f = Faults::new(&FaultConfig {
            latency_ms: 250,
            ..Default::default()
        });
        let t = tokio::time::Instant::now();
        f.inject().await.ok();
        assert!(t.elapsed() >= Duration::from_millis(250));
    }
}
