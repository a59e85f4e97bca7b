//! API errors as GraphQL answers them.
//!
//! Every refusal starts as the same [`ApiError`] REST renders (domain errors go through the one
//! `CartError` → `Code` mapping in [`crate::problem`]); here it only changes shape:
//!
//! - in a mutation, a refusal the client can correct becomes a `UserError` in the payload;
//! - authorization failures (`UNAUTHORIZED`, `FORBIDDEN`), rate limits and server failures
//!   (`INTERNAL_ERROR`, `SERVICE_UNAVAILABLE`, logged with their cause, shown with a generic
//!   message), and every error of a query or subscription, become GraphQL errors whose
//!   `extensions.code` is the REST code and `extensions.details` REST's `details`.
//!
//! GraphQL adds a few codes of its own ([`GraphqlCode`]) for situations REST does not have.

use async_graphql::{Error, ErrorExtensionValues, Json, Result, Value};

use crate::graphql::types::{CartPayload, UserError};
use crate::problem::{ApiError, Code};

/// Error codes only GraphQL answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphqlCode {
    /// The document is not GraphQL.
    ParseFailed,
    /// The document does not fit the schema (unknown field, wrong argument type …), or names
    /// an operation it does not hold.
    ValidationFailed,
    /// The selection is nested deeper than `GraphqlConfig::max_depth`.
    QueryTooDeep,
    /// The selection has more fields than `GraphqlConfig::max_complexity`.
    QueryTooComplex,
    /// A 64-bit value does not fit a GraphQL `Int` (see `Money.amount64`).
    ValueOutOfRange,
    /// The connection already holds `GraphqlConfig::max_subscriptions_per_connection`.
    TooManySubscriptions,
    /// The subscriber fell too far behind the change feed and was dropped.
    SlowSubscriber,
}

impl GraphqlCode {
    /// The code as sent in `extensions.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::ValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::QueryTooDeep => "QUERY_TOO_DEEP",
            Self::QueryTooComplex => "QUERY_TOO_COMPLEX",
            Self::ValueOutOfRange => "VALUE_OUT_OF_RANGE",
            Self::TooManySubscriptions => "TOO_MANY_SUBSCRIPTIONS",
            Self::SlowSubscriber => "SLOW_SUBSCRIBER",
        }
    }
}

/// An [`ApiError`] taken apart: its code, and the `message` and `details` REST would send.
#[derive(Debug, Clone)]
pub struct Refusal {
    code: Code,
    message: String,
    details: serde_json::Value,
}

impl Refusal {
    /// Takes an API error apart, logging a server failure with its internal cause (the cause
    /// never reaches the client).
    pub fn of(error: ApiError) -> Self {
        let code = error.code();
        if code.status().is_server_error() {
            tracing::error!(code = code.as_str(), ?error, "graphql operation failed");
        }
        Self {
            code,
            message: error.message().to_owned(),
            details: error.details().clone(),
        }
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The message, for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether this is a refusal the client can correct (a `UserError`), rather than an
    /// authorization or server failure (a GraphQL error).
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self.code,
            Code::Unauthorized | Code::Forbidden | Code::RateLimited | Code::FeatureDisabled
        ) && !self.code.status().is_server_error()
    }

    /// As a GraphQL error.
    pub fn into_error(self) -> Error {
        let details = self.details();
        with_code(self.code.as_str(), self.message, details)
    }

    /// As a `UserError`, blaming `field` (or the argument the code always concerns).
    pub fn into_user_error(self, field: Option<&str>) -> UserError {
        let field = field.or_else(|| self.field());
        UserError {
            code: self.code.as_str().to_owned(),
            field: field.map(str::to_owned),
            details: self.details().map(Json),
            message: self.message,
        }
    }

    fn details(&self) -> Option<serde_json::Value> {
        self.details
            .as_object()
            .filter(|members| !members.is_empty())
            .map(|_| self.details.clone())
    }

    /// The argument a code always concerns, where there is exactly one.
    fn field(&self) -> Option<&'static str> {
        match self.code {
            Code::InvalidQuantity | Code::QuantityLimitExceeded | Code::InventoryInsufficient => {
                Some("quantity")
            }
            Code::PriceChanged => Some("unitPrice"),
            Code::PreconditionFailed => Some("expectedVersion"),
            // `CONFLICT` also answers unconditional writes that lost every retry.
            Code::Conflict if self.details.get("expected_version").is_some() => {
                Some("expectedVersion")
            }
            Code::ProductNotFound | Code::ProductUnavailable => Some("productId"),
            Code::ItemNotFound => Some("itemId"),
            Code::IdempotencyInFlight | Code::IdempotencyKeyReused => Some("idempotencyKey"),
            _ => None,
        }
    }
}

/// An API error as a GraphQL error.
pub fn gql_error(error: ApiError) -> Error {
    Refusal::of(error).into_error()
}

/// A mutation's answer to a refusal: a payload with a `UserError` blaming `field`, or a
/// GraphQL error for authorization and server failures.
pub fn refuse(error: ApiError, field: Option<&str>) -> Result<CartPayload> {
    let refusal = Refusal::of(error);
    if refusal.is_user_error() {
        Ok(CartPayload::refused(refusal.into_user_error(field)))
    } else {
        Err(refusal.into_error())
    }
}

/// A refusal as a `UserError` blaming `field`, for payloads other than `CartPayload`; an
/// authorization or server failure as a GraphQL error.
pub fn user_error(error: ApiError, field: Option<&str>) -> Result<UserError> {
    let refusal = Refusal::of(error);
    if refusal.is_user_error() {
        Ok(refusal.into_user_error(field))
    } else {
        Err(refusal.into_error())
    }
}

/// A GraphQL error with one of GraphQL's own codes.
pub fn coded(code: GraphqlCode, message: impl Into<String>) -> Error {
    with_code(code.as_str(), message.into(), None)
}

fn with_code(code: &str, message: String, details: Option<serde_json::Value>) -> Error {
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code);
    if let Some(details) = details.and_then(|d| Value::from_json(d).ok()) {
        extensions.set("details", details);
    }
    Error {
        message,
        source: None,
        extensions: Some(extensions),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cart_core::CartError;

    #[test]
    fn a_domain_refusal_keeps_rests_code_message_and_details() {
        let refusal = Refusal::of(ApiError::from(CartError::PriceChanged {
            expected: 1,
            current: 250,
        }));
        assert_eq!(refusal.code(), Code::PriceChanged);
        assert!(refusal.is_user_error());
        let user_error = refusal.into_user_error(None);
        assert_eq!(user_error.code, "PRICE_CHANGED");
        assert_eq!(user_error.field.as_deref(), Some("unitPrice"));
        assert_eq!(user_error.message, "price changed: expected 1, now 250");
        assert_eq!(
            user_error.details.map(|d| d.0),
            Some(serde_json::json!({"expected": 1, "current": 250}))
        );
    }

    #[test]
    fn server_failures_are_errors_that_hide_their_cause() {
        let refusal = Refusal::of(ApiError::internal("disk on fire at /var/lib/cartd"));
        assert!(!refusal.is_user_error());
        let error = refusal.into_error();
        assert_eq!(error.message, "internal error");
        let code = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .cloned();
        assert_eq!(code, Some(Value::from("INTERNAL_ERROR")));
    }

    #[test]
    fn authorization_failures_are_errors() {
        let refusal = Refusal::of(ApiError::new(Code::Forbidden, "not yours"));
        assert!(!refusal.is_user_error());
        assert_eq!(refusal.message(), "not yours");
    }
}
