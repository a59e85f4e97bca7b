//! Two replicas over one store: each remembers the carts it wrote and the catalog rows it read,
//! and neither memory may ever make an answer wrong when the other replica changed things.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use cart_core::{
    AddItem, Cart, CartError, CartKey, CartPolicy, CartService, CartStamp, Commit,
    IdempotencyRecord, OutboxEntry, Precondition, ProductId, ProductInput, RandomIds,
    RequestedQuantity, Store, StoreError, SweepReport, WriteOptions,
};
use cart_store::caching::{CacheConfig, CachedCatalog, RememberingStore};
use time::OffsetDateTime;

use crate::helpers::{TestApp, Writes, guest, spawn_app};

/// Another replica over the app's store: a service with caches of its own.
pub(crate) fn replica(app: &TestApp) -> CartService {
    let store: Arc<dyn Store> = Arc::new(RememberingStore::new(
        app.store.clone(),
        CacheConfig::default().recent_carts_memory,
    ));
    let catalog = Arc::new(CachedCatalog::new(
        app.catalog.clone(),
        app.clock.clone(),
        CacheConfig::default().catalog_ttl,
    ));
    CartService::new(
        store,
        catalog,
        app.pricing.clone(),
        app.clock.clone(),
        Arc::new(RandomIds),
        CartPolicy::default(),
    )
}

pub(crate) fn add(product: &str) -> AddItem {
    AddItem {
        product_id: ProductId::parse(product).expect("product"),
        variant_id: None,
        quantity: RequestedQuantity::new(1).expect("1"),
        asserted_unit_price: None,
    }
}

fn quantity(cart: &cart_core::Cart, product: &str) -> Option<u32> {
    cart.items()
        .iter()
        .find(|l| l.product_id().as_str() == product)
        .map(|l| l.quantity().get())
}

fn if_match(version: u64) -> WriteOptions {
    WriteOptions {
        precondition: Some(Precondition::IfMatch(version)),
        ..WriteOptions::default()
    }
}

#[tokio::test]
async fn a_replica_whose_remembered_cart_is_stale_still_answers_right() {
    let app = spawn_app().await;
    let (a, b) = (&app.service, replica(&app));
    let key = CartKey::parse(&guest()).expect("key");
    let first = a
        .add(&key, add("book"), WriteOptions::default())
        .await
        .expect("a");
    assert_eq!(first.version(), 1);
    b.add(&key, add("pen"), WriteOptions::default())
        .await
        .expect("b");
    // A remembers version 1; the store is at 2. Its add still lands on top of B's.
    let third = a
        .add(&key, add("book"), WriteOptions::default())
        .await
        .expect("a");
    assert_eq!(
        (
            third.version(),
            quantity(&third, "book"),
            quantity(&third, "pen")
        ),
        (3, Some(2), Some(1))
    );
    let fourth = b
        .add(&key, add("lamp"), WriteOptions::default())
        .await
        .expect("b");
    let lamp = fourth
        .items()
        .iter()
        .find(|l| l.product_id().as_str() == "lamp")
        .expect("lamp")
        .item_id();
    // A never saw the lamp line: it must find it in the store, not answer ITEM_NOT_FOUND.
    let fifth = a
        .set(
            &key,
            lamp,
            RequestedQuantity::new(3).expect("3"),
            WriteOptions::default(),
        )
        .await
        .expect("a sets the line B added");
    assert_eq!((fifth.version(), quantity(&fifth, "lamp")), (5, Some(3)));
    // B remembers version 4: If-Match on the real version 5 must pass ...
    let book = fifth.items()[0].item_id();
    let sixth = b
        .set(
            &key,
            book,
            RequestedQuantity::new(5).expect("5"),
            if_match(5),
        )
        .await
        .expect("b's If-Match on the stored version");
    assert_eq!(sixth.version(), 6);
    // ... and A's If-Match on the version it remembers (5) must fail with the stored one.
    let pen = sixth.items()[1].item_id();
    let stale = a.remove(&key, pen, if_match(5)).await;
    assert_eq!(
        stale,
        Err(CartError::PreconditionFailed {
            expected: 5,
            current: Some(6)
        })
    );
    // A's own clear of B's cart is conditional on what is stored, not remembered.
    let cleared = a
        .clear_cart(&key, if_match(6))
        .await
        .expect("clear")
        .expect("cart");
    assert_eq!((cleared.version(), cleared.items().len()), (7, 0));
    // And a read through either replica shows the stored cart.
    assert_eq!(b.get(&key).await.expect("get"), cleared);
}

