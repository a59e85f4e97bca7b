//! The order worker: takes paid orders from the store's fulfilment queue, hands each to the
//! fulfilment endpoint, and records the outcome (fulfilled; retried after a backoff with
//! jitter; or, after the last attempt, a dead letter). It runs inside `serve` by default and on
//! its own as `cartd worker`.
//!
//! At least once: an order is taken for a lease and counted as an attempt before the call, so a
//! worker killed mid-call leaves it to be taken again when the lease ends; the call carries
//! `Idempotency-Key: <order id>` so the endpoint fulfils it once.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cart_core::CartService;
use cart_core::order::Order;
use cart_core::use_cases::Fulfiller;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;

use crate::config::OrderArgs;

/// Orders taken per pass.
const BATCH: usize = 32;

/// The header carrying a fulfilment call's signature (the webhook's format).
pub const SIGNATURE_HEADER: &str = "cartd-signature";

/// Fulfilment over HTTP: the order POSTed as JSON to `CARTD_FULFILMENT_URL`.
pub struct HttpFulfiller {
    client: reqwest::Client,
    url: String,
    secret: Option<SecretString>,
}

impl HttpFulfiller {
    /// A client for `url`, calls signed with `secret` and bounded by `timeout`.
    pub fn new(
        url: String,
        secret: Option<SecretString>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .context("the fulfilment HTTP client")?;
        Ok(Self {
            client,
            url,
            secret,
        })
    }
}

#[async_trait::async_trait]
impl Fulfiller for HttpFulfiller {
    async fn fulfil(&self, order: &Order) -> Result<(), String> {
        let body = serde_json::to_vec(&cart_api::order_dto::OrderView::new(order, false))
            .map_err(|e| e.to_string())?;
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("idempotency-key", order.id.to_string());
        if let Some(secret) = &self.secret {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let signature = cart_api::payments::sign(secret.expose_secret().as_bytes(), now, &body);
            request = request.header(SIGNATURE_HEADER, signature);
        }
        let response = request.body(body).send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(format!(
            "the fulfilment endpoint answered {status}: {}",
            text.chars().take(200).collect::<String>()
        ))
    }
}

/// Fulfilment when no endpoint is configured: every paid order is fulfilled at once.
pub struct Immediate;

#[async_trait::async_trait]
impl Fulfiller for Immediate {
    async fn fulfil(&self, _order: &Order) -> Result<(), String> {
        Ok(())
    }
}

/// The fulfiller the settings name.
pub fn fulfiller(args: &OrderArgs) -> anyhow::Result<Arc<dyn Fulfiller>> {
    Ok(match &args.fulfilment_url {
        Some(url) => Arc::new(HttpFulfiller::new(
            url.clone(),
            args.payment_webhook_secret.clone(),
            args.fulfilment_timeout,
        )?),
        None => Arc::new(Immediate),
    })
}

/// The pause after the `attempts`-th failed attempt: `base` doubled per further attempt, at
/// most `max`, drawn from its upper half so workers that failed together do not retry
/// together.
pub fn backoff(attempts: u32, base: Duration, max: Duration) -> Duration {
    let doubled = base.saturating_mul(1 << attempts.saturating_sub(1).min(20));
    let ceiling = doubled.min(max);
    let half = ceiling / 2;
    half + half.mul_f64(fastrand::f64())
}

/// Runs the worker until `stop` turns true.
pub async fn run(
    service: Arc<CartService>,
    fulfiller: Arc<dyn Fulfiller>,
    args: OrderArgs,
    mut stop: watch::Receiver<bool>,
) {
    let lease = time::Duration::try_from(args.worker_lease).unwrap_or(time::Duration::minutes(1));
    let (base, max) = (args.worker_backoff, args.worker_backoff_max);
    let pause = move |attempts: u32| {
        time::Duration::try_from(backoff(attempts, base, max)).unwrap_or(time::Duration::SECOND)
    };
    tracing::info!(
        fulfilment = args.fulfilment_url.as_deref().unwrap_or("immediate"),
        "the order worker runs in this process"
    );
    loop {
        let busy = match service
            .fulfil_due(fulfiller.as_ref(), BATCH, lease, &pause)
            .await
        {
            Ok(pass) => {
                metrics::counter!("cartd_orders_fulfilled_total").increment(pass.fulfilled as u64);
                metrics::counter!("cartd_order_fulfilment_retries_total")
                    .increment(pass.retried as u64);
                metrics::counter!("cartd_orders_dead_lettered_total").increment(pass.failed as u64);
                if pass.failed > 0 {
                    tracing::error!(
                        orders = pass.failed,
                        "orders failed their last fulfilment attempt: see /v1/admin/dead-letters"
                    );
                }
                if pass.retried > 0 {
                    tracing::warn!(orders = pass.retried, "fulfilment failed; will retry");
                }
                pass.fulfilled + pass.retried + pass.failed > 0
            }
            Err(e) => {
                tracing::warn!(error = %e, "the order worker's pass failed; will retry");
                false
            }
        };
        if busy {
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(args.worker_poll) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_its_base_stays_under_its_cap_and_is_jittered() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..100 {
            let first = backoff(1, base, max);
            assert!(
                (Duration::from_millis(500)..=base).contains(&first),
                "{first:?}"
            );
            let third = backoff(3, base, max);
            assert!((Duration::from_secs(2)..=Duration::from_secs(4)).contains(&third));
            let late = backoff(40, base, max);
            assert!((Duration::from_secs(30)..=max).contains(&late));
        }
    }
}
