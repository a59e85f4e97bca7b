//! Totals as GraphQL shows them: REST's `/totals` ([`TotalsView`]) in camelCase, amounts as
//! [`Money`] in the totals' currency.

use async_graphql::{ID, Object};

use crate::graphql::types::money::Money;
use crate::totals_view::{
    CodeResultView, StepView, TaxLineView, TotalsLineView, TotalsView, WarningView,
};

/// What a cart (or a list of lines) costs, line by line, and why (REST
/// `GET /v1/cart/{cartKey}/totals`).
pub struct Totals(pub TotalsView);

/// An amount in `currency`.
fn money(amount: i64, currency: &str) -> Money {
    Money::new(amount, currency)
}

/// A line of [`Totals`].
pub struct TotalsLine<'a> {
    line: &'a TotalsLineView,
    currency: &'a str,
}

/// What one code did.
pub struct CodeResult<'a> {
    result: &'a CodeResultView,
    currency: &'a str,
}

/// Tax of one class at one rate.
pub struct TaxLine<'a> {
    line: &'a TaxLineView,
    currency: &'a str,
}

/// Something the numbers alone do not say (owned: `Cart.warnings` answers it alone).
pub struct PricingWarning {
    warning: WarningView,
    currency: String,
}

impl Totals {
    /// The warnings alone.
    pub fn into_warnings(self) -> Vec<PricingWarning> {
        let currency = self.0.currency;
        self.0
            .warnings
            .into_iter()
            .map(|warning| PricingWarning {
                warning,
                currency: currency.clone(),
            })
            .collect()
    }
}

/// One step of the arithmetic.
pub struct PricingStep<'a> {
    step: &'a StepView,
    currency: &'a str,
}

/// Totals: subtotal, discounts, shipping and tax, line by line, with what each code did.
#[Object]
impl Totals {
    /// ISO 4217 code of every amount.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// Where it ships to; null prices without tax and shipping (`REGION_REQUIRED`).
    async fn region(&self) -> Option<&str> {
        self.0.region.as_deref()
    }
    /// Sum of the lines' `quantity × unitPrice`.
    async fn subtotal(&self) -> Money {
        money(self.0.subtotal, &self.0.currency)
    }
    /// What the applied codes took off.
    async fn discount(&self) -> Money {
        money(self.0.discount, &self.0.currency)
    }
    /// Shipping as charged.
    async fn shipping(&self) -> Money {
        money(self.0.shipping, &self.0.currency)
    }
    /// All tax; part of `total` only where prices exclude tax.
    async fn tax(&self) -> Money {
        money(self.0.tax, &self.0.currency)
    }
    /// What the shopper pays.
    async fn total(&self) -> Money {
        money(self.0.total, &self.0.currency)
    }
    /// Whether the region's prices include tax.
    async fn prices_include_tax(&self) -> bool {
        self.0.prices_include_tax
    }
    /// Each line.
    async fn lines(&self) -> Vec<TotalsLine<'_>> {
        let currency = self.0.currency.as_str();
        self.0
            .lines
            .iter()
            .map(|line| TotalsLine { line, currency })
            .collect()
    }
    /// Each code, applied or not, in the order entered.
    async fn discount_codes(&self) -> Vec<CodeResult<'_>> {
        let currency = self.0.currency.as_str();
        self.0
            .discount_codes
            .iter()
            .map(|result| CodeResult { result, currency })
            .collect()
    }
    /// Tax by class and rate.
    async fn tax_lines(&self) -> Vec<TaxLine<'_>> {
        let currency = self.0.currency.as_str();
        self.0
            .tax_lines
            .iter()
            .map(|line| TaxLine { line, currency })
            .collect()
    }
    /// Warnings: no region, a missing rate, a changed price, a product no longer sold.
    async fn warnings(&self) -> Vec<PricingWarning> {
        self.0
            .warnings
            .iter()
            .map(|warning| PricingWarning {
                warning: warning.clone(),
                currency: self.0.currency.clone(),
            })
            .collect()
    }
    /// The digest checkout will hold the shopper to; null for totals without a cart.
    async fn quote_token(&self) -> Option<&str> {
        self.0.quote_token.as_deref()
    }
    /// Every step, with `explain: true`; null otherwise.
    async fn steps(&self) -> Option<Vec<PricingStep<'_>>> {
        let currency = self.0.currency.as_str();
        self.0.steps.as_ref().map(|steps| {
            steps
                .iter()
                .map(|step| PricingStep { step, currency })
                .collect()
        })
    }
}

