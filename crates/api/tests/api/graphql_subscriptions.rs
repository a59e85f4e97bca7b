//! Live cart updates over `graphql-transport-ws`, fed the way `cartd serve` feeds them: the
//! outbox relay publishes committed changes to `state.live`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use cart_events::live::CartChange;

use crate::graphql_helpers::{CART_FIELDS, GraphqlWs, Incoming, masked, rest_shape};
use crate::helpers::{Options, TestApp, guest, spawn_with, token};

async fn app_with_relay() -> TestApp {
    spawn_with(Options {
        relay: true,
        ..Options::default()
    })
    .await
}

fn watch_query() -> String {
    format!(
        "subscription ($key: ID!) {{ cartUpdated(key: $key) {{ type version cart {{ ...CartFields }} }} }} {CART_FIELDS}"
    )
}

/// The next `next` message for subscription `id`, skipping others.
async fn next_update(client: &mut GraphqlWs, id: &str) -> Value {
    loop {
        let message = client.message().await;
        if message["type"] == "next" && message["id"] == id {
            return message["payload"].clone();
        }
        assert_ne!(message["type"], "complete", "{message}");
    }
}

#[tokio::test]
async fn a_subscriber_sees_each_committed_change_to_its_cart_and_only_its_cart() {
    let app = app_with_relay().await;
    let alice = token("alice");
    let mut client =
        GraphqlWs::ready(&app, json!({"Authorization": format!("Bearer {alice}")})).await;
    client
        .subscribe("1", &watch_query(), json!({"key": "me"}))
        .await;
    // The server handles messages in order: after the pong, the subscription is registered.
    client.ping().await;

    // A change to another cart comes first on the feed and must not reach this subscriber.
    app.add_product(&guest(), "lamp", 1).await;
    let added = app
        .add(
            "me",
            json!({"product_id": "book", "quantity": 2}),
            Some(&alice),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED);

    let created = next_update(&mut client, "1").await;
    assert_eq!(created["data"]["cartUpdated"]["type"], "cart.created");
    let update = next_update(&mut client, "1").await;
    let update = &update["data"]["cartUpdated"];
    assert_eq!(update["type"], "cart.item_added");
    assert_eq!(update["version"], added.body["version"]);
    assert_eq!(rest_shape(&update["cart"]), added.body);

    // A change through GraphQL reaches it the same way.
    let item = added.body["items"][0]["item_id"].as_str().expect("item");
    let changed = app
        .mutate(
            "$item: ID!",
            "updateItemQuantity(cartKey: \"me\", itemId: $item, quantity: 5)",
            json!({"item": item}),
            Some(&alice),
        )
        .await;
    let update = next_update(&mut client, "1").await;
    assert_eq!(update["data"]["cartUpdated"]["type"], "cart.item_updated");
    assert_eq!(update["data"]["cartUpdated"]["version"], 2);
    assert_eq!(
        update["data"]["cartUpdated"]["cart"],
        changed.body["data"]["payload"]["cart"]
    );

    // `complete` ends the subscription; the connection stays usable.
    client.send(json!({"id": "1", "type": "complete"})).await;
    client.ping().await;
}

#[tokio::test]
async fn a_guest_subscribes_by_guest_id_and_sees_its_cart_go_at_a_merge() {
    let app = app_with_relay().await;
    let guest_id = guest();
    app.add_product(&guest_id, "pen", 1).await;
    let mut client = GraphqlWs::ready(&app, Value::Null).await;
    client
        .subscribe("g", &watch_query(), json!({"key": guest_id}))
        .await;
    client.ping().await;
    let merged = app
        .mutate(
            "$guest: ID!",
            "mergeGuestCart(guestId: $guest)",
            json!({"guest": guest_id}),
            Some(&token("carol")),
        )
        .await;
    assert!(merged.body["errors"].is_null(), "{}", merged.body);
    // The guest cart's own creation, committed before the subscription, is not a change "from
    // now on" even when the relay publishes it later.
    let gone = next_update(&mut client, "g").await;
    assert_eq!(gone["data"]["cartUpdated"]["type"], "cart.merged_away");
    assert!(gone["data"]["cartUpdated"]["cart"].is_null(), "{gone}");
    let cart = app.get_cart("me", Some(&token("carol"))).await;
    assert_eq!(
        masked(&rest_shape(&merged.body["data"]["payload"]["cart"])),
        masked(&crate::helpers::cart_part(&cart.body))
    );
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_ended_with_slow_subscriber() {
    let app = spawn_with(Options::default()).await;
    let key = guest();
    app.add_product(&key, "pen", 1).await;
    let mut client = GraphqlWs::ready(&app, json!({})).await;
    client
        .subscribe(
            "s",
            "subscription ($key: ID!) { cartUpdated(key: $key) { version } }",
            json!({"key": key}),
        )
        .await;
    client.ping().await;
    // Straight into the feed, without yielding: more changes than the feed keeps for a
    // subscriber that has not read any (the relay would pace them; this is the overflow).
    let capacity = cart_events::live::DEFAULT_LIVE_CAPACITY;
    for version in 0..(capacity as u64 * 2) {
        app.state.live.publish(CartChange {
            event_type: "cart.item_updated".into(),
            cart_key: key.clone(),
            version,
        });
    }
    let mut saw_error = false;
    loop {
        let message = client.message().await;
        match message["type"].as_str() {
            Some("next") if !message["payload"]["errors"].is_null() => {
                assert_eq!(
                    message["payload"]["errors"][0]["extensions"]["code"],
                    "SLOW_SUBSCRIBER"
                );
                saw_error = true;
            }
            Some("next") => assert!(!saw_error, "nothing after the error"),
            Some("complete") => break,
            other => panic!("unexpected {other:?}: {message}"),
        }
    }
    assert!(saw_error);
    client.ping().await;
}

#[tokio::test]
async fn subscriptions_are_authorized_like_reads() {
    let app = app_with_relay().await;
    let mut anonymous = GraphqlWs::ready(&app, json!({})).await;
    anonymous
        .subscribe("me", &watch_query(), json!({"key": "me"}))
        .await;
    let refused = next_update(&mut anonymous, "me").await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "UNAUTHORIZED");
    let mut bob = GraphqlWs::ready(&app, json!({"token": token("bob")})).await;
    bob.subscribe("a", &watch_query(), json!({"key": "alice"}))
        .await;
    let forbidden = next_update(&mut bob, "a").await;
    assert_eq!(forbidden["errors"][0]["extensions"]["code"], "FORBIDDEN");
    bob.ping().await;
    assert!(matches!(
        anonymous.receive().await,
        Incoming::Message(m) if m["type"] == "complete"
    ));
}

#[tokio::test]
async fn changes_committed_before_the_subscription_are_not_delivered_however_late_they_are_published()
 {
    // No relay: the outbox is published when this test says, after the subscription began.
    let app = spawn_with(Options::default()).await;
    let key = guest();
    app.add_product(&key, "book", 1).await;
    let mut client = GraphqlWs::ready(&app, json!({})).await;
    client
        .subscribe("1", &watch_query(), json!({"key": key}))
        .await;
    client.ping().await;
    app.add_product(&key, "pen", 1).await;
    app.publish_outbox().await;
    let update = next_update(&mut client, "1").await;
    assert_eq!(
        (
            update["data"]["cartUpdated"]["type"].as_str(),
            update["data"]["cartUpdated"]["version"].as_i64()
        ),
        (Some("cart.item_added"), Some(2)),
        "{update}"
    );
}
