//! OTLP export for real: the `identity` binary, told by the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` where a collector is, sends it the span of a
//! call that continues the caller's trace, and flushes it on SIGTERM.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Command, Stdio};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tokio::sync::mpsc;
use vrs_proto::pb::identity::v1 as pb;

/// A collector that hands every export to the test.
struct Collector(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn free_addr() -> SocketAddr {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_collector_named_by_the_standard_variables() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let collector = listener.local_addr().expect("addr");
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(tx)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let addr = free_addr();
    let mut child = Command::new(env!("CARGO_BIN_EXE_identity"))
        .env("VRS_IDENTITY__LISTEN", addr.to_string())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}"))
        .env("OTEL_SERVICE_NAME", "identity-under-test")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("identity starts");

    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let parent = "b7ad6b7169203331";
    let mut client = None;
    for _ in 0..100 {
        if let Ok(c) = pb::identity_service_client::IdentityServiceClient::connect(format!("http://{addr}")).await {
            client = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut client = client.expect("identity answers");
    let mut request = tonic::Request::new(pb::GetCitizenRequest {
        personal_id: "001099000001".into(),
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{parent}-01").parse().expect("header"),
    );
    client.get_citizen(request).await.expect("answered");
    drop(client);

    // SIGTERM: the process drains, and its telemetry guard flushes on the way out.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(exit.success(), "identity exits 0 on SIGTERM: {exit:?}");

    let mut found = None;
    while let Ok(Some(export)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        for rs in export.resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| v.value.clone());
            for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                if hex::encode(&span.trace_id) == trace_id {
                    found = Some((service.clone(), span));
                }
            }
        }
        if found.is_some() {
            break;
        }
    }
    let (service, span) = found.expect("the call's span reached the collector");
    assert_eq!(service, Some(Value::StringValue("identity-under-test".into())));
    assert_eq!(
        hex::encode(&span.parent_span_id),
        parent,
        "it continues the caller's span"
    );
    assert_eq!(span.name, "vrs.identity.v1.IdentityService/GetCitizen");
}
