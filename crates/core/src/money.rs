//! Money: integer minor units with an ISO 4217 currency. Never floats.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::text_serde;

/// The largest unit price cartd accepts, in minor units (10 million in a two-decimal currency).
///
/// With the configurable ceilings on line quantity and line count this keeps every cart total far
/// inside `i64`, so totals are computed without overflow checks on the hot path.
pub const MAX_UNIT_PRICE: i64 = 1_000_000_000;

/// Active ISO 4217 alphabetic codes (2024 list; funds and precious-metal codes left out).
const ISO_4217: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB \
BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR \
FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES \
KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR \
MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR \
SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH \
UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG";

/// Every currency code cartd accepts, in order (for documents that list them, such as the
/// OpenAPI schema of a currency).
pub fn currency_codes() -> impl Iterator<Item = &'static str> {
    ISO_4217.split(' ')
}

/// Whether `code` is in [`ISO_4217`]. The list is sorted, and every code takes four bytes in it,
/// so this is a binary search without allocating.
fn is_iso_4217(code: &str) -> bool {
    let table = ISO_4217.as_bytes();
    let count = table.len().div_ceil(4);
    let (mut low, mut high) = (0, count);
    while low < high {
        let middle = (low + high) / 2;
        let entry = &table[middle * 4..middle * 4 + 3];
        match entry.cmp(code.as_bytes()) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => low = middle + 1,
            std::cmp::Ordering::Greater => high = middle,
        }
    }
    false
}

/// Why a value is not valid money.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    /// Not an active ISO 4217 alphabetic code in upper case.
    #[error("currency must be an ISO 4217 code such as USD or EUR")]
    UnknownCurrency,
    /// Negative or above [`MAX_UNIT_PRICE`].
    #[error("unit_price must be an integer from 0 to {MAX_UNIT_PRICE} minor units")]
    PriceOutOfRange,
}

/// An ISO 4217 currency code such as `USD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Parses an active ISO 4217 alphabetic code, upper case.
    pub fn parse(raw: &str) -> Result<Self, MoneyError> {
        let bytes = raw.as_bytes();
        if bytes.len() == 3 && bytes.iter().all(u8::is_ascii_uppercase) && is_iso_4217(raw) {
            Ok(Self([bytes[0], bytes[1], bytes[2]]))
        } else {
            Err(MoneyError::UnknownCurrency)
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

text_serde!(Currency);

/// A unit price: 0..=[`MAX_UNIT_PRICE`] minor units of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Price {
    amount: i64,
    currency: Currency,
}

impl Price {
    /// Checks the amount's range.
    pub fn new(amount: i64, currency: Currency) -> Result<Self, MoneyError> {
        if (0..=MAX_UNIT_PRICE).contains(&amount) {
            Ok(Self { amount, currency })
        } else {
            Err(MoneyError::PriceOutOfRange)
        }
    }

    /// Minor units (cents for USD).
    pub fn amount(&self) -> i64 {
        self.amount
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_iso_4217_codes() {
        assert_eq!(
            Currency::parse("USD").map(|c| c.to_string()),
            Ok("USD".into())
        );
        assert!(Currency::parse("EUR").is_ok());
        for bad in ["usd", "US", "USDD", "ABC", "", "€", "U D"] {
            assert_eq!(
                Currency::parse(bad),
                Err(MoneyError::UnknownCurrency),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_listed_code_is_found_and_nothing_between_them() {
        for code in ISO_4217.split(' ') {
            assert!(Currency::parse(code).is_ok(), "{code}");
        }
        for absent in ["AAA", "ZZZ", "USE", "EUQ"] {
            assert!(Currency::parse(absent).is_err(), "{absent}");
        }
    }

    #[test]
    fn prices_are_bounded_integers() {
        let usd = Currency::parse("USD").expect("USD");
        assert!(Price::new(0, usd).is_ok());
        assert!(Price::new(MAX_UNIT_PRICE, usd).is_ok());
        assert_eq!(Price::new(-1, usd), Err(MoneyError::PriceOutOfRange));
        assert_eq!(
            Price::new(MAX_UNIT_PRICE + 1, usd),
            Err(MoneyError::PriceOutOfRange)
        );
    }
}
