//! `cartd serve`: checks the settings, opens the store, loads the demo catalog into an empty one,
//! and serves until SIGTERM or Ctrl-C, then lets in-flight requests finish and exits 0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use cart_api::flags::Flags;
use cart_api::identity::AuthConfigError;
use cart_api::rate_limit::{LocalRateLimit, RateLimit, SharedRateLimit};
use cart_api::rendered::RenderedCarts;
use cart_api::secret::RotatingSecret;
use cart_api::{AppState, Authenticator, Shared};
use cart_core::{CartService, RandomIds, SystemClock};
use cart_store::remote::{BreakerState, RemoteCatalog};
use cart_store::url::RedisOptions;

use crate::Failure;
use crate::config::{CatalogSource, ServeArgs, redacted_url};
use crate::demo;
use crate::secrets::SecretSource;

/// What `serve` and `cartd lambda` both build from the settings: the service, its router
/// state, and the parts that run beside requests.
pub struct Assembled {
    /// The router's state.
    pub state: AppState,
    /// The use cases (the worker and the sweeper call them too).
    pub service: Arc<CartService>,
    /// The opened store.
    pub backend: cart_store::Backend,
    /// The outbox relay, unless `--no-relay` or the caller runs none.
    pub relay: Option<cart_events::Relay>,
    /// The task feeding subscriptions from NATS, when a NATS sink is configured.
    pub follower: Option<tokio::task::JoinHandle<()>>,
    /// The rate limiter, whose idle clients the sweeper forgets.
    pub rate_limit: Option<Arc<RateLimit>>,
    /// The token verifier (its HS256 secret is replaced on SIGHUP).
    pub auth: Arc<Authenticator>,
    /// The payment webhook's secret (replaced on SIGHUP).
    pub webhook_secret: Arc<RotatingSecret>,
    /// The feature flags (the file is watched).
    pub flags: Arc<Flags>,
    /// Where the JWT and webhook secrets are read from again.
    pub secret_sources: [SecretSource; 2],
}

impl Assembled {
    /// The API's router over this state, with CORS outermost when configured, so preflights
    /// are answered before limits and shedding.
    pub fn router(&self, args: &ServeArgs) -> axum::Router {
        let router = cart_api::router(self.state.clone());
        match &args.cors_origins {
            Some(origins) => router.layer(origins.layer()),
            None => router,
        }
    }
}

