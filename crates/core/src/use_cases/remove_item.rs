//! Removing a line.

use time::OffsetDateTime;

use crate::cart::Cart;
use crate::command::RemoveItem;
use crate::error::CartError;
use crate::events::EventType;
use crate::ids::CartKey;
use crate::outcome::Outcome;
use crate::ports::LoadedCart;

use super::change::{Change, Decision, RecordAs, UseCase, live_cart};
use super::{CartService, WriteOptions};

/// A removal of one line.
struct Remove<'a> {
    key: &'a CartKey,
    command: RemoveItem,
}

impl UseCase for Remove<'_> {
    type Read = LoadedCart;

    fn keys(&self) -> (&CartKey, Option<&CartKey>) {
        (self.key, None)
    }

    async fn read(&self, service: &CartService, first: bool) -> Result<LoadedCart, CartError> {
        service.read_target(self.key, first).await
    }

    fn version(read: &LoadedCart) -> Option<u64> {
        read.cart.as_ref().map(Cart::version)
    }

    fn guessed(read: &LoadedCart) -> bool {
        read.guessed
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
            deleted: None,
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
