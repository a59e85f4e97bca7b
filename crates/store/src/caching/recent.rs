//! One shard of the carts this process committed last (see [`super::store`]), within a byte
//! budget.

use cart_core::{Cart, CartKey, LineItem};

/// Carts remembered per shard at most, whatever their size: a lookup scans a shard's carts,
/// so this bounds the scan.
const PER_STRIPE: usize = 48;

/// The memory all shards together may hold by default, as [`footprint`] estimates it: enough
/// for the add benchmark's carts to stay remembered through a run, within the memory target
/// (docs/PERFORMANCE.md has the measurements). `CARTD_RECENT_CARTS_MIB` changes it.
pub const DEFAULT_BUDGET: usize = 32 * 1024 * 1024;

/// The recently committed carts of one shard, least recent first, within a byte budget.
#[derive(Debug)]
pub(crate) struct RecentCarts {
    /// Each cart with its [`footprint`], computed once when it is put (it walks every line).
    carts: Vec<(Cart, usize)>,
    /// The footprints of `carts`, together.
    bytes: usize,
    /// The most `bytes` may reach.
    budget: usize,
}

impl RecentCarts {
    /// An empty shard that keeps at most `budget` bytes of carts (0: remembers nothing).
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            carts: Vec::new(),
            bytes: 0,
            budget,
        }
    }

    /// The remembered cart under `key`, left in place.
    #[cfg(test)]
    pub(crate) fn peek(&self, key: &CartKey) -> Option<&Cart> {
        self.carts
            .iter()
            .map(|(cart, _)| cart)
            .find(|cart| cart.key() == key)
    }

    /// The remembered cart under `key`, taken out (no copy): a write starts from it and puts
    /// the committed result back with [`Self::put`]; a write that does not commit leaves it
    /// forgotten, which is also what it had to be then.
    pub(crate) fn take(&mut self, key: &CartKey) -> Option<Cart> {
        let at = self.carts.iter().position(|(cart, _)| cart.key() == key)?;
        let (cart, size) = self.carts.remove(at);
        self.bytes -= size;
        Some(cart)
    }

    /// Remembers `cart` as the latest committed state of its key, forgetting the least recent
    /// carts while the shard is over its count or its budget. A cart larger than the whole
    /// budget is not remembered at all.
    pub(crate) fn put(&mut self, cart: Cart) {
        self.forget(cart.key());
        let size = footprint(&cart);
        if size > self.budget {
            return;
        }
        while !self.carts.is_empty()
            && (self.carts.len() >= PER_STRIPE || self.bytes + size > self.budget)
        {
            let (_, oldest) = self.carts.remove(0);
            self.bytes -= oldest;
        }
        self.bytes += size;
        self.carts.push((cart, size));
    }

    /// Forgets the cart under `key` (its stored state is not known any more).
    pub(crate) fn forget(&mut self, key: &CartKey) {
        self.take(key);
    }
}

