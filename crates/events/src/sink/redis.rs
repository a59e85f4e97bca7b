//! The Redis Streams sink: one `XADD … MAXLEN ~ N` per event, the batch pipelined on one
//! connection so the stream keeps the outbox's order. Fields: `id`, `type`, `subject` (for
//! consumers that filter without parsing) and `event` (the envelope JSON).

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::{ConnectError, PublishError, Sink};
use crate::envelope::Envelope;

/// Timeout of connecting and of each batch.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Appends to a Redis Stream.
pub struct RedisSink {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    stream: String,
    max_len: usize,
}

impl RedisSink {
    /// Checks the URL; the connection is made on the first publish (and kept up by the
    /// connection manager), so a Redis that is down at start delays events instead of failing.
    pub async fn connect(url: &str, stream: &str, max_len: usize) -> Result<Self, ConnectError> {
        let client = redis::Client::open(url).map_err(|e| ConnectError {
            sink: "redis",
            message: e.to_string(),
        })?;
        Ok(Self {
            client,
            connection: OnceCell::new(),
            stream: stream.to_owned(),
            max_len,
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, PublishError> {
        self.connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(TIMEOUT))
                    .set_response_timeout(Some(TIMEOUT))
                    .set_number_of_retries(1);
                tokio::time::timeout(
                    TIMEOUT,
                    ConnectionManager::new_with_config(self.client.clone(), config),
                )
                .await
                .map_err(|_| PublishError::after(0, "Redis did not answer in time"))?
                .map_err(|e| PublishError::after(0, format!("cannot connect to Redis: {e}")))
            })
            .await
            .cloned()
    }
}

#[async_trait]
impl Sink for RedisSink {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn publish(&self, batch: &[Envelope]) -> Result<(), PublishError> {
        let mut connection = self.connection().await?;
        let mut pipe = redis::pipe();
        for envelope in batch {
            pipe.cmd("XADD")
                .arg(&self.stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.max_len)
                .arg("*")
                .arg("id")
                .arg(envelope.id.to_string())
                .arg("type")
                .arg(envelope.event_type)
                .arg("subject")
                .arg(&envelope.subject)
                .arg("event")
                .arg(envelope.to_json())
                .ignore();
        }
        // A pipeline is not a transaction: if it fails midway, some events may be in the stream
        // already; the batch is sent again and consumers drop the copies by `id`.
        pipe.query_async::<()>(&mut connection)
            .await
            .map_err(|e| PublishError::after(0, e))
    }
}
