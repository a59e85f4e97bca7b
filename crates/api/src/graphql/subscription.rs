//! `Subscription`: live cart changes from [`cart_events::live::LiveFeed`].
//!
//! The feed is filled from the event stream (the relay, or the broker), never by the handler
//! that made a change, so a subscriber sees what was committed, in per-cart order, however the
//! change was made (REST, GraphQL, another replica). Each subscriber filters the feed by its
//! cart key and reads the cart itself. A subscriber that falls more than the feed's capacity
//! behind is ended with `SLOW_SUBSCRIBER` instead of being buffered without bound.

use std::sync::Arc;

use async_graphql::futures_util::Stream;
use async_graphql::futures_util::stream;
use async_graphql::{Context, ID, Result, Subscription as SubscriptionRoot};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use cart_core::CartKey;
use cart_events::live::CartChange;

use crate::graphql::context::{caller, state};
use crate::graphql::error::{GraphqlCode, coded, gql_error};
use crate::graphql::read;
use crate::graphql::types::{CartUpdate, Order, OrderUpdate, int32};
use crate::problem::Code;
use crate::state::AppState;

/// The subscriptions one WebSocket connection may still open (connection data, see
/// [`crate::graphql::ws`]).
#[derive(Debug, Clone)]
pub struct SubscriptionSlots(pub Arc<Semaphore>);

/// The root of live updates.
pub struct Subscription;

/// Live updates over WebSocket (`/graphql/ws`, `graphql-transport-ws`).
#[SubscriptionRoot]
impl Subscription {
    /// Every change to one cart from now on (newer than the cart the subscription began with):
    /// its event type and version, and the cart as it is then (null once it is gone). `key` as
    /// in `cart(key:)`, with the same authorization.
    /// `TOO_MANY_SUBSCRIPTIONS` when the connection holds its maximum; the stream ends with
    /// `SLOW_SUBSCRIBER` if the client reads too slowly to keep up.
    async fn cart_updated(
        &self,
        ctx: &Context<'_>,
        key: ID,
    ) -> Result<impl Stream<Item = Result<CartUpdate>> + use<>> {
        let state = state(ctx)?.clone();
        let key = caller(ctx).cart_key(&key).map_err(gql_error)?;
        let permit = slot(ctx, &state)?;
        // Subscribe before reading, so no change committed after the read is missed.
        let changes = state.live.subscribe();
        // A cart not there yet (or gone) has seen nothing: a key's versions never repeat, so
        // its next cart's events are all newer.
        let seen = state
            .service
            .get(&key)
            .await
            .map_or(0, |cart| cart.version());
        let watch = Watch {
            changes,
            state,
            key,
            seen,
            _permit: permit,
        };
        Ok(stream::unfold(Some(watch), |watch| async move {
            let mut watch = watch?;
            let (update, last) = watch.next().await?;
            Some((update, (!last).then_some(watch)))
        }))
    }

    /// Every change to one order from now on (paid, payment failed, expired, cancelled,
    /// fulfilled, failed): the event type, the order's version, and the order then. Its buyer
    /// (a token, or the `guestId` it was placed under) or an admin; anyone else's order is
    /// `ORDER_NOT_FOUND`.
    async fn order_updated(
        &self,
        ctx: &Context<'_>,
        id: ID,
        guest_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<OrderUpdate>> + use<>> {
        let state = state(ctx)?.clone();
        let order_id = crate::routes::orders::order_id(&id).map_err(gql_error)?;
        let actor =
            crate::routes::orders::actor(&caller(ctx), guest_id.as_ref().map(|g| g.as_str()))
                .map_err(gql_error)?;
        let permit = slot(ctx, &state)?;
        // Subscribe before reading, so no change committed after the read is missed.
        let changes = state.live.subscribe();
        // The order must exist and be the caller's before anything is watched.
        let seen = state
            .service
            .order(order_id, &actor)
            .await
            .map_err(|e| gql_error(e.into()))?
            .version;
        let watch = OrderWatch {
            changes,
            state,
            id: order_id,
            actor,
            seen,
            _permit: permit,
        };
        Ok(stream::unfold(Some(watch), |watch| async move {
            let mut watch = watch?;
            let (update, last) = watch.next().await?;
            Some((update, (!last).then_some(watch)))
        }))
    }
}

/// One order subscription: the feed, filtered to one order's events.
struct OrderWatch {
    changes: Receiver<CartChange>,
    state: AppState,
    id: uuid::Uuid,
    actor: cart_core::use_cases::Actor,
    /// The order's version when the subscription began: the feed is filled by the relay,
    /// which may still be publishing events committed before it, and those are not "from now
    /// on".
    seen: u64,
    _permit: OwnedSemaphorePermit,
}

impl OrderWatch {
    /// The next update of the order, and whether it is the last.
    async fn next(&mut self) -> Option<(Result<OrderUpdate>, bool)> {
        let subject = self.id.to_string();
        let seen = self.seen;
        let change = next_change(&mut self.changes, "order", |change| {
            change.cart_key == subject
                && change.event_type.starts_with("order.")
                && change.version > seen
        })
        .await?;
        Some(match change {
            Ok(change) => (self.update(change).await, false),
            Err(error) => (Err(error), true),
        })
    }

