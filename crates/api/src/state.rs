//! What every handler shares.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use cart_core::CartService;
use cart_events::live::LiveFeed;

use crate::auth::Authenticator;
use crate::graphql::GraphqlConfig;
use crate::idempotency::InFlight;
use crate::rate_limit::RateLimit;
use crate::readiness::ReadyCheck;
use crate::rendered::RenderedCarts;

/// Shared state of the router: cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The use cases.
    pub service: Arc<CartService>,
    /// Token verification.
    pub auth: Arc<Authenticator>,
    /// Idempotency keys being processed in this process.
    pub in_flight: Arc<InFlight>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Per-client rate limits, when configured.
    pub rate_limit: Option<Arc<RateLimit>>,
    /// Rendered carts for reads (validated against the store on every read).
    pub rendered: Arc<RenderedCarts>,
    /// Which store backend (`sqlite` …), for `/ready`.
    pub store_kind: &'static str,
    /// Other dependencies `/ready` reports (the event relay).
    pub ready_checks: Arc<[Arc<dyn ReadyCheck>]>,
    /// Cart changes from the event stream, for subscriptions.
    pub live: LiveFeed,
    /// GraphQL limits and introspection (`GraphqlConfig::default()` suits a public endpoint).
    pub graphql: GraphqlConfig,
}

/// The default byte budget of the rendered-cart cache.
pub const RENDERED_CART_BUDGET: usize = 32 * 1024 * 1024;
