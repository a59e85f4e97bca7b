//! The catalog endpoints: public reads, admin writes.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, token, token_with};

#[tokio::test]
async fn products_page_through_the_whole_catalog_by_cursor() {
    let app = spawn_app().await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/products?limit=7&cursor={c}"),
            None => "/v1/products?limit=7".to_owned(),
        };
        let page = app.send(app.request(Method::GET, &path)).await;
        assert_eq!(page.status, StatusCode::OK);
        let items = page.body["items"].as_array().expect("items").clone();
        assert!(items.len() <= 7);
        seen.extend(
            items
                .iter()
                .map(|p| p["id"].as_str().expect("id").to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 36);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "ordered by id, each once");
    for bad in [
        "/v1/products?limit=0",
        "/v1/products?limit=101",
        "/v1/products?limit=x",
        "/v1/products?cursor=a%20b",
    ] {
        let answer = app.send(app.request(Method::GET, bad)).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_product_is_readable_by_id() {
    let app = spawn_app().await;
    let book = app
        .send(app.request(Method::GET, "/v1/products/book"))
        .await;
    assert_eq!(book.status, StatusCode::OK);
    assert_eq!(
        book.body,
        json!({"id": "book", "name": "Product book", "unit_price": 1299, "currency": "USD",
               "active": true, "stock": null, "reserved": null, "tax_class": "standard"})
    );
    let missing = app
        .send(app.request(Method::GET, "/v1/products/nope"))
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "PRODUCT_NOT_FOUND")
    );
}

#[tokio::test]
async fn only_admins_put_products_and_bad_rows_are_refused() {
    let app = spawn_app().await;
    let body = json!({"name": "Desk", "unit_price": 19900, "currency": "USD", "stock": 4});
    let put = |bearer: Option<String>, body: serde_json::Value| {
        let mut request = app.request(Method::PUT, "/v1/products/desk").json(&body);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        app.send(request)
    };
    assert_eq!(
        put(None, body.clone()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        put(Some(token("alice")), body.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    let admin = token_with("catalog-bot", Some("cart:admin"));
    let created = put(Some(admin.clone()), body.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["stock"], 4);
    let replaced = put(
        Some(admin.clone()),
        json!({"name": "Desk", "unit_price": 17900, "currency": "USD"}),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK);
    assert_eq!(replaced.body["unit_price"], 17900);
    assert_eq!(
        replaced.body["tax_class"], "standard",
        "a replace without one is standard"
    );
    let reduced = put(
        Some(admin.clone()),
        json!({"name": "Desk", "unit_price": 17900, "currency": "USD", "tax_class": "reduced"}),
    )
    .await;
    assert_eq!(reduced.body["tax_class"], "reduced");
    let read = app
        .send(app.request(Method::GET, "/v1/products/desk"))
        .await;
    assert_eq!(read.body["tax_class"], "reduced");
    for bad in [
        json!({"name": "", "unit_price": 1, "currency": "USD"}),
        json!({"name": "Desk", "unit_price": -1, "currency": "USD"}),
        json!({"name": "Desk", "unit_price": 1, "currency": "XYZ"}),
        json!({"name": "Desk", "unit_price": 1, "currency": "USD", "stock": -2}),
        json!({"name": "Desk", "unit_price": 1, "currency": "USD", "colour": "red"}),
        json!({"name": "Desk", "unit_price": 1, "currency": "USD", "tax_class": "Reduced"}),
        json!({"name": "Desk", "unit_price": 1, "currency": "USD", "tax_class": ""}),
        json!({"name": "Desk", "unit_price": 1, "currency": "USD", "tax_class": 5}),
    ] {
        let answer = put(Some(admin.clone()), bad.clone()).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
            "{bad}"
        );
    }
    let now = app
        .send(app.request(Method::GET, "/v1/products/desk"))
        .await;
    assert_eq!(now.body["unit_price"], 17900);
    // Carts price from the catalog as it is now.
    let cart = app.add_product(&crate::helpers::guest(), "desk", 1).await;
    assert_eq!(cart.body["items"][0]["unit_price"], 17900);
}

/// JSON Schema's `integer` is any number without a fraction, so the document's integers must
/// take `2.0` as 2 (what generated clients and JavaScript may send), and refuse `2.5`.
#[tokio::test]
async fn integers_may_be_written_with_a_zero_fraction() {
    let app = spawn_app().await;
    let admin = token_with("support", Some("cart:admin"));
    let put = app
        .send(
            app.request(Method::PUT, "/v1/products/float-book")
                .bearer_auth(&admin)
                .json(
                    &json!({"name": "Float", "unit_price": 1299.0, "currency": "USD",
                              "stock": 5e0}),
                ),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{:?}", put.body);
    assert_eq!(
        (put.body["unit_price"].clone(), put.body["stock"].clone()),
        (json!(1299), json!(5))
    );

    let key = crate::helpers::guest();
    let added = app
        .add(
            &key,
            json!({"product_id": "float-book", "quantity": 2.0, "unit_price": 1299.0}),
            None,
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    assert_eq!(added.body["items"][0]["quantity"], json!(2));
    let item = added.body["items"][0]["item_id"]
        .as_str()
        .expect("item")
        .to_owned();
    let patched = app
        .patch(&key, &item, json!({"quantity": 3.0, "version": 1.0}))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(patched.body["items"][0]["quantity"], json!(3));

    for (body, code) in [
        (json!({"quantity": 2.5}), "INVALID_QUANTITY"),
        (json!({"quantity": 2, "version": 2.5}), "VALIDATION_ERROR"),
    ] {
        let refused = app.patch(&key, &item, body.clone()).await;
        assert_eq!(
            (refused.status, refused.code()),
            (StatusCode::BAD_REQUEST, code),
            "{body}"
        );
    }
    let fractional_price = app
        .send(
            app.request(Method::PUT, "/v1/products/float-book")
                .bearer_auth(&admin)
                .json(&json!({"name": "Float", "unit_price": 1299.5, "currency": "USD"})),
        )
        .await;
    assert_eq!(
        (fractional_price.status, fractional_price.code()),
        (StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
    );
}
