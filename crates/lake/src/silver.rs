//! Silver: one date (or one hour) of bronze, validated against the events' JSON Schemas and
//! the data contract, deduplicated by event id, ordered by commit time, and written as the
//! typed Parquet tables `silver/cart_events` and `silver/cart_lines`
//! (`date=YYYY-MM-DD/part-HH.parquet`). Rejected records go to
//! `quarantine/cart_events/date=…/part-HH.ndjson` with their reason.
//!
//! The work is done an hour at a time, so memory holds one hour of events, never a day. The
//! output depends only on the bronze input (rows sorted, files named by hour, no run ids or
//! clocks inside), so re-running a date gives the same bytes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use bytes::Bytes;
use serde_json::json;
use time::Date;

use crate::LakeError;
use crate::bronze;
use crate::gate::{Check, QualityReport};
use crate::lake::Lake;
use crate::parquet_io;
use crate::promote::{self, Staging};
use crate::record::EventRow;
use crate::schemas::Schemas;
use crate::summary::{Summary, progress};

/// The silver tables' folders.
pub const EVENTS: &str = "silver/cart_events";
/// See [`EVENTS`].
pub const LINES: &str = "silver/cart_lines";
/// Where rejected records go.
pub const QUARANTINE: &str = "quarantine/cart_events";

/// The folder of one date of a table.
pub fn partition(table: &str, date: Date) -> String {
    format!("{table}/date={date}")
}

/// What to build.
#[derive(Debug, Clone, Copy)]
pub struct SilverOptions {
    /// The date (UTC) to build.
    pub date: Date,
    /// Only this hour of it; every hour with bronze when `None`.
    pub hour: Option<u8>,
    /// The largest share of records that may be rejected before the gate refuses the partition.
    pub max_reject_ratio: f64,
}

/// What a silver run did.
#[derive(Debug)]
pub struct SilverOutcome {
    /// Its counts.
    pub summary: Summary,
    /// The gate's report (also written under `reports/silver/`).
    pub report: QualityReport,
}

/// One rejected record.
struct Reject {
    object: String,
    line: usize,
    reason: String,
    record: String,
}

/// One hour, validated and deduplicated.
struct Hour {
    hour: u8,
    rows: Vec<EventRow>,
    rejects: Vec<Reject>,
    summary: Summary,
    input_bytes: u64,
}

