//! The test harness: a real server on 127.0.0.1:0 over a fresh SQLite file, a manual clock,
//! a seeded catalog, tokens, and small request helpers.

use std::sync::Arc;

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use time::OffsetDateTime;

use cart_api::identity::Claims;
use cart_api::{AppState, AuthConfig, Authenticator, JwksConfig, Shared};
use cart_core::{
    CartKey, CartPolicy, CartService, GuestId, Limits, ManualClock, ProductInput, RandomIds, Store,
};
use cart_devidp::{KeyKind, SigningKey, mint_hs256};

/// The HS256 secret of test servers.
pub const SECRET: &str = "test-secret-0123456789abcdef-0123456789";

/// A decorator a test puts around the store.
pub type WrapStore = Box<dyn FnOnce(Arc<dyn Store>) -> Arc<dyn Store> + Send>;

/// How a test server is configured.
pub struct Options {
    pub secret: Option<&'static str>,
    pub limits: Limits,
    /// `(rate per second, burst)` per client.
    pub rate_limit: Option<(u32, u32)>,
    /// Token checks beyond the HS256 secret (JWKS, issuer, client id …).
    pub auth: AuthConfig,
    /// GraphQL limits and introspection.
    pub graphql: cart_api::graphql::GraphqlConfig,
    /// Runs an outbox relay in the test that feeds `state.live`, as `cartd serve` does, so
    /// subscriptions see committed changes (only the tests that need it pay for it).
    pub relay: bool,
    /// Puts a decorator of the test's own around the store the service writes through.
    pub wrap_store: Option<WrapStore>,
    /// How totals round (`CARTD_ROUNDING`).
    pub rounding: cart_pricing::Rounding,
    /// The concurrency limit, its queue and the request timeout (none by default).
    pub load: Option<Arc<cart_api::load::LoadLimit>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            secret: Some(SECRET),
            limits: Limits::default(),
            rate_limit: None,
            auth: AuthConfig::default(),
            graphql: cart_api::graphql::GraphqlConfig::default(),
            relay: false,
            wrap_store: None,
            rounding: cart_pricing::Rounding::default(),
            load: None,
        }
    }
}

/// Stops the test's relay (see [`Options::relay`]) when the app is dropped.
pub struct RelayStop(tokio::sync::watch::Sender<bool>);

impl Drop for RelayStop {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

/// A running server and handles on its insides.
pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub clock: Arc<ManualClock>,
    pub store: Arc<dyn Store>,
    pub catalog: Arc<dyn cart_core::Catalog>,
    pub pricing: Arc<dyn cart_core::PricingSettings>,
    pub service: Arc<CartService>,
    pub state: AppState,
    pub db_path: std::path::PathBuf,
    _relay: Option<RelayStop>,
    /// Without [`Options::relay`]: a relay that publishes only when the test says so.
    manual_relay: Option<Arc<cart_events::Relay>>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// Publishes everything in the outbox to `state.live` now, for a test that must decide
    /// when committed changes reach subscribers (an app spawned without [`Options::relay`]).
    pub async fn publish_outbox(&self) {
        self.manual_relay
            .as_ref()
            .expect("an app spawned with relay: false")
            .drain()
            .await
            .expect("relay the outbox");
    }
}

/// The payment webhook secret of test apps.
pub const WEBHOOK_SECRET: &str = "whsec_test_secret";

/// The seeded catalog.
fn seed() -> Vec<cart_core::Product> {
    let row = |id: &str, price: i64, currency: &str, active: bool, stock: Option<i64>| {
        ProductInput {
            id: id.into(),
            name: format!("Product {id}"),
            unit_price: price,
            currency: currency.into(),
            active,
            stock,
            tax_class: None,
        }
        .parse()
        .expect("seed product")
    };
    let mut products = vec![
        row("book", 1299, "USD", true, None),
        row("pen", 250, "USD", true, None),
        row("lamp", 4500, "USD", true, None),
        row("euro-book", 1500, "EUR", true, None),
        row("retired", 999, "USD", false, None),
        row("scarce", 700, "USD", true, Some(3)),
    ];
    // One product outside the default tax class, so views show the field is really read.
    products[5].tax_class = cart_core::TaxClass::parse("reduced").expect("class");
    products.extend((0..30).map(|i| row(&format!("item-{i:02}"), 100 + i, "USD", true, None)));
    products
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Options::default()).await
}

