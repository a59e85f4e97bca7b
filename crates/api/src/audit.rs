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
//! - every request refused with `403` (a token trying what its scope does not allow).
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

/// Whether a request with this caller, method, path and status is audited.
fn audited(caller: Option<&Caller>, method: &Method, path: &str, status: StatusCode) -> bool {
    if status == StatusCode::FORBIDDEN {
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

/// Middleware: records the audited requests (see the module documentation).
pub async fn record(mut request: Request, next: Next) -> Response {
    let slot = CallerSlot::default();
    request.extensions_mut().insert(slot.clone());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| path.clone(), |p| p.as_str().to_owned());
    let request_id = crate::extract::request_id(request.headers()).to_owned();
    let response = next.run(request).await;
    let status = response.status();
    let caller = slot.0.get();
    if audited(caller, &method, &path, status) {
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
        let ok = StatusCode::OK;
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
                audited(Some(&ops), &method, path, ok),
                expected,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn shoppers_are_audited_only_when_refused_for_their_scope() {
        let alice = user("alice", false);
        assert!(!audited(
            Some(&alice),
            &Method::POST,
            "/v1/cart/me/items",
            StatusCode::CREATED
        ));
        assert!(audited(
            Some(&alice),
            &Method::PUT,
            "/v1/products/book",
            StatusCode::FORBIDDEN
        ));
        assert!(audited(
            None,
            &Method::GET,
            "/v1/cart/alice",
            StatusCode::FORBIDDEN
        ));
        assert!(!audited(
            None,
            &Method::GET,
            "/v1/cart/alice",
            StatusCode::UNAUTHORIZED
        ));
    }
}
