//! The command line and its `CARTD_` environment equivalents, with documented defaults, and the
//! checks that turn them into typed settings. A bad value stops the process with a one-line error
//! naming the setting and exit code 2.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use cart_api::cors::CorsOrigins;
use cart_api::graphql::GraphqlConfig;
use cart_api::rate_limit::Quota;
use cart_api::{AuthConfig, JwksConfig};
use cart_core::{CartPolicy, Limits};
use cart_events::{RelayConfig, SinkUrl};
use cart_store::StoreUrl;
use cart_store::caching::CacheConfig;
use cart_store::remote::{BreakerConfig, FieldMap, RemoteCatalogConfig, UrlTemplate};
use cart_store::url::RedisOptions;

/// cartd: the shopping-cart service.
#[derive(Debug, Parser)]
#[command(name = "cartd", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (runs migrations first; loads a demo catalog into an empty store).
    Serve(Box<ServeArgs>),
    /// Create or upgrade the store's schema, then exit.
    Migrate(StoreArgs),
    /// Manage the product catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Manage tax rates, shipping rates and promotions.
    #[command(subcommand)]
    Pricing(PricingCommand),
    /// Payments, for development: sign and send a provider's webhook.
    #[command(subcommand)]
    Payments(PaymentsCommand),
    /// Run only the order worker (for deployments that scale it apart from `serve`).
    Worker(Box<WorkerCommandArgs>),
    /// Orders whose fulfilment failed every attempt.
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLettersCommand),
    /// Inspect the transactional outbox.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Run only the outbox relay (for deployments that scale it apart from `serve`).
    Relay(Box<RelayCommandArgs>),
    /// Print a development token, signed with the HS256 secret or a private key file.
    Token(Box<TokenArgs>),
    /// A development identity provider: make signing keys, serve their JWKS.
    #[command(subcommand)]
    Jwks(JwksCommand),
    /// Print the OpenAPI document.
    Openapi,
    /// Run as an AWS Lambda function (a package's `bootstrap` runs this): the HTTP API behind
    /// API Gateway, the outbox relay, or the order worker on an SQS queue.
    Lambda(Box<LambdaArgs>),
    /// Ask a running cartd's `/health` (a container's health check: exit 0 when it answers
    /// 200, 1 otherwise).
    Health(HealthArgs),
}

/// `cartd lambda`.
#[derive(Debug, Args)]
pub struct LambdaArgs {
    /// What this function does.
    #[arg(value_enum, default_value_t = LambdaRole::Http)]
    pub role: LambdaRole,
    /// The same settings as `serve` (`CARTD_LISTEN` is not used).
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// What a `cartd lambda` function does with its invocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LambdaRole {
    /// API Gateway REST (v1) and HTTP API (v2) requests, answered by the HTTP API's router.
    Http,
    /// Every invocation (a schedule, a DynamoDB stream batch) publishes the pending outbox
    /// events and runs one round of the sweeper.
    Relay,
    /// SQS batches of `order.paid` events: each order is fulfilled; failed records are
    /// reported back so SQS delivers them again.
    Worker,
}

/// `cartd health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The address `serve` listens on (`0.0.0.0` and `::` are asked on loopback).
    #[arg(
        long,
        env = "CARTD_LISTEN",
        value_name = "CARTD_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
    /// The URL to ask instead (default: `http://<CARTD_LISTEN>/health`).
    #[arg(long)]
    pub url: Option<String>,
}

/// `cartd payments …`.
#[derive(Debug, Subcommand)]
pub enum PaymentsCommand {
    /// Sign a payment provider's event about an order's payment and send it to a running
    /// cartd's webhook, as the provider would.
    Simulate(Box<SimulateArgs>),
}

/// `cartd payments simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The order's id.
    #[arg(long)]
    pub order: uuid::Uuid,
    /// What the provider reports.
    pub outcome: PaymentOutcome,
    /// The cartd to send it to.
    #[arg(long = "url", id = "server", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The store (to read the order's payment intent).
    #[command(flatten)]
    pub store: StoreArgs,
    /// The webhook secret.
    #[command(flatten)]
    pub orders: OrderArgs,
}

/// A payment outcome to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PaymentOutcome {
    /// `payment_intent.succeeded`.
    Succeed,
    /// `payment_intent.payment_failed`.
    Fail,
}

