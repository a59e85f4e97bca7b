//! cart-store: the backends behind `cart_core::Store`, `cart_core::Catalog`,
//! `cart_core::Outbox` and `cart_core::PricingSettings`.
//!
//! # Layout
//!
//! - [`url`]: the `CARTD_STORE` URL, parsed into a [`StoreUrl`].
//! - [`sqlite`]: the embedded default (feature `sqlite`): WAL, one writer thread with group
//!   commit, checkpoints on a thread beside it, a pool of read connections used on the calling
//!   thread; carts and events as postcard BLOBs.
//! - [`postgres`]: PostgreSQL (feature `postgres`): JSONB cart documents; the common one-cart
//!   commit is grouped with other carts' into one statement.
//! - [`redis`]: Redis (feature `redis`): one Lua script per commit, the outbox in a stream.
//! - [`dynamodb`]: DynamoDB (feature `dynamodb`): one table, `TransactWriteItems` per commit.
//! - [`remote`]: a catalog kept by another service, over HTTP (feature `remote-catalog`), with
//!   retries, a cache and a circuit breaker.
//! - `columns` (private): stored columns to and from domain values (products, versions,
//!   millisecond times), shared by the backends.
//! - `tests/conformance.rs`: the conformance suite every backend runs.
//!
//! [`open`] turns a URL into a [`Backend`], whose store, catalog and outbox the service is wired
//! to.

use std::sync::Arc;

use cart_core::{Catalog, Clock, Outbox, PricingSettings, Records, Store, StoreError};

pub mod caching;
#[cfg(any(
    feature = "sqlite",
    feature = "postgres",
    feature = "redis",
    feature = "dynamodb"
))]
mod columns;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(any(
    feature = "sqlite",
    feature = "postgres",
    feature = "redis",
    feature = "dynamodb"
))]
mod idempotency_doc;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "remote-catalog")]
pub mod remote;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod url;

pub use url::{StoreUrl, UrlError};

/// An opened backend: one object that is the cart store, the catalog and the relay's outbox, so
/// one URL is all an operator sets.
#[derive(Clone)]
pub struct Backend {
    store: Arc<dyn Store>,
    catalog: Arc<dyn Catalog>,
    outbox: Arc<dyn Outbox>,
    pricing: Arc<dyn PricingSettings>,
    records: Arc<dyn Records>,
    pool: Option<Arc<dyn ConnectionPool>>,
    kind: &'static str,
}

/// How busy a store's connection pool is, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections lent out now.
    pub in_use: u32,
    /// Connections open and idle.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
    /// Commits waiting their turn: queued for the SQLite writer thread, or for PostgreSQL's
    /// group-commit statement (sqlx does not say how many tasks wait for a connection).
    pub commits_waiting: u32,
}

/// A backend that talks to its database through a pool of connections (PostgreSQL, and
/// SQLite's readers); Redis and DynamoDB multiplex one client and have none.
pub trait ConnectionPool: Send + Sync + 'static {
    /// The pool now.
    fn pool_stats(&self) -> PoolStats;
}

impl Backend {
    fn new<T: Store + Catalog + Outbox + PricingSettings + Records>(
        backend: T,
        kind: &'static str,
    ) -> Self {
        Self::shared(Arc::new(backend), kind)
    }

    fn shared<T: Store + Catalog + Outbox + PricingSettings + Records>(
        backend: Arc<T>,
        kind: &'static str,
    ) -> Self {
        Self {
            store: backend.clone(),
            catalog: backend.clone(),
            outbox: backend.clone(),
            pricing: backend.clone(),
            records: backend,
            pool: None,
            kind,
        }
    }

    #[allow(dead_code)] // unused in builds without a pooled backend
    fn pooled<T: Store + Catalog + Outbox + PricingSettings + Records + ConnectionPool>(
        backend: T,
        kind: &'static str,
    ) -> Self {
        let backend = Arc::new(backend);
        Self {
            pool: Some(backend.clone()),
            ..Self::shared(backend, kind)
        }
    }

    /// The connection pool's state, for backends that have one.
    pub fn pool_stats(&self) -> Option<PoolStats> {
        self.pool.as_ref().map(|pool| pool.pool_stats())
    }

    /// The cart store.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The catalog.
    pub fn catalog(&self) -> Arc<dyn Catalog> {
        self.catalog.clone()
    }

    /// Pricing settings: tax tables, shipping rates and promotions.
    pub fn pricing(&self) -> Arc<dyn PricingSettings> {
        self.pricing.clone()
    }

    /// The relay's side of the outbox (lease, marks, pruning, stats) over the same store whose
    /// [`Store::pending_events`] it publishes.
    pub fn outbox(&self) -> Arc<dyn Outbox> {
        self.outbox.clone()
    }

    /// Orders, stock levels and checkout's other records (read side; writes go through
    /// [`Store::commit`]), never cached: checkout decides on what is stored.
    pub fn records(&self) -> Arc<dyn Records> {
        self.records.clone()
    }

    /// The same backend behind the caches `config` turns on ([`caching`]): the store
    /// remembers the carts this process commits, the catalog and the pricing settings their
    /// lookups.
    pub fn with_caches(mut self, clock: Arc<dyn Clock>, config: caching::CacheConfig) -> Self {
        if config.recent_carts_memory > 0 {
            self.store = Arc::new(caching::RememberingStore::new(
                self.store,
                config.recent_carts_memory,
            ));
        }
        if config.catalog_ttl > time::Duration::ZERO {
            self.catalog = Arc::new(caching::CachedCatalog::new(
                self.catalog,
                clock.clone(),
                config.catalog_ttl,
            ));
            self.pricing = Arc::new(caching::CachedPricingSettings::new(
                self.pricing,
                clock,
                config.catalog_ttl,
            ));
        }
        self
    }

    /// The same backend with products read from `catalog` instead of the store (a remote
    /// catalog service, `CARTD_CATALOG`).
    pub fn with_catalog(mut self, catalog: Arc<dyn Catalog>) -> Self {
        self.catalog = catalog;
        self
    }

    /// A short name for logs and `/ready` (`sqlite`, `postgres`, `redis`, `dynamodb`).
    pub fn kind(&self) -> &'static str {
        self.kind
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
            Ok(Backend::pooled(store, "sqlite"))
        }
        #[cfg(feature = "postgres")]
        StoreUrl::Postgres(options) => Ok(Backend::pooled(
            postgres::PgStore::open(options).await?,
            "postgres",
        )),
        #[cfg(feature = "redis")]
        StoreUrl::Redis(options) => Ok(Backend::new(
            redis::RedisStore::open(options).await?,
            "redis",
        )),
        #[cfg(feature = "dynamodb")]
        StoreUrl::Dynamo(options) => Ok(Backend::new(
            dynamodb::DynamoStore::open(options).await?,
            "dynamodb",
        )),
        #[allow(unreachable_patterns)]
        other => Err(StoreError::Unavailable(format!(
            "this build of cartd has no support for {other:?}; enable its cargo feature"
        ))),
    }
}
