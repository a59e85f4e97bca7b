//! cart-api: the HTTP face of cartd.
//!
//! # Layout
//!
//! - [`graphql`]: `/graphql` and `/graphql/ws`: the same carts over queries, mutations and
//!   subscriptions, with REST's rules, codes and idempotency; schema in `docs/schema.graphql`.
//! - [`routes`]: REST v1 (`carts`, `products`, `pricing` settings, `guests`) and `ops` (health, ready, metrics);
//!   each module ends in `router()`, built with utoipa-axum so the router and the OpenAPI
//!   document cannot drift.
//! - [`auth`]: callers (from the `Authorization` header), which carts a caller may touch.
//! - [`identity`]: token verification: the HS256 secret, the JWKS cache, the claims checks.
//! - [`extract`]: JSON bodies, `If-Match`, `Idempotency-Key`, quantities.
//! - [`integers`]: integers in bodies as JSON Schema counts them (`2.0` is the integer 2).
//! - [`formats`]: the strings the API takes (ids, `If-Match` …) as JSON Schema, exactly as the
//!   server parses them.
//! - [`listener`]: the TCP listener `cartd serve` runs the router on, which answers a request
//!   target too long to parse with problem+json.
//! - [`commands`]: request input checked once and turned into the core's commands.
//! - [`writes`]: idempotency keys scoped to caller and cart; REST's write options and answers.
//! - [`problem`]: problem+json errors, the one mapping from domain errors.
//! - [`dto`]: JSON shapes.
//! - [`metrics`]: Prometheus recorder and request metrics.
//! - [`rate_limit`]: per-client request rate limits, in process or shared through Redis.
//! - [`audit`]: the audit log of privileged actions.
//! - [`flags`]: feature flags in the flagd format, per shopper.
//! - [`cors`]: CORS for browsers on a shop's own origin.
//! - [`secret`]: secrets replaced while the server runs (on `SIGHUP`).
//! - [`load`]: the concurrency limit that sheds load instead of queueing it, and request
//!   timeouts.
//! - [`readiness`]: dependencies besides the store that `/ready` reports.
//! - [`rendered`]: a validated cache of rendered carts for reads.
//! - [`fresh`]: a cart read's warnings (prices changed since a line was added).
//! - [`priced`]: a validated, short-lived cache of priced carts for `/totals`.
//! - [`totals`]: what a cart or a list of lines costs: loads what `cart-pricing` needs.
//! - [`totals_view`]: the JSON of totals.
//! - [`trace_context`]: the `traceparent` header, copied onto a change's events.

pub mod audit;
pub mod auth;
pub mod cart_json;
pub mod commands;
pub mod cors;
pub mod dto;
pub mod extract;
pub mod flags;
pub mod formats;
pub mod fresh;
pub mod graphql;
pub mod identity;
pub mod integers;
pub mod listener;
pub mod load;
pub mod metrics;
pub mod order_dto;
pub mod payments;
pub mod priced;
pub mod problem;
pub mod rate_limit;
pub mod readiness;
pub mod rendered;
pub mod routes;
pub mod secret;
pub mod state;
pub mod totals;
pub mod totals_view;
pub mod trace_context;
pub mod writes;

use std::sync::Arc;

use axum::Router;
use axum::http::{Request, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

pub use auth::Caller;
pub use identity::{AuthConfig, Authenticator, JwksConfig};
pub use state::{AppState, Shared};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cartd",
        description = "Shopping carts for guests and signed-in users: REST v1. Prices come from the catalog; every change is versioned, idempotent on request, and published as events.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerScheme),
    components(responses(problem::RateLimited, problem::InternalError, problem::Unavailable)),
    tags(
        (name = "cart", description = "A guest's or user's cart"),
        (name = "products", description = "The catalog"),
        (name = "pricing", description = "Tax rates and shipping rates by region (admin writes)"),
        (name = "guests", description = "Guest ids"),
        (name = "orders", description = "Checkout, orders and their fulfilment"),
        (name = "payments", description = "The payment provider's signed webhooks"),
        (name = "ops", description = "Health, readiness, metrics"),
    )
)]
struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::carts::router())
        .merge(routes::cart_pricing::router())
        .merge(routes::orders::router())
        .merge(routes::products::router())
        .merge(routes::pricing::router())
        .merge(routes::promotions::router())
        .merge(routes::guests::router())
        .merge(routes::ops::router())
        .merge(routes::flags::router())
}

/// The OpenAPI 3.1 document of the API, generated from the code.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut document) = api().split_for_parts();
    document.paths.paths.insert(
        "/openapi.json".into(),
        utoipa::openapi::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .summary(Some("This document"))
                .tag("ops")
                .response(
                    "200",
                    utoipa::openapi::ResponseBuilder::new().description("OpenAPI 3.1 JSON"),
                )
                .response(
                    "429",
                    utoipa::openapi::Ref::from_response_name("RateLimited"),
                ),
        ),
    );
    document_load_shedding(&mut document);
    document
}

/// Every route but the probes may answer `503` when the server sheds load or times a request
/// out ([`load`]), whatever else it documents.
fn document_load_shedding(document: &mut utoipa::openapi::OpenApi) {
    for (path, item) in document.paths.paths.iter_mut() {
        if matches!(path.as_str(), "/health" | "/ready" | "/metrics") {
            continue;
        }
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            operation
                .responses
                .responses
                .entry("503".to_owned())
                .or_insert_with(|| utoipa::openapi::Ref::from_response_name("Unavailable").into());
        }
    }
}

/// The OpenAPI document as pretty JSON, as kept in `docs/openapi.json`.
pub fn openapi_json() -> String {
    openapi().to_pretty_json().unwrap_or_default() + "\n"
}

/// The whole HTTP application: routes, fallbacks, request ids, tracing, metrics and
/// problem+json enrichment.
pub fn router(state: AppState) -> Router {
    let (routes, _) = api().split_for_parts();
    let document: Arc<str> = openapi_json().into();
    let make_span = |request: &Request<_>| trace_context::request_span(request);
    audit::register_metrics();
    routes
        .route(
            "/openapi.json",
            get(move || {
                let document = document.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        document.to_string(),
                    )
                        .into_response()
                }
            }),
        )
        .merge(graphql::router(&state))
        .fallback(problem::route_not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(TraceLayer::new_for_http().make_span_with(make_span))
                .layer(from_fn(audit::record))
                .layer(from_fn(metrics::track))
                .layer(from_fn(problem::enrich))
                .layer(from_fn_with_state(state.clone(), rate_limit::enforce))
                .layer(from_fn_with_state(state.clone(), load::enforce)),
        )
        .with_state(state)
}
