//! The cart and its rules: adding, setting quantities, removing, clearing, totals and expiry.
//! Pure functions of the cart, the command, the catalog product and the limits; no I/O.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::error::CartError;
use crate::ids::{CartKey, ProductId, VariantId};
use crate::money::Currency;
use crate::order::{CheckoutLock, OrderStatus};
use crate::product::Product;
use crate::promotion_code::PromotionCode;
use crate::quantity::{Limits, Quantity, RequestedQuantity};
use crate::region::Region;

mod lines;
pub mod merge;

use lines::Lines;

/// One line of a cart: a product (and variant) with a quantity at a catalog price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    item_id: Uuid,
    product_id: ProductId,
    variant_id: Option<VariantId>,
    /// The catalog entry's name, shared with it like the product id (see [`ProductId`]).
    name: Arc<str>,
    quantity: Quantity,
    unit_price: i64,
    #[serde(with = "crate::timestamp::rfc3339")]
    added_at: OffsetDateTime,
    #[serde(with = "crate::timestamp::rfc3339")]
    updated_at: OffsetDateTime,
}

impl LineItem {
    /// The line's id, stable for the line's life.
    pub fn item_id(&self) -> Uuid {
        self.item_id
    }
    /// The product.
    pub fn product_id(&self) -> &ProductId {
        &self.product_id
    }
    /// The variant, if any.
    pub fn variant_id(&self) -> Option<&VariantId> {
        self.variant_id.as_ref()
    }
    /// The product's name when last priced.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Units on the line.
    pub fn quantity(&self) -> Quantity {
        self.quantity
    }
    /// Catalog unit price in minor units when last added.
    pub fn unit_price(&self) -> i64 {
        self.unit_price
    }
    /// `quantity × unit_price`.
    pub fn subtotal(&self) -> i64 {
        i64::from(self.quantity.get()) * self.unit_price
    }
    /// When the line was first added.
    pub fn added_at(&self) -> OffsetDateTime {
        self.added_at
    }
    /// When the line last changed.
    pub fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }

    fn change(&self, quantity_before: u32, quantity_after: u32) -> LineChange {
        LineChange {
            item_id: self.item_id,
            product_id: self.product_id.clone(),
            variant_id: self.variant_id.clone(),
            quantity_before,
            quantity_after,
            unit_price: self.unit_price,
        }
    }
}

/// The line a change concerns, before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineChange {
    /// The line's id.
    pub item_id: Uuid,
    /// The product on the line.
    pub product_id: ProductId,
    /// The variant, if any.
    pub variant_id: Option<VariantId>,
    /// Units before the change (0 for a new line).
    pub quantity_before: u32,
    /// Units after the change (0 for a removed line).
    pub quantity_after: u32,
    /// Unit price in minor units after the change.
    pub unit_price: i64,
}

/// A cart's line count, unit count and total price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Lines.
    pub item_count: usize,
    /// Units over all lines.
    pub total_quantity: u64,
    /// Sum of line subtotals, minor units.
    pub total_price: i64,
}

/// Which cart, at which version, until when: enough to validate a cached rendering of a cart
/// without reading the cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CartStamp {
    /// The cart's id (a cart that replaced an expired one has a new id).
    pub cart_id: Uuid,
    /// The cart's version.
    pub version: u64,
    /// When it expires.
    pub expires_at: OffsetDateTime,
}

/// How long a store keeps a cart after it expired or ended (was merged away) before the sweeper
/// (or the store's own expiry) deletes it. While it is kept, the key's next cart continues its
/// versions, so a key's versions, its ETags and its events' versions never repeat within this
/// time, and an expired cart answers `410 CART_EXPIRED` rather than `404`. Kept longer, the
/// guarantee would cost storage for every abandoned cart; a week outlives any ETag a client
/// still holds and the relay's redelivery of any event.
pub const KEPT_AFTER_EXPIRY: Duration = Duration::days(7);

