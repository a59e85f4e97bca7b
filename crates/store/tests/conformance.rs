//! The store conformance suite: the guarantees every `Store`, `Outbox`, `Catalog` and
//! `PricingSettings` backend must keep,
//! written once against the traits. Each backend gets a module that opens a fresh store (its own
//! file, schema, key prefix or table) and runs every check: SQLite, PostgreSQL, Redis and
//! DynamoDB.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use cart_core::{
    AddItem, Cart, CartEvent, CartKey, CartWrite, Commit, Currency, EventType, GuestId,
    IdempotencyRecord, KEPT_AFTER_EXPIRY, Limits, OutboxEntry, OutboxStats, Outcome, Price,
    PricingKind, Product, ProductId, RecordKind, RecordWrite, RequestedQuantity, Store, StoreError,
    StoredRecord, TaxClass,
};
use cart_store::Backend;

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
        tax_class: Default::default(),
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
            new_state: Some(cart.into()),
        }],
        events,
        idempotency: None,
        records: Vec::new(),
        at: now,
    }
}

/// A record of an add's outcome (a cart with one line).
fn record(scoped_key: &str, expires_at: OffsetDateTime) -> IdempotencyRecord {
    let (cart, _) = next(&key(99), None, expires_at - Duration::hours(24));
    IdempotencyRecord {
        scoped_key: scoped_key.into(),
        fingerprint: "cmd1 add_item cart=guest_x".into(),
        outcome: Outcome::Cart(Some(cart)),
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
    let created_events = events_of(store.as_ref(), &k).await.len();
    assert_eq!(
        created_events,
        commit_of(&k, None, now).events.len(),
        "a failed update wrote no events; the creation wrote its own"
    );
    let create_again = store.commit(commit_of(&k, None, now)).await;
    assert!(matches!(
        create_again,
        Err(StoreError::VersionMismatch {
            current: Some(1),
            ..
        })
    ));
    assert_eq!(
        events_of(store.as_ref(), &k).await.len(),
        created_events,
        "a failed creation writes no events"
    );
    let stored = store.load_cart(&k).await.expect("load").expect("cart");
    assert_eq!(stored.items()[0].quantity().get(), 1);
}

/// A commit whose idempotency key is taken writes neither cart nor events.
pub async fn a_duplicate_idempotency_key_writes_nothing(store: Arc<dyn Store>) {
    let now = OffsetDateTime::now_utc();
    let (a, b) = (key(3), key(4));
    let recorded = record("scope|k", now + Duration::hours(24));
    let mut first = commit_of(&a, None, now);
    first.idempotency = Some(recorded.clone());
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
    assert_eq!(stored.fingerprint, recorded.fingerprint);
    assert_eq!(
        stored.outcome, recorded.outcome,
        "the first commit's outcome"
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

/// The sweeper deletes, in batches, only carts past keeping: expired
/// [`KEPT_AFTER_EXPIRY`] ago or more. A cart expired more recently is kept (its key's next
/// cart continues its versions), a live one too.
pub async fn sweeping_deletes_only_what_is_past_keeping(store: Arc<dyn Store>) {
    let now = OffsetDateTime::now_utc();
    let old: Vec<_> = (10..15).map(key).collect();
    // Written a week (their time to live) and the keeping ago, and two hours more: past
    // keeping by more than any backend's rounding, and not yet forgotten by a store's own
    // expiry (a day later).
    let past_keeping = Duration::days(7) + KEPT_AFTER_EXPIRY + Duration::hours(2);
    for k in &old {
        store
            .commit(commit_of(k, None, now - past_keeping))
            .await
            .expect("old");
    }
    let fresh = key(20);
    store
        .commit(commit_of(&fresh, None, now))
        .await
        .expect("fresh");
    let recently_expired = key(21);
    store
        .commit(commit_of(&recently_expired, None, now - Duration::days(8)))
        .await
        .expect("recently expired");
    let first = store.sweep_expired(now, 3).await.expect("sweep");
    assert_eq!(first.carts, 3);
    let second = store.sweep_expired(now, 3).await.expect("sweep");
    assert_eq!(second.carts, 2);
    for k in &old {
        assert_eq!(store.load_cart(k).await.expect("load"), None);
    }
    assert!(store.load_cart(&fresh).await.expect("load").is_some());
    let kept = store.load_cart(&recently_expired).await.expect("load");
    assert!(kept.is_some_and(|cart| cart.is_expired(now)));
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
        records: Vec::new(),
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
                new_state: Some(merged.clone().into()),
            },
            CartWrite {
                key: guest.clone(),
                expected_version: Some(guest_version),
                new_state: None,
            },
        ],
        events: events.clone(),
        idempotency: Some(record("merge-key", now + Duration::hours(1))),
        records: Vec::new(),
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
/// expiry (and the keeping after it), whatever the backend does to make sweeping cheap; once
/// past keeping it is swept.
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
    // Past keeping after the first expiry (and its hour), before the second: still there.
    let between = first.expires_at() + KEPT_AFTER_EXPIRY + Duration::minutes(90);
    store.sweep_expired(between, 100).await.expect("sweep");
    assert_eq!(
        store.load_cart(&k).await.expect("load"),
        Some(extended.clone())
    );
    // Well after the second: gone.
    store
        .sweep_expired(
            extended.expires_at() + KEPT_AFTER_EXPIRY + Duration::days(1),
            100,
        )
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

/// Many carts committed at the same moment (which the PostgreSQL store writes as one group):
/// each commit keeps its own compare-and-set. Updates on the current version and new carts
/// land with their events; stale updates and creations of existing carts fail with the stored
/// version and leave no event behind.
pub async fn carts_committed_together_keep_their_own_outcomes(store: Arc<dyn Store>) {
    let now = OffsetDateTime::now_utc();
    let existing: Vec<CartKey> = (100..124).map(key).collect();
    for k in &existing {
        store.commit(commit_of(k, None, now)).await.expect("create");
    }
    let mut attempts = Vec::new();
    for (i, k) in existing.iter().enumerate() {
        let commit = if i < 16 {
            let current = store.load_cart(k).await.expect("load");
            commit_of(k, current.as_ref(), now)
        } else if i < 20 {
            commit_of(k, None, now)
        } else {
            // Built on a version 2 the store never had.
            let version_two = next(k, Some(&next(k, None, now).0), now).0;
            commit_of(k, Some(&version_two), now)
        };
        attempts.push((i < 16, commit));
    }
    let fresh: Vec<CartKey> = (124..132).map(key).collect();
    attempts.extend(fresh.iter().map(|k| (true, commit_of(k, None, now))));
    // Spawned before any is awaited, so they queue together.
    let handles: Vec<_> = attempts
        .into_iter()
        .map(|(lands, commit)| {
            let store = store.clone();
            tokio::spawn(async move { (lands, store.commit(commit).await) })
        })
        .collect();
    for handle in handles {
        match handle.await.expect("join") {
            (true, outcome) => outcome.expect("a fresh commit lands"),
            (_, outcome) => assert!(
                matches!(
                    outcome,
                    Err(StoreError::VersionMismatch {
                        current: Some(1),
                        ..
                    })
                ),
                "a stale commit fails on its own: {outcome:?}"
            ),
        }
    }
    for (i, k) in existing.iter().enumerate() {
        let expected = if i < 16 { 2 } else { 1 };
        let cart = store.load_cart(k).await.expect("load").expect("cart");
        assert_eq!(cart.version(), expected, "{k}");
        let versions: Vec<u64> = events_of(store.as_ref(), k)
            .await
            .iter()
            .map(|e| e.version)
            .collect();
        assert_eq!(versions, (1..=expected).collect::<Vec<u64>>(), "{k}");
    }
    for k in &fresh {
        assert_eq!(
            store.load_cart(k).await.expect("load").map(|c| c.version()),
            Some(1)
        );
        assert_eq!(events_of(store.as_ref(), k).await.len(), 1, "{k}");
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

/// Now, to the whole second: every backend stores times at least to the millisecond, so times
/// built from it come back equal.
fn whole_second_now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).expect("now")
}

/// Commits `count` changes to the cart under `k`, the i-th at `start + i` seconds; returns the
/// outbox entries they produced, in order.
async fn commit_events(
    store: &dyn Store,
    k: &CartKey,
    start: OffsetDateTime,
    count: i64,
) -> Vec<OutboxEntry> {
    for i in 0..count {
        let current = store.load_cart(k).await.expect("load");
        store
            .commit(commit_of(k, current.as_ref(), start + Duration::seconds(i)))
            .await
            .expect("commit");
    }
    let entries: Vec<OutboxEntry> = store
        .pending_events(1000)
        .await
        .expect("outbox")
        .into_iter()
        .filter(|e| &e.event.cart_key == k)
        .collect();
    assert_eq!(entries.len() as i64, count);
    entries
}

fn seqs(entries: &[OutboxEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.seq).collect()
}

async fn pending_seqs(store: &dyn Store) -> Vec<u64> {
    seqs(&store.pending_events(1000).await.expect("pending"))
}

/// One relay at a time: the lease goes to one holder, is renewed by it, falls free at its
/// expiry (and only then) or when its holder releases it; a relay that lost it marks nothing.
pub async fn the_relay_lease_is_exclusive_and_guards_marks(backend: Backend) {
    let (store, outbox) = (backend.store(), backend.outbox());
    let t0 = whole_second_now();
    let s = |n: i64| t0 + Duration::seconds(n);
    let ttl = Duration::seconds(30);
    let entries = commit_events(store.as_ref(), &key(80), t0, 3).await;
    let all = seqs(&entries);

    assert!(outbox.acquire_relay_lease("a", s(0), ttl).await.expect("a"));
    assert!(!outbox.acquire_relay_lease("b", s(1), ttl).await.expect("b"));
    // A renewal moves the expiry to s(40): b still cannot take it at s(39).
    assert!(
        outbox
            .acquire_relay_lease("a", s(10), ttl)
            .await
            .expect("renew")
    );
    assert!(
        !outbox
            .acquire_relay_lease("b", s(39), ttl)
            .await
            .expect("b")
    );
    outbox
        .mark_published("a", &all[..1], s(20))
        .await
        .expect("the holder marks");
    assert_eq!(pending_seqs(store.as_ref()).await, all[1..]);

    // At its expiry the lease is free.
    assert!(
        outbox
            .acquire_relay_lease("b", s(40), ttl)
            .await
            .expect("b takes over")
    );
    assert_eq!(
        outbox.mark_published("a", &all[1..2], s(41)).await,
        Err(StoreError::LeaseLost)
    );
    assert_eq!(
        pending_seqs(store.as_ref()).await,
        all[1..],
        "a lost lease marks nothing"
    );
    assert!(
        !outbox
            .acquire_relay_lease("a", s(41), ttl)
            .await
            .expect("a")
    );
    // Releasing a lease one does not hold changes nothing.
    outbox.release_relay_lease("a").await.expect("release");
    assert!(
        !outbox
            .acquire_relay_lease("a", s(42), ttl)
            .await
            .expect("a")
    );
    outbox
        .mark_published("b", &all[1..2], s(43))
        .await
        .expect("b marks");
    assert_eq!(pending_seqs(store.as_ref()).await, all[2..]);

    // The holder's release lets another relay in at once.
    outbox.release_relay_lease("b").await.expect("release");
    assert!(
        outbox
            .acquire_relay_lease("a", s(44), ttl)
            .await
            .expect("a")
    );
    assert_eq!(
        outbox.mark_published("b", &all[2..], s(45)).await,
        Err(StoreError::LeaseLost)
    );
    // A holder whose own lease expired (s(74)) may not mark either.
    assert_eq!(
        outbox.mark_published("a", &all[2..], s(74)).await,
        Err(StoreError::LeaseLost)
    );
    assert_eq!(pending_seqs(store.as_ref()).await, all[2..]);
}

/// Marking removes exactly the marked prefix from the pending events, the rest stays in order,
/// and the stats follow: depth and the commit time of the oldest pending event.
pub async fn marks_remove_exactly_the_published_prefix(backend: Backend) {
    let (store, outbox) = (backend.store(), backend.outbox());
    let t0 = whole_second_now();
    let s = |n: i64| t0 + Duration::seconds(n);
    let stats = |depth, oldest| OutboxStats {
        depth,
        oldest_pending_at: oldest,
    };
    assert_eq!(
        outbox.outbox_stats(t0).await.expect("stats"),
        stats(0, None)
    );
    let entries = commit_events(store.as_ref(), &key(81), t0, 5).await;
    let all = seqs(&entries);
    assert_eq!(
        outbox.outbox_stats(s(5)).await.expect("stats"),
        stats(5, Some(t0))
    );
    assert!(
        outbox
            .acquire_relay_lease("relay", s(10), Duration::minutes(1))
            .await
            .expect("lease")
    );

    // The mark names an event past the last batch this store read (as when another process
    // read it): stores that remember what they read must not depend on it.
    assert_eq!(
        store.pending_events(1).await.expect("pending"),
        entries[..1]
    );
    outbox
        .mark_published("relay", &all[..2], s(11))
        .await
        .expect("mark");
    assert_eq!(
        store.pending_events(1000).await.expect("pending"),
        entries[2..]
    );
    assert_eq!(
        outbox.outbox_stats(s(11)).await.expect("stats"),
        stats(3, Some(s(2)))
    );

    outbox
        .mark_published("relay", &all[2..4], s(12))
        .await
        .expect("mark");
    assert_eq!(
        store.pending_events(1000).await.expect("pending"),
        entries[4..]
    );
    assert_eq!(
        outbox.outbox_stats(s(12)).await.expect("stats"),
        stats(1, Some(s(4)))
    );
    // Marking again what is published already (a retried mark) changes nothing.
    outbox
        .mark_published("relay", &all[..2], s(13))
        .await
        .expect("mark again");
    assert_eq!(pending_seqs(store.as_ref()).await, all[4..]);

    outbox
        .mark_published("relay", &all[4..], s(14))
        .await
        .expect("mark");
    assert!(pending_seqs(store.as_ref()).await.is_empty());
    assert_eq!(
        outbox.outbox_stats(s(14)).await.expect("stats"),
        stats(0, None)
    );

    // New events after a drained outbox are pending, after the published ones.
    let more = commit_events(store.as_ref(), &key(82), s(20), 1).await;
    assert!(more[0].seq > all[4]);
    assert_eq!(store.pending_events(1000).await.expect("pending"), more);
    assert_eq!(
        outbox.outbox_stats(s(21)).await.expect("stats"),
        stats(1, Some(s(20)))
    );
}

/// Pruning deletes published events from before the cutoff only, never an unpublished one, at
/// most `batch` at a time.
pub async fn pruning_deletes_only_old_published_events(backend: Backend) {
    let (store, outbox) = (backend.store(), backend.outbox());
    let t0 = whole_second_now();
    let s = |n: i64| t0 + Duration::seconds(n);
    let far = t0 + Duration::days(365);
    let entries = commit_events(store.as_ref(), &key(83), t0, 6).await;
    let all = seqs(&entries);
    assert_eq!(
        outbox.prune_published(far, 100).await.expect("prune"),
        0,
        "nothing published"
    );
    assert!(
        outbox
            .acquire_relay_lease("relay", s(10), Duration::minutes(1))
            .await
            .expect("lease")
    );
    outbox
        .mark_published("relay", &all[..3], s(10))
        .await
        .expect("mark");

    // Committed and published after the cutoff: kept.
    assert_eq!(outbox.prune_published(t0, 100).await.expect("prune"), 0);
    assert_eq!(outbox.prune_published(far, 2).await.expect("prune"), 2);
    assert_eq!(outbox.prune_published(far, 100).await.expect("prune"), 1);
    assert_eq!(outbox.prune_published(far, 100).await.expect("prune"), 0);
    assert_eq!(
        store.pending_events(1000).await.expect("pending"),
        entries[3..],
        "the unpublished half stays, in order"
    );
    assert_eq!(
        outbox.outbox_stats(s(11)).await.expect("stats"),
        OutboxStats {
            depth: 3,
            oldest_pending_at: Some(s(3)),
        }
    );

    outbox
        .mark_published("relay", &all[3..], s(12))
        .await
        .expect("mark the rest");
    assert_eq!(outbox.prune_published(far, 100).await.expect("prune"), 3);
    assert!(pending_seqs(store.as_ref()).await.is_empty());
    assert_eq!(outbox.outbox_stats(s(12)).await.expect("stats").depth, 0);

    // The emptied outbox goes on: the next events are pending, not taken for published
    // (commit_events asserts that both are).
    let later = commit_events(store.as_ref(), &key(84), s(13), 2).await;
    assert_eq!(pending_seqs(store.as_ref()).await, seqs(&later));
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

/// The fingerprint the build before command fingerprints recorded: a SHA-256 of method, path
/// and body, in hex.
const LEGACY_FINGERPRINT: &str =
    "9f2c1d5e7a3b4c6d8e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7";

/// The REST answer to an add, as the build before the transport-free write path recorded it:
/// status, headers, and the cart's JSON as bytes.
fn legacy_response_text() -> String {
    let cart = r#"{"id":"0193a1a0-0000-7000-8000-000000000001","user_id":"guest_01JD3XK4B5C6D7E8F9G0H1J2K3","owner":"guest","currency":"EUR","items":[{"item_id":"0193a1a0-0000-7000-8000-000000000002","product_id":"book-001-pb","variant_id":null,"name":"Middlemarch","quantity":2,"unit_price":1299,"subtotal":2598,"added_at":"2026-12-01T10:00:00Z","updated_at":"2026-12-01T10:00:01Z"}],"item_count":1,"total_quantity":2,"total_price":2598,"version":2,"created_at":"2026-12-01T10:00:00Z","updated_at":"2026-12-01T10:00:01Z","expires_at":"2026-12-08T10:00:01Z"}"#;
    let body: Vec<String> = cart.bytes().map(|b| b.to_string()).collect();
    format!(
        r#"{{"status":201,"headers":[["content-type","application/json"],["etag","\"2\""]],"body":[{}]}}"#,
        body.join(",")
    )
}

/// A record the previous build wrote (put there by the backend's own client) reads as the
/// domain outcome it answered, under its old fingerprint.
async fn a_record_of_the_previous_build_reads_as_its_outcome(store: &dyn Store, scoped: &str) {
    let record = store
        .idempotency_record(scoped, OffsetDateTime::now_utc())
        .await
        .expect("read")
        .expect("the old record is there");
    assert_eq!(record.fingerprint, LEGACY_FINGERPRINT);
    let Outcome::Cart(Some(cart)) = record.outcome else {
        panic!("a cart: {:?}", record.outcome);
    };
    assert_eq!(cart.key().as_str(), "guest_01JD3XK4B5C6D7E8F9G0H1J2K3");
    assert_eq!(cart.version(), 2);
    assert_eq!(cart.items().len(), 1);
    assert_eq!(cart.items()[0].quantity().get(), 2);
    assert_eq!(cart.totals().total_price, 2598);
}

/// Milliseconds since the epoch, a day from now: when the old record expires.
/// Products come back exactly as written, tax class and stock included, and an upsert replaces
/// every attribute of a product that exists.
async fn the_catalog_keeps_every_product_attribute(backend: Backend) {
    let catalog = backend.catalog();
    let reduced = Product {
        id: ProductId::parse("a-book").expect("id"),
        name: "A Book — ünïcödé".into(),
        stock: Some(7),
        active: false,
        tax_class: TaxClass::parse("reduced").expect("class"),
        ..product()
    };
    let plain = Product {
        id: ProductId::parse("b-pen").expect("id"),
        ..product()
    };
    let created = catalog
        .upsert_products(vec![reduced.clone(), plain.clone()])
        .await
        .expect("upsert");
    assert_eq!(created, vec![true, true]);
    assert_eq!(
        catalog.product(&reduced.id).await.expect("read"),
        Some(reduced.clone())
    );
    assert_eq!(
        catalog.products(None, 10).await.expect("page"),
        vec![reduced.clone(), plain.clone()]
    );
    let replaced = Product {
        stock: None,
        active: true,
        tax_class: TaxClass::standard(),
        ..reduced.clone()
    };
    let created = catalog
        .upsert_products(vec![replaced.clone()])
        .await
        .expect("upsert");
    assert_eq!(created, vec![false]);
    assert_eq!(
        catalog.product(&reduced.id).await.expect("read"),
        Some(replaced)
    );
    assert_eq!(catalog.product_count().await.expect("count"), 2);
}

/// Pricing settings are kept per kind: written, replaced, listed in key order, deleted, and one
/// kind's key never shows in another's.
async fn pricing_settings_are_kept_per_kind(backend: Backend) {
    let pricing = backend.pricing();
    let fr = r#"{"rates":{"standard":"20"},"prices_include_tax":true}"#;
    assert!(
        pricing
            .put_setting(PricingKind::TaxRates, "FR", fr)
            .await
            .expect("put")
    );
    assert!(
        pricing
            .put_setting(
                PricingKind::TaxRates,
                "DE",
                r#"{"rates":{},"prices_include_tax":true}"#
            )
            .await
            .expect("put")
    );
    assert!(
        pricing
            .put_setting(PricingKind::ShippingRate, "FR", r#"{"amount":499}"#)
            .await
            .expect("put")
    );
    let replaced = r#"{"rates":{"standard":"19.6"},"prices_include_tax":true}"#;
    assert!(
        !pricing
            .put_setting(PricingKind::TaxRates, "FR", replaced)
            .await
            .expect("replace"),
        "a replace is not new"
    );
    assert_eq!(
        pricing
            .setting(PricingKind::TaxRates, "FR")
            .await
            .expect("read"),
        Some(replaced.to_owned())
    );
    assert_eq!(
        pricing
            .setting(PricingKind::Promotion, "FR")
            .await
            .expect("read"),
        None
    );
    let keys: Vec<String> = pricing
        .settings(PricingKind::TaxRates)
        .await
        .expect("list")
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(keys, ["DE", "FR"]);
    assert!(
        pricing
            .delete_setting(PricingKind::TaxRates, "FR")
            .await
            .expect("delete")
    );
    assert!(
        !pricing
            .delete_setting(PricingKind::TaxRates, "FR")
            .await
            .expect("again")
    );
    assert_eq!(
        pricing
            .setting(PricingKind::ShippingRate, "FR")
            .await
            .expect("read"),
        Some(r#"{"amount":499}"#.to_owned()),
        "deleting one kind's key leaves the other kinds alone"
    );
    assert!(
        pricing
            .settings(PricingKind::Promotion)
            .await
            .expect("list")
            .is_empty()
    );
}

fn record_write(
    kind: RecordKind,
    key: &str,
    expected: Option<u64>,
    body: Option<&str>,
) -> RecordWrite {
    RecordWrite {
        kind,
        key: key.to_owned(),
        expected_version: expected,
        body: body.map(str::to_owned),
    }
}

fn records_commit(records: Vec<RecordWrite>) -> Commit {
    Commit {
        writes: Vec::new(),
        events: Vec::new(),
        idempotency: None,
        records,
        at: whole_second_now(),
    }
}

/// Records are created only where none is, updated and deleted only at the version named, and
/// each write moves the version on by one; one kind's key never shows in another's.
async fn records_are_compare_and_set(backend: Backend) {
    let (store, records) = (backend.store(), backend.records());
    let stock = |expected, body| record_write(RecordKind::Stock, "pen", expected, body);
    store
        .commit(records_commit(vec![stock(None, Some(r#"{"on_hand":3}"#))]))
        .await
        .expect("create");
    let refused = store
        .commit(records_commit(vec![stock(None, Some(r#"{"on_hand":9}"#))]))
        .await;
    assert!(
        matches!(&refused, Err(StoreError::RecordConflict { kind: RecordKind::Stock, key }) if key == "pen"),
        "a second create is a conflict: {refused:?}"
    );
    let stale = store
        .commit(records_commit(vec![stock(
            Some(2),
            Some(r#"{"on_hand":9}"#),
        )]))
        .await;
    assert!(
        matches!(stale, Err(StoreError::RecordConflict { .. })),
        "{stale:?}"
    );
    store
        .commit(records_commit(vec![stock(
            Some(1),
            Some(r#"{"on_hand":2}"#),
        )]))
        .await
        .expect("update at version 1");
    let stored = records
        .record(RecordKind::Stock, "pen")
        .await
        .expect("read");
    assert_eq!(
        stored,
        Some(StoredRecord {
            key: "pen".into(),
            version: 2,
            body: r#"{"on_hand":2}"#.into()
        })
    );
    assert_eq!(
        records
            .record(RecordKind::Order, "pen")
            .await
            .expect("read"),
        None,
        "kinds do not share keys"
    );
    let stale_delete = store
        .commit(records_commit(vec![stock(Some(1), None)]))
        .await;
    assert!(matches!(
        stale_delete,
        Err(StoreError::RecordConflict { .. })
    ));
    store
        .commit(records_commit(vec![stock(Some(2), None)]))
        .await
        .expect("delete at version 2");
    assert_eq!(
        records
            .record(RecordKind::Stock, "pen")
            .await
            .expect("read"),
        None
    );
    store
        .commit(records_commit(vec![stock(None, Some(r#"{"on_hand":5}"#))]))
        .await
        .expect("a deleted key can be created again");
    assert_eq!(
        records
            .record(RecordKind::Stock, "pen")
            .await
            .expect("read")
            .map(|r| r.version),
        Some(1)
    );
}

/// A commit of carts, events and records writes all of it or nothing: a record conflict keeps
/// the cart and the outbox as they were, and a cart conflict keeps the records.
async fn records_commit_with_carts_all_or_nothing(backend: Backend) {
    let (store, records) = (backend.store(), backend.records());
    let now = whole_second_now();
    let k = key(90);
    let taken = record_write(RecordKind::PaymentEvent, "evt_1", None, Some("{}"));
    store
        .commit(records_commit(vec![taken.clone()]))
        .await
        .expect("first event");
    let mut with_conflict = commit_of(&k, None, now);
    with_conflict.records = vec![
        record_write(RecordKind::Order, "o-1", None, Some(r#"{"n":1}"#)),
        taken,
    ];
    let refused = store.commit(with_conflict).await;
    assert!(
        matches!(refused, Err(StoreError::RecordConflict { .. })),
        "{refused:?}"
    );
    assert_eq!(store.load_cart(&k).await.expect("load"), None);
    assert!(events_of(store.as_ref(), &k).await.is_empty());
    assert_eq!(
        records
            .record(RecordKind::Order, "o-1")
            .await
            .expect("read"),
        None
    );

    let mut together = commit_of(&k, None, now);
    together.records = vec![record_write(
        RecordKind::Order,
        "o-1",
        None,
        Some(r#"{"n":1}"#),
    )];
    store.commit(together).await.expect("cart and record");
    assert!(store.load_cart(&k).await.expect("load").is_some());
    assert_eq!(events_of(store.as_ref(), &k).await.len(), 1);

    // The cart's condition fails (it exists now): the record's update is not written either.
    let mut stale_cart = commit_of(&k, None, now);
    stale_cart.records = vec![record_write(
        RecordKind::Order,
        "o-1",
        Some(1),
        Some(r#"{"n":2}"#),
    )];
    let refused = store.commit(stale_cart).await;
    assert!(
        matches!(refused, Err(StoreError::VersionMismatch { .. })),
        "{refused:?}"
    );
    assert_eq!(
        records
            .record(RecordKind::Order, "o-1")
            .await
            .expect("read")
            .map(|r| r.body),
        Some(r#"{"n":1}"#.to_owned())
    );
    assert_eq!(events_of(store.as_ref(), &k).await.len(), 1);
}

/// Records list by key prefix, in byte order of their keys, a page at a time.
async fn records_list_by_prefix_in_key_order(backend: Backend) {
    let (store, records) = (backend.store(), backend.records());
    let keys = ["u/b/2", "u/a/2", "u/a/1", "u/a/3", "v/a/1", "u/a"];
    store
        .commit(records_commit(
            keys.iter()
                .map(|key| record_write(RecordKind::OrderIndex, key, None, Some(key)))
                .collect(),
        ))
        .await
        .expect("index");
    store
        .commit(records_commit(vec![record_write(
            RecordKind::Order,
            "u/a/0",
            None,
            Some("x"),
        )]))
        .await
        .expect("another kind");
    let page = |prefix: &'static str, after: Option<&'static str>, limit| {
        let records = records.clone();
        async move {
            records
                .records(RecordKind::OrderIndex, prefix, after, limit)
                .await
                .expect("list")
                .into_iter()
                .map(|r| r.key)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page("u/a/", None, 10).await, ["u/a/1", "u/a/2", "u/a/3"]);
    assert_eq!(page("u/a/", None, 2).await, ["u/a/1", "u/a/2"]);
    assert_eq!(page("u/a/", Some("u/a/2"), 2).await, ["u/a/3"]);
    assert_eq!(
        page("u/", None, 10).await,
        ["u/a", "u/a/1", "u/a/2", "u/a/3", "u/b/2"]
    );
    assert_eq!(page("", Some("u/b/2"), 10).await, ["v/a/1"]);
    assert!(page("w/", None, 10).await.is_empty());
    // Characters that are wildcards in SQL LIKE or Redis patterns are plain characters here.
    store
        .commit(records_commit(vec![
            record_write(RecordKind::OrderIndex, "p%_*?[x]/1", None, Some("1")),
            record_write(RecordKind::OrderIndex, "pq/1", None, Some("2")),
        ]))
        .await
        .expect("odd keys");
    assert_eq!(page("p%_*?[", None, 10).await, ["p%_*?[x]/1"]);
}

/// Numbers of one sequence are never given twice, even to callers at the same moment, and go
/// up; each sequence counts on its own.
async fn sequences_never_repeat_a_number(backend: Backend) {
    let records = backend.records();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let records = records.clone();
        tasks.spawn(async move { records.next_number("orders").await.expect("number") });
    }
    let mut numbers = tasks.join_all().await;
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), 20, "no number twice");
    assert_eq!(
        numbers,
        (1..=20).collect::<Vec<u64>>(),
        "a fresh sequence starts at 1"
    );
    assert_eq!(records.next_number("orders").await.expect("next"), 21);
    assert_eq!(records.next_number("other").await.expect("other"), 1);
}

fn a_day_from_now_ms() -> i64 {
    let at = OffsetDateTime::now_utc() + Duration::days(1);
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).expect("ms")
}

macro_rules! conformance {
    ($open:expr) => {
        #[tokio::test]
        async fn carts_committed_together_keep_their_own_outcomes() {
            if let Some(backend) = $open.await {
                super::carts_committed_together_keep_their_own_outcomes(backend.store()).await;
            }
        }
        #[tokio::test]
        async fn stamps_match_the_stored_cart() {
            if let Some(backend) = $open.await {
                super::stamps_match_the_stored_cart(backend.store()).await;
            }
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn compare_and_set_has_one_winner() {
            if let Some(backend) = $open.await {
                super::compare_and_set_has_one_winner(backend.store()).await;
            }
        }
        #[tokio::test]
        async fn creation_and_update_conditions_hold() {
            if let Some(backend) = $open.await {
                super::creation_and_update_conditions_hold(backend.store()).await;
            }
        }
        #[tokio::test]
        async fn a_duplicate_idempotency_key_writes_nothing() {
            if let Some(backend) = $open.await {
                super::a_duplicate_idempotency_key_writes_nothing(backend.store()).await;
            }
        }
        #[tokio::test]
        async fn expired_idempotency_records_are_reusable() {
            if let Some(backend) = $open.await {
                super::expired_idempotency_records_are_reusable(backend.store()).await;
            }
        }
        #[tokio::test]
        async fn sweeping_deletes_only_what_is_past_keeping() {
            if let Some(backend) = $open.await {
                super::sweeping_deletes_only_what_is_past_keeping(backend.store()).await;
            }
        }
        #[tokio::test]
        async fn the_outbox_keeps_commit_order() {
            if let Some(backend) = $open.await {
                super::the_outbox_keeps_commit_order(backend.store()).await;
            }
        }
        #[tokio::test]
        async fn a_two_cart_commit_is_all_or_nothing() {
            if let Some(backend) = $open.await {
                super::a_two_cart_commit_is_all_or_nothing(backend.store()).await;
            }
        }
        #[tokio::test]
        async fn a_cart_is_never_swept_before_its_extended_expiry() {
            if let Some(backend) = $open.await {
                super::a_cart_is_never_swept_before_its_extended_expiry(backend.store()).await;
            }
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn every_committed_change_has_its_event_once_and_in_order() {
            if let Some(backend) = $open.await {
                super::every_committed_change_has_its_event_once_and_in_order(backend.store())
                    .await;
            }
        }
        #[tokio::test]
        async fn deletes_are_conditional() {
            if let Some(backend) = $open.await {
                super::deletes_are_conditional(backend.store()).await;
            }
        }
        #[tokio::test]
        async fn the_relay_lease_is_exclusive_and_guards_marks() {
            if let Some(backend) = $open.await {
                super::the_relay_lease_is_exclusive_and_guards_marks(backend).await;
            }
        }
        #[tokio::test]
        async fn marks_remove_exactly_the_published_prefix() {
            if let Some(backend) = $open.await {
                super::marks_remove_exactly_the_published_prefix(backend).await;
            }
        }
        #[tokio::test]
        async fn the_catalog_keeps_every_product_attribute() {
            if let Some(backend) = $open.await {
                super::the_catalog_keeps_every_product_attribute(backend).await;
            }
        }
        #[tokio::test]
        async fn pricing_settings_are_kept_per_kind() {
            if let Some(backend) = $open.await {
                super::pricing_settings_are_kept_per_kind(backend).await;
            }
        }
        #[tokio::test]
        async fn pruning_deletes_only_old_published_events() {
            if let Some(backend) = $open.await {
                super::pruning_deletes_only_old_published_events(backend).await;
            }
        }
        #[tokio::test]
        async fn records_are_compare_and_set() {
            if let Some(backend) = $open.await {
                super::records_are_compare_and_set(backend).await;
            }
        }
        #[tokio::test]
        async fn records_commit_with_carts_all_or_nothing() {
            if let Some(backend) = $open.await {
                super::records_commit_with_carts_all_or_nothing(backend).await;
            }
        }
        #[tokio::test]
        async fn records_list_by_prefix_in_key_order() {
            if let Some(backend) = $open.await {
                super::records_list_by_prefix_in_key_order(backend).await;
            }
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sequences_never_repeat_a_number() {
            if let Some(backend) = $open.await {
                super::sequences_never_repeat_a_number(backend).await;
            }
        }
    };
}

mod sqlite {
    use cart_store::Backend;

    /// A store on a fresh file; the directory lives as long as the process (tests are short).
    async fn open() -> Option<Backend> {
        Some(open_at().await.0)
    }

    async fn open_at() -> (Backend, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir").keep();
        let path = dir.join("conformance.db");
        let url =
            cart_store::StoreUrl::parse(&format!("sqlite://{}", path.display())).expect("url");
        (cart_store::open(&url).await.expect("open"), path)
    }

    conformance!(open());

    #[tokio::test]
    async fn a_record_of_the_previous_build_reads_as_its_outcome() {
        let (backend, path) = open_at().await;
        let db = rusqlite::Connection::open(&path).expect("open the file");
        db.execute(
            "INSERT INTO idempotency (scoped_key, fingerprint, response, expires_at)
             VALUES ('old|key', ?1, ?2, ?3)",
            rusqlite::params![
                super::LEGACY_FINGERPRINT,
                super::legacy_response_text(),
                super::a_day_from_now_ms()
            ],
        )
        .expect("insert");
        super::a_record_of_the_previous_build_reads_as_its_outcome(
            backend.store().as_ref(),
            "old|key",
        )
        .await;
    }
}

mod postgres {
    use cart_store::Backend;

    /// A store in a fresh schema of the test database (`CARTD_TEST_POSTGRES_URL`, default the
    /// local server's `test` database), so tests run in parallel without seeing each other.
    async fn open() -> Option<Backend> {
        open_at().await.map(|(backend, _, _)| backend)
    }

    /// The store, the server's URL and the store's schema.
    async fn open_at() -> Option<(Backend, String, String)> {
        let base = std::env::var("CARTD_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let schema = format!("cartd_test_{}", uuid::Uuid::new_v4().simple());
        let url =
            cart_store::StoreUrl::parse(&format!("{base}?schema={schema}&acquire_timeout=3s"))
                .expect("url");
        match cart_store::open(&url).await {
            Ok(backend) => Some((backend, base, schema)),
            Err(e) => super::unavailable("PostgreSQL", e),
        }
    }

    conformance!(open());

    #[tokio::test]
    async fn a_record_of_the_previous_build_reads_as_its_outcome() {
        let Some((backend, base, schema)) = open_at().await else {
            return;
        };
        let pool = sqlx::PgPool::connect(&base).await.expect("connect");
        let expires_at = time::OffsetDateTime::now_utc() + time::Duration::days(1);
        // The schema name is the test's own (`cartd_test_` and a UUID): nothing to inject.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {schema}.idempotency (scoped_key, fingerprint, response, expires_at)
             VALUES ('old|key', $1, $2::jsonb, $3)"
        )))
        .bind(super::LEGACY_FINGERPRINT)
        .bind(super::legacy_response_text())
        .bind(expires_at)
        .execute(&pool)
        .await
        .expect("insert");
        super::a_record_of_the_previous_build_reads_as_its_outcome(
            backend.store().as_ref(),
            "old|key",
        )
        .await;
    }

    /// A commit PostgreSQL refuses (an event payload with `\u0000`, which `jsonb` cannot hold;
    /// the API never produces one) fails alone: the carts committed in the same group still
    /// land, with their events, and the refused cart leaves nothing behind. On this
    /// single-threaded runtime all the commits queue before the grouping task runs, so they
    /// form one group and the statement fails for all of them first.
    #[tokio::test]
    async fn a_commit_postgres_refuses_fails_alone_in_its_group() {
        let Some(backend) = open().await else { return };
        let store = backend.store();
        let now = time::OffsetDateTime::now_utc();
        let keys: Vec<_> = (200..210).map(super::key).collect();
        let handles: Vec<_> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let mut commit = super::commit_of(k, None, now);
                if i == 5 {
                    commit.events[0].traceparent = Some("\u{0}".into());
                }
                let store = store.clone();
                tokio::spawn(async move { store.commit(commit).await })
            })
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            let outcome = handle.await.expect("join");
            if i == 5 {
                assert!(
                    matches!(outcome, Err(cart_core::StoreError::Internal(_))),
                    "{outcome:?}"
                );
            } else {
                outcome.expect("an innocent cart lands");
            }
        }
        for (i, k) in keys.iter().enumerate() {
            let stored = store.load_cart(k).await.expect("load");
            let events = super::events_of(store.as_ref(), k).await;
            if i == 5 {
                assert_eq!(stored, None);
                assert!(events.is_empty());
            } else {
                assert_eq!(stored.map(|c| c.version()), Some(1));
                assert_eq!(events.len(), 1);
            }
        }
    }
}

mod redis {
    use cart_store::Backend;

    /// A store under a fresh key prefix of the test server (`CARTD_TEST_REDIS_URL`, default the
    /// local server), so tests run in parallel without seeing each other.
    async fn open() -> Option<Backend> {
        open_at().await.map(|(backend, _, _)| backend)
    }

    /// The store, the server's URL and the store's key prefix.
    async fn open_at() -> Option<(Backend, String, String)> {
        let base = std::env::var("CARTD_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let prefix = format!("cartd-test-{}", uuid::Uuid::new_v4().simple());
        let url = cart_store::StoreUrl::parse(&format!("{base}?prefix={prefix}&timeout=2s"))
            .expect("url");
        match cart_store::open(&url).await {
            Ok(backend) => Some((backend, base, prefix)),
            Err(e) => super::unavailable("Redis", e),
        }
    }

    conformance!(open());

    #[tokio::test]
    async fn a_record_of_the_previous_build_reads_as_its_outcome() {
        let Some((backend, base, prefix)) = open_at().await else {
            return;
        };
        let client = redis::Client::open(base.as_str()).expect("client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let expires = super::a_day_from_now_ms().to_string();
        let fields = [
            ("fp", super::LEGACY_FINGERPRINT.to_owned()),
            ("resp", super::legacy_response_text()),
            ("exp", expires),
        ];
        let () = redis::AsyncCommands::hset_multiple(
            &mut conn,
            format!("{{{prefix}}}:idem:old|key"),
            &fields,
        )
        .await
        .expect("hset");
        super::a_record_of_the_previous_build_reads_as_its_outcome(
            backend.store().as_ref(),
            "old|key",
        )
        .await;
    }
}

mod dynamodb {
    use cart_store::Backend;

    /// A store on a fresh table of the test endpoint (`CARTD_TEST_DYNAMODB_ENDPOINT`, default a
    /// moto server on 127.0.0.1:5005), created for the test.
    async fn open() -> Option<Backend> {
        open_at().await.map(|(backend, _, _)| backend)
    }

    /// The store, the endpoint and the store's table.
    async fn open_at() -> Option<(Backend, String, String)> {
        let endpoint = std::env::var("CARTD_TEST_DYNAMODB_ENDPOINT")
            .unwrap_or_else(|_| "http://127.0.0.1:5005".into());
        let table = format!("cartd-test-{}", uuid::Uuid::new_v4().simple());
        let url = cart_store::StoreUrl::parse(&format!(
            "dynamodb://{table}?region=us-east-1&endpoint={endpoint}&create=true&timeout=5s"
        ))
        .expect("url");
        match cart_store::open(&url).await {
            Ok(backend) => Some((backend, endpoint, table)),
            Err(e) => super::unavailable("DynamoDB (moto)", e),
        }
    }

    conformance!(open());

    #[tokio::test]
    async fn a_record_of_the_previous_build_reads_as_its_outcome() {
        use aws_sdk_dynamodb::types::AttributeValue::{N, S};
        let Some((backend, endpoint, table)) = open_at().await else {
            return;
        };
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .load()
            .await;
        let expires = super::a_day_from_now_ms();
        aws_sdk_dynamodb::Client::new(&config)
            .put_item()
            .table_name(table)
            .item("pk", S("IDEM#old|key".into()))
            .item("sk", S("IDEM".into()))
            .item("fp", S(super::LEGACY_FINGERPRINT.into()))
            .item("resp", S(super::legacy_response_text()))
            .item("expires_at", N(expires.to_string()))
            .item("ttl", N((expires / 1000).to_string()))
            .send()
            .await
            .expect("put");
        super::a_record_of_the_previous_build_reads_as_its_outcome(
            backend.store().as_ref(),
            "old|key",
        )
        .await;
    }
}
