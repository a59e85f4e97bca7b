//! Checkout, orders and payments: `POST /v1/cart/{cartKey}/checkout`, the buyer's and the
//! admin's order routes, the payment provider's webhook and the dead letters of fulfilment.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use cart_core::order::{Action, OrderStatus};
use cart_core::use_cases::Actor;
use cart_core::{CartError, CartKey, GuestId};

use crate::auth::Caller;
use crate::extract::{JsonBody, if_match};
use crate::flags::{Feature, Subject};
use crate::formats;
use crate::order_dto::{
    CancelRequest, CheckoutRequest, CheckoutView, OrderPage, OrderPatch, OrderView, reason,
};
use crate::payments::{self, ProviderEvent};
use crate::problem::{ApiError, Code, InternalError, Problem, RateLimited, Unavailable};
use crate::routes::carts::CartPath;
use crate::routes::{JSON_BODY, PathParams, QueryParams};
use crate::state::AppState;
use crate::totals::{self, CheckoutQuoter};
use crate::totals_view::TotalsView;
use crate::writes::{REPLAYED, RestWrite};

/// The most orders one page holds.
const MAX_PAGE: usize = 100;

/// The `{id}` path parameter of an order.
struct OrderPath;

impl IntoParams for OrderPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![formats::parameter(
            "id",
            ParameterIn::Path,
            "The order's id (a UUID)",
            formats::item_id(),
        )]
    }
}

/// Checkout's headers: `Idempotency-Key` is required, `If-Match` optional.
struct CheckoutHeaders;

impl IntoParams for CheckoutHeaders {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut key = formats::parameter(
            "Idempotency-Key",
            ParameterIn::Header,
            "Required: a retry under the same key answers the same order, never a second one",
            formats::idempotency_key(),
        );
        key.required = utoipa::openapi::Required::True;
        vec![
            key,
            formats::parameter(
                "If-Match",
                ParameterIn::Header,
                "Only if the cart is at this version, e.g. \"3\" (the ETag); `*`: only if there is a cart",
                formats::if_match(),
            ),
        ]
    }
}

/// An order id from a path, or `400 VALIDATION_ERROR`.
pub(crate) fn order_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| {
        ApiError::new(Code::ValidationError, "the order id must be a UUID")
            .with_details(serde_json::json!({"field": "id"}))
    })
}

/// Who asks, for the order routes: an admin sees every order; a user their own; a guest (no
/// token) those placed under the guest id it shows in `guest_id`, the capability its cart path
/// holds too.
pub(crate) fn actor(caller: &Caller, guest_id: Option<&str>) -> Result<Actor, ApiError> {
    // A guest id is checked whoever sends it: a malformed one is never silently ignored.
    let guest = guest_id
        .map(|raw| {
            GuestId::parse(raw).map_err(|e| ApiError::new(Code::InvalidGuestId, e.to_string()))
        })
        .transpose()?;
    match caller {
        Caller::User { admin: true, .. } => Ok(Actor::Admin),
        Caller::User { id, .. } => Ok(Actor::Buyer(CartKey::User(id.clone()))),
        Caller::Anonymous => match guest {
            Some(guest) => Ok(Actor::Buyer(CartKey::Guest(guest))),
            None => Err(ApiError::new(
                Code::Unauthorized,
                "a token, or the guest_id the orders were placed under, is required",
            )),
        },
    }
}

