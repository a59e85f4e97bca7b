//! `/v1/tax-rates` and `/v1/shipping-rates`: a region's pricing settings, managed by admins.
//!
//! Each setting is checked by `cart-pricing` on the way in and kept by the store as the JSON
//! document it shows, under its region.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use cart_core::{PricingKind, PricingSettings, TaxClass};
use cart_pricing::{Percent, Region, ShippingRateInput, TaxTable};

use crate::auth::Caller;
use crate::extract::JsonBody;
use crate::formats;
use crate::priced::PricedCarts;
use crate::problem::{ApiError, Code, InternalError, Problem, RateLimited, Unavailable};
use crate::routes::{JSON_BODY, PathParams};
use crate::state::AppState;
use crate::totals::unreadable;

/// The most tax classes one region's table may name.
pub const MAX_TAX_CLASSES: usize = 64;

/// `PUT /v1/tax-rates/{region}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRatesRequest {
    /// Rate by tax class, as percentages in decimal strings (`"20"`, `"5.5"`), never numbers.
    #[schema(schema_with = formats::tax_rates)]
    pub rates: BTreeMap<String, String>,
    /// Whether the region's catalog prices include tax (tax is then extracted, not added).
    pub prices_include_tax: bool,
}

/// A region's tax table.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaxRatesView {
    /// The region.
    #[schema(example = "FR")]
    pub region: String,
    /// Rate by tax class, percentages as decimal strings.
    pub rates: BTreeMap<String, String>,
    /// Whether the region's catalog prices include tax.
    pub prices_include_tax: bool,
}

/// `PUT /v1/shipping-rates/{region}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingRateRequest {
    /// The flat charge per cart, minor units.
    #[serde(deserialize_with = "crate::integers::integer")]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub amount: i64,
    /// ISO 4217 code; carts in other currencies get no shipping quote.
    #[schema(schema_with = formats::currency)]
    pub currency: String,
    /// Minor units of merchandise (after discounts, before tax) from which shipping is free;
    /// omit or null for never.
    #[serde(default, deserialize_with = "crate::integers::optional")]
    #[schema(minimum = 0, maximum = 4_611_686_018_427_387_903_i64)]
    pub free_above: Option<i64>,
}

/// A region's shipping rate.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShippingRateView {
    /// The region.
    #[schema(example = "FR")]
    pub region: String,
    /// The flat charge per cart, minor units.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Minor units from which shipping is free, if ever.
    pub free_above: Option<i64>,
}

/// A list of settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingList<T: ToSchema> {
    /// Every setting, ordered by region.
    pub items: Vec<T>,
}

/// The `{region}` path parameter, for the OpenAPI document.
struct RegionPath;

impl IntoParams for RegionPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![formats::parameter(
            "region",
            ParameterIn::Path,
            "ISO 3166-1 alpha-2 country, optionally with an ISO 3166-2 subdivision: FR, US-CA",
            formats::region(),
        )]
    }
}

/// A region in a path or a file.
pub fn region(raw: &str) -> Result<Region, ApiError> {
    Region::parse(raw).map_err(|e| ApiError::new(Code::ValidationError, e.to_string()))
}

fn invalid(field: &'static str, reason: impl ToString) -> ApiError {
    ApiError::new(
        Code::ValidationError,
        format!("{field}: {}", reason.to_string()),
    )
    .with_details(serde_json::json!({"field": field}))
}

/// A region's tax table from its request, checked, with the document the store keeps for it
/// (also what `cartd pricing import` writes).
pub fn tax_rates_setting(request: TaxRatesRequest) -> Result<(TaxTable, String), ApiError> {
    let table = tax_table(request)?;
    let document = serde_json::to_string(&table).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((table, document))
}

/// A region's shipping rate from its request, checked, with the document the store keeps for
/// it (also what `cartd pricing import` writes).
pub fn shipping_rate_setting(
    request: ShippingRateRequest,
) -> Result<(ShippingRateInput, String), ApiError> {
    let rate = ShippingRateInput {
        amount: request.amount,
        currency: request.currency,
        free_above: request.free_above,
    }
    .parse()
    .map_err(|e| invalid(e.field, e.reason))?;
    let stored = rate.to_input();
    let document = serde_json::to_string(&stored).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((stored, document))
}

fn tax_table(request: TaxRatesRequest) -> Result<TaxTable, ApiError> {
    if request.rates.len() > MAX_TAX_CLASSES {
        return Err(invalid(
            "rates",
            format!("at most {MAX_TAX_CLASSES} tax classes"),
        ));
    }
    let rates = request
        .rates
        .iter()
        .map(|(class, rate)| {
            let class = TaxClass::parse(class).map_err(|e| invalid("rates", e))?;
            let rate = Percent::parse(rate).map_err(|e| invalid("rates", e))?;
            Ok((class, rate))
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(TaxTable {
        rates,
        prices_include_tax: request.prices_include_tax,
    })
}

fn tax_view(region: String, table: &TaxTable) -> TaxRatesView {
    TaxRatesView {
        region,
        rates: table
            .rates
            .iter()
            .map(|(class, rate)| (class.to_string(), rate.to_string()))
            .collect(),
        prices_include_tax: table.prices_include_tax,
    }
}

fn shipping_view(region: String, rate: ShippingRateInput) -> ShippingRateView {
    ShippingRateView {
        region,
        amount: rate.amount,
        currency: rate.currency,
        free_above: rate.free_above,
    }
}

/// Stores `document` under `region`: `201` when new, `200` when replaced.
async fn put_setting(
    settings: &dyn PricingSettings,
    priced: &PricedCarts,
    kind: PricingKind,
    region: &Region,
    document: &str,
) -> Result<StatusCode, ApiError> {
    let created = settings
        .put_setting(kind, region.as_str(), document)
        .await?;
    priced.forget_all();
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    })
}