#[tokio::test]
async fn catalog_changes_from_another_replica_are_seen_within_the_cache_ttl() {
    let app = spawn_app().await;
    let (a, b) = (&app.service, replica(&app));
    let key = CartKey::parse(&guest()).expect("key");
    let before = a
        .add(&key, add("pen"), WriteOptions::default())
        .await
        .expect("add");
    assert_eq!(before.items()[0].unit_price(), 250);
    let repriced = ProductInput {
        id: "pen".into(),
        name: "Product pen".into(),
        unit_price: 300,
        currency: "USD".into(),
        active: true,
        stock: None,
        tax_class: None,
    }
    .parse()
    .expect("product");
    b.put_product(repriced).await.expect("reprice on B");
    // Within the TTL, A still prices from its remembered row ...
    let soon = a
        .add(&key, add("pen"), WriteOptions::default())
        .await
        .expect("add");
    assert_eq!(soon.items()[0].unit_price(), 250);
    // ... after it, from the catalog.
    app.clock
        .advance(CacheConfig::default().catalog_ttl + time::Duration::milliseconds(1));
    let later = a
        .add(&key, add("pen"), WriteOptions::default())
        .await
        .expect("add");
    assert_eq!(later.items()[0].unit_price(), 300);
    // B changed the row itself, so B sees it at once.
    let other = CartKey::parse(&guest()).expect("key");
    let on_b = b
        .add(&other, add("pen"), WriteOptions::default())
        .await
        .expect("add");
    assert_eq!(on_b.items()[0].unit_price(), 300);
}

/// A store that counts the carts read from it, to tell which writes started from the cart the
/// service remembered. Everything else passes through.
struct CountingLoads {
    inner: Arc<dyn Store>,
    loads: AtomicUsize,
}

#[async_trait]
impl Store for CountingLoads {
    async fn load_cart(&self, key: &CartKey) -> Result<Option<Cart>, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load_cart(key).await
    }
    async fn cart_stamp(&self, key: &CartKey) -> Result<Option<CartStamp>, StoreError> {
        self.inner.cart_stamp(key).await
    }
    async fn commit(&self, commit: Commit) -> Result<(), StoreError> {
        self.inner.commit(commit).await
    }
    async fn idempotency_record(
        &self,
        scoped_key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.inner.idempotency_record(scoped_key, now).await
    }
    async fn sweep_expired(
        &self,
        now: OffsetDateTime,
        batch: usize,
    ) -> Result<SweepReport, StoreError> {
        self.inner.sweep_expired(now, batch).await
    }
    async fn pending_events(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.pending_events(limit).await
    }
    async fn check(&self) -> Result<(), StoreError> {
        self.inner.check().await
    }
}

#[tokio::test]
async fn writes_start_from_the_cart_this_process_committed_unless_its_memory_is_off() {
    let remembering = CacheConfig::default().recent_carts_memory;
    assert!(remembering > 0);
    // The first add finds no cart anywhere; with a memory, the next two start from it.
    for (memory, loads) in [(remembering, 1), (0, 3)] {
        let app = spawn_app().await;
        let counting = Arc::new(CountingLoads {
            inner: app.store.clone(),
            loads: AtomicUsize::new(0),
        });
        let store: Arc<dyn Store> = match memory {
            0 => counting.clone(),
            bytes => Arc::new(RememberingStore::new(counting.clone(), bytes)),
        };
        let service = CartService::new(
            store,
            app.catalog.clone(),
            app.pricing.clone(),
            app.clock.clone(),
            Arc::new(RandomIds),
            CartPolicy::default(),
        );
        let key = CartKey::parse(&guest()).expect("key");
        for product in ["book", "pen", "book"] {
            service
                .add(&key, add(product), WriteOptions::default())
                .await
                .expect("add");
        }
        let cart = service.get(&key).await.expect("get");
        assert_eq!(
            (
                cart.version(),
                quantity(&cart, "book"),
                quantity(&cart, "pen")
            ),
            (3, Some(2), Some(1))
        );
        // `get` always reads the store: one load more than the writes made.
        assert_eq!(
            counting.loads.load(Ordering::SeqCst),
            loads + 1,
            "memory of {memory} bytes"
        );
    }
}
