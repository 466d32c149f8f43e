//! Traces and metrics, exported to memory: one submission is one trace from
//! the portal's call through registration to every agency it looked up, and
//! on to the portal webhook; the RED and lookup metrics count it.
//!
//! Its own test binary: the in-memory pipeline must be installed before
//! anything creates an instrument, and only one subscriber fits a process.

#[allow(unused_imports, unused_macros)]
#[path = "api/helpers.rs"]
mod helpers;

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::trace::SpanData;
use vrs_kit::world::Case;

use helpers::{Backend, spawn_app_with};

const SUBMIT: &str = "vrs.registration.v1.RegistrationService/SubmitApplication";

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// The chain of span names from `span` up to the root of its trace (as far as exported).
fn ancestry(span: &SpanData, by_id: &HashMap<SpanId, &SpanData>) -> Vec<String> {
    let mut names = vec![span.name.to_string()];
    let mut parent = span.parent_span_id;
    while let Some(p) = by_id.get(&parent) {
        names.push(p.name.to_string());
        parent = p.parent_span_id;
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_submission_is_one_trace_across_registration_agencies_and_portal() {
    let (telemetry, spans, metrics) = vrs_kit::telemetry::init_in_memory("registration-test");
    let portal = portal_standin::Portal::start().await.expect("portal stand-in");
    let url = portal.url();
    let app = spawn_app_with(Backend::Sqlite, |cfg| {
        cfg.portal.url = url;
        cfg.portal.poll_interval_ms = 20;
    })
    .await;

    // The portal traces its own call: we continue its trace, not start ours.
    let portal_trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("trace id");
    let portal_span = SpanId::from_hex("00f067aa0ba902b7").expect("span id");
    let req = app.sample(Case::Clean, 0, "T01.000001");
    let owner_id = vrs_proto::pb::registration::v1::Owner::id(req.owner.as_ref().expect("owner")).to_owned();
    let mut request = helpers::for_owner(req.clone(), &req.owner);
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{portal_trace}-{portal_span}-01").parse().expect("header"),
    );
    let submitted = app
        .client
        .clone()
        .submit_application(request)
        .await
        .expect("submitted")
        .into_inner();
    // A bad request, to see an error counted and its status on its span.
    let mut bad = app.sample(Case::Clean, 1, "T01.000002");
    bad.dossier_code = "not a dossier code".into();
    let refused = app.submit(bad).await.expect_err("refused");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);

    // Wait for the webhook deliveries of the submission's events.
    let dossier = submitted.dossier_code.clone();
    for _ in 0..200 {
        if portal.events_of(&dossier).len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        portal.events_of(&dossier).len() >= 2,
        "the portal got SUBMITTED and VERIFIED"
    );
    telemetry.flush();

    let all = spans.get_finished_spans().expect("spans");
    let trace: Vec<&SpanData> = all
        .iter()
        .filter(|s| s.span_context.trace_id() == portal_trace)
        .collect();
    let by_id: HashMap<SpanId, &SpanData> = trace.iter().map(|s| (s.span_context.span_id(), *s)).collect();
    let server = |service: &str| -> Vec<&SpanData> {
        trace
            .iter()
            .copied()
            .filter(|s| s.span_kind == SpanKind::Server && attr(s, "rpc.service").as_deref() == Some(service))
            .collect()
    };

    // Registration continued the portal's trace: its span's parent is the portal's span.
    let submit = server("vrs.registration.v1.RegistrationService");
    assert_eq!(submit.len(), 1, "one registration span in the trace: {trace:#?}");
    assert_eq!(submit[0].parent_span_id, portal_span);
    assert!(submit[0].parent_span_is_remote);
    assert_eq!(attr(submit[0], "rpc.method").as_deref(), Some("SubmitApplication"));
    assert_eq!(attr(submit[0], "rpc.grpc.status_code").as_deref(), Some("0"));

    // Each agency served its lookup in the same trace, under our client span, under the submit.
    let origin = if server("vrs.customs.v1.CustomsService").is_empty() {
        "vrs.register.v1.VehicleRegisterService"
    } else {
        "vrs.customs.v1.CustomsService"
    };
    for service in ["vrs.identity.v1.IdentityService", "vrs.tax.v1.TaxService", origin] {
        let spans = server(service);
        assert!(!spans.is_empty(), "{service} is in the trace: {trace:#?}");
        for s in spans {
            assert!(s.parent_span_is_remote, "{service}'s span continues a remote parent");
            let chain = ancestry(s, &by_id);
            assert!(chain[1].ends_with(" lookup"), "{service}: {chain:?}");
            assert_eq!(
                chain.last().map(String::as_str),
                Some(SUBMIT),
                "{service} reaches the submit: {chain:?}"
            );
            assert!(chain.len() >= 3);
        }
    }

    // The database writes of the step are in it too.
    let insert = trace
        .iter()
        .find(|s| s.name == "INSERT application")
        .expect("the insert's span");
    assert_eq!(attr(insert, "db.system").as_deref(), Some("sqlite"));
    assert_eq!(ancestry(insert, &by_id).last().map(String::as_str), Some(SUBMIT));

    // The webhook deliveries, done later by the outbox worker, are in the same trace.
    let deliveries: Vec<&SpanData> = trace.iter().copied().filter(|s| s.name == "portal.deliver").collect();
    assert!(
        deliveries.len() >= 2,
        "SUBMITTED and VERIFIED delivered in the trace: {trace:#?}"
    );
    for d in &deliveries {
        assert_eq!(d.span_kind, SpanKind::Client);
        // Under the database write that queued the event, under the submit.
        let chain = ancestry(d, &by_id);
        assert!(
            chain[1].starts_with("INSERT ") || chain[1].starts_with("UPDATE "),
            "{chain:?}"
        );
        assert_eq!(chain.last().map(String::as_str), Some(SUBMIT), "{chain:?}");
    }
    // And the portal got our trace context with each event.
    let traceparents = portal.with_seen(|seen| seen.traceparents.clone());
    assert!(
        traceparents
            .iter()
            .filter(|tp| tp.contains(&portal_trace.to_string()))
            .count()
            >= 2,
        "webhook requests carry the trace: {traceparents:?}"
    );

    // No span anywhere carries the owner's personal ID.
    for s in &all {
        for kv in &s.attributes {
            assert!(
                !kv.value.to_string().contains(&owner_id),
                "span {} leaks personal data",
                s.name
            );
        }
    }

    // The refused call: its own trace, its status on the span and in the metrics.
    let refused_span = all
        .iter()
        .find(|s| s.span_kind == SpanKind::Server && attr(s, "rpc.grpc.status_code").as_deref() == Some("3"))
        .expect("the refused call's span");
    assert_ne!(refused_span.span_context.trace_id(), portal_trace);

    let exported = metrics.get_finished_metrics().expect("metrics");
    let mut calls: HashMap<(String, String), u64> = HashMap::new();
    let mut lookups: HashMap<(String, String), u64> = HashMap::new();
    let mut gauges = Vec::new();
    for rm in &exported {
        for sm in rm.scope_metrics() {
            for m in sm.metrics() {
                let key = |attrs: Vec<&opentelemetry::KeyValue>, a: &str, b: &str| {
                    let get = |k: &str| {
                        attrs
                            .iter()
                            .find(|kv| kv.key.as_str() == k)
                            .map(|kv| kv.value.to_string())
                            .unwrap_or_default()
                    };
                    (get(a), get(b))
                };
                match (m.name(), m.data()) {
                    ("rpc.server.call.duration", AggregatedMetrics::F64(MetricData::Histogram(h))) => {
                        for p in h.data_points() {
                            let k = key(p.attributes().collect(), "rpc.method", "rpc.grpc.status_code");
                            *calls.entry(k).or_default() = p.count();
                        }
                    }
                    ("vrs.agency.lookups", AggregatedMetrics::U64(MetricData::Sum(sum))) => {
                        for p in sum.data_points() {
                            let k = key(p.attributes().collect(), "agency", "outcome");
                            *lookups.entry(k).or_default() = p.value();
                        }
                    }
                    (name, _) => gauges.push(name.to_owned()),
                }
            }
        }
    }
    let count = |m: &str, c: &str| calls.get(&(m.to_owned(), c.to_owned())).copied().unwrap_or(0);
    assert_eq!(count("SubmitApplication", "0"), 1, "{calls:?}");
    assert_eq!(count("SubmitApplication", "3"), 1, "{calls:?}");
    for agency in ["identity", "tax"] {
        assert_eq!(
            lookups.get(&(agency.to_owned(), "answered".to_owned())).copied(),
            Some(1),
            "{lookups:?}"
        );
    }
    for gauge in ["vrs.agency.breaker.open", "vrs.log.size", "vrs.outbox.pending"] {
        assert!(gauges.iter().any(|g| g == gauge), "{gauge} exported: {gauges:?}");
    }
}
