//! `/v1/promotions`: discount codes, defined by admins. A promotion is checked by `cart-pricing`
//! on the way in and kept by the store as the JSON document it shows, under its code.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use cart_core::{PricingKind, PromotionCode};
use cart_pricing::{Promotion, PromotionInput};

use crate::auth::Caller;
use crate::commands;
use crate::extract::JsonBody;
use crate::formats;
use crate::problem::{ApiError, Code, InternalError, Problem, RateLimited, Unavailable};
use crate::routes::pricing::SettingList;
use crate::routes::{JSON_BODY, PathParams};
use crate::state::AppState;

/// `PUT /v1/promotions/{code}`: a percentage off, or a fixed amount off, with conditions. Its
/// OpenAPI schema is a `oneOf` by `type` ([`formats::promotion_request`]): what each type needs
/// is stated there, so a client can validate a definition before sending it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotionRequest {
    /// `percentage` or `fixed`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For `percentage`: more than 0 and at most 100, as a decimal string.
    #[serde(default)]
    pub percent: Option<String>,
    /// For `fixed`: minor units.
    #[serde(default, deserialize_with = "crate::integers::optional")]
    pub amount: Option<i64>,
    /// For `fixed`: ISO 4217.
    #[serde(default)]
    pub currency: Option<String>,
    /// Minor units the cart's subtotal (before discounts) must reach.
    #[serde(default, deserialize_with = "crate::integers::optional")]
    pub min_subtotal: Option<i64>,
    /// Products the code is limited to; empty for every product.
    #[serde(default)]
    pub product_ids: Vec<String>,
    /// RFC 3339; before it the code does not apply.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub starts_at: Option<OffsetDateTime>,
    /// RFC 3339, after `starts_at`; from it the code does not apply.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    /// How many orders may use the code (counted at checkout).
    #[serde(default, deserialize_with = "crate::integers::optional")]
    pub usage_limit: Option<i64>,
    /// Whether it combines with other stackable codes (default false).
    #[serde(default)]
    pub stackable: bool,
}

impl utoipa::PartialSchema for PromotionRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::RefOr::T(utoipa::openapi::Schema::OneOf(formats::promotion_request()))
    }
}

impl ToSchema for PromotionRequest {}

impl PromotionRequest {
    /// The request as `cart-pricing` reads it.
    fn into_input(self) -> PromotionInput {
        PromotionInput {
            kind: self.kind,
            percent: self.percent,
            amount: self.amount,
            currency: self.currency,
            min_subtotal: self.min_subtotal,
            product_ids: self.product_ids,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            usage_limit: self.usage_limit,
            stackable: self.stackable,
        }
    }
}

/// A promotion as stored and shown.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct PromotionView {
    /// The code, upper case.
    pub code: String,
    /// `percentage` or `fixed`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For `percentage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<String>,
    /// For `fixed`: minor units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    /// For `fixed`: ISO 4217.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Minor units the subtotal must reach, if any.
    pub min_subtotal: Option<i64>,
    /// The products it is limited to; empty for all.
    pub product_ids: Vec<String>,
    /// RFC 3339, if any.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<OffsetDateTime>,
    /// RFC 3339, if any.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<OffsetDateTime>,
    /// Orders that may use it, if limited.
    pub usage_limit: Option<i64>,
    /// Whether it combines with other stackable codes.
    pub stackable: bool,
}

impl PromotionView {
    fn new(promotion: &Promotion) -> Self {
        let input = promotion.to_input();
        Self {
            code: promotion.code.to_string(),
            kind: input.kind,
            percent: input.percent,
            amount: input.amount,
            currency: input.currency,
            min_subtotal: input.min_subtotal,
            product_ids: input.product_ids,
            starts_at: input.starts_at,
            ends_at: input.ends_at,
            usage_limit: input.usage_limit,
            stackable: input.stackable,
        }
    }
}

/// The `{code}` path parameter, for the OpenAPI document.
struct CodePath;

impl IntoParams for CodePath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![formats::parameter(
            "code",
            ParameterIn::Path,
            "The discount code, in any case",
            formats::discount_code(),
        )]
    }
}

