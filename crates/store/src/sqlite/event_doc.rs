//! How the embedded store keeps an event in the `payload` column of `outbox`.
//!
//! Like a cart ([`super::doc`]), an event is written as a BLOB: one format byte
//! ([`BINARY_V3`]) and then its fields in [postcard](https://postcard.jamesmunns.com/wire-format).
//! As JSON an add's event was ~480 bytes, so an outbox page held eight and a group of adds
//! wrote one or two outbox pages, plus the interior page and the database header whenever the
//! table grew; in this form it is ~170 bytes (`docs/PERFORMANCE.md`). The relay decodes it
//! without parsing JSON only to write JSON again.
//!
//! `CartEvent`'s serde form leaves out empty optional fields, which a format without field
//! names cannot read back, so the binary form is the field list below, every field always
//! present. A change to `CartEvent`'s fields needs a new format number and a decoder for the old
//! one. Form 1 is form 2 without the pricing change at the end, form 2 is form 3 without the
//! order at the end (see [`decode`]). Rows written before the binary forms hold JSON text,
//! which is still read. To look at pending events, `cartd outbox list` prints them as JSON.

use rusqlite::types::ValueRef;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use cart_core::{
    CartEvent, CartKey, EventType, LineChange, MergeReport, Owner, PricingChange, PromotionCode,
    Region, RepricedLine, StoreError, Totals, order::OrderFacts,
};

// The format bytes are shared with carts', as `super::doc::decode_versioned` reads both.
use super::doc::{BINARY_V1, BINARY_V2, BINARY_V3, NONE};

/// What postcard writes for an empty pricing change: `None` (region), `None` (code) and an
/// empty list (repriced lines), one zero byte each. A form-1 event is form 2 without them.
const NO_PRICING_CHANGE: [u8; 3] = [0, 0, 0];

/// `CartEvent`'s fields, borrowed, in the order the binary form writes them.
#[derive(Serialize)]
struct FieldsRef<'a> {
    id: Uuid,
    event_type: EventType,
    cart_id: Uuid,
    cart_key: &'a CartKey,
    owner: Owner,
    version: u64,
    #[serde(with = "cart_core::timestamp::rfc3339")]
    occurred_at: OffsetDateTime,
    line: &'a Option<LineChange>,
    totals: Totals,
    currency: &'a str,
    merge: &'a Option<MergeReport>,
    traceparent: &'a Option<String>,
    region: &'a Option<Region>,
    discount_code: &'a Option<PromotionCode>,
    repriced: &'a [RepricedLine],
    order: &'a Option<OrderFacts>,
}

/// What [`FieldsRef`] writes, read back.
#[derive(Deserialize)]
struct Fields {
    id: Uuid,
    event_type: EventType,
    cart_id: Uuid,
    cart_key: CartKey,
    owner: Owner,
    version: u64,
    #[serde(with = "cart_core::timestamp::rfc3339")]
    occurred_at: OffsetDateTime,
    line: Option<LineChange>,
    totals: Totals,
    currency: String,
    merge: Option<MergeReport>,
    traceparent: Option<String>,
    region: Option<Region>,
    discount_code: Option<PromotionCode>,
    repriced: Vec<RepricedLine>,
    order: Option<OrderFacts>,
}

/// The bytes to store for `event`.
pub(super) fn encode(event: &CartEvent) -> Result<Vec<u8>, StoreError> {
    let fields = FieldsRef {
        id: event.id,
        event_type: event.event_type,
        cart_id: event.cart_id,
        cart_key: &event.cart_key,
        owner: event.owner,
        version: event.version,
        occurred_at: event.occurred_at,
        line: &event.line,
        totals: event.totals,
        currency: &event.currency,
        merge: &event.merge,
        traceparent: &event.traceparent,
        region: &event.pricing.region,
        discount_code: &event.pricing.discount_code,
        repriced: &event.pricing.repriced,
        order: &event.order,
    };
    super::doc::encode_versioned(BINARY_V3, &fields, 192)
        .map_err(|e| StoreError::Internal(format!("cannot encode an event: {e}")))
}

/// The event stored as `value`: a BLOB in a known binary form, or JSON text from before them.
/// Form 1 ends where form 2 goes on with the pricing change, and form 2 where form 3 goes on
/// with the order, so an older event is read as form 3 with the later fields empty.
pub(super) fn decode(value: ValueRef<'_>) -> Result<CartEvent, StoreError> {
    super::doc::decode_versioned(value, "event", |format, bytes| {
        let read = match format {
            BINARY_V1 => {
                postcard::from_bytes::<Fields>(&[bytes, &NO_PRICING_CHANGE[..], &NONE[..]].concat())
            }
            BINARY_V2 => postcard::from_bytes::<Fields>(&[bytes, &NONE[..]].concat()),
            BINARY_V3 => postcard::from_bytes::<Fields>(bytes),
            _ => return None,
        };
        Some(read.map(Fields::into_event))
    })
}

impl Fields {
    fn into_event(self) -> CartEvent {
        CartEvent {
            id: self.id,
            event_type: self.event_type,
            cart_id: self.cart_id,
            cart_key: self.cart_key,
            owner: self.owner,
            version: self.version,
            occurred_at: self.occurred_at,
            line: self.line,
            totals: self.totals,
            currency: self.currency,
            merge: self.merge,
            traceparent: self.traceparent,
            pricing: PricingChange {
                region: self.region,
                discount_code: self.discount_code,
                repriced: self.repriced,
            },
            order: self.order,
        }
    }
}