/// `cartd dead-letters …`.
#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// Print the dead letters, one JSON order per line.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// The store.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Send a dead letter back to fulfilment.
    Retry {
        /// The order's id.
        order: uuid::Uuid,
        /// The store.
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// `cartd worker`.
#[derive(Debug, Clone, Args)]
pub struct WorkerCommandArgs {
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// How orders are fulfilled.
    #[command(flatten)]
    pub orders: OrderArgs,
    /// Log format.
    #[arg(long, env = "CARTD_LOG_FORMAT", value_name = "CARTD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Where the order worker takes paid orders from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerSource {
    /// The store's own queue of paid orders, polled by the worker in this process.
    InProcess,
    /// No worker in this process (another process runs `cartd worker`).
    None,
    /// A durable JetStream consumer of the `order.paid` events the relay publishes to NATS
    /// (`nats://HOST:PORT[?stream=…&subject_prefix=…]`, as in `CARTD_EVENTS`).
    Nats {
        /// The server URL.
        url: String,
        /// The relay's stream.
        stream: String,
        /// The relay's subject prefix, if any.
        subject_prefix: Option<String>,
    },
    /// An SQS queue that receives the relay's events (subscribed to the SNS topic the relay
    /// publishes to, or the SQS sink's own queue): `sqs://QUEUE-URL[?region=…&endpoint=…]`.
    Sqs(cart_events::sink::AwsTarget),
}

/// `in-process`, `none`, or a `nats://` URL.
fn parse_worker_source(raw: &str) -> Result<WorkerSource, String> {
    match raw {
        "in-process" => Ok(WorkerSource::InProcess),
        "none" => Ok(WorkerSource::None),
        nats if nats.starts_with("nats://") => match SinkUrl::parse(nats) {
            Ok(SinkUrl::Nats {
                url,
                stream,
                subject_prefix,
                ..
            }) => Ok(WorkerSource::Nats {
                url,
                stream,
                subject_prefix,
            }),
            Ok(_) => Err("not a nats:// URL".into()),
            Err(e) => Err(e.to_string()),
        },
        sqs if sqs.starts_with("sqs://") => match SinkUrl::parse(sqs) {
            Ok(SinkUrl::Sqs(target)) => Ok(WorkerSource::Sqs(target)),
            Ok(_) => Err("not an sqs:// URL".into()),
            Err(e) => Err(e.to_string()),
        },
        _ => Err(
            "must be in-process, none, nats://HOST:PORT[?stream=…&subject_prefix=…] \
                  or sqs://QUEUE-URL[?region=…&endpoint=…]"
                .into(),
        ),
    }
}

/// Checkout, payments and the order worker; shared by `serve`, `worker` and `payments`.
#[derive(Debug, Clone, Args)]
pub struct OrderArgs {
    /// The payment provider's webhook signing secret: `POST /v1/payments/webhook` checks
    /// `Payment-Signature` with it (and answers 503 without it).
    #[arg(
        long,
        env = "CARTD_PAYMENT_WEBHOOK_SECRET",
        value_name = "CARTD_PAYMENT_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub payment_webhook_secret: Option<SecretString>,
    /// A file holding the webhook signing secret, instead of `CARTD_PAYMENT_WEBHOOK_SECRET`;
    /// read again on `SIGHUP`.
    #[arg(
        long,
        env = "CARTD_PAYMENT_WEBHOOK_SECRET_FILE",
        value_name = "CARTD_PAYMENT_WEBHOOK_SECRET_FILE"
    )]
    pub payment_webhook_secret_file: Option<PathBuf>,
    /// How long an order waits for payment before it expires (stock released, cart unlocked).
    #[arg(long, env = "CARTD_CHECKOUT_TTL", value_name = "CARTD_CHECKOUT_TTL", default_value = "30m", value_parser = parse_duration)]
    pub checkout_ttl: Duration,
    /// Where the worker takes paid orders from: `in-process` (the store's queue), `none`,
    /// `nats://HOST:PORT[?stream=…&subject_prefix=…]` (a durable JetStream consumer of the
    /// relay's `order.paid` events) or `sqs://QUEUE-URL[?region=…&endpoint=…]` (a queue
    /// subscribed to the relay's SNS topic).
    #[arg(long, env = "CARTD_WORKER_SOURCE", value_name = "CARTD_WORKER_SOURCE", default_value = "in-process", value_parser = parse_worker_source)]
    pub worker_source: WorkerSource,
    /// Fulfilment attempts before an order becomes a dead letter.
    #[arg(
        long,
        env = "CARTD_WORKER_MAX_ATTEMPTS",
        value_name = "CARTD_WORKER_MAX_ATTEMPTS",
        default_value_t = 5
    )]
    pub worker_max_attempts: u32,
    /// The pause after a first failed attempt; it doubles with each further one (with jitter).
    #[arg(long, env = "CARTD_WORKER_BACKOFF", value_name = "CARTD_WORKER_BACKOFF", default_value = "1s", value_parser = parse_duration)]
    pub worker_backoff: Duration,
    /// The longest pause between attempts.
    #[arg(long, env = "CARTD_WORKER_BACKOFF_MAX", value_name = "CARTD_WORKER_BACKOFF_MAX", default_value = "5m", value_parser = parse_duration)]
    pub worker_backoff_max: Duration,
    /// How often an idle worker looks for paid orders.
    #[arg(long, env = "CARTD_WORKER_POLL", value_name = "CARTD_WORKER_POLL", default_value = "1s", value_parser = parse_duration)]
    pub worker_poll: Duration,
    /// How long a worker holds an order it took before another may take it (longer than a
    /// fulfilment call may last).
    #[arg(long, env = "CARTD_WORKER_LEASE", value_name = "CARTD_WORKER_LEASE", default_value = "60s", value_parser = parse_duration)]
    pub worker_lease: Duration,
    /// The fulfilment endpoint: each paid order is POSTed there as JSON, signed like the
    /// payment webhook (`Cartd-Signature`), with `Idempotency-Key: <order id>`. Unset: orders are
    /// fulfilled at once.
    #[arg(
        long,
        env = "CARTD_FULFILMENT_URL",
        value_name = "CARTD_FULFILMENT_URL"
    )]
    pub fulfilment_url: Option<String>,
    /// How long a fulfilment call may take.
    #[arg(long, env = "CARTD_FULFILMENT_TIMEOUT", value_name = "CARTD_FULFILMENT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub fulfilment_timeout: Duration,
}

impl OrderArgs {
    /// The order rules, checked.
    pub fn policy(&self) -> Result<cart_core::OrderPolicy, SettingError> {
        if self.checkout_ttl < Duration::from_secs(60)
            || self.checkout_ttl > Duration::from_secs(7 * 86_400)
        {
            return Err(SettingError {
                setting: "CARTD_CHECKOUT_TTL",
                reason: "must be between 1m and 7d".into(),
            });
        }
        if !(1..=100).contains(&self.worker_max_attempts) {
            return Err(SettingError {
                setting: "CARTD_WORKER_MAX_ATTEMPTS",
                reason: "must be from 1 to 100".into(),
            });
        }
        if self.worker_poll.is_zero() || self.worker_lease <= self.fulfilment_timeout {
            return Err(SettingError {
                setting: "CARTD_WORKER_LEASE",
                reason: "must be longer than CARTD_FULFILMENT_TIMEOUT (and CARTD_WORKER_POLL more than 0s)".into(),
            });
        }
        if let Some(url) = &self.fulfilment_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(SettingError {
                setting: "CARTD_FULFILMENT_URL",
                reason: "must be an http:// or https:// URL".into(),
            });
        }
        Ok(cart_core::OrderPolicy {
            checkout_ttl: time::Duration::try_from(self.checkout_ttl)
                .unwrap_or(time::Duration::minutes(30)),
            max_fulfilment_attempts: self.worker_max_attempts,
        })
    }
}

