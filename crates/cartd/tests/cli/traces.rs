//! Traces end to end: `cartd serve` exports its spans over OTLP (HTTP/protobuf, and gRPC) to a
//! real receiver in this test, which decodes them with the OTLP protobuf types. The request span
//! continues the caller's `traceparent`, the store commit is its child, the relay's publish is
//! exported too, the event carries the request span's context, and every JSON log line of the
//! request carries the trace id.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{Value, json};

use crate::harness::{Server, guest, temp_db};

type Received = Arc<Mutex<Vec<Span>>>;

/// Keeps every span of an export request.
fn keep(received: &Received, request: ExportTraceServiceRequest) {
    let spans = request
        .resource_spans
        .into_iter()
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans);
    received.lock().expect("spans").extend(spans);
}

async fn export(State(received): State<Received>, body: Bytes) -> axum::http::StatusCode {
    match ExportTraceServiceRequest::decode(body) {
        Ok(request) => {
            keep(&received, request);
            axum::http::StatusCode::OK
        }
        Err(_) => axum::http::StatusCode::BAD_REQUEST,
    }
}

/// An OTLP/HTTP receiver: `POST /v1/traces` with protobuf bodies.
async fn receiver() -> (Received, String) {
    let received = Received::default();
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(export))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (received, format!("http://{address}"))
}

/// An OTLP/gRPC receiver: the collector's `TraceService`.
async fn grpc_receiver() -> (Received, String) {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
        TraceService, TraceServiceServer,
    };

    struct Collector(Received);

    #[tonic::async_trait]
    impl TraceService for Collector {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            keep(&self.0, request.into_inner());
            Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
        }
    }

    let received = Received::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let service = TraceServiceServer::new(Collector(received.clone()));
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    (received, format!("http://{address}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| {
            kv.value.as_ref().and_then(|v| v.value.as_ref()).map(|v| {
                use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
                match v {
                    V::StringValue(s) => s.clone(),
                    V::IntValue(i) => i.to_string(),
                    other => format!("{other:?}"),
                }
            })
        })
}

/// Waits for the request span (`POST /v1/cart/…`) and the store commit of `trace` among
/// `received`.
async fn request_and_commit(received: &Received, trace: &str) -> (Span, Span) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let spans = received.lock().expect("spans").clone();
        let in_trace = |name: &str| {
            spans
                .iter()
                .find(|s| hex(&s.trace_id) == trace && s.name.starts_with(name))
                .cloned()
        };
        if let (Some(request), Some(commit)) =
            (in_trace("POST /v1/cart/"), in_trace("store.commit"))
        {
            return (request, commit);
        }
        assert!(
            Instant::now() < deadline,
            "spans never arrived: {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn spans_also_reach_an_otlp_grpc_receiver() {
    let (received, endpoint) = grpc_receiver().await;
    let (_dir, db) = temp_db();
    let server = Server::start(
        &db,
        &[
            ("CARTD_OTEL_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let added = reqwest::Client::new()
        .post(format!("{}/v1/cart/{}/items", server.base, guest(6)))
        .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"))
        .json(&json!({"product_id": "book-001-pb", "quantity": 1}))
        .send()
        .await
        .expect("add");
    assert_eq!(added.status(), 201);
    let (request, commit) = request_and_commit(&received, trace).await;
    assert_eq!(hex(&request.parent_span_id), "b7ad6b7169203331");
    assert_eq!(commit.trace_id, request.trace_id);
}

#[tokio::test]
async fn spans_reach_an_otlp_receiver_with_their_parents_and_the_trace_reaches_events_and_logs() {
    let (received, endpoint) = receiver().await;
    let (dir, db) = temp_db();
    let log_path = dir.path().join("cartd.log");
    let server = Server::start_logging_to(
        &db,
        &[
            ("CARTD_OTEL_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("CARTD_LOG_FORMAT", "json"),
            ("CARTD_LOG", "debug,hyper=info,h2=info,reqwest=info"),
        ],
        std::fs::File::create(&log_path).expect("log").into(),
    )
    .await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let key = guest(5);
    let added = reqwest::Client::new()
        .post(format!("{}/v1/cart/{key}/items", server.base))
        .header("traceparent", format!("00-{trace}-{caller_span}-01"))
        .header("x-request-id", "traced-request")
        .json(&json!({"product_id": "book-001-pb", "quantity": 1}))
        .send()
        .await
        .expect("add");
    assert_eq!(added.status(), 201);

    // The spans arrive: the request under the caller's span, the commit under the request.
    let (request, commit) = request_and_commit(&received, trace).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let publish = loop {
        let spans = received.lock().expect("spans").clone();
        if let Some(publish) = spans.iter().find(|s| s.name == "publish") {
            break publish.clone();
        }
        assert!(Instant::now() < deadline, "no publish span");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(request.name, "POST /v1/cart/{cartKey}/items");
    assert_eq!(
        hex(&request.parent_span_id),
        caller_span,
        "continues the caller's trace"
    );
    assert_eq!(
        attribute(&request, "http.response.status_code").as_deref(),
        Some("201")
    );
    let hashed = attribute(&request, "cart.key_hash").expect("the cart key, hashed");
    assert_eq!(hashed.len(), 16);
    assert!(
        !hashed.contains(&key)
            && !request
                .attributes
                .iter()
                .any(|kv| format!("{kv:?}").contains(&key))
    );
    // The commit is a descendant of the request span.
    let spans = received.lock().expect("spans").clone();
    let mut parent = commit.parent_span_id.clone();
    let mut ancestors = Vec::new();
    while let Some(span) = spans.iter().find(|s| s.span_id == parent) {
        ancestors.push(span.name.clone());
        if span.span_id == request.span_id {
            break;
        }
        parent = span.parent_span_id.clone();
    }
    assert_eq!(
        ancestors.last(),
        Some(&request.name),
        "store.commit under the request: {ancestors:?}"
    );
    assert_eq!(attribute(&publish, "sink").as_deref(), Some("file"));

    // The event carries the request span's context.
    let events = dir.path().join("cartd.events.ndjson");
    let deadline = Instant::now() + Duration::from_secs(10);
    let event: Value = loop {
        let text = std::fs::read_to_string(&events).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains(&key)) {
            break serde_json::from_str(line).expect("an event");
        }
        assert!(Instant::now() < deadline, "no event for the cart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let traceparent = event["traceparent"].as_str().expect("a traceparent");
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts[1], trace);
    assert_ne!(
        parts[2], caller_span,
        "the event names cartd's span, not the caller's"
    );
    assert!(
        spans.iter().any(|s| hex(&s.span_id) == parts[2]),
        "a span cartd exported"
    );

    // Every log line of the request carries the trace id.
    server.terminate();
    let log = std::fs::read_to_string(&log_path).expect("log");
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["span"]["request_id"] == "traced-request")
        .collect();
    let mentions: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("traced-request"))
        .collect();
    assert!(!lines.is_empty(), "{mentions:?}");
    assert!(
        lines.iter().all(|l| l["span"]["trace_id"] == trace),
        "{lines:?}"
    );
}
