//! Checkout, payment webhooks, orders and the fulfilment worker, end to end over REST on the
//! store under test: what each step commits together (order, stock, cart, events) and what
//! every refusal leaves unchanged.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use cart_api::payments;
use cart_core::order::{Order, OrderStatus};
use cart_core::use_cases::Fulfiller;

use crate::helpers::{
    Answer, TestApp, WEBHOOK_SECRET, Writes, guest, spawn_app, token, token_with,
};

fn admin() -> String {
    token_with("order-bot", Some("cart:admin"))
}

fn address(country: &str) -> Value {
    json!({"name": "Zoë Ünïcödé", "line1": "1 Market St", "city": "San Francisco",
           "postal_code": "94105", "state": "CA", "country": country})
}

fn body(quote_token: &str) -> Value {
    json!({"quote_token": quote_token, "email": "zoe@example.com",
           "shipping_address": address("US"), "billing_address": address("US"),
           "number_of_installments": 3})
}

/// Adds `quantity` of `product` to the cart under `key` (`token` for a user cart), sets its
/// region to California and answers the quote token of its totals.
async fn ready(
    app: &TestApp,
    key: &str,
    auth: Option<&str>,
    product: &str,
    quantity: u64,
) -> String {
    let added = app
        .add(
            key,
            json!({"product_id": product, "quantity": quantity}),
            auth,
        )
        .await;
    assert!(added.status.is_success(), "{:?}", added.body);
    let mut region = app
        .request(Method::PATCH, &format!("/v1/cart/{key}"))
        .json(&json!({"region": "US-CA"}));
    if let Some(auth) = auth {
        region = region.bearer_auth(auth);
    }
    let region = app.send(region).await;
    assert_eq!(region.status, StatusCode::OK, "{:?}", region.body);
    quote(app, key, auth).await
}

