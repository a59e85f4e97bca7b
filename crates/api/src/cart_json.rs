//! A cart's JSON (the [`CartView`](crate::dto::CartView) shape) written straight into a buffer.
//!
//! Every write answers with the whole cart, so rendering it is on the add path of every request.
//! Through serde, each of a line's fourteen strings (nine of them field names) went through
//! serde_json's byte-by-byte escaping scan, and the view collected its lines into a vector
//! first, which made rendering one of the larger shares of an add's CPU (`docs/PERFORMANCE.md`
//! has the figures). Here the field names are literals, ids and timestamps are copied after one
//! check that they need no escaping, and only text that does (a product name with a quote, say)
//! goes through serde_json.
//!
//! `CartView`'s `Serialize` stays the reference: it documents the shape (utoipa), renders merge
//! answers, and a property test holds this writer's bytes equal to its output.

use time::OffsetDateTime;
use uuid::Uuid;

use cart_core::timestamp::Rfc3339Text;
use cart_core::{Cart, LineItem, Owner};

/// Appends `cart` as JSON to `out`: the same bytes as `serde_json::to_writer(out,
/// &CartView::from(cart))`.
pub fn write_cart(out: &mut Vec<u8>, cart: &Cart) {
    let totals = cart.totals();
    out.extend_from_slice(b"{\"id\":");
    write_uuid(out, cart.id());
    out.extend_from_slice(b",\"user_id\":");
    write_str(out, cart.key().as_str());
    out.extend_from_slice(match cart.key().owner() {
        Owner::User => b",\"owner\":\"user\"",
        Owner::Guest => b",\"owner\":\"guest\"",
    });
    out.extend_from_slice(b",\"currency\":");
    write_str(out, cart.currency().as_str());
    out.extend_from_slice(b",\"items\":[");
    for (n, line) in cart.items().iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_line(out, line);
    }
    out.extend_from_slice(b"],\"item_count\":");
    write_int(out, totals.item_count);
    out.extend_from_slice(b",\"total_quantity\":");
    write_int(out, totals.total_quantity);
    out.extend_from_slice(b",\"total_price\":");
    write_int(out, totals.total_price);
    out.extend_from_slice(b",\"version\":");
    write_int(out, cart.version());
    out.extend_from_slice(b",\"created_at\":");
    write_time(out, cart.created_at());
    out.extend_from_slice(b",\"updated_at\":");
    write_time(out, cart.updated_at());
    out.extend_from_slice(b",\"expires_at\":");
    write_time(out, cart.expires_at());
    out.push(b'}');
}

