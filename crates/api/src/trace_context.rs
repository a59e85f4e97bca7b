//! Trace context: the request's span (continuing an incoming W3C `traceparent`), and the
//! `traceparent` its events carry.
//!
//! With traces on (`CARTD_OTEL_ENDPOINT`), the request span is an OpenTelemetry span whose
//! parent is the incoming `traceparent`, and events carry the request span's own context, so a
//! consumer's span hangs under cartd's. With traces off, the incoming `traceparent` is passed on
//! unchanged. The header is checked by hand either way: one fixed-width line, four hex fields.

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderMap;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt as _;
use sha2::{Digest, Sha256};
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The `traceparent` to put on events written now: the current span's (traces on), else the
/// request's own, if it is a well-formed W3C trace context (version `00`, a non-zero trace id
/// and span id); anything else is ignored, as the specification asks.
pub fn traceparent(headers: &HeaderMap) -> Option<String> {
    current().or_else(|| headers.get("traceparent").and_then(parse))
}

/// The current span's context as a `traceparent`, when it is a sampled or unsampled
/// OpenTelemetry span (traces on).
pub fn current() -> Option<String> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags().to_u8()
        )
    })
}

/// Reads a header map as OpenTelemetry's propagator asks.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The span of one request: route, method, status (recorded by the metrics middleware), the
/// cart key hashed (a user id is personal data, so neither it nor the raw path is recorded; the
/// hash still groups one cart's requests),
/// the request id, and the trace id every log line of the request then carries.
pub fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let headers = request.headers();
    let request_id = crate::extract::request_id(headers);
    let path = request.uri().path();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(path, |p| p.as_str());
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{} {route}", request.method()),
        otel.kind = "server",
        method = %request.method(),
        http.route = route,
        http.response.status_code = Empty,
        cart.key_hash = Empty,
        request_id = %request_id,
        trace_id = Empty,
    );
    if let Some(key) = path
        .strip_prefix("/v1/cart/")
        .and_then(|rest| rest.split('/').next())
        .filter(|key| !key.is_empty())
    {
        let digest = Sha256::digest(key.as_bytes());
        let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        span.record("cart.key_hash", short);
    }
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&Headers(headers))
    });
    // Without the OpenTelemetry layer (traces off) this does nothing.
    let _ = span.set_parent(parent);
    let trace_id = {
        let context = span.context();
        let own = context.span().span_context().clone();
        if own.is_valid() {
            Some(own.trace_id().to_string())
        } else {
            headers
                .get("traceparent")
                .and_then(parse)
                .and_then(|value| value.split('-').nth(1).map(str::to_owned))
        }
    };
    if let Some(trace_id) = trace_id {
        span.record("trace_id", trace_id);
    }
    span
}

/// A `traceparent` value, normalised, if it is a valid one.
pub fn parse(value: &axum::http::HeaderValue) -> Option<String> {
    let value = value.to_str().ok()?.trim();
    is_valid(value).then(|| value.to_ascii_lowercase())
}

fn is_valid(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let [version, trace_id, span_id, flags] = parts.as_slice() else {
        return false;
    };
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    *version == "00"
        && hex(trace_id, 32)
        && !zero(trace_id)
        && hex(span_id, 16)
        && !zero(span_id)
        && hex(flags, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", value.parse().expect("header value"));
        headers
    }

    #[test]
    fn a_well_formed_traceparent_is_kept() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(traceparent(&headers(value)).as_deref(), Some(value));
    }

    #[test]
    fn malformed_or_zero_traceparents_are_ignored() {
        for value in [
            "",
            "garbage",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
        ] {
            assert_eq!(traceparent(&headers(value)), None, "{value:?}");
        }
        assert_eq!(traceparent(&HeaderMap::new()), None);
    }
}
