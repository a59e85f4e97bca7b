//! A tracked product's stock: units on hand and units reserved by checkouts not yet paid.
//!
//! The catalog's `stock` is what an admin (or an import) last set as on hand; the stock level
//! record ([`crate::ports::RecordKind::Stock`]) is where checkout and payment count, in the
//! same commit as the order. Until a product's first checkout there is no record and the
//! catalog's figure is the level, with nothing reserved; an admin setting the catalog's stock
//! sets the record's `on_hand` too, keeping what is reserved.

use serde::{Deserialize, Serialize};

/// Units of one product.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    /// Units on hand: lowered when an order is paid, raised when a paid order is cancelled.
    pub on_hand: u32,
    /// Units held by orders waiting for payment.
    pub reserved: u32,
}

impl StockLevel {
    /// Units a new add or checkout may take.
    pub fn available(self) -> u32 {
        self.on_hand.saturating_sub(self.reserved)
    }

    /// Holds `units` for a checkout, if that many are available.
    pub fn reserve(self, units: u32) -> Option<Self> {
        (units <= self.available()).then(|| Self {
            reserved: self.reserved + units,
            ..self
        })
    }

    /// Gives back `units` a checkout held (payment failed, expired, cancelled before payment).
    pub fn release(self, units: u32) -> Self {
        Self {
            reserved: self.reserved.saturating_sub(units),
            ..self
        }
    }

    /// Takes `units` a checkout held out of stock on hand (payment succeeded).
    pub fn take(self, units: u32) -> Self {
        Self {
            on_hand: self.on_hand.saturating_sub(units),
            reserved: self.reserved.saturating_sub(units),
        }
    }

    /// Puts `units` of a paid order back on hand (cancelled after payment).
    pub fn restock(self, units: u32) -> Self {
        Self {
            on_hand: self.on_hand.saturating_add(units),
            ..self
        }
    }

    /// The level as its record's JSON.
    pub fn to_record(self) -> String {
        format!(
            r#"{{"on_hand":{},"reserved":{}}}"#,
            self.on_hand, self.reserved
        )
    }

    /// The level a record holds.
    pub fn from_record(body: &str) -> Result<Self, crate::error::StoreError> {
        serde_json::from_str(body)
            .map_err(|e| crate::error::StoreError::Internal(format!("stored stock level: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_never_take_more_than_is_available() {
        let level = StockLevel {
            on_hand: 10,
            reserved: 7,
        };
        assert_eq!(level.available(), 3);
        assert_eq!(level.reserve(4), None);
        assert_eq!(
            level.reserve(3),
            Some(StockLevel {
                on_hand: 10,
                reserved: 10
            })
        );
        assert_eq!(level.reserve(3).and_then(|l| l.reserve(1)), None);
    }

    #[test]
    fn payment_takes_the_reserved_units_and_release_gives_them_back() {
        let held = StockLevel {
            on_hand: 10,
            reserved: 4,
        };
        assert_eq!(
            held.take(4),
            StockLevel {
                on_hand: 6,
                reserved: 0
            }
        );
        assert_eq!(
            held.release(4),
            StockLevel {
                on_hand: 10,
                reserved: 0
            }
        );
        assert_eq!(
            held.take(4).restock(4),
            StockLevel {
                on_hand: 10,
                reserved: 0
            }
        );
    }

    #[test]
    fn an_admin_lowering_stock_below_what_is_reserved_leaves_nothing_available() {
        assert_eq!(
            StockLevel {
                on_hand: 2,
                reserved: 5
            }
            .available(),
            0
        );
    }

    #[test]
    fn the_record_reads_back() {
        let level = StockLevel {
            on_hand: 4_000_000_000,
            reserved: 1,
        };
        assert_eq!(StockLevel::from_record(&level.to_record()), Ok(level));
    }
}
