//! `cartd lambda [http|relay|worker]`: cartd as an AWS Lambda function on the custom runtime
//! (`provided.al2023`), through the AWS Lambda Rust runtime (`lambda_http`, which polls the
//! Lambda Runtime API and turns API Gateway events into HTTP requests and back).
//!
//! - `http`: the same router as `serve`, for API Gateway REST (v1) and HTTP API (v2) events,
//!   GraphQL over HTTP included. WebSocket subscriptions need a connection that outlives an
//!   invocation, so they are not served here. Nothing runs between invocations: the relay, the
//!   worker and the sweeper are the other two roles.
//! - `relay`: every invocation (an EventBridge schedule, a DynamoDB stream batch) publishes what
//!   the outbox holds, prunes what was published long ago, and runs one round of the sweeper.
//! - `worker`: SQS batches of `order.paid` events (raw, or wrapped by SNS); each order is
//!   claimed and fulfilled as `cartd worker` does, and the records that must come again are
//!   reported as `batchItemFailures`, so SQS delivers them again and its redrive policy parks
//!   them in the dead-letter queue. With `CARTD_WORKER_SOURCE=sqs://QUEUE-URL` a record comes
//!   again after the worker's backoff; without, after the queue's visibility timeout.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use axum::extract::ConnectInfo;
use cart_events::sink::aws::SqsQueue;
use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::request::RequestContext;
use lambda_http::{RequestExt, service_fn};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::Failure;
use crate::config::{LambdaArgs, LambdaRole, ServeArgs, WorkerSource};
use crate::serve;

/// What the Lambda service sets for a custom runtime, and the runtime library reads.
const LAMBDA_ENVIRONMENT: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// Runs the function's role until the Lambda runtime stops the process.
pub async fn run(args: LambdaArgs) -> Result<(), Failure> {
    // Checked first: the runtime library panics on a missing variable.
    if let Some(missing) = LAMBDA_ENVIRONMENT
        .iter()
        .find(|name| std::env::var_os(name).is_none())
    {
        return Err(Failure::Usage(format!(
            "{missing} is not set: cartd lambda runs inside AWS Lambda (or under its runtime interface emulator)"
        )));
    }
    match args.role {
        LambdaRole::Http => http(args.serve).await,
        LambdaRole::Relay => relay(args.serve).await,
        LambdaRole::Worker => worker(args.serve).await,
    }
}

/// The HTTP API: each API Gateway event is one request to the router.
async fn http(mut args: ServeArgs) -> Result<(), Failure> {
    let assembled = serve::assemble(&mut args, false).await?;
    let router = assembled.router(&args);
    let handler = router.map_request(|request: lambda_http::Request| {
        let peer = source_ip(&request);
        let stage = stage(&request);
        let (mut parts, body) = request.into_parts();
        if let Some(uri) = stage.and_then(|stage| without_stage(&parts.uri, &stage)) {
            parts.uri = uri;
        }
        let body = match body {
            lambda_http::Body::Empty => axum::body::Body::empty(),
            lambda_http::Body::Text(text) => axum::body::Body::from(text),
            lambda_http::Body::Binary(bytes) => axum::body::Body::from(bytes),
            // The enum is non-exhaustive; the three kinds above are every body an API Gateway
            // event can carry.
            _ => axum::body::Body::empty(),
        };
        let mut request = axum::http::Request::from_parts(parts, body);
        // The rate limits key an anonymous client by its address, as behind a socket.
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(peer, 0)));
        request
    });
    tracing::info!("answering API Gateway events");
    lambda_http::run(handler)
        .await
        .map_err(|e| Failure::Runtime(anyhow::anyhow!("the Lambda runtime stopped: {e}")))
}

/// The caller's address as API Gateway saw it (unspecified when the event has none).
fn source_ip(request: &lambda_http::Request) -> IpAddr {
    let reported = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => context.identity.source_ip.as_deref(),
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.as_deref(),
        _ => None,
    };
    reported
        .and_then(|ip| ip.parse().ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The API stage the request came through, unless it is `$default` (whose paths carry none).
fn stage(request: &lambda_http::Request) -> Option<String> {
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => context.stage.clone(),
        Some(RequestContext::ApiGatewayV2(context)) => context.stage.clone(),
        _ => None,
    };
    stage.filter(|stage| stage != "$default")
}

/// `uri` without the leading `/{stage}` segment that `lambda_http` puts in front of the path
/// (the routes are the service's own, whatever stage serves them); `None` when it has none.
fn without_stage(uri: &axum::http::Uri, stage: &str) -> Option<axum::http::Uri> {
    let rest = uri.path().strip_prefix('/')?.strip_prefix(stage)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let path = if rest.is_empty() { "/" } else { rest };
    let target = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(target.parse().ok()?);
    axum::http::Uri::from_parts(parts).ok()
}

/// The relay: each invocation, whatever its event, publishes until the outbox is empty or the
/// invocation's time is nearly up, then prunes and sweeps. A failure fails the invocation, so
/// the schedule's next one (or the stream's retry) tries again.
async fn relay(args: ServeArgs) -> Result<(), Failure> {
    // As `cartd relay` starts: the store and its outbox, no router or token verifier.
    let (backend, service) = crate::orders::open(&args.store, &args.orders).await?;
    let relay = Arc::new(crate::relay::build(&backend, &args.relay, &args.store.url, None).await?);
    let batch = args.sweep_batch;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (relay, service) = (relay.clone(), service.clone());
        let deadline = event.context.deadline();
        async move { invoke_relay(&relay, &service, batch, deadline).await }
    }))
    .await
    .map_err(|e| Failure::Runtime(anyhow::anyhow!("the Lambda runtime stopped: {e}")))
}

