//! Errors as RFC 9457 problem+json, with the `code`/`message`/`details` members clients of the
//! Go cart-service contract read. This is the one place where domain and store errors become
//! HTTP statuses.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::{ToResponse, ToSchema};

use cart_core::{CartError, StoreError};

/// Every machine-readable error code the API answers with (API.md's table, plus the routing
/// codes `ROUTE_NOT_FOUND` and `METHOD_NOT_ALLOWED`, and `URI_TOO_LONG`, answered by
/// [`crate::listener`] for a request target too long to parse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Code {
    ValidationError,
    InvalidQuantity,
    InvalidGuestId,
    QuantityLimitExceeded,
    CartLimitExceeded,
    Unauthorized,
    Forbidden,
    CartNotFound,
    ItemNotFound,
    ProductNotFound,
    SettingNotFound,
    PromotionNotFound,
    DiscountCodeNotFound,
    DiscountCodeLimitExceeded,
    RouteNotFound,
    MethodNotAllowed,
    Conflict,
    PriceChanged,
    InventoryInsufficient,
    IdempotencyInFlight,
    CartExpired,
    PreconditionFailed,
    PayloadTooLarge,
    UriTooLong,
    UnsupportedMediaType,
    ProductUnavailable,
    CurrencyMismatch,
    IdempotencyKeyReused,
    RateLimited,
    InternalError,
    ServiceUnavailable,
    Overloaded,
    RequestTimeout,
    CartLocked,
    CartEmpty,
    QuoteChanged,
    OutOfStock,
    ProductNoLongerAvailable,
    RegionRequired,
    RegionMismatch,
    IdempotencyKeyRequired,
    OrderNotFound,
    InvalidTransition,
    SignatureInvalid,
    PaymentAmountMismatch,
    CatalogUnavailable,
    CatalogRemote,
    FeatureDisabled,
}

