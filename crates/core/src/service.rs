//! `CartService`: the use cases. Each change is load → decide (pure rules in [`crate::cart`]) →
//! one atomic commit of cart, events and idempotency record, retried on a lost compare-and-set
//! unless the caller made the write conditional.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::cart::merge::{MergeReport, MergeStrategy};
use crate::cart::{AddItem, Cart};
use crate::catalog_cache::CachedCatalog;
use crate::error::CartError;
use crate::events::{CartEvent, EventType, LineChange};
use crate::ids::{CartKey, GuestId, Owner, ProductId, UserId};
use crate::ports::{
    CartStamp, CartWrite, Catalog, Clock, Commit, IdGenerator, IdempotencyRecord, Store,
    StoreError, StoredResponse, SweepReport,
};
use crate::product::Product;
use crate::quantity::{Limits, RequestedQuantity};
use crate::recent::RecentCarts;

/// How many times an unconditional write retries a lost compare-and-set. Writers of one cart in
/// one process are already serialised (see [`CartService`]), so retries only happen when another
/// replica wrote the same cart at the same moment.
const MAX_ATTEMPTS: usize = 16;

/// Lock stripes serialising writers of the same cart within one process.
const STRIPES: usize = 1024;

/// The rules an operator configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CartPolicy {
    /// Line quantity and line count limits.
    pub limits: Limits,
    /// How long a guest cart lives after its last change.
    pub guest_ttl: Duration,
    /// How long a user cart lives after its last change.
    pub user_ttl: Duration,
    /// How long an idempotency record is kept.
    pub idempotency_ttl: Duration,
    /// How long a catalog lookup is reused (zero: every add reads the catalog).
    pub catalog_cache_ttl: Duration,
    /// Bytes of memory for the carts this process committed last, so a write can start from
    /// them instead of reading the store (zero: every write reads the store). See
    /// [`crate::recent`].
    pub recent_carts_memory: usize,
}

impl Default for CartPolicy {
    /// API.md defaults: 99 a line, 100 lines, guests 7 days, users 90 days, records 24 h;
    /// catalog lookups reused for 2 s; 40 MiB of recently committed carts.
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            guest_ttl: Duration::days(7),
            user_ttl: Duration::days(90),
            idempotency_ttl: Duration::hours(24),
            catalog_cache_ttl: Duration::seconds(2),
            recent_carts_memory: crate::recent::DEFAULT_BUDGET,
        }
    }
}

impl CartPolicy {
    fn ttl(&self, owner: Owner) -> Duration {
        match owner {
            Owner::User => self.user_ttl,
            Owner::Guest => self.guest_ttl,
        }
    }
}

/// A condition a write must meet, named by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// `If-Match: "<v>"`: mismatch is `PRECONDITION_FAILED`.
    IfMatch(u64),
    /// `If-Match: *`: the cart must exist.
    IfMatchAny,
    /// `version` in a request body: mismatch is `CONFLICT`.
    BodyVersion(u64),
}

/// Renders the response to store under an idempotency key from the cart a change produced
/// (`None` when the change left no cart to show) and, for a merge, its report.
pub type ResponseRenderer =
    Box<dyn Fn(Option<&Cart>, Option<&MergeReport>) -> StoredResponse + Send + Sync>;

/// An idempotency key to record in the same commit as the change.
pub struct IdempotencyIntent {
    /// The key scoped to caller and cart.
    pub scoped_key: String,
    /// Digest of method, path and body.
    pub fingerprint: String,
    /// Builds the response to store.
    pub render: ResponseRenderer,
}

impl std::fmt::Debug for IdempotencyIntent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyIntent")
            .field("scoped_key", &self.scoped_key)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Options every write takes.
#[derive(Debug, Default)]
pub struct WriteOptions {
    /// Makes the write conditional.
    pub precondition: Option<Precondition>,
    /// Records the response under an idempotency key in the same commit.
    pub idempotency: Option<IdempotencyIntent>,
    /// The W3C `traceparent` of the request, copied onto the change's events.
    pub traceparent: Option<String>,
}

