//! Gold: daily cart metrics per currency (`gold/daily_cart_metrics`) and the day's top products
//! (`gold/daily_top_products`), computed from silver alone. docs/LAKE.md defines every column;
//! `crates/lake/tests/gold_check.py` computes the same numbers in DuckDB SQL, and the tests
//! compare them.
//!
//! A cart is **abandoned** on day D when it changed on D, was not checked out on D, still held
//! lines after its last change of D, and did not change again within `abandon_after` of it.
//! That window reaches into the following day(s), so gold for D waits for their silver.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::builder::{Date32Builder, Float64Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema};
use time::{Date, Time};

use crate::LakeError;
use crate::gate::{Check, QualityReport};
use crate::lake::Lake;
use crate::parquet_io::{self, ints, strings};
use crate::promote::{self, Staging};
use crate::silver;
use crate::summary::Summary;

/// The gold tables' folders.
pub const METRICS: &str = "gold/daily_cart_metrics";
/// See [`METRICS`].
pub const TOP_PRODUCTS: &str = "gold/daily_top_products";
/// How many products each ranking keeps.
pub const TOP: i64 = 100;

/// What to build.
#[derive(Debug, Clone, Copy)]
pub struct GoldOptions {
    /// The day (UTC).
    pub date: Date,
    /// How long a cart must stay unchanged to count as abandoned.
    pub abandon_after: Duration,
}

/// An event's place in its cart's history: time, then version, then id.
type Order = (i64, i64, String);

/// One cart's day.
#[derive(Default)]
struct CartDay {
    created: bool,
    checked_out: Option<(Order, i64)>,
    last: Option<(Order, String, i64, i64, String)>,
    last_cleared: Option<Order>,
}

impl CartDay {
    fn last_order(&self) -> Option<&Order> {
        self.last.as_ref().map(|(order, ..)| order)
    }
}

/// One metrics row.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyMetrics {
    /// ISO 4217.
    pub currency: String,
    /// Carts with a `cart.created` on the day.
    pub carts_created: i64,
    /// Carts with any `cart.*` event on the day.
    pub carts_active: i64,
    /// Carts abandoned on the day (see the module's doc).
    pub carts_abandoned: i64,
    /// Carts with a `cart.checked_out` on the day.
    pub carts_checked_out: i64,
    /// Sum of the abandoned carts' totals, minor units.
    abandoned_value: i64,
    abandoned_lines: i64,
    checkout_value: i64,
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Builds gold for `options.date`, gates it, and promotes it.
pub async fn run(lake: &Lake, options: GoldOptions) -> Result<Summary, LakeError> {
    let started = Instant::now();
    promote::sweep_abandoned(lake, std::time::SystemTime::now()).await?;
    let start = options.date.with_time(Time::MIDNIGHT).assume_utc();
    let day_end = start + time::Duration::DAY;
    let window = time::Duration::try_from(options.abandon_after)
        .map_err(|_| LakeError::Config("--abandon-after is too long".into()))?;
    let mut needed = vec![options.date];
    let mut next = options.date;
    while (next.with_time(Time::MIDNIGHT).assume_utc() + time::Duration::DAY) < day_end + window {
        next = next
            .next_day()
            .ok_or_else(|| LakeError::Config("date out of range".into()))?;
        needed.push(next);
    }
    for date in &needed {
        if !promote::is_complete(lake, &silver::partition(silver::EVENTS, *date)).await? {
            return Err(LakeError::NotReady(format!(
                "silver/cart_events date={date} has no _SUCCESS; gold for {} needs it \
                 (abandonment looks {} ahead): run `cartd-lake silver --date {date}` first",
                options.date,
                humantime::format_duration(options.abandon_after)
            )));
        }
    }
    let mut summary = Summary::default();
    let (carts, read) = cart_days(lake, options.date).await?;
    summary.read += read;
    let first_later = first_changes_after(lake, &needed[1..]).await?;
    let abandoned: HashSet<&String> = carts
        .iter()
        .filter(|(cart, day)| is_abandoned(day, first_later.get(*cart), window))
        .map(|(cart, _)| cart)
        .collect();
    let metrics = metrics(&carts, &abandoned);
    let products = top_products(lake, options.date, &carts, &abandoned).await?;
    let mut report = QualityReport::new(
        "gold",
        format!("date={}", options.date),
        gold_checks(&metrics),
    );
    report.counts = BTreeMap::from([
        ("carts".to_owned(), carts.len() as u64),
        ("events_read".to_owned(), read),
        ("currencies".to_owned(), metrics.len() as u64),
    ]);
    report.write(lake).await?;
    report.verdict()?;
    let mut staging = Staging::new(lake.clone());
    let metrics_batch = metrics_batch(options.date, &metrics)?;
    let products_batch = products_batch(options.date, &products)?;
    summary.written = (metrics_batch.num_rows() + products_batch.num_rows()) as u64;
    for (table, batch) in [(METRICS, &metrics_batch), (TOP_PRODUCTS, &products_batch)] {
        let target = format!("{table}/date={}/part-00000.parquet", options.date);
        summary.bytes += staging
            .stage(&target, parquet_io::to_parquet(batch)?)
            .await?;
    }
    staging
        .promote(&[
            format!("{METRICS}/date={}", options.date),
            format!("{TOP_PRODUCTS}/date={}", options.date),
        ])
        .await?;
    summary.record("gold", started.elapsed());
    Ok(summary)
}

