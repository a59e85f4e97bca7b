//! One event as silver stores it: the CloudEvents envelope flattened into a row of
//! `cart_events`, and its line (if any) into a row of `cart_lines`.

use serde::Deserialize;
use time::OffsetDateTime;

/// The envelope fields silver keeps (the schema has already been checked).
#[derive(Debug, Deserialize)]
struct Envelope {
    id: String,
    source: String,
    #[serde(rename = "type")]
    event_type: String,
    subject: String,
    #[serde(with = "time::serde::rfc3339")]
    time: OffsetDateTime,
    traceparent: Option<String>,
    data: Data,
}

#[derive(Debug, Deserialize)]
struct Data {
    cart_id: String,
    cart_key: String,
    owner: String,
    version: i64,
    line: Option<Line>,
    totals: Totals,
    currency: String,
    region: Option<String>,
    discount_code: Option<String>,
    merge: Option<Merge>,
    order: Option<OrderFacts>,
}

#[derive(Debug, Deserialize)]
struct Line {
    item_id: String,
    product_id: String,
    variant_id: Option<String>,
    quantity_before: i64,
    quantity_after: i64,
    unit_price: i64,
}

#[derive(Debug, Deserialize)]
struct Totals {
    item_count: i64,
    total_quantity: i64,
    total_price: i64,
}

#[derive(Debug, Deserialize)]
struct Merge {
    strategy: String,
}

#[derive(Debug, Deserialize)]
struct OrderFacts {
    order_id: String,
    number: String,
    status: String,
    total_amount: i64,
}

/// A row of `silver/cart_events` (docs/LAKE.md lists the columns).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// The event's id (UUIDv7); unique in silver.
    pub event_id: String,
    /// The event type, e.g. `cart.item_added`.
    pub event_type: String,
    /// The producer (`CARTD_EVENTS_SOURCE`).
    pub source: String,
    /// The cart key, or the order id on `order.*` events.
    pub subject: String,
    /// The cart's id.
    pub cart_id: String,
    /// The cart's key (user id or guest id).
    pub cart_key: String,
    /// `user` or `guest`.
    pub owner: String,
    /// The cart's version after the change (the order's, on `order.*` events).
    pub version: i64,
    /// Microseconds since the Unix epoch, UTC.
    pub occurred_at: i64,
    /// The cart's currency (ISO 4217).
    pub currency: String,
    /// Lines in the cart after the change.
    pub item_count: i64,
    /// Units in the cart after the change.
    pub total_quantity: i64,
    /// The cart's total after the change, minor units.
    pub total_price: i64,
    /// The line concerned, on line events.
    pub line: Option<LineRow>,
    /// The region set, on `cart.region_set`.
    pub region: Option<String>,
    /// The code added or removed.
    pub discount_code: Option<String>,
    /// The merge strategy, on merge events.
    pub merge_strategy: Option<String>,
    /// The order, on order and checkout events.
    pub order_id: Option<String>,
    /// The human order number.
    pub order_number: Option<String>,
    /// The order's status after the event.
    pub order_status: Option<String>,
    /// What the buyer pays, minor units.
    pub order_total: Option<i64>,
    /// The W3C trace context of the request that made the change.
    pub traceparent: Option<String>,
}

/// The line an event concerns: a row of `silver/cart_lines` beside its event's columns.
#[derive(Debug, Clone, PartialEq)]
pub struct LineRow {
    /// The line's id.
    pub item_id: String,
    /// The product.
    pub product_id: String,
    /// The variant, if any.
    pub variant_id: Option<String>,
    /// Units before the change.
    pub quantity_before: i64,
    /// Units after the change.
    pub quantity_after: i64,
    /// The unit price, minor units.
    pub unit_price: i64,
}

impl EventRow {
    /// Flattens a schema-valid event; `Err` names what does not fit silver's types.
    pub fn from_event(event: serde_json::Value) -> Result<Self, String> {
        let envelope: Envelope =
            serde_json::from_value(event).map_err(|e| format!("contract: {e}"))?;
        let data = envelope.data;
        let occurred_at = i64::try_from(envelope.time.unix_timestamp_nanos() / 1_000)
            .map_err(|_| "contract: time out of range".to_owned())?;
        let order = data.order;
        Ok(Self {
            event_id: envelope.id,
            event_type: envelope.event_type,
            source: envelope.source,
            subject: envelope.subject,
            cart_id: data.cart_id,
            cart_key: data.cart_key,
            owner: data.owner,
            version: data.version,
            occurred_at,
            currency: data.currency,
            item_count: data.totals.item_count,
            total_quantity: data.totals.total_quantity,
            total_price: data.totals.total_price,
            line: data.line.map(|line| LineRow {
                item_id: line.item_id,
                product_id: line.product_id,
                variant_id: line.variant_id,
                quantity_before: line.quantity_before,
                quantity_after: line.quantity_after,
                unit_price: line.unit_price,
            }),
            region: data.region,
            discount_code: data.discount_code,
            merge_strategy: data.merge.map(|m| m.strategy),
            order_id: order.as_ref().map(|o| o.order_id.clone()),
            order_number: order.as_ref().map(|o| o.number.clone()),
            order_status: order.as_ref().map(|o| o.status.clone()),
            order_total: order.as_ref().map(|o| o.total_amount),
            traceparent: envelope.traceparent,
        })
    }

    /// When the change was committed, as a date-time.
    pub fn occurred(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.occurred_at) * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}
