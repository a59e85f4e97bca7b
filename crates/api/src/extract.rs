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
        json_content_type(request.headers())?;
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

/// The one media type request bodies are read as.
pub const JSON: &str = "application/json";

/// Checks that a body is declared as JSON in UTF-8: `application/json` (any case), with no
/// `charset` or `charset=utf-8` (any case, quoted or not); other parameters mean nothing to
/// JSON and are ignored. Anything else is `415 UNSUPPORTED_MEDIA_TYPE`: another charset would
/// be read as UTF-8 regardless; `application/merge-patch+json` asks for JSON Merge Patch
/// (RFC 7396), whose rules (`null` deletes a member) are not this API's; other
/// `application/*+json` types promise semantics of their own too.
pub fn json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(unsupported(None, format!("the body must be {JSON}")));
    };
    let Ok(text) = value.to_str() else {
        return Err(unsupported(None, format!("the body must be {JSON}")));
    };
    let mut parts = text.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case(JSON) {
        let message = if essence.eq_ignore_ascii_case("application/merge-patch+json") {
            format!("JSON Merge Patch (application/merge-patch+json) is not supported: send {JSON}")
        } else {
            format!("the body must be {JSON}, not {essence}")
        };
        return Err(unsupported(Some(text), message));
    }
    for parameter in parts {
        let Some((name, value)) = parameter.split_once('=') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("charset") {
            continue;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        if !value.eq_ignore_ascii_case("utf-8") {
            let message = format!("the body must be {JSON} in UTF-8, not charset={value}");
            return Err(unsupported(Some(text), message));
        }
    }
    Ok(())
}

fn unsupported(content_type: Option<&str>, message: String) -> ApiError {
    ApiError::new(Code::UnsupportedMediaType, message).with_details(serde_json::json!({
        "content_type": content_type,
        "accepted": [JSON],
        "charset": "utf-8",
    }))
}

/// Reads a requested quantity from a JSON value: a positive integer (`2.0` is one, as in JSON
/// Schema: [`crate::integers`]), or `INVALID_QUANTITY` (zero, negative, fractional, a string,
/// null …).
pub fn requested_quantity(value: &serde_json::Value) -> Result<RequestedQuantity, ApiError> {
    value
        .as_u64()
        .or_else(|| {
            let whole = crate::integers::integral(value.as_f64()?)?;
            u64::try_from(whole).ok()
        })
        .and_then(RequestedQuantity::new)
        .ok_or_else(|| {
            ApiError::new(Code::InvalidQuantity, "quantity must be a positive integer")
                .with_details(serde_json::json!({"quantity": value}))
        })
}

/// The `If-Match` precondition, if any: `*`, or a comma-separated list of entity tags holding
/// a version (`"3"`, `W/"3"`), spaces and tabs allowed around the commas and the value
/// (`crate::formats::IF_MATCH_PATTERN` is this grammar). The first strong tag whose version
/// can exist is the precondition. `If-Match` compares strongly (RFC 9110 §13.1.1): a weak tag
/// never matches, nor does a version past `u64`, so a list without a strong tag that could
/// match is `412 PRECONDITION_FAILED` at once. Anything else is `400 VALIDATION_ERROR`.
pub fn if_match(headers: &HeaderMap) -> Result<Option<Precondition>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::new(
            Code::ValidationError,
            "If-Match must be `*` or a list of entity tags such as \"3\"",
        )
    };
    let text = value.to_str().map_err(|_| bad())?.trim_matches([' ', '\t']);
    if text == "*" {
        return Ok(Some(Precondition::IfMatchAny));
    }
    let mut strong = None;
    for tag in text.split(',') {
        let tag = tag.trim_matches([' ', '\t']);
        let (weak, quoted) = match tag.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, tag),
        };
        let digits = quoted
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .filter(|t| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()))
            .ok_or_else(bad)?;
        if !weak && strong.is_none() {
            strong = digits.parse::<u64>().ok();
        }
    }
    match strong {
        Some(version) => Ok(Some(Precondition::IfMatch(version))),
        None => Err(ApiError::new(
            Code::PreconditionFailed,
            "no entity tag in If-Match can match: a weak tag (W/\"…\") never does, nor a \
             version past 18446744073709551615",
        )),
    }
}

/// The request's id (`x-request-id`, set by the request-id layer), empty when absent.
pub fn request_id(headers: &HeaderMap) -> &str {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
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
        assert_eq!(
            if_match(&headers("if-match", " \"4\" ,\tW/\"5\" ")).ok(),
            Some(Some(Precondition::IfMatch(4)))
        );
        // A version no cart can have never matches.
        assert_eq!(
            if_match(&headers("if-match", "\"18446744073709551616\""))
                .err()
                .map(|e| e.code()),
            Some(Code::PreconditionFailed)
        );
        for bad in [
            "abc",
            "\"\"",
            "\"+3\"",
            "\"3",
            "3",
            "abc, \"3\"",
            "\"3\",",
            "\"3\" \"4\"",
            "w/\"3\"",
            "W/ \"3\"",
            "**",
        ] {
            assert_eq!(
                if_match(&headers("if-match", bad)).err().map(|e| e.code()),
                Some(Code::ValidationError),
                "{bad}"
            );
        }
    }

    #[test]
    fn bodies_are_json_in_utf8() {
        for good in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            "application/json; charset=\"utf-8\"",
            "application/json; profile=x",
        ] {
            assert!(
                json_content_type(&headers("content-type", good)).is_ok(),
                "{good}"
            );
        }
        for bad in [
            "application/merge-patch+json",
            "application/json-patch+json",
            "application/vnd.api+json",
            "application/problem+json",
            "application/json; charset=iso-8859-1",
            "application/json; charset=utf-16",
            "application/jsonx",
            "text/json",
            "text/plain",
            "",
        ] {
            assert_eq!(
                json_content_type(&headers("content-type", bad))
                    .err()
                    .map(|e| e.code()),
                Some(Code::UnsupportedMediaType),
                "{bad}"
            );
        }
        assert!(json_content_type(&HeaderMap::new()).is_err());
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
