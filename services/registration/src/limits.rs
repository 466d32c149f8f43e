//! Rate limits (DESIGN §6): a token bucket per caller on each replica, and for
//! authenticated callers a count shared by every replica through the database.
//!
//! **Per replica.** Each key (`caller:<subject>`, `ip:<address>`,
//! `bad:<address>`) has a token bucket refilled at its rate up to
//! `burst_seconds` of it. Memory is bounded: at most [`MAX_BUCKETS`] keys;
//! when full, idle ones are dropped at most once a second (a scan on every
//! call would let a flood of new keys stall every caller), and keys that still
//! do not fit share one overflow bucket per kind.
//!
//! **Shared.** A caller's bucket on one replica would let N replicas admit N
//! times its rate. So callers' keys also count in windows of `burst_seconds`
//! (at least one second) of wall-clock time, summed over all replicas in the
//! `rate_windows` table: a call is admitted while the sliding-window estimate
//! `previous × (1 − elapsed fraction) + total` stays within `rate × window`,
//! each window's count including what this replica admitted in it and has
//! not synced yet. The database is never on a call's path:
//! every `auth.rate_sync_ms` one statement per replica adds what it admitted
//! and reads the totals back ([`run_sync`]). Between two syncs the replicas
//! can together overshoot by what each admits in that interval; the sliding
//! window then holds them back by as much, so over a few windows the sum stays
//! at the configured rate. While the database is away, each replica falls back
//! to its own bucket and reports its count once it is back.
//!
//! Address keys (`ip:`, `bad:`) stay per replica on purpose: they are the
//! cheap pre-check in front of signature verification, and writing a row per
//! attacking address would hand the flood to the database instead.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::store::Store;

/// Most keys tracked before idle ones are forgotten.
pub const MAX_BUCKETS: usize = 100_000;

/// Token buckets per key, and the shared window counts of callers.
pub struct Limiter {
    burst_seconds: f64,
    window_ms: i64,
    state: Mutex<Buckets>,
}

struct Buckets {
    map: HashMap<String, Bucket>,
    /// The keys of `map` counted in the shared windows: what a sync visits,
    /// so that it never scans the (up to [`MAX_BUCKETS`]) address keys.
    shared: HashSet<String>,
    pruned: Instant,
}

struct Bucket {
    tokens: f64,
    at: Instant,
    shared: Option<Shared>,
}

/// A caller's standing in the count shared by all replicas.
///
/// What this replica admitted is counted in the window it was admitted in,
/// even when that window ends before the next sync sends it: counted in the
/// next window instead, it would weigh fully there instead of fading, and a
/// refused caller who waited the time it was told would be refused again
/// (as `api::authz` saw on a loaded machine, where a sync came late).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Shared {
    /// The window `total` is for.
    window: i64,
    /// Calls all replicas admitted in `window`, as last read.
    total: i64,
    /// ... and in the window before it.
    previous: i64,
    /// Admitted here in `window` and not yet sent to the database...
    pending: i64,
    /// ... and in the window before it.
    pending_previous: i64,
    /// Sent in the sync now in flight, for `window`...
    sent: i64,
    /// ... and for the window before it.
    sent_previous: i64,
}

impl Shared {
    fn new(window: i64) -> Shared {
        Shared {
            window,
            total: 0,
            previous: 0,
            pending: 0,
            pending_previous: 0,
            sent: 0,
            sent_previous: 0,
        }
    }

    /// Moves to `window` if time has passed into a later one: this window's
    /// counts, read and local, become the previous window's. Counts of
    /// windows older than that no longer weigh in any estimate and are dropped.
    fn roll(&mut self, window: i64) {
        if window > self.window {
            let next = window == self.window + 1;
            self.previous = if next { self.total } else { 0 };
            self.pending_previous = if next { self.pending } else { 0 };
            self.sent_previous = if next { self.sent } else { 0 };
            self.total = 0;
            self.pending = 0;
            self.sent = 0;
            self.window = window;
        }
    }

    /// The sliding-window estimate of calls in the last window, `fraction`
    /// of the way into the current one.
    fn estimate(&self, fraction: f64) -> f64 {
        self.before() as f64 * (1.0 - fraction) + self.current() as f64
    }

    fn current(&self) -> i64 {
        self.total + self.sent + self.pending
    }

