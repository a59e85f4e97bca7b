//! `cartd-lake run`: ingest → silver → gold on a schedule, for the hours that are complete.
//!
//! Each round drains the source into bronze, builds silver for every complete hour after the
//! last one built (an hour is complete once `lateness` has passed since its end; hours with no
//! events still get their day's `_SUCCESS`, so gold can tell a quiet day from a missing one),
//! and builds gold for every day whose abandonment window has passed. What is done is kept in
//! `_state/run.json`, so a restart goes on where the last round ended.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, Time};

use crate::LakeError;
use crate::gold::{self, GoldOptions};
use crate::ingest::{self, IngestOptions};
use crate::lake::Lake;
use crate::silver::{self, SilverOptions};
use crate::source::Source;

const STATE: &str = "_state/run.json";

/// How `run` works.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleOptions {
    /// Ingestion's batch and wait (`once` is implied).
    pub ingest: IngestOptions,
    /// Silver's gate bound.
    pub max_reject_ratio: f64,
    /// Gold's abandonment window.
    pub abandon_after: Duration,
    /// How long after an hour ends its events are taken as all in.
    pub lateness: Duration,
}

/// What `run` has built so far.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
struct Progress {
    /// The start of the next hour silver builds (Unix seconds).
    next_silver_hour: Option<i64>,
    /// The next day gold builds.
    next_gold_day: Option<Date>,
}

/// One round: ingest, then silver and gold for what is complete at `now`. Returns the lines
/// to print.
pub async fn round(
    lake: &Lake,
    source: &mut dyn Source,
    options: ScheduleOptions,
    now: OffsetDateTime,
) -> Result<Vec<String>, LakeError> {
    let mut said = Vec::new();
    let (_never, stopped) = tokio::sync::watch::channel(false);
    let ingest = IngestOptions {
        once: true,
        ..options.ingest
    };
    let summary = ingest::run(lake, source, ingest, stopped).await?;
    said.push(format!("ingest: {summary}"));
    let mut progress: Progress = match lake.get(STATE).await? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| LakeError::Config(format!("{STATE}: {e}")))?,
        None => Progress::default(),
    };
    let lateness = time::Duration::try_from(options.lateness)
        .map_err(|_| LakeError::Config("--lateness is too long".into()))?;
    let complete_before = now - lateness;
    let mut hour = match progress.next_silver_hour {
        Some(start) => OffsetDateTime::from_unix_timestamp(start)
            .map_err(|_| LakeError::Config(format!("{STATE}: bad hour")))?,
        None => match earliest_bronze_hour(lake).await? {
            Some(first) => first,
            None => return Ok(said),
        },
    };
    while hour + time::Duration::HOUR <= complete_before {
        let outcome = silver::run(
            lake,
            SilverOptions {
                date: hour.date(),
                hour: Some(hour.hour()),
                max_reject_ratio: options.max_reject_ratio,
            },
        )
        .await?;
        said.push(format!(
            "silver {} hour {:02}: {}",
            hour.date(),
            hour.hour(),
            outcome.summary
        ));
        hour += time::Duration::HOUR;
        progress.next_silver_hour = Some(hour.unix_timestamp());
        progress.next_gold_day.get_or_insert(hour.date());
        save(lake, &progress).await?;
    }
    let window = time::Duration::try_from(options.abandon_after)
        .map_err(|_| LakeError::Config("--abandon-after is too long".into()))?;
    while let Some(day) = progress.next_gold_day {
        let day_end = day.with_time(Time::MIDNIGHT).assume_utc() + time::Duration::DAY;
        if day_end + window > hour {
            break;
        }
        let summary = gold::run(
            lake,
            GoldOptions {
                date: day,
                abandon_after: options.abandon_after,
            },
        )
        .await?;
        said.push(format!("gold {day}: {summary}"));
        progress.next_gold_day = day.next_day();
        save(lake, &progress).await?;
    }
    Ok(said)
}

async fn save(lake: &Lake, progress: &Progress) -> Result<(), LakeError> {
    let json = serde_json::to_vec(progress).map_err(std::io::Error::other)?;
    lake.put(STATE, Bytes::from(json)).await
}

/// The start of the earliest hour bronze holds.
async fn earliest_bronze_hour(lake: &Lake) -> Result<Option<OffsetDateTime>, LakeError> {
    let Some(first) = lake.list(crate::bronze::ROOT).await?.into_iter().next() else {
        return Ok(None);
    };
    let field = |name: &str| -> Option<u32> {
        first
            .split('/')
            .find_map(|part| part.strip_prefix(name))
            .and_then(|value| value.parse().ok())
    };
    let (Some(year), Some(month), Some(day), Some(hour)) = (
        field("year="),
        field("month="),
        field("day="),
        field("hour="),
    ) else {
        return Ok(None);
    };
    let date = time::Month::try_from(month as u8)
        .ok()
        .and_then(|month| Date::from_calendar_date(year as i32, month, day as u8).ok());
    Ok(date.and_then(|date| {
        Time::from_hms(hour as u8, 0, 0)
            .ok()
            .map(|time| date.with_time(time).assume_utc())
    }))
}
