//! One test per REST row and rule of API.md, over real HTTP.

use reqwest::{Method, StatusCode};
use serde_json::json;
use time::Duration;

use cart_core::{EventType, Limits};

use crate::helpers::{Options, guest, spawn_app, spawn_with, token};

#[tokio::test]
async fn a_guest_adds_an_item_and_reads_the_cart_back() {
    let app = spawn_app().await;
    let key = guest();
    let added = app.add_product(&key, "book", 2).await;
    assert_eq!(added.status, StatusCode::CREATED);
    assert_eq!(added.header("etag"), Some("\"1\""));
    let cart = &added.body;
    assert_eq!(cart["user_id"], key);
    assert_eq!(cart["owner"], "guest");
    assert_eq!(cart["currency"], "USD");
    assert_eq!(cart["items"][0]["product_id"], "book");
    assert_eq!(cart["items"][0]["name"], "Product book");
    assert_eq!(cart["items"][0]["unit_price"], 1299);
    assert_eq!(cart["items"][0]["subtotal"], 2598);
    assert_eq!(cart["item_count"], 1);
    assert_eq!(cart["total_quantity"], 2);
    assert_eq!(cart["total_price"], 2598);
    assert_eq!(cart["version"], 1);

    let read = app.get_cart(&key, None).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.header("etag"), Some("\"1\""));
    assert_eq!(read.body["warnings"], serde_json::json!([]));
    assert_eq!(crate::helpers::cart_part(&read.body), added.body);
}

#[tokio::test]
async fn the_price_comes_from_the_catalog_and_a_stale_assertion_is_refused() {
    let app = spawn_app().await;
    let key = guest();
    let matching = app
        .add(
            &key,
            json!({"product_id": "pen", "quantity": 1, "unit_price": 250}),
            None,
        )
        .await;
    assert_eq!(matching.status, StatusCode::CREATED);
    let stale = app
        .add(
            &key,
            json!({"product_id": "pen", "quantity": 1, "unit_price": 1}),
            None,
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.code(), "PRICE_CHANGED");
    assert_eq!(
        stale.body["details"],
        json!({"expected": 1, "current": 250})
    );
    assert_eq!(app.get_cart(&key, None).await.body["total_quantity"], 1);
}

#[tokio::test]
async fn adding_a_product_already_in_the_cart_adds_to_its_line_and_lines_keep_their_order() {
    let app = spawn_app().await;
    let key = guest();
    app.add_product(&key, "book", 1).await;
    app.add_product(&key, "pen", 1).await;
    app.add_product(&key, "lamp", 1).await;
    let again = app.add_product(&key, "book", 3).await;
    assert_eq!(again.status, StatusCode::CREATED);
    let products: Vec<_> = again.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|line| line["product_id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(products, ["book", "pen", "lamp"]);
    assert_eq!(again.body["items"][0]["quantity"], 4);
    assert_eq!(again.body["version"], 4);
    // A variant is a different line.
    let variant = app
        .add(
            &key,
            json!({"product_id": "book", "quantity": 1, "variant_id": "signed"}),
            None,
        )
        .await;
    assert_eq!(variant.body["item_count"], 4);
    assert_eq!(variant.body["items"][3]["variant_id"], "signed");
}

#[tokio::test]
async fn patch_sets_a_quantity_and_bumps_the_version() {
    let app = spawn_app().await;
    let key = guest();
    let added = app.add_product(&key, "book", 1).await;
    let item = added.body["items"][0]["item_id"].as_str().expect("item id");
    let patched = app.patch(&key, item, json!({"quantity": 5})).await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_eq!(patched.body["items"][0]["quantity"], 5);
    assert_eq!(patched.body["total_price"], 5 * 1299);
    assert_eq!(patched.body["version"], 2);
    assert_eq!(patched.header("etag"), Some("\"2\""));
}

#[tokio::test]
async fn a_body_version_mismatch_is_a_conflict_and_changes_nothing() {
    let app = spawn_app().await;
    let key = guest();
    let added = app.add_product(&key, "book", 1).await;
    let item = added.body["items"][0]["item_id"].as_str().expect("item id");
    let stale = app
        .patch(&key, item, json!({"quantity": 5, "version": 7}))
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.code(), "CONFLICT");
    assert_eq!(
        stale.body["details"],
        json!({"expected_version": 7, "current_version": 1})
    );
    let fresh = app
        .patch(&key, item, json!({"quantity": 5, "version": 1}))
        .await;
    assert_eq!(fresh.status, StatusCode::OK);
}

