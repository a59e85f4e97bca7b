//! What a resolver reads from the GraphQL context: the shared state, the caller, and the
//! request's trace context.

use async_graphql::{Context, Result};
use axum::http::HeaderValue;

use crate::auth::Caller;
use crate::state::AppState;

/// The W3C `traceparent` of the HTTP request, copied onto a change's events as REST does.
#[derive(Debug, Clone)]
pub struct Traceparent(pub HeaderValue);

/// The shared state (schema data).
pub fn state<'a>(ctx: &Context<'a>) -> Result<&'a AppState> {
    ctx.data::<AppState>()
}

/// Who is calling: from the bearer token (HTTP) or the `connection_init` payload (WebSocket);
/// anonymous when neither named anyone.
pub fn caller(ctx: &Context<'_>) -> Caller {
    ctx.data_opt::<Caller>()
        .cloned()
        .unwrap_or(Caller::Anonymous)
}
