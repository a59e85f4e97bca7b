//! What a cart costs: its discount codes, repricing, its totals; and totals without a cart
//! (`POST /v1/pricing/calculate`). The region is set with `PATCH /v1/cart/{cartKey}`
//! ([`super::carts`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use cart_core::{CartError, Command, Currency, MAX_DISCOUNT_CODES, ProductId};

use crate::auth::Caller;
use crate::commands;
use crate::dto::{CartView, DiscountCodeRequest};
use crate::extract::{JsonBody, if_match, requested_quantity};
use crate::flags::{Feature, Subject};
use crate::formats;
use crate::problem::{ApiError, Code, InternalError, Problem, RateLimited, Unavailable};
use crate::routes::carts::{CartPath, WriteHeaders};
use crate::routes::{JSON_BODY, PathParams, QueryParams};
use crate::state::AppState;
use crate::totals::{self, LooseLines};
use crate::totals_view::TotalsView;
use crate::writes::RestWrite;

/// The `{code}` path parameter, for the OpenAPI document.
struct CodePath;

impl IntoParams for CodePath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![formats::parameter(
            "code",
            ParameterIn::Path,
            "A discount code on the cart, in any case",
            formats::discount_code(),
        )]
    }
}

/// The `?explain=` query of totals.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ExplainQuery {
    /// `true`: also answer `steps`, every step from list price to total.
    explain: Option<bool>,
}

/// Put a discount code on a cart.
///
/// The code must name a promotion (`404 PROMOTION_NOT_FOUND` otherwise, and nothing changes).
/// A code that does not apply now stays on the cart; `/totals` says why (`applied: false` and a
/// `reason`). Adding a code the cart holds changes nothing.
#[utoipa::path(post, path = "/v1/cart/{cartKey}/discount-codes", tag = "cart",
    params(CartPath, WriteHeaders),
    request_body(content = DiscountCodeRequest, description = JSON_BODY, content_type = "application/json"),
    responses(
        (status = 200, description = "The cart with the code", body = CartView),
        (status = 400, description = "A malformed code, cart key, If-Match or Idempotency-Key, or the cart holds its most codes (`DISCOUNT_CODE_LIMIT_EXCEEDED`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token for a user cart, or a token that is present but invalid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user's cart, or discount codes are switched off for this shopper (`FEATURE_DISABLED`, flag `discount-codes`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No cart, or no promotion has the code (`PROMOTION_NOT_FOUND`)", body = Problem, content_type = "application/problem+json"),
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
async fn add_discount_code(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(cart_key): PathParams<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: JsonBody<DiscountCodeRequest>,
) -> Result<Response, ApiError> {
    let key = caller.cart_key(&cart_key)?;
    state
        .flags
        .require(Feature::DiscountCodes, &Subject::owner(&key))?;
    let code = commands::discount_code("code", &body.value.code)?;
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
            Command::AddDiscountCode(code),
            if_match(&headers)?,
            StatusCode::OK,
        )
        .await
}