/// `cartd catalog …`.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Upsert every product of a JSON array file, all or nothing.
    Import {
        /// A JSON array of `{id, name, unit_price, currency, active?, stock?}`.
        file: PathBuf,
        /// The store.
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// `cartd pricing …`.
#[derive(Debug, Subcommand)]
pub enum PricingCommand {
    /// Load tax rates, shipping rates and promotions from one JSON file, each replacing the
    /// setting of its region or code. The whole file is checked first: one bad row imports
    /// nothing.
    Import {
        /// `{"tax_rates": [{region, rates, prices_include_tax}], "shipping_rates": [{region,
        /// amount, currency, free_above?}], "promotions": [{code, type, …}]}`.
        file: PathBuf,
        /// The store.
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// `cartd outbox …`.
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Print pending (unpublished) events as JSON lines, oldest first.
    List {
        /// At most this many events.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// The store.
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// `cartd jwks …`.
#[derive(Debug, Subcommand)]
pub enum JwksCommand {
    /// Write a new private key (PKCS#8 PEM) for `cartd token --alg` and `cartd jwks serve`.
    Keygen {
        /// rs256, es256, es384 or eddsa.
        #[arg(long, default_value = "rs256")]
        alg: String,
        /// The file to write (refuses to overwrite).
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve the public keys of private key files as a JWKS at `/.well-known/jwks.json`. The
    /// files are read on every request, so rotating a key is replacing a file.
    Serve {
        /// A private key file (repeat for several keys).
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
    },
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Store URL: `sqlite://`, `postgres://`, `redis://` or `dynamodb://` (forms in `--help`).
    ///
    /// SQLite (embedded): `sqlite://PATH[?synchronous=normal|full]`, relative
    /// (`sqlite://cartd.db`) or absolute (`sqlite:///var/lib/cartd/cartd.db`).
    ///
    /// PostgreSQL:
    /// `postgres://USER@HOST[:PORT]/DB[?max_connections=16&acquire_timeout=5s&statement_timeout=5s&schema=NAME&group_commit=64]`
    /// (also `postgresql://`); other parameters such as `sslmode` go to the driver.
    ///
    /// Redis: `redis://HOST[:PORT][/DB][?prefix=cartd&timeout=2s]` (`rediss://` for TLS).
    ///
    /// DynamoDB: `dynamodb://TABLE[?region=REGION&endpoint=URL&create=true&timeout=5s]`; AWS
    /// credentials come from the usual environment and profile chain.
    #[arg(
        long = "store",
        env = "CARTD_STORE",
        value_name = "CARTD_STORE",
        default_value = "sqlite://cartd.db",
        value_parser = parse_store_url
    )]
    pub url: StoreUrl,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// JWT verification settings shared by `serve` and `token`.
#[derive(Debug, Clone, Args)]
pub struct JwtArgs {
    /// HS256 secret for user tokens, at least 32 bytes. Without it only guest carts work.
    #[arg(
        long,
        env = "CARTD_JWT_SECRET",
        value_name = "CARTD_JWT_SECRET",
        hide_env_values = true
    )]
    pub jwt_secret: Option<SecretString>,
    /// A file holding the HS256 secret (a mounted Kubernetes or Docker secret), instead of
    /// `CARTD_JWT_SECRET`; read again on `SIGHUP`.
    #[arg(
        long,
        env = "CARTD_JWT_SECRET_FILE",
        value_name = "CARTD_JWT_SECRET_FILE"
    )]
    pub jwt_secret_file: Option<PathBuf>,
    /// Required token issuer (`iss`).
    #[arg(long, env = "CARTD_JWT_ISSUER", value_name = "CARTD_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required token audience (`aud`).
    #[arg(long, env = "CARTD_JWT_AUDIENCE", value_name = "CARTD_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Required app client id: the `client_id` claim (Cognito access tokens) or `aud`.
    #[arg(long, env = "CARTD_JWT_CLIENT_ID", value_name = "CARTD_JWT_CLIENT_ID")]
    pub jwt_client_id: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`.
    #[arg(long, env = "CARTD_JWT_LEEWAY", value_name = "CARTD_JWT_LEEWAY", default_value = "30s", value_parser = parse_duration)]
    pub jwt_leeway: Duration,
    /// JWKS URL of the identity provider (RS256/384/512, ES256/384, EdDSA keys), e.g.
    /// `https://cognito-idp.<region>.amazonaws.com/<pool-id>/.well-known/jwks.json`.
    #[arg(long, env = "CARTD_JWKS_URL", value_name = "CARTD_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Fetch the JWKS again when it is older than this.
    #[arg(long, env = "CARTD_JWKS_REFRESH", value_name = "CARTD_JWKS_REFRESH", default_value = "10m", value_parser = parse_duration)]
    pub jwks_refresh: Duration,
    /// Never fetch the JWKS more often than this (unknown `kid`s included).
    #[arg(long, env = "CARTD_JWKS_MIN_REFRESH", value_name = "CARTD_JWKS_MIN_REFRESH", default_value = "30s", value_parser = parse_duration)]
    pub jwks_min_refresh: Duration,
    /// Keep using the last fetched JWKS this long while the provider is unreachable.
    #[arg(long, env = "CARTD_JWKS_MAX_STALE", value_name = "CARTD_JWKS_MAX_STALE", default_value = "6h", value_parser = parse_duration)]
    pub jwks_max_stale: Duration,
}

