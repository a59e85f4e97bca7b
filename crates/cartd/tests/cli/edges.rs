//! Secrets, CORS and the audit log, as an operator sets them up: secrets from files (read again
//! on SIGHUP) and from AWS Secrets Manager (on moto, the local AWS-compatible server; skipped
//! with a printed reason when it does not answer, unless `CARTD_REQUIRE_SERVICES=1`), CORS
//! preflights from allowed and other origins, and the audit log's lines for privileged actions.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{
    NO_RELAY, Server, admin_token, guest, run, temp_db, user_token, wait_for_line,
};

const FIRST_JWT: &str = "first-jwt-secret-0123456789abcdef-xyz";
const SECOND_JWT: &str = "second-jwt-secret-0123456789abcdef-xyz";

/// A token for `sub` signed with `secret`.
fn token_signed_with(secret: &str, sub: &str) -> String {
    let minted = run(&["token", "--sub", sub], &[("CARTD_JWT_SECRET", secret)]);
    assert!(minted.status.success());
    String::from_utf8_lossy(&minted.stdout).trim().to_owned()
}

async fn my_cart_status(client: &reqwest::Client, base: &str, token: &str) -> u16 {
    client
        .get(format!("{base}/v1/cart/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("get")
        .status()
        .as_u16()
}

/// The status of a payment webhook call signed with `secret` (400 when the signature is refused).
async fn webhook_status(client: &reqwest::Client, base: &str, secret: &str) -> (u16, Value) {
    let event = json!({"id": "evt_1", "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_unknown", "amount": 100, "currency": "USD"}}})
    .to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let response = client
        .post(format!("{base}/v1/payments/webhook"))
        .header(
            "payment-signature",
            cart_api::payments::sign(secret.as_bytes(), now, event.as_bytes()),
        )
        .header("content-type", "application/json")
        .body(event)
        .send()
        .await
        .expect("webhook");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn secret_files_are_read_at_start_and_again_on_sighup() {
    let (dir, db) = temp_db();
    let (jwt_file, webhook_file) = (dir.path().join("jwt"), dir.path().join("webhook"));
    std::fs::write(&jwt_file, format!("{FIRST_JWT}\n")).expect("jwt file");
    std::fs::write(&webhook_file, "whsec-first").expect("webhook file");
    let log_path = dir.path().join("cartd.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let server = Server::start_logging_to(
        &db,
        &[
            ("CARTD_JWT_SECRET_FILE", jwt_file.to_str().expect("path")),
            (
                "CARTD_PAYMENT_WEBHOOK_SECRET_FILE",
                webhook_file.to_str().expect("path"),
            ),
            ("CARTD_LOG", "info"),
            NO_RELAY,
        ],
        log.into(),
    )
    .await;
    let client = reqwest::Client::new();
    let (first, second) = (
        token_signed_with(FIRST_JWT, "zoe"),
        token_signed_with(SECOND_JWT, "zoe"),
    );
    assert_ne!(
        my_cart_status(&client, &server.base, &first).await,
        401,
        "the file's secret, newline trimmed"
    );
    assert_eq!(my_cart_status(&client, &server.base, &second).await, 401);
    let (status, refused) = webhook_status(&client, &server.base, "whsec-second").await;
    assert_eq!(
        (status, &refused["code"]),
        (400, &json!("SIGNATURE_INVALID"))
    );
    assert_ne!(
        webhook_status(&client, &server.base, "whsec-first").await.0,
        400
    );

    // Rotated: new files, then SIGHUP.
    std::fs::write(&jwt_file, SECOND_JWT).expect("jwt file");
    std::fs::write(&webhook_file, "whsec-second\n").expect("webhook file");
    server.signal("HUP");
    wait_for_line(&log_path, "SIGHUP: secrets read again");
    assert_eq!(
        my_cart_status(&client, &server.base, &first).await,
        401,
        "the old secret is gone"
    );
    assert_ne!(my_cart_status(&client, &server.base, &second).await, 401);
    assert_ne!(
        webhook_status(&client, &server.base, "whsec-second")
            .await
            .0,
        400
    );
    assert_eq!(
        webhook_status(&client, &server.base, "whsec-first").await.0,
        400
    );

    // A secret too short to be safe is refused, and the one in use stays.
    std::fs::write(&jwt_file, "short").expect("jwt file");
    server.signal("HUP");
    wait_for_line(&log_path, "CARTD_JWT_SECRET refused");
    assert_ne!(my_cart_status(&client, &server.base, &second).await, 401);
    let log = std::fs::read_to_string(&log_path).expect("log");
    for secret in [FIRST_JWT, SECOND_JWT, "whsec-first", "whsec-second"] {
        assert!(!log.contains(secret), "a secret reached the log");
    }

    // A secret given twice is a mistake, not a choice.
    let store = crate::harness::store_url(&db);
    let both = run(
        &["serve"],
        &[
            ("CARTD_STORE", store.as_str()),
            ("CARTD_JWT_SECRET", FIRST_JWT),
            ("CARTD_JWT_SECRET_FILE", jwt_file.to_str().expect("path")),
        ],
    );
    assert_eq!(both.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&both.stderr).contains("CARTD_JWT_SECRET_FILE"));
}

