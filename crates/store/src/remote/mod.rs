//! A catalog kept by another service (`CARTD_CATALOG=http://catalog:8080/products/{id}`,
//! feature `remote-catalog`): cartd reads one product at a time over HTTP and keeps what it
//! read.
//!
//! - **Calls.** `GET` the URL template with the product id in place of `{id}`. `200` is the
//!   product (its JSON read through [`FieldMap`]); `404` and `410` mean no such product. Each
//!   attempt has a timeout; timeouts, connection failures, `429` and `5xx` are retried with
//!   jittered exponential backoff (the call is a read, so retrying is safe). Anything else
//!   (another status, a body that is not a valid product) is a failure at once.
//! - **Cache.** Answers, "no such product" included, are reused for a TTL. Past it the last
//!   answer is still kept: when the catalog cannot be reached the product is served from it
//!   (stale beats unavailable for a price the cart re-checks at checkout anyway).
//! - **Circuit breaker** ([`breaker`]). Failed calls open it; while it is open nothing is sent,
//!   products cached at any age are served, and an uncached product is
//!   [`StoreError::CatalogUnavailable`] with the time left open, which the API answers
//!   `503 CATALOG_UNAVAILABLE` with `Retry-After`.
//! - **Read-only.** Listing and changing products is the catalog service's business:
//!   [`StoreError::CatalogRemote`].

pub mod breaker;
pub mod fields;

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use thiserror::Error;

use cart_core::{Catalog, Product, ProductId, StoreError};

pub use breaker::{Breaker, BreakerConfig, BreakerState};
pub use fields::{FieldMap, FieldMapError};

/// Entries the cache keeps at most; past that it starts over (popular products come back at
/// once, and an unbounded map would let a client grow memory with made-up ids).
const CAPACITY: usize = 100_000;

/// How to reach and read the remote catalog.
#[derive(Debug, Clone)]
pub struct RemoteCatalogConfig {
    /// The product URL with `{id}` where the product id goes.
    pub template: UrlTemplate,
    /// Where each product field is in the answer.
    pub fields: FieldMap,
    /// The most one attempt may take.
    pub timeout: Duration,
    /// Attempts per lookup (1 = no retry).
    pub attempts: u32,
    /// The pause before the first retry; it doubles with each further one (with full jitter).
    pub backoff: Duration,
    /// How long an answer is reused before the catalog is asked again.
    pub cache_ttl: Duration,
    /// When the breaker opens.
    pub breaker: BreakerConfig,
}

/// `http(s)://…{id}…`: a URL with one `{id}` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    before: String,
    after: String,
}

/// A template that is not `http(s)://…{id}…`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// Not an `http://` or `https://` URL.
    #[error("must start with http:// or https://")]
    Scheme,
    /// No `{id}`, or more than one.
    #[error("must hold `{{id}}` exactly once")]
    Placeholder,
}

impl UrlTemplate {
    /// Parses `http(s)://host/…{id}…`.
    pub fn parse(raw: &str) -> Result<Self, TemplateError> {
        if !(raw.starts_with("http://") || raw.starts_with("https://")) {
            return Err(TemplateError::Scheme);
        }
        match raw.split("{id}").collect::<Vec<_>>()[..] {
            [before, after] => Ok(Self {
                before: before.to_owned(),
                after: after.to_owned(),
            }),
            _ => Err(TemplateError::Placeholder),
        }
    }

    /// The URL of product `id`. Product ids are `[A-Za-z0-9._:-]`, all safe in a URL path or
    /// query, so the id goes in as it is.
    pub fn url(&self, id: &ProductId) -> String {
        format!("{}{}{}", self.before, id.as_str(), self.after)
    }

    /// The template with the host only, for logs (paths may carry tokens).
    pub fn redacted(&self) -> String {
        let rest = self.before.split_once("://").map_or("", |(_, rest)| rest);
        let host = rest.split(['/', '?']).next().unwrap_or_default();
        let host = host.rsplit('@').next().unwrap_or_default();
        let scheme = self.before.split("://").next().unwrap_or("http");
        format!("{scheme}://{host}/…")
    }
}

/// One lookup's outcome, kept in the cache.
#[derive(Debug, Clone)]
struct Entry {
    product: Option<Product>,
    fetched: Instant,
}

/// Why one attempt failed.
#[derive(Debug)]
enum Attempt {
    /// Worth another attempt (timeout, connection failure, `429`, `5xx`).
    Transient(String),
    /// Another attempt would get the same answer.
    Permanent(String),
}

/// The remote catalog, as the core's [`Catalog`] port.
pub struct RemoteCatalog {
    config: RemoteCatalogConfig,
    client: reqwest::Client,
    breaker: Breaker,
    entries: RwLock<HashMap<ProductId, Entry>>,
}

