//! The calculation's classic cases, as tables, and its invariants, as property tests.

use std::collections::{BTreeMap, BTreeSet};

use cart_core::{Currency, Price, ProductId};
use proptest::prelude::*;
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

use crate::*;

const NOW: OffsetDateTime = datetime!(2026-12-04 12:00 UTC);

fn eur() -> Currency {
    Currency::parse("EUR").expect("EUR")
}

fn line(product: &str, quantity: u32, unit_price: i64) -> LineToPrice {
    LineToPrice {
        item_id: Some(Uuid::from_u128(
            u128::from(quantity) << 64 | unit_price as u128,
        )),
        product_id: ProductId::parse(product).expect("product id"),
        quantity,
        unit_price,
        tax_class: TaxClass::standard(),
    }
}

fn classed(mut line: LineToPrice, class: &str) -> LineToPrice {
    line.tax_class = TaxClass::parse(class).expect("class");
    line
}

fn percent(raw: &str) -> Percent {
    Percent::parse(raw).expect("percent")
}

fn promotion(code: &str, benefit: Benefit) -> Promotion {
    Promotion {
        code: PromotionCode::parse(code).expect("code"),
        benefit,
        min_subtotal: None,
        product_ids: BTreeSet::new(),
        starts_at: None,
        ends_at: None,
        usage_limit: None,
        stackable: false,
    }
}

fn percentage(code: &str, raw: &str) -> Promotion {
    promotion(code, Benefit::Percentage(percent(raw)))
}

fn fixed(code: &str, amount: i64) -> Promotion {
    promotion(
        code,
        Benefit::Fixed(Price::new(amount, eur()).expect("price")),
    )
}

fn table(rates: &[(&str, &str)], prices_include_tax: bool) -> TaxTable {
    TaxTable {
        rates: rates
            .iter()
            .map(|(class, rate)| (TaxClass::parse(class).expect("class"), percent(rate)))
            .collect::<BTreeMap<_, _>>(),
        prices_include_tax,
    }
}

fn shipping(amount: i64, free_above: Option<i64>) -> ShippingRate {
    ShippingRate {
        amount: Price::new(amount, eur()).expect("price"),
        free_above,
    }
}

/// Everything a case varies; `price` runs the calculation.
#[derive(Debug)]
struct Case {
    lines: Vec<LineToPrice>,
    promotions: Vec<Promotion>,
    region: Option<Region>,
    tax: Option<TaxTable>,
    shipping: Option<ShippingRate>,
    rounding: Rounding,
}

impl Case {
    fn new(lines: Vec<LineToPrice>) -> Self {
        Self {
            lines,
            promotions: Vec::new(),
            region: None,
            tax: None,
            shipping: None,
            rounding: Rounding::HalfEven,
        }
    }

    fn to(mut self, region: &str, tax: TaxTable, shipping: Option<ShippingRate>) -> Self {
        self.region = Some(Region::parse(region).expect("region"));
        self.tax = Some(tax);
        self.shipping = shipping;
        self
    }

    fn with(mut self, promotion: Promotion) -> Self {
        self.promotions.push(promotion);
        self
    }

    fn price(&self) -> Breakdown {
        self.price_with(|_| 0, true)
    }

    fn price_with(&self, times_used: impl Fn(&PromotionCode) -> u64, explain: bool) -> Breakdown {
        let codes: Vec<CodeToPrice<'_>> = self
            .promotions
            .iter()
            .map(|promotion| CodeToPrice {
                code: &promotion.code,
                promotion: Some(promotion),
                times_used: times_used(&promotion.code),
            })
            .collect();
        let breakdown = calculate(&PricingRequest {
            currency: eur(),
            lines: &self.lines,
            codes: &codes,
            destination: self.region.as_ref().map(|region| Destination {
                region,
                tax: self.tax.as_ref(),
                shipping: self.shipping.as_ref(),
            }),
            now: NOW,
            rounding: self.rounding,
            explain,
        });
        assert_adds_up(&breakdown);
        breakdown
    }
}

