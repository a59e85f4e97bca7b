//! An order's life as a state machine: which action moves which status where.
//!
//! ```text
//!                  pay            fulfil
//! pending_payment ─────▶ paid ─────────▶ fulfilled
//!   │  │  │               │ ▲  │
//!   │  │  └ cancel ┐      │ │  └ fail ──▶ failed ─┐
//!   │  └ expire    ▼      │ └─── retry ───────────┘
//!   │        expired   cancelled ◀── cancel (from paid or failed)
//!   └ fail_payment ──▶ payment_failed
//! ```
//!
//! `fulfilled`, `cancelled`, `expired` and `payment_failed` are final. Every pair of status and
//! action not drawn here is `INVALID_TRANSITION`; the table test lists them all.

use serde::{Deserialize, Serialize};

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Created by checkout; stock reserved, cart locked, waiting for the payment provider.
    PendingPayment,
    /// The provider confirmed payment: stock taken, cart emptied; waiting for fulfilment.
    Paid,
    /// The provider reported the payment failed: reservation released, cart unlocked.
    PaymentFailed,
    /// Not paid within the checkout TTL: reservation released, cart unlocked.
    Expired,
    /// Cancelled by its buyer or an admin before fulfilment: stock released or restocked.
    Cancelled,
    /// Handed to fulfilment.
    Fulfilled,
    /// Fulfilment failed every attempt: a dead letter, until an admin retries or cancels it.
    Failed,
}

impl OrderStatus {
    /// Every status.
    pub const ALL: [OrderStatus; 7] = [
        Self::PendingPayment,
        Self::Paid,
        Self::PaymentFailed,
        Self::Expired,
        Self::Cancelled,
        Self::Fulfilled,
        Self::Failed,
    ];

    /// The status as written in JSON, e.g. `pending_payment`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "pending_payment",
            Self::Paid => "paid",
            Self::PaymentFailed => "payment_failed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::Fulfilled => "fulfilled",
            Self::Failed => "failed",
        }
    }

    /// The status named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }

    /// Whether no action leaves this status.
    pub fn is_final(self) -> bool {
        Action::ALL
            .iter()
            .all(|action| transition(self, *action).is_err())
    }

    /// Whether stock is held for the order as a reservation (not yet taken from stock on hand).
    pub fn holds_reservation(self) -> bool {
        self == Self::PendingPayment
    }

    /// Whether the order's units have left stock on hand (paid and not given back).
    pub fn holds_stock(self) -> bool {
        matches!(self, Self::Paid | Self::Fulfilled | Self::Failed)
    }
}

/// What can happen to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The provider confirmed the payment.
    Pay,
    /// The provider reported the payment failed.
    FailPayment,
    /// The checkout TTL passed without payment (the sweeper).
    Expire,
    /// The buyer or an admin cancelled.
    Cancel,
    /// Fulfilment accepted the order (the worker, or an admin).
    Fulfil,
    /// Fulfilment failed its last attempt (the worker), or an admin gave up on it.
    Fail,
    /// An admin sent a dead letter back to fulfilment.
    Retry,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 7] = [
        Self::Pay,
        Self::FailPayment,
        Self::Expire,
        Self::Cancel,
        Self::Fulfil,
        Self::Fail,
        Self::Retry,
    ];

    /// The action as written in JSON, e.g. `fail_payment`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pay => "pay",
            Self::FailPayment => "fail_payment",
            Self::Expire => "expire",
            Self::Cancel => "cancel",
            Self::Fulfil => "fulfil",
            Self::Fail => "fail",
            Self::Retry => "retry",
        }
    }
}

/// An action the order's status does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order that is {} cannot {}", from.as_str(), action.as_str())]
pub struct InvalidTransition {
    /// The order's status.
    pub from: OrderStatus,
    /// What was asked.
    pub action: Action,
}

/// The status `action` moves an order in status `from` to.
pub fn transition(from: OrderStatus, action: Action) -> Result<OrderStatus, InvalidTransition> {
    use Action as A;
    use OrderStatus as S;
    match (from, action) {
        (S::PendingPayment, A::Pay) => Ok(S::Paid),
        (S::PendingPayment, A::FailPayment) => Ok(S::PaymentFailed),
        (S::PendingPayment, A::Expire) => Ok(S::Expired),
        (S::PendingPayment | S::Paid | S::Failed, A::Cancel) => Ok(S::Cancelled),
        (S::Paid, A::Fulfil) => Ok(S::Fulfilled),
        (S::Paid, A::Fail) => Ok(S::Failed),
        (S::Failed, A::Retry) => Ok(S::Paid),
        _ => Err(InvalidTransition { from, action }),
    }
}

