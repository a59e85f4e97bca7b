//! Who is calling, and which carts they may touch.
//!
//! Users are known by a verified JWT whose `sub` is the user id; how tokens are verified is
//! [`crate::identity`]'s business. Guests need no token: the guest id in the path is the
//! capability. A token holding the admin scope is a service caller (order processing, support)
//! and may read and change any cart.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use cart_core::{CartKey, GuestId, UserId};

use crate::identity::VerifiedUser;
use crate::problem::{ApiError, Code};
use crate::state::AppState;

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

    /// Admin-only routes: `401 UNAUTHORIZED` without a token, `403 FORBIDDEN` with one that
    /// lacks the admin scope.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self {
            Self::Anonymous => Err(ApiError::new(
                Code::Unauthorized,
                "an admin token is required",
            )),
            caller if !caller.is_admin() => Err(ApiError::new(
                Code::Forbidden,
                "the admin scope is required",
            )),
            _ => Ok(()),
        }
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

impl From<VerifiedUser> for Caller {
    fn from(user: VerifiedUser) -> Self {
        Self::User {
            id: user.id,
            admin: user.admin,
        }
    }
}

fn missing_token() -> ApiError {
    ApiError::new(
        Code::Unauthorized,
        "a bearer token is required for user carts",
    )
}

/// The bearer token of `headers`: `None` without an `Authorization` header, an error when the
/// header is there but is not `Bearer <token>`.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(Some)
        .ok_or_else(|| ApiError::new(Code::Unauthorized, "Authorization must be `Bearer <token>`"))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The rate limiter verified the token already when it had to know the user.
        let caller = match parts.extensions.get::<Self>() {
            Some(caller) => caller.clone(),
            // A credential that is present but wrong is refused even on guest routes: a forged
            // token must never pass as "no token".
            None => match bearer_token(&parts.headers)? {
                None => Self::Anonymous,
                Some(token) => state.auth.verify(token).await.map(Self::from)?,
            },
        };
        if let Some(slot) = parts.extensions.get::<crate::audit::CallerSlot>() {
            slot.fill(&caller);
        }
        Ok(caller)
    }
}
