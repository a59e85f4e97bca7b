//! The HS256 secret: development setups sign and verify with one shared secret. It is checked
//! for length once, at start, and then only ever used to verify tokens without a `kid`. This
//! crate never signs with it; `cart-devidp` does, for `cartd token` and the tests.

use jsonwebtoken::DecodingKey;
use secrecy::{ExposeSecret, SecretString};

use super::AuthConfigError;

/// The shortest HS256 secret accepted, in bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;

/// The verification key of `secret`, refused when it is shorter than [`MIN_SECRET_BYTES`].
pub(super) fn decoding_key(secret: &SecretString) -> Result<DecodingKey, AuthConfigError> {
    let bytes = secret.expose_secret().as_bytes();
    if bytes.len() < MIN_SECRET_BYTES {
        return Err(AuthConfigError::SecretTooShort(bytes.len()));
    }
    Ok(DecodingKey::from_secret(bytes))
}
