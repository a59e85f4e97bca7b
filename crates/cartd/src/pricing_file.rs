//! `cartd pricing import FILE` and the demo pricing: tax rates, shipping rates and promotions
//! from one JSON file, checked by the same code as the admin routes, whole, before anything is
//! written.
//!
//! The file:
//!
//! ```json
//! {"tax_rates":      [{"region": "FR", "rates": {"standard": "20"}, "prices_include_tax": true}],
//!  "shipping_rates": [{"region": "FR", "amount": 1499, "currency": "USD", "free_above": 10000}],
//!  "promotions":     [{"code": "WELCOME10", "type": "percentage", "percent": "10"}]}
//! ```
//!
//! Each row is the admin route's body with its path parameter (`region`, `code`) added. A
//! region or code named twice in one list is refused: which row wins would be a guess.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use cart_api::routes::pricing;
use cart_api::routes::promotions;
use cart_core::{PricingKind, PricingSettings};

/// The file's three lists; each may be left out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PricingFile {
    #[serde(default)]
    tax_rates: Vec<Map<String, Value>>,
    #[serde(default)]
    shipping_rates: Vec<Map<String, Value>>,
    #[serde(default)]
    promotions: Vec<Map<String, Value>>,
}

/// One checked setting, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Its kind.
    pub kind: PricingKind,
    /// The region or the code, as stored.
    pub key: String,
    /// The document the store keeps.
    pub document: String,
}

/// How many settings of each kind a file holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Regions' tax tables.
    pub tax_rates: usize,
    /// Regions' shipping rates.
    pub shipping_rates: usize,
    /// Promotions.
    pub promotions: usize,
}

/// Every setting of `text`, checked; the first bad row is the error, named by list and index
/// (`promotions[2]: percent: must be more than 0`).
pub fn parse(text: &str) -> Result<Vec<Setting>, String> {
    let file: PricingFile =
        serde_json::from_str(text).map_err(|e| format!("not a pricing file: {e}"))?;
    let mut settings = Vec::new();
    rows(
        &file.tax_rates,
        "tax_rates",
        "region",
        &mut settings,
        |key, request| {
            let region = pricing::region(key)?;
            let (_, document) = pricing::tax_rates_setting(request)?;
            Ok((PricingKind::TaxRates, region.to_string(), document))
        },
    )?;
    rows(
        &file.shipping_rates,
        "shipping_rates",
        "region",
        &mut settings,
        |key, request| {
            let region = pricing::region(key)?;
            let (_, document) = pricing::shipping_rate_setting(request)?;
            Ok((PricingKind::ShippingRate, region.to_string(), document))
        },
    )?;
    rows(
        &file.promotions,
        "promotions",
        "code",
        &mut settings,
        |key, request| {
            let (promotion, document) = promotions::promotion_setting(key, request)?;
            Ok((PricingKind::Promotion, promotion.code.to_string(), document))
        },
    )?;
    Ok(settings)
}

/// Checks each row of `list` (named `name`) by `check`, given the row's `key_field` and the
/// rest as the route's request.
fn rows<R: DeserializeOwned>(
    list: &[Map<String, Value>],
    name: &str,
    key_field: &str,
    settings: &mut Vec<Setting>,
    check: impl Fn(&str, R) -> Result<(PricingKind, String, String), cart_api::problem::ApiError>,
) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for (index, row) in list.iter().enumerate() {
        let at = |reason: String| format!("{name}[{index}]: {reason}");
        let mut body = row.clone();
        let key = match body.remove(key_field) {
            Some(Value::String(key)) => key,
            _ => return Err(at(format!("{key_field}: a string is required"))),
        };
        let request: R =
            serde_json::from_value(Value::Object(body)).map_err(|e| at(e.to_string()))?;
        let (kind, key, document) = check(&key, request).map_err(|e| at(e.message().to_owned()))?;
        if !seen.insert(key.clone()) {
            return Err(at(format!("{key_field} {key} is named twice")));
        }
        settings.push(Setting {
            kind,
            key,
            document,
        });
    }
    Ok(())
}

/// Writes every setting (each replacing the one under its key) and counts them by kind.
pub async fn store(settings: &dyn PricingSettings, rows: &[Setting]) -> anyhow::Result<Counts> {
    let mut counts = Counts::default();
    for row in rows {
        settings
            .put_setting(row.kind, &row.key, &row.document)
            .await
            .map_err(|e| anyhow::anyhow!("storing {} {}: {e}", row.kind.as_str(), row.key))?;
        match row.kind {
            PricingKind::TaxRates => counts.tax_rates += 1,
            PricingKind::ShippingRate => counts.shipping_rates += 1,
            PricingKind::Promotion => counts.promotions += 1,
        }
    }
    Ok(counts)
}

/// The demo pricing shipped with the demo catalog: five regions and two codes.
pub const DEMO_PRICING: &str = include_str!("demo_pricing.json");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_pricing_is_valid() {
        let settings = parse(DEMO_PRICING).expect("demo pricing parses");
        let count = |kind| settings.iter().filter(|s| s.kind == kind).count();
        assert_eq!(count(PricingKind::TaxRates), 5);
        assert_eq!(count(PricingKind::ShippingRate), 5);
        assert_eq!(count(PricingKind::Promotion), 2);
    }

    #[test]
    fn the_first_bad_row_is_named_by_list_and_index() {
        let cases = [
            (
                r#"{"promotions": [{"code": "A", "type": "percentage", "percent": "5"},
                                   {"code": "B", "type": "percentage", "percent": "0"}]}"#,
                "promotions[1]: percent",
            ),
            (
                r#"{"tax_rates": [{"region": "fr", "rates": {}, "prices_include_tax": true}]}"#,
                "tax_rates[0]: region",
            ),
            (
                r#"{"shipping_rates": [{"amount": 1, "currency": "USD"}]}"#,
                "shipping_rates[0]: region: a string is required",
            ),
            (
                r#"{"shipping_rates": [{"region": "FR", "amount": 1, "currency": "USD", "x": 1}]}"#,
                "shipping_rates[0]: unknown field",
            ),
            (
                r#"{"promotions": [{"code": "a", "type": "percentage", "percent": "5"},
                                   {"code": "A", "type": "percentage", "percent": "6"}]}"#,
                "promotions[1]: code A is named twice",
            ),
            (r#"{"discounts": []}"#, "not a pricing file"),
        ];
        for (text, expected) in cases {
            let error = parse(text).expect_err(text);
            assert!(error.starts_with(expected), "{error:?} for {text}");
        }
    }
}
