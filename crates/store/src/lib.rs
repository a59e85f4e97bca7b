//! cart-store: the backends behind `cart_core::Store` and `cart_core::Catalog`.
//!
//! # Layout
//!
//! - [`url`]: the `CARTD_STORE` URL, parsed into a [`StoreUrl`].
//! - [`sqlite`]: the embedded default (feature `sqlite`): one writer thread with group commit,
//!   a pool of readers, WAL.
//!
//! [`open`] turns a URL into a [`Backend`], whose store and catalog the service is wired to.
//! - [`postgres`]: PostgreSQL (feature `postgres`): JSONB cart documents, a transaction per commit.
//!
//! - [`redis`]: Redis (feature `redis`): one Lua script per commit, the outbox in a stream.
//!
//! - [`dynamodb`]: DynamoDB (feature `dynamodb`): one table, `TransactWriteItems` per commit.

use std::sync::Arc;

use cart_core::{Catalog, Store, StoreError};

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod columns;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod url;

pub use url::{StoreUrl, UrlError};

/// An opened backend: one object that is both the cart store and the catalog, so one URL is all
/// an operator sets.
#[derive(Clone)]
pub enum Backend {
    /// The embedded SQLite store.
    #[cfg(feature = "sqlite")]
    Sqlite(Arc<sqlite::SqliteStore>),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(Arc<postgres::PgStore>),
    /// Redis.
    #[cfg(feature = "redis")]
    Redis(Arc<redis::RedisStore>),
    /// DynamoDB.
    #[cfg(feature = "dynamodb")]
    Dynamo(Arc<dynamodb::DynamoStore>),
}

impl Backend {
    /// The cart store.
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(store) => store.clone(),
            #[cfg(feature = "postgres")]
            Self::Postgres(store) => store.clone(),
            #[cfg(feature = "redis")]
            Self::Redis(store) => store.clone(),
            #[cfg(feature = "dynamodb")]
            Self::Dynamo(store) => store.clone(),
        }
    }

    /// The catalog.
    pub fn catalog(&self) -> Arc<dyn Catalog> {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(store) => store.clone(),
            #[cfg(feature = "postgres")]
            Self::Postgres(store) => store.clone(),
            #[cfg(feature = "redis")]
            Self::Redis(store) => store.clone(),
            #[cfg(feature = "dynamodb")]
            Self::Dynamo(store) => store.clone(),
        }
    }

    /// A short name for logs and `/ready` (`sqlite`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => "postgres",
            #[cfg(feature = "redis")]
            Self::Redis(_) => "redis",
            #[cfg(feature = "dynamodb")]
            Self::Dynamo(_) => "dynamodb",
        }
    }
}

/// Opens the backend a URL names, creating its schema (migrations are idempotent).
pub async fn open(url: &StoreUrl) -> Result<Backend, StoreError> {
    match url {
        #[cfg(feature = "sqlite")]
        StoreUrl::Sqlite(options) => {
            let options = options.clone();
            let store = tokio::task::spawn_blocking(move || sqlite::SqliteStore::open(&options))
                .await
                .map_err(|e| StoreError::Internal(format!("open task failed: {e}")))??;
            Ok(Backend::Sqlite(Arc::new(store)))
        }
        #[cfg(feature = "postgres")]
        StoreUrl::Postgres(options) => Ok(Backend::Postgres(Arc::new(
            postgres::PgStore::open(options).await?,
        ))),
        #[cfg(feature = "redis")]
        StoreUrl::Redis(options) => Ok(Backend::Redis(Arc::new(
            redis::RedisStore::open(options).await?,
        ))),
        #[cfg(feature = "dynamodb")]
        StoreUrl::Dynamo(options) => Ok(Backend::Dynamo(Arc::new(
            dynamodb::DynamoStore::open(options).await?,
        ))),
        #[allow(unreachable_patterns)]
        other => Err(StoreError::Unavailable(format!(
            "this build of cartd has no support for {other:?}; enable its cargo feature"
        ))),
    }
}
