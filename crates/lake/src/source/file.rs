//! The file sink's NDJSON (`CARTD_EVENTS=file://…`, the embedded default) as a source: read
//! from a byte offset kept in the lake (`_state/ingest/<consumer>-<hash of the path>.json`), so
//! a restart goes on where the last acknowledged batch ended.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};

use super::Source;
use crate::LakeError;
use crate::lake::Lake;

/// The file's checkpoint: the offset after the last acknowledged line.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    path: String,
    offset: u64,
}

/// Reads complete lines of an NDJSON file from a checkpointed offset.
pub struct FileSource {
    path: PathBuf,
    lake: Lake,
    state: String,
    acknowledged: u64,
    received: u64,
}

impl FileSource {
    /// Opens the file at `path` from its checkpoint.
    pub async fn open(path: PathBuf, lake: &Lake, consumer: &str) -> Result<Self, LakeError> {
        let hash = Sha256::digest(path.to_string_lossy().as_bytes());
        let state = format!(
            "_state/ingest/{consumer}-{}.json",
            &hash.iter().map(|b| format!("{b:02x}")).collect::<String>()[..16]
        );
        let offset = match lake.get(&state).await? {
            Some(bytes) => {
                serde_json::from_slice::<Checkpoint>(&bytes)
                    .map_err(|e| LakeError::Config(format!("{state}: {e}")))?
                    .offset
            }
            None => 0,
        };
        Ok(Self {
            path,
            lake: lake.clone(),
            state,
            acknowledged: offset,
            received: offset,
        })
    }
}

#[async_trait]
impl Source for FileSource {
    async fn receive(&mut self, max: usize, _wait: Duration) -> Result<Vec<Bytes>, LakeError> {
        let file = match tokio::fs::File::open(&self.path).await {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error.into()),
        };
        let mut reader = BufReader::new(file);
        reader.seek(SeekFrom::Start(self.received)).await?;
        let mut events = Vec::new();
        while events.len() < max {
            let mut line = Vec::new();
            let read = reader.read_until(b'\n', &mut line).await?;
            // A line without its newline is still being appended: leave it for next time.
            if read == 0 || !line.ends_with(b"\n") {
                break;
            }
            self.received += read as u64;
            line.pop();
            if !line.iter().all(u8::is_ascii_whitespace) {
                events.push(Bytes::from(line));
            }
        }
        Ok(events)
    }

    async fn acknowledge(&mut self) -> Result<(), LakeError> {
        if self.received == self.acknowledged {
            return Ok(());
        }
        let checkpoint = Checkpoint {
            path: self.path.to_string_lossy().into_owned(),
            offset: self.received,
        };
        let json = serde_json::to_vec(&checkpoint).map_err(std::io::Error::other)?;
        self.lake.put(&self.state, Bytes::from(json)).await?;
        self.acknowledged = self.received;
        Ok(())
    }
}
