//! Orders: what a checkout turns a cart into, and everything that happens to one afterwards.
//!
//! An order is a document the store keeps as a record ([`crate::ports::RecordKind::Order`]):
//! its lines and totals copied from the cart and its quote at checkout (the order never reads
//! the catalog or the pricing settings again), the buyer, the addresses, the payment intent,
//! and the history of its statuses. [`status`] says which action moves it where; the use cases
//! write the order, the stock it holds and the cart it locked in one commit.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::ids::{CartKey, ProductId, VariantId};
use crate::promotion_code::PromotionCode;
use crate::region::Region;

pub mod address;
pub mod index;
pub mod status;
pub mod stock;

pub use address::{Address, CheckoutDetails, OrderInputError};
pub use status::{Action, InvalidTransition, OrderStatus};
pub use stock::StockLevel;

/// How many installments a payment may be split into, at most.
pub const MAX_INSTALLMENTS: u8 = 24;

/// Who bought: a signed-in user, or a guest with the email they gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buyer {
    /// The cart key the order came from: a user id, or a guest key.
    pub cart_key: CartKey,
    /// The email the confirmation goes to.
    pub email: String,
}

impl Buyer {
    /// The buyer's id as the purchase events name it: the user id, or the guest key.
    pub fn buyer_id(&self) -> &str {
        self.cart_key.as_str()
    }
}

/// One line of an order: the cart line as it was bought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The cart line's id.
    pub item_id: Uuid,
    /// The product.
    pub product_id: ProductId,
    /// The variant, if any.
    pub variant_id: Option<VariantId>,
    /// The product's name at checkout.
    pub name: String,
    /// Units bought.
    pub quantity: u32,
    /// Unit price paid, minor units (before discounts, which the totals show).
    pub unit_price: i64,
    /// Whether the catalog tracks the product's stock: only tracked lines reserve and take
    /// stock.
    pub stock_tracked: bool,
}

/// The payment the provider is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentIntent {
    /// The provider's payment intent id; its webhooks name the order by it.
    pub intent_id: String,
    /// Minor units to pay: the order's total.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// What the storefront hands to the provider's client library to pay.
    pub client_secret: String,
}

/// One step of an order's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The status the order entered.
    pub status: OrderStatus,
    /// When.
    #[serde(with = "crate::timestamp::rfc3339")]
    pub at: OffsetDateTime,
    /// Why, when there is more to say than the status (a payment's failure, an error).
    pub reason: Option<String>,
}

/// Where fulfilment of a paid order stands, for the worker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fulfilment {
    /// Attempts made so far since the order was (last) paid.
    pub attempts: u32,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// The order's entry in the fulfilment queue while it is paid ([`index::fulfil_entry`]).
    pub queued: Option<String>,
}

/// An order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The order's id (UUIDv7).
    pub id: Uuid,
    /// The human order number, `CD-000123`: unique and increasing per store.
    pub number: String,
    /// Where it stands.
    pub status: OrderStatus,
    /// The version of the order's record: 1 when created, one more with every change. Order
    /// events carry it, so a consumer orders one order's events.
    pub version: u64,
    /// The cart it came from (its id at checkout).
    pub cart_id: Uuid,
    /// Who bought.
    pub buyer: Buyer,
    /// What was bought.
    pub lines: Vec<OrderLine>,
    /// ISO 4217 code.
    pub currency: String,
    /// What the buyer pays, minor units: the quote's total.
    pub total: i64,
    /// The quote's totals as shown at checkout (subtotal, discounts, tax, shipping, total).
    pub totals: serde_json::Value,
    /// The discount codes that applied.
    pub discount_codes: Vec<PromotionCode>,
    /// Where it ships to.
    pub region: Option<Region>,
    /// The shipping address.
    pub shipping_address: Address,
    /// The billing address.
    pub billing_address: Address,
    /// Installments the buyer chose, 1 to [`MAX_INSTALLMENTS`].
    pub number_of_installments: u8,
    /// The payment asked for.
    pub payment: PaymentIntent,
    /// Every status the order went through, oldest first; the last is `status`.
    pub status_history: Vec<StatusChange>,
    /// Fulfilment's attempts.
    #[serde(default)]
    pub fulfilment: Fulfilment,
    /// When checkout created it.
    #[serde(with = "crate::timestamp::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "crate::timestamp::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When an unpaid order expires.
    #[serde(with = "crate::timestamp::rfc3339")]
    pub pay_by: OffsetDateTime,
}

