//! Totals: loads what `cart-pricing` needs for a cart (or for loose lines) — the lines' catalog
//! entries, the region's tax table and shipping rate, the codes' promotions — and prices it.
//! REST and GraphQL both answer from here, so both show the same numbers and warnings.
//!
//! Settings are looked up for the region itself and then, for a subdivision (`US-CA`), for its
//! country (`US`): a shop taxing every state alike configures the country once.

use std::collections::{HashMap, HashSet};

use cart_core::{
    Cart, CartError, Currency, PricingKind, PricingSettings, Product, ProductId, PromotionCode,
    Region, StoreError, TaxClass,
};
use cart_pricing::{
    Breakdown, CodeToPrice, Destination, LineToPrice, PricingRequest, Promotion, PromotionInput,
    Rounding, ShippingRate, ShippingRateInput, TaxTable, Warning, calculate, quote_token,
};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::problem::ApiError;
use crate::state::AppState;

/// A priced cart: the breakdown, with freshness warnings, and its quote token.
#[derive(Debug, Clone)]
pub struct CartTotals {
    /// The numbers.
    pub breakdown: Breakdown,
    /// The digest checkout will hold the shopper to.
    pub quote_token: String,
    /// The next start or end of one of the cart's promotions after the computation: the
    /// totals may change then without anything being written.
    pub next_change: Option<OffsetDateTime>,
}

/// The pricing settings one calculation reads.
struct Settings {
    tax: Option<TaxTable>,
    shipping: Option<ShippingRate>,
    /// Each code, its promotion (if one has it) and how many orders used it.
    promotions: Vec<(PromotionCode, Option<Promotion>, u64)>,
}

/// A stored setting, parsed; a document that no longer reads is a store fault (`500`).
async fn setting<T: DeserializeOwned>(
    settings: &dyn PricingSettings,
    kind: PricingKind,
    key: &str,
) -> Result<Option<T>, ApiError> {
    let Some(document) = settings.setting(kind, key).await? else {
        return Ok(None);
    };
    serde_json::from_str(&document)
        .map(Some)
        .map_err(|e| unreadable(kind, key, e))
}

/// A stored setting that no longer reads: the store holds something this build cannot use
/// (`500`, the cause logged).
pub(crate) fn unreadable(kind: PricingKind, key: &str, error: impl std::fmt::Display) -> ApiError {
    ApiError::from(StoreError::Internal(format!(
        "stored {} {key:?}: {error}",
        kind.as_str()
    )))
}

/// The setting for `region`, or for its country when the region is a subdivision without one.
async fn regional<T: DeserializeOwned>(
    settings: &dyn PricingSettings,
    kind: PricingKind,
    region: &Region,
) -> Result<Option<T>, ApiError> {
    if let Some(found) = setting(settings, kind, region.as_str()).await? {
        return Ok(Some(found));
    }
    match region.as_str().split_once('-') {
        Some((country, _)) => setting(settings, kind, country).await,
        None => Ok(None),
    }
}

/// The promotion `code` names now, if any.
pub async fn promotion(
    settings: &dyn PricingSettings,
    code: &PromotionCode,
) -> Result<Option<Promotion>, ApiError> {
    match settings
        .setting(PricingKind::Promotion, code.as_str())
        .await?
    {
        Some(document) => stored_promotion(code, &document).map(Some),
        None => Ok(None),
    }
}

/// The promotion stored for `code` as `document`.
pub fn stored_promotion(code: &PromotionCode, document: &str) -> Result<Promotion, ApiError> {
    serde_json::from_str::<PromotionInput>(document)
        .map_err(|e| e.to_string())
        .and_then(|input| input.parse(code.clone()).map_err(|e| e.to_string()))
        .map_err(|e| unreadable(PricingKind::Promotion, code.as_str(), e))
}

async fn load_settings(
    state: &AppState,
    region: Option<&Region>,
    codes: &[PromotionCode],
) -> Result<Settings, ApiError> {
    let settings = state.pricing.as_ref();
    let (tax, shipping) = match region {
        Some(region) => {
            let tax = regional::<TaxTable>(settings, PricingKind::TaxRates, region).await?;
            let shipping =
                match regional::<ShippingRateInput>(settings, PricingKind::ShippingRate, region)
                    .await?
                {
                    Some(input) => {
                        Some(input.parse().map_err(|e| {
                            unreadable(PricingKind::ShippingRate, region.as_str(), e)
                        })?)
                    }
                    None => None,
                };
            (tax, shipping)
        }
        None => (None, None),
    };
    let mut promotions = Vec::with_capacity(codes.len());
    for code in codes {
        let found = promotion(settings, code).await?;
        // Uses are read only for a limited promotion: the others never look at them.
        let used = match &found {
            Some(promotion) if promotion.usage_limit.is_some() => {
                state.service.promotion_uses(code.as_str()).await?
            }
            _ => 0,
        };
        promotions.push((code.clone(), found, used));
    }
    Ok(Settings {
        tax,
        shipping,
        promotions,
    })
}