impl Code {
    /// The code as sent, e.g. `QUANTITY_LIMIT_EXCEEDED`.
    pub fn as_str(self) -> &'static str {
        self.facts().0
    }

    /// The HTTP status this code always has.
    pub fn status(self) -> StatusCode {
        self.facts().1
    }

    /// A short human title.
    pub fn title(self) -> &'static str {
        self.facts().2
    }

    fn facts(self) -> (&'static str, StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            Self::ValidationError => ("VALIDATION_ERROR", S::BAD_REQUEST, "Validation error"),
            Self::InvalidQuantity => ("INVALID_QUANTITY", S::BAD_REQUEST, "Invalid quantity"),
            Self::InvalidGuestId => ("INVALID_GUEST_ID", S::BAD_REQUEST, "Invalid guest id"),
            Self::QuantityLimitExceeded => (
                "QUANTITY_LIMIT_EXCEEDED",
                S::BAD_REQUEST,
                "Quantity limit exceeded",
            ),
            Self::CartLimitExceeded => {
                ("CART_LIMIT_EXCEEDED", S::BAD_REQUEST, "Cart limit exceeded")
            }
            Self::Unauthorized => ("UNAUTHORIZED", S::UNAUTHORIZED, "Unauthorized"),
            Self::Forbidden => ("FORBIDDEN", S::FORBIDDEN, "Forbidden"),
            Self::CartNotFound => ("CART_NOT_FOUND", S::NOT_FOUND, "Cart not found"),
            Self::ItemNotFound => ("ITEM_NOT_FOUND", S::NOT_FOUND, "Item not found"),
            Self::ProductNotFound => ("PRODUCT_NOT_FOUND", S::NOT_FOUND, "Product not found"),
            Self::SettingNotFound => ("SETTING_NOT_FOUND", S::NOT_FOUND, "Setting not found"),
            Self::PromotionNotFound => ("PROMOTION_NOT_FOUND", S::NOT_FOUND, "Promotion not found"),
            Self::DiscountCodeNotFound => (
                "DISCOUNT_CODE_NOT_FOUND",
                S::NOT_FOUND,
                "Discount code not on the cart",
            ),
            Self::DiscountCodeLimitExceeded => (
                "DISCOUNT_CODE_LIMIT_EXCEEDED",
                S::BAD_REQUEST,
                "Discount code limit exceeded",
            ),
            Self::RouteNotFound => ("ROUTE_NOT_FOUND", S::NOT_FOUND, "No such route"),
            Self::MethodNotAllowed => (
                "METHOD_NOT_ALLOWED",
                S::METHOD_NOT_ALLOWED,
                "Method not allowed",
            ),
            Self::Conflict => ("CONFLICT", S::CONFLICT, "Conflict"),
            Self::PriceChanged => ("PRICE_CHANGED", S::CONFLICT, "Price changed"),
            Self::InventoryInsufficient => (
                "INVENTORY_INSUFFICIENT",
                S::CONFLICT,
                "Inventory insufficient",
            ),
            Self::IdempotencyInFlight => (
                "IDEMPOTENCY_IN_FLIGHT",
                S::CONFLICT,
                "Request with this idempotency key in flight",
            ),
            Self::CartExpired => ("CART_EXPIRED", S::GONE, "Cart expired"),
            Self::PreconditionFailed => (
                "PRECONDITION_FAILED",
                S::PRECONDITION_FAILED,
                "Precondition failed",
            ),
            Self::PayloadTooLarge => (
                "PAYLOAD_TOO_LARGE",
                S::PAYLOAD_TOO_LARGE,
                "Payload too large",
            ),
            Self::UriTooLong => ("URI_TOO_LONG", S::URI_TOO_LONG, "URI too long"),
            Self::UnsupportedMediaType => (
                "UNSUPPORTED_MEDIA_TYPE",
                S::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
            ),
            Self::ProductUnavailable => (
                "PRODUCT_UNAVAILABLE",
                S::UNPROCESSABLE_ENTITY,
                "Product unavailable",
            ),
            Self::CurrencyMismatch => (
                "CURRENCY_MISMATCH",
                S::UNPROCESSABLE_ENTITY,
                "Currency mismatch",
            ),
            Self::IdempotencyKeyReused => (
                "IDEMPOTENCY_KEY_REUSED",
                S::UNPROCESSABLE_ENTITY,
                "Idempotency key reused",
            ),
            Self::RateLimited => ("RATE_LIMITED", S::TOO_MANY_REQUESTS, "Rate limited"),
            Self::InternalError => ("INTERNAL_ERROR", S::INTERNAL_SERVER_ERROR, "Internal error"),
            Self::ServiceUnavailable => (
                "SERVICE_UNAVAILABLE",
                S::SERVICE_UNAVAILABLE,
                "Service unavailable",
            ),
            Self::Overloaded => ("OVERLOADED", S::SERVICE_UNAVAILABLE, "Overloaded"),
            Self::RequestTimeout => (
                "REQUEST_TIMEOUT",
                S::SERVICE_UNAVAILABLE,
                "Request timed out",
            ),
            Self::CartLocked => ("CART_LOCKED", S::CONFLICT, "Cart locked by a checkout"),
            Self::CartEmpty => ("CART_EMPTY", S::UNPROCESSABLE_ENTITY, "Cart empty"),
            Self::QuoteChanged => ("QUOTE_CHANGED", S::CONFLICT, "Totals changed"),
            Self::OutOfStock => ("OUT_OF_STOCK", S::CONFLICT, "Out of stock"),
            // At checkout a product that went away is a conflict between the cart and the
            // catalog (`409`); at an add, the request itself asks for it (`422`, above).
            Self::ProductNoLongerAvailable => (
                "PRODUCT_UNAVAILABLE",
                S::CONFLICT,
                "Product no longer available",
            ),
            Self::RegionRequired => (
                "REGION_REQUIRED",
                S::UNPROCESSABLE_ENTITY,
                "Region required",
            ),
            Self::RegionMismatch => (
                "REGION_MISMATCH",
                S::UNPROCESSABLE_ENTITY,
                "Shipping address outside the cart's region",
            ),
            Self::IdempotencyKeyRequired => (
                "IDEMPOTENCY_KEY_REQUIRED",
                S::BAD_REQUEST,
                "Idempotency-Key required",
            ),
            Self::OrderNotFound => ("ORDER_NOT_FOUND", S::NOT_FOUND, "Order not found"),
            Self::InvalidTransition => (
                "INVALID_TRANSITION",
                S::CONFLICT,
                "Invalid order transition",
            ),
            Self::SignatureInvalid => (
                "SIGNATURE_INVALID",
                S::BAD_REQUEST,
                "Webhook signature invalid",
            ),
            Self::PaymentAmountMismatch => (
                "PAYMENT_AMOUNT_MISMATCH",
                S::UNPROCESSABLE_ENTITY,
                "Payment does not match the order",
            ),
            Self::CatalogUnavailable => (
                "CATALOG_UNAVAILABLE",
                S::SERVICE_UNAVAILABLE,
                "Catalog unavailable",
            ),
            Self::CatalogRemote => ("CATALOG_REMOTE", S::CONFLICT, "Catalog is remote"),
            Self::FeatureDisabled => ("FEATURE_DISABLED", S::FORBIDDEN, "Feature disabled"),
        }
    }
}

