//! `Mutation`: REST's cart writes, argument for argument, through the same use cases.
//!
//! Each mutation checks its arguments with REST's checks in REST's order ([`crate::commands`]:
//! cart key, then the rest), so one request sent both ways is refused with the same code; then
//! it runs its command through the use cases ([`crate::graphql::writes`]).

use async_graphql::{Context, ID, Object, Result};
use serde_json::json;

use cart_core::{CartError, CartKey, Command, IdempotencyKey, Precondition, WriteOptions};

use crate::auth::Caller;
use crate::commands::{self, GRAPHQL, Refused};
use crate::extract::is_idempotency_key;
use crate::flags::{Feature, Subject};
use crate::graphql::context::{Traceparent, caller, state};
use crate::graphql::error::{gql_error, refuse, user_error};
use crate::graphql::types::{
    CartPayload, CheckoutInput, CheckoutPayload, GuestPayload, MergeStrategy, Order, OrderPayload,
    Payment,
};
use crate::graphql::writes::{self, Write};
use crate::order_dto::{CheckoutRequest, CheckoutView, OrderView};
use crate::problem::{ApiError, Code};
use crate::routes::orders::{actor, order_id, quote_changed};
use crate::totals::CheckoutQuoter;
use crate::writes::scoped_key;

/// The root of changes.
pub struct Mutation;

/// Cart changes, with REST's rules. Each answers a `CartPayload`: the cart after the change,
/// or `userErrors` with REST's codes when it was refused (nothing is written then).
/// Authorization failures (`UNAUTHORIZED`, `FORBIDDEN`) and server failures are GraphQL errors.
/// `expectedVersion` makes a change conditional (`CONFLICT` on mismatch); `idempotencyKey`
/// makes a retry safe: the same key with the same arguments replays the first answer and
/// changes nothing, with other arguments it is `IDEMPOTENCY_KEY_REUSED`.
#[Object]
impl Mutation {
    /// Add units of a catalog product (REST `POST /v1/cart/{cartKey}/items`). The price and
    /// name come from the catalog; `unitPrice`, if sent, asserts the price the shopper saw
    /// (`PRICE_CHANGED` if it differs). Adding a product already in the cart adds to its line.
    /// Creates the cart if there is none.
    #[allow(clippy::too_many_arguments)]
    async fn add_item(
        &self,
        ctx: &Context<'_>,
        cart_key: ID,
        product_id: ID,
        quantity: i32,
        variant_id: Option<ID>,
        unit_price: Option<i32>,
        expected_version: Option<i32>,
        idempotency_key: Option<String>,
    ) -> Result<CartPayload> {
        let caller = caller(ctx);
        let key = match caller.cart_key(&cart_key) {
            Ok(key) => key,
            Err(error) => return refuse(error, Some("cartKey")),
        };
        let command = match commands::add_item(
            &GRAPHQL,
            &product_id,
            variant_id.as_ref().map(|v| v.as_str()),
            &json!(quantity),
            unit_price.map(i64::from),
        ) {
            Ok(command) => command,
            Err(refused) => return refusal(refused),
        };
        let write = Write {
            operation: "addItem",
            legacy_arguments: json!({
                "cartKey": cart_key.as_str(), "productId": product_id.as_str(),
                "quantity": quantity, "variantId": variant_id.as_deref(),
                "unitPrice": unit_price, "expectedVersion": expected_version,
            }),
            idempotency_key,
            expected_version,
        };
        writes::run(ctx, &caller, &key, Command::AddItem(command), write).await
    }

    /// Set a line's quantity, 1 to the line maximum (REST `PATCH …/items/{itemID}`); remove a
    /// line with `removeItem`.
    async fn update_item_quantity(
        &self,
        ctx: &Context<'_>,
        cart_key: ID,
        item_id: ID,
        quantity: i32,
        expected_version: Option<i32>,
        idempotency_key: Option<String>,
    ) -> Result<CartPayload> {
        let caller = caller(ctx);
        let key = match caller.cart_key(&cart_key) {
            Ok(key) => key,
            Err(error) => return refuse(error, Some("cartKey")),
        };
        let command = match commands::set_quantity(&GRAPHQL, &item_id, &json!(quantity)) {
            Ok(command) => command,
            Err(refused) => return refusal(refused),
        };
        let write = Write {
            operation: "updateItemQuantity",
            legacy_arguments: json!({
                "cartKey": cart_key.as_str(), "itemId": item_id.as_str(),
                "quantity": quantity, "expectedVersion": expected_version,
            }),
            idempotency_key,
            expected_version,
        };
        writes::run(ctx, &caller, &key, Command::SetQuantity(command), write).await
    }

