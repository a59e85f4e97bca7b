//! A day of carts through every layer, checked against numbers worked out by hand and, when
//! DuckDB is installed, against plain SQL over our silver files.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use cartd_lake::gold::{self, GoldOptions};
use cartd_lake::parquet_io;
use serde_json::Value;

use crate::story::{Cart, ndjson};
use crate::{DAY, NEXT_DAY, ingest_all, local_lake, silver_day, skip, snapshot};

/// Two days of six carts: one bought, one abandoned with two lines, one that came back the
/// next day, one emptied, one abandoned after a line was removed, and one abandoned in another
/// currency.
pub fn two_days() -> Vec<Value> {
    let mut events = Vec::new();
    let mut bought = Cart::guest("USD");
    events.extend(bought.create_with("2026-12-01T10:00:00Z", "book", 1, 1299));
    events.extend(bought.add("2026-12-01T10:05:00Z", "pen", 2, 250));
    events.extend(bought.check_out("2026-12-01T10:10:00Z"));
    let mut left = Cart::guest("USD");
    events.extend(left.create_with("2026-12-01T11:00:00Z", "lamp", 1, 4500));
    events.extend(left.add("2026-12-01T11:30:00Z", "book", 1, 1299));
    let mut back = Cart::guest("USD");
    events.extend(back.create_with("2026-12-01T12:00:00Z", "pen", 1, 250));
    let mut emptied = Cart::guest("USD");
    events.extend(emptied.create_with("2026-12-01T13:00:00Z", "book", 1, 1299));
    events.extend(emptied.clear("2026-12-01T13:05:00Z"));
    let mut euro = Cart::guest("EUR");
    events.extend(euro.create_with("2026-12-01T14:00:00Z", "euro-book", 3, 1500));
    let mut changed = Cart::guest("USD");
    events.extend(changed.create_with("2026-12-01T15:00:00Z", "pen", 1, 250));
    events.extend(changed.add("2026-12-01T15:01:00Z", "lamp", 1, 4500));
    events.extend(changed.remove("2026-12-01T15:02:00Z", "pen"));
    events.extend(back.add("2026-12-02T09:00:00Z", "pen", 1, 250));
    events
}

fn column_i64(batch: &arrow_array::RecordBatch, name: &str) -> Vec<i64> {
    let column = batch.column_by_name(name).expect(name);
    column.as_primitive::<Int64Type>().values().to_vec()
}

fn column_f64(batch: &arrow_array::RecordBatch, name: &str) -> Vec<Option<f64>> {
    let column = batch.column_by_name(name).expect(name);
    column.as_primitive::<Float64Type>().iter().collect()
}

