//! A cart's JSON (the [`CartView`](crate::dto::CartView) shape) written straight into a buffer:
//! the one JSON rendering of a cart, for reads, writes and merges alike.
//!
//! Every write answers with the whole cart, so rendering it is on the add path of every request.
//! Through serde, each of a line's fourteen strings (nine of them field names) went through
//! serde_json's byte-by-byte escaping scan, and the view collected its lines into a vector
//! first, which made rendering one of the larger shares of an add's CPU (`docs/PERFORMANCE.md`
//! has the figures). Here the field names are literals, ids and timestamps are copied after one
//! check that they need no escaping, and only text that does (a product name with a quote, say)
//! goes through serde_json.
//!
//! `CartView` documents the shape (utoipa) and renders nothing; the tests hold this writer's
//! output to that OpenAPI schema, member for member, and to the cart's values.

use time::OffsetDateTime;
use uuid::Uuid;

use cart_core::timestamp::Rfc3339Text;
use cart_core::{Cart, LineItem, Owner};

/// Appends `cart` as JSON to `out`, in the OpenAPI document's `CartView` shape.
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
    out.extend_from_slice(b",\"region\":");
    match cart.region() {
        Some(region) => write_str(out, region.as_str()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"discount_codes\":[");
    for (n, code) in cart.discount_codes().iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_str(out, code.as_str());
    }
    out.extend_from_slice(b"],\"checkout\":");
    match cart.checkout() {
        Some(lock) => {
            out.extend_from_slice(b"{\"order_id\":");
            write_uuid(out, lock.order_id);
            out.extend_from_slice(b",\"status\":");
            write_str(out, lock.status.as_str());
            out.push(b'}');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

/// Appends a merge's answer to `out`: the cart's JSON with the merge report as its `merge`
/// member (the `MergedCartView` shape).
pub fn write_merged(out: &mut Vec<u8>, cart: &Cart, report: &crate::dto::MergeReportView) {
    write_cart(out, cart);
    out.pop();
    out.extend_from_slice(b",\"merge\":");
    // A report holds only ids, enums and numbers: serde_json cannot fail on it, and if it ever
    // did the member would be `null` rather than half written.
    let start = out.len();
    if serde_json::to_writer(&mut *out, report).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"null");
    }
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
    use serde_json::Value;
    use time::macros::datetime;

    use cart_core::{
        AddItem, CartKey, Currency, Limits, MergeReport, MergeStrategy, Price, Product, ProductId,
        RequestedQuantity, VariantId,
    };

    use super::*;

    fn rendered(cart: &Cart) -> Value {
        let mut out = Vec::new();
        write_cart(&mut out, cart);
        serde_json::from_slice(&out).expect("the writer writes JSON")
    }

    /// The OpenAPI document's schemas, as served.
    fn schemas() -> Value {
        let document: Value = serde_json::from_str(&crate::openapi_json()).expect("openapi");
        document["components"]["schemas"].clone()
    }

    /// Whether `value` has exactly the shape `schema` describes: every required member, no
    /// member the schema does not name, each of the stated JSON type (`$ref`, `allOf`, arrays
    /// and nullable types followed).
    fn conforms(value: &Value, schema: &Value, schemas: &Value) -> Result<(), String> {
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.trim_start_matches("#/components/schemas/");
            return conforms(value, &schemas[name], schemas);
        }
        if let Some(parts) = schema["allOf"].as_array() {
            // Each part names some members; together they must name all of them.
            let mut merged = serde_json::Map::new();
            let mut required = Vec::new();
            for part in parts {
                let part = match part["$ref"].as_str() {
                    Some(r) => &schemas[r.trim_start_matches("#/components/schemas/")],
                    None => part,
                };
                if let Some(members) = part["properties"].as_object() {
                    merged.extend(members.clone());
                }
                required.extend(part["required"].as_array().cloned().unwrap_or_default());
            }
            let whole =
                serde_json::json!({"type": "object", "properties": merged, "required": required});
            return conforms(value, &whole, schemas);
        }
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return Ok(()),
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        if !types.contains(&actual) {
            return Err(format!("{value} is {actual}, the schema says {types:?}"));
        }
        match value {
            Value::Array(items) => items
                .iter()
                .try_for_each(|item| conforms(item, &schema["items"], schemas)),
            Value::Object(members) => {
                let properties = schema["properties"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                for required in schema["required"].as_array().into_iter().flatten() {
                    let name = required.as_str().unwrap_or_default();
                    if !members.contains_key(name) {
                        return Err(format!("`{name}` is missing"));
                    }
                }
                for (name, member) in members {
                    let Some(property) = properties.get(name) else {
                        return Err(format!("`{name}` is not in the schema"));
                    };
                    conforms(member, property, schemas).map_err(|e| format!("{name}: {e}"))?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Whether the JSON shows `cart`'s own values.
    fn shows(json: &Value, cart: &Cart) -> Result<(), String> {
        let text = |at: OffsetDateTime| {
            Rfc3339Text::new(at)
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default()
        };
        let totals = cart.totals();
        let expected = [
            ("id", Value::from(cart.id().to_string())),
            ("user_id", Value::from(cart.key().as_str())),
            ("currency", Value::from(cart.currency().as_str())),
            ("item_count", Value::from(totals.item_count)),
            ("total_quantity", Value::from(totals.total_quantity)),
            ("total_price", Value::from(totals.total_price)),
            (
                "region",
                cart.region()
                    .map_or(Value::Null, |r| Value::from(r.as_str())),
            ),
            (
                "discount_codes",
                cart.discount_codes()
                    .iter()
                    .map(|code| Value::from(code.as_str()))
                    .collect(),
            ),
            (
                "checkout",
                cart.checkout().map_or(Value::Null, |lock| {
                    serde_json::json!({"order_id": lock.order_id.to_string(),
                                       "status": lock.status.as_str()})
                }),
            ),
            ("version", Value::from(cart.version())),
            ("created_at", Value::from(text(cart.created_at()))),
            ("updated_at", Value::from(text(cart.updated_at()))),
            ("expires_at", Value::from(text(cart.expires_at()))),
        ];
        for (name, value) in expected {
            if json[name] != value {
                return Err(format!("{name}: {} is not {value}", json[name]));
            }
        }
        for (line, shown) in cart
            .items()
            .iter()
            .zip(json["items"].as_array().into_iter().flatten())
        {
            let expected = [
                ("item_id", Value::from(line.item_id().to_string())),
                ("product_id", Value::from(line.product_id().as_str())),
                (
                    "variant_id",
                    line.variant_id()
                        .map_or(Value::Null, |v| Value::from(v.as_str())),
                ),
                ("name", Value::from(line.name())),
                ("quantity", Value::from(line.quantity().get())),
                ("unit_price", Value::from(line.unit_price())),
                ("subtotal", Value::from(line.subtotal())),
                ("added_at", Value::from(text(line.added_at()))),
                ("updated_at", Value::from(text(line.updated_at()))),
            ];
            for (name, value) in expected {
                if shown[name] != value {
                    return Err(format!("line {name}: {} is not {value}", shown[name]));
                }
            }
        }
        if json["items"].as_array().map(Vec::len) != Some(cart.items().len()) {
            return Err("the lines".into());
        }
        Ok(())
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
                tax_class: Default::default(),
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

    fn two_lines() -> Cart {
        let names = ["plain".to_owned(), "with \"quotes\"".to_owned()];
        cart_named("guest_01HZX3K4B5C6D7E8F9G0H1J2K3", "USD", &names, 1)
    }

    #[test]
    fn a_cart_renders_in_the_openapi_cart_shape() {
        let schemas = schemas();
        for cart in [
            cart_named("guest_01HZX3K4B5C6D7E8F9G0H1J2K3", "USD", &[], 0),
            cart_named("alice@example.com|x:1", "EUR", &[], 0),
            two_lines(),
        ] {
            let json = rendered(&cart);
            conforms(&json, &schemas["CartView"], &schemas).expect("CartView");
            shows(&json, &cart).expect("the cart's values");
        }
    }

    #[test]
    fn the_shape_check_catches_a_missing_or_an_extra_member() {
        let schemas = schemas();
        let mut json = rendered(&two_lines());
        json.as_object_mut().map(|cart| cart.remove("total_price"));
        assert!(conforms(&json, &schemas["CartView"], &schemas).is_err());
        let mut json = rendered(&two_lines());
        json["items"][0]["extra"] = Value::from(1);
        assert!(conforms(&json, &schemas["CartView"], &schemas).is_err());
    }

    #[test]
    fn a_merge_renders_in_the_openapi_merged_cart_shape() {
        let cart = two_lines();
        let report = MergeReport::nothing_to_merge(
            MergeStrategy::Max,
            cart_core::GuestId::parse("guest_01HZX3K4B5C6D7E8F9G0H1J2K4").expect("guest"),
        );
        let mut out = Vec::new();
        write_merged(
            &mut out,
            &cart,
            &crate::dto::MergeReportView::new(&report, true),
        );
        let json: Value = serde_json::from_slice(&out).expect("JSON");
        let schemas = schemas();
        conforms(&json, &schemas["MergedCartView"], &schemas).expect("MergedCartView");
        shows(&json, &cart).expect("the cart's values");
        assert_eq!(json["merge"]["dry_run"], true);
    }

    #[test]
    fn names_that_need_escaping_read_back_as_they_were() {
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
        shows(&rendered(&cart), &cart).expect("the cart's values");
    }

    proptest! {
        #[test]
        fn any_cart_renders_its_values_in_the_openapi_shape(
            names in proptest::collection::vec(any::<String>(), 0..30),
            touches in 0u32..3,
        ) {
            let cart = cart_named("guest_01HZX3K4B5C6D7E8F9G0H1J2K3", "USD", &names, touches);
            let json = rendered(&cart);
            let schemas = schemas();
            prop_assert_eq!(conforms(&json, &schemas["CartView"], &schemas), Ok(()));
            prop_assert_eq!(shows(&json, &cart), Ok(()));
        }
    }
}
