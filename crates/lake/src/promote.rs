//! Promotion: a partition's files are written under `_staging/<run>/` first and moved into
//! place only once its gate passed, then a `_SUCCESS` marker is written in each partition
//! folder, as Spark and Hive expect. Readers that wait for `_SUCCESS` never see a partition
//! being replaced; a refused partition leaves the previous one as it was.

use bytes::Bytes;
use ulid::Ulid;

use crate::LakeError;
use crate::lake::Lake;

/// The name of the completeness marker in a partition folder.
pub const SUCCESS: &str = "_SUCCESS";

/// Files written for one promotion, not yet visible.
pub struct Staging {
    lake: Lake,
    dir: String,
    files: Vec<(String, String)>,
    removed: Vec<String>,
}

impl Staging {
    /// An empty staging area of its own.
    pub fn new(lake: Lake) -> Self {
        Self {
            lake,
            dir: format!("_staging/{}", Ulid::new()),
            files: Vec::new(),
            removed: Vec::new(),
        }
    }

    /// Writes `bytes` to be published at `target`.
    pub async fn stage(&mut self, target: &str, bytes: Bytes) -> Result<u64, LakeError> {
        let staged = format!("{}/{target}", self.dir);
        let size = bytes.len() as u64;
        self.lake.put(&staged, bytes).await?;
        self.files.push((staged, target.to_owned()));
        Ok(size)
    }

    /// Marks `target` for deletion at promotion (a file the new partition no longer has).
    pub fn remove(&mut self, target: &str) {
        self.removed.push(target.to_owned());
    }

    /// Publishes every staged file and writes `_SUCCESS` in each of `folders`: the markers go
    /// first (a reader waiting for them does not read a half-replaced partition) and come back
    /// last.
    pub async fn promote(self, folders: &[String]) -> Result<(), LakeError> {
        for folder in folders {
            self.lake.delete(&format!("{folder}/{SUCCESS}")).await?;
        }
        for target in &self.removed {
            self.lake.delete(target).await?;
        }
        for (staged, target) in &self.files {
            self.lake.rename(staged, target).await?;
        }
        for folder in folders {
            self.lake
                .put(&format!("{folder}/{SUCCESS}"), Bytes::new())
                .await?;
        }
        Ok(())
    }

    /// Drops everything staged: the gate refused.
    pub async fn discard(self) -> Result<(), LakeError> {
        for (staged, _) in &self.files {
            self.lake.delete(staged).await?;
        }
        Ok(())
    }
}

/// Whether the partition folder `folder` is complete (has its `_SUCCESS`).
pub async fn is_complete(lake: &Lake, folder: &str) -> Result<bool, LakeError> {
    lake.exists(&format!("{folder}/{SUCCESS}")).await
}