/// Runs the server until a shutdown signal.
pub async fn run(mut args: ServeArgs) -> Result<(), Failure> {
    let assembled = assemble(&mut args, true).await?;
    let router = assembled.router(&args);
    let Assembled {
        state: _,
        service,
        backend,
        relay,
        follower,
        rate_limit,
        auth,
        webhook_secret,
        flags,
        secret_sources,
    } = assembled;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr().context("local address")?;
    tracing::info!(%address, "listening");

    let (stop_tx, stop_rx) = watch::channel(false);
    let sweeper = tokio::spawn(sweep(
        service.clone(),
        rate_limit,
        args.sweep_interval,
        args.sweep_batch,
        stop_rx.clone(),
    ));
    let reloader = tokio::spawn(reload_secrets_on_hangup(
        secret_sources,
        auth.clone(),
        webhook_secret.clone(),
        stop_rx.clone(),
    ));
    let flag_watcher = tokio::spawn(flags.watch(stop_rx.clone()));
    let gauges = tokio::spawn(crate::gauges::sample(
        service.clone(),
        backend.clone(),
        auth.jwks().cloned(),
        stop_rx.clone(),
    ));
    let relay = relay.map(|relay| tokio::spawn(relay.run(stop_rx.clone())));
    let worker = match args.orders.worker_source {
        crate::config::WorkerSource::None => None,
        _ => Some(tokio::spawn(crate::worker::run(
            service.clone(),
            crate::worker::fulfiller(&args.orders, webhook_secret.clone())?,
            args.orders.clone(),
            stop_rx.clone(),
        ))),
    };
    let grace = args.shutdown_grace;
    let mut grace_rx = stop_rx;
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    // The API's listener: a request target too long for hyper is answered as problem+json.
    let listener = cart_api::listener::serve_on(listener);
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = stop_tx.send(true);
    });
    // The grace period starts at the signal; past it, remaining connections are dropped.
    let deadline = async move {
        let _ = grace_rx.wait_for(|stopped| *stopped).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = server => served.context("server failed")?,
        () = deadline => tracing::warn!("grace period over: dropping remaining connections"),
    }
    let _ = sweeper.await;
    let _ = gauges.await;
    let _ = reloader.await;
    let _ = flag_watcher.await;
    if let Some(relay) = relay {
        let _ = relay.await;
    }
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    if let Some(follower) = follower {
        follower.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Checks the settings, reads the secrets, opens the store (loading the demo data into a new
/// one) and builds the service and the router's state. With `background` false (`cartd
/// lambda`), no relay and no NATS follower are built: a function instance lives only while it
/// answers.
pub async fn assemble(args: &mut ServeArgs, background: bool) -> Result<Assembled, Failure> {
    // First, so what the components below register at start is recorded.
    let metrics = cart_api::metrics::recorder();
    // Secrets are read from where the settings say (a value, a file, Secrets Manager), now
    // and again on SIGHUP.
    let jwt_source = SecretSource::jwt(&args.jwt);
    let webhook_source = SecretSource::webhook(&args.orders);
    args.jwt.jwt_secret = jwt_source.read().await.map_err(Failure::Usage)?;
    args.orders.payment_webhook_secret = webhook_source.read().await.map_err(Failure::Usage)?;
    let flags = Arc::new(match &args.flags_file {
        Some(path) => {
            Flags::from_file(path).map_err(|e| Failure::Usage(format!("CARTD_FLAGS_FILE: {e}")))?
        }
        None => Flags::defaults(),
    });
    let policy = args.policy()?;
    let order_policy = args.orders.policy()?;
    let caches = args.caches()?;
    let graphql = args.graphql()?;
    args.check_sweeper()?;
    let rate_limit = match args.rate_limit()? {
        None => None,
        Some((quota, None)) => Some(Arc::new(RateLimit::Local(LocalRateLimit::new(quota)))),
        Some((quota, Some(redis))) => {
            let shared = SharedRateLimit::connect(&redis.url, &redis.prefix, redis.timeout, quota)
                .await
                .map_err(|e| Failure::Usage(format!("CARTD_RATE_LIMIT_STORE: {e}")))?;
            Some(Arc::new(RateLimit::Shared(shared)))
        }
    };
    let auth_config = args.jwt.auth_config(&args.admin_scope)?;
    let auth = Authenticator::new(&auth_config).map_err(|e| {
        let setting = match e {
            AuthConfigError::SecretTooShort(_) => "CARTD_JWT_SECRET",
            AuthConfigError::JwksClient(_) => "CARTD_JWKS_URL",
        };
        Failure::Usage(format!("{setting}: {e}"))
    })?;
    tracing::info!(
        listen = %args.listen,
        store = %redacted_url(&args.store.url),
        jwt_secret = if args.jwt.jwt_secret.is_some() { "[redacted]" } else { "(none)" },
        jwt_issuer = ?args.jwt.jwt_issuer,
        jwt_audience = ?args.jwt.jwt_audience,
        jwt_client_id = ?args.jwt.jwt_client_id,
        jwt_leeway_secs = args.jwt.jwt_leeway.as_secs(),
        jwks_url = ?args.jwt.jwks_url,
        admin_scope = %args.admin_scope,
        max_quantity = args.max_quantity,
        max_items = args.max_items,
        guest_ttl_secs = args.guest_ttl.as_secs(),
        user_ttl_secs = args.user_ttl.as_secs(),
        idempotency_ttl_secs = args.idempotency_ttl.as_secs(),
        sweep_interval_secs = args.sweep_interval.as_secs(),
        sweep_batch = args.sweep_batch,
        catalog_cache_ttl_ms = args.catalog_cache_ttl.as_millis() as u64,
        catalog = %match &args.catalog.source {
            CatalogSource::Builtin => "builtin".to_owned(),
            CatalogSource::Remote(template) => template.redacted(),
        },
        catalog_timeout_ms = args.catalog.catalog_timeout.as_millis() as u64,
        catalog_retries = args.catalog.catalog_retries,
        recent_carts_mib = args.recent_carts_mib,
        demo_catalog = args.demo_catalog,
        relay = !args.no_relay,
        graphql_introspection = graphql.introspection,
        graphql_max_depth = graphql.max_depth,
        graphql_max_complexity = graphql.max_complexity,
        events = ?args.relay.sinks(&args.store.url).iter().map(|s| s.redacted()).collect::<Vec<_>>(),
        relay_batch = args.relay.relay_batch,
        relay_lease_ms = args.relay.relay_lease.as_millis() as u64,
        outbox_retention_secs = args.relay.outbox_retention.as_secs(),
        rate_limit_per_second = args.rate_limit,
        rate_burst = ?args.rate_burst,
        cors_origins = ?args.cors_origins,
        flags_file = ?args.flags_file,
        otel_endpoint = ?args.otel_endpoint,
        audit_log = ?args.audit_log,
        rate_limit_store = ?args.rate_limit_store.as_ref().map(RedisOptions::redacted),
        payment_webhook_secret = if args.orders.payment_webhook_secret.is_some() { "[redacted]" } else { "(none)" },
        checkout_ttl_secs = args.orders.checkout_ttl.as_secs(),
        worker_source = ?args.orders.worker_source,
        worker_max_attempts = args.orders.worker_max_attempts,
        fulfilment_url = ?args.orders.fulfilment_url,
        "effective configuration"
    );
    if args.orders.payment_webhook_secret.is_none() {
        tracing::warn!(
            "CARTD_PAYMENT_WEBHOOK_SECRET is not set: checkouts place orders, but no payment can reach them (the webhook answers 503)"
        );
    }
    if !auth.accepts_user_tokens() {
        tracing::warn!(
            "neither CARTD_JWT_SECRET nor CARTD_JWKS_URL is set: guest carts and products work, user carts answer 401"
        );
    }
    if let Some(jwks) = auth.jwks() {
        // Not fatal: tokens are answered 503 until the provider's keys can be fetched.
        if let Err(error) = jwks.refresh().await {
            tracing::warn!(%error, "cannot fetch the JWKS yet; user tokens wait for it");
        }
    }

    let backend = cart_store::open(&args.store.url)
        .await
        .with_context(|| format!("cannot open the store {}", redacted_url(&args.store.url)))?;
    // A new install (an empty catalog) gets the demo data; a store with a catalog of its own
    // never does, so a shop's store is never given demo codes.
    let remote_catalog = args
        .catalog
        .remote(args.catalog_cache_ttl)?
        .map(RemoteCatalog::new)
        .transpose()
        .context("the remote catalog")?
        .map(Arc::new);
    // A shop with a catalog service is not a new install to fill with demo books.
    let new_install = args.demo_catalog
        && remote_catalog.is_none()
        && backend.catalog().product_count().await.context("catalog")? == 0;
    if new_install {
        let products = demo::products()?;
        let count = products.len();
        backend
            .catalog()
            .upsert_products(products)
            .await
            .context("loading the demo catalog")?;
        tracing::info!(
            products = count,
            "the catalog was empty: loaded the demo bookstore"
        );
    }
    if new_install && no_pricing_settings(backend.pricing().as_ref()).await? {
        let settings = crate::pricing_file::parse(crate::pricing_file::DEMO_PRICING)
            .map_err(anyhow::Error::msg)
            .context("the demo pricing")?;
        let counts = crate::pricing_file::store(backend.pricing().as_ref(), &settings).await?;
        tracing::info!(
            tax_tables = counts.tax_rates,
            shipping_rates = counts.shipping_rates,
            promotions = counts.promotions,
            "no pricing settings: loaded the demo regions and codes"
        );
    }

    let clock: Arc<dyn cart_core::Clock> = Arc::new(SystemClock);
    let mut cached = backend.clone().with_caches(clock.clone(), caches);
    if let Some(remote) = &remote_catalog {
        cached = cached.with_catalog(remote.clone());
    }
    let payments: Arc<dyn cart_core::PaymentProvider> =
        Arc::new(cart_api::payments::WebhookPayments);
    let service = Arc::new(
        CartService::new(
            cached.store(),
            cached.catalog(),
            cached.pricing(),
            clock,
            Arc::new(RandomIds),
            policy,
        )
        .with_orders(cart_core::OrderPorts {
            records: backend.records(),
            payments: payments.clone(),
            policy: order_policy,
        }),
    );
    let live = cart_events::live::LiveFeed::default();
    let follower = if background {
        crate::relay::follow_live(&args.relay, &args.store.url, &live).await?
    } else {
        None
    };
    let relay = if !background {
        None
    } else if args.no_relay {
        tracing::info!("the outbox relay does not run in this process (--no-relay)");
        None
    } else {
        Some(crate::relay::build(&backend, &args.relay, &args.store.url, Some(&live)).await?)
    };
    let mut ready_checks: Vec<Arc<dyn cart_api::readiness::ReadyCheck>> = Vec::new();
    if let Some(relay) = &relay {
        ready_checks.push(Arc::new(crate::relay::EventsCheck(relay.status())));
    }
    if let Some(remote) = remote_catalog {
        ready_checks.push(Arc::new(CatalogCheck(remote)));
    }
    let auth = Arc::new(auth);
    let webhook_secret = Arc::new(RotatingSecret::new(
        args.orders.payment_webhook_secret.clone(),
    ));
    let state = AppState::new(Shared {
        service: service.clone(),
        pricing: cached.pricing(),
        rounding: args.rounding,
        priced: Arc::new(cart_api::priced::PricedCarts::new(caches.catalog_ttl)),
        fresh: Arc::new(cart_api::priced::PricedCarts::new(caches.catalog_ttl)),
        auth: auth.clone(),
        metrics,
        rate_limit: rate_limit.clone(),
        load: Some(Arc::new(cart_api::load::LoadLimit::new(
            args.max_in_flight as usize,
            args.max_queued as usize,
            args.request_timeout,
        ))),
        rendered: Arc::new(RenderedCarts::new(cart_api::state::RENDERED_CART_BUDGET)),
        store_kind: backend.kind(),
        ready_checks: ready_checks.into(),
        live,
        graphql,
        payments,
        webhook_secret: webhook_secret.clone(),
        flags: flags.clone(),
    });
    Ok(Assembled {
        state,
        service,
        backend,
        relay,
        follower,
        rate_limit,
        auth,
        webhook_secret,
        flags,
        secret_sources: [jwt_source, webhook_source],
    })
}

/// Deletes expired carts and idempotency records, expires orders never paid (and forgets idle rate-limit clients) every
/// `interval` until told to stop.
async fn sweep(
    service: Arc<CartService>,
    rate_limit: Option<Arc<RateLimit>>,
    interval: Duration,
    batch: usize,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        if let Some(limit) = &rate_limit {
            limit.forget_idle_clients();
        }
        sweep_once(&service, batch).await;
    }
}

/// One round of the sweeper: deletes a batch of expired carts and idempotency records and
/// expires a batch of orders never paid, logging what it did (and a failure, to be retried
/// next round).
pub async fn sweep_once(service: &CartService, batch: usize) {
    let swept = service.sweep_expired(batch).await;
    let abandoned = swept.as_ref().map_or(0, |report| report.carts);
    metrics::counter!("cartd_carts_abandoned_total").increment(abandoned as u64);
    match swept {
        Ok(report) if report.carts + report.idempotency_records > 0 => tracing::info!(
            carts = report.carts,
            idempotency_records = report.idempotency_records,
            "swept expired records"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "sweep failed; will retry"),
    }
    match service.expire_due_orders(batch).await {
        Ok(0) => {}
        Ok(expired) => tracing::info!(orders = expired, "expired orders never paid"),
        Err(e) => tracing::warn!(error = %e, "expiring unpaid orders failed; will retry"),
    }
}

/// The remote catalog's circuit breaker under `checks` in `/ready`: open or probing is
/// *degraded* (carts and cached products still work), never *not ready*.
struct CatalogCheck(Arc<RemoteCatalog>);

impl cart_api::readiness::ReadyCheck for CatalogCheck {
    fn name(&self) -> &'static str {
        "catalog"
    }

    fn readiness(&self) -> cart_api::readiness::Readiness {
        use cart_api::readiness::Readiness;
        match self.0.breaker_state() {
            BreakerState::Closed => Readiness::Ok(None),
            BreakerState::Open => Readiness::Degraded(
                "the catalog service is failing; its circuit breaker is open".into(),
            ),
            BreakerState::HalfOpen => Readiness::Degraded(
                "the catalog service was failing; probing whether it is back".into(),
            ),
        }
    }
}

