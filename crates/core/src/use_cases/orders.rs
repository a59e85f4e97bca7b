//! What happens to an order after checkout: payment outcomes, expiry, cancellation, an admin's
//! transitions, and the fulfilment worker's claims, retries and dead letters. Every change is
//! one commit of the order, its index entries, the stock it holds, the discount-code uses it
//! counted, the cart it locked (unlocked, or emptied once paid) and its events; a lost
//! compare-and-set on any of them decides again from what is stored.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::cart::Cart;
use crate::error::{CartError, StoreError};
use crate::events::{CartEvent, EventType};
use crate::ids::{CartKey, ProductId};
use crate::order::status::admin_action;
use crate::order::{Action, Order, OrderStatus, index};
use crate::ports::{CartWrite, Commit, RecordKind, RecordWrite};
use crate::product::Product;

use super::CartService;
use super::change::order_event;
use super::checkout::{PromotionUsage, index_entry, stock_level};

/// How many times an order change retries a lost compare-and-set before answering `409`.
const MAX_ATTEMPTS: usize = 16;

/// Who asks for an order or a change of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The buyer, by the cart key their orders were placed under: sees only those, and may
    /// only cancel.
    Buyer(CartKey),
    /// A caller with the admin scope: sees every order, and moves orders along the admin's
    /// edges of the state machine.
    Admin,
    /// cartd itself: the payment webhook, the sweeper, the worker.
    System,
}

/// A paid order the worker took from the fulfilment queue: no other worker takes it until
/// `until`, unless this one fails to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulfilmentClaim {
    /// The order as claimed (its attempt counted).
    pub order: Order,
    /// When the claim lapses and the order is due again.
    pub until: OffsetDateTime,
}

/// Where paid orders go to be fulfilled (a warehouse, a shop's own system): the worker hands
/// each claimed order here. An error is retried with backoff, then makes the order a dead
/// letter.
#[async_trait::async_trait]
pub trait Fulfiller: Send + Sync {
    /// Fulfils `order`; must be idempotent by order id (the same order may come twice when a
    /// worker dies between the call and its report).
    async fn fulfil(&self, order: &Order) -> Result<(), String>;
}

/// What became of one claimed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// Fulfilled (`order.fulfilled`).
    Fulfilled,
    /// The attempt failed; the order is due again after this pause.
    RetryAfter(Duration),
    /// The last attempt failed: the order is a dead letter (`order.failed`).
    DeadLettered,
    /// The order changed while the call ran (cancelled, or fulfilled by an admin).
    Moved,
}

/// Whether an order could be taken for fulfilment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimAttempt {
    /// Taken: fulfil it (boxed: an order is large, the other answers are a time or nothing).
    Claimed(Box<FulfilmentClaim>),
    /// Paid, but not due until then (another worker holds it, or its backoff runs).
    NotDue(OffsetDateTime),
    /// A dead letter: the worker gave up on it (`failed`). A queue source hands the message to
    /// its own dead-letter handling.
    DeadLetter,
    /// Not waiting for fulfilment (not paid, gone).
    Nothing,
}

/// What one pass of the worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerPass {
    /// Orders fulfilled.
    pub fulfilled: usize,
    /// Attempts that failed and will be retried.
    pub retried: usize,
    /// Orders that failed their last attempt (dead letters).
    pub failed: usize,
}

/// The event that reports an order entering `status`.
fn event_of(status: OrderStatus) -> EventType {
    match status {
        OrderStatus::PendingPayment => EventType::OrderCreated,
        OrderStatus::Paid => EventType::OrderPaid,
        OrderStatus::PaymentFailed => EventType::OrderPaymentFailed,
        OrderStatus::Expired => EventType::OrderExpired,
        OrderStatus::Cancelled => EventType::OrderCancelled,
        OrderStatus::Fulfilled => EventType::OrderFulfilled,
        OrderStatus::Failed => EventType::OrderFailed,
    }
}

