//! A [`Store`] decorator remembering the carts this process committed last, so a write can
//! start from the cart it (probably) wrote before instead of reading and decoding it from the
//! store.
//!
//! A remembered cart is only a guess: another replica may have changed the cart since. It is
//! answered only through [`Store::load_for_change`], marked [`LoadedCart::guessed`], and the
//! use cases trust it only for a change they then commit, whose compare-and-set on the version
//! checks the guess; any other outcome is decided again from the store. Reads
//! ([`Store::load_cart`]) always go to the store. So the cache can make a write cheaper but
//! never makes an answer wrong.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use time::OffsetDateTime;

use cart_core::{
    Cart, CartKey, CartStamp, Commit, IdempotencyRecord, LoadedCart, OutboxEntry, Store,
    StoreError, SweepReport,
};

use super::recent::RecentCarts;

/// Shards of the memory, each behind its own lock: enough that writers of unrelated carts
/// rarely meet on one.
const SHARDS: usize = 1024;

/// A store that remembers the carts this process committed, within a byte budget.
pub struct RememberingStore {
    inner: Arc<dyn Store>,
    shards: Box<[Mutex<RecentCarts>]>,
}

impl RememberingStore {
    /// Remembers up to `budget` bytes of carts committed through `inner`.
    pub fn new(inner: Arc<dyn Store>, budget: usize) -> Self {
        let per_shard = budget / SHARDS;
        Self {
            inner,
            shards: (0..SHARDS)
                .map(|_| Mutex::new(RecentCarts::new(per_shard)))
                .collect(),
        }
    }

    fn shard(&self, key: &CartKey) -> MutexGuard<'_, RecentCarts> {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        // The modulo keeps the index below SHARDS, so the cast cannot truncate meaningfully.
        let index = (hasher.finish() % SHARDS as u64) as usize;
        self.shards[index].lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Store for RememberingStore {
    async fn load_cart(&self, key: &CartKey) -> Result<Option<Cart>, StoreError> {
        self.inner.load_cart(key).await
    }

    /// The remembered cart, taken out (no copy): the change that starts from it commits the
    /// next state, which is remembered then; a change that does not commit leaves it
    /// forgotten, which is also what it had to be then.
    async fn load_for_change(&self, key: &CartKey) -> Result<LoadedCart, StoreError> {
        let remembered = self.shard(key).take(key);
        match remembered {
            Some(cart) => Ok(LoadedCart {
                cart: Some(cart),
                guessed: true,
            }),
            None => self.inner.load_for_change(key).await,
        }
    }

    async fn cart_stamp(&self, key: &CartKey) -> Result<Option<CartStamp>, StoreError> {
        self.inner.cart_stamp(key).await
    }

    async fn commit(&self, commit: Commit) -> Result<(), StoreError> {
        let states: Vec<(CartKey, Option<Arc<Cart>>)> = commit
            .writes
            .iter()
            .map(|write| (write.key.clone(), write.new_state.clone()))
            .collect();
        let outcome = self.inner.commit(commit).await;
        for (key, state) in states {
            let mut shard = self.shard(&key);
            match (&outcome, state) {
                (Ok(()), Some(cart)) => shard.put(Arc::unwrap_or_clone(cart)),
                // Deleted, or the commit failed (or may have landed): what we thought we knew
                // of this cart is not known any more.
                _ => shard.forget(&key),
            }
        }
        outcome
    }

    async fn idempotency_record(
        &self,
        scoped_key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.inner.idempotency_record(scoped_key, now).await
    }

    async fn sweep_expired(
        &self,
        now: OffsetDateTime,
        batch: usize,
    ) -> Result<SweepReport, StoreError> {
        self.inner.sweep_expired(now, batch).await
    }

    async fn pending_events(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.pending_events(limit).await
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.inner.check().await
    }
}
