//! Integers in request bodies, as JSON Schema counts them.
//!
//! JSON has one number type, and JSON Schema's `integer` is any number whose fraction is zero:
//! `2.0` and `2e1` are integers to every validator and to generated clients (a JavaScript caller
//! cannot even tell `2` from `2.0`). serde reads such a number as a float and would refuse it for
//! an `i64` field, so the document would promise what the server refuses. These readers take an
//! integral float when it is exact (within ±2^53, where every integer has its own `f64`);
//! a fraction, or a float too large to be exact, is still refused.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{Error, Unexpected, Visitor};

/// The largest magnitude below which every integer is exactly one `f64`.
const EXACT_IN_F64: f64 = 9_007_199_254_740_992.0;

/// `value` as an integer, if it is one exactly.
pub fn integral(value: f64) -> Option<i64> {
    // The range check keeps the cast exact; the fraction check keeps it honest.
    (value.is_finite() && value.fract() == 0.0 && value.abs() <= EXACT_IN_F64)
        .then_some(value as i64)
}

/// Reads an integer of type `T`, from an integer or an integral float.
struct Integer<T>(PhantomData<T>);

impl<T: TryFrom<i64> + TryFrom<u64>> Visitor<'_> for Integer<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: Error>(self, value: i64) -> Result<T, E> {
        T::try_from(value).map_err(|_| E::invalid_value(Unexpected::Signed(value), &self))
    }

    fn visit_u64<E: Error>(self, value: u64) -> Result<T, E> {
        T::try_from(value).map_err(|_| E::invalid_value(Unexpected::Unsigned(value), &self))
    }

    fn visit_f64<E: Error>(self, value: f64) -> Result<T, E> {
        match integral(value) {
            Some(whole) => self.visit_i64(whole),
            None => Err(E::invalid_type(Unexpected::Float(value), &self)),
        }
    }
}

/// Reads `null` as `None` and anything else as an [`Integer`].
struct OptionalInteger<T>(PhantomData<T>);

impl<'de, T: TryFrom<i64> + TryFrom<u64>> Visitor<'de> for OptionalInteger<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer or null")
    }

    fn visit_none<E: Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        integer(deserializer).map(Some)
    }
}

/// `#[serde(deserialize_with = "crate::integers::integer")]` for an integer field.
pub fn integer<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    deserializer.deserialize_any(Integer(PhantomData))
}

/// `#[serde(default, deserialize_with = "crate::integers::optional")]` for an optional one.
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    deserializer.deserialize_option(OptionalInteger(PhantomData))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Body {
        #[serde(deserialize_with = "integer")]
        price: i64,
        #[serde(default, deserialize_with = "optional")]
        version: Option<u64>,
    }

    fn read(json: &str) -> Result<Body, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn integral_numbers_are_integers_in_any_spelling() {
        for json in [
            r#"{"price": 20}"#,
            r#"{"price": 20.0}"#,
            r#"{"price": 2e1}"#,
            r#"{"price": 2.0E1, "version": null}"#,
        ] {
            assert_eq!(
                read(json),
                Ok(Body {
                    price: 20,
                    version: None
                }),
                "{json}"
            );
        }
        assert_eq!(
            read(r#"{"price": -3.0, "version": 7.0}"#),
            Ok(Body {
                price: -3,
                version: Some(7)
            })
        );
        assert_eq!(
            read(r#"{"price": 9007199254740992.0}"#).map(|b| b.price),
            Ok(1 << 53)
        );
    }

    #[test]
    fn fractions_inexact_floats_and_other_types_are_refused() {
        for json in [
            r#"{"price": 20.5}"#,
            r#"{"price": 1e300}"#,
            r#"{"price": 9007199254740994.0}"#,
            r#"{"price": "20"}"#,
            r#"{"price": true}"#,
            r#"{"price": null}"#,
            r#"{"price": 1, "version": -1}"#,
            r#"{"price": 1, "version": -1.0}"#,
            r#"{"price": 1, "version": 0.5}"#,
            r#"{"price": 18446744073709551616}"#,
        ] {
            assert!(read(json).is_err(), "{json} was read");
        }
    }
}
