//! The edges of HTTP: request targets too long to parse, media types and charsets of request
//! bodies, and answers without a body.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::graphql_helpers::error_code;
use crate::helpers::{TestApp, guest, spawn_app, token, token_with};

/// Sends `request` as raw bytes on a new connection and reads the whole answer (the server
/// closes the connection after it): status, lower-cased headers, body.
async fn raw_exchange(app: &TestApp, request: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    stream.write_all(request).await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8(answer[..split].to_vec()).expect("text");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    (status, headers, answer[split + 4..].to_vec())
}

#[tokio::test]
async fn a_request_target_too_long_to_parse_is_a_problem() {
    let app = spawn_app().await;
    let target = format!("/v1/cart/{}", "a".repeat(100 * 1024));
    let request = format!("GET {target} HTTP/1.1\r\nhost: cartd\r\n\r\n");
    let (status, headers, body) = raw_exchange(&app, request.as_bytes()).await;
    assert_eq!(status, 414);
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("content-type"), Some("application/problem+json"));
    assert_eq!(
        header("content-length"),
        Some(body.len().to_string().as_str())
    );
    let problem: Value = serde_json::from_slice(&body).expect("a JSON body");
    assert_eq!(problem["code"], "URI_TOO_LONG");
    assert_eq!(problem["status"], 414);
    assert_eq!(problem["details"]["max_bytes"], 65_534);
    assert_eq!(
        Some(problem["request_id"].as_str().expect("id")),
        header("x-request-id")
    );
    // The same request a little shorter is routed, and long lines elsewhere change nothing.
    let fits = format!(
        "GET /v1/cart/{} HTTP/1.1\r\nhost: cartd\r\nconnection: close\r\n\r\n",
        "a".repeat(60 * 1024)
    );
    let (status, _, body) = raw_exchange(&app, fits.as_bytes()).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let health = app.send(app.request(Method::GET, "/health")).await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test]
async fn no_content_answers_carry_no_content_type() {
    let app = spawn_app().await;
    let key = guest();
    let item = app.add_first_line(&key, "book").await;
    app.add_product(&key, "pen", 1).await;
    // Removing a line answers the cart.
    let removed = app
        .send(app.request(Method::DELETE, &format!("/v1/cart/{key}/items/{item}")))
        .await;
    assert_eq!(removed.status, StatusCode::OK);
    assert_eq!(removed.header("content-type"), Some("application/json"));
    assert_eq!(removed.body["item_count"], 1);
    // Clearing answers nothing: a cart, no cart, and a replay alike.
    let clear = |key: String| {
        app.request(Method::DELETE, &format!("/v1/cart/{key}"))
            .header("idempotency-key", "clear-1")
    };
    for request in [clear(key.clone()), clear(key.clone()), clear(guest())] {
        let response = request.send().await.expect("clear");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(
            response.headers().get("content-type").is_none(),
            "{:?}",
            response.headers()
        );
        assert!(response.bytes().await.expect("body").is_empty());
    }
}

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
    let item = app.add_first_line(&key, "book").await;
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
