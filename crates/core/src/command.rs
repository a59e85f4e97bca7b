//! The writes a transport can ask for, as domain values. Each transport (REST, GraphQL, later
//! gRPC) parses its own input into a [`Command`] once; the use cases never see a request.
//!
//! A command's [`Command::fingerprint`] is its canonical form: what an idempotency record is
//! compared with, so the same command under the same key is a replay whichever transport sent
//! it, and another command under that key is a misuse.

use std::fmt::Write as _;

use uuid::Uuid;

use crate::cart::AddItem;
use crate::cart::merge::MergeStrategy;
use crate::ids::{CartKey, GuestId};
use crate::promotion_code::PromotionCode;
use crate::quantity::RequestedQuantity;
use crate::region::Region;

/// Sets a line's quantity (1 to the line maximum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetQuantity {
    /// The line.
    pub item_id: Uuid,
    /// Its new quantity.
    pub quantity: RequestedQuantity,
}

/// Removes a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoveItem {
    /// The line.
    pub item_id: Uuid,
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

/// One write to one cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Add units of a catalog product.
    AddItem(AddItem),
    /// Set a line's quantity.
    SetQuantity(SetQuantity),
    /// Remove a line.
    RemoveItem(RemoveItem),
    /// Empty the cart.
    Clear,
    /// Merge a guest cart into this (user) cart.
    Merge(MergeRequest),
    /// Set where the cart ships to.
    SetRegion(Region),
    /// Put a discount code on the cart (the promotion must exist).
    AddDiscountCode(PromotionCode),
    /// Take a discount code off the cart.
    RemoveDiscountCode(PromotionCode),
    /// Give every line the catalog's current price.
    Reprice,
}

/// A condition a write must meet, named by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// REST `If-Match: "<v>"`: a mismatch is `PRECONDITION_FAILED`.
    IfMatch(u64),
    /// REST `If-Match: *`: the cart must exist.
    IfMatchAny,
    /// A `version` in a REST body or GraphQL's `expectedVersion`: a mismatch is `CONFLICT`.
    BodyVersion(u64),
    /// Both `If-Match: "<if_match>"` and a body `version`. HTTP preconditions come first: a cart
    /// not at `if_match` is `PRECONDITION_FAILED`; one at `if_match` but not at `body` (the two
    /// differ) is `CONFLICT`.
    IfMatchAndBody {
        /// The `If-Match` tag's version.
        if_match: u64,
        /// The body's version.
        body: u64,
    },
}

impl Command {
    /// The command's name in its canonical form.
    pub fn name(&self) -> &'static str {
        match self {
            Self::AddItem(_) => "add_item",
            Self::SetQuantity(_) => "set_quantity",
            Self::RemoveItem(_) => "remove_item",
            Self::Clear => "clear",
            Self::Merge(_) => "merge",
            Self::SetRegion(_) => "set_region",
            Self::AddDiscountCode(_) => "add_discount_code",
            Self::RemoveDiscountCode(_) => "remove_discount_code",
            Self::Reprice => "reprice",
        }
    }

    /// The canonical form of this command on `target` under `precondition`: one line of
    /// `name key=value …`, every argument spelled out (defaults included), so two requests
    /// mean the same change exactly when their fingerprints are equal. A version condition is
    /// written the same whether it came as `If-Match` or as a body version: both name the
    /// version the change expects.
    pub fn fingerprint(&self, target: &CartKey, precondition: Option<Precondition>) -> String {
        let mut text = format!("{FINGERPRINT_VERSION} {} cart={target}", self.name());
        // Writing into a String cannot fail.
        let _ = match self {
            Self::AddItem(add) => write!(
                text,
                " product={} variant={} quantity={} unit_price={}",
                add.product_id,
                add.variant_id.as_ref().map_or("-", |v| v.as_str()),
                add.quantity.get(),
                add.asserted_unit_price
                    .map_or_else(|| "-".to_owned(), |p| p.to_string()),
            ),
            Self::SetQuantity(set) => write!(
                text,
                " item={} quantity={}",
                set.item_id,
                set.quantity.get()
            ),
            Self::RemoveItem(remove) => write!(text, " item={}", remove.item_id),
            Self::Clear | Self::Reprice => Ok(()),
            Self::SetRegion(region) => write!(text, " region={region}"),
            Self::AddDiscountCode(code) | Self::RemoveDiscountCode(code) => {
                write!(text, " code={code}")
            }
            Self::Merge(merge) => write!(
                text,
                " guest={} strategy={} dry_run={}",
                merge.guest.as_str(),
                merge.strategy.as_str(),
                merge.dry_run
            ),
        };
        let _ = match precondition {
            None => write!(text, " expected_version=-"),
            Some(Precondition::IfMatchAny) => write!(text, " expected_version=*"),
            Some(Precondition::IfMatch(v) | Precondition::BodyVersion(v)) => {
                write!(text, " expected_version={v}")
            }
            Some(Precondition::IfMatchAndBody { if_match, body }) => {
                write!(text, " expected_version={if_match}&{body}")
            }
        };
        text
    }
}

/// The first word of every fingerprint: a record whose fingerprint starts otherwise was
/// written by an older build (a digest of an HTTP request) and is compared with the digest the
/// transport computes the old way.
pub const FINGERPRINT_VERSION: &str = "cmd1";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ProductId;

    fn add(quantity: u64, price: Option<i64>) -> Command {
        Command::AddItem(AddItem {
            product_id: ProductId::parse("book-1").expect("id"),
            variant_id: None,
            quantity: RequestedQuantity::new(quantity).expect("positive"),
            asserted_unit_price: price,
        })
    }

    fn cart() -> CartKey {
        CartKey::parse("alice").expect("key")
    }

    #[test]
    fn a_fingerprint_names_every_argument_and_the_target() {
        let text = add(2, Some(1500)).fingerprint(&cart(), None);
        assert_eq!(
            text,
            "cmd1 add_item cart=alice product=book-1 variant=- quantity=2 unit_price=1500 \
             expected_version=-"
        );
    }

    #[test]
    fn commands_that_differ_in_anything_have_different_fingerprints() {
        let base = add(2, None).fingerprint(&cart(), None);
        let others = [
            add(3, None).fingerprint(&cart(), None),
            add(2, Some(0)).fingerprint(&cart(), None),
            add(2, None).fingerprint(&CartKey::parse("bob").expect("key"), None),
            add(2, None).fingerprint(&cart(), Some(Precondition::IfMatch(4))),
            add(2, None).fingerprint(&cart(), Some(Precondition::IfMatchAny)),
            Command::Clear.fingerprint(&cart(), None),
            Command::Reprice.fingerprint(&cart(), None),
            Command::SetRegion(Region::parse("FR").expect("region")).fingerprint(&cart(), None),
            Command::AddDiscountCode(PromotionCode::parse("SAVE10").expect("code"))
                .fingerprint(&cart(), None),
            Command::RemoveDiscountCode(PromotionCode::parse("SAVE10").expect("code"))
                .fingerprint(&cart(), None),
        ];
        let distinct: std::collections::BTreeSet<&String> =
            std::iter::once(&base).chain(&others).collect();
        assert_eq!(distinct.len(), others.len() + 1, "{others:#?}");
    }

    #[test]
    fn a_version_condition_is_the_same_whichever_way_it_was_sent() {
        assert_eq!(
            Command::Clear.fingerprint(&cart(), Some(Precondition::IfMatch(3))),
            Command::Clear.fingerprint(&cart(), Some(Precondition::BodyVersion(3)))
        );
    }
}