    async fn update(&self, change: CartChange) -> Result<OrderUpdate> {
        let order = self
            .state
            .service
            .order(self.id, &self.actor)
            .await
            .map_err(|e| gql_error(e.into()))?;
        Ok(OrderUpdate {
            event_type: change.event_type,
            version: int32(change.version, "version")?,
            order: Some(Order(crate::order_dto::OrderView::new(&order, false))),
        })
    }
}

/// The next change on the feed that `matches`; `SLOW_SUBSCRIBER` (the end of the watch) when
/// the subscriber fell behind the feed, `None` when the feed closes. `what` names the watched
/// thing in the error (`cart`, `order`).
async fn next_change(
    changes: &mut Receiver<CartChange>,
    what: &str,
    matches: impl Fn(&CartChange) -> bool,
) -> Option<Result<CartChange>> {
    loop {
        match changes.recv().await {
            Ok(change) if matches(&change) => return Some(Ok(change)),
            Ok(_) => {}
            Err(RecvError::Lagged(missed)) => {
                return Some(Err(coded(
                    GraphqlCode::SlowSubscriber,
                    format!(
                        "the subscriber fell {missed} changes behind and was dropped; \
                         read the {what} and subscribe again"
                    ),
                )));
            }
            Err(RecvError::Closed) => return None,
        }
    }
}

/// Takes one of the connection's subscription slots, or refuses with `TOO_MANY_SUBSCRIPTIONS`.
fn slot(ctx: &Context<'_>, state: &AppState) -> Result<OwnedSemaphorePermit> {
    let SubscriptionSlots(slots) = ctx.data::<SubscriptionSlots>()?;
    slots.clone().try_acquire_owned().map_err(|_| {
        coded(
            GraphqlCode::TooManySubscriptions,
            format!(
                "this connection already holds {} subscriptions; complete one first",
                state.graphql.max_subscriptions_per_connection
            ),
        )
    })
}

/// One subscription: the feed, filtered to one cart.
struct Watch {
    changes: Receiver<CartChange>,
    state: AppState,
    key: CartKey,
    /// The cart's version when the subscription began (see [`OrderWatch::seen`]).
    seen: u64,
    /// Holds one of the connection's slots until the subscription ends.
    _permit: OwnedSemaphorePermit,
}

impl Watch {
    /// The next update of the cart, and whether it is the last (a slow subscriber's error);
    /// `None` when the feed closes. A failure to read the cart is reported and the watch goes
    /// on: the next change may read fine.
    async fn next(&mut self) -> Option<(Result<CartUpdate>, bool)> {
        let key = self.key.as_str().to_owned();
        let seen = self.seen;
        let change = next_change(&mut self.changes, "cart", |change| {
            change.cart_key == key && change.version > seen
        })
        .await?;
        Some(match change {
            Ok(change) => (self.update(change).await, false),
            Err(error) => (Err(error), true),
        })
    }

    async fn update(&self, change: CartChange) -> Result<CartUpdate> {
        let cart = match read::cart(&self.state, &self.key).await {
            Ok(cart) => Some(cart),
            Err(error) if matches!(error.code(), Code::CartNotFound | Code::CartExpired) => None,
            Err(error) => return Err(gql_error(error)),
        };
        Ok(CartUpdate {
            event_type: change.event_type,
            version: int32(change.version, "version")?,
            cart,
        })
    }
}
