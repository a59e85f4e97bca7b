//! The one compare-and-set loop every write goes through: read → check the precondition →
//! decide (pure rules) → commit cart(s), events and idempotency record atomically. A lost
//! compare-and-set is retried from a fresh read, unless the caller made the write conditional:
//! then it is the caller's conflict to resolve.

use std::future::Future;
use std::sync::Arc;

use time::OffsetDateTime;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::cart::merge::MergeReport;
use crate::cart::{Cart, LineChange, Totals};
use crate::command::Precondition;
use crate::error::{CartError, StoreError};
use crate::events::{CartEvent, EventType, PricingChange};
use crate::ids::CartKey;
use crate::order::{Order, OrderFacts};
use crate::outcome::{CheckedOut, Merged, Outcome};
use crate::ports::{CartWrite, Commit, IdempotencyRecord, LoadedCart, RecordWrite};

use super::business_metrics::Counted;
use super::{CartService, WriteOptions};

/// How many times an unconditional write retries a lost compare-and-set. Writers of one cart in
/// one process are already serialised (the lock stripes), so retries only happen when another
/// replica wrote the same cart at the same moment.
const MAX_ATTEMPTS: usize = 16;

/// Under which key and fingerprint a change records its outcome.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordAs<'a> {
    /// The key scoped to caller and cart.
    pub scoped_key: &'a str,
    /// The command's canonical form.
    pub fingerprint: &'a str,
}

/// A change a use case decided: the target cart's new state (not yet touched: the loop
/// touches it, which sets version and expiry) and what else the commit carries.
pub(crate) struct Change {
    /// The target cart after the change.
    pub cart: Cart,
    /// The version the stored cart must have (`None`: there must be none).
    pub expected_version: Option<u64>,
    /// Events about the target cart, in order.
    pub events: Vec<(EventType, Option<LineChange>)>,
    /// Another cart ended in the same commit ([`Cart::end`]), as it was (a merge's guest
    /// cart).
    pub ended: Option<Cart>,
    /// A merge's report: it goes onto the merge events and into the outcome.
    pub report: Option<MergeReport>,
    /// What a pricing change was about: it goes onto the change's events (empty for others).
    pub pricing: PricingChange,
    /// A checkout's order and what it writes besides the cart (`None` for other changes).
    pub checkout: Option<Box<CheckoutChange>>,
}

/// What a checkout commits besides the locked cart.
pub(crate) struct CheckoutChange {
    /// The new order; it is the outcome, and its facts go onto the cart's events.
    pub order: Order,
    /// The order, its index entries, the stock it reserves, the promotion uses it counts.
    pub records: Vec<RecordWrite>,
}

/// What a use case concluded from what it read.
// One decision per write attempt, moved once into the commit: boxing the change would add an
// allocation to every write to save stack space that is never short.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Decision {
    /// Nothing to write; answer this.
    Unchanged(Outcome),
    /// Commit this change.
    Changed(Change),
}

/// One write's part in the loop: which carts it locks, what it reads, what it decides.
pub(crate) trait UseCase: Sync {
    /// What the decision starts from.
    type Read: Send;

    /// The cart written (whose version a precondition names) and another it reads and
    /// writes, if any.
    fn keys(&self) -> (&CartKey, Option<&CartKey>);

    /// Reads what the decision needs. `first`: the first attempt, when a cache's guess of the
    /// cart will do; later attempts read the store.
    fn read(
        &self,
        service: &CartService,
        first: bool,
    ) -> impl Future<Output = Result<Self::Read, CartError>> + Send;

    /// The version of the target cart in `read` if it is live at `now` (`None`: no cart, or
    /// an expired or ended one): what a precondition is checked against, as an expired cart's
    /// entity tag names a representation that is gone.
    fn live_version(read: &Self::Read, now: OffsetDateTime) -> Option<u64>;

    /// Whether `read` rests on a cache's guess ([`LoadedCart::guessed`]).
    fn guessed(read: &Self::Read) -> bool;

    /// The order whose checkout locked a cart in `read` that is live at `now`, if any: such a
    /// cart refuses every change ([`CartError::CartLocked`]) but its order's.
    fn locked_by(read: &Self::Read, now: OffsetDateTime) -> Option<Uuid>;

    /// Decides the change.
    fn decide(
        &self,
        service: &CartService,
        read: Self::Read,
        now: OffsetDateTime,
    ) -> Result<Decision, CartError>;
}

/// A use case that reads and writes one cart, starting from [`CartService::read_target`]:
/// all it says is which cart and what it decides.
pub(crate) trait OnOneCart: Sync {
    /// The cart.
    fn key(&self) -> &CartKey;

    /// Decides the change from the cart as read.
    fn decide(
        &self,
        service: &CartService,
        read: LoadedCart,
        now: OffsetDateTime,
    ) -> Result<Decision, CartError>;
}

impl<T: OnOneCart> UseCase for T {
    type Read = LoadedCart;

    fn keys(&self) -> (&CartKey, Option<&CartKey>) {
        (self.key(), None)
    }