async fn quote(app: &TestApp, key: &str, auth: Option<&str>) -> String {
    let mut request = app.request(Method::GET, &format!("/v1/cart/{key}/totals"));
    if let Some(auth) = auth {
        request = request.bearer_auth(auth);
    }
    let totals = app.send(request).await;
    assert_eq!(totals.status, StatusCode::OK, "{:?}", totals.body);
    totals.body["quote_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

async fn checkout(
    app: &TestApp,
    key: &str,
    auth: Option<&str>,
    body: &Value,
    idempotency_key: Option<&str>,
) -> Answer {
    let mut request = app
        .request(Method::POST, &format!("/v1/cart/{key}/checkout"))
        .json(body);
    if let Some(idempotency_key) = idempotency_key {
        request = request.header("idempotency-key", idempotency_key);
    }
    if let Some(auth) = auth {
        request = request.bearer_auth(auth);
    }
    app.send(request).await
}

/// Checks out the ready cart under `key` with a fresh idempotency key; answers the 201 body.
async fn place(
    app: &TestApp,
    key: &str,
    auth: Option<&str>,
    product: &str,
    quantity: u64,
) -> Value {
    let token = ready(app, key, auth, product, quantity).await;
    let placed = checkout(
        app,
        key,
        auth,
        &body(&token),
        Some(&uuid::Uuid::new_v4().to_string()),
    )
    .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    placed.body
}

async fn product(app: &TestApp, id: &str) -> Value {
    let answer = app
        .send(app.request(Method::GET, &format!("/v1/products/{id}")))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.body
}

async fn put_stock(app: &TestApp, id: &str, stock: u32) {
    let answer = app
        .send(
            app.request(Method::PUT, &format!("/v1/products/{id}"))
                .bearer_auth(admin())
                .json(&json!({"name": format!("Product {id}"), "unit_price": 1000,
                              "currency": "USD", "stock": stock})),
        )
        .await;
    assert!(answer.status.is_success(), "{:?}", answer.body);
}

/// Sends a provider event signed at the app's clock (`offset` seconds off), with `secret`.
async fn webhook_signed(app: &TestApp, event: &str, secret: &str, offset: i64) -> Answer {
    let at = cart_core::Clock::now(app.clock.as_ref()).unix_timestamp() + offset;
    let signature = payments::sign(secret.as_bytes(), at, event.as_bytes());
    app.send(
        app.request(Method::POST, "/v1/payments/webhook")
            .header(payments::SIGNATURE_HEADER, signature)
            .header("content-type", "application/json")
            .body(event.to_owned()),
    )
    .await
}

async fn webhook(app: &TestApp, event: &str) -> Answer {
    webhook_signed(app, event, WEBHOOK_SECRET, 0).await
}

/// A provider event about the order in a checkout answer.
fn event(placed: &Value, event_id: &str, succeeded: bool, amount_delta: i64) -> String {
    let payment = &placed["payment"];
    let error = (!succeeded).then(|| json!({"message": "card declined"}));
    json!({"id": event_id,
           "type": if succeeded { payments::SUCCEEDED } else { payments::FAILED },
           "data": {"object": {"id": payment["intent_id"], "currency": payment["currency"],
                               "amount": payment["amount"].as_i64().expect("amount") + amount_delta,
                               "last_payment_error": error}}})
    .to_string()
}

async fn order(app: &TestApp, id: &str) -> Value {
    let answer = app
        .send(
            app.request(Method::GET, &format!("/v1/orders/{id}"))
                .bearer_auth(admin()),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body
}

fn statuses(order: &Value) -> Vec<&str> {
    order["status_history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|step| step["status"].as_str().expect("status"))
        .collect()
}

#[tokio::test]
async fn checkout_places_an_order_reserves_stock_locks_the_cart_and_emits_its_events() {
    let app = spawn_app().await;
    let key = guest();
    let placed = place(&app, &key, None, "scarce", 2).await;
    let order = &placed["order"];
    assert_eq!(order["status"], "pending_payment");
    assert!(order["number"].as_str().expect("number").starts_with("CD-"));
    assert_eq!(order["lines"][0]["product_id"], "scarce");
    assert_eq!(order["lines"][0]["quantity"], 2);
    assert_eq!(order["buyer"]["buyer_id"], key);
    assert_eq!(order["buyer"]["email"], "zoe@example.com");
    assert_eq!(order["number_of_installments"], 3);
    assert_eq!(order["total"], order["totals"]["total"]);
    assert_eq!(placed["payment"]["amount"], order["total"]);
    assert!(
        placed["payment"]["client_secret"]
            .as_str()
            .expect("secret")
            .starts_with(placed["payment"]["intent_id"].as_str().expect("intent"))
    );
    assert_eq!(statuses(order), ["pending_payment"]);

    let cart = app.get_cart(&key, None).await;
    assert_eq!(cart.body["checkout"]["order_id"], order["id"]);
    assert_eq!(cart.body["checkout"]["status"], "pending_payment");
    let refused = app.add_product(&key, "pen", 1).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.code(), "CART_LOCKED");
    assert_eq!(refused.body["details"]["order_id"], order["id"]);

    let scarce = product(&app, "scarce").await;
    assert_eq!(
        (scarce["stock"].as_u64(), scarce["reserved"].as_u64()),
        (Some(3), Some(2))
    );
    // Another cart may take only what is left.
    let other = guest();
    let too_many = app.add_product(&other, "scarce", 2).await;
    assert_eq!(
        too_many.code(),
        "INVENTORY_INSUFFICIENT",
        "{:?}",
        too_many.body
    );
    assert_eq!(
        app.add_product(&other, "scarce", 1).await.status,
        StatusCode::CREATED
    );

    let kinds: Vec<&str> = app
        .events_of(&key)
        .await
        .iter()
        .map(|event| event.event_type.as_str())
        .collect();
    assert_eq!(
        &kinds[kinds.len() - 2..],
        ["cart.checked_out", "order.created"]
    );
    let created = app.events_of(&key).await.pop().expect("event");
    let facts = created.order.expect("order facts");
    assert_eq!(
        facts.order_id.to_string(),
        order["id"].as_str().expect("id")
    );
    assert_eq!(facts.buyer_id, key);
    assert_eq!(facts.number_of_installments, 3);
    assert_eq!(Some(facts.total_amount), order["total"].as_i64());
    assert_eq!(
        created.version, 1,
        "an order event carries the order's version"
    );
}

#[tokio::test]
async fn checkout_needs_an_idempotency_key_and_a_retry_answers_the_same_order() {
    let app = spawn_app().await;
    let key = guest();
    let quote_token = ready(&app, &key, None, "book", 1).await;
    let missing = checkout(&app, &key, None, &body(&quote_token), None).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.code(), "IDEMPOTENCY_KEY_REQUIRED");
    assert!(app.get_cart(&key, None).await.body["checkout"].is_null());

    let first = checkout(&app, &key, None, &body(&quote_token), Some("pay-1")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let again = checkout(&app, &key, None, &body(&quote_token), Some("pay-1")).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["order"]["id"], first.body["order"]["id"]);
    assert_eq!(again.body["payment"], first.body["payment"]);

    let second_key = checkout(&app, &key, None, &body(&quote_token), Some("pay-2")).await;
    assert_eq!(second_key.status, StatusCode::CONFLICT);
    assert_eq!(second_key.code(), "CART_LOCKED");
    let orders = app
        .send(app.request(Method::GET, &format!("/v1/orders?guest_id={key}")))
        .await;
    assert_eq!(orders.body["orders"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn totals_that_moved_since_the_quote_answer_quote_changed_and_change_nothing() {
    let app = spawn_app().await;
    let key = guest();
    let stale = ready(&app, &key, None, "scarce", 1).await;
    // The price changes after the shopper saw the totals.
    let repriced = app
        .send(
            app.request(Method::PUT, "/v1/products/scarce")
                .bearer_auth(admin())
                .json(&json!({"name": "Scarce", "unit_price": 800, "currency": "USD", "stock": 3})),
        )
        .await;
    assert!(repriced.status.is_success());
    let refused = checkout(&app, &key, None, &body(&stale), Some("k")).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert_eq!(refused.code(), "QUOTE_CHANGED");
    let fresh = refused.body["details"]["quote_token"]
        .as_str()
        .expect("token");
    assert_ne!(fresh, stale);
    assert_eq!(refused.body["details"]["totals"]["quote_token"], fresh);
    assert!(app.get_cart(&key, None).await.body["checkout"].is_null());
    assert_eq!(product(&app, "scarce").await["reserved"], 0);

    // The same key with the new token: the shopper agreed to the new totals.
    let placed = checkout(&app, &key, None, &body(fresh), Some("k")).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
}

/// Checkout's first read may come from this replica's memory of the cart: a cart another
/// replica changed since must neither be bought as remembered nor refused for being stale.
#[tokio::test]
async fn a_cart_another_replica_changed_is_checked_out_as_stored() {
    let app = spawn_app().await;
    let other = crate::replicas::replica(&app);
    let key = guest();
    let remembered = ready(&app, &key, None, "book", 1).await;
    // The other replica adds a line: this one still remembers the cart without it.
    let cart_key = cart_core::CartKey::parse(&key).expect("key");
    other
        .add(
            &cart_key,
            crate::replicas::add("pen"),
            cart_core::WriteOptions::default(),
        )
        .await
        .expect("the other replica's add");

    // The token of the remembered cart matches the remembered cart, not the stored one.
    let refused = checkout(&app, &key, None, &body(&remembered), Some("k1")).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert_eq!(refused.code(), "QUOTE_CHANGED");
    assert!(app.get_cart(&key, None).await.body["checkout"].is_null());

    // The stored cart's token buys the stored cart, both lines.
    let current = quote(&app, &key, None).await;
    assert_ne!(current, remembered);
    let placed = checkout(&app, &key, None, &body(&current), Some("k2")).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    let mut bought: Vec<&str> = placed.body["order"]["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|line| line["product_id"].as_str().expect("product"))
        .collect();
    bought.sort_unstable();
    assert_eq!(bought, ["book", "pen"]);
}

#[tokio::test]
async fn carts_that_cannot_be_bought_are_refused_with_their_reason() {
    let app = spawn_app().await;
    let good = |token: &str| body(token);

    let empty = guest();
    app.add_product(&empty, "book", 1).await;
    let item = app.get_cart(&empty, None).await.body["items"][0]["item_id"]
        .as_str()
        .expect("item")
        .to_owned();
    app.send(app.request(Method::DELETE, &format!("/v1/cart/{empty}/items/{item}")))
        .await;
    let token = quote(&app, &empty, None).await;
    let answer = checkout(&app, &empty, None, &good(&token), Some("k")).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "CART_EMPTY")
    );

    let no_region = guest();
    app.add_product(&no_region, "book", 1).await;
    let token = quote(&app, &no_region, None).await;
    let answer = checkout(&app, &no_region, None, &good(&token), Some("k")).await;
    assert_eq!(answer.code(), "REGION_REQUIRED", "{:?}", answer.body);

    let elsewhere = guest();
    let token = ready(&app, &elsewhere, None, "book", 1).await;
    let mut abroad = good(&token);
    abroad["shipping_address"] = address("FR");
    let answer = checkout(&app, &elsewhere, None, &abroad, Some("k")).await;
    assert_eq!(answer.code(), "REGION_MISMATCH", "{:?}", answer.body);

    let retiring = guest();
    let token = ready(&app, &retiring, None, "lamp", 1).await;
    app.send(
        app.request(Method::PUT, "/v1/products/lamp")
            .bearer_auth(admin())
            .json(&json!({"name": "Lamp", "unit_price": 4500, "currency": "USD", "active": false})),
    )
    .await;
    // The quote with the lamp inactive carries a warning; agreeing to it does not buy the lamp.
    let token_now = quote(&app, &retiring, None).await;
    assert_ne!(token, token_now);
    let answer = checkout(&app, &retiring, None, &good(&token_now), Some("k")).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::CONFLICT, "PRODUCT_UNAVAILABLE")
    );
    assert_eq!(answer.body["details"]["product_ids"], json!(["lamp"]));

    let ugly = guest();
    let token = ready(&app, &ugly, None, "book", 1).await;
    for (field, value) in [
        ("email", json!("not-an-email")),
        ("email", json!(42)),
        ("number_of_installments", json!(0)),
        ("number_of_installments", json!(25)),
        ("number_of_installments", json!(1e300)),
        ("quote_token", json!("")),
        ("surprise", json!(true)),
    ] {
        let mut bad = good(&token);
        bad[field] = value.clone();
        let answer = checkout(&app, &ugly, None, &bad, Some("k")).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{field}={value}: {:?}",
            answer.body
        );
    }
    let mut bad = good(&token);
    bad["billing_address"]["country"] = json!("usa");
    let answer = checkout(&app, &ugly, None, &bad, Some("k")).await;
    assert_eq!(answer.body["details"]["field"], "billing_address.country");
    assert!(app.get_cart(&ugly, None).await.body["checkout"].is_null());
    assert_eq!(
        app.send(app.request(Method::GET, "/v1/orders").bearer_auth(admin()))
            .await
            .body["orders"]
            .as_array()
            .map(Vec::len),
        Some(0),
        "no refusal placed an order"
    );
}

#[tokio::test]
async fn a_checkout_wanting_more_than_is_left_is_out_of_stock() {
    let app = spawn_app().await;
    place(&app, &guest(), None, "scarce", 2).await;
    let second = guest();
    // Added before the first checkout reserved the units; checked out after.
    let token = ready(&app, &second, None, "scarce", 1).await;
    put_stock(&app, "scarce", 2).await;
    let token = if token == quote(&app, &second, None).await {
        token
    } else {
        quote(&app, &second, None).await
    };
    let answer = checkout(&app, &second, None, &body(&token), Some("k")).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::CONFLICT, "OUT_OF_STOCK"),
        "{:?}",
        answer.body
    );
    assert_eq!(
        answer.body["details"]["lines"],
        json!([{"product_id": "scarce", "requested": 1, "available": 0}])
    );
    let scarce = product(&app, "scarce").await;
    assert_eq!(
        (scarce["stock"].as_u64(), scarce["reserved"].as_u64()),
        (Some(2), Some(2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_checkouts_of_ten_units_place_exactly_ten_orders() {
    let app = spawn_app().await;
    put_stock(&app, "limited", 10).await;
    let mut carts = Vec::new();
    for _ in 0..50 {
        let key = guest();
        let token = ready(&app, &key, None, "limited", 1).await;
        carts.push((key, token));
    }
    let app = Arc::new(app);
    let mut tasks = tokio::task::JoinSet::new();
    for (key, token) in carts {
        let app = app.clone();
        tasks.spawn(async move {
            let answer = checkout(&app, &key, None, &body(&token), Some("once")).await;
            (answer.status, answer.code().to_owned())
        });
    }
    let answers = tasks.join_all().await;
    let placed = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let out = answers.iter().filter(|(_, c)| c == "OUT_OF_STOCK").count();
    assert_eq!((placed, out), (10, 40), "{answers:?}");
    let limited = product(&app, "limited").await;
    assert_eq!(
        (limited["stock"].as_u64(), limited["reserved"].as_u64()),
        (Some(10), Some(10))
    );
}

#[tokio::test]
async fn a_succeeded_payment_pays_the_order_takes_the_stock_and_empties_the_cart_once() {
    let app = spawn_app().await;
    let key = guest();
    let placed = place(&app, &key, None, "scarce", 2).await;
    let id = placed["order"]["id"].as_str().expect("id").to_owned();

    let paid = webhook(&app, &event(&placed, "evt_paid", true, 0)).await;
    assert_eq!(paid.status, StatusCode::OK, "{:?}", paid.body);
    assert_eq!(
        (paid.body["applied"].as_bool(), paid.body["status"].as_str()),
        (Some(true), Some("paid"))
    );
    let order = order(&app, &id).await;
    assert_eq!(statuses(&order), ["pending_payment", "paid"]);
    let scarce = product(&app, "scarce").await;
    assert_eq!(
        (scarce["stock"].as_u64(), scarce["reserved"].as_u64()),
        (Some(1), Some(0))
    );
    let cart = app.get_cart(&key, None).await;
    assert!(cart.body["checkout"].is_null());
    assert_eq!(cart.body["items"], json!([]));
    let kinds: Vec<&str> = app
        .events_of(&key)
        .await
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(&kinds[kinds.len() - 2..], ["cart.cleared", "order.paid"]);

    let replayed = webhook(&app, &event(&placed, "evt_paid", true, 0)).await;
    assert_eq!(
        (replayed.status, replayed.body["applied"].as_bool()),
        (StatusCode::OK, Some(false))
    );
    assert_eq!(
        product(&app, "scarce").await["stock"],
        1,
        "a replay takes nothing twice"
    );
    assert_eq!(app.events_of(&key).await.len(), kinds.len());
    // The cart is the shopper's again.
    assert_eq!(
        app.add_product(&key, "pen", 1).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn forged_stale_and_mismatched_webhooks_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let key = guest();
    let placed = place(&app, &key, None, "scarce", 1).await;
    let id = placed["order"]["id"].as_str().expect("id").to_owned();
    let good = event(&placed, "evt_1", true, 0);

    let forged = webhook_signed(&app, &good, "whsec_guess", 0).await;
    assert_eq!(
        (forged.status, forged.code()),
        (StatusCode::BAD_REQUEST, "SIGNATURE_INVALID")
    );
    let stale = webhook_signed(&app, &good, WEBHOOK_SECRET, -301).await;
    assert_eq!(stale.code(), "SIGNATURE_INVALID");
    let unsigned = app
        .send(
            app.request(Method::POST, "/v1/payments/webhook")
                .body(good.clone()),
        )
        .await;
    assert_eq!(unsigned.code(), "SIGNATURE_INVALID");
    let cheap = webhook(&app, &event(&placed, "evt_2", true, -1)).await;
    assert_eq!(
        (cheap.status, cheap.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "PAYMENT_AMOUNT_MISMATCH")
    );
    let nobody = webhook(
        &app,
        &json!({"id": "evt_3", "type": payments::SUCCEEDED,
                "data": {"object": {"id": "pi_00000000000000000000000000000000",
                                    "amount": 1, "currency": "usd"}}})
        .to_string(),
    )
    .await;
    assert_eq!(nobody.code(), "ORDER_NOT_FOUND");
    for garbage in [
        "not json",
        "{}",
        r#"{"id":"evt_4","type":"payment_intent.succeeded"}"#,
    ] {
        let answer = webhook(&app, garbage).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{garbage}");
    }
    let other_type = webhook(
        &app,
        &json!({"id": "evt_5", "type": "charge.refunded", "data": {"object": {"id": "ch_1", "amount": 1, "currency": "usd"}}})
            .to_string(),
    )
    .await;
    assert_eq!(
        (other_type.status, other_type.body["applied"].as_bool()),
        (StatusCode::OK, Some(false))
    );

    assert_eq!(order(&app, &id).await["status"], "pending_payment");
    assert_eq!(product(&app, "scarce").await["reserved"], 1);
    assert!(!app.get_cart(&key, None).await.body["checkout"].is_null());
    // The good event, after all that, still applies.
    assert_eq!(webhook(&app, &good).await.body["status"], "paid");
}

#[tokio::test]
async fn a_failed_payment_releases_the_stock_and_unlocks_the_cart_for_another_checkout() {
    let app = spawn_app().await;
    let key = guest();
    let placed = place(&app, &key, None, "scarce", 2).await;
    let failed = webhook(&app, &event(&placed, "evt_declined", false, 0)).await;
    assert_eq!(failed.body["status"], "payment_failed", "{:?}", failed.body);
    let order = order(&app, placed["order"]["id"].as_str().expect("id")).await;
    assert_eq!(order["status_history"][1]["reason"], "card declined");
    assert_eq!(product(&app, "scarce").await["reserved"], 0);
    let cart = app.get_cart(&key, None).await;
    assert!(cart.body["checkout"].is_null());
    assert_eq!(
        cart.body["items"][0]["quantity"], 2,
        "the lines stay for another try"
    );
    assert_eq!(
        app.events_of(&key)
            .await
            .iter()
            .rev()
            .take(2)
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
        ["order.payment_failed", "cart.unlocked"]
    );
    let token = quote(&app, &key, None).await;
    let again = checkout(&app, &key, None, &body(&token), Some("second-try")).await;
    assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
    assert_ne!(again.body["order"]["id"], placed["order"]["id"]);
}

#[tokio::test]
async fn an_order_never_paid_expires_and_gives_back_what_it_held() {
    let app = spawn_app().await;
    let key = guest();
    let placed = place(&app, &key, None, "scarce", 3).await;
    app.clock.advance(time::Duration::minutes(29));
    assert_eq!(app.service.expire_due_orders(100).await.expect("sweep"), 0);
    app.clock.advance(time::Duration::minutes(2));
    assert_eq!(app.service.expire_due_orders(100).await.expect("sweep"), 1);
    let order = order(&app, placed["order"]["id"].as_str().expect("id")).await;
    assert_eq!(statuses(&order), ["pending_payment", "expired"]);
    assert_eq!(product(&app, "scarce").await["reserved"], 0);
    assert!(app.get_cart(&key, None).await.body["checkout"].is_null());
    // A payment arriving after expiry is acknowledged, not applied.
    let late = webhook(&app, &event(&placed, "evt_late", true, 0)).await;
    assert_eq!(
        (late.status, late.body["applied"].as_bool()),
        (StatusCode::OK, Some(false))
    );
    assert_eq!(product(&app, "scarce").await["stock"], 3);
}

#[tokio::test]
async fn buyers_see_and_cancel_only_their_own_orders_and_admins_move_them_along_the_machine() {
    let app = spawn_app().await;
    let alice = token("alice");
    let bob = token("bob");
    let placed = place(&app, "me", Some(&alice), "scarce", 1).await;
    let id = placed["order"]["id"].as_str().expect("id").to_owned();
    let get = |auth: Option<String>| {
        let mut request = app.request(Method::GET, &format!("/v1/orders/{id}"));
        if let Some(auth) = auth {
            request = request.bearer_auth(auth);
        }
        app.send(request)
    };
    assert_eq!(get(Some(alice.clone())).await.status, StatusCode::OK);
    assert_eq!(get(Some(bob.clone())).await.code(), "ORDER_NOT_FOUND");
    assert_eq!(get(None).await.status, StatusCode::UNAUTHORIZED);
    let someone = app
        .send(app.request(
            Method::GET,
            &format!("/v1/orders/{id}?guest_id={}", guest()),
        ))
        .await;
    assert_eq!(someone.code(), "ORDER_NOT_FOUND");
    let malformed = app
        .send(
            app.request(Method::GET, "/v1/orders/not-a-uuid")
                .bearer_auth(&alice),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);

    let mine = app
        .send(app.request(Method::GET, "/v1/orders").bearer_auth(&bob))
        .await;
    assert_eq!(mine.body["orders"], json!([]));
    let hers = app
        .send(app.request(Method::GET, "/v1/orders").bearer_auth(&alice))
        .await;
    assert_eq!(hers.body["orders"][0]["id"], id.as_str());

    let cancel = |auth: &str| {
        app.send(
            app.request(Method::POST, &format!("/v1/orders/{id}/cancel"))
                .bearer_auth(auth)
                .json(&json!({"reason": "changed my mind"})),
        )
    };
    assert_eq!(cancel(&bob).await.code(), "ORDER_NOT_FOUND");
    let cancelled = cancel(&alice).await;
    assert_eq!(
        cancelled.body["status"], "cancelled",
        "{:?}",
        cancelled.body
    );
    assert_eq!(
        cancelled.body["status_history"][1]["reason"],
        "changed my mind"
    );
    assert_eq!(product(&app, "scarce").await["reserved"], 0);
    let again = cancel(&alice).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "INVALID_TRANSITION")
    );

    // A paid order: the admin fulfils it by hand; the buyer can no longer cancel it then.
    let second = place(&app, "me", Some(&alice), "book", 1).await;
    let second_id = second["order"]["id"].as_str().expect("id").to_owned();
    webhook(&app, &event(&second, "evt_p", true, 0)).await;
    let patch = |auth: String, status: &str| {
        app.send(
            app.request(Method::PATCH, &format!("/v1/orders/{second_id}"))
                .bearer_auth(auth)
                .json(&json!({"status": status})),
        )
    };
    assert_eq!(
        patch(alice.clone(), "fulfilled").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        patch(admin(), "pending_payment").await.code(),
        "INVALID_TRANSITION"
    );
    assert_eq!(
        patch(admin(), "shipped").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        patch(admin(), "fulfilled").await.body["status"],
        "fulfilled"
    );
    assert_eq!(cancel(&alice).await.code(), "INVALID_TRANSITION");

    let all = app
        .send(
            app.request(Method::GET, "/v1/orders?status=cancelled")
                .bearer_auth(admin()),
        )
        .await;
    assert_eq!(all.body["orders"].as_array().map(Vec::len), Some(1));
    assert_eq!(all.body["orders"][0]["id"], id.as_str());
    let newest_first = app
        .send(
            app.request(Method::GET, "/v1/orders?limit=1")
                .bearer_auth(&alice),
        )
        .await;
    assert_eq!(newest_first.body["orders"][0]["id"], second_id.as_str());
    let cursor = newest_first.body["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let next = app
        .send(
            app.request(Method::GET, &format!("/v1/orders?limit=1&cursor={cursor}"))
                .bearer_auth(&alice),
        )
        .await;
    assert_eq!(next.body["orders"][0]["id"], id.as_str());
}

/// A fulfiller that fails the first `failures` calls for each order, counting every call.
struct Flaky {
    failures: usize,
    poison: Option<String>,
    calls: AtomicUsize,
    fulfilled: std::sync::Mutex<Vec<uuid::Uuid>>,
}

#[async_trait::async_trait]
impl Fulfiller for Flaky {
    async fn fulfil(&self, order: &Order) -> Result<(), String> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.poison.as_deref() == Some(order.number.as_str()) {
            return Err("the warehouse refuses this order".into());
        }
        if call < self.failures {
            return Err(format!("warehouse down (call {call})"));
        }
        self.fulfilled.lock().expect("lock").push(order.id);
        Ok(())
    }
}

/// Runs worker passes, moving the clock past each backoff, until nothing is due.
async fn drain(app: &TestApp, fulfiller: &Flaky) {
    for _ in 0..20 {
        app.service
            .fulfil_due(fulfiller, 10, time::Duration::seconds(60), &|_| {
                time::Duration::seconds(1)
            })
            .await
            .expect("pass");
        app.clock.advance(time::Duration::seconds(2));
    }
}

#[tokio::test]
async fn the_worker_retries_a_failing_fulfilment_and_parks_a_poison_order_as_a_dead_letter() {
    let app = spawn_app().await;
    let flaky_order = place(&app, &guest(), None, "book", 1).await;
    webhook(&app, &event(&flaky_order, "evt_a", true, 0)).await;
    let fulfiller = Flaky {
        failures: 2,
        poison: None,
        calls: AtomicUsize::new(0),
        fulfilled: Default::default(),
    };
    drain(&app, &fulfiller).await;
    let id = flaky_order["order"]["id"].as_str().expect("id");
    let fulfilled = order(&app, id).await;
    assert_eq!(fulfilled["status"], "fulfilled");
    assert_eq!(fulfilled["fulfilment"]["attempts"], 3);
    assert_eq!(fulfiller.calls.load(Ordering::SeqCst), 3);

    let poison = place(&app, &guest(), None, "book", 1).await;
    let healthy = place(&app, &guest(), None, "pen", 1).await;
    webhook(&app, &event(&poison, "evt_b", true, 0)).await;
    webhook(&app, &event(&healthy, "evt_c", true, 0)).await;
    let fulfiller = Flaky {
        failures: 0,
        poison: poison["order"]["number"].as_str().map(str::to_owned),
        calls: AtomicUsize::new(0),
        fulfilled: Default::default(),
    };
    drain(&app, &fulfiller).await;
    let poison_id = poison["order"]["id"].as_str().expect("id");
    let dead = order(&app, poison_id).await;
    assert_eq!(dead["status"], "failed");
    assert_eq!(dead["fulfilment"]["attempts"], 5);
    assert_eq!(
        dead["fulfilment"]["last_error"],
        "the warehouse refuses this order"
    );
    assert_eq!(
        dead["status_history"]
            .as_array()
            .and_then(|h| h.last())
            .map(|s| s["reason"].clone()),
        Some(json!("the warehouse refuses this order"))
    );
    assert_eq!(
        order(&app, healthy["order"]["id"].as_str().expect("id")).await["status"],
        "fulfilled"
    );

    let letters = app
        .send(
            app.request(Method::GET, "/v1/admin/dead-letters")
                .bearer_auth(admin()),
        )
        .await;
    assert_eq!(letters.body["orders"].as_array().map(Vec::len), Some(1));
    assert_eq!(letters.body["orders"][0]["id"], poison_id);
    let forbidden = app
        .send(
            app.request(Method::GET, "/v1/admin/dead-letters")
                .bearer_auth(token("alice")),
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let retried = app
        .send(
            app.request(
                Method::POST,
                &format!("/v1/admin/dead-letters/{poison_id}/retry"),
            )
            .bearer_auth(admin()),
        )
        .await;
    assert_eq!(retried.body["status"], "paid", "{:?}", retried.body);
    let healed = Flaky {
        failures: 0,
        poison: None,
        calls: AtomicUsize::new(0),
        fulfilled: Default::default(),
    };
    drain(&app, &healed).await;
    assert_eq!(order(&app, poison_id).await["status"], "fulfilled");
    assert_eq!(healed.fulfilled.lock().expect("lock").len(), 1);
    let letters = app
        .send(
            app.request(Method::GET, "/v1/admin/dead-letters")
                .bearer_auth(admin()),
        )
        .await;
    assert_eq!(letters.body["orders"], json!([]));
    let _ = OrderStatus::Paid;
}

/// Every field of an order, as a fragment.
const ORDER_FIELDS: &str = "
fragment OrderFields on Order {
  id number status version currency discountCodes region numberOfInstallments createdAt
  updatedAt payBy totals
  buyer { buyerId owner email }
  lines { itemId productId variantId name quantity
          unitPrice { amount amount64 currency } lineTotal { amount amount64 currency } }
  total { amount amount64 currency }
  shippingAddress { name line1 line2 city postalCode state country }
  billingAddress { name line1 line2 city postalCode state country }
  payment { intentId amount { amount amount64 currency } currency clientSecret }
  statusHistory { status at reason }
  fulfilment { attempts lastError }
}";

fn gql_address() -> Value {
    json!({"name": "Zoë Ünïcödé", "line1": "1 Market St", "city": "San Francisco",
           "postalCode": "94105", "state": "CA", "country": "US"})
}

/// A GraphQL order in REST's shape (REST leaves out the client secret, GraphQL shows null).
fn as_rest(order: &Value) -> Value {
    let mut shaped = crate::graphql_helpers::rest_shape(order);
    if shaped["payment"]["client_secret"].is_null() {
        shaped["payment"]
            .as_object_mut()
            .expect("payment")
            .remove("client_secret");
    }
    shaped
}

#[tokio::test]
async fn graphql_checks_out_reads_lists_and_cancels_orders_as_rest_does() {
    let app = spawn_app().await;
    let key = guest();
    let quote_token = ready(&app, &key, None, "scarce", 1).await;
    let checkout_query = format!(
        "mutation ($key: ID!, $input: CheckoutInput!, $idem: String!) {{
           checkout(cartKey: $key, input: $input, idempotencyKey: $idem) {{
             order {{ ...OrderFields }} payment {{ intentId clientSecret }}
             userErrors {{ code field details }} }} }} {ORDER_FIELDS}"
    );
    let input = json!({"quoteToken": quote_token, "email": "zoe@example.com",
                       "shippingAddress": gql_address(), "billingAddress": gql_address(),
                       "numberOfInstallments": 3});
    let placed = app
        .graphql(
            &checkout_query,
            json!({"key": key, "input": input, "idem": "gql-1"}),
            None,
        )
        .await;
    let answer = &placed.body["data"]["checkout"];
    assert_eq!(answer["userErrors"], json!([]), "{:?}", placed.body);
    let order = &answer["order"];
    assert_eq!(order["status"], "PENDING_PAYMENT");
    assert!(
        answer["payment"]["clientSecret"]
            .as_str()
            .is_some_and(|s| s.starts_with("pi_"))
    );
    let id = order["id"].as_str().expect("id").to_owned();
    assert_eq!(as_rest(order), super::checkout::order(&app, &id).await);

    // The same key over REST replays the same order: one order per key, whatever the transport.
    let replayed = checkout(&app, &key, None, &body(&quote_token), Some("gql-1")).await;
    assert_eq!(replayed.status, StatusCode::CREATED, "{:?}", replayed.body);
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.body["order"]["id"], id.as_str());

    let read = app
        .graphql(
            &format!(
                "query ($id: ID!, $g: ID) {{ order(id: $id, guestId: $g) {{ ...OrderFields }}
                   myOrders(guestId: $g) {{ orders {{ id }} nextCursor }} }} {ORDER_FIELDS}"
            ),
            json!({"id": id, "g": key}),
            None,
        )
        .await;
    assert_eq!(as_rest(&read.body["data"]["order"]), as_rest(order));
    assert_eq!(
        read.body["data"]["myOrders"],
        json!({"orders": [{"id": id}], "nextCursor": null})
    );
    let stranger = app
        .graphql(
            "query ($id: ID!, $g: ID) { order(id: $id, guestId: $g) { id } }",
            json!({"id": id, "g": guest()}),
            None,
        )
        .await;
    assert_eq!(
        crate::graphql_helpers::error_code(&stranger),
        Some("ORDER_NOT_FOUND")
    );

    let cancel = "mutation ($id: ID!, $g: ID) { cancelOrder(id: $id, guestId: $g, reason: \"no\") {
                    order { status statusHistory { status reason } } userErrors { code } } }";
    let cancelled = app.graphql(cancel, json!({"id": id, "g": key}), None).await;
    assert_eq!(
        cancelled.body["data"]["cancelOrder"]["order"]["status"],
        "CANCELLED"
    );
    assert_eq!(product(&app, "scarce").await["reserved"], 0);
    let again = app.graphql(cancel, json!({"id": id, "g": key}), None).await;
    assert_eq!(
        again.body["data"]["cancelOrder"]["userErrors"][0]["code"],
        "INVALID_TRANSITION"
    );

    // Refusals are userErrors with REST's codes; nothing is written.
    let no_region = guest();
    app.add_product(&no_region, "book", 1).await;
    let token = quote(&app, &no_region, None).await;
    let refused = app
        .graphql(
            &checkout_query,
            json!({"key": no_region, "idem": "gql-2",
                   "input": {"quoteToken": token, "email": "zoe@example.com",
                             "shippingAddress": gql_address(), "billingAddress": gql_address()}}),
            None,
        )
        .await;
    assert_eq!(
        refused.body["data"]["checkout"]["userErrors"][0]["code"],
        "REGION_REQUIRED"
    );
    let stale = guest();
    ready(&app, &stale, None, "book", 1).await;
    let refused = app
        .graphql(
            &checkout_query,
            json!({"key": stale, "idem": "gql-3",
                   "input": {"quoteToken": "q1.stale", "email": "zoe@example.com",
                             "shippingAddress": gql_address(), "billingAddress": gql_address()}}),
            None,
        )
        .await;
    let error = &refused.body["data"]["checkout"]["userErrors"][0];
    assert_eq!(error["code"], "QUOTE_CHANGED");
    assert_eq!(error["field"], "input.quoteToken");
    assert!(error["details"]["totals"]["quote_token"].is_string());
    let bad_email = app
        .graphql(
            &checkout_query,
            json!({"key": stale, "idem": "gql-4",
                   "input": {"quoteToken": "q", "email": "nope",
                             "shippingAddress": gql_address(), "billingAddress": gql_address()}}),
            None,
        )
        .await;
    assert_eq!(
        bad_email.body["data"]["checkout"]["userErrors"][0]["code"],
        "VALIDATION_ERROR"
    );
    assert!(app.get_cart(&stale, None).await.body["checkout"].is_null());
}

