//! What the relay tests share: a cart service over a fresh store that records what it
//! committed, a mixed write load, and the skip rule for servers that are not running.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use cart_core::{
    AddItem, Cart, CartError, CartEvent, CartKey, CartPolicy, CartService, CartStamp, Catalog,
    Command, Commit, Currency, GuestId, IdempotencyRecord, Outbox, OutboxEntry, Price,
    PricingSettings, Product, ProductId, RandomIds, RemoveItem, RequestedQuantity, SetQuantity,
    Store, StoreError, SweepReport, SystemClock, WriteOptions,
};
use cart_events::{Relay, RelayConfig, Sink};
use cart_store::StoreUrl;

/// Whether a missing server fails the test (CI) or skips it with a printed reason.
pub fn unavailable(what: &str) -> bool {
    if std::env::var("CARTD_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{what} is required (CARTD_REQUIRE_SERVICES=1) but not reachable");
    }
    eprintln!("skipped: {what} is not reachable");
    true
}

/// The NATS server the tests use.
pub fn nats_url() -> String {
    std::env::var("CARTD_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// The Redis server the tests use.
pub fn redis_url() -> String {
    std::env::var("CARTD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// True if something accepts TCP connections at the URL's host and port.
pub async fn reachable(url: &str) -> bool {
    let address = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', '?'])
        .next()
        .unwrap_or_default()
        .to_owned();
    matches!(
        tokio::time::timeout(
            std::time::Duration::from_secs(2),
            tokio::net::TcpStream::connect(address)
        )
        .await,
        Ok(Ok(_))
    )
}

/// A store that remembers the events of every commit it made, in commit order: the ground
/// truth the published streams are compared with.
pub struct RecordingStore {
    inner: Arc<dyn Store>,
    committed: Mutex<Vec<CartEvent>>,
}

#[async_trait]
impl Store for RecordingStore {
    async fn load_cart(&self, key: &CartKey) -> Result<Option<Cart>, StoreError> {
        self.inner.load_cart(key).await
    }
    async fn cart_stamp(&self, key: &CartKey) -> Result<Option<CartStamp>, StoreError> {
        self.inner.cart_stamp(key).await
    }
    async fn commit(&self, commit: Commit) -> Result<(), StoreError> {
        let events = commit.events.clone();
        // A cart's commits are serialised by the service's lock on it, so recording after
        // each commit keeps every cart's events in commit order.
        let outcome = self.inner.commit(commit).await;
        if outcome.is_ok() {
            self.committed.lock().expect("recorder").extend(events);
        }
        outcome
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

/// A cart service on a fresh SQLite store with a small catalog.
pub struct World {
    /// The use cases.
    pub service: Arc<CartService>,
    /// The store as the relay reads it.
    pub store: Arc<dyn Store>,
    /// The outbox side of the same store.
    pub outbox: Arc<dyn Outbox>,
    /// The catalog the service prices from.
    pub catalog: Arc<dyn Catalog>,
    /// Where promotions are defined.
    pub pricing: Arc<dyn PricingSettings>,
    recorder: Arc<RecordingStore>,
    _dir: tempfile::TempDir,
}

/// Payment intents named after their orders, as cart-api's webhook provider names them.
pub struct TestPayments;

#[async_trait]
impl cart_core::PaymentProvider for TestPayments {
    async fn create_intent(
        &self,
        order_id: Uuid,
        amount: i64,
        currency: &str,
    ) -> Result<cart_core::order::PaymentIntent, StoreError> {
        Ok(cart_core::order::PaymentIntent {
            intent_id: format!("pi_{}", order_id.simple()),
            amount,
            currency: currency.to_ascii_lowercase(),
            client_secret: format!("pi_{}_secret", order_id.simple()),
        })
    }

    fn order_of_intent(&self, intent_id: &str) -> Option<Uuid> {
        Uuid::try_parse(intent_id.strip_prefix("pi_")?).ok()
    }
}

/// Quotes a cart at its lines' total, with a token naming its version: what checkout needs
/// from pricing, without pricing settings.
pub struct TestQuoter;

#[async_trait]
impl cart_core::Quoter for TestQuoter {
    async fn quote(&self, cart: &Cart) -> Result<cart_core::Quote, CartError> {
        let total = cart.totals().total_price;
        Ok(cart_core::Quote {
            token: format!("q-{}-{}", cart.key(), cart.version()),
            total,
            totals: serde_json::json!({"total": total}),
            applied_codes: Vec::new(),
        })
    }
}

/// Products `book-0` … `book-19`.
pub const PRODUCTS: usize = 20;

impl World {
    /// A fresh world.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = StoreUrl::parse(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .expect("store url");
        let backend = cart_store::open(&url).await.expect("open store");
        let products = (0..PRODUCTS)
            .map(|n| Product {
                id: ProductId::parse(&format!("book-{n}")).expect("id"),
                name: format!("Book {n}").into(),
                price: Price::new(1000 + n as i64, Currency::parse("USD").expect("usd"))
                    .expect("price"),
                active: true,
                stock: None,
                tax_class: Default::default(),
            })
            .collect();
        backend
            .catalog()
            .upsert_products(products)
            .await
            .expect("catalog");
        let recorder = Arc::new(RecordingStore {
            inner: backend.store(),
            committed: Mutex::default(),
        });
        let service = Arc::new(
            CartService::new(
                recorder.clone(),
                backend.catalog(),
                backend.pricing(),
                Arc::new(SystemClock),
                Arc::new(RandomIds),
                CartPolicy::default(),
            )
            .with_orders(cart_core::OrderPorts {
                records: backend.records(),
                payments: Arc::new(TestPayments),
                // Orders are due to expire as soon as they are placed: the schema test expires
                // one without waiting (the others are paid, failed or cancelled first).
                policy: cart_core::OrderPolicy {
                    checkout_ttl: time::Duration::ZERO,
                    ..cart_core::OrderPolicy::default()
                },
            }),
        );
        Self {
            service,
            store: backend.store(),
            outbox: backend.outbox(),
            catalog: backend.catalog(),
            pricing: backend.pricing(),
            recorder,
            _dir: dir,
        }
    }

    /// Sets a catalog product's unit price (in USD, as every product here is priced).
    pub async fn set_price(&self, id: &str, amount: i64) {
        let product = Product {
            id: ProductId::parse(id).expect("id"),
            name: id.into(),
            price: Price::new(amount, Currency::parse("USD").expect("usd")).expect("price"),
            active: true,
            stock: None,
            tax_class: Default::default(),
        };
        self.catalog
            .upsert_products(vec![product])
            .await
            .expect("catalog");
    }

    /// Every event committed so far, in commit order.
    pub fn committed(&self) -> Vec<CartEvent> {
        self.recorder.committed.lock().expect("recorder").clone()
    }

    /// A relay over this world's outbox.
    pub fn relay(&self, sinks: Vec<Arc<dyn Sink>>) -> Relay {
        Relay::new(
            self.store.clone(),
            self.outbox.clone(),
            sinks,
            Arc::new(SystemClock),
            RelayConfig {
                idle_poll: std::time::Duration::from_millis(20),
                ..RelayConfig::default()
            },
        )
    }
}

/// `count` guest cart keys.
pub fn guest_carts(count: usize) -> Vec<CartKey> {
    (0..count)
        .map(|_| CartKey::Guest(GuestId::from_ulid_bits(Uuid::now_v7().as_u128())))
        .collect()
}

/// `total` writes spread over `carts` by `clients` concurrent tasks: adds, quantity changes,
/// removals and clears at random. Refusals (a line removed meanwhile, a limit) are part of the
/// mix; the committed events are what counts. Returns how many writes committed.
pub async fn mixed_writes(
    service: &Arc<CartService>,
    carts: &[CartKey],
    total: usize,
    clients: usize,
) -> usize {
    let mut tasks = Vec::new();
    for client in 0..clients {
        let service = service.clone();
        let carts = carts.to_vec();
        let share = total / clients + usize::from(client < total % clients);
        tasks.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(client as u64);
            let mut committed = 0;
            for _ in 0..share {
                let key = &carts[rng.usize(..carts.len())];
                if one_write(&service, key, &mut rng).await.is_ok() {
                    committed += 1;
                }
            }
            committed
        }));
    }
    let mut committed = 0;
    for task in tasks {
        committed += task.await.expect("writer task");
    }
    committed
}

async fn one_write(
    service: &CartService,
    key: &CartKey,
    rng: &mut fastrand::Rng,
) -> Result<(), CartError> {
    let roll = rng.u8(..10);
    let line = match service.get(key).await {
        Ok(cart) if !cart.items().is_empty() && roll >= 6 => {
            Some(cart.items()[rng.usize(..cart.items().len())].item_id())
        }
        _ => None,
    };
    let command = match (roll, line) {
        (6 | 7, Some(item_id)) => Command::SetQuantity(SetQuantity {
            item_id,
            quantity: RequestedQuantity::new(rng.u64(1..=5)).expect("quantity"),
        }),
        (8, Some(item_id)) => Command::RemoveItem(RemoveItem { item_id }),
        (9, Some(_)) => Command::Clear,
        _ => Command::AddItem(AddItem {
            product_id: ProductId::parse(&format!("book-{}", rng.usize(..PRODUCTS))).expect("id"),
            variant_id: None,
            quantity: RequestedQuantity::new(rng.u64(1..=3)).expect("quantity"),
            asserted_unit_price: None,
        }),
    };
    service
        .execute(key, command, WriteOptions::default())
        .await
        .map(drop)
}

/// Event ids per cart key, in the order given.
pub fn ids_per_cart<'a>(
    events: impl IntoIterator<Item = (&'a str, Uuid)>,
) -> HashMap<String, Vec<Uuid>> {
    let mut per_cart: HashMap<String, Vec<Uuid>> = HashMap::new();
    for (key, id) in events {
        per_cart.entry(key.to_owned()).or_default().push(id);
    }
    per_cart
}

/// Asserts that `received` (cart key, event id, in arrival order) holds every committed event
/// exactly once and each cart's events in commit order.
pub fn assert_exactly_once_in_cart_order(committed: &[CartEvent], received: &[(String, Uuid)]) {
    let mut seen = std::collections::HashSet::new();
    for (_, id) in received {
        assert!(seen.insert(*id), "event {id} arrived more than once");
    }
    assert_eq!(
        received.len(),
        committed.len(),
        "every committed event arrives, and nothing else"
    );
    let expected = ids_per_cart(
        committed
            .iter()
            .map(|event| (event.cart_key.as_str(), event.id)),
    );
    let actual = ids_per_cart(received.iter().map(|(key, id)| (key.as_str(), *id)));
    assert_eq!(actual.len(), expected.len(), "every cart's events arrive");
    for (key, ids) in &expected {
        assert_eq!(
            actual.get(key),
            Some(ids),
            "cart {key}: events out of order or missing"
        );
    }
}
