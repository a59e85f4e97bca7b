//! How the embedded store keeps a cart in the `doc` column of `carts`.
//!
//! A cart is written as a BLOB: one format byte ([`BINARY_V3`]) and then the cart in
//! [postcard](https://postcard.jamesmunns.com/wire-format), whose timestamps are
//! `(seconds, nanoseconds)` pairs and whose ids are length-prefixed bytes. Carts are rewritten
//! whole on every change, and SQLite writes every page a change touches twice (to the WAL and,
//! at the checkpoint, to the database): as JSON a 15-line cart was ~4 KB, more than a page, so
//! each add wrote a leaf and an overflow page; in this form the same cart is about a quarter of
//! that, one page per write, and encoding and decoding it costs a fraction of JSON's
//! (`docs/PERFORMANCE.md` has the figures).
//!
//! postcard is not self-describing, so the format byte says which layout follows; a change to
//! `Cart`'s fields needs a new format number and a decoder for the old one. Form 1 is form 2
//! without the two fields carts gained with pricing (region, discount codes) at the end, and
//! form 2 is form 3 without the checkout lock at the end: see [`decode`]. Databases written before the binary forms hold JSON text, which is still read;
//! such a cart becomes a BLOB on its next write. The other stores keep JSON, which their
//! operators query.

use rusqlite::types::ValueRef;
use serde::Serialize;
use serde::de::DeserializeOwned;

use cart_core::{Cart, StoreError};

/// The first byte of a cart (or an event) written in the first binary form.
pub(super) const BINARY_V1: u8 = 1;

/// The first byte of a cart (or an event) written in the second binary form.
pub(super) const BINARY_V2: u8 = 2;

/// The first byte of a cart (or an event) written in the current binary form.
pub(super) const BINARY_V3: u8 = 3;

/// What postcard writes for a `None`: one zero byte. A form-2 cart is form 3 without its
/// checkout lock; a form-2 event, form 3 without its order.
pub(super) const NONE: [u8; 1] = [0];

/// What postcard writes for a `None` and for an empty sequence (a zero length): one zero byte
/// each ([wire format](https://postcard.jamesmunns.com/wire-format)).
const NONE_AND_EMPTY: [u8; 2] = [0, 0];

/// The bytes to store for `cart`.
pub(super) fn encode(cart: &Cart) -> Result<Vec<u8>, StoreError> {
    // About 80 bytes a line in practice: one allocation for most carts.
    encode_versioned(BINARY_V3, cart, 64 + 96 * cart.items().len())
        .map_err(|e| StoreError::Internal(format!("cannot encode a cart: {e}")))
}

/// `value` in postcard after the `format` byte, into a buffer of `capacity` bytes to start with.
pub(super) fn encode_versioned<T: Serialize + ?Sized>(
    format: u8,
    value: &T,
    capacity: usize,
) -> postcard::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(capacity);
    bytes.push(format);
    postcard::serialize_with_flavor(value, Buffer(bytes))
}

/// postcard's output into a `Vec`, byte by byte with `push` and slice by slice with
/// `extend_from_slice`. postcard's own `to_extend` hands every byte to `Extend` as a one-byte
/// array, which compiles to a `memcpy` call per byte of every cart written (it showed in the
/// add path's profile), and its `AllocVec` cannot start from a sized buffer holding the format
/// byte.
struct Buffer(Vec<u8>);

impl postcard::ser_flavors::Flavor for Buffer {
    type Output = Vec<u8>;

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.0)
    }
}

/// The cart stored as `value`: a BLOB in a known binary form, or JSON text from before them.
///
/// Form 1 ends where form 2 goes on with the cart's region and discount codes, and form 2
/// where form 3 goes on with its checkout lock, so an older cart is read as form 3 with none
/// of the later fields appended: the bytes postcard would have written for them.
pub(super) fn decode(value: ValueRef<'_>) -> Result<Cart, StoreError> {
    decode_versioned(value, "cart", |format, bytes| match format {
        BINARY_V1 => Some(postcard::from_bytes(
            &[bytes, &NONE_AND_EMPTY[..], &NONE[..]].concat(),
        )),
        BINARY_V2 => Some(postcard::from_bytes(&[bytes, &NONE[..]].concat())),
        BINARY_V3 => Some(postcard::from_bytes(bytes)),
        _ => None,
    })
}

