//! Verification keys from a JWKS endpoint (Amazon Cognito's
//! `https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/jwks.json`, or any OIDC
//! provider), cached.
//!
//! - Each key's algorithm comes from the key (`kty`/`crv`, and `alg` to tell RS256/384/512
//!   apart), never from a token's header. Symmetric (`oct`) keys and encryption keys are ignored.
//! - The set is fetched at start, again when it is older than the refresh interval, and when a
//!   token names an unknown `kid` (a rotation) — but at most once per minimum refresh interval
//!   (30 s by default), so a flood of made-up `kid`s cannot hammer the provider. One fetch runs
//!   at a time; concurrent callers wait for it.
//! - While the provider is down the last good set is served until it is older than the maximum
//!   staleness; after that tokens are answered `503` (the provider, not the token, is at fault).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use thiserror::Error;
use tokio::sync::{Mutex, RwLock};

/// How the JWKS is fetched and cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksConfig {
    /// Where the key set is published.
    pub url: String,
    /// A set older than this is fetched again on the next token.
    pub refresh_interval: Duration,
    /// Fetches never happen more often than this, whatever tokens arrive.
    pub min_refresh_interval: Duration,
    /// How long the last good set is used while the provider cannot be reached.
    pub max_stale: Duration,
    /// Timeout of one fetch.
    pub timeout: Duration,
}

impl JwksConfig {
    /// The defaults for `url`: refresh every 10 min, at most every 30 s, stale for up to 6 h,
    /// 5 s per fetch.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            refresh_interval: Duration::from_secs(600),
            min_refresh_interval: Duration::from_secs(30),
            max_stale: Duration::from_secs(6 * 3600),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Why no key could be had for a token.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JwksError {
    /// The set (fetched recently enough) has no key with this id.
    #[error("no key with this kid")]
    UnknownKid,
    /// No usable set: never fetched, or too stale while the provider is down.
    #[error("the identity provider's keys are unavailable")]
    Unavailable,
}

/// A verification key and the one algorithm it may be used with.
pub struct VerificationKey {
    /// The key.
    pub key: DecodingKey,
    /// Its algorithm, from the key itself.
    pub algorithm: Algorithm,
}

#[derive(Default)]
struct Snapshot {
    keys: HashMap<String, Arc<VerificationKey>>,
    fetched_at: Option<Instant>,
}

/// The cached key set of one JWKS URL.
pub struct JwksCache {
    config: JwksConfig,
    client: reqwest::Client,
    snapshot: RwLock<Snapshot>,
    /// The time of the last fetch attempt; held while fetching (single flight).
    last_attempt: Mutex<Option<Instant>>,
    fetches: AtomicU64,
}

impl JwksCache {
    /// A cache for `config`; nothing is fetched until [`Self::refresh`] or the first token.
    pub fn new(config: JwksConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("cartd/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            config,
            client,
            snapshot: RwLock::default(),
            last_attempt: Mutex::new(None),
            fetches: AtomicU64::new(0),
        })
    }

    /// The key for `kid`, fetching the set first if it is old or lacks the key (subject to the
    /// minimum refresh interval).
    pub async fn key(&self, kid: &str) -> Result<Arc<VerificationKey>, JwksError> {
        if let Some(key) = self.lookup(kid, self.config.refresh_interval).await {
            return Ok(key);
        }
        self.refresh_rate_limited().await;
        if let Some(key) = self.lookup(kid, self.config.max_stale).await {
            return Ok(key);
        }
        let snapshot = self.snapshot.read().await;
        match snapshot.fetched_at {
            Some(at) if at.elapsed() <= self.config.max_stale => Err(JwksError::UnknownKid),
            _ => Err(JwksError::Unavailable),
        }
    }

    /// Fetches the set now (at start), whatever the rate limit. Errors are returned for the
    /// caller to log; the previous set stays in use.
    pub async fn refresh(&self) -> Result<usize, String> {
        let mut last_attempt = self.last_attempt.lock().await;
        *last_attempt = Some(Instant::now());
        self.fetch().await
    }

    /// How long ago the keys held were fetched; `None` before the first fetch.
    pub async fn age(&self) -> Option<Duration> {
        self.snapshot.read().await.fetched_at.map(|at| at.elapsed())
    }

    /// Whether a set younger than the maximum staleness is held (for `/ready`).
    pub async fn is_usable(&self) -> bool {
        let snapshot = self.snapshot.read().await;
        snapshot
            .fetched_at
            .is_some_and(|at| at.elapsed() <= self.config.max_stale)
    }

    /// How many fetches were attempted since start.
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    async fn lookup(&self, kid: &str, max_age: Duration) -> Option<Arc<VerificationKey>> {
        let snapshot = self.snapshot.read().await;
        let fresh = snapshot
            .fetched_at
            .is_some_and(|at| at.elapsed() <= max_age);
        fresh.then(|| snapshot.keys.get(kid).cloned()).flatten()
    }

    /// Fetches unless a fetch was attempted within the minimum refresh interval. Callers
    /// arriving during a fetch wait for it and then find the attempt recent.
    async fn refresh_rate_limited(&self) {
        let mut last_attempt = self.last_attempt.lock().await;
        if last_attempt.is_some_and(|at| at.elapsed() < self.config.min_refresh_interval) {
            return;
        }
        *last_attempt = Some(Instant::now());
        if let Err(error) = self.fetch().await {
            tracing::warn!(url = %self.config.url, %error, "JWKS refresh failed; keeping the previous keys");
        }
    }

    async fn fetch(&self) -> Result<usize, String> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let outcome = self.fetch_once().await;
        let label = if outcome.is_ok() { "ok" } else { "error" };
        metrics::counter!("cartd_jwks_fetches_total", "outcome" => label).increment(1);
        outcome
    }

    async fn fetch_once(&self) -> Result<usize, String> {
        let set: JwkSet = self
            .client
            .get(&self.config.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| format!("not a JWKS: {e}"))?;
        let keys: HashMap<_, _> = set.keys.iter().filter_map(usable_key).collect();
        let count = keys.len();
        let mut snapshot = self.snapshot.write().await;
        snapshot.keys = keys;
        snapshot.fetched_at = Some(Instant::now());
        tracing::info!(url = %self.config.url, keys = count, "JWKS fetched");
        Ok(count)
    }
}

/// A JWK as a verification key, if it is a signing key of a supported algorithm with a `kid`.
fn usable_key(jwk: &Jwk) -> Option<(String, Arc<VerificationKey>)> {
    if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
        return None;
    }
    let kid = jwk.common.key_id.clone()?;
    let algorithm = algorithm_of(jwk)?;
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some((kid, Arc::new(VerificationKey { key, algorithm })))
}

/// The algorithm a key is for, decided by the key: RSA keys by their `alg` (RS256 when absent),
/// EC keys by their curve, OKP keys must be Ed25519.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => match jwk.common.key_algorithm {
            None | Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
            Some(KeyAlgorithm::RS384) => Some(Algorithm::RS384),
            Some(KeyAlgorithm::RS512) => Some(Algorithm::RS512),
            Some(_) => None,
        },
        AlgorithmParameters::EllipticCurve(params) => match params.curve {
            EllipticCurve::P256 => Some(Algorithm::ES256),
            EllipticCurve::P384 => Some(Algorithm::ES384),
            _ => None,
        },
        AlgorithmParameters::OctetKeyPair(params) => {
            (params.curve == EllipticCurve::Ed25519).then_some(Algorithm::EdDSA)
        }
        _ => None,
    }
}
