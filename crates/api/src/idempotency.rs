//! Idempotency keys on writes.
//!
//! The first completed response for a key (scoped to caller and cart) is stored in the same
//! atomic commit as the change it answers, and replayed for retries with
//! `Idempotent-Replayed: true`. A retry with another method, path or body is
//! `IDEMPOTENCY_KEY_REUSED`; a retry while the first is still running in this process is
//! `IDEMPOTENCY_IN_FLIGHT`. Across processes the store's unique key decides: the loser of a race
//! replays the winner's stored response. Refused requests (4xx) change nothing and are not
//! recorded, so a corrected retry under the same key is evaluated afresh.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use cart_core::{
    Cart, CartError, CartKey, IdempotencyIntent, IdempotencyRecord, MergeReport, Merged,
    Precondition, StoredResponse, WriteOptions,
};

use crate::auth::Caller;
use crate::dto::{CartView, MergeReportView, MergedCartView};
use crate::extract::idempotency_key;
use crate::problem::{ApiError, Code};
use crate::state::AppState;
use crate::trace_context::traceparent;

/// The header marking a replayed response.
pub const REPLAYED: &str = "idempotent-replayed";

/// Idempotency keys whose request is running in this process.
#[derive(Debug, Default)]
pub struct InFlight(Mutex<HashSet<String>>);

/// Releases an in-flight key when dropped (also when the request is cancelled).
pub struct Claim {
    registry: Arc<InFlight>,
    key: String,
}

impl InFlight {
    /// Marks `key` (a scoped key, see [`scoped_key`]) as being processed, unless it already is.
    pub fn claim(registry: &Arc<InFlight>, key: &str) -> Option<Claim> {
        let mut keys = registry.0.lock().unwrap_or_else(|p| p.into_inner());
        keys.insert(key.to_owned()).then(|| Claim {
            registry: registry.clone(),
            key: key.to_owned(),
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut keys = self.registry.0.lock().unwrap_or_else(|p| p.into_inner());
        keys.remove(&self.key);
    }
}

/// What a write request is, for fingerprinting and scoping.
pub struct WriteRequest<'a> {
    /// The caller.
    pub caller: &'a Caller,
    /// The cart.
    pub cart: &'a CartKey,
    /// The request's headers (`Idempotency-Key`, `If-Match` were read from them).
    pub headers: &'a HeaderMap,
    /// The method.
    pub method: Method,
    /// Path and query.
    pub path: &'a str,
    /// The raw body.
    pub body: &'a [u8],
    /// The write's precondition.
    pub precondition: Option<Precondition>,
    /// The status of a successful answer (201 for adds, 200, 204 for clears).
    pub success: StatusCode,
}

/// What a write answers with: the cart it left (if any) and, for a merge, the report.
#[derive(Debug, Default)]
pub struct Written {
    /// The cart to show; `None` answers 204.
    pub cart: Option<Cart>,
    /// The merge report, for merges.
    pub merge: Option<MergeReport>,
    /// Whether the write was only computed (`?dry_run=true`).
    pub dry_run: bool,
}

impl From<Option<Cart>> for Written {
    fn from(cart: Option<Cart>) -> Self {
        Self {
            cart,
            ..Self::default()
        }
    }
}

impl From<Cart> for Written {
    fn from(cart: Cart) -> Self {
        Some(cart).into()
    }
}

impl From<Merged> for Written {
    fn from(merged: Merged) -> Self {
        Self {
            cart: Some(merged.cart),
            merge: Some(merged.report),
            dry_run: false,
        }
    }
}

/// Room reserved for a write's answer before the first line: the cart's own fields, and a
/// merge report's header.
const BODY_BASE: usize = 512;

/// Room reserved per line: a line renders to about 330 bytes of JSON (ids, name, two
/// timestamps); a merge report adds less per line than this leaves spare.
const BODY_PER_LINE: usize = 384;

/// The JSON body of a write's answer: the cart, with the merge report for a merge (empty if it
/// cannot be rendered, as before). The buffer is sized up front: serde_json's own starts at 128
/// bytes and doubled six times, copying each time, for a 20-line cart.
fn write_body(cart: &Cart, merge: Option<&MergeReport>, dry_run: bool) -> Vec<u8> {
    let mut body = Vec::with_capacity(BODY_BASE + BODY_PER_LINE * cart.items().len());
    let Some(report) = merge else {
        crate::cart_json::write_cart(&mut body, cart);
        return body;
    };
    let rendered = serde_json::to_writer(
        &mut body,
        &MergedCartView {
            cart: CartView::from(cart),
            merge: MergeReportView::new(report, dry_run),
        },
    );
    if rendered.is_err() {
        body.clear();
    }
    body
}

/// The `ETag` of a cart: its version, quoted.
fn etag(cart: &Cart) -> String {
    format!("\"{}\"", cart.version())
}

/// Renders the answer to a successful write, to be recorded with its idempotency key: the cart
/// (with the merge report, for a merge) and its `ETag`, or an empty 204.
pub fn render_write(
    status: StatusCode,
    cart: Option<&Cart>,
    merge: Option<&MergeReport>,
    dry_run: bool,
) -> StoredResponse {
    match cart {
        Some(cart) if status != StatusCode::NO_CONTENT => StoredResponse {
            status: status.as_u16(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("etag".into(), etag(cart)),
            ],
            body: write_body(cart, merge, dry_run),
        },
        _ => StoredResponse {
            status: StatusCode::NO_CONTENT.as_u16(),
            headers: Vec::new(),
            body: Vec::new(),
        },
    }
}

/// The HTTP answer to a write without an idempotency key: what [`render_write`] records, built
/// without its owned header names and values (nothing is recorded here).
fn render(status: StatusCode, written: &Written) -> Response {
    match written.cart.as_ref() {
        Some(cart) if status != StatusCode::NO_CONTENT => {
            let body = write_body(cart, written.merge.as_ref(), written.dry_run);
            let mut response = (status, body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Ok(etag) = HeaderValue::try_from(etag(cart)) {
                headers.insert(header::ETAG, etag);
            }
            response
        }
        _ => into_http(render_write(status, None, None, false), false),
    }
}

/// Turns a stored (or freshly rendered) response into an HTTP response.
pub fn into_http(stored: StoredResponse, replayed: bool) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.insert(name, value);
        }
    }
    if replayed {
        headers.insert(REPLAYED, HeaderValue::from_static("true"));
    }
    response
}