/// `cartd serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "CARTD_LISTEN",
        value_name = "CARTD_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Token settings.
    #[command(flatten)]
    pub jwt: JwtArgs,
    /// Scope (in `scope`, or a Cognito group of this name) that grants access to every cart.
    #[arg(
        long,
        env = "CARTD_ADMIN_SCOPE",
        value_name = "CARTD_ADMIN_SCOPE",
        default_value = "cart:admin"
    )]
    pub admin_scope: String,
    /// Most units on one cart line.
    #[arg(
        long,
        env = "CARTD_MAX_QUANTITY",
        value_name = "CARTD_MAX_QUANTITY",
        default_value_t = 99
    )]
    pub max_quantity: u32,
    /// Most lines in one cart.
    #[arg(
        long,
        env = "CARTD_MAX_ITEMS",
        value_name = "CARTD_MAX_ITEMS",
        default_value_t = 100
    )]
    pub max_items: u32,
    /// How long a guest cart lives after its last change.
    #[arg(long, env = "CARTD_GUEST_TTL", value_name = "CARTD_GUEST_TTL", default_value = "7d", value_parser = parse_duration)]
    pub guest_ttl: Duration,
    /// How long a user cart lives after its last change.
    #[arg(long, env = "CARTD_USER_TTL", value_name = "CARTD_USER_TTL", default_value = "90d", value_parser = parse_duration)]
    pub user_ttl: Duration,
    /// How long idempotency records are kept.
    #[arg(long, env = "CARTD_IDEMPOTENCY_TTL", value_name = "CARTD_IDEMPOTENCY_TTL", default_value = "24h", value_parser = parse_duration)]
    pub idempotency_ttl: Duration,
    /// How long a catalog lookup, a pricing setting and computed totals are reused (0s: read
    /// them every time). Catalog and pricing changes made by another process are seen within
    /// this time.
    #[arg(long, env = "CARTD_CATALOG_CACHE_TTL", value_name = "CARTD_CATALOG_CACHE_TTL", default_value = "2s", value_parser = parse_duration)]
    pub catalog_cache_ttl: Duration,
    /// Where products come from: `builtin` (the store's own catalog), or a catalog service's
    /// product URL with `{id}` in place of the product id.
    #[command(flatten)]
    pub catalog: CatalogArgs,
    /// MiB of memory for the carts this process committed last, from which the next write to
    /// the same cart starts instead of reading the store (0: every write reads the store).
    #[arg(
        long,
        env = "CARTD_RECENT_CARTS_MIB",
        value_name = "CARTD_RECENT_CARTS_MIB",
        default_value_t = cart_store::caching::DEFAULT_RECENT_CARTS_BUDGET / (1024 * 1024)
    )]
    pub recent_carts_mib: usize,
    /// How often the sweeper deletes expired carts and idempotency records.
    #[arg(long, env = "CARTD_SWEEP_INTERVAL", value_name = "CARTD_SWEEP_INTERVAL", default_value = "1m", value_parser = parse_duration)]
    pub sweep_interval: Duration,
    /// Rows the sweeper deletes per transaction.
    #[arg(
        long,
        env = "CARTD_SWEEP_BATCH",
        value_name = "CARTD_SWEEP_BATCH",
        default_value_t = 500
    )]
    pub sweep_batch: usize,
    /// Requests per second per client IP; 0 turns rate limiting off.
    #[arg(
        long,
        env = "CARTD_RATE_LIMIT",
        value_name = "CARTD_RATE_LIMIT",
        default_value_t = 0
    )]
    pub rate_limit: u32,
    /// Requests a client may burst above its rate (default: the rate itself).
    #[arg(long, env = "CARTD_RATE_BURST", value_name = "CARTD_RATE_BURST")]
    pub rate_burst: Option<u32>,
    /// Feature flags in the OpenFeature flagd format (`graphql`, `discount-codes`, `checkout`,
    /// `merge-strategies`), read again when the file changes; unset, every feature is on.
    #[arg(long, env = "CARTD_FLAGS_FILE", value_name = "CARTD_FLAGS_FILE")]
    pub flags_file: Option<PathBuf>,
    /// Origins a browser may call cartd from: `*`, or a comma-separated list of
    /// `scheme://host[:port]` origins; unset, no CORS headers are sent.
    #[arg(long, env = "CARTD_CORS_ORIGINS", value_name = "CARTD_CORS_ORIGINS", value_parser = parse_cors_origins)]
    pub cors_origins: Option<CorsOrigins>,
    /// Where the rate limits' budgets live: a Redis URL (`redis://HOST[:PORT][/DB][?prefix=cartd&timeout=2s]`)
    /// shares them between replicas; unset, each replica keeps its own.
    #[arg(long, env = "CARTD_RATE_LIMIT_STORE", value_name = "CARTD_RATE_LIMIT_STORE", value_parser = parse_rate_limit_store)]
    pub rate_limit_store: Option<RedisOptions>,
    /// Requests handled at once; up to `CARTD_MAX_QUEUED` more wait for a slot, and beyond
    /// that a request is refused at once with `503 OVERLOADED` (probes never are).
    #[arg(long, env = "CARTD_MAX_IN_FLIGHT", value_name = "CARTD_MAX_IN_FLIGHT", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,
    /// Requests that may wait for a slot (see `CARTD_MAX_IN_FLIGHT`).
    #[arg(
        long,
        env = "CARTD_MAX_QUEUED",
        value_name = "CARTD_MAX_QUEUED",
        default_value_t = 1024
    )]
    pub max_queued: u32,
    /// How long a request may run before it is answered `503 REQUEST_TIMEOUT`.
    #[arg(long, env = "CARTD_REQUEST_TIMEOUT", value_name = "CARTD_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Event sinks and relay pacing.
    #[command(flatten)]
    pub relay: RelayArgs,
    /// Do not run the outbox relay in this process (run `cartd relay` elsewhere).
    #[arg(
        long = "no-relay",
        env = "CARTD_NO_RELAY",
        value_name = "CARTD_NO_RELAY"
    )]
    pub no_relay: bool,
    /// Answer GraphQL introspection (`__schema`, `__type`); the schema is public in
    /// `docs/schema.graphql` anyway.
    #[arg(long, env = "CARTD_GRAPHQL_INTROSPECTION", value_name = "CARTD_GRAPHQL_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub graphql_introspection: bool,
    /// The deepest GraphQL selection nesting accepted (introspection's `ofType` chains, one
    /// wrapped type per level, do not count).
    #[arg(
        long,
        env = "CARTD_GRAPHQL_MAX_DEPTH",
        value_name = "CARTD_GRAPHQL_MAX_DEPTH",
        default_value_t = 10
    )]
    pub graphql_max_depth: usize,
    /// The highest GraphQL query complexity accepted (one point per selected field).
    #[arg(
        long,
        env = "CARTD_GRAPHQL_MAX_COMPLEXITY",
        value_name = "CARTD_GRAPHQL_MAX_COMPLEXITY",
        default_value_t = 500
    )]
    pub graphql_max_complexity: usize,
    /// How many subscriptions one GraphQL WebSocket connection may hold.
    #[arg(
        long,
        env = "CARTD_GRAPHQL_MAX_SUBSCRIPTIONS",
        value_name = "CARTD_GRAPHQL_MAX_SUBSCRIPTIONS",
        default_value_t = 16
    )]
    pub graphql_max_subscriptions: usize,
    /// How totals round an exact amount (a percentage discount, each line's tax) to minor
    /// units: `half_even` (banker's rounding) or `half_up` (commercial rounding).
    #[arg(
        long,
        env = "CARTD_ROUNDING",
        value_name = "CARTD_ROUNDING",
        default_value = "half_even"
    )]
    pub rounding: cart_pricing::Rounding,
    /// Load the demo bookstore catalog when the catalog is empty, with the demo regions and
    /// discount codes (unless pricing settings exist already).
    #[arg(long, env = "CARTD_DEMO_CATALOG", value_name = "CARTD_DEMO_CATALOG", default_value_t = true, action = clap::ArgAction::Set)]
    pub demo_catalog: bool,
    /// Log format.
    #[arg(long, env = "CARTD_LOG_FORMAT", value_name = "CARTD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The OpenTelemetry collector's base URL for traces (`http://collector:4318` for
    /// HTTP/protobuf, `http://collector:4317` with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`); the
    /// standard `OTEL_*` variables are honoured too.
    #[arg(long, env = "CARTD_OTEL_ENDPOINT", value_name = "CARTD_OTEL_ENDPOINT")]
    pub otel_endpoint: Option<String>,
    /// A file the audit log (privileged actions, JSON lines) is appended to, apart from the
    /// service log; unset, audit lines go to the service log under the `cartd::audit` target.
    #[arg(long, env = "CARTD_AUDIT_LOG", value_name = "CARTD_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
    /// How long in-flight requests may take to finish after SIGTERM/Ctrl-C.
    #[arg(long, env = "CARTD_SHUTDOWN_GRACE", value_name = "CARTD_SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
    /// Checkout, payments and the order worker.
    #[command(flatten)]
    pub orders: OrderArgs,
}