#[tokio::test]
async fn an_order_subscriber_sees_its_payment_and_its_fulfilment() {
    // The outbox is published only when this test says so: the order's creation reaches the
    // feed after the subscription began, as it does when the relay lags, and must not be
    // delivered as a change "from now on".
    let app = spawn_app().await;
    let key = guest();
    let placed = place(&app, &key, None, "book", 1).await;
    let id = placed["order"]["id"].as_str().expect("id").to_owned();
    let mut client = crate::graphql_helpers::GraphqlWs::ready(&app, json!({})).await;
    client
        .subscribe(
            "1",
            "subscription ($id: ID!, $g: ID) { orderUpdated(id: $id, guestId: $g) {
               type version order { status } } }",
            json!({"id": id, "g": key}),
        )
        .await;
    client.ping().await;
    // Another order's payment must not reach this subscriber.
    let other = place(&app, &guest(), None, "pen", 1).await;
    webhook(&app, &event(&other, "evt_other", true, 0)).await;
    webhook(&app, &event(&placed, "evt_mine", true, 0)).await;
    app.publish_outbox().await;
    let paid = next_order_update(&mut client).await;
    assert_eq!(
        (
            paid["type"].as_str(),
            paid["version"].as_i64(),
            paid["order"]["status"].as_str()
        ),
        (Some("order.paid"), Some(2), Some("PAID"))
    );
    let fulfiller = Flaky {
        failures: 0,
        poison: None,
        calls: AtomicUsize::new(0),
        fulfilled: Default::default(),
    };
    drain(&app, &fulfiller).await;
    app.publish_outbox().await;
    let fulfilled = next_order_update(&mut client).await;
    assert_eq!(
        (
            fulfilled["type"].as_str(),
            fulfilled["version"].as_i64(),
            fulfilled["order"]["status"].as_str()
        ),
        // The worker's claim (its attempt counted) was version 3, a write with no event.
        (Some("order.fulfilled"), Some(4), Some("FULFILLED"))
    );
}

