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
async fn a_retry_while_the_first_is_in_flight_is_409_then_a_replay() {
    let reached = std::sync::Arc::new(tokio::sync::Notify::new());
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let (hook_reached, hook_gate) = (reached.clone(), gate.clone());
    let app = crate::helpers::spawn_with(crate::helpers::Options {
        wrap_store: Some(Box::new(move |inner| {
            std::sync::Arc::new(crate::helpers::GatedStore {
                inner,
                reached: hook_reached,
                gate: hook_gate,
            })
        })),
        ..crate::helpers::Options::default()
    })
    .await;
    let key = guest();
    let add = |app: &crate::helpers::TestApp| {
        app.request(Method::POST, &format!("/v1/cart/{key}/items"))
            .header("idempotency-key", "slow-one")
            .json(&json!({"product_id": "pen", "quantity": 1}))
    };
    // The first request holds the key while its commit waits at the gate.
    let first = tokio::spawn(add(&app).send());
    tokio::time::timeout(std::time::Duration::from_secs(10), reached.notified())
        .await
        .expect("the first request reaches its commit");
    let retry = tokio::time::timeout(std::time::Duration::from_secs(10), app.send(add(&app)))
        .await
        .expect("the retry is answered while the first waits");
    assert_eq!(
        (retry.status, retry.code()),
        (StatusCode::CONFLICT, "IDEMPOTENCY_IN_FLIGHT")
    );
    gate.add_permits(1);
    let first = first.await.expect("join").expect("first answer");
    assert_eq!(first.status(), StatusCode::CREATED);
    gate.add_permits(1);
    let after = app.send(add(&app)).await;
    assert_eq!(after.status, StatusCode::CREATED);
    assert_eq!(after.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.get_cart(&key, None).await.body["item_count"], 1);
}

/// The `addItem` mutation of `quantity` books under `idempotency`, with every payload field.
async fn add_over_graphql(
    app: &crate::helpers::TestApp,
    key: &str,
    quantity: i64,
    idempotency: &str,
) -> crate::helpers::Answer {
    app.mutate(
        "$key: ID!, $quantity: Int!, $idem: String",
        "addItem(cartKey: $key, productId: \"book\", quantity: $quantity, idempotencyKey: $idem)",
        json!({"key": key, "quantity": quantity, "idem": idempotency}),
        None,
    )
    .await
}

/// `POST /v1/cart/{key}/items` of `quantity` books under `idempotency`.
async fn add_over_rest(
    app: &crate::helpers::TestApp,
    key: &str,
    quantity: i64,
    idempotency: &str,
) -> crate::helpers::Answer {
    app.send(
        app.request(Method::POST, &format!("/v1/cart/{key}/items"))
            .header("idempotency-key", idempotency)
            .json(&json!({"product_id": "book", "quantity": quantity})),
    )
    .await
}

#[tokio::test]
async fn a_rest_write_retried_over_graphql_replays_and_the_reverse() {
    use crate::graphql_helpers::{masked, rest_shape};
    let app = spawn_app().await;

    let key = guest();
    let first = add_over_rest(&app, &key, 2, "rest-then-graphql").await;
    assert_eq!(first.status, StatusCode::CREATED);
    let retry = add_over_graphql(&app, &key, 2, "rest-then-graphql").await;
    assert!(retry.body["errors"].is_null(), "{}", retry.body);
    let shown = &retry.body["data"]["payload"]["cart"];
    assert_eq!(masked(&rest_shape(shown)), masked(&first.body));
    assert_eq!(shown["id"], first.body["id"], "the very cart REST answered");
    let cart = app.get_cart(&key, None).await;
    assert_eq!(
        (
            cart.body["version"].as_u64(),
            cart.body["total_quantity"].as_u64()
        ),
        (Some(1), Some(2))
    );

    let key = guest();
    let first = add_over_graphql(&app, &key, 3, "graphql-then-rest").await;
    let answered = first.body["data"]["payload"]["cart"].clone();
    assert_eq!(answered["version"], 1);
    let retry = add_over_rest(&app, &key, 3, "graphql-then-rest").await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(masked(&rest_shape(&answered)), masked(&retry.body));
    assert_eq!(retry.body["id"], answered["id"]);
    assert_eq!(
        app.events_of(&key).await.len(),
        2,
        "created + item_added, once"
    );
}

