//! A cart's lines, shared between copies of the cart until one of them changes.
//!
//! A caching store keeps the cart this process committed last in memory and the service hands a
//! copy to the caller that renders it. Copying the lines themselves (a vector and two strings per
//! line) on every add showed in the add path's profile; sharing them makes that copy a
//! reference count, and the next change of the remembered cart copies them only if a reader
//! still holds them then. `Arc::make_mut` is that copy-on-write: no crate is needed.
//!
//! The copy used to have one side effect worth keeping: a cloned vector has no spare room, so
//! the remembered carts held exactly their lines. Shared, the remembered vector is the one that
//! grew by doubling, and the spare room pushed peak RSS under the add benchmark past the
//! memory target. So `Cart::add` grows the lines one slot at a time (`reserve_exact`).

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::LineItem;

/// The lines of a cart, in the order they were first added. Reads see a `Vec`; a change
/// first takes the lines for this cart alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Lines(Arc<Vec<LineItem>>);

impl Deref for Lines {
    type Target = Vec<LineItem>;

    fn deref(&self) -> &Vec<LineItem> {
        &self.0
    }
}

impl DerefMut for Lines {
    /// Copies the lines first if another copy of the cart shares them.
    fn deref_mut(&mut self) -> &mut Vec<LineItem> {
        Arc::make_mut(&mut self.0)
    }
}

/// As the `Vec` it holds, so stored carts keep their form.
impl Serialize for Lines {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.as_slice().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Lines {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::deserialize(deserializer).map(|lines| Self(Arc::new(lines)))
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;
    use crate::ids::ProductId;
    use crate::quantity::Quantity;

    fn line(product: &str) -> LineItem {
        LineItem {
            item_id: Uuid::nil(),
            product_id: ProductId::parse(product).expect("product id"),
            variant_id: None,
            name: product.into(),
            quantity: Quantity::try_from(1).expect("one"),
            unit_price: 100,
            added_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_copy_shares_the_lines_until_one_side_changes_them() {
        let mut original = Lines::default();
        original.push(line("book-1"));
        let copy = original.clone();
        assert!(Arc::ptr_eq(&original.0, &copy.0), "a copy costs no lines");

        original.push(line("book-2"));
        assert_eq!(original.len(), 2);
        assert_eq!(copy.len(), 1, "the copy keeps what it was");
        assert!(!Arc::ptr_eq(&original.0, &copy.0));
    }

    #[test]
    fn an_added_line_grows_the_lines_by_one_slot_not_by_double() {
        let cart = super::super::tests::cart_with_lines(33);
        // Remembered carts are bounded in bytes; doubling would hold up to twice their lines
        // in memory (64 slots for 33 lines here).
        assert_eq!(cart.items.len(), 33);
        assert!(cart.items.capacity() <= 34, "{}", cart.items.capacity());
    }

    #[test]
    fn lines_serialize_as_a_plain_list() {
        let mut lines = Lines::default();
        lines.push(line("book-1"));
        let json = serde_json::to_string(&lines).expect("json");
        assert_eq!(
            json,
            serde_json::to_string(&vec![line("book-1")]).expect("json")
        );
        let back: Lines = serde_json::from_str(&json).expect("back");
        assert_eq!(back, lines);
    }
}
