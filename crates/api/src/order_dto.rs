//! What checkout and the order routes take and answer, for REST and GraphQL alike: the request
//! bodies with their OpenAPI schemas, and the order as shown.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use cart_core::order::{Address, CheckoutDetails, Order, OrderInputError, OrderStatus};

use crate::problem::{ApiError, Code};

/// A postal address.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    /// Recipient, 1–200 characters, not only spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub name: String,
    /// Street and number, 1–200 characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub line1: String,
    /// More of the street address.
    #[serde(default)]
    #[schema(max_length = 200, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub line2: Option<String>,
    /// City, 1–200 characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub city: String,
    /// Postal code, 1–20 characters.
    #[schema(
        min_length = 1,
        max_length = 20,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub postal_code: String,
    /// State, province or county.
    #[serde(default)]
    #[schema(max_length = 200, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub state: Option<String>,
    /// ISO 3166-1 alpha-2 code, upper case; must be the cart region's country.
    #[schema(pattern = "^[A-Z]{2}$", example = "FR")]
    pub country: String,
}

impl From<AddressBody> for Address {
    fn from(body: AddressBody) -> Self {
        Self {
            name: body.name,
            line1: body.line1,
            line2: body.line2,
            city: body.city,
            postal_code: body.postal_code,
            state: body.state,
            country: body.country,
        }
    }
}

impl From<&Address> for AddressBody {
    fn from(address: &Address) -> Self {
        Self {
            name: address.name.clone(),
            line1: address.line1.clone(),
            line2: address.line2.clone(),
            city: address.city.clone(),
            postal_code: address.postal_code.clone(),
            state: address.state.clone(),
            country: address.country.clone(),
        }
    }
}

/// `POST /v1/cart/{cartKey}/checkout`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// The `quote_token` of `GET /v1/cart/{cartKey}/totals` the shopper agreed to.
    #[schema(min_length = 1, max_length = 128)]
    pub quote_token: String,
    /// Where the confirmation goes: one `@` between a local part and a domain with a dot.
    #[schema(
        min_length = 3,
        max_length = 254,
        example = "zoe@example.com",
        pattern = "^[^@\\s\\x00-\\x1f\\x7f-\\x9f]+@[^@\\s\\x00-\\x1f\\x7f-\\x9f.][^@\\s\\x00-\\x1f\\x7f-\\x9f]*\\.[^@\\s\\x00-\\x1f\\x7f-\\x9f]*[^@\\s\\x00-\\x1f\\x7f-\\x9f.]$"
    )]
    pub email: String,
    /// Where it ships to.
    pub shipping_address: AddressBody,
    /// Who pays, where.
    pub billing_address: AddressBody,
    /// Installments, 1–24 (default 1).
    #[serde(default = "one", deserialize_with = "crate::integers::integer")]
    #[schema(minimum = 1, maximum = 24, default = 1)]
    pub number_of_installments: i64,
}

fn one() -> i64 {
    1
}

impl CheckoutRequest {
    /// The checked details, or `400 VALIDATION_ERROR` naming the field.
    pub fn details(self) -> Result<CheckoutDetails, ApiError> {
        let installments = u8::try_from(self.number_of_installments).unwrap_or(0);
        let details = CheckoutDetails {
            quote_token: self.quote_token,
            email: self.email,
            shipping_address: self.shipping_address.into(),
            billing_address: self.billing_address.into(),
            number_of_installments: installments,
        };
        details.check().map_err(input_error)?;
        Ok(details)
    }
}

/// A checkout input error as a `400 VALIDATION_ERROR` naming the field.
pub fn input_error(error: OrderInputError) -> ApiError {
    ApiError::new(Code::ValidationError, error.to_string())
        .with_details(serde_json::json!({"field": error.field}))
}

/// One line of an order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderLineView {
    /// The cart line's id.
    #[schema(value_type = String, format = "uuid")]
    pub item_id: Uuid,
    /// The product.
    pub product_id: String,
    /// The variant, if any.
    pub variant_id: Option<String>,
    /// The name at checkout.
    pub name: String,
    /// Units.
    pub quantity: u32,
    /// Unit price paid, minor units.
    pub unit_price: i64,
    /// `quantity × unit_price`.
    pub line_total: i64,
}

/// One step of an order's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusChangeView {
    /// The status entered.
    #[schema(value_type = String, example = "paid")]
    pub status: OrderStatus,
    /// RFC 3339.
    #[schema(value_type = String)]
    #[serde(with = "cart_core::timestamp::rfc3339")]
    pub at: OffsetDateTime,
    /// Why, when there is more to say than the status.
    pub reason: Option<String>,
}

/// Who bought.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BuyerView {
    /// The user id, or the guest id, the order was placed under.
    pub buyer_id: String,
    /// `user` or `guest`.
    #[schema(value_type = String, example = "user")]
    pub owner: cart_core::Owner,
    /// Where the confirmation goes.
    pub email: String,
}

/// The payment asked for (the client secret only in checkout's answer).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentView {
    /// The provider's payment intent id.
    pub intent_id: String,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// What the storefront hands to the provider's client to pay; only in checkout's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// Fulfilment's progress.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FulfilmentView {
    /// Attempts since the order was (last) paid.
    pub attempts: u32,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

