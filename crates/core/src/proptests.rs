//! Property tests of the cart rules: whatever sequence of commands arrives, every quantity stays
//! within limits, the line count stays within its limit, totals equal the sum of the lines and
//! the version goes up by exactly one per accepted change.

use proptest::prelude::*;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::cart::merge::{LineOutcome, LineSource, MergeStrategy, OutcomeReason};
use crate::cart::{AddItem, Cart};
use crate::ids::{CartKey, ProductId, UserId};
use crate::money::{Currency, Price};
use crate::product::Product;
use crate::quantity::{Limits, RequestedQuantity};

#[derive(Debug, Clone)]
enum Command {
    Add { product: usize, quantity: u64 },
    Set { line: usize, quantity: u64 },
    Remove { line: usize },
    Clear,
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        6 => (0usize..12, 1u64..40).prop_map(|(product, quantity)| Command::Add { product, quantity }),
        3 => (0usize..12, 1u64..40).prop_map(|(line, quantity)| Command::Set { line, quantity }),
        2 => (0usize..12).prop_map(|line| Command::Remove { line }),
        1 => Just(Command::Clear),
    ]
}

fn catalog() -> Vec<Product> {
    let usd = Currency::parse("USD").expect("USD");
    (0..12)
        .map(|i| Product {
            id: ProductId::parse(&format!("p{i}")).expect("id"),
            name: format!("Product {i}").into(),
            price: Price::new(100 + i as i64 * 37, usd).expect("price"),
            active: true,
            stock: if i % 4 == 0 { Some(30) } else { None },
            tax_class: Default::default(),
        })
        .collect()
}

proptest! {
    #[test]
    fn any_command_sequence_keeps_the_cart_within_limits(
        commands in proptest::collection::vec(command(), 1..80),
        max_quantity in 1u32..60,
        max_items in 1u32..8,
    ) {
        let limits = Limits::new(max_quantity, max_items).expect("limits");
        let products = catalog();
        let start = OffsetDateTime::UNIX_EPOCH;
        let key = CartKey::User(UserId::parse("alice").expect("user"));
        let mut cart = Cart::new(Uuid::nil(), key, products[0].price.currency(), start, 0);
        for (step, command) in commands.into_iter().enumerate() {
            let now = start + Duration::seconds(step as i64);
            let before = cart.clone();
            let item_ids: Vec<Uuid> = cart.items().iter().map(|l| l.item_id()).collect();
            let outcome = match command {
                Command::Add { product, quantity } => {
                    let add = AddItem {
                        product_id: products[product].id.clone(),
                        variant_id: None,
                        quantity: RequestedQuantity::new(quantity).expect("positive"),
                        asserted_unit_price: None,
                    };
                    cart.add(&add, &products[product], &limits, Uuid::from_u128(step as u128 + 1), now).map(|_| ())
                }
                Command::Set { line, quantity } => match item_ids.get(line) {
                    Some(&id) => {
                        let product = products.iter().find(|p| Some(&p.id) == before.line(id).ok().map(|l| l.product_id()));
                        cart.set_quantity(id, RequestedQuantity::new(quantity).expect("positive"), product, &limits, now).map(|_| ())
                    }
                    None => continue,
                },
                Command::Remove { line } => match item_ids.get(line) {
                    Some(&id) => cart.remove(id).map(|_| ()),
                    None => continue,
                },
                Command::Clear => { cart.clear(); Ok(()) }
            };
            match outcome {
                Ok(()) => {
                    cart.touch(now, Duration::days(1));
                    prop_assert_eq!(cart.version(), before.version() + 1);
                }
                Err(_) => {
                    // A refused command changes nothing at all.
                    prop_assert_eq!(&cart, &before);
                    cart = before;
                }
            }
            prop_assert!(cart.items().len() <= max_items as usize);
            for line in cart.items() {
                prop_assert!((1..=max_quantity).contains(&line.quantity().get()));
                if let Some(stock) = products.iter().find(|p| &p.id == line.product_id()).and_then(|p| p.stock) {
                    prop_assert!(line.quantity().get() <= stock);
                }
            }
            let totals = cart.totals();
            prop_assert_eq!(totals.item_count, cart.items().len());
            prop_assert_eq!(totals.total_price, cart.items().iter().map(|l| i64::from(l.quantity().get()) * l.unit_price()).sum::<i64>());
            prop_assert_eq!(totals.total_quantity, cart.items().iter().map(|l| u64::from(l.quantity().get())).sum::<u64>());
        }
    }

    #[test]
    fn adding_twice_to_a_line_adds_up(first in 1u64..50, second in 1u64..50) {
        let limits = Limits::default();
        let products = catalog();
        let product = &products[1];
        let now = OffsetDateTime::UNIX_EPOCH;
        let key = CartKey::User(UserId::parse("bob").expect("user"));
        let mut cart = Cart::new(Uuid::nil(), key, product.price.currency(), now, 0);
        let add = |quantity| AddItem {
            product_id: product.id.clone(),
            variant_id: None,
            quantity: RequestedQuantity::new(quantity).expect("positive"),
            asserted_unit_price: None,
        };
        cart.add(&add(first), product, &limits, Uuid::from_u128(1), now).expect("first add");
        let second_result = cart.add(&add(second), product, &limits, Uuid::from_u128(2), now);
        if first + second <= 99 {
            prop_assert!(second_result.is_ok());
            prop_assert_eq!(cart.items().len(), 1);
            prop_assert_eq!(u64::from(cart.items()[0].quantity().get()), first + second);
        } else {
            prop_assert!(second_result.is_err());
            prop_assert_eq!(u64::from(cart.items()[0].quantity().get()), first);
        }
    }
}

