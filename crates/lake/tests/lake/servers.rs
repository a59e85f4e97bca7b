//! The sources on real brokers (NATS JetStream, Redis Streams, SQS on moto) and the lake on a
//! local S3-compatible server (moto's S3).

use std::time::Duration;

use async_nats::jetstream;
use redis::AsyncCommands;

use crate::flow::two_days;
use crate::story::ndjson;
use crate::{DAY, ingest_all, local_lake, silver_day, skip, snapshot};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", ulid::Ulid::new()).to_lowercase()
}

/// Silver of the two-day story built from a local file: what every source must reproduce.
async fn expected_silver(events: &[serde_json::Value]) -> Vec<(String, bytes::Bytes)> {
    let (dir, lake) = local_lake();
    let stream = dir.path().join("events.ndjson");
    std::fs::write(&stream, ndjson(events)).expect("write stream");
    ingest_all(&lake, &format!("file://{}", stream.display())).await;
    silver_day(&lake, DAY).await;
    snapshot(&lake, "silver").await
}

/// Ingests `source` twice (the second run finds nothing: what was stored was acknowledged) and
/// checks silver is what `events` give from a file.
async fn feeds_the_lake_once(source: &str, events: &[serde_json::Value]) {
    let (_dir, lake) = local_lake();
    assert_eq!(ingest_all(&lake, source).await.read, events.len() as u64);
    assert_eq!(
        ingest_all(&lake, source).await.read,
        0,
        "what was stored stays acknowledged"
    );
    silver_day(&lake, DAY).await;
    assert_eq!(
        snapshot(&lake, "silver").await,
        expected_silver(events).await
    );
}

#[tokio::test]
async fn a_jetstream_durable_consumer_feeds_bronze_once_and_then_only_new_events() {
    let url = env_or("CARTD_TEST_NATS_URL", "nats://127.0.0.1:4222");
    let client = match async_nats::connect(&url).await {
        Ok(client) => client,
        Err(error) => {
            skip("NATS (CARTD_TEST_NATS_URL)", error);
            return;
        }
    };
    let context = jetstream::new(client);
    let stream = unique("LAKE_").to_uppercase();
    let subjects = unique("lake-");
    context
        .create_stream(jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{subjects}.>")],
            ..Default::default()
        })
        .await
        .expect("stream");
    let events = two_days();
    for event in &events {
        context
            .publish(format!("{subjects}.cart"), event.to_string().into())
            .await
            .expect("publish")
            .await
            .expect("ack");
    }
    feeds_the_lake_once(&format!("{url}?stream={stream}"), &events).await;
    context.delete_stream(&stream).await.expect("delete stream");
}

#[tokio::test]
async fn a_redis_consumer_group_takes_back_what_a_dead_ingest_left_unacknowledged() {
    let url = env_or("CARTD_TEST_REDIS_URL", "redis://127.0.0.1:6379");
    let client = redis::Client::open(url.as_str()).expect("redis url");
    let mut redis = match client.get_multiplexed_async_connection().await {
        Ok(connection) => connection,
        Err(error) => {
            skip("Redis (CARTD_TEST_REDIS_URL)", error);
            return;
        }
    };
    let key = unique("cartd-test:lake:");
    let events = two_days();
    for event in &events {
        let _: String = redis
            .xadd(&key, "*", &[("event", event.to_string())])
            .await
            .expect("xadd");
    }
    let (_dir, lake) = local_lake();
    let source = format!("{url}?stream={key}");
    {
        let mut dead = cartd_lake::source::open(&source, &lake, "test")
            .await
            .expect("source");
        let batch = dead
            .receive(5, Duration::from_millis(10))
            .await
            .expect("receive");
        assert_eq!(batch.len(), 5);
    }
    assert_eq!(ingest_all(&lake, &source).await.read, events.len() as u64);
    silver_day(&lake, DAY).await;
    assert_eq!(
        snapshot(&lake, "silver").await,
        expected_silver(&events).await
    );
    let _: usize = redis.del(&key).await.expect("del");
}

fn aws_endpoint() -> String {
    env_or("CARTD_TEST_AWS_ENDPOINT", "http://127.0.0.1:5005")
}

async fn moto_up(endpoint: &str) -> bool {
    match reqwest::get(format!("{endpoint}/moto-api/")).await {
        Ok(answer) if answer.status().is_success() => true,
        Ok(answer) => skip("moto (CARTD_TEST_AWS_ENDPOINT)", answer.status()),
        Err(error) => !skip("moto (CARTD_TEST_AWS_ENDPOINT)", error),
    }
}

#[tokio::test]
async fn an_sqs_queue_feeds_bronze_and_its_messages_are_deleted_once_stored() {
    let endpoint = aws_endpoint();
    if !moto_up(&endpoint).await {
        return;
    }
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&endpoint)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "l", "l", None, None, "t",
        ))
        .load()
        .await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue = sqs
        .create_queue()
        .queue_name(unique("cartd-lake-"))
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url");
    let events = two_days();
    for event in &events {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(event.to_string())
            .send()
            .await
            .expect("send");
    }
    feeds_the_lake_once(
        &format!("sqs://{queue}?endpoint={endpoint}&region=us-east-1"),
        &events,
    )
    .await;
}

#[tokio::test]
async fn the_lake_on_s3_holds_the_same_files_as_on_a_directory() {
    let endpoint = aws_endpoint();
    if !moto_up(&endpoint).await {
        return;
    }
    let bucket = unique("cartd-lake-");
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("create bucket");
    assert!(created.status().is_success(), "{}", created.status());
    let lake = cartd_lake::lake::Lake::open(&format!("s3://{bucket}/shop?endpoint={endpoint}"))
        .expect("s3 lake");
    let events = two_days();
    let dir = tempfile::tempdir().expect("tempdir");
    let stream = dir.path().join("events.ndjson");
    std::fs::write(&stream, ndjson(&events)).expect("write stream");
    ingest_all(&lake, &format!("file://{}", stream.display())).await;
    assert!(!snapshot(&lake, "bronze").await.is_empty());
    silver_day(&lake, DAY).await;
    assert!(
        lake.exists("silver/cart_events/date=2026-12-01/_SUCCESS")
            .await
            .expect("head")
    );
    assert_eq!(
        snapshot(&lake, "silver").await,
        expected_silver(&events).await
    );
    // The objects are under the prefix, where Athena or Spark would be pointed.
    let listed = reqwest::get(format!(
        "{endpoint}/{bucket}?list-type=2&prefix=shop/silver/"
    ))
    .await
    .expect("list")
    .text()
    .await
    .expect("body");
    assert!(listed.contains("shop/silver/cart_events/date=2026-12-01/part-10.parquet"));
}
