//! `/v1/products`: the catalog, readable by anyone, writable by admins.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa_axum::{router::OpenApiRouter, routes};

use cart_core::{ProductId, ProductInput};

use crate::auth::Caller;
use crate::dto::{ProductPage, ProductView, PutProductRequest};
use crate::extract::JsonBody;
use crate::formats;
use crate::problem::{ApiError, Code, InternalError, Problem, RateLimited, Unavailable};
use crate::routes::JSON_BODY;
use crate::routes::{PathParams, QueryParams};
use crate::state::AppState;

/// The default and largest page sizes.
const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;

/// Paging through the catalog.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// Products per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<usize>,
    /// `next_cursor` from the previous page (a product id).
    #[param(pattern = "^[A-Za-z0-9._:-]{1,64}$", min_length = 1, max_length = 64)]
    cursor: Option<String>,
}

/// The `{id}` path parameter, for the OpenAPI document.
struct ProductPath;

impl IntoParams for ProductPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![formats::parameter(
            "id",
            ParameterIn::Path,
            "Product id",
            formats::product_id(),
        )]
    }
}

fn product_id(raw: &str) -> Result<ProductId, ApiError> {
    ProductId::parse(raw).map_err(|e| ApiError::new(Code::ValidationError, e.to_string()))
}

/// List products.
///
/// Ordered by id; follow `next_cursor` for more.
#[utoipa::path(get, path = "/v1/products", tag = "products",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of products", body = ProductPage),
        (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The catalog is a remote service (`CATALOG_REMOTE`): list products there", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ))]
async fn list_products(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<ProductPage>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::new(
            Code::ValidationError,
            format!("limit must be from 1 to {MAX_PAGE}"),
        ));
    }
    let after = query.cursor.as_deref().map(product_id).transpose()?;
    // One extra row tells whether there is a next page.
    let mut products = state.service.products(after.as_ref(), limit + 1).await?;
    let next_cursor = if products.len() > limit {
        products.truncate(limit);
        products.last().map(|p| p.id.as_str().to_owned())
    } else {
        None
    };
    let mut items = Vec::with_capacity(products.len());
    for product in &products {
        let level = state.service.stock_of(product).await?;
        items.push(ProductView::from(product).with_level(level));
    }
    Ok(Json(ProductPage { items, next_cursor }))
}

/// Get a product.
#[utoipa::path(get, path = "/v1/products/{id}", tag = "products",
    params(ProductPath),
    responses(
        (status = 200, description = "The product", body = ProductView),
        (status = 400, description = "Not a product id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ))]
async fn get_product(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<ProductView>, ApiError> {
    let id = product_id(&id)?;
    let product = state
        .service
        .product(&id)
        .await?
        .ok_or(cart_core::CartError::ProductNotFound(id))?;
    let level = state.service.stock_of(&product).await?;
    Ok(Json(ProductView::from(&product).with_level(level)))
}

/// Create or replace a product (admin).
#[utoipa::path(put, path = "/v1/products/{id}", tag = "products",
    params(ProductPath),
    request_body(content = PutProductRequest, description = JSON_BODY, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = ProductView),
        (status = 201, description = "Created", body = ProductView),
        (status = 400, description = "Invalid product or product id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The catalog is a remote service (`CATALOG_REMOTE`): change products there", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json in UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security(("bearer" = [])))]
async fn put_product(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    body: JsonBody<PutProductRequest>,
) -> Result<(StatusCode, Json<ProductView>), ApiError> {
    caller.require_admin()?;
    let request = body.value;
    let product = ProductInput {
        id,
        name: request.name,
        unit_price: request.unit_price,
        currency: request.currency,
        active: request.active.unwrap_or(true),
        stock: request.stock,
        tax_class: request.tax_class,
    }
    .parse()
    .map_err(|e| {
        ApiError::new(Code::ValidationError, e.to_string())
            .with_details(serde_json::json!({"field": e.field}))
    })?;
    let (id, on_hand) = (product.id.clone(), product.stock);
    let mut view = ProductView::from(&product);
    let created = state.service.put_product(product).await?;
    if let Some(on_hand) = on_hand {
        // The stock level checkouts count keeps its reservations and takes the new figure.
        state.service.set_on_hand(&id, on_hand).await?;
        view = view.with_level(state.service.stock_of_id(&id).await?);
    }
    // A price, a tax class or availability may have changed: totals are priced again.
    state.priced.forget_all();
    state.fresh.forget_all();
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

/// The catalog routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products))
        .routes(routes!(get_product, put_product))
}
