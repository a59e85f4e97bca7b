//! What silver does with bad input: copies, disorder, broken events, truncated objects, a
//! crash between writing and acknowledging, and the gate that keeps a bad day out.

use bytes::Bytes;
use cartd_lake::bronze::{self, BronzeWriter};
use cartd_lake::silver::{self, SilverOptions};
use cartd_lake::{LakeError, parquet_io};
use serde_json::{Value, json};
use time::macros::datetime;

use crate::flow::two_days;
use crate::story::ndjson;
use crate::{DAY, ingest_all, local_lake, silver_day, snapshot};

fn as_bytes(events: &[Value]) -> Vec<Bytes> {
    events.iter().map(|e| Bytes::from(e.to_string())).collect()
}

fn day_events() -> Vec<Value> {
    two_days()
        .into_iter()
        .filter(|e| {
            e["time"]
                .as_str()
                .is_some_and(|t| t.starts_with("2026-12-01"))
        })
        .collect()
}

#[tokio::test]
async fn copies_are_dropped_disorder_is_sorted_and_reruns_give_the_same_bytes() {
    let (_dir, lake) = local_lake();
    let events = day_events();
    let mut shuffled = events.clone();
    shuffled.reverse();
    let mut writer = BronzeWriter::new(lake.clone());
    let now = datetime!(2026-12-01 15:00 UTC);
    writer
        .write(&as_bytes(&shuffled), now)
        .await
        .expect("write");
    // The same events again, as a redelivery would bring them.
    writer
        .write(&as_bytes(&events[..5]), now)
        .await
        .expect("write");

    let built = silver_day(&lake, DAY).await;
    assert_eq!(built.summary.duplicates, 5);
    assert_eq!(built.summary.written, events.len() as u64);
    let first = snapshot(&lake, "silver").await;
    let hour = lake
        .get("silver/cart_events/date=2026-12-01/part-10.parquet")
        .await
        .expect("get")
        .expect("hour 10 written");
    let batch = &parquet_io::read(hour, &["event_id", "occurred_at"]).expect("read")[0];
    let ids: Vec<String> = batch
        .column(0)
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .expect("text")
        .iter()
        .map(|v| v.expect("id").to_owned())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(
        ids, sorted,
        "UUIDv7 ids sort by time: rows are in commit order"
    );

    silver_day(&lake, DAY).await;
    assert_eq!(
        snapshot(&lake, "silver").await,
        first,
        "a rerun writes the same bytes"
    );
}

#[tokio::test]
async fn broken_events_and_a_truncated_object_are_quarantined_with_their_reason() {
    let (_dir, lake) = local_lake();
    let mut events = day_events();
    let mut broken = events[0].clone();
    broken["id"] = json!(uuid::Uuid::now_v7());
    broken["data"]["totals"]["total_price"] = json!(-5);
    events.push(broken);
    let mut misnamed = events[1].clone();
    misnamed["id"] = json!(uuid::Uuid::now_v7());
    misnamed["subject"] = json!("someone-else");
    events.push(misnamed);
    let mut records = as_bytes(&events);
    // Not JSON at all: it has no time, so bronze files it under the hour it was ingested.
    records.push(Bytes::from_static("{\"id\": \"ü\", truncated".as_bytes()));
    let mut writer = BronzeWriter::new(lake.clone());
    writer
        .write(&records, datetime!(2026-12-01 15:00 UTC))
        .await
        .expect("write");
    // An object cut short, as a crash in the middle of an upload of another tool would leave.
    let whole = zstd::encode_all(ndjson(&day_events()[..3]).as_bytes(), 3).expect("zstd");
    let cut = Bytes::copy_from_slice(&whole[..whole.len() - 8]);
    lake.put(
        &format!("{}/zz-cut.ndjson.zst", bronze::hour_dir(DAY, 10)),
        cut,
    )
    .await
    .expect("put");

    let options = SilverOptions {
        date: DAY,
        hour: None,
        max_reject_ratio: 0.5,
    };
    let built = silver::run(&lake, options).await.expect("silver");
    assert_eq!(built.summary.rejected, 4);
    assert_eq!(built.report.rejects_by_reason.get("not JSON"), Some(&1));
    assert_eq!(built.report.rejects_by_reason.get("schema"), Some(&1));
    assert_eq!(built.report.rejects_by_reason.get("contract"), Some(&1));
    assert_eq!(
        built.report.rejects_by_reason.get("truncated object"),
        Some(&1)
    );
    let quarantine = lake
        .get("quarantine/cart_events/date=2026-12-01/part-10.ndjson")
        .await
        .expect("get")
        .expect("quarantine written");
    let records: Vec<Value> = quarantine
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("json"))
        .collect();
    assert!(records.iter().any(|r| {
        r["reason"]
            .as_str()
            .is_some_and(|s| s.contains("total_price"))
            && r["record"].as_str().is_some_and(|s| s.contains("-5"))
    }));
    assert!(records.iter().any(|r| {
        r["object"]
            .as_str()
            .is_some_and(|s| s.ends_with("zz-cut.ndjson.zst"))
    }));
}