/// The invariants every breakdown keeps, checked on every case and every generated cart.
fn assert_adds_up(b: &Breakdown) {
    let line_taxes: i64 = b.lines.iter().map(|l| l.tax).sum();
    let shipping_tax = b.tax - line_taxes;
    let lines_total: i64 = b.lines.iter().map(|l| l.total).sum();
    let shipping_charged = if b.prices_include_tax {
        b.shipping
    } else {
        b.shipping + shipping_tax
    };
    assert_eq!(
        lines_total + shipping_charged,
        b.total,
        "lines + shipping = total: {b:#?}"
    );
    assert_eq!(b.subtotal, b.lines.iter().map(|l| l.subtotal).sum::<i64>());
    assert_eq!(b.discount, b.lines.iter().map(|l| l.discount).sum::<i64>());
    assert_eq!(
        b.discount,
        b.discount_codes.iter().map(|c| c.amount).sum::<i64>()
    );
    assert_eq!(b.tax, b.tax_lines.iter().map(|t| t.amount).sum::<i64>());
    let expected_total = if b.prices_include_tax {
        b.subtotal - b.discount + b.shipping
    } else {
        b.subtotal - b.discount + b.shipping + b.tax
    };
    assert_eq!(b.total, expected_total);
    for line in &b.lines {
        assert!(
            line.discount >= 0 && line.discount <= line.subtotal,
            "{line:?}"
        );
        assert!(line.tax >= 0 && line.total >= 0, "{line:?}");
    }
    assert!(b.total >= 0);
}

fn reasons(b: &Breakdown) -> Vec<Option<NotApplied>> {
    b.discount_codes.iter().map(|c| c.reason).collect()
}

#[test]
fn a_third_of_a_discount_per_line_loses_no_cent() {
    let b = Case::new(vec![
        line("a", 1, 1000),
        line("b", 1, 1000),
        line("c", 1, 1000),
    ])
    .with(fixed("TEN", 1000))
    .price();
    let discounts: Vec<i64> = b.lines.iter().map(|l| l.discount).collect();
    assert_eq!(discounts, vec![334, 333, 333]);
    assert_eq!(b.total, 2000);
}

#[test]
fn a_percentage_is_rounded_once_for_the_cart_then_allocated() {
    // 10 % of 999 is 99.9 → 100, split over three lines of 333.
    let b = Case::new(vec![
        line("a", 1, 333),
        line("b", 1, 333),
        line("c", 1, 333),
    ])
    .with(percentage("SAVE10", "10"))
    .price();
    assert_eq!(b.discount, 100);
    assert_eq!(
        b.lines.iter().map(|l| l.discount).collect::<Vec<_>>(),
        vec![34, 33, 33]
    );
}

#[test]
fn half_even_and_half_up_differ_at_exactly_half_a_cent() {
    // 10 % of 25 is 2.5; of 35 is 3.5.
    let case = |rounding| {
        let mut case = Case::new(vec![line("a", 1, 25), line("b", 1, 35)]).to(
            "US-CA",
            table(&[("standard", "10")], false),
            None,
        );
        case.rounding = rounding;
        case.price()
    };
    let even = case(Rounding::HalfEven);
    let up = case(Rounding::HalfUp);
    assert_eq!(
        even.lines.iter().map(|l| l.tax).collect::<Vec<_>>(),
        vec![2, 4]
    );
    assert_eq!(
        up.lines.iter().map(|l| l.tax).collect::<Vec<_>>(),
        vec![3, 4]
    );
    assert_eq!((even.total, up.total), (66, 67));
}

#[test]
fn tax_included_in_prices_is_extracted_not_added() {
    let b = Case::new(vec![
        line("book", 1, 1200),
        classed(line("food", 1, 1055), "reduced"),
    ])
    .to(
        "FR",
        table(&[("standard", "20"), ("reduced", "5.5")], true),
        None,
    )
    .price();
    assert!(b.prices_include_tax);
    // 1200 × 20/120 = 200; 1055 × 5.5/105.5 = 55.
    assert_eq!(
        b.lines.iter().map(|l| l.tax).collect::<Vec<_>>(),
        vec![200, 55]
    );
    assert_eq!((b.tax, b.total), (255, 2255));
    let bases: Vec<(String, i64, i64)> = b
        .tax_lines
        .iter()
        .map(|t| (t.tax_class.to_string(), t.base, t.amount))
        .collect();
    assert_eq!(
        bases,
        vec![("reduced".into(), 1000, 55), ("standard".into(), 1000, 200)]
    );
}