/// The next update of subscription `1`, skipping other messages.
async fn next_order_update(client: &mut crate::graphql_helpers::GraphqlWs) -> Value {
    loop {
        let message = client.message().await;
        assert!(
            message["type"] != "error" && message["type"] != "complete",
            "{message}"
        );
        if message["type"] == "next" && message["id"] == "1" {
            return message["payload"]["data"]["orderUpdated"].clone();
        }
    }
}

#[tokio::test]
async fn a_guests_orders_become_the_users_at_sign_in() {
    let app = spawn_app().await;
    let key = guest();
    let placed = place(&app, &key, None, "book", 1).await;
    let id = placed["order"]["id"].as_str().expect("id").to_owned();
    webhook(&app, &event(&placed, "evt_guest", true, 0)).await;
    // The guest shops on after paying, then signs in.
    app.add_product(&key, "pen", 1).await;
    let erin = token("erin");
    let merged = app
        .send(
            app.request(Method::POST, "/v1/cart/me/merge")
                .bearer_auth(&erin)
                .json(&json!({"guest_id": key})),
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{:?}", merged.body);
    let hers = app
        .send(app.request(Method::GET, "/v1/orders").bearer_auth(&erin))
        .await;
    assert_eq!(hers.body["orders"][0]["id"], id.as_str());
    assert_eq!(hers.body["orders"][0]["buyer"]["buyer_id"], "erin");
    let as_guest = app
        .send(app.request(Method::GET, &format!("/v1/orders?guest_id={key}")))
        .await;
    assert_eq!(as_guest.body["orders"], json!([]));
    let by_guest = app
        .send(app.request(Method::GET, &format!("/v1/orders/{id}?guest_id={key}")))
        .await;
    assert_eq!(by_guest.code(), "ORDER_NOT_FOUND");

    // A guest cart still locked by a checkout is not merged, and its order stays the guest's.
    let locked = guest();
    let pending = place(&app, &locked, None, "pen", 1).await;
    let refused = app
        .send(
            app.request(Method::POST, "/v1/cart/me/merge")
                .bearer_auth(&erin)
                .json(&json!({"guest_id": locked})),
        )
        .await;
    assert_eq!(refused.code(), "CART_LOCKED", "{:?}", refused.body);
    let still = app
        .send(app.request(
            Method::GET,
            &format!(
                "/v1/orders/{}?guest_id={locked}",
                pending["order"]["id"].as_str().expect("id")
            ),
        ))
        .await;
    assert_eq!(still.status, StatusCode::OK);
}
