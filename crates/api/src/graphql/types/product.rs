//! A catalog product as GraphQL shows it: REST's `Product` in camelCase, its price as `Money`.

use async_graphql::{Context, ID, Object, Result};

use cart_core::order::StockLevel;

use crate::dto::ProductView;
use crate::graphql::context::state;
use crate::graphql::error::gql_error;
use crate::graphql::types::money::{Money, int32};
use crate::problem::ApiError;

/// A catalog product, as REST renders it.
pub struct Product(ProductView);

impl From<&cart_core::Product> for Product {
    fn from(product: &cart_core::Product) -> Self {
        Self(ProductView::from(product))
    }
}

impl Product {
    /// The product's stock level as checkouts count it (the catalog's figure, nothing
    /// reserved, before its first checkout); `None` when stock is not tracked.
    async fn level(&self, ctx: &Context<'_>) -> Result<Option<StockLevel>> {
        let Some(on_hand) = self.0.stock else {
            return Ok(None);
        };
        let id = cart_core::ProductId::parse(&self.0.id)
            .map_err(|e| gql_error(ApiError::internal(e.to_string())))?;
        let counted = state(ctx)?
            .service
            .stock_of_id(&id)
            .await
            .map_err(|e| gql_error(e.into()))?;
        Ok(Some(counted.unwrap_or(StockLevel {
            on_hand,
            reserved: 0,
        })))
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

    /// Units on hand where the catalog tracks stock (lowered when an order is paid); null
    /// when it does not.
    async fn stock(&self, ctx: &Context<'_>) -> Result<Option<i32>> {
        self.level(ctx)
            .await?
            .map(|level| int32(level.on_hand, "stock"))
            .transpose()
    }

    /// Units held by checkouts waiting for payment (adds and checkouts may take
    /// `stock - reserved`); null when stock is not tracked.
    async fn reserved(&self, ctx: &Context<'_>) -> Result<Option<i32>> {
        self.level(ctx)
            .await?
            .map(|level| int32(level.reserved, "reserved"))
            .transpose()
    }

    /// Which of a region's tax rates applies: `standard` unless the catalog says otherwise.
    async fn tax_class(&self) -> &str {
        &self.0.tax_class
    }
}