/// Where events go and how the relay paces itself; shared by `serve` and `relay`.
#[derive(Debug, Clone, Args)]
pub struct RelayArgs {
    /// Event sinks, comma-separated: `file://PATH.ndjson`, `nats://HOST:PORT`,
    /// `redis://HOST:PORT`, `sns://TOPIC-ARN`, `sqs://QUEUE-URL`, `eventbridge://BUS`. Default: a
    /// file next to the SQLite database (`cartd.events.ndjson` for `cartd.db`), or
    /// `cartd-events.ndjson` in the working directory for other stores.
    #[arg(long, env = "CARTD_EVENTS", value_name = "CARTD_EVENTS", value_parser = parse_sinks)]
    pub events: Option<SinkList>,
    /// The CloudEvents `source` of published events.
    #[arg(
        long,
        env = "CARTD_EVENTS_SOURCE",
        value_name = "CARTD_EVENTS_SOURCE",
        default_value = "/cartd"
    )]
    pub events_source: String,
    /// Events published per round.
    #[arg(
        long,
        env = "CARTD_RELAY_BATCH",
        value_name = "CARTD_RELAY_BATCH",
        default_value_t = 256
    )]
    pub relay_batch: usize,
    /// How long the relay lease lasts; a standby relay takes over this long after the active
    /// one died.
    #[arg(long, env = "CARTD_RELAY_LEASE", value_name = "CARTD_RELAY_LEASE", default_value = "15s", value_parser = parse_duration)]
    pub relay_lease: Duration,
    /// The pause after a round that found nothing to publish.
    #[arg(long, env = "CARTD_RELAY_POLL", value_name = "CARTD_RELAY_POLL", default_value = "100ms", value_parser = parse_duration)]
    pub relay_poll: Duration,
    /// The longest pause between retries while a broker fails.
    #[arg(long, env = "CARTD_RELAY_BACKOFF_MAX", value_name = "CARTD_RELAY_BACKOFF_MAX", default_value = "30s", value_parser = parse_duration)]
    pub relay_backoff_max: Duration,
    /// How long published events stay in the outbox before they are pruned.
    #[arg(long, env = "CARTD_OUTBOX_RETENTION", value_name = "CARTD_OUTBOX_RETENTION", default_value = "24h", value_parser = parse_duration)]
    pub outbox_retention: Duration,
}

