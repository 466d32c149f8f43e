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
//! - `fault-db`: see [`database`].
//! - `fault-beacon`: see [`beacon`].

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

/// `fault-db`: normal 20 % · db-restart 25 % (PostgreSQL stopped as by a
/// crash, `--db-down-secs` later started again) · db-cut 15 % (every session
/// terminated, as an operator or a failover's fencing does) · db-stall 20 %
/// (the postmaster and every session SIGSTOPped for `--db-stall-secs`) ·
/// recovered 20 %. An outage shorter than the service's acquire timeout is
/// ridden through; a call that cannot be served is answered UNAVAILABLE, and
/// the flow counts it. Anything else is a failure, and so is any error once
/// the database is back.
pub async fn database(args: &Args, stack: &mut Stack, ctx: &Arc<Ctx>) -> anyhow::Result<ScenarioReport> {
    let Some(db) = stack.own_db.as_ref() else {
        anyhow::bail!("fault-db needs a database of its own: --db own");
    };
    let s = schedule(
        args,
        Scenario::FaultDb,
        &[
            ("normal", 0.2),
            ("db-restart", 0.25),
            ("db-cut", 0.15),
            ("db-stall", 0.2),
            ("recovered", 0.2),
        ],
    );
    let down = Duration::from_secs_f64(args.db_down_secs);
    let stall = Duration::from_secs_f64(args.db_stall_secs);
    let timeline = {
        let s = s.clone();
        async move {
            tokio::time::sleep_until(s.phase_start(1)).await;
            tracing::info!("PostgreSQL: stop -m immediate");
            tokio::task::block_in_place(|| db.stop("immediate"))?;
            tokio::time::sleep(down).await;
            tokio::task::block_in_place(|| db.start_again())?;
            tracing::info!("PostgreSQL: started again");
            tokio::time::sleep_until(s.phase_start(2)).await;
            let cut = tokio::task::block_in_place(|| {
                db.psql(
                    "postgres",
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = 'vrs' AND pid <> pg_backend_pid()",
                )
            })?;
            tracing::info!(sessions = %cut, "PostgreSQL: sessions terminated");
            tokio::time::sleep_until(s.phase_start(3)).await;
            tokio::task::block_in_place(|| db.signal_all("STOP"))?;
            tokio::time::sleep(stall).await;
            tokio::task::block_in_place(|| db.signal_all("CONT"))?;
            tracing::info!("PostgreSQL: resumed after the stall");
            anyhow::Ok(cut)
        }
    };
    let (recorder, cut) = tokio::join!(e2e_flows(args, ctx, s, "FD"), timeline);
    let cut = cut?;
    let phases = recorder.report();
    let throughput = overall_throughput(&phases);
    let mut r = report("fault-db", OPERATION, load(args), phases, throughput);
    let not_unavailable: u64 = r
        .phases
        .iter()
        .flat_map(|p| p.errors.iter())
        .filter(|(k, _)| !k.ends_with(":UNAVAILABLE"))
        .map(|(_, n)| n)
        .sum();
    r.targets.push(Target::below(
        "errors other than UNAVAILABLE while the database fails",
        1.0,
        not_unavailable as f64,
        "",
    ));
    let after: u64 = r
        .phases
        .iter()
        .filter(|p| p.name == "recovered")
        .map(|p| p.failed)
        .sum();
    r.targets
        .push(Target::below("errors once the database is back", 1.0, after as f64, ""));
    let unavailable: u64 = r.errors() - not_unavailable;
    r.extra = serde_json::json!({
        "down_secs": args.db_down_secs,
        "stall_secs": args.db_stall_secs,
        "sessions_terminated": cut,
        "answered_unavailable": unavailable,
    });
    Ok(r)
}

/// `fault-beacon`: normal 15 % · beacon-down 40 % (unreachable for
/// `--beacon-down-secs`, at most the phase) · beacon-forged 10 % (values signed
/// by another key: every replica must refuse them) · beacon-late 15 % (rounds
/// published `--beacon-late-periods` late) · recovered 20 %. Draws commit
/// without the beacon and wait for their round; a DrawPlate that outlives the
/// service's draw timeout is answered UNAVAILABLE and the flow calls again, as
/// a client should, so no flow fails and every commit gets its result (the
/// checker: every acknowledged draw has its plate, none twice, the log
/// replays clean with every receipt verified against the pinned key).
pub async fn beacon(args: &Args, stack: &mut Stack, ctx: &Arc<Ctx>) -> ScenarioReport {
    let shares = [
        ("normal", 0.15),
        ("beacon-down", 0.4),
        ("beacon-forged", 0.1),
        ("beacon-late", 0.15),
        ("recovered", 0.2),
    ];
    let s = schedule(args, Scenario::FaultBeacon, &shares);
    let faults = stack.beacon_faults.clone();
    let down_phase = Duration::from_secs_f64(args.duration_for(Scenario::FaultBeacon) * shares[1].1);
    let down = Duration::from_secs_f64(args.beacon_down_secs).min(down_phase);
    let late = Duration::from_millis(args.beacon_late_periods * stack.beacon_period_ms);
    let timeline = {
        let s = s.clone();
        async move {
            tokio::time::sleep_until(s.phase_start(1)).await;
            tracing::info!(secs = down.as_secs_f64(), "beacon down");
            faults.set_down(true);
            tokio::time::sleep(down).await;
            faults.set_down(false);
            tokio::time::sleep_until(s.phase_start(2)).await;
            tracing::info!("beacon forging");
            faults.set_forged(true);
            tokio::time::sleep_until(s.phase_start(3)).await;
            faults.set_forged(false);
            tracing::info!(late_ms = late.as_millis() as u64, "beacon late");
            faults.set_lag(late);
            tokio::time::sleep_until(s.phase_start(4)).await;
            faults.set_lag(Duration::ZERO);
        }
    };
    let (recorder, ()) = tokio::join!(e2e_flows(args, ctx, s, "FB"), timeline);
    let phases = recorder.report();
    let throughput = overall_throughput(&phases);
    let mut r = report("fault-beacon", OPERATION, load(args), phases, throughput);
    no_errors(&mut r);
    r.extra = serde_json::json!({
        "down_secs": down.as_secs_f64(),
        "late_periods": args.beacon_late_periods,
        "draw_calls_repeated": ctx.draws_repeated.load(Ordering::Relaxed),
    });
    r
}
