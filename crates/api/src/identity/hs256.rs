//! The HS256 secret: development setups sign and verify with one shared secret. It is checked
//! for length once, at start, and then only ever used to verify tokens without a `kid`.

use jsonwebtoken::DecodingKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};

use super::{AuthConfigError, Claims};

/// The shortest HS256 secret accepted, in bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;

/// The secret's bytes, if it is long enough to be safe.
fn checked(secret: &SecretString) -> Result<&[u8], AuthConfigError> {
    let bytes = secret.expose_secret().as_bytes();
    if bytes.len() < MIN_SECRET_BYTES {
        return Err(AuthConfigError::SecretTooShort(bytes.len()));
    }
    Ok(bytes)
}

/// The verification key of `secret`, refused when it is shorter than [`MIN_SECRET_BYTES`].
pub(super) fn decoding_key(secret: &SecretString) -> Result<DecodingKey, AuthConfigError> {
    checked(secret).map(DecodingKey::from_secret)
}

/// Signs a development token with an HS256 secret (`cartd token`).
pub fn mint_hs256(secret: &SecretString, claims: &Claims) -> Result<String, AuthConfigError> {
    let bytes = checked(secret)?;
    // Encoding fixed claims with an HMAC key cannot fail; an empty string would be refused by
    // every verifier anyway.
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(bytes),
    )
    .unwrap_or_default())
}
