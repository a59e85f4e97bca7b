//! Stored columns to and from domain values (products, JSON errors, versions, millisecond
//! times), shared by every backend: SQLite, PostgreSQL, Redis and DynamoDB.

use time::OffsetDateTime;

use cart_core::{Currency, Price, Product, ProductId, StoreError, TaxClass};

/// A product from its stored columns; a row that no longer parses is an internal error naming
/// the product and the column. A missing tax class (a row written before products had one) is
/// `standard`.
pub(crate) fn product(
    id: String,
    name: String,
    unit_price: i64,
    currency: &str,
    active: bool,
    stock: Option<i64>,
    tax_class: Option<&str>,
) -> Result<Product, StoreError> {
    let bad = |what: &str| StoreError::Internal(format!("stored product {id:?} has a bad {what}"));
    let currency = Currency::parse(currency).map_err(|_| bad("currency"))?;
    Ok(Product {
        id: ProductId::parse(&id).map_err(|_| bad("id"))?,
        price: Price::new(unit_price, currency).map_err(|_| bad("price"))?,
        stock: stock
            .map(|n| u32::try_from(n).map_err(|_| bad("stock")))
            .transpose()?,
        name: name.into(),
        active,
        tax_class: match tax_class {
            None | Some("") => TaxClass::standard(),
            Some(raw) => TaxClass::parse(raw).map_err(|_| bad("tax class"))?,
        },
    })
}

/// A JSON (de)serialisation failure of a stored value.
pub(crate) fn json_error(e: serde_json::Error) -> StoreError {
    StoreError::Internal(format!("stored JSON: {e}"))
}

/// A version as a signed 64-bit column (versions never get near `i64::MAX`).
pub(crate) fn version_column(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

/// A time as unix milliseconds, as the stores keep expiries.
pub(crate) fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Unix milliseconds back to a time; out of range is an internal error.
pub(crate) fn from_millis(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Internal(format!("stored time: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_class(tax_class: Option<&str>) -> Result<Product, StoreError> {
        product(
            "book".into(),
            "Book".into(),
            100,
            "USD",
            true,
            None,
            tax_class,
        )
    }

    #[test]
    fn a_row_without_a_tax_class_is_standard_and_a_bad_one_is_an_error() {
        for absent in [None, Some("")] {
            assert!(with_class(absent).expect("reads").tax_class.is_standard());
        }
        assert_eq!(
            with_class(Some("reduced")).map(|p| p.tax_class.to_string()),
            Ok("reduced".into())
        );
        assert!(matches!(
            with_class(Some("Not A Class")),
            Err(StoreError::Internal(_))
        ));
    }
}
