//! Reading a cart as `GET /v1/cart/{cartKey}` does: the store's stamp validates the rendered
//! body in [`crate::rendered`], and only a miss loads and renders the cart.

use cart_core::CartKey;

use crate::graphql::types::Cart;
use crate::problem::ApiError;
use crate::state::AppState;

/// The live cart under `key`: `CART_NOT_FOUND` if none, `CART_EXPIRED` if expired.
pub async fn cart(state: &AppState, key: &CartKey) -> Result<Cart, ApiError> {
    let (_, body) = crate::rendered::read(state, key).await?;
    Cart::from_json(&body).map_err(ApiError::internal)
}
