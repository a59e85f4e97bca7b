//! The ports the use cases need from the outside world: a store, a catalog, a clock and ids.
//! Each backend implements [`Store`] and [`Catalog`]; the atomic commit is the heart of it.
//! Caches are decorators of these ports, kept with the backends (cart-store), not here.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::cart::{Cart, CartStamp};
use crate::error::StoreError;
use crate::events::CartEvent;
use crate::ids::{CartKey, GuestId, ProductId};
use crate::outcome::Outcome;
use crate::product::Product;

/// One cart's part of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartWrite {
    /// Which cart.
    pub key: CartKey,
    /// The version the cart must have now; `None`: there must be no cart under the key.
    pub expected_version: Option<u64>,
    /// The new state; `None` deletes the cart. Shared, not copied: the service keeps the same
    /// cart to answer with once the commit is done.
    pub new_state: Option<Arc<Cart>>,
}

/// An idempotency record: the command a key was first used for, and what it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The key scoped to caller and cart (opaque to the store).
    pub scoped_key: String,
    /// The command's canonical form ([`crate::command::Command::fingerprint`]); a retry with
    /// another command under the same key is a misuse.
    pub fingerprint: String,
    /// What the command answered, replayed for retries and rendered by each transport.
    pub outcome: Outcome,
    /// When the record may be forgotten.
    pub expires_at: OffsetDateTime,
}

/// The cart a change starts from, as [`Store::load_for_change`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedCart {
    /// The cart (expired or not), or `None`.
    pub cart: Option<Cart>,
    /// `true` when it came from a cache of carts this process committed, which another
    /// process may have changed since: only a commit's compare-and-set can confirm it.
    pub guessed: bool,
}

/// Everything one change writes, all or nothing: the cart(s) with compare-and-set, the events
/// for the outbox, and the idempotency record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Cart writes, each conditional on its expected version.
    pub writes: Vec<CartWrite>,
    /// Events, in the order they happened.
    pub events: Vec<CartEvent>,
    /// The idempotency record answering this change, if the request carried a key.
    pub idempotency: Option<IdempotencyRecord>,
    /// Record writes (orders, stock levels, …), each conditional on its expected version.
    pub records: Vec<RecordWrite>,
    /// The commit time, used for the outbox and to let expired idempotency records be reused.
    pub at: OffsetDateTime,
}

/// Which collection a stored record belongs to.
///
/// Checkout writes more than carts: the order, the stock it reserves, the promotion uses it
/// counts, the payment events it has seen. Each is a record, a versioned JSON text under a key
/// of its kind, written with compare-and-set in the same atomic [`Commit`] as carts and
/// events, so one checkout (or one payment) is one commit on every store. Stores keep records as
/// opaque text; the domain (`crate::order`) defines the documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// An order, keyed by order id.
    Order,
    /// The entries by which orders are listed and found (by owner, by payment intent, due to
    /// expire, waiting for the worker), keyed by an ordered text; see `crate::order::index`.
    OrderIndex,
    /// A tracked product's units on hand and reserved, keyed by product id.
    Stock,
    /// How many orders used a discount code, keyed by the upper-case code.
    PromotionUsage,
    /// A payment provider's event already applied, keyed by the provider's event id, so a
    /// replayed webhook changes nothing.
    PaymentEvent,
}

impl RecordKind {
    /// Every kind.
    pub const ALL: [RecordKind; 5] = [
        Self::Order,
        Self::OrderIndex,
        Self::Stock,
        Self::PromotionUsage,
        Self::PaymentEvent,
    ];

    /// The kind's name in stored keys and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Order => "order",
            Self::OrderIndex => "order_index",
            Self::Stock => "stock",
            Self::PromotionUsage => "promotion_usage",
            Self::PaymentEvent => "payment_event",
        }
    }
}

/// One record's part of a commit: a compare-and-set on its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordWrite {
    /// Which collection.
    pub kind: RecordKind,
    /// Which record: 1 to 512 printable ASCII characters (`' '..='~'`), so that every store
    /// orders and ranges keys the same way (byte order).
    pub key: String,
    /// The version the record must have now; `None`: there must be no record under the key.
    pub expected_version: Option<u64>,
    /// The new body, stored at version `expected_version + 1` (1 for a new record); `None`
    /// deletes the record.
    pub body: Option<String>,
}

impl RecordWrite {
    /// The version the record has once this write is committed (0 when it is deleted).
    pub fn new_version(&self) -> u64 {
        match self.body {
            Some(_) => self.expected_version.map_or(1, |v| v + 1),
            None => 0,
        }
    }
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its key.
    pub key: String,
    /// Its version: 1 when created, one more with every write.
    pub version: u64,
    /// Its body, as written.
    pub body: String,
}

