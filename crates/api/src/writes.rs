//! The transport side of a write, shared by REST and GraphQL where it can be: scoping an
//! idempotency key to its caller and cart; and REST's own part: the write options from a
//! request's headers, and the HTTP answer rendered from the domain outcome (on the first answer
//! and on a replay alike, marked `Idempotent-Replayed: true`).

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use cart_core::{CartKey, IdempotencyKey, Outcome, Precondition, WriteOptions, Written};

use crate::auth::Caller;
use crate::dto::MergeReportView;
use crate::extract::idempotency_key;
use crate::problem::ApiError;
use crate::trace_context::traceparent;

/// The header marking a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";

/// An idempotency key scoped to its caller and cart, as recorded: the same for every
/// transport, so a command retried over another transport replays.
pub fn scoped_key(caller: &Caller, cart: &CartKey, key: &str) -> String {
    format!("{}|{}|{}", caller.scope_label(), cart.as_str(), key)
}

/// The digest builds before command fingerprints recorded for a request: method, path and
/// body. Sent along with a key so their records (kept for the idempotency TTL) still replay.
pub fn legacy_fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method);
    hasher.update(b"\n");
    hasher.update(path);
    hasher.update(b"\n");
    hasher.update(body);
    format!("{:x}", hasher.finalize())
}

/// A REST write request, as its options need it.
pub struct RestWrite<'a> {
    /// The caller.
    pub caller: &'a Caller,
    /// The cart.
    pub cart: &'a CartKey,
    /// The request's headers (`Idempotency-Key`, `traceparent`).
    pub headers: &'a HeaderMap,
    /// The method.
    pub method: &'a Method,
    /// The URI (path and query).
    pub uri: &'a Uri,
    /// The raw body.
    pub body: &'a [u8],
}

impl RestWrite<'_> {
    /// Runs `command` on the cart under `precondition` and answers it with `success` (see
    /// [`render`]).
    pub async fn execute(
        &self,
        service: &cart_core::CartService,
        command: cart_core::Command,
        precondition: Option<Precondition>,
        success: StatusCode,
    ) -> Result<Response, ApiError> {
        let options = self.options(precondition)?;
        let written = service.execute(self.cart, command, options).await?;
        Ok(render(success, &written))
    }

    /// The options of this write under `precondition`.
    pub fn options(&self, precondition: Option<Precondition>) -> Result<WriteOptions, ApiError> {
        let idempotency = idempotency_key(self.headers)?.map(|key| {
            let path = self
                .uri
                .path_and_query()
                .map_or(self.uri.path(), |pq| pq.as_str());
            IdempotencyKey {
                scoped: scoped_key(self.caller, self.cart, &key),
                legacy_fingerprint: Some(legacy_fingerprint(self.method.as_str(), path, self.body)),
            }
        });
        Ok(WriteOptions {
            precondition,
            idempotency,
            traceparent: traceparent(self.headers),
        })
    }
}

/// Room reserved for a write's answer before the first line: the cart's own fields, and a
/// merge report's header.
const BODY_BASE: usize = 512;

/// Room reserved per line: a line renders to about 330 bytes of JSON (ids, name, two
/// timestamps); a merge report adds less per line than this leaves spare.
const BODY_PER_LINE: usize = 384;

/// The HTTP answer to a write: `success` (201 for adds, 200, or 204 for clears) with the cart
/// (and the merge report, for a merge) and its `ETag`, or an empty 204 when there is no cart to
/// show.
pub fn render(success: StatusCode, written: &Written) -> Response {
    let mut response = match written.outcome.cart() {
        Some(cart) if success != StatusCode::NO_CONTENT => {
            // Sized up front: serde_json's own buffer starts small and doubles, copying each
            // time, for any cart of a few lines.
            let mut body = Vec::with_capacity(BODY_BASE + BODY_PER_LINE * cart.items().len());
            match &written.outcome {
                Outcome::Merged(merged) => crate::cart_json::write_merged(
                    &mut body,
                    cart,
                    &MergeReportView::new(&merged.report, merged.dry_run),
                ),
                Outcome::Cart(_) | Outcome::CheckedOut(_) => {
                    crate::cart_json::write_cart(&mut body, cart)
                }
            }
            let mut response = (success, body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Ok(etag) = HeaderValue::try_from(format!("\"{}\"", cart.version())) {
                headers.insert(header::ETAG, etag);
            }
            response
        }
        _ => StatusCode::NO_CONTENT.into_response(),
    };
    if written.replayed {
        response
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
    response
}
