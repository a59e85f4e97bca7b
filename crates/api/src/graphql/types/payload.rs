//! What mutations and subscriptions answer with.

use async_graphql::{ID, Json, SimpleObject};

use crate::graphql::types::cart::Cart;
use crate::graphql::types::merge::MergeReport;

/// The answer of every cart mutation: the cart it left, or why it refused.
#[derive(Default, SimpleObject)]
pub struct CartPayload {
    /// The cart after the change. Null when the change was refused, or when `clearCart` found
    /// no cart.
    pub cart: Option<Cart>,
    /// Why the change was refused, with REST's error codes; empty on success. Nothing was
    /// written when it is not empty.
    pub user_errors: Vec<UserError>,
    /// For `mergeGuestCart`: what happened to every line.
    pub merge: Option<MergeReport>,
}

impl CartPayload {
    /// A refusal.
    pub fn refused(error: UserError) -> Self {
        Self {
            user_errors: vec![error],
            ..Self::default()
        }
    }
}

/// A change refused for a reason the client can correct (validation, a limit, a conflict, a
/// missing item or product, a changed price …). Authorization and server failures are GraphQL
/// errors instead, with the same codes in `extensions.code`.
#[derive(Debug, Clone, SimpleObject)]
pub struct UserError {
    /// REST's problem code, e.g. `QUANTITY_LIMIT_EXCEEDED`, `PRICE_CHANGED`, `CONFLICT`.
    pub code: String,
    /// The argument at fault, when there is one (`quantity`, `unitPrice`, `expectedVersion` …).
    pub field: Option<String>,
    /// What went wrong, for people.
    pub message: String,
    /// REST's `details`, e.g. `{"expected": 100, "current": 250}` for `PRICE_CHANGED`.
    pub details: Option<Json<serde_json::Value>>,
}

/// A new guest id.
#[derive(Debug, Clone, SimpleObject)]
pub struct GuestPayload {
    /// `guest_` + a ULID; use it as the cart key. Nothing is stored until the first add.
    pub guest_id: ID,
}

/// One change to a watched cart.
#[derive(SimpleObject)]
pub struct CartUpdate {
    /// The event type, e.g. `cart.item_added`, `cart.cleared`, `cart.merged_away`.
    #[graphql(name = "type")]
    pub event_type: String,
    /// The cart version the change produced.
    pub version: i32,
    /// The cart as it is now (its version may be newer when changes come fast); null when
    /// the cart is gone (merged away, expired).
    pub cart: Option<Cart>,
}
