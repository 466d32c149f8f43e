//! W3C trace context across every hop, and the per-RPC (RED) metrics.
//!
//! - [`ServerLayer`] wraps every gRPC server: it continues the caller's trace
//!   from the `traceparent` header, opens one server span per call, and
//!   records the call's duration and status code.
//! - [`Propagating`] wraps every gRPC client channel: it writes the current
//!   span's context into the request headers, so the server's span is a child
//!   of ours (the same trace across processes).
//! - [`inject`], [`traceparent`] and [`continue_from`] do the same for HTTP
//!   (the portal webhook) and for work that outlives its request (an outbox
//!   row keeps the `traceparent` of the step that wrote it).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::KeyValue;
use opentelemetry::metrics::Histogram;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt as _;
use tracing::Instrument as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(key), HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}

/// The trace context carried by `headers` (empty if none).
pub fn extract(headers: &HeaderMap) -> opentelemetry::Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// Writes the current span's trace context into `headers`.
pub fn inject(headers: &mut HeaderMap) {
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut HeaderInjector(headers)));
}

/// The current span's `traceparent`, to store with work done later.
pub fn traceparent() -> Option<String> {
    let mut headers = HeaderMap::new();
    inject(&mut headers);
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Makes `span` part of the trace a stored `traceparent` names.
pub fn continue_from(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(tp) = traceparent.and_then(|t| HeaderValue::from_str(t).ok()) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", tp);
    let _ = span.set_parent(extract(&headers));
}

/// The trace id of `span`, for log lines and error messages.
pub fn trace_id(span: &tracing::Span) -> String {
    span.context().span().span_context().trace_id().to_string()
}

/// Tower layer for gRPC servers: one span per call, continuing the caller's
/// trace, and `rpc.server.call.duration` by service, method and status code.
#[derive(Clone)]
pub struct ServerLayer {
    duration: Histogram<f64>,
    /// The server's own bound on a call: a call dropped after it was cut off
    /// (DEADLINE_EXCEEDED), one dropped sooner was cancelled by its client.
    timeout: std::time::Duration,
}

impl ServerLayer {
    /// Instruments bind to the meter provider installed now: build it after
    /// [`super::init`]. `timeout` is the server's bound on a call.
    pub fn new(timeout: std::time::Duration) -> Self {
        let duration = super::meter()
            .f64_histogram("rpc.server.call.duration")
            .with_unit("s")
            .with_description("Duration of gRPC calls served, by service, method and status code (RED)")
            .with_boundaries(vec![
                0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
            .build();
        ServerLayer { duration, timeout }
    }
}

impl<S> tower::Layer<S> for ServerLayer {
    type Service = Traced<S>;

    fn layer(&self, inner: S) -> Traced<S> {
        Traced {
            inner,
            duration: self.duration.clone(),
            timeout: self.timeout,
        }
    }
}

/// A gRPC server service wrapped by [`ServerLayer`].
#[derive(Clone)]
pub struct Traced<S> {
    inner: S,
    duration: Histogram<f64>,
    timeout: std::time::Duration,
}

/// Records a call's duration and status once: when it answers, or when it is
/// dropped unanswered (tonic's timeout and a client's cancel both drop it).
struct Recording {
    duration: Histogram<f64>,
    timeout: std::time::Duration,
    started: Instant,
    service: String,
    method: String,
    span: tracing::Span,
    done: bool,
}

impl Recording {
    fn finish(&mut self, code: i64) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.span.record("rpc.grpc.status_code", code);
        if code != 0 {
            self.span.record("otel.status_code", "ERROR");
        }
        // Paths of no service we serve are one series, not one per path a
        // stranger sends (the API accepts clients without certificates).
        let unknown = code == tonic::Code::Unimplemented as i64;
        let (service, method) = if unknown {
            ("unknown".to_owned(), "unknown".to_owned())
        } else {
            (std::mem::take(&mut self.service), std::mem::take(&mut self.method))
        };
        self.duration.record(
            self.started.elapsed().as_secs_f64(),
            &[
                KeyValue::new("rpc.system", "grpc"),
                KeyValue::new("rpc.service", service),
                KeyValue::new("rpc.method", method),
                KeyValue::new("rpc.grpc.status_code", code),
            ],
        );
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        let code = if self.started.elapsed() >= self.timeout {
            tonic::Code::DeadlineExceeded
        } else {
            tonic::Code::Cancelled
        };
        self.finish(code as i64);
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, RB> tower::Service<http::Request<B>> for Traced<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    RB: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let path = req.uri().path();
        let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
        let (service, method) = (service.to_owned(), method.to_owned());
        // Health probes every few seconds would bury the traces that matter;
        // they are still counted.
        let probe = service.starts_with("grpc.health") || service.starts_with("grpc.reflection");
        let span = if probe {
            tracing::Span::none()
        } else {
            let span = tracing::info_span!(
                "grpc.server",
                otel.name = format!("{service}/{method}"),
                otel.kind = "server",
                otel.status_code = Empty,
                rpc.system = "grpc",
                rpc.service = %service,
                rpc.method = %method,
                rpc.grpc.status_code = Empty,
                trace_id = Empty,
            );
            let _ = span.set_parent(extract(req.headers()));
            span.record("trace_id", trace_id(&span));
            span
        };
        let mut recording = Recording {
            duration: self.duration.clone(),
            timeout: self.timeout,
            started: Instant::now(),
            service,
            method,
            span: span.clone(),
            done: false,
        };
        let call = self.inner.call(req);
        Box::pin(
            async move {
                let res = call.await;
                // A failed call answers with `grpc-status` in the headers
                // (trailers-only); a successful one has none there.
                let code = match &res {
                    Ok(resp) => resp
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i64>().ok())
                        .unwrap_or(0),
                    Err(_) => tonic::Code::Unknown as i64,
                };
                recording.finish(code);
                res
            }
            .instrument(span),
        )
    }
}

/// A gRPC client channel that carries the caller's trace context.
#[derive(Clone, Debug)]
pub struct Propagating<S> {
    inner: S,
}

/// Wraps a channel (or any gRPC client service) so its calls carry the trace.
pub fn propagating<S>(inner: S) -> Propagating<S> {
    Propagating { inner }
}

impl<S, B> tower::Service<http::Request<B>> for Propagating<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        inject(req.headers_mut());
        self.inner.call(req)
    }
}

/// A tonic channel that propagates trace context: what every client here uses.
pub type TracedChannel = Propagating<tonic::transport::Channel>;
