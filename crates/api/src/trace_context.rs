//! The W3C Trace Context `traceparent` header, carried from a request onto its events.
//!
//! Parsed by hand: the format is one fixed-width line, and the OpenTelemetry crates would add a
//! large dependency tree to check four hex fields.

use axum::http::HeaderMap;

/// The request's `traceparent`, if it is a well-formed W3C trace context (version `00`, a
/// non-zero trace id and span id); anything else is ignored, as the specification asks.
pub fn traceparent(headers: &HeaderMap) -> Option<String> {
    headers.get("traceparent").and_then(parse)
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