    fn before(&self) -> i64 {
        self.previous + self.sent_previous + self.pending_previous
    }

    /// How many windows from `fraction` of the current one until one more
    /// call fits under `limit`: later in this window as the previous one's
    /// weight fades, or in the next one, where this one's count fades in turn.
    fn wait(&self, fraction: f64, limit: f64) -> f64 {
        let room = limit - 1.0;
        let current = self.current() as f64;
        let before = self.before();
        if current <= room && before > 0 {
            let at = 1.0 - (room - current) / before as f64;
            if at <= 1.0 {
                return (at - fraction).max(0.0);
            }
        }
        let next = if current > 0.0 { 1.0 - room / current } else { 0.0 };
        (1.0 - fraction) + next.max(0.0)
    }
}

impl Limiter {
    pub fn new(burst_seconds: f64) -> Limiter {
        Limiter {
            burst_seconds,
            window_ms: ((burst_seconds.max(1.0)) * 1000.0) as i64,
            state: Mutex::new(Buckets {
                map: HashMap::new(),
                shared: HashSet::new(),
                pruned: Instant::now(),
            }),
        }
    }

    /// Takes one call from `key`'s bucket on this replica, or RESOURCE_EXHAUSTED.
    pub fn spend(&self, key: &str, rate: f64) -> Result<(), Error> {
        self.with_bucket(key, rate, false, |b, _| take(b, rate))
    }

    /// RESOURCE_EXHAUSTED if `key`'s bucket is empty, without spending from it.
    pub fn check(&self, key: &str, rate: f64) -> Result<(), Error> {
        self.with_bucket(key, rate, false, |b, _| {
            if b.tokens < 1.0 {
                return Err(wait(b.tokens, rate));
            }
            Ok(())
        })
    }

    /// Takes one call from `key`'s bucket here and from its count shared by
    /// all replicas; RESOURCE_EXHAUSTED if either is spent.
    pub fn spend_shared(&self, key: &str, rate: f64) -> Result<(), Error> {
        let now_ms = crate::now_ms();
        let window = now_ms.div_euclid(self.window_ms);
        let fraction = now_ms.rem_euclid(self.window_ms) as f64 / self.window_ms as f64;
        let limit = rate * self.window_ms as f64 / 1000.0;
        self.with_bucket(key, rate, true, |b, overflow| {
            if overflow {
                // Keys past the bound are limited together, on this replica.
                return take(b, rate);
            }
            let shared = b.shared.get_or_insert_with(|| Shared::new(window));
            shared.roll(window);
            if shared.estimate(fraction) + 1.0 > limit {
                let windows = shared.wait(fraction, limit);
                return Err(Error::RateLimited(Duration::from_secs_f64(
                    windows * self.window_ms as f64 / 1000.0,
                )));
            }
            take(b, rate)?;
            if let Some(s) = b.shared.as_mut() {
                s.pending += 1;
            }
            Ok(())
        })
    }

    /// Runs `f` on `key`'s bucket, refilled to now (a `shared` key is also
    /// one the syncs visit); `f` learns whether the key is the overflow
    /// bucket (see the module doc for the bound).
    fn with_bucket(
        &self,
        key: &str,
        rate: f64,
        shared: bool,
        f: impl FnOnce(&mut Bucket, bool) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let now = Instant::now();
        let burst = (rate * self.burst_seconds).max(1.0);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let state = &mut *state;
        let mut key = key;
        let mut overflow = false;
        if !state.map.contains_key(key) && state.map.len() >= MAX_BUCKETS {
            if now.duration_since(state.pruned).as_secs_f64() >= 1.0 {
                let idle = self.burst_seconds.max(1.0);
                state.map.retain(|_, b| now.duration_since(b.at).as_secs_f64() < idle);
                let map = &state.map;
                state.shared.retain(|k| map.contains_key(k));
                state.pruned = now;
            }
            if state.map.len() >= MAX_BUCKETS {
                key = if key.starts_with("bad:") {
                    "bad:overflow"
                } else {
                    "overflow"
                };
                overflow = true;
            }
        }
        if shared && !overflow && !state.shared.contains(key) {
            state.shared.insert(key.to_owned());
        }
        let b = state.map.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
            shared: None,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        f(b, overflow)
    }

