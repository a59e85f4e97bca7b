//! The objects GraphQL answers with. Carts and merge reports are read from the JSON REST renders
//! (`crate::dto`), the same bytes REST sends and idempotency records store, so the two APIs show
//! the same values by construction; GraphQL only renames them to camelCase and groups money.

mod cart;
mod merge;
mod money;
mod order;
mod payload;
mod product;
mod totals;

pub use cart::{Cart, OrderStatus};
pub use merge::{MergeReport, MergeStrategy};
pub use money::int32;
pub use order::{
    CheckoutInput, CheckoutPayload, Order, OrderPage, OrderPayload, OrderUpdate, Payment,
};
pub use payload::{CartPayload, CartUpdate, GuestPayload, UserError};
pub use product::Product;
pub use totals::Totals;