    /// Remove a line (REST `DELETE …/items/{itemID}`).
    async fn remove_item(
        &self,
        ctx: &Context<'_>,
        cart_key: ID,
        item_id: ID,
        expected_version: Option<i32>,
        idempotency_key: Option<String>,
    ) -> Result<CartPayload> {
        let caller = caller(ctx);
        let key = match caller.cart_key(&cart_key) {
            Ok(key) => key,
            Err(error) => return refuse(error, Some("cartKey")),
        };
        let command = match commands::remove_item(&GRAPHQL, &item_id) {
            Ok(command) => command,
            Err(refused) => return refusal(refused),
        };
        let write = Write {
            operation: "removeItem",
            legacy_arguments: json!({
                "cartKey": cart_key.as_str(), "itemId": item_id.as_str(),
                "expectedVersion": expected_version,
            }),
            idempotency_key,
            expected_version,
        };
        writes::run(ctx, &caller, &key, Command::RemoveItem(command), write).await
    }

    /// Empty a cart (REST `DELETE /v1/cart/{cartKey}`): it keeps its id and its version goes
    /// up. Answers the emptied cart, or no cart when there was none (not an error).
    async fn clear_cart(
        &self,
        ctx: &Context<'_>,
        cart_key: ID,
        expected_version: Option<i32>,
        idempotency_key: Option<String>,
    ) -> Result<CartPayload> {
        let caller = caller(ctx);
        let key = match caller.cart_key(&cart_key) {
            Ok(key) => key,
            Err(error) => return refuse(error, Some("cartKey")),
        };
        let write = Write {
            operation: "clearCart",
            legacy_arguments: json!({
                "cartKey": cart_key.as_str(), "expectedVersion": expected_version,
            }),
            idempotency_key,
            expected_version,
        };
        writes::run(ctx, &caller, &key, Command::Clear, write).await
    }

    /// Merge a guest cart into the caller's own user cart, at sign-in (REST
    /// `POST /v1/cart/me/merge`; a token is required). `strategy` defaults to `MAX`. The guest
    /// cart ends in the same atomic commit (its key's next cart continues its versions), so
    /// merging again changes nothing. `dryRun`
    /// answers the would-be cart and report and changes nothing. `expectedVersion` is the user
    /// cart's.
    async fn merge_guest_cart(
        &self,
        ctx: &Context<'_>,
        guest_id: ID,
        strategy: Option<MergeStrategy>,
        dry_run: Option<bool>,
        expected_version: Option<i32>,
        idempotency_key: Option<String>,
    ) -> Result<CartPayload> {
        let caller = caller(ctx);
        let Caller::User { id: user, .. } = &caller else {
            let error = ApiError::new(
                Code::Unauthorized,
                "merging needs a bearer token: it targets a user cart",
            );
            return refuse(error, None);
        };
        let key = CartKey::User(user.clone());
        let strategy: Option<cart_core::MergeStrategy> = strategy.map(Into::into);
        let dry_run = dry_run.unwrap_or(false);
        let request = match commands::merge(&GRAPHQL, &guest_id, strategy, dry_run) {
            Ok(request) => request,
            Err(refused) => return refusal(refused),
        };
        if let Err(error) = state(ctx)?
            .flags
            .require_merge_strategy(request.strategy, &Subject::owner(&key))
        {
            return refuse(error, None);
        }
        let write = Write {
            operation: "mergeGuestCart",
            legacy_arguments: json!({
                "guestId": guest_id.as_str(), "strategy": request.strategy.as_str(),
                "dryRun": dry_run, "expectedVersion": expected_version,
            }),
            idempotency_key,
            expected_version,
        };
        writes::run(ctx, &caller, &key, Command::Merge(request), write).await
    }

    /// Set where the cart ships to (REST `PATCH /v1/cart/{cartKey}` with `region`): an ISO
    /// 3166-1 country, optionally with a subdivision (`FR`, `US-CA`). It picks the tax rates
    /// and shipping rate of `totals`. The region the cart already has changes nothing.
    async fn set_cart_region(
        &self,
        ctx: &Context<'_>,
        cart_key: ID,
        region: String,
        expected_version: Option<i32>,
        idempotency_key: Option<String>,
    ) -> Result<CartPayload> {
        let caller = caller(ctx);
        let key = match caller.cart_key(&cart_key) {
            Ok(key) => key,
            Err(error) => return refuse(error, Some("cartKey")),
        };
        let region = match commands::region("region", &region) {
            Ok(region) => region,
            Err(refused) => return refusal(refused),
        };
        let write = cart_write(
            "setCartRegion",
            &cart_key,
            idempotency_key,
            expected_version,
        );
        writes::run(ctx, &caller, &key, Command::SetRegion(region), write).await
    }