/// An error response. Handlers return it; [`enrich`] fills in `instance` and `request_id`.
#[derive(Debug, Clone)]
pub struct ApiError {
    code: Code,
    message: String,
    details: Value,
    /// The internal cause, logged and never sent.
    cause: Option<String>,
}

/// The problem+json body (for the OpenAPI document).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `https://cartd.dev/errors/<code in kebab case>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short summary of the code.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this request.
    pub detail: String,
    /// The request path.
    pub instance: String,
    /// Machine-readable code (`VALIDATION_ERROR`, `CART_NOT_FOUND` …): branch on it, never on the
    /// text of `title` or `detail`.
    pub code: String,
    /// Same as `detail` (Go contract).
    pub message: String,
    /// Code-specific members, e.g. `{requested_quantity, max_allowed}`.
    #[schema(value_type = Object)]
    pub details: Value,
    /// The request id, also in `x-request-id`.
    pub request_id: String,
}

/// `429 RATE_LIMITED` (any route but the probes, when `CARTD_RATE_LIMIT` is set), for the
/// OpenAPI document.
#[derive(ToResponse)]
#[response(
    description = "Over the client's request rate (`RATE_LIMITED`; only when CARTD_RATE_LIMIT is set)",
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Whole seconds until a request will pass"))
)]
#[allow(dead_code)]
pub(crate) struct RateLimited(Problem);

/// `500 INTERNAL_ERROR`, for the OpenAPI document.
#[derive(ToResponse)]
#[response(
    description = "The store failed (`INTERNAL_ERROR`); the cause is logged with the request id, never sent",
    content_type = "application/problem+json"
)]
#[allow(dead_code)]
pub(crate) struct InternalError(Problem);

/// `503 SERVICE_UNAVAILABLE`, for the OpenAPI document.
#[derive(ToResponse)]
#[response(
    description = "The store or the identity provider cannot be reached now (`SERVICE_UNAVAILABLE`), the server is at capacity (`OVERLOADED`, with `Retry-After`), the request ran past the server's time limit (`REQUEST_TIMEOUT`), or a remote catalog cannot be reached and does not know the product (`CATALOG_UNAVAILABLE`, with `Retry-After`); retry",
    headers(("Retry-After" = u64, description = "Whole seconds to wait (OVERLOADED, REQUEST_TIMEOUT, CATALOG_UNAVAILABLE)")),
    content_type = "application/problem+json"
)]
#[allow(dead_code)]
pub(crate) struct Unavailable(Problem);

