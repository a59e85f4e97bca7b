//! Crash safety: SIGKILL during a burst of writes loses no acknowledged write, and every stored
//! change has its outbox events exactly once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Server, guest, run, store_url, temp_db};

const WRITERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_writes_loses_no_acknowledged_write() {
    let (_dir, db) = temp_db();
    let mut server = Server::start(&db, &[]).await;
    let client = reqwest::Client::new();
    // The highest version each cart acknowledged (a 201 received by the client).
    let acknowledged: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let keys: Vec<String> = (0..WRITERS).map(|i| guest(i as u128 + 100)).collect();
    let writers: Vec<_> = keys
        .iter()
        .cloned()
        .map(|key| {
            let (client, base, acknowledged) =
                (client.clone(), server.base.clone(), acknowledged.clone());
            tokio::spawn(async move {
                // Each add puts one unit of a different paperback or ebook: a cart's total
                // quantity must equal its version.
                for n in 0..2000usize {
                    let book = n % 40 + 1;
                    let format = if (n / 40) % 2 == 0 { "pb" } else { "eb" };
                    let body =
                        json!({"product_id": format!("book-{book:03}-{format}"), "quantity": 1});
                    let Ok(response) = client
                        .post(format!("{base}/v1/cart/{key}/items"))
                        .json(&body)
                        .send()
                        .await
                    else {
                        return;
                    };
                    if response.status() != 201 {
                        return;
                    }
                    let Ok(cart) = response.json::<Value>().await else {
                        return;
                    };
                    let version = cart["version"].as_u64().expect("version");
                    acknowledged
                        .lock()
                        .expect("lock")
                        .insert(key.clone(), version);
                }
            })
        })
        .collect();
    // Let the burst build up, then kill the server without warning.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while acknowledged.lock().expect("lock").values().sum::<u64>() < 400
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.child.kill().expect("SIGKILL");
    let _ = server.child.wait();
    for writer in writers {
        let _ = writer.await;
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        acknowledged.values().sum::<u64>() >= 400,
        "the burst was under way"
    );

    let restarted = Server::start(&db, &[]).await;
    let mut stored_versions = HashMap::new();
    for key in &keys {
        let acked = acknowledged.get(key).copied().unwrap_or(0);
        let response = client
            .get(format!("{}/v1/cart/{key}", restarted.base))
            .send()
            .await
            .expect("get");
        if acked == 0 && response.status() == 404 {
            continue;
        }
        let cart: Value = response.json().await.expect("cart");
        let version = cart["version"].as_u64().expect("version");
        assert!(
            version >= acked,
            "{key}: stored {version} < acknowledged {acked}"
        );
        assert_eq!(
            cart["total_quantity"].as_u64(),
            Some(version),
            "{key}: one unit per version"
        );
        stored_versions.insert(key.clone(), version);
    }
    drop(restarted);

    let url = store_url(&db);
    let listed = run(
        &["outbox", "list", "--limit", "1000000"],
        &[("CARTD_STORE", url.as_str())],
    );
    assert!(listed.status.success());
    let mut added: HashMap<String, Vec<u64>> = HashMap::new();
    let mut created: HashMap<String, usize> = HashMap::new();
    for line in String::from_utf8_lossy(&listed.stdout).lines() {
        let event: Value = serde_json::from_str(line).expect("event");
        let key = event["cart_key"].as_str().expect("key").to_owned();
        match event["type"].as_str() {
            Some("cart.item_added") => added
                .entry(key)
                .or_default()
                .push(event["version"].as_u64().expect("v")),
            Some("cart.created") => *created.entry(key).or_default() += 1,
            other => panic!("unexpected event {other:?}"),
        }
    }
    for (key, version) in &stored_versions {
        let versions = added.remove(key).unwrap_or_default();
        assert_eq!(
            versions,
            (1..=*version).collect::<Vec<_>>(),
            "{key}: every change's event exactly once, in order"
        );
        assert_eq!(created.get(key), Some(&1), "{key}");
    }
    assert!(
        added.is_empty(),
        "no events for changes that were not stored: {added:?}"
    );
}
