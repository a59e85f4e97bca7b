//! `/v1/cart/{cartKey}`: read a cart, add, change and remove items, empty it.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa_axum::{router::OpenApiRouter, routes};

use cart_core::{CartKey, Command, Precondition};
use serde::Deserialize;

use crate::auth::Caller;
use crate::commands::{self, REST};
use crate::dto::{
    AddItemRequest, CartPatchRequest, CartReadView, CartView, MergeCartRequest, MergedCartView,
    UpdateItemRequest,
};
use crate::extract::{JsonBody, if_match};
use crate::flags::Subject;
use crate::formats;
use crate::problem::{ApiError, Code, InternalError, Problem, RateLimited, Unavailable};
use crate::routes::{JSON_BODY, PathParams, QueryParams};
use crate::state::AppState;
use crate::writes::RestWrite;

/// The `{cartKey}` path parameter, for the OpenAPI document.
pub(crate) struct CartPath;

impl IntoParams for CartPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![formats::parameter(
            "cartKey",
            ParameterIn::Path,
            "`me`, a guest id or a user id",
            formats::cart_key(),
        )]
    }
}

/// The `{itemID}` path parameter, for the OpenAPI document.
struct ItemPath;

impl IntoParams for ItemPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![formats::parameter(
            "itemID",
            ParameterIn::Path,
            "The line's item_id (a UUID)",
            formats::item_id(),
        )]
    }
}

/// The headers every cart write takes, for the OpenAPI document.
pub(crate) struct WriteHeaders;

impl IntoParams for WriteHeaders {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            formats::parameter(
                "Idempotency-Key",
                ParameterIn::Header,
                "Makes retries safe: 1-255 printable ASCII characters",
                formats::idempotency_key(),
            ),
            formats::parameter(
                "If-Match",
                ParameterIn::Header,
                "Only if the cart is at this version, e.g. \"3\" (the ETag); `*`: only if there is a cart",
                formats::if_match(),
            ),
        ]
    }
}

/// Get a cart.
///
/// `me` is the caller's own cart (a token is required), a guest id is that guest's cart, a user
/// id is that user's cart (its owner or an admin). The `ETag` is the cart's version.
///
/// `warnings` compares each line with the catalog now: `PRICE_CHANGED` (the line keeps the
/// price it was added at until `POST …/reprice`) and `PRODUCT_UNAVAILABLE`. They are not part of
/// the cart's versioned state (a catalog change does not change the version), and answers to
/// writes do not carry them.
#[utoipa::path(get, path = "/v1/cart/{cartKey}", tag = "cart",
    params(CartPath),
    responses(
        (status = 200, description = "The cart, with what the shopper should know about its prices now", body = CartReadView),
        (status = 400, description = "Malformed cart key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token for a user cart, or a token that is present but invalid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user's cart", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No cart", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The cart expired", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security((), ("bearer" = [])))]