#[tokio::test]
async fn a_secrets_manager_reference_is_read_from_the_aws_api() {
    let endpoint = std::env::var("CARTD_TEST_DYNAMODB_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:5005".into());
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&endpoint)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let name = format!("cartd-test-{}", uuid::Uuid::new_v4().simple());
    let created = client
        .create_secret()
        .name(&name)
        .secret_string(json!({"hs256": FIRST_JWT, "other": "x"}).to_string())
        .send()
        .await;
    if let Err(e) = created {
        assert!(
            std::env::var("CARTD_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "moto is required (CARTD_REQUIRE_SERVICES=1) but did not answer at {endpoint}: {e}"
        );
        eprintln!("skipping: moto did not answer at {endpoint}: {e}");
        return;
    }
    let reference =
        format!("secretsmanager://{name}?region=us-east-1&endpoint={endpoint}&key=hs256");
    let aws = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let (_dir, db) = temp_db();
    let server = Server::start(
        &db,
        &[
            &aws[..],
            &[("CARTD_JWT_SECRET", reference.as_str()), NO_RELAY],
        ]
        .concat(),
    )
    .await;
    let http = reqwest::Client::new();
    assert_ne!(
        my_cart_status(&http, &server.base, &token_signed_with(FIRST_JWT, "zoe")).await,
        401
    );

    // A reference to a secret that is not there stops the start, naming the setting.
    let missing = format!("secretsmanager://{name}-missing?region=us-east-1&endpoint={endpoint}");
    let store = crate::harness::store_url(&db);
    let failed = run(
        &["serve"],
        &[
            &aws[..],
            &[
                ("CARTD_STORE", store.as_str()),
                ("CARTD_JWT_SECRET", missing.as_str()),
            ],
        ]
        .concat(),
    );
    assert_eq!(failed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("CARTD_JWT_SECRET"));
}

#[tokio::test]
async fn cors_answers_preflights_for_allowed_origins_only_and_never_allows_credentials() {
    let (_dir, db) = temp_db();
    let server = Server::start(
        &db,
        &[
            (
                "CARTD_CORS_ORIGINS",
                "https://shop.example, http://localhost:3000",
            ),
            // Preflights come before rate limits: a browser can always learn what it may send.
            ("CARTD_RATE_LIMIT", "1"),
            ("CARTD_RATE_BURST", "1"),
            NO_RELAY,
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/v1/cart/{}/items", server.base, guest(3)),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, idempotency-key",
            )
            .send()
    };
    for _ in 0..3 {
        let allowed = preflight("https://shop.example").await.expect("preflight");
        assert!(allowed.status().is_success(), "{}", allowed.status());
        let headers = allowed.headers();
        assert_eq!(
            headers["access-control-allow-origin"],
            "https://shop.example"
        );
        let allowed_headers = headers["access-control-allow-headers"]
            .to_str()
            .expect("ascii");
        assert!(
            allowed_headers.contains("idempotency-key"),
            "{allowed_headers}"
        );
        assert!(!headers.contains_key("access-control-allow-credentials"));
    }
    let other = preflight("https://evil.example").await.expect("preflight");
    assert!(!other.headers().contains_key("access-control-allow-origin"));

    let read = client
        .get(format!("{}/v1/products/book-001-pb", server.base))
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .expect("get");
    assert_eq!(
        read.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let exposed = read.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii");
    assert!(
        exposed.contains("etag") && exposed.contains("retry-after"),
        "{exposed}"
    );
}

#[tokio::test]
async fn the_audit_log_records_privileged_actions_and_refusals_only() {
    let (dir, db) = temp_db();
    let audit_path = dir.path().join("audit.jsonl");
    let server = Server::start(
        &db,
        &[
            ("CARTD_AUDIT_LOG", audit_path.to_str().expect("path")),
            NO_RELAY,
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let (ops, alice) = (admin_token(), user_token("alice"));
    let book = json!({"name": "Emma", "unit_price": 850, "currency": "USD"});
    let put = |token: &str| {
        client
            .put(format!("{}/v1/products/emma", server.base))
            .bearer_auth(token.to_owned())
            .json(&book)
            .send()
    };
    assert_eq!(put(&ops).await.expect("put").status(), 201);
    assert_eq!(put(&alice).await.expect("put").status(), 403);
    // Support reads a shopper's cart; shoppers' own traffic is not audited.
    let support = client
        .get(format!("{}/v1/cart/alice", server.base))
        .bearer_auth(&ops)
        .send()
        .await
        .expect("get");
    assert_eq!(support.status(), 404);
    client
        .post(format!("{}/v1/cart/me/items", server.base))
        .bearer_auth(&alice)
        .json(&json!({"product_id": "emma", "quantity": 1}))
        .send()
        .await
        .expect("add");
    client
        .get(format!("{}/v1/products/emma", server.base))
        .bearer_auth(&ops)
        .send()
        .await
        .expect("read");

    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let text = std::fs::read_to_string(&audit_path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect();
        if lines.len() >= 3 || Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let summary: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|line| {
            (
                line["actor"].as_str().unwrap_or_default(),
                line["action"].as_str().unwrap_or_default(),
                line["outcome"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("ops", "PUT /v1/products/{id}", "ok"),
            ("alice", "PUT /v1/products/{id}", "denied"),
            ("ops", "GET /v1/cart/{cartKey}", "refused"),
        ]
    );
    assert!(lines.iter().all(|line| line["target"] == "cartd::audit"
        && line["request_id"].as_str().is_some_and(|id| !id.is_empty())));
}
