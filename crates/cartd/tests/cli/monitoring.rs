//! The monitoring files in `deploy/`: the alert rules pass `promtool check rules` and their unit
//! tests (`promtool test rules`), and every metric an alert or a dashboard panel names is on
//! `/metrics` of running servers after ordinary use. promtool comes from Debian's `prometheus`
//! package; without it the rule tests are skipped with a printed reason, unless
//! `CARTD_REQUIRE_SERVICES=1`.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Server, guest, temp_db, user_token};
use crate::orders::place;

fn deploy(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(path)
}

fn required() -> bool {
    std::env::var("CARTD_REQUIRE_SERVICES").as_deref() == Ok("1")
}

#[test]
fn the_alert_rules_are_valid_and_their_unit_tests_pass() {
    if Command::new("promtool").arg("--version").output().is_err() {
        assert!(
            !required(),
            "promtool is required (CARTD_REQUIRE_SERVICES=1) but not installed"
        );
        eprintln!("skipping: promtool not installed (apt-get install prometheus)");
        return;
    }
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
    ] {
        let output = Command::new("promtool")
            .args(args)
            .current_dir(deploy("prometheus"))
            .output()
            .expect("promtool");
        assert!(
            output.status.success(),
            "promtool {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The metric names in `text`: `cartd_…` and `http_…` identifiers.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    for prefix in ["cartd_", "http_"] {
        for (start, _) in text.match_indices(prefix) {
            let preceded =
                start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
            if preceded {
                continue;
            }
            let end = text[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(text.len(), |n| start + n);
            names.insert(text[start..end].to_owned());
        }
    }
    names
}

/// The series names on `base`'s `/metrics`.
async fn exposed(client: &reqwest::Client, base: &str) -> BTreeSet<String> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn every_metric_an_alert_or_a_panel_names_is_on_metrics() {
    let rules = std::fs::read_to_string(deploy("prometheus/alerts.yml")).expect("alerts.yml");
    let dashboard = std::fs::read_to_string(deploy("grafana/cartd.json")).expect("cartd.json");
    serde_json::from_str::<serde_json::Value>(&dashboard).expect("the dashboard is JSON");
    let mut wanted = metric_names(&rules);
    wanted.extend(metric_names(&dashboard));
    assert!(wanted.len() > 20, "{wanted:?}");

    // A shop on the built-in catalog with an identity provider that is not there yet.
    let (_dir, db) = temp_db();
    let shop = Server::start(&db, &[("CARTD_JWKS_URL", "http://127.0.0.1:9/jwks.json")]).await;
    let client = reqwest::Client::new();
    let key = guest(41);
    client
        .post(format!("{}/v1/cart/{key}/items", shop.base))
        .json(&json!({"product_id": "book-002-pb", "quantity": 1}))
        .send()
        .await
        .expect("add");
    let merged = client
        .post(format!("{}/v1/cart/me/merge", shop.base))
        .bearer_auth(user_token("monitoring"))
        .json(&json!({"guest_id": key}))
        .send()
        .await
        .expect("merge");
    assert_eq!(
        merged.status(),
        200,
        "{}",
        merged.text().await.unwrap_or_default()
    );
    place(&client, &shop.base, &guest(42), "book-001-pb").await;
    let missing = client
        .get(format!("{}/v1/products/no-such-book", shop.base))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), 404);

    // A shop on a catalog service (down) with limits shared through Redis, when there is one.
    let mut env = vec![("CARTD_CATALOG", "http://127.0.0.1:9/products/{id}")];
    let redis: SocketAddr = "127.0.0.1:6379".parse().expect("address");
    let with_redis = TcpStream::connect_timeout(&redis, Duration::from_secs(2)).is_ok();
    if with_redis {
        env.extend([
            ("CARTD_RATE_LIMIT", "1000"),
            (
                "CARTD_RATE_LIMIT_STORE",
                "redis://127.0.0.1:6379?prefix=cartd-test-monitoring",
            ),
        ]);
    } else {
        assert!(
            !required(),
            "Redis is required (CARTD_REQUIRE_SERVICES=1) but not reachable"
        );
        eprintln!("Redis not reachable: not checking the shared rate limiter's metric");
        wanted.remove("cartd_rate_limit_store_errors_total");
    }
    let (_dir_b, db_b) = temp_db();
    let remote = Server::start(&db_b, &env).await;

    // Gauges sampled in the background and the relay's first rounds take a moment.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut seen = exposed(&client, &shop.base).await;
        seen.extend(exposed(&client, &remote.base).await);
        let missing: Vec<&String> = wanted.difference(&seen).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "named by an alert or a panel but not on /metrics: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
