//! Guest-to-user merge at sign-in: every strategy against a table of (guest cart, user cart)
//! pairs, retries, dry runs, idempotency keys, events and refusals.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use cart_core::{CartKey, EventType, Limits};

use crate::helpers::{Answer, Options, TestApp, guest, spawn_app, spawn_with, token};

/// Fills a cart (`"me"` for alice, or a guest id) with `(product, quantity)` lines.
async fn fill(app: &TestApp, key: &str, lines: &[(&str, u64)]) {
    let alice = token("alice");
    for (product, quantity) in lines {
        let added = app
            .add(
                key,
                json!({"product_id": product, "quantity": quantity}),
                (key == "me").then_some(alice.as_str()),
            )
            .await;
        assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    }
}

async fn merge(app: &TestApp, guest_id: &str, strategy: Option<&str>, query: &str) -> Answer {
    let mut body = json!({"guest_id": guest_id});
    if let Some(strategy) = strategy {
        body["strategy"] = json!(strategy);
    }
    app.send(
        app.request(Method::POST, &format!("/v1/cart/me/merge{query}"))
            .bearer_auth(token("alice"))
            .json(&body),
    )
    .await
}

fn quantities(cart: &Value) -> BTreeMap<String, u64> {
    cart["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|line| {
            (
                line["product_id"].as_str().expect("product").to_owned(),
                line["quantity"].as_u64().expect("quantity"),
            )
        })
        .collect()
}

/// `(product, outcome, reason, quantity)` of each report line, sorted.
fn report(answer: &Answer) -> Vec<(String, String, String, u64)> {
    let mut lines: Vec<_> = answer.body["merge"]["lines"]
        .as_array()
        .expect("report lines")
        .iter()
        .map(|line| {
            (
                line["product_id"].as_str().expect("product").to_owned(),
                line["outcome"].as_str().expect("outcome").to_owned(),
                line["reason"].as_str().expect("reason").to_owned(),
                line["quantity"].as_u64().expect("quantity"),
            )
        })
        .collect();
    lines.sort();
    lines
}

struct Case {
    name: &'static str,
    user: &'static [(&'static str, u64)],
    guest: &'static [(&'static str, u64)],
    strategy: Option<&'static str>,
    max_items: u32,
    cart: &'static [(&'static str, u64)],
    report: &'static [(&'static str, &'static str, &'static str, u64)],
}

