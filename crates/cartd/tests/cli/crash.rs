//! Crash safety: SIGKILL during a burst of writes loses no acknowledged write, and every stored
//! change has its outbox events exactly once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{NO_RELAY, Server, guest, run, store_url, temp_db};

const WRITERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_writes_loses_no_acknowledged_write() {
    let (_dir, db) = temp_db();
    let mut server = Server::start(&db, &[NO_RELAY]).await;
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

    let restarted = Server::start(&db, &[NO_RELAY]).await;
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

/// SIGKILL while merges are being committed: every (guest, user) pair is afterwards either
/// exactly as it was (guest cart intact, user cart untouched) or fully merged (guest cart gone,
/// user cart merged), never half of each; and every merge the client saw answered is merged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_merges_leaves_each_pair_whole() {
    const PAIRS: usize = 40;
    let (_dir, db) = temp_db();
    let mut server = Server::start(&db, &[NO_RELAY]).await;
    let url = store_url(&db);
    let minted = run(
        &["token", "--sub", "ops", "--scope", "cart:admin"],
        &[("CARTD_JWT_SECRET", crate::harness::SECRET)],
    );
    let admin = String::from_utf8_lossy(&minted.stdout).trim().to_owned();
    let client = reqwest::Client::new();
    let add = |key: String, product: &'static str, quantity: u64| {
        let request = client
            .post(format!("{}/v1/cart/{key}/items", server.base))
            .bearer_auth(&admin)
            .json(&json!({"product_id": product, "quantity": quantity}));
        async move {
            let response = request.send().await.expect("add");
            assert_eq!(response.status(), 201);
        }
    };
    let pairs: Vec<(String, String)> = (0..PAIRS)
        .map(|i| (format!("user-{i}"), guest(i as u128 + 5000)))
        .collect();
    for (user, guest_id) in &pairs {
        add(user.clone(), "book-001-pb", 2).await;
        add(user.clone(), "book-002-pb", 1).await;
        add(guest_id.clone(), "book-001-pb", 3).await;
        add(guest_id.clone(), "book-003-pb", 1).await;
        add(guest_id.clone(), "book-004-eb", 2).await;
    }
    let user_before = [("book-001-pb", 2), ("book-002-pb", 1)];
    let guest_before = [("book-001-pb", 3), ("book-003-pb", 1), ("book-004-eb", 2)];
    let merged_after = [
        ("book-001-pb", 3),
        ("book-002-pb", 1),
        ("book-003-pb", 1),
        ("book-004-eb", 2),
    ];

    let answered: Arc<Mutex<Vec<usize>>> = Arc::default();
    let merges: Vec<_> = pairs
        .iter()
        .enumerate()
        .map(|(i, (user, guest_id))| {
            let request = client
                .post(format!("{}/v1/cart/{user}/merge", server.base))
                .bearer_auth(&admin)
                .json(&json!({"guest_id": guest_id}));
            let answered = answered.clone();
            tokio::spawn(async move {
                if let Ok(response) = request.send().await
                    && response.status() == 200
                {
                    answered.lock().expect("lock").push(i);
                }
            })
        })
        .collect();
    // Kill as soon as the first merge is answered: the rest are somewhere in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while answered.lock().expect("lock").is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.child.kill().expect("SIGKILL");
    let _ = server.child.wait();
    for merge in merges {
        let _ = merge.await;
    }
    let answered = answered.lock().expect("lock").clone();
    assert!(!answered.is_empty(), "merges were under way");

    let restarted = Server::start(&db, &[NO_RELAY]).await;
    let lines = |cart: &Value| -> Vec<(String, u64)> {
        let mut lines: Vec<(String, u64)> = cart["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|l| {
                (
                    l["product_id"].as_str().expect("product").to_owned(),
                    l["quantity"].as_u64().expect("quantity"),
                )
            })
            .collect();
        lines.sort();
        lines
    };
    let owned = |expected: &[(&str, u64)]| -> Vec<(String, u64)> {
        expected
            .iter()
            .map(|(p, q)| ((*p).to_owned(), *q))
            .collect()
    };
    let mut merged_count = 0;
    for (i, (user, guest_id)) in pairs.iter().enumerate() {
        let get = |key: &str| {
            client
                .get(format!("{}/v1/cart/{key}", restarted.base))
                .bearer_auth(&admin)
                .send()
        };
        let user_cart: Value = get(user).await.expect("user").json().await.expect("json");
        let guest_response = get(guest_id).await.expect("guest");
        if guest_response.status() == 404 {
            assert_eq!(lines(&user_cart), owned(&merged_after), "pair {i}: merged");
            merged_count += 1;
        } else {
            let guest_cart: Value = guest_response.json().await.expect("json");
            assert!(!answered.contains(&i), "pair {i}: answered but not merged");
            assert_eq!(
                lines(&guest_cart),
                owned(&guest_before),
                "pair {i}: guest intact"
            );
            assert_eq!(
                lines(&user_cart),
                owned(&user_before),
                "pair {i}: user untouched"
            );
            assert_eq!(user_cart["version"], 2, "pair {i}: user untouched");
        }
    }
    assert!(merged_count >= answered.len());
    eprintln!(
        "{merged_count} of {PAIRS} pairs merged, {} answered before the kill",
        answered.len()
    );
    drop(restarted);
    // The outbox holds a cart.merged for exactly the merged pairs.
    let listed = run(
        &["outbox", "list", "--limit", "1000000"],
        &[("CARTD_STORE", url.as_str())],
    );
    let merged_events = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|line| line.contains("\"cart.merged\""))
        .count();
    assert_eq!(merged_events, merged_count);
}
