//! Operational endpoints: liveness, readiness, Prometheus metrics.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::dto::{CheckView, HealthView, ReadyView};
use crate::readiness::Readiness;
use crate::state::AppState;

/// How long `/ready` waits for the store.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness.
///
/// `200 {"status":"ok"}` whenever the process can answer.
#[utoipa::path(get, path = "/health", tag = "ops",
    responses((status = 200, description = "Alive", body = HealthView)))]
async fn health() -> Json<HealthView> {
    Json(HealthView {
        status: "ok".into(),
    })
}

/// Readiness.
///
/// `200` when the store answers within 2 s, else `503`, with a check per dependency; a
/// failing identity provider or event broker shows as `degraded` without making it `503`.
#[utoipa::path(get, path = "/ready", tag = "ops",
    responses(
        (status = 200, description = "Ready", body = ReadyView),
        (status = 503, description = "Not ready", body = ReadyView),
    ))]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<ReadyView>) {
    let started = Instant::now();
    let outcome = tokio::time::timeout(READY_TIMEOUT, state.service.check_store()).await;
    let latency = format!("{:.1}ms", started.elapsed().as_secs_f64() * 1000.0);
    let message = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {}s", READY_TIMEOUT.as_secs())),
    };
    let ok = message.is_none();
    let mut checks = BTreeMap::new();
    checks.insert(
        "store".to_owned(),
        CheckView {
            status: if ok { "ok" } else { "error" }.into(),
            message: message.map(|m| format!("{}: {m}", state.store_kind)),
            latency,
        },
    );
    if let Some(jwks) = state.auth.jwks() {
        // Degraded, not down: guests still work, and another replica cannot do better.
        let usable = jwks.is_usable().await;
        checks.insert(
            "identity_provider".to_owned(),
            CheckView {
                status: if usable { "ok" } else { "degraded" }.into(),
                message: (!usable).then(|| "no usable JWKS: user tokens answer 503".to_owned()),
                latency: "0.0ms".into(),
            },
        );
    }
    for check in state.ready_checks.iter() {
        let (status, message) = match check.readiness() {
            Readiness::Ok(note) => ("ok", note),
            Readiness::Degraded(reason) => ("degraded", Some(reason)),
        };
        checks.insert(
            check.name().to_owned(),
            CheckView {
                status: status.into(),
                message,
                latency: "0.0ms".into(),
            },
        );
    }
    let view = ReadyView {
        status: if ok { "ready" } else { "not ready" }.into(),
        timestamp: OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default(),
        checks,
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(view))
}

/// Prometheus metrics.
///
/// Text exposition format: requests by route and status, latency histograms, carts written.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// The operational routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
}