#[tokio::test]
async fn every_strategy_merges_each_pair_of_carts_as_documented() {
    let cases = [
        Case {
            name: "max (default) with an overlap",
            user: &[("book", 2), ("pen", 1)],
            guest: &[("book", 5), ("lamp", 1)],
            strategy: None,
            max_items: 100,
            cart: &[("book", 5), ("lamp", 1), ("pen", 1)],
            report: &[
                ("book", "combined", "larger_quantity", 5),
                ("lamp", "added", "only_in_guest_cart", 1),
            ],
        },
        Case {
            name: "max where the user has more",
            user: &[("book", 7)],
            guest: &[("book", 2)],
            strategy: Some("max"),
            max_items: 100,
            cart: &[("book", 7)],
            report: &[("book", "combined", "larger_quantity", 7)],
        },
        Case {
            name: "sum adds overlapping lines",
            user: &[("book", 2)],
            guest: &[("book", 3), ("pen", 1)],
            strategy: Some("sum"),
            max_items: 100,
            cart: &[("book", 5), ("pen", 1)],
            report: &[
                ("book", "combined", "quantities_added", 5),
                ("pen", "added", "only_in_guest_cart", 1),
            ],
        },
        Case {
            name: "sum above the line maximum is capped and reported",
            user: &[("book", 60)],
            guest: &[("book", 50)],
            strategy: Some("sum"),
            max_items: 100,
            cart: &[("book", 99)],
            report: &[("book", "capped", "line_limit", 99)],
        },
        Case {
            name: "replace drops the user's lines",
            user: &[("book", 2), ("pen", 1)],
            guest: &[("lamp", 3), ("book", 1)],
            strategy: Some("replace"),
            max_items: 100,
            cart: &[("book", 1), ("lamp", 3)],
            report: &[
                ("book", "added", "only_in_guest_cart", 1),
                ("book", "dropped", "replaced_by_guest_cart", 0),
                ("lamp", "added", "only_in_guest_cart", 3),
                ("pen", "dropped", "replaced_by_guest_cart", 0),
            ],
        },
        Case {
            name: "keep discards the guest's lines",
            user: &[("book", 2)],
            guest: &[("lamp", 3), ("book", 9)],
            strategy: Some("keep"),
            max_items: 100,
            cart: &[("book", 2)],
            report: &[
                ("book", "dropped", "kept_user_cart", 0),
                ("lamp", "dropped", "kept_user_cart", 0),
            ],
        },
        Case {
            name: "an empty user side takes the guest's lines",
            user: &[],
            guest: &[("book", 1), ("pen", 4)],
            strategy: None,
            max_items: 100,
            cart: &[("book", 1), ("pen", 4)],
            report: &[
                ("book", "added", "only_in_guest_cart", 1),
                ("pen", "added", "only_in_guest_cart", 4),
            ],
        },
        Case {
            name: "lines beyond the cart limit are reported as dropped",
            user: &[("item-00", 1), ("item-01", 1)],
            guest: &[("item-01", 2), ("item-02", 1), ("item-03", 1)],
            strategy: Some("sum"),
            max_items: 3,
            cart: &[("item-00", 1), ("item-01", 3), ("item-02", 1)],
            report: &[
                ("item-01", "combined", "quantities_added", 3),
                ("item-02", "added", "only_in_guest_cart", 1),
                ("item-03", "dropped", "cart_limit", 0),
            ],
        },
    ];
    for case in cases {
        let app = spawn_with(Options {
            limits: Limits::new(99, case.max_items).expect("limits"),
            ..Options::default()
        })
        .await;
        let guest_id = guest();
        fill(&app, "me", case.user).await;
        fill(&app, &guest_id, case.guest).await;
        let merged = merge(&app, &guest_id, case.strategy, "").await;
        assert_eq!(
            merged.status,
            StatusCode::OK,
            "{}: {:?}",
            case.name,
            merged.body
        );
        let expected: BTreeMap<String, u64> = case
            .cart
            .iter()
            .map(|(p, q)| ((*p).to_owned(), *q))
            .collect();
        assert_eq!(quantities(&merged.body), expected, "{}", case.name);
        let expected_report: Vec<(String, String, String, u64)> = case
            .report
            .iter()
            .map(|(p, o, r, q)| ((*p).into(), (*o).into(), (*r).into(), *q))
            .collect();
        assert_eq!(report(&merged), expected_report, "{}", case.name);
        assert_eq!(
            merged.body["merge"]["strategy"],
            case.strategy.unwrap_or("max")
        );
        assert_eq!(merged.body["merge"]["dry_run"], false);
        assert_eq!(merged.body["owner"], "user");
        // The response is the stored cart, and the guest cart is gone.
        let stored = app.get_cart("me", Some(&token("alice"))).await;
        assert_eq!(quantities(&stored.body), expected, "{}", case.name);
        assert_eq!(
            merged.header("etag"),
            stored.header("etag"),
            "{}",
            case.name
        );
        let gone = app.get_cart(&guest_id, None).await;
        assert_eq!(gone.code(), "CART_NOT_FOUND", "{}", case.name);
    }
}

