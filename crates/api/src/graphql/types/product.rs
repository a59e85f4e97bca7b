//! A catalog product as GraphQL shows it: REST's `Product` in camelCase, its price as `Money`.

use async_graphql::{ID, Object, Result};

use crate::dto::ProductView;
use crate::graphql::types::money::{Money, int32};

/// A catalog product, as REST renders it.
pub struct Product(ProductView);

impl From<&cart_core::Product> for Product {
    fn from(product: &cart_core::Product) -> Self {
        Self(ProductView::from(product))
    }
}

/// A catalog product. Carts take name and price from here, never from the client.
#[Object]
impl Product {
    /// Catalog id, also the connection cursor.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Current unit price.
    async fn unit_price(&self) -> Money {
        Money::new(self.0.unit_price, &self.0.currency)
    }

    /// ISO 4217 code of the price.
    async fn currency(&self) -> &str {
        &self.0.currency
    }

    /// Inactive products cannot be added (`PRODUCT_UNAVAILABLE`).
    async fn active(&self) -> bool {
        self.0.active
    }

    /// Units in stock where the catalog tracks stock; null when it does not.
    async fn stock(&self) -> Result<Option<i32>> {
        self.0.stock.map(|stock| int32(stock, "stock")).transpose()
    }

    /// Which of a region's tax rates applies: `standard` unless the catalog says otherwise.
    async fn tax_class(&self) -> &str {
        &self.0.tax_class
    }
}
