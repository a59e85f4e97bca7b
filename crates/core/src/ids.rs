//! Identifiers parsed at the edge: guest ids, user ids, the cart key that is one of the two, and
//! product ids. Once one of these values exists its format is guaranteed, so nothing past the
//! edge re-checks it.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::text_serde;

/// Why a string is not a valid identifier of the kind asked for.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    /// Not `guest_` followed by 26 upper-case Crockford base32 characters.
    #[error(
        "a guest id is `guest_` followed by 26 upper-case Crockford base32 characters (a ULID)"
    )]
    InvalidGuestId,
    /// Not 1–128 characters of `[A-Za-z0-9._@:|-]`, or starting with `guest_`.
    #[error("a user id is 1-128 characters of [A-Za-z0-9._@:|-] and never starts with `guest_`")]
    InvalidUserId,
    /// Not 1–64 characters of `[A-Za-z0-9._:-]`.
    #[error("a product id is 1-64 characters of [A-Za-z0-9._:-]")]
    InvalidProductId,
    /// Not 1–64 characters of `[A-Za-z0-9._:-]`.
    #[error("a variant id is 1-64 characters of [A-Za-z0-9._:-]")]
    InvalidVariantId,
}

/// The prefix that reserves the guest id space; user ids may never start with it.
pub const GUEST_PREFIX: &str = "guest_";

fn is_crockford_upper(c: u8) -> bool {
    c.is_ascii_digit() || (c.is_ascii_uppercase() && !matches!(c, b'I' | b'L' | b'O' | b'U'))
}

/// A guest's id: `guest_` + a ULID. The id itself is the capability to the guest's cart.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GuestId(String);

impl GuestId {
    /// Parses `guest_` followed by exactly 26 Crockford base32 characters in upper case.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let ulid = raw
            .strip_prefix(GUEST_PREFIX)
            .ok_or(IdError::InvalidGuestId)?;
        // A ULID's first character encodes only 3 bits, so it is at most '7'.
        let valid =
            ulid.len() == 26 && ulid.bytes().all(is_crockford_upper) && ulid.as_bytes()[0] <= b'7';
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(IdError::InvalidGuestId)
        }
    }

    /// Builds a guest id from the 128 bits of a ULID (a UUIDv7 has the same layout).
    pub fn from_ulid_bits(bits: u128) -> Self {
        Self(format!("{GUEST_PREFIX}{}", ulid::Ulid::from(bits)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A signed-in user's id: the `sub` of a verified token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    /// Parses 1–128 characters of `[A-Za-z0-9._@:|-]` that do not start with `guest_`.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let charset_ok = raw
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._@:|-".contains(&c));
        if (1..=128).contains(&raw.len()) && charset_ok && !raw.starts_with(GUEST_PREFIX) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(IdError::InvalidUserId)
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whose cart: a user's or a guest's. The two id spaces cannot collide.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CartKey {
    /// A signed-in user's cart.
    User(UserId),
    /// A guest's cart.
    Guest(GuestId),
}

/// The kind of owner of a cart, as shown in the API (`"user"` / `"guest"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    /// A signed-in user.
    User,
    /// A guest.
    Guest,
}

impl CartKey {
    /// Parses a stored or path key: `guest_…` must be a valid guest id, anything else a user id.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        if raw.starts_with(GUEST_PREFIX) {
            GuestId::parse(raw).map(Self::Guest)
        } else {
            UserId::parse(raw).map(Self::User)
        }
    }

    /// The key as stored and shown (`user_id` in the API).
    pub fn as_str(&self) -> &str {
        match self {
            Self::User(id) => id.as_str(),
            Self::Guest(id) => id.as_str(),
        }
    }

    /// Whether this is a user's or a guest's cart.
    pub fn owner(&self) -> Owner {
        match self {
            Self::User(_) => Owner::User,
            Self::Guest(_) => Owner::Guest,
        }
    }
}

impl fmt::Display for CartKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn is_catalog_id(raw: &str) -> bool {
    (1..=64).contains(&raw.len())
        && raw
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(&c))
}

