//! `draw-storm`: K applications for ONE pool (cars, white plates, owners in
//! TP. Hồ Chí Minh at office PC-51: `51-car-white-<series>`), submitted first,
//! then all drawn at once. The
//! figure is draws resolved per second on that pool, from the first DrawPlate
//! sent to the last answered.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::StreamExt;
use tokio::task::JoinSet;
use tokio::time::Instant;
use vrs_proto::pb::registration::v1 as pb;

use crate::cli::Args;
use crate::driver::{Failure, Load, Phase, Recorder, Sample, Schedule};
use crate::flows::Ctx;
use crate::report::{ScenarioReport, Target};

use super::report;

/// The province whose residents make the storm: the most populous. The plate's
/// province is the owner's residence, so one pool means one province's owners.
pub const PROVINCE: &str = "TP. Hồ Chí Minh";
/// The office every application of the storm is filed at: it draws from code 51.
const OFFICE: &str = "PC-51";

pub async fn run(args: &Args, ctx: &Arc<Ctx>) -> anyhow::Result<ScenarioReport> {
    // Submit K applications of one pool, as fast as `--concurrency` allows.
    let prepare_started = Instant::now();
    let prepared: Vec<Result<pb::Application, Failure>> = futures::stream::iter(0..args.draws)
        .map(|_| {
            let ctx = ctx.clone();
            async move {
                let index = ctx
                    .vehicles
                    .next_car()
                    .ok_or_else(|| Failure::new("setup", "WORLD_EXHAUSTED"))?;
                let mut req = vrs_kit::samples::submit_request(&ctx.world, index, &ctx.dossier("D"));
                req.office_code = OFFICE.into();
                ctx.submit(req, &mut Sample::default()).await
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    let prepare_secs = prepare_started.elapsed().as_secs_f64();
    let mut not_prepared = std::collections::BTreeMap::<String, u64>::new();
    let apps: Vec<pb::Application> = prepared
        .into_iter()
        .filter_map(|r| {
            r.map_err(|f| *not_prepared.entry(format!("{}:{}", f.step, f.code)).or_default() += 1)
                .ok()
        })
        .collect();
    anyhow::ensure!(
        !apps.is_empty(),
        "no application of the pool was verified: {not_prepared:?}"
    );

    // Every draw at once; each is a task, so the client side uses every core.
    let schedule = Schedule::new(Load::Open, 0.0, vec![Phase::new("draws", 3_600.0, 0.0)]);
    let recorder = Arc::new(Recorder::new(schedule));
    let t0 = recorder.schedule().start();
    let mut tasks = JoinSet::new();
    for app in apps {
        let (ctx, recorder) = (ctx.clone(), recorder.clone());
        tasks.spawn(async move {
            let mut s = Sample::default();
            let outcome = ctx.draw(&app, &mut s).await.map(|d| (s, d.plate));
            let end = Instant::now();
            let (outcome, plate) = match outcome {
                Ok((s, plate)) => (Ok(s), Some(plate)),
                Err(f) => (Err(f), None),
            };
            recorder.record(t0, end, &outcome);
            (end, plate)
        });
    }
    let mut last = t0;
    let mut series = BTreeSet::new();
    while let Some(joined) = tasks.join_next().await {
        let (end, plate) = joined?;
        last = last.max(end);
        // "51G-482.17": the pool's locality and series.
        if let Some(p) = plate.as_deref().and_then(|p| p.split('-').next()) {
            series.insert(p.to_owned());
        }
    }
    let wall = (last - t0).as_secs_f64().max(1e-3);
    let mut phases = recorder.report();
    for p in &mut phases {
        p.secs = wall;
        p.offered_rate = None;
        p.throughput_per_s = p.ok as f64 / wall;
        p.throughput_incl_drain_per_s = p.throughput_per_s;
    }
    let ok = phases.first().map_or(0, |p| p.ok);
    let throughput = ok as f64 / wall;
    let beacon_p50 = phases
        .first()
        .and_then(|p| p.latency_ms.get("beacon_wait"))
        .map_or(0.0, |l| l.p50 / 1_000.0);
    let mut r = report(
        "draw-storm",
        "one DrawPlate, all sent at once, on one pool",
        Load::Open,
        phases,
        throughput,
    );
    r.targets.push(Target::at_least(
        "draws/s resolved on one pool",
        2_000.0,
        throughput,
        "/s",
    ));
    if series.len() > 1 {
        r.notes.push(format!(
            "plates came from {} series ({series:?}): the pool's series filled up and the next opened",
            series.len()
        ));
    }
    r.extra = serde_json::json!({
        "pool_family": "51-car-white",
        "series": series,
        "drawn": ok,
        "draw_wall_secs": wall,
        "draws_per_s_excl_median_beacon_wait": ok as f64 / (wall - beacon_p50).max(1e-3),
        "prepared": args.draws as u64 - not_prepared.values().sum::<u64>(),
        "not_prepared": not_prepared,
        "prepare_secs": prepare_secs,
    });
    Ok(r)
}