    async fn read(&self, service: &CartService, first: bool) -> Result<LoadedCart, CartError> {
        service.read_target(self.key(), first).await
    }

    fn live_version(read: &LoadedCart, now: OffsetDateTime) -> Option<u64> {
        live_version(read.cart.as_ref(), now)
    }

    fn guessed(read: &LoadedCart) -> bool {
        read.guessed
    }

    fn locked_by(read: &LoadedCart, now: OffsetDateTime) -> Option<Uuid> {
        locked_by(read.cart.as_ref(), now)
    }

    fn decide(
        &self,
        service: &CartService,
        read: LoadedCart,
        now: OffsetDateTime,
    ) -> Result<Decision, CartError> {
        OnOneCart::decide(self, service, read, now)
    }
}

impl CartService {
    /// Reads the target cart for a change: on the first attempt as the store's (possibly
    /// caching) [`crate::ports::Store::load_for_change`] has it, later from the store itself.
    pub(crate) async fn read_target(
        &self,
        key: &CartKey,
        first: bool,
    ) -> Result<LoadedCart, CartError> {
        if first {
            return Ok(self.store.load_for_change(key).await?);
        }
        Ok(LoadedCart {
            cart: self.store.load_cart(key).await?,
            guessed: false,
        })
    }

    /// Runs `use_case` to a committed change (or an unchanged answer), holding its carts'
    /// locks throughout.
    pub(crate) async fn change<U: UseCase>(
        &self,
        use_case: &U,
        options: &WriteOptions,
        record: Option<RecordAs<'_>>,
    ) -> Result<Outcome, CartError> {
        let (target, other) = use_case.keys();
        let _held = self.stripes.lock(target, other).await;
        for attempt in 0..MAX_ATTEMPTS {
            let read = use_case.read(self, attempt == 0).await?;
            let guessed = U::guessed(&read);
            let now = self.clock.now();
            let verdict = check_precondition(options.precondition, U::live_version(&read, now))
                .and_then(|()| match U::locked_by(&read, now) {
                    Some(order_id) => Err(CartError::CartLocked { order_id }),
                    None => Ok(()),
                })
                .and_then(|()| use_case.decide(self, read, now));
            let change = match verdict {
                Ok(Decision::Changed(change)) => change,
                // A guess is trusted only for a change the compare-and-set then checks; any
                // other verdict is reached again from the store.
                Ok(Decision::Unchanged(_)) | Err(_) if guessed => continue,
                Ok(Decision::Unchanged(outcome)) => return Ok(outcome),
                Err(error) => return Err(error),
            };
            let (commit, cart, decided) = self.commit_of(target, change, options, record, now);
            let counted = Counted::of(&commit);
            let span = tracing::info_span!(
                "store.commit",
                otel.kind = "client",
                carts = commit.writes.len(),
                events = commit.events.len(),
                records = commit.records.len(),
                attempt,
            );
            match self.store.commit(commit).instrument(span).await {
                Ok(()) => {
                    counted.record(decided.report.as_ref(), decided.order.as_ref());
                    return Ok(outcome(unshare(cart), decided.report, decided.order));
                }
                Err(StoreError::VersionMismatch { key, current }) => {
                    if let Some(precondition) = options.precondition
                        && key == *target
                    {
                        return Err(precondition_error(precondition, current));
                    }
                }
                // What checkout read of stock or promotion uses changed: decide again.
                Err(StoreError::RecordConflict { .. }) => {}
                Err(StoreError::DuplicateIdempotencyKey) => {
                    return Err(CartError::IdempotencyKeyCommitted);
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(CartError::Contended)
    }

    /// The commit of a decided change at `now`, with the committed cart (shared with the
    /// commit) and the merge report to answer with.
    fn commit_of(
        &self,
        target: &CartKey,
        change: Change,
        options: &WriteOptions,
        record: Option<RecordAs<'_>>,
        now: OffsetDateTime,
    ) -> (Commit, Arc<Cart>, Decided) {
        let Change {
            mut cart,
            expected_version,
            events: drafts,
            ended,
            report,
            pricing,
            checkout,
        } = change;
        cart.touch(now, self.policy.ttl(target.owner()));
        let traceparent = options.traceparent.as_deref();
        let facts = checkout.as_ref().map(|checkout| checkout.order.facts(None));
        let event = |kind: EventType, cart: &Cart, line: Option<LineChange>| {
            let event = CartEvent::about(self.ids.event_id(), kind, cart, line)
                .in_trace(traceparent)
                .with_order(facts.clone());
            match (&report, kind) {
                (Some(report), EventType::CartMerged | EventType::CartMergedAway) => {
                    event.with_merge(report.clone())
                }
                _ => event,
            }
        };
        let mut events: Vec<CartEvent> = drafts
            .into_iter()
            .map(|(kind, line)| event(kind, &cart, line).with_pricing(pricing.clone()))
            .collect();
        let mut writes = Vec::with_capacity(2);
        if let Some(mut gone) = ended {
            let version = gone.version();
            // The ended cart is kept, empty and expired, at its next version: its last event
            // follows its last version (per-cart order holds) and shows its totals after the
            // change, none (the report says what moved); the key's next cart continues from
            // there, so no version of the key ever comes back.
            gone.end(now);
            events.push(event(EventType::CartMergedAway, &gone, None));
            writes.push(CartWrite {
                key: gone.key().clone(),
                expected_version: Some(version),
                new_state: Some(Arc::new(gone)),
            });
        }
        let (order, records) = match checkout {
            Some(checkout) => {
                let CheckoutChange { order, records } = *checkout;
                events.push(order_event(
                    &order,
                    order.facts(None),
                    EventType::OrderCreated,
                    Some(&cart),
                    self.ids.event_id(),
                    traceparent,
                ));
                (Some(order), records)
            }
            None => (None, Vec::new()),
        };
        let idempotency = record.map(|record| IdempotencyRecord {
            scoped_key: record.scoped_key.to_owned(),
            fingerprint: record.fingerprint.to_owned(),
            outcome: outcome(cart.clone(), report.clone(), order.clone()),
            expires_at: now + self.policy.idempotency_ttl,
        });
        let cart = Arc::new(cart);
        writes.insert(
            0,
            CartWrite {
                key: target.clone(),
                expected_version,
                new_state: Some(Arc::clone(&cart)),
            },
        );
        let commit = Commit {
            writes,
            events,
            idempotency,
            records,
            at: now,
        };
        (commit, cart, Decided { report, order })
    }
}

/// What a committed change answers besides its cart.
pub(crate) struct Decided {
    /// A merge's report.
    report: Option<MergeReport>,
    /// A checkout's order.
    order: Option<Order>,
}

/// The event `kind` about `order` at the version its record has after the commit, with `facts`
/// (the order's, and the reason of the change). Its cart fields name the order's cart; its
/// totals are `cart`'s when the cart is part of the change, zero otherwise.
pub(crate) fn order_event(
    order: &Order,
    facts: OrderFacts,
    kind: EventType,
    cart: Option<&Cart>,
    id: Uuid,
    traceparent: Option<&str>,
) -> CartEvent {
    CartEvent {
        id,
        event_type: kind,
        cart_id: order.cart_id,
        cart_key: order.buyer.cart_key.clone(),
        owner: order.buyer.cart_key.owner(),
        version: order.version,
        occurred_at: order.updated_at,
        line: None,
        totals: cart.map_or(
            Totals {
                item_count: 0,
                total_quantity: 0,
                total_price: 0,
            },
            Cart::totals,
        ),
        currency: order.currency.clone(),
        merge: None,
        traceparent: traceparent.map(str::to_owned),
        pricing: PricingChange::default(),
        order: Some(facts),
    }
}

/// The outcome of a committed change.
fn outcome(cart: Cart, report: Option<MergeReport>, order: Option<Order>) -> Outcome {
    match (report, order) {
        (Some(report), _) => Outcome::Merged(Merged {
            cart,
            report,
            dry_run: false,
        }),
        (None, Some(order)) => Outcome::CheckedOut(Box::new(CheckedOut { order, cart })),
        (None, None) => Outcome::Cart(Some(cart)),
    }
}

/// The order whose checkout locked `cart`, if it is live at `now` and locked.
pub(crate) fn locked_by(cart: Option<&Cart>, now: OffsetDateTime) -> Option<Uuid> {
    cart.filter(|cart| !cart.is_expired(now))
        .and_then(Cart::checkout)
        .map(|lock| lock.order_id)
}

/// The cart out of its `Arc` once the commit that shared it is done: no copy, as the store has
/// dropped its share by then (a copy only if a store kept one).
fn unshare(cart: Arc<Cart>) -> Cart {
    Arc::try_unwrap(cart).unwrap_or_else(|shared| (*shared).clone())
}

/// The version of `cart` if it is live at `now` (not expired, not ended).
pub(crate) fn live_version(cart: Option<&Cart>, now: OffsetDateTime) -> Option<u64> {
    cart.filter(|cart| !cart.is_expired(now)).map(Cart::version)
}

/// The cart if it exists and has not expired: `CART_NOT_FOUND` if there is none or it ended
/// (was merged away), `CART_EXPIRED` if it expired.
pub(crate) fn live_cart(current: Option<Cart>, now: OffsetDateTime) -> Result<Cart, CartError> {
    match current {
        None => Err(CartError::CartNotFound),
        Some(cart) if cart.has_ended() => Err(CartError::CartNotFound),
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
        Some(Precondition::IfMatchAndBody { if_match, body }) => {
            current == Some(if_match) && current == Some(body)
        }
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
        Precondition::IfMatchAndBody { if_match, .. } if current != Some(if_match) => {
            CartError::PreconditionFailed {
                expected: if_match,
                current,
            }
        }
        Precondition::IfMatchAndBody { body, .. } => CartError::VersionConflict {
            expected: body,
            current,
        },
    }
}
