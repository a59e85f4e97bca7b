//! The merge report of `mergeGuestCart`: REST's `merge` member with camelCase names and enums,
//! built from the domain report.

use async_graphql::{Enum, ID, SimpleObject};

/// How a guest cart's lines combine with the user cart's.
#[derive(Debug, Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "cart_core::MergeStrategy")]
pub enum MergeStrategy {
    /// For a product in both carts the larger quantity wins; guest-only lines are added
    /// (the default).
    Max,
    /// Quantities add, capped at the line maximum; guest-only lines are added.
    Sum,
    /// The guest cart's lines replace the user cart's.
    Replace,
    /// The user cart stays as it is; the guest cart's lines are discarded.
    Keep,
}

/// Which cart a reported line was in before the merge.
#[derive(Debug, Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "cart_core::LineSource")]
pub enum MergeLineSource {
    /// Only the guest cart.
    Guest,
    /// Only the user cart.
    User,
    /// Both.
    Both,
}

/// What became of a line.
#[derive(Debug, Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "cart_core::LineOutcome")]
pub enum MergeLineOutcome {
    /// A guest line new to the user cart was added.
    Added,
    /// The product was in both carts; the line holds the strategy's quantity.
    Combined,
    /// The strategy's quantity was over the line maximum; the line holds the maximum.
    Capped,
    /// The line is not in the merged cart.
    Dropped,
}

/// Why a line had its outcome.
#[derive(Debug, Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "cart_core::OutcomeReason")]
pub enum MergeLineReason {
    /// The product was only in the guest cart.
    OnlyInGuestCart,
    /// `MAX`: the larger of the two quantities was kept.
    LargerQuantity,
    /// `SUM`: the two quantities were added.
    QuantitiesAdded,
    /// The quantity was over the line maximum and was lowered to it.
    LineLimit,
    /// The cart already held the most lines allowed.
    CartLimit,
    /// `REPLACE`: the user cart's line gave way to the guest cart.
    ReplacedByGuestCart,
    /// `KEEP`: the guest cart's line was discarded.
    KeptUserCart,
}

/// What a merge did (REST's `merge` member).
#[derive(Debug, Clone, SimpleObject)]
pub struct MergeReport {
    /// The strategy applied.
    strategy: MergeStrategy,
    /// The guest whose cart was merged.
    guest_id: ID,
    /// Whether a live guest cart was found; `false`: nothing was merged.
    guest_cart_found: bool,
    /// `true` when nothing was changed (`dryRun: true`).
    dry_run: bool,
    /// Every line added, combined, capped or dropped, and why.
    lines: Vec<MergeLine>,
}

/// One line of the merge report.
#[derive(Debug, Clone, SimpleObject)]
pub struct MergeLine {
    /// The product.
    product_id: ID,
    /// The variant, if any.
    variant_id: Option<ID>,
    /// Where the line was before.
    source: MergeLineSource,
    /// What became of it.
    outcome: MergeLineOutcome,
    /// Why.
    reason: MergeLineReason,
    /// Units in the guest cart.
    guest_quantity: u32,
    /// Units in the user cart before the merge.
    user_quantity: u32,
    /// Units in the merged cart (0 when dropped).
    quantity: u32,
}

impl From<&cart_core::Merged> for MergeReport {
    fn from(merged: &cart_core::Merged) -> Self {
        let report = &merged.report;
        Self {
            strategy: report.strategy.into(),
            guest_id: ID(report.guest_id.as_str().to_owned()),
            guest_cart_found: report.guest_cart_found,
            dry_run: merged.dry_run,
            lines: report.lines.iter().map(MergeLine::from).collect(),
        }
    }
}

impl From<&cart_core::MergeLine> for MergeLine {
    fn from(line: &cart_core::MergeLine) -> Self {
        Self {
            product_id: ID(line.product_id.as_str().to_owned()),
            variant_id: line.variant_id.as_ref().map(|v| ID(v.as_str().to_owned())),
            source: line.source.into(),
            outcome: line.outcome.into(),
            reason: line.reason.into(),
            guest_quantity: line.guest_quantity,
            user_quantity: line.user_quantity,
            quantity: line.quantity,
        }
    }
}