/// An idempotency key scoped to its caller and cart, as recorded.
pub fn scoped_key(caller: &Caller, cart: &CartKey, key: &str) -> String {
    format!("{}|{}|{}", caller.scope_label(), cart.as_str(), key)
}

fn fingerprint(request: &WriteRequest<'_>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(request.method.as_str());
    hasher.update(b"\n");
    hasher.update(request.path);
    hasher.update(b"\n");
    hasher.update(request.body);
    format!("{:x}", hasher.finalize())
}

fn replay(record: IdempotencyRecord, fingerprint: &str) -> Result<Response, ApiError> {
    if record.fingerprint != fingerprint {
        return Err(ApiError::new(
            Code::IdempotencyKeyReused,
            "this Idempotency-Key was used for a different request",
        ));
    }
    Ok(into_http(record.response, true))
}

/// Runs a write, honouring `Idempotency-Key`. `write` receives the options to pass to the
/// service and returns what to show (a cart, none, or a merged cart and its report).
pub async fn run_write<F, Fut, O>(
    state: &AppState,
    request: WriteRequest<'_>,
    write: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(WriteOptions) -> Fut,
    Fut: Future<Output = Result<O, CartError>>,
    O: Into<Written>,
{
    let success = request.success;
    let Some(key) = idempotency_key(request.headers)? else {
        let options = WriteOptions {
            precondition: request.precondition,
            idempotency: None,
            traceparent: traceparent(request.headers),
        };
        let written = write(options).await?.into();
        return Ok(render(success, &written));
    };
    let scoped_key = scoped_key(request.caller, request.cart, &key);
    let fingerprint = fingerprint(&request);
    if let Some(record) = state.service.idempotency_record(&scoped_key).await? {
        return replay(record, &fingerprint);
    }
    let _claim = InFlight::claim(&state.in_flight, &scoped_key).ok_or_else(|| {
        ApiError::new(
            Code::IdempotencyInFlight,
            "a request with this Idempotency-Key is still being processed",
        )
    })?;
    let options = WriteOptions {
        precondition: request.precondition,
        idempotency: Some(IdempotencyIntent {
            scoped_key: scoped_key.clone(),
            fingerprint: fingerprint.clone(),
            render: Box::new(move |cart, merge| render_write(success, cart, merge, false)),
        }),
        traceparent: traceparent(request.headers),
    };
    match write(options).await {
        Ok(written) => Ok(render(success, &written.into())),
        // Another request (another replica, or one that finished between our lookup and our
        // claim) committed this key first: answer as it did.
        Err(CartError::IdempotencyKeyCommitted) => {
            match state.service.idempotency_record(&scoped_key).await? {
                Some(record) => replay(record, &fingerprint),
                None => Err(CartError::IdempotencyKeyCommitted.into()),
            }
        }
        Err(other) => Err(other.into()),
    }
}