/// What a decision step concluded.
enum Decision {
    /// Nothing to write; answer with this cart (or none).
    Unchanged(Option<Cart>),
    /// Write `cart` (changed, not yet touched) where the stored version is `expected_version`.
    Changed {
        cart: Cart,
        expected_version: Option<u64>,
        events: Vec<(EventType, Option<LineChange>)>,
    },
}

/// A merge of a guest cart into a user cart, as asked at sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRequest {
    /// The guest whose cart is merged (and deleted).
    pub guest: GuestId,
    /// How lines combine.
    pub strategy: MergeStrategy,
    /// Compute the result and report without changing anything.
    pub dry_run: bool,
}

/// The user cart after a merge (or as it would be, for a dry run) and the merge report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The user cart.
    pub cart: Cart,
    /// What happened to every line.
    pub report: MergeReport,
}

/// The cart use cases, over injected ports.
pub struct CartService {
    store: Arc<dyn Store>,
    catalog: Arc<dyn Catalog>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    policy: CartPolicy,
    /// Writers of one cart wait for each other here instead of failing each other's
    /// compare-and-set; the compare-and-set still guards against other processes. Each stripe
    /// also remembers the carts it committed last (see [`crate::recent`]).
    stripes: Box<[Mutex<RecentCarts>]>,
}

/// The lock of a cart's stripe, with the stripe's recently committed carts.
type StripeGuard<'a> = tokio::sync::MutexGuard<'a, RecentCarts>;

impl CartService {
    /// Wires the use cases to their ports.
    pub fn new(
        store: Arc<dyn Store>,
        catalog: Arc<dyn Catalog>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        policy: CartPolicy,
    ) -> Self {
        let catalog: Arc<dyn Catalog> = if policy.catalog_cache_ttl > Duration::ZERO {
            Arc::new(CachedCatalog::new(
                catalog,
                clock.clone(),
                policy.catalog_cache_ttl,
            ))
        } else {
            catalog
        };
        let stripe_budget = policy.recent_carts_memory / STRIPES;
        Self {
            store,
            catalog,
            clock,
            ids,
            policy,
            stripes: (0..STRIPES)
                .map(|_| Mutex::new(RecentCarts::new(stripe_budget)))
                .collect(),
        }
    }

    /// A fresh guest id.
    pub fn new_guest_id(&self) -> GuestId {
        self.ids.guest_id()
    }

    /// The cart under `key`: `CART_NOT_FOUND` if none, `CART_EXPIRED` if expired.
    pub async fn get(&self, key: &CartKey) -> Result<Cart, CartError> {
        let cart = self
            .store
            .load_cart(key)
            .await?
            .ok_or(CartError::CartNotFound)?;
        if cart.is_expired(self.clock.now()) {
            return Err(CartError::CartExpired);
        }
        Ok(cart)
    }

    /// The stamp of the live cart under `key`, with the same errors as [`Self::get`] but
    /// without loading the cart: lets a cache of rendered carts validate itself cheaply.
    pub async fn stamp(&self, key: &CartKey) -> Result<CartStamp, CartError> {
        let stamp = self
            .store
            .cart_stamp(key)
            .await?
            .ok_or(CartError::CartNotFound)?;
        if stamp.expires_at <= self.clock.now() {
            return Err(CartError::CartExpired);
        }
        Ok(stamp)
    }

