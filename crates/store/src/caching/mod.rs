//! Caches, as decorators of the core's ports: [`RememberingStore`] (the carts this process
//! committed last, for the next write's start), [`CachedCatalog`] (product lookups, for a TTL)
//! and [`CachedPricingSettings`] (tax tables, shipping rates and promotions, for the same TTL).
//! They save work and decide nothing: what they answer is checked or bounded in age.

mod catalog;
mod pricing;
mod recent;
mod store;

pub use catalog::CachedCatalog;
pub use pricing::CachedPricingSettings;
pub use recent::DEFAULT_BUDGET as DEFAULT_RECENT_CARTS_BUDGET;
pub use store::RememberingStore;

use time::Duration;

/// How much the caches keep. Zero turns a cache off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// How long a catalog lookup, or a pricing setting's, is reused.
    pub catalog_ttl: Duration,
    /// Bytes of memory for the carts this process committed last.
    pub recent_carts_memory: usize,
}

impl Default for CacheConfig {
    /// Catalog lookups reused for 2 s; [`DEFAULT_RECENT_CARTS_BUDGET`] of carts.
    fn default() -> Self {
        Self {
            catalog_ttl: Duration::seconds(2),
            recent_carts_memory: DEFAULT_RECENT_CARTS_BUDGET,
        }
    }
}
