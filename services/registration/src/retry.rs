//! Retry timing shared by the agency calls, the lookup worker and the outbox.

use std::time::Duration;

/// `base · 2^(attempt-1)`, with ±50 % jitter so retries from many callers spread out.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    exp.mul_f64(0.5 + fastrand::f64())
}
