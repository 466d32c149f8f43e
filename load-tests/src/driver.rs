//! The load engine: runs an operation (a flow of RPCs) open-loop at a rate or
//! closed-loop with a number of workers, over a schedule of named phases, and
//! records latencies in HDR histograms.
//!
//! Open loop: operation `i` of a phase is due at `phase start + i / rate`
//! whether or not earlier ones have finished, and its latency is measured
//! from that due time, not from when a task got round to sending it: a
//! stalled server then shows as latency instead of as fewer requests
//! ("coordinated omission"). Closed loop: each worker starts its next
//! operation when the last one ends, and latency is measured from the start.
//!
//! An operation belongs, for latency and errors, to the phase it was due in;
//! its success counts towards the throughput of the phase it *completed* in,
//! so throughput is what the system actually finished per second of the phase.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

/// Histogram names every operation records.
pub const TOTAL: &str = "total";
/// The total minus time the operation spent in waits excluded by design (the beacon round).
pub const TOTAL_EXCLUDED: &str = "total_excl_beacon";

/// What one successful operation took, step by step.
#[derive(Debug, Default)]
pub struct Sample {
    /// Named steps and their durations, e.g. `("submit", 12 ms)`.
    pub steps: Vec<(&'static str, Duration)>,
    /// Part of the operation's time spent waiting for something outside the
    /// system's control (the beacon round), reported apart.
    pub excluded: Duration,
}

impl Sample {
    pub fn step(&mut self, name: &'static str, took: Duration) {
        self.steps.push((name, took));
    }
}

/// Why an operation failed: the step and a code (a gRPC code name, or one of ours).
#[derive(Debug, Clone)]
pub struct Failure {
    pub step: &'static str,
    pub code: String,
}

impl Failure {
    pub fn new(step: &'static str, code: impl Into<String>) -> Failure {
        Failure {
            step,
            code: code.into(),
        }
    }

    /// A failed call, by its gRPC code (`UNAVAILABLE`, `DEADLINE_EXCEEDED`…).
    pub fn status(step: &'static str, s: &tonic::Status) -> Failure {
        Failure::new(step, code_name(s.code()))
    }
}

/// The canonical name of a gRPC status code.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

pub type Outcome = Result<Sample, Failure>;

/// How load is applied.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Load {
    /// Operations started per second, per phase (`Phase::rate`).
    Open,
    /// This many workers, each running one operation after another.
    Closed { concurrency: usize },
}

/// A named stretch of the run.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: String,
    pub secs: f64,
    /// Open loop: operations started per second in this phase.
    pub rate: f64,
}

impl Phase {
    pub fn new(name: &str, secs: f64, rate: f64) -> Phase {
        Phase {
            name: name.to_owned(),
            secs,
            rate,
        }
    }
}

/// When each phase starts and ends, fixed before the load starts so that
/// fault switches can be scheduled against the same clock.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub load: Load,
    pub warmup_start: Instant,
    /// Start of each phase, then the end of the last.
    pub bounds: Vec<Instant>,
    pub phases: Vec<Phase>,
    warmup_rate: f64,
}

impl Schedule {
    /// A schedule starting now: `warmup` seconds at the first phase's load, then the phases.
    pub fn new(load: Load, warmup: f64, phases: Vec<Phase>) -> Schedule {
        let warmup_start = Instant::now();
        let mut t = warmup_start + Duration::from_secs_f64(warmup.max(0.0));
        let mut bounds = vec![t];
        for p in &phases {
            t += Duration::from_secs_f64(p.secs.max(0.0));
            bounds.push(t);
        }
        let warmup_rate = phases.first().map_or(0.0, |p| p.rate);
        Schedule {
            load,
            warmup_start,
            bounds,
            phases,
            warmup_rate,
        }
    }

    pub fn start(&self) -> Instant {
        self.bounds[0]
    }

    pub fn end(&self) -> Instant {
        self.bounds[self.bounds.len() - 1]
    }

    /// When phase `k` starts.
    pub fn phase_start(&self, k: usize) -> Instant {
        self.bounds[k.min(self.bounds.len() - 1)]
    }

    /// The phase `t` falls in; `None` during warmup or after the end.
    pub fn phase_of(&self, t: Instant) -> Option<usize> {
        if t < self.bounds[0] {
            return None;
        }
        self.bounds.windows(2).position(|w| t >= w[0] && t < w[1])
    }
}

