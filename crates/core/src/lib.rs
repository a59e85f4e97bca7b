//! cart-core: the domain of cartd, free of I/O and frameworks.
//!
//! # Layout
//!
//! - [`ids`]: guest ids, user ids, cart keys, product ids — parsed once at the edge.
//! - [`money`]: ISO 4217 currencies and integer prices.
//! - [`quantity`]: requested quantities and the limits that turn them into line quantities.
//! - [`product`]: catalog products and the parsing of product rows.
//! - [`cart`]: the cart and its pure rules, and ([`cart::merge`]) merging a guest cart at sign-in.
//! - [`events`]: the domain events written to the outbox.
//! - [`catalog_cache`]: a read-through cache of catalog lookups.
//! - [`ports`]: the `Store`, `Catalog`, `Clock` and `IdGenerator` traits backends implement.
//! - [`service`]: `CartService`, the use cases: load → decide → one atomic commit.
//! - [`error`]: `CartError`, the one error type of the use cases.
//! - [`timestamp`]: timestamps in serde, RFC 3339 text in JSON without an allocation per value.

pub mod cart;
pub mod catalog_cache;
pub mod error;
pub mod events;
pub mod ids;
pub mod money;
pub mod ports;
pub mod product;
pub mod quantity;
mod recent;
pub mod service;
mod text_serde;
pub mod timestamp;

#[cfg(test)]
mod proptests;

pub use cart::merge::{
    LineOutcome, LineSource, MergeLine, MergeReport, MergeStrategy, OutcomeReason,
};
pub use cart::{AddItem, Cart, LineItem};
pub use error::CartError;
pub use events::{CartEvent, EventType, LineChange, Totals};
pub use ids::{CartKey, GuestId, IdError, Owner, ProductId, UserId, VariantId};
pub use money::{Currency, MoneyError, Price};
pub use ports::{
    CartStamp, CartWrite, Catalog, Clock, Commit, IdGenerator, IdempotencyRecord, ManualClock,
    Outbox, OutboxEntry, OutboxStats, RandomIds, Store, StoreError, StoredResponse, SweepReport,
    SystemClock,
};
pub use product::{Product, ProductError, ProductInput};
pub use quantity::{Limits, Quantity, RequestedQuantity};
pub use service::{
    CartPolicy, CartService, IdempotencyIntent, MergeRequest, Merged, Precondition, WriteOptions,
};
