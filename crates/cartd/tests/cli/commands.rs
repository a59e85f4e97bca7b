//! Settings, subcommands and signals.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{NO_RELAY, SECRET, Server, get_json, guest, run, store_url, temp_db};

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_bad_setting_is_one_line_naming_it_and_exit_code_2() {
    let (_dir, db) = temp_db();
    let url = store_url(&db);
    let cases: [(&str, &str); 26] = [
        ("CARTD_RATE_BURST", "0"),
        ("CARTD_OTEL_ENDPOINT", "not a url"),
        ("CARTD_FLAGS_FILE", "/nonexistent/flags.json"),
        ("CARTD_JWT_SECRET_FILE", "/nonexistent/jwt-secret"),
        (
            "CARTD_PAYMENT_WEBHOOK_SECRET_FILE",
            "/nonexistent/webhook-secret",
        ),
        ("CARTD_CORS_ORIGINS", "shop.example"),
        ("CARTD_CORS_ORIGINS", "https://shop.example/path"),
        ("CARTD_AUDIT_LOG", "/nonexistent/dir/audit.jsonl"),
        ("CARTD_CATALOG", "catalog:8080/products/{id}"),
        ("CARTD_CATALOG", "http://catalog:8080/products"),
        ("CARTD_CATALOG_FIELDS", "colour=c"),
        ("CARTD_CATALOG_FIELDS", "unit_price=price*0"),
        ("CARTD_CATALOG_RETRIES", "11"),
        ("CARTD_RATE_LIMIT_STORE", "postgres://127.0.0.1/test"),
        // Without CARTD_RATE_LIMIT there is nothing to share.
        ("CARTD_RATE_LIMIT_STORE", "redis://127.0.0.1:6379"),
        ("CARTD_MAX_IN_FLIGHT", "0"),
        ("CARTD_REQUEST_TIMEOUT", "soon"),
        ("CARTD_RECENT_CARTS_MIB", "-1"),
        ("CARTD_RECENT_CARTS_MIB", "100000"),
        ("CARTD_MAX_QUANTITY", "lots"),
        ("CARTD_MAX_QUANTITY", "0"),
        ("CARTD_MAX_ITEMS", "100000"),
        ("CARTD_GUEST_TTL", "forever"),
        ("CARTD_JWT_SECRET", "too-short"),
        ("CARTD_STORE", "mysql://localhost/carts"),
        ("CARTD_LISTEN", "not-an-address"),
    ];
    for (setting, value) in cases {
        let output = run(
            &["serve"],
            &[("CARTD_STORE", url.as_str()), (setting, value)],
        );
        let message = stderr(&output);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{setting}={value}: {message}"
        );
        assert_eq!(
            message.trim_end().lines().count(),
            1,
            "{setting}: {message}"
        );
        assert!(message.contains(setting), "{setting}: {message}");
        assert!(!message.contains("too-short"), "secrets are never printed");
    }
}

#[test]
fn migrate_and_catalog_import_are_all_or_nothing() {
    let (dir, db) = temp_db();
    let url = store_url(&db);
    let env = [("CARTD_STORE", url.as_str())];
    let migrated = run(&["migrate"], &env);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    assert!(
        run(&["migrate"], &env).status.success(),
        "migrate is idempotent"
    );

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        json!([
            {"id": "mug", "name": "Mug", "unit_price": 900, "currency": "USD"},
            {"id": "poster", "name": "Poster", "unit_price": -1, "currency": "USD"}
        ])
        .to_string(),
    )
    .expect("write");
    let refused = run(&["catalog", "import", bad.to_str().expect("path")], &env);
    assert_eq!(refused.status.code(), Some(2));
    let message = stderr(&refused);
    assert!(
        message.contains("row 1") && message.contains("unit_price"),
        "{message}"
    );

    let good = dir.path().join("good.json");
    std::fs::write(
        &good,
        json!([
            {"id": "mug", "name": "Mug", "unit_price": 900, "currency": "USD", "stock": 5},
            {"id": "cap", "name": "Cap", "unit_price": 1500, "currency": "USD", "active": false}
        ])
        .to_string(),
    )
    .expect("write");
    let imported = run(&["catalog", "import", good.to_str().expect("path")], &env);
    assert!(imported.status.success(), "{}", stderr(&imported));
    // "mug" was in the refused file too: 2 new proves the refused import wrote nothing.
    assert_eq!(
        String::from_utf8_lossy(&imported.stdout).trim(),
        "imported 2 products (2 new, 0 updated)"
    );
    let again = run(&["catalog", "import", good.to_str().expect("path")], &env);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "imported 2 products (0 new, 2 updated)"
    );
    let not_json = dir.path().join("nope.json");
    std::fs::write(&not_json, "{").expect("write");
    assert_eq!(
        run(
            &["catalog", "import", not_json.to_str().expect("path")],
            &env
        )
        .status
        .code(),
        Some(2)
    );
}

