//! The AWS sinks: [`SnsSink`], [`SqsSink`] and [`EventBridgeSink`].
//!
//! All three send the batch in requests of at most [`CHUNK`] envelopes (the limit of SNS
//! `PublishBatch`, SQS `SendMessageBatch` and EventBridge `PutEvents`), one request after the
//! other in the outbox's order, and stop at the first request with a rejected entry. Those APIs
//! accept or reject each entry on its own, so a request can succeed in part: the sink reports
//! as published only the entries *before* the first rejected one, and the relay sends the rest
//! again. Entries after the rejected one that the service did take arrive twice; consumers drop
//! the copies by the envelope's `id` (FIFO topics and queues drop them themselves within their
//! five-minute deduplication window, the deduplication id being the event id).
//!
//! # Ordering
//!
//! - Standard SNS topics and SQS queues do **not** keep order, not even within one request.
//! - FIFO topics and queues (name ending in `.fifo`) keep order per message group; the group is
//!   the envelope's subject (the cart key, or the order id of an `order.*` event), so each
//!   cart's and each order's events arrive in the order of their `sequence`.
//! - EventBridge does **not** keep order.
//!
//! Where order is not kept, consumers order a cart's events by `sequence` (or `data.version`)
//! and ignore one older than what they have applied. Even on FIFO, after a partially rejected
//! request a later event of a cart may be delivered before the rejected earlier one is sent
//! again, so FIFO consumers should apply the same rule.
//!
//! # Configuration
//!
//! Credentials come from the usual AWS chain (environment, profile, web identity, instance
//! role). With an `endpoint` (moto, LocalStack) and no `AWS_ACCESS_KEY_ID`, placeholder
//! credentials are used. Connecting and every request time out after [`TIMEOUT`].

mod eventbridge;
mod queue;
mod sns;
mod sqs;

use std::time::Duration;

use aws_config::SdkConfig;

pub use eventbridge::EventBridgeSink;
pub use queue::{QueueMessage, SqsQueue, unwrap_notification};
pub use sns::SnsSink;
pub use sqs::SqsSink;

use super::{AwsTarget, PublishError};
use crate::envelope::Envelope;

/// The most entries one `PublishBatch`, `SendMessageBatch` or `PutEvents` request may carry.
pub const CHUNK: usize = 10;

/// The connect timeout, and the limit on one request including the SDK's retries.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The SDK configuration for `target`: its region, [`TIMEOUT`], and its endpoint if it names
/// one (with placeholder credentials when none are configured, which local emulators accept).
async fn sdk_config(target: &AwsTarget) -> SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(target.region.clone()))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(TIMEOUT)
                .connect_timeout(TIMEOUT)
                .build(),
        );
    if let Some(endpoint) = &target.endpoint {
        loader = loader.endpoint_url(endpoint);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.credentials_provider(aws_sdk_sns::config::Credentials::new(
                "local",
                "local",
                None,
                None,
                "cartd-local",
            ));
        }
    }
    loader.load().await
}

/// Whether a topic ARN or queue URL names a FIFO topic or queue.
fn is_fifo(target: &str) -> bool {
    target.ends_with(".fifo")
}

/// The envelope as the JSON text SNS, SQS and EventBridge carry.
fn json_text(envelope: &Envelope) -> String {
    // `to_json` is serde_json output, which is always UTF-8.
    String::from_utf8_lossy(&envelope.to_json()).into_owned()
}

/// How many entries of a chunk of `len`, from its start, the service accepted, given the ids
/// (indices in the chunk, as text) of the entries it rejected: the index of the earliest
/// rejected one, or `len` if none was. An id that is not an index of the chunk counts as a
/// rejection of the first entry, so nothing is marked published that may not have been.
fn accepted_prefix<'a>(len: usize, rejected_ids: impl IntoIterator<Item = &'a str>) -> usize {
    rejected_ids
        .into_iter()
        .map(|id| id.parse::<usize>().ok().filter(|i| *i < len).unwrap_or(0))
        .min()
        .unwrap_or(len)
}

