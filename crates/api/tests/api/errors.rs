//! The bad-input table: every row is a real request that must get its documented 4xx and code,
//! and must leave the cart exactly as it was. No row may produce a 5xx.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{SECRET, guest, signed, spawn_app, token};

struct Row {
    name: &'static str,
    method: Method,
    /// Relative to the cart: "" for the cart itself, "/items", "/items/{item}" …
    path: String,
    /// Replaces the whole path when set (for malformed cart keys).
    absolute: Option<String>,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    bearer: Option<String>,
    status: StatusCode,
    code: &'static str,
}

fn row(name: &'static str, path: &str, body: &str, status: StatusCode, code: &'static str) -> Row {
    Row {
        name,
        method: Method::POST,
        path: path.to_owned(),
        absolute: None,
        content_type: Some("application/json"),
        body: body.as_bytes().to_vec(),
        bearer: None,
        status,
        code,
    }
}

fn add(name: &'static str, body: &str, status: StatusCode, code: &'static str) -> Row {
    row(name, "/items", body, status, code)
}

const BAD: StatusCode = StatusCode::BAD_REQUEST;

#[tokio::test]
async fn bad_input_gets_a_documented_4xx_and_changes_nothing() {
    let app = spawn_app().await;
    let key = guest();
    let alice = token("alice");
    app.add(
        "me",
        json!({"product_id": "book", "quantity": 1}),
        Some(&alice),
    )
    .await;
    let first = app.add_product(&key, "book", 2).await;
    let item = first.body["items"][0]["item_id"]
        .as_str()
        .expect("item")
        .to_owned();
    let before = app.get_cart(&key, None).await.body;
    let alice_before = app.get_cart("me", Some(&alice)).await.body;
    let outbox_before = app.events_of(&key).await.len();

    let expired = signed(json!({"sub": "alice", "exp": 1_000_000}), SECRET);
    let forged = {
        let good = token("alice");
        let (head, _) = good.rsplit_once('.').expect("jwt");
        format!("{head}.c2lnbmF0dXJlLWZvcmdlZA")
    };
    let huge = format!(
        r#"{{"product_id":"book","quantity":1,"pad":"{}"}}"#,
        "x".repeat(1 << 20)
    );

    let mut rows = vec![
        add(
            "malformed JSON",
            r#"{"product_id": "book", "quantity": }"#,
            BAD,
            "VALIDATION_ERROR",
        ),
        add("empty body", "", BAD, "VALIDATION_ERROR"),
        add("JSON array", "[1,2]", BAD, "VALIDATION_ERROR"),
        add(
            "quantity as string",
            r#"{"product_id":"book","quantity":"2"}"#,
            BAD,
            "INVALID_QUANTITY",
        ),
        add(
            "fractional quantity",
            r#"{"product_id":"book","quantity":2.5}"#,
            BAD,
            "INVALID_QUANTITY",
        ),
        add(
            "negative quantity",
            r#"{"product_id":"book","quantity":-1}"#,
            BAD,
            "INVALID_QUANTITY",
        ),
        add(
            "zero quantity",
            r#"{"product_id":"book","quantity":0}"#,
            BAD,
            "INVALID_QUANTITY",
        ),
        add(
            "null quantity",
            r#"{"product_id":"book","quantity":null}"#,
            BAD,
            "INVALID_QUANTITY",
        ),
        add(
            "2^63 quantity",
            r#"{"product_id":"book","quantity":9223372036854775808}"#,
            BAD,
            "QUANTITY_LIMIT_EXCEEDED",
        ),
        add(
            "quantity over u64",
            r#"{"product_id":"book","quantity":1e400}"#,
            BAD,
            "VALIDATION_ERROR",
        ),
        add(
            "quantity 100",
            r#"{"product_id":"book","quantity":100}"#,
            BAD,
            "QUANTITY_LIMIT_EXCEEDED",
        ),
        add(
            "quantity 100 of an unknown product",
            r#"{"product_id":"no-such-book","quantity":100}"#,
            BAD,
            "QUANTITY_LIMIT_EXCEEDED",
        ),
        add(
            "missing product",
            r#"{"quantity":1}"#,
            BAD,
            "VALIDATION_ERROR",
        ),
        add(
            "product id with spaces",
            r#"{"product_id":"a book","quantity":1}"#,
            BAD,
            "VALIDATION_ERROR",
        ),
        add(
            "unicode product id",
            r#"{"product_id":"livre-\u00e9t\u00e9-\ud83d\udcda","quantity":1}"#,
            BAD,
            "VALIDATION_ERROR",
        ),
        add(
            "1000-char product id",
            &format!(r#"{{"product_id":"{}","quantity":1}}"#, "p".repeat(1000)),
            BAD,
            "VALIDATION_ERROR",
        ),
        add(
            "product id as number",
            r#"{"product_id":42,"quantity":1}"#,
            BAD,
            "VALIDATION_ERROR",
        ),
        add(
            "unknown field",
            r#"{"product_id":"book","quantity":1,"discount":100}"#,
            BAD,
            "VALIDATION_ERROR",
        ),
        add(
            "negative asserted price",
            r#"{"product_id":"book","quantity":1,"unit_price":-5}"#,
            BAD,
            "VALIDATION_ERROR",
        ),
        add(
            "bad variant",
            r#"{"product_id":"book","quantity":1,"variant_id":"x y"}"#,
            BAD,
            "VALIDATION_ERROR",
        ),
        add(
            "1 MiB body",
            &huge,
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        ),
        Row {
            content_type: Some("text/plain"),
            ..add(
                "wrong content type",
                r#"{"product_id":"book","quantity":1}"#,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
            )
        },
        Row {
            content_type: None,
            ..add(
                "no content type",
                r#"{"product_id":"book","quantity":1}"#,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
            )
        },
        Row {
            method: Method::PATCH,
            ..row(
                "patch quantity string",
                &format!("/items/{item}"),
                r#"{"quantity":"3"}"#,
                BAD,
                "INVALID_QUANTITY",
            )
        },
        Row {
            method: Method::PATCH,
            ..row(
                "patch quantity zero",
                &format!("/items/{item}"),
                r#"{"quantity":0}"#,
                BAD,
                "INVALID_QUANTITY",
            )
        },
        Row {
            method: Method::PATCH,
            ..row(
                "patch over limit",
                &format!("/items/{item}"),
                r#"{"quantity":500}"#,
                BAD,
                "QUANTITY_LIMIT_EXCEEDED",
            )
        },
        Row {
            method: Method::PATCH,
            ..row(
                "patch version as string",
                &format!("/items/{item}"),
                r#"{"quantity":3,"version":"1"}"#,
                BAD,
                "VALIDATION_ERROR",
            )
        },
        Row {
            method: Method::PATCH,
            ..row(
                "patch item id not a UUID",
                "/items/not-a-uuid",
                r#"{"quantity":3}"#,
                BAD,
                "VALIDATION_ERROR",
            )
        },
        Row {
            method: Method::DELETE,
            ..row(
                "delete item id not a UUID",
                "/items/42",
                "",
                BAD,
                "VALIDATION_ERROR",
            )
        },
        Row {
            method: Method::PATCH,
            ..row(
                "patch unknown item",
                &format!("/items/{}", uuid::Uuid::new_v4()),
                r#"{"quantity":3}"#,
                StatusCode::NOT_FOUND,
                "ITEM_NOT_FOUND",
            )
        },
        Row {
            bearer: Some(forged.clone()),
            ..add(
                "forged token on a guest cart",
                r#"{"product_id":"book","quantity":1}"#,
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
            )
        },
        Row {
            bearer: Some("abc".into()),
            ..add(
                "garbage token",
                r#"{"product_id":"book","quantity":1}"#,
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
            )
        },
        Row {
            bearer: Some(expired.clone()),
            absolute: Some("/v1/cart/me/items".into()),
            ..add(
                "expired token",
                r#"{"product_id":"book","quantity":1}"#,
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
            )
        },
        Row {
            bearer: Some(forged),
            absolute: Some("/v1/cart/alice/items".into()),
            ..add(
                "forged token on a user cart",
                r#"{"product_id":"book","quantity":1}"#,
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
            )
        },
        Row {
            bearer: Some(token("mallory")),
            absolute: Some("/v1/cart/alice/items".into()),
            ..add(
                "another user's cart",
                r#"{"product_id":"book","quantity":1}"#,
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
            )
        },
        Row {
            absolute: Some("/v1/cart/alice/items".into()),
            ..add(
                "user cart without a token",
                r#"{"product_id":"book","quantity":1}"#,
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
            )
        },
    ];
    for (name, bad_key) in [
        ("lower-case guest id", key.to_lowercase()),
        ("short guest id", "guest_01ABC".to_owned()),
        ("guest id with I", format!("{}I", &key[..key.len() - 1])),
        ("guest id too long", format!("{key}0")),
        ("bare guest prefix", "guest_".to_owned()),
    ] {
        rows.push(Row {
            absolute: Some(format!("/v1/cart/{bad_key}/items")),
            ..add(
                name,
                r#"{"product_id":"book","quantity":1}"#,
                BAD,
                "INVALID_GUEST_ID",
            )
        });
    }
    for (name, path) in [
        ("unicode cart key", "/v1/cart/caf%C3%A9/items"),
        ("cart key with a space", "/v1/cart/a%20b/items"),
    ] {
        rows.push(Row {
            absolute: Some(path.to_owned()),
            ..add(
                name,
                r#"{"product_id":"book","quantity":1}"#,
                BAD,
                "VALIDATION_ERROR",
            )
        });
    }

    for row in rows {
        let path = row
            .absolute
            .clone()
            .unwrap_or_else(|| format!("/v1/cart/{key}{}", row.path));
        let mut request = app
            .request(row.method.clone(), &path)
            .body(row.body.clone());
        if let Some(content_type) = row.content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(bearer) = &row.bearer {
            request = request.bearer_auth(bearer);
        }
        let answer = app.send(request).await;
        assert!(
            !answer.status.is_server_error(),
            "{}: {:?}",
            row.name,
            answer.body
        );
        assert_eq!(
            (answer.status, answer.code()),
            (row.status, row.code),
            "{}: {}",
            row.name,
            answer.body
        );
        assert_eq!(
            answer.header("content-type"),
            Some("application/problem+json"),
            "{}",
            row.name
        );
        assert_eq!(answer.body["status"], row.status.as_u16(), "{}", row.name);
        assert!(
            answer.body["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        );
        assert_eq!(
            answer.body["instance"],
            path.split('?').next().unwrap_or_default(),
            "{}",
            row.name
        );
    }

    assert_eq!(
        app.get_cart(&key, None).await.body,
        before,
        "the guest cart is unchanged"
    );
    assert_eq!(app.get_cart("me", Some(&alice)).await.body, alice_before);
    assert_eq!(
        app.events_of(&key).await.len(),
        outbox_before,
        "no events written"
    );
}