/// The document cannot forbid sending both across a header and a body, so both are taken, and
/// both must hold: `If-Match` first, then `version`.
#[tokio::test]
async fn if_match_and_a_body_version_together_must_both_hold() {
    let app = spawn_app().await;
    let key = guest();
    let added = app.add_product(&key, "book", 1).await;
    let item = added.body["items"][0]["item_id"]
        .as_str()
        .expect("item id")
        .to_owned();
    let patch = |tag: &'static str, version: u64, quantity: u64| {
        app.request(Method::PATCH, &format!("/v1/cart/{key}/items/{item}"))
            .header("if-match", tag)
            .json(&json!({"quantity": quantity, "version": version}))
    };
    // At version 1: a tag for another version fails first, whatever the body says.
    for (tag, version) in [("\"2\"", 1), ("\"2\"", 2), ("\"5\"", 7)] {
        let refused = app.send(patch(tag, version, 4)).await;
        assert_eq!(
            (refused.status, refused.code()),
            (StatusCode::PRECONDITION_FAILED, "PRECONDITION_FAILED"),
            "{tag} with version {version}"
        );
    }
    // The tag holds but the body's version does not.
    let conflict = app.send(patch("\"1\"", 3, 4)).await;
    assert_eq!(
        (conflict.status, conflict.code()),
        (StatusCode::CONFLICT, "CONFLICT")
    );
    assert_eq!(conflict.body["details"]["expected_version"], 3);
    let unchanged = app.get_cart(&key, None).await;
    assert_eq!(unchanged.body["version"], 1, "nothing was written");
    // Both hold.
    let both = app.send(patch("\"1\"", 1, 4)).await;
    assert_eq!(both.status, StatusCode::OK, "{:?}", both.body);
    assert_eq!(both.body["items"][0]["quantity"], 4);
    let star = app.send(patch("*", 2, 5)).await;
    assert_eq!(star.status, StatusCode::OK, "{:?}", star.body);
    let star_stale = app.send(patch("*", 2, 6)).await;
    assert_eq!(star_stale.code(), "CONFLICT");
}

