//! A mutation runs its command through the same use case as REST
//! ([`cart_core::CartService::execute`]): the same `Idempotency-Key` rules (scoped to caller and
//! cart, recorded in the change's atomic commit with the command's fingerprint, replayed for a
//! retry of the same command over either transport, `IDEMPOTENCY_KEY_REUSED` for another
//! command, `IDEMPOTENCY_IN_FLIGHT` while the first runs). The payload is built from the
//! domain outcome. `expectedVersion` is REST's body `version`: a mismatch is `CONFLICT`.

use async_graphql::{Context, Result};

use cart_core::{CartKey, Command, IdempotencyKey, Precondition, WriteOptions};

use crate::auth::Caller;
use crate::extract::is_idempotency_key;
use crate::graphql::context::{Traceparent, state};
use crate::graphql::error::refuse;
use crate::graphql::types::{CartPayload, MergeReport};
use crate::problem::{ApiError, Code};
use crate::writes::{legacy_fingerprint, scoped_key};

/// A mutation's write options, as it names them.
pub struct Write {
    /// The mutation's name (for records of builds before command fingerprints).
    pub operation: &'static str,
    /// Its arguments except `idempotencyKey`, as those builds digested them.
    pub legacy_arguments: serde_json::Value,
    /// `idempotencyKey`.
    pub idempotency_key: Option<String>,
    /// `expectedVersion`.
    pub expected_version: Option<i32>,
}

/// Runs `command` on `key`'s cart for `caller` under `write`'s precondition and idempotency
/// key.
pub async fn run(
    ctx: &Context<'_>,
    caller: &Caller,
    key: &CartKey,
    command: Command,
    write: Write,
) -> Result<CartPayload> {
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
    let idempotency = match &write.idempotency_key {
        None => None,
        Some(raw) => match is_idempotency_key(raw) {
            true => Some(IdempotencyKey {
                scoped: scoped_key(caller, key, raw),
                legacy_fingerprint: Some(legacy_fingerprint(
                    "POST",
                    &format!("graphql:{}", write.operation),
                    &serde_json::to_vec(&write.legacy_arguments).unwrap_or_default(),
                )),
            }),
            false => {
                let error = ApiError::new(
                    Code::ValidationError,
                    "idempotencyKey must be 1-255 printable ASCII characters",
                );
                return refuse(error, Some("idempotencyKey"));
            }
        },
    };
    let options = WriteOptions {
        precondition,
        idempotency,
        traceparent: crate::trace_context::current().or_else(|| {
            ctx.data_opt::<Traceparent>()
                .and_then(|Traceparent(value)| crate::trace_context::parse(value))
        }),
    };
    match state.service.execute(key, command, options).await {
        Ok(written) => Ok(CartPayload {
            cart: written.outcome.cart().cloned().map(Into::into),
            merge: written.outcome.merge().map(MergeReport::from),
            user_errors: Vec::new(),
        }),
        Err(error) => refuse(error.into(), None),
    }
}
