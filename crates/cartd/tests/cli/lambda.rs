//! `cartd lambda` under a stand-in for AWS Lambda: a Runtime API (the HTTP protocol a custom
//! runtime polls: next invocation, its response or error) served by the test, fed with API
//! Gateway REST (v1) and HTTP API (v2) events built on the proxy-event layouts API Gateway
//! documents (`tests/fixtures/lambda/`; their values are examples, as no AWS account is
//! reachable to record from). One script of requests touches every documented route and GraphQL;
//! it runs against `cartd serve` and through both event versions, each on a fresh store, and
//! every answer must match the server's (status, content type, `ETag`, the body with ids and
//! times masked). The relay and worker roles are driven the same way.

use std::collections::HashMap;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::harness::{
    self, NO_RELAY, SECRET, Server, admin_token, cartd, guest, temp_db, user_token,
};

use crate::orders::WEBHOOK_SECRET;

/// What a function answered to one invocation.
#[derive(Debug)]
enum Outcome {
    /// `POST …/invocation/{id}/response`.
    Response(Value),
    /// `POST …/invocation/{id}/error` (or an init error).
    Error(Value),
}

/// The Lambda Runtime API's state: invocations waiting to be taken, and who waits for each
/// answer.
struct Runtime {
    pending: tokio::sync::Mutex<mpsc::Receiver<(String, Value)>>,
    answers: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<Value>>,
}

/// A Runtime API on a free port, and the handle that invokes through it.
struct FakeLambda {
    address: String,
    invocations: mpsc::Sender<(String, Value)>,
    runtime: Arc<Runtime>,
    process: Option<Child>,
}

impl FakeLambda {
    async fn start() -> Self {
        let (invocations, pending) = mpsc::channel(1);
        let runtime = Arc::new(Runtime {
            pending: tokio::sync::Mutex::new(pending),
            answers: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
        });
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(|state, id, body| answer(state, id, body, false)),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(|state, id, body| answer(state, id, body, true)),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(runtime.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            address,
            invocations,
            runtime,
            process: None,
        }
    }