/// An order's record write at its next version.
fn order_write(order: &mut Order, read_version: u64) -> RecordWrite {
    order.version = read_version + 1;
    RecordWrite {
        kind: RecordKind::Order,
        key: order.id.to_string(),
        expected_version: Some(read_version),
        body: Some(order.to_record()),
    }
}

/// Deletes an index entry (entries are written once, so they are at version 1).
fn drop_entry(key: String) -> RecordWrite {
    RecordWrite {
        kind: RecordKind::OrderIndex,
        key,
        expected_version: Some(1),
        body: None,
    }
}

impl CartService {
    /// The order `id` as stored, with its record's version.
    async fn stored_order(&self, id: Uuid) -> Result<(Order, u64), CartError> {
        let record = self
            .orders()?
            .records
            .record(RecordKind::Order, &id.to_string())
            .await?
            .ok_or(CartError::OrderNotFound)?;
        Ok((Order::from_record(&record.body)?, record.version))
    }

    /// The order `id`, if `actor` may see it (a buyer sees only their own: anyone else's is
    /// `ORDER_NOT_FOUND`, as if it did not exist).
    pub async fn order(&self, id: Uuid, actor: &Actor) -> Result<Order, CartError> {
        let (order, _) = self.stored_order(id).await?;
        visible(order, actor)
    }

    /// Up to `limit` orders `actor` may see, newest first, after the entry `after` (the
    /// previous page's cursor), with the cursor of the next page if there may be more. A
    /// `status` filters (for the admin's list).
    pub async fn orders_page(
        &self,
        actor: &Actor,
        status: Option<OrderStatus>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Order>, Option<String>), CartError> {
        let prefix = match actor {
            Actor::Buyer(key) => index::owner_prefix(key),
            Actor::Admin | Actor::System => index::ALL.to_owned(),
        };
        if after.is_some_and(|after| !after.starts_with(&prefix)) {
            return Ok((Vec::new(), None));
        }
        let records = &self.orders()?.records;
        let mut orders = Vec::with_capacity(limit);
        let mut cursor = after.map(str::to_owned);
        // A status filter may skip entries: read pages of the index until the page is full.
        loop {
            let page = limit.max(1) * if status.is_some() { 4 } else { 1 };
            let entries = records
                .records(RecordKind::OrderIndex, &prefix, cursor.as_deref(), page)
                .await?;
            let exhausted = entries.len() < page;
            for entry in entries {
                cursor = Some(entry.key.clone());
                let Some(id) = index::order_id_of(&entry.key) else {
                    continue;
                };
                let order = match self.stored_order(id).await {
                    Ok((order, _)) => order,
                    // An entry committed with its order, whose order is gone: none to show.
                    Err(CartError::OrderNotFound) => continue,
                    Err(other) => return Err(other),
                };
                if status.is_none_or(|status| order.status == status) {
                    orders.push(order);
                    if orders.len() == limit {
                        return Ok((orders, cursor));
                    }
                }
            }
            if exhausted {
                return Ok((orders, None));
            }
        }
    }

    /// Applies `action` to order `id` for `actor`, with `reason` in its history: one commit of
    /// the order and all it holds. `INVALID_TRANSITION` when the status does not allow it;
    /// a buyer may only cancel their own order.
    pub async fn act_on_order(
        &self,
        id: Uuid,
        action: Action,
        actor: &Actor,
        reason: Option<String>,
        traceparent: Option<&str>,
    ) -> Result<Order, CartError> {
        self.act(id, action, actor, reason, traceparent, None).await
    }

