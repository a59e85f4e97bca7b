//! The carts this process committed last, kept per lock stripe so a write can start from the
//! cart it (probably) wrote before instead of reading and decoding it from the store.
//!
//! A remembered cart is only a guess: another replica may have changed the cart since. The
//! service trusts it only for a change it then commits, whose compare-and-set on the version
//! checks the guess; any other outcome (an error, "nothing to change", a failed precondition, a
//! lost compare-and-set) is decided again from the store. So the cache can make a write cheaper
//! but never makes an answer wrong.

use crate::cart::Cart;
use crate::ids::CartKey;

/// Carts remembered per stripe; 1,024 stripes × 16 ≈ 16,000 carts (≈ 25 MB at 7 lines a cart).
const PER_STRIPE: usize = 16;

/// The recently committed carts of one lock stripe, least recent first.
#[derive(Debug, Default)]
pub(crate) struct RecentCarts {
    carts: Vec<Cart>,
}

impl RecentCarts {
    /// A copy of the remembered cart under `key`.
    pub(crate) fn get(&self, key: &CartKey) -> Option<Cart> {
        self.carts.iter().find(|cart| cart.key() == key).cloned()
    }

    /// Remembers `cart` as the latest committed state of its key.
    pub(crate) fn put(&mut self, cart: Cart) {
        self.forget(cart.key());
        if self.carts.len() >= PER_STRIPE {
            self.carts.remove(0);
        }
        self.carts.push(cart);
    }

    /// Forgets the cart under `key` (its stored state is not known any more).
    pub(crate) fn forget(&mut self, key: &CartKey) {
        self.carts.retain(|cart| cart.key() != key);
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;
    use crate::money::Currency;

    fn cart(n: usize) -> Cart {
        let key = CartKey::parse(&format!("user-{n}")).expect("key");
        Cart::new(
            Uuid::new_v4(),
            key,
            Currency::parse("USD").expect("usd"),
            OffsetDateTime::UNIX_EPOCH,
            n as u64,
        )
    }

    #[test]
    fn keeps_the_latest_per_key_and_evicts_the_least_recent() {
        let mut recent = RecentCarts::default();
        for n in 0..PER_STRIPE + 1 {
            recent.put(cart(n));
        }
        assert!(recent.get(cart(0).key()).is_none(), "the oldest went");
        assert_eq!(
            recent.get(cart(PER_STRIPE).key()).map(|c| c.version()),
            Some(PER_STRIPE as u64)
        );
        let newer = cart(5);
        recent.put(newer.clone());
        assert_eq!(recent.get(newer.key()), Some(newer.clone()));
        recent.forget(newer.key());
        assert!(recent.get(newer.key()).is_none());
    }
}
