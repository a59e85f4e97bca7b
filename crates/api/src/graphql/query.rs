//! `Query`: carts and the catalog, read with REST's rules and errors.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, InputObject, Object, Result};

use cart_core::{CartError, ProductId};

use crate::graphql::context::{caller, state};
use crate::graphql::error::gql_error;
use crate::graphql::read;
use crate::graphql::types::{Cart, Order, OrderPage, OrderStatus, Product, Totals};
use crate::problem::{ApiError, Code};
use crate::totals_view::TotalsView;

/// The default and largest page sizes of `products`, as REST's.
const DEFAULT_PAGE: i32 = 20;
const MAX_PAGE: i32 = 100;

/// The root of reads.
pub struct Query;

/// A product and quantity to price (`priceLines`).
#[derive(Debug, InputObject)]
pub struct PriceLineInput {
    /// Catalog product id.
    pub product_id: ID,
    /// Units, 1 to the line maximum.
    pub quantity: i32,
}

/// Reads. A refusal is a GraphQL error whose `extensions.code` is REST's code (`CART_NOT_FOUND`,
/// `CART_EXPIRED`, `UNAUTHORIZED`, `FORBIDDEN`, `INVALID_GUEST_ID`, `VALIDATION_ERROR`,
/// `PRODUCT_NOT_FOUND` …) and `extensions.details` REST's details. GraphQL adds
/// `GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED`, `QUERY_TOO_DEEP`, `QUERY_TOO_COMPLEX`,
/// `PAYLOAD_TOO_LARGE` (document size) and `VALUE_OUT_OF_RANGE` (see `Money.amount64`).
#[Object]
impl Query {
    /// A cart. `key` is `me` (the caller's own; a token is required), a guest id (the id is the
    /// capability) or a user id (its owner, or an admin), as in REST's `/v1/cart/{cartKey}`.
    /// No cart is a `CART_NOT_FOUND` error, an expired one `CART_EXPIRED`.
    async fn cart(&self, ctx: &Context<'_>, key: ID) -> Result<Option<Cart>> {
        load(ctx, &key).await.map(Some)
    }

    /// The caller's own cart: `cart(key: "me")`.
    async fn my_cart(&self, ctx: &Context<'_>) -> Result<Option<Cart>> {
        load(ctx, "me").await.map(Some)
    }

    /// An order (REST `GET /v1/orders/{id}`): its buyer's (a token, or the `guestId` it was
    /// placed under) or, with the admin scope, any; anyone else's is `ORDER_NOT_FOUND`.
    async fn order(
        &self,
        ctx: &Context<'_>,
        id: ID,
        guest_id: Option<ID>,
    ) -> Result<Option<Order>> {
        let order_id = crate::routes::orders::order_id(&id).map_err(gql_error)?;
        let actor =
            crate::routes::orders::actor(&caller(ctx), guest_id.as_ref().map(|g| g.as_str()))
                .map_err(gql_error)?;
        let order = state(ctx)?
            .service
            .order(order_id, &actor)
            .await
            .map_err(|e| gql_error(e.into()))?;
        Ok(Some(Order(crate::order_dto::OrderView::new(&order, false))))
    }

    /// The caller's orders, newest first (REST `GET /v1/orders`): a user's (a token), a guest's
    /// (`guestId`), or with the admin scope every order; `status` filters.
    async fn my_orders(
        &self,
        ctx: &Context<'_>,
        status: Option<OrderStatus>,
        cursor: Option<String>,
        #[graphql(default = 20)] limit: i32,
        guest_id: Option<ID>,
    ) -> Result<OrderPage> {
        let actor =
            crate::routes::orders::actor(&caller(ctx), guest_id.as_ref().map(|g| g.as_str()))
                .map_err(gql_error)?;
        let limit = crate::routes::orders::page_size(Some(i64::from(limit))).map_err(gql_error)?;
        let (orders, next_cursor) = state(ctx)?
            .service
            .orders_page(&actor, status.map(Into::into), cursor.as_deref(), limit)
            .await
            .map_err(|e| gql_error(e.into()))?;
        Ok(OrderPage {
            orders: orders
                .iter()
                .map(|order| Order(crate::order_dto::OrderView::new(order, false)))
                .collect(),
            next_cursor,
        })
    }

    /// A catalog product; `PRODUCT_NOT_FOUND` if there is none.
    async fn product(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Product>> {
        let id = product_id(&id, "id")?;
        let product = state(ctx)?
            .service
            .product(&id)
            .await
            .map_err(|e| gql_error(e.into()))?
            .ok_or_else(|| gql_error(CartError::ProductNotFound(id).into()))?;
        Ok(Some(Product::from(&product)))
    }

    /// What products would cost at today's catalog prices, without a cart (REST
    /// `POST /v1/pricing/calculate`): the shape of `Cart.totals`, without `quoteToken`. Unknown
    /// codes do not apply (`PROMOTION_NOT_FOUND`).
    async fn price_lines(
        &self,
        ctx: &Context<'_>,
        currency: String,
        lines: Vec<PriceLineInput>,
        region: Option<String>,
        discount_codes: Option<Vec<String>>,
        explain: Option<bool>,
    ) -> Result<Totals> {
        let state = state(ctx)?;
        let request = crate::routes::cart_pricing::CalculateRequest {
            region,
            currency,
            lines: lines
                .into_iter()
                .map(|line| crate::routes::cart_pricing::CalculateLine {
                    product_id: line.product_id.0,
                    quantity: serde_json::json!(line.quantity),
                })
                .collect(),
            discount_codes: discount_codes.unwrap_or_default(),
        };
        let request =
            crate::routes::cart_pricing::loose_lines(state, request).map_err(gql_error)?;
        let breakdown = crate::totals::of_lines(state, &request, explain.unwrap_or(false))
            .await
            .map_err(gql_error)?;
        Ok(Totals(TotalsView::new(&breakdown, None)))
    }

    /// The catalog ordered by id, as a Relay connection: `first` 1–100 (default 20), `after` an
    /// edge's cursor (the product id).
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Product>> {
        let first = first.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(gql_error(ApiError::new(
                Code::ValidationError,
                format!("first must be from 1 to {MAX_PAGE}"),
            )));
        }
        let limit = usize::try_from(first).unwrap_or(1);
        let after = after
            .as_deref()
            .map(|a| product_id(a, "after"))
            .transpose()?;
        // One extra row tells whether there is a next page.
        let mut products = state(ctx)?
            .service
            .products(after.as_ref(), limit + 1)
            .await
            .map_err(|e| gql_error(e.into()))?;
        let has_next = products.len() > limit;
        products.truncate(limit);
        let mut connection = Connection::new(after.is_some(), has_next);
        connection.edges.extend(
            products
                .iter()
                .map(|p| Edge::new(p.id.as_str().to_owned(), Product::from(p))),
        );
        Ok(connection)
    }
}

/// The cart `raw` names, if the caller may read it.
async fn load(ctx: &Context<'_>, raw: &str) -> Result<Cart> {
    let key = caller(ctx).cart_key(raw).map_err(gql_error)?;
    read::cart(state(ctx)?, &key).await.map_err(gql_error)
}

fn product_id(raw: &str, argument: &str) -> Result<ProductId> {
    ProductId::parse(raw).map_err(|e| {
        gql_error(
            ApiError::new(Code::ValidationError, format!("{argument}: {e}"))
                .with_details(serde_json::json!({"field": argument})),
        )
    })
}
