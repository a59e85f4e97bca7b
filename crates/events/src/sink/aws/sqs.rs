//! The SQS sink: `SendMessageBatch` to a queue, [`CHUNK`] envelopes a request.
//!
//! The body is the envelope JSON; the message attributes `type` and `subject` let consumers
//! route without parsing it. On a FIFO queue (URL ending in `.fifo`) the message group is the
//! subject (cart key, or order id), so each cart's and order's events are received in order,
//! and the deduplication id is the event
//! id. A standard queue does not keep order.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

use super::{is_fifo, json_text, outcome_of_failed, publish_in_chunks, request_failed, sdk_config};
use crate::envelope::Envelope;
use crate::sink::{AwsTarget, PublishError, Sink};

/// Sends to an SQS queue.
pub struct SqsSink {
    /// The SDK client, configured for the queue's region and endpoint.
    client: Client,
    /// The queue URL.
    queue_url: String,
    /// Whether the queue is FIFO, which needs a group and a deduplication id on every message.
    fifo: bool,
}

impl SqsSink {
    /// A sink for the queue `target` names. Nothing is sent until the first publish, so a queue
    /// that cannot be reached at start delays events instead of failing the start.
    pub async fn connect(target: &AwsTarget) -> Self {
        Self {
            client: Client::new(&sdk_config(target).await),
            queue_url: target.target.clone(),
            fifo: is_fifo(&target.target),
        }
    }

    /// The request entry of the envelope at `index` in its chunk.
    fn entry(
        &self,
        index: usize,
        envelope: &Envelope,
    ) -> Result<SendMessageBatchRequestEntry, aws_sdk_sqs::error::BuildError> {
        let string = |value: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
        };
        let mut entry = SendMessageBatchRequestEntry::builder()
            .id(index.to_string())
            .message_body(json_text(envelope))
            .message_attributes("type", string(envelope.event_type)?)
            .message_attributes("subject", string(&envelope.subject)?);
        if self.fifo {
            entry = entry
                .message_group_id(&envelope.subject)
                .message_deduplication_id(envelope.id.to_string());
        }
        entry.build()
    }
}

#[async_trait]
impl Sink for SqsSink {
    fn name(&self) -> &'static str {
        "sqs"
    }

    async fn publish(&self, batch: &[Envelope]) -> Result<(), PublishError> {
        publish_in_chunks(batch, "SQS", |chunk| async move {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(index, envelope)| self.entry(index, envelope))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("SQS entry: {e}"))?;
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| request_failed("SQS SendMessageBatch", e))?;
            Ok(outcome_of_failed(
                chunk.len(),
                output
                    .failed()
                    .iter()
                    .map(|f| (f.id(), f.code(), f.message())),
            ))
        })
        .await
    }
}