#[tokio::test]
async fn merging_twice_equals_merging_once() {
    let app = spawn_app().await;
    let guest_id = guest();
    fill(&app, "me", &[("book", 2)]).await;
    fill(&app, &guest_id, &[("book", 3), ("pen", 1)]).await;
    let first = merge(&app, &guest_id, Some("sum"), "").await;
    assert_eq!(quantities(&first.body)["book"], 5);
    let second = merge(&app, &guest_id, Some("sum"), "").await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(quantities(&second.body), quantities(&first.body));
    assert_eq!(second.body["version"], first.body["version"]);
    assert_eq!(second.body["merge"]["guest_cart_found"], false);
    assert_eq!(second.body["merge"]["lines"], json!([]));
}

#[tokio::test]
async fn a_dry_run_returns_the_would_be_cart_and_changes_nothing() {
    let app = spawn_app().await;
    let guest_id = guest();
    fill(&app, "me", &[("book", 2)]).await;
    fill(&app, &guest_id, &[("book", 5), ("lamp", 1)]).await;
    let outbox_before = app
        .store
        .pending_events(10_000)
        .await
        .expect("outbox")
        .len();
    let dry = merge(&app, &guest_id, None, "?dry_run=true").await;
    assert_eq!(dry.status, StatusCode::OK, "{:?}", dry.body);
    assert_eq!(dry.body["merge"]["dry_run"], true);
    let user = app.get_cart("me", Some(&token("alice"))).await;
    assert_eq!(user.body["version"], 1);
    assert_eq!(quantities(&user.body)["book"], 2);
    assert_eq!(app.get_cart(&guest_id, None).await.status, StatusCode::OK);
    assert_eq!(
        app.store
            .pending_events(10_000)
            .await
            .expect("outbox")
            .len(),
        outbox_before
    );
    // The real merge produces what the dry run promised.
    let real = merge(&app, &guest_id, None, "").await;
    assert_eq!(quantities(&real.body), quantities(&dry.body));
    assert_eq!(report(&real), report(&dry));
    assert_eq!(real.body["version"], dry.body["version"]);
}

#[tokio::test]
async fn a_retried_merge_with_an_idempotency_key_replays_the_first_answer() {
    let app = spawn_app().await;
    let guest_id = guest();
    fill(&app, &guest_id, &[("pen", 2)]).await;
    let send = || {
        app.send(
            app.request(Method::POST, "/v1/cart/me/merge")
                .bearer_auth(token("alice"))
                .header("Idempotency-Key", "sign-in-42")
                .json(&json!({"guest_id": guest_id, "strategy": "sum"})),
        )
    };
    let first = send().await;
    assert_eq!(first.status, StatusCode::OK);
    let retry = send().await;
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.body["merge"]["lines"][0]["outcome"], "added");
}

#[tokio::test]
async fn a_merge_writes_merged_and_merged_away_events_in_its_commit() {
    let app = spawn_app().await;
    let guest_id = guest();
    fill(&app, &guest_id, &[("pen", 2)]).await;
    let merged = merge(&app, &guest_id, None, "").await;
    assert_eq!(merged.status, StatusCode::OK);
    let user_events = app.events_of("alice").await;
    let kinds: Vec<EventType> = user_events.iter().map(|e| e.event_type).collect();
    assert_eq!(kinds, [EventType::CartCreated, EventType::CartMerged]);
    let report = user_events[1]
        .merge
        .as_ref()
        .expect("report on cart.merged");
    assert_eq!(report.guest_id.as_str(), guest_id);
    assert_eq!(user_events[1].totals.total_quantity, 2);
    let guest_events = app.events_of(&guest_id).await;
    let last = guest_events.last().expect("guest events");
    assert_eq!(last.event_type, EventType::CartMergedAway);
    // Totals after the change: the guest cart is gone, so empty.
    assert_eq!(
        (
            last.totals.item_count,
            last.totals.total_quantity,
            last.totals.total_price
        ),
        (0, 0, 0)
    );
    assert!(last.line.is_none());
    // Per-cart order holds: the guest's last event follows its last version.
    assert_eq!(
        last.version,
        guest_events[guest_events.len() - 2].version + 1
    );
    // The guest cart is kept ended at that version: empty and expired, so the key's next
    // cart continues from it.
    let key = CartKey::parse(&guest_id).expect("key");
    let ended = app
        .store
        .load_cart(&key)
        .await
        .expect("load")
        .expect("kept");
    assert!(ended.has_ended() && ended.items().is_empty());
    assert_eq!(ended.version(), last.version);
}

