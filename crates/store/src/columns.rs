//! Stored columns to and from domain values (products, JSON errors, versions, millisecond
//! times), shared by every backend: SQLite, PostgreSQL, Redis and DynamoDB.

use time::OffsetDateTime;

use cart_core::{Currency, Price, Product, ProductId, StoreError};

/// A product from its stored columns; a row that no longer parses is an internal error naming
/// the product and the column.
pub(crate) fn product(
    id: String,
    name: String,
    unit_price: i64,
    currency: &str,
    active: bool,
    stock: Option<i64>,
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