/// A shopping cart. Every change goes through a method here and then [`Cart::touch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    id: Uuid,
    key: CartKey,
    currency: Currency,
    items: Lines,
    version: u64,
    #[serde(with = "crate::timestamp::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "crate::timestamp::rfc3339")]
    updated_at: OffsetDateTime,
    #[serde(with = "crate::timestamp::rfc3339")]
    expires_at: OffsetDateTime,
    /// Where the cart ships to, which picks its tax and shipping; `None` until the shopper
    /// says. Documents written before carts had a region read as `None`.
    #[serde(default)]
    region: Option<Region>,
    /// The discount codes the shopper entered, in that order (the order codes are tried in).
    /// Whether each applies is decided when totals are computed, not here.
    #[serde(default)]
    discount_codes: Vec<PromotionCode>,
    /// The order whose checkout locked the cart, while it waits for payment: no change but
    /// the order's own (paid, failed, expired, cancelled) touches a locked cart.
    #[serde(default)]
    checkout: Option<CheckoutLock>,
}

/// The most discount codes one cart holds: enough for any stacking a shop offers, few enough
/// that a cart's totals stay cheap to compute.
pub const MAX_DISCOUNT_CODES: usize = 10;

/// What a client asks to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddItem {
    /// The product.
    pub product_id: ProductId,
    /// The variant, if any; a line is identified by product and variant together.
    pub variant_id: Option<VariantId>,
    /// Units to add.
    pub quantity: RequestedQuantity,
    /// The unit price the shopper saw; refused with `PRICE_CHANGED` if it is not the catalog's.
    pub asserted_unit_price: Option<i64>,
}

impl Cart {
    /// An empty cart that follows `previous_version` (0 for a key that never had a cart), so a
    /// key's versions keep rising even across expiry. Not yet touched: call a change, then
    /// [`Cart::touch`].
    pub fn new(
        id: Uuid,
        key: CartKey,
        currency: Currency,
        now: OffsetDateTime,
        previous_version: u64,
    ) -> Self {
        Self {
            id,
            key,
            currency,
            items: Lines::default(),
            version: previous_version,
            created_at: now,
            updated_at: now,
            expires_at: now,
            region: None,
            discount_codes: Vec::new(),
            checkout: None,
        }
    }

    /// The cart's id; it stays through clears.
    pub fn id(&self) -> Uuid {
        self.id
    }
    /// The owner's key.
    pub fn key(&self) -> &CartKey {
        &self.key
    }
    /// The cart's currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }
    /// Lines in the order they were first added.
    pub fn items(&self) -> &[LineItem] {
        &self.items
    }
    /// The line slots the cart holds in memory (at least its line count): what a cache that
    /// keeps carts within a byte budget must count.
    pub fn line_capacity(&self) -> usize {
        self.items.capacity()
    }

