//! The OpenAPI document against the server, so the two cannot drift: every status a request
//! gets is documented for its operation, every documented status is one some request gets (or
//! is listed below with the test that produces it), and every documented string format accepts
//! exactly what the server's parsers accept, checked as a generated client would check it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

use cart_api::Caller;
use cart_api::commands::REST;
use cart_api::problem::Code;
use cart_core::{GuestId, ProductId, UserId, VariantId};

use crate::helpers::{Options, TestApp, guest, spawn_app, spawn_with, token, token_with};

/// One request and the status it must get.
struct Case {
    name: &'static str,
    method: Method,
    /// The operation's path in the document.
    template: &'static str,
    /// The path (and query) sent.
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<(&'static str, Vec<u8>)>,
    status: u16,
}

fn case(name: &'static str, method: Method, template: &'static str, path: String) -> Case {
    Case {
        name,
        method,
        template,
        path,
        headers: Vec::new(),
        body: None,
        status: 0,
    }
}

impl Case {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    fn json(mut self, body: Value) -> Self {
        self.body = Some(("application/json", body.to_string().into_bytes()));
        self
    }

    fn raw(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some((content_type, body.into()));
        self
    }

    fn gets(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

/// The served document's operations: (method, path) → documented statuses.
/// Every documented operation a limit applies to (all but the probes): its method, its
/// template, and a path to call it on (a fresh guest, an unknown item, a known product).
async fn limited_operations(app: &TestApp, unknown_item: &str) -> Vec<(Method, String, String)> {
    documented(app)
        .await
        .into_keys()
        .filter(|(_, template)| !matches!(template.as_str(), "/health" | "/ready" | "/metrics"))
        .map(|(method, template)| {
            let path = template
                .replace("{cartKey}", &guest())
                .replace("{itemID}", unknown_item)
                .replace("{id}", "book");
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            (method, template, path)
        })
        .collect()
}

async fn documented(app: &TestApp) -> BTreeMap<(String, String), BTreeSet<u16>> {
    let document = app
        .send(app.request(Method::GET, "/openapi.json"))
        .await
        .body;
    let mut operations = BTreeMap::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let statuses = operation["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .map(|status| status.parse().expect("a numeric status"))
                .collect();
            operations.insert((method.to_uppercase(), path.clone()), statuses);
        }
    }
    operations
}

/// Sends `case` and checks its status and, for an error, its problem+json body; returns
/// (method, template, status).
async fn run(app: &TestApp, case: &Case) -> (String, String, u16) {
    let mut request = app.request(case.method.clone(), &case.path);
    for (name, value) in &case.headers {
        request = request.header(*name, value.as_str());
    }
    if let Some((content_type, body)) = &case.body {
        request = request
            .header("content-type", *content_type)
            .body(body.clone());
    }
    let answer = app.send(request).await;
    assert_eq!(
        answer.status.as_u16(),
        case.status,
        "{}: {} {}: {}",
        case.name,
        case.method,
        case.path,
        answer.body
    );
    if answer.status.is_client_error() || answer.status.is_server_error() {
        assert_eq!(
            answer.header("content-type"),
            Some("application/problem+json"),
            "{}",
            case.name
        );
        assert!(!answer.code().is_empty(), "{}: a code", case.name);
    }
    (
        case.method.to_string(),
        case.template.to_owned(),
        case.status,
    )
}

const CART: &str = "/v1/cart/{cartKey}";
const ITEMS: &str = "/v1/cart/{cartKey}/items";
const ITEM: &str = "/v1/cart/{cartKey}/items/{itemID}";
const MERGE: &str = "/v1/cart/{cartKey}/merge";
const PRODUCTS: &str = "/v1/products";
const PRODUCT: &str = "/v1/products/{id}";
const GUESTS: &str = "/v1/guests";
const TAX_RATES: &str = "/v1/tax-rates";
const TAX_RATE: &str = "/v1/tax-rates/{region}";
const SHIPPING_RATES: &str = "/v1/shipping-rates";
const SHIPPING_RATE: &str = "/v1/shipping-rates/{region}";
const CODES: &str = "/v1/cart/{cartKey}/discount-codes";
const CODE: &str = "/v1/cart/{cartKey}/discount-codes/{code}";
const REPRICE: &str = "/v1/cart/{cartKey}/reprice";
const TOTALS: &str = "/v1/cart/{cartKey}/totals";
const CALCULATE: &str = "/v1/pricing/calculate";
const PROMOTIONS: &str = "/v1/promotions";
const PROMOTION: &str = "/v1/promotions/{code}";
const CHECKOUT: &str = "/v1/cart/{cartKey}/checkout";
const ORDERS: &str = "/v1/orders";
const ORDER: &str = "/v1/orders/{id}";
const CANCEL: &str = "/v1/orders/{id}/cancel";
const WEBHOOK: &str = "/v1/payments/webhook";
const DEAD_LETTERS: &str = "/v1/admin/dead-letters";
const RETRY: &str = "/v1/admin/dead-letters/{id}/retry";
const FLAGS: &str = "/v1/admin/flags";

/// Gives the cart under `key` (`auth` for a user cart) a book and the region US-CA; answers its
/// quote token.
async fn ready_for_checkout(app: &TestApp, key: &str, auth: Option<&str>) -> String {
    let with = |request: reqwest::RequestBuilder| match auth {
        Some(auth) => request.bearer_auth(auth),
        None => request,
    };
    app.add(key, json!({"product_id": "book", "quantity": 1}), auth)
        .await;
    let region = app
        .send(
            with(app.request(Method::PATCH, &format!("/v1/cart/{key}")))
                .json(&json!({"region": "US-CA"})),
        )
        .await;
    assert_eq!(region.status.as_u16(), 200, "{}", region.body);
    let totals = app
        .send(with(
            app.request(Method::GET, &format!("/v1/cart/{key}/totals")),
        ))
        .await;
    totals.body["quote_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

fn checkout_body(quote_token: &str) -> Value {
    let address = json!({"name": "Zoë", "line1": "1 Market St", "city": "San Francisco",
                         "postal_code": "94105", "country": "US"});
    json!({"quote_token": quote_token, "email": "zoe@example.com",
           "shipping_address": address.clone(), "billing_address": address})
}

/// Places an order from a ready cart under `key`; answers the checkout's body.
async fn place_order(app: &TestApp, key: &str, auth: Option<&str>) -> Value {
    let quote_token = ready_for_checkout(app, key, auth).await;
    let mut request = app
        .request(Method::POST, &format!("/v1/cart/{key}/checkout"))
        .header("idempotency-key", "place")
        .json(&checkout_body(&quote_token));
    if let Some(auth) = auth {
        request = request.bearer_auth(auth);
    }
    let placed = app.send(request).await;
    assert_eq!(placed.status.as_u16(), 201, "{}", placed.body);
    placed.body
}

/// A provider event about the order of `placed`, signed now.
fn signed_event(app: &TestApp, placed: &Value, id: &str, amount_delta: i64) -> (String, String) {
    let payment = &placed["payment"];
    let body = json!({"id": id, "type": "payment_intent.succeeded",
        "data": {"object": {"id": payment["intent_id"], "currency": payment["currency"],
                            "amount": payment["amount"].as_i64().expect("amount") + amount_delta}}})
    .to_string();
    let now = cart_core::Clock::now(app.clock.as_ref()).unix_timestamp();
    let signature = cart_api::payments::sign(
        crate::helpers::WEBHOOK_SECRET.as_bytes(),
        now,
        body.as_bytes(),
    );
    (body, signature)
}

/// Every documented answer of checkout, the order routes, the webhook and the dead letters,
/// on orders placed for them first.
async fn order_cases(app: &TestApp, admin: &str, big: &str) -> Vec<Case> {
    // A buyer of her own: the other cases keep alice's and carol's carts unlocked.
    let dora = token("dora");
    let alice = dora.as_str();
    let (get, post, patch) = (Method::GET, Method::POST, Method::PATCH);
    let shopper = guest();
    let quote_token = ready_for_checkout(app, &shopper, None).await;
    let no_region = guest();
    app.add_product(&no_region, "book", 1).await;
    let no_region_token = app
        .send(app.request(Method::GET, &format!("/v1/cart/{no_region}/totals")))
        .await
        .body["quote_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let pending_guest = guest();
    let pending = place_order(app, &pending_guest, None).await;
    let hers = place_order(app, "me", Some(alice)).await;
    let paid = place_order(app, &guest(), None).await;
    let failed = place_order(app, &guest(), None).await;
    for (placed, event) in [(&paid, "evt_paid"), (&failed, "evt_failed")] {
        let (body, signature) = signed_event(app, placed, event, 0);
        let answer = app
            .send(
                app.request(Method::POST, WEBHOOK)
                    .header("payment-signature", signature)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        assert_eq!(answer.body["status"], "paid", "{}", answer.body);
    }
    let id = |placed: &Value| placed["order"]["id"].as_str().expect("id").to_owned();
    let moved = app
        .send(
            app.request(Method::PATCH, &format!("/v1/orders/{}", id(&failed)))
                .bearer_auth(admin)
                .json(&json!({"status": "failed", "reason": "warehouse lost it"})),
        )
        .await;
    assert_eq!(moved.body["status"], "failed", "{}", moved.body);
    let (pending_id, her_id, paid_id, failed_id) =
        (id(&pending), id(&hers), id(&paid), id(&failed));
    let nobody = uuid::Uuid::new_v4().to_string();
    let order = |id: &str| format!("/v1/orders/{id}");
    let cancel = |id: &str| format!("/v1/orders/{id}/cancel");
    let retry = |id: &str| format!("/v1/admin/dead-letters/{id}/retry");
    let checkout = |key: &str| format!("/v1/cart/{key}/checkout");
    let (good_event, good_signature) = signed_event(app, &hers, "evt_hers", 0);
    let (cheap_event, cheap_signature) = signed_event(app, &pending, "evt_cheap", -1);
    let unknown = json!({"id": "evt_unknown", "type": "payment_intent.succeeded",
        "data": {"object": {"id": format!("pi_{}", uuid::Uuid::new_v4().simple()), "amount": 1, "currency": "usd"}}})
    .to_string();
    let now = cart_core::Clock::now(app.clock.as_ref()).unix_timestamp();
    let unknown_signature = cart_api::payments::sign(
        crate::helpers::WEBHOOK_SECRET.as_bytes(),
        now,
        unknown.as_bytes(),
    );
    vec![
        // POST /v1/cart/{cartKey}/checkout
        case(
            "a checkout without a key",
            post.clone(),
            CHECKOUT,
            checkout(&shopper),
        )
        .json(checkout_body(&quote_token))
        .gets(400),
        case(
            "a checkout of me without a token",
            post.clone(),
            CHECKOUT,
            checkout("me"),
        )
        .header("idempotency-key", "k")
        .json(checkout_body(&quote_token))
        .gets(401),
        case(
            "a checkout of another user's cart",
            post.clone(),
            CHECKOUT,
            checkout("bob"),
        )
        .bearer(alice)
        .header("idempotency-key", "k")
        .json(checkout_body(&quote_token))
        .gets(403),
        case(
            "a checkout of no cart",
            post.clone(),
            CHECKOUT,
            checkout(&guest()),
        )
        .header("idempotency-key", "k")
        .json(checkout_body(&quote_token))
        .gets(404),
        case(
            "a checkout at a stale quote",
            post.clone(),
            CHECKOUT,
            checkout(&shopper),
        )
        .header("idempotency-key", "stale")
        .json(checkout_body("q1.stale"))
        .gets(409),
        case(
            "a checkout at another version",
            post.clone(),
            CHECKOUT,
            checkout(&shopper),
        )
        .header("idempotency-key", "k")
        .header("if-match", "\"99\"")
        .json(checkout_body(&quote_token))
        .gets(412),
        case(
            "a 70 KiB checkout",
            post.clone(),
            CHECKOUT,
            checkout(&shopper),
        )
        .header("idempotency-key", "k")
        .raw("application/json", big.to_owned())
        .gets(413),
        case(
            "a checkout as text",
            post.clone(),
            CHECKOUT,
            checkout(&shopper),
        )
        .header("idempotency-key", "k")
        .raw("text/plain", checkout_body(&quote_token).to_string())
        .gets(415),
        case(
            "a checkout without a region",
            post.clone(),
            CHECKOUT,
            checkout(&no_region),
        )
        .header("idempotency-key", "k")
        .json(checkout_body(&no_region_token))
        .gets(422),
        case("a checkout", post.clone(), CHECKOUT, checkout(&shopper))
            .header("idempotency-key", "k")
            .json(checkout_body(&quote_token))
            .gets(201),
        // GET /v1/orders
        case("her orders", get.clone(), ORDERS, ORDERS.to_owned())
            .bearer(alice)
            .gets(200),
        case(
            "orders, none a page",
            get.clone(),
            ORDERS,
            format!("{ORDERS}?limit=0"),
        )
        .bearer(alice)
        .gets(400),
        case("orders of nobody", get.clone(), ORDERS, ORDERS.to_owned()).gets(401),
        // GET /v1/orders/{id}
        case("her order", get.clone(), ORDER, order(&her_id))
            .bearer(alice)
            .gets(200),
        case(
            "an order by a malformed id",
            get.clone(),
            ORDER,
            order("nope"),
        )
        .bearer(alice)
        .gets(400),
        case("an order for nobody", get.clone(), ORDER, order(&her_id)).gets(401),
        case("her order for bob", get.clone(), ORDER, order(&her_id))
            .bearer(&token("bob"))
            .gets(404),
        // PATCH /v1/orders/{id}
        case("fulfilling by hand", patch.clone(), ORDER, order(&paid_id))
            .bearer(admin)
            .json(json!({"status": "fulfilled"}))
            .gets(200),
        case(
            "a status that is none",
            patch.clone(),
            ORDER,
            order(&paid_id),
        )
        .bearer(admin)
        .json(json!({"status": "shipped"}))
        .gets(400),
        case(
            "a patch without a token",
            patch.clone(),
            ORDER,
            order(&paid_id),
        )
        .json(json!({"status": "cancelled"}))
        .gets(401),
        case("a patch by a shopper", patch.clone(), ORDER, order(&her_id))
            .bearer(alice)
            .json(json!({"status": "cancelled"}))
            .gets(403),
        case("a patch of no order", patch.clone(), ORDER, order(&nobody))
            .bearer(admin)
            .json(json!({"status": "cancelled"}))
            .gets(404),
        case(
            "cancelling a fulfilled order",
            patch.clone(),
            ORDER,
            order(&paid_id),
        )
        .bearer(admin)
        .json(json!({"status": "cancelled"}))
        .gets(409),
        case(
            "a 70 KiB patch of an order",
            patch.clone(),
            ORDER,
            order(&paid_id),
        )
        .bearer(admin)
        .raw("application/json", big.to_owned())
        .gets(413),
        case(
            "an order patch as text",
            patch.clone(),
            ORDER,
            order(&paid_id),
        )
        .bearer(admin)
        .raw("text/plain", "{}")
        .gets(415),
        // POST /v1/orders/{id}/cancel
        case(
            "a guest cancelling its order",
            post.clone(),
            CANCEL,
            format!("{}?guest_id={pending_guest}", cancel(&pending_id)),
        )
        .gets(200),
        case(
            "cancelling a malformed id",
            post.clone(),
            CANCEL,
            cancel("nope"),
        )
        .bearer(alice)
        .gets(400),
        case(
            "cancelling for nobody",
            post.clone(),
            CANCEL,
            cancel(&her_id),
        )
        .gets(401),
        case("bob cancelling hers", post.clone(), CANCEL, cancel(&her_id))
            .bearer(&token("bob"))
            .gets(404),
        case(
            "cancelling a cancelled order",
            post.clone(),
            CANCEL,
            format!("{}?guest_id={pending_guest}", cancel(&pending_id)),
        )
        .gets(409),
        case("a 70 KiB cancel", post.clone(), CANCEL, cancel(&her_id))
            .bearer(alice)
            .raw("application/json", big.to_owned())
            .gets(413),
        case("a cancel as text", post.clone(), CANCEL, cancel(&her_id))
            .bearer(alice)
            .raw("text/plain", "why")
            .gets(415),
        // POST /v1/payments/webhook
        case("a payment", post.clone(), WEBHOOK, WEBHOOK.to_owned())
            .header("payment-signature", good_signature)
            .raw("application/json", good_event.clone())
            .gets(200),
        case(
            "an unsigned payment",
            post.clone(),
            WEBHOOK,
            WEBHOOK.to_owned(),
        )
        .raw("application/json", good_event)
        .gets(400),
        case(
            "a payment for no order",
            post.clone(),
            WEBHOOK,
            WEBHOOK.to_owned(),
        )
        .header("payment-signature", unknown_signature)
        .raw("application/json", unknown)
        .gets(404),
        case(
            "a 70 KiB payment",
            post.clone(),
            WEBHOOK,
            WEBHOOK.to_owned(),
        )
        .raw("application/json", big.to_owned())
        .gets(413),
        case(
            "a payment short of the total",
            post.clone(),
            WEBHOOK,
            WEBHOOK.to_owned(),
        )
        .header("payment-signature", cheap_signature)
        .raw("application/json", cheap_event)
        .gets(422),
        // GET /v1/admin/dead-letters
        case(
            "the dead letters",
            get.clone(),
            DEAD_LETTERS,
            DEAD_LETTERS.to_owned(),
        )
        .bearer(admin)
        .gets(200),
        case(
            "dead letters, none a page",
            get.clone(),
            DEAD_LETTERS,
            format!("{DEAD_LETTERS}?limit=0"),
        )
        .bearer(admin)
        .gets(400),
        case(
            "dead letters for nobody",
            get.clone(),
            DEAD_LETTERS,
            DEAD_LETTERS.to_owned(),
        )
        .gets(401),
        case(
            "dead letters for a shopper",
            get.clone(),
            DEAD_LETTERS,
            DEAD_LETTERS.to_owned(),
        )
        .bearer(alice)
        .gets(403),
        // GET /v1/admin/flags
        case("the flags", get.clone(), FLAGS, FLAGS.to_owned())
            .bearer(admin)
            .gets(200),
        case("the flags for nobody", get.clone(), FLAGS, FLAGS.to_owned()).gets(401),
        case(
            "the flags for a shopper",
            get.clone(),
            FLAGS,
            FLAGS.to_owned(),
        )
        .bearer(alice)
        .gets(403),
        // POST /v1/admin/dead-letters/{id}/retry
        case("a retry", post.clone(), RETRY, retry(&failed_id))
            .bearer(admin)
            .gets(200),
        case(
            "a retry of a malformed id",
            post.clone(),
            RETRY,
            retry("nope"),
        )
        .bearer(admin)
        .gets(400),
        case("a retry for nobody", post.clone(), RETRY, retry(&failed_id)).gets(401),
        case(
            "a retry by a shopper",
            post.clone(),
            RETRY,
            retry(&failed_id),
        )
        .bearer(alice)
        .gets(403),
        case("a retry of no order", post.clone(), RETRY, retry(&nobody))
            .bearer(admin)
            .gets(404),
        case(
            "a retry of a cancelled order",
            post.clone(),
            RETRY,
            retry(&pending_id),
        )
        .bearer(admin)
        .gets(409),
    ]
}

/// Who and what the cart-pricing cases act on.
struct PricingWorld<'a> {
    /// A live guest cart with a line.
    cart: &'a str,
    /// A guest cart holding as many codes as a cart may (`CODE0` …).
    full: &'a str,
    /// A guest cart whose idempotency key `spent` went on an add.
    spent: &'a str,
    admin: &'a str,
    shopper: &'a str,
    big: &'a str,
}

/// Every documented answer of the cart's region, discount codes, reprice and totals, of
/// estimates, and of promotions, in an order that makes each happen.
fn pricing_cases(world: &PricingWorld<'_>) -> Vec<Case> {
    let (get, delete, post, patch, put) = (
        Method::GET,
        Method::DELETE,
        Method::POST,
        Method::PATCH,
        Method::PUT,
    );
    let cart = |key: &str| format!("/v1/cart/{key}");
    let codes = |key: &str| format!("/v1/cart/{key}/discount-codes");
    let code = |key: &str, code: &str| format!("/v1/cart/{key}/discount-codes/{code}");
    let (g, full, spent, admin, alice, big) = (
        world.cart,
        world.full,
        world.spent,
        world.admin,
        world.shopper,
        world.big,
    );
    let fr = json!({"region": "FR"});
    let save = json!({"code": "code0"});
    let percent = json!({"type": "percentage", "percent": "10"});
    let estimate = |product: &str| json!({"currency": "USD", "region": "FR", "lines": [{"product_id": product, "quantity": 2}]});
    vec![
        // PATCH /v1/cart/{cartKey}
        case("a region", patch.clone(), CART, cart(g))
            .json(fr.clone())
            .gets(200),
        case("a lower-case region", patch.clone(), CART, cart(g))
            .json(json!({"region": "fr"}))
            .gets(400),
        case(
            "a region for me without a token",
            patch.clone(),
            CART,
            cart("me"),
        )
        .json(fr.clone())
        .gets(401),
        case("another user's region", patch.clone(), CART, cart("bob"))
            .bearer(alice)
            .json(fr.clone())
            .gets(403),
        case("a region for no cart", patch.clone(), CART, cart(&guest()))
            .json(fr.clone())
            .gets(404),
        case("a region at another version", patch.clone(), CART, cart(g))
            .header("if-match", "\"99\"")
            .json(fr.clone())
            .gets(412),
        case("a 70 KiB patch", patch.clone(), CART, cart(g))
            .raw("application/json", big.to_owned())
            .gets(413),
        case("a merge patch", patch.clone(), CART, cart(g))
            .raw("application/merge-patch+json", fr.to_string())
            .gets(415),
        case(
            "a region under a spent key",
            patch.clone(),
            CART,
            cart(spent),
        )
        .header("idempotency-key", "spent")
        .json(fr.clone())
        .gets(422),
        // POST /v1/cart/{cartKey}/discount-codes
        case("a discount code", post.clone(), CODES, codes(g))
            .json(save.clone())
            .gets(200),
        case("a malformed code", post.clone(), CODES, codes(g))
            .json(json!({"code": "a b"}))
            .gets(400),
        case("one code too many", post.clone(), CODES, codes(full))
            .json(json!({"code": format!("code{}", cart_core::MAX_DISCOUNT_CODES)}))
            .gets(400),
        case(
            "a code for me without a token",
            post.clone(),
            CODES,
            codes("me"),
        )
        .json(save.clone())
        .gets(401),
        case(
            "a code on another user's cart",
            post.clone(),
            CODES,
            codes("bob"),
        )
        .bearer(alice)
        .json(save.clone())
        .gets(403),
        case("a code no promotion has", post.clone(), CODES, codes(g))
            .json(json!({"code": "NOPE"}))
            .gets(404),
        case("a code at another version", post.clone(), CODES, codes(g))
            .header("if-match", "\"99\"")
            .json(save.clone())
            .gets(412),
        case("a 70 KiB code", post.clone(), CODES, codes(g))
            .raw("application/json", big.to_owned())
            .gets(413),
        case("a code as text", post.clone(), CODES, codes(g))
            .raw("text/plain", save.to_string())
            .gets(415),
        case(
            "a code under a spent key",
            post.clone(),
            CODES,
            codes(spent),
        )
        .header("idempotency-key", "spent")
        .json(save.clone())
        .gets(422),
        // DELETE /v1/cart/{cartKey}/discount-codes/{code}
        case("removing a code", delete.clone(), CODE, code(full, "code1")).gets(200),
        case(
            "removing a malformed code",
            delete.clone(),
            CODE,
            code(g, "a%20b"),
        )
        .gets(400),
        case(
            "removing from me without a token",
            delete.clone(),
            CODE,
            code("me", "X"),
        )
        .gets(401),
        case(
            "removing from another user",
            delete.clone(),
            CODE,
            code("bob", "X"),
        )
        .bearer(alice)
        .gets(403),
        case(
            "removing a code the cart lacks",
            delete.clone(),
            CODE,
            code(g, "NOPE"),
        )
        .gets(404),
        case(
            "removing at another version",
            delete.clone(),
            CODE,
            code(g, "CODE0"),
        )
        .header("if-match", "\"99\"")
        .gets(412),
        case(
            "removing under a spent key",
            delete.clone(),
            CODE,
            code(spent, "CODE0"),
        )
        .header("idempotency-key", "spent")
        .gets(422),
        // POST /v1/cart/{cartKey}/reprice
        case(
            "a reprice",
            post.clone(),
            REPRICE,
            format!("{}/reprice", cart(g)),
        )
        .gets(200),
        case(
            "repricing a bad key",
            post.clone(),
            REPRICE,
            "/v1/cart/a%20b/reprice".into(),
        )
        .gets(400),
        case(
            "repricing me without a token",
            post.clone(),
            REPRICE,
            "/v1/cart/me/reprice".into(),
        )
        .gets(401),
        case(
            "repricing another user",
            post.clone(),
            REPRICE,
            "/v1/cart/bob/reprice".into(),
        )
        .bearer(alice)
        .gets(403),
        case(
            "repricing no cart",
            post.clone(),
            REPRICE,
            format!("{}/reprice", cart(&guest())),
        )
        .gets(404),
        case(
            "repricing at another version",
            post.clone(),
            REPRICE,
            format!("{}/reprice", cart(g)),
        )
        .header("if-match", "\"99\"")
        .gets(412),
        case(
            "repricing under a spent key",
            post.clone(),
            REPRICE,
            format!("{}/reprice", cart(spent)),
        )
        .header("idempotency-key", "spent")
        .gets(422),
        // GET /v1/cart/{cartKey}/totals
        case(
            "totals",
            get.clone(),
            TOTALS,
            format!("{}/totals?explain=true", cart(g)),
        )
        .gets(200),
        case(
            "explain=maybe",
            get.clone(),
            TOTALS,
            format!("{}/totals?explain=maybe", cart(g)),
        )
        .gets(400),
        case(
            "my totals without a token",
            get.clone(),
            TOTALS,
            "/v1/cart/me/totals".into(),
        )
        .gets(401),
        case(
            "another user's totals",
            get.clone(),
            TOTALS,
            "/v1/cart/bob/totals".into(),
        )
        .bearer(alice)
        .gets(403),
        case(
            "totals of no cart",
            get.clone(),
            TOTALS,
            format!("{}/totals", cart(&guest())),
        )
        .gets(404),
        // POST /v1/pricing/calculate
        case("an estimate", post.clone(), CALCULATE, CALCULATE.into())
            .json(estimate("book"))
            .gets(200),
        case(
            "an estimate in usd",
            post.clone(),
            CALCULATE,
            CALCULATE.into(),
        )
        .json(json!({"currency": "usd", "lines": []}))
        .gets(400),
        case(
            "an estimate of no product",
            post.clone(),
            CALCULATE,
            CALCULATE.into(),
        )
        .json(estimate("no-such-product"))
        .gets(404),
        case(
            "a 70 KiB estimate",
            post.clone(),
            CALCULATE,
            CALCULATE.into(),
        )
        .raw("application/json", big.to_owned())
        .gets(413),
        case(
            "an estimate as text",
            post.clone(),
            CALCULATE,
            CALCULATE.into(),
        )
        .raw("text/plain", estimate("book").to_string())
        .gets(415),
        case(
            "an estimate of a euro product",
            post.clone(),
            CALCULATE,
            CALCULATE.into(),
        )
        .json(estimate("euro-book"))
        .gets(422),
        // /v1/promotions
        case("the promotions", get.clone(), PROMOTIONS, PROMOTIONS.into())
            .bearer(admin)
            .gets(200),
        case(
            "the promotions without a token",
            get.clone(),
            PROMOTIONS,
            PROMOTIONS.into(),
        )
        .gets(401),
        case(
            "the promotions as a shopper",
            get.clone(),
            PROMOTIONS,
            PROMOTIONS.into(),
        )
        .bearer(alice)
        .gets(403),
        case(
            "a new promotion",
            put.clone(),
            PROMOTION,
            format!("{PROMOTIONS}/spring"),
        )
        .bearer(admin)
        .json(percent.clone())
        .gets(201),
        case(
            "a replaced promotion",
            put.clone(),
            PROMOTION,
            format!("{PROMOTIONS}/SPRING"),
        )
        .bearer(admin)
        .json(json!({"type": "fixed", "amount": 500, "currency": "USD"}))
        .gets(200),
        case(
            "a zero percent",
            put.clone(),
            PROMOTION,
            format!("{PROMOTIONS}/ZERO"),
        )
        .bearer(admin)
        .json(json!({"type": "percentage", "percent": "0"}))
        .gets(400),
        case(
            "a promotion without a token",
            put.clone(),
            PROMOTION,
            format!("{PROMOTIONS}/X"),
        )
        .json(percent.clone())
        .gets(401),
        case(
            "a promotion as a shopper",
            put.clone(),
            PROMOTION,
            format!("{PROMOTIONS}/X"),
        )
        .bearer(alice)
        .json(percent.clone())
        .gets(403),
        case(
            "a 70 KiB promotion",
            put.clone(),
            PROMOTION,
            format!("{PROMOTIONS}/X"),
        )
        .bearer(admin)
        .raw("application/json", big.to_owned())
        .gets(413),
        case(
            "a promotion as text",
            put.clone(),
            PROMOTION,
            format!("{PROMOTIONS}/X"),
        )
        .bearer(admin)
        .raw("text/plain", percent.to_string())
        .gets(415),
        case(
            "a promotion",
            get.clone(),
            PROMOTION,
            format!("{PROMOTIONS}/spring"),
        )
        .bearer(admin)
        .gets(200),
        case(
            "a malformed code's promotion",
            get.clone(),
            PROMOTION,
            format!("{PROMOTIONS}/a%20b"),
        )
        .bearer(admin)
        .gets(400),
        case(
            "a promotion without a token",
            get.clone(),
            PROMOTION,
            format!("{PROMOTIONS}/SPRING"),
        )
        .gets(401),
        case(
            "a promotion as a shopper",
            get.clone(),
            PROMOTION,
            format!("{PROMOTIONS}/SPRING"),
        )
        .bearer(alice)
        .gets(403),
        case(
            "no such promotion",
            get.clone(),
            PROMOTION,
            format!("{PROMOTIONS}/NOPE"),
        )
        .bearer(admin)
        .gets(404),
        case(
            "deleting a promotion",
            delete.clone(),
            PROMOTION,
            format!("{PROMOTIONS}/SPRING"),
        )
        .bearer(admin)
        .gets(204),
        case(
            "deleting it again",
            delete.clone(),
            PROMOTION,
            format!("{PROMOTIONS}/SPRING"),
        )
        .bearer(admin)
        .gets(404),
        case(
            "deleting a malformed code",
            delete.clone(),
            PROMOTION,
            format!("{PROMOTIONS}/a%20b"),
        )
        .bearer(admin)
        .gets(400),
        case(
            "deleting without a token",
            delete.clone(),
            PROMOTION,
            format!("{PROMOTIONS}/X"),
        )
        .gets(401),
        case(
            "deleting as a shopper",
            delete,
            PROMOTION,
            format!("{PROMOTIONS}/X"),
        )
        .bearer(alice)
        .gets(403),
    ]
}

/// Every documented answer of one kind of region setting: its list (`all`), and `PUT` and
/// `DELETE` of one region (`one`, under `base`), in an order that makes each happen.
fn region_setting_cases(
    all: &'static str,
    one: &'static str,
    base: &str,
    body: &Value,
    admin: &str,
    shopper: &str,
    big: &str,
) -> Vec<Case> {
    let fr = format!("{base}/FR");
    vec![
        case("the list", Method::GET, all, all.into()).gets(200),
        case("a new setting", Method::PUT, one, fr.clone())
            .bearer(admin)
            .json(body.clone())
            .gets(201),
        case("a replaced setting", Method::PUT, one, fr.clone())
            .bearer(admin)
            .json(body.clone())
            .gets(200),
        case(
            "a lower-case region",
            Method::PUT,
            one,
            format!("{base}/fr"),
        )
        .bearer(admin)
        .json(body.clone())
        .gets(400),
        case("putting without a token", Method::PUT, one, fr.clone())
            .json(body.clone())
            .gets(401),
        case("putting as a shopper", Method::PUT, one, fr.clone())
            .bearer(shopper)
            .json(body.clone())
            .gets(403),
        case("a 70 KiB setting", Method::PUT, one, fr.clone())
            .bearer(admin)
            .raw("application/json", big.to_owned())
            .gets(413),
        case("a setting as text", Method::PUT, one, fr.clone())
            .bearer(admin)
            .raw("text/plain", body.to_string())
            .gets(415),
        case("deleting without a token", Method::DELETE, one, fr.clone()).gets(401),
        case("deleting as a shopper", Method::DELETE, one, fr.clone())
            .bearer(shopper)
            .gets(403),
        case(
            "deleting a bad region",
            Method::DELETE,
            one,
            format!("{base}/XX"),
        )
        .bearer(admin)
        .gets(400),
        case("a deletion", Method::DELETE, one, fr.clone())
            .bearer(admin)
            .gets(204),
        case("deleting it again", Method::DELETE, one, fr)
            .bearer(admin)
            .gets(404),
    ]
}

/// Documented statuses no request here produces, with the tests that do.
const PRODUCED_ELSEWHERE: &[(&str, u16, &str)] = &[
    (
        "*",
        500,
        "a store failure: ops.rs and graphql_api.rs break the SQLite file",
    ),
    (
        "*",
        503,
        "an unreachable store or identity provider: ops.rs locks the SQLite file, attacks.rs takes the JWKS down",
    ),
    (
        "DELETE /v1/cart/{cartKey}",
        409,
        "IDEMPOTENCY_IN_FLIGHT needs a concurrent writer: idempotency.rs",
    ),
    (
        "DELETE /v1/cart/{cartKey}/items/{itemID}",
        409,
        "IDEMPOTENCY_IN_FLIGHT needs a concurrent writer: idempotency.rs",
    ),
    (
        "POST /v1/cart/{cartKey}/merge",
        409,
        "IDEMPOTENCY_IN_FLIGHT needs a concurrent writer: idempotency.rs",
    ),
    (
        "PATCH /v1/cart/{cartKey}",
        409,
        "IDEMPOTENCY_IN_FLIGHT needs a concurrent writer: idempotency.rs",
    ),
    (
        "POST /v1/cart/{cartKey}/discount-codes",
        409,
        "IDEMPOTENCY_IN_FLIGHT needs a concurrent writer: idempotency.rs",
    ),
    (
        "DELETE /v1/cart/{cartKey}/discount-codes/{code}",
        409,
        "IDEMPOTENCY_IN_FLIGHT needs a concurrent writer: idempotency.rs",
    ),
    (
        "POST /v1/cart/{cartKey}/reprice",
        409,
        "IDEMPOTENCY_IN_FLIGHT needs a concurrent writer: idempotency.rs",
    ),
    ("GET /ready", 503, "a store that does not answer: ops.rs"),
    (
        "GET /v1/products",
        409,
        "CATALOG_REMOTE needs a remote catalog: crates/cartd/tests/cli/catalog.rs",
    ),
    (
        "PUT /v1/products/{id}",
        409,
        "CATALOG_REMOTE needs a remote catalog: crates/cartd/tests/cli/catalog.rs",
    ),
];

fn produced_elsewhere(operation: &str, status: u16) -> bool {
    PRODUCED_ELSEWHERE
        .iter()
        .any(|(op, s, _)| *s == status && (*op == "*" || *op == operation))
}

fn item_of(cart: &Value) -> String {
    cart["items"][0]["item_id"]
        .as_str()
        .expect("an item")
        .to_owned()
}

#[tokio::test]
async fn every_status_answered_is_documented_and_every_documented_status_is_answered() {
    let app = spawn_app().await;
    let alice = token("alice");
    let admin = token_with("support", Some("cart:admin"));
    let g = guest();
    let item = item_of(&app.add_product(&g, "book", 1).await.body);
    // A cart to remove a line from, and one whose key is spent on an add.
    let other = guest();
    let other_item = item_of(&app.add_product(&other, "book", 1).await.body);
    let spent = guest();
    let spent_item = {
        let added = app
            .send(
                app.request(Method::POST, &format!("/v1/cart/{spent}/items"))
                    .header("idempotency-key", "spent")
                    .json(&json!({"product_id": "book", "quantity": 1})),
            )
            .await;
        item_of(&added.body)
    };
    app.add(
        "me",
        json!({"product_id": "book", "quantity": 1}),
        Some(&alice),
    )
    .await;
    let euro_guest = guest();
    app.add_product(&euro_guest, "euro-book", 1).await;
    let merged_guest = guest();
    app.add_product(&merged_guest, "pen", 1).await;
    let unknown_item = uuid::Uuid::new_v4().to_string();
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(70 * 1024));
    // Promotions CODE0 … CODE10, and a cart holding as many of them as a cart may.
    let full = guest();
    app.add_product(&full, "book", 1).await;
    for n in 0..=cart_core::MAX_DISCOUNT_CODES {
        let defined = app
            .send(
                app.request(Method::PUT, &format!("/v1/promotions/CODE{n}"))
                    .bearer_auth(&admin)
                    .json(&json!({"type": "percentage", "percent": "5"})),
            )
            .await;
        assert_eq!(defined.status.as_u16(), 201, "{}", defined.body);
        if n < cart_core::MAX_DISCOUNT_CODES {
            let held = app
                .send(
                    app.request(Method::POST, &format!("/v1/cart/{full}/discount-codes"))
                        .json(&json!({"code": format!("CODE{n}")})),
                )
                .await;
            assert_eq!(held.status.as_u16(), 200, "{}", held.body);
        }
    }
    let add = json!({"product_id": "pen", "quantity": 1});
    let product = json!({"name": "Lamp", "unit_price": 100, "currency": "USD"});
    let cart = |key: &str| format!("/v1/cart/{key}");
    let line = |key: &str, item: &str| format!("/v1/cart/{key}/items/{item}");
    let (get, delete, post, patch, put) = (
        Method::GET,
        Method::DELETE,
        Method::POST,
        Method::PATCH,
        Method::PUT,
    );

    let cases = vec![
        // GET /v1/cart/{cartKey}
        case("a guest cart", get.clone(), CART, cart(&g)).gets(200),
        case("a cart key with a space", get.clone(), CART, cart("a%20b")).gets(400),
        case("a malformed guest id", get.clone(), CART, cart("guest_x")).gets(400),
        case("me without a token", get.clone(), CART, cart("me")).gets(401),
        case("a Basic credential", get.clone(), CART, cart(&g))
            .header("authorization", "Basic YWxpY2U6")
            .gets(401),
        case("another user's cart", get.clone(), CART, cart("bob"))
            .bearer(&alice)
            .gets(403),
        case("no cart", get.clone(), CART, cart(&guest())).gets(404),
        // DELETE /v1/cart/{cartKey}
        case("clearing no cart", delete.clone(), CART, cart(&guest())).gets(204),
        case("clearing a bad key", delete.clone(), CART, cart("a%20b")).gets(400),
        case("a malformed If-Match", delete.clone(), CART, cart(&g))
            .header("if-match", "3")
            .gets(400),
        case("a long Idempotency-Key", delete.clone(), CART, cart(&g))
            .header("idempotency-key", "k".repeat(256))
            .gets(400),
        case(
            "clearing me without a token",
            delete.clone(),
            CART,
            cart("me"),
        )
        .gets(401),
        case(
            "clearing another user's cart",
            delete.clone(),
            CART,
            cart("bob"),
        )
        .bearer(&alice)
        .gets(403),
        case(
            "clearing at another version",
            delete.clone(),
            CART,
            cart(&g),
        )
        .header("if-match", "\"99\"")
        .gets(412),
        case(
            "clearing under a spent key",
            delete.clone(),
            CART,
            cart(&spent),
        )
        .header("idempotency-key", "spent")
        .gets(422),
        // POST /v1/cart/{cartKey}/items
        case(
            "an add",
            post.clone(),
            ITEMS,
            format!("{}/items", cart(&guest())),
        )
        .json(add.clone())
        .gets(201),
        case(
            "quantity 0",
            post.clone(),
            ITEMS,
            format!("{}/items", cart(&g)),
        )
        .json(json!({"product_id": "pen", "quantity": 0}))
        .gets(400),
        case(
            "adding to me without a token",
            post.clone(),
            ITEMS,
            "/v1/cart/me/items".into(),
        )
        .json(add.clone())
        .gets(401),
        case(
            "adding to another user's cart",
            post.clone(),
            ITEMS,
            "/v1/cart/bob/items".into(),
        )
        .bearer(&alice)
        .json(add.clone())
        .gets(403),
        case(
            "an unknown product",
            post.clone(),
            ITEMS,
            format!("{}/items", cart(&g)),
        )
        .json(json!({"product_id": "no-such-product", "quantity": 1}))
        .gets(404),
        case(
            "a stale price",
            post.clone(),
            ITEMS,
            format!("{}/items", cart(&g)),
        )
        .json(json!({"product_id": "pen", "quantity": 1, "unit_price": 1}))
        .gets(409),
        case(
            "adding at another version",
            post.clone(),
            ITEMS,
            format!("{}/items", cart(&g)),
        )
        .header("if-match", "\"99\"")
        .json(add.clone())
        .gets(412),
        case(
            "a 70 KiB add",
            post.clone(),
            ITEMS,
            format!("{}/items", cart(&g)),
        )
        .raw("application/json", big.clone())
        .gets(413),
        case(
            "a merge patch add",
            post.clone(),
            ITEMS,
            format!("{}/items", cart(&g)),
        )
        .raw("application/merge-patch+json", add.to_string())
        .gets(415),
        case(
            "an inactive product",
            post.clone(),
            ITEMS,
            format!("{}/items", cart(&g)),
        )
        .json(json!({"product_id": "retired", "quantity": 1}))
        .gets(422),
        // PATCH /v1/cart/{cartKey}/items/{itemID}
        case("a change", patch.clone(), ITEM, line(&g, &item))
            .json(json!({"quantity": 2}))
            .gets(200),
        case(
            "an item id that is no UUID",
            patch.clone(),
            ITEM,
            line(&g, "42"),
        )
        .json(json!({"quantity": 2}))
        .gets(400),
        case(
            "a braced UUID",
            patch.clone(),
            ITEM,
            line(&g, &format!("{{{item}}}")),
        )
        .json(json!({"quantity": 2}))
        .gets(400),
        case(
            "changing me without a token",
            patch.clone(),
            ITEM,
            line("me", &item),
        )
        .json(json!({"quantity": 2}))
        .gets(401),
        case(
            "changing another user's cart",
            patch.clone(),
            ITEM,
            line("bob", &item),
        )
        .bearer(&alice)
        .json(json!({"quantity": 2}))
        .gets(403),
        case(
            "changing no such line",
            patch.clone(),
            ITEM,
            line(&g, &unknown_item),
        )
        .json(json!({"quantity": 2}))
        .gets(404),
        case("a stale body version", patch.clone(), ITEM, line(&g, &item))
            .json(json!({"quantity": 3, "version": 1}))
            .gets(409),
        case(
            "changing at another version",
            patch.clone(),
            ITEM,
            line(&g, &item),
        )
        .header("if-match", "\"99\"")
        .json(json!({"quantity": 3}))
        .gets(412),
        case("a 70 KiB change", patch.clone(), ITEM, line(&g, &item))
            .raw("application/json", big.clone())
            .gets(413),
        case("a change in Latin-1", patch.clone(), ITEM, line(&g, &item))
            .raw("application/json; charset=iso-8859-1", r#"{"quantity":3}"#)
            .gets(415),
        case(
            "changing under a spent key",
            patch.clone(),
            ITEM,
            line(&spent, &spent_item),
        )
        .header("idempotency-key", "spent")
        .json(json!({"quantity": 2}))
        .gets(422),
        // DELETE /v1/cart/{cartKey}/items/{itemID}
        case("a removal", delete.clone(), ITEM, line(&other, &other_item)).gets(200),
        case("removing no UUID", delete.clone(), ITEM, line(&g, "42")).gets(400),
        case(
            "removing from me without a token",
            delete.clone(),
            ITEM,
            line("me", &item),
        )
        .gets(401),
        case(
            "removing from another user's cart",
            delete.clone(),
            ITEM,
            line("bob", &item),
        )
        .bearer(&alice)
        .gets(403),
        case(
            "removing no such line",
            delete.clone(),
            ITEM,
            line(&g, &unknown_item),
        )
        .gets(404),
        case(
            "removing at another version",
            delete.clone(),
            ITEM,
            line(&g, &item),
        )
        .header("if-match", "W/\"2\"")
        .gets(412),
        case(
            "removing under a spent key",
            delete.clone(),
            ITEM,
            line(&spent, &spent_item),
        )
        .header("idempotency-key", "spent")
        .gets(422),
        // POST /v1/cart/{cartKey}/merge
        case("a merge", post.clone(), MERGE, "/v1/cart/me/merge".into())
            .bearer(&alice)
            .json(json!({"guest_id": merged_guest}))
            .gets(200),
        case(
            "merging no guest id",
            post.clone(),
            MERGE,
            "/v1/cart/me/merge".into(),
        )
        .bearer(&alice)
        .json(json!({"guest_id": "alice"}))
        .gets(400),
        case(
            "a bad dry_run",
            post.clone(),
            MERGE,
            "/v1/cart/me/merge?dry_run=maybe".into(),
        )
        .bearer(&alice)
        .json(json!({"guest_id": guest()}))
        .gets(400),
        case(
            "merging without a token",
            post.clone(),
            MERGE,
            "/v1/cart/me/merge".into(),
        )
        .json(json!({"guest_id": guest()}))
        .gets(401),
        case(
            "merging into a guest cart",
            post.clone(),
            MERGE,
            format!("{}/merge", cart(&g)),
        )
        .bearer(&alice)
        .json(json!({"guest_id": guest()}))
        .gets(403),
        case(
            "merging nothing into nothing",
            post.clone(),
            MERGE,
            "/v1/cart/me/merge".into(),
        )
        .bearer(&token("carol"))
        .json(json!({"guest_id": guest()}))
        .gets(404),
        case(
            "merging at another version",
            post.clone(),
            MERGE,
            "/v1/cart/me/merge".into(),
        )
        .bearer(&alice)
        .header("if-match", "\"99\"")
        .json(json!({"guest_id": guest()}))
        .gets(412),
        case(
            "a 70 KiB merge",
            post.clone(),
            MERGE,
            "/v1/cart/me/merge".into(),
        )
        .bearer(&alice)
        .raw("application/json", big.clone())
        .gets(413),
        case(
            "a merge as text",
            post.clone(),
            MERGE,
            "/v1/cart/me/merge".into(),
        )
        .bearer(&alice)
        .raw("text/plain", json!({"guest_id": guest()}).to_string())
        .gets(415),
        case(
            "merging across currencies",
            post.clone(),
            MERGE,
            "/v1/cart/me/merge".into(),
        )
        .bearer(&alice)
        .json(json!({"guest_id": euro_guest}))
        .gets(422),
        // The catalog.
        case(
            "a page",
            get.clone(),
            PRODUCTS,
            "/v1/products?limit=1".into(),
        )
        .gets(200),
        case(
            "limit 0",
            get.clone(),
            PRODUCTS,
            "/v1/products?limit=0".into(),
        )
        .gets(400),
        case(
            "a bad cursor",
            get.clone(),
            PRODUCTS,
            "/v1/products?cursor=a%20b".into(),
        )
        .gets(400),
        case(
            "a product",
            get.clone(),
            PRODUCT,
            "/v1/products/book".into(),
        )
        .gets(200),
        case(
            "a bad product id",
            get.clone(),
            PRODUCT,
            "/v1/products/a%20b".into(),
        )
        .gets(400),
        case(
            "no such product",
            get.clone(),
            PRODUCT,
            "/v1/products/nothing".into(),
        )
        .gets(404),
        case(
            "a new product",
            put.clone(),
            PRODUCT,
            "/v1/products/lamp-2".into(),
        )
        .bearer(&admin)
        .json(product.clone())
        .gets(201),
        case(
            "a replaced product",
            put.clone(),
            PRODUCT,
            "/v1/products/lamp-2".into(),
        )
        .bearer(&admin)
        .json(product.clone())
        .gets(200),
        case(
            "a negative price",
            put.clone(),
            PRODUCT,
            "/v1/products/lamp-3".into(),
        )
        .bearer(&admin)
        .json(json!({"name": "Lamp", "unit_price": -1, "currency": "USD"}))
        .gets(400),
        case(
            "a bad id to put",
            put.clone(),
            PRODUCT,
            "/v1/products/a%20b".into(),
        )
        .bearer(&admin)
        .json(product.clone())
        .gets(400),
        case(
            "putting without a token",
            put.clone(),
            PRODUCT,
            "/v1/products/lamp-3".into(),
        )
        .json(product.clone())
        .gets(401),
        case(
            "putting as a shopper",
            put.clone(),
            PRODUCT,
            "/v1/products/lamp-3".into(),
        )
        .bearer(&alice)
        .json(product.clone())
        .gets(403),
        case(
            "a 70 KiB product",
            put.clone(),
            PRODUCT,
            "/v1/products/lamp-3".into(),
        )
        .bearer(&admin)
        .raw("application/json", big.clone())
        .gets(413),
        case(
            "a product as JSON:API",
            put.clone(),
            PRODUCT,
            "/v1/products/lamp-3".into(),
        )
        .bearer(&admin)
        .raw("application/vnd.api+json", product.to_string())
        .gets(415),
        // The rest.
        case("a guest id", post.clone(), GUESTS, "/v1/guests".into()).gets(201),
        case("health", get.clone(), "/health", "/health".into()).gets(200),
        case("readiness", get.clone(), "/ready", "/ready".into()).gets(200),
        case("metrics", get.clone(), "/metrics", "/metrics".into()).gets(200),
        case(
            "this document",
            get.clone(),
            "/openapi.json",
            "/openapi.json".into(),
        )
        .gets(200),
    ];
    let cases = cases.into_iter().chain(region_setting_cases(
        TAX_RATES,
        TAX_RATE,
        TAX_RATES,
        &json!({"rates": {"standard": "20"}, "prices_include_tax": true}),
        &admin,
        &alice,
        &big,
    ));
    let cases: Vec<Case> = cases
        .chain(region_setting_cases(
            SHIPPING_RATES,
            SHIPPING_RATE,
            SHIPPING_RATES,
            &json!({"amount": 499, "currency": "EUR"}),
            &admin,
            &alice,
            &big,
        ))
        .chain(pricing_cases(&PricingWorld {
            cart: &g,
            full: &full,
            spent: &spent,
            admin: &admin,
            shopper: &alice,
            big: &big,
        }))
        .chain(order_cases(&app, &admin, &big).await)
        .collect();
    let mut answered = BTreeSet::new();
    for case in &cases {
        answered.insert(run(&app, case).await);
    }

    // Past their expiry, carts are gone (410) until swept.
    app.clock.advance(time::Duration::days(8));
    for case in [
        case("an expired cart", get.clone(), CART, cart(&g)).gets(410),
        case(
            "changing an expired cart",
            patch.clone(),
            ITEM,
            line(&g, &item),
        )
        .json(json!({"quantity": 2}))
        .gets(410),
        case(
            "removing from an expired cart",
            delete.clone(),
            ITEM,
            line(&g, &item),
        )
        .gets(410),
        case(
            "a region for an expired cart",
            patch.clone(),
            CART,
            cart(&g),
        )
        .json(json!({"region": "DE"}))
        .gets(410),
        case(
            "a code on an expired cart",
            post.clone(),
            CODES,
            format!("{}/discount-codes", cart(&g)),
        )
        .json(json!({"code": "CODE2"}))
        .gets(410),
        case(
            "removing a code from an expired cart",
            delete.clone(),
            CODE,
            format!("{}/discount-codes/CODE0", cart(&g)),
        )
        .gets(410),
        case(
            "repricing an expired cart",
            post.clone(),
            REPRICE,
            format!("{}/reprice", cart(&g)),
        )
        .gets(410),
        case(
            "totals of an expired cart",
            get.clone(),
            TOTALS,
            format!("{}/totals", cart(&g)),
        )
        .gets(410),
        case(
            "checking out an expired cart",
            post.clone(),
            CHECKOUT,
            format!("{}/checkout", cart(&g)),
        )
        .header("idempotency-key", "late")
        .json(checkout_body("q1.any"))
        .gets(410),
    ] {
        answered.insert(run(&app, &case).await);
    }

    // Over its rate, a client gets 429 everywhere but the probes.
    let limited = spawn_with(Options {
        rate_limit: Some((1, 1)),
        ..Options::default()
    })
    .await;
    for (method, template, path) in limited_operations(&limited, &unknown_item).await {
        // The burst is one request: the first may pass, the next is over the rate.
        let mut status = 0;
        for _ in 0..3 {
            let answer = limited
                .send(limited.request(method.clone(), &path).json(&json!({})))
                .await;
            status = answer.status.as_u16();
            if status == 429 {
                assert_eq!(answer.code(), "RATE_LIMITED");
                assert!(answer.header("retry-after").is_some());
                break;
            }
        }
        assert_eq!(status, 429, "{method} {path}");
        answered.insert((method.to_string(), template.clone(), 429));
    }

    // A server with no room sheds every request but the probes with 503 OVERLOADED.
    let full = spawn_with(Options {
        load: Some(std::sync::Arc::new(cart_api::load::LoadLimit::new(
            0,
            0,
            std::time::Duration::from_secs(60),
        ))),
        ..Options::default()
    })
    .await;
    for (method, template, path) in limited_operations(&app, &unknown_item).await {
        let answer = full
            .send(full.request(method.clone(), &path).json(&json!({})))
            .await;
        assert_eq!(answer.status.as_u16(), 503, "{method} {path}");
        assert_eq!(answer.code(), "OVERLOADED");
        answered.insert((method.to_string(), template.clone(), 503));
    }

    let operations = documented(&app).await;
    for (method, template, status) in &answered {
        let statuses = operations
            .get(&(method.clone(), template.clone()))
            .unwrap_or_else(|| panic!("{method} {template} is not documented"));
        assert!(
            statuses.contains(status),
            "{method} {template} answers {status}, which the document does not list: {statuses:?}"
        );
    }
    for ((method, template), statuses) in &operations {
        for status in statuses {
            let operation = format!("{method} {template}");
            assert!(
                answered.contains(&(method.clone(), template.clone(), *status))
                    || produced_elsewhere(&operation, *status),
                "{operation} documents {status}, which no request here gets"
            );
        }
    }
}

/// A validator of `schema` that checks formats too, as a generated client does.
fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap_or_else(|e| panic!("{schema}: {e}"))
}

/// The documented strings and their server-side parsers.
struct Formats {
    cart_key: jsonschema::Validator,
    item_id: jsonschema::Validator,
    if_match: jsonschema::Validator,
    idempotency_key: jsonschema::Validator,
    product_id: jsonschema::Validator,
    cursor: jsonschema::Validator,
    body_product_id: jsonschema::Validator,
    variant_id: jsonschema::Validator,
    guest_id: jsonschema::Validator,
    product_name: jsonschema::Validator,
    currency: jsonschema::Validator,
    strategy: jsonschema::Validator,
    tax_class: jsonschema::Validator,
    region: jsonschema::Validator,
    percent: jsonschema::Validator,
    cart_region: jsonschema::Validator,
    discount_code: jsonschema::Validator,
    promotion_percent: jsonschema::Validator,
}

fn parameter<'a>(document: &'a Value, path: &str, method: &str, name: &str) -> &'a Value {
    document["paths"][path][method]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == name)
        .map(|p| &p["schema"])
        .unwrap_or_else(|| panic!("{method} {path} documents {name}"))
}

fn formats() -> Formats {
    let document = serde_json::to_value(cart_api::openapi()).expect("json");
    let property = |schema: &str, name: &str| {
        validator(&document["components"]["schemas"][schema]["properties"][name])
    };
    Formats {
        cart_key: validator(parameter(&document, CART, "get", "cartKey")),
        item_id: validator(parameter(&document, ITEM, "patch", "itemID")),
        if_match: validator(parameter(&document, ITEM, "patch", "If-Match")),
        idempotency_key: validator(parameter(&document, ITEM, "patch", "Idempotency-Key")),
        product_id: validator(parameter(&document, PRODUCT, "get", "id")),
        cursor: validator(parameter(&document, PRODUCTS, "get", "cursor")),
        body_product_id: property("AddItemRequest", "product_id"),
        variant_id: property("AddItemRequest", "variant_id"),
        guest_id: property("MergeCartRequest", "guest_id"),
        product_name: property("PutProductRequest", "name"),
        currency: property("PutProductRequest", "currency"),
        strategy: property("MergeCartRequest", "strategy"),
        tax_class: property("PutProductRequest", "tax_class"),
        region: validator(parameter(&document, TAX_RATE, "put", "region")),
        percent: validator(
            &document["components"]["schemas"]["TaxRatesRequest"]["properties"]["rates"]["additionalProperties"],
        ),
        cart_region: property("CartPatchRequest", "region"),
        discount_code: validator(parameter(&document, CODE, "delete", "code")),
        promotion_percent: validator(
            &document["components"]["schemas"]["PromotionRequest"]["oneOf"][0]["properties"]["percent"],
        ),
    }
}

fn header(name: &'static str, value: &str) -> Option<HeaderMap> {
    let value = HeaderValue::from_str(value).ok()?;
    let mut headers = HeaderMap::new();
    headers.insert(name, value);
    Some(headers)
}

/// Checks every documented format against its parser on `text`.
fn agree(formats: &Formats, text: &str) {
    let value = json!(text);
    let documented = |validator: &jsonschema::Validator| validator.is_valid(&value);
    let admin = Caller::User {
        id: UserId::parse("support").expect("user"),
        admin: true,
    };
    let pairs = [
        (
            "cartKey",
            documented(&formats.cart_key),
            admin.cart_key(text).is_ok(),
        ),
        (
            "itemID",
            documented(&formats.item_id),
            cart_api::commands::item_id(&REST, text).is_ok(),
        ),
        (
            "product id",
            documented(&formats.product_id),
            ProductId::parse(text).is_ok(),
        ),
        (
            "cursor",
            documented(&formats.cursor),
            ProductId::parse(text).is_ok(),
        ),
        (
            "product_id",
            documented(&formats.body_product_id),
            ProductId::parse(text).is_ok(),
        ),
        (
            "variant_id",
            documented(&formats.variant_id),
            VariantId::parse(text).is_ok(),
        ),
        (
            "guest_id",
            documented(&formats.guest_id),
            GuestId::parse(text).is_ok(),
        ),
        (
            "name",
            documented(&formats.product_name),
            cart_core::product::product_name(text).is_some(),
        ),
        (
            "currency",
            documented(&formats.currency),
            cart_core::Currency::parse(text).is_ok(),
        ),
        (
            "strategy",
            documented(&formats.strategy),
            serde_json::from_value::<cart_core::MergeStrategy>(json!(text)).is_ok(),
        ),
        (
            "tax_class",
            documented(&formats.tax_class),
            cart_core::TaxClass::parse(text).is_ok(),
        ),
        (
            "region",
            documented(&formats.region),
            cart_pricing::Region::parse(text).is_ok(),
        ),
        (
            "percent",
            documented(&formats.percent),
            cart_pricing::Percent::parse(text).is_ok(),
        ),
        (
            "cart region",
            documented(&formats.cart_region),
            cart_pricing::Region::parse(text).is_ok(),
        ),
        (
            "discount code",
            documented(&formats.discount_code),
            cart_core::PromotionCode::parse(text).is_ok(),
        ),
        (
            "a promotion's percent",
            documented(&formats.promotion_percent),
            cart_pricing::Percent::parse(text).is_ok_and(|p| !p.is_zero()),
        ),
        (
            "If-Match",
            documented(&formats.if_match),
            // A well-formed tag that cannot match is 412, not a refusal of the header.
            header("if-match", text).is_some_and(|h| {
                cart_api::extract::if_match(&h)
                    .map_or_else(|e| e.code() == Code::PreconditionFailed, |_| true)
            }),
        ),
        (
            "Idempotency-Key",
            documented(&formats.idempotency_key),
            header("idempotency-key", text)
                .is_some_and(|h| cart_api::extract::idempotency_key(&h).is_ok()),
        ),
    ];
    for (name, documented, parsed) in pairs {
        assert_eq!(
            documented, parsed,
            "{name} {text:?}: the document says {documented}, the server {parsed}"
        );
    }
}

/// The formats of the document `cart_api::openapi()` generates (the one served).
static FORMATS: LazyLock<Formats> = LazyLock::new(formats);

#[test]
fn documented_formats_accept_exactly_what_the_server_parses() {
    let formats = &*FORMATS;
    let item = uuid::Uuid::new_v4().to_string();
    let mut samples: Vec<String> = [
        "",
        "me",
        "Me",
        "g",
        "gu",
        "gue",
        "gues",
        "guest",
        "guest_",
        "Guest_x",
        "guestx",
        "guest_x",
        "guesT_",
        "alice",
        "alice@example.com",
        "us-east-1:1234|abc",
        "a b",
        "caf\u{e9}",
        "a/b",
        "a\nb",
        "*",
        " * ",
        "**",
        "\"3\"",
        "W/\"3\"",
        "w/\"3\"",
        "\"3\", W/\"4\"",
        "\"3\" ,\t\"4\"",
        "\"3\",",
        ",\"3\"",
        "\"\"",
        "\"+3\"",
        "\"-1\"",
        "\"3",
        "3",
        "\"18446744073709551616\"",
        "abc, \"3\"",
        "\"3\" \"4\"",
        " \"3\" ",
        "book-001-pb",
        "x:y.z_w-1",
        "a\tb",
        "\u{7f}",
        "~",
        " ",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    samples.extend([
        guest(),
        guest().to_lowercase(),
        format!("{}I", &guest()[..31]),
        format!("guest_8{}", &guest()[7..]),
        item.clone(),
        item.to_uppercase(),
        item.replace('-', ""),
        format!("{{{item}}}"),
        format!("urn:uuid:{item}"),
        format!("{}g", &item[..35]),
        "a".repeat(64),
        "a".repeat(65),
        "a".repeat(128),
        "a".repeat(129),
        format!("guest{}", "a".repeat(123)),
        format!("guest{}", "a".repeat(124)),
        "k".repeat(255),
        "k".repeat(256),
        "n".repeat(200),
        "n".repeat(201),
        format!(" {}", "n".repeat(199)),
        format!(" {}", "n".repeat(200)),
        "Middlemarch \u{2014} George Eliot".into(),
        "\u{a0}".into(),
        "\u{a0}x\u{3000}".into(),
        "x\u{85}".into(),
        "x\u{9f}".into(),
        "x\u{a0}".into(),
        "\u{2028}".into(),
        "\u{200b}".into(),
        "USD".into(),
        "usd".into(),
        "XXX".into(),
        "EUR ".into(),
        "ZWG".into(),
        "max".into(),
        "MAX".into(),
        "sum".into(),
        "replace".into(),
        "keep".into(),
        "standard".into(),
        "reduced".into(),
        "super-reduced_2".into(),
        "Reduced".into(),
        "1st".into(),
        "x".repeat(32),
        "x".repeat(33),
        "FR".into(),
        "fr".into(),
        "US-CA".into(),
        "US-".into(),
        "XK".into(),
        "GB-ENG".into(),
        "GB-ENGL".into(),
        "0".into(),
        "007".into(),
        "100".into(),
        "100.0000".into(),
        "100.0001".into(),
        "99.9999".into(),
        "5.".into(),
        ".5".into(),
        "0100".into(),
        "1000".into(),
        "00.000".into(),
        "0.0001".into(),
        "000.0010".into(),
        "0.00001".into(),
        "SAVE10".into(),
        "save-10_x".into(),
        "-save".into(),
        "A".repeat(32),
        "A".repeat(33),
    ]);
    for sample in &samples {
        agree(formats, sample);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn documented_formats_agree_with_the_server_on_any_string(
        text in prop_oneof![
            "(guest_|guest|gues|gue|gu|g|Guest_|me|)[0-9A-Za-z._@:|/ \"*,-]{0,40}",
            "guest_[0-9A-Z]{24,27}",
            "[0-9a-fA-F-]{30,40}",
            "[ \t]*(W/)?\"[0-9+]{0,22}\"([ \t]*,[ \t]*(W/)?\"[0-9]{0,3}\"){0,2}[ \t,]*",
            "\\PC{0,8}",
            "[ \\t\\u{a0}\\u{85}\\u{2028}a-z]{0,4}",
            "[A-Z]{3}",
            "[A-Z]{2}(-[A-Z0-9]{0,4})?",
            "[0-9]{0,4}(\\.[0-9]{0,5})?",
            "[A-Za-z0-9_-]{0,34}",
        ]
    ) {
        agree(&FORMATS, &text);
    }
}
