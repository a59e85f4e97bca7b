//! What every handler shares.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use cart_core::{CartService, PricingSettings};
use cart_events::live::LiveFeed;

use crate::graphql::GraphqlConfig;
use crate::identity::Authenticator;
use crate::rate_limit::RateLimit;
use crate::readiness::ReadyCheck;
use crate::rendered::RenderedCarts;

/// Shared state of the router: one reference count to clone.
///
/// Axum clones the state for every extractor and middleware that takes it, two or three times
/// a request; cloning and dropping the dozen handles of [`Shared`] one by one showed up as a
/// visible share of an add's CPU in a profile, and one `Arc` makes each clone a single count
/// (`docs/PERFORMANCE.md` has the figures). Fields are reached through `Deref`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state of a router serving with `shared`.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every handler shares, behind [`AppState`].
pub struct Shared {
    /// The use cases.
    pub service: Arc<CartService>,
    /// Tax tables, shipping rates and promotions, as the admin routes keep them.
    pub pricing: Arc<dyn PricingSettings>,
    /// How totals round exact amounts to minor units (`CARTD_ROUNDING`).
    pub rounding: cart_pricing::Rounding,
    /// Priced carts for `/totals` (validated against the cart, the settings and the clock on
    /// every read).
    pub priced: Arc<crate::priced::PricedCarts>,
    /// Cart reads' freshness warnings, kept the same way (validated against the cart and the
    /// catalog).
    pub fresh: Arc<crate::priced::PricedCarts>,
    /// Token verification.
    pub auth: Arc<Authenticator>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Per-client rate limits, when configured.
    pub rate_limit: Option<Arc<RateLimit>>,
    /// The concurrency limit, its queue and the request timeout (`CARTD_MAX_IN_FLIGHT`,
    /// `CARTD_MAX_QUEUED`, `CARTD_REQUEST_TIMEOUT`); `None` takes every request.
    pub load: Option<Arc<crate::load::LoadLimit>>,
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
    /// Where payment intents come from, and whose intent ids webhooks name.
    pub payments: Arc<dyn cart_core::PaymentProvider>,
    /// The payment webhook's signing secret (`CARTD_PAYMENT_WEBHOOK_SECRET`), replaced on
    /// `SIGHUP`; without one the webhook answers `503`.
    pub webhook_secret: Arc<crate::secret::RotatingSecret>,
    /// Feature flags (`CARTD_FLAGS_FILE`); every feature on without a file.
    pub flags: Arc<crate::flags::Flags>,
}

/// The default byte budget of the rendered-cart cache.
pub const RENDERED_CART_BUDGET: usize = 32 * 1024 * 1024;
