//! Money, and how 64-bit numbers cross GraphQL's 32-bit `Int`.
//!
//! The contract's `Money.amount` is an `Int`, and GraphQL's `Int` is 32-bit. Every unit price
//! fits (at most 1,000,000,000 minor units), and so do quantities, line counts and versions in
//! any real cart; a line subtotal or cart total can exceed it (99 × a 10-million price). Such a
//! value is never sent wrapped or rounded: the field is an error (`VALUE_OUT_OF_RANGE`), and
//! `Money.amount64` (the custom scalar [`Int64`], a decimal string) carries every amount exactly.

use std::fmt::Display;

use async_graphql::{InputValueError, InputValueResult, Object, Result, Scalar, ScalarType, Value};

use crate::graphql::error::{GraphqlCode, coded};

/// An amount in minor units of one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    amount: i64,
    currency: String,
}

impl Money {
    /// `amount` minor units of `currency`.
    pub fn new(amount: i64, currency: &str) -> Self {
        Self {
            amount,
            currency: currency.to_owned(),
        }
    }
}

/// An amount of money in minor units (cents, pence …) of an ISO 4217 currency, as REST's
/// integer money fields.
#[Object]
impl Money {
    /// Minor units as a 32-bit Int: every unit price fits; an amount beyond ±2,147,483,647 is a
    /// `VALUE_OUT_OF_RANGE` error (read `amount64`).
    async fn amount(&self) -> Result<i32> {
        int32(self.amount, "amount")
    }

    /// Minor units, exact at any size.
    async fn amount64(&self) -> Int64 {
        Int64(self.amount)
    }

    /// ISO 4217 code, e.g. `USD`.
    async fn currency(&self) -> &str {
        &self.currency
    }
}

/// A signed 64-bit integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int64(pub i64);

/// A signed 64-bit integer, sent as a decimal string (`"99000000000"`) so that JavaScript
/// clients keep every digit. Accepted as a string or a JSON integer.
#[Scalar(name = "Int64")]
impl ScalarType for Int64 {
    fn parse(value: Value) -> InputValueResult<Self> {
        let parsed = match &value {
            Value::String(text) => text.parse().ok(),
            Value::Number(number) => number.as_i64(),
            _ => return Err(InputValueError::expected_type(value)),
        };
        parsed
            .map(Self)
            .ok_or_else(|| InputValueError::custom("not a signed 64-bit integer"))
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// `value` as a GraphQL `Int`, or a `VALUE_OUT_OF_RANGE` error naming `what`.
pub fn int32<T>(value: T, what: &str) -> Result<i32>
where
    T: TryInto<i32> + Copy + Display,
{
    value.try_into().map_err(|_| {
        coded(
            GraphqlCode::ValueOutOfRange,
            format!("{what} is {value}, beyond a 32-bit GraphQL Int"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int32_refuses_what_does_not_fit_instead_of_wrapping() {
        assert_eq!(int32(2_147_483_647_i64, "x").ok(), Some(i32::MAX));
        assert!(int32(2_147_483_648_i64, "x").is_err());
        assert!(int32(u64::MAX, "x").is_err());
    }

    #[test]
    fn int64_travels_as_a_decimal_string() {
        assert_eq!(
            Int64(99_000_000_000).to_value(),
            Value::String("99000000000".into())
        );
        assert_eq!(
            Int64::parse(Value::String("-5".into())).ok(),
            Some(Int64(-5))
        );
        assert!(Int64::parse(Value::String("5.5".into())).is_err());
        assert!(Int64::parse(Value::Boolean(true)).is_err());
    }
}