impl RemoteCatalog {
    /// A catalog reading from `config.template`.
    pub fn new(config: RemoteCatalogConfig) -> Result<Self, StoreError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| StoreError::Internal(format!("catalog HTTP client: {e}")))?;
        metrics::gauge!("cartd_catalog_breaker_state").set(BreakerState::Closed.gauge());
        Ok(Self {
            breaker: Breaker::new(config.breaker),
            config,
            client,
            entries: RwLock::default(),
        })
    }

    /// The circuit breaker's state now.
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    fn cached(&self, id: &ProductId) -> Option<Entry> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.get(id).cloned()
    }

    fn remember(&self, id: &ProductId, product: Option<Product>) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        let fetched = Instant::now();
        entries.insert(id.clone(), Entry { product, fetched });
    }

    /// Asks the catalog, retrying transient failures.
    async fn fetch(&self, id: &ProductId) -> Result<Option<Product>, String> {
        let mut pause = self.config.backoff;
        let mut attempt = 1;
        loop {
            match self.attempt(id).await {
                Ok(product) => return Ok(product),
                Err(Attempt::Permanent(reason)) => return Err(reason),
                Err(Attempt::Transient(reason)) if attempt >= self.config.attempts => {
                    return Err(reason);
                }
                Err(Attempt::Transient(_)) => {
                    // Full jitter: replicas retrying a recovering catalog do not do it in step.
                    let jittered = pause.mul_f64(fastrand::f64());
                    tokio::time::sleep(jittered).await;
                    pause = pause.saturating_mul(2);
                    attempt += 1;
                }
            }
        }
    }

    #[tracing::instrument(name = "catalog.get", skip_all, fields(otel.kind = "client", product_id = id.as_str(), http.response.status_code = tracing::field::Empty))]
    async fn attempt(&self, id: &ProductId) -> Result<Option<Product>, Attempt> {
        let response = self
            .client
            .get(self.config.template.url(id))
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| Attempt::Transient(format!("catalog request failed: {e}")))?;
        let status = response.status();
        tracing::Span::current().record("http.response.status_code", status.as_u16());
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Ok(None);
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(Attempt::Transient(format!("catalog answered {status}")));
        }
        if !status.is_success() {
            return Err(Attempt::Permanent(format!("catalog answered {status}")));
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| Attempt::Transient(format!("catalog body unreadable: {e}")))?;
        self.config
            .fields
            .product(id, &body)
            .map(Some)
            .map_err(|e| Attempt::Permanent(format!("catalog answer for {}: {e}", id.as_str())))
    }
}

#[async_trait]
impl Catalog for RemoteCatalog {
    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        let cached = self.cached(id);
        if let Some(entry) = &cached
            && entry.fetched.elapsed() < self.config.cache_ttl
        {
            metrics::counter!("cartd_catalog_lookups_total", "result" => "hit").increment(1);
            return Ok(entry.product.clone());
        }
        let unavailable = |reason: String, retry_after: Duration| {
            if let Some(entry) = &cached {
                metrics::counter!("cartd_catalog_lookups_total", "result" => "stale").increment(1);
                return Ok(entry.product.clone());
            }
            metrics::counter!("cartd_catalog_lookups_total", "result" => "unavailable")
                .increment(1);
            Err(StoreError::CatalogUnavailable {
                reason,
                retry_after,
            })
        };
        let permit = match self.breaker.admit() {
            Ok(permit) => permit,
            Err(wait) => return unavailable("the catalog's circuit breaker is open".into(), wait),
        };
        let outcome = self.fetch(id).await;
        match &outcome {
            Ok(_) => permit.succeeded(),
            Err(_) => permit.failed(),
        }
        metrics::gauge!("cartd_catalog_breaker_state").set(self.breaker.state().gauge());
        metrics::counter!("cartd_catalog_lookups_total", "result" => "miss").increment(1);
        match outcome {
            Ok(product) => {
                self.remember(id, product.clone());
                Ok(product)
            }
            Err(reason) => {
                tracing::warn!(product_id = id.as_str(), %reason, "catalog lookup failed");
                let retry_after = self.breaker.open_for().unwrap_or(Duration::from_secs(1));
                unavailable(reason, retry_after)
            }
        }
    }

    async fn products(
        &self,
        _after: Option<&ProductId>,
        _limit: usize,
    ) -> Result<Vec<Product>, StoreError> {
        Err(StoreError::CatalogRemote)
    }

    async fn upsert_products(&self, _products: Vec<Product>) -> Result<Vec<bool>, StoreError> {
        Err(StoreError::CatalogRemote)
    }

    async fn product_count(&self) -> Result<u64, StoreError> {
        Err(StoreError::CatalogRemote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_need_a_scheme_and_one_placeholder() {
        let template =
            UrlTemplate::parse("https://catalog.internal/books/{id}?fields=all").expect("template");
        let id = ProductId::parse("978-0141439549").expect("id");
        assert_eq!(
            template.url(&id),
            "https://catalog.internal/books/978-0141439549?fields=all"
        );
        assert_eq!(template.redacted(), "https://catalog.internal/…");
        assert_eq!(
            UrlTemplate::parse("catalog/{id}"),
            Err(TemplateError::Scheme)
        );
        for raw in ["http://c/products", "http://c/{id}/{id}"] {
            assert_eq!(
                UrlTemplate::parse(raw),
                Err(TemplateError::Placeholder),
                "{raw}"
            );
        }
    }
}
