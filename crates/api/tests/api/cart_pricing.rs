//! A cart's region, discount codes, repricing and totals over REST, end to end: what each write
//! changes (and does not), what `/totals` answers to the cent, and estimates without a cart.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::graphql_helpers::rest_shape;
use crate::helpers::{Answer, TestApp, guest, spawn_app, token, token_with};

fn admin() -> String {
    token_with("pricing-bot", Some("cart:admin"))
}

async fn admin_put(app: &TestApp, path: &str, body: Value) {
    let answer = app
        .send(
            app.request(Method::PUT, path)
                .bearer_auth(admin())
                .json(&body),
        )
        .await;
    assert!(answer.status.is_success(), "{path}: {:?}", answer.body);
}

/// US tax (10 %, on top) for every state, shipping to California (free from 50.00), and three
/// codes: 10 % off, 5.00 off from a 100.00 subtotal, 2.00 off pens only (stackable).
async fn configure(app: &TestApp) {
    admin_put(
        app,
        "/v1/tax-rates/US",
        json!({"rates": {"standard": "10", "reduced": "5"}, "prices_include_tax": false}),
    )
    .await;
    admin_put(
        app,
        "/v1/shipping-rates/US-CA",
        json!({"amount": 499, "currency": "USD", "free_above": 5000}),
    )
    .await;
    admin_put(
        app,
        "/v1/promotions/SAVE10",
        json!({"type": "percentage", "percent": "10"}),
    )
    .await;
    admin_put(
        app,
        "/v1/promotions/BIGSPENDER",
        json!({"type": "fixed", "amount": 500, "currency": "USD", "min_subtotal": 10000}),
    )
    .await;
    admin_put(
        app,
        "/v1/promotions/PENS",
        json!({"type": "fixed", "amount": 200, "currency": "USD", "product_ids": ["pen"],
               "stackable": true}),
    )
    .await;
}

