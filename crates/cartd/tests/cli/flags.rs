//! Feature flags end to end: `cartd serve` with a flagd file (`CARTD_FLAGS_FILE`) that turns
//! features off per shopper (targeting, a percentage rollout), is read again when it changes,
//! and is shown on `GET /v1/admin/flags`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Server, admin_token, guest, temp_db, user_token, wait_for_line};

fn write_flags(path: &Path, graphql_default: &str) {
    let flags = json!({
        "$schema": "https://flagd.dev/schema/v0/flags.json",
        "flags": {
            "checkout": {"state": "ENABLED", "variants": {"on": true, "off": false},
                "defaultVariant": "on",
                "targeting": {"if": [{"==": [{"var": "kind"}, "guest"]}, "off", null]}},
            "graphql": {"state": "ENABLED", "variants": {"on": true, "off": false},
                "defaultVariant": graphql_default,
                "targeting": {"if": [{"$ref": "beta-testers"}, "on", null]}},
            "discount-codes": {"state": "ENABLED", "variants": {"on": true, "off": false},
                "defaultVariant": "on",
                "targeting": {"fractional": [["on", 50], ["off", 50]]}},
            "merge-strategies": {"state": "ENABLED",
                "variants": {"safe": ["max", "keep"], "all": ["max", "sum", "replace", "keep"]},
                "defaultVariant": "safe"}
        },
        "$evaluators": {"beta-testers": {"in": [{"var": "userId"}, ["beta"]]}}
    });
    std::fs::write(path, flags.to_string()).expect("flags file");
}

async fn post(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut request = client
        .post(url)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn flags_gate_features_per_shopper_and_follow_the_file() {
    let (dir, db) = temp_db();
    let flags_path = dir.path().join("flags.json");
    write_flags(&flags_path, "off");
    let log_path = dir.path().join("cartd.log");
    let server = Server::start_logging_to(
        &db,
        &[("CARTD_FLAGS_FILE", flags_path.to_str().expect("path"))],
        std::fs::File::create(&log_path).expect("log").into(),
    )
    .await;
    let (client, base) = (reqwest::Client::new(), server.base.clone());
    let alice = user_token("alice");
    let address = json!({"name": "Zoë", "line1": "1 Market St", "city": "San Francisco",
                         "postal_code": "94105", "country": "US"});
    let checkout = json!({"quote_token": "q", "email": "a@example.com",
                          "shipping_address": address.clone(), "billing_address": address});

    // Checkout: off for guests, on for users.
    let (status, refused) = post(
        &client,
        format!("{base}/v1/cart/{}/checkout", guest(1)),
        None,
        checkout.clone(),
    )
    .await;
    assert_eq!(
        (status, &refused["code"]),
        (403, &json!("FEATURE_DISABLED")),
        "{refused}"
    );
    assert_eq!(refused["details"]["feature"], "checkout");
    let (status, _) = post(
        &client,
        format!("{base}/v1/cart/me/checkout"),
        Some(&alice),
        checkout,
    )
    .await;
    assert_ne!(status, 403);

    // GraphQL: off by default, on for the beta testers ($evaluators).
    let query = json!({"query": "{ __typename }"});
    let (status, refused) = post(
        &client,
        format!("{base}/graphql"),
        Some(&alice),
        query.clone(),
    )
    .await;
    assert_eq!(
        (status, &refused["errors"][0]["extensions"]["code"]),
        (403, &json!("FEATURE_DISABLED")),
        "{refused}"
    );
    let (status, _) = post(
        &client,
        format!("{base}/graphql"),
        Some(&user_token("beta")),
        query.clone(),
    )
    .await;
    assert_eq!(status, 200);

    // Merge strategies: only the safe ones.
    let merge = |strategy: &str| json!({"guest_id": guest(2), "strategy": strategy});
    let (status, refused) = post(
        &client,
        format!("{base}/v1/cart/me/merge"),
        Some(&alice),
        merge("sum"),
    )
    .await;
    assert_eq!(
        (status, &refused["code"]),
        (403, &json!("FEATURE_DISABLED"))
    );
    assert_eq!(
        refused["details"]["allowed_strategies"],
        json!(["max", "keep"])
    );
    let (status, passed) = post(
        &client,
        format!("{base}/v1/cart/me/merge"),
        Some(&alice),
        merge("keep"),
    )
    .await;
    assert_ne!(status, 403, "{passed}");

    // Discount codes: a 50 % rollout, stable per shopper.
    let guests: Vec<String> = (10..50).map(guest).collect();
    let mut disabled = Vec::new();
    for key in &guests {
        let (status, _) = post(
            &client,
            format!("{base}/v1/cart/{key}/discount-codes"),
            None,
            json!({"code": "WELCOME10"}),
        )
        .await;
        disabled.push(status == 403);
    }
    let off = disabled.iter().filter(|d| **d).count();
    assert!(
        (5..=35).contains(&off),
        "{off} of 40 guests without discount codes"
    );
    for (key, was_disabled) in guests.iter().zip(&disabled).take(8) {
        let (status, _) = post(
            &client,
            format!("{base}/v1/cart/{key}/discount-codes"),
            None,
            json!({"code": "WELCOME10"}),
        )
        .await;
        assert_eq!(status == 403, *was_disabled, "the same answer for {key}");
    }

    // The flags in force, for admins only.
    let listed = client
        .get(format!("{base}/v1/admin/flags"))
        .bearer_auth(admin_token())
        .send()
        .await
        .expect("get");
    assert_eq!(listed.status(), 200);
    let listed: Value = listed.json().await.expect("json");
    assert_eq!(listed["source"], flags_path.to_str().expect("path"));
    assert_eq!(listed["flags"]["graphql"]["defaultVariant"], "off");
    let refused = client
        .get(format!("{base}/v1/admin/flags"))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("get");
    assert_eq!(refused.status(), 403);

    // The file changes: GraphQL on for everyone, without a restart.
    write_flags(&flags_path, "on");
    let deadline = Instant::now() + Duration::from_secs(10);
    while post(&client, format!("{base}/graphql"), None, query.clone())
        .await
        .0
        != 200
    {
        assert!(Instant::now() < deadline, "the changed file was never read");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A broken file is refused and the flags in force stay.
    std::fs::write(&flags_path, "{ not flags").expect("flags file");
    wait_for_line(&log_path, "keeping the flags in use");
    assert_eq!(
        post(&client, format!("{base}/graphql"), None, query)
            .await
            .0,
        200
    );
}
