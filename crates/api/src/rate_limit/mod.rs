//! Per-client request rate limits (`CARTD_RATE_LIMIT`), off by default.
//!
//! Every client has a budget of `burst` requests refilled at `rate` per second, kept per
//! identity the request carries ([`Bucket`]):
//!
//! - a request with a verified token is charged to its user (`sub`) only, so shoppers behind
//!   one NAT or office proxy do not share a budget, and one user gets one budget on every device;
//! - any other request is charged to the client IP (the TCP peer; `X-Forwarded-For` is not
//!   trusted), and, when its path names a guest cart, to that guest too. Guest ids are chosen
//!   by the frontend, so the IP bucket is what stops a client rotating them; the guest bucket
//!   stops one guest cart being hammered from many addresses.
//!
//! Over the limit a request is refused with `429 RATE_LIMITED` and `Retry-After`. The budgets
//! live in this process ([`local`], the default: behind N replicas a client gets up to N times
//! the rate) or in Redis ([`shared`], `CARTD_RATE_LIMIT_STORE`: one budget across replicas).
//! Health, readiness and metrics are never limited, so probes and scrapers keep working under
//! attack.

pub mod local;
pub mod shared;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use cart_core::{GuestId, UserId};

use crate::auth::{Caller, bearer_token};
use crate::problem::{ApiError, Code};
use crate::state::AppState;

pub use local::LocalRateLimit;
pub use shared::SharedRateLimit;

/// How many requests a client may make: `rate` per second, bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests per second, sustained.
    pub rate: NonZeroU32,
    /// Requests a client may make at once after being idle.
    pub burst: NonZeroU32,
}

/// One budget a request is charged to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// A signed-in user (a verified token's `sub`).
    User(UserId),
    /// A guest cart named in the path.
    Guest(GuestId),
    /// A client address.
    Ip(IpAddr),
}

impl Bucket {
    /// The bucket's name in a shared store: kind and id, unique across kinds.
    pub fn key(&self) -> String {
        match self {
            Self::User(id) => format!("user:{}", id.as_str()),
            Self::Guest(id) => format!("guest:{}", id.as_str()),
            Self::Ip(ip) => format!("ip:{ip}"),
        }
    }
}

/// Where the budgets live.
pub enum RateLimit {
    /// In this process.
    Local(LocalRateLimit),
    /// In Redis, shared by every replica.
    Shared(SharedRateLimit),
}

impl RateLimit {
    /// Charges one request to every bucket in `buckets`, or says how long until all of them
    /// have room.
    pub async fn check(&self, buckets: &[Bucket]) -> Result<(), Duration> {
        match self {
            Self::Local(limit) => limit.check(buckets),
            Self::Shared(limit) => limit.check(buckets).await,
        }
    }

    /// Forgets clients whose buckets are full again, so memory follows active clients only
    /// (Redis expires its own keys).
    pub fn forget_idle_clients(&self) {
        if let Self::Local(limit) = self {
            limit.forget_idle_clients();
        }
    }
}

fn exempt(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/metrics")
}

/// The buckets a request is charged to (see the module documentation).
fn buckets(caller: Option<&Caller>, path: &str, peer: Option<IpAddr>) -> Vec<Bucket> {
    if let Some(Caller::User { id, .. }) = caller {
        return vec![Bucket::User(id.clone())];
    }
    let guest = path
        .split('/')
        .filter(|segment| segment.starts_with(cart_core::ids::GUEST_PREFIX))
        .find_map(|segment| GuestId::parse(segment).ok())
        .map(Bucket::Guest);
    guest.into_iter().chain(peer.map(Bucket::Ip)).collect()
}

/// Middleware: refuses requests over the client's rate.
///
/// A token is verified here, so the user can be charged; the verified caller is left in the
/// request's extensions for [`Caller`]'s extractor, so the token is verified once. A token that
/// fails verification is charged as its IP, and the handler answers `401` as usual.
pub async fn enforce(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(limit) = state.rate_limit.clone() else {
        return next.run(request).await;
    };
    if exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    let caller = match bearer_token(request.headers()) {
        Ok(Some(token)) => state.auth.verify(token).await.ok().map(Caller::from),
        Ok(None) | Err(_) => None,
    };
    let charged = buckets(caller.as_ref(), request.uri().path(), peer);
    if let Some(caller) = caller {
        request.extensions_mut().insert(caller);
    }
    if let Err(wait) = limit.check(&charged).await {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        // `retry_after_seconds` becomes the `Retry-After` header too.
        return ApiError::new(Code::RateLimited, "too many requests; retry later")
            .with_details(serde_json::json!({"retry_after_seconds": seconds}))
            .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip() -> IpAddr {
        IpAddr::from([192, 0, 2, 7])
    }

    #[test]
    fn a_verified_user_is_charged_to_the_user_only() {
        let user = UserId::parse("alice").expect("user");
        let caller = Caller::User {
            id: user.clone(),
            admin: false,
        };
        let path = "/v1/carts/guest_01HZX3K4B5C6D7E8F9G0H1J2K3/items";
        assert_eq!(
            buckets(Some(&caller), path, Some(ip())),
            [Bucket::User(user)]
        );
    }

    #[test]
    fn a_guest_path_is_charged_to_the_guest_and_the_ip() {
        let guest = GuestId::parse("guest_01HZX3K4B5C6D7E8F9G0H1J2K3").expect("guest");
        let path = format!("/v1/carts/{}/items/book", guest.as_str());
        assert_eq!(
            buckets(None, &path, Some(ip())),
            [Bucket::Guest(guest), Bucket::Ip(ip())]
        );
    }

    #[test]
    fn anything_else_is_charged_to_the_ip() {
        for path in ["/v1/products", "/v1/carts/guest_not-a-ulid", "/graphql"] {
            assert_eq!(
                buckets(None, path, Some(ip())),
                [Bucket::Ip(ip())],
                "{path}"
            );
        }
    }

    #[test]
    fn bucket_keys_name_their_kind() {
        let keys: Vec<String> = [
            Bucket::User(UserId::parse("u-1").expect("user")),
            Bucket::Guest(GuestId::parse("guest_01HZX3K4B5C6D7E8F9G0H1J2K3").expect("guest")),
            Bucket::Ip(IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1])),
        ]
        .iter()
        .map(Bucket::key)
        .collect();
        assert_eq!(
            keys,
            [
                "user:u-1",
                "guest:guest_01HZX3K4B5C6D7E8F9G0H1J2K3",
                "ip:::1"
            ]
        );
    }
}