    /// Put a discount code on the cart (REST `POST /v1/cart/{cartKey}/discount-codes`). The
    /// code must name a promotion (`PROMOTION_NOT_FOUND`); one that does not apply now stays on
    /// the cart and `totals` says why.
    async fn add_discount_code(
        &self,
        ctx: &Context<'_>,
        cart_key: ID,
        code: String,
        expected_version: Option<i32>,
        idempotency_key: Option<String>,
    ) -> Result<CartPayload> {
        let caller = caller(ctx);
        let key = match caller.cart_key(&cart_key) {
            Ok(key) => key,
            Err(error) => return refuse(error, Some("cartKey")),
        };
        if let Err(error) = state(ctx)?
            .flags
            .require(Feature::DiscountCodes, &Subject::owner(&key))
        {
            return refuse(error, None);
        }
        let code = match commands::discount_code("code", &code) {
            Ok(code) => code,
            Err(refused) => return refusal(refused),
        };
        let write = cart_write(
            "addDiscountCode",
            &cart_key,
            idempotency_key,
            expected_version,
        );
        writes::run(ctx, &caller, &key, Command::AddDiscountCode(code), write).await
    }

    /// Take a discount code off the cart (REST `DELETE …/discount-codes/{code}`);
    /// `DISCOUNT_CODE_NOT_FOUND` when the cart does not hold it.
    async fn remove_discount_code(
        &self,
        ctx: &Context<'_>,
        cart_key: ID,
        code: String,
        expected_version: Option<i32>,
        idempotency_key: Option<String>,
    ) -> Result<CartPayload> {
        let caller = caller(ctx);
        let key = match caller.cart_key(&cart_key) {
            Ok(key) => key,
            Err(error) => return refuse(error, Some("cartKey")),
        };
        let code = match commands::discount_code("code", &code) {
            Ok(code) => code,
            Err(refused) => return refusal(refused),
        };
        let write = cart_write(
            "removeDiscountCode",
            &cart_key,
            idempotency_key,
            expected_version,
        );
        writes::run(ctx, &caller, &key, Command::RemoveDiscountCode(code), write).await
    }

    /// Give every line the catalog's current price (REST `POST /v1/cart/{cartKey}/reprice`).
    /// Lines whose product is no longer sold keep theirs; nothing to reprice changes nothing.
    async fn reprice_cart(
        &self,
        ctx: &Context<'_>,
        cart_key: ID,
        expected_version: Option<i32>,
        idempotency_key: Option<String>,
    ) -> Result<CartPayload> {
        let caller = caller(ctx);
        let key = match caller.cart_key(&cart_key) {
            Ok(key) => key,
            Err(error) => return refuse(error, Some("cartKey")),
        };
        let write = cart_write("repriceCart", &cart_key, idempotency_key, expected_version);
        writes::run(ctx, &caller, &key, Command::Reprice, write).await
    }