/// The bytes a remembered cart holds: the cart itself, its line vector (behind an `Arc`, two
/// counters) with every slot it reserved, and every line's text: the product id and the name
/// are `Arc<str>` (two counters before the text), the variant a `Box<str>`, each allocation
/// rounded up to 16 bytes as the allocator's size classes do. A line added in this process
/// shares its product id and name with the catalog entry; they are counted all the same, as a
/// cart read back from the store owns its own copies, so the estimate is an upper bound.
fn footprint(cart: &Cart) -> usize {
    const COUNTERS: usize = 2 * size_of::<usize>();
    let allocation = |len: usize| len.next_multiple_of(16);
    let text: usize = cart
        .items()
        .iter()
        .map(|line| {
            allocation(COUNTERS + line.product_id().as_str().len())
                + allocation(COUNTERS + line.name().len())
                + line
                    .variant_id()
                    .map_or(0, |v| allocation(v.as_str().len()))
        })
        .sum();
    let slots = allocation(COUNTERS + cart.line_capacity() * size_of::<LineItem>());
    // The region and the discount codes: a few short strings, and the codes' slots.
    let pricing = cart.region().map_or(0, |r| allocation(r.as_str().len()))
        + allocation(size_of_val(cart.discount_codes()))
        + cart
            .discount_codes()
            .iter()
            .map(|code| allocation(code.as_str().len()))
            .sum::<usize>();
    size_of::<Cart>() + allocation(cart.key().as_str().len()) + slots + text + pricing
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;
    use cart_core::{AddItem, Currency, Limits, Price, Product, ProductId, RequestedQuantity};

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

    /// A stripe with room for far more than any test puts in it.
    fn roomy() -> RecentCarts {
        RecentCarts::new(DEFAULT_BUDGET)
    }

    #[test]
    fn keeps_the_latest_per_key_and_evicts_the_least_recent() {
        let mut recent = roomy();
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
    fn taking_a_cart_out_releases_its_bytes() {
        let mut recent = RecentCarts::new(2 * footprint(&cart_with_lines(1, 40)) + 64);
        recent.put(cart_with_lines(1, 40));
        recent.put(cart_with_lines(2, 40));
        assert!(recent.take(cart(1).key()).is_some());
        assert_eq!(recent.bytes, footprint(&cart_with_lines(2, 40)));
        // The taken cart's bytes are free again: putting one of its size evicts nothing.
        recent.put(cart_with_lines(3, 40));
        assert!(recent.peek(cart(2).key()).is_some());
        assert!(recent.peek(cart(3).key()).is_some());
    }

    #[test]
    fn a_footprint_grows_with_lines_and_with_the_length_of_names() {
        let small = footprint(&cart_with_lines(1, 1));
        let larger = footprint(&cart_with_lines(1, 2));
        assert!(
            larger >= small + size_of::<LineItem>(),
            "{small} → {larger}"
        );
        let mut long_names = cart(1);
        let mut short_names = cart(1);
        add_line(&mut long_names, "p-1", &"x".repeat(200));
        add_line(&mut short_names, "p-1", "x");
        assert!(
            footprint(&long_names) >= footprint(&short_names) + 184,
            "a 200-byte name counts its bytes"
        );
    }

    /// Adds one unit of a product with this id and name to `cart`.
    fn add_line(cart: &mut Cart, id: &str, name: &str) {
        let product = Product {
            id: ProductId::parse(id).expect("id"),
            name: name.into(),
            price: Price::new(100, Currency::parse("USD").expect("usd")).expect("price"),
            active: true,
            stock: None,
            tax_class: Default::default(),
        };
        let add = AddItem {
            product_id: product.id.clone(),
            variant_id: None,
            quantity: RequestedQuantity::new(1).expect("positive"),
            asserted_unit_price: None,
        };
        let roomy = Limits::new(99, 10_000).expect("limits");
        cart.add(
            &add,
            &product,
            &roomy,
            Uuid::new_v4(),
            OffsetDateTime::UNIX_EPOCH,
        )
        .expect("add");
    }

    /// A cart of `n` with `lines` line items.
    fn cart_with_lines(n: usize, lines: usize) -> Cart {
        let mut cart = cart(n);
        for line in 0..lines {
            add_line(&mut cart, &format!("p-{line}"), &format!("product {line}"));
        }
        cart
    }

    #[test]
    fn large_carts_evict_older_ones_so_the_bytes_kept_stay_within_the_budget() {
        let per_cart = footprint(&cart_with_lines(0, 30));
        let mut recent = RecentCarts::new(3 * per_cart + per_cart / 2);
        for n in 0..4 {
            recent.put(cart_with_lines(n, 30));
        }
        assert!(recent.peek(cart(0).key()).is_none(), "the oldest made room");
        assert!((1..4).all(|n| recent.peek(cart(n).key()).is_some()));
        assert!(recent.bytes <= recent.budget);
        recent.forget(cart(2).key());
        assert_eq!(recent.bytes, 2 * per_cart);
        recent.put(cart_with_lines(9, 200));
        assert!(recent.peek(cart(9).key()).is_none(), "too large to keep");
        assert_eq!(recent.bytes, 2 * per_cart, "and nothing evicted for it");
    }

    #[test]
    fn a_footprint_counts_the_counters_of_shared_text_and_every_slot() {
        let one = cart_with_lines(1, 1);
        let line = &one.items()[0];
        let counters = 2 * size_of::<usize>();
        let least = size_of::<Cart>()
            + counters
            + size_of::<LineItem>()
            + (counters + line.product_id().as_str().len())
            + (counters + line.name().len());
        assert!(footprint(&one) >= least, "{} < {least}", footprint(&one));
        assert!(one.line_capacity() >= one.items().len());
    }

    #[test]
    fn a_zero_budget_remembers_nothing() {
        let mut recent = RecentCarts::new(0);
        recent.put(cart(1));
        assert!(recent.peek(cart(1).key()).is_none());
        assert_eq!(recent.bytes, 0);
    }
}