/// A catalog product's id. Shared text rather than a `String`: a cart line takes the catalog
/// entry's id (see [`crate::product::Product`]), so all the lines of one product, in every cart
/// kept in memory (`crate::recent`), point at one copy that stays in the CPU's cache, and a
/// copy of the id is a reference count.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProductId(Arc<str>);

impl ProductId {
    /// Parses 1–64 characters of `[A-Za-z0-9._:-]`.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        if is_catalog_id(raw) {
            Ok(Self(raw.into()))
        } else {
            Err(IdError::InvalidProductId)
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A product variant's id (size, colour …); opaque to cartd, part of a line's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VariantId(Box<str>);

impl VariantId {
    /// Parses 1–64 characters of `[A-Za-z0-9._:-]`.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        if is_catalog_id(raw) {
            Ok(Self(raw.into()))
        } else {
            Err(IdError::InvalidVariantId)
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_serde!(GuestId, UserId, CartKey, ProductId, VariantId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_ids_follow_the_reserved_format() {
        assert!(GuestId::parse("guest_01HZX3K4B5C6D7E8F9G0H1J2K3").is_ok());
        for bad in [
            "guest_",
            "guest_01hzx3k4b5c6d7e8f9g0h1j2k3",
            "guest_01HZX3K4B5C6D7E8F9G0H1J2KU",
            "guest_01HZX3K4B5C6D7E8F9G0H1J2K",
            "guest_01HZX3K4B5C6D7E8F9G0H1J2K33",
            "guest_81HZX3K4B5C6D7E8F9G0H1J2K3",
            "01HZX3K4B5C6D7E8F9G0H1J2K3",
            "guest_01HZX3K4B5C6D7E8F9G0H1J2K\u{e9}",
        ] {
            assert_eq!(GuestId::parse(bad), Err(IdError::InvalidGuestId), "{bad}");
        }
    }

    #[test]
    fn generated_guest_ids_parse() {
        for bits in [0, 1, u128::MAX, 0x0123_4567_89ab_cdef_0123_4567_89ab_cdef] {
            let id = GuestId::from_ulid_bits(bits);
            assert_eq!(GuestId::parse(id.as_str()), Ok(id));
        }
    }

    #[test]
    fn user_ids_never_enter_the_guest_space() {
        assert!(UserId::parse("alice@example.com").is_ok());
        assert!(UserId::parse("us-east-1:1234|abc").is_ok());
        assert_eq!(UserId::parse("guest_alice"), Err(IdError::InvalidUserId));
        assert_eq!(UserId::parse(""), Err(IdError::InvalidUserId));
        assert_eq!(UserId::parse(&"a".repeat(129)), Err(IdError::InvalidUserId));
        assert_eq!(UserId::parse("al ice"), Err(IdError::InvalidUserId));
        assert_eq!(CartKey::parse("guest_x"), Err(IdError::InvalidGuestId));
    }

    #[test]
    fn ids_in_json_are_plain_strings_checked_when_read() {
        let key = CartKey::parse("guest_01HZX3K4B5C6D7E8F9G0H1J2K3").expect("key");
        let json = serde_json::to_string(&key).expect("write");
        assert_eq!(json, "\"guest_01HZX3K4B5C6D7E8F9G0H1J2K3\"");
        assert_eq!(serde_json::from_str::<CartKey>(&json).expect("read"), key);
        // An escaped string arrives owned rather than borrowed: the same check applies.
        let escaped = serde_json::from_str::<ProductId>("\"book\\u002d1\"").expect("escaped");
        assert_eq!(escaped.as_str(), "book-1");
        for bad in ["\"a b\"", "\"caf\u{e9}\"", "5", "null", "\"\""] {
            assert!(serde_json::from_str::<ProductId>(bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<CartKey>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn product_ids_are_short_and_plain() {
        assert!(ProductId::parse("book-978-0141439518").is_ok());
        assert!(ProductId::parse("a b").is_err());
        assert!(ProductId::parse("caf\u{e9}").is_err());
        assert!(ProductId::parse(&"x".repeat(65)).is_err());
        assert!(ProductId::parse("").is_err());
    }
}