#[tokio::test]
async fn a_key_reused_for_another_command_is_refused_across_transports() {
    let app = spawn_app().await;
    let key = guest();
    assert_eq!(
        add_over_rest(&app, &key, 2, "one-command").await.status,
        StatusCode::CREATED
    );
    let over_graphql = add_over_graphql(&app, &key, 5, "one-command").await;
    assert_eq!(
        crate::graphql_helpers::user_error_code(&over_graphql),
        Some("IDEMPOTENCY_KEY_REUSED")
    );
    // Another command altogether (a clear) under the key, over either transport.
    let clear_rest = app
        .send(
            app.request(Method::DELETE, &format!("/v1/cart/{key}"))
                .header("idempotency-key", "one-command"),
        )
        .await;
    assert_eq!(
        (clear_rest.status, clear_rest.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED")
    );
    let clear_graphql = app
        .mutate(
            "$key: ID!",
            "clearCart(cartKey: $key, idempotencyKey: \"one-command\")",
            json!({"key": key}),
            None,
        )
        .await;
    assert_eq!(
        crate::graphql_helpers::user_error_code(&clear_graphql),
        Some("IDEMPOTENCY_KEY_REUSED")
    );
    let cart = app.get_cart(&key, None).await;
    assert_eq!(
        (
            cart.body["version"].as_u64(),
            cart.body["item_count"].as_u64()
        ),
        (Some(1), Some(1))
    );
}

/// What the build before command fingerprints recorded for a REST write: a SHA-256 of method,
/// path and body, and the HTTP response (the cart's JSON as bytes).
fn previous_builds_record(path: &str, body: &str, cart: &str) -> (String, String) {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(format!("POST\n{path}\n{body}"));
    let fingerprint = format!("{:x}", hasher.finalize());
    let bytes: Vec<String> = cart.bytes().map(|b| b.to_string()).collect();
    let response = format!(
        r#"{{"status":201,"headers":[["content-type","application/json"],["etag","\"2\""]],"body":[{}]}}"#,
        bytes.join(",")
    );
    (fingerprint, response)
}

#[tokio::test]
async fn a_record_written_by_the_previous_build_still_replays() {
    // The record is put in place with the embedded store's own client; the conformance suite
    // reads such records on every backend.
    if crate::helpers::backend_under_test() != "sqlite" {
        eprintln!("skipping: the record is written into the SQLite file directly");
        return;
    }
    let app = spawn_app().await;
    let key = guest();
    let path = format!("/v1/cart/{key}/items");
    let body = r#"{"product_id":"book","quantity":2}"#;
    let cart = format!(
        r#"{{"id":"0193a1a0-0000-7000-8000-000000000001","user_id":"{key}","owner":"guest","currency":"USD","items":[{{"item_id":"0193a1a0-0000-7000-8000-000000000002","product_id":"book","variant_id":null,"name":"Product book","quantity":2,"unit_price":1000,"subtotal":2000,"added_at":"2026-12-01T10:00:00Z","updated_at":"2026-12-01T10:00:01Z"}}],"item_count":1,"total_quantity":2,"total_price":2000,"version":2,"created_at":"2026-12-01T10:00:00Z","updated_at":"2026-12-01T10:00:01Z","expires_at":"2099-12-08T10:00:01Z"}}"#
    );
    let (fingerprint, response) = previous_builds_record(&path, body, &cart);
    let scoped = format!("anonymous|{key}|from-the-old-build");
    let expires_ms =
        (time::OffsetDateTime::now_utc() + time::Duration::hours(23)).unix_timestamp() * 1000;
    rusqlite::Connection::open(&app.db_path)
        .expect("open")
        .execute(
            "INSERT INTO idempotency (scoped_key, fingerprint, response, expires_at)
             VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![scoped, fingerprint, response, expires_ms],
        )
        .expect("insert the old record");
    let send = |body: &'static str| {
        app.send(
            app.request(Method::POST, &path)
                .header("idempotency-key", "from-the-old-build")
                .header("content-type", "application/json")
                .body(body),
        )
    };
    let replay = send(body).await;
    assert_eq!(replay.status, StatusCode::CREATED, "{:?}", replay.body);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.header("etag"), Some("\"2\""));
    let mut recorded: serde_json::Value = serde_json::from_str(&cart).expect("json");
    // Rendered in today's cart shape: the members carts gained since (no region, no codes,
    // no checkout) are added, every recorded value is kept.
    recorded["region"] = serde_json::Value::Null;
    recorded["discount_codes"] = serde_json::json!([]);
    recorded["checkout"] = serde_json::Value::Null;
    assert_eq!(replay.body, recorded, "the old build's answer, as it was");
    assert_eq!(
        app.get_cart(&key, None).await.status,
        StatusCode::NOT_FOUND,
        "nothing was added again"
    );
    let other = send(r#"{"product_id":"book","quantity":3}"#).await;
    assert_eq!(other.code(), "IDEMPOTENCY_KEY_REUSED");
}