/// Which backend the HTTP suite runs on: `CARTD_TEST_BACKEND` = `sqlite` (default), `postgres`
/// (a fresh schema of `CARTD_TEST_POSTGRES_URL`, default the local `test` database) or `redis`
/// (a fresh key prefix on `CARTD_TEST_REDIS_URL`, default the local server) or `dynamodb` (a
/// fresh table at `CARTD_TEST_DYNAMODB_ENDPOINT`, default a moto server on 127.0.0.1:5005).
pub fn backend_under_test() -> String {
    std::env::var("CARTD_TEST_BACKEND").unwrap_or_else(|_| "sqlite".into())
}

pub async fn spawn_with(options: Options) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match backend_under_test().as_str() {
        "sqlite" => format!("sqlite://{}", dir.path().join("cartd.db").display()),
        "postgres" => {
            let base = std::env::var("CARTD_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            format!(
                "{base}?schema=cartd_api_{}&acquire_timeout=5s",
                uuid::Uuid::new_v4().simple()
            )
        }
        "redis" => {
            let base = std::env::var("CARTD_TEST_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
            format!(
                "{base}?prefix=cartd-api-{}&timeout=5s",
                uuid::Uuid::new_v4().simple()
            )
        }
        "dynamodb" => {
            let endpoint = std::env::var("CARTD_TEST_DYNAMODB_ENDPOINT")
                .unwrap_or_else(|_| "http://127.0.0.1:5005".into());
            // moto answers one request at a time: under the suite's bursts of concurrent
            // requests (fifty checkouts at once) a request waits its turn longer than the
            // default timeout a real DynamoDB never comes near.
            format!(
                "dynamodb://cartd-api-{}?region=us-east-1&endpoint={endpoint}&create=true&timeout=60s",
                uuid::Uuid::new_v4().simple()
            )
        }
        other => panic!("CARTD_TEST_BACKEND={other:?}: use sqlite, postgres, redis or dynamodb"),
    };
    let url = cart_store::StoreUrl::parse(&url).expect("url");
    let backend = cart_store::open(&url).await.expect("open store");
    backend
        .catalog()
        .upsert_products(seed())
        .await
        .expect("seed catalog");
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    // The caches `cartd serve` puts in front of the store and catalog, so every test runs
    // through them as production does.
    let cached = backend
        .clone()
        .with_caches(clock.clone(), cart_store::caching::CacheConfig::default());
    let store = match options.wrap_store {
        Some(wrap) => wrap(cached.store()),
        None => cached.store(),
    };
    let service = Arc::new(
        CartService::new(
            store,
            cached.catalog(),
            cached.pricing(),
            clock.clone(),
            Arc::new(RandomIds),
            CartPolicy {
                limits: options.limits,
                ..CartPolicy::default()
            },
        )
        .with_orders(cart_core::OrderPorts {
            records: backend.records(),
            payments: Arc::new(cart_api::payments::WebhookPayments),
            policy: cart_core::OrderPolicy::default(),
        }),
    );
    let auth = Authenticator::new(&AuthConfig {
        hs256_secret: options.secret.map(|s| SecretString::from(s.to_owned())),
        ..options.auth
    })
    .expect("auth config");
    let state = AppState::new(Shared {
        service: service.clone(),
        pricing: cached.pricing(),
        rounding: options.rounding,
        priced: Arc::new(cart_api::priced::PricedCarts::new(
            cart_store::caching::CacheConfig::default().catalog_ttl,
        )),
        fresh: Arc::new(cart_api::priced::PricedCarts::new(
            cart_store::caching::CacheConfig::default().catalog_ttl,
        )),
        auth: Arc::new(auth),
        metrics: cart_api::metrics::recorder(),
        rate_limit: options.rate_limit.map(|(rate, burst)| {
            Arc::new(cart_api::rate_limit::RateLimit::Local(
                cart_api::rate_limit::LocalRateLimit::new(cart_api::rate_limit::Quota {
                    rate: std::num::NonZeroU32::new(rate).expect("rate"),
                    burst: std::num::NonZeroU32::new(burst).expect("burst"),
                }),
            ))
        }),
        load: options.load.clone(),
        rendered: Arc::new(cart_api::rendered::RenderedCarts::new(
            cart_api::state::RENDERED_CART_BUDGET,
        )),
        store_kind: backend.kind(),
        ready_checks: Arc::from(Vec::new()),
        live: cart_events::live::LiveFeed::default(),
        graphql: options.graphql,
        payments: Arc::new(cart_api::payments::WebhookPayments),
        flags: Arc::new(cart_api::flags::Flags::defaults()),
        webhook_secret: Arc::new(cart_api::secret::RotatingSecret::new(Some(
            SecretString::from(WEBHOOK_SECRET.to_owned()),
        ))),
    });
    let new_relay = || {
        cart_events::Relay::new(
            backend.store(),
            backend.outbox(),
            vec![Arc::new(cart_events::live::LiveSink(state.live.clone()))],
            Arc::new(cart_core::SystemClock),
            cart_events::RelayConfig {
                idle_poll: std::time::Duration::from_millis(20),
                ..cart_events::RelayConfig::default()
            },
        )
    };
    let manual_relay = (!options.relay).then(|| Arc::new(new_relay()));
    let relay = options.relay.then(|| {
        let relay = new_relay();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(relay.run(stopped));
        RelayStop(stop)
    });
    let shared_state = state.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let app =
            cart_api::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(cart_api::listener::serve_on(listener), app)
            .await
            .expect("serve");
    });
    TestApp {
        base: format!("http://{address}"),
        client: Client::new(),
        clock,
        store: backend.store(),
        catalog: backend.catalog(),
        pricing: backend.pricing(),
        service,
        state: shared_state,
        db_path: dir.path().join("cartd.db"),
        _relay: relay,
        manual_relay,
        _dir: dir,
    }
}

