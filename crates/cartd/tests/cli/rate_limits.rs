//! Rate limits shared by replicas through Redis (`CARTD_RATE_LIMIT_STORE`): two `cartd serve`
//! processes, one Redis, clients at different loopback addresses. Skipped with a printed reason
//! when Redis does not answer, unless `CARTD_REQUIRE_SERVICES=1`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::harness::{NO_RELAY, Server, guest, temp_db, user_token};

/// Requests each budget holds; the sustained rate (1/s) adds at most one more while a test runs.
const BURST: usize = 4;

/// Two replicas sharing budgets in a fresh key prefix of the test Redis, or `None` (skip).
async fn two_replicas() -> Option<(Server, Server, Vec<tempfile::TempDir>)> {
    let redis = std::env::var("CARTD_TEST_REDIS_ADDR").unwrap_or_else(|_| "127.0.0.1:6379".into());
    let address: SocketAddr = redis.parse().expect("CARTD_TEST_REDIS_ADDR is HOST:PORT");
    if let Err(e) = TcpStream::connect_timeout(&address, Duration::from_secs(2)) {
        assert!(
            std::env::var("CARTD_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "Redis is required (CARTD_REQUIRE_SERVICES=1) but not reachable at {redis}: {e}"
        );
        eprintln!("skipping: Redis not reachable at {redis}: {e}");
        return None;
    }
    let store = format!(
        "redis://{redis}?prefix=cartd-test-rl-{}&timeout=1s",
        uuid::Uuid::new_v4().simple()
    );
    let burst = BURST.to_string();
    let env = [
        ("CARTD_RATE_LIMIT", "1"),
        ("CARTD_RATE_BURST", burst.as_str()),
        ("CARTD_RATE_LIMIT_STORE", store.as_str()),
        NO_RELAY,
    ];
    let (dir_a, db_a) = temp_db();
    let (dir_b, db_b) = temp_db();
    let a = Server::start(&db_a, &env).await;
    let b = Server::start(&db_b, &env).await;
    Some((a, b, vec![dir_a, dir_b]))
}

/// A client whose requests come from its own loopback address (all of 127/8 is local on
/// Linux), so each test's IP buckets are its own even in a shared Redis.
fn client_at(address: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address)
        .build()
        .expect("client")
}

fn fresh_loopback() -> IpAddr {
    let [_, b, c, d] = rand_bytes();
    IpAddr::V4(Ipv4Addr::new(127, b, c, d % 253 + 2))
}

fn rand_bytes() -> [u8; 4] {
    let bits = uuid::Uuid::new_v4().as_u128();
    (bits as u32).to_be_bytes()
}

/// Sends `GET {base}{path}` (with `token` when given) and returns the status.
async fn status(client: &reqwest::Client, base: &str, path: &str, token: Option<&str>) -> u16 {
    let mut request = client.get(format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request").status().as_u16()
}

#[tokio::test]
async fn replicas_share_one_budget_per_client_through_redis() {
    let Some((a, b, _dirs)) = two_replicas().await else {
        return;
    };
    let client = client_at(fresh_loopback());
    let mut statuses = Vec::new();
    for i in 0..BURST + 2 {
        let replica = if i % 2 == 0 { &a } else { &b };
        statuses.push(status(&client, &replica.base, "/v1/products", None).await);
    }
    // Each replica saw only half the requests: with budgets per replica none would be refused.
    assert_eq!(&statuses[..BURST], [200; BURST], "{statuses:?}");
    assert_eq!(statuses[BURST + 1], 429, "{statuses:?}");
    let refused = client
        .get(format!("{}/v1/products", b.base))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(
        status(&client, &a.base, "/health", None).await,
        200,
        "probes are never limited"
    );
}

#[tokio::test]
async fn users_guests_and_addresses_each_have_their_own_shared_budget() {
    let Some((a, b, _dirs)) = two_replicas().await else {
        return;
    };
    let replicas = [&a.base, &b.base];
    let office = client_at(fresh_loopback());
    let home = client_at(fresh_loopback());

    // A user is charged to the user wherever the requests come from, and not to the address.
    let alice = user_token(&format!("alice-{}", uuid::Uuid::new_v4().simple()));
    for i in 0..BURST {
        let status = status(&office, replicas[i % 2], "/v1/cart/me", Some(&alice)).await;
        assert_ne!(status, 429, "request {i} of alice's burst");
    }
    assert_eq!(
        status(&home, &b.base, "/v1/cart/me", Some(&alice)).await,
        429
    );
    let bob = user_token(&format!("bob-{}", uuid::Uuid::new_v4().simple()));
    assert_ne!(
        status(&office, &a.base, "/v1/cart/me", Some(&bob)).await,
        429
    );
    assert_eq!(status(&office, &a.base, "/v1/products", None).await, 200);

    // A guest cart is charged to the guest and to the address it is used from.
    let cafe = client_at(fresh_loopback());
    let (first, second) = (
        format!("/v1/cart/{}", guest(1)),
        format!("/v1/cart/{}", guest(2)),
    );
    for i in 1..BURST {
        assert_ne!(status(&cafe, replicas[i % 2], &first, None).await, 429);
    }
    assert_ne!(status(&cafe, &a.base, &second, None).await, 429);
    assert_eq!(
        status(&cafe, &b.base, &second, None).await,
        429,
        "a fresh guest id does not reset the address's budget"
    );
    assert_ne!(status(&home, &a.base, &first, None).await, 429);
    assert_eq!(
        status(&home, &b.base, &first, None).await,
        429,
        "a guest's budget follows it to another address"
    );
    assert_ne!(status(&home, &a.base, &second, None).await, 429);

    // A forged token is charged to its address: it cannot buy a fresh budget.
    let forger = client_at(fresh_loopback());
    let forged = format!("{}x", user_token("mallory"));
    for i in 0..BURST {
        assert_eq!(
            status(&forger, replicas[i % 2], "/v1/cart/me", Some(&forged)).await,
            401
        );
    }
    assert_eq!(status(&forger, &a.base, "/v1/products", None).await, 429);
}
