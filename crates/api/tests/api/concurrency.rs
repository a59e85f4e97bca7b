//! No lost updates: concurrent unconditional writes all land; conditional ones have one winner.

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{guest, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_adds_of_one_give_fifty() {
    let app = spawn_app().await;
    let key = guest();
    let adds = (0..50).map(|_| app.add_product(&key, "book", 1));
    let answers = join_all(adds).await;
    assert!(answers.iter().all(|a| a.status == StatusCode::CREATED));
    let cart = app.get_cart(&key, None).await;
    assert_eq!(cart.body["items"][0]["quantity"], 50);
    assert_eq!(cart.body["version"], 50);
    let added = app
        .events_of(&key)
        .await
        .into_iter()
        .filter(|e| e.event_type == cart_core::EventType::ItemAdded)
        .count();
    assert_eq!(added, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_patches_with_the_same_if_match_have_exactly_one_winner() {
    let app = spawn_app().await;
    let key = guest();
    let item = app.add_first_line(&key, "book").await;
    let patches = (2..22).map(|quantity| {
        app.send(
            app.request(Method::PATCH, &format!("/v1/cart/{key}/items/{item}"))
                .header("if-match", "\"1\"")
                .json(&json!({"quantity": quantity})),
        )
    });
    let answers = join_all(patches).await;
    let ok = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    let failed = answers
        .iter()
        .filter(|a| {
            a.status == StatusCode::PRECONDITION_FAILED && a.code() == "PRECONDITION_FAILED"
        })
        .count();
    assert_eq!((ok, failed), (1, 19));
    let cart = app.get_cart(&key, None).await;
    assert_eq!(cart.body["version"], 2);
    let winner = answers
        .iter()
        .find(|a| a.status == StatusCode::OK)
        .expect("winner");
    assert_eq!(
        cart.body["items"][0]["quantity"],
        winner.body["items"][0]["quantity"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_users_devices_editing_one_cart_never_lose_each_others_changes() {
    let app = spawn_app().await;
    let alice = crate::helpers::token("alice");
    let products = ["book", "pen", "lamp", "item-01", "item-02", "item-03"];
    let writes = (0..60).map(|i| {
        app.add(
            "me",
            json!({"product_id": products[i % products.len()], "quantity": 1}),
            Some(&alice),
        )
    });
    let answers = join_all(writes).await;
    assert!(answers.iter().all(|a| a.status == StatusCode::CREATED));
    let cart = app.get_cart("me", Some(&alice)).await;
    assert_eq!(cart.body["total_quantity"], 60);
    assert_eq!(cart.body["item_count"], 6);
}

/// A user's cart is one cart whatever device calls: two "devices" (separate HTTP clients with
/// their own connections, the same user) editing it at once never lose each other's changes,
/// and a merge racing the devices' adds loses nothing either.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_devices_of_one_user_never_lose_each_others_changes() {
    let app = crate::helpers::spawn_with(crate::helpers::Options {
        limits: cart_core::Limits::new(1_000, 100).expect("limits"),
        ..crate::helpers::Options::default()
    })
    .await;
    let alice = crate::helpers::token("alice");
    let phone = reqwest::Client::new();
    let laptop = reqwest::Client::new();
    let guest_id = guest();
    app.add_product(&guest_id, "lamp", 3).await;
    let add = |client: &reqwest::Client, product: &'static str| {
        client
            .post(format!("{}/v1/cart/me/items", app.base))
            .bearer_auth(&alice)
            .json(&json!({"product_id": product, "quantity": 1}))
            .send()
    };
    let mut requests = Vec::new();
    for i in 0..40 {
        requests.push(add(&phone, "book"));
        requests.push(add(&laptop, "book"));
        requests.push(add(if i % 2 == 0 { &phone } else { &laptop }, "pen"));
    }
    let merge = phone
        .post(format!("{}/v1/cart/me/merge", app.base))
        .bearer_auth(&alice)
        .json(&json!({"guest_id": guest_id, "strategy": "sum"}))
        .send();
    let (answers, merged) = tokio::join!(join_all(requests), merge);
    assert!(
        answers
            .iter()
            .all(|a| a.as_ref().expect("request").status() == StatusCode::CREATED)
    );
    assert_eq!(merged.expect("merge").status(), StatusCode::OK);
    let cart = app.get_cart("me", Some(&alice)).await;
    let quantity = |product: &str| {
        cart.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|line| line["product_id"] == product)
            .map(|line| line["quantity"].as_u64().expect("quantity"))
    };
    assert_eq!(quantity("book"), Some(80));
    assert_eq!(quantity("pen"), Some(40));
    assert_eq!(quantity("lamp"), Some(3));
    // 120 adds, the merge, and the cart's creation by whichever came first.
    assert_eq!(cart.body["version"], 121);
}
