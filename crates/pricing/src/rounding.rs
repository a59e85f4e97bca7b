//! Rounding an exact amount to whole minor units, and splitting an amount over lines.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use thiserror::Error;

/// How an exact amount becomes whole minor units (`CARTD_ROUNDING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Banker's rounding: a half goes to the even neighbour (2.5 → 2, 3.5 → 4), so halves do
    /// not drift upward over many lines. The default.
    #[default]
    HalfEven,
    /// Commercial rounding: a half goes away from zero (2.5 → 3), as some tax authorities ask.
    HalfUp,
}

/// A `CARTD_ROUNDING` value that is neither `half_even` nor `half_up`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("rounding must be half_even or half_up")]
pub struct UnknownRounding;

impl FromStr for Rounding {
    type Err = UnknownRounding;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "half_even" => Ok(Self::HalfEven),
            "half_up" => Ok(Self::HalfUp),
            _ => Err(UnknownRounding),
        }
    }
}

impl fmt::Display for Rounding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::HalfEven => "half_even",
            Self::HalfUp => "half_up",
        })
    }
}

impl Rounding {
    /// Rounds an exact amount of minor units to a whole one.
    ///
    /// Amounts here are bounded by the cart's ceilings (a price, a quantity and a line count
    /// each capped), far inside both `Decimal` and `i64`, so the conversion cannot fail; a value
    /// out of range would be a broken invariant, and saturates rather than panicking.
    pub fn round(self, exact: Decimal) -> i64 {
        let strategy = match self {
            Self::HalfEven => RoundingStrategy::MidpointNearestEven,
            Self::HalfUp => RoundingStrategy::MidpointAwayFromZero,
        };
        let whole = exact.round_dp_with_strategy(0, strategy);
        i64::try_from(whole).unwrap_or(if whole.is_sign_negative() {
            i64::MIN
        } else {
            i64::MAX
        })
    }
}

/// Splits `amount` over `weights` in proportion, in whole minor units, by the largest-remainder
/// method: each share is first rounded down, then the units left over go one each to the shares
/// whose fractions were largest (the earlier line on a tie). The shares always sum to `amount`
/// exactly, and no share exceeds its weight when `amount` does not exceed the weights' sum.
///
/// `amount` and the weights are non-negative; all weights zero gives all shares zero (and then
/// `amount` must be zero too, which the callers guarantee by capping discounts at the base).
pub fn allocate(amount: i64, weights: &[i64]) -> Vec<i64> {
    let total: i128 = weights.iter().map(|&w| i128::from(w.max(0))).sum();
    if total == 0 || amount <= 0 {
        return vec![0; weights.len()];
    }
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut given: i128 = 0;
    for (index, &weight) in weights.iter().enumerate() {
        let exact = i128::from(amount) * i128::from(weight.max(0));
        let share = exact / total;
        given += share;
        shares.push(share);
        remainders.push((exact % total, index));
    }
    let left_over = usize::try_from(i128::from(amount) - given).unwrap_or(0);
    // Largest remainder first; equal remainders keep line order.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, index) in remainders.iter().take(left_over) {
        shares[index] += 1;
    }
    shares
        .into_iter()
        .map(|share| i64::try_from(share).unwrap_or(i64::MAX))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(raw: &str) -> Decimal {
        raw.parse().expect("decimal")
    }

    #[test]
    fn half_even_and_half_up_differ_only_at_exact_halves() {
        let cases = [
            // exact, half_even, half_up
            ("2.5", 2, 3),
            ("3.5", 4, 4),
            ("0.5", 0, 1),
            ("2.4999", 2, 2),
            ("2.5001", 3, 3),
            ("-2.5", -2, -3),
            ("7", 7, 7),
        ];
        for (raw, even, up) in cases {
            assert_eq!(
                Rounding::HalfEven.round(exact(raw)),
                even,
                "{raw} half_even"
            );
            assert_eq!(Rounding::HalfUp.round(exact(raw)), up, "{raw} half_up");
        }
    }

    #[test]
    fn rounding_names_parse_and_print() {
        assert_eq!("half_even".parse(), Ok(Rounding::HalfEven));
        assert_eq!("half_up".parse(), Ok(Rounding::HalfUp));
        assert_eq!("HALF_UP".parse::<Rounding>(), Err(UnknownRounding));
        assert_eq!(Rounding::HalfUp.to_string(), "half_up");
    }

    #[test]
    fn a_third_split_three_ways_loses_no_cent() {
        assert_eq!(allocate(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(allocate(1000, &[333, 333, 334]), vec![333, 333, 334]);
        assert_eq!(allocate(10, &[1000, 2000, 3000]), vec![2, 3, 5]);
    }

    #[test]
    fn the_largest_fraction_gets_the_spare_unit() {
        // 7 × 10/30 = 2.33, 7 × 15/30 = 3.5, 7 × 5/30 = 1.17: floors 2, 3, 1 leave one unit,
        // which goes to the 3.5.
        assert_eq!(allocate(7, &[10, 15, 5]), vec![2, 4, 1]);
    }

    #[test]
    fn nothing_to_split_or_nothing_to_split_over_gives_zeros() {
        assert_eq!(allocate(0, &[5, 5]), vec![0, 0]);
        assert_eq!(allocate(5, &[0, 0]), vec![0, 0]);
        assert_eq!(allocate(5, &[]), Vec::<i64>::new());
        assert_eq!(allocate(5, &[0, 10]), vec![0, 5]);
    }
}
