//! Merging a guest cart into a user cart at sign-in: the strategies and the report that says
//! what happened to every line. Pure: the service loads both carts, calls
//! [`Cart::absorb`], and commits the result together with the guest cart's deletion.
//!
//! Lines keep the name and unit price they had in the cart they came from; the catalog is not
//! consulted (a merge must not fail because a product went inactive between the guest's add and
//! the sign-in; checkout prices the cart again anyway).

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Cart, LineItem, MAX_DISCOUNT_CODES};
use crate::error::CartError;
use crate::ids::{GuestId, ProductId, VariantId};
use crate::quantity::{Limits, Quantity};

/// How a guest cart's lines combine with the user cart's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeStrategy {
    /// For a product in both carts the larger quantity wins; guest-only lines are added.
    #[default]
    Max,
    /// Quantities add, capped at the line maximum; guest-only lines are added.
    Sum,
    /// The guest cart's lines replace the user cart's.
    Replace,
    /// The user cart stays as it is; the guest cart's lines are discarded.
    Keep,
}

impl MergeStrategy {
    /// Every strategy, the default first (for documents that list them).
    pub const ALL: [MergeStrategy; 4] = [Self::Max, Self::Sum, Self::Replace, Self::Keep];

    /// The strategy's name as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Max => "max",
            Self::Sum => "sum",
            Self::Replace => "replace",
            Self::Keep => "keep",
        }
    }
}

/// A strategy name that is not one of `max`, `sum`, `replace`, `keep`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("strategy must be one of max, sum, replace, keep")]
pub struct UnknownStrategy;

impl FromStr for MergeStrategy {
    type Err = UnknownStrategy;

    fn from_str(raw: &str) -> Result<Self, UnknownStrategy> {
        match raw {
            "max" => Ok(Self::Max),
            "sum" => Ok(Self::Sum),
            "replace" => Ok(Self::Replace),
            "keep" => Ok(Self::Keep),
            _ => Err(UnknownStrategy),
        }
    }
}

/// What became of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineOutcome {
    /// A guest line new to the user cart was added.
    Added,
    /// The product was in both carts; the line now holds the strategy's quantity.
    Combined,
    /// The strategy's quantity was over the line maximum; the line holds the maximum.
    Capped,
    /// The line is not in the merged cart.
    Dropped,
}

/// Why a line had its outcome, machine-readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeReason {
    /// The product was only in the guest cart.
    OnlyInGuestCart,
    /// `max`: the larger of the two quantities was kept.
    LargerQuantity,
    /// `sum`: the two quantities were added.
    QuantitiesAdded,
    /// The quantity was over the line maximum and was lowered to it.
    LineLimit,
    /// The cart already held the most lines allowed.
    CartLimit,
    /// `replace`: the user cart's line gave way to the guest cart.
    ReplacedByGuestCart,
    /// `keep`: the guest cart's line was discarded.
    KeptUserCart,
}

/// Which cart a reported line was in before the merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineSource {
    /// Only the guest cart.
    Guest,
    /// Only the user cart.
    User,
    /// Both.
    Both,
}

/// One line of the merge report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeLine {
    /// The product.
    pub product_id: ProductId,
    /// The variant, if any.
    pub variant_id: Option<VariantId>,
    /// Where the line was before.
    pub source: LineSource,
    /// What became of it.
    pub outcome: LineOutcome,
    /// Why.
    pub reason: OutcomeReason,
    /// Units in the guest cart (0 if none).
    pub guest_quantity: u32,
    /// Units in the user cart before the merge (0 if none).
    pub user_quantity: u32,
    /// Units in the merged cart (0 when dropped).
    pub quantity: u32,
}

/// What a merge did: the strategy, the guest cart, and every line added, combined, capped or
/// dropped. Lines only in the user cart that stayed as they were are not listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeReport {
    /// The strategy applied.
    pub strategy: MergeStrategy,
    /// The guest whose cart was merged.
    pub guest_id: GuestId,
    /// Whether a live guest cart was found (`false`: nothing was merged).
    pub guest_cart_found: bool,
    /// The lines concerned, guest lines in the guest cart's order after user lines dropped.
    pub lines: Vec<MergeLine>,
}

impl MergeReport {
    /// The report of a merge that found no guest cart and changed nothing.
    pub fn nothing_to_merge(strategy: MergeStrategy, guest_id: GuestId) -> Self {
        Self {
            strategy,
            guest_id,
            guest_cart_found: false,
            lines: Vec::new(),
        }
    }
}

