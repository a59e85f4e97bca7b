//! cart-core: the domain of cartd, free of I/O and frameworks.
//!
//! # Layout
//!
//! Rules, from the bottom up (each module uses only those above it):
//!
//! - [`ids`]: guest ids, user ids, cart keys, product ids — parsed once at the edge.
//! - [`money`]: ISO 4217 currencies and integer prices.
//! - [`quantity`]: requested quantities and the limits that turn them into line quantities.
//! - [`tax_class`]: a product's tax class, which picks a region's rate.
//! - [`product`]: catalog products and the parsing of product rows.
//! - [`region`] and [`promotion_code`]: where a cart ships to and the discount codes it holds,
//!   which pick its tax, shipping and discounts (`cart-pricing` computes those).
//! - [`error`]: `CartError`, the one error type of the use cases, and `StoreError`.
//! - [`cart`]: the cart and its pure rules, and ([`cart::merge`]) merging a guest cart at sign-in.
//! - [`events`]: the domain events written to the outbox.
//! - [`command`]: the writes a transport can ask for, and their canonical fingerprints.
//! - [`outcome`]: what a write answers, rendered by each transport.
//! - [`ports`]: the `Store`, `Catalog`, `PricingSettings`, `Clock` and `IdGenerator` traits
//!   backends implement.
//!
//! Then the use cases over the ports, [`use_cases`]: `CartService`, one module per write and
//! one compare-and-set loop for all of them. [`timestamp`] renders timestamps as RFC 3339 text.

pub mod cart;
pub mod command;
pub mod error;
pub mod events;
pub mod ids;
pub mod money;
pub mod order;
pub mod outcome;
pub mod ports;
pub mod product;
pub mod promotion_code;
pub mod quantity;
pub mod region;
pub mod tax_class;
mod text_serde;
pub mod timestamp;
pub mod use_cases;

#[cfg(test)]
mod proptests;

pub use cart::merge::{
    LineOutcome, LineSource, MergeLine, MergeReport, MergeStrategy, OutcomeReason,
};
pub use cart::{
    AddItem, Cart, CartStamp, KEPT_AFTER_EXPIRY, LineChange, LineItem, MAX_DISCOUNT_CODES, Totals,
};
pub use command::{Command, MergeRequest, Precondition, RemoveItem, SetQuantity};
pub use error::{CartError, Shortage, StoreError};
pub use events::{CartEvent, EventType, PricingChange, RepricedLine};
pub use ids::{CartKey, GuestId, IdError, Owner, ProductId, UserId, VariantId};
pub use money::{Currency, MoneyError, Price};
pub use outcome::{CheckedOut, Merged, Outcome, Written};
pub use ports::{
    CartWrite, Catalog, Clock, Commit, IdGenerator, IdempotencyRecord, LoadedCart, ManualClock,
    Outbox, OutboxEntry, OutboxStats, PaymentProvider, PricingKind, PricingSettings, RandomIds,
    RecordKind, RecordWrite, Records, Store, StoredRecord, SweepReport, SystemClock,
};
pub use product::{Product, ProductError, ProductInput};
pub use promotion_code::{PromotionCode, PromotionCodeError};
pub use quantity::{Limits, Quantity, RequestedQuantity};
pub use region::{Region, RegionError};
pub use tax_class::{TaxClass, TaxClassError};
pub use use_cases::{
    CartPolicy, CartService, IdempotencyKey, OrderPolicy, OrderPorts, Quote, Quoter, WriteOptions,
};
