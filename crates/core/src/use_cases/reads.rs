//! What the transports read: carts, their stamps, the catalog; and the maintenance calls.

use crate::cart::{Cart, CartStamp};
use crate::error::{CartError, StoreError};
use crate::ids::{CartKey, GuestId, ProductId};
use crate::ports::SweepReport;
use crate::product::Product;

use super::CartService;
use super::change::live_cart;

impl CartService {
    /// A fresh guest id.
    pub fn new_guest_id(&self) -> GuestId {
        self.ids.guest_id()
    }

    /// The time by the service's clock: what promotions' start and end are compared with, so
    /// totals and writes agree on "now".
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// The line and line-count limits carts are held to (estimates are held to them too).
    pub fn limits(&self) -> &crate::quantity::Limits {
        &self.policy.limits
    }

    /// The cart under `key`: `CART_NOT_FOUND` if none or it ended (merged away),
    /// `CART_EXPIRED` if expired.
    pub async fn get(&self, key: &CartKey) -> Result<Cart, CartError> {
        live_cart(self.store.load_cart(key).await?, self.clock.now())
    }

    /// The stamp of the live cart under `key`, with the same errors as [`Self::get`] but
    /// without loading a live cart: lets a cache of rendered carts validate itself cheaply.
    pub async fn stamp(&self, key: &CartKey) -> Result<CartStamp, CartError> {
        let stamp = self
            .store
            .cart_stamp(key)
            .await?
            .ok_or(CartError::CartNotFound)?;
        if stamp.expires_at <= self.clock.now() {
            // Expired or ended: only the cart tells which (and a rare path may load it).
            return self.get(key).await.map(|cart| cart.stamp());
        }
        Ok(stamp)
    }

    /// Deletes carts past keeping ([`crate::KEPT_AFTER_EXPIRY`]) and expired idempotency
    /// records, `batch` at a time, until none are left.
    pub async fn sweep_expired(&self, batch: usize) -> Result<SweepReport, CartError> {
        let mut total = SweepReport::default();
        loop {
            let round = self.store.sweep_expired(self.clock.now(), batch).await?;
            total.carts += round.carts;
            total.idempotency_records += round.idempotency_records;
            if round.carts < batch && round.idempotency_records < batch {
                return Ok(total);
            }
        }
    }

    /// Whether the store answers.
    pub async fn check_store(&self) -> Result<(), StoreError> {
        self.store.check().await
    }

    /// One catalog product.
    pub async fn product(&self, id: &ProductId) -> Result<Option<Product>, CartError> {
        Ok(self.catalog.product(id).await?)
    }

    /// A page of products ordered by id.
    pub async fn products(
        &self,
        after: Option<&ProductId>,
        limit: usize,
    ) -> Result<Vec<Product>, CartError> {
        Ok(self.catalog.products(after, limit).await?)
    }

    /// Inserts or replaces a product; `true` if it was new.
    pub async fn put_product(&self, product: Product) -> Result<bool, CartError> {
        let created = self.catalog.upsert_products(vec![product]).await?;
        Ok(created.first().copied().unwrap_or(false))
    }
}
