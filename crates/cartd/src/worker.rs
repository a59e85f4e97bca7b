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
use cart_api::secret::RotatingSecret;
use cart_core::CartService;
use cart_core::order::Order;
use cart_core::use_cases::{ClaimAttempt, ClaimOutcome, Fulfiller};
use secrecy::ExposeSecret;
use tokio::sync::watch;

use crate::config::{OrderArgs, WorkerSource};

/// Orders taken per pass.
const BATCH: usize = 32;

/// The header carrying a fulfilment call's signature (the webhook's format).
pub const SIGNATURE_HEADER: &str = "cartd-signature";

/// Fulfilment over HTTP: the order POSTed as JSON to `CARTD_FULFILMENT_URL`.
pub struct HttpFulfiller {
    client: reqwest::Client,
    url: String,
    /// Replaced on `SIGHUP` with the webhook secret `serve` reads again.
    secret: Arc<RotatingSecret>,
}

impl HttpFulfiller {
    /// A client for `url`, calls signed with `secret` and bounded by `timeout`.
    pub fn new(
        url: String,
        secret: Arc<RotatingSecret>,
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
    #[tracing::instrument(name = "worker.fulfil", skip_all, fields(otel.kind = "client", order_id = %order.id))]
    async fn fulfil(&self, order: &Order) -> Result<(), String> {
        let body = serde_json::to_vec(&cart_api::order_dto::OrderView::new(order, false))
            .map_err(|e| e.to_string())?;
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("idempotency-key", order.id.to_string());
        if let Some(secret) = self.secret.get() {
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

/// The fulfiller the settings name; its calls are signed with `secret`.
pub fn fulfiller(
    args: &OrderArgs,
    secret: Arc<RotatingSecret>,
) -> anyhow::Result<Arc<dyn Fulfiller>> {
    Ok(match &args.fulfilment_url {
        Some(url) => Arc::new(HttpFulfiller::new(
            url.clone(),
            secret,
            args.fulfilment_timeout,
        )?),
        None => Arc::new(Immediate),
    })
}

/// The worker fed by a durable JetStream consumer of the relay's `order.paid` events (the
/// serverless design's topic → queue → worker). Each message names one order: the worker
/// claims it in the store (so a store-queue worker elsewhere never fulfils it too), calls the
/// fulfilment endpoint, and acknowledges the message; a failed attempt is a negative
/// acknowledgement with the backoff as its delay, so JetStream redelivers it then. The
/// consumer's own redelivery (after its ack wait, the worker lease) covers a worker that died.
struct NatsSource {
    url: String,
    stream: String,
    subject_prefix: Option<String>,
}

/// The durable consumer's name.
const NATS_CONSUMER: &str = "cartd-order-worker";

impl NatsSource {
    fn subject(&self, rest: &str) -> String {
        match &self.subject_prefix {
            Some(prefix) => format!("{prefix}.{rest}"),
            None => rest.to_owned(),
        }
    }

    /// Consumes until `stop`; an error ends the run (the caller reconnects).
    async fn run(
        &self,
        service: &CartService,
        fulfiller: &dyn Fulfiller,
        args: &OrderArgs,
        stop: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        use async_nats::jetstream::{self, AckKind, consumer};
        use futures_util::StreamExt;

        let client = async_nats::connect(&self.url).await.context("connect")?;
        let jetstream = jetstream::new(client);
        // The relay's stream, as its sink creates it: either may start first.
        let stream = jetstream
            .get_or_create_stream(jetstream::stream::Config {
                name: self.stream.clone(),
                subjects: vec![self.subject("cart.>"), self.subject("order.>")],
                ..Default::default()
            })
            .await
            .context("stream")?;
        let consumer = stream
            .get_or_create_consumer(
                NATS_CONSUMER,
                consumer::pull::Config {
                    durable_name: Some(NATS_CONSUMER.to_owned()),
                    filter_subject: self.subject("order.paid"),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: args.worker_lease,
                    ..Default::default()
                },
            )
            .await
            .context("consumer")?;
        let mut messages = consumer.messages().await.context("messages")?;
        let (lease, pause) = lease_and_backoff(args);
        loop {
            let message = tokio::select! {
                next = messages.next() => next,
                _ = stop.wait_for(|stopped| *stopped) => return Ok(()),
            };
            let Some(message) = message else {
                anyhow::bail!("the consumer's message stream ended");
            };
            let message = message.map_err(|e| anyhow::anyhow!("{e}"))?;
            let order_id = serde_json::from_slice::<serde_json::Value>(&message.payload)
                .ok()
                .and_then(|event| {
                    event["data"]["order"]["order_id"]
                        .as_str()
                        .and_then(|id| uuid::Uuid::parse_str(id).ok())
                });
            let Some(order_id) = order_id else {
                tracing::warn!("an order.paid message without an order id: dropped");
                message.ack().await.map_err(|e| anyhow::anyhow!("{e}"))?;
                continue;
            };
            let ack = match service
                .claim_order(order_id, lease)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                ClaimAttempt::Claimed(claim) => {
                    let outcome = service
                        .fulfil_claim(&claim, fulfiller, &pause)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    record(outcome, &claim.order);
                    match outcome {
                        ClaimOutcome::RetryAfter(pause) => {
                            AckKind::Nak(Some(Duration::try_from(pause).unwrap_or_default()))
                        }
                        _ => AckKind::Ack,
                    }
                }
                ClaimAttempt::NotDue(at) => {
                    let wait = Duration::try_from(at - time::OffsetDateTime::now_utc())
                        .unwrap_or(Duration::from_millis(100));
                    AckKind::Nak(Some(wait))
                }
                ClaimAttempt::DeadLetter | ClaimAttempt::Nothing => AckKind::Ack,
            };
            message
                .ack_with(ack)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
}

/// The order a message's event is about, if it is an `order.paid` event.
fn paid_order_of(envelope: &[u8]) -> Option<uuid::Uuid> {
    let event: serde_json::Value = serde_json::from_slice(envelope).ok()?;
    if event["type"] != "order.paid" {
        return None;
    }
    uuid::Uuid::parse_str(event["data"]["order"]["order_id"].as_str()?).ok()
}

/// The worker on an SQS queue (the serverless design's SNS → SQS → worker). Each `order.paid`
/// message's order is claimed in the store, fulfilled, and the message deleted; a failed
/// attempt makes the message visible again after the backoff, so SQS redelivers it then. The
/// message of an order that became a dead letter is released instead of deleted, so the
/// queue's own redrive policy moves it to its dead-letter queue once its receive count passes
/// `maxReceiveCount` (set to `CARTD_WORKER_MAX_ATTEMPTS`, that is the next receive). Messages
/// of other types are deleted: the queue is the worker's (subscribe it with a filter on the
/// `type` attribute).
async fn sqs(
    queue: &cart_events::sink::aws::SqsQueue,
    service: &CartService,
    fulfiller: &dyn Fulfiller,
    args: &OrderArgs,
    mut stop: watch::Receiver<bool>,
) {
    let (lease, pause) = lease_and_backoff(args);
    loop {
        let received = tokio::select! {
            received = queue.receive(Duration::from_secs(5), args.worker_lease) => received,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        let messages = match received {
            Ok(messages) => messages,
            Err(error) => {
                tracing::warn!(%error, "the SQS worker source failed; will retry");
                tokio::select! {
                    () = tokio::time::sleep(args.worker_poll) => continue,
                    _ = stop.wait_for(|stopped| *stopped) => return,
                }
            }
        };
        for message in messages {
            let handled =
                handle_message(&message.envelope, service, fulfiller, lease, &pause).await;
            let settled = match handled {
                Ok(None) => queue.delete(&message.receipt).await,
                Ok(Some(after)) => queue.retry_after(&message.receipt, after).await,
                // The store failed: the message comes back when its visibility ends.
                Err(error) => {
                    tracing::warn!(%error, "an order message was not handled; SQS will redeliver it");
                    Ok(())
                }
            };
            if let Err(error) = settled {
                tracing::warn!(%error, "settling an SQS message failed; it will be redelivered");
            }
        }
    }
}

/// Handles one queue message holding an `order.paid` envelope: claims the order, fulfils it
/// and records the outcome. `Ok(None)`: the message is done with (delete it); `Ok(Some(after))`:
/// deliver it again after that pause (zero for a dead letter, released for the queue's
/// redrive); `Err`: the store failed, so leave the message for redelivery. Messages of other
/// types are done with.
pub async fn handle_message(
    envelope: &str,
    service: &CartService,
    fulfiller: &dyn Fulfiller,
    lease: time::Duration,
    pause: &(dyn Fn(u32) -> time::Duration + Sync),
) -> Result<Option<Duration>, String> {
    let Some(order_id) = paid_order_of(envelope.as_bytes()) else {
        return Ok(None);
    };
    match service.claim_order(order_id, lease).await {
        Ok(ClaimAttempt::Claimed(claim)) => {
            match service.fulfil_claim(&claim, fulfiller, pause).await {
                Ok(outcome) => {
                    record(outcome, &claim.order);
                    Ok(match outcome {
                        ClaimOutcome::RetryAfter(pause) => {
                            Some(Duration::try_from(pause).unwrap_or_default())
                        }
                        ClaimOutcome::DeadLettered => Some(Duration::ZERO),
                        ClaimOutcome::Fulfilled | ClaimOutcome::Moved => None,
                    })
                }
                Err(e) => Err(e.to_string()),
            }
        }
        Ok(ClaimAttempt::NotDue(at)) => Ok(Some(
            Duration::try_from(at - time::OffsetDateTime::now_utc())
                .unwrap_or(Duration::from_millis(100)),
        )),
        // Released for the queue's redrive, whichever delivery this is.
        Ok(ClaimAttempt::DeadLetter) => Ok(Some(Duration::ZERO)),
        Ok(ClaimAttempt::Nothing) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
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

/// Runs the worker on the source the settings name until `stop` turns true.
pub async fn run(
    service: Arc<CartService>,
    fulfiller: Arc<dyn Fulfiller>,
    args: OrderArgs,
    stop: watch::Receiver<bool>,
) {
    tracing::info!(
        fulfilment = args.fulfilment_url.as_deref().unwrap_or("immediate"),
        source = ?args.worker_source,
        "the order worker runs in this process"
    );
    // Present from the start, so an alert on their increase sees the first one.
    for counter in [
        "cartd_orders_fulfilled_total",
        "cartd_order_fulfilment_retries_total",
        "cartd_orders_dead_lettered_total",
    ] {
        metrics::counter!(counter).increment(0);
    }
    match args.worker_source.clone() {
        WorkerSource::Nats {
            url,
            stream,
            subject_prefix,
        } => {
            let source = NatsSource {
                url,
                stream,
                subject_prefix,
            };
            // Reconnects after a failure (the broker restarting), until told to stop.
            let mut stop = stop;
            loop {
                match source
                    .run(&service, fulfiller.as_ref(), &args, &mut stop)
                    .await
                {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "the NATS worker source failed; reconnecting")
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.wait_for(|stopped| *stopped) => return,
                }
            }
        }
        WorkerSource::Sqs(target) => {
            let queue = cart_events::sink::aws::SqsQueue::connect(&target).await;
            sqs(&queue, &service, fulfiller.as_ref(), &args, stop).await;
        }
        WorkerSource::InProcess | WorkerSource::None => {
            poll_store(service, fulfiller, args, stop).await;
        }
    }
}

/// The lease and the backoff the settings give.
pub fn lease_and_backoff(
    args: &OrderArgs,
) -> (
    time::Duration,
    impl Fn(u32) -> time::Duration + Sync + use<>,
) {
    let lease = time::Duration::try_from(args.worker_lease).unwrap_or(time::Duration::minutes(1));
    let (base, max) = (args.worker_backoff, args.worker_backoff_max);
    let pause = move |attempts: u32| {
        time::Duration::try_from(backoff(attempts, base, max)).unwrap_or(time::Duration::SECOND)
    };
    (lease, pause)
}

/// Counts a claim's outcome in the metrics and the log.
fn record(outcome: ClaimOutcome, order: &Order) {
    match outcome {
        ClaimOutcome::Fulfilled => metrics::counter!("cartd_orders_fulfilled_total").increment(1),
        ClaimOutcome::RetryAfter(pause) => {
            metrics::counter!("cartd_order_fulfilment_retries_total").increment(1);
            tracing::warn!(order = %order.id, attempts = order.fulfilment.attempts,
                retry_in_ms = pause.whole_milliseconds() as u64, "fulfilment failed; will retry");
        }
        ClaimOutcome::DeadLettered => {
            metrics::counter!("cartd_orders_dead_lettered_total").increment(1);
            tracing::error!(order = %order.id, "the order failed its last fulfilment attempt: see /v1/admin/dead-letters");
        }
        ClaimOutcome::Moved => {}
    }
}

/// The worker on the store's own queue: polls for due paid orders.
async fn poll_store(
    service: Arc<CartService>,
    fulfiller: Arc<dyn Fulfiller>,
    args: OrderArgs,
    mut stop: watch::Receiver<bool>,
) {
    let (lease, pause) = lease_and_backoff(&args);
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
