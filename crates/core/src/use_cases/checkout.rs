//! Checkout: the cart, priced as the shopper agreed, becomes an order waiting for payment, in
//! one commit with everything it holds:
//!
//! - the order (`pending_payment`) and its index entries (buyer, admin list, payment deadline);
//! - the stock it reserves for tracked products ([`crate::order::StockLevel`]);
//! - one more use of each discount code that applied;
//! - the cart, locked for the order;
//! - `cart.checked_out` and `order.created` in the outbox.
//!
//! What checkout decides on is read again on every attempt: a lost compare-and-set on any of it
//! (another checkout took the last units, or the last use of a code) decides again from what is
//! stored, so stock never goes below zero and a code is never used beyond its limit. The order
//! number and the payment intent are taken once per request, on its first attempt that passes
//! the checks.

use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::cart::Cart;
use crate::error::{CartError, Shortage};
use crate::events::{EventType, PricingChange};
use crate::ids::{CartKey, ProductId};
use crate::order::{
    Buyer, CheckoutDetails, Fulfilment, Order, OrderLine, OrderStatus, PaymentIntent, StatusChange,
    StockLevel, index,
};
use crate::outcome::Written;
use crate::ports::{LoadedCart, RecordKind, RecordWrite};
use crate::promotion_code::PromotionCode;

use super::change::{
    Change, CheckoutChange, Decision, RecordAs, UseCase, live_cart, live_version, locked_by,
};
use super::{CartService, WriteOptions};

/// The totals checkout holds the shopper to, as the pricing layer computed them for a cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// The quote token of these totals ([`crate`] does not know how it is made; it compares).
    pub token: String,
    /// What the buyer pays, minor units.
    pub total: i64,
    /// The totals as shown (kept on the order).
    pub totals: serde_json::Value,
    /// The discount codes that applied.
    pub applied_codes: Vec<PromotionCode>,
}

/// Prices a cart for checkout. Pricing lives above the domain (`cart-pricing`, over the pricing
/// settings), so checkout asks through this port, on every attempt, for the cart it read.
#[async_trait]
pub trait Quoter: Send + Sync {
    /// The totals of `cart` now.
    async fn quote(&self, cart: &Cart) -> Result<Quote, CartError>;
}

/// How many uses of a discount code orders have made so far: the promotion usage record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PromotionUsage {
    /// Orders that used the code (and were not given it back).
    pub times_used: u64,
}

impl PromotionUsage {
    /// The usage as its record's JSON.
    pub fn to_record(self) -> String {
        format!(r#"{{"times_used":{}}}"#, self.times_used)
    }

    /// The usage a record holds.
    pub fn from_record(body: &str) -> Result<Self, crate::error::StoreError> {
        serde_json::from_str(body)
            .map_err(|e| crate::error::StoreError::Internal(format!("stored usage: {e}")))
    }
}

/// The order number and payment intent of one checkout request, taken once.
#[derive(Debug, Clone)]
struct Allocated {
    order_id: Uuid,
    number: String,
    intent: PaymentIntent,
}

/// What one attempt found, checked.
struct Plan {
    quote: Quote,
    lines: Vec<OrderLine>,
    /// Stock and promotion-use writes.
    holds: Vec<RecordWrite>,
    allocated: Allocated,
}

/// What one attempt read: the cart, and the plan if the cart can be checked out at all.
pub(crate) struct CheckoutRead {
    loaded: LoadedCart,
    plan: Option<Result<Plan, CartError>>,
}

struct Checkout<'a> {
    key: &'a CartKey,
    details: &'a CheckoutDetails,
    quoter: &'a dyn Quoter,
    allocated: Mutex<Option<Allocated>>,
}

