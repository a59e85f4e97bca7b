//! Reading a cart through the use cases, as GraphQL shows it.

use cart_core::CartKey;

use crate::graphql::types::Cart;
use crate::problem::ApiError;
use crate::state::AppState;

/// The live cart under `key`: `CART_NOT_FOUND` if none, `CART_EXPIRED` if expired.
pub async fn cart(state: &AppState, key: &CartKey) -> Result<Cart, ApiError> {
    Ok(state.service.get(key).await?.into())
}