/// Every setting of `kind`, each document read as `D` and shown by `view`, ordered by region.
async fn list_settings<D: DeserializeOwned, V>(
    settings: &dyn PricingSettings,
    kind: PricingKind,
    view: impl Fn(String, D) -> V,
) -> Result<Vec<V>, ApiError> {
    settings
        .settings(kind)
        .await?
        .into_iter()
        .map(|(region, document)| {
            let setting =
                serde_json::from_str(&document).map_err(|e| unreadable(kind, &region, e))?;
            Ok(view(region, setting))
        })
        .collect()
}

/// Deletes the setting under `region`: `204`, or `404 NOT_FOUND` when there was none.
async fn delete_setting(
    settings: &dyn PricingSettings,
    priced: &PricedCarts,
    kind: PricingKind,
    region: &Region,
) -> Result<StatusCode, ApiError> {
    let deleted = settings.delete_setting(kind, region.as_str()).await?;
    priced.forget_all();
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            Code::SettingNotFound,
            format!("no {} for region {region}", kind.as_str().replace('_', " ")),
        ))
    }
}

/// Set a region's tax rates (admin).
///
/// Replaces the region's whole table. Carts shipping to the region are taxed by it from the next
/// read of their totals.
#[utoipa::path(put, path = "/v1/tax-rates/{region}", tag = "pricing",
    params(RegionPath),
    request_body(content = TaxRatesRequest, description = JSON_BODY, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = TaxRatesView),
        (status = 201, description = "Created", body = TaxRatesView),
        (status = 400, description = "A malformed region, tax class or rate", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json in UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security(("bearer" = [])))]
async fn put_tax_rates(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(raw_region): PathParams<String>,
    body: JsonBody<TaxRatesRequest>,
) -> Result<(StatusCode, Json<TaxRatesView>), ApiError> {
    caller.require_admin()?;
    let region = region(&raw_region)?;
    let (table, document) = tax_rates_setting(body.value)?;
    let status = put_setting(
        state.pricing.as_ref(),
        &state.priced,
        PricingKind::TaxRates,
        &region,
        &document,
    )
    .await?;
    Ok((status, Json(tax_view(region.to_string(), &table))))
}

/// List every region's tax rates.
#[utoipa::path(get, path = "/v1/tax-rates", tag = "pricing",
    responses(
        (status = 200, description = "Every region's table, ordered by region", body = SettingList<TaxRatesView>),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ))]
async fn list_tax_rates(
    State(state): State<AppState>,
) -> Result<Json<SettingList<TaxRatesView>>, ApiError> {
    let items = list_settings(
        state.pricing.as_ref(),
        PricingKind::TaxRates,
        |region, table| tax_view(region, &table),
    )
    .await?;
    Ok(Json(SettingList { items }))
}

/// Delete a region's tax rates (admin).
#[utoipa::path(delete, path = "/v1/tax-rates/{region}", tag = "pricing",
    params(RegionPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A malformed region", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The region has no tax rates (`SETTING_NOT_FOUND`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security(("bearer" = [])))]
async fn delete_tax_rates(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(raw_region): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let region = region(&raw_region)?;
    delete_setting(
        state.pricing.as_ref(),
        &state.priced,
        PricingKind::TaxRates,
        &region,
    )
    .await
}

/// Set a region's shipping rate (admin).
///
/// A flat charge per cart, free from `free_above`; taxed as `standard` in the region.
#[utoipa::path(put, path = "/v1/shipping-rates/{region}", tag = "pricing",
    params(RegionPath),
    request_body(content = ShippingRateRequest, description = JSON_BODY, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = ShippingRateView),
        (status = 201, description = "Created", body = ShippingRateView),
        (status = 400, description = "A malformed region, amount, currency or threshold", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json in UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security(("bearer" = [])))]
async fn put_shipping_rate(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(raw_region): PathParams<String>,
    body: JsonBody<ShippingRateRequest>,
) -> Result<(StatusCode, Json<ShippingRateView>), ApiError> {
    caller.require_admin()?;
    let region = region(&raw_region)?;
    let (stored, document) = shipping_rate_setting(body.value)?;
    let status = put_setting(
        state.pricing.as_ref(),
        &state.priced,
        PricingKind::ShippingRate,
        &region,
        &document,
    )
    .await?;
    Ok((status, Json(shipping_view(region.to_string(), stored))))
}

/// List every region's shipping rate.
#[utoipa::path(get, path = "/v1/shipping-rates", tag = "pricing",
    responses(
        (status = 200, description = "Every region's rate, ordered by region", body = SettingList<ShippingRateView>),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ))]
async fn list_shipping_rates(
    State(state): State<AppState>,
) -> Result<Json<SettingList<ShippingRateView>>, ApiError> {
    let items = list_settings(
        state.pricing.as_ref(),
        PricingKind::ShippingRate,
        shipping_view,
    )
    .await?;
    Ok(Json(SettingList { items }))
}

/// Delete a region's shipping rate (admin).
#[utoipa::path(delete, path = "/v1/shipping-rates/{region}", tag = "pricing",
    params(RegionPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A malformed region", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The region has no shipping rate (`SETTING_NOT_FOUND`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security(("bearer" = [])))]
async fn delete_shipping_rate(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(raw_region): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let region = region(&raw_region)?;
    delete_setting(
        state.pricing.as_ref(),
        &state.priced,
        PricingKind::ShippingRate,
        &region,
    )
    .await
}

/// The pricing settings routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tax_rates))
        .routes(routes!(put_tax_rates, delete_tax_rates))
        .routes(routes!(list_shipping_rates))
        .routes(routes!(put_shipping_rate, delete_shipping_rate))
}
