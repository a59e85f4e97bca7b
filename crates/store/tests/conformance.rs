//! The store conformance suite: the guarantees every `Store` backend must keep, written once
//! against the trait. Each backend gets a module that opens a fresh store and runs every check;
//! SQLite runs here, PostgreSQL, Redis and DynamoDB join as their modules land.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use cart_core::{
    AddItem, Cart, CartEvent, CartKey, CartWrite, Commit, Currency, EventType, GuestId,
    IdempotencyRecord, Limits, Price, Product, ProductId, RequestedQuantity, Store, StoreError,
    StoredResponse,
};

fn key(n: u128) -> CartKey {
    CartKey::Guest(GuestId::from_ulid_bits(n))
}

fn product() -> Product {
    Product {
        id: ProductId::parse("book").expect("id"),
        name: "Book".into(),
        price: Price::new(1000, Currency::parse("USD").expect("usd")).expect("price"),
        active: true,
        stock: None,
    }
}

/// The cart under `key` after one more add, with its events.
fn next(key: &CartKey, current: Option<&Cart>, now: OffsetDateTime) -> (Cart, Vec<CartEvent>) {
    let mut cart = current.cloned().unwrap_or_else(|| {
        Cart::new(
            Uuid::new_v4(),
            key.clone(),
            Currency::parse("USD").expect("usd"),
            now,
            0,
        )
    });
    let add = AddItem {
        product_id: product().id,
        variant_id: None,
        quantity: RequestedQuantity::new(1).expect("1"),
        asserted_unit_price: None,
    };
    let line = cart
        .add(&add, &product(), &Limits::default(), Uuid::new_v4(), now)
        .expect("add");
    cart.touch(now, Duration::days(7));
    let event = CartEvent::about(Uuid::now_v7(), EventType::ItemAdded, &cart, Some(line));
    (cart, vec![event])
}

fn commit_of(key: &CartKey, current: Option<&Cart>, now: OffsetDateTime) -> Commit {
    let (cart, events) = next(key, current, now);
    Commit {
        writes: vec![CartWrite {
            key: key.clone(),
            expected_version: current.map(Cart::version),
            new_state: Some(cart),
        }],
        events,
        idempotency: None,
        at: now,
    }
}

fn record(scoped_key: &str, expires_at: OffsetDateTime) -> IdempotencyRecord {
    IdempotencyRecord {
        scoped_key: scoped_key.into(),
        fingerprint: "f".into(),
        response: StoredResponse {
            status: 201,
            headers: vec![("etag".into(), "\"1\"".into())],
            body: b"{}".to_vec(),
        },
        expires_at,
    }
}

async fn events_of(store: &dyn Store, key: &CartKey) -> Vec<CartEvent> {
    store
        .pending_events(1_000_000)
        .await
        .expect("outbox")
        .into_iter()
        .map(|e| e.event)
        .filter(|e| &e.cart_key == key)
        .collect()
}