    /// Goes up by one with every change.
    pub fn version(&self) -> u64 {
        self.version
    }
    /// When the cart was created.
    pub fn created_at(&self) -> OffsetDateTime {
        self.created_at
    }
    /// When the cart last changed.
    pub fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }
    /// When the cart expires unless changed again.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.expires_at
    }
    /// Where the cart ships to, if the shopper said.
    pub fn region(&self) -> Option<&Region> {
        self.region.as_ref()
    }
    /// The discount codes on the cart, in the order they were entered.
    pub fn discount_codes(&self) -> &[PromotionCode] {
        &self.discount_codes
    }

    /// The order whose checkout locked the cart, if one did and is still waiting for payment.
    pub fn checkout(&self) -> Option<&CheckoutLock> {
        self.checkout.as_ref()
    }

    /// Locks the cart for `order_id`'s payment.
    pub fn lock_for(&mut self, order_id: Uuid) {
        self.checkout = Some(CheckoutLock {
            order_id,
            status: OrderStatus::PendingPayment,
        });
    }

    /// Unlocks the cart if `order_id`'s checkout locked it; answers whether it did.
    pub fn unlock_from(&mut self, order_id: Uuid) -> bool {
        let locked_by_it = self.checkout.as_ref().map(|lock| lock.order_id) == Some(order_id);
        if locked_by_it {
            self.checkout = None;
        }
        locked_by_it
    }

    /// Whether the cart has expired at `now` (an ended cart has, too).
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at <= now
    }
    /// Whether the cart ended on purpose (merged away) rather than expiring: see
    /// [`Cart::end`]. A live cart always expires a positive time after its last change.
    pub fn has_ended(&self) -> bool {
        self.expires_at <= self.updated_at
    }

    /// Ends the cart at `now`: no lines, version up by one, expired at once. What is kept of
    /// a cart merged away: the store keeps it like an expired cart (see
    /// [`KEPT_AFTER_EXPIRY`]), so the key's next cart continues its versions.
    pub fn end(&mut self, now: OffsetDateTime) {
        self.clear();
        self.touch(now, Duration::ZERO);
    }

    /// The cart's id, version and expiry.
    pub fn stamp(&self) -> CartStamp {
        CartStamp {
            cart_id: self.id,
            version: self.version,
            expires_at: self.expires_at,
        }
    }

    /// Line count, unit count and total price.
    pub fn totals(&self) -> Totals {
        Totals {
            item_count: self.items.len(),
            total_quantity: self
                .items
                .iter()
                .map(|line| u64::from(line.quantity.get()))
                .sum(),
            total_price: self.items.iter().map(LineItem::subtotal).sum(),
        }
    }

    /// Records a change: version up by one, `updated_at` now, expiry pushed to `now + ttl`.
    pub fn touch(&mut self, now: OffsetDateTime, ttl: Duration) {
        self.version += 1;
        self.updated_at = now;
        self.expires_at = now + ttl;
    }

    /// Adds units of a catalog product: to its line if the cart has one (same product and
    /// variant), else as a new line with id `new_item_id`. The line takes the catalog's current
    /// name and price.
    pub fn add(
        &mut self,
        command: &AddItem,
        product: &Product,
        limits: &Limits,
        new_item_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<LineChange, CartError> {
        if !product.active {
            return Err(CartError::ProductUnavailable(product.id.clone()));
        }
        let catalog_price = product.price.amount();
        if let Some(expected) = command.asserted_unit_price
            && expected != catalog_price
        {
            return Err(CartError::PriceChanged {
                expected,
                current: catalog_price,
            });
        }
        let product_currency = product.price.currency();
        if product_currency != self.currency {
            if !self.items.is_empty() {
                return Err(CartError::CurrencyMismatch {
                    cart: self.currency.to_string(),
                    product: product_currency.to_string(),
                });
            }
            // An empty cart has no prices to be inconsistent with: it takes the new currency.
            self.currency = product_currency;
        }
        // The catalog entry's copy of the id when it is the one asked for (always, from a
        // catalog that answers for the id it was asked): lines share it (see [`ProductId`]), and
        // a line pointing at the same copy compares equal without reading the text.
        let shared_id = if product.id == command.product_id {
            product.id.clone()
        } else {
            command.product_id.clone()
        };
        let existing = self
            .items
            .iter()
            .position(|line| line.product_id == shared_id && line.variant_id == command.variant_id);
        let before = existing.map_or(0, |i| self.items[i].quantity.get());
        let wanted = u64::from(before).saturating_add(command.quantity.get());
        let quantity = limits
            .line_quantity(wanted)
            .ok_or(CartError::QuantityLimitExceeded {
                requested_quantity: wanted,
                max_allowed: limits.max_quantity(),
            })?;
        if existing.is_none() && self.items.len() >= limits.max_items() as usize {
            return Err(CartError::CartLimitExceeded {
                current_count: self.items.len(),
                max_allowed: limits.max_items(),
            });
        }
        check_stock(product, wanted)?;
        let line = match existing {
            Some(i) => {
                let line = &mut self.items[i];
                line.quantity = quantity;
                line.unit_price = catalog_price;
                // The catalog's current text, shared (the same name, or a renamed product's
                // new one): pointing at it costs two reference counts, comparing the old text
                // first would read it.
                line.name = Arc::clone(&product.name);
                line.product_id = shared_id;
                line.updated_at = now;
                line
            }
            None => {
                // One more slot, not double: a remembered cart's lines stay close to their
                // size (a cache of carts counts what they hold, not what they reserved).
                self.items.reserve_exact(1);
                self.items.push(LineItem {
                    item_id: new_item_id,
                    product_id: shared_id,
                    variant_id: command.variant_id.clone(),
                    name: Arc::clone(&product.name),
                    quantity,
                    unit_price: catalog_price,
                    added_at: now,
                    updated_at: now,
                });
                self.items.last_mut().ok_or(CartError::ItemNotFound)?
            }
        };
        Ok(line.change(before, quantity.get()))
    }

    /// The line with this id.
    pub fn line(&self, item_id: Uuid) -> Result<&LineItem, CartError> {
        self.items
            .iter()
            .find(|line| line.item_id == item_id)
            .ok_or(CartError::ItemNotFound)
    }

    /// Sets a line's quantity. `product` is the catalog entry, needed only when the quantity
    /// goes up (to check availability and stock); lowering a quantity always works.
    pub fn set_quantity(
        &mut self,
        item_id: Uuid,
        requested: RequestedQuantity,
        product: Option<&Product>,
        limits: &Limits,
        now: OffsetDateTime,
    ) -> Result<LineChange, CartError> {
        let line = self
            .items
            .iter_mut()
            .find(|line| line.item_id == item_id)
            .ok_or(CartError::ItemNotFound)?;
        let quantity =
            limits
                .line_quantity(requested.get())
                .ok_or(CartError::QuantityLimitExceeded {
                    requested_quantity: requested.get(),
                    max_allowed: limits.max_quantity(),
                })?;
        let before = line.quantity.get();
        if quantity.get() > before {
            match product {
                Some(product) if product.active => check_stock(product, requested.get())?,
                _ => return Err(CartError::ProductUnavailable(line.product_id.clone())),
            }
        }
        line.quantity = quantity;
        line.updated_at = now;
        Ok(line.change(before, quantity.get()))
    }

    /// Removes a line.
    pub fn remove(&mut self, item_id: Uuid) -> Result<LineChange, CartError> {
        let index = self
            .items
            .iter()
            .position(|line| line.item_id == item_id)
            .ok_or(CartError::ItemNotFound)?;
        let line = self.items.remove(index);
        Ok(line.change(line.quantity.get(), 0))
    }

    /// Sets where the cart ships to.
    pub fn set_region(&mut self, region: Region) {
        self.region = Some(region);
    }

    /// Puts a discount code on the cart, after those already there. Returns `false` (and changes
    /// nothing) when the cart already holds it; a cart holding [`MAX_DISCOUNT_CODES`] codes takes
    /// no more.
    pub fn add_discount_code(&mut self, code: PromotionCode) -> Result<bool, CartError> {
        if self.discount_codes.contains(&code) {
            return Ok(false);
        }
        if self.discount_codes.len() >= MAX_DISCOUNT_CODES {
            return Err(CartError::TooManyDiscountCodes {
                max_allowed: MAX_DISCOUNT_CODES,
            });
        }
        self.discount_codes.push(code);
        Ok(true)
    }

    /// Takes a discount code off the cart; [`CartError::DiscountCodeNotOnCart`] when it holds
    /// none such.
    pub fn remove_discount_code(&mut self, code: &PromotionCode) -> Result<(), CartError> {
        let index = self
            .discount_codes
            .iter()
            .position(|held| held == code)
            .ok_or_else(|| CartError::DiscountCodeNotOnCart(code.clone()))?;
        self.discount_codes.remove(index);
        Ok(())
    }

    /// Sets a line's unit price to the catalog's `price` (the shopper asked to reprice). Returns
    /// whether the price changed.
    pub fn reprice_line(
        &mut self,
        item_id: Uuid,
        price: i64,
        now: OffsetDateTime,
    ) -> Result<bool, CartError> {
        let line = self
            .items
            .iter_mut()
            .find(|line| line.item_id == item_id)
            .ok_or(CartError::ItemNotFound)?;
        if line.unit_price == price {
            return Ok(false);
        }
        line.unit_price = price;
        line.updated_at = now;
        Ok(true)
    }

    /// Removes every line; the cart keeps its id and currency. Returns how many lines went.
    pub fn clear(&mut self) -> usize {
        std::mem::take(&mut self.items).len()
    }

    /// Empties the cart once its order is paid: no lines, and no discount codes (their uses
    /// went with the order); the region stays, as the shopper's next order likely ships there
    /// too.
    pub fn empty_after_purchase(&mut self) {
        self.clear();
        self.discount_codes.clear();
    }
}

