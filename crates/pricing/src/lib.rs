//! cart-pricing: what a cart costs, to the cent, and why.
//!
//! Pure arithmetic over values the caller loads: no I/O, no clock, no configuration read here,
//! so every total can be recomputed and checked.
//!
//! # Layout
//!
//! - Regions (`FR`, `US-CA`) that pick rates, and discount codes as carts hold them, are
//!   cart-core's ([`Region`], [`PromotionCode`]), re-exported here.
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
pub mod rounding;
pub mod shipping;

#[cfg(test)]
mod tests;

pub use calculate::{
    Breakdown, CodeResult, CodeToPrice, Destination, LineToPrice, PricedLine, PricingRequest, Step,
    StepKind, TaxLine, Warning, calculate,
};
pub use cart_core::{PromotionCode, Region, RegionError, TaxClass, region::country_codes};
pub use promotion::{Benefit, NotApplied, Promotion, PromotionError, PromotionInput};
pub use quote::quote_token;
pub use rates::{Percent, RateError, TaxTable};
pub use rounding::{Rounding, UnknownRounding, allocate};
pub use shipping::{ShippingRate, ShippingRateInput};