impl RelayArgs {
    /// The relay's settings, checked.
    pub fn relay_config(&self) -> Result<RelayConfig, SettingError> {
        if self.relay_batch == 0 || self.relay_batch > 10_000 {
            return Err(SettingError {
                setting: "CARTD_RELAY_BATCH",
                reason: "must be from 1 to 10000".into(),
            });
        }
        if self.relay_lease < Duration::from_secs(2) || self.relay_lease > Duration::from_secs(600)
        {
            return Err(SettingError {
                setting: "CARTD_RELAY_LEASE",
                reason: "must be between 2s and 10m".into(),
            });
        }
        if self.relay_poll.is_zero() || self.relay_poll > self.relay_lease / 3 {
            return Err(SettingError {
                setting: "CARTD_RELAY_POLL",
                reason: "must be more than 0s and at most a third of CARTD_RELAY_LEASE".into(),
            });
        }
        let defaults = RelayConfig::default();
        Ok(RelayConfig {
            batch: self.relay_batch,
            lease_ttl: self.relay_lease,
            idle_poll: self.relay_poll,
            backoff_max: self.relay_backoff_max.max(defaults.backoff_min),
            retention: self.outbox_retention,
            source: self.events_source.clone(),
            ..defaults
        })
    }

    /// The sinks: the configured ones, or the default file next to the store.
    pub fn sinks(&self, store: &StoreUrl) -> Vec<SinkUrl> {
        match &self.events {
            Some(SinkList(sinks)) if !sinks.is_empty() => sinks.clone(),
            _ => vec![default_sink(store)],
        }
    }
}

/// The file sink used when `CARTD_EVENTS` is not set: next to the SQLite database, so events
/// are visible out of the box, or in the working directory for other stores.
pub fn default_sink(store: &StoreUrl) -> SinkUrl {
    match store {
        StoreUrl::Sqlite(options) => SinkUrl::File(options.path.with_extension("events.ndjson")),
        _ => SinkUrl::File(PathBuf::from("cartd-events.ndjson")),
    }
}

/// `cartd relay`.
#[derive(Debug, Args)]
pub struct RelayCommandArgs {
    /// The store whose outbox is published.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Sinks and pacing.
    #[command(flatten)]
    pub relay: RelayArgs,
    /// Publish everything pending, print how many, and exit (instead of running until
    /// SIGTERM).
    #[arg(long)]
    pub once: bool,
    /// Serve `/health`, `/ready` (the relay's state) and `/metrics` on this address.
    #[arg(long, env = "CARTD_RELAY_LISTEN", value_name = "CARTD_RELAY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Log format.
    #[arg(long, env = "CARTD_LOG_FORMAT", value_name = "CARTD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `cartd token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The user id (`sub`).
    #[arg(long)]
    pub sub: String,
    /// Space-separated scopes, e.g. `cart:admin`.
    #[arg(long)]
    pub scope: Option<String>,
    /// Lifetime.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub ttl: Duration,
    /// hs256 (with CARTD_JWT_SECRET), or rs256/es256/es384/eddsa (with --key).
    #[arg(long, default_value = "hs256")]
    pub alg: String,
    /// The private key file (PKCS#8 PEM) for an asymmetric `--alg`; see `cartd jwks keygen`.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Signing settings.
    #[command(flatten)]
    pub jwt: JwtArgs,
}

/// The catalog's source (`CARTD_CATALOG`) and, for a remote one, how it is called.
#[derive(Debug, Clone, Args)]
pub struct CatalogArgs {
    /// `builtin`, or a product URL template such as `http://catalog:8080/products/{id}`.
    #[arg(long = "catalog", env = "CARTD_CATALOG", value_name = "CARTD_CATALOG", default_value = "builtin", value_parser = parse_catalog)]
    pub source: CatalogSource,
    /// Where a remote catalog's JSON keeps each field: `name=title,unit_price=price*100,currency='EUR'`.
    #[arg(long, env = "CARTD_CATALOG_FIELDS", value_name = "CARTD_CATALOG_FIELDS", default_value = "", value_parser = parse_catalog_fields)]
    pub catalog_fields: FieldMap,
    /// The most one call to a remote catalog may take.
    #[arg(long, env = "CARTD_CATALOG_TIMEOUT", value_name = "CARTD_CATALOG_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub catalog_timeout: Duration,
    /// Retries of a remote catalog call that timed out or failed with 429/5xx.
    #[arg(long, env = "CARTD_CATALOG_RETRIES", value_name = "CARTD_CATALOG_RETRIES", default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub catalog_retries: u32,
    /// Failed remote catalog lookups within `CARTD_CATALOG_BREAKER_WINDOW` that open the
    /// circuit breaker.
    #[arg(long, env = "CARTD_CATALOG_BREAKER_FAILURES", value_name = "CARTD_CATALOG_BREAKER_FAILURES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub catalog_breaker_failures: u32,
    /// How far back failed lookups count.
    #[arg(long, env = "CARTD_CATALOG_BREAKER_WINDOW", value_name = "CARTD_CATALOG_BREAKER_WINDOW", default_value = "30s", value_parser = parse_duration)]
    pub catalog_breaker_window: Duration,
    /// How long an open breaker sends nothing before one probe lookup.
    #[arg(long, env = "CARTD_CATALOG_BREAKER_COOLDOWN", value_name = "CARTD_CATALOG_BREAKER_COOLDOWN", default_value = "10s", value_parser = parse_duration)]
    pub catalog_breaker_cooldown: Duration,
}

/// `CARTD_CATALOG`: the store's catalog, or a catalog service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogSource {
    /// Products live in the store (`PUT /v1/products/{id}`, `cartd catalog import`).
    Builtin,
    /// Products are read from a catalog service.
    Remote(UrlTemplate),
}

impl CatalogArgs {
    /// The remote catalog's settings, when `CARTD_CATALOG` names one; answers are reused for
    /// `cache_ttl`.
    pub fn remote(&self, cache_ttl: Duration) -> Result<Option<RemoteCatalogConfig>, SettingError> {
        let CatalogSource::Remote(template) = &self.source else {
            return Ok(None);
        };
        if self.catalog_timeout.is_zero() {
            return Err(SettingError {
                setting: "CARTD_CATALOG_TIMEOUT",
                reason: "must be more than 0s".into(),
            });
        }
        Ok(Some(RemoteCatalogConfig {
            template: template.clone(),
            fields: self.catalog_fields.clone(),
            timeout: self.catalog_timeout,
            attempts: self.catalog_retries + 1,
            backoff: Duration::from_millis(100),
            cache_ttl,
            breaker: BreakerConfig {
                failures: self.catalog_breaker_failures,
                window: self.catalog_breaker_window,
                cooldown: self.catalog_breaker_cooldown,
            },
        }))
    }
}

