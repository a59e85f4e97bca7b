//! What committed changes mean for the business, counted on `/metrics`: carts created, merges
//! and their lines' outcomes, checkouts and their value. Counted here, after the commit, so a
//! refused or retried change never counts and every front end (REST, GraphQL) counts the same.
//! Through the `metrics` facade: without a recorder installed these cost nothing.

use crate::cart::merge::{LineOutcome, MergeReport};
use crate::events::EventType;
use crate::order::Order;
use crate::ports::Commit;

/// The facts of one commit worth counting, taken before the commit consumes it.
pub(crate) struct Counted {
    carts_created: u64,
}

impl Counted {
    /// What `commit` would add to the counters once it is stored.
    pub(crate) fn of(commit: &Commit) -> Self {
        let carts_created = commit
            .events
            .iter()
            .filter(|event| event.event_type == EventType::CartCreated)
            .count();
        Self {
            carts_created: carts_created as u64,
        }
    }

    /// Adds the commit's facts, and its merge's or checkout's, to the counters.
    pub(crate) fn record(self, merge: Option<&MergeReport>, order: Option<&Order>) {
        if self.carts_created > 0 {
            metrics::counter!("cartd_carts_created_total").increment(self.carts_created);
        }
        if let Some(report) = merge {
            let found = if report.guest_cart_found {
                "true"
            } else {
                "false"
            };
            metrics::counter!("cartd_cart_merges_total",
                "strategy" => report.strategy.as_str(), "guest_cart_found" => found)
            .increment(1);
            for line in &report.lines {
                metrics::counter!("cartd_merge_lines_total", "outcome" => outcome_label(line.outcome))
                    .increment(1);
            }
        }
        if let Some(order) = order {
            let currency = order.currency.clone();
            metrics::counter!("cartd_carts_checked_out_total", "currency" => currency.clone())
                .increment(1);
            metrics::histogram!("cartd_checkout_value_minor_units", "currency" => currency)
                .record(order.total as f64);
        }
    }
}

fn outcome_label(outcome: LineOutcome) -> &'static str {
    match outcome {
        LineOutcome::Added => "added",
        LineOutcome::Combined => "combined",
        LineOutcome::Capped => "capped",
        LineOutcome::Dropped => "dropped",
    }
}
