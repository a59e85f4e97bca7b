//! A cart read's `warnings`: how its lines compare with the catalog now. The cart's own JSON is
//! rendered once per version ([`crate::rendered`]); the warnings depend on the catalog too, so
//! they are computed apart, kept in a [`crate::priced::PricedCarts`] under the same rules as
//! priced carts (the cart's stamp, no catalog write through this process, the catalog cache's
//! TTL), and spliced into the body.

use axum::body::Bytes;

use cart_core::{Cart, CartKey, CartStamp};

use crate::problem::ApiError;
use crate::state::AppState;
use crate::totals_view::WarningView;

/// The JSON array of the warnings of the cart under `key` at `stamp`; `loaded` is the cart if
/// the read loaded it already.
pub async fn warnings(
    state: &AppState,
    key: &CartKey,
    stamp: &CartStamp,
    loaded: Option<Cart>,
) -> Result<Bytes, ApiError> {
    let now = state.service.now();
    if let Some(warnings) = state.fresh.get(key, stamp, now) {
        return Ok(warnings);
    }
    let inputs = state.fresh.inputs(now);
    let cart = match loaded {
        Some(cart) => cart,
        None => state.service.get(key).await?,
    };
    let views: Vec<WarningView> = crate::totals::freshness_of(state, &cart)
        .await?
        .iter()
        .map(WarningView::new)
        .collect();
    let warnings =
        Bytes::from(serde_json::to_vec(&views).map_err(|e| ApiError::internal(e.to_string()))?);
    state
        .fresh
        .put(key, &cart.stamp(), inputs, None, warnings.clone());
    Ok(warnings)
}

/// `cart` (a JSON object, as `crate::cart_json` writes it) with a `warnings` member.
pub fn with_warnings(cart: &[u8], warnings: &[u8]) -> Bytes {
    const MEMBER: &[u8] = b",\"warnings\":";
    let Some(open) = cart.strip_suffix(b"}") else {
        // Not an object: nothing to add to (the writer always writes one).
        return Bytes::copy_from_slice(cart);
    };
    let mut body = Vec::with_capacity(cart.len() + MEMBER.len() + warnings.len());
    body.extend_from_slice(open);
    body.extend_from_slice(MEMBER);
    body.extend_from_slice(warnings);
    body.push(b'}');
    Bytes::from(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warnings_become_the_objects_last_member() {
        let body = with_warnings(
            br#"{"id":"x","items":[]}"#,
            br#"[{"code":"PRICE_CHANGED"}]"#,
        );
        let value: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(value["warnings"][0]["code"], "PRICE_CHANGED");
        assert_eq!(value["id"], "x");
    }
}
