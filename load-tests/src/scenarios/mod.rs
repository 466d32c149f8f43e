//! The scenarios. Each starts from the running stack, applies its load (and
//! its faults) and returns a [`ScenarioReport`]; the checker runs afterwards.
//!
//! | scenario | one operation | load | measures |
//! |---|---|---|---|
//! | `e2e` | submit → lookups → draw → pay | `--mode` | registrations/s, latency per step and end to end, with and without the beacon wait |
//! | `draw-storm` | DrawPlate of one application | all K at once | draws/s resolved on one pool |
//! | `queue` | writers: e2e; readers: one ListApplications | writers `--mode`, readers closed | reads/s and read latency under write load |
//! | `burst` | e2e | open: R, 10·R, R | errors and latency per phase |
//! | `fault-agency` | e2e | `--mode` | an agency slow, then down, then back |
//! | `fault-portal` | e2e | `--mode` | the portal down, then back |
//! | `fault-kill` | e2e | `--mode` | one replica killed (SIGKILL) |
//! | `fault-db` | e2e | `--mode` | PostgreSQL restarted, its sessions cut, the server stalled (`--db own`) |
//! | `fault-beacon` | e2e | `--mode` | the beacon down for minutes, then forging, then late |
//! | `limits` | one ListApplications as a clerk | closed | one caller's rate over all replicas; honest callers beside a bad-token flood |

pub mod draw_storm;
mod e2e;
mod faults;
mod limits;
mod queue;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::cli::{Args, LoadMode, Scenario};
use crate::driver::{Load, PhaseReport, Recorder, Schedule, TOTAL_EXCLUDED};
use crate::flows::Ctx;
use crate::report::{ScenarioReport, Target};
use crate::stack::Stack;

/// Runs one scenario (not `all`).
pub async fn run(
    scenario: Scenario,
    args: &Args,
    stack: &mut Stack,
    ctx: &Arc<Ctx>,
    baseline: f64,
) -> anyhow::Result<ScenarioReport> {
    let started = Instant::now();
    let failovers = ctx.pool.failovers();
    let mut report = match scenario {
        Scenario::E2e => e2e::e2e(args, ctx).await,
        Scenario::Burst => e2e::burst(args, ctx).await,
        Scenario::DrawStorm => draw_storm::run(args, ctx).await?,
        Scenario::Queue => queue::run(args, ctx).await?,
        Scenario::FaultAgency => faults::agency(args, stack, ctx).await,
        Scenario::FaultPortal => faults::portal(args, stack, ctx).await?,
        Scenario::FaultKill => faults::kill(args, stack, ctx).await?,
        Scenario::FaultDb => faults::database(args, stack, ctx).await?,
        Scenario::FaultBeacon => faults::beacon(args, stack, ctx).await,
        Scenario::Limits => limits::run(args, stack, ctx).await?,
        Scenario::All => anyhow::bail!("`all` is expanded before running"),
    };
    report.wall_secs = started.elapsed().as_secs_f64();
    report.failovers = ctx.pool.failovers() - failovers;
    report.baseline_ratio = if baseline > 0.0 {
        report.throughput_per_s / baseline
    } else {
        0.0
    };
    report
        .targets
        .push(Target::below("runs in under two minutes", 120.0, report.wall_secs, "s"));
    if ctx.vehicles.left() == 0 {
        report
            .notes
            .push("the data set ran out of vehicles (WORLD_EXHAUSTED errors): raise --world-vehicles".into());
    }
    Ok(report)
}

/// The load `--mode` asks for.
pub fn load(args: &Args) -> Load {
    match args.mode {
        LoadMode::Open => Load::Open,
        LoadMode::Closed => Load::Closed {
            concurrency: args.concurrency,
        },
    }
}

/// How long the driver waits for flows still running when the schedule ends.
pub fn drain(args: &Args) -> Duration {
    Duration::from_secs_f64(args.drain_timeout.max(1.0))
}

/// Runs e2e flows (dossier codes `L<tag>.…`) as `schedule` says.
pub async fn e2e_flows(args: &Args, ctx: &Arc<Ctx>, schedule: Schedule, tag: &'static str) -> Arc<Recorder> {
    let ctx = ctx.clone();
    crate::driver::drive(schedule, args.max_in_flight, drain(args), move || {
        let ctx = ctx.clone();
        async move { ctx.e2e(tag).await }
    })
    .await
}

/// Successful operations per second over all phases.
pub fn overall_throughput(phases: &[PhaseReport]) -> f64 {
    let secs: f64 = phases.iter().map(|p| p.secs).sum();
    let done: f64 = phases.iter().map(|p| p.throughput_per_s * p.secs).sum();
    if secs > 0.0 { done / secs } else { 0.0 }
}

/// A report with the common fields filled; `run` adds wall time, failovers and the ratio.
pub fn report(name: &str, operation: &str, load: Load, phases: Vec<PhaseReport>, throughput: f64) -> ScenarioReport {
    ScenarioReport {
        name: name.to_owned(),
        operation: operation.to_owned(),
        load,
        wall_secs: 0.0,
        phases,
        throughput_per_s: throughput,
        baseline_ratio: 0.0,
        failovers: 0,
        extra: serde_json::Value::Null,
        targets: Vec::new(),
        notes: Vec::new(),
        check: None,
    }
}

/// The highest p99 of the flows' latency without the beacon wait, over phases.
pub fn p99_excl_beacon(phases: &[PhaseReport]) -> f64 {
    phases
        .iter()
        .filter_map(|p| p.latency_ms.get(TOTAL_EXCLUDED))
        .map(|l| l.p99)
        .fold(0.0, f64::max)
}