    /// Adds units of a catalog product, creating the cart (or a new one after expiry) if needed.
    pub async fn add_item(
        &self,
        key: &CartKey,
        command: AddItem,
        options: WriteOptions,
    ) -> Result<Cart, CartError> {
        // Refused before the catalog is asked: no line may ever hold this many.
        let max_allowed = self.policy.limits.max_quantity();
        if command.quantity.get() > u64::from(max_allowed) {
            return Err(CartError::QuantityLimitExceeded {
                requested_quantity: command.quantity.get(),
                max_allowed,
            });
        }
        let product = self
            .catalog
            .product(&command.product_id)
            .await?
            .ok_or_else(|| CartError::ProductNotFound(command.product_id.clone()))?;
        let mut stripe = self.lock(key).await;
        let changed = self
            .write(key, &options, &mut stripe, |current, now| {
                let mut events = Vec::new();
                let (mut cart, expected_version) = match current {
                    Some(cart) if !cart.is_expired(now) => {
                        let version = cart.version();
                        (cart, Some(version))
                    }
                    stale => {
                        // No cart, or an expired one: start a new cart whose versions go on
                        // from the old one's, replacing it in the same compare-and-set.
                        let previous = stale.as_ref().map(Cart::version);
                        events.push((EventType::CartCreated, None));
                        let currency = product.price.currency();
                        let fresh = Cart::new(
                            self.ids.cart_id(),
                            key.clone(),
                            currency,
                            now,
                            previous.unwrap_or(0),
                        );
                        (fresh, previous)
                    }
                };
                let line = cart.add(
                    &command,
                    &product,
                    &self.policy.limits,
                    self.ids.item_id(),
                    now,
                )?;
                events.push((EventType::ItemAdded, Some(line)));
                Ok(Decision::Changed {
                    cart,
                    expected_version,
                    events,
                })
            })
            .await?;
        changed.ok_or(CartError::CartNotFound)
    }

    /// Sets a line's quantity (1..=max; use [`Self::remove_item`] to remove).
    pub async fn set_quantity(
        &self,
        key: &CartKey,
        item_id: Uuid,
        quantity: RequestedQuantity,
        options: WriteOptions,
    ) -> Result<Cart, CartError> {
        let mut stripe = self.lock(key).await;
        // Raising a quantity needs the catalog entry (availability, stock); fetch it for the
        // line's product. A line's product never changes, so a remembered cart holding the line
        // names it as well as the stored one; otherwise the stored cart is read here and the
        // write starts from it.
        let (product_id, loaded) = match stripe.peek(key).filter(|c| c.line(item_id).is_ok()) {
            Some(cart) => (
                cart.line(item_id).ok().map(|l| l.product_id().clone()),
                None,
            ),
            None => {
                let stored = self.store.load_cart(key).await?;
                let id = stored
                    .as_ref()
                    .and_then(|cart| cart.line(item_id).ok())
                    .map(|line| line.product_id().clone());
                (id, Some(stored))
            }
        };
        let product = match product_id {
            Some(id) => self.catalog.product(&id).await?,
            None => None,
        };
        let changed = self
            .write_from(key, &options, &mut stripe, loaded, |current, now| {
                let mut cart = live_cart(current, now)?;
                let before = cart.line(item_id)?.quantity().get();
                if u64::from(before) == quantity.get() {
                    return Ok(Decision::Unchanged(Some(cart)));
                }
                let version = cart.version();
                let line = cart.set_quantity(
                    item_id,
                    quantity,
                    product.as_ref(),
                    &self.policy.limits,
                    now,
                )?;
                Ok(Decision::Changed {
                    cart,
                    expected_version: Some(version),
                    events: vec![(EventType::ItemUpdated, Some(line))],
                })
            })
            .await?;
        changed.ok_or(CartError::CartNotFound)
    }

    /// Removes a line.
    pub async fn remove_item(
        &self,
        key: &CartKey,
        item_id: Uuid,
        options: WriteOptions,
    ) -> Result<Cart, CartError> {
        let mut stripe = self.lock(key).await;
        let changed = self
            .write(key, &options, &mut stripe, |current, now| {
                let mut cart = live_cart(current, now)?;
                let version = cart.version();
                let line = cart.remove(item_id)?;
                Ok(Decision::Changed {
                    cart,
                    expected_version: Some(version),
                    events: vec![(EventType::ItemRemoved, Some(line))],
                })
            })
            .await?;
        changed.ok_or(CartError::CartNotFound)
    }

    /// Empties the cart (it keeps its id; its version goes up). No cart, or an expired one,
    /// is not an error: there is nothing to empty, and `None` is returned.
    pub async fn clear(
        &self,
        key: &CartKey,
        options: WriteOptions,
    ) -> Result<Option<Cart>, CartError> {
        let mut stripe = self.lock(key).await;
        self.write(key, &options, &mut stripe, |current, now| match current {
            Some(mut cart) if !cart.is_expired(now) => {
                let version = cart.version();
                cart.clear();
                Ok(Decision::Changed {
                    cart,
                    expected_version: Some(version),
                    events: vec![(EventType::CartCleared, None)],
                })
            }
            _ => Ok(Decision::Unchanged(None)),
        })
        .await
    }

