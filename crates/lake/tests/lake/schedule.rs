//! `cartd-lake run`: rounds that build only what is complete, and the metrics it serves.

use std::time::{Duration, Instant};

use cartd_lake::ingest::IngestOptions;
use cartd_lake::schedule::{self, ScheduleOptions};
use time::macros::datetime;

use crate::flow::two_days;
use crate::local_lake;
use crate::story::ndjson;

fn options() -> ScheduleOptions {
    ScheduleOptions {
        ingest: IngestOptions {
            batch: 100,
            wait: Duration::from_millis(10),
            once: true,
        },
        max_reject_ratio: 0.01,
        abandon_after: Duration::from_secs(86_400),
        lateness: Duration::from_secs(600),
    }
}

#[tokio::test]
async fn a_round_builds_the_complete_hours_and_gold_once_its_window_has_passed() {
    let (dir, lake) = local_lake();
    let stream = dir.path().join("events.ndjson");
    std::fs::write(&stream, ndjson(&two_days())).expect("write stream");
    let mut source =
        cartd_lake::source::open(&format!("file://{}", stream.display()), &lake, "run")
            .await
            .expect("source");
    let events = "silver/cart_events/date=2026-12-01";

    // 12:30 with 10 minutes of lateness: hours 10 and 11 are complete, 12 is not.
    let said = schedule::round(
        &lake,
        source.as_mut(),
        options(),
        datetime!(2026-12-01 12:30 UTC),
    )
    .await
    .expect("round");
    assert!(said[0].starts_with("ingest: read 20,"), "{said:?}");
    assert!(
        lake.exists(&format!("{events}/part-10.parquet"))
            .await
            .expect("head")
    );
    assert!(
        lake.exists(&format!("{events}/part-11.parquet"))
            .await
            .expect("head")
    );
    assert!(
        !lake
            .exists(&format!("{events}/part-12.parquet"))
            .await
            .expect("head")
    );
    assert!(lake.list("gold").await.expect("list").is_empty());

    // Two days later: the first day's window has passed, the second's has not.
    let said = schedule::round(
        &lake,
        source.as_mut(),
        options(),
        datetime!(2026-12-03 00:30 UTC),
    )
    .await
    .expect("round");
    assert!(
        said.iter().any(|line| line.starts_with("gold 2026-12-01")),
        "{said:?}"
    );
    assert!(
        !said.iter().any(|line| line.starts_with("gold 2026-12-02")),
        "{said:?}"
    );
    assert!(
        lake.exists(&format!("{events}/part-15.parquet"))
            .await
            .expect("head")
    );
    assert!(
        lake.exists("gold/daily_cart_metrics/date=2026-12-01/_SUCCESS")
            .await
            .expect("head")
    );
    assert!(
        lake.exists("silver/cart_events/date=2026-12-02/_SUCCESS")
            .await
            .expect("head")
    );
    // Nothing new: a third round builds nothing again.
    let said = schedule::round(
        &lake,
        source.as_mut(),
        options(),
        datetime!(2026-12-03 00:40 UTC),
    )
    .await
    .expect("round");
    assert_eq!(said.len(), 1, "{said:?}");
}

#[tokio::test]
async fn run_serves_its_counts_as_prometheus_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stream = dir.path().join("events.ndjson");
    let events = two_days();
    std::fs::write(&stream, ndjson(&events)).expect("write stream");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_cartd-lake"))
        .arg("--lake")
        .arg(dir.path().join("lake"))
        .args([
            "run",
            "--every",
            "200ms",
            "--lateness",
            "0s",
            "--metrics-addr",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--from")
        .arg(format!("file://{}", stream.display()))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run");
    let want = [
        format!(
            "cartd_lake_records_read_total{{stage=\"ingest\"}} {}",
            events.len()
        ),
        "cartd_lake_records_written_total{stage=\"silver\"}".to_owned(),
        "cartd_lake_records_written_total{stage=\"gold\"}".to_owned(),
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut text = String::new();
    while Instant::now() < deadline {
        if let Ok(answer) = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await {
            text = answer.text().await.unwrap_or_default();
            if want.iter().all(|w| text.contains(w.as_str())) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = run.kill();
    let _ = run.wait();
    for w in &want {
        assert!(text.contains(w.as_str()), "{w} missing from:\n{text}");
    }
}
