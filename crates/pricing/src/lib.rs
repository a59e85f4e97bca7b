//! cart-pricing: what a cart costs, to the cent, and why.
//!
//! Pure arithmetic over values the caller loads: no I/O, no clock, no configuration read here,
//! so every total can be recomputed and checked.
//!
//! # Layout
//!
//! - [`region`]: ISO 3166 regions (`FR`, `US-CA`) that pick rates.
//! - [`rates`]: exact percentages and a region's tax table (tax classes are the catalog's:
//!   [`cart_core::TaxClass`], re-exported here).
//! - [`shipping`]: a region's flat shipping rate and its free threshold.
//! - [`promotion`]: discount codes, their conditions, and why one does not apply.
//! - [`rounding`]: half-even / half-up rounding and largest-remainder allocation.
//! - [`calculate`]: the calculation itself, step by step.
//! - [`quote`]: the quote token, a digest of what the shopper was shown.

pub mod calculate;
pub mod promotion;
pub mod quote;
pub mod rates;
pub mod region;
pub mod rounding;
pub mod shipping;

#[cfg(test)]
mod tests;

pub use calculate::{
    Breakdown, CodeResult, CodeToPrice, Destination, LineToPrice, PricedLine, PricingRequest, Step,
    StepKind, TaxLine, Warning, calculate,
};
pub use cart_core::TaxClass;
pub use promotion::{
    Benefit, NotApplied, Promotion, PromotionCode, PromotionError, PromotionInput,
};
pub use quote::quote_token;
pub use rates::{Percent, RateError, TaxTable};
pub use region::{Region, RegionError};
pub use rounding::{Rounding, UnknownRounding, allocate};
pub use shipping::{ShippingRate, ShippingRateInput};
