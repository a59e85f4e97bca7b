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

/// Room for the longest RFC 3339 text `time` writes: `9999-12-31T23:59:59.999999999+23:59`.
const MAX_LEN: usize = 40;

/// Why a timestamp has no RFC 3339 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rfc3339Error {
    /// RFC 3339 has four-digit years only.
    #[error("the year {0} is outside 0000–9999, which RFC 3339 cannot express")]
    YearOutOfRange(i32),
    /// RFC 3339 offsets are hours and minutes.
    #[error("a UTC offset with seconds has no RFC 3339 form")]
    OffsetWithSeconds,
}

/// A timestamp formatted as RFC 3339 into a buffer on the stack.
///
/// Written here rather than with `time`'s `format_into`: that goes through `io::Write` and a
/// generic formatter, and every answer formats many of them (five timestamps per cart and two
/// per line), enough to show in the add path's profile. The text is the same, byte for
/// byte, as the tests check against `time` itself: seconds always, the fraction only when not
/// zero and without trailing zeros, `Z` for UTC and `±HH:MM` otherwise.
pub struct Rfc3339Text {
    bytes: [u8; MAX_LEN],
    len: usize,
}

impl Rfc3339Text {
    /// Formats `at`; fails where RFC 3339 cannot express it (a year outside 0–9999, an offset
    /// with seconds), as `time`'s own formatting does.
    pub fn new(at: OffsetDateTime) -> Result<Self, Rfc3339Error> {
        let year = at.year();
        let Ok(year_digits) = u32::try_from(year) else {
            return Err(Rfc3339Error::YearOutOfRange(year));
        };
        if year_digits > 9999 {
            return Err(Rfc3339Error::YearOutOfRange(year));
        }
        let (offset_hours, offset_minutes, offset_seconds) = at.offset().as_hms();
        if offset_seconds != 0 {
            return Err(Rfc3339Error::OffsetWithSeconds);
        }
        let mut text = Self {
            bytes: [0; MAX_LEN],
            len: 0,
        };
        text.digits(year_digits, 4);
        text.push(b'-');
        text.digits(u32::from(u8::from(at.month())), 2);
        text.push(b'-');
        text.digits(u32::from(at.day()), 2);
        text.push(b'T');
        text.digits(u32::from(at.hour()), 2);
        text.push(b':');
        text.digits(u32::from(at.minute()), 2);
        text.push(b':');
        text.digits(u32::from(at.second()), 2);
        let mut nanos = at.nanosecond();
        if nanos != 0 {
            let mut width = 9;
            while nanos.is_multiple_of(10) {
                nanos /= 10;
                width -= 1;
            }
            text.push(b'.');
            text.digits(nanos, width);
        }
        if at.offset().is_utc() {
            text.push(b'Z');
        } else {
            let negative = offset_hours < 0 || offset_minutes < 0;
            text.push(if negative { b'-' } else { b'+' });
            text.digits(u32::from(offset_hours.unsigned_abs()), 2);
            text.push(b':');
            text.digits(u32::from(offset_minutes.unsigned_abs()), 2);
        }
        Ok(text)
    }

    /// The formatted text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and punctuation are written, so this cannot fail.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }

    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    /// `value` in exactly `width` decimal digits, zero-padded (`value` fits by construction).
    fn digits(&mut self, mut value: u32, width: usize) {
        for slot in self.bytes[self.len..self.len + width].iter_mut().rev() {
            // A remainder of 10 is below 10: the cast cannot truncate.
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.len += width;
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
    use time::UtcOffset;
    use time::format_description::well_known::Rfc3339;
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
    fn every_field_and_fraction_width_matches_time() {
        let offsets = [
            UtcOffset::UTC,
            UtcOffset::from_hms(5, 30, 0).expect("offset"),
            UtcOffset::from_hms(-9, 0, 0).expect("offset"),
            UtcOffset::from_hms(0, -30, 0).expect("offset"),
        ];
        let mut checked = 0;
        // Seconds spread over 0000–9999 with every fraction width from none to nine digits.
        let mut seconds = OffsetDateTime::new_utc(
            time::Date::from_calendar_date(0, time::Month::January, 1).expect("date"),
            time::Time::MIDNIGHT,
        )
        .unix_timestamp();
        let last = datetime!(9999-12-31 23:59:59 UTC).unix_timestamp();
        let mut nanos: u32 = 0;
        while seconds < last {
            for offset in offsets {
                let Ok(utc) = OffsetDateTime::from_unix_timestamp(seconds) else {
                    continue;
                };
                let at = utc
                    .replace_nanosecond(nanos)
                    .expect("nanos")
                    .to_offset(offset);
                if at.year() < 0 || at.year() > 9999 {
                    continue;
                }
                let ours = Rfc3339Text::new(at).expect("ours");
                assert_eq!(
                    ours.as_str(),
                    at.format(&Rfc3339).expect("time's"),
                    "{at:?}"
                );
                checked += 1;
            }
            seconds += 7_777_777_777 / 1_000;
            nanos = (nanos.wrapping_mul(31).wrapping_add(123_456_789)) % 1_000_000_000;
            if nanos.is_multiple_of(7) {
                nanos -= nanos % 1_000_000;
            }
        }
        assert!(checked > 100_000, "{checked}");
    }

    #[test]
    fn what_rfc3339_cannot_express_is_an_error_not_garbage() {
        // An offset with seconds has no RFC 3339 form.
        let at = datetime!(2026-12-01 08:53:01 +01:00:30);
        assert!(serde_json::to_string(&Stamped { at }).is_err());
        assert_eq!(
            Rfc3339Text::new(at).err(),
            Some(Rfc3339Error::OffsetWithSeconds)
        );
        // Nor has a year of five digits or a negative one.
        let far = datetime!(2026-12-01 08:53:01 UTC).replace_year(10_000);
        let before = datetime!(2026-12-01 08:53:01 UTC).replace_year(-1);
        for at in [far, before].into_iter().flatten() {
            assert_eq!(
                Rfc3339Text::new(at).err(),
                Some(Rfc3339Error::YearOutOfRange(at.year()))
            );
        }
    }
}