fn parse_catalog(raw: &str) -> Result<CatalogSource, String> {
    if raw == "builtin" {
        return Ok(CatalogSource::Builtin);
    }
    UrlTemplate::parse(raw)
        .map(CatalogSource::Remote)
        .map_err(|e| format!("`builtin` or a URL template: {e}"))
}

fn parse_catalog_fields(raw: &str) -> Result<FieldMap, String> {
    FieldMap::parse(raw).map_err(|e| e.to_string())
}

/// A setting that parsed but makes no sense; printed as `error: NAME: reason`.
#[derive(Debug)]
pub struct SettingError {
    /// The environment variable (and flag) concerned.
    pub setting: &'static str,
    /// Why.
    pub reason: String,
}

fn parse_store_url(raw: &str) -> Result<StoreUrl, String> {
    StoreUrl::parse(raw).map_err(|e| e.to_string())
}

fn parse_cors_origins(raw: &str) -> Result<CorsOrigins, String> {
    CorsOrigins::parse(raw).map_err(|e| e.to_string())
}

/// `CARTD_RATE_LIMIT_STORE`: a Redis URL, read as the Redis store's are.
fn parse_rate_limit_store(raw: &str) -> Result<RedisOptions, String> {
    match StoreUrl::parse(raw) {
        Ok(StoreUrl::Redis(options)) => Ok(options),
        Ok(_) => Err("must be a redis:// or rediss:// URL".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// The parsed `CARTD_EVENTS` list (a newtype so clap takes it as one value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkList(pub Vec<SinkUrl>);

fn parse_sinks(raw: &str) -> Result<SinkList, String> {
    SinkUrl::parse_list(raw)
        .map(SinkList)
        .map_err(|e| e.to_string())
}

/// The most `CARTD_RECENT_CARTS_MIB` accepts (64 GiB): beyond it the value is a typo.
const MAX_RECENT_CARTS_MIB: usize = 65_536;

fn parse_duration(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw).map_err(|e| format!("{e} (use e.g. 30s, 15m, 7d)"))
}

fn to_time(setting: &'static str, d: Duration) -> Result<time::Duration, SettingError> {
    let bad = || SettingError {
        setting,
        reason: "must be between 1s and 100 years".into(),
    };
    let d = time::Duration::try_from(d).map_err(|_| bad())?;
    if d < time::Duration::SECOND || d > time::Duration::days(36_525) {
        return Err(bad());
    }
    Ok(d)
}

impl ServeArgs {
    /// The cart rules these settings describe.
    pub fn policy(&self) -> Result<CartPolicy, SettingError> {
        let limits = Limits::new(self.max_quantity, self.max_items).map_err(|e| SettingError {
            setting: match e {
                cart_core::quantity::LimitsError::MaxQuantity => "CARTD_MAX_QUANTITY",
                cart_core::quantity::LimitsError::MaxItems => "CARTD_MAX_ITEMS",
            },
            reason: e.to_string(),
        })?;
        Ok(CartPolicy {
            limits,
            guest_ttl: to_time("CARTD_GUEST_TTL", self.guest_ttl)?,
            user_ttl: to_time("CARTD_USER_TTL", self.user_ttl)?,
            idempotency_ttl: to_time("CARTD_IDEMPOTENCY_TTL", self.idempotency_ttl)?,
        })
    }

    /// The caches these settings turn on (a zero turns one off).
    pub fn caches(&self) -> Result<CacheConfig, SettingError> {
        Ok(CacheConfig {
            catalog_ttl: time::Duration::try_from(self.catalog_cache_ttl)
                .ok()
                .filter(|ttl| *ttl <= time::Duration::hours(1))
                .ok_or(SettingError {
                    setting: "CARTD_CATALOG_CACHE_TTL",
                    reason: "must be between 0s and 1h".into(),
                })?,
            recent_carts_memory: Some(self.recent_carts_mib)
                .filter(|mib| *mib <= MAX_RECENT_CARTS_MIB)
                .and_then(|mib| mib.checked_mul(1024 * 1024))
                .ok_or(SettingError {
                    setting: "CARTD_RECENT_CARTS_MIB",
                    reason: format!("must be between 0 and {MAX_RECENT_CARTS_MIB}"),
                })?,
        })
    }

    /// The rate limit, if one is configured: its quota, and the Redis holding the budgets
    /// when they are shared.
    pub fn rate_limit(&self) -> Result<Option<(Quota, Option<RedisOptions>)>, SettingError> {
        let burst = self
            .rate_burst
            .map(|burst| {
                NonZeroU32::new(burst).ok_or(SettingError {
                    setting: "CARTD_RATE_BURST",
                    reason: "must be at least 1".into(),
                })
            })
            .transpose()?;
        let Some(rate) = NonZeroU32::new(self.rate_limit) else {
            return match self.rate_limit_store {
                Some(_) => Err(SettingError {
                    setting: "CARTD_RATE_LIMIT_STORE",
                    reason: "needs CARTD_RATE_LIMIT (rate limiting is off)".into(),
                }),
                None => Ok(None),
            };
        };
        let quota = Quota {
            rate,
            burst: burst.unwrap_or(rate),
        };
        Ok(Some((quota, self.rate_limit_store.clone())))
    }

    /// The GraphQL endpoint's limits.
    pub fn graphql(&self) -> Result<GraphqlConfig, SettingError> {
        let in_range = |setting: &'static str, value: usize, max: usize| {
            if (1..=max).contains(&value) {
                Ok(value)
            } else {
                Err(SettingError {
                    setting,
                    reason: format!("must be from 1 to {max}"),
                })
            }
        };
        Ok(GraphqlConfig {
            introspection: self.graphql_introspection,
            max_depth: in_range(
                "CARTD_GRAPHQL_MAX_DEPTH",
                self.graphql_max_depth,
                cart_api::graphql::MAX_DEPTH_CEILING,
            )?,
            max_complexity: in_range(
                "CARTD_GRAPHQL_MAX_COMPLEXITY",
                self.graphql_max_complexity,
                100_000,
            )?,
            max_subscriptions_per_connection: in_range(
                "CARTD_GRAPHQL_MAX_SUBSCRIPTIONS",
                self.graphql_max_subscriptions,
                1_000,
            )?,
            ..GraphqlConfig::default()
        })
    }

    /// Checks the sweeper settings.
    pub fn check_sweeper(&self) -> Result<(), SettingError> {
        if self.sweep_batch == 0 || self.sweep_batch > 100_000 {
            return Err(SettingError {
                setting: "CARTD_SWEEP_BATCH",
                reason: "must be from 1 to 100000".into(),
            });
        }
        to_time("CARTD_SWEEP_INTERVAL", self.sweep_interval).map(|_| ())
    }
}

impl JwtArgs {
    /// The token verification settings.
    pub fn auth_config(&self, admin_scope: &str) -> Result<AuthConfig, SettingError> {
        let jwks = match &self.jwks_url {
            Some(url) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(SettingError {
                        setting: "CARTD_JWKS_URL",
                        reason: "must be an http:// or https:// URL".into(),
                    });
                }
                let positive = |setting: &'static str, d: Duration| {
                    if d.is_zero() {
                        Err(SettingError {
                            setting,
                            reason: "must be more than 0s".into(),
                        })
                    } else {
                        Ok(d)
                    }
                };
                Some(JwksConfig {
                    refresh_interval: positive("CARTD_JWKS_REFRESH", self.jwks_refresh)?,
                    min_refresh_interval: self.jwks_min_refresh,
                    max_stale: positive("CARTD_JWKS_MAX_STALE", self.jwks_max_stale)?,
                    ..JwksConfig::new(url.clone())
                })
            }
            None => None,
        };
        Ok(AuthConfig {
            hs256_secret: self.jwt_secret.clone(),
            jwks,
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
            client_id: self.jwt_client_id.clone(),
            admin_scope: admin_scope.to_owned(),
            leeway_secs: self.jwt_leeway.as_secs(),
        })
    }
}

