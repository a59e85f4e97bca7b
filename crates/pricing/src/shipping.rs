//! A region's shipping rate: a flat amount, free from a threshold on.

use cart_core::{Currency, Price};
use serde::{Deserialize, Serialize};

use crate::promotion::PromotionError;

/// The largest `free_above`: far above any cart total, and small enough that sums with it never
/// overflow.
pub const MAX_FREE_ABOVE: i64 = i64::MAX / 2;

/// What shipping to a region costs: `amount` per cart, nothing once the cart's merchandise
/// (after discounts, before tax) reaches `free_above`. Shipping is taxed as `standard` in the
/// region, and like catalog prices it includes tax where the region's prices do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingRate {
    /// The flat charge, in its currency; carts in another currency get no shipping quote.
    pub amount: Price,
    /// Minor units from which shipping is free.
    pub free_above: Option<i64>,
}

/// A shipping rate as it arrives (`PUT /v1/shipping-rates/{region}`, an import file), and as it
/// is stored and shown ([`ShippingRate::to_input`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShippingRateInput {
    /// Minor units, 0 to the largest unit price.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// Minor units; absent means shipping is never free.
    #[serde(default)]
    pub free_above: Option<i64>,
}

impl ShippingRateInput {
    /// Checks the fields; errors name the field like promotion errors do.
    pub fn parse(self) -> Result<ShippingRate, PromotionError> {
        let bad = |field: &'static str, reason: String| PromotionError { field, reason };
        let currency =
            Currency::parse(&self.currency).map_err(|e| bad("currency", e.to_string()))?;
        let amount = Price::new(self.amount, currency).map_err(|_| {
            bad(
                "amount",
                format!(
                    "must be an integer from 0 to {} minor units",
                    cart_core::money::MAX_UNIT_PRICE
                ),
            )
        })?;
        if self
            .free_above
            .is_some_and(|free| !(0..=MAX_FREE_ABOVE).contains(&free))
        {
            return Err(bad(
                "free_above",
                format!("must be an integer from 0 to {MAX_FREE_ABOVE}"),
            ));
        }
        Ok(ShippingRate {
            amount,
            free_above: self.free_above,
        })
    }
}

impl ShippingRate {
    /// The rate in the shape it arrives in: what the store keeps and the API shows.
    pub fn to_input(&self) -> ShippingRateInput {
        ShippingRateInput {
            amount: self.amount.amount(),
            currency: self.amount.currency().to_string(),
            free_above: self.free_above,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ShippingRate, &'static str> {
        serde_json::from_str::<ShippingRateInput>(json)
            .expect("well-formed")
            .parse()
            .map_err(|e| e.field)
    }

    #[test]
    fn a_rate_parses_and_bad_fields_are_named() {
        let rate = parse(r#"{"amount": 499, "currency": "EUR", "free_above": 5000}"#).expect("ok");
        assert_eq!(rate.amount.amount(), 499);
        assert_eq!(rate.free_above, Some(5000));
        assert_eq!(
            rate.to_input().parse(),
            Ok(rate),
            "the stored shape reads back the same"
        );
        assert_eq!(parse(r#"{"amount": -1, "currency": "EUR"}"#), Err("amount"));
        assert_eq!(
            parse(r#"{"amount": 1, "currency": "XXX"}"#),
            Err("currency")
        );
        assert_eq!(
            parse(r#"{"amount": 1, "currency": "EUR", "free_above": -5}"#),
            Err("free_above")
        );
        assert_eq!(
            parse(r#"{"amount": 1, "currency": "EUR", "free_above": 4611686018427387904}"#),
            Err("free_above")
        );
    }
}
