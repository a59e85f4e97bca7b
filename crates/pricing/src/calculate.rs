//! The calculation: from list prices through discount codes, shipping and tax to a total, in
//! whole minor units, with every step recorded so a person can follow each cent.
//!
//! The order is fixed and documented in `docs/DECISIONS.md` ("How a total is computed"):
//!
//! 1. Each line's subtotal is `quantity × unit_price`.
//! 2. Codes are tried in the order they were added. A code that applies takes its amount off
//!    the lines it covers (a percentage of what is left of them, rounded once; or a fixed amount,
//!    never more than what is left), allocated to those lines by the largest-remainder method.
//! 3. Shipping is the region's flat rate, or nothing from `free_above` on (compared with the
//!    merchandise after discounts, before tax).
//! 4. Tax is computed per line on its net (subtotal − discount) at its class's rate and rounded
//!    per line; shipping is taxed as `standard`. Where prices include tax it is extracted
//!    (`net × r / (100 + r)`), otherwise added (`net × r / 100`).
//! 5. `total = subtotal − discount + shipping (+ tax where prices exclude it)`, and
//!    `sum(lines.total) + shipping (+ its tax) == total` holds to the cent by construction.

use std::collections::BTreeMap;

use cart_core::{Currency, ProductId, PromotionCode, Region, TaxClass};
use rust_decimal::Decimal;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::promotion::{Benefit, NotApplied, Promotion};
use crate::rates::{Percent, TaxTable};
use crate::rounding::{Rounding, allocate};
use crate::shipping::ShippingRate;

/// A line to price: a cart line, or a product and quantity from `POST /v1/pricing/calculate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineToPrice {
    /// The cart line's id; `None` for lines that are not in a cart.
    pub item_id: Option<Uuid>,
    /// The product, for codes scoped to products.
    pub product_id: ProductId,
    /// Units.
    pub quantity: u32,
    /// Minor units per unit, in the request's currency.
    pub unit_price: i64,
    /// Which of the region's rates applies.
    pub tax_class: TaxClass,
}

/// A code on the cart, with the promotion it names as the store has it now.
#[derive(Debug, Clone, Copy)]
pub struct CodeToPrice<'a> {
    /// The code as the cart holds it.
    pub code: &'a PromotionCode,
    /// `None` when the promotion has been deleted since.
    pub promotion: Option<&'a Promotion>,
    /// Orders that have used the code so far.
    pub times_used: u64,
}

/// Where the cart ships to, and that region's rates as configured now.
#[derive(Debug, Clone, Copy)]
pub struct Destination<'a> {
    /// The region.
    pub region: &'a Region,
    /// Its tax table; `None` when none is configured (no tax, `TAX_RATES_MISSING`).
    pub tax: Option<&'a TaxTable>,
    /// Its shipping rate; `None` when none is configured (no shipping, `SHIPPING_UNAVAILABLE`).
    pub shipping: Option<&'a ShippingRate>,
}

/// Everything a calculation needs; nothing is read from anywhere else, so the same request
/// always gives the same answer.
#[derive(Debug, Clone, Copy)]
pub struct PricingRequest<'a> {
    /// The currency of every line.
    pub currency: Currency,
    /// The lines, in cart order.
    pub lines: &'a [LineToPrice],
    /// The codes, in the order they were added.
    pub codes: &'a [CodeToPrice<'a>],
    /// `None` prices without tax and shipping, with a `REGION_REQUIRED` warning.
    pub destination: Option<Destination<'a>>,
    /// For promotions' start and end.
    pub now: OffsetDateTime,
    /// How exact amounts become minor units.
    pub rounding: Rounding,
    /// Whether to record [`Step`]s (`?explain=true`); the numbers are the same either way.
    pub explain: bool,
}

/// The totals of a cart or of a pricing request, line by line, with what each code did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breakdown {
    /// The currency of every amount.
    pub currency: Currency,
    /// Where it ships to, if known.
    pub region: Option<Region>,
    /// Sum of the lines' list amounts.
    pub subtotal: i64,
    /// Sum of every applied code's amount.
    pub discount: i64,
    /// Shipping, as charged (gross where prices include tax).
    pub shipping: i64,
    /// All tax: the lines' and shipping's. Included in `total` only where prices exclude tax.
    pub tax: i64,
    /// What the shopper pays.
    pub total: i64,
    /// Whether the region's prices include tax.
    pub prices_include_tax: bool,
    /// Each line.
    pub lines: Vec<PricedLine>,
    /// Each code on the cart, applied or not.
    pub discount_codes: Vec<CodeResult>,
    /// Tax by class and rate; their amounts sum to `tax`.
    pub tax_lines: Vec<TaxLine>,
    /// What the shopper should know (no region, a missing rate…); freshness warnings are added
    /// by the caller, who knows the catalog.
    pub warnings: Vec<Warning>,
    /// Every step, in order, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<Step>>,
}

