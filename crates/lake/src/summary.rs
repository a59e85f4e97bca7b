//! What a command did, in one line and as Prometheus metrics: events read, written, rejected
//! and duplicated, bytes, seconds.

use std::fmt;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// The counts of one command.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Records read from the layer below.
    pub read: u64,
    /// Records written to this layer.
    pub written: u64,
    /// Records quarantined.
    pub rejected: u64,
    /// Copies of an event already seen.
    pub duplicates: u64,
    /// Bytes written.
    pub bytes: u64,
}

impl Summary {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: Summary) {
        self.read += other.read;
        self.written += other.written;
        self.rejected += other.rejected;
        self.duplicates += other.duplicates;
        self.bytes += other.bytes;
    }

    /// Counts these into the `cartd_lake_*` metrics of `stage` (read by `run`'s `/metrics`).
    pub fn record(&self, stage: &'static str, elapsed: Duration) {
        let labels = [("stage", stage)];
        metrics::counter!("cartd_lake_records_read_total", &labels).increment(self.read);
        metrics::counter!("cartd_lake_records_written_total", &labels).increment(self.written);
        metrics::counter!("cartd_lake_records_rejected_total", &labels).increment(self.rejected);
        metrics::counter!("cartd_lake_duplicates_total", &labels).increment(self.duplicates);
        metrics::counter!("cartd_lake_bytes_written_total", &labels).increment(self.bytes);
        metrics::histogram!("cartd_lake_stage_seconds", &labels).record(elapsed.as_secs_f64());
    }

    /// The summary line a command prints.
    pub fn line(&self, what: &str, elapsed: Duration) -> String {
        format!("{what}: {self}, {:.2} s", elapsed.as_secs_f64())
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "read {}, written {}, rejected {}, duplicates {}, {} bytes",
            self.read, self.written, self.rejected, self.duplicates, self.bytes
        )
    }
}

/// A progress bar over `len` steps on a terminal; drawn nowhere when stderr is not one (CI,
/// a scheduler's log), where the summary line is what stays.
pub fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_owned());
    bar
}
