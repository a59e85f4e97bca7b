//! A cart and its lines as GraphQL shows them: REST's `Cart` in camelCase, money as [`Money`],
//! timestamps as RFC 3339 strings. Read from the REST rendering (see the parent module).

use async_graphql::{Enum, ID, Object, Result};
use serde::Deserialize;

use crate::graphql::types::money::{Money, int32};

/// A cart as REST renders it (`crate::dto::CartView`).
#[derive(Debug, Clone, Deserialize)]
pub struct Cart {
    id: String,
    user_id: String,
    owner: cart_core::Owner,
    currency: String,
    items: Vec<Line>,
    item_count: u64,
    total_quantity: u64,
    total_price: i64,
    version: u64,
    created_at: String,
    updated_at: String,
    expires_at: String,
}

/// A cart line as REST renders it (`crate::dto::ItemView`).
#[derive(Debug, Clone, Deserialize)]
struct Line {
    item_id: String,
    product_id: String,
    variant_id: Option<String>,
    name: String,
    quantity: u64,
    unit_price: i64,
    subtotal: i64,
    added_at: String,
    updated_at: String,
}

impl Cart {
    /// A cart from the JSON REST sends for it.
    pub fn from_json(body: &[u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(body)
    }
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
        ID(self.id.clone())
    }

    /// The cart key as stored: the user id or the guest id (REST `user_id`).
    async fn user_id(&self) -> ID {
        ID(self.user_id.clone())
    }

    /// Whose cart it is.
    async fn owner(&self) -> CartOwner {
        self.owner.into()
    }

    /// ISO 4217 code of every price in the cart.
    async fn currency(&self) -> &str {
        &self.currency
    }

    /// Lines in the order they were first added.
    async fn items(&self) -> Vec<CartItem<'_>> {
        self.items
            .iter()
            .map(|line| CartItem {
                line,
                currency: &self.currency,
            })
            .collect()
    }

    /// Number of lines.
    async fn item_count(&self) -> Result<i32> {
        int32(self.item_count, "itemCount")
    }

    /// Units over all lines.
    async fn total_quantity(&self) -> Result<i32> {
        int32(self.total_quantity, "totalQuantity")
    }

    /// Sum of the line subtotals.
    async fn total_price(&self) -> Money {
        Money::new(self.total_price, &self.currency)
    }

    /// Goes up by one with every change; pass it as `expectedVersion` to make a change
    /// conditional (REST `ETag`).
    async fn version(&self) -> Result<i32> {
        int32(self.version, "version")
    }

    /// RFC 3339.
    async fn created_at(&self) -> &str {
        &self.created_at
    }

    /// RFC 3339.
    async fn updated_at(&self) -> &str {
        &self.updated_at
    }

    /// RFC 3339; every change extends it.
    async fn expires_at(&self) -> &str {
        &self.expires_at
    }
}

/// One line of a cart, with the cart's currency for its money.
pub struct CartItem<'a> {
    line: &'a Line,
    currency: &'a str,
}

/// A cart line: one product (and variant) with its quantity and catalog price.
#[Object]
impl CartItem<'_> {
    /// The line's id, for `updateItemQuantity` and `removeItem`.
    async fn item_id(&self) -> ID {
        ID(self.line.item_id.clone())
    }

    /// Catalog product id.
    async fn product_id(&self) -> ID {
        ID(self.line.product_id.clone())
    }

    /// Variant (size, colour …), if any.
    async fn variant_id(&self) -> Option<ID> {
        self.line.variant_id.clone().map(ID)
    }

    /// Product name from the catalog.
    async fn name(&self) -> &str {
        &self.line.name
    }

    /// Units, 1 to the line maximum.
    async fn quantity(&self) -> Result<i32> {
        int32(self.line.quantity, "quantity")
    }

    /// Catalog unit price.
    async fn unit_price(&self) -> Money {
        Money::new(self.line.unit_price, self.currency)
    }

    /// `quantity × unitPrice`.
    async fn subtotal(&self) -> Money {
        Money::new(self.line.subtotal, self.currency)
    }

    /// RFC 3339.
    async fn added_at(&self) -> &str {
        &self.line.added_at
    }

    /// RFC 3339.
    async fn updated_at(&self) -> &str {
        &self.line.updated_at
    }
}
