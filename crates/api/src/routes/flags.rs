//! `GET /v1/admin/flags`: the feature flags in force, for operators checking a rollout.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Caller;
use crate::problem::{ApiError, InternalError, Problem, RateLimited, Unavailable};
use crate::state::AppState;

/// The feature flags cartd gates, as read from `CARTD_FLAGS_FILE`.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlagsView {
    /// The flags file, or `null` when none is set (every feature on).
    pub source: Option<String>,
    /// When the file in force was last modified (RFC 3339).
    pub modified_at: Option<String>,
    /// Each gated flag (`graphql`, `discount-codes`, `checkout`, `merge-strategies`): its flagd
    /// definition (`state`, `variants`, `defaultVariant`, `targeting`), or `null` when the file
    /// does not define it (on).
    #[schema(value_type = Object)]
    pub flags: serde_json::Value,
}

/// The feature flags (admin).
///
/// What the flags file in force says about each flag cartd gates. A feature that is off for a
/// shopper answers `403 FEATURE_DISABLED` on its routes.
#[utoipa::path(get, path = "/v1/admin/flags", tag = "ops",
    responses(
        (status = 200, description = "The flags in force", body = FlagsView),
        (status = 401, description = "No token, or an invalid one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token without the admin scope", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = RateLimited),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
    security(("bearer" = [])))]
async fn flags(State(state): State<AppState>, caller: Caller) -> Result<Json<FlagsView>, ApiError> {
    caller.require_admin()?;
    let in_force = state.flags.in_force();
    Ok(Json(FlagsView {
        source: in_force.source,
        modified_at: in_force.modified_at,
        flags: in_force.flags,
    }))
}

/// The flags route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(flags))
}