impl ApiError {
    /// An error with a code and a message for the client.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: json!({}),
            cause: None,
        }
    }

    /// Adds code-specific members. A `retry_after_seconds` member is also sent as the
    /// `Retry-After` header, so the two never disagree.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// A 500 whose cause is logged, not shown.
    pub fn internal(cause: impl ToString) -> Self {
        Self {
            cause: Some(cause.to_string()),
            ..Self::new(Code::InternalError, "internal error")
        }
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The message sent to the client (never the internal cause).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The machine-readable details sent to the client (`{}` when there are none).
    pub fn details(&self) -> &Value {
        &self.details
    }

    fn problem(&self, instance: &str, request_id: &str) -> Problem {
        Problem {
            type_uri: format!(
                "https://cartd.dev/errors/{}",
                self.code.as_str().to_ascii_lowercase().replace('_', "-")
            ),
            title: self.code.title().to_owned(),
            status: self.code.status().as_u16(),
            detail: self.message.clone(),
            instance: instance.to_owned(),
            code: self.code.as_str().to_owned(),
            message: self.message.clone(),
            details: self.details.clone(),
            request_id: request_id.to_owned(),
        }
    }

    /// The problem+json body for a request to `instance` with id `request_id`.
    pub(crate) fn body(&self, instance: &str, request_id: &str) -> Vec<u8> {
        serde_json::to_vec(&self.problem(instance, request_id)).unwrap_or_default()
    }

    fn render(&self, instance: &str, request_id: &str) -> Response {
        let body = self.body(instance, request_id);
        let mut response = (self.code.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self
            .details
            .get("retry_after_seconds")
            .and_then(Value::as_u64)
        {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.code == Code::Unauthorized {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cartd\""),
            );
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.render("", "");
        response.extensions_mut().insert(self);
        response
    }
}

/// A store failure outside a use case (the pricing settings routes call the store directly):
/// the same answer a use case's store failure gets.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        CartError::Store(error).into()
    }
}

impl From<CartError> for ApiError {
    fn from(error: CartError) -> Self {
        let message = error.to_string();
        let (code, details) = match &error {
            CartError::CartNotFound => (Code::CartNotFound, json!({})),
            CartError::CartExpired => (Code::CartExpired, json!({})),
            CartError::ItemNotFound => (Code::ItemNotFound, json!({})),
            CartError::ProductNotFound(id) => {
                (Code::ProductNotFound, json!({"product_id": id.as_str()}))
            }
            CartError::ProductUnavailable(id) => {
                (Code::ProductUnavailable, json!({"product_id": id.as_str()}))
            }
            CartError::PriceChanged { expected, current } => (
                Code::PriceChanged,
                json!({"expected": expected, "current": current}),
            ),
            CartError::InventoryInsufficient {
                requested,
                available,
            } => (
                Code::InventoryInsufficient,
                json!({"requested_quantity": requested, "available": available}),
            ),
            CartError::CurrencyMismatch { cart, product } => (
                Code::CurrencyMismatch,
                json!({"cart_currency": cart, "product_currency": product}),
            ),
            CartError::MergeCurrencyMismatch {
                user_cart,
                guest_cart,
            } => (
                Code::CurrencyMismatch,
                json!({"user_cart_currency": user_cart, "guest_cart_currency": guest_cart}),
            ),
            CartError::QuantityLimitExceeded {
                requested_quantity,
                max_allowed,
            } => (
                Code::QuantityLimitExceeded,
                json!({"requested_quantity": requested_quantity, "max_allowed": max_allowed}),
            ),
            CartError::CartLimitExceeded {
                current_count,
                max_allowed,
            } => (
                Code::CartLimitExceeded,
                json!({"current_count": current_count, "max_allowed": max_allowed}),
            ),
            CartError::PreconditionFailed { expected, current } => (
                Code::PreconditionFailed,
                json!({"expected_version": expected, "current_version": current}),
            ),
            CartError::VersionConflict { expected, current } => (
                Code::Conflict,
                json!({"expected_version": expected, "current_version": current}),
            ),
            CartError::Contended => (Code::Conflict, json!({})),
            CartError::IdempotencyKeyCommitted | CartError::IdempotencyInFlight => {
                (Code::IdempotencyInFlight, json!({}))
            }
            CartError::IdempotencyKeyReused => (Code::IdempotencyKeyReused, json!({})),
            CartError::MergeTargetNotUserCart => (Code::Forbidden, json!({})),
            CartError::PromotionNotFound(code) => {
                (Code::PromotionNotFound, json!({"code": code.as_str()}))
            }
            CartError::DiscountCodeNotOnCart(code) => {
                (Code::DiscountCodeNotFound, json!({"code": code.as_str()}))
            }
            CartError::TooManyDiscountCodes { max_allowed } => (
                Code::DiscountCodeLimitExceeded,
                json!({"max_allowed": max_allowed}),
            ),
            CartError::CartLocked { order_id } => {
                (Code::CartLocked, json!({"order_id": order_id.to_string()}))
            }
            CartError::RegionRequired => (Code::RegionRequired, json!({})),
            CartError::ShippingOutsideRegion { region, country } => (
                Code::RegionMismatch,
                json!({"region": region, "country": country}),
            ),
            CartError::CartEmpty => (Code::CartEmpty, json!({})),
            CartError::QuoteChanged { quote_token } => {
                (Code::QuoteChanged, json!({"quote_token": quote_token}))
            }
            CartError::OutOfStock(shortages) => (
                Code::OutOfStock,
                json!({"lines": shortages.iter().map(|s| json!({
                    "product_id": s.product_id.as_str(),
                    "requested": s.requested,
                    "available": s.available,
                })).collect::<Vec<_>>()}),
            ),
            CartError::LinesUnavailable(ids) => (
                Code::ProductNoLongerAvailable,
                json!({"product_ids": ids.iter().map(|id| id.as_str()).collect::<Vec<_>>()}),
            ),
            CartError::PaymentAmountMismatch {
                expected,
                expected_currency,
                got,
                got_currency,
            } => (
                Code::PaymentAmountMismatch,
                json!({"expected_amount": expected, "expected_currency": expected_currency,
                       "amount": got, "currency": got_currency}),
            ),
            CartError::OrderNotFound => (Code::OrderNotFound, json!({})),
            CartError::InvalidTransition(invalid) => (
                Code::InvalidTransition,
                json!({"status": invalid.from.as_str(), "action": invalid.action.as_str()}),
            ),
            CartError::Store(StoreError::CatalogUnavailable {
                reason,
                retry_after,
            }) => {
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                return Self {
                    cause: Some(reason.clone()),
                    ..Self::new(
                        Code::CatalogUnavailable,
                        "the catalog service cannot be reached; retry later",
                    )
                    .with_details(json!({"retry_after_seconds": seconds.max(1)}))
                };
            }
            CartError::Store(StoreError::CatalogRemote) => (Code::CatalogRemote, json!({})),
            CartError::Store(StoreError::Unavailable(cause)) => {
                return Self {
                    cause: Some(cause.clone()),
                    ..Self::new(Code::ServiceUnavailable, "the store is unavailable; retry")
                };
            }
            CartError::Store(other) => return Self::internal(other),
        };
        Self::new(code, message).with_details(details)
    }
}

