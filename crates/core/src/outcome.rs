//! What a write answered, as a domain value: every transport renders it itself, on the first
//! answer and on a replay of an idempotency record alike.

use serde::{Deserialize, Serialize};

use crate::cart::Cart;
use crate::cart::merge::MergeReport;
use crate::order::Order;

/// The user cart after a merge (or as it would be, for a dry run) and the merge report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merged {
    /// The user cart.
    pub cart: Cart,
    /// What happened to every line.
    pub report: MergeReport,
    /// Whether nothing was changed (a dry run).
    #[serde(default)]
    pub dry_run: bool,
}

/// A checkout's order and the cart it locked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedOut {
    /// The order, waiting for payment.
    pub order: Order,
    /// The cart, locked by it.
    pub cart: Cart,
}

/// The outcome of a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The cart the change left; `None` when there is no cart to show (a clear that found
    /// none).
    Cart(Option<Cart>),
    /// A merge's user cart and report.
    Merged(Merged),
    /// A checkout's order (boxed: orders are larger than the other outcomes).
    CheckedOut(Box<CheckedOut>),
}

impl Outcome {
    /// The cart to show, if any.
    pub fn cart(&self) -> Option<&Cart> {
        match self {
            Self::Cart(cart) => cart.as_ref(),
            Self::Merged(merged) => Some(&merged.cart),
            Self::CheckedOut(checked_out) => Some(&checked_out.cart),
        }
    }

    /// The order, for a checkout.
    pub fn order(&self) -> Option<&Order> {
        match self {
            Self::CheckedOut(checked_out) => Some(&checked_out.order),
            _ => None,
        }
    }

    /// The merge report, for a merge.
    pub fn merge(&self) -> Option<&Merged> {
        match self {
            Self::Merged(merged) => Some(merged),
            Self::Cart(_) | Self::CheckedOut(_) => None,
        }
    }
}

/// A write's outcome and whether it is a replay of an earlier answer under the same
/// idempotency key (nothing was changed by this request then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// What the write answered.
    pub outcome: Outcome,
    /// `true` when answered from an idempotency record.
    pub replayed: bool,
}
