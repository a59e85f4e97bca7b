//! The CloudEvents 1.0 envelope (structured JSON mode) every sink publishes.
//!
//! The envelope is built from the outbox's [`CartEvent`] at publish time, so what the outbox
//! stores stays the domain's own form and the wire format can evolve with a version of its own.
//! The `data` schema of every type is in `docs/events/<type>.json`; `docs/events.md` describes
//! them.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use cart_core::order::OrderFacts;
use cart_core::{
    CartEvent, LineChange, MergeReport, Owner, PromotionCode, Region, RepricedLine, Totals,
};

/// The CloudEvents version this envelope follows.
pub const SPEC_VERSION: &str = "1.0";

/// The content type of `data`.
pub const DATA_CONTENT_TYPE: &str = "application/json";

/// The default `source` attribute: which producer emitted the event.
pub const DEFAULT_SOURCE: &str = "/cartd";

/// One event as published: CloudEvents 1.0 attributes, the `sequence` and `traceparent`
/// extensions, and the cart's change as `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Envelope {
    /// Always `"1.0"`.
    pub specversion: &'static str,
    /// The event's stable id; consumers deduplicate by it.
    pub id: Uuid,
    /// The producer, a URI reference (`/cartd` unless configured).
    pub source: String,
    /// The event type, e.g. `cart.item_added`.
    #[serde(rename = "type")]
    pub event_type: &'static str,
    /// The cart key (user id or guest id); on `order.*` events, the order id.
    pub subject: String,
    /// When the change was committed.
    #[serde(with = "cart_core::timestamp::rfc3339")]
    pub time: OffsetDateTime,
    /// Always `application/json`.
    pub datacontenttype: &'static str,
    /// The cart version this change produced (on `order.*` events the order's version),
    /// zero-padded to 20 digits because the CloudEvents `sequence` extension is a string
    /// compared lexicographically.
    pub sequence: String,
    /// The W3C trace context of the request that made the change, when it carried one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// What changed.
    pub data: EventData,
}

/// The `data` of every cart event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventData {
    /// The cart's id (a cart created after expiry has a new one).
    pub cart_id: Uuid,
    /// The cart key.
    pub cart_key: String,
    /// `user` or `guest`.
    pub owner: Owner,
    /// The cart version after the change.
    pub version: u64,
    /// The line concerned, on line events; `null` otherwise.
    pub line: Option<LineChange>,
    /// The cart's totals after the change.
    pub totals: Totals,
    /// The cart's ISO 4217 currency.
    pub currency: String,
    /// The merge report, on `cart.merged` and `cart.merged_away`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeReport>,
    /// The region set, on `cart.region_set`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// The code added or removed, on `cart.discount_code_added` and
    /// `cart.discount_code_removed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount_code: Option<PromotionCode>,
    /// Each line whose price changed, on `cart.repriced`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repriced: Vec<RepricedLine>,
    /// The order, on `order.*` events and on `cart.checked_out`, `cart.unlocked` and the
    /// `cart.cleared` of a paid order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderFacts>,
}

impl Envelope {
    /// The envelope of an outbox event, published by `source`.
    pub fn from_event(event: &CartEvent, source: &str) -> Self {
        Self {
            specversion: SPEC_VERSION,
            id: event.id,
            source: source.to_owned(),
            event_type: event.event_type.as_str(),
            subject: match (&event.order, event.event_type.is_order_event()) {
                (Some(order), true) => order.order_id.to_string(),
                _ => event.cart_key.to_string(),
            },
            time: event.occurred_at,
            datacontenttype: DATA_CONTENT_TYPE,
            sequence: format!("{:020}", event.version),
            traceparent: event.traceparent.clone(),
            data: EventData {
                cart_id: event.cart_id,
                cart_key: event.cart_key.to_string(),
                owner: event.owner,
                version: event.version,
                line: event.line.clone(),
                totals: event.totals,
                currency: event.currency.clone(),
                merge: event.merge.clone(),
                region: event.pricing.region.clone(),
                discount_code: event.pricing.discount_code.clone(),
                repriced: event.pricing.repriced.clone(),
                order: event.order.clone(),
            },
        }
    }

    /// The envelope as JSON bytes, as every sink sends it.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain structs of strings, numbers and uuids cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cart_core::{CartKey, EventType, ProductId};

    fn event(version: u64) -> CartEvent {
        CartEvent {
            id: Uuid::now_v7(),
            event_type: EventType::ItemAdded,
            cart_id: Uuid::new_v4(),
            cart_key: CartKey::parse("alice").expect("user key"),
            owner: Owner::User,
            version,
            occurred_at: OffsetDateTime::UNIX_EPOCH,
            line: Some(LineChange {
                item_id: Uuid::new_v4(),
                product_id: ProductId::parse("sku-1").expect("product id"),
                variant_id: None,
                quantity_before: 0,
                quantity_after: 2,
                unit_price: 1250,
            }),
            totals: Totals {
                item_count: 1,
                total_quantity: 2,
                total_price: 2500,
            },
            currency: "EUR".into(),
            merge: None,
            traceparent: None,
            pricing: Default::default(),
            order: None,
        }
    }

    #[test]
    fn the_envelope_carries_the_cloudevents_attributes_and_the_change() {
        let event = event(7);
        let json: serde_json::Value =
            serde_json::from_slice(&Envelope::from_event(&event, "/shop").to_json()).expect("json");
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["id"], event.id.to_string());
        assert_eq!(json["source"], "/shop");
        assert_eq!(json["type"], "cart.item_added");
        assert_eq!(json["subject"], "alice");
        assert_eq!(json["time"], "1970-01-01T00:00:00Z");
        assert_eq!(json["datacontenttype"], "application/json");
        assert_eq!(json["data"]["version"], 7);
        assert_eq!(json["data"]["line"]["quantity_after"], 2);
        assert_eq!(json["data"]["totals"]["total_price"], 2500);
        assert!(json.get("traceparent").is_none());
    }

    #[test]
    fn sequences_sort_as_strings_in_version_order() {
        let low = Envelope::from_event(&event(9), DEFAULT_SOURCE).sequence;
        let high = Envelope::from_event(&event(10), DEFAULT_SOURCE).sequence;
        assert!(low < high, "{low} should sort before {high}");
    }
}
