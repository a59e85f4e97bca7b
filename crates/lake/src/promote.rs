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

/// How old a staging folder must be before [`sweep_abandoned`] takes it for a dead run's: far
/// longer than any run takes.
pub const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Deletes what runs that died before promoting (a killed process, a store error midway) left
/// in `_staging/` more than [`ABANDONED_AFTER`] before `now`. A staging folder is named by its
/// run's ULID, which carries the run's start time, so no clock of the store is needed. Returns
/// the number of files deleted.
pub async fn sweep_abandoned(lake: &Lake, now: std::time::SystemTime) -> Result<usize, LakeError> {
    let mut deleted = 0;
    for name in lake.list("_staging").await? {
        let run = name
            .strip_prefix("_staging/")
            .and_then(|rest| rest.split('/').next())
            .and_then(|run| Ulid::from_string(run).ok());
        let abandoned = run.is_some_and(|run| {
            now.duration_since(run.datetime())
                .is_ok_and(|age| age > ABANDONED_AFTER)
        });
        if abandoned {
            lake.delete(&name).await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Whether the partition folder `folder` is complete (has its `_SUCCESS`).
pub async fn is_complete(lake: &Lake, folder: &str) -> Result<bool, LakeError> {
    lake.exists(&format!("{folder}/{SUCCESS}")).await
}
