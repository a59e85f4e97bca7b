//! Events from a real `cartd serve` to a real broker: the default file sink next to the
//! database, and a NATS outage that delays events without losing or reordering them while the
//! API keeps answering.

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Server, guest, temp_db};

/// A nats-server of the test's own (JetStream, its own directory and port), so the test can
/// stop and restart it without touching the machine's NATS.
struct OwnNats {
    binary: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl OwnNats {
    fn binary() -> Option<PathBuf> {
        std::env::var_os("CARTD_TEST_NATS_SERVER")
            .map(PathBuf::from)
            .or_else(|| {
                [
                    "/usr/sbin/nats-server",
                    "/usr/bin/nats-server",
                    "/usr/local/bin/nats-server",
                ]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
            })
    }

    async fn start_new(binary: PathBuf) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut nats = Self {
            binary,
            port,
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
        };
        nats.start().await;
        nats
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn start(&mut self) {
        let child = Command::new(&self.binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nats-server did not start");
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The events in the stream, in stream order (an empty list while the stream does not exist).
async fn stream_events(url: &str) -> Vec<Value> {
    let Ok(client) = async_nats::connect(url).await else {
        return Vec::new();
    };
    let jetstream = async_nats::jetstream::new(client);
    let Ok(mut stream) = jetstream.get_stream("CART_EVENTS").await else {
        return Vec::new();
    };
    let Ok(info) = stream.info().await else {
        return Vec::new();
    };
    let state = info.state.clone();
    let mut events = Vec::new();
    if state.messages > 0 {
        for sequence in state.first_sequence..=state.last_sequence {
            let message = stream.get_raw_message(sequence).await.expect("message");
            events.push(serde_json::from_slice(&message.payload).expect("envelope"));
        }
    }
    events
}

async fn add(client: &reqwest::Client, base: &str, key: &str, n: usize) -> u16 {
    client
        .post(format!("{base}/v1/cart/{key}/items"))
        .json(&json!({"product_id": format!("book-{:03}-pb", n % 40 + 1), "quantity": 1}))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nats_outage_delays_events_without_losing_or_reordering_them() {
    let Some(binary) = OwnNats::binary() else {
        assert!(
            std::env::var("CARTD_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "nats-server is required (CARTD_REQUIRE_SERVICES=1) but not installed"
        );
        eprintln!("skipped: no nats-server binary (set CARTD_TEST_NATS_SERVER)");
        return;
    };
    let mut nats = OwnNats::start_new(binary).await;
    let (_dir, db) = temp_db();
    let server = Server::start(
        &db,
        &[
            ("CARTD_EVENTS", &nats.url()),
            ("CARTD_RELAY_POLL", "50ms"),
            ("CARTD_RELAY_BACKOFF_MAX", "1s"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let carts: Vec<String> = (0..25).map(guest).collect();

    // Flowing: the first change of every cart arrives.
    for key in &carts {
        assert_eq!(add(&client, &server.base, key, 0).await, 201);
    }
    wait_for_events(&nats.url(), 2 * carts.len()).await;

    // NATS goes away; 500 changes are made, and every one is answered 2xx.
    nats.stop();
    let mut writers = Vec::new();
    for (index, key) in carts.iter().enumerate() {
        let (client, base, key) = (client.clone(), server.base.clone(), key.clone());
        writers.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for n in 1..=20 {
                statuses.push(add(&client, &base, &key, index + n).await);
            }
            statuses
        }));
    }
    for writer in writers {
        let statuses = writer.await.expect("writer");
        assert!(
            statuses.iter().all(|s| (200..300).contains(s)),
            "the API answers 2xx while the broker is down: {statuses:?}"
        );
    }
    let ready = wait_for_degraded(&server.base).await;
    assert_eq!(
        ready["status"], "ready",
        "a broker outage does not make the service unready"
    );
    let during = metrics(&server.base).await;
    assert!(
        during.contains(r#"cartd_event_publish_failures_total{sink="nats"}"#),
        "{during}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while outbox_depth(&metrics(&server.base).await) < 500.0 {
        assert!(
            Instant::now() < deadline,
            "the outbox depth never showed the backlog"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // NATS comes back: every event arrives, once, in each cart's order.
    nats.start().await;
    let expected = 2 * carts.len() + 500;
    let events = wait_for_events(&nats.url(), expected).await;
    let mut ids = HashSet::new();
    let mut last_version: HashMap<String, u64> = HashMap::new();
    let mut adds = 0;
    for event in &events {
        assert!(
            ids.insert(event["id"].as_str().expect("id").to_owned()),
            "duplicate {event}"
        );
        let key = event["subject"].as_str().expect("subject").to_owned();
        let version = event["data"]["version"].as_u64().expect("version");
        let previous = last_version.insert(key.clone(), version).unwrap_or(0);
        assert!(
            version >= previous,
            "cart {key}: version {version} after {previous}"
        );
        adds += usize::from(event["type"] == "cart.item_added");
    }
    assert_eq!(adds, carts.len() + 500, "every add's event arrived");
    assert_eq!(events.len(), expected, "and nothing else");
    for key in &carts {
        assert_eq!(last_version[key], 21, "cart {key} ends at its last version");
    }
}

async fn wait_for_events(url: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let events = stream_events(url).await;
        if events.len() >= count || Instant::now() > deadline {
            assert_eq!(events.len(), count, "events in the stream");
            return events;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_for_degraded(base: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = reqwest::get(format!("{base}/ready")).await.expect("ready");
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        if body["checks"]["events"]["status"] == "degraded" {
            assert_eq!(status, 200);
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/ready never showed the outage: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn without_cartd_events_every_change_lands_in_a_file_next_to_the_database() {
    let (_dir, db) = temp_db();
    let server = Server::start(&db, &[("CARTD_RELAY_POLL", "50ms")]).await;
    let client = reqwest::Client::new();
    let key = guest(7);
    for n in 0..3 {
        assert_eq!(add(&client, &server.base, &key, n).await, 201);
    }
    let file = db.with_extension("events.ndjson");
    let deadline = Instant::now() + Duration::from_secs(20);
    let types = loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let types: Vec<String> = text
            .lines()
            .map(|line| {
                let event: Value = serde_json::from_str(line).expect("json line");
                assert_eq!(event["specversion"], "1.0");
                assert_eq!(event["subject"], key.as_str());
                event["type"].as_str().expect("type").to_owned()
            })
            .collect();
        if types.len() >= 4 || Instant::now() > deadline {
            break types;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        types,
        [
            "cart.created",
            "cart.item_added",
            "cart.item_added",
            "cart.item_added"
        ]
    );
    let ready = crate::harness::get_json(&format!("{}/ready", server.base)).await;
    assert_eq!(ready["checks"]["events"]["status"], "ok", "{ready}");
    // The relay counts a batch once the sink's write returns, a moment after the lines can be
    // read from the file: wait for the count rather than race it.
    let published = r#"cartd_events_published_total{sink="file"} 4"#;
    let deadline = Instant::now() + Duration::from_secs(5);
    let metrics = loop {
        let text = metrics(&server.base).await;
        if text.contains(published) || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(metrics.contains(published), "{metrics}");
    assert!(metrics.contains("cartd_outbox_depth "), "{metrics}");
    assert!(
        metrics.contains("cartd_outbox_oldest_pending_seconds "),
        "{metrics}"
    );
    assert!(metrics.contains("cartd_relay_active 1"), "{metrics}");
}

fn outbox_depth(metrics: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("cartd_outbox_depth "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn metrics(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

#[tokio::test]
async fn a_standalone_relay_publishes_for_a_server_running_without_one() {
    let (dir, db) = temp_db();
    let server = Server::start(&db, &[crate::harness::NO_RELAY]).await;
    let client = reqwest::Client::new();
    let key = guest(11);
    assert_eq!(add(&client, &server.base, &key, 1).await, 201);

    let events = dir.path().join("relayed.ndjson");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut relay = crate::harness::cartd()
        .args(["relay", "--listen", &format!("127.0.0.1:{port}")])
        .env("CARTD_STORE", crate::harness::store_url(&db))
        .env("CARTD_EVENTS", format!("file://{}", events.display()))
        .env("CARTD_RELAY_POLL", "50ms")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cartd relay");
    assert_eq!(add(&client, &server.base, &key, 2).await, 201);

    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&events)
        .unwrap_or_default()
        .lines()
        .count()
        < 3
    {
        assert!(Instant::now() < deadline, "the relay did not publish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The file holds the events before the relay has marked them and counted the round, so
    // readiness and the counter are polled too, within the same deadline.
    let base = format!("http://127.0.0.1:{port}");
    loop {
        let ready = crate::harness::get_json(&format!("{base}/ready")).await;
        let metrics = metrics(&base).await;
        if ready["checks"]["events"]["status"] == "ok"
            && metrics.contains(r#"cartd_events_published_total{sink="file"} 3"#)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the relay never reported the round: {ready}\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let status = Command::new("kill")
        .args(["-TERM", &relay.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = relay.wait().expect("wait");
    assert!(exit.success(), "cartd relay exits 0 on SIGTERM: {exit:?}");
}
