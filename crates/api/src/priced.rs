//! A short-lived cache of priced carts: the JSON `GET /v1/cart/{cartKey}/totals` answers, so a
//! storefront polling the totals of an unchanged cart does not load the cart, look up its
//! products and settings and compute it again on every request.
//!
//! An entry is served only while everything it was computed from is known to be unchanged:
//!
//! - the cart: the store's stamp (id and version) is checked on every read, as for rendered
//!   carts ([`crate::rendered`]);
//! - the catalog and the pricing settings: a change made through this process (an admin route)
//!   forgets every entry at once ([`PricedCarts::forget_all`]); a change made by another process
//!   is seen within `max_age`, the catalog and settings caches' own TTL, so this cache adds no
//!   staleness of its own;
//! - the clock: an entry ends at the next start or end of one of the cart's promotions, so a
//!   code never applies a moment longer than it should.
//!
//! Totals with `?explain=true` are not cached (they are asked for rarely, by people).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use cart_core::{CartKey, CartStamp};

/// Entries kept at most; when full, the cache starts over (a miss costs one computation).
const CAPACITY: usize = 50_000;

/// Priced carts by key, each with what it was computed from.
pub struct PricedCarts {
    entries: Mutex<HashMap<CartKey, Entry>>,
    /// Goes up whenever the catalog or a pricing setting changes through this process.
    generation: AtomicU64,
    max_age: Duration,
}

struct Entry {
    cart_id: Uuid,
    version: u64,
    generation: u64,
    valid_until: OffsetDateTime,
    body: Bytes,
}

/// What a computation started from, to be handed back to [`PricedCarts::put`].
#[derive(Debug, Clone, Copy)]
pub struct Inputs {
    generation: u64,
    at: OffsetDateTime,
}

impl PricedCarts {
    /// A cache whose entries live at most `max_age` (zero: nothing is cached).
    pub fn new(max_age: Duration) -> Self {
        Self {
            entries: Mutex::default(),
            generation: AtomicU64::new(0),
            max_age,
        }
    }

    /// Forgets every entry: the catalog or a pricing setting changed.
    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The body priced for exactly this cart id and version, if still valid at `now`.
    pub fn get(&self, key: &CartKey, stamp: &CartStamp, now: OffsetDateTime) -> Option<Bytes> {
        let generation = self.generation.load(Ordering::SeqCst);
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|entry| {
                entry.cart_id == stamp.cart_id
                    && entry.version == stamp.version
                    && entry.generation == generation
                    && now < entry.valid_until
            })
            .map(|entry| entry.body.clone())
    }

    /// Notes what a computation starting at `now` starts from; call before reading anything.
    pub fn inputs(&self, now: OffsetDateTime) -> Inputs {
        Inputs {
            generation: self.generation.load(Ordering::SeqCst),
            at: now,
        }
    }

    /// Remembers `body`, priced from `inputs` for this cart id and version, until `max_age`
    /// after the computation or `next_change` (a promotion's start or end), whichever comes
    /// first.
    pub fn put(
        &self,
        key: &CartKey,
        stamp: &CartStamp,
        inputs: Inputs,
        next_change: Option<OffsetDateTime>,
        body: Bytes,
    ) {
        if self.max_age <= Duration::ZERO {
            return;
        }
        let valid_until = next_change.map_or(inputs.at + self.max_age, |change| {
            change.min(inputs.at + self.max_age)
        });
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(
            key.clone(),
            Entry {
                cart_id: stamp.cart_id,
                version: stamp.version,
                generation: inputs.generation,
                valid_until,
                body,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(version: u64) -> CartStamp {
        CartStamp {
            cart_id: Uuid::from_u128(7),
            version,
            expires_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn key() -> CartKey {
        CartKey::Guest(cart_core::GuestId::from_ulid_bits(1))
    }

    const T0: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    #[test]
    fn an_entry_is_served_only_for_its_version_generation_and_time() {
        let cache = PricedCarts::new(Duration::seconds(2));
        let body = Bytes::from_static(b"{}");
        let inputs = cache.inputs(T0);
        cache.put(&key(), &stamp(3), inputs, None, body.clone());
        assert_eq!(cache.get(&key(), &stamp(3), T0), Some(body.clone()));
        assert_eq!(cache.get(&key(), &stamp(4), T0), None, "another version");
        assert_eq!(
            cache.get(&key(), &stamp(3), T0 + Duration::seconds(2)),
            None,
            "older than max_age"
        );
        cache.forget_all();
        assert_eq!(cache.get(&key(), &stamp(3), T0), None, "a setting changed");
    }

    #[test]
    fn a_change_during_the_computation_keeps_its_result_out() {
        let cache = PricedCarts::new(Duration::seconds(2));
        let inputs = cache.inputs(T0);
        cache.forget_all();
        cache.put(&key(), &stamp(1), inputs, None, Bytes::from_static(b"{}"));
        assert_eq!(cache.get(&key(), &stamp(1), T0), None);
    }

    #[test]
    fn an_entry_ends_when_a_promotion_starts_or_ends() {
        let cache = PricedCarts::new(Duration::seconds(2));
        let ends = T0 + Duration::milliseconds(500);
        cache.put(
            &key(),
            &stamp(1),
            cache.inputs(T0),
            Some(ends),
            Bytes::new(),
        );
        assert!(
            cache
                .get(&key(), &stamp(1), ends - Duration::milliseconds(1))
                .is_some()
        );
        assert_eq!(cache.get(&key(), &stamp(1), ends), None);
    }

    #[test]
    fn a_zero_max_age_caches_nothing() {
        let cache = PricedCarts::new(Duration::ZERO);
        cache.put(&key(), &stamp(1), cache.inputs(T0), None, Bytes::new());
        assert_eq!(cache.get(&key(), &stamp(1), T0), None);
    }
}
