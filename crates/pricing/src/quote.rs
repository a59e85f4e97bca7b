//! The quote token: a digest of everything a shopper was shown, so checkout can refuse a total
//! that is no longer the one on screen.

use std::fmt::Write;

use sha2::{Digest, Sha256};

use crate::calculate::Breakdown;

/// Version prefix of the token's format, so a later format cannot be mistaken for this one.
const FORMAT: &str = "q1";

/// The quote token for `breakdown` of cart `cart_key` at `version`: `q1.` and the hex SHA-256
/// of the cart's key and version and of every number, code, rate, region and warning in the
/// breakdown (its steps are left out: they only explain those numbers).
///
/// It is a digest, not a signature: checkout recomputes the totals and accepts the token only
/// when the new one is equal, so forging a token gains nothing.
pub fn quote_token(cart_key: &str, version: u64, breakdown: &Breakdown) -> String {
    let mut hasher = Sha256::new();
    hasher.update(FORMAT.as_bytes());
    hasher.update(b"\0");
    hasher.update(cart_key.as_bytes());
    hasher.update(b"\0");
    hasher.update(version.to_be_bytes());
    hasher.update(b"\0");
    let shown = Breakdown {
        steps: None,
        ..breakdown.clone()
    };
    // Serializing our own plain structs (strings, integers, no maps with non-string keys)
    // cannot fail; an empty body would still give a stable, if weaker, digest.
    hasher.update(serde_json::to_vec(&shown).unwrap_or_default());
    let digest = hasher.finalize();
    let mut token = String::with_capacity(FORMAT.len() + 1 + 64);
    token.push_str(FORMAT);
    token.push('.');
    for byte in digest {
        let _ = write!(token, "{byte:02x}");
    }
    token
}