#[cfg(test)]
mod tests {
    use cart_core::{
        GuestId, LineOutcome, LineSource, MergeLine, MergeStrategy, OutcomeReason, ProductId,
        VariantId,
    };

    use super::*;
    use crate::sqlite::doc::tests::{assert_damage_is_refused, cart_with_lines};

    /// An add's event, and a merge's with every optional field present.
    fn events() -> Vec<CartEvent> {
        let cart = cart_with_lines(3);
        let line = cart.items()[1].clone();
        let added = CartEvent::about(
            Uuid::now_v7(),
            EventType::ItemAdded,
            &cart,
            Some(LineChange {
                item_id: line.item_id(),
                product_id: line.product_id().clone(),
                variant_id: None,
                quantity_before: 0,
                quantity_after: 3,
                unit_price: line.unit_price(),
            }),
        );
        let guest = GuestId::parse("guest_01HZX3K4B5C6D7E8F9G0H1J2K3").expect("guest");
        let mut report = MergeReport::nothing_to_merge(MergeStrategy::Sum, guest);
        report.guest_cart_found = true;
        report.lines.push(MergeLine {
            product_id: ProductId::parse("book-001-pb").expect("id"),
            variant_id: Some(VariantId::parse("signed").expect("variant")),
            source: LineSource::Both,
            outcome: LineOutcome::Capped,
            reason: OutcomeReason::LineLimit,
            guest_quantity: 60,
            user_quantity: 50,
            quantity: 99,
        });
        let merged = CartEvent::about(Uuid::now_v7(), EventType::CartMerged, &cart, None)
            .with_merge(report)
            .in_trace(Some(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ));
        let cleared = CartEvent::about(Uuid::now_v7(), EventType::CartCleared, &cart, None);
        let region_set = CartEvent::about(Uuid::now_v7(), EventType::RegionSet, &cart, None)
            .with_pricing(PricingChange {
                region: Some(Region::parse("US-CA").expect("region")),
                ..PricingChange::default()
            });
        let code_added =
            CartEvent::about(Uuid::now_v7(), EventType::DiscountCodeAdded, &cart, None)
                .with_pricing(PricingChange {
                    discount_code: Some(PromotionCode::parse("SAVE10").expect("code")),
                    ..PricingChange::default()
                });
        let repriced = CartEvent::about(Uuid::now_v7(), EventType::CartRepriced, &cart, None)
            .with_pricing(PricingChange {
                repriced: vec![RepricedLine {
                    item_id: line.item_id(),
                    product_id: line.product_id().clone(),
                    was: 1_299,
                    now: 1_099,
                }],
                ..PricingChange::default()
            });
        let checked_out = CartEvent::about(Uuid::now_v7(), EventType::CartCheckedOut, &cart, None)
            .with_order(Some(OrderFacts {
                order_id: Uuid::now_v7(),
                number: "CD-000042".into(),
                status: cart_core::order::OrderStatus::PendingPayment,
                buyer_id: cart.key().as_str().to_owned(),
                number_of_installments: 3,
                total_amount: 12_345,
                currency: "EUR".into(),
                purchase_date: cart.updated_at(),
                reason: Some("zoë's ünïcödé reason".into()),
            }));
        vec![
            added,
            merged,
            cleared,
            region_set,
            code_added,
            repriced,
            checked_out,
        ]
    }

    #[test]
    fn an_event_reads_back_equal_to_what_was_written() {
        for event in events() {
            let bytes = encode(&event).expect("encode");
            assert_eq!(bytes[0], BINARY_V3);
            assert_eq!(decode(ValueRef::Blob(&bytes)).expect("decode"), event);
        }
    }

    #[test]
    fn events_written_in_the_first_binary_form_still_read() {
        // Form 1 was form 3 without the pricing change's fields and the order, so a form-1
        // event is this build's encoding of an event without either, less their four bytes.
        for event in events()
            .into_iter()
            .filter(|e| e.pricing.is_empty() && e.order.is_none())
        {
            let current = encode(&event).expect("encode");
            let mut first_form = current[..current.len() - 4].to_vec();
            first_form[0] = BINARY_V1;
            assert_eq!(decode(ValueRef::Blob(&first_form)).expect("decode"), event);
        }
    }

    #[test]
    fn events_written_in_the_second_binary_form_still_read() {
        for event in events().into_iter().filter(|e| e.order.is_none()) {
            let current = encode(&event).expect("encode");
            let mut second_form = current[..current.len() - 1].to_vec();
            second_form[0] = BINARY_V2;
            assert_eq!(decode(ValueRef::Blob(&second_form)).expect("decode"), event);
        }
    }

    #[test]
    fn events_written_as_json_before_the_binary_form_still_read() {
        for event in events() {
            let json = serde_json::to_string(&event).expect("json");
            assert_eq!(
                decode(ValueRef::Text(json.as_bytes())).expect("decode"),
                event
            );
        }
    }

    #[test]
    fn an_add_event_takes_under_half_the_bytes_of_its_json() {
        let event = &events()[0];
        let binary = encode(event).expect("encode").len();
        let json = serde_json::to_vec(event).expect("json").len();
        assert!(binary * 2 < json, "{binary} bytes against {json} as JSON");
    }

    #[test]
    fn unknown_forms_and_damaged_bytes_are_errors_not_panics() {
        let bytes = encode(&events()[1]).expect("encode");
        assert_damage_is_refused(&bytes, decode);
    }
}
