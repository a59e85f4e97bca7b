//! Payments through a Stripe-compatible provider: payment intents named after their orders, and
//! the provider's signed webhooks (`Payment-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
//! "t.body">`, keyed by `CARTD_PAYMENT_WEBHOOK_SECRET`).
//!
//! cartd holds no card data. Checkout asks [`WebhookPayments`] for an intent; the storefront pays
//! it with the provider's client and its `client_secret`; the provider reports the outcome to
//! `POST /v1/payments/webhook`, which checks the signature (constant time, five minutes of
//! tolerance either way) before it reads anything else. HMAC comes from `aws-lc-rs`, already
//! in the build for TLS and JWTs; only the header's few lines of parsing and hex are ours.

use async_trait::async_trait;
use aws_lc_rs::hmac;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use cart_core::order::PaymentIntent;
use cart_core::{PaymentProvider, StoreError};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "payment-signature";

/// How far a signature's timestamp may be from now, either way: a captured webhook cannot be
/// replayed later than this, and replays within it are caught by the event id.
pub const TOLERANCE: Duration = Duration::minutes(5);

/// The prefix of the intent ids this provider gives.
const INTENT_PREFIX: &str = "pi_";

/// The payment provider of cartd's own: intents are named after their orders (`pi_<order id
/// without hyphens>`), so a webhook finds its order without a lookup, and outcomes arrive by
/// signed webhook. A provider's own API (creating the intent there) would take this place.
#[derive(Debug, Default, Clone, Copy)]
pub struct WebhookPayments;

#[async_trait]
impl PaymentProvider for WebhookPayments {
    async fn create_intent(
        &self,
        order_id: Uuid,
        amount: i64,
        currency: &str,
    ) -> Result<PaymentIntent, StoreError> {
        let intent_id = format!("{INTENT_PREFIX}{}", order_id.simple());
        Ok(PaymentIntent {
            client_secret: format!("{intent_id}_secret_{}", Uuid::new_v4().simple()),
            intent_id,
            amount,
            currency: currency.to_ascii_lowercase(),
        })
    }

    fn order_of_intent(&self, intent_id: &str) -> Option<Uuid> {
        let hex = intent_id.strip_prefix(INTENT_PREFIX)?;
        (hex.len() == 32)
            .then(|| Uuid::try_parse(hex).ok())
            .flatten()
    }
}

/// Why a webhook's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Payment-Signature` header.
    #[error("the Payment-Signature header is missing")]
    Missing,
    /// The header is not `t=<unix>,v1=<hex>`.
    #[error("the Payment-Signature header is not t=<unix seconds>,v1=<hex HMAC-SHA256>")]
    Malformed,
    /// The timestamp is more than the tolerance away from now.
    #[error("the signature's timestamp is outside the five-minute tolerance")]
    Stale,
    /// No `v1` signature matches the body under the secret.
    #[error("the signature does not match the body")]
    Mismatch,
}

/// The `Payment-Signature` value for `body` sent at `timestamp` (unix seconds), as the
/// provider (and `cartd payments simulate`) sends it.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut context = hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    let tag = context.sign();
    let mut hex = String::with_capacity(64);
    for byte in tag.as_ref() {
        hex.push_str(&format!("{byte:02x}"));
    }
    format!("t={timestamp},v1={hex}")
}

/// Checks `header` (the `Payment-Signature` value, if any) against `body` under `secret` at
/// `now`. Any of several `v1` entries may match (a provider rolling its secret sends two).
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                );
            }
            Some(("v1", value)) => {
                signatures.push(decode_hex(value).ok_or(SignatureError::Malformed)?);
            }
            // Other schemes (a provider's test signatures) are not ours to check.
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let sent = OffsetDateTime::from_unix_timestamp(timestamp).map_err(|_| SignatureError::Stale)?;
    if (now - sent).abs() > TOLERANCE {
        return Err(SignatureError::Stale);
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let signed = [timestamp.to_string().as_bytes(), b".", body].concat();
    signatures
        .iter()
        .any(|signature| hmac::verify(&key, &signed, signature).is_ok())
        .then_some(())
        .ok_or(SignatureError::Mismatch)
}

