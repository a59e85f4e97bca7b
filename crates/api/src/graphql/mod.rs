//! GraphQL: the same carts as REST v1, over queries, mutations and live subscriptions.
//!
//! `POST /graphql` takes any operation, `GET /graphql` only queries, and `/graphql/ws` speaks
//! `graphql-transport-ws` for subscriptions. Every resolver calls the same [`CartService`] use
//! cases as REST, resolves cart keys with the same [`Caller::cart_key`], answers with the same
//! error codes (the one mapping in [`crate::problem`]), checks input with the same
//! [`crate::commands`] and records writes under the same idempotency keys (scoped by
//! [`crate::writes::scoped_key`]), so the rules cannot drift apart.
//!
//! # Layout
//!
//! - [`config`]: limits and the introspection switch ([`GraphqlConfig`]).
//! - [`query`], [`mutation`], [`subscription`]: the three root types.
//! - [`types`]: the objects they return (carts, money, products, merge reports, payloads).
//! - [`writes`]: a mutation's command through the use cases: idempotency, preconditions, the
//!   payload built from the domain outcome.
//! - [`context`]: the state, the caller and the trace context a resolver reads.
//! - [`read`]: a cart read through the use cases.
//! - [`error`]: API errors as GraphQL errors or `userErrors`.
//! - [`document`]: a document's size, nesting and expanded field count, checked before it
//!   is parsed or validated.
//! - [`guard`]: the limits as a schema extension, and a code on every error.
//! - [`http`]: the `POST`/`GET /graphql` handlers.
//! - [`ws`]: the `/graphql/ws` endpoint: authentication by `connection_init`, per-connection
//!   subscription slots.
//!
//! [`CartService`]: cart_core::CartService
//! [`Caller::cart_key`]: crate::auth::Caller::cart_key

mod config;
mod context;
mod document;
mod error;
mod guard;
mod http;
mod mutation;
mod query;
mod read;
mod subscription;
mod types;
mod writes;
mod ws;

use async_graphql::Schema;
use axum::routing::get;
use axum::{Extension, Router};

pub use config::{GraphqlConfig, MAX_DEPTH_CEILING};
pub use mutation::Mutation;
pub use query::Query;
pub use subscription::Subscription;

use crate::state::AppState;

/// The cartd GraphQL schema.
pub type CartSchema = Schema<Query, Mutation, Subscription>;

/// The schema, wired to `state` and limited by `state.graphql`.
pub fn schema(state: &AppState) -> CartSchema {
    let config = state.graphql;
    let mut builder = Schema::build(Query, Mutation, Subscription)
        .data(state.clone())
        .extension(guard::Guard::new(config))
        .limit_recursive_depth(MAX_DEPTH_CEILING);
    if !config.introspection {
        // Suggestions ("did you mean …") would leak the field names introspection hides.
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}

/// The schema in SDL, as kept in `docs/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query, Mutation, Subscription).finish().sdl()
}

/// `/graphql` (POST, and GET for queries) and `/graphql/ws` (subscriptions).
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/graphql", get(http::get).post(http::post))
        .route("/graphql/ws", get(ws::subscribe))
        .layer(Extension(schema(state)))
}
