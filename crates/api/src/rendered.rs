//! A bounded cache of rendered carts (the JSON body of `GET /v1/cart/{key}`), so a read of an
//! unchanged cart skips loading, parsing and rendering it.
//!
//! Every read still asks the store for the cart's stamp (id, version, expiry) and serves the
//! cached body only when id and version match, so the cache can never serve a stale cart, even
//! with several replicas writing the same store: it saves work, it does not decide anything.
//! The id is part of the check because a cart that replaced a swept one starts its versions
//! again.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use uuid::Uuid;

use cart_core::{CartKey, CartStamp};

/// Rendered bodies keyed by cart, with the id and version they were rendered from.
pub struct RenderedCarts {
    entries: Mutex<Entries>,
    budget: usize,
}

#[derive(Default)]
struct Entries {
    map: HashMap<CartKey, (Uuid, u64, Bytes)>,
    bytes: usize,
}

impl RenderedCarts {
    /// A cache holding at most `budget` bytes of bodies.
    pub fn new(budget: usize) -> Self {
        Self {
            entries: Mutex::default(),
            budget,
        }
    }

    /// The body rendered for exactly this cart id and version, if cached.
    pub fn get(&self, key: &CartKey, stamp: &CartStamp) -> Option<Bytes> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .map
            .get(key)
            .filter(|(id, version, _)| *id == stamp.cart_id && *version == stamp.version)
            .map(|(_, _, body)| body.clone())
    }

    /// Remembers the body rendered for a cart id and version, evicting other entries while the
    /// budget is exceeded.
    pub fn put(&self, key: &CartKey, stamp: &CartStamp, body: Bytes) {
        if body.len() > self.budget {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let entries = &mut *entries;
        if let Some((_, _, old)) = entries.map.remove(key) {
            entries.bytes -= old.len();
        }
        while entries.bytes + body.len() > self.budget {
            // Any entry will do: the map's order is effectively random, and a miss only costs
            // one render.
            let Some(victim) = entries.map.keys().next().cloned() else {
                break;
            };
            if let Some((_, _, old)) = entries.map.remove(&victim) {
                entries.bytes -= old.len();
            }
        }
        entries.bytes += body.len();
        entries
            .map
            .insert(key.clone(), (stamp.cart_id, stamp.version, body));
    }
}

/// The live cart under `key` as `GET /v1/cart/{key}` sends it (before its warnings): its stamp
/// and rendered JSON (see [`Rendered`]),
/// from the cache when the store's stamp says it is current, else loaded, rendered and cached.
/// `CART_NOT_FOUND` if there is none, `CART_EXPIRED` if it expired. REST and GraphQL both read
/// through it.
pub async fn read(
    state: &crate::state::AppState,
    key: &CartKey,
) -> Result<Rendered, crate::problem::ApiError> {
    let stamp = state.service.stamp(key).await?;
    if let Some(body) = state.rendered.get(key, &stamp) {
        return Ok(Rendered {
            stamp,
            body,
            loaded: None,
        });
    }
    let cart = state.service.get(key).await?;
    let mut body = Vec::new();
    crate::cart_json::write_cart(&mut body, &cart);
    let body = Bytes::from(body);
    state.rendered.put(key, &cart.stamp(), body.clone());
    Ok(Rendered {
        stamp: cart.stamp(),
        body,
        loaded: Some(cart),
    })
}

/// A cart read: its stamp, its JSON, and the cart itself when it had to be loaded (a miss),
/// so what else the read needs of it is not loaded twice.
pub struct Rendered {
    /// The cart's id, version and expiry.
    pub stamp: CartStamp,
    /// Its JSON.
    pub body: Bytes,
    /// The cart, when this read loaded it.
    pub loaded: Option<cart_core::Cart>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn stamp(id: u128, version: u64) -> CartStamp {
        CartStamp {
            cart_id: Uuid::from_u128(id),
            version,
            expires_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn key(n: u128) -> CartKey {
        CartKey::Guest(cart_core::GuestId::from_ulid_bits(n))
    }

    #[test]
    fn only_the_same_cart_at_the_same_version_hits() {
        let cache = RenderedCarts::new(1024);
        cache.put(&key(1), &stamp(7, 3), Bytes::from_static(b"v3"));
        assert_eq!(
            cache.get(&key(1), &stamp(7, 3)),
            Some(Bytes::from_static(b"v3"))
        );
        assert_eq!(cache.get(&key(1), &stamp(7, 4)), None, "newer version");
        assert_eq!(
            cache.get(&key(1), &stamp(8, 3)),
            None,
            "a new cart, same version"
        );
        assert_eq!(cache.get(&key(2), &stamp(7, 3)), None, "another key");
    }

    #[test]
    fn the_byte_budget_holds() {
        let cache = RenderedCarts::new(10);
        for n in 0..20 {
            cache.put(&key(n), &stamp(n, 1), Bytes::from_static(b"1234"));
        }
        let entries = cache.entries.lock().expect("lock");
        assert!(entries.bytes <= 10);
        assert_eq!(
            entries.bytes,
            entries.map.values().map(|e| e.2.len()).sum::<usize>()
        );
        assert!(entries.map.contains_key(&key(19)), "the newest entry stays");
    }
}