/// One priced line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PricedLine {
    /// The cart line, if any.
    pub item_id: Option<Uuid>,
    /// The product.
    pub product_id: ProductId,
    /// Units.
    pub quantity: u32,
    /// Minor units per unit.
    pub unit_price: i64,
    /// `quantity × unit_price`.
    pub subtotal: i64,
    /// This line's share of the codes' amounts.
    pub discount: i64,
    /// Tax on the line's net, rounded for the line.
    pub tax: i64,
    /// What the line comes to: net plus tax where prices exclude tax, the net otherwise.
    pub total: i64,
}

/// What one code did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeResult {
    /// The code.
    pub code: PromotionCode,
    /// Whether it took anything off.
    pub applied: bool,
    /// Why not, when it did not.
    pub reason: Option<NotApplied>,
    /// What it took off (0 when not applied).
    pub amount: i64,
}

/// Tax of one class at one rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaxLine {
    /// The class.
    pub tax_class: TaxClass,
    /// Its rate in the region.
    pub rate: Percent,
    /// What was taxed: the nets (without tax) of the class's lines, and of shipping for
    /// `standard`.
    pub base: i64,
    /// The tax, the sum of the per-line rounded amounts.
    pub amount: i64,
}

/// Something the totals cannot show by their numbers alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Warning {
    /// No region: totals are without tax and shipping.
    RegionRequired,
    /// The region has no tax table: no tax was computed.
    TaxRatesMissing {
        /// The region.
        region: Region,
    },
    /// The region's table has no rate for a class on the cart: taxed at 0 %.
    TaxRateMissing {
        /// The region.
        region: Region,
        /// The class without a rate.
        tax_class: TaxClass,
    },
    /// The region has no shipping rate in the cart's currency: shipping is not included.
    ShippingUnavailable {
        /// The region.
        region: Region,
    },
    /// The catalog price differs from the price the line was added at; the line keeps its
    /// price until the cart is repriced.
    PriceChanged {
        /// The line.
        item_id: Uuid,
        /// The line's unit price.
        was: i64,
        /// The catalog's unit price now.
        now: i64,
    },
    /// The product is no longer sold (inactive or gone from the catalog).
    ProductUnavailable {
        /// The line.
        item_id: Uuid,
        /// The product.
        product_id: ProductId,
    },
}

/// One step of a calculation, for `?explain=true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What kind of step.
    pub step: StepKind,
    /// The line it concerns, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<Uuid>,
    /// The code it concerns, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<PromotionCode>,
    /// The step's result in minor units.
    pub amount: i64,
    /// The exact value before rounding, where the step rounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// The arithmetic, in words and numbers.
    pub detail: String,
}

/// The kinds of [`Step`], in the order a calculation takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// A line's `quantity × unit_price`.
    ListPrice,
    /// The cart's subtotal.
    Subtotal,
    /// A code that does not apply, and why.
    CodeNotApplied,
    /// A code's amount for the whole cart.
    Discount,
    /// A code's share on one line.
    Allocation,
    /// A line's amount after discounts.
    LineNet,
    /// Shipping.
    Shipping,
    /// What tax is computed on.
    TaxBase,
    /// Tax before rounding.
    Tax,
    /// Tax rounded to minor units.
    Rounding,
    /// The total.
    Total,
}

/// Records steps only when asked, so plain totals allocate no text.
struct Explainer {
    steps: Option<Vec<Step>>,
}

impl Explainer {
    fn record(
        &mut self,
        step: StepKind,
        item_id: Option<Uuid>,
        code: Option<&PromotionCode>,
        amount: i64,
        exact: Option<Decimal>,
        detail: impl FnOnce() -> String,
    ) {
        if let Some(steps) = &mut self.steps {
            steps.push(Step {
                step,
                item_id,
                code: code.cloned(),
                amount,
                exact: exact.map(|value| value.normalize().to_string()),
                detail: detail(),
            });
        }
    }
}

/// Tax on `base` at `rate`: added on top, or extracted from a gross `base`. Exact.
fn exact_tax(base: i64, rate: Percent, included: bool) -> Decimal {
    let base = Decimal::from(base);
    let rate = rate.value();
    if included {
        base * rate / (Decimal::ONE_HUNDRED + rate)
    } else {
        base * rate / Decimal::ONE_HUNDRED
    }
}

