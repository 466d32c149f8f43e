//! `vrs-load`: the load generator of the vehicle registration service.
//!
//! One command gives a figure: [`run`] starts the whole system on this
//! machine ([`stack`]: agencies, beacon and portal stand-in in this process,
//! `registration` replicas as child processes on SQLite or a fresh PostgreSQL
//! database), connects a pool of mTLS channels to the replicas ([`client`]),
//! measures a **baseline** (a trivial unary RPC, the gRPC health check, over
//! the same channels at the same concurrency), runs the scenarios
//! ([`scenarios`]) with the load engine ([`driver`]: open or closed loop, HDR
//! histograms) and the citizen's steps ([`flows`]), and after each scenario
//! runs the checker ([`check`]): acknowledged applications exist, no plate
//! twice, the log audits clean, the portal got every event. The result is a
//! [`report::Report`]: JSON for machines, a Markdown table for people.
//!
//! Every scenario's throughput is also given as a ratio to the baseline
//! measured in the same run, so figures from different machines compare.

pub mod check;
pub mod cli;
pub mod client;
pub mod driver;
pub mod flows;
pub mod report;
pub mod scenarios;
pub mod stack;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use vrs_kit::world::{Params, World};

use crate::cli::{Args, Scenario};
use crate::driver::{Failure, Load, Phase, Sample, Schedule};
use crate::flows::{Ctx, Vehicles};
use crate::report::{Baseline, Report, RunConfig};
use crate::stack::{HARNESS_ENV, Stack, StackConfig};

/// Vehicles of the standard data set (`contracts/datasets/world.toml`).
const STANDARD_VEHICLES: usize = 24_000;

/// Runs what `args` asks for and reports. An error means the run could not
/// be made (a replica did not start, the database was unreachable…), not
/// that a check failed: that is in the report.
pub async fn run(args: Args) -> anyhow::Result<Report> {
    let started_at_ms = registration::now_ms();
    let replicas = args.replica_count();
    let scenarios = args.scenario.expand(replicas);
    if scenarios.contains(&Scenario::FaultDb) && args.db != "own" {
        anyhow::bail!("fault-db restarts and stalls the database: it needs one of its own, --db own");
    }
    if scenarios.contains(&Scenario::FaultKill) && replicas < 2 {
        anyhow::bail!("fault-kill needs at least two replicas: --db postgres://… (default 3) or --replicas 2");
    }
    let world_vehicles = world_size(&args, &scenarios);
    let world = tokio::task::spawn_blocking(move || build_world(world_vehicles))
        .await
        .context("generating the data set")??;
    let reserve_cars = if scenarios.contains(&Scenario::DrawStorm) {
        args.draws
    } else {
        0
    };
    let vehicles = Vehicles::new(&world, reserve_cars, scenarios::draw_storm::PROVINCE);

    let registration_bin = match &args.registration_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("registration"),
    };
    tracing::info!(
        vehicles = world_vehicles,
        replicas,
        database = %registration::store::database_url::redact(&args.db),
        "starting the stack"
    );
    // limits: the staff rate it measures (the harness otherwise lifts it).
    let mut replica_env: Vec<(String, String)> = Vec::new();
    if scenarios.contains(&Scenario::Limits) {
        replica_env.push(("VRS_REGISTRATION__AUTH__STAFF_RPS".into(), args.limit_rps.to_string()));
    }
    replica_env.extend(args.replica_env.iter().cloned());
    let mut stack = Stack::start(&StackConfig {
        db: args.db.clone(),
        replicas,
        registration_bin,
        beacon_period_ms: args.beacon_period_ms,
        replica_env: replica_env.clone(),
        world: world.clone(),
    })
    .await?;
    let (baseline, reports) = match measure(&args, &mut stack, world, vehicles, &scenarios).await {
        Ok(done) => done,
        Err(e) => {
            // Logs and database stay for a post-mortem.
            if let Some(dir) = stack.keep_dir() {
                tracing::error!(dir = %dir.display(), "run directory kept");
            }
            stack.shutdown().await;
            return Err(e);
        }
    };

    let checks_passed = reports.iter().all(|r| r.check.as_ref().is_none_or(|c| c.passed));
    let targets_met = reports.iter().all(|r| r.targets.iter().all(|t| t.met));
    let passed = checks_passed && (targets_met || !args.strict);
    let (kept_dir, kept_database) = if args.keep || !checks_passed {
        let db = stack.database_name().map(str::to_owned);
        (stack.keep_dir().map(|d| d.display().to_string()), db)
    } else {
        (None, None)
    };
    let mut run_env: Vec<(String, String)> = HARNESS_ENV
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    run_env.extend(replica_env);
    let config = RunConfig {
        database: registration::store::database_url::redact(&args.db),
        replicas,
        world_vehicles,
        replica_env: run_env,
        build: if cfg!(debug_assertions) { "debug" } else { "release" },
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        args,
    };
    // Read before the replicas are stopped: the figure dies with the process.
    let peak_rss_mib = stack.peak_rss_mib();
    stack.shutdown().await;
    Ok(Report {
        tool: "vrs-load",
        started_at_ms,
        config,
        baseline,
        scenarios: reports,
        peak_rss_mib,
        passed,
        kept_dir,
        kept_database,
    })
}