#[test]
fn tax_excluded_from_prices_is_added_per_line() {
    let b = Case::new(vec![line("a", 3, 1999)])
        .to("US-NY", table(&[("standard", "8.875")], false), None)
        .price();
    // 5997 × 8.875 % = 532.23375 → 532.
    assert_eq!((b.tax, b.total), (532, 6529));
}

#[test]
fn a_fixed_code_larger_than_the_cart_never_makes_it_negative() {
    let b = Case::new(vec![line("a", 1, 1299)])
        .to(
            "DE",
            table(&[("standard", "19")], true),
            Some(shipping(499, None)),
        )
        .with(fixed("BIG", 5000))
        .price();
    assert_eq!(b.discount, 1299);
    assert_eq!(b.discount_codes[0].amount, 1299);
    assert_eq!(b.lines[0].total, 0);
    assert_eq!(b.total, 499, "only shipping is left");
}

#[test]
fn a_scoped_code_discounts_only_its_products() {
    let mut scoped = percentage("BOOKS20", "20");
    scoped.product_ids = [ProductId::parse("book").expect("id")].into();
    let b = Case::new(vec![line("book", 2, 1000), line("pen", 1, 500)])
        .with(scoped.clone())
        .price();
    assert_eq!(
        b.lines.iter().map(|l| l.discount).collect::<Vec<_>>(),
        vec![400, 0]
    );
    let none = Case::new(vec![line("pen", 1, 500)]).with(scoped).price();
    assert_eq!(reasons(&none), vec![Some(NotApplied::NoEligibleItems)]);
    assert_eq!(none.discount, 0);
}

#[test]
fn stackable_codes_combine_and_others_do_not() {
    let mut ten = percentage("TEN", "10");
    let mut five = fixed("FIVE", 500);
    ten.stackable = true;
    five.stackable = true;
    let both = Case::new(vec![line("a", 1, 10000)])
        .with(ten.clone())
        .with(five.clone())
        .price();
    // 10 % of 10000, then 500 off the 9000 left.
    assert_eq!(reasons(&both), vec![None, None]);
    assert_eq!((both.discount, both.total), (1500, 8500));

    five.stackable = false;
    let second_alone = Case::new(vec![line("a", 1, 10000)])
        .with(ten.clone())
        .with(five.clone())
        .price();
    assert_eq!(
        reasons(&second_alone),
        vec![None, Some(NotApplied::NotStackable)]
    );
    assert_eq!(second_alone.discount, 1000);

    let first_alone = Case::new(vec![line("a", 1, 10000)])
        .with(five)
        .with(ten)
        .price();
    assert_eq!(
        reasons(&first_alone),
        vec![None, Some(NotApplied::NotStackable)]
    );
    assert_eq!(first_alone.discount, 500);
}

#[test]
fn free_shipping_is_judged_after_discounts() {
    let case = || {
        Case::new(vec![line("a", 4, 1300)]).to(
            "FR",
            table(&[("standard", "20")], true),
            Some(shipping(499, Some(5000))),
        )
    };
    let full_price = case().price();
    assert_eq!((full_price.shipping, full_price.total), (0, 5200));
    // 10 % off brings the merchandise to 4680, under the threshold: shipping is charged.
    let discounted = case().with(percentage("SAVE10", "10")).price();
    assert_eq!(discounted.shipping, 499);
    assert_eq!(discounted.total, 4680 + 499);
    // Shipping's tax (499 × 20/120 = 83.17 → 83) is part of the standard class.
    assert_eq!(discounted.tax, 780 + 83);
}

#[test]
fn each_reason_a_code_does_not_apply_is_named() {
    let mut late = percentage("LATE", "5");
    late.starts_at = Some(NOW + time::Duration::days(1));
    let mut over = percentage("OVER", "5");
    over.ends_at = Some(NOW);
    let mut big = percentage("BIG", "5");
    big.min_subtotal = Some(10_001);
    let dollars = promotion(
        "USD5",
        Benefit::Fixed(Price::new(500, Currency::parse("USD").expect("USD")).expect("price")),
    );
    let mut used = percentage("USED", "5");
    used.usage_limit = Some(3);
    for (promotion, reason) in [
        (late, NotApplied::NotStarted),
        (over, NotApplied::Expired),
        (big, NotApplied::MinSubtotalNotMet),
        (dollars, NotApplied::CurrencyMismatch),
        (used, NotApplied::UsageLimitReached),
    ] {
        let b = Case::new(vec![line("a", 1, 10_000)])
            .with(promotion)
            .price_with(|_| 3, false);
        assert_eq!(reasons(&b), vec![Some(reason)]);
        assert!(!b.discount_codes[0].applied);
        assert_eq!(b.total, 10_000);
    }
}

