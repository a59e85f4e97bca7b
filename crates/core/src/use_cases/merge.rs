//! Merging a guest cart into a user cart at sign-in. The guest cart ends in the same
//! atomic commit as the user cart's change, so a retried sign-in never counts twice: a second
//! merge finds no live guest cart and answers the user cart unchanged. The guest cart is
//! ended rather than forgotten ([`Cart::end`]), so the guest key's versions go on. With no live guest cart and
//! no live user cart there is nothing to show: `CART_NOT_FOUND`.

use time::OffsetDateTime;

use crate::cart::Cart;
use crate::cart::merge::MergeReport;
use crate::command::MergeRequest;
use crate::error::CartError;
use crate::events::{EventType, PricingChange};
use crate::ids::{CartKey, UserId};
use crate::outcome::{Merged, Outcome};

use super::change::{self, Change, Decision, RecordAs, UseCase, live_version};
use super::{CartService, WriteOptions};

/// A merge of one guest cart into one user cart.
struct Merge {
    user: CartKey,
    guest: CartKey,
    request: MergeRequest,
}

/// The stored user cart and guest cart (expired or not).
type Pair = (Option<Cart>, Option<Cart>);

impl UseCase for Merge {
    type Read = Pair;

    fn keys(&self) -> (&CartKey, Option<&CartKey>) {
        (&self.user, Some(&self.guest))
    }

    async fn read(&self, service: &CartService, _first: bool) -> Result<Pair, CartError> {
        // Two carts change together here: both are read from the store, never guessed.
        let user = service.store.load_cart(&self.user).await?;
        let guest = service.store.load_cart(&self.guest).await?;
        Ok((user, guest))
    }

    fn live_version((user, _): &Pair, now: OffsetDateTime) -> Option<u64> {
        live_version(user.as_ref(), now)
    }

    fn guessed(_: &Pair) -> bool {
        false
    }

    fn locked_by((user, guest): &Pair, now: OffsetDateTime) -> Option<uuid::Uuid> {
        change::locked_by(user.as_ref(), now).or_else(|| change::locked_by(guest.as_ref(), now))
    }

    fn decide(
        &self,
        service: &CartService,
        (stored_user, stored_guest): Pair,
        now: OffsetDateTime,
    ) -> Result<Decision, CartError> {
        let request = &self.request;
        let user_version = stored_user.as_ref().map(Cart::version);
        let live_user = stored_user.filter(|cart| !cart.is_expired(now));
        let Some(guest) = stored_guest.filter(|cart| !cart.is_expired(now)) else {
            let cart = live_user.ok_or(CartError::CartNotFound)?;
            let report = MergeReport::nothing_to_merge(request.strategy, request.guest.clone());
            return Ok(Decision::Unchanged(Outcome::Merged(Merged {
                cart,
                report,
                dry_run: request.dry_run,
            })));
        };
        let mut events = Vec::new();
        let mut cart = match live_user {
            Some(cart) => cart,
            None => {
                events.push((EventType::CartCreated, None));
                Cart::new(
                    service.ids.cart_id(),
                    self.user.clone(),
                    guest.currency(),
                    now,
                    user_version.unwrap_or(0),
                )
            }
        };
        let lines = cart.absorb(&guest, request.strategy, &service.policy.limits, now)?;
        let report = MergeReport {
            strategy: request.strategy,
            guest_id: request.guest.clone(),
            guest_cart_found: true,
            lines,
        };
        if request.dry_run {
            cart.touch(now, service.policy.user_ttl);
            return Ok(Decision::Unchanged(Outcome::Merged(Merged {
                cart,
                report,
                dry_run: true,
            })));
        }
        events.push((EventType::CartMerged, None));
        Ok(Decision::Changed(Change {
            cart,
            expected_version: user_version,
            events,
            ended: Some(guest),
            pricing: PricingChange::default(),
            checkout: None,
            report: Some(report),
        }))
    }
}

impl CartService {
    /// Before a merge: the guest's orders become the user's. A guest cart locked by a checkout
    /// is refused first (`CART_LOCKED`, as the merge itself would refuse it), so the order
    /// that locked it is never moved away from the cart it must release.
    pub(super) async fn adopt_before_merge(
        &self,
        user: &CartKey,
        request: &MergeRequest,
    ) -> Result<(), CartError> {
        let guest = CartKey::Guest(request.guest.clone());
        let stored = self.store.load_cart(&guest).await?;
        if let Some(order_id) = change::locked_by(stored.as_ref(), self.clock.now()) {
            return Err(CartError::CartLocked { order_id });
        }
        self.adopt_guest_orders(&guest, user).await?;
        Ok(())
    }

    /// Merges the guest cart `request` names into `user`'s cart.
    pub(super) async fn merge(
        &self,
        user: &UserId,
        request: MergeRequest,
        options: &WriteOptions,
        record: Option<RecordAs<'_>>,
    ) -> Result<Outcome, CartError> {
        let merge = Merge {
            user: CartKey::User(user.clone()),
            guest: CartKey::Guest(request.guest.clone()),
            request,
        };
        self.change(&merge, options, record).await
    }
}