/// The Parquet files of one date of a silver table.
async fn files(lake: &Lake, table: &str, date: Date) -> Result<Vec<String>, LakeError> {
    Ok(lake
        .list(&silver::partition(table, date))
        .await?
        .into_iter()
        .filter(|name| name.ends_with(".parquet"))
        .collect())
}

/// Calls `each` with every batch of one date of a silver table, projected to `columns`.
async fn batches(
    lake: &Lake,
    table: &str,
    date: Date,
    columns: &[&str],
    mut each: impl FnMut(&RecordBatch) -> Result<(), LakeError>,
) -> Result<(), LakeError> {
    for file in files(lake, table, date).await? {
        let Some(bytes) = lake.get(&file).await? else {
            continue;
        };
        for batch in parquet_io::read(bytes, columns)? {
            each(&batch)?;
        }
    }
    Ok(())
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, LakeError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| LakeError::Config(format!("silver has no column `{name}`")))
}

fn text<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray, LakeError> {
    Ok(column(batch, name)?.as_string::<i32>())
}

fn int<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a Int64Array, LakeError> {
    Ok(column(batch, name)?.as_primitive::<Int64Type>())
}

/// The columns both silver tables share that place an event in its cart's history.
const EVENT_COLUMNS: [&str; 5] = ["event_id", "type", "cart_id", "version", "occurred_at"];

/// [`EVENT_COLUMNS`] of one batch.
struct EventColumns<'a> {
    ids: &'a StringArray,
    types: &'a StringArray,
    cart_ids: &'a StringArray,
    versions: &'a Int64Array,
    times: &'a TimestampMicrosecondArray,
}

impl<'a> EventColumns<'a> {
    fn of(batch: &'a RecordBatch) -> Result<Self, LakeError> {
        Ok(Self {
            ids: text(batch, "event_id")?,
            types: text(batch, "type")?,
            cart_ids: text(batch, "cart_id")?,
            versions: int(batch, "version")?,
            times: column(batch, "occurred_at")?.as_primitive::<TimestampMicrosecondType>(),
        })
    }

    /// Row `i`'s place in its cart's history.
    fn order(&self, i: usize) -> Order {
        (
            self.times.value(i),
            self.versions.value(i),
            self.ids.value(i).to_owned(),
        )
    }
}