    /// Merges a guest cart into a user cart (API.md "Merge"). The guest cart is deleted in the
    /// same atomic commit as the user cart's change, so a retried sign-in never counts twice: a
    /// second merge finds no guest cart and returns the user cart unchanged. With no live guest
    /// cart and no live user cart there is nothing to show: `CART_NOT_FOUND`.
    pub async fn merge(
        &self,
        user: &UserId,
        request: &MergeRequest,
        options: WriteOptions,
    ) -> Result<Merged, CartError> {
        let user_key = CartKey::User(user.clone());
        let guest_key = CartKey::Guest(request.guest.clone());
        let (mut user_stripe, mut guest_stripe) = self.lock_pair(&user_key, &guest_key).await;
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let stored_user = self.store.load_cart(&user_key).await?;
            let stored_guest = self.store.load_cart(&guest_key).await?;
            let user_version = stored_user.as_ref().map(Cart::version);
            check_precondition(options.precondition, user_version)?;
            let live_user = stored_user.filter(|cart| !cart.is_expired(now));
            let Some(guest) = stored_guest.filter(|cart| !cart.is_expired(now)) else {
                let cart = live_user.ok_or(CartError::CartNotFound)?;
                let report = MergeReport::nothing_to_merge(request.strategy, request.guest.clone());
                return Ok(Merged { cart, report });
            };
            let mut events = Vec::new();
            let mut cart = match live_user {
                Some(cart) => cart,
                None => {
                    events.push(EventType::CartCreated);
                    Cart::new(
                        self.ids.cart_id(),
                        user_key.clone(),
                        guest.currency(),
                        now,
                        user_version.unwrap_or(0),
                    )
                }
            };
            let lines = cart.absorb(&guest, request.strategy, &self.policy.limits, now)?;
            cart.touch(now, self.policy.user_ttl);
            let report = MergeReport {
                strategy: request.strategy,
                guest_id: request.guest.clone(),
                guest_cart_found: true,
                lines,
            };
            if request.dry_run {
                return Ok(Merged { cart, report });
            }
            let mut events: Vec<CartEvent> = events
                .into_iter()
                .map(|kind| {
                    CartEvent::about(self.ids.event_id(), kind, &cart, None)
                        .in_trace(options.traceparent.as_deref())
                })
                .collect();
            events.push(
                CartEvent::about(self.ids.event_id(), EventType::CartMerged, &cart, None)
                    .with_merge(report.clone())
                    .in_trace(options.traceparent.as_deref()),
            );
            // The guest cart's last event follows its last version, so per-cart order holds.
            let mut gone = guest.clone();
            gone.touch(now, Duration::ZERO);
            events.push(
                CartEvent::about(self.ids.event_id(), EventType::CartMergedAway, &gone, None)
                    .with_merge(report.clone())
                    .in_trace(options.traceparent.as_deref()),
            );
            let cart = Arc::new(cart);
            let commit = Commit {
                writes: vec![
                    CartWrite {
                        key: user_key.clone(),
                        expected_version: user_version,
                        new_state: Some(Arc::clone(&cart)),
                    },
                    CartWrite {
                        key: guest_key.clone(),
                        expected_version: Some(guest.version()),
                        new_state: None,
                    },
                ],
                events,
                idempotency: self.record_for(&options, &cart, Some(&report), now),
                at: now,
            };
            match self.store.commit(commit).await {
                Ok(()) => {
                    match guest_stripe.as_mut() {
                        Some(guest_stripe) => guest_stripe.forget(&guest_key),
                        None => user_stripe.forget(&guest_key),
                    }
                    let cart = unshare(cart);
                    user_stripe.put(cart.clone());
                    return Ok(Merged { cart, report });
                }
                Err(StoreError::VersionMismatch { key, current }) => {
                    user_stripe.forget(&user_key);
                    if let (Some(precondition), true) = (options.precondition, key == user_key) {
                        return Err(precondition_error(precondition, current));
                    }
                }
                Err(StoreError::DuplicateIdempotencyKey) => {
                    return Err(CartError::IdempotencyKeyCommitted);
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(CartError::Contended)
    }

    /// The stored response for an idempotency key, if one is recorded and unexpired.
    pub async fn idempotency_record(
        &self,
        scoped_key: &str,
    ) -> Result<Option<IdempotencyRecord>, CartError> {
        Ok(self
            .store
            .idempotency_record(scoped_key, self.clock.now())
            .await?)
    }

    /// Deletes expired carts and idempotency records, `batch` at a time, until none are left.
    pub async fn sweep_expired(&self, batch: usize) -> Result<SweepReport, CartError> {
        let mut total = SweepReport::default();
        loop {
            let round = self.store.sweep_expired(self.clock.now(), batch).await?;
            total.carts += round.carts;
            total.idempotency_records += round.idempotency_records;
            if round.carts < batch && round.idempotency_records < batch {
                return Ok(total);
            }
        }
    }

    /// Whether the store answers.
    pub async fn check_store(&self) -> Result<(), StoreError> {
        self.store.check().await
    }

    /// One catalog product.
    pub async fn product(&self, id: &ProductId) -> Result<Option<Product>, CartError> {
        Ok(self.catalog.product(id).await?)
    }

    /// A page of products ordered by id.
    pub async fn products(
        &self,
        after: Option<&ProductId>,
        limit: usize,
    ) -> Result<Vec<Product>, CartError> {
        Ok(self.catalog.products(after, limit).await?)
    }

    /// Inserts or replaces a product; `true` if it was new.
    pub async fn put_product(&self, product: Product) -> Result<bool, CartError> {
        let created = self.catalog.upsert_products(vec![product]).await?;
        Ok(created.first().copied().unwrap_or(false))
    }

    async fn lock(&self, key: &CartKey) -> StripeGuard<'_> {
        self.stripes[stripe(key)].lock().await
    }

    /// Locks the stripes of two carts, in stripe order so two merges cannot deadlock; the
    /// guards are returned in the order of the keys (`None` for `b` when both share a stripe).
    async fn lock_pair(
        &self,
        a: &CartKey,
        b: &CartKey,
    ) -> (StripeGuard<'_>, Option<StripeGuard<'_>>) {
        let (x, y) = (stripe(a), stripe(b));
        if x == y {
            return (self.stripes[x].lock().await, None);
        }
        let first = self.stripes[x.min(y)].lock().await;
        let second = self.stripes[x.max(y)].lock().await;
        if x < y {
            (first, Some(second))
        } else {
            (second, Some(first))
        }
    }

    /// The idempotency record to commit with a change, if the request carried a key.
    fn record_for(
        &self,
        options: &WriteOptions,
        cart: &Cart,
        merge: Option<&MergeReport>,
        now: OffsetDateTime,
    ) -> Option<IdempotencyRecord> {
        options
            .idempotency
            .as_ref()
            .map(|intent| IdempotencyRecord {
                scoped_key: intent.scoped_key.clone(),
                fingerprint: intent.fingerprint.clone(),
                response: (intent.render)(Some(cart), merge),
                expires_at: now + self.policy.idempotency_ttl,
            })
    }

    /// The load → decide → commit loop shared by every change. Returns the cart to show.
    async fn write(
        &self,
        key: &CartKey,
        options: &WriteOptions,
        stripe: &mut RecentCarts,
        decide: impl Fn(Option<Cart>, OffsetDateTime) -> Result<Decision, CartError>,
    ) -> Result<Option<Cart>, CartError> {
        self.write_from(key, options, stripe, None, decide).await
    }

    /// [`Self::write`], whose first attempt starts from `loaded` (the cart the caller already
    /// read from the store under the cart's lock) or else from the cart this process committed
    /// last; every later attempt reads the store. A remembered cart is trusted only for a
    /// change that is then committed (the compare-and-set checks it); any other verdict
    /// reached from it is reached again from the store.
    async fn write_from(
        &self,
        key: &CartKey,
        options: &WriteOptions,
        stripe: &mut RecentCarts,
        mut loaded: Option<Option<Cart>>,
        decide: impl Fn(Option<Cart>, OffsetDateTime) -> Result<Decision, CartError>,
    ) -> Result<Option<Cart>, CartError> {
        let mut remembered = if loaded.is_none() {
            stripe.take(key)
        } else {
            None
        };
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let guessed = remembered.is_some();
            let current = match (loaded.take(), remembered.take()) {
                (Some(current), _) => current,
                (None, Some(cart)) => Some(cart),
                (None, None) => self.store.load_cart(key).await?,
            };
            let verdict =
                check_precondition(options.precondition, current.as_ref().map(Cart::version))
                    .and_then(|()| decide(current, now));
            let (mut cart, expected_version, drafts) = match verdict {
                Ok(Decision::Changed {
                    cart,
                    expected_version,
                    events,
                }) => (cart, expected_version, events),
                Ok(Decision::Unchanged(_)) | Err(_) if guessed => continue,
                Ok(Decision::Unchanged(cart)) => return Ok(cart),
                Err(error) => return Err(error),
            };
            cart.touch(now, self.policy.ttl(key.owner()));
            let events = drafts
                .into_iter()
                .map(|(kind, line)| {
                    CartEvent::about(self.ids.event_id(), kind, &cart, line)
                        .in_trace(options.traceparent.as_deref())
                })
                .collect();
            let idempotency = self.record_for(options, &cart, None, now);
            let cart = Arc::new(cart);
            let commit = Commit {
                writes: vec![CartWrite {
                    key: key.clone(),
                    expected_version,
                    new_state: Some(Arc::clone(&cart)),
                }],
                events,
                idempotency,
                at: now,
            };
            match self.store.commit(commit).await {
                Ok(()) => {
                    let cart = unshare(cart);
                    stripe.put(cart.clone());
                    return Ok(Some(cart));
                }
                Err(StoreError::VersionMismatch { current, .. }) => {
                    stripe.forget(key);
                    if let Some(precondition) = options.precondition {
                        return Err(precondition_error(precondition, current));
                    }
                }
                Err(StoreError::DuplicateIdempotencyKey) => {
                    return Err(CartError::IdempotencyKeyCommitted);
                }
                Err(other) => {
                    // The commit may or may not have landed: forget what we thought we knew.
                    stripe.forget(key);
                    return Err(other.into());
                }
            }
        }
        Err(CartError::Contended)
    }
}