    /// Applies a payment provider's event `event_id` about order `id`'s payment of `amount`
    /// `currency`: pays the order (`succeeded`) or fails its payment, and records the event in
    /// the same commit, so a replay of it changes nothing (`Ok(None)`). An amount or currency
    /// that is not the order's is `PAYMENT_AMOUNT_MISMATCH`, and changes nothing.
    pub async fn apply_payment(
        &self,
        id: Uuid,
        event_id: &str,
        succeeded: bool,
        amount: i64,
        currency: &str,
        reason: Option<String>,
    ) -> Result<Option<Order>, CartError> {
        let records = &self.orders()?.records;
        if records
            .record(RecordKind::PaymentEvent, event_id)
            .await?
            .is_some()
        {
            return Ok(None);
        }
        let (order, _) = self.stored_order(id).await?;
        if order.payment.amount != amount || !order.payment.currency.eq_ignore_ascii_case(currency)
        {
            return Err(CartError::PaymentAmountMismatch {
                expected: order.payment.amount,
                expected_currency: order.payment.currency,
                got: amount,
                got_currency: currency.to_owned(),
            });
        }
        let seen = RecordWrite {
            kind: RecordKind::PaymentEvent,
            key: event_id.to_owned(),
            expected_version: None,
            body: Some(format!(
                r#"{{"order_id":"{id}","received_at_unix":{}}}"#,
                self.clock.now().unix_timestamp()
            )),
        };
        let action = if succeeded {
            Action::Pay
        } else {
            Action::FailPayment
        };
        match self
            .act(id, action, &Actor::System, reason, None, Some(seen))
            .await
        {
            Ok(order) => Ok(Some(order)),
            // The same event, applied by a concurrent delivery: a replay.
            Err(CartError::Store(StoreError::RecordConflict {
                kind: RecordKind::PaymentEvent,
                ..
            })) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// [`CartService::act_on_order`], committing `also` with the change.
    async fn act(
        &self,
        id: Uuid,
        action: Action,
        actor: &Actor,
        reason: Option<String>,
        traceparent: Option<&str>,
        also: Option<RecordWrite>,
    ) -> Result<Order, CartError> {
        for _ in 0..MAX_ATTEMPTS {
            let (order, version) = self.stored_order(id).await?;
            let order = visible(order, actor)?;
            if matches!(actor, Actor::Buyer(_)) && action != Action::Cancel {
                return Err(crate::order::InvalidTransition {
                    from: order.status,
                    action,
                }
                .into());
            }
            let key = order.buyer.cart_key.clone();
            let _held = self.stripes.lock(&key, None).await;
            match self
                .transition_once(
                    order,
                    version,
                    action,
                    reason.clone(),
                    traceparent,
                    also.clone(),
                )
                .await
            {
                // The event was applied by a concurrent delivery: the caller's to answer.
                Err(
                    error @ CartError::Store(StoreError::RecordConflict {
                        kind: RecordKind::PaymentEvent,
                        ..
                    }),
                ) => return Err(error),
                Err(CartError::Store(
                    StoreError::RecordConflict { .. } | StoreError::VersionMismatch { .. },
                )) => continue,
                other => return other,
            }
        }
        Err(CartError::Contended)
    }

    /// The admin's `PATCH {"status": to}` of order `id`.
    pub async fn move_order(
        &self,
        id: Uuid,
        to: OrderStatus,
        reason: Option<String>,
        traceparent: Option<&str>,
    ) -> Result<Order, CartError> {
        let (order, _) = self.stored_order(id).await?;
        let action = admin_action(order.status, to)?;
        self.act_on_order(id, action, &Actor::Admin, reason, traceparent)
            .await
    }

    /// One attempt of [`CartService::act_on_order`] on `order` as read at `version`.
    async fn transition_once(
        &self,
        mut order: Order,
        version: u64,
        action: Action,
        reason: Option<String>,
        traceparent: Option<&str>,
        also: Option<RecordWrite>,
    ) -> Result<Order, CartError> {
        let now = self.clock.now();
        let from = order.status;
        let was_queued = order.fulfilment.queued.take();
        order.apply(action, now, reason.clone())?;
        let to = order.status;
        let mut records = Vec::new();
        records.extend(self.stock_changes(&order, from, to).await?);
        if matches!(
            to,
            OrderStatus::PaymentFailed | OrderStatus::Expired | OrderStatus::Cancelled
        ) {
            records.extend(self.release_uses(&order).await?);
        }
        if from == OrderStatus::PendingPayment {
            records.push(drop_entry(index::due_entry(order.pay_by, order.id)));
        }
        if let Some(queued) = was_queued {
            records.push(drop_entry(queued));
        }
        if from == OrderStatus::Failed {
            records.push(drop_entry(index::dead_entry(order.id)));
        }
        if to == OrderStatus::Paid {
            let entry = index::fulfil_entry(now, order.id);
            order.fulfilment.queued = Some(entry.clone());
            records.push(index_entry(entry));
        }
        if to == OrderStatus::Failed {
            records.push(index_entry(index::dead_entry(order.id)));
        }
        records.insert(0, order_write(&mut order, version));
        records.extend(also);

        let mut writes = Vec::new();
        let mut events = Vec::new();
        let facts = order.facts(reason);
        let cart = match from {
            OrderStatus::PendingPayment => self.release_cart(&order, to, now).await?,
            _ => None,
        };
        if let Some((cart, expected, kind)) = &cart {
            events.push(
                CartEvent::about(self.ids.event_id(), *kind, cart, None)
                    .in_trace(traceparent)
                    .with_order(Some(facts.clone())),
            );
            writes.push(CartWrite {
                key: cart.key().clone(),
                expected_version: Some(*expected),
                new_state: Some(std::sync::Arc::new(cart.clone())),
            });
        }
        events.push(order_event(
            &order,
            facts,
            event_of(to),
            cart.as_ref().map(|(cart, ..)| cart),
            self.ids.event_id(),
            traceparent,
        ));
        self.store
            .commit(Commit {
                writes,
                events,
                idempotency: None,
                records,
                at: now,
            })
            .await?;
        Ok(order)
    }

    /// The cart `order` locked, released as `to` asks (emptied when paid, else unlocked), with
    /// the version it was read at and its event; `None` when the cart is gone or no longer
    /// locked by this order.
    async fn release_cart(
        &self,
        order: &Order,
        to: OrderStatus,
        now: OffsetDateTime,
    ) -> Result<Option<(Cart, u64, EventType)>, CartError> {
        let Some(mut cart) = self.store.load_cart(&order.buyer.cart_key).await? else {
            return Ok(None);
        };
        let version = cart.version();
        if !cart.unlock_from(order.id) {
            return Ok(None);
        }
        let kind = if to == OrderStatus::Paid {
            cart.empty_after_purchase();
            EventType::CartCleared
        } else {
            EventType::CartUnlocked
        };
        cart.touch(now, self.policy.ttl(cart.key().owner()));
        Ok(Some((cart, version, kind)))
    }

    /// The stock record writes of `order` moving from `from` to `to`.
    async fn stock_changes(
        &self,
        order: &Order,
        from: OrderStatus,
        to: OrderStatus,
    ) -> Result<Vec<RecordWrite>, CartError> {
        let change: fn(crate::order::StockLevel, u32) -> crate::order::StockLevel =
            match (from.holds_reservation(), from.holds_stock(), to) {
                (true, _, OrderStatus::Paid) => |level, units| level.take(units),
                (true, ..) => |level, units| level.release(units),
                (false, true, OrderStatus::Cancelled) => |level, units| level.restock(units),
                _ => return Ok(Vec::new()),
            };
        let mut writes = Vec::new();
        for (product_id, units) in order.tracked_units() {
            let catalog = self.catalog_on_hand(&product_id).await?;
            let (level, expected) = stock_level(self, &product_id, catalog).await?;
            writes.push(RecordWrite {
                kind: RecordKind::Stock,
                key: product_id.to_string(),
                expected_version: expected,
                body: Some(change(level, units).to_record()),
            });
        }
        Ok(writes)
    }

    /// The catalog's units on hand of a product (0 when it is gone or no longer tracked).
    async fn catalog_on_hand(&self, id: &ProductId) -> Result<u32, CartError> {
        Ok(self
            .catalog
            .product(id)
            .await?
            .and_then(|product| product.stock)
            .unwrap_or(0))
    }

    /// Gives back the discount-code uses `order` counted.
    async fn release_uses(&self, order: &Order) -> Result<Vec<RecordWrite>, CartError> {
        let records = &self.orders()?.records;
        let mut writes = Vec::new();
        for code in &order.discount_codes {
            let Some(stored) = records
                .record(RecordKind::PromotionUsage, code.as_str())
                .await?
            else {
                continue;
            };
            let usage = PromotionUsage::from_record(&stored.body)?;
            writes.push(RecordWrite {
                kind: RecordKind::PromotionUsage,
                key: code.as_str().to_owned(),
                expected_version: Some(stored.version),
                body: Some(
                    PromotionUsage {
                        times_used: usage.times_used.saturating_sub(1),
                    }
                    .to_record(),
                ),
            });
        }
        Ok(writes)
    }

    /// How many orders hold a use of `code`.
    pub async fn promotion_uses(&self, code: &str) -> Result<u64, CartError> {
        let Ok(orders) = self.orders() else {
            return Ok(0);
        };
        match orders
            .records
            .record(RecordKind::PromotionUsage, code)
            .await?
        {
            Some(record) => Ok(PromotionUsage::from_record(&record.body)?.times_used),
            None => Ok(0),
        }
    }

    /// `product` with `stock` as what a new add may take: its stock level's available units
    /// (on hand less reserved) once checkouts have counted it, else the catalog's.
    pub(crate) async fn sellable(&self, mut product: Product) -> Result<Product, CartError> {
        if let (Some(on_hand), Ok(_)) = (product.stock, self.orders()) {
            let (level, _) = stock_level(self, &product.id, on_hand).await?;
            product.stock = Some(level.available());
        }
        Ok(product)
    }

    /// The stock level of a tracked product (`None` when the catalog does not track it).
    pub async fn stock_of(
        &self,
        product: &Product,
    ) -> Result<Option<crate::order::StockLevel>, CartError> {
        match (product.stock, self.orders()) {
            (Some(on_hand), Ok(_)) => Ok(Some(stock_level(self, &product.id, on_hand).await?.0)),
            (Some(on_hand), Err(_)) => Ok(Some(crate::order::StockLevel {
                on_hand,
                reserved: 0,
            })),
            (None, _) => Ok(None),
        }
    }

    /// The stock level of the product `id` as checkouts count it, if they have.
    pub async fn stock_of_id(
        &self,
        id: &ProductId,
    ) -> Result<Option<crate::order::StockLevel>, CartError> {
        let Ok(orders) = self.orders() else {
            return Ok(None);
        };
        match orders
            .records
            .record(RecordKind::Stock, id.as_str())
            .await?
        {
            Some(record) => Ok(Some(crate::order::StockLevel::from_record(&record.body)?)),
            None => Ok(None),
        }
    }

    /// Sets a tracked product's units on hand (an admin wrote the catalog's stock), keeping
    /// what is reserved; creates no record for a product no checkout has counted yet (the
    /// catalog's figure is its level then).
    pub async fn set_on_hand(&self, product_id: &ProductId, on_hand: u32) -> Result<(), CartError> {
        let Ok(orders) = self.orders() else {
            return Ok(());
        };
        let records = &orders.records;
        for _ in 0..MAX_ATTEMPTS {
            let Some(stored) = records
                .record(RecordKind::Stock, product_id.as_str())
                .await?
            else {
                return Ok(());
            };
            let level = crate::order::StockLevel::from_record(&stored.body)?;
            let commit = Commit {
                writes: Vec::new(),
                events: Vec::new(),
                idempotency: None,
                records: vec![RecordWrite {
                    kind: RecordKind::Stock,
                    key: product_id.to_string(),
                    expected_version: Some(stored.version),
                    body: Some(crate::order::StockLevel { on_hand, ..level }.to_record()),
                }],
                at: self.clock.now(),
            };
            match self.store.commit(commit).await {
                Ok(()) => return Ok(()),
                Err(StoreError::RecordConflict { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(CartError::Contended)
    }

    /// Expires up to `batch` orders whose payment deadline passed at `now`; answers how many.
    pub async fn expire_due_orders(&self, batch: usize) -> Result<usize, CartError> {
        let now = self.clock.now();
        let entries = self
            .orders()?
            .records
            .records(RecordKind::OrderIndex, index::DUE, None, batch)
            .await?;
        let mut expired = 0;
        for entry in entries {
            if index::time_of(&entry.key).is_none_or(|due| due > now) {
                break;
            }
            let Some(id) = index::order_id_of(&entry.key) else {
                continue;
            };
            match self
                .act_on_order(id, Action::Expire, &Actor::System, None, None)
                .await
            {
                Ok(_) => expired += 1,
                // Paid (or failed) between the listing and now: nothing to expire.
                Err(CartError::InvalidTransition(_) | CartError::OrderNotFound) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(expired)
    }

    /// Takes up to `batch` paid orders due for fulfilment, each for `lease`: its attempt is
    /// counted and it is due again at the lease's end, so a worker that dies mid-call leaves
    /// it to the next one (at least once; the fulfilment call's idempotency key is the order
    /// id).
    pub async fn claim_fulfilment(
        &self,
        batch: usize,
        lease: Duration,
    ) -> Result<Vec<FulfilmentClaim>, CartError> {
        let now = self.clock.now();
        let records = &self.orders()?.records;
        let entries = records
            .records(RecordKind::OrderIndex, index::FULFIL, None, batch)
            .await?;
        let until = now + lease;
        let mut claims = Vec::new();
        for entry in entries {
            if entry.key > index::fulfil_due_until(now) {
                break;
            }
            let Some(id) = index::order_id_of(&entry.key) else {
                continue;
            };
            let (order, version) = match self.stored_order(id).await {
                Ok(found) => found,
                Err(CartError::OrderNotFound) => continue,
                Err(other) => return Err(other),
            };
            if order.status != OrderStatus::Paid
                || order.fulfilment.queued.as_deref() != Some(&entry.key)
            {
                continue;
            }
            if let Some(claim) = self.claim(order, version, now, until).await? {
                claims.push(claim);
            }
        }
        Ok(claims)
    }

    /// Takes the paid order `id` for `lease`, if it is due (the worker fed by a broker's
    /// `order.paid` messages, which name one order each).
    pub async fn claim_order(&self, id: Uuid, lease: Duration) -> Result<ClaimAttempt, CartError> {
        let (order, version) = match self.stored_order(id).await {
            Ok(found) => found,
            Err(CartError::OrderNotFound) => return Ok(ClaimAttempt::Nothing),
            Err(other) => return Err(other),
        };
        if order.status == OrderStatus::Failed {
            return Ok(ClaimAttempt::DeadLetter);
        }
        let Some(queued) = order.fulfilment.queued.clone() else {
            return Ok(ClaimAttempt::Nothing);
        };
        if order.status != OrderStatus::Paid {
            return Ok(ClaimAttempt::Nothing);
        }
        let now = self.clock.now();
        if queued > index::fulfil_due_until(now) {
            let due = index::time_of(&queued).unwrap_or(now);
            return Ok(ClaimAttempt::NotDue(due));
        }
        Ok(match self.claim(order, version, now, now + lease).await? {
            Some(claim) => ClaimAttempt::Claimed(Box::new(claim)),
            // Another worker took it at the same moment: due again when its lease ends.
            None => ClaimAttempt::NotDue(now + lease),
        })
    }

    /// Counts an attempt of the paid `order` (read at `version`) and moves its queue entry to
    /// `until`, in one commit; `None` when another worker changed it first.
    async fn claim(
        &self,
        mut order: Order,
        version: u64,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Option<FulfilmentClaim>, CartError> {
        let Some(queued) = order.fulfilment.queued.take() else {
            return Ok(None);
        };
        order.fulfilment.attempts += 1;
        let next = index::fulfil_entry(until, order.id);
        order.fulfilment.queued = Some(next.clone());
        order.updated_at = now;
        let commit = Commit {
            writes: Vec::new(),
            events: Vec::new(),
            idempotency: None,
            records: vec![
                order_write(&mut order, version),
                drop_entry(queued),
                index_entry(next),
            ],
            at: now,
        };
        match self.store.commit(commit).await {
            Ok(()) => Ok(Some(FulfilmentClaim { order, until })),
            Err(StoreError::RecordConflict { .. }) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// Hands a claimed order to `fulfiller` and records the outcome: fulfilled, due again after
    /// `backoff(attempts)`, or at the last attempt a dead letter.
    pub async fn fulfil_claim(
        &self,
        claim: &FulfilmentClaim,
        fulfiller: &dyn Fulfiller,
        backoff: &(dyn Fn(u32) -> Duration + Sync),
    ) -> Result<ClaimOutcome, CartError> {
        match fulfiller.fulfil(&claim.order).await {
            Ok(()) => match self
                .act_on_order(claim.order.id, Action::Fulfil, &Actor::System, None, None)
                .await
            {
                Ok(_) => Ok(ClaimOutcome::Fulfilled),
                Err(CartError::InvalidTransition(_)) => Ok(ClaimOutcome::Moved),
                Err(other) => Err(other),
            },
            Err(error) => {
                let pause = backoff(claim.order.fulfilment.attempts);
                let order = self.fulfilment_failed(claim, &error, pause).await?;
                Ok(match order.status {
                    OrderStatus::Failed => ClaimOutcome::DeadLettered,
                    OrderStatus::Paid => ClaimOutcome::RetryAfter(pause),
                    _ => ClaimOutcome::Moved,
                })
            }
        }
    }

    /// Records that fulfilment of a claimed order failed with `error`: it is due again after
    /// `backoff`, or, at the last attempt, fails for good (a dead letter, `order.failed`).
    pub async fn fulfilment_failed(
        &self,
        claim: &FulfilmentClaim,
        error: &str,
        backoff: Duration,
    ) -> Result<Order, CartError> {
        let id = claim.order.id;
        if claim.order.fulfilment.attempts >= self.order_policy().max_fulfilment_attempts {
            return self
                .act_on_order(
                    id,
                    Action::Fail,
                    &Actor::System,
                    Some(error.to_owned()),
                    None,
                )
                .await;
        }
        for _ in 0..MAX_ATTEMPTS {
            let (mut order, version) = self.stored_order(id).await?;
            if order.status != OrderStatus::Paid {
                return Ok(order);
            }
            let now = self.clock.now();
            let mut records = Vec::new();
            if let Some(queued) = order.fulfilment.queued.take() {
                records.push(drop_entry(queued));
            }
            let next = index::fulfil_entry(now + backoff, id);
            order.fulfilment.queued = Some(next.clone());
            order.fulfilment.last_error = Some(error.to_owned());
            order.updated_at = now;
            records.push(index_entry(next));
            records.insert(0, order_write(&mut order, version));
            let commit = Commit {
                writes: Vec::new(),
                events: Vec::new(),
                idempotency: None,
                records,
                at: now,
            };
            match self.store.commit(commit).await {
                Ok(()) => return Ok(order),
                Err(StoreError::RecordConflict { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(CartError::Contended)
    }

    /// One pass of the worker: claims up to `batch` due orders for `lease` and hands each to
    /// `fulfiller`; a success fulfils the order (`order.fulfilled`), a failure is due again
    /// after `backoff(attempts)` or, at the last attempt, fails the order (`order.failed`).
    pub async fn fulfil_due(
        &self,
        fulfiller: &dyn Fulfiller,
        batch: usize,
        lease: Duration,
        backoff: &(dyn Fn(u32) -> Duration + Sync),
    ) -> Result<WorkerPass, CartError> {
        let mut pass = WorkerPass::default();
        for claim in self.claim_fulfilment(batch, lease).await? {
            match self.fulfil_claim(&claim, fulfiller, backoff).await? {
                ClaimOutcome::Fulfilled => pass.fulfilled += 1,
                ClaimOutcome::RetryAfter(_) => pass.retried += 1,
                ClaimOutcome::DeadLettered => pass.failed += 1,
                ClaimOutcome::Moved => {}
            }
        }
        Ok(pass)
    }

    /// Makes every order placed under the guest cart `guest` the user `user`'s, one order per
    /// commit (the order, its old buyer entry gone, its new one written): the orders a guest
    /// placed before signing in are the user's from the merge on. Idempotent, so a merge
    /// retried after a failure here moves what is left. Answers how many moved.
    pub async fn adopt_guest_orders(
        &self,
        guest: &CartKey,
        user: &CartKey,
    ) -> Result<usize, CartError> {
        let Ok(orders) = self.orders() else {
            return Ok(0);
        };
        let prefix = index::owner_prefix(guest);
        let mut moved = 0;
        loop {
            let entries = orders
                .records
                .records(RecordKind::OrderIndex, &prefix, None, 50)
                .await?;
            if entries.is_empty() {
                return Ok(moved);
            }
            for entry in entries {
                let Some(id) = index::order_id_of(&entry.key) else {
                    continue;
                };
                self.adopt_one(id, &entry.key, user).await?;
                moved += 1;
            }
        }
    }

    /// Moves order `id`, listed under `entry`, to `user`.
    async fn adopt_one(&self, id: Uuid, entry: &str, user: &CartKey) -> Result<(), CartError> {
        for _ in 0..MAX_ATTEMPTS {
            let mut records = vec![drop_entry(entry.to_owned())];
            match self.stored_order(id).await {
                Ok((mut order, version)) => {
                    order.buyer.cart_key = user.clone();
                    records.push(index_entry(index::owner_entry(
                        user,
                        order.created_at,
                        order.id,
                    )));
                    records.insert(0, order_write(&mut order, version));
                }
                // An entry whose order is gone: only the entry goes.
                Err(CartError::OrderNotFound) => {}
                Err(other) => return Err(other),
            }
            let commit = Commit {
                writes: Vec::new(),
                events: Vec::new(),
                idempotency: None,
                records,
                at: self.clock.now(),
            };
            match self.store.commit(commit).await {
                Ok(()) => return Ok(()),
                Err(StoreError::RecordConflict { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(CartError::Contended)
    }

    /// Up to `limit` dead letters (orders whose fulfilment failed), after the order `after`.
    pub async fn dead_letters(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Order>, CartError> {
        let records = &self.orders()?.records;
        let after = after.map(index::dead_entry_of);
        let entries = records
            .records(RecordKind::OrderIndex, index::DEAD, after.as_deref(), limit)
            .await?;
        let mut orders = Vec::with_capacity(entries.len());
        for entry in entries {
            if let Some(id) = index::order_id_of(&entry.key) {
                match self.stored_order(id).await {
                    Ok((order, _)) => orders.push(order),
                    Err(CartError::OrderNotFound) => {}
                    Err(other) => return Err(other),
                }
            }
        }
        Ok(orders)
    }
}

/// `order` if `actor` may see it.
fn visible(order: Order, actor: &Actor) -> Result<Order, CartError> {
    match actor {
        Actor::Buyer(key) if *key != order.buyer.cart_key => Err(CartError::OrderNotFound),
        _ => Ok(order),
    }
}
