//! `CARTD_CATALOG_FIELDS`: where a remote catalog's JSON keeps each product field, so a catalog
//! that says `title` and `price` (a bookstore's `isbn`/`title`/`price`) needs no adapter.
//!
//! The setting is a comma-separated list of `field=source`: `source` is a member name, a dotted
//! path into nested objects (`price.amount`), optionally scaled (`price*100`, for a price sent
//! in major units), or a quoted constant (`currency='EUR'`, for a catalog in one currency).
//! Fields not listed are read under their own names (`name`, `unit_price`, `currency`,
//! `active`, `stock`, `tax_class`); what is read is then checked like any imported product.

use serde_json::Value;
use thiserror::Error;

use cart_core::{Product, ProductError, ProductId, ProductInput};

/// Where one field comes from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// A member, or a path of members, scaled by a factor (1 unless `*N` was given).
    Path { path: Vec<String>, scale: u32 },
    /// The same value for every product.
    Constant(String),
}

/// A product field's source in the remote JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMap {
    id: Source,
    name: Source,
    unit_price: Source,
    currency: Source,
    active: Source,
    stock: Source,
    tax_class: Source,
}

/// A wrong `CARTD_CATALOG_FIELDS`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FieldMapError {
    /// An entry is not `field=source`.
    #[error("`{0}` is not field=source")]
    NotAnEntry(String),
    /// The field is not a product field.
    #[error(
        "unknown field `{0}`; the fields are id, name, unit_price, currency, active, stock, tax_class"
    )]
    UnknownField(String),
    /// The source is empty or its scale is not a whole number from 1 to 1000000.
    #[error("bad source `{0}`")]
    BadSource(String),
}

/// Why a remote product could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RemoteProductError {
    /// The body is not a JSON object.
    #[error("the body is not a JSON object")]
    NotAnObject,
    /// A field has the wrong JSON type, or a scaled price is not whole in minor units.
    #[error("{field}: {reason}")]
    Field {
        /// The product field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The product answered is another one.
    #[error("asked for {asked}, the catalog answered {answered}")]
    OtherProduct {
        /// The id asked for.
        asked: String,
        /// The id in the answer.
        answered: String,
    },
    /// The values fail the catalog's rules (name length, price range, currency …).
    #[error(transparent)]
    Invalid(#[from] ProductError),
}

impl Default for FieldMap {
    fn default() -> Self {
        let own = |name: &str| Source::Path {
            path: vec![name.to_owned()],
            scale: 1,
        };
        Self {
            id: own("id"),
            name: own("name"),
            unit_price: own("unit_price"),
            currency: own("currency"),
            active: own("active"),
            stock: own("stock"),
            tax_class: own("tax_class"),
        }
    }
}

impl FieldMap {
    /// Parses the setting (empty: every field under its own name).
    pub fn parse(raw: &str) -> Result<Self, FieldMapError> {
        let mut map = Self::default();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (field, source) = entry
                .split_once('=')
                .ok_or_else(|| FieldMapError::NotAnEntry(entry.to_owned()))?;
            let source = parse_source(source.trim())?;
            let slot = match field.trim() {
                "id" => &mut map.id,
                "name" => &mut map.name,
                "unit_price" => &mut map.unit_price,
                "currency" => &mut map.currency,
                "active" => &mut map.active,
                "stock" => &mut map.stock,
                "tax_class" => &mut map.tax_class,
                other => return Err(FieldMapError::UnknownField(other.to_owned())),
            };
            *slot = source;
        }
        Ok(map)
    }

    /// Reads product `id` from the catalog's answer.
    pub fn product(&self, id: &ProductId, body: &Value) -> Result<Product, RemoteProductError> {
        if !body.is_object() {
            return Err(RemoteProductError::NotAnObject);
        }
        if let Some(answered) = text(read(body, &self.id), "id")?
            && answered != id.as_str()
        {
            return Err(RemoteProductError::OtherProduct {
                asked: id.as_str().to_owned(),
                answered,
            });
        }
        let missing = |field: &'static str| RemoteProductError::Field {
            field,
            reason: "missing".into(),
        };
        let input = ProductInput {
            id: id.as_str().to_owned(),
            name: text(read(body, &self.name), "name")?.ok_or_else(|| missing("name"))?,
            unit_price: minor_units(read(body, &self.unit_price), scale(&self.unit_price))?
                .ok_or_else(|| missing("unit_price"))?,
            currency: text(read(body, &self.currency), "currency")?
                .ok_or_else(|| missing("currency"))?,
            active: match read(body, &self.active) {
                None => true,
                Some(Value::Bool(active)) => active,
                Some(_) => return Err(wrong_type("active", "a boolean")),
            },
            stock: match read(body, &self.stock) {
                None => None,
                Some(Value::Number(n)) => Some(
                    n.as_i64()
                        .ok_or_else(|| wrong_type("stock", "an integer"))?,
                ),
                Some(_) => return Err(wrong_type("stock", "an integer")),
            },
            tax_class: text(read(body, &self.tax_class), "tax_class")?,
        };
        Ok(input.parse()?)
    }
}

fn parse_source(raw: &str) -> Result<Source, FieldMapError> {
    let bad = || FieldMapError::BadSource(raw.to_owned());
    if let Some(constant) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Ok(Source::Constant(constant.to_owned()));
    }
    let (path, scale) = match raw.split_once('*') {
        None => (raw, 1),
        Some((path, scale)) => (
            path,
            scale
                .parse::<u32>()
                .ok()
                .filter(|s| (1..=1_000_000).contains(s))
                .ok_or_else(bad)?,
        ),
    };
    let path: Vec<String> = path.split('.').map(str::to_owned).collect();
    if path.iter().any(String::is_empty) {
        return Err(bad());
    }
    Ok(Source::Path { path, scale })
}

