//! The JSON of totals (`GET /v1/cart/{cartKey}/totals`, `POST /v1/pricing/calculate`) and its
//! OpenAPI schema: `cart-pricing`'s breakdown, member for member, with the quote token.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use cart_pricing::{Breakdown, CodeResult, PricedLine, Step, TaxLine, Warning};

/// What a cart (or a list of lines) costs, line by line, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotalsView {
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// Where it ships to; `null` prices without tax and shipping (`REGION_REQUIRED`).
    pub region: Option<String>,
    /// Sum of the lines' `quantity × unit_price`, minor units.
    pub subtotal: i64,
    /// What the applied codes took off.
    pub discount: i64,
    /// Shipping as charged (gross where prices include tax).
    pub shipping: i64,
    /// All tax, the lines' and shipping's; part of `total` only where prices exclude tax.
    pub tax: i64,
    /// What the shopper pays: `subtotal − discount + shipping (+ tax where prices exclude it)`.
    pub total: i64,
    /// Whether the region's prices include tax (tax is then extracted, not added).
    pub prices_include_tax: bool,
    /// Each line; `sum(lines.total) + shipping (+ its tax) == total`.
    pub lines: Vec<TotalsLineView>,
    /// Each code on the cart, applied or not, in the order they were entered.
    pub discount_codes: Vec<CodeResultView>,
    /// Tax by class and rate; the amounts sum to `tax`.
    pub tax_lines: Vec<TaxLineView>,
    /// What the numbers alone do not say: no region, a missing rate, a price that changed since
    /// the line was added, a product no longer sold.
    pub warnings: Vec<WarningView>,
    /// A digest of everything shown; checkout accepts only a current one. Absent for totals
    /// without a cart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote_token: Option<String>,
    /// Every step from list price to total, with `?explain=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepView>>,
}

/// One priced line.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotalsLineView {
    /// The cart line; `null` for lines that are not in a cart.
    #[schema(value_type = Option<String>, format = "uuid")]
    pub item_id: Option<Uuid>,
    /// The product.
    pub product_id: String,
    /// Units.
    pub quantity: u32,
    /// Minor units per unit: the price the line was added at.
    pub unit_price: i64,
    /// `quantity × unit_price`.
    pub subtotal: i64,
    /// The line's share of the codes' amounts.
    pub discount: i64,
    /// Tax on the line's net, rounded for the line.
    pub tax: i64,
    /// Net plus tax where prices exclude tax; the net otherwise.
    pub total: i64,
}

/// What one code did.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeResultView {
    /// The code, upper case.
    pub code: String,
    /// Whether it took anything off.
    pub applied: bool,
    /// Why not: `MIN_SUBTOTAL_NOT_MET`, `NOT_STARTED`, `EXPIRED`, `NO_ELIGIBLE_ITEMS`,
    /// `CURRENCY_MISMATCH`, `NOT_STACKABLE`, `USAGE_LIMIT_REACHED` or `PROMOTION_NOT_FOUND`.
    pub reason: Option<String>,
    /// What it took off (0 when not applied).
    pub amount: i64,
}

/// Tax of one class at one rate.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaxLineView {
    /// The tax class.
    pub tax_class: String,
    /// Its rate in the region, a percentage as a decimal string.
    pub rate: String,
    /// What was taxed: the nets of the class's lines (and shipping's, for `standard`).
    pub base: i64,
    /// The tax.
    pub amount: i64,
}

/// Something the totals cannot show by their numbers alone; `code` says which, the other
/// members are those the code concerns.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WarningView {
    /// `REGION_REQUIRED`, `TAX_RATES_MISSING`, `TAX_RATE_MISSING`, `SHIPPING_UNAVAILABLE`,
    /// `PRICE_CHANGED` or `PRODUCT_UNAVAILABLE`.
    pub code: String,
    /// The region, for the rate warnings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The tax class without a rate (`TAX_RATE_MISSING`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_class: Option<String>,
    /// The line concerned (`PRICE_CHANGED`, `PRODUCT_UNAVAILABLE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = "uuid")]
    pub item_id: Option<Uuid>,
    /// The product no longer sold (`PRODUCT_UNAVAILABLE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// The line's unit price (`PRICE_CHANGED`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub was: Option<i64>,
    /// The catalog's unit price now (`PRICE_CHANGED`); `POST …/reprice` takes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub now: Option<i64>,
}

