//! Regions: where a cart ships to, which picks its tax rates and shipping rate.

use std::fmt;

use thiserror::Error;

use crate::text_serde;

/// ISO 3166-1 alpha-2 codes in use (2024; user-assigned codes such as `XK` left out), sorted.
const ISO_3166_1: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI \
BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE \
DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS \
GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW \
KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW \
MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO \
RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM \
TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Every country code a region may start with, in order (for documents that list them, such as
/// the OpenAPI pattern of a region).
pub fn country_codes() -> impl Iterator<Item = &'static str> {
    ISO_3166_1.split(' ')
}

/// Whether `code` is in [`ISO_3166_1`]. Every entry takes three bytes of the sorted list, so
/// this is a binary search without allocating.
fn is_iso_3166_1(code: &[u8]) -> bool {
    let table = ISO_3166_1.as_bytes();
    let (mut low, mut high) = (0, table.len().div_ceil(3));
    while low < high {
        let middle = (low + high) / 2;
        match table[middle * 3..middle * 3 + 2].cmp(code) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => low = middle + 1,
            std::cmp::Ordering::Greater => high = middle,
        }
    }
    false
}

/// Why a region code was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegionError {
    /// Not `CC` or `CC-SUB`: an upper-case ISO 3166-1 alpha-2 country, optionally a hyphen and
    /// a 1–3 character upper-case alphanumeric ISO 3166-2 subdivision.
    #[error("region must be an ISO 3166-1 alpha-2 code, optionally with a subdivision: FR, US-CA")]
    Malformed,
    /// Well formed, but no country has that code.
    #[error("region {0} is not an ISO 3166-1 country code")]
    UnknownCountry(String),
}

/// A region: an ISO 3166-1 alpha-2 country (`FR`), optionally with an ISO 3166-2 subdivision
/// (`US-CA`). Subdivisions are checked for form only: the list changes every year, and a rate
/// table for a subdivision that does not exist is harmless (no cart will name it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Region(Box<str>);

impl Region {
    /// Parses `CC` or `CC-SUB`, upper case.
    pub fn parse(raw: &str) -> Result<Self, RegionError> {
        let bytes = raw.as_bytes();
        let (country, subdivision) = match raw.split_once('-') {
            Some((country, subdivision)) => (country.as_bytes(), Some(subdivision.as_bytes())),
            None => (bytes, None),
        };
        let well_formed = country.len() == 2
            && country.iter().all(u8::is_ascii_uppercase)
            && subdivision.is_none_or(|sub| {
                (1..=3).contains(&sub.len())
                    && sub
                        .iter()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            });
        if !well_formed {
            return Err(RegionError::Malformed);
        }
        if !is_iso_3166_1(country) {
            return Err(RegionError::UnknownCountry(raw[..2].to_owned()));
        }
        Ok(Self(raw.into()))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_serde!(Region);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_and_subdivisions_parse() {
        for good in [
            "FR", "DE", "GB", "US-CA", "US-NY", "ES-CT", "GB-ENG", "FR-75", "ZW", "AD",
        ] {
            assert_eq!(Region::parse(good).map(|r| r.to_string()), Ok(good.into()));
        }
    }

    #[test]
    fn malformed_codes_are_refused() {
        for bad in [
            "", "F", "FRA", "fr", "Fr", "US-", "US-ca", "US-ABCD", "US CA", "US-C-A", "-CA", "É",
            "US--CA", "12",
        ] {
            assert_eq!(Region::parse(bad), Err(RegionError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn codes_no_country_has_are_refused() {
        for unknown in ["XK", "AA", "ZZ", "UK", "EU", "QQ-1"] {
            assert!(
                matches!(Region::parse(unknown), Err(RegionError::UnknownCountry(_))),
                "{unknown}"
            );
        }
    }

    #[test]
    fn the_table_is_sorted_and_complete() {
        let codes: Vec<&str> = ISO_3166_1.split(' ').collect();
        assert_eq!(codes.len(), 249);
        assert!(codes.windows(2).all(|pair| pair[0] < pair[1]));
        for code in codes {
            assert!(Region::parse(code).is_ok(), "{code}");
        }
    }
}
