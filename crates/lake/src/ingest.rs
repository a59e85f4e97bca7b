//! Bronze ingestion: read a batch from the source, write it to bronze, then acknowledge it.
//! Acknowledging only after the write is what makes ingestion at least once: a crash between
//! the two delivers the batch again, and silver drops the copies by event id.

use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::watch;

use crate::LakeError;
use crate::bronze::BronzeWriter;
use crate::lake::Lake;
use crate::source::Source;
use crate::summary::{Summary, progress};

/// How ingestion runs.
#[derive(Debug, Clone, Copy)]
pub struct IngestOptions {
    /// The most events per bronze batch.
    pub batch: usize,
    /// How long to wait for the first event of a batch.
    pub wait: Duration,
    /// Stop once the source has nothing more (instead of waiting for new events).
    pub once: bool,
}

/// Moves events from `source` into bronze until the source is drained (`once`) or `stop` is
/// set.
pub async fn run(
    lake: &Lake,
    source: &mut dyn Source,
    options: IngestOptions,
    mut stop: watch::Receiver<bool>,
) -> Result<Summary, LakeError> {
    let started = Instant::now();
    let mut writer = BronzeWriter::new(lake.clone());
    let mut summary = Summary::default();
    let bar = progress(0, "ingest");
    loop {
        let batch = tokio::select! {
            batch = source.receive(options.batch, options.wait) => batch?,
            // A dropped sender means nobody can ask to stop: keep going.
            Ok(()) = stop.changed() => break,
        };
        if batch.is_empty() {
            if options.once || *stop.borrow() {
                break;
            }
            continue;
        }
        let written = writer.write(&batch, OffsetDateTime::now_utc()).await?;
        source.acknowledge().await?;
        summary.read += batch.len() as u64;
        summary.written += written.events;
        summary.bytes += written.bytes;
        bar.inc(batch.len() as u64);
        metrics::counter!("cartd_lake_records_read_total", "stage" => "ingest")
            .increment(batch.len() as u64);
        metrics::counter!("cartd_lake_bytes_written_total", "stage" => "ingest")
            .increment(written.bytes);
        if *stop.borrow() {
            break;
        }
    }
    bar.finish_and_clear();
    metrics::histogram!("cartd_lake_stage_seconds", "stage" => "ingest")
        .record(started.elapsed().as_secs_f64());
    Ok(summary)
}
