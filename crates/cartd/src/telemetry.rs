//! Traces over OTLP: `tracing` spans (a request, the store commit, a catalog call, a publish, a
//! worker step) exported to an OpenTelemetry Collector, Jaeger, or AWS X-Ray through the
//! collector. On when `CARTD_OTEL_ENDPOINT` (or the standard `OTEL_EXPORTER_OTLP_ENDPOINT` /
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; the other standard variables are honoured by
//! the SDK: `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, the default, or `grpc`),
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME` (default `cartd`),
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, and the batch
//! processor's `OTEL_BSP_*`.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;

/// The crates whose spans are exported (dependencies' own spans stay out of the traces).
const TRACED: [&str; 5] = [
    "cartd",
    "cart_api",
    "cart_core",
    "cart_store",
    "cart_events",
];

/// How spans are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Grpc,
    HttpProtobuf,
}

fn protocol() -> Result<Protocol, String> {
    let (name, value) = [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ]
    .iter()
    .find_map(|name| std::env::var(name).ok().map(|value| (*name, value)))
    .unwrap_or(("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()));
    match value.as_str() {
        "grpc" => Ok(Protocol::Grpc),
        "http/protobuf" => Ok(Protocol::HttpProtobuf),
        other => Err(format!(
            "{name}: `{other}` is not supported (grpc or http/protobuf)"
        )),
    }
}

/// The exporting tracer provider, when traces are configured: `endpoint` is
/// `CARTD_OTEL_ENDPOINT`, the collector's base URL (`http://collector:4318` for HTTP, where
/// `/v1/traces` is added, or `http://collector:4317` for gRPC).
pub fn provider(endpoint: Option<&str>) -> Result<Option<SdkTracerProvider>, String> {
    let from_env = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some());
    if endpoint.is_none() && !from_env {
        return Ok(None);
    }
    let protocol = protocol()?;
    let exporter = match protocol {
        Protocol::HttpProtobuf => {
            let mut builder = opentelemetry_otlp::SpanExporter::builder().with_http();
            if let Some(base) = endpoint {
                builder =
                    builder.with_endpoint(format!("{}/v1/traces", base.trim_end_matches('/')));
            }
            builder.build()
        }
        Protocol::Grpc => {
            let mut builder = opentelemetry_otlp::SpanExporter::builder().with_tonic();
            if let Some(base) = endpoint {
                builder = builder.with_endpoint(base.to_owned());
            }
            builder.build()
        }
    }
    .map_err(|e| format!("CARTD_OTEL_ENDPOINT: {e}"))?;
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("cartd");
    }
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build(),
    ))
}

/// The `tracing` layer exporting cartd's own spans through `provider`.
pub fn layer<S>(provider: &SdkTracerProvider) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let targets = TRACED.iter().fold(Targets::new(), |targets, name| {
        targets.with_target(*name, tracing::Level::INFO)
    });
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("cartd"))
        .with_filter(targets)
}