/// The read side of records (their writes go through [`Store::commit`]) and the numbering of
/// orders.
#[async_trait]
pub trait Records: Send + Sync + 'static {
    /// The record under `key`, if any.
    async fn record(&self, kind: RecordKind, key: &str)
    -> Result<Option<StoredRecord>, StoreError>;

    /// Up to `limit` records of `kind` whose keys start with `prefix` and sort after `after`
    /// (byte order), in key order.
    async fn records(
        &self,
        kind: RecordKind,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError>;

    /// The next number of the named sequence: 1, then one more on every call, never the same
    /// twice, across processes. Outside any commit: a number taken by a checkout that then
    /// fails is not given again (a gap, as with a database sequence).
    async fn next_number(&self, sequence: &str) -> Result<u64, StoreError>;
}

/// Where payments are taken. cartd holds no card data: the provider creates a payment intent
/// for an order, the storefront pays it with the provider's client, and the provider tells the
/// outcome through its signed webhooks.
#[async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    /// A payment intent of `amount` minor units of `currency` for `order_id`.
    /// [`StoreError::Unavailable`] when the provider cannot be reached.
    async fn create_intent(
        &self,
        order_id: Uuid,
        amount: i64,
        currency: &str,
    ) -> Result<crate::order::PaymentIntent, StoreError>;

    /// The order a payment intent of this provider was created for, if the id is one of its.
    fn order_of_intent(&self, intent_id: &str) -> Option<Uuid>;
}

/// An event waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Position in the outbox; increases with every event committed.
    pub seq: u64,
    /// The event.
    pub event: CartEvent,
}

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Carts deleted (expired, and kept for [`crate::KEPT_AFTER_EXPIRY`]).
    pub carts: usize,
    /// Expired idempotency records deleted.
    pub idempotency_records: usize,
}

/// Where carts, outbox and idempotency records live. Every backend keeps the same guarantees;
/// the conformance suite checks them.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The cart under `key`, expired or not.
    async fn load_cart(&self, key: &CartKey) -> Result<Option<Cart>, StoreError>;

    /// The cart a change of `key` starts from. The stored cart, unless the store is wrapped in
    /// a cache that remembers the carts this process committed (see [`LoadedCart::guessed`]):
    /// the use cases trust a guess only for a change they then commit.
    async fn load_for_change(&self, key: &CartKey) -> Result<LoadedCart, StoreError> {
        Ok(LoadedCart {
            cart: self.load_cart(key).await?,
            guessed: false,
        })
    }

    /// The stamp of the cart under `key`, expired or not, without reading its contents.
    async fn cart_stamp(&self, key: &CartKey) -> Result<Option<CartStamp>, StoreError>;

    /// Writes a [`Commit`] atomically: every cart write's version condition holds and all of it
    /// is written, or nothing is. A failed condition is [`StoreError::VersionMismatch`]; an
    /// unexpired record under the idempotency key is [`StoreError::DuplicateIdempotencyKey`].
    async fn commit(&self, commit: Commit) -> Result<(), StoreError>;

    /// The unexpired idempotency record under `scoped_key`.
    async fn idempotency_record(
        &self,
        scoped_key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Deletes up to `batch` carts that expired (or ended) [`crate::KEPT_AFTER_EXPIRY`] or
    /// more before `now`, and up to `batch` idempotency records expired at `now`.
    async fn sweep_expired(
        &self,
        now: OffsetDateTime,
        batch: usize,
    ) -> Result<SweepReport, StoreError>;

    /// Up to `limit` unpublished events, oldest first.
    async fn pending_events(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Checks that the store answers (for `/ready`).
    async fn check(&self) -> Result<(), StoreError>;
}

/// How far the outbox is behind its relay, for metrics and `/ready`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Events not yet published.
    pub depth: u64,
    /// When the oldest unpublished event was committed (`None`: nothing is waiting).
    pub oldest_pending_at: Option<OffsetDateTime>,
}

