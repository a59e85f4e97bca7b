//! Discount codes as carts hold them and admins define them. What a code does lives with
//! pricing (`cart-pricing`); the cart only keeps which codes the shopper entered, in order.

use std::fmt;

use thiserror::Error;

use crate::text_serde;

/// A text that is not a discount code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("a discount code is 1-32 letters, digits, '_' or '-', starting with a letter or digit")]
pub struct PromotionCodeError;

/// A discount code as carts and admins name it: 1–32 of `A-Z`, `0-9`, `_` and `-`, starting
/// with a letter or digit. Codes are case-insensitive: `save10` is stored and shown as `SAVE10`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromotionCode(Box<str>);

impl PromotionCode {
    /// Parses a code in any case and keeps it upper case.
    pub fn parse(raw: &str) -> Result<Self, PromotionCodeError> {
        let upper = raw.to_ascii_uppercase();
        let bytes = upper.as_bytes();
        let well_formed = (1..=32).contains(&bytes.len())
            && bytes[0].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if well_formed {
            Ok(Self(upper.into()))
        } else {
            Err(PromotionCodeError)
        }
    }

    /// The code, upper case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PromotionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_serde!(PromotionCode);

#[cfg(test)]
mod tests {
    use super::*;

    fn code(raw: &str) -> PromotionCode {
        PromotionCode::parse(raw).expect("code")
    }

    #[test]
    fn codes_are_case_insensitive_and_stored_upper_case() {
        assert_eq!(code("save10").as_str(), "SAVE10");
        assert_eq!(code("Spring-Sale_2026"), code("SPRING-SALE_2026"));
        for bad in ["", "-x", "a b", "é", "x!", &"A".repeat(33)] {
            assert!(PromotionCode::parse(bad).is_err(), "{bad:?}");
        }
    }
}
