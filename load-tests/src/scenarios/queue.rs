//! `queue`: clerks read their office's work queue while writers register
//! vehicles (e2e flows) into those same offices.
//!
//! A read is the first page (50) of the office's open queue, oldest first:
//! ListApplications for VERIFIED, PLATE_ASSIGNED and FEE_PAID, as a clerk of
//! that office (a token of its own per reader). Readers run closed loop,
//! `--readers` of them; writers follow `--mode`.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::time::Instant;
use vrs_kit::token::Role;
use vrs_proto::pb::registration::v1 as pb;

use crate::cli::{Args, Scenario};
use crate::client::Caller;
use crate::driver::{Failure, Load, Phase, Sample, Schedule};
use crate::flows::Ctx;
use crate::report::{ScenarioReport, Target};

use super::{drain, e2e_flows, load, report};

pub async fn run(args: &Args, ctx: &Arc<Ctx>) -> anyhow::Result<ScenarioReport> {
    // The offices the writers are about to fill, busiest first.
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for &i in ctx.vehicles.upcoming(5_000) {
        *counts
            .entry(ctx.world.vehicles[i].declared.locality_code.as_str())
            .or_default() += 1;
    }
    let mut offices: Vec<(&str, usize)> = counts.into_iter().collect();
    offices.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let offices: Vec<String> = offices.iter().map(|(l, _)| format!("PC-{l}")).collect();
    anyhow::ensure!(!offices.is_empty(), "the data set has no vehicles left");
    let readers = args.readers.max(1);
    let mut clerks = Vec::new();
    for i in 0..readers {
        let office = offices[i % offices.len()].clone();
        let clerk = ctx
            .pool
            .staff(&format!("clerk-load-{i:03}"), Role::Clerk, Some(&office))?;
        clerks.push((office, clerk));
    }
    let clerks = Arc::new(clerks);

    let secs = args.duration_for(Scenario::Queue);
    let writers = Schedule::new(
        load(args),
        args.warmup,
        vec![Phase::new("writers", secs, args.rate_for(Scenario::Queue))],
    );
    // The same clock, closed loop: one phase per reader pool.
    let mut readers_schedule = writers.clone();
    readers_schedule.load = Load::Closed { concurrency: readers };
    readers_schedule.phases[0].name = "readers".into();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let reads = {
        let (ctx, clerks) = (ctx.clone(), clerks.clone());
        crate::driver::drive(readers_schedule, args.max_in_flight, drain(args), move || {
            let (ctx, clerks, next) = (ctx.clone(), clerks.clone(), next.clone());
            async move {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % clerks.len();
                let (office, clerk) = &clerks[k];
                read_queue(&ctx, office, clerk).await
            }
        })
    };
    let (writes, reads) = tokio::join!(e2e_flows(args, ctx, writers, "Q"), reads);
    let mut phases = writes.report();
    phases.extend(reads.report());
    let read_throughput = phases.get(1).map_or(0.0, |p| p.throughput_per_s);
    let write_throughput = phases.first().map_or(0.0, |p| p.throughput_per_s);
    let read_p99 = phases
        .get(1)
        .and_then(|p| p.latency_ms.get("list"))
        .map_or(0.0, |l| l.p99);
    let mut r = report(
        "queue",
        "readers: one ListApplications (first page of an office's open queue); writers: one registration",
        load(args),
        phases,
        read_throughput,
    );
    r.targets
        .push(Target::below("queue read p99 under write load", 250.0, read_p99, "ms"));
    r.extra = serde_json::json!({
        "reads_per_s": read_throughput,
        "writes_per_s": write_throughput,
        "readers": readers,
        "offices": offices.iter().take(readers).collect::<Vec<_>>(),
    });
    Ok(r)
}

async fn read_queue(ctx: &Ctx, office: &str, clerk: &Caller) -> Result<Sample, Failure> {
    let t = Instant::now();
    let req = pb::ListApplicationsRequest {
        office_code: office.to_owned(),
        states: vec![
            pb::ApplicationState::Verified as i32,
            pb::ApplicationState::PlateAssigned as i32,
            pb::ApplicationState::FeePaid as i32,
        ],
        page_size: 50,
        page_token: String::new(),
        with_counts: false,
    };
    ctx.pool
        .call(clerk, |mut c| {
            let r = req.clone();
            async move { c.list_applications(r).await }
        })
        .await
        .map_err(|e| Failure::status("list", &e))?;
    let mut s = Sample::default();
    s.step("list", t.elapsed());
    Ok(s)
}
