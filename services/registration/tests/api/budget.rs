//! The statement budget: complete registrations, run concurrently, cost at
//! most [`STATEMENTS`] SQL statements and [`WRITE_TRANSACTIONS`] write
//! transactions each, amortised (DESIGN §7; BENCHMARKS.md shows why round trips
//! and commits, not CPU, bound the hot path).
//!
//! Counted in the store's connection layer, so it is a count, not a timing:
//! it does not change with the machine's load. Background passes that find
//! nothing to do are not free, so the test runs them at their production
//! intervals and the budget pays for them too.

use std::collections::HashSet;
use std::time::Duration;

use portal_standin::Portal;
use registration::domain::workflow::Ordering;
use registration::store::stats::Counts;
use vrs_proto::pb::registration::v1 as pb;

use crate::helpers::{Backend, both_databases, dossier, for_owner, pass_physical_check, spawn_app_with};

both_databases!(complete_registrations_stay_within_the_statement_budget);

/// Registrations run at once.
const CONCURRENT: usize = 64;
/// Statements per complete registration, amortised (issue 11's budget).
const STATEMENTS: f64 = 12.0;
/// Write transactions (commits) per complete registration, amortised.
const WRITE_TRANSACTIONS: f64 = 3.0;

/// Runs `f` for every item at once and waits for all.
async fn all<T, F, R>(items: &[T], f: impl Fn(T) -> F) -> Vec<R>
where
    T: Clone,
    F: std::future::Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    let tasks: Vec<_> = items.iter().cloned().map(|t| tokio::spawn(f(t))).collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("join"));
    }
    out
}

async fn complete_registrations_stay_within_the_statement_budget(backend: Backend) {
    let portal = Portal::start().await.expect("portal stand-in");
    let app = spawn_app_with(backend, |cfg| {
        cfg.workflow.ordering = Ordering::DrawFirst;
        cfg.portal.url = portal.url();
        cfg.database.max_connections = 16;
        // Background passes at their production intervals: they are paid for too.
        let production = registration::config::Config::default();
        cfg.worker.poll_interval_ms = production.worker.poll_interval_ms;
        cfg.draw.resolver_poll_ms = production.draw.resolver_poll_ms;
        cfg.draw.resolver_idle_ms = production.draw.resolver_idle_ms;
        cfg.portal.poll_interval_ms = production.portal.poll_interval_ms;
        // One clerk acts on all 64 at once: the per-caller limit is not under test.
        cfg.auth.staff_rps = 100_000.0;
        cfg.auth.portal_rps = 100_000.0;
    })
    .await;
    let cars: Vec<usize> = app.clean_cars_in("Hà Nội").take(CONCURRENT).collect();
    assert_eq!(cars.len(), CONCURRENT, "enough clean cars in Hà Nội");
    let requests: Vec<pb::SubmitApplicationRequest> = cars
        .iter()
        .enumerate()
        .map(|(i, &index)| {
            let mut req = vrs_kit::samples::submit_request(&app.world, index, &dossier("B", i));
            req.office_code = "PC-30".into();
            req
        })
        .collect();
    let store = app.registry.store().clone();
    let mut steps: Vec<(&str, Counts)> = Vec::new();
    let mut last = store.stats();
    let mut mark = |name: &'static str, steps: &mut Vec<(&str, Counts)>| {
        let now = store.stats();
        steps.push((name, now - last));
        last = now;
    };

    let client = app.client.clone();
    let submitted = all(&requests, |req| {
        let mut c = client.clone();
        async move {
            c.submit_application(for_owner(req.clone(), &req.owner))
                .await
                .expect("submit")
                .into_inner()
        }
    })
    .await;
    mark("submit + lookups", &mut steps);
    let verified: Vec<pb::Application> = submitted
        .into_iter()
        .filter(|a| a.state() == pb::ApplicationState::Verified)
        .collect();
    assert_eq!(verified.len(), CONCURRENT, "every clean car verifies");

    let drawn = all(&verified, |a| {
        let mut c = client.clone();
        async move {
            c.draw_plate(for_owner(
                pb::DrawPlateRequest {
                    application_id: a.application_id.clone(),
                },
                &a.owner,
            ))
            .await
            .expect("draw")
            .into_inner()
        }
    })
    .await;
    mark("draw (commit, round, receipt)", &mut steps);
    let plates: HashSet<&str> = drawn.iter().map(|d| d.plate.as_str()).collect();
    assert_eq!(plates.len(), CONCURRENT, "every draw answered with its own plate");

    let paid = all(&verified, |a| {
        let mut c = client.clone();
        async move {
            c.confirm_payment(pb::ConfirmPaymentRequest {
                application_id: a.application_id.clone(),
                payment_reference: format!("PAY-{}", &a.application_id[..8]),
                amount_vnd: a.fee_due_vnd,
            })
            .await
            .expect("pay")
            .into_inner()
        }
    })
    .await;
    mark("pay", &mut steps);

    let clerk = app.clerk(&verified[0]);
    all(&paid, |a| {
        let clerk = clerk.clone();
        async move { pass_physical_check(&clerk, &a).await }
    })
    .await;
    mark("physical check (where required)", &mut steps);

    all(&paid, |a| {
        let mut clerk = clerk.clone();
        async move {
            clerk
                .approve_application(pb::ApproveApplicationRequest {
                    application_id: a.application_id.clone(),
                    note: String::new(),
                })
                .await
                .expect("approve")
        }
    })
    .await;
    mark("approve", &mut steps);

    let issued = all(&paid, |a| {
        let mut clerk = clerk.clone();
        async move {
            clerk
                .issue_certificate(pb::IssueCertificateRequest {
                    application_id: a.application_id.clone(),
                })
                .await
                .expect("issue")
                .into_inner()
        }
    })
    .await;
    mark("issue certificate", &mut steps);
    assert!(issued.iter().all(|a| a.state() == pb::ApplicationState::Issued));

    // Every status change reaches the portal; waiting reads the stand-in, not the database.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !issued.iter().all(|a| portal.check_history(a).is_ok()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "portal events not delivered in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    mark("deliver the rest to the portal", &mut steps);

    let n = CONCURRENT as f64;
    let total = steps.iter().fold(Counts::default(), |acc, (_, c)| Counts {
        select: acc.select + c.select,
        insert: acc.insert + c.insert,
        update: acc.update + c.update,
        delete: acc.delete + c.delete,
        other: acc.other + c.other,
        write_transactions: acc.write_transactions + c.write_transactions,
    });
    let mut report = format!(
        "statement budget, {CONCURRENT} registrations at once (per registration):\n{:<34} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
        "step", "stmts", "select", "insert", "update", "other", "commits"
    );
    for (name, c) in steps.iter().chain(std::iter::once(&("total", total))) {
        report.push_str(&format!(
            "{:<34} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}\n",
            name,
            c.statements() as f64 / n,
            c.select as f64 / n,
            c.insert as f64 / n,
            c.update as f64 / n,
            (c.other + c.delete) as f64 / n,
            c.write_transactions as f64 / n,
        ));
    }
    // Printed to stderr so CI's log shows the figures whether the test passes or not.
    eprintln!("{report}");
    let statements = total.statements() as f64 / n;
    let commits = total.write_transactions as f64 / n;
    assert!(
        statements <= STATEMENTS && commits <= WRITE_TRANSACTIONS,
        "over budget: {statements:.2} statements (≤ {STATEMENTS}) and {commits:.2} write transactions \
         (≤ {WRITE_TRANSACTIONS}) per registration\n{report}"
    );
}