    /// Starts `cartd lambda ROLE` against this Runtime API, with `env`.
    fn spawn(&mut self, role: &str, env: &[(&str, &str)]) {
        let mut command = cartd();
        command
            .args(["lambda", role])
            .env("AWS_LAMBDA_RUNTIME_API", &self.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", format!("cartd-{role}"))
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/cartd-{role}"),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/12/05/[$LATEST]test")
            .env("CARTD_JWT_SECRET", SECRET)
            .env("CARTD_PAYMENT_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        self.process = Some(command.spawn().expect("spawn cartd lambda"));
    }

    /// Invokes the function with `event` and waits for its answer.
    async fn invoke(&self, event: Value) -> Outcome {
        let id = uuid::Uuid::new_v4().to_string();
        let (tell, answer) = oneshot::channel();
        self.runtime
            .answers
            .lock()
            .expect("answers")
            .insert(id.clone(), tell);
        self.invocations
            .send((id, event))
            .await
            .expect("the runtime API is gone");
        match tokio::time::timeout(Duration::from_secs(30), answer).await {
            Ok(Ok(outcome)) => outcome,
            _ => panic!(
                "the function never answered (init error: {:?})",
                self.runtime.init_error.lock().expect("init error")
            ),
        }
    }

    /// Invokes and expects a response, not an error.
    async fn respond(&self, event: Value) -> Value {
        match self.invoke(event).await {
            Outcome::Response(value) => value,
            Outcome::Error(error) => panic!("the invocation failed: {error}"),
        }
    }
}

impl Drop for FakeLambda {
    fn drop(&mut self) {
        if let Some(process) = &mut self.process {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// `GET /2018-06-01/runtime/invocation/next`: waits for an invocation and hands it over with
/// the headers the runtime reads.
async fn next_invocation(State(runtime): State<Arc<Runtime>>) -> impl IntoResponse {
    let next = runtime.pending.lock().await.recv().await;
    let Some((id, event)) = next else {
        return (StatusCode::GONE, HeaderMap::new(), String::new());
    };
    let deadline = time::OffsetDateTime::now_utc().unix_timestamp() * 1000 + 30_000;
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", id.clone()),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:cartd".to_owned(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".to_owned(),
        ),
        ("content-type", "application/json".to_owned()),
    ] {
        headers.insert(name, value.parse().expect("header"));
    }
    (StatusCode::OK, headers, event.to_string())
}

/// `POST …/invocation/{id}/response` and `…/error`.
async fn answer(
    State(runtime): State<Arc<Runtime>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
    failed: bool,
) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let outcome = if failed {
        Outcome::Error(value)
    } else {
        Outcome::Response(value)
    };
    if let Some(waiting) = runtime.answers.lock().expect("answers").remove(&id) {
        let _ = waiting.send(outcome);
    }
    StatusCode::ACCEPTED
}

/// `POST /2018-06-01/runtime/init/error`.
async fn init_error(State(runtime): State<Arc<Runtime>>, body: axum::body::Bytes) -> StatusCode {
    *runtime.init_error.lock().expect("init error") =
        Some(serde_json::from_slice(&body).unwrap_or(Value::Null));
    StatusCode::ACCEPTED
}

/// One HTTP request of the script.
#[derive(Clone, Debug)]
struct Call {
    method: &'static str,
    /// Path and query.
    target: String,
    headers: Vec<(&'static str, String)>,
    body: Option<String>,
}

/// What came back.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// How the script's requests travel.
enum Transport<'a> {
    /// To `cartd serve` over HTTP.
    Server(reqwest::Client, &'a str),
    /// As API Gateway REST API (v1) events.
    RestApi(&'a FakeLambda),
    /// As API Gateway HTTP API (v2) events.
    HttpApi(&'a FakeLambda),
}

impl Transport<'_> {
    async fn send(&self, call: &Call) -> Answer {
        match self {
            Self::Server(client, base) => {
                let method = reqwest::Method::from_bytes(call.method.as_bytes()).expect("method");
                let mut request = client.request(method, format!("{base}{}", call.target));
                for (name, value) in &call.headers {
                    request = request.header(*name, value);
                }
                if let Some(body) = &call.body {
                    request = request.body(body.clone());
                }
                let response = request.send().await.expect("request");
                let status = response.status().as_u16();
                let headers = response
                    .headers()
                    .iter()
                    .map(|(name, value)| {
                        (
                            name.as_str().to_owned(),
                            value.to_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                let body = response.text().await.expect("body");
                Answer {
                    status,
                    headers,
                    body,
                }
            }
            Self::RestApi(lambda) => answer_of(lambda.respond(rest_api_event(call)).await, true),
            Self::HttpApi(lambda) => answer_of(lambda.respond(http_api_event(call)).await, false),
        }
    }
}

/// The path and the query pairs of a request target.
fn split_target(target: &str) -> (&str, Vec<(&str, &str)>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let pairs = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect();
    (path, pairs)
}

/// A REST API (v1) proxy event for `call`, on the recorded layout, under the stage `prod`.
fn rest_api_event(call: &Call) -> Value {
    let mut event: Value =
        serde_json::from_str(include_str!("../fixtures/lambda/apigw-rest-v1.json")).expect("v1");
    let (path, pairs) = split_target(&call.target);
    event["httpMethod"] = json!(call.method);
    event["path"] = json!(path);
    event["pathParameters"] = json!({ "proxy": path.trim_start_matches('/') });
    let headers: serde_json::Map<String, Value> = call
        .headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), json!(value)))
        .collect();
    let multi: serde_json::Map<String, Value> = call
        .headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), json!([value])))
        .collect();
    event["headers"] = Value::Object(headers);
    event["multiValueHeaders"] = Value::Object(multi);
    if pairs.is_empty() {
        event["queryStringParameters"] = Value::Null;
        event["multiValueQueryStringParameters"] = Value::Null;
    } else {
        event["queryStringParameters"] = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), json!(value)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        event["multiValueQueryStringParameters"] = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), json!([value])))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    event["body"] = call.body.as_ref().map_or(Value::Null, |body| json!(body));
    event["requestContext"]["httpMethod"] = json!(call.method);
    event["requestContext"]["path"] = json!(format!("/prod{path}"));
    event
}

/// An HTTP API (v2) event for `call`, on the recorded layout (the `$default` stage).
fn http_api_event(call: &Call) -> Value {
    let mut event: Value =
        serde_json::from_str(include_str!("../fixtures/lambda/apigw-http-v2.json")).expect("v2");
    let (path, pairs) = split_target(&call.target);
    let query = call.target.split_once('?').map_or("", |(_, query)| query);
    event["rawPath"] = json!(path);
    event["rawQueryString"] = json!(query);
    event["headers"] = call
        .headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), json!(value)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    event["queryStringParameters"] = if pairs.is_empty() {
        Value::Null
    } else {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), json!(value)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    event["body"] = call.body.as_ref().map_or(Value::Null, |body| json!(body));
    event["requestContext"]["http"]["method"] = json!(call.method);
    event["requestContext"]["http"]["path"] = json!(path);
    event
}

/// A proxy integration's response as an [`Answer`] (v1 may repeat headers in
/// `multiValueHeaders`).
fn answer_of(response: Value, rest_api: bool) -> Answer {
    let mut headers = HashMap::new();
    if rest_api && let Some(multi) = response["multiValueHeaders"].as_object() {
        for (name, values) in multi {
            let joined: Vec<&str> = values
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            headers.insert(name.to_ascii_lowercase(), joined.join(", "));
        }
    }
    for (name, value) in response["headers"].as_object().into_iter().flatten() {
        headers.insert(
            name.to_ascii_lowercase(),
            value.as_str().unwrap_or_default().to_owned(),
        );
    }
    let body = response["body"].as_str().unwrap_or_default();
    let body = if response["isBase64Encoded"].as_bool() == Some(true) {
        String::from_utf8(
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body)
                .expect("base64 body"),
        )
        .expect("a UTF-8 body")
    } else {
        body.to_owned()
    };
    Answer {
        status: response["statusCode"].as_u64().expect("statusCode") as u16,
        headers,
        body,
    }
}

