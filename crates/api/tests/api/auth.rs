//! Identity: who may touch which cart, and which tokens are refused.

use reqwest::{Method, StatusCode};
use serde_json::json;
use time::OffsetDateTime;

use crate::helpers::{Options, SECRET, guest, signed, spawn_app, spawn_with, token, token_with};

fn now() -> u64 {
    OffsetDateTime::now_utc().unix_timestamp() as u64
}

/// `alg: none`: a header and claims with an empty signature.
fn unsigned(sub: &str) -> String {
    use base64::Engine;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    format!(
        "{}.{}.",
        encode(br#"{"alg":"none","typ":"JWT"}"#),
        encode(format!(r#"{{"sub":"{sub}","exp":{}}}"#, now() + 3600).as_bytes())
    )
}

#[tokio::test]
async fn me_needs_a_token_and_names_the_callers_own_cart() {
    let app = spawn_app().await;
    let anonymous = app.get_cart("me", None).await;
    assert_eq!(
        (anonymous.status, anonymous.code()),
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );
    assert!(
        anonymous
            .header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer"))
    );

    let alice = token("alice");
    let added = app
        .add(
            "me",
            json!({"product_id": "book", "quantity": 1}),
            Some(&alice),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED);
    assert_eq!(added.body["user_id"], "alice");
    assert_eq!(added.body["owner"], "user");
    let by_id = app.get_cart("alice", Some(&alice)).await;
    assert_eq!(by_id.body, app.get_cart("me", Some(&alice)).await.body);
}

#[tokio::test]
async fn a_user_cannot_touch_another_users_cart_but_an_admin_can() {
    let app = spawn_app().await;
    let alice = token("alice");
    app.add(
        "me",
        json!({"product_id": "book", "quantity": 1}),
        Some(&alice),
    )
    .await;
    let bob = token("bob");
    let read = app.get_cart("alice", Some(&bob)).await;
    assert_eq!(
        (read.status, read.code()),
        (StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    let write = app
        .add(
            "alice",
            json!({"product_id": "pen", "quantity": 1}),
            Some(&bob),
        )
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    let anonymous = app.get_cart("alice", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let admin = token_with("order-service", Some("orders:read cart:admin"));
    let served = app.get_cart("alice", Some(&admin)).await;
    assert_eq!(served.status, StatusCode::OK);
    let cleared = app
        .send(
            app.request(Method::DELETE, "/v1/cart/alice")
                .bearer_auth(&admin),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_cart("alice", Some(&alice)).await.body["item_count"],
        0
    );
    assert_eq!(
        app.get_cart("alice", Some(&bob)).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn bad_tokens_are_refused_everywhere_even_on_guest_carts() {
    let app = spawn_app().await;
    let key = guest();
    app.add_product(&key, "book", 1).await;
    let cases = [
        (
            "wrong secret",
            signed(
                json!({"sub": "alice", "exp": now() + 3600}),
                "another-secret-another-secret-0000",
            ),
        ),
        (
            "expired",
            signed(json!({"sub": "alice", "exp": now() - 3600}), SECRET),
        ),
        ("no exp", signed(json!({"sub": "alice"}), SECRET)),
        (
            "not yet valid",
            signed(
                json!({"sub": "alice", "exp": now() + 7200, "nbf": now() + 3600}),
                SECRET,
            ),
        ),
        (
            "guest subject",
            signed(json!({"sub": key, "exp": now() + 3600}), SECRET),
        ),
        ("alg none", unsigned("alice")),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (name, bad) in &cases {
        for path in ["me", "alice", key.as_str()] {
            let answer = app.get_cart(path, Some(bad)).await;
            assert_eq!(
                (answer.status, answer.code()),
                (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
                "{name} on {path}"
            );
        }
    }
    let malformed = app
        .send(
            app.request(Method::GET, "/v1/cart/me")
                .header("authorization", "Basic YWxpY2U6eA=="),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn without_a_secret_guests_work_and_user_carts_answer_401() {
    let app = spawn_with(Options {
        secret: None,
        ..Options::default()
    })
    .await;
    let key = guest();
    assert_eq!(
        app.add_product(&key, "book", 1).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.get_cart("me", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let with_token = app.get_cart("me", Some(&token("alice"))).await;
    assert_eq!(with_token.status, StatusCode::UNAUTHORIZED);
    let products = app.send(app.request(Method::GET, "/v1/products")).await;
    assert_eq!(products.status, StatusCode::OK);
}

/// `cart-devidp` cannot name the server's secret-length rule (it is this crate's dev-dependency),
/// so it keeps its own copy: this holds the two equal, so `cartd token` refuses exactly the
/// secrets `cartd serve` refuses.
#[test]
fn the_development_provider_signs_with_exactly_the_secrets_the_server_accepts() {
    use cart_api::identity::{AuthConfigError, MIN_SECRET_BYTES};
    use cart_api::{AuthConfig, Authenticator};
    use secrecy::SecretString;

    assert_eq!(cart_devidp::MIN_SECRET_BYTES, MIN_SECRET_BYTES);
    let claims = crate::helpers::claims_for("alice");
    let short = SecretString::from("s".repeat(MIN_SECRET_BYTES - 1));
    let server = Authenticator::new(&AuthConfig {
        hs256_secret: Some(short.clone()),
        ..AuthConfig::default()
    });
    assert_eq!(
        server.err(),
        Some(AuthConfigError::SecretTooShort(MIN_SECRET_BYTES - 1))
    );
    let minted = cart_devidp::mint_hs256(&short, &claims);
    assert!(matches!(
        minted,
        Err(cart_devidp::DevKeyError::SecretTooShort(n)) if n == MIN_SECRET_BYTES - 1
    ));
    let enough = SecretString::from("s".repeat(MIN_SECRET_BYTES));
    assert!(
        Authenticator::new(&AuthConfig {
            hs256_secret: Some(enough.clone()),
            ..AuthConfig::default()
        })
        .is_ok()
    );
    assert!(cart_devidp::mint_hs256(&enough, &claims).is_ok());
}
