//! Parquet in and out: the silver tables' Arrow schemas, one writer configuration for every
//! file the lake writes (zstd, no timestamps or random ids inside, so the same rows give the
//! same bytes), and a projected reader.

use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::LakeError;
use crate::record::EventRow;

fn text(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn int(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Int64, nullable)
}

/// The timestamp type of every `occurred_at`: microseconds, UTC.
pub fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// `silver/cart_events`: one row per event.
pub fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        text("event_id", false),
        text("type", false),
        text("source", false),
        text("subject", false),
        text("cart_id", false),
        text("cart_key", false),
        text("owner", false),
        int("version", false),
        Field::new("occurred_at", timestamp(), false),
        text("currency", false),
        int("item_count", false),
        int("total_quantity", false),
        int("total_price", false),
        text("product_id", true),
        text("variant_id", true),
        int("quantity_before", true),
        int("quantity_after", true),
        int("unit_price", true),
        text("region", true),
        text("discount_code", true),
        text("merge_strategy", true),
        text("order_id", true),
        text("order_number", true),
        text("order_status", true),
        int("order_total", true),
        text("traceparent", true),
    ]))
}

/// `silver/cart_lines`: one row per event that concerns a line.
pub fn lines_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        text("event_id", false),
        text("type", false),
        text("cart_id", false),
        text("cart_key", false),
        int("version", false),
        Field::new("occurred_at", timestamp(), false),
        text("item_id", false),
        text("product_id", false),
        text("variant_id", true),
        int("quantity_before", false),
        int("quantity_after", false),
        int("quantity_delta", false),
        int("unit_price", false),
        text("currency", false),
    ]))
}

/// A text column from one value per row.
pub fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    let mut builder = StringBuilder::new();
    values.for_each(|v| builder.append_option(v));
    Arc::new(builder.finish())
}

/// An integer column from one value per row.
pub fn ints(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    let mut builder = Int64Builder::new();
    values.for_each(|v| builder.append_option(v));
    Arc::new(builder.finish())
}

fn instants(values: impl Iterator<Item = i64>) -> ArrayRef {
    let mut builder = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    values.for_each(|v| builder.append_value(v));
    Arc::new(builder.finish())
}

/// The `cart_events` batch of `rows`.
pub fn events_batch(rows: &[EventRow]) -> Result<RecordBatch, LakeError> {
    fn line(r: &EventRow) -> Option<&crate::record::LineRow> {
        r.line.as_ref()
    }
    let columns = vec![
        strings(rows.iter().map(|r| Some(r.event_id.as_str()))),
        strings(rows.iter().map(|r| Some(r.event_type.as_str()))),
        strings(rows.iter().map(|r| Some(r.source.as_str()))),
        strings(rows.iter().map(|r| Some(r.subject.as_str()))),
        strings(rows.iter().map(|r| Some(r.cart_id.as_str()))),
        strings(rows.iter().map(|r| Some(r.cart_key.as_str()))),
        strings(rows.iter().map(|r| Some(r.owner.as_str()))),
        ints(rows.iter().map(|r| Some(r.version))),
        instants(rows.iter().map(|r| r.occurred_at)),
        strings(rows.iter().map(|r| Some(r.currency.as_str()))),
        ints(rows.iter().map(|r| Some(r.item_count))),
        ints(rows.iter().map(|r| Some(r.total_quantity))),
        ints(rows.iter().map(|r| Some(r.total_price))),
        strings(rows.iter().map(|r| line(r).map(|l| l.product_id.as_str()))),
        strings(
            rows.iter()
                .map(|r| line(r).and_then(|l| l.variant_id.as_deref())),
        ),
        ints(rows.iter().map(|r| line(r).map(|l| l.quantity_before))),
        ints(rows.iter().map(|r| line(r).map(|l| l.quantity_after))),
        ints(rows.iter().map(|r| line(r).map(|l| l.unit_price))),
        strings(rows.iter().map(|r| r.region.as_deref())),
        strings(rows.iter().map(|r| r.discount_code.as_deref())),
        strings(rows.iter().map(|r| r.merge_strategy.as_deref())),
        strings(rows.iter().map(|r| r.order_id.as_deref())),
        strings(rows.iter().map(|r| r.order_number.as_deref())),
        strings(rows.iter().map(|r| r.order_status.as_deref())),
        ints(rows.iter().map(|r| r.order_total)),
        strings(rows.iter().map(|r| r.traceparent.as_deref())),
    ];
    Ok(RecordBatch::try_new(events_schema(), columns)?)
}

/// The `cart_lines` batch of the rows of `rows` that concern a line.
pub fn lines_batch(rows: &[EventRow]) -> Result<RecordBatch, LakeError> {
    let rows: Vec<(&EventRow, &crate::record::LineRow)> = rows
        .iter()
        .filter_map(|r| r.line.as_ref().map(|l| (r, l)))
        .collect();
    let columns = vec![
        strings(rows.iter().map(|(r, _)| Some(r.event_id.as_str()))),
        strings(rows.iter().map(|(r, _)| Some(r.event_type.as_str()))),
        strings(rows.iter().map(|(r, _)| Some(r.cart_id.as_str()))),
        strings(rows.iter().map(|(r, _)| Some(r.cart_key.as_str()))),
        ints(rows.iter().map(|(r, _)| Some(r.version))),
        instants(rows.iter().map(|(r, _)| r.occurred_at)),
        strings(rows.iter().map(|(_, l)| Some(l.item_id.as_str()))),
        strings(rows.iter().map(|(_, l)| Some(l.product_id.as_str()))),
        strings(rows.iter().map(|(_, l)| l.variant_id.as_deref())),
        ints(rows.iter().map(|(_, l)| Some(l.quantity_before))),
        ints(rows.iter().map(|(_, l)| Some(l.quantity_after))),
        ints(
            rows.iter()
                .map(|(_, l)| Some(l.quantity_after - l.quantity_before)),
        ),
        ints(rows.iter().map(|(_, l)| Some(l.unit_price))),
        strings(rows.iter().map(|(r, _)| Some(r.currency.as_str()))),
    ];
    Ok(RecordBatch::try_new(lines_schema(), columns)?)
}

/// `batch` as a Parquet file: zstd, statistics on, nothing that differs between two runs.
pub fn to_parquet(batch: &RecordBatch) -> Result<Bytes, LakeError> {
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(properties))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(Bytes::from(out))
}

/// The batches of a Parquet file, only the named `columns`.
pub fn read(bytes: Bytes, columns: &[&str]) -> Result<Vec<RecordBatch>, LakeError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    let reader = builder.with_projection(mask).build()?;
    Ok(reader.collect::<Result<Vec<_>, _>>()?)
}