/// The issue this guards against: a guest key whose versions restarted after a merge let an
/// `ETag` of the merged-away cart match the key's next cart (`DELETE` with `If-Match: "1"` wiped
/// it), and its events went 1, 2, then 1 again.
#[tokio::test]
async fn a_guest_keys_versions_go_on_after_its_cart_is_merged_away() {
    let app = spawn_app().await;
    let guest_id = guest();
    fill(&app, &guest_id, &[("pen", 1)]).await;
    let held = app.get_cart(&guest_id, None).await;
    assert_eq!(held.header("etag"), Some("\"1\""));
    assert_eq!(
        merge(&app, &guest_id, None, "").await.status,
        StatusCode::OK
    );

    // Merged away: not found, and no entity tag matches it, `*` included.
    let gone = app.get_cart(&guest_id, None).await;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::NOT_FOUND, "CART_NOT_FOUND")
    );
    for tag in ["\"1\"", "\"2\"", "*"] {
        let refused = app
            .send(
                app.request(Method::DELETE, &format!("/v1/cart/{guest_id}"))
                    .header("if-match", tag),
            )
            .await;
        assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED, "{tag}");
    }

    // The key's next cart continues: version 3, so the old tag no longer matches.
    fill(&app, &guest_id, &[("pen", 1)]).await;
    let again = app.get_cart(&guest_id, None).await;
    assert_eq!(again.header("etag"), Some("\"3\""));
    assert_eq!(again.body["version"], 3);
    let refused = app
        .send(
            app.request(Method::DELETE, &format!("/v1/cart/{guest_id}"))
                .header("if-match", "\"1\""),
        )
        .await;
    assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(refused.body["details"]["current_version"], 3);
    let kept = app.get_cart(&guest_id, None).await;
    assert_eq!(kept.body["items"].as_array().map(Vec::len), Some(1));

    // Its events' versions only go up.
    let versions: Vec<u64> = app
        .events_of(&guest_id)
        .await
        .iter()
        .map(|event| event.version)
        .collect();
    assert_eq!(versions, [1, 1, 2, 3, 3]);
    let kinds: Vec<EventType> = app
        .events_of(&guest_id)
        .await
        .iter()
        .map(|event| event.event_type)
        .collect();
    assert_eq!(
        kinds,
        [
            EventType::CartCreated,
            EventType::ItemAdded,
            EventType::CartMergedAway,
            EventType::CartCreated,
            EventType::ItemAdded
        ]
    );
}

