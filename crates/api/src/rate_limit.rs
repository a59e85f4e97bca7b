//! Per-client request rate limits (`CARTD_RATE_LIMIT`), off by default.
//!
//! Each client IP (the TCP peer; `X-Forwarded-For` is not trusted) has a token bucket of
//! `burst` requests refilled at `rate` per second. Over the limit a request is refused with
//! `429 RATE_LIMITED` and `Retry-After`. Limits are per replica: behind N replicas a client gets
//! up to N times the rate. Health, readiness and metrics are never limited, so probes and
//! scrapers keep working under attack.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::problem::{ApiError, Code};
use crate::state::AppState;

/// Token buckets keyed by client IP.
pub struct RateLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl RateLimit {
    /// `rate` requests per second per client, with bursts of up to `burst`.
    pub fn new(rate: NonZeroU32, burst: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from `client`'s bucket, or says how long until one is available.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets clients whose buckets are full again, so memory follows active clients only.
    pub fn forget_idle_clients(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

fn exempt(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/metrics")
}

/// Middleware: refuses requests over the client's rate.
pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    if let (Some(limit), Some(client)) = (&state.rate_limit, client)
        && !exempt(request.uri().path())
        && let Err(wait) = limit.check(client)
    {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut response = ApiError::new(Code::RateLimited, "too many requests; retry later")
            .with_details(serde_json::json!({"retry_after_seconds": seconds}))
            .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return response;
    }
    next.run(request).await
}
