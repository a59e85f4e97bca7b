//! Graceful under load: a bound on the requests handled at once, a bounded queue in front of
//! it, and a time limit on each request.
//!
//! A request first takes an admission permit (there are `max_in_flight + max_queued`); none
//! left means the server is saturated, and it answers `503 OVERLOADED` with `Retry-After` at
//! once instead of queueing without bound (a client's retry lands on a server that has caught
//! up, or on another replica). An admitted request then waits for one of `max_in_flight` slots
//! and runs for at most the timeout (`503 REQUEST_TIMEOUT`; a write cut short may still have
//! committed, which an `Idempotency-Key` retry answers safely). The probes and `/metrics` are
//! never limited, so an overloaded replica still reports itself.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::problem::{ApiError, Code};
use crate::state::AppState;

/// What a shed request is told to wait before retrying.
const RETRY_AFTER_SECONDS: u64 = 1;

/// The concurrency limit, its queue and the request timeout.
pub struct LoadLimit {
    admission: Arc<Semaphore>,
    running: Arc<Semaphore>,
    max_in_flight: usize,
    max_queued: usize,
    timeout: Duration,
}

impl LoadLimit {
    /// At most `max_in_flight` requests handled at once, `max_queued` more waiting, each cut
    /// off after `timeout`.
    pub fn new(max_in_flight: usize, max_queued: usize, timeout: Duration) -> Self {
        // Present from the start, so an alert on their increase sees the first refusal.
        metrics::counter!("cartd_http_shed_total").increment(0);
        metrics::counter!("cartd_http_timeouts_total").increment(0);
        Self {
            admission: Arc::new(Semaphore::new(max_in_flight + max_queued)),
            running: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            max_queued,
            timeout,
        }
    }

    /// Requests being handled now.
    pub fn in_flight(&self) -> usize {
        self.max_in_flight - self.running.available_permits()
    }

    /// Requests admitted and waiting for a slot.
    pub fn queued(&self) -> usize {
        let admitted = self.max_in_flight + self.max_queued - self.admission.available_permits();
        admitted.saturating_sub(self.in_flight())
    }
}

fn exempt(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/metrics")
}

/// The problem, with `Retry-After` (from `retry_after_seconds`, see [`ApiError`]).
fn unavailable(code: Code, message: &str) -> Response {
    ApiError::new(code, message)
        .with_details(serde_json::json!({"retry_after_seconds": RETRY_AFTER_SECONDS}))
        .into_response()
}

/// Middleware: sheds what the server cannot take and times out what runs too long.
pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(limit) = state.load.clone() else {
        return next.run(request).await;
    };
    if exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let Ok(_admitted) = limit.admission.clone().try_acquire_owned() else {
        metrics::counter!("cartd_http_shed_total").increment(1);
        return unavailable(
            Code::Overloaded,
            "the server is at capacity; retry after a moment",
        );
    };
    let Ok(_slot) = limit.running.clone().acquire_owned().await else {
        return next.run(request).await;
    };
    match tokio::time::timeout(limit.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            metrics::counter!("cartd_http_timeouts_total").increment(1);
            unavailable(
                Code::RequestTimeout,
                "the request took longer than the server's limit; retry (with an Idempotency-Key for writes)",
            )
        }
    }
}
