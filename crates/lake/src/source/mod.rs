//! Where `ingest` reads the event stream, chosen by the `--from` URL:
//!
//! | URL | source |
//! |---|---|
//! | `nats://HOST:PORT[?stream=CART_EVENTS]` | a JetStream durable pull consumer |
//! | `redis://HOST:PORT[/DB][?stream=cartd:events]` | a Redis Streams consumer group |
//! | `sqs://QUEUE-URL[?region=…&endpoint=…]` | an SQS queue (SNS notifications unwrapped) |
//! | `file://PATH.ndjson` | the file sink's NDJSON, with a checkpoint in the lake |
//!
//! The URLs are those of `CARTD_EVENTS` (docs/events.md), parsed by the same code: point
//! `--from` at what the service publishes to.
//!
//! Every source hands out batches and forgets a batch only when [`Source::acknowledge`] is
//! called, which `ingest` does after the batch's bronze objects are written: a crash in
//! between delivers the batch again (at least once; silver drops the copies).

mod file;
mod nats;
mod redis;
mod sqs;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use cart_events::SinkUrl;

use crate::LakeError;
use crate::lake::Lake;

/// An event stream read in acknowledged batches.
#[async_trait]
pub trait Source: Send {
    /// Up to `max` events (each one JSON document), waiting up to `wait` for the first; empty
    /// when none came. Events received but not yet acknowledged are not received again.
    async fn receive(&mut self, max: usize, wait: Duration) -> Result<Vec<Bytes>, LakeError>;

    /// Tells the stream every event received so far is stored.
    async fn acknowledge(&mut self) -> Result<(), LakeError>;
}

/// Opens the source at `url`. `consumer` names the durable consumer, consumer group or
/// checkpoint, so two lakes can read one stream independently.
pub async fn open(url: &str, lake: &Lake, consumer: &str) -> Result<Box<dyn Source>, LakeError> {
    let parsed = SinkUrl::parse(url).map_err(|e| LakeError::Config(format!("--from: {e}")))?;
    Ok(match parsed {
        SinkUrl::Nats { url, stream, .. } => {
            Box::new(nats::NatsSource::open(&url, &stream, consumer).await?)
        }
        SinkUrl::Redis { url, stream, .. } => {
            Box::new(redis::RedisSource::open(&url, &stream, consumer).await?)
        }
        SinkUrl::Sqs(target) => Box::new(sqs::SqsSource::open(&target).await),
        SinkUrl::File(path) => Box::new(file::FileSource::open(path, lake, consumer).await?),
        SinkUrl::Sns(_) | SinkUrl::EventBridge(_) => {
            return Err(LakeError::Config(format!(
                "--from {url}: SNS and EventBridge cannot be read; subscribe an SQS queue and \
                 read that (sqs://QUEUE-URL)"
            )));
        }
    })
}

fn source_error(error: impl std::fmt::Display) -> LakeError {
    LakeError::Source(error.to_string())
}