impl Cart {
    /// Takes the guest cart's lines into this (user) cart by `strategy`, within `limits`, and
    /// says what happened to each line. Nothing is lost silently: a line over the line maximum
    /// is capped and reported, a line beyond the line-count limit is reported as dropped.
    /// Different currencies (both carts holding lines) are refused and change nothing.
    /// Not touched: the caller touches the cart once the merge is decided.
    pub fn absorb(
        &mut self,
        guest: &Cart,
        strategy: MergeStrategy,
        limits: &Limits,
        now: OffsetDateTime,
    ) -> Result<Vec<MergeLine>, CartError> {
        let takes_guest_lines = strategy != MergeStrategy::Keep;
        if takes_guest_lines
            && !guest.items.is_empty()
            && !self.items.is_empty()
            && strategy != MergeStrategy::Replace
            && guest.currency != self.currency
        {
            return Err(CartError::MergeCurrencyMismatch {
                user_cart: self.currency.to_string(),
                guest_cart: guest.currency.to_string(),
            });
        }
        let mut report = Vec::new();
        match strategy {
            MergeStrategy::Keep => {
                report.extend(
                    guest
                        .items
                        .iter()
                        .map(|line| dropped(line, LineSource::Guest, OutcomeReason::KeptUserCart)),
                );
            }
            MergeStrategy::Replace => {
                report.extend(self.items.drain(..).map(|line| {
                    dropped(&line, LineSource::User, OutcomeReason::ReplacedByGuestCart)
                }));
                self.currency = guest.currency;
                for line in guest.items.iter() {
                    report.push(self.append(line, limits, now));
                }
            }
            MergeStrategy::Max | MergeStrategy::Sum => {
                if self.items.is_empty() {
                    self.currency = guest.currency;
                }
                for line in guest.items.iter() {
                    let existing = self.items.iter().position(|own| {
                        own.product_id == line.product_id && own.variant_id == line.variant_id
                    });
                    let outcome = match existing {
                        Some(i) => combine(&mut self.items[i], line, strategy, limits, now),
                        None => self.append(line, limits, now),
                    };
                    report.push(outcome);
                }
            }
        }
        if takes_guest_lines {
            self.take_pricing_choices(guest);
        }
        Ok(report)
    }

    /// Takes the guest cart's region when this cart has none (the user's choice wins), and the
    /// guest's discount codes this cart lacks, after its own, up to [`MAX_DISCOUNT_CODES`].
    /// Whether each code applies is decided when totals are next computed.
    fn take_pricing_choices(&mut self, guest: &Cart) {
        if self.region.is_none() {
            self.region = guest.region.clone();
        }
        for code in &guest.discount_codes {
            if self.discount_codes.len() >= MAX_DISCOUNT_CODES {
                break;
            }
            if !self.discount_codes.contains(code) {
                self.discount_codes.push(code.clone());
            }
        }
    }

    /// Appends a copy of a guest line, capped at the line maximum, unless the cart is full.
    fn append(&mut self, line: &LineItem, limits: &Limits, now: OffsetDateTime) -> MergeLine {
        let guest_quantity = line.quantity.get();
        if self.items.len() >= limits.max_items() as usize {
            return dropped(line, LineSource::Guest, OutcomeReason::CartLimit);
        }
        let (quantity, capped) = within_line_limit(u64::from(guest_quantity), limits);
        let mut copy = line.clone();
        copy.quantity = quantity;
        copy.updated_at = now;
        self.items.push(copy);
        MergeLine {
            product_id: line.product_id.clone(),
            variant_id: line.variant_id.clone(),
            source: LineSource::Guest,
            outcome: if capped {
                LineOutcome::Capped
            } else {
                LineOutcome::Added
            },
            reason: if capped {
                OutcomeReason::LineLimit
            } else {
                OutcomeReason::OnlyInGuestCart
            },
            guest_quantity,
            user_quantity: 0,
            quantity: quantity.get(),
        }
    }
}

/// Combines a guest line into the user's line for the same product and variant.
fn combine(
    own: &mut LineItem,
    guest: &LineItem,
    strategy: MergeStrategy,
    limits: &Limits,
    now: OffsetDateTime,
) -> MergeLine {
    let user_quantity = own.quantity.get();
    let guest_quantity = guest.quantity.get();
    let (wanted, reason) = match strategy {
        MergeStrategy::Sum => (
            u64::from(user_quantity) + u64::from(guest_quantity),
            OutcomeReason::QuantitiesAdded,
        ),
        _ => (
            u64::from(user_quantity.max(guest_quantity)),
            OutcomeReason::LargerQuantity,
        ),
    };
    let (quantity, capped) = within_line_limit(wanted, limits);
    if quantity != own.quantity {
        own.quantity = quantity;
        own.updated_at = now;
    }
    MergeLine {
        product_id: own.product_id.clone(),
        variant_id: own.variant_id.clone(),
        source: LineSource::Both,
        outcome: if capped {
            LineOutcome::Capped
        } else {
            LineOutcome::Combined
        },
        reason: if capped {
            OutcomeReason::LineLimit
        } else {
            reason
        },
        guest_quantity,
        user_quantity,
        quantity: quantity.get(),
    }
}

/// `wanted` units as a line quantity, lowered to the line maximum if above it (and whether it was).
fn within_line_limit(wanted: u64, limits: &Limits) -> (Quantity, bool) {
    match limits.line_quantity(wanted) {
        Some(quantity) => (quantity, false),
        // `wanted` is at least 1 (it comes from stored quantities), so only the maximum can fail.
        None => (limits.max_line_quantity(), true),
    }
}

fn dropped(line: &LineItem, source: LineSource, reason: OutcomeReason) -> MergeLine {
    let (guest_quantity, user_quantity) = match source {
        LineSource::User => (0, line.quantity.get()),
        _ => (line.quantity.get(), 0),
    };
    MergeLine {
        product_id: line.product_id.clone(),
        variant_id: line.variant_id.clone(),
        source,
        outcome: LineOutcome::Dropped,
        reason,
        guest_quantity,
        user_quantity,
        quantity: 0,
    }
}