/// The relay's side of the outbox: who may publish, what is published, what may be forgotten.
///
/// One relay at a time publishes: it holds the store's relay lease, renews it before every
/// batch, and every mark is conditional on still holding it. Any number of relays may run
/// against one store; the others wait for the lease to fall free. Reading in `seq` order from
/// one publisher keeps each cart's events in order. The store's
/// [`Store::pending_events`] is the read side.
#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Takes the relay lease for `holder` until `now + ttl`, or renews it if `holder` holds it.
    /// `Ok(false)`: another holder's lease has not expired.
    async fn acquire_relay_lease(
        &self,
        holder: &str,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<bool, StoreError>;

    /// Gives the lease up if `holder` holds it, so a standby relay takes over at once.
    async fn release_relay_lease(&self, holder: &str) -> Result<(), StoreError>;

    /// Marks the events numbered `seqs` published at `now`, if `holder` still holds an
    /// unexpired lease; otherwise nothing is marked and the answer is
    /// [`StoreError::LeaseLost`]. `seqs` are always the oldest pending events, in order.
    async fn mark_published(
        &self,
        holder: &str,
        seqs: &[u64],
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Deletes up to `batch` published events published (or, where the backend keeps no
    /// publish time, committed) before `before`. Never deletes an unpublished event.
    async fn prune_published(
        &self,
        before: OffsetDateTime,
        batch: usize,
    ) -> Result<usize, StoreError>;

    /// How many events wait and since when.
    async fn outbox_stats(&self, now: OffsetDateTime) -> Result<OutboxStats, StoreError>;
}

/// The product catalog: where names and prices come from.
#[async_trait]
pub trait Catalog: Send + Sync + 'static {
    /// One product.
    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError>;

    /// Up to `limit` products ordered by id, after `after`.
    async fn products(
        &self,
        after: Option<&ProductId>,
        limit: usize,
    ) -> Result<Vec<Product>, StoreError>;

    /// Inserts or replaces all of `products` in one transaction. Returns, per product, whether
    /// it was new.
    async fn upsert_products(&self, products: Vec<Product>) -> Result<Vec<bool>, StoreError>;

    /// How many products there are.
    async fn product_count(&self) -> Result<u64, StoreError>;
}

/// Which kind of pricing setting a [`PricingSettings`] entry is; each kind has its own keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PricingKind {
    /// A region's tax table, keyed by region (`FR`, `US-CA`).
    TaxRates,
    /// A region's shipping rate, keyed by region.
    ShippingRate,
    /// A discount code's promotion, keyed by the upper-case code.
    Promotion,
}

impl PricingKind {
    /// Every kind.
    pub const ALL: [PricingKind; 3] = [Self::TaxRates, Self::ShippingRate, Self::Promotion];

    /// The kind's name in stored keys and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TaxRates => "tax_rates",
            Self::ShippingRate => "shipping_rate",
            Self::Promotion => "promotion",
        }
    }
}

/// Pricing settings the admin API manages: tax tables, shipping rates and promotions, each a
/// JSON document under a key of its kind. The store keeps them as opaque text; `cart-pricing`
/// defines and checks the documents, so stores need not know pricing's types.
#[async_trait]
pub trait PricingSettings: Send + Sync + 'static {
    /// Writes `document` under `key`, replacing what was there. Returns whether it was new.
    async fn put_setting(
        &self,
        kind: PricingKind,
        key: &str,
        document: &str,
    ) -> Result<bool, StoreError>;

    /// The document under `key`, if any.
    async fn setting(&self, kind: PricingKind, key: &str) -> Result<Option<String>, StoreError>;

    /// Every `(key, document)` of the kind, ordered by key.
    async fn settings(&self, kind: PricingKind) -> Result<Vec<(String, String)>, StoreError>;

    /// Deletes `key`. Returns whether it existed.
    async fn delete_setting(&self, kind: PricingKind, key: &str) -> Result<bool, StoreError>;
}

/// The time, injected so expiry is testable without sleeping.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> OffsetDateTime;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that moves only when told to, for tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    /// Starts at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self(Mutex::new(start))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: time::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

/// Where new ids come from, injected so the domain stays deterministic under test.
pub trait IdGenerator: Send + Sync + 'static {
    /// A new cart id.
    fn cart_id(&self) -> Uuid;
    /// A new line id.
    fn item_id(&self) -> Uuid;
    /// A new event id; should sort by time.
    fn event_id(&self) -> Uuid;
    /// A new guest id.
    fn guest_id(&self) -> GuestId;
}

/// Random ids: UUIDv4 for carts and lines, UUIDv7 for events and guest ids (time-ordered).
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn cart_id(&self) -> Uuid {
        Uuid::new_v4()
    }
    fn item_id(&self) -> Uuid {
        Uuid::new_v4()
    }
    fn event_id(&self) -> Uuid {
        Uuid::now_v7()
    }
    fn guest_id(&self) -> GuestId {
        // A UUIDv7 has a ULID's layout: 48 bits of milliseconds, then random bits.
        GuestId::from_ulid_bits(Uuid::now_v7().as_u128())
    }
}
