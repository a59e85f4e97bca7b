//! Who is calling, and which carts they may touch.
//!
//! Users are known by a verified JWT (HS256 with a configured secret in this version); the `sub`
//! is the user id. Guests need no token: the guest id in the path is the capability. A token
//! whose scope includes the admin scope (or whose `cognito:groups` include `cart-admin`) may
//! touch any cart.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use cart_core::{CartKey, GuestId, UserId};

use crate::problem::{ApiError, Code};
use crate::state::AppState;

/// The shortest HS256 secret accepted, in bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;

/// The Cognito group that grants admin rights, next to the admin scope.
pub const ADMIN_GROUP: &str = "cart-admin";

/// How tokens are checked.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The HS256 secret; without one, user tokens are refused and only guest carts work.
    pub hs256_secret: Option<SecretString>,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud`, when set.
    pub audience: Option<String>,
    /// The scope that grants access to every cart.
    pub admin_scope: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            hs256_secret: None,
            issuer: None,
            audience: None,
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
}

/// The claims cartd reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Expiry, seconds since the epoch (required).
    pub exp: u64,
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
    pub aud: Option<String>,
}

/// Verifies tokens.
pub struct Authenticator {
    key: Option<DecodingKey>,
    validation: Validation,
    admin_scope: String,
}

impl Authenticator {
    /// Checks the configuration and prepares the verifier.
    pub fn new(config: &AuthConfig) -> Result<Self, AuthConfigError> {
        let key = match &config.hs256_secret {
            Some(secret) => {
                let bytes = secret.expose_secret().as_bytes();
                if bytes.len() < MIN_SECRET_BYTES {
                    return Err(AuthConfigError::SecretTooShort(bytes.len()));
                }
                Some(DecodingKey::from_secret(bytes))
            }
            None => None,
        };
        // The algorithm is fixed by the configured key, never taken from the token header.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = config.leeway_secs;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match &config.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        if let Some(issuer) = &config.issuer {
            validation.set_issuer(&[issuer]);
        }
        Ok(Self {
            key,
            validation,
            admin_scope: config.admin_scope.clone(),
        })
    }

    /// Whether user tokens can be verified at all.
    pub fn accepts_user_tokens(&self) -> bool {
        self.key.is_some()
    }

    /// Verifies a bearer token and says who it names.
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        let unauthorized = |why: &str| ApiError::new(Code::Unauthorized, why.to_owned());
        let key = self.key.as_ref().ok_or_else(|| {
            unauthorized("user tokens are not accepted: no signing key configured")
        })?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|e| {
            tracing::debug!(error = %e, "token refused");
            unauthorized("invalid or expired token")
        })?;
        let claims = data.claims;
        let user = UserId::parse(&claims.sub)
            .map_err(|_| unauthorized("the token's subject is not a valid user id"))?;
        let admin = claims
            .scope
            .as_deref()
            .is_some_and(|scopes| scopes.split(' ').any(|s| s == self.admin_scope))
            || claims.groups.iter().flatten().any(|g| g == ADMIN_GROUP);
        Ok(Caller::User { id: user, admin })
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No token.
    Anonymous,
    /// A verified token.
    User {
        /// The token's `sub`.
        id: UserId,
        /// Whether the token carries the admin scope.
        admin: bool,
    },
}

impl Caller {
    /// Whether the caller may act on every cart and the catalog.
    pub fn is_admin(&self) -> bool {
        matches!(self, Self::User { admin: true, .. })
    }

    /// A stable label for scoping idempotency keys.
    pub fn scope_label(&self) -> String {
        match self {
            Self::Anonymous => "anonymous".to_owned(),
            Self::User { id, .. } => format!("user:{}", id.as_str()),
        }
    }

    /// Resolves a `{cartKey}` path segment into the cart the caller may touch:
    /// `me` → the caller's own cart; a guest id → that guest's cart (the id is the capability);
    /// a user id → that user's cart, for that user or an admin.
    pub fn cart_key(&self, raw: &str) -> Result<CartKey, ApiError> {
        if raw == "me" {
            return match self {
                Self::User { id, .. } => Ok(CartKey::User(id.clone())),
                Self::Anonymous => Err(missing_token()),
            };
        }
        if raw.starts_with(cart_core::ids::GUEST_PREFIX) {
            return GuestId::parse(raw).map(CartKey::Guest).map_err(|e| {
                ApiError::new(Code::InvalidGuestId, e.to_string())
                    .with_details(serde_json::json!({"cart_key": raw}))
            });
        }
        let user = UserId::parse(raw).map_err(|e| {
            ApiError::new(
                Code::ValidationError,
                format!("cartKey must be `me`, a guest id or a user id: {e}"),
            )
        })?;
        match self {
            Self::Anonymous => Err(missing_token()),
            Self::User { id, admin } if *admin || *id == user => Ok(CartKey::User(user)),
            Self::User { .. } => Err(ApiError::new(
                Code::Forbidden,
                "this token may not access another user's cart",
            )),
        }
    }
}

fn missing_token() -> ApiError {
    ApiError::new(
        Code::Unauthorized,
        "a bearer token is required for user carts",
    )
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(Self::Anonymous);
        };
        // A credential that is present but wrong is refused even on guest routes: a forged
        // token must never pass as "no token".
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::new(Code::Unauthorized, "Authorization must be `Bearer <token>`")
            })?;
        state.auth.verify(token)
    }
}

/// Signs a development token with an HS256 secret (`cartd token`).
pub fn mint_hs256(secret: &SecretString, claims: &Claims) -> Result<String, AuthConfigError> {
    let bytes = secret.expose_secret().as_bytes();
    if bytes.len() < MIN_SECRET_BYTES {
        return Err(AuthConfigError::SecretTooShort(bytes.len()));
    }
    // Encoding fixed claims with an HMAC key cannot fail; an empty string would be refused by
    // every verifier anyway.
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(bytes),
    )
    .unwrap_or_default())
}
