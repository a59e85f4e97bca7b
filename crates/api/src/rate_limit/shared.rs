//! Budgets kept in Redis (`CARTD_RATE_LIMIT_STORE`), shared by every replica.
//!
//! Each bucket is one key holding its GCRA "theoretical arrival time" (`gcra.lua`), under the
//! store's hash tag (`{prefix}:ratelimit:<kind>:<id>`), so the buckets of one request sit in
//! one Redis Cluster slot and one script call tests and charges all of them at once. A key
//! expires when its bucket is full again, so Redis holds active clients only.
//!
//! Redis being down or slow must not take the carts down with it: the limiter then lets
//! requests through (fails open), counts `cartd_rate_limit_store_errors_total` and logs once
//! when it starts failing and once when it recovers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Bucket, Quota};

/// The GCRA script (see the file).
const GCRA: &str = include_str!("gcra.lua");

/// Token buckets in Redis.
pub struct SharedRateLimit {
    conn: ConnectionManager,
    script: redis::Script,
    prefix: String,
    timeout: Duration,
    /// Microseconds between two requests at the sustained rate.
    interval_micros: u64,
    /// Microseconds of credit a full bucket holds (`interval × burst`).
    window_micros: u64,
    /// Whether the last call failed, so failures are logged on change, not per request.
    failing: AtomicBool,
}

/// Why the shared limiter could not start.
#[derive(Debug, thiserror::Error)]
pub enum SharedRateLimitError {
    /// The URL is not one the Redis client accepts.
    #[error("bad Redis URL: {0}")]
    Url(String),
    /// Redis did not answer at start.
    #[error("cannot reach Redis: {0}")]
    Unreachable(String),
}

impl SharedRateLimit {
    /// Connects to `url` (Redis must answer now, so a wrong URL fails at start, not silently
    /// later). Keys go under `{prefix}:ratelimit:`; each call waits at most `timeout`.
    pub async fn connect(
        url: &str,
        prefix: &str,
        timeout: Duration,
        quota: Quota,
    ) -> Result<Self, SharedRateLimitError> {
        let client =
            redis::Client::open(url).map_err(|e| SharedRateLimitError::Url(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let conn =
            tokio::time::timeout(timeout, ConnectionManager::new_with_config(client, config))
                .await
                .map_err(|_| SharedRateLimitError::Unreachable("no answer in time".into()))?
                .map_err(|e| SharedRateLimitError::Unreachable(e.to_string()))?;
        metrics::counter!("cartd_rate_limit_store_errors_total").increment(0);
        let interval_micros = (1_000_000 / u64::from(quota.rate.get())).max(1);
        Ok(Self {
            conn,
            script: redis::Script::new(GCRA),
            prefix: format!("{{{prefix}}}:ratelimit:"),
            timeout,
            interval_micros,
            window_micros: interval_micros * u64::from(quota.burst.get()),
            failing: AtomicBool::new(false),
        })
    }

    /// Charges one request to every bucket, all or nothing, or says how long until all of
    /// them have room. Fails open (see the module documentation).
    pub async fn check(&self, buckets: &[Bucket]) -> Result<(), Duration> {
        let mut invocation = self.script.prepare_invoke();
        for bucket in buckets {
            invocation.key(format!("{}{}", self.prefix, bucket.key()));
        }
        invocation.arg(self.interval_micros).arg(self.window_micros);
        let mut conn = self.conn.clone();
        let answer = tokio::time::timeout(self.timeout, invocation.invoke_async::<u64>(&mut conn))
            .await
            .map_err(|_| "Redis did not answer in time".to_owned())
            .and_then(|answer| answer.map_err(|e| e.to_string()));
        match answer {
            Ok(wait_micros) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("shared rate limits are back: Redis answers again");
                }
                match wait_micros {
                    0 => Ok(()),
                    micros => Err(Duration::from_micros(micros)),
                }
            }
            Err(error) => {
                metrics::counter!("cartd_rate_limit_store_errors_total").increment(1);
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "shared rate limits unavailable; letting requests through until Redis answers");
                }
                Ok(())
            }
        }
    }
}
