//! A cart and its lines as GraphQL shows them: REST's `Cart` in camelCase, money as [`Money`],
//! timestamps as RFC 3339 strings, built from the domain cart.

use async_graphql::{Context, Enum, ID, Object, Result};
use time::OffsetDateTime;

use cart_core::timestamp::Rfc3339Text;
use cart_core::{Currency, LineItem};

use crate::graphql::context::state;
use crate::graphql::error::gql_error;
use crate::graphql::types::money::{Money, int32};
use crate::graphql::types::totals::{PricingWarning, Totals};
use crate::totals_view::TotalsView;

/// A domain cart, as GraphQL shows it.
#[derive(Debug, Clone)]
pub struct Cart(cart_core::Cart);

impl From<cart_core::Cart> for Cart {
    fn from(cart: cart_core::Cart) -> Self {
        Self(cart)
    }
}

/// RFC 3339 text, as REST renders it (an empty string for a time it cannot express, which
/// cartd's clock never produces).
fn rfc3339(at: OffsetDateTime) -> String {
    Rfc3339Text::new(at)
        .map(|text| text.as_str().to_owned())
        .unwrap_or_default()
}

/// The checkout that locked a cart.
#[derive(Debug, Clone, async_graphql::SimpleObject)]
pub struct CheckoutLock {
    /// The order.
    pub order_id: ID,
    /// Its status: `PENDING_PAYMENT` while the lock holds.
    pub status: OrderStatus,
}

/// Where an order stands (REST's `status`, upper case).
#[derive(Debug, Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "cart_core::order::OrderStatus")]
pub enum OrderStatus {
    /// Waiting for payment; stock reserved, cart locked.
    PendingPayment,
    /// Paid; stock taken, waiting for fulfilment.
    Paid,
    /// The payment failed; stock released, cart unlocked.
    PaymentFailed,
    /// Not paid in time.
    Expired,
    /// Cancelled by its buyer or an admin.
    Cancelled,
    /// Handed to fulfilment.
    Fulfilled,
    /// Fulfilment failed every attempt (a dead letter).
    Failed,
}

/// Whose cart it is.
#[derive(Debug, Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "cart_core::Owner")]
pub enum CartOwner {
    /// A signed-in user's (key: the user id).
    User,
    /// A guest's (key: the guest id).
    Guest,
}

/// A guest's or a signed-in user's cart: REST's `Cart` with camelCase names and money as
/// `Money`.
#[Object]
impl Cart {
    /// The cart's id; it stays through clears.
    async fn id(&self) -> ID {
        ID(self.0.id().to_string())
    }

    /// The cart key as stored: the user id or the guest id (REST `user_id`).
    async fn user_id(&self) -> ID {
        ID(self.0.key().as_str().to_owned())
    }

    /// Whose cart it is.
    async fn owner(&self) -> CartOwner {
        self.0.key().owner().into()
    }

    /// ISO 4217 code of every price in the cart.
    async fn currency(&self) -> String {
        self.0.currency().to_string()
    }

    /// Lines in the order they were first added.
    async fn items(&self) -> Vec<CartItem<'_>> {
        let currency = self.0.currency();
        self.0
            .items()
            .iter()
            .map(|line| CartItem { line, currency })
            .collect()
    }

    /// Number of lines.
    async fn item_count(&self) -> Result<i32> {
        int32(self.0.items().len(), "itemCount")
    }

    /// Units over all lines.
    async fn total_quantity(&self) -> Result<i32> {
        int32(self.0.totals().total_quantity, "totalQuantity")
    }

    /// Sum of the line subtotals.
    async fn total_price(&self) -> Money {
        let currency = self.0.currency();
        Money::new(self.0.totals().total_price, currency.as_str())
    }

    /// Where the cart ships to (ISO 3166), which picks tax and shipping; null until set with
    /// `setCartRegion`.
    async fn region(&self) -> Option<&str> {
        self.0.region().map(|region| region.as_str())
    }

    /// The discount codes on the cart, upper case, in the order entered; whether each applies
    /// is in `totals`.
    async fn discount_codes(&self) -> Vec<&str> {
        self.0
            .discount_codes()
            .iter()
            .map(|code| code.as_str())
            .collect()
    }

    /// The order whose checkout locked the cart while it waits for payment; null otherwise. A
    /// locked cart refuses changes with `CART_LOCKED`.
    async fn checkout(&self) -> Option<CheckoutLock> {
        self.0.checkout().map(|lock| CheckoutLock {
            order_id: ID(lock.order_id.to_string()),
            status: lock.status.into(),
        })
    }

    /// What the cart costs now (REST `GET /v1/cart/{cartKey}/totals`); `explain: true` adds
    /// every step of the arithmetic.
    async fn totals(&self, ctx: &Context<'_>, explain: Option<bool>) -> Result<Totals> {
        let totals = crate::totals::of_cart(state(ctx)?, &self.0, explain.unwrap_or(false))
            .await
            .map_err(gql_error)?;
        Ok(Totals(TotalsView::new(
            &totals.breakdown,
            Some(totals.quote_token),
        )))
    }

    /// The totals' warnings alone: no region, a missing rate, a price that changed since a line
    /// was added (`PRICE_CHANGED`; `repriceCart` takes the new price), a product no longer sold.
    async fn warnings(&self, ctx: &Context<'_>) -> Result<Vec<PricingWarning>> {
        Ok(self.totals(ctx, Some(false)).await?.into_warnings())
    }

    /// Goes up by one with every change; pass it as `expectedVersion` to make a change
    /// conditional (REST `ETag`).
    async fn version(&self) -> Result<i32> {
        int32(self.0.version(), "version")
    }

    /// RFC 3339.
    async fn created_at(&self) -> String {
        rfc3339(self.0.created_at())
    }

    /// RFC 3339.
    async fn updated_at(&self) -> String {
        rfc3339(self.0.updated_at())
    }

    /// RFC 3339; every change extends it.
    async fn expires_at(&self) -> String {
        rfc3339(self.0.expires_at())
    }
}

/// One line of a cart, with the cart's currency for its money.
pub struct CartItem<'a> {
    line: &'a LineItem,
    currency: Currency,
}

/// A cart line: one product (and variant) with its quantity and catalog price.
#[Object]
impl CartItem<'_> {
    /// The line's id, for `updateItemQuantity` and `removeItem`.
    async fn item_id(&self) -> ID {
        ID(self.line.item_id().to_string())
    }

    /// Catalog product id.
    async fn product_id(&self) -> ID {
        ID(self.line.product_id().as_str().to_owned())
    }

    /// Variant (size, colour …), if any.
    async fn variant_id(&self) -> Option<ID> {
        self.line.variant_id().map(|v| ID(v.as_str().to_owned()))
    }

    /// Product name from the catalog.
    async fn name(&self) -> &str {
        self.line.name()
    }

    /// Units, 1 to the line maximum.
    async fn quantity(&self) -> Result<i32> {
        int32(self.line.quantity().get(), "quantity")
    }

    /// Catalog unit price.
    async fn unit_price(&self) -> Money {
        Money::new(self.line.unit_price(), self.currency.as_str())
    }

    /// `quantity × unitPrice`.
    async fn subtotal(&self) -> Money {
        Money::new(self.line.subtotal(), self.currency.as_str())
    }

    /// RFC 3339.
    async fn added_at(&self) -> String {
        rfc3339(self.line.added_at())
    }

    /// RFC 3339.
    async fn updated_at(&self) -> String {
        rfc3339(self.line.updated_at())
    }
}
