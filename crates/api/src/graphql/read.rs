//! Reading a cart as `GET /v1/cart/{cartKey}` does: the store's stamp validates the rendered
//! body in [`crate::rendered`], and only a miss loads and renders the cart.

use axum::body::Bytes;

use cart_core::CartKey;

use crate::dto::CartView;
use crate::graphql::types::Cart;
use crate::problem::ApiError;
use crate::state::AppState;

/// The live cart under `key`: `CART_NOT_FOUND` if none, `CART_EXPIRED` if expired.
pub async fn cart(state: &AppState, key: &CartKey) -> Result<Cart, ApiError> {
    let stamp = state.service.stamp(key).await?;
    let body = match state.rendered.get(key, &stamp) {
        Some(body) => body,
        None => {
            let cart = state.service.get(key).await?;
            let body = Bytes::from(serde_json::to_vec(&CartView::from(&cart)).unwrap_or_default());
            state.rendered.put(key, &cart.stamp(), body.clone());
            body
        }
    };
    Cart::from_json(&body).map_err(ApiError::internal)
}
