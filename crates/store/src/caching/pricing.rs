//! A read-through cache in front of [`PricingSettings`], as a decorator of the port: every
//! totals read looks up the region's tax table and shipping rate and each code's promotion, and
//! those change rarely. Like [`super::CachedCatalog`]: entries (also "no such setting") live for
//! a TTL on the injected clock, settings changed through this cache are forgotten at once, and
//! a change made by another process (another replica's `PUT`, `cartd pricing import`) is seen
//! within the TTL.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use cart_core::{Clock, PricingKind, PricingSettings, StoreError};

/// Entries kept at most; when full, the cache starts over.
const CAPACITY: usize = 10_000;

/// A setting's kind and key.
type SettingKey = (PricingKind, Box<str>);

/// [`PricingSettings`] that remember single lookups for a while (lists are always read).
pub struct CachedPricingSettings {
    inner: Arc<dyn PricingSettings>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    entries: RwLock<HashMap<SettingKey, (Option<String>, OffsetDateTime)>>,
}

impl CachedPricingSettings {
    /// Caches `inner`'s lookups for `ttl`.
    pub fn new(inner: Arc<dyn PricingSettings>, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self {
            inner,
            clock,
            ttl,
            entries: RwLock::default(),
        }
    }

    fn forget(&self, kind: PricingKind, key: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.remove(&(kind, key.into()));
    }
}

#[async_trait]
impl PricingSettings for CachedPricingSettings {
    async fn put_setting(
        &self,
        kind: PricingKind,
        key: &str,
        document: &str,
    ) -> Result<bool, StoreError> {
        let outcome = self.inner.put_setting(kind, key, document).await;
        self.forget(kind, key);
        outcome
    }

    async fn setting(&self, kind: PricingKind, key: &str) -> Result<Option<String>, StoreError> {
        let now = self.clock.now();
        let cache_key: SettingKey = (kind, key.into());
        {
            let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
            if let Some((document, fetched_at)) = entries.get(&cache_key)
                && now - *fetched_at < self.ttl
            {
                return Ok(document.clone());
            }
        }
        let document = self.inner.setting(kind, key).await?;
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(cache_key, (document.clone(), now));
        Ok(document)
    }

    async fn settings(&self, kind: PricingKind) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.settings(kind).await
    }

    async fn delete_setting(&self, kind: PricingKind, key: &str) -> Result<bool, StoreError> {
        let outcome = self.inner.delete_setting(kind, key).await;
        self.forget(kind, key);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use cart_core::ManualClock;

    use super::*;

    /// Settings in memory that count their reads.
    #[derive(Default)]
    struct Counting {
        documents: RwLock<HashMap<SettingKey, String>>,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl PricingSettings for Counting {
        async fn put_setting(
            &self,
            kind: PricingKind,
            key: &str,
            document: &str,
        ) -> Result<bool, StoreError> {
            let mut documents = self.documents.write().expect("lock");
            Ok(documents
                .insert((kind, key.into()), document.to_owned())
                .is_none())
        }

        async fn setting(
            &self,
            kind: PricingKind,
            key: &str,
        ) -> Result<Option<String>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let documents = self.documents.read().expect("lock");
            Ok(documents.get(&(kind, key.into())).cloned())
        }

        async fn settings(&self, _: PricingKind) -> Result<Vec<(String, String)>, StoreError> {
            Ok(Vec::new())
        }

        async fn delete_setting(&self, kind: PricingKind, key: &str) -> Result<bool, StoreError> {
            let mut documents = self.documents.write().expect("lock");
            Ok(documents.remove(&(kind, key.into())).is_some())
        }
    }

    #[tokio::test]
    async fn lookups_are_reused_within_the_ttl_and_changes_through_it_are_seen_at_once() {
        let inner = Arc::new(Counting::default());
        let clock = Arc::new(ManualClock::new(OffsetDateTime::UNIX_EPOCH));
        let cached = CachedPricingSettings::new(inner.clone(), clock.clone(), Duration::seconds(2));
        let kind = PricingKind::TaxRates;
        let reads = || inner.reads.load(Ordering::SeqCst);

        assert_eq!(cached.setting(kind, "FR").await, Ok(None));
        assert_eq!(
            cached.setting(kind, "FR").await,
            Ok(None),
            "absence is cached"
        );
        assert_eq!(reads(), 1);
        cached.put_setting(kind, "FR", "{}").await.expect("put");
        assert_eq!(cached.setting(kind, "FR").await, Ok(Some("{}".into())));
        assert_eq!(reads(), 2, "the write was seen at once");

        // A change made elsewhere (under the cache) is seen once the TTL has passed.
        inner.put_setting(kind, "FR", "[]").await.expect("put");
        assert_eq!(cached.setting(kind, "FR").await, Ok(Some("{}".into())));
        clock.advance(Duration::seconds(2));
        assert_eq!(cached.setting(kind, "FR").await, Ok(Some("[]".into())));

        cached.delete_setting(kind, "FR").await.expect("delete");
        assert_eq!(cached.setting(kind, "FR").await, Ok(None));
        assert_eq!(
            cached.setting(PricingKind::ShippingRate, "FR").await,
            Ok(None),
            "kinds are apart"
        );
    }
}