#[tokio::test]
async fn if_match_makes_any_write_conditional() {
    let app = spawn_app().await;
    let key = guest();
    app.add_product(&key, "book", 1).await;
    let stale = app
        .send(
            app.request(Method::POST, &format!("/v1/cart/{key}/items"))
                .header("if-match", "\"9\"")
                .json(&json!({"product_id": "pen", "quantity": 1})),
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.code(), "PRECONDITION_FAILED");
    assert_eq!(stale.body["details"]["current_version"], 1);
    let current = app
        .send(
            app.request(Method::DELETE, &format!("/v1/cart/{key}"))
                .header("if-match", "\"1\""),
        )
        .await;
    assert_eq!(current.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn delete_item_removes_the_line_and_unknown_items_are_404() {
    let app = spawn_app().await;
    let key = guest();
    app.add_product(&key, "book", 1).await;
    let added = app.add_product(&key, "pen", 2).await;
    let pen = added.body["items"][1]["item_id"].as_str().expect("item id");
    let removed = app
        .send(app.request(Method::DELETE, &format!("/v1/cart/{key}/items/{pen}")))
        .await;
    assert_eq!(removed.status, StatusCode::OK);
    assert_eq!(removed.body["item_count"], 1);
    assert_eq!(removed.body["total_price"], 1299);
    let again = app
        .send(app.request(Method::DELETE, &format!("/v1/cart/{key}/items/{pen}")))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.code(), "ITEM_NOT_FOUND");
    let unknown = app
        .patch(
            &key,
            &uuid::Uuid::new_v4().to_string(),
            json!({"quantity": 1}),
        )
        .await;
    assert_eq!(unknown.code(), "ITEM_NOT_FOUND");
}

#[tokio::test]
async fn clearing_keeps_the_cart_id_bumps_the_version_and_is_204_without_a_cart() {
    let app = spawn_app().await;
    let key = guest();
    let added = app.add_product(&key, "book", 2).await;
    let cleared = app
        .send(app.request(Method::DELETE, &format!("/v1/cart/{key}")))
        .await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    let cart = app.get_cart(&key, None).await;
    assert_eq!(cart.body["id"], added.body["id"]);
    assert_eq!(cart.body["items"], json!([]));
    assert_eq!(cart.body["version"], 2);
    assert_eq!(cart.body["total_price"], 0);
    let nothing = app
        .send(app.request(Method::DELETE, &format!("/v1/cart/{}", guest())))
        .await;
    assert_eq!(nothing.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_missing_cart_is_404_and_reading_creates_nothing() {
    let app = spawn_app().await;
    let key = guest();
    let missing = app.get_cart(&key, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "CART_NOT_FOUND");
    assert_eq!(app.get_cart(&key, None).await.status, StatusCode::NOT_FOUND);
    assert!(app.events_of(&key).await.is_empty());
}

#[tokio::test]
async fn catalog_rules_refuse_unknown_inactive_scarce_and_foreign_products() {
    let app = spawn_app().await;
    let key = guest();
    let unknown = app.add_product(&key, "no-such-thing", 1).await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "PRODUCT_NOT_FOUND")
    );
    let retired = app.add_product(&key, "retired", 1).await;
    assert_eq!(
        (retired.status, retired.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "PRODUCT_UNAVAILABLE")
    );
    let scarce = app.add_product(&key, "scarce", 4).await;
    assert_eq!(
        (scarce.status, scarce.code()),
        (StatusCode::CONFLICT, "INVENTORY_INSUFFICIENT")
    );
    assert_eq!(scarce.body["details"]["available"], 3);
    assert_eq!(
        app.add_product(&key, "scarce", 3).await.status,
        StatusCode::CREATED
    );
    let euro = app.add_product(&key, "euro-book", 1).await;
    assert_eq!(
        (euro.status, euro.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "CURRENCY_MISMATCH")
    );
    let cart = app.get_cart(&key, None).await;
    assert_eq!(cart.body["version"], 1);
    assert_eq!(cart.body["total_quantity"], 3);
}

#[tokio::test]
async fn limits_are_enforced_never_capped_silently() {
    let app = spawn_with(Options {
        limits: Limits::new(10, 3).expect("limits"),
        ..Options::default()
    })
    .await;
    let key = guest();
    app.add_product(&key, "book", 8).await;
    let over = app.add_product(&key, "book", 3).await;
    assert_eq!(
        (over.status, over.code()),
        (StatusCode::BAD_REQUEST, "QUANTITY_LIMIT_EXCEEDED")
    );
    assert_eq!(
        over.body["details"],
        json!({"requested_quantity": 11, "max_allowed": 10})
    );
    app.add_product(&key, "pen", 1).await;
    app.add_product(&key, "lamp", 1).await;
    let fourth = app.add_product(&key, "item-01", 1).await;
    assert_eq!(
        (fourth.status, fourth.code()),
        (StatusCode::BAD_REQUEST, "CART_LIMIT_EXCEEDED")
    );
    assert_eq!(
        fourth.body["details"],
        json!({"current_count": 3, "max_allowed": 3})
    );
    let cart = app.get_cart(&key, None).await;
    assert_eq!(cart.body["items"][0]["quantity"], 8);
    assert_eq!(cart.body["item_count"], 3);
}

#[tokio::test]
async fn an_expired_cart_answers_410_until_swept_and_adding_starts_a_new_cart() {
    let app = spawn_app().await;
    let key = guest();
    let first = app.add_product(&key, "book", 1).await;
    let item = first.body["items"][0]["item_id"]
        .as_str()
        .expect("item")
        .to_owned();
    app.clock.advance(Duration::days(7) + Duration::seconds(1));

    let expired = app.get_cart(&key, None).await;
    assert_eq!(
        (expired.status, expired.code()),
        (StatusCode::GONE, "CART_EXPIRED")
    );
    let patch = app.patch(&key, &item, json!({"quantity": 2})).await;
    assert_eq!(patch.code(), "CART_EXPIRED");

    let fresh = app.add_product(&key, "pen", 1).await;
    assert_eq!(fresh.status, StatusCode::CREATED);
    assert_ne!(fresh.body["id"], first.body["id"]);
    assert_eq!(fresh.body["item_count"], 1);
    assert_eq!(fresh.body["items"][0]["product_id"], "pen");
    assert_eq!(
        fresh.body["version"], 2,
        "versions keep rising across expiry"
    );
    let kinds: Vec<_> = app
        .events_of(&key)
        .await
        .iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        kinds,
        [
            EventType::CartCreated,
            EventType::ItemAdded,
            EventType::CartCreated,
            EventType::ItemAdded
        ]
    );
}

