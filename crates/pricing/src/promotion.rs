//! Discount codes: what an admin defines, and why a code on a cart does or does not apply.

use std::collections::BTreeSet;

use cart_core::{Currency, MoneyError, Price, ProductId, PromotionCode};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;

use crate::rates::Percent;

/// Why a code or a promotion definition was refused; `field` names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct PromotionError {
    /// The field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn bad(field: &'static str, reason: impl ToString) -> PromotionError {
    PromotionError {
        field,
        reason: reason.to_string(),
    }
}

/// What a promotion takes off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Benefit {
    /// A percentage of the eligible lines' amount (after earlier codes), rounded once.
    Percentage(Percent),
    /// A fixed amount off the eligible lines, never more than they come to; only for carts in
    /// the price's currency.
    Fixed(Price),
}

/// A promotion: a code's benefit and the conditions under which it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    /// The code shoppers enter.
    pub code: PromotionCode,
    /// What it takes off.
    pub benefit: Benefit,
    /// The cart's subtotal (list prices, before any discount) must reach this, in the cart's
    /// minor units.
    pub min_subtotal: Option<i64>,
    /// Only these products are discounted; empty means every line.
    pub product_ids: BTreeSet<ProductId>,
    /// Not before this instant.
    pub starts_at: Option<OffsetDateTime>,
    /// Not from this instant on.
    pub ends_at: Option<OffsetDateTime>,
    /// At most this many orders may use the code (counted at checkout).
    pub usage_limit: Option<u64>,
    /// Whether it combines with other stackable codes on one cart.
    pub stackable: bool,
}

/// A promotion as it arrives from `PUT /v1/promotions/{code}` or an import file, not yet
/// checked; also the shape the store keeps and the API shows ([`Promotion::to_input`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PromotionInput {
    /// `percentage` or `fixed`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For `percentage`: a decimal string, more than 0 and at most 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<String>,
    /// For `fixed`: minor units, 1 to the largest unit price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    /// For `fixed`: the ISO 4217 currency of `amount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Minor units the cart's subtotal must reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_subtotal: Option<i64>,
    /// Products the code is limited to.
    #[serde(default)]
    pub product_ids: Vec<String>,
    /// RFC 3339.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub starts_at: Option<OffsetDateTime>,
    /// RFC 3339, after `starts_at`.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub ends_at: Option<OffsetDateTime>,
    /// At least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_limit: Option<i64>,
    /// Defaults to false.
    #[serde(default)]
    pub stackable: bool,
}

/// The most products one promotion may be scoped to.
pub const MAX_SCOPED_PRODUCTS: usize = 1000;