/// One step of the calculation.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepView {
    /// `list_price`, `subtotal`, `code_not_applied`, `discount`, `allocation`, `line_net`,
    /// `shipping`, `tax_base`, `tax`, `rounding` or `total`.
    pub step: String,
    /// The line it concerns, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = "uuid")]
    pub item_id: Option<Uuid>,
    /// The code it concerns, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The step's result, minor units.
    pub amount: i64,
    /// The exact value before rounding, where the step rounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// The arithmetic in words and numbers.
    pub detail: String,
}

/// A value's serde text (`reason`, `step`): the enums' own names, as `cart-pricing` writes them.
fn serde_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

impl TotalsView {
    /// The view of `breakdown`, with `quote_token` for a cart's totals.
    pub fn new(breakdown: &Breakdown, quote_token: Option<String>) -> Self {
        Self {
            currency: breakdown.currency.to_string(),
            region: breakdown.region.as_ref().map(ToString::to_string),
            subtotal: breakdown.subtotal,
            discount: breakdown.discount,
            shipping: breakdown.shipping,
            tax: breakdown.tax,
            total: breakdown.total,
            prices_include_tax: breakdown.prices_include_tax,
            lines: breakdown.lines.iter().map(TotalsLineView::new).collect(),
            discount_codes: breakdown
                .discount_codes
                .iter()
                .map(CodeResultView::new)
                .collect(),
            tax_lines: breakdown.tax_lines.iter().map(TaxLineView::new).collect(),
            warnings: breakdown.warnings.iter().map(WarningView::new).collect(),
            quote_token,
            steps: breakdown
                .steps
                .as_ref()
                .map(|steps| steps.iter().map(StepView::new).collect()),
        }
    }
}

impl TotalsLineView {
    fn new(line: &PricedLine) -> Self {
        Self {
            item_id: line.item_id,
            product_id: line.product_id.to_string(),
            quantity: line.quantity,
            unit_price: line.unit_price,
            subtotal: line.subtotal,
            discount: line.discount,
            tax: line.tax,
            total: line.total,
        }
    }
}

impl CodeResultView {
    fn new(result: &CodeResult) -> Self {
        Self {
            code: result.code.to_string(),
            applied: result.applied,
            reason: result.reason.as_ref().map(serde_name),
            amount: result.amount,
        }
    }
}

impl TaxLineView {
    fn new(line: &TaxLine) -> Self {
        Self {
            tax_class: line.tax_class.to_string(),
            rate: line.rate.to_string(),
            base: line.base,
            amount: line.amount,
        }
    }
}

impl WarningView {
    /// The view of one warning.
    pub fn new(warning: &Warning) -> Self {
        let mut view = Self {
            code: String::new(),
            region: None,
            tax_class: None,
            item_id: None,
            product_id: None,
            was: None,
            now: None,
        };
        view.code = match warning {
            Warning::RegionRequired => "REGION_REQUIRED",
            Warning::TaxRatesMissing { region } => {
                view.region = Some(region.to_string());
                "TAX_RATES_MISSING"
            }
            Warning::TaxRateMissing { region, tax_class } => {
                view.region = Some(region.to_string());
                view.tax_class = Some(tax_class.to_string());
                "TAX_RATE_MISSING"
            }
            Warning::ShippingUnavailable { region } => {
                view.region = Some(region.to_string());
                "SHIPPING_UNAVAILABLE"
            }
            Warning::PriceChanged { item_id, was, now } => {
                view.item_id = Some(*item_id);
                view.was = Some(*was);
                view.now = Some(*now);
                "PRICE_CHANGED"
            }
            Warning::ProductUnavailable {
                item_id,
                product_id,
            } => {
                view.item_id = Some(*item_id);
                view.product_id = Some(product_id.to_string());
                "PRODUCT_UNAVAILABLE"
            }
        }
        .to_owned();
        view
    }
}

impl StepView {
    fn new(step: &Step) -> Self {
        Self {
            step: serde_name(&step.step),
            item_id: step.item_id,
            code: step.code.as_ref().map(ToString::to_string),
            amount: step.amount,
            exact: step.exact.clone(),
            detail: step.detail.clone(),
        }
    }
}
