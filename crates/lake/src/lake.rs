//! Where the lake lives: a local directory (the default, `./lake`) or an S3 prefix
//! (`s3://bucket/prefix`), both through the `object_store` crate so every layer is written the
//! same way whichever it is.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload};

use crate::LakeError;

/// The lake's root on an object store. Every path a command names is relative to it.
#[derive(Debug, Clone)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    root: Path,
    url: String,
}

impl Lake {
    /// Opens the lake at `url`: `s3://bucket[/prefix][?endpoint=URL&region=R]` (credentials,
    /// region and endpoint otherwise from the usual `AWS_*` variables; `endpoint` or
    /// `AWS_ENDPOINT_URL` for an S3-compatible server), or a directory path (`file://`
    /// optional), created if missing.
    pub fn open(url: &str) -> Result<Self, LakeError> {
        if let Some(rest) = url.strip_prefix("s3://") {
            let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
            let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
            if bucket.is_empty() {
                return Err(LakeError::Config(format!("{url}: no bucket")));
            }
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            let mut endpoint = std::env::var("AWS_ENDPOINT_URL").ok();
            let mut region = std::env::var("AWS_REGION")
                .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|_| "us-east-1".to_owned());
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                match pair.split_once('=') {
                    Some(("endpoint", value)) => endpoint = Some(value.to_owned()),
                    Some(("region", value)) => region = value.to_owned(),
                    _ => {
                        return Err(LakeError::Config(format!(
                            "{url}: unknown parameter `{pair}` (endpoint, region)"
                        )));
                    }
                }
            }
            if let Some(endpoint) = endpoint {
                // A local S3-compatible server (moto, MinIO) takes any credentials.
                if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                    builder = builder
                        .with_access_key_id("local")
                        .with_secret_access_key("local");
                }
                builder = builder
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_endpoint(endpoint);
            }
            let store = builder.with_region(region).build()?;
            return Ok(Self {
                store: Arc::new(store),
                root: Path::from(prefix.trim_matches('/')),
                url: url.to_owned(),
            });
        }
        if url.contains("://") && !url.starts_with("file://") {
            return Err(LakeError::Config(format!(
                "{url}: a lake is a directory or s3://bucket/prefix"
            )));
        }
        let dir = url.strip_prefix("file://").unwrap_or(url);
        std::fs::create_dir_all(dir)?;
        let store = LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true);
        Ok(Self {
            store: Arc::new(store),
            root: Path::default(),
            url: url.to_owned(),
        })
    }

    /// The URL the lake was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, relative: &str) -> Path {
        let mut path = self.root.clone();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            path = path.join(part);
        }
        path
    }

    fn relative(&self, path: &Path) -> String {
        let full = path.as_ref();
        let root = self.root.as_ref();
        if root.is_empty() {
            full.to_owned()
        } else {
            full.strip_prefix(root)
                .map(|rest| rest.trim_start_matches('/').to_owned())
                .unwrap_or_else(|| full.to_owned())
        }
    }

    /// Writes `bytes` at `relative`, replacing what was there.
    pub async fn put(&self, relative: &str, bytes: Bytes) -> Result<(), LakeError> {
        self.store
            .put(&self.path(relative), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// Writes `bytes` at `relative` only if nothing is there: a bronze object is never
    /// overwritten, even by a run that picked the same name.
    pub async fn create(&self, relative: &str, bytes: Bytes) -> Result<(), LakeError> {
        self.store
            .put_opts(
                &self.path(relative),
                PutPayload::from(bytes),
                PutMode::Create.into(),
            )
            .await?;
        Ok(())
    }

    /// The object at `relative`, or `None` when there is none.
    pub async fn get(&self, relative: &str) -> Result<Option<Bytes>, LakeError> {
        match self.store.get(&self.path(relative)).await {
            Ok(found) => Ok(Some(found.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Whether an object exists at `relative`.
    pub async fn exists(&self, relative: &str) -> Result<bool, LakeError> {
        match self.store.head(&self.path(relative)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Every object under `prefix` (a folder), as paths relative to the lake, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, LakeError> {
        let prefix = self.path(prefix);
        let objects: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        let mut names: Vec<String> = objects
            .iter()
            .map(|meta| self.relative(&meta.location))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Moves `from` to `to`, replacing `to`: one rename on a directory, a copy and a delete
    /// on S3 (each object still appears whole: S3 writes are atomic per object).
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), LakeError> {
        self.store.rename(&self.path(from), &self.path(to)).await?;
        Ok(())
    }

    /// Deletes `relative`; deleting what is not there is not an error.
    pub async fn delete(&self, relative: &str) -> Result<(), LakeError> {
        match self.store.delete(&self.path(relative)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}