fn scale(source: &Source) -> u32 {
    match source {
        Source::Path { scale, .. } => *scale,
        Source::Constant(_) => 1,
    }
}

/// The value at `source`, `None` when absent or JSON `null`.
fn read(body: &Value, source: &Source) -> Option<Value> {
    match source {
        Source::Constant(value) => Some(Value::String(value.clone())),
        Source::Path { path, .. } => path
            .iter()
            .try_fold(body, |value, member| value.get(member))
            .filter(|value| !value.is_null())
            .cloned(),
    }
}

fn wrong_type(field: &'static str, expected: &str) -> RemoteProductError {
    RemoteProductError::Field {
        field,
        reason: format!("must be {expected}"),
    }
}

/// A string field; a number is taken as its text (ids and ISBNs are often numbers).
fn text(value: Option<Value>, field: &'static str) -> Result<Option<String>, RemoteProductError> {
    match value {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(wrong_type(field, "a string")),
    }
}

/// A price in minor units: the value (a number or a decimal string) times `scale`, which must
/// come out whole. Decimal text is scaled digit by digit, so `"12.99"` × 100 is exactly 1299.
fn minor_units(value: Option<Value>, scale: u32) -> Result<Option<i64>, RemoteProductError> {
    let not_whole = || wrong_type("unit_price", "a whole number of minor units once scaled");
    let text = match value {
        None => return Ok(None),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(text)) => text,
        Some(_) => return Err(wrong_type("unit_price", "a number")),
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = whole.strip_prefix('-').unwrap_or(whole);
    if unsigned.is_empty() || !digits_ok(unsigned) || !digits_ok(fraction) {
        return Err(not_whole());
    }
    let places = scale.ilog10();
    if 10u32.pow(places) != scale {
        // Not a power of ten: multiply and require the product to be whole.
        let amount: f64 = text.parse().map_err(|_| not_whole())?;
        let scaled = amount * f64::from(scale);
        return (scaled.fract() == 0.0 && scaled.abs() < 9e15)
            .then_some(Some(scaled as i64))
            .ok_or_else(not_whole);
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > places as usize {
        return Err(not_whole());
    }
    let padded = format!("{unsigned}{fraction:0<width$}", width = places as usize);
    let amount: i64 = padded.parse().map_err(|_| not_whole())?;
    Ok(Some(if whole.starts_with('-') {
        -amount
    } else {
        amount
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn id(raw: &str) -> ProductId {
        ProductId::parse(raw).expect("id")
    }

    #[test]
    fn a_bookstore_catalog_is_mapped_field_by_field() {
        let map = FieldMap::parse(
            "id=isbn, name=title, unit_price=price*100, currency='EUR', stock=inventory.on_hand",
        )
        .expect("map");
        let body = json!({"isbn": 9780141439549_u64, "title": "Middlemarch", "price": 12.99,
                          "inventory": {"on_hand": 4}, "publisher": "Penguin"});
        let product = map.product(&id("9780141439549"), &body).expect("product");
        assert_eq!(&*product.name, "Middlemarch");
        assert_eq!(product.price.amount(), 1299);
        assert_eq!(product.price.currency().as_str(), "EUR");
        assert_eq!(product.stock, Some(4));
        assert!(product.active, "active unless said otherwise");
    }

    #[test]
    fn without_a_map_fields_are_read_under_their_own_names() {
        let body = json!({"name": "Mug", "unit_price": 1200, "currency": "USD", "active": false});
        let product = FieldMap::default()
            .product(&id("mug"), &body)
            .expect("product");
        assert_eq!((product.price.amount(), product.active), (1200, false));
    }

    #[test]
    fn prices_are_scaled_exactly_or_refused() {
        let cases = [
            (json!("12.99"), 100, Ok(Some(1299))),
            (json!(12.5), 100, Ok(Some(1250))),
            (json!("7"), 1000, Ok(Some(7000))),
            (json!(3), 1, Ok(Some(3))),
            (json!("0.10"), 10, Ok(Some(1))),
            (json!("0.001"), 100, Err(())),
            (json!(1.5), 1, Err(())),
            (json!("12,99"), 100, Err(())),
            (json!("1e3"), 1, Err(())),
            (json!(true), 1, Err(())),
        ];
        for (value, scale, expected) in cases {
            let got = minor_units(Some(value.clone()), scale).map_err(|_| ());
            assert_eq!(got, expected, "{value} × {scale}");
        }
    }

    #[test]
    fn a_wrong_answer_names_what_is_wrong() {
        let map = FieldMap::default();
        let cases = [
            (json!([1, 2]), "not a JSON object"),
            (json!({"unit_price": 1, "currency": "EUR"}), "name: missing"),
            (
                json!({"name": "A", "unit_price": "x", "currency": "EUR"}),
                "unit_price",
            ),
            (
                json!({"name": "A", "unit_price": 1, "currency": "EUR", "id": "other"}),
                "answered other",
            ),
            (
                json!({"name": "A", "unit_price": 1, "currency": "euro"}),
                "currency",
            ),
            (
                json!({"name": "A", "unit_price": 1, "currency": "EUR", "stock": -1}),
                "stock",
            ),
        ];
        for (body, expected) in cases {
            let error = map
                .product(&id("a"), &body)
                .expect_err("refused")
                .to_string();
            assert!(error.contains(expected), "{body}: {error}");
        }
    }

    #[test]
    fn bad_settings_are_refused() {
        for raw in [
            "title",
            "colour=c",
            "name=",
            "unit_price=price*0",
            "unit_price=price*x",
            "name=a..b",
        ] {
            assert!(FieldMap::parse(raw).is_err(), "{raw}");
        }
    }
}
