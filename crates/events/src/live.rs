//! Live cart changes, for GraphQL subscriptions.
//!
//! The feed is filled from the event stream, never by the request handler that made a change:
//! with a broker (NATS), every replica subscribes to it and so sees changes made through any
//! replica; with the embedded default, the relay feeds it after publishing, which serves one
//! replica. Subscribers filter by cart key and read the cart themselves.

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::envelope::Envelope;
use crate::sink::{PublishError, Sink};

/// One change to one cart, as the feed carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartChange {
    /// The event type, e.g. `cart.item_added`.
    pub event_type: String,
    /// The cart key (user id or guest id).
    pub cart_key: String,
    /// The cart version the change produced.
    pub version: u64,
}

/// A bounded fan-out of cart changes. A subscriber that falls more than `capacity` changes
/// behind misses changes (its receiver reports `Lagged`) and is disconnected rather than
/// buffered without bound.
#[derive(Debug, Clone)]
pub struct LiveFeed {
    sender: broadcast::Sender<CartChange>,
}

/// The default number of changes a subscriber may fall behind.
pub const DEFAULT_LIVE_CAPACITY: usize = 1024;

impl LiveFeed {
    /// A feed that keeps up to `capacity` changes for slow subscribers.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }

    /// Hands a change to every current subscriber (none is fine).
    pub fn publish(&self, change: CartChange) {
        let _ = self.sender.send(change);
    }

    /// Every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<CartChange> {
        self.sender.subscribe()
    }
}

impl Default for LiveFeed {
    fn default() -> Self {
        Self::new(DEFAULT_LIVE_CAPACITY)
    }
}

impl CartChange {
    /// The change an envelope describes.
    pub fn of(envelope: &Envelope) -> Self {
        Self {
            event_type: envelope.event_type.to_owned(),
            cart_key: envelope.subject.clone(),
            version: envelope.data.version,
        }
    }
}

/// The sink that feeds a [`LiveFeed`] from the relay: subscriptions on the replica that runs
/// the relay see every change once it is published. Used when no broker can fan changes out to
/// every replica (see [`follow_nats`]).
#[derive(Debug, Clone)]
pub struct LiveSink(pub LiveFeed);

#[async_trait]
impl Sink for LiveSink {
    fn name(&self) -> &'static str {
        "live"
    }

    async fn publish(&self, batch: &[Envelope]) -> Result<(), PublishError> {
        for envelope in batch {
            self.0.publish(CartChange::of(envelope));
        }
        Ok(())
    }
}

/// Feeds `feed` from the NATS subjects the NATS sink publishes to (`[PREFIX.]cart.>` and
/// `[PREFIX.]order.>`), so every
/// replica's subscriptions see changes made through any replica. A plain (core NATS)
/// subscription: it sees what is published while it is connected, which is what a live view
/// needs; the client reconnects by itself. Runs until the task is dropped.
#[cfg(feature = "nats")]
pub async fn follow_nats(
    url: &str,
    subject_prefix: Option<&str>,
    feed: LiveFeed,
) -> Result<tokio::task::JoinHandle<()>, crate::sink::ConnectError> {
    use futures_util::StreamExt;
    let failed = |e: &dyn std::fmt::Display| crate::sink::ConnectError {
        sink: "nats",
        message: e.to_string(),
    };
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(url)
        .await
        .map_err(|e| failed(&e))?;
    let subject = |kind: &str| match subject_prefix {
        Some(prefix) => format!("{prefix}.{kind}.>"),
        None => format!("{kind}.>"),
    };
    let carts = client
        .subscribe(subject("cart"))
        .await
        .map_err(|e| failed(&e))?;
    let orders = client
        .subscribe(subject("order"))
        .await
        .map_err(|e| failed(&e))?;
    let mut messages = futures_util::stream::select(carts, orders);
    Ok(tokio::spawn(async move {
        // The client lives as long as the subscription does.
        let _client = client;
        while let Some(message) = messages.next().await {
            match serde_json::from_slice::<FollowedEvent>(&message.payload) {
                Ok(event) => feed.publish(CartChange {
                    event_type: event.event_type,
                    cart_key: event.subject,
                    version: event.data.version,
                }),
                Err(error) => tracing::debug!(%error, "ignoring a message that is no cart event"),
            }
        }
    }))
}

/// The part of an envelope the follower reads.
#[cfg(feature = "nats")]
#[derive(serde::Deserialize)]
struct FollowedEvent {
    #[serde(rename = "type")]
    event_type: String,
    subject: String,
    data: FollowedData,
}

#[cfg(feature = "nats")]
#[derive(serde::Deserialize)]
struct FollowedData {
    version: u64,
}
