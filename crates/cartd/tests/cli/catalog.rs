//! A remote catalog (`CARTD_CATALOG`) end to end: `cartd serve` reading a bookstore's catalog
//! service (a real HTTP server in this test, with its own field names) that answers, fails,
//! hangs and recovers, behind cartd's retries, cache and circuit breaker.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::harness::{NO_RELAY, Server, admin_token, guest, temp_db};

const MIDDLEMARCH: &str = "9780141439549";
const EMMA: &str = "9780141439587";
const PERSUASION: &str = "9780141439686";

/// How the stub answers.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
    Serve = 0,
    Fail = 1,
    Hang = 2,
    /// Fails the next request with 503, then serves.
    FailOnce = 3,
}

/// The bookstore's catalog service: `GET /books/{isbn}`.
#[derive(Default)]
struct Bookstore {
    mode: AtomicU8,
    requests: AtomicUsize,
}

impl Bookstore {
    fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn book(State(store): State<Arc<Bookstore>>, Path(isbn): Path<String>) -> Response {
    store.requests.fetch_add(1, Ordering::SeqCst);
    match store.mode.load(Ordering::SeqCst) {
        1 => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        2 => tokio::time::sleep(Duration::from_secs(30)).await,
        3 => {
            store.set(Mode::Serve);
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        _ => {}
    }
    let (title, price) = match isbn.as_str() {
        MIDDLEMARCH => ("Middlemarch", "12.99"),
        EMMA => ("Emma", "8.50"),
        PERSUASION => ("Persuasion", "7.25"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    axum::Json(json!({"isbn": isbn, "title": title, "price": price, "in_print": true}))
        .into_response()
}

async fn bookstore() -> (Arc<Bookstore>, String) {
    let store = Arc::new(Bookstore::default());
    let app = axum::Router::new()
        .route("/books/{isbn}", axum::routing::get(book))
        .with_state(store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (store, format!("http://{address}/books/{{id}}"))
}

struct Shop {
    server: Server,
    client: reqwest::Client,
    cart: String,
}

impl Shop {
    async fn add(&self, isbn: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/cart/{}/items", self.server.base, self.cart))
            .json(&json!({"product_id": isbn, "quantity": 1}))
            .send()
            .await
            .expect("add")
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.server.base))
            .send()
            .await
            .expect("get");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn catalog_check(&self) -> String {
        let (status, ready) = self.get("/ready").await;
        assert_eq!(
            status, 200,
            "a catalog outage never makes the replica unready: {ready}"
        );
        ready["checks"]["catalog"]["status"]
            .as_str()
            .expect("a catalog check")
            .to_owned()
    }
}

#[tokio::test]
async fn a_remote_catalog_is_read_through_its_field_map_and_outages_are_contained() {
    let (bookstore, template) = bookstore().await;
    let (_dir, db) = temp_db();
    let server = Server::start(
        &db,
        &[
            ("CARTD_CATALOG", template.as_str()),
            (
                "CARTD_CATALOG_FIELDS",
                "id=isbn, name=title, unit_price=price*100, currency='EUR', active=in_print",
            ),
            ("CARTD_CATALOG_CACHE_TTL", "0s"),
            ("CARTD_CATALOG_TIMEOUT", "300ms"),
            ("CARTD_CATALOG_RETRIES", "1"),
            ("CARTD_CATALOG_BREAKER_FAILURES", "2"),
            ("CARTD_CATALOG_BREAKER_COOLDOWN", "1s"),
            NO_RELAY,
        ],
    )
    .await;
    let shop = Shop {
        server,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client"),
        cart: guest(7),
    };

    // Served: products come from the bookstore, in cartd's shape.
    let (status, product) = shop.get(&format!("/v1/products/{MIDDLEMARCH}")).await;
    assert_eq!(status, 200, "{product}");
    assert_eq!(
        (
            &product["name"],
            &product["unit_price"],
            &product["currency"]
        ),
        (&json!("Middlemarch"), &json!(1299), &json!("EUR"))
    );
    let (status, missing) = shop.get("/v1/products/9780000000000").await;
    assert_eq!(
        (status, &missing["code"]),
        (404, &json!("PRODUCT_NOT_FOUND"))
    );
    let added = shop.add(MIDDLEMARCH).await;
    assert_eq!(added.status(), 201);
    assert_eq!(shop.catalog_check().await, "ok");

    // Listing and changing products is the catalog service's business.
    let (status, listed) = shop.get("/v1/products").await;
    assert_eq!((status, &listed["code"]), (409, &json!("CATALOG_REMOTE")));
    let put = shop
        .client
        .put(format!("{}/v1/products/{EMMA}", shop.server.base))
        .bearer_auth(admin_token())
        .json(&json!({"name": "Emma", "unit_price": 850, "currency": "EUR"}))
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 409);

    // A failure the retry absorbs: two requests, one answer.
    bookstore.set(Mode::FailOnce);
    let before = bookstore.requests();
    let (status, _) = shop.get(&format!("/v1/products/{PERSUASION}")).await;
    assert_eq!(status, 200);
    assert_eq!(bookstore.requests() - before, 2, "retried once");

    // Failing: a product read before is served from what cartd kept…
    bookstore.set(Mode::Fail);
    let again = shop.add(MIDDLEMARCH).await;
    assert_eq!(again.status(), 201, "the stale copy serves");
    // …one never read is refused, and the second failed lookup opens the breaker.
    let refused = shop.add(EMMA).await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let problem: Value = refused.json().await.expect("problem");
    assert_eq!(problem["code"], "CATALOG_UNAVAILABLE");
    assert_eq!(shop.catalog_check().await, "degraded");
    // While open nothing is sent, and the cart is still read from its stored prices.
    let sent = bookstore.requests();
    assert_eq!(shop.add(EMMA).await.status(), 503);
    let (status, cart) = shop.get(&format!("/v1/cart/{}", shop.cart)).await;
    assert_eq!(status, 200, "{cart}");
    assert_eq!(cart["items"][0]["quantity"], 2);
    assert_eq!(cart["items"][0]["unit_price"], 1299);
    assert_eq!(bookstore.requests(), sent, "an open breaker sends nothing");

    // Hanging (for longer than this client waits): the half-open probe is cut by cartd's
    // timeout and answered, and the breaker opens again.
    bookstore.set(Mode::Hang);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(shop.add(EMMA).await.status(), 503);
    assert!(bookstore.requests() > sent, "the probe went out");
    assert_eq!(shop.catalog_check().await, "degraded");

    // Recovered: after the cooldown a probe succeeds and closes the breaker.
    bookstore.set(Mode::Serve);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = shop.add(EMMA).await;
        if response.status() == 201 {
            break;
        }
        assert_eq!(response.status(), 503);
        assert!(Instant::now() < deadline, "the catalog never came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(shop.catalog_check().await, "ok");
}