#[tokio::test]
async fn merges_that_cannot_happen_change_nothing() {
    let app = spawn_app().await;
    let alice = token("alice");
    // Different currencies.
    let guest_id = guest();
    fill(&app, "me", &[("book", 1)]).await;
    fill(&app, &guest_id, &[("euro-book", 1)]).await;
    let mismatch = merge(&app, &guest_id, None, "").await;
    assert_eq!(
        (mismatch.status, mismatch.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "CURRENCY_MISMATCH")
    );
    assert_eq!(app.get_cart("me", Some(&alice)).await.body["version"], 1);
    assert_eq!(app.get_cart(&guest_id, None).await.body["version"], 1);
    // `replace` and `keep` never mix prices, so they work across currencies.
    let replaced = merge(&app, &guest_id, Some("replace"), "").await;
    assert_eq!(replaced.status, StatusCode::OK);
    assert_eq!(replaced.body["currency"], "EUR");

    // No guest cart and no user cart: nothing to show.
    let fresh = spawn_app().await;
    let nothing = merge(&fresh, &guest(), None, "").await;
    assert_eq!(
        (nothing.status, nothing.code()),
        (StatusCode::NOT_FOUND, "CART_NOT_FOUND")
    );
    // Bad input.
    let cases = [
        (json!({"guest_id": "alice"}), "INVALID_GUEST_ID"),
        (json!({"guest_id": "guest_123"}), "INVALID_GUEST_ID"),
        (
            json!({"guest_id": guest(), "strategy": "most"}),
            "VALIDATION_ERROR",
        ),
        (json!({"guest_id": guest(), "extra": 1}), "VALIDATION_ERROR"),
        (json!({}), "VALIDATION_ERROR"),
    ];
    for (body, code) in cases {
        let answer = fresh
            .send(
                fresh
                    .request(Method::POST, "/v1/cart/me/merge")
                    .bearer_auth(&alice)
                    .json(&body),
            )
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::BAD_REQUEST, code),
            "{body}"
        );
    }
    let bad_query = merge(&fresh, &guest(), None, "?dry_run=maybe").await;
    assert_eq!(bad_query.code(), "VALIDATION_ERROR");
    // An expired guest cart is not merged.
    let expired = guest();
    fill(&fresh, "me", &[("pen", 1)]).await;
    fill(&fresh, &expired, &[("book", 1)]).await;
    fresh.clock.advance(time::Duration::days(8));
    let user_before = fresh.get_cart("me", Some(&alice)).await;
    let late = merge(&fresh, &expired, None, "").await;
    assert_eq!(late.status, StatusCode::OK);
    assert_eq!(late.body["merge"]["guest_cart_found"], false);
    assert_eq!(late.body["version"], user_before.body["version"]);
}

#[tokio::test]
async fn a_conditional_merge_honours_if_match_on_the_user_cart() {
    let app = spawn_app().await;
    let guest_id = guest();
    fill(&app, "me", &[("book", 1)]).await;
    fill(&app, &guest_id, &[("pen", 1)]).await;
    let stale = app
        .send(
            app.request(Method::POST, "/v1/cart/me/merge")
                .bearer_auth(token("alice"))
                .header("If-Match", "\"7\"")
                .json(&json!({"guest_id": guest_id})),
        )
        .await;
    assert_eq!(
        (stale.status, stale.code()),
        (StatusCode::PRECONDITION_FAILED, "PRECONDITION_FAILED")
    );
    assert_eq!(app.get_cart(&guest_id, None).await.status, StatusCode::OK);
    let current = app
        .send(
            app.request(Method::POST, "/v1/cart/me/merge")
                .bearer_auth(token("alice"))
                .header("If-Match", "\"1\"")
                .json(&json!({"guest_id": guest_id})),
        )
        .await;
    assert_eq!(current.status, StatusCode::OK);
    assert_eq!(current.body["version"], 2);
}

#[tokio::test]
async fn an_empty_guest_cart_is_consumed_and_leaves_the_users_lines_as_they_were() {
    let app = spawn_app().await;
    let guest_id = guest();
    fill(&app, "me", &[("book", 2)]).await;
    fill(&app, &guest_id, &[("pen", 1)]).await;
    let cleared = app
        .send(app.request(Method::DELETE, &format!("/v1/cart/{guest_id}")))
        .await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    let merged = merge(&app, &guest_id, Some("max"), "").await;
    assert_eq!(merged.status, StatusCode::OK);
    assert_eq!(merged.body["merge"]["guest_cart_found"], true);
    assert_eq!(merged.body["merge"]["lines"], json!([]));
    assert_eq!(
        quantities(&merged.body),
        BTreeMap::from([("book".to_owned(), 2)])
    );
    assert_eq!(merged.body["version"], 2);
    assert_eq!(app.get_cart(&guest_id, None).await.code(), "CART_NOT_FOUND");
}
