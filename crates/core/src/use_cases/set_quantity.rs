//! Setting a line's quantity (1 to the line maximum; removing is [`super::remove_item`]).

use time::OffsetDateTime;

use crate::command::SetQuantity;
use crate::error::CartError;
use crate::events::{EventType, PricingChange};
use crate::ids::CartKey;
use crate::outcome::Outcome;
use crate::ports::LoadedCart;
use crate::product::Product;

use super::change::{self, Change, Decision, RecordAs, UseCase, live_cart, live_version};
use super::{CartService, WriteOptions};

/// A quantity change of one line.
struct Set<'a> {
    key: &'a CartKey,
    command: SetQuantity,
}

impl UseCase for Set<'_> {
    /// The cart, and the catalog entry of the line's product: raising a quantity checks
    /// availability and stock.
    type Read = (LoadedCart, Option<Product>);

    fn keys(&self) -> (&CartKey, Option<&CartKey>) {
        (self.key, None)
    }

    async fn read(&self, service: &CartService, first: bool) -> Result<Self::Read, CartError> {
        let has_line = |loaded: &LoadedCart| {
            loaded
                .cart
                .as_ref()
                .is_some_and(|cart| cart.line(self.command.item_id).is_ok())
        };
        let mut loaded = service.read_target(self.key, first).await?;
        if loaded.guessed && !has_line(&loaded) {
            // A guess without the line cannot name its product: ask the store.
            loaded = service.read_target(self.key, false).await?;
        }
        // A line's product never changes, so the line of a guessed cart names it as well as
        // the stored one.
        let product_id = loaded
            .cart
            .as_ref()
            .and_then(|cart| cart.line(self.command.item_id).ok())
            .map(|line| line.product_id().clone());
        let product = match product_id {
            Some(id) => match service.catalog.product(&id).await? {
                Some(product) => Some(service.sellable(product).await?),
                None => None,
            },
            None => None,
        };
        Ok((loaded, product))
    }

    fn live_version((loaded, _): &Self::Read, now: OffsetDateTime) -> Option<u64> {
        live_version(loaded.cart.as_ref(), now)
    }

    fn guessed((loaded, _): &Self::Read) -> bool {
        loaded.guessed
    }

    fn locked_by((loaded, _): &Self::Read, now: OffsetDateTime) -> Option<uuid::Uuid> {
        change::locked_by(loaded.cart.as_ref(), now)
    }

    fn decide(
        &self,
        service: &CartService,
        (loaded, product): Self::Read,
        now: OffsetDateTime,
    ) -> Result<Decision, CartError> {
        let mut cart = live_cart(loaded.cart, now)?;
        let SetQuantity { item_id, quantity } = self.command;
        let before = cart.line(item_id)?.quantity().get();
        if u64::from(before) == quantity.get() {
            return Ok(Decision::Unchanged(Outcome::Cart(Some(cart))));
        }
        let version = cart.version();
        let line = cart.set_quantity(
            item_id,
            quantity,
            product.as_ref(),
            &service.policy.limits,
            now,
        )?;
        Ok(Decision::Changed(Change {
            cart,
            expected_version: Some(version),
            events: vec![(EventType::ItemUpdated, Some(line))],
            ended: None,
            pricing: PricingChange::default(),
            checkout: None,
            report: None,
        }))
    }
}

impl CartService {
    /// Sets a line's quantity in the cart under `key`.
    pub(super) async fn set_quantity(
        &self,
        key: &CartKey,
        command: SetQuantity,
        options: &WriteOptions,
        record: Option<RecordAs<'_>>,
    ) -> Result<Outcome, CartError> {
        self.change(&Set { key, command }, options, record).await
    }
}
