//! `Mutation`: REST's cart writes, argument for argument, through the same use cases.
//!
//! Each mutation checks its arguments in REST's order (cart key, then the rest), so one request
//! sent both ways is refused with the same code; then it runs as a REST write
//! ([`crate::graphql::writes`]).

use async_graphql::{Context, ID, Object, Result};
use serde_json::json;
use uuid::Uuid;

use cart_core::{AddItem, CartKey, GuestId, MergeRequest, ProductId, VariantId};

use crate::auth::Caller;
use crate::extract::requested_quantity;
use crate::graphql::context::{caller, state};
use crate::graphql::error::refuse;
use crate::graphql::types::{CartPayload, GuestPayload, MergeStrategy};
use crate::graphql::writes::{self, Write};
use crate::idempotency::Written;
use crate::problem::{ApiError, Code};

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
        let product = match ProductId::parse(&product_id) {
            Ok(id) => id,
            Err(e) => return refuse(invalid(e, "productId"), Some("productId")),
        };
        let variant = match variant_id
            .as_deref()
            .map(|v| VariantId::parse(v))
            .transpose()
        {
            Ok(variant) => variant,
            Err(e) => return refuse(invalid(e, "variantId"), Some("variantId")),
        };
        let requested = match requested_quantity(&json!(quantity)) {
            Ok(quantity) => quantity,
            Err(error) => return refuse(error, Some("quantity")),
        };
        if unit_price.is_some_and(|price| price < 0) {
            let error = ApiError::new(
                Code::ValidationError,
                "unitPrice must be a non-negative integer of minor units",
            );
            return refuse(error, Some("unitPrice"));
        }
        let command = AddItem {
            product_id: product,
            variant_id: variant,
            quantity: requested,
            asserted_unit_price: unit_price.map(i64::from),
        };
        let write = Write {
            operation: "addItem",
            arguments: json!({
                "cartKey": cart_key.as_str(), "productId": product_id.as_str(),
                "quantity": quantity, "variantId": variant_id.as_deref(),
                "unitPrice": unit_price, "expectedVersion": expected_version,
            }),
            idempotency_key,
            expected_version,
        };
        let service = &state(ctx)?.service;
        let target = key.clone();
        writes::run(ctx, &caller, &key, write, |options| async move {
            service.add_item(&target, command, options).await.map(Some)
        })
        .await
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
        let item = match item(&item_id) {
            Ok(item) => item,
            Err(error) => return refuse(error, Some("itemId")),
        };
        let requested = match requested_quantity(&json!(quantity)) {
            Ok(quantity) => quantity,
            Err(error) => return refuse(error, Some("quantity")),
        };
        let write = Write {
            operation: "updateItemQuantity",
            arguments: json!({
                "cartKey": cart_key.as_str(), "itemId": item_id.as_str(),
                "quantity": quantity, "expectedVersion": expected_version,
            }),
            idempotency_key,
            expected_version,
        };
        let service = &state(ctx)?.service;
        let target = key.clone();
        writes::run(ctx, &caller, &key, write, |options| async move {
            service
                .set_quantity(&target, item, requested, options)
                .await
                .map(Some)
        })
        .await
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
        let item = match item(&item_id) {
            Ok(item) => item,
            Err(error) => return refuse(error, Some("itemId")),
        };
        let write = Write {
            operation: "removeItem",
            arguments: json!({
                "cartKey": cart_key.as_str(), "itemId": item_id.as_str(),
                "expectedVersion": expected_version,
            }),
            idempotency_key,
            expected_version,
        };
        let service = &state(ctx)?.service;
        let target = key.clone();
        writes::run(ctx, &caller, &key, write, |options| async move {
            service.remove_item(&target, item, options).await.map(Some)
        })
        .await
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
            arguments: json!({"cartKey": cart_key.as_str(), "expectedVersion": expected_version}),
            idempotency_key,
            expected_version,
        };
        let service = &state(ctx)?.service;
        let target = key.clone();
        writes::run(ctx, &caller, &key, write, |options| async move {
            service.clear(&target, options).await
        })
        .await
    }

    /// Merge a guest cart into the caller's own user cart, at sign-in (REST
    /// `POST /v1/cart/me/merge`; a token is required). `strategy` defaults to `MAX`. The guest
    /// cart is deleted in the same atomic commit, so merging again changes nothing. `dryRun`
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
        let guest = match GuestId::parse(&guest_id) {
            Ok(guest) => guest,
            Err(e) => {
                let error = ApiError::new(Code::InvalidGuestId, format!("guestId: {e}"))
                    .with_details(json!({"guest_id": guest_id.as_str()}));
                return refuse(error, Some("guestId"));
            }
        };
        let strategy: cart_core::MergeStrategy = strategy.map(Into::into).unwrap_or_default();
        let dry_run = dry_run.unwrap_or(false);
        let request = MergeRequest {
            guest,
            strategy,
            dry_run,
        };
        let write = Write {
            operation: "mergeGuestCart",
            arguments: json!({
                "guestId": guest_id.as_str(), "strategy": strategy.as_str(), "dryRun": dry_run,
                "expectedVersion": expected_version,
            }),
            idempotency_key,
            expected_version,
        };
        let service = &state(ctx)?.service;
        writes::run(ctx, &caller, &key, write, |options| async move {
            let merged = service.merge(user, &request, options).await?;
            Ok(Written {
                dry_run,
                ..merged.into()
            })
        })
        .await
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

/// A malformed id argument.
fn invalid(error: cart_core::IdError, argument: &str) -> ApiError {
    ApiError::new(Code::ValidationError, error.to_string()).with_details(json!({"field": argument}))
}

/// An item id: a UUID, as in REST's paths.
fn item(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::new(Code::ValidationError, "itemId must be a UUID")
            .with_details(json!({"item_id": raw}))
    })
}
