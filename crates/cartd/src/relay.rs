//! The outbox relay as `cartd` runs it: inside `serve` (unless `--no-relay`) and alone as
//! `cartd relay`. Builds the sinks from `CARTD_EVENTS`, and reports to `/ready`.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::sync::watch;

use cart_api::readiness::{Readiness, ReadyCheck};
use cart_core::SystemClock;
use cart_events::live::{LiveFeed, LiveSink};
use cart_events::relay::age;
use cart_events::{Relay, RelayStatus, Sink, SinkUrl, sink};
use cart_store::Backend;

use crate::Failure;
use crate::config::{RelayArgs, RelayCommandArgs, redacted_url};

/// Connects every configured sink and builds a relay over `backend`'s outbox. With `live`,
/// the relay also feeds that in-process feed (when no NATS sink fans changes out instead; see
/// [`follow_live`]).
pub async fn build(
    backend: &Backend,
    args: &RelayArgs,
    store: &cart_store::StoreUrl,
    live: Option<&LiveFeed>,
) -> Result<Relay, Failure> {
    let config = args.relay_config()?;
    let urls = args.sinks(store);
    let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
    for url in &urls {
        tracing::info!(sink = %url.redacted(), "event sink");
        sinks.push(
            sink::connect(url)
                .await
                .map_err(|e| Failure::Usage(format!("CARTD_EVENTS: {e}")))?,
        );
    }
    if let Some(live) = live.filter(|_| nats_sink(&urls).is_none()) {
        // Last, so a change reaches subscribers only once the brokers have it.
        sinks.push(Arc::new(LiveSink(live.clone())));
    }
    Ok(Relay::new(
        backend.store(),
        backend.outbox(),
        sinks,
        Arc::new(SystemClock),
        config,
    ))
}

/// The first NATS sink, if any: its subjects are where every replica follows changes.
fn nats_sink(sinks: &[SinkUrl]) -> Option<(&str, Option<&str>)> {
    sinks.iter().find_map(|sink| match sink {
        SinkUrl::Nats {
            url,
            subject_prefix,
            ..
        } => Some((url.as_str(), subject_prefix.as_deref())),
        _ => None,
    })
}

/// Feeds `live` from NATS when a NATS sink is configured, so subscriptions on this replica see
/// changes made through any replica. Without one, the relay feeds it ([`build`]), which serves
/// the replica that holds the relay lease only.
pub async fn follow_live(
    args: &RelayArgs,
    store: &cart_store::StoreUrl,
    live: &LiveFeed,
) -> Result<Option<tokio::task::JoinHandle<()>>, Failure> {
    let sinks = args.sinks(store);
    let Some((url, prefix)) = nats_sink(&sinks) else {
        return Ok(None);
    };
    let follower = cart_events::live::follow_nats(url, prefix, live.clone())
        .await
        .map_err(|e| Failure::Usage(format!("CARTD_EVENTS: {e}")))?;
    tracing::info!("live cart updates follow NATS");
    Ok(Some(follower))
}

/// `cartd relay`: publishes until SIGTERM or Ctrl-C (or, with `--once`, until nothing is
/// pending).
pub async fn run(args: RelayCommandArgs) -> Result<(), Failure> {
    let config = args.relay.relay_config()?;
    let backend = cart_store::open(&args.store.url)
        .await
        .with_context(|| format!("cannot open the store {}", redacted_url(&args.store.url)))?;
    let relay = build(&backend, &args.relay, &args.store.url, None).await?;
    if args.once {
        let published = relay.drain().await.context("relay")?;
        println!("published {published} events");
        return Ok(());
    }
    tracing::info!(
        store = %redacted_url(&args.store.url),
        batch = config.batch,
        lease_ms = config.lease_ttl.as_millis() as u64,
        "effective configuration"
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let operations = match args.listen {
        Some(address) => Some(serve_operations(address, relay.status(), stop_rx.clone()).await?),
        None => None,
    };
    let running = tokio::spawn(relay.run(stop_rx));
    crate::serve::shutdown_signal().await;
    let _ = stop_tx.send(true);
    running.await.context("relay task")?;
    if let Some(operations) = operations {
        let _ = operations.await;
    }
    Ok(())
}

/// `/health`, `/ready` and `/metrics` of a standalone relay, until `stop`.
async fn serve_operations(
    address: std::net::SocketAddr,
    status: Arc<Mutex<RelayStatus>>,
    mut stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, Failure> {
    use axum::routing::get;
    let metrics = cart_api::metrics::recorder();
    let check = Arc::new(EventsCheck(status));
    let app = axum::Router::new()
        .route(
            "/health",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route(
            "/ready",
            get(move || {
                let check = check.clone();
                async move {
                    let (status, message) = match check.readiness() {
                        Readiness::Ok(note) => ("ok", note),
                        Readiness::Degraded(reason) => ("degraded", Some(reason)),
                    };
                    axum::Json(serde_json::json!({
                        "status": "ready",
                        "checks": {"events": {"status": status, "message": message}},
                    }))
                }
            }),
        )
        .route("/metrics", get(move || async move { metrics.render() }));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    tracing::info!(%address, "relay operations endpoints listening");
    Ok(tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(%error, "relay operations server failed");
        }
    }))
}

/// The relay's state under `events` in `/ready`: degraded while a sink or the outbox fails.
pub struct EventsCheck(pub Arc<Mutex<RelayStatus>>);

impl ReadyCheck for EventsCheck {
    fn name(&self) -> &'static str {
        "events"
    }

    fn readiness(&self) -> Readiness {
        let status = self
            .0
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone();
        let waiting = match age(
            status.outbox.oldest_pending_at,
            time::OffsetDateTime::now_utc(),
        ) {
            Some(age) => format!(
                "{} events waiting, oldest {}s",
                status.outbox.depth,
                age.as_secs()
            ),
            None => "no events waiting".to_owned(),
        };
        if status.is_degraded() {
            let mut failures: Vec<String> = status
                .failing_sinks
                .iter()
                .map(|(sink, error)| format!("{sink}: {error}"))
                .collect();
            failures.extend(status.store_error.map(|e| format!("outbox: {e}")));
            return Readiness::Degraded(format!("{}; {waiting}", failures.join("; ")));
        }
        let role = match status.active {
            Some(true) => "publishing",
            Some(false) => "standby (another relay holds the lease)",
            None => "starting",
        };
        Readiness::Ok(Some(format!("{role}; {waiting}")))
    }
}
