//! A per-agency circuit breaker: after `threshold` consecutive failures the
//! agency is not called for `cooldown`; then one probe call is let through,
//! whose outcome closes or re-opens the breaker. This keeps a dead agency from
//! tying up every submission for its full deadline and retries.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    probe_in_flight: bool,
}

/// What the breaker lets a caller do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Closed: call normally.
    Call,
    /// Half-open: this call is the single probe.
    Probe,
    /// Open: fail fast.
    Refuse,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(Inner::default()),
        }
    }

    pub fn permit(&self) -> Permit {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match s.open_until {
            None => Permit::Call,
            Some(until) if Instant::now() < until => Permit::Refuse,
            Some(_) if s.probe_in_flight => Permit::Refuse,
            Some(_) => {
                s.probe_in_flight = true;
                Permit::Probe
            }
        }
    }

    pub fn record_success(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *s = Inner::default();
    }

    pub fn record_failure(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.consecutive_failures = s.consecutive_failures.saturating_add(1);
        s.probe_in_flight = false;
        if s.consecutive_failures >= self.threshold {
            s.open_until = Some(Instant::now() + self.cooldown);
        }
    }

    pub fn is_open(&self) -> bool {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.open_until.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_then_probes() {
        let b = Breaker::new(3, Duration::from_secs(5));
        for _ in 0..2 {
            assert_eq!(b.permit(), Permit::Call);
            b.record_failure();
        }
        assert_eq!(b.permit(), Permit::Call);
        b.record_failure();
        assert_eq!(b.permit(), Permit::Refuse);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(b.permit(), Permit::Probe);
        // Only one probe at a time.
        assert_eq!(b.permit(), Permit::Refuse);
        b.record_failure();
        assert_eq!(b.permit(), Permit::Refuse, "a failed probe re-opens");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(b.permit(), Permit::Probe);
        b.record_success();
        assert_eq!(b.permit(), Permit::Call);
        assert!(!b.is_open());
    }

    #[test]
    fn success_resets_the_count() {
        let b = Breaker::new(2, Duration::from_secs(1));
        b.record_failure();
        b.record_success();
        b.record_failure();
        assert_eq!(b.permit(), Permit::Call);
    }
}