#[test]
fn a_code_whose_promotion_was_deleted_stays_listed_but_takes_nothing() {
    let code = PromotionCode::parse("GONE").expect("code");
    let lines = [line("a", 1, 1000)];
    let b = calculate(&PricingRequest {
        currency: eur(),
        lines: &lines,
        codes: &[CodeToPrice {
            code: &code,
            promotion: None,
            times_used: 0,
        }],
        destination: None,
        now: NOW,
        rounding: Rounding::HalfEven,
        explain: false,
    });
    assert_eq!(reasons(&b), vec![Some(NotApplied::PromotionNotFound)]);
    assert_eq!(b.total, 1000);
}

#[test]
fn without_a_region_there_is_no_tax_or_shipping_and_a_warning_says_so() {
    let b = Case::new(vec![line("a", 2, 1000)]).price();
    assert_eq!((b.tax, b.shipping, b.total), (0, 0, 2000));
    assert_eq!(b.warnings, vec![Warning::RegionRequired]);
    assert_eq!(b.region, None);
}

#[test]
fn missing_rates_are_warned_about_not_guessed() {
    let b = Case::new(vec![classed(line("a", 1, 1000), "luxury")])
        .to(
            "GB",
            table(&[("standard", "20")], true),
            Some(shipping(300, None)),
        )
        .price();
    assert_eq!(b.lines[0].tax, 0);
    assert_eq!(
        b.tax, 50,
        "shipping is still taxed as standard: 300 × 20/120"
    );
    assert_eq!(
        b.warnings,
        vec![Warning::TaxRateMissing {
            region: Region::parse("GB").expect("GB"),
            tax_class: TaxClass::parse("luxury").expect("class"),
        }]
    );

    let mut no_rates = Case::new(vec![line("a", 1, 1000)]);
    no_rates.region = Some(Region::parse("IT").expect("IT"));
    let b = no_rates.price();
    assert_eq!(
        b.warnings,
        vec![
            Warning::ShippingUnavailable {
                region: Region::parse("IT").expect("IT")
            },
            Warning::TaxRatesMissing {
                region: Region::parse("IT").expect("IT")
            },
        ]
    );
}

#[test]
fn the_explanation_follows_every_cent_in_order() {
    let b = Case::new(vec![line("a", 2, 1299), line("b", 1, 500)])
        .to(
            "FR",
            table(&[("standard", "20")], false),
            Some(shipping(499, None)),
        )
        .with(percentage("SAVE10", "10"))
        .price();
    let steps = b.steps.as_ref().expect("explained");
    let kinds: Vec<StepKind> = steps.iter().map(|s| s.step).collect();
    use StepKind::*;
    assert_eq!(
        kinds,
        vec![
            ListPrice, ListPrice, Subtotal, Discount, Allocation, Allocation, LineNet, LineNet,
            Shipping, TaxBase, Tax, Rounding, TaxBase, Tax, Rounding, TaxBase, Tax, Rounding,
            Total,
        ]
    );
    let amount = |kind| {
        steps
            .iter()
            .filter(|s| s.step == kind)
            .map(|s| s.amount)
            .sum::<i64>()
    };
    assert_eq!(amount(ListPrice), b.subtotal);
    assert_eq!(amount(Discount), b.discount);
    assert_eq!(amount(Allocation), b.discount);
    assert_eq!(amount(Rounding), b.tax);
    assert_eq!(amount(Total), b.total);
    // The discount step shows the exact value it rounded: 10 % of 3098.
    assert_eq!(steps[3].exact.as_deref(), Some("309.8"));
    assert_eq!(
        Case::new(vec![line("a", 1, 1)])
            .price_with(|_| 0, false)
            .steps,
        None
    );
}

