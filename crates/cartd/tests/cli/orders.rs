//! The order worker as a process: paid orders reach a real HTTP fulfilment endpoint, signed and
//! keyed by order id, and a worker killed mid-batch leaves nothing unfulfilled once restarted.

use std::collections::HashMap;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Server, admin_token, cartd, guest, run, store_url, temp_db};

pub(crate) const WEBHOOK_SECRET: &str = "whsec-cli-test";

/// What the fulfilment stub saw: calls per idempotency key, and whether every call was signed.
#[derive(Default)]
struct Seen {
    calls: HashMap<String, usize>,
    unsigned: usize,
}

/// A fulfilment endpoint that takes its time (so a worker can be killed mid-call) and records
/// each call's `Idempotency-Key`.
async fn fulfilment_stub(seen: Arc<Mutex<Seen>>) -> String {
    fulfilment_endpoint(axum::routing::post(
        move |headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            async move {
                let signature = headers.get("cartd-signature").and_then(|v| v.to_str().ok());
                let signed = cart_api::payments::verify(
                    WEBHOOK_SECRET.as_bytes(),
                    signature,
                    &body,
                    time::OffsetDateTime::now_utc(),
                )
                .is_ok();
                let key = idempotency_key(&headers);
                {
                    let mut seen = seen.lock().expect("lock");
                    *seen.calls.entry(key).or_default() += 1;
                    if !signed {
                        seen.unsigned += 1;
                    }
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                StatusCode::OK
            }
        },
    ))
    .await
}