impl UseCase for Checkout<'_> {
    type Read = CheckoutRead;

    fn keys(&self) -> (&CartKey, Option<&CartKey>) {
        (self.key, None)
    }

    async fn read(&self, service: &CartService, first: bool) -> Result<CheckoutRead, CartError> {
        // The first attempt may take the cart from the store's cache, as every change does: a
        // stale cart prices to another quote token (a refusal, which is reached again from the
        // store) or loses the commit's compare-and-set; either way the next attempt reads the
        // store.
        let loaded = service.read_target(self.key, first).await?;
        let now = service.now();
        let checkable = loaded
            .cart
            .as_ref()
            .filter(|cart| live_version(Some(cart), now).is_some() && cart.checkout().is_none());
        let plan = match checkable {
            Some(cart) => Some(self.plan(service, cart, now).await),
            None => None,
        };
        Ok(CheckoutRead { loaded, plan })
    }

    fn live_version(read: &CheckoutRead, now: OffsetDateTime) -> Option<u64> {
        live_version(read.loaded.cart.as_ref(), now)
    }

    fn guessed(read: &CheckoutRead) -> bool {
        read.loaded.guessed
    }

    fn locked_by(read: &CheckoutRead, now: OffsetDateTime) -> Option<Uuid> {
        locked_by(read.loaded.cart.as_ref(), now)
    }

    fn decide(
        &self,
        service: &CartService,
        read: CheckoutRead,
        now: OffsetDateTime,
    ) -> Result<Decision, CartError> {
        let mut cart = live_cart(read.loaded.cart, now)?;
        let plan = read.plan.ok_or(CartError::CartNotFound)??;
        let version = cart.version();
        let order = self.order(service, &cart, plan.quote, plan.lines, &plan.allocated, now);
        cart.lock_for(order.id);
        let mut records = vec![
            RecordWrite {
                kind: RecordKind::Order,
                key: order.id.to_string(),
                expected_version: None,
                body: Some(order.to_record()),
            },
            index_entry(index::owner_entry(&order.buyer.cart_key, now, order.id)),
            index_entry(index::all_entry(now, order.id)),
            index_entry(index::due_entry(order.pay_by, order.id)),
        ];
        records.extend(plan.holds);
        Ok(Decision::Changed(Change {
            cart,
            expected_version: Some(version),
            events: vec![(EventType::CartCheckedOut, None)],
            ended: None,
            report: None,
            pricing: PricingChange::default(),
            checkout: Some(Box::new(CheckoutChange { order, records })),
        }))
    }
}

/// A new index entry.
pub(crate) fn index_entry(key: String) -> RecordWrite {
    RecordWrite {
        kind: RecordKind::OrderIndex,
        key,
        expected_version: None,
        body: Some("{}".to_owned()),
    }
}

impl Checkout<'_> {
    /// Checks `cart` against the quote, the catalog and stock, in that order.
    async fn plan(
        &self,
        service: &CartService,
        cart: &Cart,
        now: OffsetDateTime,
    ) -> Result<Plan, CartError> {
        if cart.items().is_empty() {
            return Err(CartError::CartEmpty);
        }
        let Some(region) = cart.region() else {
            return Err(CartError::RegionRequired);
        };
        let region_country = region.as_str().split('-').next().unwrap_or_default();
        if region_country != self.details.shipping_address.country {
            return Err(CartError::ShippingOutsideRegion {
                region: region.to_string(),
                country: self.details.shipping_address.country.clone(),
            });
        }
        let quote = self.quoter.quote(cart).await?;
        if quote.token != self.details.quote_token {
            return Err(CartError::QuoteChanged {
                quote_token: quote.token,
            });
        }
        let orders = service.orders()?;
        let mut lines = Vec::with_capacity(cart.items().len());
        let mut unavailable = Vec::new();
        let mut tracked: Vec<(ProductId, u32, u32)> = Vec::new();
        for line in cart.items() {
            let product = service.catalog.product(line.product_id()).await?;
            let Some(product) = product.filter(|product| product.active) else {
                unavailable.push(line.product_id().clone());
                continue;
            };
            if let Some(on_hand) = product.stock {
                let units = line.quantity().get();
                match tracked.iter_mut().find(|(id, ..)| id == line.product_id()) {
                    Some((_, wanted, _)) => *wanted = wanted.saturating_add(units),
                    None => tracked.push((product.id.clone(), units, on_hand)),
                }
            }
            lines.push(OrderLine {
                item_id: line.item_id(),
                product_id: line.product_id().clone(),
                variant_id: line.variant_id().cloned(),
                name: line.name().to_owned(),
                quantity: line.quantity().get(),
                unit_price: line.unit_price(),
                stock_tracked: product.stock.is_some(),
            });
        }
        if !unavailable.is_empty() {
            return Err(CartError::LinesUnavailable(unavailable));
        }
        let mut holds = Vec::new();
        let mut shortages = Vec::new();
        for (product_id, wanted, catalog_on_hand) in tracked {
            let (level, expected) = stock_level(service, &product_id, catalog_on_hand).await?;
            match level.reserve(wanted) {
                Some(reserved) => holds.push(RecordWrite {
                    kind: RecordKind::Stock,
                    key: product_id.to_string(),
                    expected_version: expected,
                    body: Some(reserved.to_record()),
                }),
                None => shortages.push(Shortage {
                    product_id,
                    requested: wanted,
                    available: level.available(),
                }),
            }
        }
        if !shortages.is_empty() {
            return Err(CartError::OutOfStock(shortages));
        }
        for code in &quote.applied_codes {
            let stored = orders
                .records
                .record(RecordKind::PromotionUsage, code.as_str())
                .await?;
            let usage = match &stored {
                Some(record) => PromotionUsage::from_record(&record.body)?,
                None => PromotionUsage::default(),
            };
            holds.push(RecordWrite {
                kind: RecordKind::PromotionUsage,
                key: code.as_str().to_owned(),
                expected_version: stored.map(|record| record.version),
                body: Some(
                    PromotionUsage {
                        times_used: usage.times_used + 1,
                    }
                    .to_record(),
                ),
            });
        }
        let allocated = self.allocate(service, quote.total, cart, now).await?;
        Ok(Plan {
            quote,
            lines,
            holds,
            allocated,
        })
    }

    /// The request's order id, number and payment intent, taken on its first call.
    async fn allocate(
        &self,
        service: &CartService,
        amount: i64,
        cart: &Cart,
        _now: OffsetDateTime,
    ) -> Result<Allocated, CartError> {
        if let Some(allocated) = self.taken() {
            // A later attempt of the same request: same number and intent, unless the total
            // moved (then the quote token moved too, and this attempt was refused above).
            if allocated.intent.amount == amount {
                return Ok(allocated);
            }
        }
        let orders = service.orders()?;
        let order_id = service.ids.event_id();
        let number = Order::number_for(orders.records.next_number("orders").await?);
        let intent = orders
            .payments
            .create_intent(order_id, amount, &cart.currency().to_string())
            .await?;
        let allocated = Allocated {
            order_id,
            number,
            intent,
        };
        *self.allocated.lock().unwrap_or_else(|p| p.into_inner()) = Some(allocated.clone());
        Ok(allocated)
    }

    fn taken(&self) -> Option<Allocated> {
        self.allocated
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The order of `cart` at `now`.
    fn order(
        &self,
        service: &CartService,
        cart: &Cart,
        quote: Quote,
        lines: Vec<OrderLine>,
        allocated: &Allocated,
        now: OffsetDateTime,
    ) -> Order {
        let pay_by = now + service.order_policy().checkout_ttl;
        Order {
            id: allocated.order_id,
            number: allocated.number.clone(),
            status: OrderStatus::PendingPayment,
            version: 1,
            cart_id: cart.id(),
            buyer: Buyer {
                cart_key: cart.key().clone(),
                email: self.details.email.clone(),
            },
            lines,
            currency: cart.currency().to_string(),
            total: quote.total,
            totals: quote.totals,
            discount_codes: quote.applied_codes,
            region: cart.region().cloned(),
            shipping_address: self.details.shipping_address.clone(),
            billing_address: self.details.billing_address.clone(),
            number_of_installments: self.details.number_of_installments,
            payment: allocated.intent.clone(),
            status_history: vec![StatusChange {
                status: OrderStatus::PendingPayment,
                at: now,
                reason: None,
            }],
            fulfilment: Fulfilment::default(),
            created_at: now,
            updated_at: now,
            pay_by,
        }
    }
}