/// Builds silver for `options`: reads bronze, gates, and promotes or refuses. A refusal is an
/// `Err(GateRefused)` after the report is written; the previous partition stays as it was.
pub async fn run(lake: &Lake, options: SilverOptions) -> Result<SilverOutcome, LakeError> {
    let started = Instant::now();
    promote::sweep_abandoned(lake, std::time::SystemTime::now()).await?;
    let schemas = Schemas::load();
    let hours = match options.hour {
        Some(hour) if hour < 24 => vec![hour],
        Some(hour) => return Err(LakeError::Config(format!("--hour {hour}: not 0 to 23"))),
        None => bronze::hours(lake, options.date).await?,
    };
    let bar = progress(hours.len() as u64, "silver");
    let mut staging = Staging::new(lake.clone());
    let mut summary = Summary::default();
    let mut rejects_by_reason: BTreeMap<String, u64> = BTreeMap::new();
    let mut cart_facts = CartFacts::default();
    let mut input_bytes = 0;
    for &hour in &hours {
        bar.set_message(format!("hour {hour:02}"));
        let built = build_hour(lake, &schemas, options.date, hour).await?;
        for reject in &built.rejects {
            *rejects_by_reason
                .entry(reason_class(&reject.reason))
                .or_default() += 1;
        }
        cart_facts.add(&built.rows);
        summary.add(built.summary);
        input_bytes += built.input_bytes;
        summary.bytes += stage_hour(lake, &mut staging, options.date, &built).await?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let partition_name = match options.hour {
        Some(hour) => format!("date={}/hour={hour:02}", options.date),
        None => format!("date={}", options.date),
    };
    let mut report = QualityReport::new(
        "silver",
        partition_name,
        gate_checks(&summary, options.max_reject_ratio, &cart_facts),
    );
    report.counts = BTreeMap::from([
        ("read".to_owned(), summary.read),
        ("written".to_owned(), summary.written),
        ("rejected".to_owned(), summary.rejected),
        ("duplicates".to_owned(), summary.duplicates),
        ("input_bytes".to_owned(), input_bytes),
        ("hours".to_owned(), hours.len() as u64),
    ]);
    report.rejects_by_reason = rejects_by_reason;
    report.write(lake).await?;
    if report.passed {
        staging
            .promote(&[
                partition(EVENTS, options.date),
                partition(LINES, options.date),
            ])
            .await?;
    } else {
        staging.discard().await?;
    }
    summary.record("silver", started.elapsed());
    report.verdict()?;
    Ok(SilverOutcome { summary, report })
}

/// Reads, validates and deduplicates one hour of bronze.
async fn build_hour(
    lake: &Lake,
    schemas: &Schemas,
    date: Date,
    hour: u8,
) -> Result<Hour, LakeError> {
    let mut built = Hour {
        hour,
        rows: Vec::new(),
        rejects: Vec::new(),
        summary: Summary::default(),
        input_bytes: 0,
    };
    let mut seen: HashSet<String> = HashSet::new();
    for object in bronze::read_hour(lake, date, hour).await? {
        built.input_bytes += object.bytes;
        let reject = |line: usize, reason: String, record: &[u8]| Reject {
            object: object.name.clone(),
            line,
            reason,
            record: String::from_utf8_lossy(record).into_owned(),
        };
        for (index, line) in object.lines.iter().enumerate() {
            built.summary.read += 1;
            match classify(schemas, line, date, hour) {
                Ok(row) if seen.insert(row.event_id.clone()) => built.rows.push(row),
                Ok(_) => built.summary.duplicates += 1,
                Err(reason) => built.rejects.push(reject(index + 1, reason, line)),
            }
        }
        if let Some((reason, partial)) = &object.damage {
            built.summary.read += 1;
            built
                .rejects
                .push(reject(object.lines.len() + 1, reason.clone(), partial));
        }
    }
    built.summary.rejected = built.rejects.len() as u64;
    built.summary.written = built.rows.len() as u64;
    built
        .rows
        .sort_by(|a, b| (a.occurred_at, &a.event_id).cmp(&(b.occurred_at, &b.event_id)));
    Ok(built)
}

/// One bronze record as a silver row, or why it is rejected.
fn classify(schemas: &Schemas, line: &[u8], date: Date, hour: u8) -> Result<EventRow, String> {
    let event: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(why) = schemas.violation(&event) {
        return Err(why);
    }
    let row = EventRow::from_event(event)?;
    // The contract's rule the schemas cannot state: what the subject names.
    let (subject, named) = if row.event_type.starts_with("order.") {
        (row.order_id.as_deref(), "order id")
    } else {
        (Some(row.cart_key.as_str()), "cart key")
    };
    if subject != Some(row.subject.as_str()) {
        return Err(format!(
            "contract: subject `{}` is not the event's {named}",
            row.subject
        ));
    }
    let at = row.occurred();
    if (at.date(), at.hour()) != (date, hour) {
        return Err(format!(
            "contract: time {at} is outside partition {date} hour {hour:02}"
        ));
    }
    Ok(row)
}

/// The reason's class for the report: the text before the first colon (`schema`, `not
/// JSON`, `contract`, `truncated object` …).
fn reason_class(reason: &str) -> String {
    reason.split(':').next().unwrap_or(reason).to_owned()
}

/// Stages one hour's Parquet files and writes its quarantine; returns the bytes staged.
async fn stage_hour(
    lake: &Lake,
    staging: &mut Staging,
    date: Date,
    built: &Hour,
) -> Result<u64, LakeError> {
    let file = format!("part-{:02}.parquet", built.hour);
    let events = format!("{}/{file}", partition(EVENTS, date));
    let lines = format!("{}/{file}", partition(LINES, date));
    let mut bytes = 0;
    if built.rows.is_empty() {
        staging.remove(&events);
        staging.remove(&lines);
    } else {
        let batch = parquet_io::events_batch(&built.rows)?;
        bytes += staging
            .stage(&events, parquet_io::to_parquet(&batch)?)
            .await?;
        let batch = parquet_io::lines_batch(&built.rows)?;
        if batch.num_rows() == 0 {
            staging.remove(&lines);
        } else {
            bytes += staging
                .stage(&lines, parquet_io::to_parquet(&batch)?)
                .await?;
        }
    }
    let quarantine = format!(
        "{}/part-{:02}.ndjson",
        partition(QUARANTINE, date),
        built.hour
    );
    if built.rejects.is_empty() {
        lake.delete(&quarantine).await?;
    } else {
        let mut ndjson = Vec::new();
        for reject in &built.rejects {
            let record = json!({
                "object": reject.object,
                "line": reject.line,
                "reason": reject.reason,
                "record": reject.record,
            });
            serde_json::to_writer(&mut ndjson, &record).map_err(std::io::Error::other)?;
            ndjson.push(b'\n');
        }
        lake.put(&quarantine, Bytes::from(ndjson)).await?;
    }
    Ok(bytes)
}

/// What the contract's cross-record checks need to know of the partition's carts.
#[derive(Default)]
struct CartFacts {
    currencies: HashMap<String, String>,
    carts_with_two_currencies: u64,
    owners_not_matching_key: u64,
}

impl CartFacts {
    fn add(&mut self, rows: &[EventRow]) {
        for row in rows {
            let currency = self
                .currencies
                .entry(row.cart_id.clone())
                .or_insert_with(|| row.currency.clone());
            if *currency != row.currency {
                self.carts_with_two_currencies += 1;
            }
            let guest_key = row.cart_key.starts_with("guest_");
            if guest_key != (row.owner == "guest") {
                self.owners_not_matching_key += 1;
            }
        }
    }
}

/// The silver gate: the reject ratio under its bound, and the contract's rules across records
/// (`contracts/cart_events.yaml`): a cart keeps one currency, and a cart's owner is a guest
/// exactly when its key is a guest id.
fn gate_checks(summary: &Summary, max_reject_ratio: f64, facts: &CartFacts) -> Vec<Check> {
    let ratio = if summary.read == 0 {
        0.0
    } else {
        summary.rejected as f64 / summary.read as f64
    };
    vec![
        Check::new(
            "reject_ratio",
            ratio <= max_reject_ratio,
            format!(
                "{} of {} records rejected ({ratio:.4}), at most {max_reject_ratio}",
                summary.rejected, summary.read
            ),
        ),
        Check::new(
            "one_currency_per_cart",
            facts.carts_with_two_currencies == 0,
            format!(
                "{} events in another currency than their cart's first",
                facts.carts_with_two_currencies
            ),
        ),
        Check::new(
            "owner_matches_cart_key",
            facts.owners_not_matching_key == 0,
            format!(
                "{} events whose owner disagrees with their cart key",
                facts.owners_not_matching_key
            ),
        ),
    ]
}
