//! Domain events: facts about a cart, written to the outbox in the same commit as the cart.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::cart::merge::MergeReport;
use crate::cart::{Cart, LineChange, Totals};
use crate::ids::{CartKey, Owner, ProductId};
use crate::order::OrderFacts;
use crate::promotion_code::PromotionCode;
use crate::region::Region;

/// A line whose unit price a reprice changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepricedLine {
    /// The line.
    pub item_id: Uuid,
    /// Its product.
    pub product_id: ProductId,
    /// The unit price it had, minor units.
    pub was: i64,
    /// The catalog's unit price it took.
    pub now: i64,
}

/// What a pricing change to a cart was about, on the events that carry one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PricingChange {
    /// The region set, on `cart.region_set`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// The code added or removed, on `cart.discount_code_added` and `cart.discount_code_removed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_code: Option<PromotionCode>,
    /// The lines whose price changed, on `cart.repriced`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repriced: Vec<RepricedLine>,
}

impl PricingChange {
    /// Whether the change names nothing (every event but the pricing ones).
    pub fn is_empty(&self) -> bool {
        self.region.is_none() && self.discount_code.is_none() && self.repriced.is_empty()
    }
}

/// What happened to a cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A new cart came into being (first add, or first add after expiry).
    #[serde(rename = "cart.created")]
    CartCreated,
    /// A line was added, or units were added to a line.
    #[serde(rename = "cart.item_added")]
    ItemAdded,
    /// A line's quantity was set.
    #[serde(rename = "cart.item_updated")]
    ItemUpdated,
    /// A line was removed.
    #[serde(rename = "cart.item_removed")]
    ItemRemoved,
    /// Every line was removed; the cart keeps its id.
    #[serde(rename = "cart.cleared")]
    CartCleared,
    /// A guest cart was merged into this user cart; the event carries the merge report.
    #[serde(rename = "cart.merged")]
    CartMerged,
    /// This guest cart was merged into a user cart and deleted, in the same commit.
    #[serde(rename = "cart.merged_away")]
    CartMergedAway,
    /// The cart's region (where it ships to) was set; the event carries it.
    #[serde(rename = "cart.region_set")]
    RegionSet,
    /// A discount code was put on the cart; the event carries it.
    #[serde(rename = "cart.discount_code_added")]
    DiscountCodeAdded,
    /// A discount code was taken off the cart; the event carries it.
    #[serde(rename = "cart.discount_code_removed")]
    DiscountCodeRemoved,
    /// Lines took the catalog's current prices; the event lists each line whose price changed.
    #[serde(rename = "cart.repriced")]
    CartRepriced,
    /// Checkout created an order from the cart and locked it; the event names the order.
    #[serde(rename = "cart.checked_out")]
    CartCheckedOut,
    /// The order that locked the cart failed, expired or was cancelled: the cart is the
    /// shopper's again, lines and all; the event names the order.
    #[serde(rename = "cart.unlocked")]
    CartUnlocked,
    /// Checkout created an order, waiting for payment.
    #[serde(rename = "order.created")]
    OrderCreated,
    /// The payment provider confirmed the payment.
    #[serde(rename = "order.paid")]
    OrderPaid,
    /// The payment provider reported the payment failed.
    #[serde(rename = "order.payment_failed")]
    OrderPaymentFailed,
    /// The order was not paid in time.
    #[serde(rename = "order.expired")]
    OrderExpired,
    /// The buyer or an admin cancelled the order.
    #[serde(rename = "order.cancelled")]
    OrderCancelled,
    /// Fulfilment took the order.
    #[serde(rename = "order.fulfilled")]
    OrderFulfilled,
    /// Fulfilment failed every attempt: the order is a dead letter.
    #[serde(rename = "order.failed")]
    OrderFailed,
}

impl EventType {
    /// The type as published, e.g. `cart.item_added`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CartCreated => "cart.created",
            Self::ItemAdded => "cart.item_added",
            Self::ItemUpdated => "cart.item_updated",
            Self::ItemRemoved => "cart.item_removed",
            Self::CartCleared => "cart.cleared",
            Self::CartMerged => "cart.merged",
            Self::CartMergedAway => "cart.merged_away",
            Self::RegionSet => "cart.region_set",
            Self::DiscountCodeAdded => "cart.discount_code_added",
            Self::DiscountCodeRemoved => "cart.discount_code_removed",
            Self::CartRepriced => "cart.repriced",
            Self::CartCheckedOut => "cart.checked_out",
            Self::CartUnlocked => "cart.unlocked",
            Self::OrderCreated => "order.created",
            Self::OrderPaid => "order.paid",
            Self::OrderPaymentFailed => "order.payment_failed",
            Self::OrderExpired => "order.expired",
            Self::OrderCancelled => "order.cancelled",
            Self::OrderFulfilled => "order.fulfilled",
            Self::OrderFailed => "order.failed",
        }
    }

    /// Whether the event is about an order (its subject and sequence are the order's) rather
    /// than a cart.
    pub fn is_order_event(self) -> bool {
        self.as_str().starts_with("order.")
    }
}

/// One event, with a stable id consumers deduplicate by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartEvent {
    /// Stable id (UUIDv7, so ids sort by time).
    pub id: Uuid,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The cart's id.
    pub cart_id: Uuid,
    /// The cart's key (user id or guest id).
    pub cart_key: CartKey,
    /// User or guest cart.
    pub owner: Owner,
    /// The cart version this change produced; per-cart order.
    pub version: u64,
    /// When it happened.
    #[serde(with = "crate::timestamp::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The line concerned, for line events.
    pub line: Option<LineChange>,
    /// Totals after the change.
    pub totals: Totals,
    /// The cart's currency.
    pub currency: String,
    /// The merge report, on `cart.merged` and `cart.merged_away`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeReport>,
    /// The W3C `traceparent` of the request that made the change, if it carried one, so the
    /// published event joins the request's trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// What a region, discount-code or reprice event changed; empty on other events.
    #[serde(default, skip_serializing_if = "PricingChange::is_empty")]
    pub pricing: PricingChange,
    /// The order, on `order.*` events and on the cart events checkout and its order cause
    /// (`cart.checked_out`, `cart.unlocked`, and the `cart.cleared` of a paid order). On an
    /// `order.*` event, `version` is the order's version: events of one order are in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderFacts>,
}

impl CartEvent {
    /// An event about `cart` as it is after the change.
    pub fn about(id: Uuid, event_type: EventType, cart: &Cart, line: Option<LineChange>) -> Self {
        Self {
            id,
            event_type,
            cart_id: cart.id(),
            cart_key: cart.key().clone(),
            owner: cart.key().owner(),
            version: cart.version(),
            occurred_at: cart.updated_at(),
            line,
            totals: cart.totals(),
            currency: cart.currency().to_string(),
            merge: None,
            traceparent: None,
            pricing: PricingChange::default(),
            order: None,
        }
    }

    /// The event with the order it concerns.
    pub fn with_order(mut self, order: Option<OrderFacts>) -> Self {
        self.order = order;
        self
    }

    /// The event joined to the trace of the request that caused it.
    pub fn in_trace(mut self, traceparent: Option<&str>) -> Self {
        self.traceparent = traceparent.map(str::to_owned);
        self
    }

    /// The event with what its pricing change was about.
    pub fn with_pricing(mut self, pricing: PricingChange) -> Self {
        self.pricing = pricing;
        self
    }

    /// The event with a merge report attached.
    pub fn with_merge(mut self, report: MergeReport) -> Self {
        self.merge = Some(report);
        self
    }
}
