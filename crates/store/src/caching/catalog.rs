//! A read-through cache in front of a [`Catalog`], as a decorator of the port: adds look a product up on every request, and
//! catalog rows change rarely. Entries (also "no such product") live for a TTL on the injected
//! clock; products changed through this cache are forgotten at once. Another process changing
//! the catalog (another replica's `PUT`, `cartd catalog import`) is seen within the TTL.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use cart_core::{Catalog, Clock, Product, ProductId, StoreError};

/// Entries kept at most; when full, the cache starts over (a catalog this large is read
/// mostly by its popular products, which come back at once).
const CAPACITY: usize = 100_000;

/// A [`Catalog`] that remembers product lookups for a while.
pub struct CachedCatalog {
    inner: Arc<dyn Catalog>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    entries: RwLock<HashMap<ProductId, (Option<Product>, OffsetDateTime)>>,
}

impl CachedCatalog {
    /// Caches `inner`'s product lookups for `ttl`.
    pub fn new(inner: Arc<dyn Catalog>, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self {
            inner,
            clock,
            ttl,
            entries: RwLock::default(),
        }
    }
}

#[async_trait]
impl Catalog for CachedCatalog {
    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        let now = self.clock.now();
        {
            let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
            if let Some((product, fetched_at)) = entries.get(id)
                && now - *fetched_at < self.ttl
            {
                metrics::counter!("cartd_catalog_lookups_total", "result" => "hit").increment(1);
                return Ok(product.clone());
            }
        }
        metrics::counter!("cartd_catalog_lookups_total", "result" => "miss").increment(1);
        let product = self.inner.product(id).await?;
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(id.clone(), (product.clone(), now));
        Ok(product)
    }

    async fn products(
        &self,
        after: Option<&ProductId>,
        limit: usize,
    ) -> Result<Vec<Product>, StoreError> {
        self.inner.products(after, limit).await
    }

    async fn upsert_products(&self, products: Vec<Product>) -> Result<Vec<bool>, StoreError> {
        let ids: Vec<ProductId> = products.iter().map(|p| p.id.clone()).collect();
        let outcome = self.inner.upsert_products(products).await;
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        for id in &ids {
            entries.remove(id);
        }
        outcome
    }

    async fn product_count(&self) -> Result<u64, StoreError> {
        self.inner.product_count().await
    }
}
