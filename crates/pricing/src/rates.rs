//! Percentages (tax rates, percentage discounts) and a region's tax table. Tax classes are a
//! catalog attribute ([`cart_core::TaxClass`]).

use std::collections::BTreeMap;
use std::fmt;

use cart_core::TaxClass;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Why a percentage was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RateError {
    /// Not a decimal string of 1–3 digits with up to 4 decimals, from 0 to 100.
    #[error(
        "a percentage is a decimal string from \"0\" to \"100\" with at most 4 decimals, such as \"5.5\""
    )]
    Percent,
}

/// A percentage from 0 to 100 with at most four decimals, exact: tax rates and percentage
/// discounts. It arrives as a decimal *string* (`"5.5"`) so no float ever rounds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(Decimal);

impl Percent {
    /// Zero percent.
    pub const ZERO: Percent = Percent(Decimal::ZERO);

    /// Parses `"20"`, `"5.5"`, `"7.25"`, `"0"`, `"100"`. Signs, exponents, spaces, more than
    /// four decimals and values above 100 are refused.
    pub fn parse(raw: &str) -> Result<Self, RateError> {
        let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
        let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        let well_formed = (1..=3).contains(&whole.len())
            && digits(whole)
            && fraction.len() <= 4
            && digits(fraction)
            && !(raw.contains('.') && fraction.is_empty());
        if !well_formed {
            return Err(RateError::Percent);
        }
        let value: Decimal = raw.parse().map_err(|_| RateError::Percent)?;
        if value > Decimal::ONE_HUNDRED {
            return Err(RateError::Percent);
        }
        Ok(Self(value.normalize()))
    }

    /// The percentage as a decimal (`20` for 20 %).
    pub fn value(&self) -> Decimal {
        self.0
    }

    /// Whether this is 0 %.
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Percent::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A region's tax rates by class, and whether its catalog prices already include tax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxTable {
    /// The rate of each class; a class the table does not name is taxed at 0 % with a
    /// `TAX_RATE_MISSING` warning.
    pub rates: BTreeMap<TaxClass, Percent>,
    /// `true` where shelf prices are gross (the EU's consumer prices): tax is extracted from
    /// them. `false` where tax is added on top (US sales tax).
    pub prices_include_tax: bool,
}

impl TaxTable {
    /// The rate for `class`, if the table names it.
    pub fn rate(&self, class: &TaxClass) -> Option<Percent> {
        self.rates.get(class).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_exact_decimal_strings() {
        for (raw, shown) in [
            ("20", "20"),
            ("5.5", "5.5"),
            ("7.250", "7.25"),
            ("0", "0"),
            ("100", "100"),
            ("8.875", "8.875"),
            ("0.0001", "0.0001"),
            ("007", "7"),
        ] {
            assert_eq!(
                Percent::parse(raw).map(|p| p.to_string()),
                Ok(shown.into()),
                "{raw}"
            );
        }
    }

    #[test]
    fn percentages_out_of_form_or_range_are_refused() {
        for bad in [
            "", "-5", "+5", "5.", ".5", "1e2", "100.0001", "101", "1000", "5.12345", " 5", "5 ",
            "NaN", "inf", "5,5", "٥",
        ] {
            assert_eq!(Percent::parse(bad), Err(RateError::Percent), "{bad:?}");
        }
    }

    #[test]
    fn a_rate_table_reads_from_json_with_string_rates_only() {
        let table: TaxTable = serde_json::from_str(
            r#"{"rates": {"standard": "20", "reduced": "5.5"}, "prices_include_tax": true}"#,
        )
        .expect("valid table");
        assert_eq!(
            table.rate(&TaxClass::standard()).map(|p| p.to_string()),
            Some("20".into())
        );
        assert!(table.prices_include_tax);
        let float = serde_json::from_str::<TaxTable>(
            r#"{"rates": {"standard": 20.0}, "prices_include_tax": false}"#,
        );
        assert!(float.is_err(), "a float rate must be refused");
    }
}