/// Latency summary of one histogram, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1_000.0;
        Latency {
            count: h.len(),
            mean: h.mean() / 1_000.0,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// What one phase measured.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    pub name: String,
    pub secs: f64,
    /// Open loop: the rate operations were started at.
    pub offered_rate: Option<f64>,
    /// Operations due (open) or started (closed) in this phase.
    pub started: u64,
    pub ok: u64,
    pub failed: u64,
    /// Successful operations completed during this phase, per second.
    pub throughput_per_s: f64,
    /// Successful operations started in this phase per second from its start
    /// to the last one's completion: what the system got through when it
    /// finished them late (then well below the offered rate of an open loop).
    pub throughput_incl_drain_per_s: f64,
    /// Failures by `step:CODE`.
    pub errors: BTreeMap<String, u64>,
    /// By histogram: `total`, `total_excl_beacon`, then one per step.
    pub latency_ms: BTreeMap<String, Latency>,
}

struct PhaseStats {
    started: u64,
    ok: u64,
    completed_ok: u64,
    /// When the last successful operation started in this phase ended.
    last_ok_end: Option<Instant>,
    errors: BTreeMap<String, u64>,
    hist: BTreeMap<&'static str, Histogram<u64>>,
}

impl PhaseStats {
    fn new() -> PhaseStats {
        PhaseStats {
            started: 0,
            ok: 0,
            completed_ok: 0,
            last_ok_end: None,
            errors: BTreeMap::new(),
            hist: BTreeMap::new(),
        }
    }

    fn record(&mut self, name: &'static str, d: Duration) {
        let h = self.hist.entry(name).or_insert_with(|| {
            // 1 µs to one hour at 3 significant digits.
            Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
        });
        h.saturating_record(u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1));
    }
}

/// Collects outcomes by phase. Shared by every task of a run.
pub struct Recorder {
    schedule: Schedule,
    stats: Mutex<Vec<PhaseStats>>,
}

