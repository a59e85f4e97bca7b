//! The SNS sink: `PublishBatch` to a topic, [`CHUNK`] envelopes a request.
//!
//! The message is the envelope JSON; the message attributes `type` and `subject` let
//! subscriptions filter without parsing it. On a FIFO topic (ARN ending in `.fifo`) the message
//! group is the subject (cart key, or order id), so each cart's and order's events are
//! delivered in order, and the deduplication id
//! is the event id. A standard topic does not keep order.

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

use super::{is_fifo, json_text, outcome_of_failed, publish_in_chunks, request_failed, sdk_config};
use crate::envelope::Envelope;
use crate::sink::{AwsTarget, PublishError, Sink};

/// Publishes to an SNS topic.
pub struct SnsSink {
    /// The SDK client, configured for the topic's region and endpoint.
    client: Client,
    /// The topic ARN.
    topic_arn: String,
    /// Whether the topic is FIFO, which needs a group and a deduplication id on every message.
    fifo: bool,
}

impl SnsSink {
    /// A sink for the topic `target` names. Nothing is sent until the first publish, so a topic
    /// that cannot be reached at start delays events instead of failing the start.
    pub async fn connect(target: &AwsTarget) -> Self {
        Self {
            client: Client::new(&sdk_config(target).await),
            topic_arn: target.target.clone(),
            fifo: is_fifo(&target.target),
        }
    }

    /// The request entry of the envelope at `index` in its chunk.
    fn entry(
        &self,
        index: usize,
        envelope: &Envelope,
    ) -> Result<PublishBatchRequestEntry, aws_sdk_sns::error::BuildError> {
        let string = |value: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
        };
        let mut entry = PublishBatchRequestEntry::builder()
            .id(index.to_string())
            .message(json_text(envelope))
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
impl Sink for SnsSink {
    fn name(&self) -> &'static str {
        "sns"
    }

    async fn publish(&self, batch: &[Envelope]) -> Result<(), PublishError> {
        publish_in_chunks(batch, "SNS", |chunk| async move {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(index, envelope)| self.entry(index, envelope))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("SNS entry: {e}"))?;
            let output = self
                .client
                .publish_batch()
                .topic_arn(&self.topic_arn)
                .set_publish_batch_request_entries(Some(entries))
                .send()
                .await
                .map_err(|e| request_failed("SNS PublishBatch", e))?;
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