/// Time kept back from an invocation's deadline for pruning, sweeping and answering.
const RELAY_RESERVE: std::time::Duration = std::time::Duration::from_secs(5);

/// One relay invocation: rounds until nothing is pending, another relay holds the lease, or the
/// deadline is near (the next invocation goes on); then prunes, sweeps, and reports the
/// outbox's depth and oldest waiting event in its answer and its log line, which is what a
/// log-based alarm on outbox lag reads where no Prometheus scrapes.
async fn invoke_relay(
    relay: &cart_events::Relay,
    service: &cart_core::CartService,
    batch: usize,
    deadline: std::time::SystemTime,
) -> Result<Value, lambda_http::Error> {
    let mut published = 0;
    while std::time::SystemTime::now() + RELAY_RESERVE < deadline {
        match relay.relay_once().await.context("publishing the outbox")? {
            cart_events::Round::Published(0) | cart_events::Round::Standby => break,
            cart_events::Round::Published(n) => published += n,
        }
    }
    let pruned = relay
        .prune_once(batch)
        .await
        .context("pruning the outbox")?;
    serve::sweep_once(service, batch).await;
    let stats = relay.refresh_stats().await.context("the outbox's depth")?;
    let oldest_pending_seconds = stats.oldest_pending_at.map(|at| {
        (time::OffsetDateTime::now_utc() - at)
            .whole_seconds()
            .max(0)
    });
    tracing::info!(
        published,
        pruned,
        depth = stats.depth,
        oldest_pending_seconds,
        "relay invocation"
    );
    Ok(json!({
        "published": published,
        "pruned": pruned,
        "depth": stats.depth,
        "oldest_pending_seconds": oldest_pending_seconds,
    }))
}

/// The order worker on an SQS event source (with `ReportBatchItemFailures`).
async fn worker(mut args: ServeArgs) -> Result<(), Failure> {
    // As `cartd worker` starts: the webhook secret (it signs fulfilment calls) and the store.
    crate::secrets::resolve(None, Some(&mut args.orders)).await?;
    let (_, service) = crate::orders::open(&args.store, &args.orders).await?;
    let secret = cart_api::secret::RotatingSecret::new(args.orders.payment_webhook_secret.clone());
    let fulfiller = crate::worker::fulfiller(&args.orders, Arc::new(secret))?;
    let (lease, pause) = crate::worker::lease_and_backoff(&args.orders);
    let pause = Arc::new(pause);
    // Told its queue (CARTD_WORKER_SOURCE=sqs://…), the worker makes a record to try again
    // visible after its own backoff; otherwise the queue's visibility timeout decides.
    let queue = match &args.orders.worker_source {
        WorkerSource::Sqs(target) => Some(Arc::new(SqsQueue::connect(target).await)),
        _ => None,
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (service, fulfiller, pause, queue) = (
            service.clone(),
            fulfiller.clone(),
            pause.clone(),
            queue.clone(),
        );
        async move {
            let worker = Worker {
                service: &service,
                fulfiller: fulfiller.as_ref(),
                lease,
                pause: pause.as_ref(),
                queue: queue.as_deref(),
            };
            worker.invoke(event.payload).await
        }
    }))
    .await
    .map_err(|e| Failure::Runtime(anyhow::anyhow!("the Lambda runtime stopped: {e}")))
}

/// What a worker invocation works with.
struct Worker<'a> {
    service: &'a cart_core::CartService,
    fulfiller: &'a dyn cart_core::use_cases::Fulfiller,
    lease: time::Duration,
    pause: &'a (dyn Fn(u32) -> time::Duration + Sync),
    /// The queue the records come from, when the settings name it.
    queue: Option<&'a SqsQueue>,
}

impl Worker<'_> {
    /// One invocation: handles each record of the SQS batch and answers those that must come
    /// again. Their visibility is set to the pause the outcome asks for (zero for a dead
    /// letter, so the queue's redrive takes it at once) when the queue is known.
    async fn invoke(&self, batch: Value) -> Result<Value, lambda_http::Error> {
        let mut failures = Vec::new();
        for record in batch["Records"].as_array().into_iter().flatten() {
            let id = record["messageId"].as_str().unwrap_or_default();
            let body = record["body"].as_str().unwrap_or_default();
            let envelope = cart_events::sink::aws::unwrap_notification(body);
            let handled = crate::worker::handle_message(
                &envelope,
                self.service,
                self.fulfiller,
                self.lease,
                self.pause,
            )
            .await;
            match handled {
                Ok(None) => continue,
                Ok(Some(after)) => {
                    let receipt = record["receiptHandle"].as_str().unwrap_or_default();
                    if let Some(queue) = self.queue
                        && let Err(error) = queue.retry_after(receipt, after).await
                    {
                        tracing::warn!(%error, message = id, "could not set when the message comes again; the queue's visibility timeout decides");
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, message = id, "an order message was not handled; SQS will deliver it again");
                }
            }
            failures.push(json!({ "itemIdentifier": id }));
        }
        Ok(json!({ "batchItemFailures": failures }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stage_is_taken_off_the_front_of_the_path_only() {
        let uri = |text: &str| text.parse::<axum::http::Uri>().expect("uri");
        assert_eq!(
            without_stage(&uri("/prod/v1/cart/me?explain=true"), "prod"),
            Some(uri("/v1/cart/me?explain=true"))
        );
        assert_eq!(without_stage(&uri("/prod"), "prod"), Some(uri("/")));
        assert_eq!(without_stage(&uri("/production/v1"), "prod"), None);
        assert_eq!(without_stage(&uri("/v1/prod/x"), "prod"), None);
    }
}
