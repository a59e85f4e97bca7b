//! Adding units of a catalog product, creating the cart (or a new one after expiry) if needed.

use time::OffsetDateTime;

use crate::cart::{AddItem, Cart};
use crate::error::CartError;
use crate::events::{EventType, PricingChange};
use crate::ids::CartKey;
use crate::outcome::Outcome;
use crate::ports::LoadedCart;
use crate::product::Product;

use super::change::{Change, Decision, OnOneCart, RecordAs};
use super::{CartService, WriteOptions};

/// An add, with the catalog entry it prices the line from.
struct Add<'a> {
    key: &'a CartKey,
    command: AddItem,
    product: Product,
}

impl OnOneCart for Add<'_> {
    fn key(&self) -> &CartKey {
        self.key
    }

    fn decide(
        &self,
        service: &CartService,
        read: LoadedCart,
        now: OffsetDateTime,
    ) -> Result<Decision, CartError> {
        let mut events = Vec::new();
        let (mut cart, expected_version) = match read.cart {
            Some(cart) if !cart.is_expired(now) => {
                let version = cart.version();
                (cart, Some(version))
            }
            stale => {
                // No cart, or an expired one: start a new cart whose versions go on from the
                // old one's, replacing it in the same compare-and-set.
                let previous = stale.as_ref().map(Cart::version);
                events.push((EventType::CartCreated, None));
                let fresh = Cart::new(
                    service.ids.cart_id(),
                    self.key.clone(),
                    self.product.price.currency(),
                    now,
                    previous.unwrap_or(0),
                );
                (fresh, previous)
            }
        };
        let line = cart.add(
            &self.command,
            &self.product,
            &service.policy.limits,
            service.ids.item_id(),
            now,
        )?;
        events.push((EventType::ItemAdded, Some(line)));
        Ok(Decision::Changed(Change {
            cart,
            expected_version,
            events,
            ended: None,
            pricing: PricingChange::default(),
            checkout: None,
            report: None,
        }))
    }
}

impl CartService {
    /// Adds units of a catalog product to the cart under `key`.
    pub(super) async fn add_item(
        &self,
        key: &CartKey,
        command: AddItem,
        options: &WriteOptions,
        record: Option<RecordAs<'_>>,
    ) -> Result<Outcome, CartError> {
        // Refused before the catalog is asked: no line may ever hold this many.
        let max_allowed = self.policy.limits.max_quantity();
        if command.quantity.get() > u64::from(max_allowed) {
            return Err(CartError::QuantityLimitExceeded {
                requested_quantity: command.quantity.get(),
                max_allowed,
            });
        }
        let product = self
            .catalog
            .product(&command.product_id)
            .await?
            .ok_or_else(|| CartError::ProductNotFound(command.product_id.clone()))?;
        let product = self.sellable(product).await?;
        let add = Add {
            key,
            command,
            product,
        };
        self.change(&add, options, record).await
    }
}
