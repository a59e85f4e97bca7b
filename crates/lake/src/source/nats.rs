//! A NATS JetStream stream (what `CARTD_EVENTS=nats://…` fills) through a durable pull
//! consumer with explicit acknowledgements: a message not acknowledged within the consumer's
//! ack wait is delivered again.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::PullConsumer, consumer::pull};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;

use super::{Source, source_error};
use crate::LakeError;

/// How long JetStream waits for an acknowledgement before delivering a message again: longer
/// than the slowest batch write.
const ACK_WAIT: Duration = Duration::from_secs(300);

/// Reads a stream through a durable consumer.
pub struct NatsSource {
    client: async_nats::Client,
    consumer: PullConsumer,
    pending: Vec<jetstream::Message>,
}

impl NatsSource {
    /// Connects to `url` and opens (or creates) the durable consumer `consumer` on `stream`.
    pub async fn open(url: &str, stream: &str, consumer: &str) -> Result<Self, LakeError> {
        let client = async_nats::connect(url).await.map_err(source_error)?;
        let context = jetstream::new(client.clone());
        let stream = context.get_stream(stream).await.map_err(|e| {
            LakeError::Source(format!(
                "NATS stream `{stream}` at {url}: {e} (cartd creates it on its first publish)"
            ))
        })?;
        let consumer = stream
            .get_or_create_consumer(
                consumer,
                pull::Config {
                    durable_name: Some(consumer.to_owned()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: ACK_WAIT,
                    ..pull::Config::default()
                },
            )
            .await
            .map_err(source_error)?;
        Ok(Self {
            client,
            consumer,
            pending: Vec::new(),
        })
    }
}

#[async_trait]
impl Source for NatsSource {
    async fn receive(&mut self, max: usize, wait: Duration) -> Result<Vec<Bytes>, LakeError> {
        let mut messages = self
            .consumer
            .fetch()
            .max_messages(max)
            .expires(wait.max(Duration::from_millis(100)))
            .messages()
            .await
            .map_err(source_error)?;
        let mut events = Vec::new();
        while let Some(message) = messages.next().await {
            let message = message.map_err(source_error)?;
            events.push(message.payload.clone());
            self.pending.push(message);
        }
        Ok(events)
    }

    async fn acknowledge(&mut self) -> Result<(), LakeError> {
        for message in self.pending.drain(..) {
            message.ack_with(AckKind::Ack).await.map_err(source_error)?;
        }
        // Acknowledgements are plain publishes: flush them before `--once` exits.
        self.client.flush().await.map_err(source_error)?;
        Ok(())
    }
}