/// Check out a cart.
///
/// Turns the cart, at the totals whose `quote_token` the shopper agreed to, into an order
/// waiting for payment, in one commit: the order (with a number such as `CD-000123`), the stock
/// it reserves for tracked products, one more use of each discount code that applied, and the
/// cart locked until the order is paid, fails, expires or is cancelled (writes to it answer
/// `409 CART_LOCKED`). An `Idempotency-Key` is required; a retry under it answers the same order.
///
/// The cart's region must be set, and the shipping address must be in its country. Totals that
/// moved since the quote (a price, a promotion, a rate, the cart itself) answer
/// `409 QUOTE_CHANGED` with the new totals, and nothing changes.
#[utoipa::path(post, path = "/v1/cart/{cartKey}/checkout", tag = "orders",
    params(CartPath, CheckoutHeaders),
    request_body(content = CheckoutRequest, description = JSON_BODY, content_type = "application/json"),
    responses(
        (status = 201, description = "The order, waiting for payment, and the payment to make", body = CheckoutView),
        (status = 400, description = "A malformed body, cart key, If-Match or Idempotency-Key, or none (`IDEMPOTENCY_KEY_REQUIRED`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token for a user cart, or a token that is present but invalid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user's cart, or checkout is switched off for this shopper (`FEATURE_DISABLED`, flag `checkout`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No cart", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Totals changed (`QUOTE_CHANGED`, with the new totals), not enough stock (`OUT_OF_STOCK`), a product gone (`PRODUCT_UNAVAILABLE`), the cart locked by another checkout (`CART_LOCKED`), or the key in flight", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The cart expired", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match failed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json in UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An empty cart (`CART_EMPTY`), no region (`REGION_REQUIRED`), a shipping address outside it (`REGION_MISMATCH`), or the key reused for another command", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security((), ("bearer" = [])))]
async fn checkout(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(cart_key): PathParams<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: JsonBody<CheckoutRequest>,
) -> Result<Response, ApiError> {
    let key = caller.cart_key(&cart_key)?;
    state
        .flags
        .require(Feature::Checkout, &Subject::owner(&key))?;
    if !headers.contains_key("idempotency-key") {
        return Err(ApiError::new(
            Code::IdempotencyKeyRequired,
            "checkout needs an Idempotency-Key: a retry must never place a second order",
        ));
    }
    let details = body.value.details()?;
    let write = RestWrite {
        caller: &caller,
        cart: &key,
        headers: &headers,
        method: &method,
        uri: &uri,
        body: &body.raw,
    };
    let options = write.options(if_match(&headers)?)?;
    let written = match state
        .service
        .checkout(&key, &details, &CheckoutQuoter(&state), options)
        .await
    {
        Ok(written) => written,
        Err(CartError::QuoteChanged { quote_token }) => {
            return Err(quote_changed(&state, &key, quote_token).await);
        }
        Err(other) => return Err(other.into()),
    };
    let order = written
        .outcome
        .order()
        .ok_or_else(|| ApiError::internal("checkout answered without an order"))?;
    if !order.discount_codes.is_empty() {
        // A use counted against a limited code may change other carts' totals.
        state.priced.forget_all();
    }
    let mut response = (StatusCode::CREATED, Json(CheckoutView::new(order))).into_response();
    let response_headers = response.headers_mut();
    if let Ok(location) = HeaderValue::try_from(format!("/v1/orders/{}", order.id)) {
        response_headers.insert(header::LOCATION, location);
    }
    if written.replayed {
        response_headers.insert(REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// `409 QUOTE_CHANGED` with the totals now, so the storefront can show them and ask again.
pub(crate) async fn quote_changed(
    state: &AppState,
    key: &CartKey,
    quote_token: String,
) -> ApiError {
    let error = ApiError::from(CartError::QuoteChanged {
        quote_token: quote_token.clone(),
    });
    let totals = match state.service.get(key).await {
        Ok(cart) => totals::of_cart(state, &cart, false).await.ok(),
        Err(_) => None,
    };
    match totals {
        Some(totals) => {
            let view = TotalsView::new(&totals.breakdown, Some(totals.quote_token));
            error.with_details(serde_json::json!({"quote_token": quote_token, "totals": view}))
        }
        None => error,
    }
}

/// `GET /v1/orders` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OrdersQuery {
    /// Only orders in this status.
    #[param(
        pattern = "^(pending_payment|paid|payment_failed|expired|cancelled|fulfilled|failed)$"
    )]
    status: Option<String>,
    /// The previous page's `next_cursor`.
    #[param(pattern = "^[!-~]{1,600}$")]
    cursor: Option<String>,
    /// Orders per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<i64>,
    /// Without a token: the guest id the orders were placed under.
    #[param(pattern = "^guest_[0-7][0-9A-HJKMNP-TV-Z]{25}$")]
    guest_id: Option<String>,
}

/// A `status` as given, or `400 VALIDATION_ERROR`.
fn status(raw: &str) -> Result<OrderStatus, ApiError> {
    OrderStatus::parse(raw).ok_or_else(|| {
        ApiError::new(
            Code::ValidationError,
            "status must be one of pending_payment, paid, payment_failed, expired, cancelled, \
             fulfilled, failed",
        )
        .with_details(serde_json::json!({"field": "status"}))
    })
}

/// The page size asked for, or `400 VALIDATION_ERROR`.
pub(crate) fn page_size(limit: Option<i64>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(20),
        Some(n) if (1..=MAX_PAGE as i64).contains(&n) => Ok(n as usize),
        Some(_) => Err(
            ApiError::new(Code::ValidationError, "limit must be from 1 to 100")
                .with_details(serde_json::json!({"field": "limit"})),
        ),
    }
}

/// The caller's orders.
///
/// A user's own orders (a token), a guest's (`guest_id`, no token), or with the admin scope
/// every order; newest first, a page at a time.
#[utoipa::path(get, path = "/v1/orders", tag = "orders",
    params(OrdersQuery),
    responses(
        (status = 200, description = "A page of orders", body = OrderPage),
        (status = 400, description = "A malformed status, limit, cursor or guest id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Neither a token nor a guest id, or an invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security((), ("bearer" = [])))]
async fn list_orders(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<OrdersQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    let actor = actor(&caller, query.guest_id.as_deref())?;
    let status = query.status.as_deref().map(status).transpose()?;
    let limit = page_size(query.limit)?;
    if query.cursor.as_ref().is_some_and(|cursor| {
        cursor.is_empty() || cursor.len() > 600 || !cursor.bytes().all(|b| b.is_ascii_graphic())
    }) {
        return Err(
            ApiError::new(Code::ValidationError, "cursor is not one this API gave")
                .with_details(serde_json::json!({"field": "cursor"})),
        );
    }
    let (orders, next_cursor) = state
        .service
        .orders_page(&actor, status, query.cursor.as_deref(), limit)
        .await?;
    Ok(Json(OrderPage {
        orders: orders.iter().map(|o| OrderView::new(o, false)).collect(),
        next_cursor,
    }))
}

/// Only `guest_id`, for the routes of one order.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct GuestQuery {
    /// Without a token: the guest id the order was placed under.
    #[param(pattern = "^guest_[0-7][0-9A-HJKMNP-TV-Z]{25}$")]
    guest_id: Option<String>,
}

/// One order.
///
/// Its buyer's (by token, or `guest_id`) or, with the admin scope, any; anyone else's is
/// `404 ORDER_NOT_FOUND`, as if it did not exist.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders",
    params(OrderPath, GuestQuery),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 400, description = "A malformed order id or guest id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Neither a token nor a guest id, or an invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order the caller may see", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security((), ("bearer" = [])))]
