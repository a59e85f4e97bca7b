//! A mutation is a REST write: it runs through [`crate::idempotency::run_write`], so the same
//! `Idempotency-Key` rules hold (scoped to caller and cart, recorded in the change's atomic
//! commit, replayed for a retry with the same arguments, `IDEMPOTENCY_KEY_REUSED` for other
//! arguments, `IDEMPOTENCY_IN_FLIGHT` while the first runs), and the answer GraphQL shows is the
//! one REST renders and the record stores.
//!
//! The fingerprint of a GraphQL write is its mutation name and arguments (all but the key), in
//! place of REST's method, path and body. A key is scoped as in REST, so one key sent over REST
//! and over GraphQL for the same cart is a reuse, never a replay of the other API's answer.
//! `expectedVersion` is REST's body `version`: a mismatch is `CONFLICT`.

use std::future::Future;

use async_graphql::{Context, Result};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use cart_core::{CartError, CartKey, Precondition, WriteOptions};

use crate::auth::Caller;
use crate::extract::idempotency_key;
use crate::graphql::context::{Traceparent, state};
use crate::graphql::error::{internal, refuse};
use crate::graphql::types::{Cart, CartPayload, MergeReport};
use crate::idempotency::{WriteRequest, Written, run_write};
use crate::problem::{ApiError, Code};

/// One mutation, as the idempotency record sees it.
pub struct Write {
    /// The mutation's name.
    pub operation: &'static str,
    /// Its arguments except `idempotencyKey`: with the name, the request's fingerprint.
    pub arguments: serde_json::Value,
    /// `idempotencyKey`.
    pub idempotency_key: Option<String>,
    /// `expectedVersion`.
    pub expected_version: Option<i32>,
}

/// The JSON REST answers a write with: a cart, with `merge` for a merge.
#[derive(Deserialize)]
struct Answer {
    #[serde(flatten)]
    cart: Cart,
    #[serde(default)]
    merge: Option<MergeReport>,
}

/// Runs `apply` on `key`'s cart for `caller` under `write`'s precondition and idempotency key.
pub async fn run<F, Fut, O>(
    ctx: &Context<'_>,
    caller: &Caller,
    key: &CartKey,
    write: Write,
    apply: F,
) -> Result<CartPayload>
where
    F: FnOnce(WriteOptions) -> Fut,
    Fut: Future<Output = Result<O, CartError>>,
    O: Into<Written>,
{
    let state = state(ctx)?;
    let precondition = match write.expected_version.map(u64::try_from).transpose() {
        Ok(version) => version.map(Precondition::BodyVersion),
        Err(_) => {
            return refuse(
                ApiError::new(
                    Code::ValidationError,
                    "expectedVersion must be a non-negative integer",
                ),
                Some("expectedVersion"),
            );
        }
    };
    let mut headers = HeaderMap::new();
    if let Some(Traceparent(value)) = ctx.data_opt::<Traceparent>() {
        headers.insert("traceparent", value.clone());
    }
    if let Some(key) = &write.idempotency_key {
        let refused = || {
            ApiError::new(
                Code::ValidationError,
                "idempotencyKey must be 1-255 printable ASCII characters",
            )
        };
        let Ok(value) = HeaderValue::from_str(key) else {
            return refuse(refused(), Some("idempotencyKey"));
        };
        headers.insert("idempotency-key", value);
        if idempotency_key(&headers).is_err() {
            return refuse(refused(), Some("idempotencyKey"));
        }
    }
    let path = format!("graphql:{}", write.operation);
    let body = serde_json::to_vec(&write.arguments).map_err(internal)?;
    let request = WriteRequest {
        caller,
        cart: key,
        headers: &headers,
        method: Method::POST,
        path: &path,
        body: &body,
        precondition,
        // Not 204 for a clear: GraphQL answers with the emptied cart.
        success: StatusCode::OK,
    };
    match run_write(state, request, apply).await {
        Ok(response) => payload(response).await,
        Err(error) => refuse(error, None),
    }
}

/// The payload for the answer REST would have sent (fresh or replayed).
async fn payload(response: Response) -> Result<CartPayload> {
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(internal)?;
    if body.is_empty() {
        // A clear that found no cart.
        return Ok(CartPayload::default());
    }
    let answer: Answer = serde_json::from_slice(&body).map_err(internal)?;
    Ok(CartPayload {
        cart: Some(answer.cart),
        merge: answer.merge,
        user_errors: Vec::new(),
    })
}