#[tokio::test]
async fn pricing_import_is_checked_whole_and_totals_use_what_it_loaded() {
    let (dir, db) = temp_db();
    let url = store_url(&db);
    let env = [("CARTD_STORE", url.as_str())];
    let file = |name: &str, body: Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, body.to_string()).expect("write");
        path
    };
    let bad = file(
        "bad.json",
        json!({
            "tax_rates": [{"region": "US", "rates": {"standard": "10"}, "prices_include_tax": false}],
            "promotions": [
                {"code": "TEN", "type": "percentage", "percent": "10"},
                {"code": "NOTHING", "type": "percentage", "percent": "0"}
            ]
        }),
    );
    let refused = run(&["pricing", "import", bad.to_str().expect("path")], &env);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(
        message.contains("promotions[1]: percent") && message.contains("nothing imported"),
        "{message}"
    );

    let good = file(
        "good.json",
        json!({
            "tax_rates": [{"region": "US", "rates": {"standard": "10"}, "prices_include_tax": false}],
            "shipping_rates": [{"region": "US-CA", "amount": 500, "currency": "USD"}],
            "promotions": [{"code": "half", "type": "percentage", "percent": "50"}]
        }),
    );
    let imported = run(&["pricing", "import", good.to_str().expect("path")], &env);
    assert!(imported.status.success(), "{}", stderr(&imported));
    assert_eq!(
        String::from_utf8_lossy(&imported.stdout).trim(),
        "imported 1 tax tables, 1 shipping rates and 1 promotions"
    );

    // The store had pricing settings, so no demo pricing is added; the demo catalog is.
    let server = Server::start(&db, &[NO_RELAY]).await;
    let promotions = get_json(&format!("{}/v1/tax-rates", server.base)).await;
    assert_eq!(
        promotions["items"].as_array().map(Vec::len),
        Some(1),
        "{promotions}"
    );
    let client = reqwest::Client::new();
    let key = guest(7);
    let base = &server.base;
    for (method, path, body) in [
        (
            "POST",
            format!("{base}/v1/cart/{key}/items"),
            json!({"product_id": "book-001-pb", "quantity": 2}),
        ),
        (
            "PATCH",
            format!("{base}/v1/cart/{key}"),
            json!({"region": "US-CA"}),
        ),
        (
            "POST",
            format!("{base}/v1/cart/{key}/discount-codes"),
            json!({"code": "HALF"}),
        ),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let answer = client
            .request(method, &path)
            .json(&body)
            .send()
            .await
            .expect("send");
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
    }
    let totals = get_json(&format!("{base}/v1/cart/{key}/totals")).await;
    // 2 × 9.36 = 18.72, half off 9.36, shipping 5.00, 10 % tax 0.94 + 0.50.
    assert_eq!(
        (
            &totals["discount"],
            &totals["shipping"],
            &totals["tax"],
            &totals["total"]
        ),
        (
            &json!(936),
            &json!(500),
            &json!(144),
            &json!(1872 - 936 + 500 + 144)
        ),
        "{totals}"
    );
}

#[tokio::test]
async fn serve_loads_the_demo_catalog_and_outbox_list_prints_pending_events() {
    let (_dir, db) = temp_db();
    // The relay stays off so the events are still pending when listed.
    let server = Server::start(&db, &[NO_RELAY]).await;
    let client = reqwest::Client::new();
    let products = get_json(&format!("{}/v1/products?limit=100", server.base)).await;
    assert_eq!(products["items"].as_array().map(Vec::len), Some(100));
    assert!(
        products["next_cursor"].is_string(),
        "more than 100 demo products"
    );

    let key = guest(1);
    for product in ["book-001-pb", "book-002-eb"] {
        let response = client
            .post(format!("{}/v1/cart/{key}/items", server.base))
            .json(&json!({"product_id": product, "quantity": 1}))
            .send()
            .await
            .expect("add");
        assert_eq!(response.status(), 201);
    }
    let url = store_url(&db);
    let listed = run(
        &["outbox", "list", "--limit", "10"],
        &[("CARTD_STORE", url.as_str())],
    );
    assert!(listed.status.success(), "{}", stderr(&listed));
    let lines: Vec<Value> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let types: Vec<_> = lines
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        types,
        ["cart.created", "cart.item_added", "cart.item_added"]
    );
    assert!(lines.iter().all(|e| e["cart_key"] == key.as_str()));
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64())
    );
    let limited = run(
        &["outbox", "list", "--limit", "1"],
        &[("CARTD_STORE", url.as_str())],
    );
    assert_eq!(String::from_utf8_lossy(&limited.stdout).lines().count(), 1);
}

