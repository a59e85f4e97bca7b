//! A product's tax class: which of a region's tax rates applies to it.

use std::fmt;

use thiserror::Error;

use crate::text_serde;

/// A name that is not a tax class.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("a tax class is 1-32 lower-case letters, digits, '_' or '-', starting with a letter")]
pub struct TaxClassError;

/// A product's tax class. `standard` unless the catalog says otherwise; `reduced` and `zero` are
/// conventional, and any other name a region's rate table uses works the same way. It lives with
/// the catalog (a product attribute); the rates live with pricing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaxClass(Box<str>);

impl TaxClass {
    /// The class of products the catalog says nothing about, and of shipping.
    pub fn standard() -> Self {
        Self("standard".into())
    }

    /// Parses a class name.
    pub fn parse(raw: &str) -> Result<Self, TaxClassError> {
        let bytes = raw.as_bytes();
        let well_formed = (1..=32).contains(&bytes.len())
            && bytes[0].is_ascii_lowercase()
            && bytes
                .iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if well_formed {
            Ok(Self(raw.into()))
        } else {
            Err(TaxClassError)
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `standard`, the default (stores may leave it out).
    pub fn is_standard(&self) -> bool {
        &*self.0 == "standard"
    }
}

impl Default for TaxClass {
    fn default() -> Self {
        Self::standard()
    }
}

impl fmt::Display for TaxClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_serde!(TaxClass);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_classes_are_lower_case_names() {
        for good in ["standard", "reduced", "zero", "super-reduced", "books_2024"] {
            assert_eq!(
                TaxClass::parse(good).map(|c| c.to_string()),
                Ok(good.into())
            );
        }
        for bad in ["", "Standard", "1st", "-x", "a b", "é", &"x".repeat(33)] {
            assert_eq!(TaxClass::parse(bad), Err(TaxClassError), "{bad:?}");
        }
        assert!(TaxClass::default().is_standard());
        assert!(!TaxClass::parse("reduced").expect("reduced").is_standard());
    }
}