/// The baseline, then each scenario and its check.
async fn measure(
    args: &Args,
    stack: &mut Stack,
    world: Arc<World>,
    vehicles: Vehicles,
    scenarios: &[Scenario],
) -> anyhow::Result<(Baseline, Vec<report::ScenarioReport>)> {
    let pool = client::Pool::connect(stack, args.connections).await?;
    let ctx = Arc::new(Ctx::new(pool, world, vehicles));
    tracing::info!("baseline");
    let baseline = baseline(args, &ctx).await;
    let mut reports = Vec::new();
    for &scenario in scenarios {
        tracing::info!(scenario = scenario.name(), "running");
        let mut r = scenarios::run(scenario, args, stack, &ctx, baseline.throughput_per_s).await?;
        if !args.skip_check || scenario.is_fault() {
            tracing::info!(scenario = scenario.name(), "checking");
            let limit = Duration::from_secs_f64(args.drain_timeout.max(1.0));
            r.check = Some(check::run(stack, &ctx.pool, &ctx.ledger, limit).await?);
        }
        reports.push(r);
    }
    Ok((baseline, reports))
}

/// The trivial unary RPC (grpc.health.v1 Check) at `--concurrency`, closed
/// loop, over the same channels the scenarios use.
async fn baseline(args: &Args, ctx: &Arc<Ctx>) -> Baseline {
    let concurrency = args.concurrency.max(1);
    let schedule = Schedule::new(
        Load::Closed { concurrency },
        1.0,
        vec![Phase::new("baseline", args.baseline_secs, 0.0)],
    );
    let c = ctx.clone();
    let recorder = driver::drive(schedule, args.max_in_flight, Duration::from_secs(10), move || {
        let c = c.clone();
        async move {
            c.pool
                .health_check()
                .await
                .map(|()| Sample::default())
                .map_err(|e| Failure::status("check", &e))
        }
    })
    .await;
    let p = recorder.report().remove(0);
    Baseline {
        rpc: "grpc.health.v1.Health/Check",
        concurrency,
        secs: p.secs,
        throughput_per_s: p.throughput_per_s,
        errors: p.failed,
        latency_ms: p.latency_ms.get(driver::TOTAL).cloned(),
    }
}

/// Vehicles the data set needs: `--world-vehicles`, or enough for the
/// scenarios' demand (each application takes a vehicle of its own; about
/// 90 % of vehicles pass verification, 40 % of those are cars, and the draw
/// storm's must be owned in one province).
fn world_size(args: &Args, scenarios: &[Scenario]) -> usize {
    if args.world_vehicles > 0 {
        return args.world_vehicles;
    }
    let general: usize = scenarios
        .iter()
        .filter(|s| **s != Scenario::DrawStorm)
        .map(|s| args.demand(*s))
        .sum();
    let cars = if scenarios.contains(&Scenario::DrawStorm) {
        args.draws
    } else {
        0
    };
    // The storm's cars must be owned in its one province.
    let storm_share = vrs_kit::world::residence_share(scenarios::draw_storm::PROVINCE);
    let needed = ((general + cars) as f64 / 0.85).max(cars as f64 / (0.33 * storm_share));
    let rounded = (needed / 1_000.0).ceil() as usize * 1_000;
    rounded.max(STANDARD_VEHICLES)
}

/// The standard world, or a larger one with the same shares (citizens and
/// organisations scaled with the vehicles).
fn build_world(vehicles: usize) -> anyhow::Result<Arc<World>> {
    if vehicles <= STANDARD_VEHICLES {
        return Ok(World::standard());
    }
    let mut params = Params::standard()?;
    let scale = vehicles as f64 / params.counts.vehicles as f64;
    params.counts.citizens = (params.counts.citizens as f64 * scale).ceil() as usize;
    params.counts.organisations = (params.counts.organisations as f64 * scale).ceil() as usize;
    params.counts.vehicles = vehicles;
    let started = std::time::Instant::now();
    let world = World::generate(&params)?;
    tracing::info!(vehicles, secs = started.elapsed().as_secs_f64(), "data set generated");
    Ok(Arc::new(world))
}