/// One step of the script: a request built from what earlier answers gave (`vars`), the
/// status the server must answer, and what to remember from the answer.
struct Step {
    /// The documented route (`METHOD /path/{param}`), or `GraphQL`.
    route: &'static str,
    build: fn(&HashMap<&'static str, String>) -> Call,
    expect: u16,
    remember: fn(&Value, &mut HashMap<&'static str, String>),
}

fn nothing(_: &Value, _: &mut HashMap<&'static str, String>) {}

fn call(method: &'static str, target: String) -> Call {
    Call {
        method,
        target,
        headers: Vec::new(),
        body: None,
    }
}

impl Call {
    fn bearer(mut self, token: &str) -> Self {
        self.headers
            .push(("authorization", format!("Bearer {token}")));
        self
    }

    fn json(mut self, body: Value) -> Self {
        self.headers
            .push(("content-type", "application/json".to_owned()));
        self.body = Some(body.to_string());
        self
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// The script: every documented operation at least once, GraphQL, and a few refusals.
fn script() -> Vec<Step> {
    let step = |route, build, expect| Step {
        route,
        build,
        expect,
        remember: nothing,
    };
    let remembering = |route, build, expect, remember| Step {
        route,
        build,
        expect,
        remember,
    };
    vec![
        step("GET /health", |_| call("GET", "/health".into()), 200),
        step("GET /ready", |_| call("GET", "/ready".into()), 200),
        step("GET /metrics", |_| call("GET", "/metrics".into()), 200),
        step(
            "GET /openapi.json",
            |_| call("GET", "/openapi.json".into()),
            200,
        ),
        step(
            "POST /v1/guests",
            |_| call("POST", "/v1/guests".into()),
            201,
        ),
        step(
            "GET /v1/products",
            |_| call("GET", "/v1/products?limit=3".into()),
            200,
        ),
        step(
            "GET /v1/products/{id}",
            |_| call("GET", "/v1/products/book-001-pb".into()),
            200,
        ),
        step(
            "PUT /v1/products/{id}",
            |v| {
                call("PUT", "/v1/products/lamp-1".into())
                    .bearer(&v["admin"])
                    .json(json!({"name": "Lampe à huile ☀", "unit_price": 1999, "currency": "USD", "stock": 5}))
            },
            201,
        ),
        remembering(
            "POST /v1/cart/{cartKey}/items",
            |v| {
                call("POST", format!("/v1/cart/{}/items", v["guest"]))
                    .json(json!({"product_id": "book-001-pb", "quantity": 2}))
            },
            201,
            |body, v| {
                v.insert(
                    "item",
                    body["items"][0]["item_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
            },
        ),
        step(
            "GET /v1/cart/{cartKey}",
            |v| call("GET", format!("/v1/cart/{}", v["guest"])),
            200,
        ),
        step(
            "PATCH /v1/cart/{cartKey}/items/{itemID}",
            |v| {
                call(
                    "PATCH",
                    format!("/v1/cart/{}/items/{}", v["guest"], v["item"]),
                )
                .header("if-match", "\"1\"")
                .json(json!({"quantity": 3}))
            },
            200,
        ),
        remembering(
            "POST /v1/cart/{cartKey}/items",
            |v| {
                call("POST", format!("/v1/cart/{}/items", v["guest"]))
                    .header("idempotency-key", "lamp-once")
                    .json(json!({"product_id": "lamp-1", "quantity": 1}))
            },
            201,
            |body, v| {
                let lamp = body["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|line| line["product_id"] == "lamp-1");
                v.insert(
                    "lamp",
                    lamp.and_then(|line| line["item_id"].as_str())
                        .unwrap_or_default()
                        .to_owned(),
                );
            },
        ),
        step(
            "DELETE /v1/cart/{cartKey}/items/{itemID}",
            |v| {
                call(
                    "DELETE",
                    format!("/v1/cart/{}/items/{}", v["guest"], v["lamp"]),
                )
            },
            200,
        ),
        step(
            "PATCH /v1/cart/{cartKey}",
            |v| call("PATCH", format!("/v1/cart/{}", v["guest"])).json(json!({"region": "US-CA"})),
            200,
        ),
        step(
            "POST /v1/cart/{cartKey}/discount-codes",
            |v| {
                call("POST", format!("/v1/cart/{}/discount-codes", v["guest"]))
                    .json(json!({"code": "books5"}))
            },
            200,
        ),
        step(
            "DELETE /v1/cart/{cartKey}/discount-codes/{code}",
            |v| {
                call(
                    "DELETE",
                    format!("/v1/cart/{}/discount-codes/BOOKS5", v["guest"]),
                )
            },
            200,
        ),
        step(
            "POST /v1/cart/{cartKey}/discount-codes",
            |v| {
                call("POST", format!("/v1/cart/{}/discount-codes", v["guest"]))
                    .json(json!({"code": "welcome10"}))
            },
            200,
        ),
        step(
            "POST /v1/cart/{cartKey}/reprice",
            |v| call("POST", format!("/v1/cart/{}/reprice", v["guest"])),
            200,
        ),
        remembering(
            "GET /v1/cart/{cartKey}/totals",
            |v| {
                call(
                    "GET",
                    format!("/v1/cart/{}/totals?explain=true", v["guest"]),
                )
            },
            200,
            |body, v| {
                v.insert(
                    "quote",
                    body["quote_token"].as_str().unwrap_or_default().to_owned(),
                );
            },
        ),
        step(
            "POST /v1/pricing/calculate",
            |_| {
                call("POST", "/v1/pricing/calculate".into()).json(json!({"currency": "USD", "region": "US-NY",
                    "discount_codes": ["welcome10"], "lines": [{"product_id": "book-002-eb", "quantity": 2}]}))
            },
            200,
        ),
        step(
            "GET /v1/tax-rates",
            |_| call("GET", "/v1/tax-rates".into()),
            200,
        ),
        step(
            "PUT /v1/tax-rates/{region}",
            |v| {
                call("PUT", "/v1/tax-rates/IT".into())
                    .bearer(&v["admin"])
                    .json(json!({"rates": {"standard": "22"}, "prices_include_tax": true}))
            },
            201,
        ),
        step(
            "DELETE /v1/tax-rates/{region}",
            |v| call("DELETE", "/v1/tax-rates/IT".into()).bearer(&v["admin"]),
            204,
        ),
        step(
            "GET /v1/shipping-rates",
            |_| call("GET", "/v1/shipping-rates".into()),
            200,
        ),
        step(
            "PUT /v1/shipping-rates/{region}",
            |v| {
                call("PUT", "/v1/shipping-rates/IT".into())
                    .bearer(&v["admin"])
                    .json(json!({"amount": 499, "currency": "EUR"}))
            },
            201,
        ),
        step(
            "DELETE /v1/shipping-rates/{region}",
            |v| call("DELETE", "/v1/shipping-rates/IT".into()).bearer(&v["admin"]),
            204,
        ),
        step(
            "GET /v1/promotions",
            |v| call("GET", "/v1/promotions".into()).bearer(&v["admin"]),
            200,
        ),
        step(
            "PUT /v1/promotions/{code}",
            |v| {
                call("PUT", "/v1/promotions/SAVE3".into())
                    .bearer(&v["admin"])
                    .json(json!({"type": "fixed", "amount": 300, "currency": "USD"}))
            },
            201,
        ),
        step(
            "GET /v1/promotions/{code}",
            |v| call("GET", "/v1/promotions/save3".into()).bearer(&v["admin"]),
            200,
        ),
        step(
            "DELETE /v1/promotions/{code}",
            |v| call("DELETE", "/v1/promotions/SAVE3".into()).bearer(&v["admin"]),
            204,
        ),
        remembering(
            "POST /v1/cart/{cartKey}/checkout",
            |v| {
                let address = json!({"name": "Zoë", "line1": "1 Market St", "city": "San Francisco",
                    "postal_code": "94105", "country": "US"});
                call("POST", format!("/v1/cart/{}/checkout", v["guest"]))
                    .header("idempotency-key", "order-1")
                    .json(
                        json!({"quote_token": v["quote"], "email": "zoe@example.com",
                        "shipping_address": address, "billing_address": address}),
                    )
            },
            201,
            |body, v| {
                v.insert(
                    "order",
                    body["order"]["id"].as_str().unwrap_or_default().to_owned(),
                );
                v.insert("payment", body["payment"].to_string());
            },
        ),
        step(
            "POST /v1/cart/{cartKey}/items",
            |v| {
                call("POST", format!("/v1/cart/{}/items", v["guest"]))
                    .json(json!({"product_id": "book-003-pb", "quantity": 1}))
            },
            409,
        ),
        step(
            "GET /v1/orders",
            |v| call("GET", format!("/v1/orders?guest_id={}", v["guest"])),
            200,
        ),
        step(
            "GET /v1/orders/{id}",
            |v| {
                call(
                    "GET",
                    format!("/v1/orders/{}?guest_id={}", v["order"], v["guest"]),
                )
            },
            200,
        ),
        step(
            "POST /v1/payments/webhook",
            |v| {
                let payment: Value = serde_json::from_str(&v["payment"]).unwrap_or_default();
                let payment = cart_core::order::PaymentIntent {
                    intent_id: payment["intent_id"].as_str().unwrap_or_default().to_owned(),
                    amount: payment["amount"].as_i64().unwrap_or_default(),
                    currency: payment["currency"].as_str().unwrap_or_default().to_owned(),
                    client_secret: String::new(),
                };
                let body = cart_api::payments::event_body("evt_lambda_1", true, &payment);
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let signature =
                    cart_api::payments::sign(WEBHOOK_SECRET.as_bytes(), now, body.as_bytes());
                let mut webhook = call("POST", "/v1/payments/webhook".into())
                    .header(cart_api::payments::SIGNATURE_HEADER, &signature)
                    .header("content-type", "application/json");
                webhook.body = Some(body);
                webhook
            },
            200,
        ),
        step(
            "PATCH /v1/orders/{id}",
            |v| {
                call("PATCH", format!("/v1/orders/{}", v["order"]))
                    .bearer(&v["admin"])
                    .json(json!({"status": "fulfilled"}))
            },
            200,
        ),
        step(
            "POST /v1/orders/{id}/cancel",
            |v| call("POST", format!("/v1/orders/{}/cancel", v["order"])).bearer(&v["admin"]),
            409,
        ),
        step(
            "GET /v1/admin/dead-letters",
            |v| call("GET", "/v1/admin/dead-letters".into()).bearer(&v["admin"]),
            200,
        ),
        step(
            "POST /v1/admin/dead-letters/{id}/retry",
            |v| {
                call(
                    "POST",
                    format!("/v1/admin/dead-letters/{}/retry", v["order"]),
                )
                .bearer(&v["admin"])
            },
            409,
        ),
        step(
            "GET /v1/admin/flags",
            |v| call("GET", "/v1/admin/flags".into()).bearer(&v["admin"]),
            200,
        ),
        step(
            "POST /v1/cart/{cartKey}/items",
            |v| {
                call("POST", "/v1/cart/me/items".into())
                    .bearer(&v["alice"])
                    .json(json!({"product_id": "book-002-eb", "quantity": 1}))
            },
            201,
        ),
        step(
            "POST /v1/cart/{cartKey}/items",
            |v| {
                call("POST", format!("/v1/cart/{}/items", v["guest2"]))
                    .json(json!({"product_id": "book-004-pb", "quantity": 2}))
            },
            201,
        ),
        step(
            "POST /v1/cart/{cartKey}/merge",
            |v| {
                call("POST", "/v1/cart/me/merge".into())
                    .bearer(&v["alice"])
                    .json(json!({"guest_id": v["guest2"], "strategy": "sum"}))
            },
            200,
        ),
        step(
            "DELETE /v1/cart/{cartKey}",
            |v| call("DELETE", "/v1/cart/me".into()).bearer(&v["alice"]),
            204,
        ),
        step(
            "GET /v1/cart/{cartKey}",
            |_| call("GET", "/v1/cart/alice".into()),
            401,
        ),
        step(
            "GET /v1/cart/{cartKey}",
            |v| call("GET", "/v1/cart/bob".into()).bearer(&v["alice"]),
            403,
        ),
        step(
            "POST /v1/cart/{cartKey}/items",
            |v| {
                let mut broken = call("POST", format!("/v1/cart/{}/items", v["guest2"]))
                    .header("content-type", "application/json");
                broken.body = Some("{\"product_id\": \"book-001-pb\", \"quantity\": ".into());
                broken
            },
            400,
        ),
        step(
            "POST /v1/cart/{cartKey}/items",
            |v| {
                let mut overflow = call("POST", format!("/v1/cart/{}/items", v["guest2"]))
                    .header("content-type", "application/json");
                overflow.body = Some(
                    r#"{"product_id": "book-001-pb", "quantity": 18446744073709551616}"#.into(),
                );
                overflow
            },
            400,
        ),
        step(
            "GET /v1/cart/{cartKey}",
            |_| call("GET", "/v1/cart/guest_notaulid".into()),
            400,
        ),
        step(
            "GraphQL",
            |v| {
                call("POST", "/graphql".into()).json(json!({"query": format!(
                    "mutation {{ addItem(cartKey: \"{}\", productId: \"book-002-eb\", quantity: 1) \
                     {{ cart {{ version totalPrice {{ amount currency }} }} userErrors {{ code message }} }} }}",
                    v["guest3"])}))
            },
            200,
        ),
        step(
            "GraphQL",
            |v| {
                call("POST", "/graphql".into()).bearer(&v["alice"]).json(
                    json!({"query": "{ myOrders { orders { number status total { amount } } } }"}),
                )
            },
            200,
        ),
        step("unrouted", |_| call("GET", "/v2/nothing".into()), 404),
    ]
}

/// Runs the script over `transport` and returns each step's answer, masked for comparison.
async fn run_script(
    transport: &Transport<'_>,
    fixed: &HashMap<&'static str, String>,
) -> Vec<String> {
    let mut vars = fixed.clone();
    let mut seen = Vec::new();
    for (n, step) in script().iter().enumerate() {
        let call = (step.build)(&vars);
        assert!(
            on_route(step.route, &call),
            "step {n} is labelled {} but asks {} {}",
            step.route,
            call.method,
            call.target
        );
        let answer = transport.send(&call).await;
        if let Transport::Server(..) = transport {
            assert_eq!(
                answer.status, step.expect,
                "step {n} ({}) of the script: {}",
                step.route, answer.body
            );
        }
        (step.remember)(&answer.json(), &mut vars);
        seen.push(format!(
            "step {n} {} {}: {}",
            call.method,
            mask_text(&call.target),
            observed(&call, &answer)
        ));
    }
    seen
}

/// Whether `call` asks the operation `route` names (`METHOD /path/{param}`; `GraphQL` is
/// `POST /graphql`, `unrouted` any path the router lacks).
fn on_route(route: &str, call: &Call) -> bool {
    let (method, template) = match route {
        "GraphQL" => ("POST", "/graphql"),
        "unrouted" => return true,
        _ => route.split_once(' ').expect("METHOD /path"),
    };
    let (path, _) = split_target(&call.target);
    let (wanted, asked): (Vec<&str>, Vec<&str>) =
        (template.split('/').collect(), path.split('/').collect());
    method == call.method
        && wanted.len() == asked.len()
        && wanted
            .iter()
            .zip(&asked)
            .all(|(wanted, asked)| wanted.starts_with('{') || wanted == asked)
}

/// What is compared of an answer: the status, the content type, the `ETag`, whether it was
/// replayed, and the body with what differs between two stores (ids, times, secrets) masked.
fn observed(call: &Call, answer: &Answer) -> String {
    let header = |name: &str| answer.headers.get(name).cloned().unwrap_or_default();
    let body = if call.target == "/metrics" {
        // Counters differ (the server counted other requests); the format must not.
        assert!(answer.body.contains("# TYPE"), "{}", answer.body);
        String::new()
    } else {
        match serde_json::from_str::<Value>(&answer.body) {
            Ok(value) => masked(value).to_string(),
            Err(_) => answer.body.clone(),
        }
    };
    format!(
        "{} {} etag={} replayed={} location={} {}",
        answer.status,
        header("content-type"),
        header("etag"),
        header("idempotent-replayed"),
        mask_text(&header("location")),
        body
    )
}

/// `value` with ids, times and secrets replaced by their kind.
fn masked(value: Value) -> Value {
    match value {
        Value::String(text) => Value::String(mask_text(&text)),
        Value::Array(items) => Value::Array(items.into_iter().map(masked).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(name, value)| {
                    let value = match name.as_str() {
                        "request_id" | "trace_id" | "quote_token" | "client_secret"
                        | "intent_id" | "latency" => Value::String(format!("<{name}>")),
                        _ => masked(value),
                    };
                    (name, value)
                })
                .collect(),
        ),
        other => other,
    }
}

/// Masks UUIDs, guest ids, RFC 3339 times and payment intents inside a string.
fn mask_text(text: &str) -> String {
    let words: Vec<String> = text
        .split_inclusive(|c: char| {
            !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == ':' || c == '.')
        })
        .map(|piece| {
            let (word, tail) = piece.split_at(
                piece
                    .char_indices()
                    .last()
                    .filter(|(_, c)| {
                        !(c.is_ascii_alphanumeric()
                            || *c == '-'
                            || *c == '_'
                            || *c == ':'
                            || *c == '.')
                    })
                    .map_or(piece.len(), |(at, _)| at),
            );
            format!("{}{tail}", mask_word(word))
        })
        .collect();
    words.concat()
}

fn mask_word(word: &str) -> String {
    let bytes = word.as_bytes();
    let is_uuid = bytes.len() == 36
        && [8, 13, 18, 23].iter().all(|&at| bytes[at] == b'-')
        && word
            .chars()
            .filter(|c| *c != '-')
            .all(|c| c.is_ascii_hexdigit());
    let is_guest = word.len() == 32 && word.starts_with("guest_");
    let is_time = bytes.len() >= 20 && bytes[4] == b'-' && bytes[10] == b'T';
    if is_uuid {
        "<uuid>".into()
    } else if is_guest {
        "<guest>".into()
    } else if is_time {
        "<time>".into()
    } else if word.starts_with("pi_") || word.starts_with("evt_") {
        "<payment>".into()
    } else {
        word.to_owned()
    }
}

/// The ids and tokens every run of the script shares.
fn fixed_vars() -> HashMap<&'static str, String> {
    HashMap::from([
        ("guest", guest(1)),
        ("guest2", guest(2)),
        ("guest3", guest(3)),
        ("admin", admin_token()),
        ("alice", user_token("alice")),
    ])
}

/// The settings every store here is opened with: the same as the server's, no worker (it
/// would fulfil paid orders behind the script's back) and no relay (`/ready` then lists the
/// same checks).
fn settings(db: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("CARTD_STORE", harness::store_url(db)),
        ("CARTD_WORKER_SOURCE", "none".into()),
        ("CARTD_NO_RELAY", "true".into()),
        (
            "CARTD_EVENTS",
            format!("file://{}", db.with_extension("events.ndjson").display()),
        ),
    ]
}

fn borrowed<'a>(settings: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    settings
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

#[tokio::test]
async fn every_route_answers_through_api_gateway_v1_and_v2_events_as_the_server_does() {
    let fixed = fixed_vars();

    let (_dir, db) = temp_db();
    let server_settings = settings(&db);
    let mut env = borrowed(&server_settings);
    env.push(("CARTD_PAYMENT_WEBHOOK_SECRET", WEBHOOK_SECRET));
    let server = Server::start(&db, &env).await;
    let expected = run_script(
        &Transport::Server(reqwest::Client::new(), &server.base),
        &fixed,
    )
    .await;

    for rest_api in [true, false] {
        let (_dir, db) = temp_db();
        let function_settings = settings(&db);
        let mut lambda = FakeLambda::start().await;
        lambda.spawn("http", &borrowed(&function_settings));
        let transport = if rest_api {
            Transport::RestApi(&lambda)
        } else {
            Transport::HttpApi(&lambda)
        };
        let seen = run_script(&transport, &fixed).await;
        let version = if rest_api {
            "REST API (v1)"
        } else {
            "HTTP API (v2)"
        };
        for (expected, seen) in expected.iter().zip(&seen) {
            assert_eq!(seen, expected, "through {version} events");
        }
        assert_eq!(seen.len(), expected.len());
    }
}

#[test]
fn the_script_covers_every_documented_operation() {
    let document: Value =
        serde_json::from_str(include_str!("../../../../docs/openapi.json")).expect("openapi");
    let covered: Vec<&str> = script().iter().map(|step| step.route).collect();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            let route = format!("{} {path}", method.to_ascii_uppercase());
            if ["GET", "PUT", "POST", "PATCH", "DELETE"]
                .iter()
                .any(|m| route.starts_with(m))
            {
                assert!(
                    covered.contains(&route.as_str()),
                    "{route} is not in the Lambda script"
                );
            }
        }
    }
    assert!(covered.contains(&"GraphQL"));
}

/// An EventBridge schedule's event, as the relay function gets it every minute.
fn scheduled_event() -> Value {
    json!({"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
        "time": "2026-12-05T03:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/cartd-relay"], "detail": {}})
}

/// An SQS batch as the worker function's event source mapping delivers it: each body an SNS
/// notification wrapping an envelope (no raw message delivery).
fn sqs_batch(records: &[(&str, &str)]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|(id, envelope)| {
            let notification = json!({"Type": "Notification", "MessageId": id,
                "TopicArn": "arn:aws:sns:us-east-1:123456789012:cartd-events",
                "Message": envelope, "Timestamp": "2026-12-05T03:00:00.000Z"});
            json!({"messageId": id, "receiptHandle": format!("handle-{id}"),
                "body": notification.to_string(),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1796439600000"},
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:cartd-orders",
                "awsRegion": "us-east-1"})
        })
        .collect();
    json!({ "Records": records })
}

