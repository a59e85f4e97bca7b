//! A Redis Stream (what `CARTD_EVENTS=redis://…` fills) through a consumer group: entries are
//! read with `XREADGROUP` and acknowledged with `XACK`. After a restart the consumer first
//! takes back what it had received and not acknowledged (its pending entries), then new ones.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamReadOptions, StreamReadReply};

use super::{Source, source_error};
use crate::LakeError;

/// The consumer's name within its group: one ingest per group, so its pending entries are
/// always its own to take back.
const CONSUMER: &str = "ingest";

/// Reads a stream through a consumer group.
pub struct RedisSource {
    connection: MultiplexedConnection,
    stream: String,
    group: String,
    pending: Vec<String>,
    /// Whether the entries left pending by an earlier run have all been taken back.
    caught_up: bool,
}

impl RedisSource {
    /// Connects to `url` and makes sure the group `group` exists on `stream` (reading from the
    /// stream's start when it is new).
    pub async fn open(url: &str, stream: &str, group: &str) -> Result<Self, LakeError> {
        let client = redis::Client::open(url).map_err(source_error)?;
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .map_err(source_error)?;
        let created: redis::RedisResult<()> =
            connection.xgroup_create_mkstream(stream, group, "0").await;
        if let Err(error) = created
            && error.code() != Some("BUSYGROUP")
        {
            return Err(source_error(error));
        }
        Ok(Self {
            connection,
            stream: stream.to_owned(),
            group: group.to_owned(),
            pending: Vec::new(),
            caught_up: false,
        })
    }
}

#[async_trait]
impl Source for RedisSource {
    async fn receive(&mut self, max: usize, wait: Duration) -> Result<Vec<Bytes>, LakeError> {
        let mut options = StreamReadOptions::default()
            .group(&self.group, CONSUMER)
            .count(max);
        // "0" re-reads this consumer's pending entries; ">" reads new ones.
        let from = if self.caught_up { ">" } else { "0" };
        if self.caught_up {
            options = options.block(wait.as_millis().max(1) as usize);
        }
        let reply: Option<StreamReadReply> = self
            .connection
            .xread_options(&[&self.stream], &[from], &options)
            .await
            .map_err(source_error)?;
        let entries: Vec<_> = reply
            .into_iter()
            .flat_map(|reply| reply.keys)
            .flat_map(|key| key.ids)
            .collect();
        if entries.is_empty() && !self.caught_up {
            self.caught_up = true;
            return self.receive(max, wait).await;
        }
        let mut events = Vec::new();
        for entry in entries {
            if let Some(event) = entry.get::<Vec<u8>>("event") {
                events.push(Bytes::from(event));
            }
            self.pending.push(entry.id);
        }
        Ok(events)
    }

    async fn acknowledge(&mut self) -> Result<(), LakeError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let ids = std::mem::take(&mut self.pending);
        let _: usize = self
            .connection
            .xack(&self.stream, &self.group, &ids)
            .await
            .map_err(source_error)?;
        Ok(())
    }
}
