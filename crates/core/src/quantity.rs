//! Quantities: what a client asks for, and what a cart line may hold under the configured limits.

use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A quantity a client asked for: a positive integer, not yet checked against any limit.
///
/// Zero, negatives, fractions and strings never become one of these; they are refused at the
/// edge with `INVALID_QUANTITY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestedQuantity(NonZeroU64);

impl RequestedQuantity {
    /// A positive integer, or `None` for zero.
    pub fn new(raw: u64) -> Option<Self> {
        NonZeroU64::new(raw).map(Self)
    }

    /// The number asked for.
    pub fn get(self) -> u64 {
        self.0.get()
    }
}

/// The quantity on one cart line: at least 1 and at most the configured line maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Quantity(u32);

/// A stored quantity of zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("a line quantity is at least 1")]
pub struct ZeroQuantity;

impl Quantity {
    /// The number of units on the line.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Quantity {
    type Error = ZeroQuantity;
    fn try_from(raw: u32) -> Result<Self, ZeroQuantity> {
        if raw == 0 {
            Err(ZeroQuantity)
        } else {
            Ok(Self(raw))
        }
    }
}

impl From<Quantity> for u32 {
    fn from(quantity: Quantity) -> u32 {
        quantity.0
    }
}

/// Limits on a cart: configurable, never applied silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    max_quantity: u32,
    max_items: u32,
}

/// The largest line maximum that can be configured; with [`MAX_ITEMS_CEILING`] and
/// [`crate::money::MAX_UNIT_PRICE`] it keeps every total inside `i64`.
pub const MAX_QUANTITY_CEILING: u32 = 100_000;
/// The largest line count that can be configured.
pub const MAX_ITEMS_CEILING: u32 = 10_000;

/// A limit configured out of range.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LimitsError {
    /// `max_quantity` outside 1..=[`MAX_QUANTITY_CEILING`].
    #[error("max quantity must be from 1 to {MAX_QUANTITY_CEILING}")]
    MaxQuantity,
    /// `max_items` outside 1..=[`MAX_ITEMS_CEILING`].
    #[error("max items must be from 1 to {MAX_ITEMS_CEILING}")]
    MaxItems,
}

impl Limits {
    /// Checks both limits against their ceilings.
    pub fn new(max_quantity: u32, max_items: u32) -> Result<Self, LimitsError> {
        if !(1..=MAX_QUANTITY_CEILING).contains(&max_quantity) {
            return Err(LimitsError::MaxQuantity);
        }
        if !(1..=MAX_ITEMS_CEILING).contains(&max_items) {
            return Err(LimitsError::MaxItems);
        }
        Ok(Self {
            max_quantity,
            max_items,
        })
    }

    /// The most units one line may hold.
    pub fn max_quantity(&self) -> u32 {
        self.max_quantity
    }

    /// The line maximum as a line quantity (what an over-limit merge caps a line to).
    pub fn max_line_quantity(&self) -> Quantity {
        Quantity(self.max_quantity)
    }

    /// The most lines one cart may hold.
    pub fn max_items(&self) -> u32 {
        self.max_items
    }

    /// The line quantity for `total` units, or `None` when it is over the line maximum.
    pub fn line_quantity(&self, total: u64) -> Option<Quantity> {
        u32::try_from(total)
            .ok()
            .filter(|n| (1..=self.max_quantity).contains(n))
            .map(Quantity)
    }
}

impl Default for Limits {
    /// 99 units a line, 100 lines a cart (API.md).
    fn default() -> Self {
        Self {
            max_quantity: 99,
            max_items: 100,
        }
    }
}
