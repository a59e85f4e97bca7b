//! GraphQL as real clients see it: the `graphql-ws` npm client (crates/cartd/tests/js)
//! subscribes over `graphql-transport-ws`, and a change made over REST arrives — on the same
//! server, and across two replicas sharing PostgreSQL and NATS; and graphql-js loads the schema
//! by introspection, as GraphiQL and code generators do.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::harness::{Server, guest, temp_db};

/// The test client's folder, if node and its `npm ci` are there.
fn js_client() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let installed = dir.join("node_modules/graphql-ws").exists()
        && std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if installed {
        return Some(dir);
    }
    assert!(
        std::env::var("CARTD_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "node and `npm ci` in crates/cartd/tests/js are required (CARTD_REQUIRE_SERVICES=1)"
    );
    eprintln!(
        "skipped: run `npm ci` in crates/cartd/tests/js (needs node) for the graphql-ws tests"
    );
    None
}

/// A running `node subscribe.mjs`, and its output lines.
struct Subscriber {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Subscriber {
    /// Subscribes to `key` on `base`'s `/graphql/ws` and waits until the subscription is sent.
    async fn start(dir: &PathBuf, base: &str, key: &str, count: usize) -> Self {
        let ws = format!("{}/graphql/ws", base.replacen("http://", "ws://", 1));
        let mut child = Command::new("node")
            .current_dir(dir)
            .args(["subscribe.mjs", &ws, key, "", &count.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node subscribe.mjs");
        let stdout = child.stdout.take().expect("stdout");
        let mut subscriber = Self {
            _child: child,
            lines: BufReader::new(stdout).lines(),
        };
        let first = subscriber.next_line(Duration::from_secs(20)).await;
        assert_eq!(first, "subscribed");
        subscriber
    }

    async fn next_line(&mut self, within: Duration) -> String {
        tokio::time::timeout(within, self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("the subscriber printed nothing within {within:?}"))
            .expect("read")
            .expect("the subscriber exited early")
    }

    /// The next `cartUpdated` payload, within `within`.
    async fn next_update(&mut self, within: Duration) -> Value {
        let line = self.next_line(within).await;
        let message: Value = serde_json::from_str(&line).expect("a JSON line");
        assert!(message.get("errors").is_none(), "{message}");
        message["data"]["cartUpdated"].clone()
    }
}

async fn add(base: &str, key: &str, product: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/cart/{key}/items"))
        .json(&json!({"product_id": product, "quantity": 1}))
        .send()
        .await
        .expect("add");
    assert_eq!(response.status(), 201);
    response.json().await.expect("cart")
}

#[tokio::test]
async fn a_graphql_ws_client_receives_a_change_made_over_rest() {
    let Some(dir) = js_client() else { return };
    let (_db_dir, db) = temp_db();
    let server = Server::start(&db, &[("CARTD_RELAY_POLL", "20ms")]).await;
    let key = guest(21);
    let mut subscriber = Subscriber::start(&dir, &server.base, &key, 2).await;

    add(&server.base, &key, "book-001-pb").await;
    let created = subscriber.next_update(Duration::from_secs(10)).await;
    let added = subscriber.next_update(Duration::from_secs(10)).await;
    assert_eq!(created["type"], "cart.created");
    assert_eq!(added["type"], "cart.item_added");
    assert_eq!(added["version"], 1);
    assert_eq!(added["cart"]["userId"], key.as_str());
    assert_eq!(added["cart"]["items"][0]["productId"], "book-001-pb");
}

#[tokio::test]
async fn graphql_js_loads_the_schema_by_introspection_with_the_default_limits() {
    let Some(dir) = js_client() else { return };
    let (_db_dir, db) = temp_db();
    let server = Server::start(&db, &[]).await;
    let output = Command::new("node")
        .current_dir(&dir)
        .args(["introspect.mjs", &format!("{}/graphql", server.base)])
        .output()
        .await
        .expect("node introspect.mjs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let loaded: Value = serde_json::from_slice(&output.stdout).expect("a JSON line");
    assert_eq!(loaded["cartItems"], "[CartItem!]!", "{loaded}");
    assert!(loaded["types"].as_u64().is_some_and(|n| n > 20), "{loaded}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_one_replica_sees_a_change_made_through_another_within_a_second() {
    let Some(dir) = js_client() else { return };
    let postgres = std::env::var("CARTD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let nats =
        std::env::var("CARTD_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let store = format!("{postgres}?schema=cartd_test_gql_{tag}");
    let events = format!("{nats}?stream=T_{tag}&subject_prefix=t{tag}");
    let env = [
        ("CARTD_STORE", store.as_str()),
        ("CARTD_EVENTS", events.as_str()),
        ("CARTD_RELAY_POLL", "20ms"),
    ];
    let (_db_dir, unused_db) = temp_db();
    // Replica A serves the subscriber; the change is made through replica B.
    let Some(replica_a) = start_or_skip(&unused_db, &env).await else {
        return;
    };
    let replica_b = Server::start(&unused_db, &env).await;
    let key = guest(22);
    add(&replica_b.base, &key, "book-002-pb").await;
    let mut subscriber = Subscriber::start(&dir, &replica_a.base, &key, 1).await;

    let changed = Instant::now();
    let cart = add(&replica_b.base, &key, "book-003-eb").await;
    let update = subscriber.next_update(Duration::from_secs(1)).await;
    let waited = changed.elapsed();
    assert_eq!(update["type"], "cart.item_added");
    assert_eq!(update["version"], cart["version"]);
    assert_eq!(update["cart"]["items"].as_array().map(Vec::len), Some(2));
    assert!(waited <= Duration::from_secs(1), "took {waited:?}");

    if let Ok(client) = async_nats::connect(&nats).await {
        let _ = async_nats::jetstream::new(client)
            .delete_stream(format!("T_{tag}"))
            .await;
    }
}

/// Starts a replica, or skips (unless required) when PostgreSQL or NATS is not there.
async fn start_or_skip(db: &std::path::Path, env: &[(&str, &str)]) -> Option<Server> {
    let up = |port: u16| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    if !(up(5432) && up(4222)) {
        assert!(
            std::env::var("CARTD_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "PostgreSQL and NATS are required (CARTD_REQUIRE_SERVICES=1)"
        );
        eprintln!("skipped: PostgreSQL (:5432) or NATS (:4222) is not running");
        return None;
    }
    Some(Server::start(db, env).await)
}