async fn send(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Answer {
    let mut request = app.request(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    app.send(request).await
}

async fn set_region(app: &TestApp, key: &str, region: &str) -> Answer {
    send(
        app,
        Method::PATCH,
        &format!("/v1/cart/{key}"),
        Some(json!({"region": region})),
    )
    .await
}

async fn add_code(app: &TestApp, key: &str, code: &str) -> Answer {
    send(
        app,
        Method::POST,
        &format!("/v1/cart/{key}/discount-codes"),
        Some(json!({"code": code})),
    )
    .await
}

async fn totals(app: &TestApp, key: &str, query: &str) -> Answer {
    let answer = send(
        app,
        Method::GET,
        &format!("/v1/cart/{key}/totals{query}"),
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer
}

/// `sum(lines.total) + shipping (+ its tax) == total`, the rule every answer keeps.
fn assert_lines_add_up(totals: &Value) {
    let lines: i64 = totals["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|line| line["total"].as_i64().expect("line total"))
        .sum();
    let line_tax: i64 = totals["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|line| line["tax"].as_i64().expect("line tax"))
        .sum();
    let shipping = totals["shipping"].as_i64().expect("shipping");
    let shipping_tax = totals["tax"].as_i64().expect("tax") - line_tax;
    let included = totals["prices_include_tax"].as_bool().expect("flag");
    let expected = lines + shipping + if included { 0 } else { shipping_tax };
    assert_eq!(totals["total"].as_i64(), Some(expected), "{totals:#}");
}

#[tokio::test]
async fn totals_explain_every_cent_for_a_region_and_a_code() {
    let app = spawn_app().await;
    configure(&app).await;
    let key = guest();
    app.add_product(&key, "book", 2).await;
    app.add_product(&key, "pen", 1).await;

    let before = totals(&app, &key, "").await;
    assert_eq!(before.body["subtotal"], 2848);
    assert_eq!(before.body["total"], 2848, "no region: no tax, no shipping");
    assert_eq!(
        before.body["warnings"],
        json!([{"code": "REGION_REQUIRED"}])
    );

    let set = set_region(&app, &key, "US-CA").await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    assert_eq!(set.body["region"], "US-CA");
    let coded = add_code(&app, &key, "save10").await;
    assert_eq!(coded.status, StatusCode::OK, "{:?}", coded.body);
    assert_eq!(
        coded.body["discount_codes"],
        json!(["SAVE10"]),
        "stored upper case"
    );

    let shown = totals(&app, &key, "?explain=true").await.body;
    // 10 % of 28.48 is 2.848 → 2.85 (half-even), split 2.60 / 0.25 by largest remainder;
    // tax 10 % per line: 233.8 → 234, 22.5 → 22 (half-even), shipping 49.9 → 50.
    assert_eq!(shown["region"], "US-CA");
    assert_eq!(shown["subtotal"], 2848);
    assert_eq!(shown["discount"], 285);
    assert_eq!(shown["shipping"], 499, "28.48 − 2.85 is under 50.00");
    assert_eq!(shown["tax"], 306);
    assert_eq!(shown["total"], 3368);
    assert_eq!(shown["prices_include_tax"], false);
    let line = |n: usize, member: &str| shown["lines"][n][member].as_i64();
    assert_eq!(
        (line(0, "discount"), line(0, "tax"), line(0, "total")),
        (Some(260), Some(234), Some(2572))
    );
    assert_eq!(
        (line(1, "discount"), line(1, "tax"), line(1, "total")),
        (Some(25), Some(22), Some(247))
    );
    assert_eq!(
        shown["discount_codes"],
        json!([{"code": "SAVE10", "applied": true, "reason": null, "amount": 285}])
    );
    assert_eq!(
        shown["tax_lines"],
        json!([{"tax_class": "standard", "rate": "10", "base": 3062, "amount": 306}])
    );
    assert_eq!(shown["warnings"], json!([]));
    assert_lines_add_up(&shown);
    let token = shown["quote_token"].as_str().expect("quote token");
    assert!(token.starts_with("q1.") && token.len() == 67, "{token}");
    let steps = shown["steps"].as_array().expect("steps with explain");
    assert_eq!(
        steps.first().map(|s| &s["step"]),
        Some(&json!("list_price"))
    );
    assert_eq!(steps.last().map(|s| &s["step"]), Some(&json!("total")));
    assert_eq!(steps.last().map(|s| &s["amount"]), Some(&json!(3368)));

    let plain = totals(&app, &key, "").await.body;
    assert!(plain.get("steps").is_none(), "steps only when asked");
    assert_eq!(
        plain["quote_token"], shown["quote_token"],
        "the same numbers"
    );
}

#[tokio::test]
async fn a_code_that_does_not_apply_stays_with_its_reason_and_an_unknown_one_changes_nothing() {
    let app = spawn_app().await;
    configure(&app).await;
    let key = guest();
    app.add_product(&key, "book", 1).await;
    let added = add_code(&app, &key, "BIGSPENDER").await;
    assert_eq!(added.status, StatusCode::OK);
    let version = added.body["version"].clone();

    let unknown = add_code(&app, &key, "NO-SUCH-CODE").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.code(), "PROMOTION_NOT_FOUND");
    let again = add_code(&app, &key, "bigspender").await;
    assert_eq!(
        again.body["version"], version,
        "a code held already changes nothing"
    );
    assert_eq!(app.get_cart(&key, None).await.body["version"], version);

    let shown = totals(&app, &key, "").await.body;
    assert_eq!(
        shown["discount_codes"],
        json!([{"code": "BIGSPENDER", "applied": false, "reason": "MIN_SUBTOTAL_NOT_MET",
                "amount": 0}])
    );
    assert_eq!(shown["total"], 1299);

    // A promotion deleted after the code went on the cart: the code stays, and says why.
    let deleted = app
        .send(
            app.request(Method::DELETE, "/v1/promotions/BIGSPENDER")
                .bearer_auth(admin()),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let shown = totals(&app, &key, "").await.body;
    assert_eq!(shown["discount_codes"][0]["reason"], "PROMOTION_NOT_FOUND");

    let removed = send(
        &app,
        Method::DELETE,
        &format!("/v1/cart/{key}/discount-codes/bigspender"),
        None,
    )
    .await;
    assert_eq!(removed.status, StatusCode::OK, "{:?}", removed.body);
    assert_eq!(removed.body["discount_codes"], json!([]));
    let gone = send(
        &app,
        Method::DELETE,
        &format!("/v1/cart/{key}/discount-codes/BIGSPENDER"),
        None,
    )
    .await;
    assert_eq!(gone.code(), "DISCOUNT_CODE_NOT_FOUND");
}

#[tokio::test]
async fn a_changed_price_warns_and_leaves_the_line_until_the_cart_is_repriced() {
    let app = spawn_app().await;
    let key = guest();
    let item = app.add_first_line(&key, "pen").await;
    admin_put(
        &app,
        "/v1/products/pen",
        json!({"name": "Product pen", "unit_price": 275, "currency": "USD"}),
    )
    .await;

    let shown = totals(&app, &key, "").await.body;
    assert!(
        shown["warnings"]
            .as_array()
            .expect("warnings")
            .contains(&json!({"code": "PRICE_CHANGED", "item_id": item, "was": 250, "now": 275})),
        "{shown:#}"
    );
    assert_eq!(shown["subtotal"], 250, "the line keeps its price");
    let cart = app.get_cart(&key, None).await.body;
    assert_eq!(cart["items"][0]["unit_price"], 250);
    assert_eq!(
        cart["warnings"],
        json!([{"code": "PRICE_CHANGED", "item_id": item, "was": 250, "now": 275}]),
        "reads carry the warning too"
    );

    let repriced = send(&app, Method::POST, &format!("/v1/cart/{key}/reprice"), None).await;
    assert_eq!(repriced.status, StatusCode::OK, "{:?}", repriced.body);
    assert_eq!(repriced.body["items"][0]["unit_price"], 275);
    assert_eq!(
        repriced.body["version"],
        cart["version"].as_u64().expect("v") + 1
    );
    let shown = totals(&app, &key, "").await.body;
    assert_eq!(shown["subtotal"], 275);
    assert!(
        !shown["warnings"].to_string().contains("PRICE_CHANGED"),
        "{shown:#}"
    );
    assert_eq!(app.get_cart(&key, None).await.body["warnings"], json!([]));
    let again = send(&app, Method::POST, &format!("/v1/cart/{key}/reprice"), None).await;
    assert_eq!(
        again.body["version"], repriced.body["version"],
        "nothing left to reprice"
    );

    admin_put(
        &app,
        "/v1/products/pen",
        json!({"name": "Product pen", "unit_price": 275, "currency": "USD", "active": false}),
    )
    .await;
    assert_eq!(
        app.get_cart(&key, None).await.body["warnings"],
        json!([{"code": "PRODUCT_UNAVAILABLE", "item_id": item, "product_id": "pen"}])
    );
}

#[tokio::test]
async fn pricing_writes_are_idempotent_and_conditional() {
    let app = spawn_app().await;
    let key = guest();
    let version = app.add_product(&key, "book", 1).await.body["version"].clone();
    let patch = |region: &str, idempotency: &str| {
        app.request(Method::PATCH, &format!("/v1/cart/{key}"))
            .header("idempotency-key", idempotency)
            .json(&json!({"region": region}))
    };
    let first = app.send(patch("FR", "k1")).await;
    assert_eq!(first.status, StatusCode::OK);
    let replay = app.send(patch("FR", "k1")).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.body, first.body);
    let misuse = app.send(patch("DE", "k1")).await;
    assert_eq!(misuse.code(), "IDEMPOTENCY_KEY_REUSED");

    let stale = app
        .send(
            app.request(Method::PATCH, &format!("/v1/cart/{key}"))
                .header("if-match", format!("\"{version}\""))
                .json(&json!({"region": "DE"})),
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(app.get_cart(&key, None).await.body["region"], "FR");

    let same = set_region(&app, &key, "FR").await;
    assert_eq!(
        same.body["version"], first.body["version"],
        "no change, no version"
    );
    for bad in [
        json!({"region": "XX"}),
        json!({"region": 7}),
        json!({"region": "FR", "x": 1}),
    ] {
        let refused = send(&app, Method::PATCH, &format!("/v1/cart/{key}"), Some(bad)).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{:?}",
            refused.body
        );
    }
}

#[tokio::test]
async fn region_and_codes_survive_a_merge_the_users_region_winning() {
    let app = spawn_app().await;
    configure(&app).await;
    let alice = token("alice");
    let visitor = guest();
    app.add_product(&visitor, "pen", 1).await;
    set_region(&app, &visitor, "DE").await;
    add_code(&app, &visitor, "PENS").await;
    add_code(&app, &visitor, "SAVE10").await;
    app.add(
        "me",
        json!({"product_id": "book", "quantity": 1}),
        Some(&alice),
    )
    .await;
    let mine = |method: Method, path: &str| app.request(method, path).bearer_auth(&alice);
    app.send(mine(Method::PATCH, "/v1/cart/me").json(&json!({"region": "US-CA"})))
        .await;
    app.send(mine(Method::POST, "/v1/cart/me/discount-codes").json(&json!({"code": "SAVE10"})))
        .await;

    let merged = app
        .send(
            mine(Method::POST, "/v1/cart/me/merge")
                .json(&json!({"guest_id": visitor, "strategy": "sum"})),
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{:?}", merged.body);
    assert_eq!(merged.body["region"], "US-CA");
    assert_eq!(merged.body["discount_codes"], json!(["SAVE10", "PENS"]));
    let shown = app.send(mine(Method::GET, "/v1/cart/me/totals")).await.body;
    let applied: Vec<&Value> = shown["discount_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|code| &code["applied"])
        .collect();
    assert_eq!(applied, [&json!(true), &json!(false)], "{shown:#}");
    assert_eq!(shown["discount_codes"][1]["reason"], "NOT_STACKABLE");
}

#[tokio::test]
async fn an_estimate_prices_like_a_cart_of_the_same_lines() {
    let app = spawn_app().await;
    configure(&app).await;
    let key = guest();
    app.add_product(&key, "book", 2).await;
    app.add_product(&key, "scarce", 1).await;
    set_region(&app, &key, "US-NY").await;
    add_code(&app, &key, "SAVE10").await;
    let cart = totals(&app, &key, "").await.body;

    let estimate = send(
        &app,
        Method::POST,
        "/v1/pricing/calculate",
        Some(
            json!({"region": "US-NY", "currency": "USD", "discount_codes": ["save10"],
                    "lines": [{"product_id": "book", "quantity": 2},
                              {"product_id": "scarce", "quantity": 1}]}),
        ),
    )
    .await;
    assert_eq!(estimate.status, StatusCode::OK, "{:?}", estimate.body);
    let strip = |value: &Value| {
        let mut value = value.clone();
        value.as_object_mut().map(|v| v.remove("quote_token"));
        for line in value["lines"].as_array_mut().expect("lines") {
            line["item_id"] = Value::Null;
        }
        value
    };
    assert_eq!(strip(&estimate.body), strip(&cart));
    assert!(estimate.body.get("quote_token").is_none());
    // The reduced class of `scarce` is taxed at the table's reduced rate.
    assert_eq!(cart["tax_lines"][0]["tax_class"], "reduced");
    assert_eq!(
        cart["warnings"],
        json!([{"code": "SHIPPING_UNAVAILABLE", "region": "US-NY"}])
    );
    assert_lines_add_up(&cart);

    for (body, code) in [
        (
            json!({"currency": "USD", "lines": [{"product_id": "retired", "quantity": 1}]}),
            "PRODUCT_UNAVAILABLE",
        ),
        (
            json!({"currency": "USD", "lines": [{"product_id": "book", "quantity": 100}]}),
            "QUANTITY_LIMIT_EXCEEDED",
        ),
        (
            json!({"currency": "USD", "lines": [{"product_id": "book", "quantity": 0}]}),
            "INVALID_QUANTITY",
        ),
        (
            json!({"currency": "USD", "lines": [], "discount_codes": ["a b"]}),
            "VALIDATION_ERROR",
        ),
        (
            json!({"currency": "USD", "lines": [], "region": "ZZ"}),
            "VALIDATION_ERROR",
        ),
    ] {
        let refused = send(&app, Method::POST, "/v1/pricing/calculate", Some(body)).await;
        assert_eq!(refused.code(), code, "{:?}", refused.body);
    }
}

#[tokio::test]
async fn graphql_sets_region_and_codes_and_shows_rests_totals() {
    let app = spawn_app().await;
    configure(&app).await;
    let key = guest();
    app.add_product(&key, "book", 1).await;
    let payload = "cart { region discountCodes version } userErrors { code field }";
    let run = |call: &'static str| {
        let app = &app;
        let key = key.clone();
        async move {
            let query = format!("mutation ($key: ID!) {{ payload: {call} {{ {payload} }} }}");
            app.graphql(&query, json!({"key": key}), None).await
        }
    };
    let region = run(r#"setCartRegion(cartKey: $key, region: "US-CA")"#).await;
    assert_eq!(
        region.body["data"]["payload"]["cart"]["region"], "US-CA",
        "{:?}",
        region.body
    );
    let code = run(r#"addDiscountCode(cartKey: $key, code: "save10")"#).await;
    assert_eq!(
        code.body["data"]["payload"]["cart"]["discountCodes"],
        json!(["SAVE10"])
    );
    let unknown = run(r#"addDiscountCode(cartKey: $key, code: "NOPE")"#).await;
    assert_eq!(
        unknown.body["data"]["payload"]["userErrors"][0]["code"],
        "PROMOTION_NOT_FOUND"
    );
    let bad = run(r#"setCartRegion(cartKey: $key, region: "fr")"#).await;
    assert_eq!(
        bad.body["data"]["payload"]["userErrors"][0],
        json!({"code": "VALIDATION_ERROR", "field": "region"})
    );

    let money = "{ amount amount64 currency }";
    let fields = format!(
        "currency region subtotal {money} discount {money} shipping {money} tax {money} \
         total {money} pricesIncludeTax quoteToken \
         lines {{ itemId productId quantity unitPrice {money} subtotal {money} discount {money} \
                 tax {money} total {money} }} \
         discountCodes {{ code applied reason amount {money} }} \
         taxLines {{ taxClass rate base {money} amount {money} }} \
         warnings {{ code region taxClass itemId productId was {money} now {money} }}"
    );
    let query = format!("query ($key: ID!) {{ cart(key: $key) {{ totals {{ {fields} }} }} }}");
    let read = app.graphql(&query, json!({"key": key}), None).await;
    assert!(read.body["errors"].is_null(), "{:?}", read.body);
    let rest = totals(&app, &key, "").await.body;
    let mut graphql = rest_shape(&read.body["data"]["cart"]["totals"]);
    // GraphQL answers every warning field (null when it does not concern the warning).
    for warning in graphql["warnings"].as_array_mut().expect("warnings") {
        warning
            .as_object_mut()
            .expect("warning")
            .retain(|_, value| !value.is_null());
    }
    assert_eq!(graphql, rest);

    let removed = run(r#"removeDiscountCode(cartKey: $key, code: "Save10")"#).await;
    assert_eq!(
        removed.body["data"]["payload"]["cart"]["discountCodes"],
        json!([])
    );
    let repriced = run("repriceCart(cartKey: $key)").await;
    assert!(
        repriced.body["data"]["payload"]["userErrors"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{:?}",
        repriced.body
    );

    let estimate = app
        .graphql(
            r#"{ priceLines(currency: "USD", region: "US-CA",
                            lines: [{productId: "book", quantity: 1}]) { total { amount } quoteToken } }"#,
            json!({}),
            None,
        )
        .await;
    assert_eq!(
        estimate.body["data"]["priceLines"],
        json!({"total": {"amount": 1299 + 130 + 499 + 50}, "quoteToken": null}),
        "{:?}",
        estimate.body
    );
}

#[tokio::test]
async fn each_pricing_write_commits_its_event_with_what_it_changed() {
    let app = spawn_app().await;
    configure(&app).await;
    let key = guest();
    let item = app.add_first_line(&key, "pen").await;
    set_region(&app, &key, "FR").await;
    set_region(&app, &key, "FR").await;
    add_code(&app, &key, "SAVE10").await;
    send(
        &app,
        Method::DELETE,
        &format!("/v1/cart/{key}/discount-codes/SAVE10"),
        None,
    )
    .await;
    admin_put(
        &app,
        "/v1/products/pen",
        json!({"name": "Product pen", "unit_price": 300, "currency": "USD"}),
    )
    .await;
    send(&app, Method::POST, &format!("/v1/cart/{key}/reprice"), None).await;

    let events = app.events_of(&key).await;
    let summary: Vec<_> = events
        .iter()
        .skip(2)
        .map(|e| {
            (
                e.event_type,
                e.version,
                e.pricing.region.as_ref().map(|r| r.to_string()),
                e.pricing.discount_code.as_ref().map(|c| c.to_string()),
            )
        })
        .collect();
    use cart_core::EventType;
    assert_eq!(
        summary,
        [
            (EventType::RegionSet, 2, Some("FR".into()), None),
            (EventType::DiscountCodeAdded, 3, None, Some("SAVE10".into())),
            (
                EventType::DiscountCodeRemoved,
                4,
                None,
                Some("SAVE10".into())
            ),
            (EventType::CartRepriced, 5, None, None),
        ],
        "the second, unchanged region set made no event"
    );
    let repriced = &events.last().expect("reprice").pricing.repriced;
    assert_eq!(repriced.len(), 1);
    assert_eq!(
        (
            repriced[0].item_id.to_string(),
            repriced[0].was,
            repriced[0].now
        ),
        (item, 250, 300)
    );
    assert_eq!(events.last().expect("reprice").totals.total_price, 300);
}

#[tokio::test]
async fn totals_follow_a_promotion_ending_even_when_nothing_was_written() {
    let app = spawn_app().await;
    let ends = cart_core::Clock::now(app.clock.as_ref()) + time::Duration::seconds(1);
    let ends = ends
        .format(&time::format_description::well_known::Rfc3339)
        .expect("rfc3339");
    admin_put(
        &app,
        "/v1/promotions/FLASH",
        json!({"type": "percentage", "percent": "50", "ends_at": ends}),
    )
    .await;
    let key = guest();
    app.add_product(&key, "pen", 2).await;
    add_code(&app, &key, "FLASH").await;
    let during = totals(&app, &key, "").await.body;
    assert_eq!(during["discount"], 250);
    assert_eq!(
        totals(&app, &key, "").await.body,
        during,
        "asked again, the same"
    );
    // Within the caches' lifetime (2 s), but at the promotion's end.
    app.clock.advance(time::Duration::seconds(1));
    let after = totals(&app, &key, "").await.body;
    assert_eq!(after["discount"], 0, "{after:#}");
    assert_eq!(after["discount_codes"][0]["reason"], "EXPIRED");
}
