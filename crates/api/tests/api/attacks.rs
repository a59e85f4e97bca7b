//! The attack table: each row is a real request against a server that trusts both an HS256
//! secret and a JWKS (RS256, ES256, ES384 and EdDSA keys), with an issuer and an app client id
//! configured, and each row answers the documented status and code. Then key rotation, a burst
//! of unknown `kid`s, and the provider going down.

use std::time::Duration;

use base64::Engine;
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use cart_api::identity::{Audience, Claims};
use cart_api::{AuthConfig, JwksConfig};
use cart_devidp::{KeyKind, SigningKey};

use crate::helpers::{
    FakeIdp, Options, SECRET, TestApp, claims_for, guest, new_key, signed, spawn_with, unix_now,
};

const ISSUER: &str = "https://idp.cartd.test/pool";
const CLIENT: &str = "storefront-web";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Claims this server accepts: right issuer, right client, valid for an hour.
fn good(sub: &str) -> Claims {
    Claims {
        iss: Some(ISSUER.into()),
        client_id: Some(CLIENT.into()),
        ..claims_for(sub)
    }
}

struct Keys {
    rsa_pem: String,
    rsa: SigningKey,
    rs384: SigningKey,
    rs512: SigningKey,
    ec: SigningKey,
    ec384: SigningKey,
    ed: SigningKey,
}

async fn server(jwks: JwksConfig) -> TestApp {
    spawn_with(Options {
        auth: AuthConfig {
            jwks: Some(jwks),
            issuer: Some(ISSUER.into()),
            client_id: Some(CLIENT.into()),
            ..AuthConfig::default()
        },
        ..Options::default()
    })
    .await
}

async fn setup() -> (TestApp, FakeIdp, Keys) {
    let rsa_pem = cart_devidp::generate_pem(KeyKind::Rs256).expect("generate");
    let keys = Keys {
        rsa: SigningKey::from_pem(rsa_pem.as_bytes()).expect("key"),
        rsa_pem,
        rs384: new_key(KeyKind::Rs256)
            .with_rsa_algorithm(jsonwebtoken::Algorithm::RS384)
            .expect("rs384"),
        rs512: new_key(KeyKind::Rs256)
            .with_rsa_algorithm(jsonwebtoken::Algorithm::RS512)
            .expect("rs512"),
        ec: new_key(KeyKind::Es256),
        ec384: new_key(KeyKind::Es384),
        ed: new_key(KeyKind::EdDsa),
    };
    let idp = FakeIdp::start(vec![
        keys.rsa.clone(),
        keys.rs384.clone(),
        keys.rs512.clone(),
        keys.ec.clone(),
        keys.ec384.clone(),
        keys.ed.clone(),
    ])
    .await;
    let app = server(idp.config()).await;
    (app, idp, keys)
}

/// A token whose header is `header` and whose claims are `claims`, HMAC-signed with `secret`.
fn hmac_token(header: Value, claims: &Claims, secret: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(&serde_json::to_vec(claims).expect("claims"))
    );
    let tag = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
        message.as_bytes(),
    );
    format!("{message}.{}", b64(tag.as_ref()))
}

/// The RSA key's public half as a PEM, what a key-confusion attacker uses as HMAC secret.
fn public_pem(private_pem: &str) -> Vec<u8> {
    use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
    use aws_lc_rs::signature::KeyPair;
    let der = pem::parse(private_pem).expect("pem");
    let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(der.contents()).expect("rsa key");
    let public: PublicKeyX509Der<'static> = pair.public_key().as_der().expect("der");
    pem::encode(&pem::Pem::new("PUBLIC KEY", public.as_ref().to_vec())).into_bytes()
}