async fn get_order(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<GuestQuery>,
) -> Result<Json<OrderView>, ApiError> {
    let id = order_id(&id)?;
    let actor = actor(&caller, query.guest_id.as_deref())?;
    let order = state.service.order(id, &actor).await?;
    Ok(Json(OrderView::new(&order, false)))
}

/// `413 PAYLOAD_TOO_LARGE` for a raw body over the API's limit (axum's own limit caps what is
/// read at all).
fn within_limit(body: &[u8]) -> Result<(), ApiError> {
    if body.len() > crate::extract::MAX_BODY_BYTES {
        return Err(ApiError::new(
            Code::PayloadTooLarge,
            "the body is over 64 KiB",
        ));
    }
    Ok(())
}

/// An optional JSON body: empty is the default; anything else must be `application/json`.
fn optional_body<T: serde::de::DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    within_limit(body)?;
    if body.is_empty() || body.trim_ascii() == b"null" {
        return Ok(T::default());
    }
    crate::extract::json_content_type(headers)?;
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(Code::ValidationError, format!("the body is not valid: {e}")))
}

/// Cancel an order.
///
/// Its buyer may cancel it before it is fulfilled, and so may an admin. Stock it reserved is
/// released; stock a paid order took is put back on hand; the discount-code uses it counted are
/// given back; a cart it locked is unlocked. (A refund of a paid order is the payment
/// provider's business.)
#[utoipa::path(post, path = "/v1/orders/{id}/cancel", tag = "orders",
    params(OrderPath, GuestQuery),
    request_body(content = Option<CancelRequest>, description = "Optional; application/json", content_type = "application/json"),
    responses(
        (status = 200, description = "The cancelled order", body = OrderView),
        (status = 400, description = "A malformed order id, guest id or body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Neither a token nor a guest id, or an invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order the caller may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The order's status does not allow it (`INVALID_TRANSITION`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json in UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security((), ("bearer" = [])))]
async fn cancel_order(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<GuestQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<OrderView>, ApiError> {
    let id = order_id(&id)?;
    let actor = actor(&caller, query.guest_id.as_deref())?;
    let request: CancelRequest = optional_body(&headers, &body)?;
    let reason = reason(request.reason)?;
    let order = state
        .service
        .act_on_order(
            id,
            Action::Cancel,
            &actor,
            reason,
            crate::trace_context::traceparent(&headers).as_deref(),
        )
        .await?;
    Ok(Json(OrderView::new(&order, false)))
}

/// Move an order along its state machine (admin).
///
/// The admin's edges: `paid` → `fulfilled` (fulfilled by hand), `paid` → `failed`,
/// `failed` → `paid` (back to fulfilment), and `cancelled` from `pending_payment`, `paid` or
/// `failed`. Payment outcomes come from the payment provider, expiry from the sweeper; any
/// other move is `409 INVALID_TRANSITION`.
#[utoipa::path(patch, path = "/v1/orders/{id}", tag = "orders",
    params(OrderPath),
    request_body(content = OrderPatch, description = JSON_BODY, content_type = "application/json"),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 400, description = "A malformed order id, status or reason", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token, or an invalid one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token without the admin scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not an edge of the state machine (`INVALID_TRANSITION`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json in UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security(("bearer" = [])))]
async fn patch_order(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
    body: JsonBody<OrderPatch>,
) -> Result<Json<OrderView>, ApiError> {
    caller.require_admin()?;
    let id = order_id(&id)?;
    let to = status(&body.value.status)?;
    let reason = reason(body.value.reason.clone())?;
    let order = state
        .service
        .move_order(
            id,
            to,
            reason,
            crate::trace_context::traceparent(&headers).as_deref(),
        )
        .await?;
    Ok(Json(OrderView::new(&order, false)))
}

/// What the webhook answers the provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    /// Always `true`: the event was read (a 2xx stops the provider's retries).
    pub received: bool,
    /// Whether it changed an order.
    pub applied: bool,
    /// The order it concerns, if any.
    pub order_id: Option<String>,
    /// The order's status after it.
    pub status: Option<String>,
    /// Why nothing changed, when nothing did.
    pub reason: Option<String>,
}

impl WebhookAck {
    fn ignored(order_id: Option<Uuid>, reason: &str) -> Json<Self> {
        Json(Self {
            received: true,
            applied: false,
            order_id: order_id.map(|id| id.to_string()),
            status: None,
            reason: Some(reason.to_owned()),
        })
    }
}

/// The payment provider's webhook.
///
/// Stripe-compatible: `Payment-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">` under
/// `CARTD_PAYMENT_WEBHOOK_SECRET`, within five minutes of now. `payment_intent.succeeded` pays
/// the order (stock taken, cart emptied and unlocked) and `payment_intent.payment_failed` fails
/// its payment (reservation released, cart unlocked), each in one commit with the event's id,
/// so a replayed event changes nothing. A wrong signature, a stale timestamp or an amount that
/// is not the order's is refused and logged. Other event types are acknowledged and ignored.
#[utoipa::path(post, path = "/v1/payments/webhook", tag = "payments",
    params(("Payment-Signature" = String, Header, pattern = "^t=[0-9]{1,12},v1=[0-9a-f]{64}(,v1=[0-9a-f]{64})*$", description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"t.body\">")),
    request_body(content = Object, description = "The provider's event: {\"id\", \"type\", \"data\": {\"object\": {\"id\", \"amount\", \"currency\"}}}", content_type = "application/json"),
    responses(
        (status = 200, description = "Received (applied, or why not)", body = WebhookAck),
        (status = 400, description = "A missing, malformed, stale or wrong signature (`SIGNATURE_INVALID`), or a body that is not a provider event", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No order has this payment intent", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The amount or currency is not the order's (`PAYMENT_AMOUNT_MISMATCH`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, description = "No webhook secret is configured, or the store is unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
async fn payment_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAck>, ApiError> {
    use secrecy::ExposeSecret;
    within_limit(&body)?;
    let Some(secret) = state.webhook_secret.get() else {
        return Err(ApiError::new(
            Code::ServiceUnavailable,
            "payment webhooks are not configured (CARTD_PAYMENT_WEBHOOK_SECRET)",
        ));
    };
    let signature = headers
        .get(payments::SIGNATURE_HEADER)
        .map(|value| value.to_str().unwrap_or_default());
    if let Err(refused) = payments::verify(
        secret.expose_secret().as_bytes(),
        signature,
        &body,
        state.service.now(),
    ) {
        tracing::warn!(reason = %refused, "payment webhook refused");
        return Err(ApiError::new(Code::SignatureInvalid, refused.to_string()));
    }
    let event: ProviderEvent = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            Code::ValidationError,
            format!("the body is not a payment provider event: {e}"),
        )
    })?;
    if event.id.is_empty()
        || event.id.len() > 255
        || !event.id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::new(
            Code::ValidationError,
            "the event id must be 1-255 printable ASCII characters",
        ));
    }
    let succeeded = match event.kind.as_str() {
        payments::SUCCEEDED => true,
        payments::FAILED => false,
        _ => return Ok(WebhookAck::ignored(None, "event type not handled")),
    };
    let intent = &event.data.object;
    let Some(order_id) = state.payments.order_of_intent(&intent.id) else {
        tracing::warn!(intent = %intent.id, "payment webhook for an unknown intent");
        return Err(CartError::OrderNotFound.into());
    };
    let reason = intent
        .last_payment_error
        .as_ref()
        .and_then(|error| error.message.clone())
        .map(|message| message.chars().take(500).collect());
    match state
        .service
        .apply_payment(
            order_id,
            &event.id,
            succeeded,
            intent.amount,
            &intent.currency,
            reason,
        )
        .await
    {
        Ok(Some(order)) => Ok(Json(WebhookAck {
            received: true,
            applied: true,
            order_id: Some(order.id.to_string()),
            status: Some(order.status.as_str().to_owned()),
            reason: None,
        })),
        Ok(None) => Ok(WebhookAck::ignored(Some(order_id), "event already applied")),
        Err(CartError::InvalidTransition(invalid)) => {
            // Money may have moved for an order that can no longer take it (paid after it
            // expired): acknowledged, so the provider stops, and logged for a person to refund.
            tracing::error!(order = %order_id, status = invalid.from.as_str(), event = %event.id,
                "payment event for an order whose status does not take it");
            Ok(WebhookAck::ignored(Some(order_id), &invalid.to_string()))
        }
        Err(error @ CartError::PaymentAmountMismatch { .. }) => {
            tracing::warn!(order = %order_id, event = %event.id, %error, "payment webhook refused");
            Err(error.into())
        }
        Err(other) => Err(other.into()),
    }
}