impl PromotionInput {
    /// Checks every field and builds the promotion for `code`.
    pub fn parse(self, code: PromotionCode) -> Result<Promotion, PromotionError> {
        let benefit = match self.kind.as_str() {
            "percentage" => {
                if self.amount.is_some() || self.currency.is_some() {
                    return Err(bad("type", "a percentage code has no amount or currency"));
                }
                let raw = self.percent.ok_or_else(|| bad("percent", "is required"))?;
                let percent = Percent::parse(&raw).map_err(|e| bad("percent", e))?;
                if percent.is_zero() {
                    return Err(bad("percent", "must be more than 0"));
                }
                Benefit::Percentage(percent)
            }
            "fixed" => {
                if self.percent.is_some() {
                    return Err(bad("type", "a fixed code has no percent"));
                }
                let amount = self.amount.ok_or_else(|| bad("amount", "is required"))?;
                let raw = self
                    .currency
                    .ok_or_else(|| bad("currency", "is required"))?;
                let currency = Currency::parse(&raw).map_err(|e| bad("currency", e))?;
                let price = Price::new(amount, currency).map_err(|e| match e {
                    MoneyError::PriceOutOfRange => bad(
                        "amount",
                        format!(
                            "must be an integer from 1 to {} minor units",
                            cart_core::money::MAX_UNIT_PRICE
                        ),
                    ),
                    other => bad("currency", other),
                })?;
                if amount == 0 {
                    return Err(bad("amount", "must be more than 0"));
                }
                Benefit::Fixed(price)
            }
            _ => return Err(bad("type", "must be percentage or fixed")),
        };
        if let Some(min) = self.min_subtotal
            && !(0..=i64::MAX / 2).contains(&min)
        {
            return Err(bad("min_subtotal", "must be a non-negative integer"));
        }
        if self.product_ids.len() > MAX_SCOPED_PRODUCTS {
            return Err(bad(
                "product_ids",
                format!("at most {MAX_SCOPED_PRODUCTS} products"),
            ));
        }
        let product_ids = self
            .product_ids
            .iter()
            .map(|raw| ProductId::parse(raw).map_err(|e| bad("product_ids", e)))
            .collect::<Result<BTreeSet<_>, _>>()?;
        if let (Some(start), Some(end)) = (self.starts_at, self.ends_at)
            && end <= start
        {
            return Err(bad("ends_at", "must be after starts_at"));
        }
        let usage_limit = match self.usage_limit {
            None => None,
            Some(limit) if limit >= 1 => Some(limit.unsigned_abs()),
            Some(_) => return Err(bad("usage_limit", "must be at least 1")),
        };
        Ok(Promotion {
            code,
            benefit,
            min_subtotal: self.min_subtotal,
            product_ids,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            usage_limit,
            stackable: self.stackable,
        })
    }
}

impl Promotion {
    /// The promotion in the shape it arrives in: what the store keeps and the API shows.
    pub fn to_input(&self) -> PromotionInput {
        let (kind, percent, amount, currency) = match &self.benefit {
            Benefit::Percentage(percent) => ("percentage", Some(percent.to_string()), None, None),
            Benefit::Fixed(price) => (
                "fixed",
                None,
                Some(price.amount()),
                Some(price.currency().to_string()),
            ),
        };
        PromotionInput {
            kind: kind.to_owned(),
            percent,
            amount,
            currency,
            min_subtotal: self.min_subtotal,
            product_ids: self
                .product_ids
                .iter()
                .map(|id| id.as_str().to_owned())
                .collect(),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            usage_limit: self
                .usage_limit
                .map(|limit| i64::try_from(limit).unwrap_or(i64::MAX)),
            stackable: self.stackable,
        }
    }
}

/// Why a code on a cart does not apply now. The code stays on the cart: the reason may pass
/// (the subtotal grows, the start date comes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotApplied {
    /// The cart's subtotal is below `min_subtotal`.
    MinSubtotalNotMet,
    /// Before `starts_at`.
    NotStarted,
    /// At or after `ends_at`.
    Expired,
    /// No line is one of the code's products.
    NoEligibleItems,
    /// A fixed code in another currency than the cart's.
    CurrencyMismatch,
    /// Another code already applies and this one, or that one, is not stackable.
    NotStackable,
    /// The code has been used `usage_limit` times.
    UsageLimitReached,
    /// The promotion was deleted after the code was put on the cart.
    PromotionNotFound,
}

impl Promotion {
    /// Why the promotion cannot apply to a cart in `currency` with list `subtotal`, at `now`,
    /// after `times_used` orders — before looking at which lines it covers or what else is on
    /// the cart.
    pub fn blocked(
        &self,
        currency: Currency,
        subtotal: i64,
        now: OffsetDateTime,
        times_used: u64,
    ) -> Option<NotApplied> {
        if self.starts_at.is_some_and(|start| now < start) {
            return Some(NotApplied::NotStarted);
        }
        if self.ends_at.is_some_and(|end| now >= end) {
            return Some(NotApplied::Expired);
        }
        if self.usage_limit.is_some_and(|limit| times_used >= limit) {
            return Some(NotApplied::UsageLimitReached);
        }
        if let Benefit::Fixed(price) = &self.benefit
            && price.currency() != currency
        {
            return Some(NotApplied::CurrencyMismatch);
        }
        if self.min_subtotal.is_some_and(|min| subtotal < min) {
            return Some(NotApplied::MinSubtotalNotMet);
        }
        None
    }

