//! Health, readiness, metrics, request ids, routing errors and the OpenAPI document.

use reqwest::{Method, StatusCode};

use crate::helpers::{Options, backend_under_test, guest, spawn_app, spawn_with};

#[tokio::test]
async fn health_and_ready_answer() {
    let app = spawn_app().await;
    let health = app.send(app.request(Method::GET, "/health")).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body, serde_json::json!({"status": "ok"}));
    let ready = app.send(app.request(Method::GET, "/ready")).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["status"], "ready");
    assert_eq!(ready.body["checks"]["store"]["status"], "ok");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = spawn_app().await;
    app.add_product(&guest(), "book", 1).await;
    app.get_cart(&guest(), None).await;
    let metrics = app
        .request(Method::GET, "/metrics")
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(
            r#"http_requests_total{method="POST",route="/v1/cart/{cartKey}/items",status="201"}"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"route="/v1/cart/{cartKey}",status="404""#),
        "{metrics}"
    );
    assert!(
        metrics.contains("http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("cartd_cart_writes_total"), "{metrics}");
    if backend_under_test() == "postgres" {
        // The add went through a group-commit statement; its size is counted in cart buckets.
        assert!(
            metrics.contains(r#"cartd_postgres_group_commit_carts_bucket{le="64"}"#),
            "{metrics}"
        );
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id_that_problems_repeat() {
    let app = spawn_app().await;
    let answer = app.get_cart(&guest(), None).await;
    let id = answer
        .header("x-request-id")
        .expect("request id")
        .to_owned();
    assert_eq!(answer.body["request_id"], id);
    let given = app
        .send(
            app.request(Method::GET, "/health")
                .header("x-request-id", "trace-me-1"),
        )
        .await;
    assert_eq!(given.header("x-request-id"), Some("trace-me-1"));
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = spawn_app().await;
    let route = app.send(app.request(Method::GET, "/v2/cart/x")).await;
    assert_eq!(
        (route.status, route.code()),
        (StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND")
    );
    let method = app.send(app.request(Method::PUT, "/v1/guests")).await;
    assert_eq!(
        (method.status, method.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED")
    );
}

/// `docs/openapi.json` is the generated document; regenerate with
/// `UPDATE_OPENAPI=1 cargo test -p cart-api --test api openapi`.
#[tokio::test]
async fn the_openapi_document_is_generated_and_matches_docs() {
    let generated = cart_api::openapi_json();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write docs/openapi.json");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is stale: run UPDATE_OPENAPI=1 cargo test -p cart-api --test api openapi"
    );
    let app = spawn_app().await;
    let served = app.send(app.request(Method::GET, "/openapi.json")).await;
    assert_eq!(served.status, StatusCode::OK);
    let document: serde_json::Value = serde_json::from_str(&generated).expect("json");
    assert_eq!(served.body, document);
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    for path in [
        "/v1/cart/{cartKey}",
        "/v1/cart/{cartKey}/items",
        "/v1/cart/{cartKey}/items/{itemID}",
        "/v1/cart/{cartKey}/merge",
        "/v1/guests",
        "/v1/products",
        "/v1/products/{id}",
        "/health",
        "/ready",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(document["paths"][path].is_object(), "{path} documented");
    }
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after_and_probes_stay_open() {
    let app = spawn_with(Options {
        rate_limit: Some((1, 3)),
        ..Options::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.send(app.request(Method::GET, "/v1/products")).await);
    }
    let ok = statuses
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    assert_eq!(ok, 3, "the burst of 3 passes");
    let limited = statuses.last().expect("answers");
    assert_eq!(
        (limited.status, limited.code()),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED")
    );
    let retry_after: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(limited.body["details"]["retry_after_seconds"], retry_after);
    for _ in 0..5 {
        let health = app.send(app.request(Method::GET, "/health")).await;
        assert_eq!(health.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_broken_store_is_a_500_problem_that_leaks_nothing() {
    if crate::helpers::backend_under_test() != "sqlite" {
        return; // breaks the SQLite file directly
    }
    let app = spawn_app().await;
    let key = guest();
    app.add_product(&key, "book", 1).await;
    let side = rusqlite::Connection::open(&app.db_path).expect("open");
    side.execute_batch("DROP TABLE carts").expect("drop");
    let answer = app.get_cart(&key, None).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR")
    );
    let text = answer.body.to_string();
    assert!(
        !text.contains("carts") && !text.to_lowercase().contains("sql"),
        "{text}"
    );
}

#[tokio::test]
async fn a_store_locked_by_someone_else_is_a_503_and_not_ready() {
    if crate::helpers::backend_under_test() != "sqlite" {
        return; // locks the SQLite file directly
    }
    let app = spawn_app().await;
    let side = rusqlite::Connection::open(&app.db_path).expect("open");
    // Another process holds the write lock longer than the store waits for it (5 s).
    side.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    let answer = app.add_product(&guest(), "book", 1).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE")
    );
    let ready = app.send(app.request(Method::GET, "/ready")).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body["status"], "not ready");
    side.execute_batch("ROLLBACK").expect("unlock");
    assert_eq!(
        app.add_product(&guest(), "book", 1).await.status,
        StatusCode::CREATED
    );
}

/// An app whose commits wait at a gate the test opens, behind `load`.
async fn gated(
    load: cart_api::load::LoadLimit,
) -> (
    crate::helpers::TestApp,
    std::sync::Arc<tokio::sync::Semaphore>,
) {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let hook_gate = gate.clone();
    let app = spawn_with(Options {
        load: Some(std::sync::Arc::new(load)),
        wrap_store: Some(Box::new(move |inner| {
            std::sync::Arc::new(crate::helpers::GatedStore {
                inner,
                reached: std::sync::Arc::new(tokio::sync::Notify::new()),
                gate: hook_gate,
            })
        })),
        ..Options::default()
    })
    .await;
    (app, gate)
}

/// Waits until `ready` holds, polling (never a timed assertion: the bound only ends a hang).
async fn until(mut ready: impl FnMut() -> bool) {
    for _ in 0..2_000 {
        if ready() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("never happened");
}

#[tokio::test]
async fn past_saturation_requests_are_shed_at_once_not_queued_and_service_resumes() {
    let limit = cart_api::load::LoadLimit::new(2, 2, std::time::Duration::from_secs(60));
    let (app, gate) = gated(limit).await;
    let load = app.state.load.clone().expect("a load limit");
    // Two adds reach their commit and hold both slots; two more wait in the queue.
    let mut held = Vec::new();
    for _ in 0..4 {
        let request = app
            .request(Method::POST, &format!("/v1/cart/{}/items", guest()))
            .json(&serde_json::json!({"product_id": "pen", "quantity": 1}));
        held.push(tokio::spawn(request.send()));
    }
    until(|| load.in_flight() == 2 && load.queued() == 2).await;

    // The server is full: more requests are refused at once, with a code and Retry-After,
    // while the held ones are still waiting (the gate is closed).
    for _ in 0..5 {
        // The bound only ends a hang if the request were queued behind the held ones.
        let shed = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            app.get_cart(&guest(), None),
        )
        .await
        .expect("answered, not queued");
        assert_eq!(shed.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(shed.code(), "OVERLOADED");
        assert_eq!(shed.header("retry-after"), Some("1"));
    }
    assert_eq!(load.queued(), 2, "shed requests were not queued");
    // The probes still answer.
    let health = app.send(app.request(Method::GET, "/health")).await;
    assert_eq!(health.status, StatusCode::OK);
    let metrics = app.send(app.request(Method::GET, "/metrics")).await;
    assert_eq!(metrics.status, StatusCode::OK);

    gate.add_permits(1_000);
    for request in held {
        let answer = request.await.expect("task").expect("answer");
        assert_eq!(answer.status(), StatusCode::CREATED);
    }
    until(|| load.in_flight() == 0 && load.queued() == 0).await;
    assert_eq!(
        app.add_product(&guest(), "book", 1).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_request_past_the_time_limit_is_a_503_and_the_server_goes_on() {
    let limit = cart_api::load::LoadLimit::new(4, 4, std::time::Duration::from_millis(200));
    let (app, gate) = gated(limit).await;
    let stuck = app.add_product(&guest(), "pen", 1).await;
    assert_eq!(stuck.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(stuck.code(), "REQUEST_TIMEOUT");
    assert_eq!(stuck.header("retry-after"), Some("1"));
    gate.add_permits(1_000);
    assert_eq!(
        app.add_product(&guest(), "book", 1).await.status,
        StatusCode::CREATED
    );
}
