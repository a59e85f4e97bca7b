//! REST and GraphQL are one API: a table of operations run through both on fresh carts must
//! leave the same carts (modulo naming: camelCase, `Money`, enum case; and the ids of two fresh
//! carts) and refuse with the same codes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use cart_core::Limits;

use crate::graphql_helpers::{error_code, masked, rest_shape, user_error_code};
use crate::helpers::{Answer, Options, TestApp, guest, spawn_with, token};

/// Whose cart a case works on.
#[derive(Debug, Clone, Copy)]
enum Who {
    /// A fresh guest cart, by guest id, without a token.
    Guest,
    /// A fresh user's own cart (`me`).
    User,
    /// Alice's token on another user's cart.
    OtherUser,
    /// This key, without a token.
    Anonymous(&'static str),
}

/// One step.
#[derive(Debug, Clone, Copy)]
enum Op {
    Add {
        product: &'static str,
        quantity: i64,
        unit_price: Option<i64>,
    },
    /// The first line's quantity, conditionally on `version` if given.
    SetQuantity {
        quantity: i64,
        version: Option<u64>,
    },
    /// Removes the first line.
    Remove,
    /// Removes an item the cart never had.
    RemoveUnknown,
    Clear,
    /// Fills a fresh guest cart (over REST) and merges it into the user's.
    Merge {
        guest_lines: &'static [(&'static str, u64)],
        strategy: &'static str,
    },
    /// Merges something that is not a guest id.
    MergeBadGuest,
    /// Sets where the cart ships to.
    SetRegion(&'static str),
    /// Puts a discount code on the cart.
    AddCode(&'static str),
    /// Takes a discount code off the cart.
    RemoveCode(&'static str),
    /// Takes the catalog's prices.
    Reprice,
}

/// What a step did, in REST's shape.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Cart { cart: Value, merge: Option<Value> },
    NoCart,
    Refused(String),
}

enum Expect {
    Cart,
    NoCart,
    Code(&'static str),
}

struct Case {
    name: &'static str,
    who: Who,
    setup: Vec<Op>,
    op: Op,
    expect: Expect,
}

const fn add(product: &'static str, quantity: i64) -> Op {
    Op::Add {
        product,
        quantity,
        unit_price: None,
    }
}

fn cases() -> Vec<Case> {
    use Expect::{Cart, Code, NoCart};
    let case = |name, who, setup: &[Op], op, expect| Case {
        name,
        who,
        setup: setup.to_vec(),
        op,
        expect,
    };
    vec![
        case("add", Who::Guest, &[], add("book", 2), Cart),
        case(
            "add the same product again",
            Who::Guest,
            &[add("book", 1), add("pen", 1)],
            add("book", 2),
            Cart,
        ),
        case(
            "update a quantity",
            Who::Guest,
            &[add("book", 1), add("pen", 1)],
            Op::SetQuantity {
                quantity: 5,
                version: None,
            },
            Cart,
        ),
        case(
            "remove a line",
            Who::Guest,
            &[add("book", 1), add("pen", 1)],
            Op::Remove,
            Cart,
        ),
        case("clear", Who::Guest, &[add("book", 1)], Op::Clear, Cart),
        case("clear without a cart", Who::Guest, &[], Op::Clear, NoCart),
        case(
            "merge (max)",
            Who::User,
            &[add("book", 1), add("lamp", 1)],
            Op::Merge {
                guest_lines: &[("book", 3), ("pen", 1)],
                strategy: "max",
            },
            Cart,
        ),
        case(
            "merge (sum) over the line limit",
            Who::User,
            &[add("book", 15)],
            Op::Merge {
                guest_lines: &[("book", 10)],
                strategy: "sum",
            },
            Cart,
        ),
        case(
            "quantity limit exceeded",
            Who::Guest,
            &[add("book", 15)],
            add("book", 6),
            Code("QUANTITY_LIMIT_EXCEEDED"),
        ),
        case(
            "cart limit exceeded",
            Who::Guest,
            &[add("book", 1), add("pen", 1), add("lamp", 1)],
            add("item-01", 1),
            Code("CART_LIMIT_EXCEEDED"),
        ),
        case(
            "quantity 0",
            Who::Guest,
            &[],
            add("book", 0),
            Code("INVALID_QUANTITY"),
        ),
        case(
            "quantity -1",
            Who::Guest,
            &[],
            add("book", -1),
            Code("INVALID_QUANTITY"),
        ),
        case(
            "update to quantity 0",
            Who::Guest,
            &[add("book", 1)],
            Op::SetQuantity {
                quantity: 0,
                version: None,
            },
            Code("INVALID_QUANTITY"),
        ),
        case(
            "unknown product",
            Who::Guest,
            &[],
            add("no-such-product", 1),
            Code("PRODUCT_NOT_FOUND"),
        ),
        case(
            "inactive product",
            Who::Guest,
            &[],
            add("retired", 1),
            Code("PRODUCT_UNAVAILABLE"),
        ),
        case(
            "another currency",
            Who::Guest,
            &[add("book", 1)],
            add("euro-book", 1),
            Code("CURRENCY_MISMATCH"),
        ),
        case(
            "price assertion mismatch",
            Who::Guest,
            &[],
            Op::Add {
                product: "pen",
                quantity: 1,
                unit_price: Some(1),
            },
            Code("PRICE_CHANGED"),
        ),
        case(
            "price assertion match",
            Who::Guest,
            &[],
            Op::Add {
                product: "pen",
                quantity: 1,
                unit_price: Some(250),
            },
            Cart,
        ),
        case(
            "expected version conflict",
            Who::Guest,
            &[add("book", 1)],
            Op::SetQuantity {
                quantity: 5,
                version: Some(7),
            },
            Code("CONFLICT"),
        ),
        case(
            "expected version met",
            Who::Guest,
            &[add("book", 1)],
            Op::SetQuantity {
                quantity: 5,
                version: Some(1),
            },
            Cart,
        ),
        case(
            "unknown item",
            Who::Guest,
            &[add("book", 1)],
            Op::RemoveUnknown,
            Code("ITEM_NOT_FOUND"),
        ),
        case("a user's own cart", Who::User, &[], add("book", 1), Cart),
        case(
            "another user's cart",
            Who::OtherUser,
            &[],
            add("book", 1),
            Code("FORBIDDEN"),
        ),
        case(
            "a user cart without a token",
            Who::Anonymous("me"),
            &[],
            add("book", 1),
            Code("UNAUTHORIZED"),
        ),
        case(
            "a malformed guest id",
            Who::Anonymous("guest_123"),
            &[],
            add("book", 1),
            Code("INVALID_GUEST_ID"),
        ),
        case(
            "merging a malformed guest id",
            Who::User,
            &[add("book", 1)],
            Op::MergeBadGuest,
            Code("INVALID_GUEST_ID"),
        ),
        case(
            "set a region",
            Who::Guest,
            &[add("book", 1)],
            Op::SetRegion("US-CA"),
            Cart,
        ),
        case(
            "set the region the cart has",
            Who::User,
            &[add("book", 1), Op::SetRegion("FR")],
            Op::SetRegion("FR"),
            Cart,
        ),
        case(
            "a lower-case region",
            Who::Guest,
            &[add("book", 1)],
            Op::SetRegion("fr"),
            Code("VALIDATION_ERROR"),
        ),
        case(
            "a region without a cart",
            Who::Guest,
            &[],
            Op::SetRegion("FR"),
            Code("CART_NOT_FOUND"),
        ),
        case(
            "add a code in lower case",
            Who::Guest,
            &[add("book", 1)],
            Op::AddCode("save10"),
            Cart,
        ),
        case(
            "an unknown code",
            Who::Guest,
            &[add("book", 1)],
            Op::AddCode("NOPE"),
            Code("PROMOTION_NOT_FOUND"),
        ),
        case(
            "a malformed code",
            Who::Guest,
            &[add("book", 1)],
            Op::AddCode("no spaces"),
            Code("VALIDATION_ERROR"),
        ),
        case(
            "remove a code",
            Who::User,
            &[add("book", 1), Op::AddCode("SAVE10")],
            Op::RemoveCode("save10"),
            Cart,
        ),
        case(
            "remove a code the cart lacks",
            Who::Guest,
            &[add("book", 1)],
            Op::RemoveCode("SAVE10"),
            Code("DISCOUNT_CODE_NOT_FOUND"),
        ),
        case("reprice", Who::Guest, &[add("book", 1)], Op::Reprice, Cart),
        case(
            "reprice another user's cart",
            Who::OtherUser,
            &[],
            Op::Reprice,
            Code("FORBIDDEN"),
        ),
    ]
}

/// The cart key and token of one run of a case.
struct Run {
    key: String,
    token: Option<String>,
    /// The first line of the last cart seen.
    first_item: Option<String>,
}

impl Run {
    fn new(who: Who, api: &str, case: usize) -> Self {
        let (key, token) = match who {
            Who::Guest => (guest(), None),
            Who::User => (
                "me".to_owned(),
                Some(token(&format!("parity-{api}-{case}"))),
            ),
            Who::OtherUser => (format!("bob-{api}-{case}"), Some(token("alice"))),
            Who::Anonymous(key) => (key.to_owned(), None),
        };
        Self {
            key,
            token,
            first_item: None,
        }
    }

    fn item(&self) -> String {
        self.first_item
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
    }

    /// Remembers the first line of a cart answered (by REST's or GraphQL's name).
    fn remember(&mut self, cart: &Value) {
        let item = cart["items"][0]
            .get("item_id")
            .or_else(|| cart["items"][0].get("itemId"));
        if let Some(item) = item.and_then(Value::as_str) {
            self.first_item = Some(item.to_owned());
        }
    }
}

/// Fills a fresh guest cart over REST; returns its id.
async fn guest_cart(app: &TestApp, lines: &[(&str, u64)]) -> String {
    let guest_id = guest();
    for (product, quantity) in lines {
        let added = app.add_product(&guest_id, product, *quantity).await;
        assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    }
    guest_id
}

async fn rest(app: &TestApp, run: &mut Run, op: Op) -> Outcome {
    let cart_path = format!("/v1/cart/{}", run.key);
    let (method, path, body) = match op {
        Op::Add {
            product,
            quantity,
            unit_price,
        } => {
            let mut body = json!({"product_id": product, "quantity": quantity});
            if let Some(price) = unit_price {
                body["unit_price"] = json!(price);
            }
            (Method::POST, format!("{cart_path}/items"), Some(body))
        }
        Op::SetQuantity { quantity, version } => {
            let mut body = json!({"quantity": quantity});
            if let Some(version) = version {
                body["version"] = json!(version);
            }
            let path = format!("{cart_path}/items/{}", run.item());
            (Method::PATCH, path, Some(body))
        }
        Op::Remove => (
            Method::DELETE,
            format!("{cart_path}/items/{}", run.item()),
            None,
        ),
        Op::RemoveUnknown => {
            let path = format!("{cart_path}/items/{}", uuid::Uuid::new_v4());
            (Method::DELETE, path, None)
        }
        Op::Clear => (Method::DELETE, cart_path.clone(), None),
        Op::Merge {
            guest_lines,
            strategy,
        } => {
            let guest_id = guest_cart(app, guest_lines).await;
            let body = json!({"guest_id": guest_id, "strategy": strategy});
            (Method::POST, format!("{cart_path}/merge"), Some(body))
        }
        Op::MergeBadGuest => {
            let body = json!({"guest_id": "not-a-guest"});
            (Method::POST, format!("{cart_path}/merge"), Some(body))
        }
        Op::SetRegion(region) => (
            Method::PATCH,
            cart_path.clone(),
            Some(json!({"region": region})),
        ),
        Op::AddCode(code) => (
            Method::POST,
            format!("{cart_path}/discount-codes"),
            Some(json!({"code": code})),
        ),
        Op::RemoveCode(code) => {
            // Path segments are sent as they are; the table's codes need no escaping.
            let path = format!("{cart_path}/discount-codes/{code}");
            (Method::DELETE, path, None)
        }
        Op::Reprice => (Method::POST, format!("{cart_path}/reprice"), None),
    };
    let mut request = app.request(method, &path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(token) = &run.token {
        request = request.bearer_auth(token);
    }
    let answer = app.send(request).await;
    if answer.status == StatusCode::NO_CONTENT {
        // REST answers a clear with 204; the cart it left is read back.
        let read = app.get_cart(&run.key, run.token.as_deref()).await;
        return match read.status {
            StatusCode::OK => {
                run.remember(&read.body);
                rest_cart(crate::helpers::cart_part(&read.body))
            }
            _ => Outcome::NoCart,
        };
    }
    if !answer.status.is_success() {
        assert!(answer.status.is_client_error(), "{:?}", answer.body);
        return Outcome::Refused(answer.code().to_owned());
    }
    run.remember(&answer.body);
    rest_cart(answer.body)
}

fn rest_cart(mut body: Value) -> Outcome {
    let merge = body.as_object_mut().and_then(|cart| cart.remove("merge"));
    Outcome::Cart {
        cart: masked(&body),
        merge: merge.map(|m| masked(&m)),
    }
}

async fn graphql(app: &TestApp, run: &mut Run, op: Op) -> Outcome {
    let key = json!(run.key);
    let (declarations, call, variables) = match op {
        Op::Add {
            product,
            quantity,
            unit_price,
        } => (
            "$key: ID!, $product: ID!, $quantity: Int!, $price: Int",
            "addItem(cartKey: $key, productId: $product, quantity: $quantity, unitPrice: $price)",
            json!({"key": key, "product": product, "quantity": quantity, "price": unit_price}),
        ),
        Op::SetQuantity { quantity, version } => (
            "$key: ID!, $item: ID!, $quantity: Int!, $version: Int",
            "updateItemQuantity(cartKey: $key, itemId: $item, quantity: $quantity, \
             expectedVersion: $version)",
            json!({"key": key, "item": run.item(), "quantity": quantity, "version": version}),
        ),
        Op::Remove | Op::RemoveUnknown => {
            let item = match op {
                Op::Remove => run.item(),
                _ => uuid::Uuid::new_v4().to_string(),
            };
            (
                "$key: ID!, $item: ID!",
                "removeItem(cartKey: $key, itemId: $item)",
                json!({"key": key, "item": item}),
            )
        }
        Op::Clear => ("$key: ID!", "clearCart(cartKey: $key)", json!({"key": key})),
        Op::Merge {
            guest_lines,
            strategy,
        } => {
            let guest_id = guest_cart(app, guest_lines).await;
            (
                "$guest: ID!, $strategy: MergeStrategy",
                "mergeGuestCart(guestId: $guest, strategy: $strategy)",
                json!({"guest": guest_id, "strategy": strategy.to_uppercase()}),
            )
        }
        Op::MergeBadGuest => (
            "$guest: ID!",
            "mergeGuestCart(guestId: $guest)",
            json!({"guest": "not-a-guest"}),
        ),
        Op::SetRegion(region) => (
            "$key: ID!, $region: String!",
            "setCartRegion(cartKey: $key, region: $region)",
            json!({"key": key, "region": region}),
        ),
        Op::AddCode(code) => (
            "$key: ID!, $code: String!",
            "addDiscountCode(cartKey: $key, code: $code)",
            json!({"key": key, "code": code}),
        ),
        Op::RemoveCode(code) => (
            "$key: ID!, $code: String!",
            "removeDiscountCode(cartKey: $key, code: $code)",
            json!({"key": key, "code": code}),
        ),
        Op::Reprice => (
            "$key: ID!",
            "repriceCart(cartKey: $key)",
            json!({"key": key}),
        ),
    };
    let answer = app
        .mutate(declarations, call, variables, run.token.as_deref())
        .await;
    run.remember(&answer.body["data"]["payload"]["cart"]);
    graphql_outcome(&answer)
}

fn graphql_outcome(answer: &Answer) -> Outcome {
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    if let Some(code) = error_code(answer) {
        return Outcome::Refused(code.to_owned());
    }
    if let Some(code) = user_error_code(answer) {
        return Outcome::Refused(code.to_owned());
    }
    let payload = &answer.body["data"]["payload"];
    if payload["cart"].is_null() {
        return Outcome::NoCart;
    }
    let merge = &payload["merge"];
    Outcome::Cart {
        cart: masked(&rest_shape(&payload["cart"])),
        merge: (!merge.is_null()).then(|| masked(&rest_shape(merge))),
    }
}

#[tokio::test]
async fn every_operation_does_the_same_over_rest_and_graphql() {
    let app = spawn_with(Options {
        limits: Limits::new(20, 3).expect("limits"),
        ..Options::default()
    })
    .await;
    let defined = app
        .send(
            app.request(Method::PUT, "/v1/promotions/SAVE10")
                .bearer_auth(crate::helpers::token_with("pricing", Some("cart:admin")))
                .json(&json!({"type": "percentage", "percent": "10"})),
        )
        .await;
    assert_eq!(defined.status, StatusCode::CREATED, "{:?}", defined.body);
    for (number, case) in cases().into_iter().enumerate() {
        let mut over_rest = Run::new(case.who, "rest", number);
        let mut over_graphql = Run::new(case.who, "graphql", number);
        for (step, op) in case.setup.iter().chain([&case.op]).enumerate() {
            let by_rest = rest(&app, &mut over_rest, *op).await;
            let by_graphql = graphql(&app, &mut over_graphql, *op).await;
            assert_eq!(
                by_graphql, by_rest,
                "{}: step {step} ({op:?}) differs between GraphQL and REST",
                case.name
            );
            if step == case.setup.len() {
                match (&case.expect, &by_rest) {
                    (Expect::Cart, Outcome::Cart { .. }) | (Expect::NoCart, Outcome::NoCart) => {}
                    (Expect::Code(code), Outcome::Refused(got)) if code == got => {}
                    _ => panic!("{}: unexpected outcome {by_rest:?}", case.name),
                }
            } else {
                assert!(
                    matches!(by_rest, Outcome::Cart { .. }),
                    "{}: setup step {step} failed: {by_rest:?}",
                    case.name
                );
            }
        }
    }
}

#[tokio::test]
async fn a_refused_change_changes_nothing_over_graphql_either() {
    let app = spawn_with(Options::default()).await;
    let key = guest();
    let added = app.add_product(&key, "book", 1).await;
    assert_eq!(added.status, StatusCode::CREATED);
    for (declarations, call) in [
        (
            "$key: ID!",
            "addItem(cartKey: $key, productId: \"pen\", quantity: 1, expectedVersion: 9)",
        ),
        ("$key: ID!", "clearCart(cartKey: $key, expectedVersion: 9)"),
    ] {
        let answer = app
            .mutate(declarations, call, json!({"key": key}), None)
            .await;
        let error = &answer.body["data"]["payload"]["userErrors"][0];
        assert_eq!(error["code"], "CONFLICT", "{}", answer.body);
        assert_eq!(error["field"], "expectedVersion");
        assert_eq!(
            error["details"],
            json!({"expected_version": 9, "current_version": 1})
        );
        assert!(answer.body["data"]["payload"]["cart"].is_null());
    }
    assert_eq!(
        crate::helpers::cart_part(&app.get_cart(&key, None).await.body),
        added.body
    );
}