    /// What to send in the next sync: for every caller active in the last two
    /// windows, the calls admitted here since the last sync, each in the
    /// window it was admitted in (the current one and the one before; 0 just
    /// reads the total).
    fn take_pending(&self) -> Vec<(String, i64, i64)> {
        let window = crate::now_ms().div_euclid(self.window_ms);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let state = &mut *state;
        let mut out = Vec::new();
        for key in &state.shared {
            let Some(b) = state.map.get_mut(key) else { continue };
            let Some(s) = b.shared.as_mut() else { continue };
            s.roll(window);
            let unsent = s.pending + s.pending_previous;
            if unsent == 0 && b.at.elapsed().as_millis() as i64 > 2 * self.window_ms {
                continue;
            }
            s.sent += s.pending;
            s.sent_previous += s.pending_previous;
            out.push((key.clone(), window, s.pending));
            out.push((key.clone(), window - 1, s.pending_previous));
            s.pending = 0;
            s.pending_previous = 0;
        }
        out
    }

    /// Takes in the totals a sync of `sent` (what [`Self::take_pending`]
    /// gave) read back, or, when it failed, returns what was sent to the next sync.
    fn settle(&self, sent: &[(String, i64, i64)], totals: Option<Vec<(String, i64, i64)>>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for (key, _, _) in sent {
            if let Some(s) = state.map.get_mut(key).and_then(|b| b.shared.as_mut()) {
                if totals.is_none() {
                    s.pending += s.sent;
                    s.pending_previous += s.sent_previous;
                }
                s.sent = 0;
                s.sent_previous = 0;
            }
        }
        for (key, window, count) in totals.unwrap_or_default() {
            let Some(s) = state.map.get_mut(&key).and_then(|b| b.shared.as_mut()) else {
                continue;
            };
            if window == s.window {
                s.total = count;
            } else if window == s.window - 1 {
                s.previous = count;
            }
        }
    }

    /// Keys tracked, for the test that bounds memory.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).map.len()
    }
}

fn take(b: &mut Bucket, rate: f64) -> Result<(), Error> {
    if b.tokens < 1.0 {
        return Err(wait(b.tokens, rate));
    }
    b.tokens -= 1.0;
    Ok(())
}

fn wait(tokens: f64, rate: f64) -> Error {
    Error::RateLimited(Duration::from_secs_f64((1.0 - tokens) / rate))
}