/// Each cart's day from the `cart.*` events of `date`, and how many events were read.
async fn cart_days(lake: &Lake, date: Date) -> Result<(HashMap<String, CartDay>, u64), LakeError> {
    let mut carts: HashMap<String, CartDay> = HashMap::new();
    let mut read = 0;
    let columns = [
        &EVENT_COLUMNS[..],
        &["currency", "item_count", "total_price"],
    ]
    .concat();
    batches(lake, silver::EVENTS, date, &columns, |batch| {
        let events = EventColumns::of(batch)?;
        let currencies = text(batch, "currency")?;
        let counts = int(batch, "item_count")?;
        let totals = int(batch, "total_price")?;
        for i in 0..batch.num_rows() {
            read += 1;
            let event_type = events.types.value(i);
            if !event_type.starts_with("cart.") {
                continue;
            }
            let order = events.order(i);
            let day = carts
                .entry(events.cart_ids.value(i).to_owned())
                .or_default();
            match event_type {
                "cart.created" => day.created = true,
                "cart.checked_out"
                    if day.checked_out.as_ref().is_none_or(|(at, _)| *at < order) =>
                {
                    day.checked_out = Some((order.clone(), totals.value(i)));
                }
                "cart.cleared" if day.last_cleared.as_ref().is_none_or(|at| *at < order) => {
                    day.last_cleared = Some(order.clone());
                }
                _ => {}
            }
            if day.last_order().is_none_or(|at| *at < order) {
                day.last = Some((
                    order,
                    event_type.to_owned(),
                    counts.value(i),
                    totals.value(i),
                    currencies.value(i).to_owned(),
                ));
            }
        }
        Ok(())
    })
    .await?;
    Ok((carts, read))
}

/// The first `cart.*` change of each cart in the following days' silver.
async fn first_changes_after(
    lake: &Lake,
    dates: &[Date],
) -> Result<HashMap<String, i64>, LakeError> {
    let mut first: HashMap<String, i64> = HashMap::new();
    for date in dates {
        batches(
            lake,
            silver::EVENTS,
            *date,
            &["type", "cart_id", "occurred_at"],
            |batch| {
                let types = text(batch, "type")?;
                let cart_ids = text(batch, "cart_id")?;
                let times =
                    column(batch, "occurred_at")?.as_primitive::<TimestampMicrosecondType>();
                for i in 0..batch.num_rows() {
                    if types.value(i).starts_with("cart.") {
                        let at = first
                            .entry(cart_ids.value(i).to_owned())
                            .or_insert(i64::MAX);
                        *at = (*at).min(times.value(i));
                    }
                }
                Ok(())
            },
        )
        .await?;
    }
    Ok(first)
}

fn is_abandoned(day: &CartDay, next_change: Option<&i64>, window: time::Duration) -> bool {
    let Some(((last_at, ..), last_type, item_count, ..)) = &day.last else {
        return false;
    };
    let window_micros = i64::try_from(window.whole_microseconds()).unwrap_or(i64::MAX);
    day.checked_out.is_none()
        && *item_count > 0
        && last_type != "cart.merged_away"
        && next_change.is_none_or(|next| *next > last_at.saturating_add(window_micros))
}

fn metrics(carts: &HashMap<String, CartDay>, abandoned: &HashSet<&String>) -> Vec<DailyMetrics> {
    let mut by_currency: BTreeMap<String, DailyMetrics> = BTreeMap::new();
    for (cart, day) in carts {
        let Some((_, _, item_count, total, currency)) = &day.last else {
            continue;
        };
        let row = by_currency
            .entry(currency.clone())
            .or_insert_with(|| DailyMetrics {
                currency: currency.clone(),
                carts_created: 0,
                carts_active: 0,
                carts_abandoned: 0,
                carts_checked_out: 0,
                abandoned_value: 0,
                abandoned_lines: 0,
                checkout_value: 0,
            });
        row.carts_active += 1;
        row.carts_created += i64::from(day.created);
        if let Some((_, value)) = &day.checked_out {
            row.carts_checked_out += 1;
            row.checkout_value += value;
        }
        if abandoned.contains(cart) {
            row.carts_abandoned += 1;
            row.abandoned_value += total;
            row.abandoned_lines += item_count;
        }
    }
    by_currency.into_values().collect()
}

/// The gold gate: the day's numbers are consistent with each other.
fn gold_checks(metrics: &[DailyMetrics]) -> Vec<Check> {
    let inconsistent: Vec<&str> = metrics
        .iter()
        .filter(|m| {
            m.carts_created > m.carts_active
                || m.carts_checked_out + m.carts_abandoned > m.carts_active
                || m.carts_active <= 0
        })
        .map(|m| m.currency.as_str())
        .collect();
    vec![Check::new(
        "counts_consistent",
        inconsistent.is_empty(),
        format!(
            "created and checked out plus abandoned within active; inconsistent currencies: {inconsistent:?}"
        ),
    )]
}

