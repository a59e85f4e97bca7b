//! The audit log: one line per privileged action, under its own tracing target
//! (`cartd::audit`), so operators can route it apart from the service log
//! (`CARTD_AUDIT_LOG` writes it as JSON lines to a file of its own).
//!
//! What is recorded, whatever the route (REST or GraphQL):
//! - every request an admin-scoped token makes that is not a plain read (catalog, tax and
//!   shipping rates, promotions, order status changes, dead-letter retries, writes to users'
//!   carts), and its reads of admin routes (`/v1/admin/…`);
//! - every request an admin-scoped token makes to another user's cart, reads included
//!   (service-scope access to a shopper's data);
//! - every request refused with `403 FORBIDDEN` (a token trying what its scope does not
//!   allow; a `FEATURE_DISABLED` refusal is a flag at work, not audited).
//!
//! Each line names the actor (the token's `sub`), the action (method and route), the path, the
//! status, the outcome (`ok`, `denied`, `refused`, `failed`) and the request id. The caller is
//! the one the handler verified (see [`CallerSlot`]), so nothing is verified twice.

use std::sync::{Arc, OnceLock};

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::auth::Caller;
use crate::problem::Code;

/// The target audit lines are logged under.
pub const TARGET: &str = "cartd::audit";

/// Where the handler leaves the caller it verified, for the audit middleware to read after the
/// response (request extensions do not come back with the response).
#[derive(Debug, Clone, Default)]
pub struct CallerSlot(Arc<OnceLock<Caller>>);

impl CallerSlot {
    /// Keeps `caller` (the first one given; a request has one caller).
    pub fn fill(&self, caller: &Caller) {
        let _ = self.0.set(caller.clone());
    }
}

/// Whether a request with this caller, method and path is audited (`forbidden`: it was refused
/// with `403 FORBIDDEN`).
fn audited(caller: Option<&Caller>, method: &Method, path: &str, forbidden: bool) -> bool {
    if forbidden {
        return true;
    }
    let Some(Caller::User { id, admin: true }) = caller else {
        return false;
    };
    let read = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let another_users_cart = path
        .strip_prefix("/v1/cart/")
        .and_then(|rest| rest.split('/').next())
        .is_some_and(|key| {
            key != "me" && !key.starts_with(cart_core::ids::GUEST_PREFIX) && key != id.as_str()
        });
    !read || path.starts_with("/v1/admin/") || another_users_cart
}

fn outcome(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 | 403 => "denied",
        400..=499 => "refused",
        500.. => "failed",
        _ => "ok",
    }
}

/// Registers the audit counter's outcomes at zero, so a dashboard shows them (and an alert on
/// their increase sees the first) before anything is audited.
pub fn register_metrics() {
    for outcome in ["ok", "denied", "refused", "failed"] {
        metrics::counter!("cartd_audit_events_total", "outcome" => outcome).increment(0);
    }
}

/// Middleware: records the audited requests (see the module documentation). What it keeps of
/// the request is reference-counted (the URI, the matched route, the request id), so the
/// requests it does not audit, nearly all of them, cost no copy.
pub async fn record(mut request: Request, next: Next) -> Response {
    let slot = CallerSlot::default();
    request.extensions_mut().insert(slot.clone());
    let method = request.method().clone();
    let uri = request.uri().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let request_id = request.headers().get("x-request-id").cloned();
    let response = next.run(request).await;
    let status = response.status();
    // Only a scope refusal is a 403 worth auditing, not a feature a flag switched off.
    let forbidden = response.extensions().get::<Code>() == Some(&Code::Forbidden);
    let caller = slot.0.get();
    let path = uri.path();
    if audited(caller, &method, path, forbidden) {
        let route = route.as_ref().map_or(path, MatchedPath::as_str);
        let request_id = request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        metrics::counter!("cartd_audit_events_total", "outcome" => outcome(status)).increment(1);
        let (actor, admin) = match caller {
            Some(Caller::User { id, admin }) => (id.as_str().to_owned(), *admin),
            _ => ("anonymous".to_owned(), false),
        };
        tracing::info!(
            target: TARGET,
            actor,
            admin,
            action = format!("{method} {route}"),
            path,
            status = status.as_u16(),
            outcome = outcome(status),
            request_id,
            "audit"
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use cart_core::UserId;

    use super::*;

    fn user(id: &str, admin: bool) -> Caller {
        Caller::User {
            id: UserId::parse(id).expect("user"),
            admin,
        }
    }

    #[test]
    fn admin_writes_admin_routes_and_other_users_carts_are_audited() {
        let ops = user("ops", true);
        let cases = [
            (Method::PUT, "/v1/products/book", true),
            (Method::GET, "/v1/products/book", false),
            (Method::GET, "/v1/admin/dead-letters", true),
            (Method::GET, "/v1/cart/alice", true),
            (Method::GET, "/v1/cart/ops", false),
            (Method::GET, "/v1/cart/me", false),
            (
                Method::GET,
                "/v1/cart/guest_01HZX3K4B5C6D7E8F9G0H1J2K3",
                false,
            ),
            (Method::POST, "/v1/orders/0190/cancel", true),
        ];
        for (method, path, expected) in cases {
            assert_eq!(
                audited(Some(&ops), &method, path, false),
                expected,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn shoppers_are_audited_only_when_refused_for_their_scope() {
        let alice = user("alice", false);
        let (post, put, get) = (Method::POST, Method::PUT, Method::GET);
        assert!(!audited(Some(&alice), &post, "/v1/cart/me/items", false));
        assert!(audited(Some(&alice), &put, "/v1/products/book", true));
        assert!(audited(None, &get, "/v1/cart/alice", true));
        // A feature a flag switched off (403 FEATURE_DISABLED) oversteps no scope.
        assert!(!audited(Some(&alice), &post, "/v1/cart/me/checkout", false));
        assert!(!audited(None, &get, "/v1/cart/alice", false));
    }
}