/// A fresh guest id.
pub fn guest() -> String {
    GuestId::from_ulid_bits(uuid::Uuid::now_v7().as_u128())
        .as_str()
        .to_owned()
}

/// A valid token for `sub`.
pub fn token(sub: &str) -> String {
    token_with(sub, None)
}

/// A valid token for `sub` with scopes.
pub fn token_with(sub: &str, scope: Option<&str>) -> String {
    let now = OffsetDateTime::now_utc().unix_timestamp() as u64;
    mint_hs256(
        &SecretString::from(SECRET.to_owned()),
        &Claims {
            sub: sub.into(),
            exp: now + 3600,
            iat: Some(now),
            scope: scope.map(Into::into),
            ..Claims::default()
        },
    )
    .expect("token")
}

/// A token with arbitrary claims, signed with HS256 and `secret` (for forged and malformed
/// tokens).
pub fn signed(claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

/// A response read into status, headers and JSON.
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn read(response: Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)))
    };
    Answer {
        status,
        headers,
        body,
    }
}

impl TestApp {
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    pub async fn send(&self, request: RequestBuilder) -> Answer {
        read(request.send().await.expect("request")).await
    }

    pub async fn get_cart(&self, key: &str, token: Option<&str>) -> Answer {
        let mut request = self.request(Method::GET, &format!("/v1/cart/{key}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    pub async fn add(&self, key: &str, body: Value, token: Option<&str>) -> Answer {
        let mut request = self
            .request(Method::POST, &format!("/v1/cart/{key}/items"))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    /// Adds one unit of `product` to an empty cart under `key` and returns its line's item id.
    pub async fn add_first_line(&self, key: &str, product: &str) -> String {
        let added = self.add_product(key, product, 1).await;
        assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
        added.body["items"][0]["item_id"]
            .as_str()
            .expect("item id")
            .to_owned()
    }

    pub async fn add_product(&self, key: &str, product: &str, quantity: u64) -> Answer {
        self.add(
            key,
            json!({"product_id": product, "quantity": quantity}),
            None,
        )
        .await
    }

    pub async fn patch(&self, key: &str, item: &str, body: Value) -> Answer {
        self.send(
            self.request(Method::PATCH, &format!("/v1/cart/{key}/items/{item}"))
                .json(&body),
        )
        .await
    }

    /// Events in the outbox for one cart, oldest first.
    pub async fn events_of(&self, key: &str) -> Vec<cart_core::CartEvent> {
        let cart_key = CartKey::parse(key).expect("cart key");
        self.store
            .pending_events(100_000)
            .await
            .expect("outbox")
            .into_iter()
            .map(|entry| entry.event)
            .filter(|event| event.cart_key == cart_key)
            .collect()
    }
}

/// A stand-in identity provider: serves a JWKS of the keys it is given (changeable while it
/// runs), counts fetches, and can be taken down (503) and brought back.
#[derive(Clone)]
pub struct FakeIdp {
    pub url: String,
    keys: Arc<std::sync::Mutex<Vec<SigningKey>>>,
    fetches: Arc<std::sync::atomic::AtomicUsize>,
    up: Arc<std::sync::atomic::AtomicBool>,
}

impl FakeIdp {
    pub async fn start(keys: Vec<SigningKey>) -> Self {
        use axum::http::StatusCode as Status;
        use axum::response::IntoResponse;
        let idp = Self {
            url: String::new(),
            keys: Arc::new(std::sync::Mutex::new(keys)),
            fetches: Arc::default(),
            up: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        };
        let served = idp.clone();
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let idp = served.clone();
                async move {
                    idp.fetches
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if !idp.up.load(std::sync::atomic::Ordering::SeqCst) {
                        return Status::SERVICE_UNAVAILABLE.into_response();
                    }
                    let keys = idp.keys.lock().expect("keys").clone();
                    axum::Json(cart_devidp::jwks(&keys)).into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self {
            url: format!("http://{address}/.well-known/jwks.json"),
            ..idp
        }
    }

    /// Replaces the published keys.
    pub fn publish(&self, keys: Vec<SigningKey>) {
        *self.keys.lock().expect("keys") = keys;
    }

    /// JWKS fetches so far.
    pub fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Takes the provider down (`false`) or back up.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
    }

    /// JWKS settings for a server using this provider.
    pub fn config(&self) -> JwksConfig {
        JwksConfig::new(self.url.clone())
    }
}

/// A fresh private key of `kind`.
pub fn new_key(kind: KeyKind) -> SigningKey {
    SigningKey::from_pem(
        cart_devidp::generate_pem(kind)
            .expect("generate")
            .as_bytes(),
    )
    .expect("key")
}

/// Claims valid for an hour.
pub fn claims_for(sub: &str) -> Claims {
    let now = OffsetDateTime::now_utc().unix_timestamp() as u64;
    Claims {
        sub: sub.into(),
        exp: now + 3600,
        iat: Some(now),
        ..Claims::default()
    }
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    OffsetDateTime::now_utc().unix_timestamp() as u64
}

/// The write use cases called as a transport calls them ([`CartService::execute`]), answering
/// the cart the outcome shows: what the replica tests need in a line.
pub trait Writes {
    /// Adds units of a product.
    async fn add(
        &self,
        key: &cart_core::CartKey,
        add: cart_core::AddItem,
        options: cart_core::WriteOptions,
    ) -> Result<cart_core::Cart, cart_core::CartError>;
    /// Sets a line's quantity.
    async fn set(
        &self,
        key: &cart_core::CartKey,
        item_id: uuid::Uuid,
        quantity: cart_core::RequestedQuantity,
        options: cart_core::WriteOptions,
    ) -> Result<cart_core::Cart, cart_core::CartError>;
    /// Removes a line.
    async fn remove(
        &self,
        key: &cart_core::CartKey,
        item_id: uuid::Uuid,
        options: cart_core::WriteOptions,
    ) -> Result<cart_core::Cart, cart_core::CartError>;
    /// Empties the cart (`None`: there was none).
    async fn clear_cart(
        &self,
        key: &cart_core::CartKey,
        options: cart_core::WriteOptions,
    ) -> Result<Option<cart_core::Cart>, cart_core::CartError>;
}

impl Writes for CartService {
    async fn add(
        &self,
        key: &cart_core::CartKey,
        add: cart_core::AddItem,
        options: cart_core::WriteOptions,
    ) -> Result<cart_core::Cart, cart_core::CartError> {
        let written = self
            .execute(key, cart_core::Command::AddItem(add), options)
            .await?;
        written
            .outcome
            .cart()
            .cloned()
            .ok_or(cart_core::CartError::CartNotFound)
    }

    async fn set(
        &self,
        key: &cart_core::CartKey,
        item_id: uuid::Uuid,
        quantity: cart_core::RequestedQuantity,
        options: cart_core::WriteOptions,
    ) -> Result<cart_core::Cart, cart_core::CartError> {
        let command = cart_core::SetQuantity { item_id, quantity };
        let written = self
            .execute(key, cart_core::Command::SetQuantity(command), options)
            .await?;
        written
            .outcome
            .cart()
            .cloned()
            .ok_or(cart_core::CartError::CartNotFound)
    }

    async fn remove(
        &self,
        key: &cart_core::CartKey,
        item_id: uuid::Uuid,
        options: cart_core::WriteOptions,
    ) -> Result<cart_core::Cart, cart_core::CartError> {
        let command = cart_core::RemoveItem { item_id };
        let written = self
            .execute(key, cart_core::Command::RemoveItem(command), options)
            .await?;
        written
            .outcome
            .cart()
            .cloned()
            .ok_or(cart_core::CartError::CartNotFound)
    }

    async fn clear_cart(
        &self,
        key: &cart_core::CartKey,
        options: cart_core::WriteOptions,
    ) -> Result<Option<cart_core::Cart>, cart_core::CartError> {
        let written = self
            .execute(key, cart_core::Command::Clear, options)
            .await?;
        Ok(written.outcome.cart().cloned())
    }
}

/// A read cart without its `warnings` (which only reads carry, and which are checked where
/// they are the subject): the cart as a write answers it.
pub fn cart_part(body: &Value) -> Value {
    let mut cart = body.clone();
    if let Some(members) = cart.as_object_mut() {
        members.remove("warnings");
    }
    cart
}

/// A store whose commits wait at a gate: a write that reaches its commit stays in flight
/// until the test opens the gate.
pub struct GatedStore {
    /// The store it wraps.
    pub inner: std::sync::Arc<dyn cart_core::Store>,
    /// Notified as each commit reaches the gate.
    pub reached: std::sync::Arc<tokio::sync::Notify>,
    /// One permit per commit let through.
    pub gate: std::sync::Arc<tokio::sync::Semaphore>,
}

#[async_trait::async_trait]
impl cart_core::Store for GatedStore {
    async fn load_cart(
        &self,
        key: &cart_core::CartKey,
    ) -> Result<Option<cart_core::Cart>, cart_core::StoreError> {
        self.inner.load_cart(key).await
    }
    async fn cart_stamp(
        &self,
        key: &cart_core::CartKey,
    ) -> Result<Option<cart_core::CartStamp>, cart_core::StoreError> {
        self.inner.cart_stamp(key).await
    }
    async fn commit(&self, commit: cart_core::Commit) -> Result<(), cart_core::StoreError> {
        self.reached.notify_one();
        let _pass = self.gate.acquire().await.expect("gate");
        self.inner.commit(commit).await
    }
    async fn idempotency_record(
        &self,
        scoped_key: &str,
        now: time::OffsetDateTime,
    ) -> Result<Option<cart_core::IdempotencyRecord>, cart_core::StoreError> {
        self.inner.idempotency_record(scoped_key, now).await
    }
    async fn sweep_expired(
        &self,
        now: time::OffsetDateTime,
        batch: usize,
    ) -> Result<cart_core::SweepReport, cart_core::StoreError> {
        self.inner.sweep_expired(now, batch).await
    }
    async fn pending_events(
        &self,
        limit: usize,
    ) -> Result<Vec<cart_core::OutboxEntry>, cart_core::StoreError> {
        self.inner.pending_events(limit).await
    }
    async fn check(&self) -> Result<(), cart_core::StoreError> {
        self.inner.check().await
    }
}
