//! The stored form of an idempotency record's outcome, shared by every backend: JSON of the
//! domain [`Outcome`], `{"outcome": …}`.
//!
//! Builds before the transport-free write path stored an HTTP response instead
//! (`{"status", "headers", "body"}`, the body being the REST JSON of the cart, with a `merge`
//! member for a merge). Those records are read here into the same domain outcome, so a retry
//! that reaches a replica running this build after an upgrade still replays: the migration
//! happens on read, for every store alike, and stops mattering once the idempotency TTL has
//! passed since the upgrade.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use cart_core::{Cart, MergeReport, Merged, Outcome, StoreError};

/// The current stored form.
#[derive(Serialize, Deserialize)]
struct Doc<O> {
    outcome: O,
}

/// The form of older builds: a recorded HTTP response.
#[derive(Deserialize)]
struct LegacyResponse {
    status: u16,
    body: Vec<u8>,
}

/// The stored text of an outcome.
pub(crate) fn encode(outcome: &Outcome) -> Result<String, StoreError> {
    serde_json::to_string(&Doc { outcome }).map_err(|e| damaged(&e))
}

/// The outcome in a stored text, of this build's form or of the older one.
pub(crate) fn decode(text: &str) -> Result<Outcome, StoreError> {
    let value: Value = serde_json::from_str(text).map_err(|e| damaged(&e))?;
    if value.get("outcome").is_some() {
        let doc: Doc<Outcome> = serde_json::from_value(value).map_err(|e| damaged(&e))?;
        return Ok(doc.outcome);
    }
    let legacy: LegacyResponse = serde_json::from_value(value).map_err(|e| damaged(&e))?;
    from_legacy(&legacy)
}

/// The outcome an older build's recorded response showed. A `204` (REST's answer to a clear)
/// showed no cart.
fn from_legacy(response: &LegacyResponse) -> Result<Outcome, StoreError> {
    if response.status == 204 || response.body.is_empty() {
        return Ok(Outcome::Cart(None));
    }
    let mut body: Value = serde_json::from_slice(&response.body).map_err(|e| damaged(&e))?;
    let merge = body.as_object_mut().and_then(|cart| cart.remove("merge"));
    // REST showed the cart key as `user_id`; the domain cart calls it `key`. Its other extra
    // members (owner, totals, subtotals) are derived and ignored.
    if let Some(cart) = body.as_object_mut()
        && let Some(key) = cart.get("user_id").cloned()
    {
        cart.insert("key".into(), key);
    }
    let cart: Cart = serde_json::from_value(body).map_err(|e| damaged(&e))?;
    let Some(mut merge) = merge else {
        return Ok(Outcome::Cart(Some(cart)));
    };
    let dry_run = merge
        .as_object_mut()
        .and_then(|report| report.remove("dry_run"))
        .and_then(|flag| flag.as_bool())
        .unwrap_or(false);
    let report: MergeReport = serde_json::from_value(merge).map_err(|e| damaged(&e))?;
    Ok(Outcome::Merged(Merged {
        cart,
        report,
        dry_run,
    }))
}

fn damaged(error: &serde_json::Error) -> StoreError {
    StoreError::Internal(format!("damaged idempotency record: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the build before this one recorded for an add (REST, 201), byte for byte.
    const LEGACY_ADD: &str = r#"{"status":201,"headers":[["content-type","application/json"],["etag","\"2\""]],"body":BODY}"#;

    fn legacy(status: u16, body: &str) -> String {
        let bytes: Vec<String> = body.bytes().map(|b| b.to_string()).collect();
        LEGACY_ADD
            .replace("201", &status.to_string())
            .replace("BODY", &format!("[{}]", bytes.join(",")))
    }

    const CART_JSON: &str = r#"{"id":"0193a1a0-0000-7000-8000-000000000001","user_id":"guest_01JD3XK4B5C6D7E8F9G0H1J2K3","owner":"guest","currency":"EUR","items":[{"item_id":"0193a1a0-0000-7000-8000-000000000002","product_id":"book-001-pb","variant_id":null,"name":"Middlemarch","quantity":2,"unit_price":1299,"subtotal":2598,"added_at":"2026-12-01T10:00:00Z","updated_at":"2026-12-01T10:00:01Z"}],"item_count":1,"total_quantity":2,"total_price":2598,"version":2,"created_at":"2026-12-01T10:00:00Z","updated_at":"2026-12-01T10:00:01Z","expires_at":"2026-12-08T10:00:01Z"}"#;

    #[test]
    fn an_outcome_reads_back_as_it_was_written() {
        let Outcome::Cart(Some(cart)) = decode(&legacy(201, CART_JSON)).expect("legacy") else {
            panic!("a cart");
        };
        for outcome in [Outcome::Cart(Some(cart)), Outcome::Cart(None)] {
            let text = encode(&outcome).expect("encode");
            assert_eq!(decode(&text).expect("decode"), outcome);
        }
    }

    #[test]
    fn an_older_builds_recorded_cart_reads_as_the_domain_cart() {
        let Outcome::Cart(Some(cart)) = decode(&legacy(201, CART_JSON)).expect("legacy") else {
            panic!("a cart");
        };
        assert_eq!(cart.key().as_str(), "guest_01JD3XK4B5C6D7E8F9G0H1J2K3");
        assert_eq!(cart.version(), 2);
        assert_eq!(cart.items().len(), 1);
        assert_eq!(cart.items()[0].quantity().get(), 2);
        assert_eq!(cart.items()[0].name(), "Middlemarch");
        assert_eq!(cart.totals().total_price, 2598);
    }

    #[test]
    fn an_older_builds_empty_answer_reads_as_no_cart() {
        let text = r#"{"status":204,"headers":[],"body":[]}"#;
        assert_eq!(decode(text).expect("legacy"), Outcome::Cart(None));
    }

    #[test]
    fn an_older_builds_merge_reads_with_its_report() {
        let merged = CART_JSON.trim_end_matches('}').to_owned()
            + r#","merge":{"strategy":"max","guest_id":"guest_01JD3XK4B5C6D7E8F9G0H1J2K4","guest_cart_found":true,"dry_run":false,"lines":[{"product_id":"book-001-pb","variant_id":null,"source":"guest","outcome":"added","reason":"only_in_guest_cart","guest_quantity":2,"user_quantity":0,"quantity":2}]}}"#;
        let Outcome::Merged(merged) = decode(&legacy(200, &merged)).expect("legacy") else {
            panic!("a merge");
        };
        assert_eq!(merged.report.lines.len(), 1);
        assert_eq!(
            merged.report.guest_id.as_str(),
            "guest_01JD3XK4B5C6D7E8F9G0H1J2K4"
        );
        assert!(!merged.dry_run);
    }

    #[test]
    fn damage_is_an_internal_error_not_a_panic() {
        for text in [
            "",
            "{",
            r#"{"outcome":42}"#,
            r#"{"status":201,"body":[1,2]}"#,
        ] {
            assert!(
                matches!(decode(text), Err(StoreError::Internal(_))),
                "{text}"
            );
        }
    }
}