/// Middleware: fills the `instance` and `request_id` members of every problem response from the
/// request, counts it by code (`cartd_http_problems_total`, what alerts tell a store outage
/// from a catalog outage by), and logs the error (with its internal cause for 5xx) inside the
/// request's span.
pub async fn enrich(request: Request, next: Next) -> Response {
    let instance = request.uri().path().to_owned();
    let request_id = crate::extract::request_id(request.headers()).to_owned();
    let mut response = next.run(request).await;
    let Some(error) = response.extensions_mut().remove::<ApiError>() else {
        return response;
    };
    metrics::counter!("cartd_http_problems_total", "code" => error.code.as_str()).increment(1);
    if error.code.status().is_server_error() {
        tracing::error!(code = error.code.as_str(), cause = ?error.cause, "request failed");
    } else {
        tracing::debug!(code = error.code.as_str(), detail = %error.message, "request refused");
    }
    let mut rendered = error.render(&instance, &request_id);
    // The code stays readable to outer layers (the audit log tells scope refusals apart).
    rendered.extensions_mut().insert(error.code);
    // Keep headers set on the way out (e.g. by the handler) that the re-render would drop.
    for (name, value) in response.headers() {
        if name == header::CONTENT_LENGTH {
            continue;
        }
        rendered
            .headers_mut()
            .entry(name)
            .or_insert_with(|| value.clone());
    }
    rendered
}

/// The fallback for paths no route matches.
pub async fn route_not_found() -> ApiError {
    ApiError::new(Code::RouteNotFound, "no such route")
}

/// The fallback for a known path with a method it does not serve.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(Code::MethodNotAllowed, "method not allowed on this path")
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        Self::new(Code::ValidationError, format!("bad path: {rejection}"))
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Self::new(Code::ValidationError, format!("bad query: {rejection}"))
    }
}
