//! Extractors that turn raw requests into typed values or a problem+json 4xx: JSON bodies with
//! size, media-type and shape checks; `If-Match`; `Idempotency-Key`.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use cart_core::{Precondition, RequestedQuantity};

use crate::problem::{ApiError, Code};

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body parsed into `T`, keeping the raw bytes (they go into the idempotency fingerprint).
pub struct JsonBody<T> {
    /// The parsed body.
    pub value: T,
    /// The bytes as received.
    pub raw: Bytes,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
        if !is_json {
            return Err(ApiError::new(
                Code::UnsupportedMediaType,
                "the body must be application/json",
            ));
        }
        let too_large = || {
            ApiError::new(
                Code::PayloadTooLarge,
                format!("the body may be at most {MAX_BODY_BYTES} bytes"),
            )
            .with_details(serde_json::json!({"max_bytes": MAX_BODY_BYTES}))
        };
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(too_large());
        }
        let raw = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| too_large())?;
        let value = serde_json::from_slice(&raw)
            .map_err(|e| ApiError::new(Code::ValidationError, format!("invalid JSON body: {e}")))?;
        Ok(Self { value, raw })
    }
}

/// Reads a requested quantity from a JSON value: a positive integer, or `INVALID_QUANTITY`
/// (zero, negative, fractional, a string, null …).
pub fn requested_quantity(value: &serde_json::Value) -> Result<RequestedQuantity, ApiError> {
    value
        .as_u64()
        .and_then(RequestedQuantity::new)
        .ok_or_else(|| {
            ApiError::new(Code::InvalidQuantity, "quantity must be a positive integer")
                .with_details(serde_json::json!({"quantity": value}))
        })
}

/// The `If-Match` precondition, if any: `"3"` (or a list containing a version) or `*`.
/// `If-Match` compares strongly (RFC 9110 §13.1.1): a weak tag (`W/"3"`) never matches, so a
/// list of weak tags alone is `412 PRECONDITION_FAILED` at once.
pub fn if_match(headers: &HeaderMap) -> Result<Option<Precondition>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::new(
            Code::ValidationError,
            "If-Match must be `*` or an entity tag such as \"3\"",
        )
    };
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text == "*" {
        return Ok(Some(Precondition::IfMatchAny));
    }
    let version = |tag: &str| {
        tag.strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .and_then(|t| t.parse::<u64>().ok())
    };
    let tags = || text.split(',').map(str::trim);
    if let Some(strong) = tags().find_map(version) {
        return Ok(Some(Precondition::IfMatch(strong)));
    }
    if tags().any(|tag| tag.strip_prefix("W/").and_then(version).is_some()) {
        return Err(ApiError::new(
            Code::PreconditionFailed,
            "If-Match compares entity tags strongly: a weak tag (W/\"…\") never matches",
        ));
    }
    Err(bad())
}

/// The `Idempotency-Key` header, if any: 1–255 printable ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|key| is_idempotency_key(key))
        .ok_or_else(|| {
            ApiError::new(
                Code::ValidationError,
                "Idempotency-Key must be 1-255 printable ASCII characters",
            )
        })?;
    Ok(Some(key.to_owned()))
}

/// Whether `key` is an acceptable idempotency key: 1–255 printable ASCII characters, whichever
/// transport carried it.
pub fn is_idempotency_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|c| (0x20..0x7f).contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_str(value).expect("header"));
        map
    }

    #[test]
    fn if_match_reads_entity_tags() {
        assert_eq!(if_match(&HeaderMap::new()).ok(), Some(None));
        assert_eq!(
            if_match(&headers("if-match", "\"3\"")).ok(),
            Some(Some(Precondition::IfMatch(3)))
        );
        assert_eq!(
            if_match(&headers("if-match", "W/\"7\", \"8\"")).ok(),
            Some(Some(Precondition::IfMatch(8)))
        );
        assert_eq!(
            if_match(&headers("if-match", "W/\"7\""))
                .err()
                .map(|e| e.code()),
            Some(Code::PreconditionFailed)
        );
        assert_eq!(
            if_match(&headers("if-match", "*")).ok(),
            Some(Some(Precondition::IfMatchAny))
        );
        assert!(if_match(&headers("if-match", "abc")).is_err());
    }

    #[test]
    fn quantities_must_be_positive_integers() {
        use serde_json::json;
        assert_eq!(requested_quantity(&json!(2)).ok().map(|q| q.get()), Some(2));
        for bad in [
            json!(0),
            json!(-1),
            json!(2.5),
            json!("2"),
            json!(null),
            json!(1e30),
        ] {
            assert_eq!(
                requested_quantity(&bad).err().map(|e| e.code()),
                Some(Code::InvalidQuantity),
                "{bad}"
            );
        }
    }

    #[test]
    fn idempotency_keys_are_printable_and_bounded() {
        assert_eq!(
            idempotency_key(&headers("idempotency-key", "abc-123")).ok(),
            Some(Some("abc-123".into()))
        );
        assert!(idempotency_key(&headers("idempotency-key", &"k".repeat(256))).is_err());
    }
}
