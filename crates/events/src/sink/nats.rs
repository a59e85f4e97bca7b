//! The NATS JetStream sink: the event type as subject (`cart.…`, `order.…`), header
//! `Nats-Msg-Id` = event id so JetStream drops a re-sent event within the stream's duplicate
//! window, and an event counts as published only once its ack arrived.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, Context};
use async_trait::async_trait;
use tokio::sync::OnceCell;

use super::{ConnectError, PublishError, Sink};
use crate::envelope::Envelope;

/// How long one publish waits for JetStream's ack before the batch counts as failed.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Publishes to a JetStream stream.
pub struct NatsSink {
    jetstream: Context,
    subject_prefix: Option<String>,
    stream: jetstream::stream::Config,
    stream_ready: OnceCell<()>,
}

impl NatsSink {
    /// Sets up a client for `url`. The connection is made in the background and kept up by the
    /// client, so a NATS server that is down at start delays events instead of failing `serve`.
    pub async fn connect(
        url: &str,
        stream: &str,
        duplicate_window: Duration,
        subject_prefix: Option<&str>,
    ) -> Result<Self, ConnectError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(ACK_TIMEOUT)
            .request_timeout(Some(ACK_TIMEOUT))
            .retry_on_initial_connect()
            .connect(url)
            .await
            .map_err(|e| ConnectError {
                sink: "nats",
                message: e.to_string(),
            })?;
        let subject = |rest: &str| match subject_prefix {
            Some(prefix) => format!("{prefix}.{rest}"),
            None => rest.to_owned(),
        };
        Ok(Self {
            jetstream: jetstream::new(client),
            subject_prefix: subject_prefix.map(str::to_owned),
            stream: jetstream::stream::Config {
                name: stream.to_owned(),
                subjects: vec![subject("cart.>"), subject("order.>")],
                duplicate_window,
                ..Default::default()
            },
            stream_ready: OnceCell::new(),
        })
    }

    /// Creates the stream if it is missing, and widens one that lacks a subject this build
    /// publishes to (a stream created before order events covers `cart.>` only, and JetStream
    /// refuses a publish no stream covers); once per process, retried until it succeeds.
    async fn ensure_stream(&self) -> Result<(), PublishError> {
        let failed = |e: &dyn std::fmt::Display| {
            PublishError::after(0, format!("stream {}: {e}", self.stream.name))
        };
        self.stream_ready
            .get_or_try_init(|| async {
                let stream = self
                    .jetstream
                    .get_or_create_stream(self.stream.clone())
                    .await
                    .map_err(|e| failed(&e))?;
                let mut config = stream.cached_info().config.clone();
                let missing: Vec<String> = self
                    .stream
                    .subjects
                    .iter()
                    .filter(|subject| !config.subjects.contains(subject))
                    .cloned()
                    .collect();
                if !missing.is_empty() {
                    config.subjects.extend(missing);
                    self.jetstream
                        .update_stream(config)
                        .await
                        .map_err(|e| failed(&e))?;
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }
}

impl NatsSink {
    /// The event type as the subject (`cart.item_added`, `order.paid`), after the prefix if one
    /// is set.
    fn subject(&self, envelope: &Envelope) -> String {
        match &self.subject_prefix {
            Some(prefix) => format!("{prefix}.{}", envelope.event_type),
            None => envelope.event_type.to_owned(),
        }
    }
}

#[async_trait]
impl Sink for NatsSink {
    fn name(&self) -> &'static str {
        "nats"
    }

    async fn publish(&self, batch: &[Envelope]) -> Result<(), PublishError> {
        self.ensure_stream().await?;
        // Send the whole batch, then collect the acks in order: one connection keeps the
        // order, and pipelining saves a round trip per event.
        let mut acks = Vec::with_capacity(batch.len());
        for (sent, envelope) in batch.iter().enumerate() {
            let mut headers = HeaderMap::new();
            headers.insert(
                async_nats::header::NATS_MESSAGE_ID,
                envelope.id.to_string().as_str(),
            );
            let ack = self
                .jetstream
                .publish_with_headers(self.subject(envelope), headers, envelope.to_json().into())
                .await
                .map_err(|e| PublishError::after(0, format!("event {sent} of the batch: {e}")))?;
            acks.push(ack);
        }
        for (acked, ack) in acks.into_iter().enumerate() {
            ack.await.map_err(|e| PublishError::after(acked, e))?;
        }
        Ok(())
    }
}
