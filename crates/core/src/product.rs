//! Catalog products, and the parsing of product rows that arrive from imports and the admin API.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::ProductId;
use crate::money::{Currency, Price};
use crate::tax_class::TaxClass;

/// A product as the catalog knows it. Carts take names and prices from here, never from clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Catalog id.
    pub id: ProductId,
    /// Display name, shared with the cart lines that take it (a copy is a reference count; see
    /// [`ProductId`] for why lines share their text with the catalog).
    pub name: Arc<str>,
    /// Current unit price.
    pub price: Price,
    /// Inactive products cannot be added (`PRODUCT_UNAVAILABLE`).
    pub active: bool,
    /// Units in stock where the catalog tracks stock; `None` means not tracked.
    pub stock: Option<u32>,
    /// Which of a region's tax rates applies (`standard` unless set).
    #[serde(default)]
    pub tax_class: TaxClass,
}

/// A product row as it arrives (JSON import file or `PUT /v1/products/{id}`), not yet checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    /// Catalog id (1–64 of `[A-Za-z0-9._:-]`).
    pub id: String,
    /// Display name, 1–200 characters, no control characters.
    pub name: String,
    /// Minor units, 0..=`MAX_UNIT_PRICE`.
    pub unit_price: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Defaults to true.
    #[serde(default = "default_active")]
    pub active: bool,
    /// Units in stock; absent or null when not tracked.
    #[serde(default)]
    pub stock: Option<i64>,
    /// A tax class name; absent or null means `standard`.
    #[serde(default)]
    pub tax_class: Option<String>,
}

fn default_active() -> bool {
    true
}

/// Which field of a product row is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct ProductError {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// A product name as given, checked: 1–200 characters, no control character, not only white
/// space; the name kept is trimmed. The length counts what was sent (before trimming), so the
/// rule is the one a JSON Schema `maxLength` states.
pub fn product_name(raw: &str) -> Option<&str> {
    let name = raw.trim();
    let fits = raw.chars().count() <= 200 && !raw.chars().any(char::is_control);
    (fits && !name.is_empty()).then_some(name)
}

impl ProductInput {
    /// Turns the row into a [`Product`] or names the first bad field.
    pub fn parse(self) -> Result<Product, ProductError> {
        let bad = |field: &'static str, reason: &dyn ToString| ProductError {
            field,
            reason: reason.to_string(),
        };
        let id = ProductId::parse(&self.id).map_err(|e| bad("id", &e))?;
        let name = product_name(&self.name).ok_or_else(|| {
            bad(
                "name",
                &"must be 1-200 characters without control characters, not all spaces",
            )
        })?;
        let currency = Currency::parse(&self.currency).map_err(|e| bad("currency", &e))?;
        let price = Price::new(self.unit_price, currency).map_err(|e| bad("unit_price", &e))?;
        let stock = match self.stock {
            None => None,
            Some(n) => Some(
                u32::try_from(n)
                    .map_err(|_| bad("stock", &"must be an integer from 0 to 4294967295"))?,
            ),
        };
        let tax_class = match self.tax_class.as_deref() {
            None => TaxClass::standard(),
            Some(raw) => TaxClass::parse(raw).map_err(|e| bad("tax_class", &e))?,
        };
        Ok(Product {
            id,
            name: name.into(),
            price,
            active: self.active,
            stock,
            tax_class,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> ProductInput {
        ProductInput {
            id: "book-1".into(),
            name: "Middlemarch".into(),
            unit_price: 1299,
            currency: "USD".into(),
            active: true,
            stock: Some(3),
            tax_class: None,
        }
    }

    #[test]
    fn a_good_row_parses() {
        let product = row().parse().expect("valid");
        assert_eq!(product.price.amount(), 1299);
        assert_eq!(product.stock, Some(3));
        assert!(product.tax_class.is_standard(), "standard unless set");
        let reduced = ProductInput {
            tax_class: Some("reduced".into()),
            ..row()
        };
        assert_eq!(
            reduced.parse().map(|p| p.tax_class.to_string()),
            Ok("reduced".into())
        );
    }

    /// Spoils one field of a good row.
    type Spoil = fn(&mut ProductInput);

    #[test]
    fn each_bad_field_is_named() {
        let cases: [(Spoil, &str); 6] = [
            (|r| r.id = "a b".into(), "id"),
            (|r| r.name = " ".into(), "name"),
            (|r| r.unit_price = -5, "unit_price"),
            (|r| r.currency = "usd".into(), "currency"),
            (|r| r.stock = Some(-1), "stock"),
            (|r| r.tax_class = Some("Reduced".into()), "tax_class"),
        ];
        for (spoil, field) in cases {
            let mut input = row();
            spoil(&mut input);
            assert_eq!(input.parse().map_err(|e| e.field), Err(field));
        }
    }
}
