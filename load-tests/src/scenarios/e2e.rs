//! `e2e` and `burst`: end-to-end registrations, at a steady load or with the
//! 15-Aug-2023 burst in the middle.

use std::sync::Arc;

use crate::cli::{Args, LoadMode, Scenario};
use crate::driver::{Load, Phase, Schedule};
use crate::flows::Ctx;
use crate::report::{ScenarioReport, Target};

use super::{e2e_flows, load, overall_throughput, p99_excl_beacon, report};

const OPERATION: &str = "one registration: SubmitApplication (agency lookups inside, or waited for) → DrawPlate → \
                         ConfirmPayment";

/// Steady load for `--duration` seconds.
pub async fn e2e(args: &Args, ctx: &Arc<Ctx>) -> ScenarioReport {
    let secs = args.duration_for(Scenario::E2e);
    let schedule = Schedule::new(
        load(args),
        args.warmup,
        vec![Phase::new("steady", secs, args.rate_for(Scenario::E2e))],
    );
    let phases = e2e_flows(args, ctx, schedule, "E").await.report();
    let throughput = overall_throughput(&phases);
    let p99 = p99_excl_beacon(&phases);
    let mut r = report("e2e", OPERATION, load(args), phases, throughput);
    r.targets.push(Target::at_least(
        "registrations/s sustained (PostgreSQL)",
        1_100.0,
        throughput,
        "/s",
    ));
    r.targets
        .push(Target::below("p99 excluding the beacon wait", 250.0, p99, "ms"));
    r
}

/// Normal rate, then `--burst-factor` × for `--burst-secs`, then normal again.
/// Always open loop: a burst is a rate, not a number of users.
pub async fn burst(args: &Args, ctx: &Arc<Ctx>) -> ScenarioReport {
    let rate = args.rate_for(Scenario::Burst);
    let normal = args.duration_for(Scenario::Burst);
    let schedule = Schedule::new(
        Load::Open,
        args.warmup,
        vec![
            Phase::new("before", normal, rate),
            Phase::new("burst", args.burst_secs, rate * args.burst_factor),
            Phase::new("after", normal, rate),
        ],
    );
    let phases = e2e_flows(args, ctx, schedule, "B").await.report();
    let errors: u64 = phases.iter().map(|p| p.failed).sum();
    let burst = phases.get(1).map_or(0.0, |p| p.throughput_per_s);
    let p99 = p99_excl_beacon(&phases);
    let mut r = report("burst", OPERATION, Load::Open, phases, burst);
    r.targets
        .push(Target::below("errors in the burst scenario", 1.0, errors as f64, ""));
    r.targets.push(Target::below(
        "p99 excluding the beacon wait, worst phase",
        250.0,
        p99,
        "ms",
    ));
    if args.mode == LoadMode::Closed {
        r.notes
            .push("--mode closed ignored: the burst is an open-loop rate".into());
    }
    r.extra = serde_json::json!({
        "normal_rate": rate,
        "burst_rate": rate * args.burst_factor,
        "burst_secs": args.burst_secs,
    });
    r
}