/// One line, as `ItemView` serializes it.
fn write_line(out: &mut Vec<u8>, line: &LineItem) {
    out.extend_from_slice(b"{\"item_id\":");
    write_uuid(out, line.item_id());
    out.extend_from_slice(b",\"product_id\":");
    write_str(out, line.product_id().as_str());
    out.extend_from_slice(b",\"variant_id\":");
    match line.variant_id() {
        Some(variant) => write_str(out, variant.as_str()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"name\":");
    write_str(out, line.name());
    out.extend_from_slice(b",\"quantity\":");
    write_int(out, line.quantity().get());
    out.extend_from_slice(b",\"unit_price\":");
    write_int(out, line.unit_price());
    out.extend_from_slice(b",\"subtotal\":");
    write_int(out, line.subtotal());
    out.extend_from_slice(b",\"added_at\":");
    write_time(out, line.added_at());
    out.extend_from_slice(b",\"updated_at\":");
    write_time(out, line.updated_at());
    out.push(b'}');
}

/// A JSON string: copied between quotes when no byte needs escaping (serde_json escapes only
/// `"`, `\` and control characters), otherwise escaped by serde_json itself.
fn write_str(out: &mut Vec<u8>, text: &str) {
    if !needs_escaping(text) {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        // Writing a `str` into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    }
}

/// Whether serde_json would escape any byte of `text`. A fold without an early exit, which the
/// compiler turns into vector instructions; `all` stops at the first hit and so goes byte by
/// byte, and this check runs over every id and timestamp of every rendered cart.
fn needs_escaping(text: &str) -> bool {
    text.bytes().fold(false, |found, b| {
        found | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

fn write_uuid(out: &mut Vec<u8>, id: Uuid) {
    let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
    out.push(b'"');
    out.extend_from_slice(id.hyphenated().encode_lower(&mut text).as_bytes());
    out.push(b'"');
}

/// As `dto`'s `rfc3339`: an empty string for a time RFC 3339 cannot express.
fn write_time(out: &mut Vec<u8>, at: OffsetDateTime) {
    out.push(b'"');
    if let Ok(text) = Rfc3339Text::new(at) {
        out.extend_from_slice(text.as_str().as_bytes());
    }
    out.push(b'"');
}

fn write_int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::datetime;

    use cart_core::{
        AddItem, CartKey, Currency, Limits, Price, Product, ProductId, RequestedQuantity, VariantId,
    };

    use super::*;
    use crate::dto::CartView;

    fn serde_bytes(cart: &Cart) -> String {
        serde_json::to_string(&CartView::from(cart)).expect("serde")
    }

    fn direct_bytes(cart: &Cart) -> String {
        let mut out = Vec::new();
        write_cart(&mut out, cart);
        String::from_utf8(out).expect("utf-8")
    }

    /// A cart of `names.len()` lines with those product names, every other line with a variant,
    /// touched `touches` times afterwards (each touch moves its update and expiry times).
    fn cart_named(key: &str, currency: &str, names: &[String], touches: u32) -> Cart {
        let key = CartKey::parse(key).expect("key");
        let currency = Currency::parse(currency).expect("currency");
        let at = datetime!(2026-12-01 08:53:01.120 +01:00);
        let mut cart = Cart::new(Uuid::now_v7(), key, currency, at, 0);
        let limits = Limits::new(99, 100).expect("limits");
        for (n, name) in names.iter().enumerate() {
            let id = ProductId::parse(&format!("p-{n}.x:y-{n}")).expect("id");
            let product = Product {
                id: id.clone(),
                name: name.as_str().into(),
                price: Price::new(i64::try_from(n).expect("n") * 1_001 + 7, currency)
                    .expect("price"),
                active: true,
                stock: None,
            };
            let command = AddItem {
                product_id: id,
                variant_id: (n % 2 == 1).then(|| VariantId::parse("size:XL").expect("variant")),
                quantity: RequestedQuantity::new(u64::try_from(n % 9 + 1).expect("q"))
                    .expect("quantity"),
                asserted_unit_price: None,
            };
            let when = at + time::Duration::nanoseconds(i64::try_from(n).expect("n") * 123_457);
            cart.add(&command, &product, &limits, Uuid::now_v7(), when)
                .expect("add");
        }
        for n in 0..touches {
            let later = at + time::Duration::milliseconds(i64::from(n) * 7_001 + 1);
            cart.touch(later, time::Duration::days(7));
        }
        cart
    }

    #[test]
    fn an_empty_cart_and_a_user_cart_render_as_serde_does() {
        for (key, currency) in [
            ("guest_01HZX3K4B5C6D7E8F9G0H1J2K3", "USD"),
            ("alice@example.com|x:1", "EUR"),
        ] {
            let cart = cart_named(key, currency, &[], 0);
            assert_eq!(direct_bytes(&cart), serde_bytes(&cart));
        }
    }

    #[test]
    fn names_that_need_escaping_render_as_serde_does() {
        let names: Vec<String> = [
            "plain",
            "with \"quotes\"",
            "back\\slash",
            "tab\tand\nnewline\u{1}",
            "ünïcödé — 書 🦀",
            "\u{7f} delete is not escaped",
            "",
        ]
        .map(str::to_owned)
        .to_vec();
        let cart = cart_named("guest_01HZX3K4B5C6D7E8F9G0H1J2K3", "JPY", &names, 0);
        assert_eq!(direct_bytes(&cart), serde_bytes(&cart));
    }

    proptest! {
        #[test]
        fn any_cart_renders_as_serde_does(
            names in proptest::collection::vec(any::<String>(), 0..30),
            touches in 0u32..3,
        ) {
            let cart = cart_named("guest_01HZX3K4B5C6D7E8F9G0H1J2K3", "USD", &names, touches);
            prop_assert_eq!(direct_bytes(&cart), serde_bytes(&cart));
        }
    }
}