/// Take a discount code off a cart.
#[utoipa::path(delete, path = "/v1/cart/{cartKey}/discount-codes/{code}", tag = "cart",
    params(CartPath, CodePath, WriteHeaders),
    responses(
        (status = 200, description = "The cart without the code", body = CartView),
        (status = 400, description = "A malformed code, cart key, If-Match or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token for a user cart, or a token that is present but invalid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user's cart", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No cart, or the cart does not hold the code (`DISCOUNT_CODE_NOT_FOUND`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Key in flight", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The cart expired", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match failed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Idempotency key reused for another command", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security((), ("bearer" = [])))]
async fn remove_discount_code(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((cart_key, code)): PathParams<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = caller.cart_key(&cart_key)?;
    let code = commands::discount_code("code", &code)?;
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
            Command::RemoveDiscountCode(code),
            if_match(&headers)?,
            StatusCode::OK,
        )
        .await
}

/// Give every line the catalog's current price.
///
/// Lines keep the price they were added at; reads of `/totals` warn (`PRICE_CHANGED`) when the
/// catalog's differs. This takes the catalog's prices, as one change (event `cart.repriced`).
/// Lines whose product is no longer sold keep theirs. Nothing to reprice changes nothing.
#[utoipa::path(post, path = "/v1/cart/{cartKey}/reprice", tag = "cart",
    params(CartPath, WriteHeaders),
    responses(
        (status = 200, description = "The cart at the catalog's prices", body = CartView),
        (status = 400, description = "A malformed cart key, If-Match or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token for a user cart, or a token that is present but invalid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user's cart", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No cart", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Key in flight", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The cart expired", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match failed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Idempotency key reused for another command", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security((), ("bearer" = [])))]
async fn reprice(
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
            Command::Reprice,
            if_match(&headers)?,
            StatusCode::OK,
        )
        .await
}

/// A cart's totals.
///
/// Subtotal, discounts, shipping and tax for the cart's region, line by line, with what each
/// code did and why, warnings (no region, a missing rate, a price that changed, a product no
/// longer sold) and the `quote_token` checkout will hold the shopper to. `?explain=true` adds
/// every step of the arithmetic.
#[utoipa::path(get, path = "/v1/cart/{cartKey}/totals", tag = "cart",
    params(CartPath, ExplainQuery),
    responses(
        (status = 200, description = "The totals", body = TotalsView),
        (status = 400, description = "A malformed cart key or explain", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token for a user cart, or a token that is present but invalid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user's cart", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No cart", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The cart expired", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security((), ("bearer" = [])))]
async fn cart_totals(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(cart_key): PathParams<String>,
    QueryParams(query): QueryParams<ExplainQuery>,
) -> Result<Response, ApiError> {
    let key = caller.cart_key(&cart_key)?;
    let explain = query.explain.unwrap_or(false);
    if explain {
        let cart = state.service.get(&key).await?;
        let totals = totals::of_cart(&state, &cart, true).await?;
        let view = TotalsView::new(&totals.breakdown, Some(totals.quote_token));
        return Ok(Json(view).into_response());
    }
    let stamp = state.service.stamp(&key).await?;
    let now = state.service.now();
    if let Some(body) = state.priced.get(&key, &stamp, now) {
        return Ok(json_body(body));
    }
    let inputs = state.priced.inputs(now);
    let cart = state.service.get(&key).await?;
    let totals = totals::of_cart(&state, &cart, false).await?;
    let view = TotalsView::new(&totals.breakdown, Some(totals.quote_token));
    let body =
        Bytes::from(serde_json::to_vec(&view).map_err(|e| ApiError::internal(e.to_string()))?);
    state.priced.put(
        &key,
        &cart.stamp(),
        inputs,
        totals.next_change,
        body.clone(),
    );
    Ok(json_body(body))
}

fn json_body(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `POST /v1/pricing/calculate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalculateRequest {
    /// Where it would ship to; omit or null for totals without tax and shipping.
    #[serde(default)]
    #[schema(schema_with = formats::nullable_region)]
    pub region: Option<String>,
    /// The currency every product must be priced in.
    #[schema(schema_with = formats::currency)]
    pub currency: String,
    /// Products and quantities, at most the cart line limit.
    #[schema(max_items = 100)]
    pub lines: Vec<CalculateLine>,
    /// Codes, in the order they would be added; unknown codes do not apply
    /// (`PROMOTION_NOT_FOUND`).
    #[serde(default)]
    #[schema(schema_with = formats::discount_codes_sent)]
    pub discount_codes: Vec<String>,
}

/// One line of a [`CalculateRequest`].
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalculateLine {
    /// Catalog product id.
    #[schema(schema_with = formats::product_id)]
    pub product_id: String,
    /// Units, 1 to the line maximum.
    #[schema(value_type = i64, minimum = 1, maximum = 99)]
    pub quantity: serde_json::Value,
}

/// Totals without a cart.
///
/// What these products would cost at today's catalog prices, for a product page or an
/// estimate: the totals shape of `/v1/cart/{cartKey}/totals`, without `quote_token`.
#[utoipa::path(post, path = "/v1/pricing/calculate", tag = "pricing",
    params(ExplainQuery),
    request_body(content = CalculateRequest, description = JSON_BODY, content_type = "application/json"),
    responses(
        (status = 200, description = "The totals", body = TotalsView),
        (status = 400, description = "A malformed region, currency, product id, quantity or code, or a limit exceeded", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "A product not in the catalog", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json in UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A product not for sale, or priced in another currency", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ))]
async fn calculate(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ExplainQuery>,
    body: JsonBody<CalculateRequest>,
) -> Result<Json<TotalsView>, ApiError> {
    let request = loose_lines(&state, body.value)?;
    let breakdown = totals::of_lines(&state, &request, query.explain.unwrap_or(false)).await?;
    Ok(Json(TotalsView::new(&breakdown, None)))
}

/// The request checked: every field parsed, the cart's limits held (also GraphQL's
/// `priceLines`, so both refuse alike).
pub fn loose_lines(state: &AppState, request: CalculateRequest) -> Result<LooseLines, ApiError> {
    let field = |name: &'static str, reason: String| {
        ApiError::new(Code::ValidationError, format!("{name}: {reason}"))
            .with_details(serde_json::json!({"field": name}))
    };
    let region = request
        .region
        .as_deref()
        .map(|raw| commands::region("region", raw))
        .transpose()?;
    let currency =
        Currency::parse(&request.currency).map_err(|e| field("currency", e.to_string()))?;
    let limits = state.service.limits();
    if request.lines.len() > limits.max_items() as usize {
        return Err(CartError::CartLimitExceeded {
            current_count: request.lines.len(),
            max_allowed: limits.max_items(),
        }
        .into());
    }
    let mut lines = Vec::with_capacity(request.lines.len());
    for line in &request.lines {
        let id =
            ProductId::parse(&line.product_id).map_err(|e| field("product_id", e.to_string()))?;
        let quantity = requested_quantity(&line.quantity)?.get();
        let quantity = limits
            .line_quantity(quantity)
            .ok_or(CartError::QuantityLimitExceeded {
                requested_quantity: quantity,
                max_allowed: limits.max_quantity(),
            })?;
        lines.push((id, quantity.get()));
    }
    if request.discount_codes.len() > MAX_DISCOUNT_CODES {
        return Err(CartError::TooManyDiscountCodes {
            max_allowed: MAX_DISCOUNT_CODES,
        }
        .into());
    }
    let mut codes = Vec::with_capacity(request.discount_codes.len());
    for raw in &request.discount_codes {
        let code = commands::discount_code("discount_codes", raw)?;
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    Ok(LooseLines {
        region,
        currency,
        lines,
        codes,
    })
}

/// The cart pricing routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_discount_code))
        .routes(routes!(remove_discount_code))
        .routes(routes!(reprice))
        .routes(routes!(cart_totals))
        .routes(routes!(calculate))
}