impl Order {
    /// The order number of the `n`-th order of a store.
    pub fn number_for(n: u64) -> String {
        format!("CD-{n:06}")
    }

    /// Applies `action` at `at`: the new status and a step of history. Nothing changes when the
    /// status does not allow it.
    pub fn apply(
        &mut self,
        action: Action,
        at: OffsetDateTime,
        reason: Option<String>,
    ) -> Result<(), InvalidTransition> {
        let next = status::transition(self.status, action)?;
        if action == Action::Retry || action == Action::Pay {
            self.fulfilment.attempts = 0;
            self.fulfilment.last_error = None;
        }
        if action == Action::Fail && reason.is_some() {
            // A dead letter shows why fulfilment gave up where its attempts are shown, too.
            self.fulfilment.last_error.clone_from(&reason);
        }
        self.status = next;
        self.updated_at = at;
        self.status_history.push(StatusChange {
            status: next,
            at,
            reason,
        });
        Ok(())
    }

    /// Units of each tracked product the order holds, product by product (lines of one
    /// product with different variants add up).
    pub fn tracked_units(&self) -> Vec<(ProductId, u32)> {
        let mut units: Vec<(ProductId, u32)> = Vec::new();
        for line in self.lines.iter().filter(|line| line.stock_tracked) {
            match units.iter_mut().find(|(id, _)| *id == line.product_id) {
                Some((_, n)) => *n = n.saturating_add(line.quantity),
                None => units.push((line.product_id.clone(), line.quantity)),
            }
        }
        units
    }

    /// What the order's events say about it.
    pub fn facts(&self, reason: Option<String>) -> OrderFacts {
        OrderFacts {
            order_id: self.id,
            number: self.number.clone(),
            status: self.status,
            buyer_id: self.buyer.buyer_id().to_owned(),
            number_of_installments: self.number_of_installments,
            total_amount: self.total,
            currency: self.currency.clone(),
            purchase_date: self.created_at,
            reason,
        }
    }

    /// The order as the JSON its record holds.
    pub fn to_record(&self) -> String {
        // Serialising our own plain structs (strings, integers, a JSON value) cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The order a record holds.
    pub fn from_record(body: &str) -> Result<Self, crate::error::StoreError> {
        serde_json::from_str(body)
            .map_err(|e| crate::error::StoreError::Internal(format!("stored order: {e}")))
    }
}

/// What an order event tells about its order (and what the serverless design's purchase
/// message carried: `buyer_id`, `number_of_installments`, `total_amount`, `purchase_date`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFacts {
    /// The order.
    pub order_id: Uuid,
    /// Its number.
    pub number: String,
    /// Its status after the event.
    pub status: OrderStatus,
    /// The user id, or the guest key.
    pub buyer_id: String,
    /// Installments chosen.
    pub number_of_installments: u8,
    /// The total, minor units.
    pub total_amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// When the order was placed.
    #[serde(with = "crate::timestamp::rfc3339")]
    pub purchase_date: OffsetDateTime,
    /// Why, on `order.payment_failed`, `order.cancelled` and `order.failed` (the last error).
    pub reason: Option<String>,
}

/// What a locked cart shows: the order its checkout created, while it waits for payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutLock {
    /// The order.
    pub order_id: Uuid,
    /// Its status (always `pending_payment` while the lock holds).
    pub status: OrderStatus,
}