/// Prices a request. Pure: the same request always gives the same breakdown.
pub fn calculate(request: &PricingRequest<'_>) -> Breakdown {
    let mut explain = Explainer {
        steps: request.explain.then(Vec::new),
    };
    let rounding = request.rounding;

    // 1. List prices.
    let subtotals: Vec<i64> = request
        .lines
        .iter()
        .map(|line| i64::from(line.quantity) * line.unit_price)
        .collect();
    for (line, &subtotal) in request.lines.iter().zip(&subtotals) {
        explain.record(
            StepKind::ListPrice,
            line.item_id,
            None,
            subtotal,
            None,
            || {
                format!(
                    "{} × {} = {subtotal} ({})",
                    line.quantity, line.unit_price, line.product_id
                )
            },
        );
    }
    let subtotal: i64 = subtotals.iter().sum();
    explain.record(StepKind::Subtotal, None, None, subtotal, None, || {
        format!("sum of {} line(s)", request.lines.len())
    });

    // 2. Discount codes, in the order they were added.
    let mut remaining = subtotals.clone();
    let mut line_discounts = vec![0_i64; request.lines.len()];
    let mut discount_codes = Vec::with_capacity(request.codes.len());
    let mut applied_any = false;
    let mut applied_all_stackable = true;
    for entry in request.codes {
        let refuse = |reason: NotApplied| CodeResult {
            code: entry.code.clone(),
            applied: false,
            reason: Some(reason),
            amount: 0,
        };
        let Some(promotion) = entry.promotion else {
            discount_codes.push(refuse(NotApplied::PromotionNotFound));
            continue;
        };
        let covered: Vec<usize> = (0..request.lines.len())
            .filter(|&index| promotion.covers(&request.lines[index].product_id))
            .collect();
        let blocked = promotion
            .blocked(request.currency, subtotal, request.now, entry.times_used)
            .or_else(|| covered.is_empty().then_some(NotApplied::NoEligibleItems))
            .or_else(|| {
                (applied_any && !(promotion.stackable && applied_all_stackable))
                    .then_some(NotApplied::NotStackable)
            });
        if let Some(reason) = blocked {
            explain.record(
                StepKind::CodeNotApplied,
                None,
                Some(entry.code),
                0,
                None,
                || format!("{} does not apply: {reason:?}", entry.code),
            );
            discount_codes.push(refuse(reason));
            continue;
        }
        applied_any = true;
        applied_all_stackable &= promotion.stackable;

        let base: i64 = covered.iter().map(|&index| remaining[index]).sum();
        let (amount, exact) = match &promotion.benefit {
            Benefit::Percentage(percent) => {
                let exact = Decimal::from(base) * percent.value() / Decimal::ONE_HUNDRED;
                (rounding.round(exact).min(base), Some(exact))
            }
            Benefit::Fixed(price) => (price.amount().min(base), None),
        };
        explain.record(
            StepKind::Discount,
            None,
            Some(entry.code),
            amount,
            exact,
            || match &promotion.benefit {
                Benefit::Percentage(percent) => format!(
                    "{percent}% of {base} on {} eligible line(s), rounded {rounding}",
                    covered.len()
                ),
                Benefit::Fixed(price) => format!(
                    "{} off, at most the {base} of {} eligible line(s)",
                    price.amount(),
                    covered.len()
                ),
            },
        );
        let weights: Vec<i64> = covered.iter().map(|&index| remaining[index]).collect();
        let shares = allocate(amount, &weights);
        for ((&index, &weight), share) in covered.iter().zip(&weights).zip(shares) {
            remaining[index] -= share;
            line_discounts[index] += share;
            explain.record(
                StepKind::Allocation,
                request.lines[index].item_id,
                Some(entry.code),
                share,
                None,
                || {
                    format!(
                        "share of {amount} in proportion to {weight} of {base} (largest remainder)"
                    )
                },
            );
        }
        discount_codes.push(CodeResult {
            code: entry.code.clone(),
            applied: true,
            reason: None,
            amount,
        });
    }
    for (line, (&net, &discount)) in request
        .lines
        .iter()
        .zip(remaining.iter().zip(&line_discounts))
    {
        explain.record(StepKind::LineNet, line.item_id, None, net, None, || {
            format!("{} − {discount} = {net}", net + discount)
        });
    }
    let discount: i64 = line_discounts.iter().sum();
    let merchandise = subtotal - discount;

    // 3 and 4. Shipping and tax need a region.
    let mut warnings = Vec::new();
    let mut shipping = 0;
    let mut line_taxes = vec![0_i64; request.lines.len()];
    let mut shipping_tax = 0;
    let mut tax_lines: BTreeMap<TaxClass, TaxLine> = BTreeMap::new();
    let mut prices_include_tax = false;
    match &request.destination {
        None => warnings.push(Warning::RegionRequired),
        Some(destination) => {
            let region = destination.region;
            match destination.shipping {
                Some(rate) if rate.amount.currency() == request.currency => {
                    let free = rate.free_above.is_some_and(|free| merchandise >= free);
                    shipping = if free { 0 } else { rate.amount.amount() };
                    explain.record(StepKind::Shipping, None, None, shipping, None, || {
                        match rate.free_above {
                            Some(free_above) if free => {
                                format!("free: {merchandise} after discounts ≥ {free_above}")
                            }
                            Some(free_above) => format!(
                                "{region} flat rate; free from {free_above}, the cart is at {merchandise}"
                            ),
                            None => format!("{region} flat rate"),
                        }
                    });
                }
                _ => warnings.push(Warning::ShippingUnavailable {
                    region: region.clone(),
                }),
            }
            match destination.tax {
                None => warnings.push(Warning::TaxRatesMissing {
                    region: region.clone(),
                }),
                Some(table) => {
                    prices_include_tax = table.prices_include_tax;
                    let mut rate_of = |class: &TaxClass| {
                        table.rate(class).unwrap_or_else(|| {
                            let missing = Warning::TaxRateMissing {
                                region: region.clone(),
                                tax_class: class.clone(),
                            };
                            if !warnings.contains(&missing) {
                                warnings.push(missing);
                            }
                            Percent::ZERO
                        })
                    };
                    let mut tax_one =
                        |item_id: Option<Uuid>,
                         class: &TaxClass,
                         rate: Percent,
                         net: i64,
                         explain: &mut Explainer| {
                            let exact = exact_tax(net, rate, prices_include_tax);
                            let tax = rounding.round(exact);
                            let base = if prices_include_tax { net - tax } else { net };
                            explain.record(StepKind::TaxBase, item_id, None, base, None, || {
                                if prices_include_tax {
                                    format!("{net} includes tax; {net} − {tax} tax = {base}")
                                } else {
                                    format!("{net} after discounts, taxed as {class}")
                                }
                            });
                            explain.record(StepKind::Tax, item_id, None, tax, Some(exact), || {
                                if prices_include_tax {
                                    format!("{class} {rate}%: {net} × {rate} / (100 + {rate})")
                                } else {
                                    format!("{class} {rate}%: {net} × {rate} / 100")
                                }
                            });
                            explain.record(
                                StepKind::Rounding,
                                item_id,
                                None,
                                tax,
                                Some(exact),
                                || format!("{} → {tax} ({rounding})", exact.normalize()),
                            );
                            let entry = tax_lines.entry(class.clone()).or_insert_with(|| TaxLine {
                                tax_class: class.clone(),
                                rate,
                                base: 0,
                                amount: 0,
                            });
                            entry.base += base;
                            entry.amount += tax;
                            tax
                        };
                    for (index, line) in request.lines.iter().enumerate() {
                        let rate = rate_of(&line.tax_class);
                        line_taxes[index] = tax_one(
                            line.item_id,
                            &line.tax_class,
                            rate,
                            remaining[index],
                            &mut explain,
                        );
                    }
                    if shipping > 0 {
                        let standard = TaxClass::standard();
                        let rate = rate_of(&standard);
                        shipping_tax = tax_one(None, &standard, rate, shipping, &mut explain);
                    }
                }
            }
        }
    }

    // 5. Totals.
    let lines: Vec<PricedLine> = request
        .lines
        .iter()
        .enumerate()
        .map(|(index, line)| {
            let net = remaining[index];
            let tax = line_taxes[index];
            PricedLine {
                item_id: line.item_id,
                product_id: line.product_id.clone(),
                quantity: line.quantity,
                unit_price: line.unit_price,
                subtotal: subtotals[index],
                discount: line_discounts[index],
                tax,
                total: if prices_include_tax { net } else { net + tax },
            }
        })
        .collect();
    let tax: i64 = line_taxes.iter().sum::<i64>() + shipping_tax;
    let total = if prices_include_tax {
        merchandise + shipping
    } else {
        merchandise + shipping + tax
    };
    explain.record(StepKind::Total, None, None, total, None, || {
        if prices_include_tax {
            format!("{subtotal} − {discount} + {shipping} shipping (tax {tax} included)")
        } else {
            format!("{subtotal} − {discount} + {shipping} shipping + {tax} tax")
        }
    });
    Breakdown {
        currency: request.currency,
        region: request.destination.map(|d| d.region.clone()),
        subtotal,
        discount,
        shipping,
        tax,
        total,
        prices_include_tax,
        lines,
        discount_codes,
        tax_lines: tax_lines.into_values().collect(),
        warnings,
        steps: explain.steps,
    }
}
