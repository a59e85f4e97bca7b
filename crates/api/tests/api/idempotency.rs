//! Idempotency keys: replays change nothing; a key reused for another request is refused.

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{guest, spawn_app, token};

#[tokio::test]
async fn a_retry_replays_the_first_response_and_changes_nothing() {
    let app = spawn_app().await;
    let key = guest();
    let send = || {
        app.send(
            app.request(Method::POST, &format!("/v1/cart/{key}/items"))
                .header("idempotency-key", "order-42-add-book")
                .json(&json!({"product_id": "book", "quantity": 2})),
        )
    };
    let first = send().await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.header("idempotent-replayed"), None);
    let retry = send().await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.header("etag"), first.header("etag"));
    assert_eq!(retry.body, first.body);
    let cart = app.get_cart(&key, None).await;
    assert_eq!(cart.body["items"][0]["quantity"], 2);
    assert_eq!(cart.body["version"], 1);
    assert_eq!(
        app.events_of(&key).await.len(),
        2,
        "cart.created + cart.item_added, once"
    );
}

#[tokio::test]
async fn the_same_key_for_another_request_is_refused() {
    let app = spawn_app().await;
    let key = guest();
    let with_key =
        |method: Method, path: String| app.request(method, &path).header("idempotency-key", "k-1");
    app.send(
        with_key(Method::POST, format!("/v1/cart/{key}/items"))
            .json(&json!({"product_id": "book", "quantity": 1})),
    )
    .await;
    let other_body = app
        .send(
            with_key(Method::POST, format!("/v1/cart/{key}/items"))
                .json(&json!({"product_id": "book", "quantity": 3})),
        )
        .await;
    assert_eq!(
        (other_body.status, other_body.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED")
    );
    let other_method = app
        .send(with_key(Method::DELETE, format!("/v1/cart/{key}")))
        .await;
    assert_eq!(other_method.code(), "IDEMPOTENCY_KEY_REUSED");
    let cart = app.get_cart(&key, None).await;
    assert_eq!(cart.body["items"][0]["quantity"], 1);
}

#[tokio::test]
async fn keys_are_scoped_to_caller_and_cart() {
    let app = spawn_app().await;
    let (one, two) = (guest(), guest());
    for key in [&one, &two] {
        let answer = app
            .send(
                app.request(Method::POST, &format!("/v1/cart/{key}/items"))
                    .header("idempotency-key", "same-key")
                    .json(&json!({"product_id": "pen", "quantity": 1})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED);
        assert_eq!(answer.header("idempotent-replayed"), None);
    }
    let alice = token("alice");
    let bob = token("bob");
    for caller in [&alice, &bob] {
        let answer = app
            .send(
                app.request(Method::POST, "/v1/cart/me/items")
                    .bearer_auth(caller)
                    .header("idempotency-key", "same-key")
                    .json(&json!({"product_id": "pen", "quantity": 1})),
            )
            .await;
        assert_eq!(answer.header("idempotent-replayed"), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_with_one_key_apply_once() {
    let app = spawn_app().await;
    let key = guest();
    let attempts = (0..12).map(|_| {
        app.send(
            app.request(Method::POST, &format!("/v1/cart/{key}/items"))
                .header("idempotency-key", "burst")
                .json(&json!({"product_id": "lamp", "quantity": 1})),
        )
    });
    let answers = join_all(attempts).await;
    for answer in &answers {
        let accepted = answer.status == StatusCode::CREATED
            || (answer.status == StatusCode::CONFLICT && answer.code() == "IDEMPOTENCY_IN_FLIGHT");
        assert!(accepted, "{} {}", answer.status, answer.body);
    }
    let fresh = answers
        .iter()
        .filter(|a| a.status == StatusCode::CREATED && a.header("idempotent-replayed").is_none())
        .count();
    assert_eq!(fresh, 1, "exactly one attempt did the work");
    let cart = app.get_cart(&key, None).await;
    assert_eq!(cart.body["items"][0]["quantity"], 1);
}

#[tokio::test]
async fn a_malformed_key_is_refused() {
    let app = spawn_app().await;
    let answer = app
        .send(
            app.request(Method::POST, &format!("/v1/cart/{}/items", guest()))
                .header("idempotency-key", "k".repeat(300))
                .json(&json!({"product_id": "pen", "quantity": 1})),
        )
        .await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
    );
}

#[tokio::test]
async fn a_replayed_clear_is_204_and_does_not_clear_again() {
    let app = spawn_app().await;
    let key = guest();
    app.add_product(&key, "book", 1).await;
    let clear = || {
        app.send(
            app.request(Method::DELETE, &format!("/v1/cart/{key}"))
                .header("idempotency-key", "clear-1"),
        )
    };
    assert_eq!(clear().await.status, StatusCode::NO_CONTENT);
    app.add_product(&key, "pen", 1).await;
    let replay = clear().await;
    assert_eq!(replay.status, StatusCode::NO_CONTENT);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.get_cart(&key, None).await.body["item_count"], 1);
}

#[tokio::test]
async fn a_retry_while_the_first_is_in_flight_is_409() {
    let app = spawn_app().await;
    let key = guest();
    let cart = cart_core::CartKey::parse(&key).expect("key");
    let scoped = cart_api::idempotency::scoped_key(&cart_api::Caller::Anonymous, &cart, "slow-one");
    // The first request holds the key (as it would while its write runs).
    let claim =
        cart_api::idempotency::InFlight::claim(&app.state.in_flight, &scoped).expect("claim");
    let retry = app
        .send(
            app.request(Method::POST, &format!("/v1/cart/{key}/items"))
                .header("idempotency-key", "slow-one")
                .json(&json!({"product_id": "pen", "quantity": 1})),
        )
        .await;
    assert_eq!(
        (retry.status, retry.code()),
        (StatusCode::CONFLICT, "IDEMPOTENCY_IN_FLIGHT")
    );
    assert_eq!(app.get_cart(&key, None).await.status, StatusCode::NOT_FOUND);
    drop(claim);
    let after = app
        .send(
            app.request(Method::POST, &format!("/v1/cart/{key}/items"))
                .header("idempotency-key", "slow-one")
                .json(&json!({"product_id": "pen", "quantity": 1})),
        )
        .await;
    assert_eq!(after.status, StatusCode::CREATED);
}
