//! The one error type of the use cases. Each variant is a case a caller treats differently; the
//! API maps each to exactly one problem+json code.

use thiserror::Error;

use crate::ids::{CartKey, ProductId};
use crate::promotion_code::PromotionCode;

/// A tracked product a checkout wants more of than is available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortage {
    /// The product.
    pub product_id: ProductId,
    /// Units the cart holds.
    pub requested: u32,
    /// Units available (on hand less reserved).
    pub available: u32,
}

/// Why a cart use case did not happen. Nothing was written when one of these is returned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CartError {
    /// No cart under this key.
    #[error("cart not found")]
    CartNotFound,
    /// The cart expired; it answers this until the sweeper deletes it.
    #[error("cart expired")]
    CartExpired,
    /// No line with this item id in the cart.
    #[error("item not found in cart")]
    ItemNotFound,
    /// The catalog has no such product.
    #[error("product {0} not found")]
    ProductNotFound(ProductId),
    /// The product exists but is not for sale.
    #[error("product {0} is not available")]
    ProductUnavailable(ProductId),
    /// The client asserted a price that is not the catalog's.
    #[error("price changed: expected {expected}, now {current}")]
    PriceChanged {
        /// The price the client saw.
        expected: i64,
        /// The catalog price.
        current: i64,
    },
    /// The catalog tracks stock and has fewer units than the line would hold.
    #[error("only {available} in stock, {requested} requested")]
    InventoryInsufficient {
        /// The line quantity the change would give.
        requested: u64,
        /// Units in stock.
        available: u32,
    },
    /// The product is priced in another currency than the cart.
    #[error("the cart is in {cart}, the product in {product}")]
    CurrencyMismatch {
        /// The cart's currency.
        cart: String,
        /// The product's currency.
        product: String,
    },
    /// A merge of two carts holding lines in different currencies.
    #[error("the user cart is in {user_cart}, the guest cart in {guest_cart}")]
    MergeCurrencyMismatch {
        /// The user cart's currency.
        user_cart: String,
        /// The guest cart's currency.
        guest_cart: String,
    },
    /// The line would hold more than the line maximum.
    #[error("at most {max_allowed} of one item")]
    QuantityLimitExceeded {
        /// The line quantity the change would give.
        requested_quantity: u64,
        /// The line maximum.
        max_allowed: u32,
    },
    /// The cart would hold more lines than allowed.
    #[error("at most {max_allowed} different items in a cart")]
    CartLimitExceeded {
        /// Lines in the cart now.
        current_count: usize,
        /// The line-count maximum.
        max_allowed: u32,
    },
    /// `If-Match` named another version.
    #[error("{}", version_mismatch(*expected, *current))]
    PreconditionFailed {
        /// The version the caller named.
        expected: u64,
        /// The version stored, if any.
        current: Option<u64>,
    },
    /// A body `version` named another version.
    #[error("{}", version_mismatch(*expected, *current))]
    VersionConflict {
        /// The version the caller named.
        expected: u64,
        /// The version stored, if any.
        current: Option<u64>,
    },
    /// Unconditional retries of the compare-and-set ran out under extreme contention.
    #[error("the cart is being changed by other requests; retry")]
    Contended,
    /// The idempotency key was committed by a concurrent request (possibly on another replica);
    /// the caller should replay the stored response.
    #[error("idempotency key already used")]
    IdempotencyKeyCommitted,
    /// The idempotency key was recorded for another command (another change, another cart
    /// version condition); the caller must use a new key.
    #[error("this idempotency key was used for a different command")]
    IdempotencyKeyReused,
    /// A command under this idempotency key is still running in this process.
    #[error("a command with this idempotency key is still being processed")]
    IdempotencyInFlight,
    /// The cart holds as many discount codes as it may.
    #[error("at most {max_allowed} discount codes on a cart")]
    TooManyDiscountCodes {
        /// The most codes a cart holds.
        max_allowed: usize,
    },
    /// No promotion has this code.
    #[error("no promotion has the code {0}")]
    PromotionNotFound(PromotionCode),
    /// The cart does not hold this code.
    #[error("the cart has no discount code {0}")]
    DiscountCodeNotOnCart(PromotionCode),
    /// Only a user cart can take in a guest cart.
    #[error("only a user cart can take in a guest cart")]
    MergeTargetNotUserCart,
    /// A checkout locked the cart; it changes again once the order is paid, fails, expires or
    /// is cancelled.
    #[error("the cart is locked by the checkout of order {order_id}")]
    CartLocked {
        /// The order waiting for payment.
        order_id: uuid::Uuid,
    },
    /// Checkout of a cart whose region (which picks tax and shipping) is not set.
    #[error("set the cart's region before checkout: tax and shipping depend on it")]
    RegionRequired,
    /// The shipping address is in another country than the cart's region, whose tax and
    /// shipping the totals hold.
    #[error("the cart is priced for {region}; the shipping address is in {country}")]
    ShippingOutsideRegion {
        /// The cart's region.
        region: String,
        /// The shipping address's country.
        country: String,
    },
    /// Checkout of a cart without lines.
    #[error("the cart is empty")]
    CartEmpty,
    /// The totals are no longer those of the quote token: the cart, a price, a promotion or a
    /// rate changed. The new quote token is given; the transport shows the new totals.
    #[error("the totals changed since they were quoted")]
    QuoteChanged {
        /// The token of the totals now.
        quote_token: String,
    },
    /// Checkout would need more units of tracked products than are available.
    #[error("not enough stock for {} product(s)", .0.len())]
    OutOfStock(Vec<Shortage>),
    /// Checkout of lines whose product is gone or no longer for sale.
    #[error("{} product(s) in the cart are no longer available", .0.len())]
    LinesUnavailable(Vec<ProductId>),
    /// A payment event's amount or currency is not the order's.
    #[error("the payment is {got} {got_currency}, the order {expected} {expected_currency}")]
    PaymentAmountMismatch {
        /// The order's amount.
        expected: i64,
        /// The order's currency.
        expected_currency: String,
        /// The event's amount.
        got: i64,
        /// The event's currency.
        got_currency: String,
    },
    /// No order with this id (or none the caller may see).
    #[error("order not found")]
    OrderNotFound,
    /// The order's status does not allow what was asked.
    #[error(transparent)]
    InvalidTransition(#[from] crate::order::InvalidTransition),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why the store could not do what was asked. Cloneable so one failed group commit can answer
/// every request in the group.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// A compare-and-set failed: the cart under `key` is not at the expected version.
    #[error("cart {key} is at version {current:?}")]
    VersionMismatch {
        /// The cart whose version differed.
        key: CartKey,
        /// The version stored (`None`: no cart).
        current: Option<u64>,
    },
    /// A compare-and-set failed: the record under `key` is not at the expected version.
    #[error("{} record {key} changed", kind.as_str())]
    RecordConflict {
        /// The record's kind.
        kind: crate::ports::RecordKind,
        /// The record's key.
        key: String,
    },
    /// An unexpired idempotency record with this key exists already.
    #[error("idempotency key already recorded")]
    DuplicateIdempotencyKey,
    /// The store cannot be reached or is overloaded; worth retrying later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The relay lease is held by another relay (or expired and was taken over): this relay
    /// must stop publishing and must not mark anything published.
    #[error("the relay lease is held by another relay")]
    LeaseLost,
    /// The remote catalog (`CARTD_CATALOG`) cannot answer and nothing it said before is
    /// remembered: it failed, timed out, or its circuit breaker is open. Worth retrying after
    /// `retry_after`.
    #[error("catalog unavailable: {reason}")]
    CatalogUnavailable {
        /// What went wrong, for logs.
        reason: String,
        /// How long until the catalog is tried again.
        retry_after: std::time::Duration,
    },
    /// The catalog is a remote service: products are listed and changed there, not in cartd.
    #[error("the catalog is a remote service; products are listed and changed there")]
    CatalogRemote,
    /// Anything else; the message is for logs, never for clients.
    #[error("store failure: {0}")]
    Internal(String),
}

fn version_mismatch(expected: u64, current: Option<u64>) -> String {
    match current {
        Some(current) => format!("the cart is at version {current}, not {expected}"),
        None => format!("there is no cart (expected version {expected})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_messages_name_the_id_not_its_rust_type() {
        let id = ProductId::parse("nope").expect("id");
        assert_eq!(
            CartError::ProductNotFound(id.clone()).to_string(),
            "product nope not found"
        );
        assert_eq!(
            CartError::ProductUnavailable(id).to_string(),
            "product nope is not available"
        );
    }
}
