//! Orders as GraphQL shows them: REST's `Order` (`crate::order_dto::OrderView`, the same values)
//! in camelCase, money as [`Money`], timestamps as RFC 3339 strings.

use async_graphql::{ID, InputObject, Json, Object, SimpleObject};

use crate::graphql::types::cart::OrderStatus;
use crate::graphql::types::money::{Money, int32};
use crate::graphql::types::payload::UserError;
use crate::order_dto::{AddressBody, OrderView, PaymentView};

/// An order.
pub struct Order(pub OrderView);

/// RFC 3339 text of a time.
fn rfc3339(at: time::OffsetDateTime) -> String {
    cart_core::timestamp::Rfc3339Text::new(at)
        .map(|text| text.as_str().to_owned())
        .unwrap_or_default()
}

/// An order: what a checkout bought, and where it stands.
#[Object]
impl Order {
    /// The order's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The human order number, e.g. `CD-000123`.
    async fn number(&self) -> &str {
        &self.0.number
    }
    /// Where it stands.
    async fn status(&self) -> OrderStatus {
        self.0.status.into()
    }
    /// Goes up by one with every change of the order.
    async fn version(&self) -> async_graphql::Result<i32> {
        int32(self.0.version, "version")
    }
    /// Who bought.
    async fn buyer(&self) -> Buyer {
        Buyer {
            buyer_id: self.0.buyer.buyer_id.clone(),
            owner: self.0.buyer.owner.into(),
            email: self.0.buyer.email.clone(),
        }
    }
    /// What was bought.
    async fn lines(&self) -> Vec<OrderLine> {
        self.0
            .lines
            .iter()
            .map(|line| OrderLine {
                item_id: ID(line.item_id.to_string()),
                product_id: ID(line.product_id.clone()),
                variant_id: line.variant_id.clone().map(ID),
                name: line.name.clone(),
                quantity: i32::try_from(line.quantity).unwrap_or(i32::MAX),
                unit_price: Money::new(line.unit_price, &self.0.currency),
                line_total: Money::new(line.line_total, &self.0.currency),
            })
            .collect()
    }
    /// ISO 4217 code.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// What the buyer pays.
    async fn total(&self) -> Money {
        Money::new(self.0.total, &self.0.currency)
    }
    /// The totals as quoted at checkout (REST's `/totals` shape, snake_case).
    async fn totals(&self) -> Json<serde_json::Value> {
        Json(self.0.totals.clone())
    }
    /// The discount codes that applied.
    async fn discount_codes(&self) -> &[String] {
        &self.0.discount_codes
    }
    /// Where it ships to.
    async fn region(&self) -> Option<&str> {
        self.0.region.as_deref()
    }
    /// The shipping address.
    async fn shipping_address(&self) -> Address {
        Address::from(&self.0.shipping_address)
    }
    /// The billing address.
    async fn billing_address(&self) -> Address {
        Address::from(&self.0.billing_address)
    }
    /// Installments chosen.
    async fn number_of_installments(&self) -> i32 {
        i32::from(self.0.number_of_installments)
    }
    /// The payment asked for (the client secret only in `checkout`'s answer).
    async fn payment(&self) -> Payment {
        Payment::from(&self.0.payment)
    }
    /// Every status the order went through, oldest first.
    async fn status_history(&self) -> Vec<StatusChange> {
        self.0
            .status_history
            .iter()
            .map(|step| StatusChange {
                status: step.status.into(),
                at: rfc3339(step.at),
                reason: step.reason.clone(),
            })
            .collect()
    }
    /// Fulfilment's progress.
    async fn fulfilment(&self) -> Fulfilment {
        Fulfilment {
            attempts: i32::try_from(self.0.fulfilment.attempts).unwrap_or(i32::MAX),
            last_error: self.0.fulfilment.last_error.clone(),
        }
    }
    /// RFC 3339.
    async fn created_at(&self) -> String {
        rfc3339(self.0.created_at)
    }
    /// RFC 3339.
    async fn updated_at(&self) -> String {
        rfc3339(self.0.updated_at)
    }
    /// RFC 3339: when an unpaid order expires.
    async fn pay_by(&self) -> String {
        rfc3339(self.0.pay_by)
    }
}

/// Who bought.
#[derive(SimpleObject)]
pub struct Buyer {
    /// The user id, or the guest id, the order was placed under.
    pub buyer_id: String,
    /// `USER` or `GUEST`.
    pub owner: crate::graphql::types::cart::CartOwner,
    /// Where the confirmation goes.
    pub email: String,
}