/// A tracked product's stock level and its record's version: the record's, or (before the
/// product's first checkout) the catalog's units on hand with nothing reserved and no record.
pub(crate) async fn stock_level(
    service: &CartService,
    product_id: &ProductId,
    catalog_on_hand: u32,
) -> Result<(StockLevel, Option<u64>), CartError> {
    let orders = service.orders()?;
    match orders
        .records
        .record(RecordKind::Stock, product_id.as_str())
        .await?
    {
        Some(record) => Ok((StockLevel::from_record(&record.body)?, Some(record.version))),
        None => Ok((
            StockLevel {
                on_hand: catalog_on_hand,
                reserved: 0,
            },
            None,
        )),
    }
}

impl CartService {
    /// Checks out the cart under `target` at the totals `details.quote_token` names: the order,
    /// the stock it reserves, the promotion uses and the locked cart in one commit. The
    /// idempotency key is required by the transports; a retry under it answers the same order.
    pub async fn checkout(
        &self,
        target: &CartKey,
        details: &CheckoutDetails,
        quoter: &dyn Quoter,
        options: WriteOptions,
    ) -> Result<Written, CartError> {
        let fingerprint = checkout_fingerprint(target, details);
        let use_case = Checkout {
            key: target,
            details,
            quoter,
            allocated: Mutex::new(None),
        };
        self.idempotently(
            options.idempotency.as_ref(),
            &fingerprint,
            |record: Option<RecordAs<'_>>| self.change(&use_case, &options, record),
        )
        .await
    }
}

/// The canonical form of a checkout request, for its idempotency record.
fn checkout_fingerprint(target: &CartKey, details: &CheckoutDetails) -> String {
    // The details are our own plain struct: serialising it cannot fail.
    let body = serde_json::to_string(details).unwrap_or_default();
    format!(
        "{} checkout cart={target} {body}",
        crate::command::FINGERPRINT_VERSION
    )
}
