//! Emptying a cart: it keeps its id and its version goes up. No cart, or an expired one, is not
//! an error: there is nothing to empty, and the outcome shows no cart.

use time::OffsetDateTime;

use crate::error::CartError;
use crate::events::{EventType, PricingChange};
use crate::ids::CartKey;
use crate::outcome::Outcome;
use crate::ports::LoadedCart;

use super::change::{Change, Decision, OnOneCart, RecordAs};
use super::{CartService, WriteOptions};

/// A clear of one cart.
struct Clear<'a> {
    key: &'a CartKey,
}

impl OnOneCart for Clear<'_> {
    fn key(&self) -> &CartKey {
        self.key
    }

    fn decide(
        &self,
        _service: &CartService,
        read: LoadedCart,
        now: OffsetDateTime,
    ) -> Result<Decision, CartError> {
        match read.cart {
            Some(mut cart) if !cart.is_expired(now) => {
                let version = cart.version();
                cart.clear();
                Ok(Decision::Changed(Change {
                    cart,
                    expected_version: Some(version),
                    events: vec![(EventType::CartCleared, None)],
                    ended: None,
                    pricing: PricingChange::default(),
                    checkout: None,
                    report: None,
                }))
            }
            _ => Ok(Decision::Unchanged(Outcome::Cart(None))),
        }
    }
}

impl CartService {
    /// Empties the cart under `key`.
    pub(super) async fn clear(
        &self,
        key: &CartKey,
        options: &WriteOptions,
        record: Option<RecordAs<'_>>,
    ) -> Result<Outcome, CartError> {
        self.change(&Clear { key }, options, record).await
    }
}