/// Concurrent compare-and-sets on one version: exactly one wins; the losers write nothing.
pub async fn compare_and_set_has_one_winner(store: Arc<dyn Store>) {
    let now = OffsetDateTime::now_utc();
    let k = key(1);
    store
        .commit(commit_of(&k, None, now))
        .await
        .expect("create");
    let base = store.load_cart(&k).await.expect("load").expect("cart");
    let attempts = (0..16).map(|_| {
        let store = store.clone();
        let commit = commit_of(&k, Some(&base), now);
        tokio::spawn(async move { store.commit(commit).await })
    });
    let mut wins = 0;
    for attempt in attempts {
        match attempt.await.expect("join") {
            Ok(()) => wins += 1,
            Err(StoreError::VersionMismatch { current, .. }) => assert_eq!(current, Some(2)),
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(
        store
            .load_cart(&k)
            .await
            .expect("load")
            .map(|c| c.version()),
        Some(2)
    );
    assert_eq!(
        events_of(store.as_ref(), &k).await.len(),
        2,
        "only the winner's events"
    );
}

/// Creating where a cart exists, or updating where none does, is a version mismatch.
pub async fn creation_and_update_conditions_hold(store: Arc<dyn Store>) {
    let now = OffsetDateTime::now_utc();
    let k = key(2);
    let ghost = next(&k, None, now).0;
    let update_missing = store.commit(commit_of(&k, Some(&ghost), now)).await;
    assert!(matches!(
        update_missing,
        Err(StoreError::VersionMismatch { current: None, .. })
    ));
    store
        .commit(commit_of(&k, None, now))
        .await
        .expect("create");
    let create_again = store.commit(commit_of(&k, None, now)).await;
    assert!(matches!(
        create_again,
        Err(StoreError::VersionMismatch {
            current: Some(1),
            ..
        })
    ));
    let stored = store.load_cart(&k).await.expect("load").expect("cart");
    assert_eq!(stored.items()[0].quantity().get(), 1);
}

/// A commit whose idempotency key is taken writes neither cart nor events.
pub async fn a_duplicate_idempotency_key_writes_nothing(store: Arc<dyn Store>) {
    let now = OffsetDateTime::now_utc();
    let (a, b) = (key(3), key(4));
    let mut first = commit_of(&a, None, now);
    first.idempotency = Some(record("scope|k", now + Duration::hours(24)));
    store.commit(first).await.expect("first");
    let mut second = commit_of(&b, None, now);
    second.idempotency = Some(record("scope|k", now + Duration::hours(24)));
    assert_eq!(
        store.commit(second).await,
        Err(StoreError::DuplicateIdempotencyKey)
    );
    assert_eq!(store.load_cart(&b).await.expect("load"), None);
    assert!(events_of(store.as_ref(), &b).await.is_empty());
    let stored = store
        .idempotency_record("scope|k", now)
        .await
        .expect("read")
        .expect("record");
    assert_eq!(stored.response.status, 201);
    assert_eq!(
        stored.response.headers,
        vec![("etag".to_owned(), "\"1\"".to_owned())]
    );
}

/// An expired idempotency record is invisible and its key can be used again.
pub async fn expired_idempotency_records_are_reusable(store: Arc<dyn Store>) {
    let now = OffsetDateTime::now_utc();
    let k = key(5);
    let mut first = commit_of(&k, None, now);
    first.idempotency = Some(record("scope|old", now + Duration::seconds(1)));
    store.commit(first).await.expect("first");
    let later = now + Duration::seconds(2);
    assert_eq!(
        store
            .idempotency_record("scope|old", later)
            .await
            .expect("read"),
        None
    );
    let current = store.load_cart(&k).await.expect("load");
    let mut again = commit_of(&k, current.as_ref(), later);
    again.idempotency = Some(record("scope|old", later + Duration::hours(1)));
    store.commit(again).await.expect("reuse after expiry");
}

/// The sweeper deletes expired carts and records only, in batches.
pub async fn sweeping_deletes_only_what_expired(store: Arc<dyn Store>) {
    let now = OffsetDateTime::now_utc();
    let old: Vec<_> = (10..15).map(key).collect();
    for k in &old {
        store
            .commit(commit_of(k, None, now - Duration::days(8)))
            .await
            .expect("old");
    }
    let fresh = key(20);
    store
        .commit(commit_of(&fresh, None, now))
        .await
        .expect("fresh");
    let first = store.sweep_expired(now, 3).await.expect("sweep");
    assert_eq!(first.carts, 3);
    let second = store.sweep_expired(now, 3).await.expect("sweep");
    assert_eq!(second.carts, 2);
    for k in &old {
        assert_eq!(store.load_cart(k).await.expect("load"), None);
    }
    assert!(store.load_cart(&fresh).await.expect("load").is_some());
}

/// The outbox keeps commit order with increasing sequence numbers.
pub async fn the_outbox_keeps_commit_order(store: Arc<dyn Store>) {
    let now = OffsetDateTime::now_utc();
    let k = key(30);
    let mut current = None;
    for _ in 0..5 {
        store
            .commit(commit_of(&k, current.as_ref(), now))
            .await
            .expect("commit");
        current = store.load_cart(&k).await.expect("load");
    }
    let entries = store.pending_events(1000).await.expect("outbox");
    assert!(entries.windows(2).all(|w| w[0].seq < w[1].seq));
    let versions: Vec<_> = entries
        .iter()
        .filter(|e| e.event.cart_key == k)
        .map(|e| e.event.version)
        .collect();
    assert_eq!(versions, [1, 2, 3, 4, 5]);
    assert_eq!(store.pending_events(2).await.expect("outbox").len(), 2);
}

/// A write without a new state deletes the cart, on its version condition.
pub async fn deletes_are_conditional(store: Arc<dyn Store>) {
    let now = OffsetDateTime::now_utc();
    let k = key(40);
    store
        .commit(commit_of(&k, None, now))
        .await
        .expect("create");
    let delete = |expected| Commit {
        writes: vec![CartWrite {
            key: k.clone(),
            expected_version: Some(expected),
            new_state: None,
        }],
        events: vec![],
        idempotency: None,
        at: now,
    };
    assert!(matches!(
        store.commit(delete(9)).await,
        Err(StoreError::VersionMismatch { .. })
    ));
    store.commit(delete(1)).await.expect("delete");
    assert_eq!(store.load_cart(&k).await.expect("load"), None);
}

/// A commit of two carts (a merge: the user cart written, the guest cart deleted) is all or
/// nothing: when the second write's condition fails, the first write and the events are not
/// stored either; when both hold, both land with their events.
pub async fn a_two_cart_commit_is_all_or_nothing(store: Arc<dyn Store>) {
    let now = OffsetDateTime::now_utc();
    let (user, guest) = (key(50), key(51));
    for k in [&user, &guest] {
        store.commit(commit_of(k, None, now)).await.expect("create");
    }
    let user_cart = store.load_cart(&user).await.expect("load").expect("user");
    let (merged, events) = next(&user, Some(&user_cart), now);
    let merge = |guest_version| Commit {
        writes: vec![
            CartWrite {
                key: user.clone(),
                expected_version: Some(1),
                new_state: Some(merged.clone()),
            },
            CartWrite {
                key: guest.clone(),
                expected_version: Some(guest_version),
                new_state: None,
            },
        ],
        events: events.clone(),
        idempotency: Some(record("merge-key", now + Duration::hours(1))),
        at: now,
    };
    let refused = store.commit(merge(7)).await;
    assert!(
        matches!(&refused, Err(StoreError::VersionMismatch { key, current: Some(1) }) if *key == guest),
        "{refused:?}"
    );
    assert_eq!(store.load_cart(&user).await.expect("load"), Some(user_cart));
    assert!(store.load_cart(&guest).await.expect("load").is_some());
    assert_eq!(events_of(store.as_ref(), &user).await.len(), 1);
    assert!(
        store
            .idempotency_record("merge-key", now)
            .await
            .expect("record")
            .is_none()
    );

    store.commit(merge(1)).await.expect("merge");
    assert_eq!(store.load_cart(&user).await.expect("load"), Some(merged));
    assert_eq!(store.load_cart(&guest).await.expect("load"), None);
    assert_eq!(events_of(store.as_ref(), &user).await.len(), 2);
    assert!(
        store
            .idempotency_record("merge-key", now)
            .await
            .expect("record")
            .is_some()
    );
}

/// A cart whose expiry moved later (every write extends it) is never swept before its new
/// expiry, whatever the backend does to make sweeping cheap; once expired it is swept.
pub async fn a_cart_is_never_swept_before_its_extended_expiry(store: Arc<dyn Store>) {
    let start = OffsetDateTime::now_utc();
    let k = key(60);
    store
        .commit(commit_of(&k, None, start))
        .await
        .expect("create");
    let first = store.load_cart(&k).await.expect("load").expect("cart");
    // Written again three hours later: the expiry moves three hours on.
    let later = start + Duration::hours(3);
    store
        .commit(commit_of(&k, Some(&first), later))
        .await
        .expect("update");
    let extended = store.load_cart(&k).await.expect("load").expect("cart");
    assert!(extended.expires_at() > first.expires_at() + Duration::hours(2));
    // After the first expiry (and its hour), before the second: still there.
    let between = first.expires_at() + Duration::minutes(90);
    store.sweep_expired(between, 100).await.expect("sweep");
    assert_eq!(
        store.load_cart(&k).await.expect("load"),
        Some(extended.clone())
    );
    // Well after the second: gone.
    store
        .sweep_expired(extended.expires_at() + Duration::days(1), 100)
        .await
        .expect("sweep");
    assert_eq!(store.load_cart(&k).await.expect("load"), None);
}

/// Outbox completeness under concurrency: 8 writers each make 25 changes to one of 4 carts,
/// retrying lost compare-and-sets the way the service does. Every committed change has its
/// event in the outbox exactly once, in per-cart version order, and no event of a lost attempt
/// is there.
pub async fn every_committed_change_has_its_event_once_and_in_order(store: Arc<dyn Store>) {
    let now = OffsetDateTime::now_utc();
    let carts: Vec<CartKey> = (70..74).map(key).collect();
    let writers = (0..8).map(|w| {
        let store = store.clone();
        let k = carts[w % carts.len()].clone();
        tokio::spawn(async move {
            let mut committed = 0;
            while committed < 25 {
                let current = store.load_cart(&k).await.expect("load");
                match store.commit(commit_of(&k, current.as_ref(), now)).await {
                    Ok(()) => committed += 1,
                    Err(StoreError::VersionMismatch { .. }) => continue,
                    Err(other) => panic!("unexpected {other}"),
                }
            }
        })
    });
    for writer in writers {
        writer.await.expect("writer");
    }
    let entries = store.pending_events(100_000).await.expect("outbox");
    assert!(
        entries.windows(2).all(|w| w[0].seq < w[1].seq),
        "seq increases"
    );
    let mut ids = std::collections::HashSet::new();
    assert!(
        entries.iter().all(|e| ids.insert(e.event.id)),
        "each event once"
    );
    for k in &carts {
        let versions: Vec<u64> = entries
            .iter()
            .filter(|e| e.event.cart_key == *k)
            .map(|e| e.event.version)
            .collect();
        // Two writers per cart, 25 changes each: versions 1..=50, each once, in order.
        assert_eq!(versions, (1..=50).collect::<Vec<u64>>(), "{k}");
        let cart = store.load_cart(k).await.expect("load").expect("cart");
        assert_eq!(cart.version(), 50);
    }
}

/// A cart's stamp is its id, version and expiry, read without the contents.
pub async fn stamps_match_the_stored_cart(store: Arc<dyn Store>) {
    let now = OffsetDateTime::now_utc();
    let k = key(50);
    assert_eq!(store.cart_stamp(&k).await.expect("stamp"), None);
    store
        .commit(commit_of(&k, None, now))
        .await
        .expect("create");
    let cart = store.load_cart(&k).await.expect("load").expect("cart");
    store
        .commit(commit_of(&k, Some(&cart), now))
        .await
        .expect("update");
    let cart = store.load_cart(&k).await.expect("load").expect("cart");
    let stamp = store.cart_stamp(&k).await.expect("stamp").expect("some");
    assert_eq!(stamp.cart_id, cart.id());
    assert_eq!(stamp.version, 2);
    assert_eq!(
        stamp.expires_at.unix_timestamp(),
        cart.expires_at().unix_timestamp()
    );
}

/// A backend's server is missing: skip the test with a printed reason, unless
/// `CARTD_REQUIRE_SERVICES=1` makes that a failure.
pub fn unavailable<T>(service: &str, why: impl std::fmt::Display) -> Option<T> {
    if std::env::var("CARTD_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{service} is required (CARTD_REQUIRE_SERVICES=1) but unavailable: {why}");
    }
    eprintln!("skipping: {service} unavailable: {why}");
    None
}

macro_rules! conformance {
    ($open:expr) => {
        #[tokio::test]
        async fn stamps_match_the_stored_cart() {
            if let Some(store) = $open.await {
                super::stamps_match_the_stored_cart(store).await;
            }
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn compare_and_set_has_one_winner() {
            if let Some(store) = $open.await {
                super::compare_and_set_has_one_winner(store).await;
            }
        }
        #[tokio::test]
        async fn creation_and_update_conditions_hold() {
            if let Some(store) = $open.await {
                super::creation_and_update_conditions_hold(store).await;
            }
        }
        #[tokio::test]
        async fn a_duplicate_idempotency_key_writes_nothing() {
            if let Some(store) = $open.await {
                super::a_duplicate_idempotency_key_writes_nothing(store).await;
            }
        }
        #[tokio::test]
        async fn expired_idempotency_records_are_reusable() {
            if let Some(store) = $open.await {
                super::expired_idempotency_records_are_reusable(store).await;
            }
        }
        #[tokio::test]
        async fn sweeping_deletes_only_what_expired() {
            if let Some(store) = $open.await {
                super::sweeping_deletes_only_what_expired(store).await;
            }
        }
        #[tokio::test]
        async fn the_outbox_keeps_commit_order() {
            if let Some(store) = $open.await {
                super::the_outbox_keeps_commit_order(store).await;
            }
        }
        #[tokio::test]
        async fn a_two_cart_commit_is_all_or_nothing() {
            if let Some(store) = $open.await {
                super::a_two_cart_commit_is_all_or_nothing(store).await;
            }
        }
        #[tokio::test]
        async fn a_cart_is_never_swept_before_its_extended_expiry() {
            if let Some(store) = $open.await {
                super::a_cart_is_never_swept_before_its_extended_expiry(store).await;
            }
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn every_committed_change_has_its_event_once_and_in_order() {
            if let Some(store) = $open.await {
                super::every_committed_change_has_its_event_once_and_in_order(store).await;
            }
        }
        #[tokio::test]
        async fn deletes_are_conditional() {
            if let Some(store) = $open.await {
                super::deletes_are_conditional(store).await;
            }
        }
    };
}

mod sqlite {
    use std::sync::Arc;

    use cart_core::Store;

    /// A store on a fresh file; the directory lives as long as the process (tests are short).
    async fn open() -> Option<Arc<dyn Store>> {
        let dir = tempfile::tempdir().expect("temp dir").keep();
        let url = cart_store::StoreUrl::parse(&format!(
            "sqlite://{}",
            dir.join("conformance.db").display()
        ))
        .expect("url");
        let backend = cart_store::open(&url).await.expect("open");
        Some(backend.store())
    }

    conformance!(open());
}

mod postgres {
    use std::sync::Arc;

    use cart_core::Store;

    /// A store in a fresh schema of the test database (`CARTD_TEST_POSTGRES_URL`, default the
    /// local server's `test` database), so tests run in parallel without seeing each other.
    async fn open() -> Option<Arc<dyn Store>> {
        let base = std::env::var("CARTD_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let schema = format!("cartd_test_{}", uuid::Uuid::new_v4().simple());
        let url =
            cart_store::StoreUrl::parse(&format!("{base}?schema={schema}&acquire_timeout=3s"))
                .expect("url");
        match cart_store::open(&url).await {
            Ok(backend) => Some(backend.store()),
            Err(e) => super::unavailable("PostgreSQL", e),
        }
    }

    conformance!(open());
}

mod redis {
    use std::sync::Arc;

    use cart_core::Store;

    /// A store under a fresh key prefix of the test server (`CARTD_TEST_REDIS_URL`, default the
    /// local server), so tests run in parallel without seeing each other.
    async fn open() -> Option<Arc<dyn Store>> {
        let base = std::env::var("CARTD_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let prefix = format!("cartd-test-{}", uuid::Uuid::new_v4().simple());
        let url = cart_store::StoreUrl::parse(&format!("{base}?prefix={prefix}&timeout=2s"))
            .expect("url");
        match cart_store::open(&url).await {
            Ok(backend) => Some(backend.store()),
            Err(e) => super::unavailable("Redis", e),
        }
    }

    conformance!(open());
}

mod dynamodb {
    use std::sync::Arc;

    use cart_core::Store;

    /// A store on a fresh table of the test endpoint (`CARTD_TEST_DYNAMODB_ENDPOINT`, default a
    /// moto server on 127.0.0.1:5005), created for the test.
    async fn open() -> Option<Arc<dyn Store>> {
        let endpoint = std::env::var("CARTD_TEST_DYNAMODB_ENDPOINT")
            .unwrap_or_else(|_| "http://127.0.0.1:5005".into());
        let table = format!("cartd-test-{}", uuid::Uuid::new_v4().simple());
        let url = cart_store::StoreUrl::parse(&format!(
            "dynamodb://{table}?region=us-east-1&endpoint={endpoint}&create=true&timeout=5s"
        ))
        .expect("url");
        match cart_store::open(&url).await {
            Ok(backend) => Some(backend.store()),
            Err(e) => super::unavailable("DynamoDB (moto)", e),
        }
    }

    conformance!(open());
}