/// The published `order.paid` envelope of `order` in the file sink's lines.
fn paid_envelope(events: &std::path::Path, order: &str) -> String {
    std::fs::read_to_string(events)
        .unwrap_or_default()
        .lines()
        .find(|line| {
            let event: Value = serde_json::from_str(line).unwrap_or_default();
            event["type"] == "order.paid" && event["data"]["order"]["order_id"] == order
        })
        .unwrap_or_else(|| panic!("no order.paid event of {order} was published"))
        .to_owned()
}

#[tokio::test]
async fn the_relay_function_publishes_the_outbox_and_the_worker_function_fulfils_paid_orders() {
    let (_dir, db) = temp_db();
    let events = db.with_extension("events.ndjson");
    let sink = format!("file://{}", events.display());
    let store = harness::store_url(&db);
    let server = Server::start(
        &db,
        &[
            NO_RELAY,
            ("CARTD_WORKER_SOURCE", "none"),
            ("CARTD_EVENTS", &sink),
            ("CARTD_PAYMENT_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let order = crate::orders::paid_order(&client, &server.base, 41).await;
    let failing = crate::orders::paid_order(&client, &server.base, 42).await;

    // The relay: each invocation publishes what is pending; the next finds nothing.
    let mut relay = FakeLambda::start().await;
    relay.spawn("relay", &[("CARTD_STORE", &store), ("CARTD_EVENTS", &sink)]);
    let first = relay.respond(scheduled_event()).await;
    assert!(
        first["published"].as_u64().unwrap_or_default() >= 8,
        "{first}"
    );
    assert_eq!(first["depth"], 0, "{first}");
    let second = relay.respond(scheduled_event()).await;
    assert_eq!(second["published"], 0, "{second}");
    assert_eq!(second["oldest_pending_seconds"], Value::Null, "{second}");
    let envelope = paid_envelope(&events, &order);
    let failing_envelope = paid_envelope(&events, &failing);
    let other = std::fs::read_to_string(&events)
        .expect("events")
        .lines()
        .next()
        .expect("an event")
        .to_owned();

    // The worker fulfils the paid order once, with its id as the idempotency key; an event of
    // another type is done with.
    let calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = calls.clone();
    let endpoint =
        crate::orders::fulfilment_endpoint(axum::routing::post(move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let key = headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                seen.lock().expect("calls").push(key);
                StatusCode::OK
            }
        }))
        .await;
    let mut worker = FakeLambda::start().await;
    worker.spawn(
        "worker",
        &[("CARTD_STORE", &store), ("CARTD_FULFILMENT_URL", &endpoint)],
    );
    let answer = worker
        .respond(sqs_batch(&[("m-1", &envelope), ("m-2", &other)]))
        .await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(*calls.lock().expect("calls"), vec![order.clone()]);
    let admin = admin_token();
    let status = |id: String| {
        let (client, base, admin) = (client.clone(), server.base.clone(), admin.clone());
        async move {
            let view: Value = client
                .get(format!("{base}/v1/orders/{id}"))
                .bearer_auth(admin)
                .send()
                .await
                .expect("order")
                .json()
                .await
                .expect("json");
            view["status"].as_str().unwrap_or_default().to_owned()
        }
    };
    assert_eq!(status(order.clone()).await, "fulfilled");

    // A fulfilment that fails is reported back, so SQS delivers the record again.
    let broken = crate::orders::fulfilment_endpoint(axum::routing::post(|| async {
        StatusCode::SERVICE_UNAVAILABLE
    }))
    .await;
    let mut unlucky = FakeLambda::start().await;
    unlucky.spawn(
        "worker",
        &[("CARTD_STORE", &store), ("CARTD_FULFILMENT_URL", &broken)],
    );
    let answer = unlucky
        .respond(sqs_batch(&[("m-3", &failing_envelope)]))
        .await;
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "m-3"}]})
    );
    assert_eq!(status(failing).await, "paid");
}