impl Recorder {
    pub fn new(schedule: Schedule) -> Recorder {
        let stats = schedule.phases.iter().map(|_| PhaseStats::new()).collect();
        Recorder {
            schedule,
            stats: Mutex::new(stats),
        }
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Records an operation due at `start` that ended at `end`.
    pub fn record(&self, start: Instant, end: Instant, outcome: &Outcome) {
        let Some(k) = self.schedule.phase_of(start) else {
            return;
        };
        let done_in = self.schedule.phase_of(end);
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let s = &mut stats[k];
        s.started += 1;
        match outcome {
            Ok(sample) => {
                s.ok += 1;
                s.last_ok_end = Some(s.last_ok_end.map_or(end, |t| t.max(end)));
                let total = end - start;
                s.record(TOTAL, total);
                s.record(TOTAL_EXCLUDED, total.saturating_sub(sample.excluded));
                for (name, d) in &sample.steps {
                    s.record(name, *d);
                }
                if let Some(j) = done_in {
                    stats[j].completed_ok += 1;
                }
            }
            Err(f) => *s.errors.entry(format!("{}:{}", f.step, f.code)).or_default() += 1,
        }
    }

    pub fn report(&self) -> Vec<PhaseReport> {
        let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        self.schedule
            .phases
            .iter()
            .zip(stats.iter())
            .enumerate()
            .map(|(k, (p, s))| PhaseReport {
                name: p.name.clone(),
                secs: p.secs,
                offered_rate: matches!(self.schedule.load, Load::Open).then_some(p.rate),
                started: s.started,
                ok: s.ok,
                failed: s.errors.values().sum(),
                throughput_per_s: if p.secs > 0.0 {
                    s.completed_ok as f64 / p.secs
                } else {
                    0.0
                },
                throughput_incl_drain_per_s: s.last_ok_end.map_or(0.0, |end| {
                    let secs = (end - self.schedule.bounds[k]).as_secs_f64().max(p.secs);
                    if secs > 0.0 { s.ok as f64 / secs } else { 0.0 }
                }),
                errors: s.errors.clone(),
                latency_ms: s.hist.iter().map(|(k, h)| ((*k).to_owned(), Latency::of(h))).collect(),
            })
            .collect()
    }
}

/// Runs `op` as `schedule` says, then waits up to `drain` for operations
/// still in flight. Returns what was recorded.
pub async fn drive<F, Fut>(schedule: Schedule, max_in_flight: usize, drain: Duration, op: F) -> Arc<Recorder>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let recorder = Arc::new(Recorder::new(schedule.clone()));
    let op = Arc::new(op);
    let tracker = TaskTracker::new();
    match schedule.load {
        Load::Closed { concurrency } => {
            let end = schedule.end();
            for _ in 0..concurrency.max(1) {
                let (op, recorder) = (op.clone(), recorder.clone());
                tracker.spawn(async move {
                    while Instant::now() < end {
                        let start = Instant::now();
                        let outcome = op().await;
                        recorder.record(start, Instant::now(), &outcome);
                    }
                });
            }
        }
        Load::Open => {
            let in_flight = Arc::new(AtomicUsize::new(0));
            let mut segments = vec![(schedule.warmup_start, schedule.start(), schedule.warmup_rate)];
            for (k, p) in schedule.phases.iter().enumerate() {
                segments.push((schedule.bounds[k], schedule.bounds[k + 1], p.rate));
            }
            for (from, to, rate) in segments {
                if rate <= 0.0 || to <= from {
                    tokio::time::sleep_until(to).await;
                    continue;
                }
                let interval = Duration::from_secs_f64(1.0 / rate);
                let mut i: u32 = 0;
                let mut due = from;
                while due < to {
                    // Start everything due by now (timers fire late; starts do not drift).
                    let now = Instant::now();
                    while due <= now && due < to {
                        if in_flight.load(Ordering::Relaxed) >= max_in_flight {
                            recorder.record(due, due, &Err(Failure::new("client", "CLIENT_OVERLOAD")));
                        } else {
                            in_flight.fetch_add(1, Ordering::Relaxed);
                            let (op, recorder, in_flight) = (op.clone(), recorder.clone(), in_flight.clone());
                            tracker.spawn(async move {
                                let outcome = op().await;
                                recorder.record(due, Instant::now(), &outcome);
                                in_flight.fetch_sub(1, Ordering::Relaxed);
                            });
                        }
                        i += 1;
                        due = from + interval * i;
                    }
                    if due < to {
                        tokio::time::sleep_until(due).await;
                    }
                }
            }
        }
    }
    tracker.close();
    tokio::time::sleep_until(schedule.end()).await;
    if tokio::time::timeout(drain, tracker.wait()).await.is_err() {
        tracing::warn!(
            still_running = tracker.len(),
            "operations still in flight after the drain period; not recorded"
        );
    }
    recorder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn open_loop_measures_from_the_due_time_and_counts_by_phase() {
        let schedule = Schedule::new(
            Load::Open,
            1.0,
            vec![Phase::new("a", 2.0, 10.0), Phase::new("b", 1.0, 100.0)],
        );
        let recorder = drive(schedule, 1_000, Duration::from_secs(10), || async {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let mut s = Sample::default();
            s.step("sleep", Duration::from_millis(250));
            s.excluded = Duration::from_millis(100);
            Ok(s)
        })
        .await;
        let r = recorder.report();
        assert_eq!((r[0].started, r[1].started), (20, 100));
        assert_eq!(r[0].offered_rate, Some(10.0));
        let total = &r[0].latency_ms[TOTAL];
        assert!((total.p50 - 250.0).abs() < 1.0, "{total:?}");
        assert!((r[0].latency_ms[TOTAL_EXCLUDED].p50 - 150.0).abs() < 1.0);
        // The last operations of "b" complete after the end: not in its throughput.
        assert!(
            r[1].throughput_per_s < 100.0 && r[1].throughput_per_s > 70.0,
            "{}",
            r[1].throughput_per_s
        );
    }

    #[tokio::test(start_paused = true)]
    async fn closed_loop_and_failures() {
        let schedule = Schedule::new(Load::Closed { concurrency: 4 }, 0.0, vec![Phase::new("only", 1.0, 0.0)]);
        let n = Arc::new(AtomicUsize::new(0));
        let recorder = drive(schedule, 1_000, Duration::from_secs(1), move || {
            let n = n.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if n.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
                    Ok(Sample::default())
                } else {
                    Err(Failure::new("x", "UNAVAILABLE"))
                }
            }
        })
        .await;
        let r = &recorder.report()[0];
        assert_eq!(r.started, 40);
        assert_eq!((r.ok, r.failed), (20, 20));
        assert_eq!(r.errors["x:UNAVAILABLE"], 20);
        assert_eq!(r.offered_rate, None);
    }

    #[test]
    fn phases_by_time() {
        let s = Schedule::new(
            Load::Open,
            1.0,
            vec![Phase::new("a", 1.0, 1.0), Phase::new("b", 1.0, 1.0)],
        );
        assert_eq!(s.phase_of(s.warmup_start), None);
        assert_eq!(s.phase_of(s.start()), Some(0));
        assert_eq!(s.phase_of(s.phase_start(1)), Some(1));
        assert_eq!(s.phase_of(s.end()), None);
    }
}