/// Sends each replica's admitted calls to the shared count and reads the
/// totals back, every `every`, until `stop`; forgets windows older than a few.
/// A failed sync keeps the calls for the next one.
pub async fn run_sync(limiter: Arc<Limiter>, store: Store, every: Duration, stop: CancellationToken) {
    let mut last_cleanup = Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let pending = limiter.take_pending();
        if pending.is_empty() {
            continue;
        }
        match store.add_calls(pending.clone()).await {
            Ok(totals) => limiter.settle(&pending, Some(totals)),
            Err(e) => {
                tracing::debug!(error = %e, "rate counts not shared this time; kept for the next sync");
                limiter.settle(&pending, None);
            }
        }
        if last_cleanup.elapsed().as_millis() as i64 >= limiter.window_ms {
            last_cleanup = Instant::now();
            let window = crate::now_ms().div_euclid(limiter.window_ms);
            if let Err(e) = store.forget_windows_before(window - 4).await {
                tracing::debug!(error = %e, "old rate windows not deleted this time");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_holds_a_bounded_number_of_callers() {
        let limiter = Limiter::new(2.0);
        for i in 0..MAX_BUCKETS + 5_000 {
            let _ = limiter.spend(&format!("caller:c{i}"), 10.0);
        }
        // Every key was new and active: none could be pruned, so the extra
        // ones shared the overflow bucket instead of growing the map.
        assert!(limiter.tracked() <= MAX_BUCKETS + 2, "{} keys", limiter.tracked());
        assert!(
            limiter.spend("caller:c1", 10.0).is_ok(),
            "a tracked caller keeps its own budget"
        );
    }

    /// Two replicas' limiters, synced through a stand-in for the table: what
    /// one admitted is refused on the other once synced, and what was sent
    /// when a sync failed is sent again, never lost.
    #[test]
    fn replicas_share_one_count() {
        // A long window, so the test never straddles two.
        let a = Limiter::new(1_000.0);
        let b = Limiter::new(1_000.0);
        let rate = 0.01; // 10 calls per 1,000-second window
        let mut table: HashMap<(String, i64), i64> = HashMap::new();
        let mut sync = |l: &Limiter, fail: bool| {
            let pending = l.take_pending();
            if fail {
                l.settle(&pending, None);
                return;
            }
            let totals = pending
                .iter()
                .cloned()
                .map(|(k, w, n)| {
                    let t = table.entry((k.clone(), w)).or_default();
                    *t += n;
                    (k, w, *t)
                })
                .collect();
            l.settle(&pending, Some(totals));
        };
        let admitted_a = (0..20).filter(|_| a.spend_shared("caller:c", rate).is_ok()).count();
        assert_eq!(admitted_a, 10, "one replica admits the window's calls");
        sync(&a, true); // lost on the way: must be sent again
        sync(&a, false);
        // A replica that has not seen the caller yet admits its first call
        // before it learns the total: one call per replica, at most.
        assert!(b.spend_shared("caller:c", rate).is_ok());
        sync(&b, false);
        assert!(
            b.spend_shared("caller:c", rate).is_err(),
            "the other replica knows the window is spent"
        );
        sync(&a, false);
        assert!(a.spend_shared("caller:c", rate).is_err());
        let total: i64 = table.iter().filter(|((k, _), _)| k == "caller:c").map(|(_, n)| n).sum();
        assert_eq!(total, 11, "every admitted call counted once");
    }

    #[test]
    fn the_sliding_estimate_carries_the_previous_window() {
        let mut s = Shared::new(7);
        s.total = 10;
        s.roll(8);
        assert_eq!((s.previous, s.total), (10, 0));
        assert!((s.estimate(0.25) - 7.5).abs() < 1e-9);
        s.roll(10);
        assert_eq!((s.previous, s.total), (0, 0), "a gap of a window forgets");
    }

    /// Calls admitted at the end of a window and not yet synced when it ends
    /// fade with that window: the wait a refused caller was told holds.
    #[test]
    fn unsynced_calls_fade_with_the_window_they_were_admitted_in() {
        let limit = 5.0;
        let mut s = Shared::new(0);
        s.pending = 5;
        let w = s.wait(0.9, limit);
        s.roll(1);
        assert_eq!((s.pending, s.pending_previous, s.current()), (0, 5, 0));
        assert!(
            s.estimate(0.9 + w - 1.0 + 1e-9) + 1.0 <= limit + 1e-6,
            "fits after the wait {w}"
        );
        // A sync in flight across the roll: its calls move with their window,
        // and come back there if the sync fails.
        let l = Limiter::new(1.0);
        assert!(l.spend_shared("caller:c", 100.0).is_ok());
        let sent = l.take_pending();
        assert_eq!(sent.iter().map(|(_, _, n)| n).sum::<i64>(), 1);
        l.settle(&sent, None);
        let again = l.take_pending();
        assert_eq!(
            again.iter().map(|(_, _, n)| n).sum::<i64>(),
            1,
            "a failed sync's calls are sent again"
        );
    }

    /// The wait a refused caller is told is when the estimate lets one more
    /// call through: never too early (it would be refused again).
    #[test]
    fn the_wait_told_is_when_a_call_fits_again() {
        for (previous, current, fraction, limit) in [
            (5, 5, 0.3, 5.0),
            (5, 0, 0.1, 5.0),
            (10, 4, 0.5, 10.0),
            (0, 10, 0.9, 10.0),
            (3, 2, 0.0, 4.0),
        ] {
            let mut s = Shared::new(0);
            (s.previous, s.total) = (previous, current);
            if s.estimate(fraction) + 1.0 <= limit {
                continue;
            }
            let w = s.wait(fraction, limit);
            assert!(w > 0.0 && w <= 2.0, "{w}");
            // Where the wait ends, in this window or the next.
            let at = fraction + w + 1e-9;
            let fits = if at <= 1.0 {
                s.estimate(at)
            } else {
                let mut n = s;
                n.roll(1);
                n.estimate(at - 1.0)
            } + 1.0
                <= limit + 1e-6;
            assert!(fits, "{previous} {current} {fraction} {limit}: {w}");
        }
    }
}
