//! The one place that sets up logs, traces and metrics.
//!
//! **Logs.** `RUST_LOG` filters (default `info`, with HTTP/2 internals
//! quietened); `VRS_LOG_FORMAT=json` switches to JSON lines for production.
//! Every line logged inside a request carries that request's `trace_id`.
//! Personal identifiers never go into fields: callers log application ids and
//! dossier codes, not people.
//!
//! **Traces.** Spans are always given OpenTelemetry ids and W3C trace context is
//! always propagated ([`propagation`]): a portal that traces its calls sees our
//! part of the trace, and our logs name the trace, whether or not we export.
//! Export is off by default and switched on by the standard variables: an
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`), or
//! `OTEL_TRACES_EXPORTER=otlp`; OTLP over gRPC, configured further by the
//! exporter's own `OTEL_EXPORTER_OTLP_*` variables. `OTEL_SDK_DISABLED=true`
//! and `OTEL_TRACES_EXPORTER=none` turn it off again.
//!
//! **Metrics.** The same for metrics (`OTEL_METRICS_EXPORTER`,
//! `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, `OTEL_METRIC_EXPORT_INTERVAL`). Without an
//! exporter the instruments are no-ops and cost nothing.
//!
//! `OTEL_SERVICE_NAME` overrides the service name each binary passes in.

pub mod propagation;

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer as _};

const DEFAULT_FILTER: &str = "info,h2=warn,hyper=warn,tower=warn,sqlx=warn,sea_orm=warn";

/// Keeps the trace and metric pipelines alive; dropping it flushes what is
/// buffered (the last spans of a process that is shutting down).
#[must_use = "dropping the guard shuts telemetry down"]
#[derive(Default)]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Exports whatever is buffered now (tests read exporters after this).
    pub fn flush(&self) {
        if let Some(t) = &self.tracer {
            let _ = t.force_flush();
        }
        if let Some(m) = &self.meter {
            let _ = m.force_flush();
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(t) = self.tracer.take() {
            let _ = t.shutdown();
        }
        if let Some(m) = self.meter.take() {
            let _ = m.shutdown();
        }
    }
}

/// Initialises logs, traces and metrics for the process once; later calls
/// return an empty guard.
pub fn init(service: &str) -> Telemetry {
    let name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| service.to_owned());
    if let Ok(p) = std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL")
        && !p.trim().is_empty()
        && p.trim() != "grpc"
    {
        eprintln!("OTEL_EXPORTER_OTLP_PROTOCOL={p} is not supported: exporting OTLP over gRPC (port 4317)");
    }
    let tracer_exporter = match otlp_wanted("TRACES") {
        true => match opentelemetry_otlp::SpanExporter::builder().with_tonic().build() {
            Ok(exporter) => Some(exporter),
            Err(e) => {
                eprintln!("OTLP trace export disabled: {e}");
                None
            }
        },
        false => None,
    };
    let meter = match otlp_wanted("METRICS") {
        true => match opentelemetry_otlp::MetricExporter::builder().with_tonic().build() {
            Ok(exporter) => Some(SdkMeterProvider::builder().with_periodic_exporter(exporter)),
            Err(e) => {
                eprintln!("OTLP metric export disabled: {e}");
                None
            }
        },
        false => None,
    };
    let tracer = SdkTracerProvider::builder().with_resource(resource(&name));
    let tracer = match tracer_exporter {
        Some(exporter) => tracer.with_batch_exporter(exporter),
        None => tracer,
    };
    install(
        &name,
        tracer.build(),
        meter.map(|m| m.with_resource(resource(&name)).build()),
        true,
    )
}

/// For tests: logs only when `TEST_LOG` is set; no export.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        std::mem::forget(init("test"));
    }
}

/// For tests that assert on telemetry: every span and metric goes to memory.
/// Call it before anything records a metric (instruments bind to the
/// provider installed when they are created).
#[cfg(feature = "testing")]
pub fn init_in_memory(
    service: &str,
) -> (
    Telemetry,
    opentelemetry_sdk::trace::InMemorySpanExporter,
    opentelemetry_sdk::metrics::InMemoryMetricExporter,
) {
    let spans = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let metrics = opentelemetry_sdk::metrics::InMemoryMetricExporter::default();
    let tracer = SdkTracerProvider::builder()
        .with_resource(resource(service))
        .with_simple_exporter(spans.clone())
        .build();
    let meter = SdkMeterProvider::builder()
        .with_resource(resource(service))
        .with_reader(opentelemetry_sdk::metrics::PeriodicReader::builder(metrics.clone()).build())
        .build();
    let logs = std::env::var_os("TEST_LOG").is_some();
    (install(service, tracer, Some(meter), logs), spans, metrics)
}

fn resource(service: &str) -> Resource {
    Resource::builder().with_service_name(service.to_owned()).build()
}

/// Whether OTLP export of `signal` (`TRACES` or `METRICS`) is asked for.
fn otlp_wanted(signal: &str) -> bool {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return false;
    }
    match var(&format!("OTEL_{signal}_EXPORTER")) {
        Some(v) if v.eq_ignore_ascii_case("none") => false,
        Some(v) if v.eq_ignore_ascii_case("otlp") => true,
        _ => {
            var("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
                || var(&format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")).is_some()
        }
    }
}

fn install(service: &str, tracer: SdkTracerProvider, meter: Option<SdkMeterProvider>, logs: bool) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let json = std::env::var("VRS_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let fmt = if json {
        fmt.json().flatten_event(true).boxed()
    } else {
        fmt.boxed()
    };
    let otel = tracing_opentelemetry::layer().with_tracer(tracer.tracer("vrs"));
    let res = tracing_subscriber::registry()
        .with(logs.then_some(fmt))
        .with(filter)
        .with(otel)
        .try_init();
    if res.is_err() {
        // Someone else's subscriber is in place (a second `init` in one process).
        return Telemetry::default();
    }
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(tracer.clone());
    if let Some(m) = &meter {
        opentelemetry::global::set_meter_provider(m.clone());
    }
    tracing::debug!(service, "telemetry initialised");
    Telemetry {
        tracer: Some(tracer),
        meter,
    }
}

/// The meter every part of the system records with.
pub fn meter() -> opentelemetry::metrics::Meter {
    opentelemetry::global::meter("vrs")
}