#[tokio::test]
async fn the_gate_refuses_a_day_with_too_many_rejects_and_keeps_the_previous_partition() {
    let (_dir, lake) = local_lake();
    let mut writer = BronzeWriter::new(lake.clone());
    let now = datetime!(2026-12-01 15:00 UTC);
    writer
        .write(&as_bytes(&day_events()), now)
        .await
        .expect("write");
    silver_day(&lake, DAY).await;
    let before = snapshot(&lake, "silver").await;

    let mut bad = day_events();
    for event in &mut bad {
        event["id"] = json!(uuid::Uuid::now_v7());
        event["data"]["owner"] = json!("robot");
    }
    writer.write(&as_bytes(&bad), now).await.expect("write");
    let refused = silver_day_result(&lake).await.expect_err("refused");
    assert!(
        matches!(&refused, LakeError::GateRefused { reasons, .. } if reasons.contains("reject_ratio")),
        "{refused}"
    );
    assert_eq!(
        snapshot(&lake, "silver").await,
        before,
        "the previous partition stays"
    );
    let report: Value = serde_json::from_slice(
        &lake
            .get("reports/silver/date=2026-12-01.json")
            .await
            .expect("get")
            .expect("report written"),
    )
    .expect("json");
    assert_eq!(report["passed"], false);
    assert_eq!(report["checks"][0]["name"], "reject_ratio");
    assert_eq!(report["checks"][0]["passed"], false);
    assert!(
        snapshot(&lake, "_staging").await.is_empty(),
        "nothing staged is left behind"
    );
}

async fn silver_day_result(
    lake: &cartd_lake::lake::Lake,
) -> Result<silver::SilverOutcome, LakeError> {
    silver::run(
        lake,
        SilverOptions {
            date: DAY,
            hour: None,
            max_reject_ratio: 0.01,
        },
    )
    .await
}

#[tokio::test]
async fn an_ingest_that_dies_before_acknowledging_loses_nothing_and_silver_is_the_same() {
    let (dir, clean) = local_lake();
    let events = day_events();
    let stream = dir.path().join("events.ndjson");
    std::fs::write(&stream, ndjson(&events)).expect("write stream");
    let url = format!("file://{}", stream.display());
    ingest_all(&clean, &url).await;
    silver_day(&clean, DAY).await;

    let crashed_dir = tempfile::tempdir().expect("tempdir");
    let crashed =
        cartd_lake::lake::Lake::open(crashed_dir.path().to_str().expect("utf-8")).expect("lake");
    {
        // A batch received and written, and the process gone before it acknowledged.
        let mut source = cartd_lake::source::open(&url, &crashed, "test")
            .await
            .expect("source");
        let batch = source
            .receive(4, std::time::Duration::from_millis(10))
            .await
            .expect("receive");
        assert_eq!(batch.len(), 4);
        BronzeWriter::new(crashed.clone())
            .write(&batch, time::OffsetDateTime::now_utc())
            .await
            .expect("write");
    }
    let again = ingest_all(&crashed, &url).await;
    assert_eq!(
        again.read,
        events.len() as u64,
        "the unacknowledged batch came again"
    );
    let built = silver_day(&crashed, DAY).await;
    assert_eq!(built.summary.duplicates, 4);
    assert_eq!(
        snapshot(&crashed, "silver").await,
        snapshot(&clean, "silver").await
    );
}

#[tokio::test]
async fn an_ingest_process_killed_mid_run_and_restarted_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events: Vec<Value> = (0..1_000).flat_map(|_| two_days()).collect();
    let stream = dir.path().join("events.ndjson");
    std::fs::write(&stream, ndjson(&events)).expect("write stream");
    let url = format!("file://{}", stream.display());

    let killed_root = dir.path().join("killed");
    let killed = cartd_lake::lake::Lake::open(killed_root.to_str().expect("utf-8")).expect("lake");
    let mut ingest = std::process::Command::new(env!("CARGO_BIN_EXE_cartd-lake"))
        .arg("--lake")
        .arg(&killed_root)
        .args([
            "ingest",
            "--batch",
            "100",
            "--consumer",
            "test",
            "--from",
            &url,
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ingest");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // Killed once a few batches are acknowledged (the checkpoint exists), mid-stream.
    while killed.list("_state/ingest").await.expect("list").is_empty() {
        assert!(std::time::Instant::now() < deadline, "ingest wrote nothing");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    ingest.kill().expect("SIGKILL");
    ingest.wait().expect("reaped");
    let checkpoint: Value = serde_json::from_slice(
        &killed
            .get(&killed.list("_state/ingest").await.expect("list")[0])
            .await
            .expect("get")
            .expect("a checkpoint"),
    )
    .expect("json");
    let stream_len = std::fs::metadata(&stream).expect("stat").len();
    assert!(
        checkpoint["offset"].as_u64().expect("offset") < stream_len,
        "the kill came after the whole stream was read: nothing was tested"
    );

    ingest_all(&killed, &url).await;
    let (_clean_dir, clean) = local_lake();
    ingest_all(&clean, &url).await;
    for lake in [&killed, &clean] {
        silver_day(lake, DAY).await;
        silver_day(lake, crate::NEXT_DAY).await;
    }
    assert_eq!(
        snapshot(&killed, "silver").await,
        snapshot(&clean, "silver").await
    );
}

#[tokio::test]
async fn what_a_dead_run_left_staged_is_swept_a_day_later_and_a_live_runs_is_not() {
    let (_dir, lake) = local_lake();
    let now = std::time::SystemTime::now();
    let two_days_ago = now - std::time::Duration::from_secs(2 * 86_400);
    let dead = ulid::Ulid::from_datetime(two_days_ago);
    let live = ulid::Ulid::from_datetime(now);
    for run in [dead, live] {
        lake.put(
            &format!("_staging/{run}/silver/cart_events/date=2026-12-01/part-10.parquet"),
            Bytes::from_static(b"x"),
        )
        .await
        .expect("put");
    }
    assert_eq!(
        cartd_lake::promote::sweep_abandoned(&lake, now)
            .await
            .expect("sweep"),
        1
    );
    let left = lake.list("_staging").await.expect("list");
    assert_eq!(left.len(), 1);
    assert!(left[0].contains(&live.to_string()), "{left:?}");
}
