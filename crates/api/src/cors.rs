//! CORS for browsers calling cartd from a shop's own origin (`CARTD_CORS_ORIGINS`), off by
//! default (a storefront served from the same origin, or a backend-for-frontend, needs none).
//!
//! Credentials (cookies, HTTP authentication) are never allowed: cartd reads bearer tokens from
//! `Authorization`, which a page sends explicitly, so there is nothing for a browser to attach
//! on its own, and `*` can never be combined with credentials by mistake. Preflights are
//! answered before rate limits and load shedding, so a browser learns what it may send even from
//! a busy replica.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::writes::REPLAYED;

/// How long a browser may reuse a preflight's answer.
const MAX_AGE: Duration = Duration::from_secs(600);

/// Which origins may call cartd from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin (`*`).
    Any,
    /// These origins exactly (`https://shop.example`).
    List(Vec<HeaderValue>),
}

/// A `CARTD_CORS_ORIGINS` value that is not `*` or a list of `scheme://host[:port]` origins.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an origin (scheme://host[:port], no path) or `*`")]
pub struct BadOrigin(pub String);

impl CorsOrigins {
    /// Parses `*` or a comma-separated list of origins.
    pub fn parse(raw: &str) -> Result<Self, BadOrigin> {
        if raw.trim() == "*" {
            return Ok(Self::Any);
        }
        let mut origins = Vec::new();
        for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let (scheme, rest) = origin
                .split_once("://")
                .ok_or_else(|| BadOrigin(origin.to_owned()))?;
            let well_formed = matches!(scheme, "http" | "https")
                && !rest.is_empty()
                && !rest.contains(['/', '?', '#', '*', ' ']);
            let value = HeaderValue::from_str(origin).ok().filter(|_| well_formed);
            origins.push(value.ok_or_else(|| BadOrigin(origin.to_owned()))?);
        }
        if origins.is_empty() {
            return Err(BadOrigin(raw.to_owned()));
        }
        Ok(Self::List(origins))
    }

    /// The layer answering preflights and marking responses for these origins.
    pub fn layer(&self) -> CorsLayer {
        let origin = match self {
            Self::Any => AllowOrigin::any(),
            Self::List(origins) => AllowOrigin::list(origins.clone()),
        };
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                header::IF_NONE_MATCH,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("traceparent"),
                HeaderName::from_static("tracestate"),
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([
                header::ETAG,
                header::LOCATION,
                header::RETRY_AFTER,
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static(REPLAYED),
            ])
            .max_age(MAX_AGE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_a_star_or_exact_origins() {
        assert_eq!(CorsOrigins::parse("*"), Ok(CorsOrigins::Any));
        assert_eq!(
            CorsOrigins::parse("https://shop.example, http://localhost:3000"),
            Ok(CorsOrigins::List(vec![
                HeaderValue::from_static("https://shop.example"),
                HeaderValue::from_static("http://localhost:3000"),
            ]))
        );
        for bad in [
            "",
            "shop.example",
            "https://shop.example/",
            "ftp://x",
            "https://*.shop.example",
            "*, https://a.example",
        ] {
            assert!(CorsOrigins::parse(bad).is_err(), "{bad}");
        }
    }
}