/// The catalog entries of `ids`, each read once (absent: not in the catalog).
async fn products<'a>(
    state: &AppState,
    ids: impl Iterator<Item = &'a ProductId>,
) -> Result<HashMap<ProductId, Product>, ApiError> {
    let (found, _) = lookup(state, ids, false).await?;
    Ok(found)
}

/// The catalog entries of `ids`, each read once, and the ids a remote catalog could not be
/// asked about just now (when `tolerate_unavailable`; otherwise that is an error).
async fn lookup<'a>(
    state: &AppState,
    ids: impl Iterator<Item = &'a ProductId>,
    tolerate_unavailable: bool,
) -> Result<(HashMap<ProductId, Product>, HashSet<ProductId>), ApiError> {
    let mut found = HashMap::new();
    let mut unknown = HashSet::new();
    for id in ids {
        if found.contains_key(id) || unknown.contains(id) {
            continue;
        }
        match state.service.product(id).await {
            Ok(Some(product)) => {
                found.insert(id.clone(), product);
            }
            Ok(None) => {}
            Err(CartError::Store(StoreError::CatalogUnavailable { .. }))
                if tolerate_unavailable =>
            {
                unknown.insert(id.clone());
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok((found, unknown))
}

/// Prices `lines` in `currency` for `region` with `codes`, at `now`.
fn price(
    settings: &Settings,
    currency: Currency,
    lines: &[LineToPrice],
    region: Option<&Region>,
    now: OffsetDateTime,
    rounding: Rounding,
    explain: bool,
) -> Breakdown {
    let codes: Vec<CodeToPrice<'_>> = settings
        .promotions
        .iter()
        .map(|(code, promotion, times_used)| CodeToPrice {
            code,
            promotion: promotion.as_ref(),
            times_used: *times_used,
        })
        .collect();
    let destination = region.map(|region| Destination {
        region,
        tax: settings.tax.as_ref(),
        shipping: settings.shipping.as_ref(),
    });
    calculate(&PricingRequest {
        currency,
        lines,
        codes: &codes,
        destination,
        now,
        rounding,
        explain,
    })
}

/// How `cart`'s lines compare with `catalog`: a `PRICE_CHANGED` warning for each line whose
/// product's price is no longer the line's, `PRODUCT_UNAVAILABLE` for each whose product is
/// gone, inactive or now priced in another currency.
fn freshness(cart: &Cart, catalog: &HashMap<ProductId, Product>) -> Vec<Warning> {
    cart.items()
        .iter()
        .filter_map(|line| match catalog.get(line.product_id()) {
            Some(product) if product.active && product.price.currency() == cart.currency() => {
                (product.price.amount() != line.unit_price()).then(|| Warning::PriceChanged {
                    item_id: line.item_id(),
                    was: line.unit_price(),
                    now: product.price.amount(),
                })
            }
            _ => Some(Warning::ProductUnavailable {
                item_id: line.item_id(),
                product_id: line.product_id().clone(),
            }),
        })
        .collect()
}

/// `cart`'s freshness warnings against the catalog now (what a cart read shows). A cart read
/// never fails for a remote catalog that cannot be reached: its lines keep their stored prices,
/// and lines whose product cannot be checked now get no warning.
pub async fn freshness_of(state: &AppState, cart: &Cart) -> Result<Vec<Warning>, ApiError> {
    let (catalog, unknown) = lookup(
        state,
        cart.items().iter().map(|line| line.product_id()),
        true,
    )
    .await?;
    let mut warnings = freshness(cart, &catalog);
    warnings.retain(|warning| match warning {
        Warning::ProductUnavailable { product_id, .. } => !unknown.contains(product_id),
        _ => true,
    });
    Ok(warnings)
}

/// Checkout's port to pricing: the totals of the cart checkout read, and their quote token.
pub struct CheckoutQuoter<'a>(pub &'a AppState);

#[async_trait::async_trait]
impl cart_core::Quoter for CheckoutQuoter<'_> {
    async fn quote(&self, cart: &Cart) -> Result<cart_core::Quote, CartError> {
        let totals = of_cart(self.0, cart, false)
            .await
            .map_err(|error| CartError::Store(StoreError::Internal(format!("{error:?}"))))?;
        let applied_codes = totals
            .breakdown
            .discount_codes
            .iter()
            .filter(|result| result.applied)
            .map(|result| result.code.clone())
            .collect();
        let view = crate::totals_view::TotalsView::new(&totals.breakdown, None);
        Ok(cart_core::Quote {
            token: totals.quote_token,
            total: totals.breakdown.total,
            totals: serde_json::to_value(view)
                .map_err(|e| CartError::Store(StoreError::Internal(e.to_string())))?,
            applied_codes,
        })
    }
}

/// The totals of `cart` now: lines at the prices they were added at, with a `PRICE_CHANGED`
/// or `PRODUCT_UNAVAILABLE` warning for each line the catalog no longer agrees with.
pub async fn of_cart(state: &AppState, cart: &Cart, explain: bool) -> Result<CartTotals, ApiError> {
    let catalog = products(state, cart.items().iter().map(|line| line.product_id())).await?;
    let settings = load_settings(state, cart.region(), cart.discount_codes()).await?;
    let freshness = freshness(cart, &catalog);
    let lines: Vec<LineToPrice> = cart
        .items()
        .iter()
        .map(|line| {
            let product = catalog.get(line.product_id());
            LineToPrice {
                item_id: Some(line.item_id()),
                product_id: line.product_id().clone(),
                quantity: line.quantity().get(),
                unit_price: line.unit_price(),
                tax_class: product.map_or_else(TaxClass::standard, |p| p.tax_class.clone()),
            }
        })
        .collect();
    let now = state.service.now();
    let mut breakdown = price(
        &settings,
        cart.currency(),
        &lines,
        cart.region(),
        now,
        state.rounding,
        explain,
    );
    breakdown.warnings.extend(freshness);
    let quote_token = quote_token(cart.key().as_str(), cart.version(), &breakdown);
    let next_change = settings
        .promotions
        .iter()
        .filter_map(|(_, promotion, _)| promotion.as_ref())
        .flat_map(|promotion| [promotion.starts_at, promotion.ends_at])
        .flatten()
        .filter(|moment| *moment > now)
        .min();
    Ok(CartTotals {
        breakdown,
        quote_token,
        next_change,
    })
}

/// What `POST /v1/pricing/calculate` (and GraphQL's `priceLines`) prices: products and
/// quantities at today's catalog prices.
#[derive(Debug, Clone)]
pub struct LooseLines {
    /// Where it would ship to.
    pub region: Option<Region>,
    /// The currency every product must be priced in.
    pub currency: Currency,
    /// Products and units, in order.
    pub lines: Vec<(ProductId, u32)>,
    /// Codes, in the order they would be added.
    pub codes: Vec<PromotionCode>,
}

/// The totals of `request` at the catalog's current prices. A product that is not in the
/// catalog is `404 PRODUCT_NOT_FOUND`; one not for sale, or in another currency, is refused as
/// an add would refuse it (`422`). Unknown codes are priced as not applying
/// (`PROMOTION_NOT_FOUND`), so an estimate never fails for a code.
pub async fn of_lines(
    state: &AppState,
    request: &LooseLines,
    explain: bool,
) -> Result<Breakdown, ApiError> {
    let catalog = products(state, request.lines.iter().map(|(id, _)| id)).await?;
    let mut lines = Vec::with_capacity(request.lines.len());
    for (id, quantity) in &request.lines {
        let product = catalog
            .get(id)
            .ok_or_else(|| CartError::ProductNotFound(id.clone()))?;
        if !product.active {
            return Err(CartError::ProductUnavailable(id.clone()).into());
        }
        if product.price.currency() != request.currency {
            return Err(CartError::CurrencyMismatch {
                cart: request.currency.to_string(),
                product: product.price.currency().to_string(),
            }
            .into());
        }
        lines.push(LineToPrice {
            item_id: None,
            product_id: id.clone(),
            quantity: *quantity,
            unit_price: product.price.amount(),
            tax_class: product.tax_class.clone(),
        });
    }
    let settings = load_settings(state, request.region.as_ref(), &request.codes).await?;
    Ok(price(
        &settings,
        request.currency,
        &lines,
        request.region.as_ref(),
        state.service.now(),
        state.rounding,
        explain,
    ))
}