/// An order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderView {
    /// The order's id.
    #[schema(value_type = String, format = "uuid")]
    pub id: Uuid,
    /// The human order number, e.g. `CD-000123`.
    #[schema(example = "CD-000123")]
    pub number: String,
    /// `pending_payment`, `paid`, `payment_failed`, `expired`, `cancelled`, `fulfilled` or
    /// `failed`.
    #[schema(value_type = String, example = "pending_payment")]
    pub status: OrderStatus,
    /// Goes up by one with every change of the order.
    pub version: u64,
    /// Who bought.
    pub buyer: BuyerView,
    /// What was bought.
    pub lines: Vec<OrderLineView>,
    /// ISO 4217 code.
    pub currency: String,
    /// What the buyer pays, minor units.
    pub total: i64,
    /// The totals as quoted at checkout (the `/totals` shape).
    #[schema(value_type = Object)]
    pub totals: serde_json::Value,
    /// The discount codes that applied.
    pub discount_codes: Vec<String>,
    /// Where it ships to.
    pub region: Option<String>,
    /// The shipping address.
    pub shipping_address: AddressBody,
    /// The billing address.
    pub billing_address: AddressBody,
    /// Installments chosen.
    pub number_of_installments: u8,
    /// The payment asked for.
    pub payment: PaymentView,
    /// Every status the order went through, oldest first.
    pub status_history: Vec<StatusChangeView>,
    /// Fulfilment's progress.
    pub fulfilment: FulfilmentView,
    /// RFC 3339.
    #[schema(value_type = String)]
    #[serde(with = "cart_core::timestamp::rfc3339")]
    pub created_at: OffsetDateTime,
    /// RFC 3339.
    #[schema(value_type = String)]
    #[serde(with = "cart_core::timestamp::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// RFC 3339: when an unpaid order expires.
    #[schema(value_type = String)]
    #[serde(with = "cart_core::timestamp::rfc3339")]
    pub pay_by: OffsetDateTime,
}

impl OrderView {
    /// The order as shown; `with_secret` adds the payment's client secret (checkout only).
    pub fn new(order: &Order, with_secret: bool) -> Self {
        Self {
            id: order.id,
            number: order.number.clone(),
            status: order.status,
            version: order.version,
            buyer: BuyerView {
                buyer_id: order.buyer.buyer_id().to_owned(),
                owner: order.buyer.cart_key.owner(),
                email: order.buyer.email.clone(),
            },
            lines: order
                .lines
                .iter()
                .map(|line| OrderLineView {
                    item_id: line.item_id,
                    product_id: line.product_id.to_string(),
                    variant_id: line.variant_id.as_ref().map(|v| v.as_str().to_owned()),
                    name: line.name.clone(),
                    quantity: line.quantity,
                    unit_price: line.unit_price,
                    line_total: i64::from(line.quantity) * line.unit_price,
                })
                .collect(),
            currency: order.currency.clone(),
            total: order.total,
            totals: order.totals.clone(),
            discount_codes: order
                .discount_codes
                .iter()
                .map(|code| code.as_str().to_owned())
                .collect(),
            region: order.region.as_ref().map(|r| r.as_str().to_owned()),
            shipping_address: (&order.shipping_address).into(),
            billing_address: (&order.billing_address).into(),
            number_of_installments: order.number_of_installments,
            payment: PaymentView {
                intent_id: order.payment.intent_id.clone(),
                amount: order.payment.amount,
                currency: order.payment.currency.clone(),
                client_secret: with_secret.then(|| order.payment.client_secret.clone()),
            },
            status_history: order
                .status_history
                .iter()
                .map(|change| StatusChangeView {
                    status: change.status,
                    at: change.at,
                    reason: change.reason.clone(),
                })
                .collect(),
            fulfilment: FulfilmentView {
                attempts: order.fulfilment.attempts,
                last_error: order.fulfilment.last_error.clone(),
            },
            created_at: order.created_at,
            updated_at: order.updated_at,
            pay_by: order.pay_by,
        }
    }
}

/// Checkout's answer: the order, and the payment the storefront completes with the provider.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckoutView {
    /// The order, waiting for payment.
    pub order: OrderView,
    /// The payment to make, with its client secret.
    pub payment: PaymentView,
}

impl CheckoutView {
    /// The answer for `order`.
    pub fn new(order: &Order) -> Self {
        let mut view = OrderView::new(order, false);
        let payment = PaymentView {
            client_secret: Some(order.payment.client_secret.clone()),
            ..view.payment.clone()
        };
        view.payment.client_secret = None;
        Self {
            order: view,
            payment,
        }
    }
}

/// A page of orders.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderPage {
    /// Newest first.
    pub orders: Vec<OrderView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// `PATCH /v1/orders/{id}` (admin).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderPatch {
    /// The status to move to, along the state machine (`docs/DECISIONS.md`, "Checkout and
    /// orders").
    #[schema(
        example = "fulfilled",
        pattern = "^(pending_payment|paid|payment_failed|expired|cancelled|fulfilled|failed)$"
    )]
    pub status: String,
    /// Why, kept in the history.
    #[serde(default)]
    #[schema(max_length = 500, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub reason: Option<String>,
}

/// `POST /v1/orders/{id}/cancel`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Why, kept in the history.
    #[serde(default)]
    #[schema(max_length = 500, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub reason: Option<String>,
}

/// A reason as given: at most 500 characters, no control characters.
pub fn reason(raw: Option<String>) -> Result<Option<String>, ApiError> {
    match raw {
        Some(text) if text.chars().count() > 500 || text.chars().any(char::is_control) => {
            Err(ApiError::new(
                Code::ValidationError,
                "reason: must be at most 500 characters without control characters",
            ))
        }
        other => Ok(other),
    }
}
