//! The EventBridge sink: `PutEvents` on a bus, [`CHUNK`] entries a request.
//!
//! Each entry has `source` = the envelope's `source`, `detail-type` = the event type, `detail` =
//! the whole envelope JSON and `time` = when the change was committed, so rules can match on
//! `source`, `detail-type` or any field of `detail` (e.g. `detail.subject`). EventBridge does
//! not keep order, not even within one request: consumers order a cart's events by
//! `detail.sequence` (or `detail.data.version`).

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::{ChunkOutcome, json_text, publish_in_chunks, request_failed, sdk_config};
use crate::envelope::Envelope;
use crate::sink::{AwsTarget, PublishError, Sink};

/// Puts events on an EventBridge bus.
pub struct EventBridgeSink {
    /// The SDK client, configured for the bus's region and endpoint.
    client: Client,
    /// The bus name or ARN.
    bus: String,
}

impl EventBridgeSink {
    /// A sink for the bus `target` names. Nothing is sent until the first publish, so a bus
    /// that cannot be reached at start delays events instead of failing the start.
    pub async fn connect(target: &AwsTarget) -> Self {
        Self {
            client: Client::new(&sdk_config(target).await),
            bus: target.target.clone(),
        }
    }

    /// The request entry of one envelope.
    fn entry(&self, envelope: &Envelope) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(&envelope.source)
            .detail_type(envelope.event_type)
            .detail(json_text(envelope))
            .time(DateTime::from_secs_and_nanos(
                envelope.time.unix_timestamp(),
                envelope.time.nanosecond(),
            ))
            .build()
    }
}

#[async_trait]
impl Sink for EventBridgeSink {
    fn name(&self) -> &'static str {
        "eventbridge"
    }

    async fn publish(&self, batch: &[Envelope]) -> Result<(), PublishError> {
        publish_in_chunks(batch, "EventBridge", |chunk| async move {
            let output = self
                .client
                .put_events()
                .set_entries(Some(chunk.iter().map(|e| self.entry(e)).collect()))
                .send()
                .await
                .map_err(|e| request_failed("EventBridge PutEvents", e))?;
            if output.failed_entry_count() == 0 {
                return Ok(ChunkOutcome::Accepted);
            }
            // The result entries are in the order of the request's; a failed one has an error
            // code. If none says which, nothing of the chunk counts as published.
            let first = output
                .entries()
                .iter()
                .take(chunk.len())
                .enumerate()
                .find(|(_, entry)| entry.error_code().is_some());
            Ok(match first {
                Some((index, entry)) => ChunkOutcome::Rejected {
                    accepted: index,
                    reason: format!(
                        "{}: {}",
                        entry.error_code().unwrap_or_default(),
                        entry.error_message().unwrap_or_default()
                    ),
                },
                None => ChunkOutcome::Rejected {
                    accepted: 0,
                    reason: "entries failed without an error code".to_owned(),
                },
            })
        })
        .await
    }
}
