//! The lake end to end: a stream of cart events through ingest → silver → gold, the quality
//! gates, the sources (file, NATS, Redis, SQS) and S3. Tests that need a server skip with a
//! printed reason when it is absent, unless `CARTD_REQUIRE_SERVICES=1`.

mod cli;
mod flow;
mod quality;
mod schedule;
mod servers;
mod story;

use std::time::Duration;

use bytes::Bytes;
use cartd_lake::ingest::{self, IngestOptions};
use cartd_lake::lake::Lake;
use cartd_lake::silver::{self, SilverOptions};
use cartd_lake::source;
use cartd_lake::summary::Summary;
use time::Date;

/// The day most tests build.
pub const DAY: Date = time::macros::date!(2026 - 12 - 01);
/// The day after it.
pub const NEXT_DAY: Date = time::macros::date!(2026 - 12 - 02);

/// A lake in a fresh directory.
pub fn local_lake() -> (tempfile::TempDir, Lake) {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open(dir.path().join("lake").to_str().expect("utf-8")).expect("lake");
    (dir, lake)
}

/// Drains the source at `url` into `lake`'s bronze.
pub async fn ingest_all(lake: &Lake, url: &str) -> Summary {
    let mut from = source::open(url, lake, "test").await.expect("source");
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let options = IngestOptions {
        batch: 7,
        wait: Duration::from_millis(200),
        once: true,
    };
    ingest::run(lake, from.as_mut(), options, stopped)
        .await
        .expect("ingest")
}

/// Silver for a whole `date` under the default gate.
pub async fn silver_day(lake: &Lake, date: Date) -> silver::SilverOutcome {
    silver::run(
        lake,
        SilverOptions {
            date,
            hour: None,
            max_reject_ratio: 0.01,
        },
    )
    .await
    .expect("silver")
}

/// Every file under `folder` with its bytes, to compare two states of the lake.
pub async fn snapshot(lake: &Lake, folder: &str) -> Vec<(String, Bytes)> {
    let mut files = Vec::new();
    for name in lake.list(folder).await.expect("list") {
        let bytes = lake.get(&name).await.expect("get").expect("listed");
        files.push((name, bytes));
    }
    files
}

/// Whether a test may skip when `what` is missing (it may not in CI).
pub fn skip(what: &str, why: impl std::fmt::Display) -> bool {
    if std::env::var("CARTD_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{what} is required (CARTD_REQUIRE_SERVICES=1): {why}");
    }
    eprintln!("skipped: {what} is not available: {why}");
    true
}