struct Row {
    name: &'static str,
    method: Method,
    path: String,
    token: Option<String>,
    body: Option<Value>,
    expected: (StatusCode, &'static str),
}

#[tokio::test]
async fn every_attack_answers_its_documented_status_and_code() {
    let (app, _idp, keys) = setup().await;
    // Alice has a cart, so a wrongly accepted token would read it rather than 404.
    let alice = keys.rsa.sign(&good("alice")).expect("sign");
    let seeded = app
        .add(
            "me",
            json!({"product_id": "book", "quantity": 1}),
            Some(&alice),
        )
        .await;
    assert_eq!(seeded.status, StatusCode::CREATED, "{:?}", seeded.body);

    let other_rsa = new_key(KeyKind::Rs256);
    let now = unix_now();
    let with = |change: &dyn Fn(&mut Claims)| {
        let mut claims = good("alice");
        change(&mut claims);
        claims
    };
    let rsa_kid = keys.rsa.kid().to_owned();
    let unissued = guest();
    let tampered = {
        // Alice's valid token with the payload swapped for Bob's: the signature no longer fits.
        let parts: Vec<&str> = alice.split('.').collect();
        let bob = b64(&serde_json::to_vec(&good("bob")).expect("claims"));
        format!("{}.{bob}.{}", parts[0], parts[2])
    };
    let me = || "/v1/cart/me".to_owned();
    let rows = vec![
        Row {
            name: "alg none",
            method: Method::GET,
            path: me(),
            token: Some(format!(
                "{}.{}.",
                b64(br#"{"alg":"none","typ":"JWT"}"#),
                b64(&serde_json::to_vec(&good("alice")).expect("claims"))
            )),
            body: None,
            expected: (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        },
        Row {
            name: "HS256 signed with the RS256 public key, naming the RSA kid (key confusion)",
            method: Method::GET,
            path: me(),
            token: Some(hmac_token(
                json!({"alg": "HS256", "typ": "JWT", "kid": rsa_kid}),
                &good("alice"),
                &public_pem(&keys.rsa_pem),
            )),
            body: None,
            expected: (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        },
        Row {
            name: "HS256 signed with the RS256 public key, no kid (key confusion)",
            method: Method::GET,
            path: me(),
            token: Some(hmac_token(
                json!({"alg": "HS256", "typ": "JWT"}),
                &good("alice"),
                &public_pem(&keys.rsa_pem),
            )),
            body: None,
            expected: (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        },
        Row {
            name: "RS256 header on a token signed by another key under the published kid",
            method: Method::GET,
            path: me(),
            token: Some({
                let forged = other_rsa.sign(&good("alice")).expect("sign");
                // Re-head the forged token with the published key's kid.
                let parts: Vec<&str> = forged.split('.').collect();
                let header = b64(json!({"alg": "RS256", "typ": "JWT", "kid": rsa_kid})
                    .to_string()
                    .as_bytes());
                format!("{header}.{}.{}", parts[1], parts[2])
            }),
            body: None,
            expected: (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        },
        Row {
            name: "RS256 header on a key published for RS384 (algorithm from the key)",
            method: Method::GET,
            path: me(),
            token: Some({
                let as_rs256 = keys
                    .rs384
                    .clone()
                    .with_rsa_algorithm(jsonwebtoken::Algorithm::RS256)
                    .expect("rs256");
                as_rs256.sign(&good("alice")).expect("sign")
            }),
            body: None,
            expected: (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        },
        Row {
            name: "HS256 with the wrong secret",
            method: Method::GET,
            path: me(),
            token: Some(signed(
                serde_json::to_value(good("alice")).expect("claims"),
                "another-secret-0123456789abcdef-0123456789",
            )),
            body: None,
            expected: (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        },
        Row {
            name: "payload tampered after signing",
            method: Method::GET,
            path: "/v1/cart/bob".into(),
            token: Some(tampered),
            body: None,
            expected: (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        },
        Row {
            name: "expired (beyond the 30 s leeway)",
            method: Method::GET,
            path: me(),
            token: Some(keys.rsa.sign(&with(&|c| c.exp = now - 120)).expect("sign")),
            body: None,
            expected: (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        },
        Row {
            name: "nbf in the future",
            method: Method::GET,
            path: me(),
            token: Some(
                keys.rsa
                    .sign(&with(&|c| c.nbf = Some(now + 600)))
                    .expect("sign"),
            ),
            body: None,
            expected: (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        },
        Row {
            name: "wrong iss",
            method: Method::GET,
            path: me(),
            token: Some(
                keys.ec
                    .sign(&with(&|c| c.iss = Some("https://evil.test".into())))
                    .expect("sign"),
            ),
            body: None,
            expected: (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        },
        Row {
            name: "wrong client_id",
            method: Method::GET,
            path: me(),
            token: Some(
                keys.ed
                    .sign(&with(&|c| c.client_id = Some("other-app".into())))
                    .expect("sign"),
            ),
            body: None,
            expected: (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        },
        Row {
            name: "wrong aud and no client_id",
            method: Method::GET,
            path: me(),
            token: Some(
                keys.rsa
                    .sign(&with(&|c| {
                        c.client_id = None;
                        c.aud = Some(Audience::One("other-app".into()));
                    }))
                    .expect("sign"),
            ),
            body: None,
            expected: (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        },
        Row {
            name: "unknown kid",
            method: Method::GET,
            path: me(),
            token: Some(other_rsa.sign(&good("alice")).expect("sign")),
            body: None,
            expected: (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        },
        Row {
            name: "sub shaped like a guest id",
            method: Method::GET,
            path: me(),
            token: Some(keys.rsa.sign(&good(&guest())).expect("sign")),
            body: None,
            expected: (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        },
        Row {
            name: "user B's token on user A's cart",
            method: Method::GET,
            path: "/v1/cart/alice".into(),
            token: Some(keys.ec384.sign(&good("bob")).expect("sign")),
            body: None,
            expected: (StatusCode::FORBIDDEN, "FORBIDDEN"),
        },
        Row {
            name: "user B's token adding to user A's cart",
            method: Method::POST,
            path: "/v1/cart/alice/items".into(),
            token: Some(keys.ec.sign(&good("bob")).expect("sign")),
            body: Some(json!({"product_id": "pen", "quantity": 1})),
            expected: (StatusCode::FORBIDDEN, "FORBIDDEN"),
        },
        Row {
            name: "a guest id on the user-only merge route, with a token",
            method: Method::POST,
            path: format!("/v1/cart/{}/merge", guest()),
            token: Some(alice.clone()),
            body: Some(json!({"guest_id": guest()})),
            expected: (StatusCode::FORBIDDEN, "FORBIDDEN"),
        },
        Row {
            name: "a guest id on the user-only merge route, without a token",
            method: Method::POST,
            path: format!("/v1/cart/{}/merge", guest()),
            token: None,
            body: Some(json!({"guest_id": guest()})),
            expected: (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        },
        Row {
            name: "a syntactically valid but unissued guest id",
            method: Method::GET,
            path: format!("/v1/cart/{unissued}"),
            token: None,
            body: None,
            expected: (StatusCode::NOT_FOUND, "CART_NOT_FOUND"),
        },
        Row {
            name: "a guest id out of format",
            method: Method::GET,
            path: "/v1/cart/guest_not-a-ulid".into(),
            token: None,
            body: None,
            expected: (StatusCode::BAD_REQUEST, "INVALID_GUEST_ID"),
        },
        Row {
            name: "merging a user id as if it were a guest (self-merge)",
            method: Method::POST,
            path: "/v1/cart/me/merge".into(),
            token: Some(alice.clone()),
            body: Some(json!({"guest_id": "alice"})),
            expected: (StatusCode::BAD_REQUEST, "INVALID_GUEST_ID"),
        },
    ];

    for row in rows {
        let mut request = app.request(row.method.clone(), &row.path);
        if let Some(token) = &row.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = &row.body {
            request = request.json(body);
        }
        let answer = app.send(request).await;
        assert_eq!(
            (answer.status, answer.code()),
            row.expected,
            "row {:?}: {:?}",
            row.name,
            answer.body
        );
        if answer.status == StatusCode::UNAUTHORIZED {
            assert!(
                answer
                    .header("www-authenticate")
                    .is_some_and(|v| v.starts_with("Bearer")),
                "row {:?} lacks WWW-Authenticate",
                row.name
            );
        }
    }

    // Reading the unissued guest id created nothing.
    let key = cart_core::CartKey::parse(&unissued).expect("key");
    assert!(app.store.load_cart(&key).await.expect("load").is_none());
    assert!(app.events_of(&unissued).await.is_empty());
    // Alice's cart is as she left it: no row changed it.
    let cart = app.get_cart("me", Some(&alice)).await;
    assert_eq!(cart.body["version"], 1);
}

#[tokio::test]
async fn tokens_of_every_supported_algorithm_and_cognito_shapes_are_accepted() {
    let (app, _idp, keys) = setup().await;
    for (name, key) in [
        ("rs256", &keys.rsa),
        ("rs384", &keys.rs384),
        ("rs512", &keys.rs512),
        ("es256", &keys.ec),
        ("es384", &keys.ec384),
        ("eddsa", &keys.ed),
    ] {
        let token = key.sign(&good(name)).expect("sign");
        let added = app
            .add(
                "me",
                json!({"product_id": "book", "quantity": 1}),
                Some(&token),
            )
            .await;
        assert_eq!(
            added.status,
            StatusCode::CREATED,
            "{name}: {:?}",
            added.body
        );
        assert_eq!(added.body["user_id"], name);
    }
    // A Cognito ID token carries the app client in `aud` instead of `client_id`.
    let id_token = keys
        .rsa
        .sign(&Claims {
            client_id: None,
            aud: Some(Audience::Many(vec!["x".into(), CLIENT.into()])),
            ..good("carol")
        })
        .expect("sign");
    assert_eq!(
        app.get_cart("me", Some(&id_token)).await.code(),
        "CART_NOT_FOUND"
    );
    // The admin scope may come as a Cognito group: a service caller reads and clears any cart.
    let service = keys
        .rsa
        .sign(&Claims {
            groups: Some(vec!["cart:admin".into()]),
            ..good("order-service")
        })
        .expect("sign");
    let read = app.get_cart("rs256", Some(&service)).await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    let cleared = app
        .send(
            app.request(Method::DELETE, "/v1/cart/rs256")
                .bearer_auth(&service),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    let after = app.get_cart("rs256", Some(&service)).await;
    assert_eq!(after.body["item_count"], 0);
    // A group of another name grants nothing.
    let plain = keys
        .rsa
        .sign(&Claims {
            groups: Some(vec!["cart-viewers".into()]),
            ..good("dave")
        })
        .expect("sign");
    assert_eq!(
        app.get_cart("rs256", Some(&plain)).await.status,
        StatusCode::FORBIDDEN
    );
    // Clock skew within CARTD_JWT_LEEWAY (30 s by default) is tolerated on exp and nbf.
    let now = unix_now();
    let skewed = keys
        .rsa
        .sign(&Claims {
            exp: now - 10,
            nbf: Some(now + 10),
            ..good("frank")
        })
        .expect("sign");
    assert_eq!(
        app.get_cart("me", Some(&skewed)).await.code(),
        "CART_NOT_FOUND"
    );
    // The HS256 development secret still works next to the JWKS (tokens without a kid).
    let dev = signed(serde_json::to_value(good("erin")).expect("claims"), SECRET);
    assert_eq!(
        app.get_cart("me", Some(&dev)).await.code(),
        "CART_NOT_FOUND"
    );
}

#[tokio::test]
async fn a_burst_of_unknown_kids_fetches_the_jwks_at_most_once_per_interval() {
    let (app, idp, keys) = setup().await;
    let token = keys.rsa.sign(&good("alice")).expect("sign");
    assert_eq!(
        app.get_cart("me", Some(&token)).await.code(),
        "CART_NOT_FOUND"
    );
    let before = idp.fetches();
    assert_eq!(before, 1, "the first token fetched the JWKS once");

    let forgers: Vec<SigningKey> = (0..4).map(|_| new_key(KeyKind::Es256)).collect();
    let tokens: Vec<String> = (0..1000)
        .map(|i| {
            forgers[i % forgers.len()]
                .sign(&good("alice"))
                .expect("sign")
        })
        .collect();
    let statuses: Vec<StatusCode> = futures::stream::iter(tokens)
        .map(|token| {
            let request = app.request(Method::GET, "/v1/cart/me").bearer_auth(token);
            async move { request.send().await.expect("request").status() }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED));
    // The default minimum interval is 30 s and the burst is far shorter: at most one fetch.
    assert!(
        idp.fetches() - before <= 1,
        "{} fetches for 1,000 unknown kids",
        idp.fetches() - before
    );
}

#[tokio::test]
async fn a_rotated_key_is_accepted_without_restart_and_a_removed_one_refused_after_refresh() {
    let old = new_key(KeyKind::Rs256);
    let idp = FakeIdp::start(vec![old.clone()]).await;
    let app = server(JwksConfig {
        refresh_interval: Duration::from_millis(400),
        min_refresh_interval: Duration::from_millis(100),
        ..idp.config()
    })
    .await;
    let old_token = old.sign(&good("alice")).expect("sign");
    assert_eq!(
        app.get_cart("me", Some(&old_token)).await.code(),
        "CART_NOT_FOUND"
    );

    // The provider publishes a new key next to the old one; a token of the new key names an
    // unknown kid, which refreshes the set.
    let new = new_key(KeyKind::Es256);
    idp.publish(vec![old.clone(), new.clone()]);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let new_token = new.sign(&good("alice")).expect("sign");
    assert_eq!(
        app.get_cart("me", Some(&new_token)).await.code(),
        "CART_NOT_FOUND"
    );

    // The old key is withdrawn: accepted until the cached set is older than the refresh
    // interval, refused after.
    idp.publish(vec![new.clone()]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = app.get_cart("me", Some(&old_token)).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );
    assert_eq!(
        app.get_cart("me", Some(&new_token)).await.code(),
        "CART_NOT_FOUND"
    );
}

#[tokio::test]
async fn while_the_provider_is_down_keys_are_served_stale_for_a_bounded_time() {
    let key = new_key(KeyKind::EdDsa);
    let idp = FakeIdp::start(vec![key.clone()]).await;
    let app = server(JwksConfig {
        refresh_interval: Duration::from_millis(200),
        min_refresh_interval: Duration::from_millis(50),
        max_stale: Duration::from_millis(1500),
        ..idp.config()
    })
    .await;
    let token = key.sign(&good("alice")).expect("sign");
    assert_eq!(
        app.get_cart("me", Some(&token)).await.code(),
        "CART_NOT_FOUND"
    );

    idp.set_up(false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Older than the refresh interval, the refresh fails, the last good keys still serve.
    let stale = app.get_cart("me", Some(&token)).await;
    assert_eq!(stale.code(), "CART_NOT_FOUND", "{:?}", stale.body);
    let fetches_while_down = idp.fetches();
    assert!(fetches_while_down >= 2, "a refresh was attempted");

    // Past the maximum staleness the provider, not the token, is at fault: 503.
    tokio::time::sleep(Duration::from_millis(1400)).await;
    let unavailable = app.get_cart("me", Some(&token)).await;
    assert_eq!(
        (unavailable.status, unavailable.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE")
    );
    // Guests are not affected.
    assert_eq!(app.get_cart(&guest(), None).await.code(), "CART_NOT_FOUND");

    idp.set_up(true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        app.get_cart("me", Some(&token)).await.code(),
        "CART_NOT_FOUND"
    );
}