fn column_str(batch: &arrow_array::RecordBatch, name: &str) -> Vec<String> {
    let column = batch.column_by_name(name).expect(name);
    column
        .as_string::<i32>()
        .iter()
        .map(|v| v.unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_file_stream_becomes_bronze_silver_and_gold_with_the_numbers_worked_out_by_hand() {
    let (dir, lake) = local_lake();
    let events = two_days();
    let stream = dir.path().join("cartd.events.ndjson");
    std::fs::write(&stream, ndjson(&events)).expect("write stream");
    let url = format!("file://{}", stream.display());
    let ingested = ingest_all(&lake, &url).await;
    assert_eq!(ingested.read, events.len() as u64);
    // A second run reads nothing again: the checkpoint moved.
    assert_eq!(ingest_all(&lake, &url).await.read, 0);

    let day = silver_day(&lake, DAY).await;
    assert_eq!(day.summary.rejected, 0);
    assert_eq!(day.summary.written, events.len() as u64 - 1);
    assert!(
        lake.exists("silver/cart_events/date=2026-12-01/_SUCCESS")
            .await
            .expect("head")
    );
    silver_day(&lake, NEXT_DAY).await;
    gold::run(
        &lake,
        GoldOptions {
            date: DAY,
            abandon_after: std::time::Duration::from_secs(86_400),
        },
    )
    .await
    .expect("gold");

    let metrics = lake
        .get("gold/daily_cart_metrics/date=2026-12-01/part-00000.parquet")
        .await
        .expect("get")
        .expect("metrics written");
    let batch = &parquet_io::read(
        metrics,
        &[
            "currency",
            "carts_created",
            "carts_active",
            "carts_abandoned",
            "carts_checked_out",
            "conversion_rate",
            "abandonment_rate",
            "avg_cart_value",
            "avg_lines_abandoned",
            "avg_checkout_value",
        ],
    )
    .expect("read")[0];
    assert_eq!(column_str(batch, "currency"), ["EUR", "USD"]);
    assert_eq!(column_i64(batch, "carts_created"), [1, 5]);
    assert_eq!(column_i64(batch, "carts_active"), [1, 5]);
    assert_eq!(column_i64(batch, "carts_abandoned"), [1, 2]);
    assert_eq!(column_i64(batch, "carts_checked_out"), [0, 1]);
    assert_eq!(column_f64(batch, "conversion_rate"), [Some(0.0), Some(0.2)]);
    assert_eq!(
        column_f64(batch, "abandonment_rate"),
        [Some(1.0), Some(2.0 / 3.0)]
    );
    assert_eq!(
        column_f64(batch, "avg_cart_value"),
        [Some(4500.0), Some(5149.5)]
    );
    assert_eq!(
        column_f64(batch, "avg_lines_abandoned"),
        [Some(1.0), Some(1.5)]
    );
    assert_eq!(
        column_f64(batch, "avg_checkout_value"),
        [None, Some(1799.0)]
    );

    let products = lake
        .get("gold/daily_top_products/date=2026-12-01/part-00000.parquet")
        .await
        .expect("get")
        .expect("products written");
    let batch = &parquet_io::read(
        products,
        &[
            "currency",
            "product_id",
            "units_added",
            "carts_added",
            "units_abandoned",
            "carts_abandoned",
            "rank_added",
            "rank_abandoned",
        ],
    )
    .expect("read")[0];
    assert_eq!(
        column_str(batch, "product_id"),
        ["euro-book", "pen", "book", "lamp"]
    );
    assert_eq!(column_i64(batch, "units_added"), [3, 4, 3, 2]);
    assert_eq!(column_i64(batch, "carts_added"), [1, 3, 3, 2]);
    // The removed pen is not left in the abandoned cart; its lamp is.
    assert_eq!(column_i64(batch, "units_abandoned"), [3, 0, 1, 2]);
    assert_eq!(column_i64(batch, "carts_abandoned"), [1, 0, 1, 2]);
    assert_eq!(column_i64(batch, "rank_abandoned"), [1, 3, 2, 1]);

    duckdb_agrees(
        dir.path().join("lake").to_str().expect("utf-8"),
        "2026-12-01",
    );
    assert!(!snapshot(&lake, "bronze/cart_events").await.is_empty());
}

#[tokio::test]
async fn gold_waits_for_the_silver_of_the_day_its_abandonment_window_reaches() {
    let (dir, lake) = local_lake();
    let stream = dir.path().join("events.ndjson");
    std::fs::write(&stream, ndjson(&two_days())).expect("write stream");
    ingest_all(&lake, &format!("file://{}", stream.display())).await;
    silver_day(&lake, DAY).await;
    let options = GoldOptions {
        date: DAY,
        abandon_after: std::time::Duration::from_secs(86_400),
    };
    let refused = gold::run(&lake, options).await.expect_err("not ready");
    assert!(
        matches!(&refused, cartd_lake::LakeError::NotReady(why) if why.contains("date=2026-12-02")),
        "{refused}"
    );
    assert!(snapshot(&lake, "gold").await.is_empty());
    silver_day(&lake, crate::NEXT_DAY).await;
    gold::run(&lake, options)
        .await
        .expect("gold once the next day is in silver");
}

/// Runs `tests/gold_check.py` (DuckDB, plain SQL over silver) and asserts it agrees with our
/// gold for `date`.
pub fn duckdb_agrees(lake_root: &str, date: &str) {
    let python = std::env::var("CARTD_LAKE_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let probe = std::process::Command::new(&python)
        .args(["-c", "import duckdb"])
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            skip(
                "DuckDB for Python",
                String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            );
            return;
        }
        Err(error) => {
            skip("python3", error);
            return;
        }
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/gold_check.py");
    let out = std::process::Command::new(&python)
        .args([script, lake_root, date])
        .output()
        .expect("run gold_check.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("gold matches"),
        "DuckDB disagrees with gold:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Events of every type, recorded from the service's own code path (the events crate's schema
/// test writes them; `UPDATE_LAKE_FIXTURE=1` records them again).
const EVERY_EVENT_TYPE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/every_event_type.ndjson"
);

#[tokio::test]
async fn every_event_type_the_service_emits_reaches_silver_and_duckdb_and_the_contract_agree() {
    let (dir, lake) = local_lake();
    let recorded = std::fs::read_to_string(EVERY_EVENT_TYPE).expect("fixture");
    let first: Value =
        serde_json::from_str(recorded.lines().next().expect("a line")).expect("json");
    let day = time::OffsetDateTime::parse(
        first["time"].as_str().expect("time"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("rfc 3339")
    .date();
    let stream = dir.path().join("cartd.events.ndjson");
    std::fs::write(&stream, &recorded).expect("copy");
    ingest_all(&lake, &format!("file://{}", stream.display())).await;

    let built = silver_day(&lake, day).await;
    assert_eq!(built.summary.rejected, 0, "{:?}", built.report);
    assert_eq!(built.summary.written, recorded.lines().count() as u64);
    let mut types = std::collections::BTreeSet::new();
    for (name, bytes) in snapshot(&lake, "silver/cart_events").await {
        if name.ends_with(".parquet") {
            for batch in parquet_io::read(bytes, &["type"]).expect("read") {
                types.extend(column_str(&batch, "type"));
            }
        }
    }
    assert_eq!(types.len(), 20, "every event type is in silver: {types:?}");
    silver_day(&lake, day.next_day().expect("a next day")).await;
    gold::run(
        &lake,
        GoldOptions {
            date: day,
            abandon_after: std::time::Duration::from_secs(86_400),
        },
    )
    .await
    .expect("gold");
    let root = dir.path().join("lake");
    duckdb_agrees(root.to_str().expect("utf-8"), &day.to_string());
    contract_holds(&root);
}

/// Runs `datacontract test contracts/cart_events.yaml --server local` in `lake_root`
/// (`CARTD_DATACONTRACT` names the executable; `.ci/lake-venv` installs it).
pub fn contract_holds(lake_root: &std::path::Path) {
    let Ok(datacontract) = std::env::var("CARTD_DATACONTRACT") else {
        skip(
            "datacontract-cli",
            "CARTD_DATACONTRACT is not set (.ci/lake-venv installs it)",
        );
        return;
    };
    let contract = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/cart_events.yaml"
    );
    let out = std::process::Command::new(datacontract)
        .args(["test", contract, "--server", "local"])
        .current_dir(lake_root)
        .env("COLUMNS", "160")
        .output()
        .expect("run datacontract");
    assert!(
        out.status.success(),
        "the silver tables break the contract:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