/// The store URL for logs: any password replaced.
pub fn redacted_url(url: &StoreUrl) -> String {
    match url {
        StoreUrl::Sqlite(options) => format!("sqlite://{}", options.path.display()),
        StoreUrl::Postgres(options) => options.redacted(),
        StoreUrl::Redis(options) => options.redacted(),
        StoreUrl::Dynamo(options) => format!(
            "dynamodb://{} (region {}{})",
            options.table,
            options.region,
            options
                .endpoint
                .as_deref()
                .map(|e| format!(", endpoint {e}"))
                .unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// clap checks a command's definition (unique ids, valid defaults) only when it is built:
    /// this builds every subcommand, so a clash fails here rather than at a user's first run.
    #[test]
    fn every_subcommand_is_well_defined() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn order_settings_are_checked() {
        let orders = |args: &[&str]| serve_args(args).orders.policy().map_err(|e| e.setting);
        assert!(orders(&[]).is_ok());
        assert_eq!(
            orders(&["--checkout-ttl", "10s"]),
            Err("CARTD_CHECKOUT_TTL")
        );
        assert_eq!(
            orders(&["--worker-max-attempts", "0"]),
            Err("CARTD_WORKER_MAX_ATTEMPTS")
        );
        assert_eq!(
            orders(&["--worker-lease", "5s", "--fulfilment-timeout", "10s"]),
            Err("CARTD_WORKER_LEASE")
        );
        assert_eq!(
            orders(&["--fulfilment-url", "ftp://warehouse"]),
            Err("CARTD_FULFILMENT_URL")
        );
        assert_eq!(
            orders(&["--checkout-ttl", "45m"]).map(|p| p.checkout_ttl),
            Ok(time::Duration::minutes(45))
        );
    }

    fn serve_args(args: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from([&["cartd", "serve"], args].concat()).expect("parses");
        match cli.command {
            Command::Serve(args) => *args,
            _ => unreachable!("serve was parsed"),
        }
    }

    #[test]
    fn the_store_help_names_every_backend_and_its_url_form() {
        use clap::CommandFactory;
        let mut cli = Cli::command();
        let serve = cli.find_subcommand_mut("serve").expect("serve");
        let short = serve.render_help().to_string();
        for scheme in ["sqlite://", "postgres://", "redis://", "dynamodb://"] {
            assert!(short.contains(scheme), "{scheme} is missing from:\n{short}");
        }
        let help = serve.render_long_help().to_string();
        for scheme in [
            "sqlite://",
            "postgres://",
            "postgresql://",
            "redis://",
            "rediss://",
            "dynamodb://",
        ] {
            assert!(help.contains(scheme), "{scheme} is missing from:\n{help}");
            let example = format!("{scheme}x");
            assert!(
                !matches!(
                    StoreUrl::parse(&example),
                    Err(cart_store::UrlError::UnsupportedScheme(_))
                ),
                "{scheme} is in the help but is no backend's scheme"
            );
        }
    }

    #[test]
    fn the_recent_carts_memory_defaults_to_the_caches_default_and_is_given_in_mib() {
        let default = serve_args(&[]).caches().expect("valid");
        assert_eq!(
            default.recent_carts_memory,
            CacheConfig::default().recent_carts_memory
        );
        let set = serve_args(&["--recent-carts-mib", "5"])
            .caches()
            .expect("valid");
        assert_eq!(set.recent_carts_memory, 5 * 1024 * 1024);
        let off = serve_args(&["--recent-carts-mib", "0"])
            .caches()
            .expect("valid");
        assert_eq!(off.recent_carts_memory, 0);
    }
}
