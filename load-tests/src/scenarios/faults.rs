//! Fault scenarios: e2e flows under `--mode` while something breaks and
//! recovers on a fixed timeline; each phase is reported apart, and the
//! checker runs afterwards whatever `--skip-check` says.
//!
//! - `fault-agency`: normal 20 % · slow 20 % (`--agency-slow-ms` added to
//!   every call of `--fault-agency`) · down 30 % (every call UNAVAILABLE) ·
//!   restored 30 %. Submissions during the outage are acknowledged in
//!   AWAITING_AGENCY and completed by the service's worker after it; their
//!   flows wait for that ("settle").
//! - `fault-portal`: normal 25 % · portal down (not listening) 35 % · back 40 %.
//!   Status events wait in the outbox and are delivered afterwards.
//! - `fault-kill`: before 40 % · after 60 %: the last replica gets SIGKILL at
//!   the boundary; the client fails over to the others (counted).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::cli::{Args, Scenario};
use crate::driver::{Phase, Schedule};
use crate::flows::Ctx;
use crate::report::{ScenarioReport, Target};
use crate::stack::Stack;

use super::{e2e_flows, load, overall_throughput, report};

const OPERATION: &str = "one registration (submit → lookups → draw → pay) while a fault comes and goes";

fn schedule(args: &Args, scenario: Scenario, shares: &[(&str, f64)]) -> Schedule {
    let secs = args.duration_for(scenario);
    let rate = args.rate_for(scenario);
    Schedule::new(
        load(args),
        args.warmup,
        shares
            .iter()
            .map(|(n, share)| Phase::new(n, secs * share, rate))
            .collect(),
    )
}

/// Errors per phase must be zero: every fault here is one the design absorbs.
fn no_errors(r: &mut ScenarioReport) {
    let errors = r.errors();
    r.targets.push(Target::below(
        "errors while the fault comes and goes",
        1.0,
        errors as f64,
        "",
    ));
}

pub async fn agency(args: &Args, stack: &mut Stack, ctx: &Arc<Ctx>) -> ScenarioReport {
    let s = schedule(
        args,
        Scenario::FaultAgency,
        &[
            ("normal", 0.2),
            ("agency-slow", 0.2),
            ("agency-down", 0.3),
            ("restored", 0.3),
        ],
    );
    let agency = stack.agency(args.fault_agency);
    let faults = agency.faults.clone();
    let awaiting_before = ctx.awaiting_agency.load(Ordering::Relaxed);
    let timeline = {
        let s = s.clone();
        let slow = Duration::from_millis(args.agency_slow_ms);
        async move {
            tokio::time::sleep_until(s.phase_start(1)).await;
            faults.set_latency(slow);
            tokio::time::sleep_until(s.phase_start(2)).await;
            faults.set_latency(Duration::ZERO);
            faults.set_outage(true);
            tokio::time::sleep_until(s.phase_start(3)).await;
            faults.set_outage(false);
        }
    };
    let (recorder, ()) = tokio::join!(e2e_flows(args, ctx, s, "FA"), timeline);
    let phases = recorder.report();
    let throughput = overall_throughput(&phases);
    let mut r = report("fault-agency", OPERATION, load(args), phases, throughput);
    no_errors(&mut r);
    let awaiting = ctx.awaiting_agency.load(Ordering::Relaxed) - awaiting_before;
    r.extra = serde_json::json!({
        "agency": args.fault_agency.name(),
        "slow_ms": args.agency_slow_ms,
        "acknowledged_awaiting_agency": awaiting,
    });
    if awaiting == 0 {
        r.notes
            .push("no submission was answered AWAITING_AGENCY: the outage did not reach the lookups".into());
    }
    r
}

pub async fn portal(args: &Args, stack: &mut Stack, ctx: &Arc<Ctx>) -> anyhow::Result<ScenarioReport> {
    let s = schedule(
        args,
        Scenario::FaultPortal,
        &[("normal", 0.25), ("portal-down", 0.35), ("portal-back", 0.4)],
    );
    let calls_before = stack.portal.calls();
    let timeline = {
        let s = s.clone();
        let portal = &mut stack.portal;
        async move {
            tokio::time::sleep_until(s.phase_start(1)).await;
            portal.down();
            tokio::time::sleep_until(s.phase_start(2)).await;
            portal.up().await
        }
    };
    let (recorder, up) = tokio::join!(e2e_flows(args, ctx, s, "FP"), timeline);
    up?;
    let phases = recorder.report();
    let throughput = overall_throughput(&phases);
    let mut r = report("fault-portal", OPERATION, load(args), phases, throughput);
    no_errors(&mut r);
    r.extra = serde_json::json!({ "portal_calls": stack.portal.calls() - calls_before });
    Ok(r)
}

pub async fn kill(args: &Args, stack: &mut Stack, ctx: &Arc<Ctx>) -> anyhow::Result<ScenarioReport> {
    anyhow::ensure!(
        stack.replicas.len() >= 2,
        "fault-kill needs at least two replicas (PostgreSQL: --db postgres://… --replicas 2)"
    );
    let s = schedule(args, Scenario::FaultKill, &[("before-kill", 0.4), ("after-kill", 0.6)]);
    let victim = stack.replicas.len() - 1;
    let timeline = {
        let s = s.clone();
        let replica = &mut stack.replicas[victim];
        async move {
            tokio::time::sleep_until(s.phase_start(1)).await;
            tracing::info!(replica = victim, "kill -9");
            replica.kill()
        }
    };
    let (recorder, killed) = tokio::join!(e2e_flows(args, ctx, s, "FK"), timeline);
    killed?;
    let phases = recorder.report();
    let throughput = overall_throughput(&phases);
    let mut r = report("fault-kill", OPERATION, load(args), phases, throughput);
    no_errors(&mut r);
    r.extra = serde_json::json!({
        "killed_replica": victim,
        "replica_log": stack.replicas[victim].log.display().to_string(),
    });
    Ok(r)
}
