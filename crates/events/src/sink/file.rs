//! The file sink: one CloudEvents envelope per line, appended to an NDJSON file and fsynced
//! before the batch counts as published. The embedded default, and handy for demos and `tail -f`.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::fs::{File, OpenOptions};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use super::{ConnectError, PublishError, Sink};
use crate::envelope::Envelope;

/// Appends envelopes to a file.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    file: Mutex<File>,
}

impl FileSink {
    /// Opens (creating) `path` for appending, and its directory if missing.
    pub async fn open(path: &Path) -> Result<Self, ConnectError> {
        let failed = |e: std::io::Error| ConnectError {
            sink: "file",
            message: format!("{}: {e}", path.display()),
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(failed)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
            .map_err(failed)?;
        Ok(Self {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }
}

#[async_trait]
impl Sink for FileSink {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn publish(&self, batch: &[Envelope]) -> Result<(), PublishError> {
        let mut lines = Vec::with_capacity(batch.len() * 512);
        for envelope in batch {
            lines.extend_from_slice(&envelope.to_json());
            lines.push(b'\n');
        }
        let mut file = self.file.lock().await;
        let failed =
            |e: std::io::Error| PublishError::after(0, format!("{}: {e}", self.path.display()));
        // One write of whole lines, then fsync: a crash leaves at most a torn last line, and
        // the batch is sent again because it was not marked.
        file.write_all(&lines).await.map_err(failed)?;
        file.sync_data().await.map_err(failed)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::DEFAULT_SOURCE;
    use cart_core::{CartEvent, CartKey, EventType, Owner, Totals};
    use time::OffsetDateTime;
    use uuid::Uuid;

    fn envelope() -> Envelope {
        let event = CartEvent {
            id: Uuid::now_v7(),
            event_type: EventType::CartCleared,
            cart_id: Uuid::new_v4(),
            cart_key: CartKey::parse("bob").expect("key"),
            owner: Owner::User,
            version: 3,
            occurred_at: OffsetDateTime::now_utc(),
            line: None,
            totals: Totals {
                item_count: 0,
                total_quantity: 0,
                total_price: 0,
            },
            currency: "USD".into(),
            merge: None,
            traceparent: None,
            pricing: Default::default(),
            order: None,
        };
        Envelope::from_event(&event, DEFAULT_SOURCE)
    }

    #[tokio::test]
    async fn batches_append_one_line_per_envelope_across_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested/events.ndjson");
        let (first, second) = (envelope(), envelope());
        FileSink::open(&path)
            .await
            .expect("open")
            .publish(std::slice::from_ref(&first))
            .await
            .expect("publish");
        FileSink::open(&path)
            .await
            .expect("reopen")
            .publish(std::slice::from_ref(&second))
            .await
            .expect("publish");
        let text = std::fs::read_to_string(&path).expect("read");
        let ids: Vec<String> = text
            .lines()
            .map(|line| {
                let json: serde_json::Value = serde_json::from_str(line).expect("json line");
                json["id"].as_str().expect("id").to_owned()
            })
            .collect();
        assert_eq!(ids, [first.id.to_string(), second.id.to_string()]);
    }
}
