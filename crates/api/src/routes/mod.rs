//! REST v1 and the operational endpoints, one module per resource, each ending in `router()`.

pub mod cart_pricing;
pub mod carts;
pub mod flags;
pub mod guests;
pub mod ops;
pub mod orders;
pub mod pricing;
pub mod products;
pub mod promotions;

use axum::extract::{FromRequestParts, Path, Query};

use crate::problem::ApiError;

/// What a JSON request body must be, for the OpenAPI document (see
/// [`crate::extract::json_content_type`]).
pub const JSON_BODY: &str = "application/json, in UTF-8: a charset, if given, must be utf-8. \
    Any other media type or charset, application/merge-patch+json included, is 415 \
    UNSUPPORTED_MEDIA_TYPE";

/// Path parameters whose rejection is a problem+json 400.
#[derive(FromRequestParts)]
#[from_request(via(Path), rejection(ApiError))]
pub struct PathParams<T>(pub T);

/// Query parameters whose rejection is a problem+json 400.
#[derive(FromRequestParts)]
#[from_request(via(Query), rejection(ApiError))]
pub struct QueryParams<T>(pub T);