/// A promotion from its code and request, checked, with the document the store keeps for it
/// (also what `cartd pricing import` writes).
pub fn promotion_setting(
    raw_code: &str,
    request: PromotionRequest,
) -> Result<(Promotion, String), ApiError> {
    let code = code(raw_code)?;
    let promotion = request.into_input().parse(code).map_err(|e| {
        ApiError::new(Code::ValidationError, e.to_string())
            .with_details(serde_json::json!({"field": e.field}))
    })?;
    let document = serde_json::to_string(&promotion.to_input())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((promotion, document))
}

fn code(raw: &str) -> Result<PromotionCode, ApiError> {
    Ok(commands::discount_code("code", raw)?)
}

fn not_found(code: &PromotionCode) -> ApiError {
    ApiError::new(
        Code::PromotionNotFound,
        format!("no promotion has the code {code}"),
    )
    .with_details(serde_json::json!({"code": code.as_str()}))
}

/// Define a promotion (admin).
///
/// Replaces the code's whole definition. Carts holding the code are priced by it from their
/// next totals.
#[utoipa::path(put, path = "/v1/promotions/{code}", tag = "pricing",
    params(CodePath),
    request_body(content = PromotionRequest, description = JSON_BODY, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = PromotionView),
        (status = 201, description = "Created", body = PromotionView),
        (status = 400, description = "A malformed code or field, a zero percent, or `ends_at` not after `starts_at`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json in UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security(("bearer" = [])))]
async fn put_promotion(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(raw_code): PathParams<String>,
    body: JsonBody<PromotionRequest>,
) -> Result<(StatusCode, Json<PromotionView>), ApiError> {
    caller.require_admin()?;
    let (promotion, document) = promotion_setting(&raw_code, body.value)?;
    let created = state
        .pricing
        .put_setting(PricingKind::Promotion, promotion.code.as_str(), &document)
        .await?;
    state.priced.forget_all();
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(PromotionView::new(&promotion))))
}

/// Get a promotion (admin).
#[utoipa::path(get, path = "/v1/promotions/{code}", tag = "pricing",
    params(CodePath),
    responses(
        (status = 200, description = "The promotion", body = PromotionView),
        (status = 400, description = "A malformed code", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No promotion has the code (`PROMOTION_NOT_FOUND`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security(("bearer" = [])))]
async fn get_promotion(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(raw_code): PathParams<String>,
) -> Result<Json<PromotionView>, ApiError> {
    caller.require_admin()?;
    let code = code(&raw_code)?;
    let promotion = crate::totals::promotion(state.pricing.as_ref(), &code)
        .await?
        .ok_or_else(|| not_found(&code))?;
    Ok(Json(PromotionView::new(&promotion)))
}

/// List every promotion (admin).
///
/// Codes are secrets a shop hands out, so only admins list them.
#[utoipa::path(get, path = "/v1/promotions", tag = "pricing",
    responses(
        (status = 200, description = "Every promotion, ordered by code", body = SettingList<PromotionView>),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security(("bearer" = [])))]
async fn list_promotions(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SettingList<PromotionView>>, ApiError> {
    caller.require_admin()?;
    let mut items = Vec::new();
    for (raw_code, document) in state.pricing.settings(PricingKind::Promotion).await? {
        let code = PromotionCode::parse(&raw_code)
            .map_err(|e| ApiError::internal(format!("stored promotion {raw_code:?}: {e}")))?;
        let promotion = crate::totals::stored_promotion(&code, &document)?;
        items.push(PromotionView::new(&promotion));
    }
    Ok(Json(SettingList { items }))
}

/// Delete a promotion (admin).
///
/// Carts holding the code keep it; their totals show it as not applying
/// (`PROMOTION_NOT_FOUND`) until the shopper removes it.
#[utoipa::path(delete, path = "/v1/promotions/{code}", tag = "pricing",
    params(CodePath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A malformed code", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No promotion has the code (`PROMOTION_NOT_FOUND`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security(("bearer" = [])))]
async fn delete_promotion(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(raw_code): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let code = code(&raw_code)?;
    let deleted = state
        .pricing
        .delete_setting(PricingKind::Promotion, code.as_str())
        .await?;
    state.priced.forget_all();
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&code))
    }
}

/// The promotion routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_promotions))
        .routes(routes!(put_promotion, get_promotion, delete_promotion))
}