/// What the service answered for one chunk.
enum ChunkOutcome {
    /// Every entry was accepted.
    Accepted,
    /// The entries from `accepted` on were not (or not knowingly) accepted; `reason` is the
    /// service's word on the first of them.
    Rejected {
        /// How many entries, from the chunk's start, were accepted.
        accepted: usize,
        /// Why the next one was not.
        reason: String,
    },
}

/// Sends `batch` through `send`, [`CHUNK`] envelopes a request, in order, and stops at the first
/// chunk that was not wholly accepted. `send` answers a chunk's outcome, or the message of a
/// request that failed as a whole (then nothing of that chunk counts as published).
async fn publish_in_chunks<'b, F, Fut>(
    batch: &'b [Envelope],
    service: &str,
    mut send: F,
) -> Result<(), PublishError>
where
    F: FnMut(&'b [Envelope]) -> Fut,
    Fut: Future<Output = Result<ChunkOutcome, String>>,
{
    let mut published = 0;
    for chunk in batch.chunks(CHUNK) {
        match send(chunk)
            .await
            .map_err(|message| PublishError::after(published, message))?
        {
            ChunkOutcome::Accepted => published += chunk.len(),
            ChunkOutcome::Rejected { accepted, reason } => {
                return Err(PublishError::after(
                    published + accepted,
                    format!("{service} rejected event {}: {reason}", chunk[accepted].id),
                ));
            }
        }
    }
    Ok(())
}

/// The outcome of an SNS or SQS batch from its failed entries (id, code, message): the ids are
/// the entries' indices in the chunk.
fn outcome_of_failed<'a>(
    len: usize,
    failed: impl IntoIterator<Item = (&'a str, &'a str, Option<&'a str>)>,
) -> ChunkOutcome {
    let failed: Vec<_> = failed.into_iter().collect();
    let accepted = accepted_prefix(len, failed.iter().map(|(id, _, _)| *id));
    if accepted == len {
        return ChunkOutcome::Accepted;
    }
    let reason = failed
        .iter()
        .find(|(id, _, _)| *id == accepted.to_string())
        .map(|(_, code, message)| format!("{code}: {}", message.unwrap_or("")))
        .unwrap_or_else(|| "an entry with an unknown id".to_owned());
    ChunkOutcome::Rejected { accepted, reason }
}

/// The message of a request that failed as a whole (not one rejected entry).
fn request_failed(service: &str, error: impl std::error::Error) -> String {
    // `DisplayErrorContext` prints the error's whole chain (the HTTP or service error under the
    // SDK's "dispatch failure"/"service error"); requests, and so credentials, are not in it.
    format!(
        "{service} request failed: {}",
        aws_sdk_sns::error::DisplayErrorContext(error)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_rejected_entry_ends_the_accepted_prefix() {
        assert_eq!(accepted_prefix(10, []), 10);
        assert_eq!(accepted_prefix(4, ["3"]), 3);
        assert_eq!(accepted_prefix(10, ["7", "2", "9"]), 2);
        assert_eq!(accepted_prefix(10, ["0"]), 0);
    }

    #[test]
    fn an_unknown_rejected_id_marks_nothing_of_the_chunk_published() {
        assert_eq!(accepted_prefix(10, ["x"]), 0);
        assert_eq!(accepted_prefix(3, ["5", "2"]), 0);
    }

    #[test]
    fn fifo_targets_are_recognised_by_their_suffix() {
        assert!(is_fifo("arn:aws:sns:eu-west-1:123456789012:carts.fifo"));
        assert!(is_fifo(
            "https://sqs.eu-west-1.amazonaws.com/123456789012/carts.fifo"
        ));
        assert!(!is_fifo("arn:aws:sns:eu-west-1:123456789012:carts"));
    }
}