#[tokio::test]
async fn cartd_token_mints_a_token_the_server_accepts() {
    let (_dir, db) = temp_db();
    let server = Server::start(&db, &[]).await;
    let minted = run(
        &["token", "--sub", "alice", "--ttl", "10m"],
        &[("CARTD_JWT_SECRET", SECRET)],
    );
    assert!(minted.status.success(), "{}", stderr(&minted));
    let token = String::from_utf8_lossy(&minted.stdout).trim().to_owned();
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/v1/cart/me/items", server.base))
        .bearer_auth(&token)
        .json(&json!({"product_id": "book-003-pb", "quantity": 2}))
        .send()
        .await
        .expect("add");
    assert_eq!(response.status(), 201);
    let cart: Value = response.json().await.expect("json");
    assert_eq!(cart["user_id"], "alice");

    let other = run(
        &["token", "--sub", "alice"],
        &[("CARTD_JWT_SECRET", "another-secret-of-enough-length-000")],
    );
    let forged = String::from_utf8_lossy(&other.stdout).trim().to_owned();
    let refused = client
        .get(format!("{}/v1/cart/me", server.base))
        .bearer_auth(forged)
        .send()
        .await
        .expect("get");
    assert_eq!(refused.status(), 401);
    assert_eq!(
        run(&["token", "--sub", "alice"], &[]).status.code(),
        Some(2)
    );
    assert_eq!(
        run(
            &["token", "--sub", "guest_x"],
            &[("CARTD_JWT_SECRET", SECRET)]
        )
        .status
        .code(),
        Some(2)
    );
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_and_exits_0() {
    let (_dir, db) = temp_db();
    let mut server = Server::start(&db, &[]).await;
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let key = guest(2);
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (client, base, key) = (client.clone(), base.clone(), key.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for _ in 0..50 {
                    match client
                        .post(format!("{base}/v1/cart/{key}/items"))
                        .json(&json!({"product_id": "book-004-eb", "quantity": 1}))
                        .send()
                        .await
                    {
                        Ok(response) => statuses.push(response.status().as_u16()),
                        Err(_) => break,
                    }
                }
                statuses
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.terminate();
    let status = tokio::task::spawn_blocking(move || {
        let status = server.child.wait().expect("wait");
        (status, server)
    })
    .await
    .expect("join")
    .0;
    assert!(status.success(), "exit status {status:?}");
    for writer in writers {
        let statuses = writer.await.expect("writer");
        assert!(
            statuses.iter().all(|s| *s == 201 || *s == 400),
            "{statuses:?}"
        );
    }
}

#[tokio::test]
async fn serve_applies_the_configured_rate_limit() {
    let (_dir, db) = temp_db();
    let server = Server::start(&db, &[("CARTD_RATE_LIMIT", "1"), ("CARTD_RATE_BURST", "2")]).await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = client
            .get(format!("{}/v1/products/book-001-pb", server.base))
            .send()
            .await
            .expect("get");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..2], &[200, 200]);
    assert_eq!(statuses[3], 429, "{statuses:?}");
}

#[tokio::test]
async fn json_logs_carry_the_request_id_on_every_line_of_a_request() {
    let (dir, db) = temp_db();
    let log_path = dir.path().join("cartd.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut server = Server::start_logging_to(
        &db,
        &[
            ("CARTD_LOG_FORMAT", "json"),
            ("CARTD_LOG", "debug,hyper=info"),
        ],
        log.into(),
    )
    .await;
    let response = reqwest::Client::new()
        .get(format!("{}/v1/cart/guest_not-a-ulid", server.base))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 400);
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_owned();
    server.terminate();
    let _ = server.child.wait();
    let text = std::fs::read_to_string(&log_path).expect("read log");
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("every log line is JSON"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "effective configuration")
    );
    let of_request: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["http.route"] == "/v1/cart/{cartKey}")
        .collect();
    assert!(of_request.len() >= 2, "{text}");
    for line in of_request {
        assert_eq!(line["span"]["request_id"], request_id.as_str(), "{line}");
    }
}

/// The kernel's view of the running server: no transparent huge pages (see `main.rs`), which
/// made every thread's first heap touch a resident 2 MiB page.
#[tokio::test]
async fn serve_runs_without_transparent_huge_pages() {
    let (_dir, db) = temp_db();
    let server = Server::start(&db, &[NO_RELAY]).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))
        .expect("the server's /proc status");
    let Some(line) = status.lines().find(|l| l.starts_with("THP_enabled:")) else {
        println!("skipped: this kernel does not report THP_enabled in /proc/PID/status");
        return;
    };
    assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
}
