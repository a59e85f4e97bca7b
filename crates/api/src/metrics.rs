//! Prometheus metrics: a process-wide recorder and the middleware that counts every request.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::Counter;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds: 250 µs to 5 s.
const BUCKETS: &[f64] = &[
    0.000_25, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Buckets for histograms that count carts (names ending in `_carts`, such as the PostgreSQL
/// store's carts per group-commit statement): 1 to 1,000.
const CARTS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1000.0];

/// Buckets for amounts of money in minor units (names ending in `_minor_units`, such as the
/// value of checkouts): 1.00 to 10,000.00 in a two-decimal currency.
const MONEY: &[f64] = &[
    100.0,
    500.0,
    1_000.0,
    2_500.0,
    5_000.0,
    10_000.0,
    25_000.0,
    50_000.0,
    100_000.0,
    1_000_000.0,
];

/// Installs the global recorder on first use and returns its handle (later calls share it, so
/// tests may build many routers in one process).
pub fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_carts".into()), CARTS))
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_minor_units".into()), MONEY)
                })
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding application's); then
            // this handle renders only what it recorded, which is nothing, and that is honest.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Middleware: counts requests by method, route and status, times them, and counts successful
/// cart writes.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status();
    tracing::Span::current().record("http.response.status_code", status.as_u16());
    let labels = [
        ("method", method.to_string()),
        ("route", route.clone()),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!(
        "http_request_duration_seconds",
        "method" => method.to_string(),
        "route" => route.clone(),
    )
    .record(started.elapsed().as_secs_f64());
    if route.starts_with("/v1/cart/") && method != Method::GET && status.is_success() {
        cart_writes(&method, &route).increment(1);
    }
    response
}

/// The `cartd_cart_writes_total` counter of a method and route, registered on first use and
/// kept: registering builds two owned label strings and looks the key up in the registry,
/// which every successful cart write paid only to find the same counter again.
fn cart_writes(method: &Method, route: &str) -> Counter {
    type ByRoute = HashMap<Box<str>, Counter>;
    static COUNTERS: OnceLock<Mutex<HashMap<Method, ByRoute>>> = OnceLock::new();
    let mut counters = COUNTERS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let by_route = counters.entry(method.clone()).or_default();
    if let Some(counter) = by_route.get(route) {
        return counter.clone();
    }
    let counter = metrics::counter!(
        "cartd_cart_writes_total",
        "method" => method.to_string(),
        "route" => route.to_owned()
    );
    by_route.insert(route.into(), counter.clone());
    counter
}