/// Lower- or upper-case hex to bytes.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 128 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

/// A provider's event, in its layout: `{"id": "evt_…", "type": "…", "data": {"object": {…}}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderEvent {
    /// The event's id: a replay carries the same.
    pub id: String,
    /// `payment_intent.succeeded`, `payment_intent.payment_failed`, or a type cartd ignores.
    #[serde(rename = "type")]
    pub kind: String,
    /// The object the event is about.
    pub data: ProviderEventData,
}

/// The `data` of a provider event.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderEventData {
    /// The payment intent.
    pub object: IntentObject,
}

/// A payment intent as a provider event shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct IntentObject {
    /// The intent's id.
    pub id: String,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217 code, any case.
    pub currency: String,
    /// Why a payment failed, on `payment_intent.payment_failed`.
    #[serde(default)]
    pub last_payment_error: Option<PaymentError>,
}

/// A failed payment's error.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentError {
    /// The provider's message.
    #[serde(default)]
    pub message: Option<String>,
}

/// The event types cartd acts on.
pub const SUCCEEDED: &str = "payment_intent.succeeded";
/// See [`SUCCEEDED`].
pub const FAILED: &str = "payment_intent.payment_failed";

/// A provider event body for `intent` (what `cartd payments simulate` sends).
pub fn event_body(event_id: &str, succeeded: bool, intent: &PaymentIntent) -> String {
    let kind = if succeeded { SUCCEEDED } else { FAILED };
    let error = if succeeded {
        serde_json::Value::Null
    } else {
        serde_json::json!({"message": "simulated decline"})
    };
    serde_json::json!({
        "id": event_id,
        "type": kind,
        "data": {"object": {
            "id": intent.intent_id,
            "amount": intent.amount,
            "currency": intent.currency,
            "last_payment_error": error,
        }},
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time")
    }

    #[test]
    fn a_signature_verifies_for_its_body_only() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(SECRET, now().unix_timestamp(), body);
        assert_eq!(verify(SECRET, Some(&header), body, now()), Ok(()));
        assert_eq!(
            verify(SECRET, Some(&header), br#"{"id":"evt_2"}"#, now()),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"another", Some(&header), body, now()),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn timestamps_beyond_five_minutes_either_way_are_stale() {
        let body = b"{}";
        for (offset, expected) in [
            (-301, Err(SignatureError::Stale)),
            (-299, Ok(())),
            (299, Ok(())),
            (301, Err(SignatureError::Stale)),
        ] {
            let header = sign(SECRET, now().unix_timestamp() + offset, body);
            assert_eq!(
                verify(SECRET, Some(&header), body, now()),
                expected,
                "{offset}"
            );
        }
    }

    #[test]
    fn malformed_headers_are_refused_without_panicking() {
        for header in [
            "",
            "t=abc,v1=00",
            "t=1800000000",
            "v1=00",
            "t=1800000000,v1=zz",
            "t=1800000000,v1=0",
            "garbage",
            "t=99999999999999999999,v1=00",
        ] {
            assert!(
                verify(SECRET, Some(header), b"{}", now()).is_err(),
                "{header:?}"
            );
        }
        assert_eq!(
            verify(SECRET, None, b"{}", now()),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn a_second_signature_lets_a_provider_roll_its_secret() {
        let body = b"{}";
        let good = sign(SECRET, now().unix_timestamp(), body);
        let header = format!("{},v1={}", good, "ab".repeat(32));
        assert_eq!(verify(SECRET, Some(&header), body, now()), Ok(()));
    }

    #[tokio::test]
    async fn intents_name_their_orders() {
        let order = Uuid::now_v7();
        let intent = WebhookPayments
            .create_intent(order, 1234, "EUR")
            .await
            .expect("intent");
        assert_eq!(
            WebhookPayments.order_of_intent(&intent.intent_id),
            Some(order)
        );
        assert!(intent.client_secret.starts_with(&intent.intent_id));
        assert_eq!(intent.currency, "eur");
        assert_eq!(WebhookPayments.order_of_intent("pi_nothex"), None);
        assert_eq!(WebhookPayments.order_of_intent("evt_x"), None);
    }
}