/// A stored `what` (a cart, an event): a BLOB of a format byte and postcard, read by `binary`
/// (given the format byte and the rest; `None` for a form it does not know), or JSON text from
/// before the binary forms.
pub(super) fn decode_versioned<T: DeserializeOwned>(
    value: ValueRef<'_>,
    what: &str,
    binary: impl FnOnce(u8, &[u8]) -> Option<postcard::Result<T>>,
) -> Result<T, StoreError> {
    match value {
        ValueRef::Blob([format, rest @ ..]) => match binary(*format, rest) {
            Some(read) => read.map_err(|e| {
                StoreError::Internal(format!("stored {what} (binary form {format}): {e}"))
            }),
            None => Err(StoreError::Internal(format!(
                "stored {what} in an unknown binary form {format}; written by a newer cartd?"
            ))),
        },
        ValueRef::Blob([]) => Err(StoreError::Internal(format!("stored {what} is empty"))),
        ValueRef::Text(json) => serde_json::from_slice(json)
            .map_err(|e| StoreError::Internal(format!("stored {what} (JSON): {e}"))),
        other => Err(StoreError::Internal(format!(
            "stored {what} has the SQLite type {:?}",
            other.data_type()
        ))),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use time::macros::datetime;
    use uuid::Uuid;

    use cart_core::{
        AddItem, CartKey, Currency, Limits, Price, Product, ProductId, RequestedQuantity,
    };

    use super::*;

    /// A cart of `lines` lines with ordinary names (and a non-ASCII part), for codec tests.
    pub(in crate::sqlite) fn cart_with_lines(lines: usize) -> Cart {
        let key = CartKey::parse("guest_01HZX3K4B5C6D7E8F9G0H1J2K3").expect("key");
        let usd = Currency::parse("USD").expect("usd");
        let at = datetime!(2026-12-01 08:53:01.123456789 UTC);
        let mut cart = Cart::new(Uuid::now_v7(), key, usd, at, 0);
        let limits = Limits::new(99, 100).expect("limits");
        for n in 0..lines {
            let id = ProductId::parse(&format!("book-{n:03}-pb")).expect("id");
            let product = Product {
                id: id.clone(),
                name: format!("A Book With A Title Of Ordinary Length, No. {n} — ünïcödé").into(),
                price: Price::new(1_299, usd).expect("price"),
                active: true,
                stock: None,
                tax_class: Default::default(),
            };
            let command = AddItem {
                product_id: id,
                variant_id: None,
                quantity: RequestedQuantity::new(3).expect("quantity"),
                asserted_unit_price: None,
            };
            cart.add(&command, &product, &limits, Uuid::now_v7(), at)
                .expect("add");
        }
        cart
    }

    #[test]
    fn a_cart_reads_back_equal_to_what_was_written() {
        for lines in [0, 1, 15, 100] {
            let cart = cart_with_lines(lines);
            let bytes = encode(&cart).expect("encode");
            assert_eq!(bytes[0], BINARY_V3);
            assert_eq!(decode(ValueRef::Blob(&bytes)).expect("decode"), cart);
        }
    }

    #[test]
    fn a_locked_cart_reads_back_locked() {
        let mut cart = cart_with_lines(2);
        let order_id = Uuid::now_v7();
        cart.lock_for(order_id);
        let bytes = encode(&cart).expect("encode");
        let read = decode(ValueRef::Blob(&bytes)).expect("decode");
        assert_eq!(read.checkout().map(|lock| lock.order_id), Some(order_id));
        assert_eq!(read, cart);
    }

    #[test]
    fn carts_written_in_the_second_binary_form_still_read() {
        let mut cart = cart_with_lines(2);
        cart.set_region(cart_core::Region::parse("FR").expect("region"));
        let current = encode(&cart).expect("encode");
        assert_eq!(current[current.len() - 1], 0, "no checkout lock");
        let mut second_form = current[..current.len() - 1].to_vec();
        second_form[0] = BINARY_V2;
        assert_eq!(decode(ValueRef::Blob(&second_form)).expect("decode"), cart);
    }

    #[test]
    fn a_cart_with_a_region_and_codes_reads_back_equal() {
        let mut cart = cart_with_lines(2);
        cart.set_region(cart_core::Region::parse("US-CA").expect("region"));
        for code in ["SAVE10", "FREESHIP"] {
            let code = cart_core::PromotionCode::parse(code).expect("code");
            cart.add_discount_code(code).expect("room");
        }
        let bytes = encode(&cart).expect("encode");
        assert_eq!(decode(ValueRef::Blob(&bytes)).expect("decode"), cart);
    }

    #[test]
    fn carts_written_in_the_first_binary_form_still_read() {
        // Form 1 was `Cart` without its last three fields, so a form-1 cart is this build's
        // encoding of a cart with none, less their three bytes.
        let cart = cart_with_lines(3);
        let current = encode(&cart).expect("encode");
        assert_eq!(
            &current[current.len() - 3..],
            &[0, 0, 0],
            "no region, no codes, no lock"
        );
        let mut first_form = current[..current.len() - 3].to_vec();
        first_form[0] = BINARY_V1;
        assert_eq!(decode(ValueRef::Blob(&first_form)).expect("decode"), cart);
    }

    #[test]
    fn carts_written_as_json_before_the_binary_form_still_read() {
        let cart = cart_with_lines(3);
        let json = serde_json::to_string(&cart).expect("json");
        assert_eq!(
            decode(ValueRef::Text(json.as_bytes())).expect("decode"),
            cart
        );
    }

    #[test]
    fn a_fifteen_line_cart_fits_well_within_one_page() {
        let cart = cart_with_lines(15);
        let binary = encode(&cart).expect("encode").len();
        let json = serde_json::to_vec(&cart).expect("json").len();
        assert!(binary < 2_048, "{binary} bytes");
        assert!(binary * 2 < json, "{binary} bytes against {json} as JSON");
    }

    #[test]
    fn unknown_forms_and_damaged_bytes_are_errors_not_panics() {
        let bytes = encode(&cart_with_lines(2)).expect("encode");
        assert_damage_is_refused(&bytes, decode);
    }

    /// `decode` refuses, without panicking, `bytes` under a newer format byte, every
    /// truncation of them, a value of another SQLite type and broken JSON.
    pub(in crate::sqlite) fn assert_damage_is_refused<T>(
        bytes: &[u8],
        decode: impl Fn(ValueRef<'_>) -> Result<T, StoreError>,
    ) {
        let mut newer = bytes.to_vec();
        newer[0] = BINARY_V3 + 1;
        assert!(decode(ValueRef::Blob(&newer)).is_err());
        for cut in 0..bytes.len() {
            assert!(
                decode(ValueRef::Blob(&bytes[..cut])).is_err(),
                "cut at {cut}"
            );
        }
        assert!(decode(ValueRef::Integer(7)).is_err());
        assert!(decode(ValueRef::Text(b"{not json")).is_err());
    }
}
