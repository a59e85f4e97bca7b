//! Gauges nothing else updates as it works, sampled every few seconds by `serve`: whether the
//! store answers, its connection pool, and the age of the identity provider's keys. (The outbox, the relay and the
//! catalog breaker set their own gauges as they change.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use cart_api::identity::jwks::JwksCache;
use cart_core::CartService;
use cart_store::Backend;

/// How often the gauges are sampled: well under a scrape interval.
const EVERY: Duration = Duration::from_secs(5);

/// How long the store may take to answer the sampler's ping before it counts as down.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// Samples until told to stop.
pub async fn sample(
    service: Arc<CartService>,
    backend: Backend,
    jwks: Option<Arc<JwksCache>>,
    mut stop: watch::Receiver<bool>,
) {
    let started = Instant::now();
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        let store_up = matches!(
            tokio::time::timeout(STORE_TIMEOUT, service.check_store()).await,
            Ok(Ok(()))
        );
        metrics::gauge!("cartd_store_up").set(if store_up { 1.0 } else { 0.0 });
        if let Some(pool) = backend.pool_stats() {
            metrics::gauge!("cartd_store_pool_connections", "state" => "in_use")
                .set(f64::from(pool.in_use));
            metrics::gauge!("cartd_store_pool_connections", "state" => "idle")
                .set(f64::from(pool.idle));
            metrics::gauge!("cartd_store_pool_max").set(f64::from(pool.max));
            metrics::gauge!("cartd_store_commits_waiting").set(f64::from(pool.commits_waiting));
        }
        if let Some(jwks) = &jwks {
            // Never fetched counts from the start: keys that never came are as stale as that.
            let age = jwks.age().await.unwrap_or_else(|| started.elapsed());
            metrics::gauge!("cartd_jwks_age_seconds").set(age.as_secs_f64());
        }
    }
}
