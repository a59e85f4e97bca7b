//! The `cartd-lake` binary: its summary lines and its exit codes.

use std::process::Command;

use crate::flow::two_days;
use crate::story::ndjson;

fn lake_cmd(lake: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cartd-lake"))
        .arg("--lake")
        .arg(lake)
        .args(args)
        .env_remove("CARTD_LAKE_URL")
        .output()
        .expect("run cartd-lake")
}

#[test]
fn commands_print_a_summary_and_exit_4_when_not_ready_and_3_when_the_gate_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let stream = dir.path().join("events.ndjson");
    let events = two_days();
    std::fs::write(&stream, ndjson(&events)).expect("write stream");
    let from = format!("file://{}", stream.display());

    let ingest = lake_cmd(&lake, &["ingest", "--from", &from, "--once"]);
    assert!(ingest.status.success(), "{ingest:?}");
    let said = String::from_utf8_lossy(&ingest.stdout);
    assert!(
        said.starts_with(&format!(
            "ingest: read {}, written {}",
            events.len(),
            events.len()
        )),
        "{said}"
    );

    let early = lake_cmd(&lake, &["gold", "--date", "2026-12-01"]);
    assert_eq!(early.status.code(), Some(4), "{early:?}");

    let silver = lake_cmd(&lake, &["silver", "--date", "2026-12-01"]);
    assert!(silver.status.success(), "{silver:?}");
    assert!(String::from_utf8_lossy(&silver.stdout).contains("rejected 0, duplicates 0"));

    // Half of a new batch breaks its schema: far over the default 1 % bound.
    let mut broken = two_days();
    for event in broken.iter_mut().step_by(2) {
        event["data"]["currency"] = serde_json::json!("usd");
    }
    std::fs::write(&stream, ndjson(&events) + &ndjson(&broken)).expect("append");
    let ingest = lake_cmd(&lake, &["ingest", "--from", &from, "--once"]);
    assert!(ingest.status.success(), "{ingest:?}");
    let refused = lake_cmd(&lake, &["silver", "--date", "2026-12-01"]);
    assert_eq!(refused.status.code(), Some(3), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("reject_ratio"));

    let bad_date = lake_cmd(&lake, &["silver", "--date", "2026-13-01"]);
    assert_eq!(bad_date.status.code(), Some(2));
}

#[test]
fn a_backfill_builds_silver_then_gold_for_each_date_and_says_what_it_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let stream = dir.path().join("events.ndjson");
    std::fs::write(&stream, ndjson(&two_days())).expect("write stream");
    let from = format!("file://{}", stream.display());
    assert!(
        lake_cmd(&lake, &["ingest", "--from", &from, "--once"])
            .status
            .success()
    );
    let backfill = lake_cmd(
        &lake,
        &[
            "run",
            "--from",
            &from,
            "--backfill",
            "2026-12-01..2026-12-02",
        ],
    );
    assert!(backfill.status.success(), "{backfill:?}");
    let said = String::from_utf8_lossy(&backfill.stdout);
    let lines: Vec<&str> = said
        .lines()
        .map(|l| l.split(':').next().unwrap_or(l))
        .collect();
    assert_eq!(
        lines,
        [
            "silver 2026-12-01",
            "silver 2026-12-02",
            "gold 2026-12-01",
            "gold 2026-12-02"
        ],
        "{said}"
    );
    assert!(
        said.contains("gold 2026-12-02: skipped, not ready"),
        "{said}"
    );
    assert!(
        lake.join("gold/daily_cart_metrics/date=2026-12-01/_SUCCESS")
            .exists()
    );
}
