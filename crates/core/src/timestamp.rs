//! Timestamps in serde: RFC 3339 text in human-readable formats (JSON), written without a heap
//! allocation, and a compact `(seconds, nanoseconds)` pair in binary formats (the embedded
//! store's cart documents).
//!
//! `time::serde::rfc3339` formats every value into a new `String` before writing it; a cart
//! carries two timestamps per line and is written on every change, so those strings were a
//! visible share of each add (`docs/PERFORMANCE.md`). The text written is the same.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Room for the longest RFC 3339 text `time` writes: `-9999-12-31T23:59:59.999999999+23:59`.
const MAX_LEN: usize = 40;

/// A timestamp formatted as RFC 3339 into a buffer on the stack.
pub struct Rfc3339Text {
    bytes: [u8; MAX_LEN],
    len: usize,
}

impl Rfc3339Text {
    /// Formats `at`; fails where RFC 3339 cannot express it (a year outside 0–9999, an offset
    /// with seconds), exactly as `time`'s own formatting does.
    pub fn new(at: OffsetDateTime) -> Result<Self, time::error::Format> {
        let mut bytes = [0; MAX_LEN];
        let mut out: &mut [u8] = &mut bytes;
        // What is left of `out` says how much was written: the count `format_into` returns fell
        // short of it for timestamps with a fraction of a second (the test below caught it).
        at.format_into(&mut out, &Rfc3339)?;
        let len = MAX_LEN - out.len();
        Ok(Self { bytes, len })
    }

    /// The formatted text.
    pub fn as_str(&self) -> &str {
        // `time` writes ASCII only, so this cannot fail.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// `#[serde(with = "cart_core::timestamp::rfc3339")]`: RFC 3339 text in JSON, `(seconds,
/// nanoseconds)` since the Unix epoch in UTC in binary formats.
pub mod rfc3339 {
    use super::*;

    /// Writes `at` as described in the module.
    pub fn serialize<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            let text = Rfc3339Text::new(*at).map_err(serde::ser::Error::custom)?;
            serializer.serialize_str(text.as_str())
        } else {
            (at.unix_timestamp(), at.nanosecond()).serialize(serializer)
        }
    }

    /// Reads what [`serialize`] writes.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        if deserializer.is_human_readable() {
            time::serde::rfc3339::deserialize(deserializer)
        } else {
            let (seconds, nanoseconds) = <(i64, u32)>::deserialize(deserializer)?;
            let at = OffsetDateTime::from_unix_timestamp(seconds).map_err(D::Error::custom)?;
            at.replace_nanosecond(nanoseconds).map_err(D::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Stamped {
        #[serde(with = "rfc3339")]
        at: OffsetDateTime,
    }

    #[test]
    fn the_text_is_what_time_itself_writes() {
        for at in [
            datetime!(2026-12-01 08:53:01.123456789 UTC),
            datetime!(2026-12-01 08:53:01 UTC),
            datetime!(0000-01-01 00:00:00 UTC),
            datetime!(9999-12-31 23:59:59.999999999 +23:59),
            datetime!(2026-06-30 12:00:00.5 -05:30),
        ] {
            let ours = serde_json::to_string(&Stamped { at }).expect("ours");
            let expected = format!("{{\"at\":\"{}\"}}", at.format(&Rfc3339).expect("time's"));
            assert_eq!(ours, expected);
            let back: Stamped = serde_json::from_str(&ours).expect("read back");
            assert_eq!(back.at, at);
        }
    }

    #[test]
    fn what_rfc3339_cannot_express_is_an_error_not_garbage() {
        // An offset with seconds has no RFC 3339 form.
        let at = datetime!(2026-12-01 08:53:01 +01:00:30);
        assert!(serde_json::to_string(&Stamped { at }).is_err());
    }
}