/// The cart out of its `Arc` once the commit that shared it is done: no copy, as the store has
/// dropped its share by then (a copy only if a store kept one).
fn unshare(cart: Arc<Cart>) -> Cart {
    Arc::try_unwrap(cart).unwrap_or_else(|shared| (*shared).clone())
}

/// The lock stripe of a cart.
fn stripe(key: &CartKey) -> usize {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    // The modulo keeps the index below STRIPES, so the cast cannot truncate meaningfully.
    (hasher.finish() % STRIPES as u64) as usize
}

/// The cart if it exists and has not expired.
fn live_cart(current: Option<Cart>, now: OffsetDateTime) -> Result<Cart, CartError> {
    match current {
        None => Err(CartError::CartNotFound),
        Some(cart) if cart.is_expired(now) => Err(CartError::CartExpired),
        Some(cart) => Ok(cart),
    }
}

fn check_precondition(
    precondition: Option<Precondition>,
    current: Option<u64>,
) -> Result<(), CartError> {
    let holds = match precondition {
        None => true,
        Some(Precondition::IfMatchAny) => current.is_some(),
        Some(Precondition::IfMatch(v) | Precondition::BodyVersion(v)) => current == Some(v),
    };
    match precondition {
        Some(precondition) if !holds => Err(precondition_error(precondition, current)),
        _ => Ok(()),
    }
}

fn precondition_error(precondition: Precondition, current: Option<u64>) -> CartError {
    match precondition {
        Precondition::IfMatch(expected) => CartError::PreconditionFailed { expected, current },
        Precondition::IfMatchAny => CartError::PreconditionFailed {
            expected: 0,
            current,
        },
        Precondition::BodyVersion(expected) => CartError::VersionConflict { expected, current },
    }
}