async fn get_cart(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(cart_key): PathParams<String>,
) -> Result<Response, ApiError> {
    let key = caller.cart_key(&cart_key)?;
    let read = crate::rendered::read(&state, &key).await?;
    let warnings = crate::fresh::warnings(&state, &key, &read.stamp, read.loaded).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::ETAG, format!("\"{}\"", read.stamp.version)),
        ],
        crate::fresh::with_warnings(&read.body, &warnings),
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
    request_body(content = AddItemRequest, description = JSON_BODY, content_type = "application/json"),
    responses(
        (status = 201, description = "The cart after the add", body = CartView),
        (status = 400, description = "Invalid input, a limit exceeded, a malformed cart key, If-Match or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token for a user cart, or a token that is present but invalid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user's cart", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown product", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Price changed, stock insufficient, or key in flight", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match failed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json in UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Product unavailable, currency mismatch or key reused", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
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
    let command = commands::add_item(
        &REST,
        &request.product_id,
        request.variant_id.as_deref(),
        &request.quantity,
        request.unit_price,
    )?;
    let write = RestWrite {
        caller: &caller,
        cart: &key,
        headers: &headers,
        method: &method,
        uri: &uri,
        body: &body.raw,
    };
    write
        .execute(
            &state.service,
            Command::AddItem(command),
            if_match(&headers)?,
            StatusCode::CREATED,
        )
        .await
}

/// Change an item's quantity.
///
/// `quantity` is the new quantity (1..=max; remove a line with DELETE). `version`, if sent, makes
/// the change conditional: a mismatch is `409 CONFLICT`. `If-Match` does the same with `412`.
/// Both may be sent: `If-Match` is checked first (`412`), then `version` (`409`).
#[utoipa::path(patch, path = "/v1/cart/{cartKey}/items/{itemID}", tag = "cart",
    params(CartPath, ItemPath, WriteHeaders),
    request_body(content = UpdateItemRequest, description = JSON_BODY, content_type = "application/json"),
    responses(
        (status = 200, description = "The cart after the change", body = CartView),
        (status = 400, description = "Invalid quantity, limit exceeded, or a malformed cart key, item id, If-Match or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token for a user cart, or a token that is present but invalid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user's cart", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No cart or no such item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Body version mismatch, stock insufficient, or key in flight", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The cart expired", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match failed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json in UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Idempotency key reused for another command", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
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
    let command = commands::set_quantity(&REST, &item, &body.value.quantity)?;
    let precondition = both_preconditions(if_match(&headers)?, body.value.version);
    let write = RestWrite {
        caller: &caller,
        cart: &key,
        headers: &headers,
        method: &method,
        uri: &uri,
        body: &body.raw,
    };
    write
        .execute(
            &state.service,
            Command::SetQuantity(command),
            precondition,
            StatusCode::OK,
        )
        .await
}

/// `If-Match` and a body `version` together: both must hold. Equal versions are one `If-Match`;
/// `*` (or no header) leaves the body's version as the only condition.
fn both_preconditions(
    header: Option<Precondition>,
    body_version: Option<u64>,
) -> Option<Precondition> {
    match (header, body_version) {
        (header, None) => header,
        (Some(Precondition::IfMatch(if_match)), Some(body)) if if_match != body => {
            Some(Precondition::IfMatchAndBody { if_match, body })
        }
        (Some(Precondition::IfMatch(version)), Some(_)) => Some(Precondition::IfMatch(version)),
        (_, Some(body)) => Some(Precondition::BodyVersion(body)),
    }
}

/// Remove an item.
#[utoipa::path(delete, path = "/v1/cart/{cartKey}/items/{itemID}", tag = "cart",
    params(CartPath, ItemPath, WriteHeaders),
    responses(
        (status = 200, description = "The cart after the removal", body = CartView),
        (status = 400, description = "A malformed cart key, item id, If-Match or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token for a user cart, or a token that is present but invalid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user's cart", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No cart or no such item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Key in flight", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The cart expired", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match failed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Idempotency key reused for another command", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
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
    let command = commands::remove_item(&REST, &item)?;
    let write = RestWrite {
        caller: &caller,
        cart: &key,
        headers: &headers,
        method: &method,
        uri: &uri,
        body: &[],
    };
    write
        .execute(
            &state.service,
            Command::RemoveItem(command),
            if_match(&headers)?,
            StatusCode::OK,
        )
        .await
}

/// Empty a cart.
///
/// Removes every line; the cart keeps its id and its version goes up. Also `204` when there was
/// no cart.
#[utoipa::path(delete, path = "/v1/cart/{cartKey}", tag = "cart",
    params(CartPath, WriteHeaders),
    responses(
        (status = 204, description = "The cart is empty (no body, no Content-Type)"),
        (status = 400, description = "A malformed cart key, If-Match or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token for a user cart, or a token that is present but invalid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user's cart", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Key in flight", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match failed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Idempotency key reused for another command", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
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
    let write = RestWrite {
        caller: &caller,
        cart: &key,
        headers: &headers,
        method: &method,
        uri: &uri,
        body: &[],
    };
    write
        .execute(
            &state.service,
            Command::Clear,
            if_match(&headers)?,
            StatusCode::NO_CONTENT,
        )
        .await
}

/// Change the cart as a whole: where it ships to.
///
/// `region` picks the tax rates and shipping rate of `/totals`. Setting the region the cart
/// already has changes nothing (same version, no event).
#[utoipa::path(patch, path = "/v1/cart/{cartKey}", tag = "cart",
    params(CartPath, WriteHeaders),
    request_body(content = CartPatchRequest, description = JSON_BODY, content_type = "application/json"),
    responses(
        (status = 200, description = "The cart after the change", body = CartView),
        (status = 400, description = "A malformed region, cart key, If-Match or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token for a user cart, or a token that is present but invalid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user's cart", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No cart", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Key in flight", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The cart expired", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match failed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json in UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Idempotency key reused for another command", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security((), ("bearer" = [])))]
async fn patch_cart(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(cart_key): PathParams<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: JsonBody<CartPatchRequest>,
) -> Result<Response, ApiError> {
    let key = caller.cart_key(&cart_key)?;
    let region = commands::region("region", &body.value.region)?;
    let write = RestWrite {
        caller: &caller,
        cart: &key,
        headers: &headers,
        method: &method,
        uri: &uri,
        body: &body.raw,
    };
    write
        .execute(
            &state.service,
            Command::SetRegion(region),
            if_match(&headers)?,
            StatusCode::OK,
        )
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
/// The guest cart ends in the same atomic commit (it answers `404` from then on, and the guest
/// key's next cart continues its versions), so a retried sign-in never counts twice: merging
/// again, or merging a guest id without a cart, returns the user cart unchanged. The
/// `merge` report lists every line added, combined, capped or dropped, and why.
#[utoipa::path(post, path = "/v1/cart/{cartKey}/merge", tag = "cart",
    params(CartPath, MergeQuery, WriteHeaders),
    request_body(content = MergeCartRequest, description = JSON_BODY, content_type = "application/json"),
    responses(
        (status = 200, description = "The user cart after the merge, with the report", body = MergedCartView),
        (status = 400, description = "guest_id is not a guest id, the body is invalid, or a malformed cart key, dry_run, If-Match or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user's cart, a guest cart as the target, or a strategy switched off for this shopper (`FEATURE_DISABLED`, flag `merge-strategies`, with `allowed_strategies`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Neither cart exists", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Key in flight", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match failed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json in UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The carts are in different currencies, or key reused", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
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
    let CartKey::User(_) = &key else {
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
    let request = commands::merge(
        &REST,
        &body.value.guest_id,
        body.value.strategy,
        query.dry_run.unwrap_or(false),
    )?;
    state
        .flags
        .require_merge_strategy(request.strategy, &Subject::owner(&key))?;
    let write = RestWrite {
        caller: &caller,
        cart: &key,
        headers: &headers,
        method: &method,
        uri: &uri,
        body: &body.raw,
    };
    write
        .execute(
            &state.service,
            Command::Merge(request),
            if_match(&headers)?,
            StatusCode::OK,
        )
        .await
}

/// The cart routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_cart, clear_cart, patch_cart))
        .routes(routes!(add_item))
        .routes(routes!(update_item, remove_item))
        .routes(routes!(merge_carts))
}
