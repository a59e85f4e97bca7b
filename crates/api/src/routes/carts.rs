//! `/v1/cart/{cartKey}`: read a cart, add, change and remove items, empty it.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use cart_core::{AddItem, CartKey, GuestId, MergeRequest, ProductId, VariantId};
use serde::Deserialize;

use crate::auth::Caller;
use crate::dto::{AddItemRequest, CartView, MergeCartRequest, MergedCartView, UpdateItemRequest};
use crate::extract::{JsonBody, if_match, requested_quantity};
use crate::idempotency::{WriteRequest, Written, run_write};
use crate::problem::{ApiError, Code, Problem};
use crate::routes::{PathParams, QueryParams};
use crate::state::AppState;

/// The `{cartKey}` path parameter, for the OpenAPI document.
#[derive(IntoParams)]
#[into_params(names("cartKey"), parameter_in = Path)]
#[allow(dead_code)]
struct CartPath(
    /// `me`, a user id or a guest id
    String,
);

/// The `{itemID}` path parameter, for the OpenAPI document.
#[derive(IntoParams)]
#[into_params(names("itemID"), parameter_in = Path)]
#[allow(dead_code)]
struct ItemPath(
    /// The line's item_id (a UUID)
    String,
);

/// The headers every cart write takes, for the OpenAPI document.
#[derive(IntoParams)]
#[into_params(names("Idempotency-Key", "If-Match"), parameter_in = Header)]
#[allow(dead_code)]
struct WriteHeaders(
    /// Makes retries safe: 1-255 printable characters
    Option<String>,
    /// Only if the cart is at this version, e.g. "3"
    Option<String>,
);

fn item_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::new(Code::ValidationError, "itemID must be a UUID")
            .with_details(serde_json::json!({"item_id": raw}))
    })
}

fn path_and_query(uri: &Uri) -> &str {
    uri.path_and_query().map_or(uri.path(), |pq| pq.as_str())
}

/// Get a cart.
///
/// `me` is the caller's own cart (a token is required), a guest id is that guest's cart, a user
/// id is that user's cart (its owner or an admin). The `ETag` is the cart's version.
#[utoipa::path(get, path = "/v1/cart/{cartKey}", tag = "cart",
    params(CartPath),
    responses(
        (status = 200, description = "The cart", body = CartView),
        (status = 400, description = "Malformed cart key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token for a user cart", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user's cart", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No cart", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The cart expired", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = [])))]
async fn get_cart(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(cart_key): PathParams<String>,
) -> Result<Response, ApiError> {
    let key = caller.cart_key(&cart_key)?;
    let (version, body) = crate::rendered::read(&state, &key).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::ETAG, format!("\"{version}\"")),
        ],
        body,
    )
        .into_response())
}

/// Add an item.
///
/// The price and name come from the catalog. Adding a product already in the cart (same
/// `product_id` and `variant_id`) adds to its line. `unit_price`, if sent, asserts the price the
/// shopper saw. Creates the cart if there is none.
#[utoipa::path(post, path = "/v1/cart/{cartKey}/items", tag = "cart",
    params(CartPath, WriteHeaders),
    request_body = AddItemRequest,
    responses(
        (status = 201, description = "The cart after the add", body = CartView),
        (status = 400, description = "Invalid input or a limit exceeded", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user's cart", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown product", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Price changed, stock insufficient, or key in flight", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match failed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Product unavailable, currency mismatch or key reused", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = [])))]
async fn add_item(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(cart_key): PathParams<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: JsonBody<AddItemRequest>,
) -> Result<Response, ApiError> {
    let key = caller.cart_key(&cart_key)?;
    let request = &body.value;
    let product_id = ProductId::parse(&request.product_id).map_err(|e| {
        ApiError::new(Code::ValidationError, e.to_string())
            .with_details(serde_json::json!({"field": "product_id"}))
    })?;
    let variant_id = request
        .variant_id
        .as_deref()
        .map(VariantId::parse)
        .transpose()
        .map_err(|e| {
            ApiError::new(Code::ValidationError, e.to_string())
                .with_details(serde_json::json!({"field": "variant_id"}))
        })?;
    let quantity = requested_quantity(&request.quantity)?;
    if request.unit_price.is_some_and(|p| p < 0) {
        return Err(ApiError::new(
            Code::ValidationError,
            "unit_price must be a non-negative integer of minor units",
        ));
    }
    let command = AddItem {
        product_id,
        variant_id,
        quantity,
        asserted_unit_price: request.unit_price,
    };
    let write = write_request(
        &caller,
        &key,
        &headers,
        method,
        &uri,
        &body.raw,
        StatusCode::CREATED,
    )?;
    let service = &state.service;
    let target = key.clone();
    run_write(&state, write, |options| async move {
        service.add_item(&target, command, options).await.map(Some)
    })
    .await
}

fn write_request<'a>(
    caller: &'a Caller,
    key: &'a CartKey,
    headers: &'a HeaderMap,
    method: Method,
    uri: &'a Uri,
    body: &'a [u8],
    success: StatusCode,
) -> Result<WriteRequest<'a>, ApiError> {
    Ok(WriteRequest {
        caller,
        cart: key,
        headers,
        method,
        path: path_and_query(uri),
        body,
        precondition: if_match(headers)?,
        success,
    })
}