/// One line of an order.
#[derive(SimpleObject)]
pub struct OrderLine {
    /// The cart line's id.
    pub item_id: ID,
    /// The product.
    pub product_id: ID,
    /// The variant, if any.
    pub variant_id: Option<ID>,
    /// The name at checkout.
    pub name: String,
    /// Units.
    pub quantity: i32,
    /// Unit price paid.
    pub unit_price: Money,
    /// `quantity × unitPrice`.
    pub line_total: Money,
}

/// A postal address.
#[derive(SimpleObject)]
pub struct Address {
    /// Recipient.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// More of the street address.
    pub line2: Option<String>,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_code: String,
    /// State, province or county.
    pub state: Option<String>,
    /// ISO 3166-1 alpha-2 code.
    pub country: String,
}

impl From<&AddressBody> for Address {
    fn from(address: &AddressBody) -> Self {
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

/// The payment asked for.
#[derive(SimpleObject)]
pub struct Payment {
    /// The provider's payment intent id.
    pub intent_id: String,
    /// What to pay.
    pub amount: Money,
    /// ISO 4217 code, as the provider writes it (lower case).
    pub currency: String,
    /// What the storefront hands to the provider's client to pay; only in `checkout`'s answer.
    pub client_secret: Option<String>,
}

impl From<&PaymentView> for Payment {
    fn from(payment: &PaymentView) -> Self {
        Self {
            intent_id: payment.intent_id.clone(),
            amount: Money::new(payment.amount, &payment.currency.to_ascii_uppercase()),
            currency: payment.currency.clone(),
            client_secret: payment.client_secret.clone(),
        }
    }
}

/// One step of an order's history.
#[derive(SimpleObject)]
pub struct StatusChange {
    /// The status entered.
    pub status: OrderStatus,
    /// RFC 3339.
    pub at: String,
    /// Why, when there is more to say than the status.
    pub reason: Option<String>,
}

/// Fulfilment's progress.
#[derive(SimpleObject)]
pub struct Fulfilment {
    /// Attempts since the order was (last) paid.
    pub attempts: i32,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

/// A postal address, as checkout takes it.
#[derive(InputObject)]
pub struct AddressInput {
    /// Recipient, 1–200 characters.
    pub name: String,
    /// Street and number, 1–200 characters.
    pub line1: String,
    /// More of the street address.
    pub line2: Option<String>,
    /// City, 1–200 characters.
    pub city: String,
    /// Postal code, 1–20 characters.
    pub postal_code: String,
    /// State, province or county.
    pub state: Option<String>,
    /// ISO 3166-1 alpha-2 code, upper case; must be the cart region's country.
    pub country: String,
}

impl From<AddressInput> for AddressBody {
    fn from(input: AddressInput) -> Self {
        Self {
            name: input.name,
            line1: input.line1,
            line2: input.line2,
            city: input.city,
            postal_code: input.postal_code,
            state: input.state,
            country: input.country,
        }
    }
}

/// What checkout takes besides the cart (REST's checkout body).
#[derive(InputObject)]
pub struct CheckoutInput {
    /// The `quoteToken` of the cart's `totals` the shopper agreed to.
    pub quote_token: String,
    /// Where the confirmation goes.
    pub email: String,
    /// Where it ships to.
    pub shipping_address: AddressInput,
    /// Who pays, where.
    pub billing_address: AddressInput,
    /// Installments, 1–24.
    #[graphql(default = 1)]
    pub number_of_installments: i32,
}

/// `checkout`'s answer: the order and the payment to make, or why not.
#[derive(SimpleObject, Default)]
pub struct CheckoutPayload {
    /// The order, waiting for payment.
    pub order: Option<Order>,
    /// The payment to make, with its client secret.
    pub payment: Option<Payment>,
    /// Why checkout was refused, with REST's codes (`QUOTE_CHANGED` carries the new totals in
    /// `details`); nothing was written then.
    pub user_errors: Vec<UserError>,
}

/// An order change's answer.
#[derive(SimpleObject, Default)]
pub struct OrderPayload {
    /// The order after the change.
    pub order: Option<Order>,
    /// Why it was refused, with REST's codes; nothing was written then.
    pub user_errors: Vec<UserError>,
}

/// A page of orders.
#[derive(SimpleObject)]
pub struct OrderPage {
    /// Newest first.
    pub orders: Vec<Order>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// One change to a watched order.
#[derive(SimpleObject)]
pub struct OrderUpdate {
    /// The event, e.g. `order.paid`.
    #[graphql(name = "type")]
    pub event_type: String,
    /// The order's version after it.
    pub version: i32,
    /// The order as it is now.
    pub order: Option<Order>,
}