    /// Check out a cart (REST `POST /v1/cart/{cartKey}/checkout`): the order, waiting for
    /// payment, the stock it reserves, the discount-code uses and the cart locked, in one commit.
    /// `idempotencyKey` is required (a retry answers the same order); `input.quoteToken` is the
    /// cart's `totals.quoteToken` the shopper agreed to (`QUOTE_CHANGED` with the new totals in
    /// `details` when they moved).
    async fn checkout(
        &self,
        ctx: &Context<'_>,
        cart_key: ID,
        input: CheckoutInput,
        idempotency_key: String,
        expected_version: Option<i32>,
    ) -> Result<CheckoutPayload> {
        let refused = |error: ApiError, field: Option<&str>| {
            user_error(error, field).map(|error| CheckoutPayload {
                user_errors: vec![error],
                ..CheckoutPayload::default()
            })
        };
        let caller = caller(ctx);
        let key = match caller.cart_key(&cart_key) {
            Ok(key) => key,
            Err(error) => return refused(error, Some("cartKey")),
        };
        if let Err(error) = state(ctx)?
            .flags
            .require(Feature::Checkout, &Subject::owner(&key))
        {
            return refused(error, None);
        }
        if !is_idempotency_key(&idempotency_key) {
            let error = ApiError::new(
                Code::ValidationError,
                "idempotencyKey must be 1-255 printable ASCII characters",
            );
            return refused(error, Some("idempotencyKey"));
        }
        let precondition = match expected_version.map(u64::try_from).transpose() {
            Ok(version) => version.map(Precondition::BodyVersion),
            Err(_) => {
                let error = ApiError::new(
                    Code::ValidationError,
                    "expectedVersion must be a non-negative integer",
                );
                return refused(error, Some("expectedVersion"));
            }
        };
        let request = CheckoutRequest {
            quote_token: input.quote_token,
            email: input.email,
            shipping_address: input.shipping_address.into(),
            billing_address: input.billing_address.into(),
            number_of_installments: i64::from(input.number_of_installments),
        };
        let details = match request.details() {
            Ok(details) => details,
            Err(error) => return refused(error, None),
        };
        let state = state(ctx)?;
        let options = WriteOptions {
            precondition,
            idempotency: Some(IdempotencyKey {
                scoped: scoped_key(&caller, &key, &idempotency_key),
                legacy_fingerprint: None,
            }),
            traceparent: crate::trace_context::current().or_else(|| {
                ctx.data_opt::<Traceparent>()
                    .and_then(|Traceparent(value)| crate::trace_context::parse(value))
            }),
        };
        match state
            .service
            .checkout(&key, &details, &CheckoutQuoter(state), options)
            .await
        {
            Ok(written) => {
                let Some(order) = written.outcome.order() else {
                    return Err(gql_error(ApiError::internal("checkout answered no order")));
                };
                if !order.discount_codes.is_empty() {
                    state.priced.forget_all();
                }
                let view = CheckoutView::new(order);
                Ok(CheckoutPayload {
                    payment: Some(Payment::from(&view.payment)),
                    order: Some(Order(view.order)),
                    user_errors: Vec::new(),
                })
            }
            Err(CartError::QuoteChanged { quote_token }) => refused(
                quote_changed(state, &key, quote_token).await,
                Some("input.quoteToken"),
            ),
            Err(error) => refused(error.into(), None),
        }
    }

    /// Cancel an order (REST `POST /v1/orders/{id}/cancel`): its buyer (a token, or the
    /// `guestId` it was placed under) before it is fulfilled, or an admin.
    async fn cancel_order(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
        guest_id: Option<ID>,
    ) -> Result<OrderPayload> {
        let refused = |error: ApiError, field: Option<&str>| {
            user_error(error, field).map(|error| OrderPayload {
                user_errors: vec![error],
                ..OrderPayload::default()
            })
        };
        let order_id = match order_id(&id) {
            Ok(id) => id,
            Err(error) => return refused(error, Some("id")),
        };
        let actor = match actor(&caller(ctx), guest_id.as_ref().map(|g| g.as_str())) {
            Ok(actor) => actor,
            Err(error) => return refused(error, Some("guestId")),
        };
        let reason = match crate::order_dto::reason(reason) {
            Ok(reason) => reason,
            Err(error) => return refused(error, Some("reason")),
        };
        let traceparent = crate::trace_context::current().or_else(|| {
            ctx.data_opt::<Traceparent>()
                .and_then(|Traceparent(value)| crate::trace_context::parse(value))
        });
        match state(ctx)?
            .service
            .act_on_order(
                order_id,
                cart_core::order::Action::Cancel,
                &actor,
                reason,
                traceparent.as_deref(),
            )
            .await
        {
            Ok(order) => Ok(OrderPayload {
                order: Some(Order(OrderView::new(&order, false))),
                user_errors: Vec::new(),
            }),
            Err(error) => refused(error.into(), None),
        }
    }

    /// A new guest id to use as a cart key (REST `POST /v1/guests`). Nothing is stored until
    /// the first item is added.
    async fn create_guest(&self, ctx: &Context<'_>) -> Result<GuestPayload> {
        let guest_id = state(ctx)?.service.new_guest_id();
        Ok(GuestPayload {
            guest_id: ID(guest_id.as_str().to_owned()),
        })
    }
}

/// The write options of a mutation that came after command fingerprints: no build before them
/// recorded it, so its legacy arguments are only the cart key.
fn cart_write(
    operation: &'static str,
    cart_key: &ID,
    idempotency_key: Option<String>,
    expected_version: Option<i32>,
) -> Write {
    Write {
        operation,
        legacy_arguments: json!({"cartKey": cart_key.as_str()}),
        idempotency_key,
        expected_version,
    }
}

/// A refused argument, as a `userErrors` entry naming it.
fn refusal(refused: Refused) -> Result<CartPayload> {
    refuse(refused.error, Some(refused.argument))
}