#[test]
fn outside_lambda_the_command_says_what_is_missing_and_exits_2() {
    let output = harness::run(&["lambda", "http"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("AWS_LAMBDA_RUNTIME_API is not set"),
        "{stderr}"
    );
    let output = harness::run(&["lambda", "sideways"], &[]);
    assert_eq!(output.status.code(), Some(2));
}

/// The next message on `queue` within `wait`, hidden from other receivers for 5 minutes.
async fn receive_one(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    wait: Duration,
) -> Option<aws_sdk_sqs::types::Message> {
    let deadline = std::time::Instant::now() + wait;
    while std::time::Instant::now() < deadline {
        let received = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(1)
            .visibility_timeout(300)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        if let Some(message) = received.messages().first() {
            return Some(message.clone());
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_record_the_worker_function_must_retry_comes_back_after_its_backoff() {
    let Some(aws) = crate::orders::sns_to_sqs(10).await else {
        return;
    };
    let (_dir, db) = temp_db();
    let server = Server::start(
        &db,
        &[
            ("CARTD_WORKER_SOURCE", "none"),
            ("CARTD_EVENTS", &aws.events),
            ("CARTD_RELAY_POLL", "20ms"),
            ("CARTD_PAYMENT_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let order = crate::orders::paid_order(&client, &server.base, 61).await;
    // The relay publishes order.paid to the topic; the queue holds it. Received here as
    // Lambda's event source would, it is hidden for 5 minutes.
    let message = receive_one(&aws.sqs, &aws.queue, Duration::from_secs(20))
        .await
        .expect("the order.paid message reached the queue");
    let body = message.body().expect("body");
    assert!(body.contains(&order), "{body}");

    let broken = crate::orders::fulfilment_endpoint(axum::routing::post(|| async {
        StatusCode::SERVICE_UNAVAILABLE
    }))
    .await;
    let mut worker = FakeLambda::start().await;
    worker.spawn(
        "worker",
        &[
            ("CARTD_STORE", &harness::store_url(&db)),
            ("CARTD_FULFILMENT_URL", &broken),
            ("CARTD_WORKER_SOURCE", &aws.source),
            ("CARTD_WORKER_BACKOFF", "1s"),
        ],
    );
    let id = message.message_id().expect("id");
    let event = json!({"Records": [{"messageId": id,
        "receiptHandle": message.receipt_handle().expect("receipt"), "body": body,
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
        "eventSource": "aws:sqs", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders"}]});
    let answer = worker.respond(event).await;
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": id}]})
    );
    // Back after the first attempt's backoff (at most 1 s here), not the 5 minutes it was
    // hidden for.
    let again = receive_one(&aws.sqs, &aws.queue, Duration::from_secs(15))
        .await
        .expect("the message came back after the backoff");
    assert_eq!(again.message_id(), Some(id));
}

#[tokio::test]
async fn an_event_that_is_no_api_gateway_request_fails_that_invocation_only() {
    let (_dir, db) = temp_db();
    let function_settings = settings(&db);
    let mut lambda = FakeLambda::start().await;
    lambda.spawn("http", &borrowed(&function_settings));
    match lambda.invoke(json!({"nonsense": true, "Records": 7})).await {
        Outcome::Error(error) => assert!(error.is_object(), "{error}"),
        Outcome::Response(response) => panic!("answered a non-request: {response}"),
    }
    let health = answer_of(
        lambda
            .respond(http_api_event(&call("GET", "/health".into())))
            .await,
        false,
    );
    assert_eq!(
        (health.status, health.body.as_str()),
        (200, r#"{"status":"ok"}"#)
    );
}
