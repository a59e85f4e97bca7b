//! Repricing: every line takes the catalog's current price. Lines keep the price they were
//! added at until the shopper asks for this (reads and totals warn of a difference instead of
//! changing a price silently). A line whose product is gone, inactive or now priced in another
//! currency keeps its price: there is no current price to take, and the warning stays.

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::error::CartError;
use crate::events::{EventType, PricingChange, RepricedLine};
use crate::ids::{CartKey, ProductId};
use crate::outcome::Outcome;
use crate::ports::LoadedCart;
use crate::product::Product;

use super::change::{self, Change, Decision, RecordAs, UseCase, live_cart, live_version};
use super::{CartService, WriteOptions};

/// A reprice of one cart.
struct Reprice<'a> {
    key: &'a CartKey,
}

impl UseCase for Reprice<'_> {
    /// The cart, and the catalog entry of each of its lines' products (absent: not in the
    /// catalog).
    type Read = (LoadedCart, HashMap<ProductId, Product>);

    fn keys(&self) -> (&CartKey, Option<&CartKey>) {
        (self.key, None)
    }

    async fn read(&self, service: &CartService, first: bool) -> Result<Self::Read, CartError> {
        let loaded = service.read_target(self.key, first).await?;
        let mut products = HashMap::new();
        for line in loaded.cart.iter().flat_map(|cart| cart.items()) {
            if products.contains_key(line.product_id()) {
                continue;
            }
            if let Some(product) = service.catalog.product(line.product_id()).await? {
                products.insert(line.product_id().clone(), product);
            }
        }
        Ok((loaded, products))
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
        _service: &CartService,
        (loaded, products): Self::Read,
        now: OffsetDateTime,
    ) -> Result<Decision, CartError> {
        let mut cart = live_cart(loaded.cart, now)?;
        let version = cart.version();
        let currency = cart.currency();
        let current_prices: Vec<_> = cart
            .items()
            .iter()
            .filter_map(|line| {
                let product = products.get(line.product_id())?;
                let sellable = product.active && product.price.currency() == currency;
                sellable.then(|| {
                    (
                        line.item_id(),
                        line.product_id().clone(),
                        product.price.amount(),
                    )
                })
            })
            .collect();
        let mut repriced = Vec::new();
        for (item_id, product_id, price) in current_prices {
            let was = cart.line(item_id)?.unit_price();
            if cart.reprice_line(item_id, price, now)? {
                repriced.push(RepricedLine {
                    item_id,
                    product_id,
                    was,
                    now: price,
                });
            }
        }
        if repriced.is_empty() {
            return Ok(Decision::Unchanged(Outcome::Cart(Some(cart))));
        }
        Ok(Decision::Changed(Change {
            cart,
            expected_version: Some(version),
            events: vec![(EventType::CartRepriced, None)],
            ended: None,
            report: None,
            pricing: PricingChange {
                repriced,
                ..PricingChange::default()
            },
            checkout: None,
        }))
    }
}

impl CartService {
    /// Gives every line of the cart under `key` the catalog's current price.
    pub(super) async fn reprice(
        &self,
        key: &CartKey,
        options: &WriteOptions,
        record: Option<RecordAs<'_>>,
    ) -> Result<Outcome, CartError> {
        self.change(&Reprice { key }, options, record).await
    }
}
