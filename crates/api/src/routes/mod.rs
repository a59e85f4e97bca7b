//! REST v1 and the operational endpoints, one module per resource, each ending in `router()`.

pub mod carts;
pub mod guests;
pub mod ops;
pub mod products;

use axum::extract::{FromRequestParts, Path, Query};

use crate::problem::ApiError;

/// Path parameters whose rejection is a problem+json 400.
#[derive(FromRequestParts)]
#[from_request(via(Path), rejection(ApiError))]
pub struct PathParams<T>(pub T);

/// Query parameters whose rejection is a problem+json 400.
#[derive(FromRequestParts)]
#[from_request(via(Query), rejection(ApiError))]
pub struct QueryParams<T>(pub T);
