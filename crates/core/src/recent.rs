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

/// Carts remembered per stripe at most: 1,024 stripes × 16 ≈ 16,000 carts.
const PER_STRIPE: usize = 16;

/// Line items remembered per stripe at most, so the memory stays bounded however large carts
/// grow: 1,024 stripes × 96 lines ≈ 98,000 lines, about 20 MB at ~200 bytes a line (measured
/// as peak RSS over a 10 s add benchmark, docs/PERFORMANCE.md). Counting carts alone let it
/// grow with every line a cart gained: ~32 MB after 10 s of adds, more with every second.
const LINES_PER_STRIPE: usize = 96;

/// The recently committed carts of one lock stripe, least recent first.
#[derive(Debug, Default)]
pub(crate) struct RecentCarts {
    carts: Vec<Cart>,
    /// The line items of `carts`, together.
    lines: usize,
}

impl RecentCarts {
    /// The remembered cart under `key`, left in place.
    pub(crate) fn peek(&self, key: &CartKey) -> Option<&Cart> {
        self.carts.iter().find(|cart| cart.key() == key)
    }

    /// The remembered cart under `key`, taken out (no copy): a write starts from it and puts
    /// the committed result back with [`Self::put`]; a write that does not commit leaves it
    /// forgotten, which is also what it had to be then.
    pub(crate) fn take(&mut self, key: &CartKey) -> Option<Cart> {
        let at = self.carts.iter().position(|cart| cart.key() == key)?;
        let cart = self.carts.remove(at);
        self.lines -= cart.items().len();
        Some(cart)
    }

    /// Remembers `cart` as the latest committed state of its key.
    /// A cart with more lines than a stripe keeps is not remembered at all.
    pub(crate) fn put(&mut self, cart: Cart) {
        self.forget(cart.key());
        let lines = cart.items().len();
        if lines > LINES_PER_STRIPE {
            return;
        }
        while !self.carts.is_empty()
            && (self.carts.len() >= PER_STRIPE || self.lines + lines > LINES_PER_STRIPE)
        {
            let oldest = self.carts.remove(0);
            self.lines -= oldest.items().len();
        }
        self.lines += lines;
        self.carts.push(cart);
    }

    /// Forgets the cart under `key` (its stored state is not known any more).
    pub(crate) fn forget(&mut self, key: &CartKey) {
        self.take(key);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;
    use crate::cart::AddItem;
    use crate::ids::ProductId;
    use crate::money::{Currency, Price};
    use crate::product::Product;
    use crate::quantity::{Limits, RequestedQuantity};

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
        assert!(recent.peek(cart(0).key()).is_none(), "the oldest went");
        assert_eq!(
            recent.peek(cart(PER_STRIPE).key()).map(|c| c.version()),
            Some(PER_STRIPE as u64)
        );
        let newer = cart(5);
        recent.put(newer.clone());
        assert_eq!(recent.peek(newer.key()), Some(&newer));
        assert_eq!(recent.take(newer.key()), Some(newer.clone()), "taken out");
        assert!(recent.peek(newer.key()).is_none(), "and gone");
        assert_eq!(recent.take(newer.key()), None);
        recent.put(newer.clone());
        recent.forget(newer.key());
        assert!(recent.peek(newer.key()).is_none());
    }

    #[test]
    fn taking_a_cart_out_releases_its_lines() {
        let mut recent = RecentCarts::default();
        recent.put(cart_with_lines(1, 40));
        recent.put(cart_with_lines(2, 40));
        assert!(recent.take(cart(1).key()).is_some());
        // 40 + 40 of 96 lines are free again: neither cart is evicted to make room.
        recent.put(cart_with_lines(3, 50));
        assert!(recent.peek(cart(2).key()).is_some());
        assert!(recent.peek(cart(3).key()).is_some());
        assert_eq!(recent.lines, 90);
    }

    /// A cart of `n` with `lines` line items (also used by `cart::lines`'s tests).
    pub(crate) fn cart_with_lines(n: usize, lines: usize) -> Cart {
        let mut cart = cart(n);
        let roomy = Limits::new(99, 10_000).expect("limits");
        for line in 0..lines {
            let product = Product {
                id: ProductId::parse(&format!("p-{line}")).expect("id"),
                name: format!("product {line}"),
                price: Price::new(100, Currency::parse("USD").expect("usd")).expect("price"),
                active: true,
                stock: None,
            };
            let add = AddItem {
                product_id: product.id.clone(),
                variant_id: None,
                quantity: RequestedQuantity::new(1).expect("positive"),
                asserted_unit_price: None,
            };
            cart.add(
                &add,
                &product,
                &roomy,
                Uuid::new_v4(),
                OffsetDateTime::UNIX_EPOCH,
            )
            .expect("add");
        }
        cart
    }

    #[test]
    fn large_carts_evict_older_ones_so_the_lines_kept_stay_bounded() {
        let mut recent = RecentCarts::default();
        let per_cart = LINES_PER_STRIPE / 3;
        for n in 0..4 {
            recent.put(cart_with_lines(n, per_cart));
        }
        assert!(recent.peek(cart(0).key()).is_none(), "the oldest made room");
        assert!((1..4).all(|n| recent.peek(cart(n).key()).is_some()));
        assert!(recent.lines <= LINES_PER_STRIPE);
        recent.forget(cart(2).key());
        assert_eq!(recent.lines, 2 * per_cart);
        recent.put(cart_with_lines(9, LINES_PER_STRIPE + 1));
        assert!(recent.peek(cart(9).key()).is_none(), "too large to keep");
        assert_eq!(recent.lines, 2 * per_cart);
    }
}
