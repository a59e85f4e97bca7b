//! Removing a line.

use time::OffsetDateTime;

use crate::command::RemoveItem;
use crate::error::CartError;
use crate::events::{EventType, PricingChange};
use crate::ids::CartKey;
use crate::outcome::Outcome;
use crate::ports::LoadedCart;

use super::change::{Change, Decision, OnOneCart, RecordAs, live_cart};
use super::{CartService, WriteOptions};

/// A removal of one line.
struct Remove<'a> {
    key: &'a CartKey,
    command: RemoveItem,
}

impl OnOneCart for Remove<'_> {
    fn key(&self) -> &CartKey {
        self.key
    }

    fn decide(
        &self,
        _service: &CartService,
        read: LoadedCart,
        now: OffsetDateTime,
    ) -> Result<Decision, CartError> {
        let mut cart = live_cart(read.cart, now)?;
        let version = cart.version();
        let line = cart.remove(self.command.item_id)?;
        Ok(Decision::Changed(Change {
            cart,
            expected_version: Some(version),
            events: vec![(EventType::ItemRemoved, Some(line))],
            ended: None,
            pricing: PricingChange::default(),
            checkout: None,
            report: None,
        }))
    }
}

impl CartService {
    /// Removes a line from the cart under `key`.
    pub(super) async fn remove_item(
        &self,
        key: &CartKey,
        command: RemoveItem,
        options: &WriteOptions,
        record: Option<RecordAs<'_>>,
    ) -> Result<Outcome, CartError> {
        self.change(&Remove { key, command }, options, record).await
    }
}