/// The action an admin's `PATCH {"status": to}` stands for, from `from`: only the edges an
/// admin may take. Payment outcomes (`paid` from `pending_payment`, `payment_failed`) come
/// from the payment provider alone, and `expired` from the sweeper.
pub fn admin_action(from: OrderStatus, to: OrderStatus) -> Result<Action, InvalidTransition> {
    use Action as A;
    use OrderStatus as S;
    let action = match to {
        S::Cancelled => A::Cancel,
        S::Fulfilled => A::Fulfil,
        S::Failed => A::Fail,
        S::Paid if from == S::Failed => A::Retry,
        S::Paid => A::Pay,
        S::PaymentFailed => A::FailPayment,
        S::Expired => A::Expire,
        S::PendingPayment => {
            return Err(InvalidTransition {
                from,
                action: A::Retry,
            });
        }
    };
    match action {
        A::Pay | A::FailPayment | A::Expire => Err(InvalidTransition { from, action }),
        _ => transition(from, action).map(|_| action),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action as A;
    use OrderStatus as S;

    /// Every (status, action) pair, with where it leads or `None` for `INVALID_TRANSITION`.
    #[rustfmt::skip]
    const TABLE: [(OrderStatus, [Option<OrderStatus>; 7]); 7] = [
        //                  pay            fail_payment        expire          cancel             fulfil          fail             retry
        (S::PendingPayment, [Some(S::Paid), Some(S::PaymentFailed), Some(S::Expired), Some(S::Cancelled), None, None, None]),
        (S::Paid,           [None, None, None, Some(S::Cancelled), Some(S::Fulfilled), Some(S::Failed), None]),
        (S::PaymentFailed,  [None, None, None, None, None, None, None]),
        (S::Expired,        [None, None, None, None, None, None, None]),
        (S::Cancelled,      [None, None, None, None, None, None, None]),
        (S::Fulfilled,      [None, None, None, None, None, None, None]),
        (S::Failed,         [None, None, None, Some(S::Cancelled), None, None, Some(S::Paid)]),
    ];

    #[test]
    fn every_status_and_action_pair_is_allowed_or_invalid_as_the_table_says() {
        for (from, row) in TABLE {
            for (action, expected) in A::ALL.into_iter().zip(row) {
                let got = transition(from, action);
                match expected {
                    Some(to) => assert_eq!(got, Ok(to), "{from:?} --{action:?}-->"),
                    None => assert_eq!(
                        got,
                        Err(InvalidTransition { from, action }),
                        "{from:?} --{action:?}--> must be invalid"
                    ),
                }
            }
        }
    }

    #[test]
    fn final_statuses_are_those_no_action_leaves() {
        let finals: Vec<_> = S::ALL.into_iter().filter(|s| s.is_final()).collect();
        assert_eq!(
            finals,
            [S::PaymentFailed, S::Expired, S::Cancelled, S::Fulfilled]
        );
    }

    #[test]
    fn admins_move_orders_only_along_their_edges() {
        assert_eq!(admin_action(S::Paid, S::Fulfilled), Ok(A::Fulfil));
        assert_eq!(admin_action(S::Failed, S::Paid), Ok(A::Retry));
        assert_eq!(admin_action(S::PendingPayment, S::Cancelled), Ok(A::Cancel));
        assert_eq!(admin_action(S::Paid, S::Failed), Ok(A::Fail));
        for (from, to) in [
            (S::PendingPayment, S::Paid),
            (S::PendingPayment, S::PaymentFailed),
            (S::PendingPayment, S::Expired),
            (S::Fulfilled, S::Cancelled),
            (S::Paid, S::PendingPayment),
            (S::Cancelled, S::Paid),
        ] {
            assert!(admin_action(from, to).is_err(), "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn statuses_read_back_from_their_names() {
        for status in S::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).expect("json"),
                serde_json::json!(status.as_str())
            );
        }
        assert_eq!(OrderStatus::parse("shipped"), None);
    }
}