/// Reads the secrets again on every SIGHUP until told to stop: the JWT secret into the token
/// verifier, the webhook secret into the webhook and the fulfilment calls. A secret that cannot
/// be read (or is too short) leaves the one in use in place.
async fn reload_secrets_on_hangup(
    [jwt, webhook]: [SecretSource; 2],
    auth: Arc<Authenticator>,
    webhook_secret: Arc<RotatingSecret>,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        tracing::warn!("cannot listen for SIGHUP: secrets are read at start only");
        return;
    };
    loop {
        tokio::select! {
            _ = hangups.recv() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        let jwt_secret = match jwt.read().await {
            Ok(secret) => secret,
            Err(error) => {
                tracing::error!(%error, "SIGHUP: keeping the JWT secret in use");
                continue;
            }
        };
        if let Err(error) = auth.replace_hs256_secret(jwt_secret.as_ref()) {
            tracing::error!(%error, "SIGHUP: CARTD_JWT_SECRET refused; keeping the one in use");
            continue;
        }
        match webhook.read().await {
            Ok(secret) => webhook_secret.set(secret),
            Err(error) => {
                tracing::error!(%error, "SIGHUP: keeping the payment webhook secret in use");
                continue;
            }
        }
        tracing::info!("SIGHUP: secrets read again");
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Whether the store holds no tax table, shipping rate or promotion at all (a new install).
async fn no_pricing_settings(settings: &dyn cart_core::PricingSettings) -> anyhow::Result<bool> {
    for kind in cart_core::PricingKind::ALL {
        if !settings
            .settings(kind)
            .await
            .context("pricing settings")?
            .is_empty()
        {
            return Ok(false);
        }
    }
    Ok(true)
}