/// Change an item's quantity.
///
/// `quantity` is the new quantity (1..=max; remove a line with DELETE). `version`, if sent, makes
/// the change conditional: a mismatch is `409 CONFLICT`. `If-Match` does the same with `412`.
#[utoipa::path(patch, path = "/v1/cart/{cartKey}/items/{itemID}", tag = "cart",
    params(CartPath, ItemPath, WriteHeaders),
    request_body = UpdateItemRequest,
    responses(
        (status = 200, description = "The cart after the change", body = CartView),
        (status = 400, description = "Invalid quantity or limit exceeded", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No cart or no such item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Body version mismatch or stock insufficient", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The cart expired", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match failed", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = [])))]
async fn update_item(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((cart_key, item)): PathParams<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: JsonBody<UpdateItemRequest>,
) -> Result<Response, ApiError> {
    let key = caller.cart_key(&cart_key)?;
    let item = item_id(&item)?;
    let quantity = requested_quantity(&body.value.quantity)?;
    let mut write = write_request(
        &caller,
        &key,
        &headers,
        method,
        &uri,
        &body.raw,
        StatusCode::OK,
    )?;
    if let Some(version) = body.value.version {
        if write.precondition.is_some() {
            return Err(ApiError::new(
                Code::ValidationError,
                "send either If-Match or a body version, not both",
            ));
        }
        write.precondition = Some(cart_core::Precondition::BodyVersion(version));
    }
    let service = &state.service;
    let target = key.clone();
    run_write(&state, write, |options| async move {
        service
            .set_quantity(&target, item, quantity, options)
            .await
            .map(Some)
    })
    .await
}

/// Remove an item.
#[utoipa::path(delete, path = "/v1/cart/{cartKey}/items/{itemID}", tag = "cart",
    params(CartPath, ItemPath, WriteHeaders),
    responses(
        (status = 200, description = "The cart after the removal", body = CartView),
        (status = 404, description = "No cart or no such item", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The cart expired", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match failed", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = [])))]
async fn remove_item(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((cart_key, item)): PathParams<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = caller.cart_key(&cart_key)?;
    let item = item_id(&item)?;
    let write = write_request(&caller, &key, &headers, method, &uri, &[], StatusCode::OK)?;
    let service = &state.service;
    let target = key.clone();
    run_write(&state, write, |options| async move {
        service.remove_item(&target, item, options).await.map(Some)
    })
    .await
}

/// Empty a cart.
///
/// Removes every line; the cart keeps its id and its version goes up. Also `204` when there was
/// no cart.
#[utoipa::path(delete, path = "/v1/cart/{cartKey}", tag = "cart",
    params(CartPath, WriteHeaders),
    responses(
        (status = 204, description = "The cart is empty"),
        (status = 412, description = "If-Match failed", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = [])))]
async fn clear_cart(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(cart_key): PathParams<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = caller.cart_key(&cart_key)?;
    let write = write_request(
        &caller,
        &key,
        &headers,
        method,
        &uri,
        &[],
        StatusCode::NO_CONTENT,
    )?;
    let service = &state.service;
    let target = key.clone();
    run_write(&state, write, |options| async move {
        service.clear(&target, options).await
    })
    .await
}

/// The `?dry_run=` query of a merge.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MergeQuery {
    /// `true`: return the would-be cart and report, change nothing.
    dry_run: Option<bool>,
}

/// Merge a guest cart into a user cart (at sign-in).
///
/// `strategy` is `max` (default: the larger quantity wins), `sum` (quantities add, capped at the
/// line maximum), `replace` (the guest cart replaces the user's) or `keep` (the user cart stays).
/// The guest cart is deleted in the same atomic commit, so a retried sign-in never counts twice:
/// merging again, or merging a guest id without a cart, returns the user cart unchanged. The
/// `merge` report lists every line added, combined, capped or dropped, and why.
#[utoipa::path(post, path = "/v1/cart/{cartKey}/merge", tag = "cart",
    params(CartPath, MergeQuery, WriteHeaders),
    request_body = MergeCartRequest,
    responses(
        (status = 200, description = "The user cart after the merge, with the report", body = MergedCartView),
        (status = 400, description = "guest_id is not a guest id, or the body is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user's cart, or a guest cart as the target", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Neither cart exists", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match failed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The carts are in different currencies, or key reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
#[allow(clippy::too_many_arguments)]
async fn merge_carts(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(cart_key): PathParams<String>,
    QueryParams(query): QueryParams<MergeQuery>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: JsonBody<MergeCartRequest>,
) -> Result<Response, ApiError> {
    let key = caller.cart_key(&cart_key)?;
    let CartKey::User(user) = &key else {
        // Only a signed-in user's cart can take in a guest cart.
        return Err(match caller {
            Caller::Anonymous => ApiError::new(
                Code::Unauthorized,
                "merging needs a bearer token: it targets a user cart",
            ),
            Caller::User { .. } => ApiError::new(
                Code::Forbidden,
                "only a user cart can take in a guest cart; use `me` or a user id",
            ),
        });
    };
    let guest = GuestId::parse(&body.value.guest_id).map_err(|e| {
        ApiError::new(Code::InvalidGuestId, format!("guest_id: {e}"))
            .with_details(serde_json::json!({"guest_id": body.value.guest_id}))
    })?;
    let request = MergeRequest {
        guest,
        strategy: body.value.strategy.unwrap_or_default(),
        dry_run: query.dry_run.unwrap_or(false),
    };
    let write = write_request(
        &caller,
        &key,
        &headers,
        method,
        &uri,
        &body.raw,
        StatusCode::OK,
    )?;
    let service = &state.service;
    let dry_run = request.dry_run;
    run_write(&state, write, |options| async move {
        let merged = service.merge(user, &request, options).await?;
        Ok(Written {
            dry_run,
            ..merged.into()
        })
    })
    .await
}

/// The cart routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_cart, clear_cart))
        .routes(routes!(add_item))
        .routes(routes!(update_item, remove_item))
        .routes(routes!(merge_carts))
}
