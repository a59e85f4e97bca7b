//! Bronze: the events exactly as they arrived, NDJSON compressed with zstd, one object per
//! ingest batch and event hour under
//! `bronze/cart_events/year=YYYY/month=MM/day=DD/hour=HH/<run>-<batch>.ndjson.zst`.
//!
//! An event goes to the hour of its own `time` (when the change was committed), so one hour of
//! bronze holds every copy of an event however late it arrived; an event whose time cannot be
//! read goes to the hour it was ingested, for silver to quarantine. Object names carry the
//! ingest run's ULID and a batch number, and are created only if absent: a re-run never
//! overwrites another run's object.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};

use bytes::Bytes;
use serde::Deserialize;
use time::{Date, OffsetDateTime};
use ulid::Ulid;

use crate::LakeError;
use crate::lake::Lake;

/// The bronze table's folder.
pub const ROOT: &str = "bronze/cart_events";

/// The folder of one day of bronze.
pub fn day_dir(date: Date) -> String {
    format!(
        "{ROOT}/year={:04}/month={:02}/day={:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The folder of one hour of bronze.
pub fn hour_dir(date: Date, hour: u8) -> String {
    format!("{}/hour={hour:02}", day_dir(date))
}

/// The UTC date and hour an event belongs to, from its `time`; `None` when it has none.
pub fn event_hour(raw: &[u8]) -> Option<(Date, u8)> {
    #[derive(Deserialize)]
    struct Time {
        #[serde(with = "time::serde::rfc3339")]
        time: OffsetDateTime,
    }
    let Time { time } = serde_json::from_slice(raw).ok()?;
    let utc = time.to_offset(time::UtcOffset::UTC);
    Some((utc.date(), utc.hour()))
}

/// What one [`BronzeWriter::write`] stored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Events written.
    pub events: u64,
    /// Objects created.
    pub objects: u64,
    /// Compressed bytes written.
    pub bytes: u64,
}

/// Writes ingest batches into bronze, under names no other run uses.
pub struct BronzeWriter {
    lake: Lake,
    run: Ulid,
    batch: u64,
}

impl BronzeWriter {
    /// A writer for one ingest run.
    pub fn new(lake: Lake) -> Self {
        Self {
            lake,
            run: Ulid::new(),
            batch: 0,
        }
    }

    /// Stores `events` (one JSON document each, as received), split by event hour; returns
    /// once every object is written, so the caller may acknowledge the batch.
    pub async fn write(
        &mut self,
        events: &[Bytes],
        now: OffsetDateTime,
    ) -> Result<Written, LakeError> {
        let ingest_hour = {
            let utc = now.to_offset(time::UtcOffset::UTC);
            (utc.date(), utc.hour())
        };
        let mut by_hour: BTreeMap<(Date, u8), Vec<u8>> = BTreeMap::new();
        for event in events {
            let hour = event_hour(event).unwrap_or(ingest_hour);
            let ndjson = by_hour.entry(hour).or_default();
            // A record holding a raw newline would split in two; JSON never needs one.
            ndjson.extend(event.iter().map(|&b| if b == b'\n' { b' ' } else { b }));
            ndjson.push(b'\n');
        }
        self.batch += 1;
        let mut written = Written::default();
        for ((date, hour), ndjson) in by_hour {
            let compressed = zstd::encode_all(ndjson.as_slice(), 3)?;
            let name = format!(
                "{}/{}-{:06}.ndjson.zst",
                hour_dir(date, hour),
                self.run,
                self.batch
            );
            written.bytes += compressed.len() as u64;
            written.objects += 1;
            self.lake.create(&name, Bytes::from(compressed)).await?;
        }
        written.events = events.len() as u64;
        Ok(written)
    }
}

/// One bronze object, decompressed.
#[derive(Debug)]
pub struct BronzeObject {
    /// Its path in the lake.
    pub name: String,
    /// Its complete lines, in order.
    pub lines: Vec<Vec<u8>>,
    /// Why the object ends early (a truncated or corrupt stream), with the partial last
    /// record if there was one.
    pub damage: Option<(String, Vec<u8>)>,
    /// Its compressed size.
    pub bytes: u64,
}

/// Every object of one hour of bronze, in name order.
pub async fn read_hour(lake: &Lake, date: Date, hour: u8) -> Result<Vec<BronzeObject>, LakeError> {
    let mut objects = Vec::new();
    for name in lake.list(&hour_dir(date, hour)).await? {
        let Some(bytes) = lake.get(&name).await? else {
            continue;
        };
        objects.push(decode(name, &bytes));
    }
    Ok(objects)
}

/// The hours of `date` that have bronze objects.
pub async fn hours(lake: &Lake, date: Date) -> Result<Vec<u8>, LakeError> {
    let mut hours: Vec<u8> = lake
        .list(&day_dir(date))
        .await?
        .iter()
        .filter_map(|name| {
            let hour = name.split("/hour=").nth(1)?.get(..2)?;
            hour.parse().ok()
        })
        .collect();
    hours.dedup();
    Ok(hours)
}

/// Decompresses an object line by line, keeping what precedes any damage.
fn decode(name: String, bytes: &Bytes) -> BronzeObject {
    let mut lines = Vec::new();
    let mut damage = None;
    match zstd::stream::read::Decoder::new(bytes.as_ref()) {
        Err(error) => damage = Some((format!("unreadable object: {error}"), Vec::new())),
        Ok(decoder) => {
            let mut reader = BufReader::new(decoder);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => break,
                    Ok(_) if line.ends_with(b"\n") => {
                        line.pop();
                        lines.push(line);
                    }
                    Ok(_) => {
                        damage = Some(("truncated object: last record incomplete".into(), line));
                        break;
                    }
                    Err(error) => {
                        damage = Some((format!("truncated object: {error}"), line));
                        break;
                    }
                }
            }
        }
    }
    BronzeObject {
        name,
        lines,
        damage,
        bytes: bytes.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_events_hour_is_its_commit_time_in_utc() {
        let raw = br#"{"id":"x","time":"2026-12-01T23:30:00+02:00"}"#;
        assert_eq!(
            event_hour(raw),
            Some((time::macros::date!(2026 - 12 - 01), 21))
        );
        assert_eq!(event_hour(b"{\"time\": 7}"), None);
        assert_eq!(
            hour_dir(time::macros::date!(2026 - 01 - 02), 3),
            "bronze/cart_events/year=2026/month=01/day=02/hour=03"
        );
    }

    #[test]
    fn a_truncated_object_keeps_its_complete_lines_and_reports_the_rest() {
        let whole = zstd::encode_all(&b"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n"[..], 3).expect("zstd");
        let cut = Bytes::copy_from_slice(&whole[..whole.len() - 6]);
        let object = decode("x".into(), &cut);
        assert!(object.damage.is_some());
        assert!(object.lines.len() < 3);
        let intact = decode("y".into(), &Bytes::from(whole));
        assert_eq!(intact.lines.len(), 3);
        assert!(intact.damage.is_none());
    }
}
