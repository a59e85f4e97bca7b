//! The edges of HTTP: media types and charsets of request bodies.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::graphql_helpers::error_code;
use crate::helpers::{TestApp, guest, spawn_app, token, token_with};

/// A JSON-body endpoint: how to call it with a valid body, and its answer when it works.
struct Endpoint {
    method: Method,
    path: String,
    body: Value,
    bearer: Option<String>,
    ok: StatusCode,
}

async fn call(app: &TestApp, endpoint: &Endpoint, content_type: &str) -> crate::helpers::Answer {
    let mut request = app
        .request(endpoint.method.clone(), &endpoint.path)
        .header("content-type", content_type)
        .body(endpoint.body.to_string());
    if let Some(bearer) = &endpoint.bearer {
        request = request.bearer_auth(bearer);
    }
    app.send(request).await
}

#[tokio::test]
async fn bodies_are_application_json_in_utf8_on_every_endpoint() {
    let app = spawn_app().await;
    let key = guest();
    let added = app.add_product(&key, "book", 1).await;
    let item = added.body["items"][0]["item_id"]
        .as_str()
        .expect("item")
        .to_owned();
    let alice = token("alice");
    let endpoints = [
        Endpoint {
            method: Method::POST,
            path: format!("/v1/cart/{key}/items"),
            body: json!({"product_id": "pen", "quantity": 1}),
            bearer: None,
            ok: StatusCode::CREATED,
        },
        Endpoint {
            method: Method::PATCH,
            path: format!("/v1/cart/{key}/items/{item}"),
            body: json!({"quantity": 2}),
            bearer: None,
            ok: StatusCode::OK,
        },
        Endpoint {
            method: Method::POST,
            path: "/v1/cart/me/merge".into(),
            body: json!({"guest_id": guest(), "strategy": "keep"}),
            bearer: Some(alice.clone()),
            ok: StatusCode::OK,
        },
        Endpoint {
            method: Method::PUT,
            path: "/v1/products/lamp".into(),
            body: json!({"name": "Lamp", "unit_price": 4500, "currency": "USD"}),
            bearer: Some(token_with("support", Some("cart:admin"))),
            ok: StatusCode::OK,
        },
        Endpoint {
            method: Method::POST,
            path: "/graphql".into(),
            body: json!({"query": "{ __typename }"}),
            bearer: None,
            ok: StatusCode::OK,
        },
    ];
    app.add(
        "me",
        json!({"product_id": "pen", "quantity": 1}),
        Some(&alice),
    )
    .await;
    let refused = [
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/vnd.api+json",
        "application/problem+json",
        "application/json; charset=iso-8859-1",
        "application/json; charset=\"latin1\"",
        "application/json;charset=utf-16",
        "text/json",
        "text/plain",
        "application/x-www-form-urlencoded",
    ];
    let accepted = [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "APPLICATION/JSON; Charset=\"Utf-8\"",
    ];
    for endpoint in &endpoints {
        for content_type in refused {
            let answer = call(&app, endpoint, content_type).await;
            let what = format!("{} {} as {content_type}", endpoint.method, endpoint.path);
            assert_eq!(
                answer.status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{what}: {}",
                answer.body
            );
            if endpoint.path == "/graphql" {
                // GraphQL refusals keep GraphQL's shape, with REST's code.
                assert_eq!(
                    error_code(&answer),
                    Some("UNSUPPORTED_MEDIA_TYPE"),
                    "{what}"
                );
                assert_eq!(
                    answer.body["errors"][0]["extensions"]["details"]["accepted"],
                    json!(["application/json"]),
                    "{what}"
                );
            } else {
                assert_eq!(
                    answer.header("content-type"),
                    Some("application/problem+json"),
                    "{what}"
                );
                assert_eq!(answer.code(), "UNSUPPORTED_MEDIA_TYPE", "{what}");
                assert_eq!(
                    answer.body["details"]["content_type"], content_type,
                    "{what}"
                );
                assert_eq!(
                    answer.body["details"]["accepted"],
                    json!(["application/json"]),
                    "{what}"
                );
            }
        }
        for content_type in accepted {
            let answer = call(&app, endpoint, content_type).await;
            assert_eq!(
                answer.status, endpoint.ok,
                "{} {} as {content_type}: {}",
                endpoint.method, endpoint.path, answer.body
            );
        }
    }
    // Nothing refused changed the cart: one add per accepted media type, and the patches.
    let cart = app.get_cart(&key, None).await;
    assert_eq!(cart.body["items"][0]["quantity"], 2, "{}", cart.body);
    assert_eq!(
        cart.body["items"][1]["quantity"],
        accepted.len(),
        "{}",
        cart.body
    );
}
