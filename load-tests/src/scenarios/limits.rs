//! `limits`: the rate limits under load, over every replica.
//!
//! 1. `one-caller`: one clerk calls ListApplications as fast as
//!    `--concurrency` workers (at most 64) can, round robin over the
//!    replicas. What is admitted must be the configured `--limit-rps`, shared
//!    by the replicas, not replicas × it.
//! 2. `honest`: `--readers` workers read as 200 clerks (each well under its
//!    rate), closed loop, alone;
//! 3. `honest+flood`: the same beside a flood of tokens with a bad signature
//!    from another address (127.0.0.2, `--concurrency` workers, at most 64).
//!    Once that address's `bad_credentials_rps` is spent its calls are refused
//!    before any signature is checked, so the honest callers' throughput falls
//!    by at most [`SLOWDOWN_GOAL`] (on this machine the flood's own client
//!    shares the two cores with the service: that is in the figure).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::time::Instant;
use vrs_kit::token::{Bearer, Role};
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::registration_service_client::RegistrationServiceClient;

use crate::cli::{Args, Scenario};
use crate::client::Caller;
use crate::driver::{Failure, Load, Phase, Sample, Schedule};
use crate::flows::Ctx;
use crate::report::{ScenarioReport, Target};
use crate::stack::{ISSUER, Stack};

use super::{drain, report};

/// Honest throughput with the flood over without it, at least 1 / this.
pub const SLOWDOWN_GOAL: f64 = 2.0;

/// The office every clerk of this scenario belongs to.
const OFFICE: &str = "PC-60";

fn list_request() -> pb::ListApplicationsRequest {
    pb::ListApplicationsRequest {
        office_code: OFFICE.into(),
        page_size: 20,
        ..Default::default()
    }
}

async fn list(ctx: &Ctx, clerk: &Caller) -> Result<Sample, Failure> {
    let t = Instant::now();
    ctx.pool
        .call(clerk, |mut c| async move { c.list_applications(list_request()).await })
        .await
        .map_err(|e| Failure::status("list", &e))?;
    let mut s = Sample::default();
    s.step("list", t.elapsed());
    Ok(s)
}

pub async fn run(args: &Args, stack: &mut Stack, ctx: &Arc<Ctx>) -> anyhow::Result<ScenarioReport> {
    let secs = args.duration.unwrap_or(20.0);
    let workers = args.concurrency.clamp(1, 64);
    let replicas = ctx.pool.replicas();

    // 1. One caller over every replica.
    let one = Arc::new(ctx.pool.staff("clerk-limits-one", Role::Clerk, Some(OFFICE))?);
    let schedule = Schedule::new(
        Load::Closed { concurrency: workers },
        args.warmup,
        vec![Phase::new("one-caller", secs, 0.0)],
    );
    let rec = {
        let (ctx, one) = (ctx.clone(), one.clone());
        crate::driver::drive(schedule, args.max_in_flight, drain(args), move || {
            let (ctx, one) = (ctx.clone(), one.clone());
            async move { list(&ctx, &one).await }
        })
        .await
    };
    let mut phases = rec.report();
    let admitted = phases.first().map_or(0.0, |p| p.throughput_per_s);

    // 2 and 3. Honest clerks alone, then beside the flood.
    let clerks: Vec<Caller> = (0..200)
        .map(|i| {
            ctx.pool
                .staff(&format!("clerk-limits-{i:03}"), Role::Clerk, Some(OFFICE))
        })
        .collect::<anyhow::Result<_>>()?;
    let clerks = Arc::new(clerks);
    let honest = |name: &str| {
        let schedule = Schedule::new(
            Load::Closed {
                concurrency: args.readers.max(1),
            },
            args.warmup,
            vec![Phase::new(name, secs, 0.0)],
        );
        let (ctx, clerks) = (ctx.clone(), clerks.clone());
        let next = Arc::new(AtomicUsize::new(0));
        crate::driver::drive(schedule, args.max_in_flight, drain(args), move || {
            let (ctx, clerks, next) = (ctx.clone(), clerks.clone(), next.clone());
            async move {
                let k = next.fetch_add(1, Ordering::Relaxed) % clerks.len();
                list(&ctx, &clerks[k]).await
            }
        })
    };
    phases.extend(honest("honest").await.report());

    // The intruder: a token shaped right, signed by a key of its own, from another address.
    let forger = ed25519_dalek::SigningKey::from_bytes(&[0x5a; 32]);
    let bad = Bearer::new(&vrs_kit::token::mint(
        &forger,
        ISSUER,
        "intruder",
        &[Role::Supervisor],
        None,
        3_600,
    ))?;
    let trust = stack.pki.trust_only();
    let mut flood_clients = Vec::new();
    for r in &stack.replicas {
        let channel = trust
            .endpoint(&format!("http://{}", r.addr))?
            .local_address(Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))))
            .connect()
            .await?;
        flood_clients.push(RegistrationServiceClient::with_interceptor(channel, bad.clone()));
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let refused = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for w in 0..workers {
        let mut client = flood_clients[w % flood_clients.len()].clone();
        let (stop, refused) = (stop.clone(), refused.clone());
        flood.push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                if client.list_applications(list_request()).await.is_err() {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let flood_started = Instant::now();
    let with_flood = honest("honest+flood").await.report();
    stop.cancel();
    for f in flood {
        let _ = f.await;
    }
    let flood_rate = refused.load(Ordering::Relaxed) as f64 / flood_started.elapsed().as_secs_f64();
    phases.extend(with_flood);

    let throughput = |k: usize| phases.get(k).map_or(0.0, |p| p.throughput_per_s);
    let p99 = |k: usize| {
        phases
            .get(k)
            .and_then(|p| p.latency_ms.get("list"))
            .map_or(0.0, |l| l.p99)
    };
    let (alone, flooded) = (throughput(1), throughput(2));
    let slowdown = if flooded > 0.0 { alone / flooded } else { f64::INFINITY };
    let mut r = report(
        Scenario::Limits.name(),
        "one ListApplications as a clerk (page of 20)",
        Load::Closed { concurrency: workers },
        phases.clone(),
        admitted,
    );
    r.targets.push(Target::below(
        "one caller over all replicas: admitted rate / configured rate",
        1.2,
        admitted / args.limit_rps,
        "×",
    ));
    r.targets.push(Target::below(
        "honest clerks' throughput alone / beside a bad-token flood",
        SLOWDOWN_GOAL,
        slowdown,
        "×",
    ));
    r.extra = serde_json::json!({
        "limit_rps": args.limit_rps,
        "replicas": replicas,
        "per_replica_limits_would_admit_rps": args.limit_rps * replicas as f64,
        "one_caller_admitted_rps": admitted,
        "honest_alone_per_s": alone,
        "honest_with_flood_per_s": flooded,
        "honest_p99_ms_alone": p99(1),
        "honest_p99_ms_with_flood": p99(2),
        "flood_calls_refused_per_s": flood_rate,
        "slowdown": slowdown,
    });
    r.notes.push(format!(
        "one caller: {admitted:.1} calls/s admitted over {replicas} replica(s) for a configured {} /s \
         (per-replica limits would admit {:.0} /s); honest clerks {alone:.0} /s alone, {flooded:.0} /s \
         beside {flood_rate:.0} refused bad-token calls/s (p99 {:.1} → {:.1} ms)",
        args.limit_rps,
        args.limit_rps * replicas as f64,
        p99(1),
        p99(2),
    ));
    Ok(r)
}