/// `GET /v1/admin/dead-letters` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeadLetterQuery {
    /// The last order id of the previous page.
    #[param(
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    cursor: Option<String>,
    /// Orders per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<i64>,
}

/// Orders fulfilment gave up on (admin).
///
/// Paid orders whose fulfilment failed every attempt (`CARTD_WORKER_MAX_ATTEMPTS`): status
/// `failed`, with the last error. `POST …/{order_id}/retry` sends one back to fulfilment.
#[utoipa::path(get, path = "/v1/admin/dead-letters", tag = "orders",
    params(DeadLetterQuery),
    responses(
        (status = 200, description = "A page of dead letters", body = OrderPage),
        (status = 400, description = "A malformed cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token, or an invalid one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token without the admin scope", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security(("bearer" = [])))]
async fn dead_letters(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<DeadLetterQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    caller.require_admin()?;
    let limit = page_size(query.limit)?;
    let cursor = query.cursor.as_deref().map(order_id).transpose()?;
    let cursor = cursor.map(|id| id.to_string());
    let orders = state.service.dead_letters(cursor.as_deref(), limit).await?;
    let next_cursor = (orders.len() == limit)
        .then(|| orders.last().map(|order| order.id.to_string()))
        .flatten();
    Ok(Json(OrderPage {
        orders: orders.iter().map(|o| OrderView::new(o, false)).collect(),
        next_cursor,
    }))
}

/// Send a dead letter back to fulfilment (admin).
///
/// The order goes back to `paid` with its attempts reset, and the worker takes it again.
#[utoipa::path(post, path = "/v1/admin/dead-letters/{id}/retry", tag = "orders",
    params(OrderPath),
    responses(
        (status = 200, description = "The order, paid again", body = OrderView),
        (status = 400, description = "A malformed order id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token, or an invalid one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token without the admin scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The order is not a dead letter (`INVALID_TRANSITION`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security(("bearer" = [])))]
async fn retry_dead_letter(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
) -> Result<Json<OrderView>, ApiError> {
    caller.require_admin()?;
    let id = order_id(&id)?;
    let order = state
        .service
        .act_on_order(
            id,
            Action::Retry,
            &Actor::Admin,
            Some("retried by an admin".to_owned()),
            crate::trace_context::traceparent(&headers).as_deref(),
        )
        .await?;
    Ok(Json(OrderView::new(&order, false)))
}

/// Checkout, order and payment routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(checkout))
        .routes(routes!(list_orders))
        .routes(routes!(get_order, patch_order))
        .routes(routes!(cancel_order))
        .routes(routes!(payment_webhook))
        .routes(routes!(dead_letters))
        .routes(routes!(retry_dead_letter))
}
