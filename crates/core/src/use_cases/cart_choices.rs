//! The shopper's pricing choices on a cart: where it ships to and which discount codes it holds.
//! Each needs a live cart (there is nothing to price without one) and changes nothing when the
//! cart already is as asked, so a retried choice is not a second change.

use time::OffsetDateTime;

use crate::error::CartError;
use crate::events::{EventType, PricingChange};
use crate::ids::CartKey;
use crate::outcome::Outcome;
use crate::ports::{LoadedCart, PricingKind};
use crate::promotion_code::PromotionCode;
use crate::region::Region;

use super::change::{Change, Decision, OnOneCart, RecordAs, live_cart};
use super::{CartService, WriteOptions};

/// One choice.
enum Choice {
    /// Ship to this region.
    Region(Region),
    /// Put this code on the cart.
    AddCode(PromotionCode),
    /// Take this code off.
    RemoveCode(PromotionCode),
}

/// A choice made on one cart.
struct Choose<'a> {
    key: &'a CartKey,
    choice: Choice,
}

impl OnOneCart for Choose<'_> {
    fn key(&self) -> &CartKey {
        self.key
    }

    fn decide(
        &self,
        _service: &CartService,
        read: LoadedCart,
        now: OffsetDateTime,
    ) -> Result<Decision, CartError> {
        let mut cart = live_cart(read.cart, now)?;
        let version = cart.version();
        let (event, pricing) = match &self.choice {
            Choice::Region(region) => {
                if cart.region() == Some(region) {
                    return Ok(Decision::Unchanged(Outcome::Cart(Some(cart))));
                }
                cart.set_region(region.clone());
                let pricing = PricingChange {
                    region: Some(region.clone()),
                    ..PricingChange::default()
                };
                (EventType::RegionSet, pricing)
            }
            Choice::AddCode(code) => {
                if !cart.add_discount_code(code.clone())? {
                    return Ok(Decision::Unchanged(Outcome::Cart(Some(cart))));
                }
                (EventType::DiscountCodeAdded, code_change(code))
            }
            Choice::RemoveCode(code) => {
                cart.remove_discount_code(code)?;
                (EventType::DiscountCodeRemoved, code_change(code))
            }
        };
        Ok(Decision::Changed(Change {
            cart,
            expected_version: Some(version),
            events: vec![(event, None)],
            ended: None,
            report: None,
            pricing,
            checkout: None,
        }))
    }
}

fn code_change(code: &PromotionCode) -> PricingChange {
    PricingChange {
        discount_code: Some(code.clone()),
        ..PricingChange::default()
    }
}

impl CartService {
    /// Sets where the cart under `key` ships to.
    pub(super) async fn set_region(
        &self,
        key: &CartKey,
        region: Region,
        options: &WriteOptions,
        record: Option<RecordAs<'_>>,
    ) -> Result<Outcome, CartError> {
        let choose = Choose {
            key,
            choice: Choice::Region(region),
        };
        self.change(&choose, options, record).await
    }

    /// Puts a discount code on the cart under `key`. The code must name a promotion now
    /// (`PROMOTION_NOT_FOUND` otherwise, and nothing changes); whether it applies is for the
    /// totals to say, as that changes with the cart and the clock.
    pub(super) async fn add_discount_code(
        &self,
        key: &CartKey,
        code: PromotionCode,
        options: &WriteOptions,
        record: Option<RecordAs<'_>>,
    ) -> Result<Outcome, CartError> {
        let known = self
            .pricing
            .setting(PricingKind::Promotion, code.as_str())
            .await?;
        if known.is_none() {
            return Err(CartError::PromotionNotFound(code));
        }
        let choose = Choose {
            key,
            choice: Choice::AddCode(code),
        };
        self.change(&choose, options, record).await
    }

    /// Takes a discount code off the cart under `key` (whether or not its promotion still
    /// exists).
    pub(super) async fn remove_discount_code(
        &self,
        key: &CartKey,
        code: PromotionCode,
        options: &WriteOptions,
        record: Option<RecordAs<'_>>,
    ) -> Result<Outcome, CartError> {
        let choose = Choose {
            key,
            choice: Choice::RemoveCode(code),
        };
        self.change(&choose, options, record).await
    }
}