/// A cart under `key` holding `lines` (product index, quantity), built through `Cart::add` with
/// generous limits so every generated line fits.
fn cart_with(key: &str, lines: &[(usize, u32)]) -> Cart {
    let products = catalog();
    let roomy = Limits::new(100_000, 10_000).expect("limits");
    let key = CartKey::parse(key).expect("key");
    let now = OffsetDateTime::UNIX_EPOCH;
    let mut cart = Cart::new(Uuid::new_v4(), key, products[0].price.currency(), now, 0);
    for &(product, quantity) in lines {
        let product = Product {
            stock: None,
            tax_class: Default::default(),
            ..products[product].clone()
        };
        let add = AddItem {
            product_id: product.id.clone(),
            variant_id: None,
            quantity: RequestedQuantity::new(u64::from(quantity)).expect("positive"),
            asserted_unit_price: None,
        };
        cart.add(&add, &product, &roomy, Uuid::new_v4(), now)
            .expect("add");
    }
    cart
}

fn quantities(cart: &Cart) -> Vec<(String, u32)> {
    cart.items()
        .iter()
        .map(|l| (l.product_id().as_str().to_owned(), l.quantity().get()))
        .collect()
}

fn lines() -> impl Strategy<Value = Vec<(usize, u32)>> {
    proptest::collection::vec((0usize..12, 1u32..60), 0..10)
}

fn strategy() -> impl Strategy<Value = MergeStrategy> {
    prop_oneof![
        Just(MergeStrategy::Max),
        Just(MergeStrategy::Sum),
        Just(MergeStrategy::Replace),
        Just(MergeStrategy::Keep),
    ]
}

const GUEST: &str = "guest_01HZX5N4Q8W2R7T3Y6V9B0C1D2";

proptest! {
    #[test]
    fn merging_with_max_twice_equals_merging_once(
        user in lines(), guest in lines(), max_quantity in 1u32..80, max_items in 1u32..10,
    ) {
        let limits = Limits::new(max_quantity, max_items).expect("limits");
        let guest = cart_with(GUEST, &guest);
        let mut once = cart_with("alice", &user);
        once.absorb(&guest, MergeStrategy::Max, &limits, OffsetDateTime::UNIX_EPOCH).expect("merge");
        let mut twice = once.clone();
        twice.absorb(&guest, MergeStrategy::Max, &limits, OffsetDateTime::UNIX_EPOCH).expect("merge");
        prop_assert_eq!(quantities(&twice), quantities(&once));
    }

    #[test]
    fn a_merge_loses_nothing_silently_and_keeps_limits(
        user in lines(), guest in lines(), strategy in strategy(),
        max_quantity in 1u32..80, max_items in 1u32..10,
    ) {
        let limits = Limits::new(max_quantity, max_items).expect("limits");
        let guest = cart_with(GUEST, &guest);
        let before = cart_with("alice", &user);
        let mut merged = before.clone();
        let report = merged.absorb(&guest, strategy, &limits, OffsetDateTime::UNIX_EPOCH).expect("merge");
        // Every guest line is reported, whatever became of it.
        for line in guest.items() {
            prop_assert!(report.iter().any(|r| r.product_id == *line.product_id() && r.guest_quantity == line.quantity().get()));
        }
        // Every line in the merged cart is either an untouched user line or a reported line with
        // the quantity the report gives; every dropped line is absent.
        for line in merged.items() {
            let reported = report.iter().find(|r| r.product_id == *line.product_id() && r.outcome != LineOutcome::Dropped);
            match reported {
                Some(r) => prop_assert_eq!(r.quantity, line.quantity().get()),
                None => prop_assert!(before.items().iter().any(|u| u.product_id() == line.product_id() && u.quantity() == line.quantity())),
            }
        }
        for dropped in report.iter().filter(|r| r.outcome == LineOutcome::Dropped) {
            let in_merged = merged.items().iter().any(|l| *l.product_id() == dropped.product_id);
            let in_guest = guest.items().iter().any(|l| *l.product_id() == dropped.product_id);
            match dropped.reason {
                OutcomeReason::CartLimit => prop_assert!(!in_merged),
                OutcomeReason::ReplacedByGuestCart => prop_assert!(!in_merged || in_guest),
                _ => {}
            }
        }
        // Limits hold for lines the merge wrote (user lines it left alone are the user's own).
        for r in report.iter().filter(|r| r.outcome != LineOutcome::Dropped) {
            prop_assert!((1..=max_quantity).contains(&r.quantity));
        }
        let new_lines = merged.items().len().saturating_sub(before.items().len());
        prop_assert!(new_lines == 0 || merged.items().len() <= max_items as usize);
        match strategy {
            MergeStrategy::Keep => prop_assert_eq!(quantities(&merged), quantities(&before)),
            MergeStrategy::Sum => {
                for r in report.iter().filter(|r| r.source == LineSource::Both) {
                    prop_assert_eq!(r.quantity, (r.user_quantity + r.guest_quantity).min(max_quantity));
                }
            }
            MergeStrategy::Max => {
                for r in report.iter().filter(|r| r.source == LineSource::Both) {
                    prop_assert_eq!(r.quantity, r.user_quantity.max(r.guest_quantity).min(max_quantity));
                }
            }
            MergeStrategy::Replace => {
                prop_assert!(merged.items().iter().all(|l| guest.items().iter().any(|g| g.product_id() == l.product_id())));
            }
        }
    }
}
