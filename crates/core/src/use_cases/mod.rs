//! The use cases: one module per write, over the ports.
//!
//! Every write goes the same way, whichever transport asked for it:
//!
//! 1. The transport parses its input into a [`Command`] and [`WriteOptions`].
//! 2. [`CartService::execute`] answers a retried idempotency key from its record, or claims it
//!    ([`idempotency`]).
//! 3. The command's use case ([`add_item`], [`set_quantity`], [`remove_item`], [`clear`],
//!    [`merge`], [`cart_choices`] for region and discount codes, [`reprice`]) reads the cart and decides the change with the pure rules of [`crate::cart`].
//! 4. [`change`]'s compare-and-set loop commits cart, events and idempotency record in one
//!    atomic [`crate::ports::Commit`], retrying a lost compare-and-set unless the write was
//!    conditional.
//! 5. The transport renders the [`Outcome`].

mod add_item;
mod business_metrics;
mod cart_choices;
mod change;
mod checkout;
mod clear;
mod idempotency;
mod locks;
mod merge;
mod orders;
mod reads;
mod remove_item;
mod reprice;
mod set_quantity;

use std::sync::Arc;

use time::Duration;

use crate::command::{Command, Precondition};
use crate::error::CartError;
use crate::ids::{CartKey, Owner};
use crate::outcome::Outcome;
use crate::ports::{Catalog, Clock, IdGenerator, PaymentProvider, PricingSettings, Records, Store};
use crate::quantity::Limits;

pub use checkout::{PromotionUsage, Quote, Quoter};
pub use idempotency::IdempotencyKey;
pub use orders::{Actor, ClaimAttempt, ClaimOutcome, Fulfiller, FulfilmentClaim, WorkerPass};

use idempotency::InFlight;
use locks::Stripes;

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
}

impl Default for CartPolicy {
    /// The contract's defaults: 99 a line, 100 lines, guests 7 days, users 90 days, records
    /// 24 h.
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            guest_ttl: Duration::days(7),
            user_ttl: Duration::days(90),
            idempotency_ttl: Duration::hours(24),
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

/// How orders behave, as an operator configures it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderPolicy {
    /// How long an order waits for payment before the sweeper expires it
    /// (`CARTD_CHECKOUT_TTL`).
    pub checkout_ttl: Duration,
    /// Fulfilment attempts before an order becomes a dead letter
    /// (`CARTD_WORKER_MAX_ATTEMPTS`).
    pub max_fulfilment_attempts: u32,
}

impl Default for OrderPolicy {
    fn default() -> Self {
        Self {
            checkout_ttl: Duration::minutes(30),
            max_fulfilment_attempts: 5,
        }
    }
}

/// What checkout and orders need besides the cart's ports.
#[derive(Clone)]
pub struct OrderPorts {
    /// Orders, stock levels, promotion uses and payment events (read side; writes are
    /// commits).
    pub records: Arc<dyn Records>,
    /// Where payment intents come from.
    pub payments: Arc<dyn PaymentProvider>,
    /// The operator's rules.
    pub policy: OrderPolicy,
}

/// Options every write takes.
#[derive(Debug, Default)]
pub struct WriteOptions {
    /// Makes the write conditional.
    pub precondition: Option<Precondition>,
    /// Records the outcome under an idempotency key in the same commit.
    pub idempotency: Option<IdempotencyKey>,
    /// The W3C `traceparent` of the request, copied onto the change's events.
    pub traceparent: Option<String>,
}

/// The cart use cases, over injected ports.
pub struct CartService {
    store: Arc<dyn Store>,
    catalog: Arc<dyn Catalog>,
    /// Where promotions are defined: a code goes on a cart only if one has it.
    pricing: Arc<dyn PricingSettings>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    policy: CartPolicy,
    /// Writers of one cart wait for each other here instead of failing each other's
    /// compare-and-set; the compare-and-set still guards against other processes.
    stripes: Stripes,
    /// Idempotency keys whose command is running in this process.
    in_flight: InFlight,
    /// Checkout and orders, when wired ([`CartService::with_orders`]).
    orders: Option<OrderPorts>,
}

impl CartService {
    /// Wires the use cases to their ports (caches, if any, are decorators of the ports).
    pub fn new(
        store: Arc<dyn Store>,
        catalog: Arc<dyn Catalog>,
        pricing: Arc<dyn PricingSettings>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        policy: CartPolicy,
    ) -> Self {
        Self {
            store,
            catalog,
            pricing,
            clock,
            ids,
            policy,
            stripes: Stripes::default(),
            in_flight: InFlight::default(),
            orders: None,
        }
    }

    /// The service with checkout and orders wired to `ports`.
    pub fn with_orders(mut self, ports: OrderPorts) -> Self {
        self.orders = Some(ports);
        self
    }

    /// The order ports; a service built without them cannot check out.
    pub(crate) fn orders(&self) -> Result<&OrderPorts, CartError> {
        self.orders.as_ref().ok_or_else(|| {
            CartError::Store(crate::error::StoreError::Internal(
                "checkout is not wired to a store's records".to_owned(),
            ))
        })
    }

    /// The order rules in force.
    pub fn order_policy(&self) -> OrderPolicy {
        self.orders
            .as_ref()
            .map(|orders| orders.policy)
            .unwrap_or_default()
    }

    /// Runs `command` on the cart under `target`, honouring the options' precondition and
    /// idempotency key, and answers its outcome (or the recorded one, for a retried key).
    pub async fn execute(
        &self,
        target: &CartKey,
        command: Command,
        options: WriteOptions,
    ) -> Result<crate::outcome::Written, CartError> {
        self.execute_idempotently(target, command, options).await
    }

    /// The use case of `command`; `record` is the idempotency record's key and fingerprint.
    async fn dispatch(
        &self,
        target: &CartKey,
        command: Command,
        options: &WriteOptions,
        record: Option<change::RecordAs<'_>>,
    ) -> Result<Outcome, CartError> {
        match command {
            Command::AddItem(add) => self.add_item(target, add, options, record).await,
            Command::SetQuantity(set) => self.set_quantity(target, set, options, record).await,
            Command::RemoveItem(remove) => self.remove_item(target, remove, options, record).await,
            Command::Clear => self.clear(target, options, record).await,
            Command::Merge(request) => {
                let CartKey::User(user) = target else {
                    return Err(CartError::MergeTargetNotUserCart);
                };
                if !request.dry_run {
                    self.adopt_before_merge(target, &request).await?;
                }
                self.merge(user, request, options, record).await
            }
            Command::SetRegion(region) => self.set_region(target, region, options, record).await,
            Command::AddDiscountCode(code) => {
                self.add_discount_code(target, code, options, record).await
            }
            Command::RemoveDiscountCode(code) => {
                self.remove_discount_code(target, code, options, record)
                    .await
            }
            Command::Reprice => self.reprice(target, options, record).await,
        }
    }
}