fn check_stock(product: &Product, wanted: u64) -> Result<(), CartError> {
    match product.stock {
        Some(available) if wanted > u64::from(available) => Err(CartError::InventoryInsufficient {
            requested: wanted,
            available,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::money::Price;

    fn product(id: &str, name: &str) -> Product {
        Product {
            id: ProductId::parse(id).expect("id"),
            name: name.into(),
            price: Price::new(250, Currency::parse("EUR").expect("eur")).expect("price"),
            active: true,
            stock: None,
            tax_class: Default::default(),
        }
    }

    /// Adds one unit of `product` to `cart`, asked for by an id parsed on its own (as a
    /// request's is), and returns the line.
    fn add_one(cart: &mut Cart, product: &Product) -> LineItem {
        let command = AddItem {
            product_id: ProductId::parse(product.id.as_str()).expect("id"),
            variant_id: None,
            quantity: RequestedQuantity::new(1).expect("one"),
            asserted_unit_price: None,
        };
        let limits = Limits::new(99, 100).expect("limits");
        let at = OffsetDateTime::UNIX_EPOCH;
        cart.add(&command, product, &limits, Uuid::new_v4(), at)
            .expect("add");
        cart.items()
            .iter()
            .find(|line| line.product_id() == &product.id)
            .cloned()
            .expect("line")
    }

    fn cart(key: &str) -> Cart {
        let key = CartKey::parse(key).expect("key");
        let eur = Currency::parse("EUR").expect("eur");
        Cart::new(Uuid::new_v4(), key, eur, OffsetDateTime::UNIX_EPOCH, 0)
    }

    /// A cart of `lines` lines, one unit of a different product each.
    pub(crate) fn cart_with_lines(lines: usize) -> Cart {
        let mut cart = cart("alice");
        let limits = Limits::new(99, 10_000).expect("limits");
        for n in 0..lines {
            let product = product(&format!("p-{n}"), &format!("product {n}"));
            let command = AddItem {
                product_id: product.id.clone(),
                variant_id: None,
                quantity: RequestedQuantity::new(1).expect("one"),
                asserted_unit_price: None,
            };
            let at = OffsetDateTime::UNIX_EPOCH;
            cart.add(&command, &product, &limits, Uuid::new_v4(), at)
                .expect("add");
        }
        cart
    }

    /// Whether `text` is the very allocation behind `shared`, not an equal copy.
    fn same_text(text: &str, shared: &str) -> bool {
        std::ptr::eq(text.as_ptr(), shared.as_ptr())
    }

    fn code(raw: &str) -> PromotionCode {
        PromotionCode::parse(raw).expect("code")
    }

    fn region(raw: &str) -> Region {
        Region::parse(raw).expect("region")
    }

    #[test]
    fn codes_are_kept_once_in_order_up_to_the_limit() {
        let mut cart = cart("alice");
        assert_eq!(cart.add_discount_code(code("B")), Ok(true));
        assert_eq!(cart.add_discount_code(code("a")), Ok(true));
        assert_eq!(cart.add_discount_code(code("b")), Ok(false), "held already");
        assert_eq!(cart.discount_codes(), [code("B"), code("A")]);
        for n in 2..MAX_DISCOUNT_CODES {
            assert_eq!(cart.add_discount_code(code(&format!("C{n}"))), Ok(true));
        }
        assert_eq!(
            cart.add_discount_code(code("ONE-TOO-MANY")),
            Err(CartError::TooManyDiscountCodes {
                max_allowed: MAX_DISCOUNT_CODES
            })
        );
        assert_eq!(cart.remove_discount_code(&code("b")), Ok(()));
        assert_eq!(
            cart.discount_codes()[0],
            code("A"),
            "the rest keep their order"
        );
        assert_eq!(
            cart.remove_discount_code(&code("B")),
            Err(CartError::DiscountCodeNotOnCart(code("B")))
        );
    }

    #[test]
    fn a_merge_keeps_the_users_region_and_unites_the_codes() {
        let limits = Limits::new(99, 100).expect("limits");
        let mut guest = cart("guest-cart");
        guest.set_region(region("DE"));
        for raw in ["SHARED", "GUEST-ONLY"] {
            guest.add_discount_code(code(raw)).expect("room");
        }
        add_one(&mut guest, &product("book", "Book"));
        let at = OffsetDateTime::UNIX_EPOCH;

        let mut user = cart("alice");
        user.set_region(region("FR"));
        user.add_discount_code(code("USER-ONLY")).expect("room");
        user.add_discount_code(code("SHARED")).expect("room");
        user.absorb(&guest, merge::MergeStrategy::Sum, &limits, at)
            .expect("merge");
        assert_eq!(user.region(), Some(&region("FR")), "the user's region wins");
        assert_eq!(
            user.discount_codes(),
            [code("USER-ONLY"), code("SHARED"), code("GUEST-ONLY")]
        );

        let mut regionless = cart("bob");
        regionless
            .absorb(&guest, merge::MergeStrategy::Max, &limits, at)
            .expect("merge");
        assert_eq!(regionless.region(), Some(&region("DE")), "else the guest's");

        let mut kept = cart("carol");
        kept.absorb(&guest, merge::MergeStrategy::Keep, &limits, at)
            .expect("merge");
        assert_eq!((kept.region(), kept.discount_codes()), (None, &[][..]));
    }

    #[test]
    fn repricing_a_line_takes_the_price_and_says_whether_it_changed() {
        let mut cart = cart("alice");
        let line = add_one(&mut cart, &product("book", "Book"));
        let later = OffsetDateTime::UNIX_EPOCH + Duration::hours(1);
        assert_eq!(cart.reprice_line(line.item_id(), 250, later), Ok(false));
        assert_eq!(cart.reprice_line(line.item_id(), 300, later), Ok(true));
        let repriced = cart.line(line.item_id()).expect("line");
        assert_eq!((repriced.unit_price(), repriced.updated_at()), (300, later));
        assert_eq!(cart.totals().total_price, 300);
        assert_eq!(
            cart.reprice_line(Uuid::new_v4(), 1, later),
            Err(CartError::ItemNotFound)
        );
    }

    #[test]
    fn lines_of_one_product_share_the_catalog_entrys_text() {
        let book = product("book-1", "Middlemarch — George Eliot (paperback)");
        let first = add_one(&mut cart("alice"), &book);
        let second = add_one(&mut cart("bob"), &book);
        for line in [&first, &second] {
            assert!(same_text(line.name(), &book.name), "name copied");
            assert!(
                same_text(line.product_id().as_str(), book.id.as_str()),
                "id copied"
            );
        }
    }

    #[test]
    fn adding_again_takes_a_renamed_products_new_name_and_keeps_one_line() {
        let mut cart = cart("alice");
        add_one(&mut cart, &product("book-1", "Middlemarch"));
        let renamed = product("book-1", "Middlemarch (new edition)");
        let line = add_one(&mut cart, &renamed);
        assert_eq!(cart.items().len(), 1);
        assert_eq!(line.quantity().get(), 2);
        assert_eq!(line.name(), "Middlemarch (new edition)");
        assert!(same_text(line.name(), &renamed.name));
    }
}