    /// Whether a line of `product` is discounted by this code.
    pub fn covers(&self, product: &ProductId) -> bool {
        self.product_ids.is_empty() || self.product_ids.contains(product)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: &str) -> PromotionInput {
        serde_json::from_str(json).expect("well-formed input")
    }

    fn code(raw: &str) -> PromotionCode {
        PromotionCode::parse(raw).expect("code")
    }

    #[test]
    fn good_definitions_parse() {
        let percentage = input(r#"{"type": "percentage", "percent": "10", "min_subtotal": 2000}"#)
            .parse(code("SAVE10"))
            .expect("valid");
        assert_eq!(
            percentage.benefit,
            Benefit::Percentage(Percent::parse("10").expect("10"))
        );
        let fixed = input(
            r#"{"type": "fixed", "amount": 500, "currency": "EUR", "product_ids": ["book-1"],
                "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z",
                "usage_limit": 100, "stackable": true}"#,
        )
        .parse(code("FIVE"))
        .expect("valid");
        assert!(fixed.stackable);
        assert_eq!(fixed.usage_limit, Some(100));
        assert_eq!(fixed.product_ids.len(), 1);
        for promotion in [percentage, fixed] {
            let stored = serde_json::to_string(&promotion.to_input()).expect("json");
            let read: PromotionInput = serde_json::from_str(&stored).expect("reads");
            assert_eq!(
                read.parse(promotion.code.clone()),
                Ok(promotion),
                "{stored}"
            );
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (r#"{"type": "bogo"}"#, "type"),
            (r#"{"type": "percentage"}"#, "percent"),
            (r#"{"type": "percentage", "percent": "0"}"#, "percent"),
            (r#"{"type": "percentage", "percent": "101"}"#, "percent"),
            (
                r#"{"type": "percentage", "percent": "5", "amount": 3}"#,
                "type",
            ),
            (r#"{"type": "fixed", "currency": "EUR"}"#, "amount"),
            (
                r#"{"type": "fixed", "amount": 0, "currency": "EUR"}"#,
                "amount",
            ),
            (
                r#"{"type": "fixed", "amount": -1, "currency": "EUR"}"#,
                "amount",
            ),
            (r#"{"type": "fixed", "amount": 5}"#, "currency"),
            (
                r#"{"type": "fixed", "amount": 5, "currency": "eur"}"#,
                "currency",
            ),
            (
                r#"{"type": "percentage", "percent": "5", "min_subtotal": -1}"#,
                "min_subtotal",
            ),
            (
                r#"{"type": "percentage", "percent": "5", "product_ids": ["a b"]}"#,
                "product_ids",
            ),
            (
                r#"{"type": "percentage", "percent": "5", "starts_at": "2026-02-01T00:00:00Z",
                    "ends_at": "2026-01-01T00:00:00Z"}"#,
                "ends_at",
            ),
            (
                r#"{"type": "percentage", "percent": "5", "usage_limit": 0}"#,
                "usage_limit",
            ),
        ];
        for (json, field) in cases {
            assert_eq!(
                input(json).parse(code("X")).map_err(|e| e.field),
                Err(field),
                "{json}"
            );
        }
    }

    #[test]
    fn unknown_fields_and_float_percentages_do_not_read() {
        assert!(serde_json::from_str::<PromotionInput>(r#"{"type": "fixed", "x": 1}"#).is_err());
        assert!(
            serde_json::from_str::<PromotionInput>(r#"{"type": "percentage", "percent": 10.5}"#)
                .is_err()
        );
    }
}