/// A priced line.
#[Object]
impl TotalsLine<'_> {
    /// The cart line; null for lines not in a cart.
    async fn item_id(&self) -> Option<ID> {
        self.line.item_id.map(|id| ID(id.to_string()))
    }
    /// The product.
    async fn product_id(&self) -> ID {
        ID(self.line.product_id.clone())
    }
    /// Units.
    async fn quantity(&self) -> u32 {
        self.line.quantity
    }
    /// The price the line was added at.
    async fn unit_price(&self) -> Money {
        money(self.line.unit_price, self.currency)
    }
    /// `quantity × unitPrice`.
    async fn subtotal(&self) -> Money {
        money(self.line.subtotal, self.currency)
    }
    /// The line's share of the codes' amounts.
    async fn discount(&self) -> Money {
        money(self.line.discount, self.currency)
    }
    /// Tax on the line's net.
    async fn tax(&self) -> Money {
        money(self.line.tax, self.currency)
    }
    /// Net plus tax where prices exclude tax; the net otherwise.
    async fn total(&self) -> Money {
        money(self.line.total, self.currency)
    }
}

/// What one code did.
#[Object]
impl CodeResult<'_> {
    /// The code, upper case.
    async fn code(&self) -> &str {
        &self.result.code
    }
    /// Whether it took anything off.
    async fn applied(&self) -> bool {
        self.result.applied
    }
    /// Why not (`MIN_SUBTOTAL_NOT_MET`, `NOT_STARTED`, `EXPIRED`, `NO_ELIGIBLE_ITEMS`,
    /// `CURRENCY_MISMATCH`, `NOT_STACKABLE`, `USAGE_LIMIT_REACHED`, `PROMOTION_NOT_FOUND`).
    async fn reason(&self) -> Option<&str> {
        self.result.reason.as_deref()
    }
    /// What it took off.
    async fn amount(&self) -> Money {
        money(self.result.amount, self.currency)
    }
}

/// Tax of one class at one rate.
#[Object]
impl TaxLine<'_> {
    /// The tax class.
    async fn tax_class(&self) -> &str {
        &self.line.tax_class
    }
    /// The rate, a percentage as a decimal string.
    async fn rate(&self) -> &str {
        &self.line.rate
    }
    /// What was taxed.
    async fn base(&self) -> Money {
        money(self.line.base, self.currency)
    }
    /// The tax.
    async fn amount(&self) -> Money {
        money(self.line.amount, self.currency)
    }
}

/// A warning: `code` says which, the other fields are those it concerns (null otherwise).
#[Object]
impl PricingWarning {
    /// `REGION_REQUIRED`, `TAX_RATES_MISSING`, `TAX_RATE_MISSING`, `SHIPPING_UNAVAILABLE`,
    /// `PRICE_CHANGED` or `PRODUCT_UNAVAILABLE`.
    async fn code(&self) -> &str {
        &self.warning.code
    }
    /// The region, for the rate warnings.
    async fn region(&self) -> Option<&str> {
        self.warning.region.as_deref()
    }
    /// The class without a rate.
    async fn tax_class(&self) -> Option<&str> {
        self.warning.tax_class.as_deref()
    }
    /// The line concerned.
    async fn item_id(&self) -> Option<ID> {
        self.warning.item_id.map(|id| ID(id.to_string()))
    }
    /// The product no longer sold.
    async fn product_id(&self) -> Option<ID> {
        self.warning.product_id.clone().map(ID)
    }
    /// The line's unit price (`PRICE_CHANGED`).
    async fn was(&self) -> Option<Money> {
        self.warning.was.map(|amount| money(amount, &self.currency))
    }
    /// The catalog's unit price now (`PRICE_CHANGED`); `repriceCart` takes it.
    async fn now(&self) -> Option<Money> {
        self.warning.now.map(|amount| money(amount, &self.currency))
    }
}

/// One step from list price to total.
#[Object]
impl PricingStep<'_> {
    /// `list_price`, `subtotal`, `code_not_applied`, `discount`, `allocation`, `line_net`,
    /// `shipping`, `tax_base`, `tax`, `rounding` or `total`.
    async fn step(&self) -> &str {
        &self.step.step
    }
    /// The line it concerns, if one.
    async fn item_id(&self) -> Option<ID> {
        self.step.item_id.map(|id| ID(id.to_string()))
    }
    /// The code it concerns, if one.
    async fn code(&self) -> Option<&str> {
        self.step.code.as_deref()
    }
    /// Its result.
    async fn amount(&self) -> Money {
        money(self.step.amount, self.currency)
    }
    /// The exact value before rounding, where it rounds.
    async fn exact(&self) -> Option<&str> {
        self.step.exact.as_deref()
    }
    /// The arithmetic in words and numbers.
    async fn detail(&self) -> &str {
        &self.step.detail
    }
}