#[test]
fn the_quote_token_changes_with_anything_shown_and_only_then() {
    let case =
        Case::new(vec![line("a", 2, 1299)]).to("FR", table(&[("standard", "20")], true), None);
    let b = case.price();
    let token = quote_token("guest_x", 3, &b);
    assert!(token.starts_with("q1.") && token.len() == 3 + 64, "{token}");
    assert_eq!(
        token,
        quote_token("guest_x", 3, &case.price_with(|_| 0, false))
    );
    assert_ne!(token, quote_token("guest_x", 4, &b));
    assert_ne!(token, quote_token("guest_y", 3, &b));
    let cheaper = Case::new(vec![line("a", 2, 1298)])
        .to("FR", table(&[("standard", "20")], true), None)
        .price();
    assert_ne!(token, quote_token("guest_x", 3, &cheaper));
    let other_rate = Case::new(vec![line("a", 2, 1299)])
        .to("FR", table(&[("standard", "19")], true), None)
        .price();
    assert_ne!(token, quote_token("guest_x", 3, &other_rate));
}

/// A generated promotion: kind, size, scope to the first product, stackable.
fn arb_promotion() -> impl Strategy<Value = Promotion> {
    (
        prop_oneof![
            (1u32..=10000).prop_map(|bp| Benefit::Percentage(
                Percent::parse(&format!("{}.{:02}", bp / 100, bp % 100)).expect("percent")
            )),
            (1i64..=200_000)
                .prop_map(|amount| Benefit::Fixed(Price::new(amount, eur()).expect("price"))),
        ],
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(0i64..=300_000),
    )
        .prop_map(|(benefit, scoped, stackable, min_subtotal)| {
            let mut promotion = promotion("GEN", benefit);
            if scoped {
                promotion.product_ids = [ProductId::parse("p0").expect("id")].into();
            }
            promotion.stackable = stackable;
            promotion.min_subtotal = min_subtotal;
            promotion
        })
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec((0usize..4, 1u32..=99, 0i64..=100_000, 0usize..3), 0..=10),
        proptest::collection::vec(arb_promotion(), 0..=3),
        proptest::option::of((
            0u32..=3000,
            0u32..=3000,
            any::<bool>(),
            proptest::option::of((0i64..=2000, proptest::option::of(0i64..=500_000))),
        )),
        any::<bool>(),
    )
        .prop_map(|(lines, promotions, region, half_up)| {
            let classes = ["standard", "reduced", "zero"];
            let mut case = Case::new(
                lines
                    .into_iter()
                    .map(|(product, quantity, price, class)| {
                        classed(
                            line(&format!("p{product}"), quantity, price),
                            classes[class],
                        )
                    })
                    .collect(),
            );
            case.promotions = promotions;
            if let Some((standard, reduced, included, ship)) = region {
                let rate = |bp: u32| format!("{}.{:02}", bp / 100, bp % 100);
                case = case.to(
                    "FR",
                    table(
                        &[("standard", &rate(standard)), ("reduced", &rate(reduced))],
                        included,
                    ),
                    ship.map(|(amount, free)| shipping(amount, free)),
                );
            }
            if half_up {
                case.rounding = Rounding::HalfUp;
            }
            case
        })
}

proptest! {
    #[test]
    fn any_cart_adds_up_to_the_cent(case in arb_case()) {
        // `price` asserts the sums; this also checks the same request gives the same answer.
        let once = case.price();
        let twice = case.price();
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn inclusive_and_exclusive_pricing_agree_on_the_net(mut case in arb_case()) {
        prop_assume!(case.tax.is_some());
        let with = |case: &mut Case, included: bool| {
            if let Some(tax) = &mut case.tax {
                tax.prices_include_tax = included;
            }
            case.price_with(|_| 0, false)
        };
        let exclusive = with(&mut case, false);
        let inclusive = with(&mut case, true);
        prop_assert_eq!(exclusive.subtotal, inclusive.subtotal);
        prop_assert_eq!(exclusive.discount, inclusive.discount);
        prop_assert_eq!(exclusive.shipping, inclusive.shipping);
        // What the shop books before tax is the same; tax is added on one side only.
        prop_assert_eq!(inclusive.total, exclusive.total - exclusive.tax);
        prop_assert!(inclusive.tax <= exclusive.tax);
    }
}