/// Serves `handler` as a fulfilment endpoint on a free local port; answers its URL.
pub(crate) async fn fulfilment_endpoint(handler: axum::routing::MethodRouter) -> String {
    let app = axum::Router::new().route("/fulfil", handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/fulfil")
}

/// Places an order for one unit of `product` from the fresh guest cart `key`; answers the
/// checkout's body.
pub(crate) async fn place(client: &reqwest::Client, base: &str, key: &str, product: &str) -> Value {
    let cart = format!("{base}/v1/cart/{key}");
    client
        .post(format!("{cart}/items"))
        .json(&json!({"product_id": product, "quantity": 1}))
        .send()
        .await
        .expect("add");
    client
        .patch(&cart)
        .json(&json!({"region": "US-CA"}))
        .send()
        .await
        .expect("region");
    let totals: Value = client
        .get(format!("{cart}/totals"))
        .send()
        .await
        .expect("totals")
        .json()
        .await
        .expect("json");
    let address = json!({"name": "Zoë", "line1": "1 Market St", "city": "San Francisco",
                         "postal_code": "94105", "country": "US"});
    let placed: Value = client
        .post(format!("{cart}/checkout"))
        .header("idempotency-key", format!("order-{key}"))
        .json(
            &json!({"quote_token": totals["quote_token"], "email": "zoe@example.com",
                      "shipping_address": address.clone(), "billing_address": address}),
        )
        .send()
        .await
        .expect("checkout")
        .json()
        .await
        .expect("json");
    assert!(placed["order"]["id"].is_string(), "{placed}");
    placed
}

/// Sends the provider's signed word that the order of `placed` is paid, as event `event_id`;
/// answers the webhook's body (an error when the server is gone).
async fn pay(
    client: &reqwest::Client,
    base: &str,
    placed: &Value,
    event_id: &str,
) -> reqwest::Result<Value> {
    let payment = &placed["payment"];
    let event = json!({"id": event_id, "type": "payment_intent.succeeded",
        "data": {"object": {"id": payment["intent_id"], "amount": payment["amount"],
                            "currency": payment["currency"]}}})
    .to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = cart_api::payments::sign(WEBHOOK_SECRET.as_bytes(), now, event.as_bytes());
    client
        .post(format!("{base}/v1/payments/webhook"))
        .header("payment-signature", signature)
        .header("content-type", "application/json")
        .body(event)
        .send()
        .await?
        .json()
        .await
}

/// Places and pays an order from a fresh guest cart; answers its id.
pub(crate) async fn paid_order(client: &reqwest::Client, base: &str, n: u128) -> String {
    let placed = place(client, base, &guest(n), "book-001-pb").await;
    let paid = pay(client, base, &placed, &format!("evt_{n}"))
        .await
        .expect("webhook");
    assert_eq!(paid["status"], "paid", "{paid}");
    placed["order"]["id"].as_str().expect("id").to_owned()
}

/// The fulfilled orders, once there are `want` of them or 40 seconds have passed.
async fn fulfilled_orders(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    want: usize,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let page: Value = client
            .get(format!("{base}/v1/orders?status=fulfilled&limit=100"))
            .bearer_auth(admin)
            .send()
            .await
            .expect("orders")
            .json()
            .await
            .expect("json");
        let done = page["orders"].as_array().expect("orders").clone();
        if done.len() >= want || Instant::now() > deadline {
            return done;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `cartd worker` on `db`, fulfilling at `url`.
fn worker(db: &std::path::Path, url: &str) -> Child {
    cartd()
        .arg("worker")
        .env("CARTD_STORE", store_url(db))
        .env("CARTD_PAYMENT_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("CARTD_FULFILMENT_URL", url)
        .env("CARTD_FULFILMENT_TIMEOUT", "1s")
        .env("CARTD_WORKER_LEASE", "2s")
        .env("CARTD_WORKER_POLL", "100ms")
        .env("CARTD_WORKER_BACKOFF", "100ms")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cartd worker")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_batch_and_restarted_fulfils_every_paid_order_exactly_once() {
    let (_dir, db) = temp_db();
    let server = Server::start(
        &db,
        &[
            ("CARTD_WORKER_SOURCE", "none"),
            ("CARTD_PAYMENT_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let mut orders = Vec::new();
    for n in 0..6 {
        orders.push(paid_order(&client, &server.base, n).await);
    }
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let url = fulfilment_stub(seen.clone()).await;

    let mut first = worker(&db, &url);
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().expect("lock").calls.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the worker never called the endpoint"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().expect("SIGKILL the worker");
    first.wait().expect("reap");
    let called_before_the_kill = seen.lock().expect("lock").calls.len();
    assert!(called_before_the_kill < orders.len(), "killed mid-batch");

    let mut second = worker(&db, &url);
    let admin = admin_token();
    let fulfilled = fulfilled_orders(&client, &server.base, &admin, orders.len()).await;
    second.kill().expect("stop the worker");
    second.wait().expect("reap");

    assert_eq!(
        fulfilled.len(),
        orders.len(),
        "every paid order was fulfilled"
    );
    for order in &fulfilled {
        let history: Vec<&str> = order["status_history"]
            .as_array()
            .expect("history")
            .iter()
            .map(|step| step["status"].as_str().expect("status"))
            .collect();
        assert_eq!(history, ["pending_payment", "paid", "fulfilled"], "once");
    }
    let seen = seen.lock().expect("lock");
    let mut keys: Vec<&String> = seen.calls.keys().collect();
    keys.sort();
    let mut expected: Vec<&String> = orders.iter().collect();
    expected.sort();
    assert_eq!(
        keys, expected,
        "each call carried its order's id as its key"
    );
    assert_eq!(seen.unsigned, 0, "every call was signed with the secret");
    // Only an order whose call the kill interrupted may have been called twice; the endpoint
    // fulfils it once by its key.
    let repeated = seen.calls.values().filter(|&&calls| calls > 1).count();
    assert!(repeated <= called_before_the_kill, "{:?}", seen.calls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_payments_leaves_every_order_its_stock_and_its_cart_consistent() {
    let (_dir, db) = temp_db();
    let env = [
        ("CARTD_WORKER_SOURCE", "none"),
        ("CARTD_PAYMENT_WEBHOOK_SECRET", WEBHOOK_SECRET),
    ];
    let mut server = Server::start(&db, &env).await;
    let client = reqwest::Client::new();
    let admin = admin_token();
    let stocked = client
        .put(format!("{}/v1/products/kill-hc", server.base))
        .bearer_auth(&admin)
        .json(
            &json!({"name": "Killing Time (hardcover)", "unit_price": 2000,
                      "currency": "USD", "stock": 100}),
        )
        .send()
        .await
        .expect("product");
    assert!(stocked.status().is_success());
    const ORDERS: usize = 30;
    let mut placed = Vec::new();
    for n in 0..ORDERS {
        let key = guest(1000 + n as u128);
        let body = place(&client, &server.base, &key, "kill-hc").await;
        placed.push((key, body));
    }
    // Every payment at once; the server dies while they are being applied.
    let acknowledged: Arc<Mutex<Vec<usize>>> = Arc::default();
    let senders: Vec<_> = placed
        .iter()
        .enumerate()
        .map(|(n, (_, body))| {
            let (client, base, body, acknowledged) = (
                client.clone(),
                server.base.clone(),
                body.clone(),
                acknowledged.clone(),
            );
            tokio::spawn(async move {
                if let Ok(answer) = pay(&client, &base, &body, &format!("evt_kill_{n}")).await
                    && answer["status"] == "paid"
                {
                    acknowledged.lock().expect("lock").push(n);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while acknowledged.lock().expect("lock").len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reap");
    for sender in senders {
        let _ = sender.await;
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();

    let server = Server::start(&db, &env).await;
    let check = |paid_expected: Option<usize>| {
        let (client, base, admin, placed, acknowledged) = (
            client.clone(),
            server.base.clone(),
            admin.clone(),
            placed.clone(),
            acknowledged.clone(),
        );
        async move {
            let mut paid = 0;
            for (n, (key, body)) in placed.iter().enumerate() {
                let id = body["order"]["id"].as_str().expect("id");
                let order: Value = client
                    .get(format!("{base}/v1/orders/{id}"))
                    .bearer_auth(&admin)
                    .send()
                    .await
                    .expect("order")
                    .json()
                    .await
                    .expect("json");
                let cart: Value = client
                    .get(format!("{base}/v1/cart/{key}"))
                    .send()
                    .await
                    .expect("cart")
                    .json()
                    .await
                    .expect("json");
                match order["status"].as_str() {
                    Some("paid") => {
                        paid += 1;
                        assert!(cart["checkout"].is_null(), "{cart}");
                        assert_eq!(cart["items"], json!([]), "a paid order's cart is empty");
                    }
                    Some("pending_payment") => {
                        assert!(
                            !acknowledged.contains(&n),
                            "an acknowledged payment was lost"
                        );
                        assert_eq!(cart["checkout"]["order_id"], id, "still locked by it");
                        assert_eq!(cart["items"][0]["quantity"], 1);
                    }
                    other => panic!("order {n} is {other:?}"),
                }
            }
            if let Some(expected) = paid_expected {
                assert_eq!(paid, expected);
            }
            let product: Value = client
                .get(format!("{base}/v1/products/kill-hc"))
                .send()
                .await
                .expect("product")
                .json()
                .await
                .expect("json");
            assert_eq!(
                (product["stock"].as_u64(), product["reserved"].as_u64()),
                (Some((100 - paid) as u64), Some((ORDERS - paid) as u64)),
                "stock taken for each paid order and reserved for each pending one"
            );
            paid
        }
    };
    let paid_after_crash = check(None).await;
    assert!(paid_after_crash >= acknowledged.len());
    // The provider retries what was not acknowledged: every order ends paid, nothing twice.
    for (n, (_, body)) in placed.iter().enumerate() {
        pay(&client, &server.base, body, &format!("evt_kill_{n}"))
            .await
            .expect("retry");
    }
    check(Some(ORDERS)).await;
}

/// The `Idempotency-Key` a fulfilment call carries (the order's), or empty.
fn idempotency_key(headers: &HeaderMap) -> String {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A fulfilment endpoint that refuses each order's first call (`503`) and takes the next.
async fn flaky_stub(seen: Arc<Mutex<Seen>>) -> String {
    fulfilment_endpoint(axum::routing::post(move |headers: HeaderMap| {
        let seen = seen.clone();
        async move {
            let key = idempotency_key(&headers);
            let mut seen = seen.lock().expect("lock");
            let calls = seen.calls.entry(key).or_default();
            *calls += 1;
            if *calls == 1 {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            }
        }
    }))
    .await
}

/// Runs a server whose relay publishes to `events` and a `cartd worker` reading `source`,
/// pays `orders_to_pay` orders and checks that the worker fulfils each one through an endpoint
/// that refuses each order's first call: two attempts per order, two calls per key.
async fn worker_source_fulfils_with_one_retry(
    events: &str,
    source: &str,
    orders_to_pay: u128,
    first_buyer: u128,
) {
    let (_dir, db) = temp_db();
    let server = Server::start(
        &db,
        &[
            ("CARTD_WORKER_SOURCE", "none"),
            ("CARTD_PAYMENT_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("CARTD_EVENTS", events),
            ("CARTD_RELAY_POLL", "20ms"),
        ],
    )
    .await;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let url = flaky_stub(seen.clone()).await;
    let mut worker = cartd()
        .arg("worker")
        .env("CARTD_STORE", store_url(&db))
        .env("CARTD_WORKER_SOURCE", source)
        .env("CARTD_PAYMENT_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("CARTD_FULFILMENT_URL", &url)
        .env("CARTD_WORKER_BACKOFF", "100ms")
        .env("CARTD_WORKER_LEASE", "20s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cartd worker");
    let client = reqwest::Client::new();
    let mut orders = Vec::new();
    for n in 0..orders_to_pay {
        orders.push(paid_order(&client, &server.base, first_buyer + n).await);
    }
    let admin = admin_token();
    let fulfilled = fulfilled_orders(&client, &server.base, &admin, orders.len()).await;
    worker.kill().expect("stop the worker");
    worker.wait().expect("reap");
    assert_eq!(
        fulfilled.len(),
        orders.len(),
        "every paid order was fulfilled"
    );
    for order in &fulfilled {
        assert_eq!(
            order["fulfilment"]["attempts"], 2,
            "one refusal, then success"
        );
    }
    let calls = seen.lock().expect("lock").calls.clone();
    assert_eq!(calls.len(), orders.len());
    assert!(calls.values().all(|&n| n == 2), "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_on_nats_fulfils_the_paid_orders_the_relay_publishes_and_retries_by_redelivery() {
    let nats =
        std::env::var("CARTD_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    if async_nats::connect(&nats).await.is_err() {
        assert!(
            std::env::var("CARTD_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "NATS is required (CARTD_REQUIRE_SERVICES=1) but not reachable at {nats}"
        );
        eprintln!("skipped: NATS is not reachable at {nats}");
        return;
    }
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let events = format!("{nats}?stream=W_{tag}&subject_prefix=w{tag}");
    worker_source_fulfils_with_one_retry(&events, &events, 3, 500).await;
    if let Ok(client) = async_nats::connect(&nats).await {
        let _ = async_nats::jetstream::new(client)
            .delete_stream(format!("W_{tag}"))
            .await;
    }
}

/// The SDK settings for the AWS emulator at `endpoint` (moto), with placeholder keys.
fn aws_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sns::config::SharedCredentialsProvider::new(
            aws_sdk_sns::config::Credentials::new("local", "local", None, None, "test"),
        ))
        .build()
}

/// An SNS topic and the worker's SQS queue subscribed to it (raw delivery, `order.paid`
/// only), with a dead-letter queue after `max_receive` receives; `None` (the test skips)
/// without an AWS emulator.
pub(crate) struct SnsToSqs {
    /// `CARTD_EVENTS` for the topic.
    pub(crate) events: String,
    /// `CARTD_WORKER_SOURCE` for the queue.
    pub(crate) source: String,
    pub(crate) sqs: aws_sdk_sqs::Client,
    /// The dead-letter queue's URL.
    pub(crate) dead: String,
    /// The worker's queue's URL.
    pub(crate) queue: String,
}

pub(crate) async fn sns_to_sqs(max_receive: u32) -> Option<SnsToSqs> {
    use aws_sdk_sqs::types::QueueAttributeName;

    let endpoint = std::env::var("CARTD_TEST_AWS_ENDPOINT")
        .or_else(|_| std::env::var("CARTD_TEST_DYNAMODB_ENDPOINT"))
        .unwrap_or_else(|_| "http://127.0.0.1:5005".into());
    let config = aws_config(&endpoint);
    let (sns, sqs) = (
        aws_sdk_sns::Client::new(&config),
        aws_sdk_sqs::Client::new(&config),
    );
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let topic = match sns
        .create_topic()
        .name(format!("orders-{tag}"))
        .send()
        .await
    {
        Ok(topic) => topic.topic_arn().expect("arn").to_owned(),
        Err(error) => {
            assert!(
                std::env::var("CARTD_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "an AWS emulator is required (CARTD_REQUIRE_SERVICES=1) at {endpoint}: {error:?}"
            );
            eprintln!("skipped: no AWS emulator at {endpoint}");
            return None;
        }
    };
    let queue_arn = |url: String| {
        let sqs = sqs.clone();
        async move {
            sqs.get_queue_attributes()
                .queue_url(&url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .expect("attributes")
                .attributes()
                .and_then(|a| a.get(&QueueAttributeName::QueueArn))
                .expect("arn")
                .clone()
        }
    };
    let dead = sqs
        .create_queue()
        .queue_name(format!("orders-dead-{tag}"))
        .send()
        .await
        .expect("dead-letter queue")
        .queue_url()
        .expect("url")
        .to_owned();
    let redrive = json!({"deadLetterTargetArn": queue_arn(dead.clone()).await,
                         "maxReceiveCount": max_receive.to_string()});
    let queue = sqs
        .create_queue()
        .queue_name(format!("orders-{tag}"))
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .expect("queue")
        .queue_url()
        .expect("url")
        .to_owned();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn(queue.clone()).await)
        .attributes("RawMessageDelivery", "true")
        .attributes("FilterPolicy", r#"{"type": ["order.paid"]}"#)
        .send()
        .await
        .expect("subscribe");
    Some(SnsToSqs {
        events: format!("sns://{topic}?endpoint={endpoint}&region=us-east-1"),
        source: format!("sqs://{queue}?endpoint={endpoint}&region=us-east-1"),
        sqs,
        dead,
        queue,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_on_an_sqs_queue_subscribed_to_the_sns_topic_fulfils_every_paid_order() {
    let Some(aws) = sns_to_sqs(10).await else {
        return;
    };
    worker_source_fulfils_with_one_retry(&aws.events, &aws.source, 2, 700).await;
}

/// A poison order on SQS: cartd makes it a dead letter after its attempts, and the queue's
/// redrive moves its message to the dead-letter queue; the other order is fulfilled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_order_on_sqs_is_a_dead_letter_in_cartd_and_in_the_queues_dead_letter_queue() {
    const ATTEMPTS: u32 = 2;
    let Some(aws) = sns_to_sqs(ATTEMPTS).await else {
        return;
    };
    let (_dir, db) = temp_db();
    let server = Server::start(
        &db,
        &[
            ("CARTD_WORKER_SOURCE", "none"),
            ("CARTD_PAYMENT_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("CARTD_EVENTS", &aws.events),
            ("CARTD_RELAY_POLL", "20ms"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let poison = paid_order(&client, &server.base, 800).await;
    // The fulfilment endpoint refuses the poison order, always, and takes any other.
    let refused = poison.clone();
    let url = fulfilment_endpoint(axum::routing::post(move |body: String| {
        let refused = refused.clone();
        async move {
            if body.contains(&refused) {
                StatusCode::BAD_GATEWAY
            } else {
                StatusCode::OK
            }
        }
    }))
    .await;
    let mut worker = cartd()
        .arg("worker")
        .env("CARTD_STORE", store_url(&db))
        .env("CARTD_WORKER_SOURCE", &aws.source)
        .env("CARTD_FULFILMENT_URL", &url)
        .env("CARTD_WORKER_MAX_ATTEMPTS", ATTEMPTS.to_string())
        .env("CARTD_WORKER_BACKOFF", "100ms")
        .env("CARTD_WORKER_LEASE", "20s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cartd worker");
    let healthy = paid_order(&client, &server.base, 801).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut redriven = None;
    while redriven.is_none() && Instant::now() < deadline {
        let received = aws
            .sqs
            .receive_message()
            .queue_url(&aws.dead)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive from the dead-letter queue");
        redriven = received
            .messages()
            .iter()
            .filter_map(|message| message.body())
            .find(|body| body.contains(&poison))
            .map(str::to_owned);
    }
    worker.kill().expect("stop the worker");
    worker.wait().expect("reap");
    let redriven = redriven.expect("the poison order's message reached the dead-letter queue");
    let event: Value = serde_json::from_str(&redriven).expect("an event envelope");
    assert_eq!(event["type"], "order.paid");
    assert_eq!(event["data"]["order"]["order_id"], poison.as_str());

    let admin = admin_token();
    let order = |id: String| {
        let (client, admin, base) = (client.clone(), admin.clone(), server.base.clone());
        async move {
            client
                .get(format!("{base}/v1/orders/{id}"))
                .bearer_auth(admin)
                .send()
                .await
                .expect("order")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let dead = order(poison.clone()).await;
    assert_eq!(dead["status"], "failed", "{dead}");
    assert_eq!(dead["fulfilment"]["attempts"], ATTEMPTS);
    let fulfilled = order(healthy).await;
    assert_eq!(fulfilled["status"], "fulfilled", "{fulfilled}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dead_letters_are_listed_and_retried_from_the_command_line() {
    let (_dir, db) = temp_db();
    // Every call refused, one attempt allowed: the order is a dead letter at once.
    let url = fulfilment_endpoint(axum::routing::post(|| async { StatusCode::BAD_GATEWAY })).await;
    let server = Server::start(
        &db,
        &[
            ("CARTD_WORKER_SOURCE", "none"),
            ("CARTD_PAYMENT_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let id = paid_order(&client, &server.base, 900).await;
    let store = store_url(&db);
    let mut worker = cartd()
        .arg("worker")
        .env("CARTD_STORE", &store)
        .env("CARTD_FULFILMENT_URL", &url)
        .env("CARTD_WORKER_MAX_ATTEMPTS", "1")
        .env("CARTD_WORKER_POLL", "100ms")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cartd worker");
    let deadline = Instant::now() + Duration::from_secs(20);
    let listed = loop {
        let output = run(&["dead-letters", "list", "--store", &store], &[]);
        assert!(output.status.success(), "{output:?}");
        let text = String::from_utf8(output.stdout).expect("utf-8");
        if !text.is_empty() || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // No worker from here on: a retried order stays paid.
    worker.kill().expect("stop the worker");
    worker.wait().expect("reap");
    let letter: Value = serde_json::from_str(listed.lines().next().expect("a line")).expect("json");
    assert_eq!(letter["id"], id.as_str());
    assert_eq!(letter["status"], "failed");
    assert!(
        letter["fulfilment"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("502")),
        "{letter}"
    );

    let retried = run(&["dead-letters", "retry", &id, "--store", &store], &[]);
    assert!(retried.status.success(), "{retried:?}");
    assert!(
        String::from_utf8_lossy(&retried.stdout).contains("is paid"),
        "{retried:?}"
    );
    let again = run(&["dead-letters", "retry", &id, "--store", &store], &[]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "a paid order is no dead letter"
    );
    let nobody = run(
        &["dead-letters", "retry", "not-a-uuid", "--store", &store],
        &[],
    );
    assert_eq!(nobody.status.code(), Some(2));
}