#[tokio::test]
async fn every_change_extends_expiry_by_the_owner_ttl() {
    let app = spawn_app().await;
    let key = guest();
    app.add_product(&key, "book", 1).await;
    app.clock.advance(Duration::days(6));
    app.add_product(&key, "pen", 1).await;
    app.clock.advance(Duration::days(6));
    assert_eq!(app.get_cart(&key, None).await.status, StatusCode::OK);
    let alice = token("alice");
    let user = app
        .add(
            "me",
            json!({"product_id": "book", "quantity": 1}),
            Some(&alice),
        )
        .await;
    let created = time::OffsetDateTime::parse(
        user.body["updated_at"].as_str().expect("updated_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("time");
    let expires = time::OffsetDateTime::parse(
        user.body["expires_at"].as_str().expect("expires_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("time");
    assert_eq!(expires - created, Duration::days(90));
}

#[tokio::test]
async fn guests_endpoint_issues_valid_guest_ids() {
    let app = spawn_app().await;
    let created = app.send(app.request(Method::POST, "/v1/guests")).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["guest_id"].as_str().expect("guest id");
    assert!(cart_core::GuestId::parse(id).is_ok(), "{id}");
    assert_eq!(
        app.add_product(id, "book", 1).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn each_change_writes_its_events_to_the_outbox_in_order() {
    let app = spawn_app().await;
    let key = guest();
    let added = app.add_product(&key, "book", 2).await;
    let item = added.body["items"][0]["item_id"]
        .as_str()
        .expect("item")
        .to_owned();
    app.patch(&key, &item, json!({"quantity": 3})).await;
    app.send(app.request(Method::DELETE, &format!("/v1/cart/{key}/items/{item}")))
        .await;
    app.add_product(&key, "pen", 1).await;
    app.send(app.request(Method::DELETE, &format!("/v1/cart/{key}")))
        .await;
    let events = app.events_of(&key).await;
    let summary: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.event_type,
                e.version,
                e.line
                    .as_ref()
                    .map(|l| (l.quantity_before, l.quantity_after)),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (EventType::CartCreated, 1, None),
            (EventType::ItemAdded, 1, Some((0, 2))),
            (EventType::ItemUpdated, 2, Some((2, 3))),
            (EventType::ItemRemoved, 3, Some((3, 0))),
            (EventType::ItemAdded, 4, Some((0, 1))),
            (EventType::CartCleared, 5, None),
        ]
    );
    assert_eq!(events[2].totals.total_price, 3 * 1299);
}

#[tokio::test]
async fn reads_never_serve_a_stale_rendering() {
    let app = spawn_app().await;
    let key = guest();
    app.add_product(&key, "book", 1).await;
    let first = app.get_cart(&key, None).await;
    assert_eq!(first.body["item_count"], 1);
    assert_eq!(
        app.get_cart(&key, None).await.body,
        first.body,
        "a repeated read is identical"
    );
    app.add_product(&key, "pen", 1).await;
    let second = app.get_cart(&key, None).await;
    assert_eq!(second.body["item_count"], 2);
    assert_eq!(second.header("etag"), Some("\"2\""));

    // An expired cart is kept (its key's versions go on) until KEPT_AFTER_EXPIRY has passed;
    // then the sweeper deletes it, and the key starts again at version 1 with a new cart id:
    // same version, other cart.
    let other = guest();
    app.add_product(&other, "book", 1).await;
    let before = app.get_cart(&other, None).await;
    app.clock.advance(Duration::days(8));
    let kept = app.service.sweep_expired(100).await.expect("sweep");
    assert_eq!(kept.carts, 0);
    assert_eq!(app.get_cart(&other, None).await.code(), "CART_EXPIRED");
    app.clock.advance(cart_core::KEPT_AFTER_EXPIRY);
    let swept = app.service.sweep_expired(100).await.expect("sweep");
    assert!(swept.carts >= 2);
    app.add_product(&other, "lamp", 1).await;
    let after = app.get_cart(&other, None).await;
    assert_eq!(after.body["version"], before.body["version"]);
    assert_ne!(after.body["id"], before.body["id"]);
    assert_eq!(after.body["items"][0]["product_id"], "lamp");
}

#[tokio::test]
async fn a_weak_entity_tag_never_matches_if_match() {
    let app = spawn_app().await;
    let key = guest();
    app.add_product(&key, "pen", 1).await;
    for tag in ["W/\"1\"", "W/\"1\", W/\"2\""] {
        let cleared = app
            .send(
                app.request(Method::DELETE, &format!("/v1/cart/{key}"))
                    .header("if-match", tag),
            )
            .await;
        assert_eq!(
            (cleared.status, cleared.code()),
            (StatusCode::PRECONDITION_FAILED, "PRECONDITION_FAILED"),
            "{tag}"
        );
    }
    let cart = app.get_cart(&key, None).await;
    assert_eq!(
        (
            cart.body["version"].as_u64(),
            cart.body["item_count"].as_u64()
        ),
        (Some(1), Some(1))
    );
    // A list with a strong tag of the version still matches.
    let cleared = app
        .send(
            app.request(Method::DELETE, &format!("/v1/cart/{key}"))
                .header("if-match", "W/\"1\", \"1\""),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
}
