//! `/v1/tax-rates` and `/v1/shipping-rates`: admins write a region's settings, anyone reads them.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, token, token_with};

fn admin() -> String {
    token_with("pricing-bot", Some("cart:admin"))
}

async fn put(
    app: &TestApp,
    path: &str,
    bearer: Option<&str>,
    body: Value,
) -> crate::helpers::Answer {
    let mut request = app.request(Method::PUT, path).json(&body);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    app.send(request).await
}

async fn delete(app: &TestApp, path: &str, bearer: &str) -> crate::helpers::Answer {
    app.send(app.request(Method::DELETE, path).bearer_auth(bearer))
        .await
}

#[tokio::test]
async fn a_regions_tax_rates_are_created_replaced_listed_and_deleted() {
    let app = spawn_app().await;
    let admin = admin();
    let fr = json!({"rates": {"standard": "20", "reduced": "5.50"}, "prices_include_tax": true});
    let created = put(&app, "/v1/tax-rates/FR", Some(&admin), fr.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(
        created.body,
        json!({"region": "FR", "rates": {"reduced": "5.5", "standard": "20"},
               "prices_include_tax": true}),
        "rates are shown normalized"
    );
    let us_ca = json!({"rates": {"standard": "7.25"}, "prices_include_tax": false});
    assert_eq!(
        put(&app, "/v1/tax-rates/US-CA", Some(&admin), us_ca)
            .await
            .status,
        StatusCode::CREATED
    );
    let replaced = put(
        &app,
        "/v1/tax-rates/FR",
        Some(&admin),
        json!({"rates": {"standard": "19.6"}, "prices_include_tax": true}),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK);

    let list = app.send(app.request(Method::GET, "/v1/tax-rates")).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(
        list.body,
        json!({"items": [
            {"region": "FR", "rates": {"standard": "19.6"}, "prices_include_tax": true},
            {"region": "US-CA", "rates": {"standard": "7.25"}, "prices_include_tax": false},
        ]}),
        "a replace replaces the whole table; regions in order"
    );

    assert_eq!(
        delete(&app, "/v1/tax-rates/FR", &admin).await.status,
        StatusCode::NO_CONTENT
    );
    let again = delete(&app, "/v1/tax-rates/FR", &admin).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::NOT_FOUND, "SETTING_NOT_FOUND")
    );
    let list = app.send(app.request(Method::GET, "/v1/tax-rates")).await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn bad_tax_rates_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let admin = admin();
    let good = json!({"rates": {"standard": "20"}, "prices_include_tax": true});
    let too_many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("class{i}"), json!("1"))).collect();
    for (path, body) in [
        ("/v1/tax-rates/fr", good.clone()),
        ("/v1/tax-rates/XX", good.clone()),
        ("/v1/tax-rates/FRA", good.clone()),
        ("/v1/tax-rates/US-CALI", good.clone()),
        (
            "/v1/tax-rates/FR",
            json!({"rates": {"standard": 20}, "prices_include_tax": true}),
        ),
        (
            "/v1/tax-rates/FR",
            json!({"rates": {"standard": "101"}, "prices_include_tax": true}),
        ),
        (
            "/v1/tax-rates/FR",
            json!({"rates": {"standard": "-5"}, "prices_include_tax": true}),
        ),
        (
            "/v1/tax-rates/FR",
            json!({"rates": {"standard": "5.12345"}, "prices_include_tax": true}),
        ),
        (
            "/v1/tax-rates/FR",
            json!({"rates": {"Standard": "20"}, "prices_include_tax": true}),
        ),
        ("/v1/tax-rates/FR", json!({"rates": {"standard": "20"}})),
        (
            "/v1/tax-rates/FR",
            json!({"rates": {"standard": "20"}, "prices_include_tax": true, "x": 1}),
        ),
        (
            "/v1/tax-rates/FR",
            json!({"rates": too_many, "prices_include_tax": true}),
        ),
    ] {
        let answer = put(&app, path, Some(&admin), body.clone()).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
            "{path} {body}"
        );
    }
    let anonymous = put(&app, "/v1/tax-rates/FR", None, good.clone()).await;
    assert_eq!(anonymous.code(), "UNAUTHORIZED");
    let shopper = put(
        &app,
        "/v1/tax-rates/FR",
        Some(&token("alice")),
        good.clone(),
    )
    .await;
    assert_eq!(shopper.code(), "FORBIDDEN");
    let shopper_delete = delete(&app, "/v1/tax-rates/FR", &token("alice")).await;
    assert_eq!(shopper_delete.code(), "FORBIDDEN");
    let list = app.send(app.request(Method::GET, "/v1/tax-rates")).await;
    assert_eq!(list.body, json!({"items": []}), "nothing was written");
}

#[tokio::test]
async fn a_regions_shipping_rate_is_kept_and_bad_ones_are_refused() {
    let app = spawn_app().await;
    let admin = admin();
    let rate = json!({"amount": 499, "currency": "EUR", "free_above": 5000.0});
    let created = put(&app, "/v1/shipping-rates/DE", Some(&admin), rate).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(
        created.body,
        json!({"region": "DE", "amount": 499, "currency": "EUR", "free_above": 5000})
    );
    let replaced = put(
        &app,
        "/v1/shipping-rates/DE",
        Some(&admin),
        json!({"amount": 0, "currency": "EUR"}),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK);
    for bad in [
        json!({"amount": -1, "currency": "EUR"}),
        json!({"amount": 1_000_000_001, "currency": "EUR"}),
        json!({"amount": 1.5, "currency": "EUR"}),
        json!({"amount": 1, "currency": "eur"}),
        json!({"amount": 1, "currency": "EUR", "free_above": -1}),
        json!({"amount": 1}),
        json!({"amount": 1, "currency": "EUR", "extra": true}),
    ] {
        let answer = put(&app, "/v1/shipping-rates/DE", Some(&admin), bad.clone()).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
            "{bad}"
        );
    }
    let list = app
        .send(app.request(Method::GET, "/v1/shipping-rates"))
        .await;
    assert_eq!(
        list.body,
        json!({"items": [{"region": "DE", "amount": 0, "currency": "EUR", "free_above": null}]})
    );
    assert_eq!(
        delete(&app, "/v1/shipping-rates/DE", &admin).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete(&app, "/v1/shipping-rates/DE", &admin).await.code(),
        "SETTING_NOT_FOUND"
    );
}

/// The document's bound on `free_above` is the one the server enforces (written as a literal in
/// the schema attribute, so this holds the two together).
#[test]
fn the_documented_free_shipping_bound_is_the_servers() {
    let document = serde_json::to_value(cart_api::openapi()).expect("json");
    let documented = &document["components"]["schemas"]["ShippingRateRequest"]["properties"]["free_above"]
        ["maximum"];
    assert_eq!(
        documented.as_i64(),
        Some(cart_pricing::shipping::MAX_FREE_ABOVE)
    );
}
