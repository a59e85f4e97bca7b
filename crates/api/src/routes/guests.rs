//! `POST /v1/guests`: a new guest id for a frontend that does not generate its own.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::dto::GuestView;
use crate::problem::RateLimited;
use crate::state::AppState;

/// Create a guest id.
///
/// Returns a fresh `guest_…` id (a ULID) to use as a cart key. Nothing is stored until the
/// first item is added.
#[utoipa::path(post, path = "/v1/guests", tag = "guests",
    responses(
        (status = 201, description = "A new guest id", body = GuestView),
        (status = 429, response = RateLimited),
    ))]
async fn create_guest(State(state): State<AppState>) -> (StatusCode, Json<GuestView>) {
    let guest_id = state.service.new_guest_id().as_str().to_owned();
    (StatusCode::CREATED, Json(GuestView { guest_id }))
}

/// The guests routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_guest))
}
