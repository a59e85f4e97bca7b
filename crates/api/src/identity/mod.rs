//! Token verification: which bearer tokens cartd accepts, and whom they name.
//!
//! Users are known by a verified JWT; the `sub` is the user id. Tokens are verified with an
//! HS256 secret (development, [`hs256`]) and/or the keys of a JWKS endpoint (RS256/384/512,
//! ES256/384, EdDSA, e.g. Amazon Cognito, [`jwks`]). The algorithm always comes from the
//! configured key, never from the token header. The claims are then checked here: `exp`, `nbf`
//! and `iss` while decoding, `aud`/`client_id` after, and a `scope` or `cognito:groups` holding
//! the admin scope marks a service caller (order processing, support).
//!
//! This module only says who a token names ([`VerifiedUser`]); which carts that caller may then
//! touch is [`crate::auth`]'s business. Tokens are signed elsewhere: by the identity provider in
//! production, by the `cart-devidp` crate in development and tests.

pub mod hs256;
pub mod jwks;

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use cart_core::UserId;

use crate::problem::{ApiError, Code};

pub use hs256::MIN_SECRET_BYTES;
pub use jwks::JwksConfig;
use jwks::{JwksCache, JwksError};

/// How tokens are checked.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The HS256 secret (development); tokens without a `kid` are checked with it.
    pub hs256_secret: Option<SecretString>,
    /// The JWKS endpoint; tokens with a `kid` are checked with its keys.
    pub jwks: Option<JwksConfig>,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud`, when set.
    pub audience: Option<String>,
    /// Required app client: `client_id` (Cognito access tokens) or `aud` (ID tokens).
    pub client_id: Option<String>,
    /// The scope (or Cognito group) that grants access to every cart.
    pub admin_scope: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            hs256_secret: None,
            jwks: None,
            issuer: None,
            audience: None,
            client_id: None,
            admin_scope: "cart:admin".into(),
            leeway_secs: 30,
        }
    }
}

/// A misconfiguration found at start.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthConfigError {
    /// The secret is too short to be safe.
    #[error("must be at least {MIN_SECRET_BYTES} bytes (got {0})")]
    SecretTooShort(usize),
    /// The HTTP client for the JWKS could not be built.
    #[error("JWKS client: {0}")]
    JwksClient(String),
}

/// `aud`: one audience or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, wanted: &str) -> bool {
        match self {
            Self::One(aud) => aud == wanted,
            Self::Many(auds) => auds.iter().any(|aud| aud == wanted),
        }
    }
}

/// The claims cartd reads (and `cartd token` and the tests write, through `cart-devidp`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Expiry, seconds since the epoch (required).
    pub exp: u64,
    /// Not before, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Space-separated scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Amazon Cognito groups.
    #[serde(
        default,
        rename = "cognito:groups",
        skip_serializing_if = "Option::is_none"
    )]
    pub groups: Option<Vec<String>>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// The app client (Cognito access tokens carry it instead of `aud`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// Whom a verified token names: what [`crate::auth::Caller`] is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUser {
    /// The token's `sub`.
    pub id: UserId,
    /// Whether the token carries the admin scope (in `scope` or `cognito:groups`).
    pub admin: bool,
}

/// Verifies tokens.
pub struct Authenticator {
    /// Replaced when the secret is read again (`SIGHUP`).
    hs256: std::sync::RwLock<Option<Arc<DecodingKey>>>,
    jwks: Option<Arc<JwksCache>>,
    issuer: Option<String>,
    audience: Option<String>,
    client_id: Option<String>,
    admin_scope: String,
    leeway_secs: u64,
}

impl Authenticator {
    /// Checks the configuration and prepares the verifier (no key is fetched yet; see
    /// [`Self::jwks`]).
    pub fn new(config: &AuthConfig) -> Result<Self, AuthConfigError> {
        let hs256 = config
            .hs256_secret
            .as_ref()
            .map(hs256::decoding_key)
            .transpose()?;
        let jwks = config
            .jwks
            .clone()
            .map(|jwks| JwksCache::new(jwks).map(Arc::new))
            .transpose()
            .map_err(|e| AuthConfigError::JwksClient(e.to_string()))?;
        Ok(Self {
            hs256: std::sync::RwLock::new(hs256.map(Arc::new)),
            jwks,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            client_id: config.client_id.clone(),
            admin_scope: config.admin_scope.clone(),
            leeway_secs: config.leeway_secs,
        })
    }

    /// Whether user tokens can be verified at all.
    pub fn accepts_user_tokens(&self) -> bool {
        self.hs256_key().is_some() || self.jwks.is_some()
    }

    fn hs256_key(&self) -> Option<Arc<DecodingKey>> {
        self.hs256.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Verifies HS256 tokens with `secret` from now on (a rotated secret, read again on
    /// `SIGHUP`); tokens signed with the old one are refused from then on. `None` stops
    /// accepting HS256 tokens.
    pub fn replace_hs256_secret(
        &self,
        secret: Option<&secrecy::SecretString>,
    ) -> Result<(), AuthConfigError> {
        let key = secret.map(hs256::decoding_key).transpose()?;
        *self.hs256.write().unwrap_or_else(|p| p.into_inner()) = key.map(Arc::new);
        Ok(())
    }

    /// The JWKS cache, when one is configured (to fetch at start and report readiness).
    pub fn jwks(&self) -> Option<&Arc<JwksCache>> {
        self.jwks.as_ref()
    }

    /// Verifies a bearer token and says who it names.
    pub async fn verify(&self, token: &str) -> Result<VerifiedUser, ApiError> {
        let unauthorized = |why: &str| ApiError::new(Code::Unauthorized, why.to_owned());
        let header = jsonwebtoken::decode_header(token).map_err(|e| {
            tracing::debug!(error = %e, "token header refused");
            unauthorized("invalid or expired token")
        })?;
        // The key is chosen by `kid` (JWKS) or is the one HS256 secret; the algorithm is the
        // key's. A header naming another algorithm than the key's is refused by `decode`.
        let claims = match (&header.kid, &self.jwks, &self.hs256_key()) {
            (Some(kid), Some(jwks), _) => {
                let key = jwks.key(kid).await.map_err(|e| match e {
                    JwksError::UnknownKid => unauthorized("invalid or expired token"),
                    JwksError::Unavailable => ApiError::new(
                        Code::ServiceUnavailable,
                        "the identity provider's keys cannot be fetched; retry later",
                    ),
                })?;
                self.decode(token, &key.key, key.algorithm)?
            }
            (_, _, Some(secret)) => self.decode(token, secret, Algorithm::HS256)?,
            (None, Some(_), None) => {
                return Err(unauthorized("the token has no `kid`"));
            }
            (_, None, None) => {
                return Err(unauthorized(
                    "user tokens are not accepted: no signing key configured",
                ));
            }
        };
        self.check_audience(&claims)?;
        let id = UserId::parse(&claims.sub)
            .map_err(|_| unauthorized("the token's subject is not a valid user id"))?;
        let admin = claims
            .scope
            .as_deref()
            .is_some_and(|scopes| scopes.split(' ').any(|s| s == self.admin_scope))
            || claims
                .groups
                .iter()
                .flatten()
                .any(|g| *g == self.admin_scope);
        Ok(VerifiedUser { id, admin })
    }

    fn decode(
        &self,
        token: &str,
        key: &DecodingKey,
        algorithm: Algorithm,
    ) -> Result<Claims, ApiError> {
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.leeway_secs;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
        }
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| {
                tracing::debug!(error = %e, "token refused");
                ApiError::new(Code::Unauthorized, "invalid or expired token")
            })
    }

    /// `aud` must hold the configured audience; with a client id configured, `client_id` (or
    /// `aud`) must name it. With both configured either is enough: Cognito ID tokens carry the
    /// client in `aud`, access tokens in `client_id`.
    fn check_audience(&self, claims: &Claims) -> Result<(), ApiError> {
        let aud_has = |wanted: &str| claims.aud.as_ref().is_some_and(|a| a.contains(wanted));
        let audience_ok = self.audience.as_deref().map(aud_has);
        let client_ok = self
            .client_id
            .as_deref()
            .map(|id| claims.client_id.as_deref() == Some(id) || aud_has(id));
        let accepted = match (audience_ok, client_ok) {
            (None, None) => true,
            (Some(ok), None) | (None, Some(ok)) => ok,
            (Some(a), Some(c)) => a || c,
        };
        if accepted {
            Ok(())
        } else {
            Err(ApiError::new(
                Code::Unauthorized,
                "the token is not meant for this service",
            ))
        }
    }
}