fn days_since_epoch(date: Date) -> i32 {
    date.to_julian_day() - time::macros::date!(1970 - 01 - 01).to_julian_day()
}

fn dates(date: Date, rows: usize) -> ArrayRef {
    let mut builder = Date32Builder::new();
    (0..rows).for_each(|_| builder.append_value(days_since_epoch(date)));
    Arc::new(builder.finish())
}

fn floats(values: impl Iterator<Item = Option<f64>>) -> ArrayRef {
    let mut builder = Float64Builder::new();
    values.for_each(|v| builder.append_option(v));
    Arc::new(builder.finish())
}

fn metrics_batch(date: Date, rows: &[DailyMetrics]) -> Result<RecordBatch, LakeError> {
    let schema = Schema::new(vec![
        Field::new("date", DataType::Date32, false),
        Field::new("currency", DataType::Utf8, false),
        Field::new("carts_created", DataType::Int64, false),
        Field::new("carts_active", DataType::Int64, false),
        Field::new("carts_abandoned", DataType::Int64, false),
        Field::new("carts_checked_out", DataType::Int64, false),
        Field::new("conversion_rate", DataType::Float64, true),
        Field::new("abandonment_rate", DataType::Float64, true),
        Field::new("avg_cart_value", DataType::Float64, true),
        Field::new("avg_lines_abandoned", DataType::Float64, true),
        Field::new("avg_checkout_value", DataType::Float64, true),
    ]);
    let columns = vec![
        dates(date, rows.len()),
        strings(rows.iter().map(|r| Some(r.currency.as_str()))),
        ints(rows.iter().map(|r| Some(r.carts_created))),
        ints(rows.iter().map(|r| Some(r.carts_active))),
        ints(rows.iter().map(|r| Some(r.carts_abandoned))),
        ints(rows.iter().map(|r| Some(r.carts_checked_out))),
        floats(
            rows.iter()
                .map(|r| ratio(r.carts_checked_out, r.carts_active)),
        ),
        floats(
            rows.iter()
                .map(|r| ratio(r.carts_abandoned, r.carts_abandoned + r.carts_checked_out)),
        ),
        floats(
            rows.iter()
                .map(|r| ratio(r.abandoned_value, r.carts_abandoned)),
        ),
        floats(
            rows.iter()
                .map(|r| ratio(r.abandoned_lines, r.carts_abandoned)),
        ),
        floats(
            rows.iter()
                .map(|r| ratio(r.checkout_value, r.carts_checked_out)),
        ),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

/// One product's day in one currency.
#[derive(Debug, Default, Clone)]
struct ProductDay {
    currency: String,
    product_id: String,
    units_added: i64,
    carts_added: HashSet<String>,
    units_abandoned: i64,
    carts_abandoned: HashSet<String>,
    rank_added: i64,
    rank_abandoned: i64,
}

/// The day's products ranked by units added and by units left in abandoned carts.
async fn top_products(
    lake: &Lake,
    date: Date,
    carts: &HashMap<String, CartDay>,
    abandoned: &HashSet<&String>,
) -> Result<Vec<ProductDay>, LakeError> {
    let mut products: BTreeMap<(String, String), ProductDay> = BTreeMap::new();
    // Each abandoned cart's lines as its last line event of the day left them.
    let mut last_lines: HashMap<(String, String), (Order, String, String, i64)> = HashMap::new();
    let line_columns = [
        "item_id",
        "product_id",
        "quantity_after",
        "quantity_delta",
        "currency",
    ];
    let columns = [&EVENT_COLUMNS[..], &line_columns].concat();
    batches(lake, silver::LINES, date, &columns, |batch| {
        let events = EventColumns::of(batch)?;
        let items = text(batch, "item_id")?;
        let product_ids = text(batch, "product_id")?;
        let after = int(batch, "quantity_after")?;
        let delta = int(batch, "quantity_delta")?;
        let currencies = text(batch, "currency")?;
        for i in 0..batch.num_rows() {
            let cart = events.cart_ids.value(i);
            let key = (
                currencies.value(i).to_owned(),
                product_ids.value(i).to_owned(),
            );
            let product = products.entry(key.clone()).or_insert_with(|| ProductDay {
                currency: key.0.clone(),
                product_id: key.1.clone(),
                ..ProductDay::default()
            });
            if matches!(
                events.types.value(i),
                "cart.item_added" | "cart.item_updated"
            ) && delta.value(i) > 0
            {
                product.units_added += delta.value(i);
                product.carts_added.insert(cart.to_owned());
            }
            if abandoned.contains(&cart.to_owned()) {
                let order = events.order(i);
                let line = last_lines
                    .entry((cart.to_owned(), items.value(i).to_owned()))
                    .or_insert_with(|| (order.clone(), key.0.clone(), key.1.clone(), 0));
                if line.0 <= order {
                    *line = (order, key.0.clone(), key.1.clone(), after.value(i));
                }
            }
        }
        Ok(())
    })
    .await?;
    for ((cart, _), (order, currency, product_id, quantity)) in last_lines {
        let cleared_after = carts
            .get(&cart)
            .and_then(|day| day.last_cleared.as_ref())
            .is_some_and(|cleared| *cleared > order);
        if quantity > 0
            && !cleared_after
            && let Some(product) = products.get_mut(&(currency, product_id))
        {
            product.units_abandoned += quantity;
            product.carts_abandoned.insert(cart);
        }
    }
    let mut rows: Vec<ProductDay> = products
        .into_values()
        .filter(|p| p.units_added > 0 || p.units_abandoned > 0)
        .collect();
    rank(&mut rows, |p| p.units_added, |p, r| p.rank_added = r);
    rank(
        &mut rows,
        |p| p.units_abandoned,
        |p, r| p.rank_abandoned = r,
    );
    rows.retain(|p| p.rank_added <= TOP || p.rank_abandoned <= TOP);
    rows.sort_by(|a, b| (&a.currency, a.rank_added).cmp(&(&b.currency, b.rank_added)));
    Ok(rows)
}

/// Numbers `rows` 1, 2, … per currency by `units` (most first, then product id).
fn rank(rows: &mut [ProductDay], units: fn(&ProductDay) -> i64, set: fn(&mut ProductDay, i64)) {
    rows.sort_by(|a, b| {
        (&a.currency, std::cmp::Reverse(units(a)), &a.product_id).cmp(&(
            &b.currency,
            std::cmp::Reverse(units(b)),
            &b.product_id,
        ))
    });
    let mut current: Option<String> = None;
    let mut next = 0;
    for row in rows.iter_mut() {
        if current.as_ref() != Some(&row.currency) {
            current = Some(row.currency.clone());
            next = 0;
        }
        next += 1;
        set(row, next);
    }
}

fn products_batch(date: Date, rows: &[ProductDay]) -> Result<RecordBatch, LakeError> {
    let schema = Schema::new(vec![
        Field::new("date", DataType::Date32, false),
        Field::new("currency", DataType::Utf8, false),
        Field::new("product_id", DataType::Utf8, false),
        Field::new("units_added", DataType::Int64, false),
        Field::new("carts_added", DataType::Int64, false),
        Field::new("units_abandoned", DataType::Int64, false),
        Field::new("carts_abandoned", DataType::Int64, false),
        Field::new("rank_added", DataType::Int64, false),
        Field::new("rank_abandoned", DataType::Int64, false),
    ]);
    let columns = vec![
        dates(date, rows.len()),
        strings(rows.iter().map(|r| Some(r.currency.as_str()))),
        strings(rows.iter().map(|r| Some(r.product_id.as_str()))),
        ints(rows.iter().map(|r| Some(r.units_added))),
        ints(rows.iter().map(|r| Some(r.carts_added.len() as i64))),
        ints(rows.iter().map(|r| Some(r.units_abandoned))),
        ints(rows.iter().map(|r| Some(r.carts_abandoned.len() as i64))),
        ints(rows.iter().map(|r| Some(r.rank_added))),
        ints(rows.iter().map(|r| Some(r.rank_abandoned))),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}
