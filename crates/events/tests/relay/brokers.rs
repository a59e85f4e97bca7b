//! Delivery through NATS JetStream and Redis Streams: exactly once per event id, in per-cart
//! order, with concurrent writers, with two relays, and across a relay crash.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use time::OffsetDateTime;
use tokio::sync::watch;
use uuid::Uuid;

use cart_core::{Outbox, OutboxStats, StoreError};
use cart_events::sink::{self, SinkUrl};
use cart_events::{Relay, RelayConfig, RelayError, Sink};

use crate::common::{
    World, assert_exactly_once_in_cart_order, guest_carts, mixed_writes, nats_url, reachable,
    redis_url, unavailable,
};

/// A NATS sink on a stream and subjects of its own, so tests never share messages.
async fn nats_sink(tag: &str) -> Arc<dyn Sink> {
    let url = SinkUrl::parse(&format!(
        "{}?stream=T_{tag}&subject_prefix=t{tag}",
        nats_url()
    ))
    .expect("nats url");
    sink::connect(&url).await.expect("nats sink")
}

/// A Redis sink on a stream of its own.
async fn redis_sink(tag: &str) -> Arc<dyn Sink> {
    let url = SinkUrl::parse(&format!("{}?stream=cartd-test:{tag}:events", redis_url()))
        .expect("redis url");
    sink::connect(&url).await.expect("redis sink")
}

/// Everything in the test's JetStream stream, in stream order: (cart key, event id).
async fn nats_received(tag: &str) -> Vec<(String, Uuid)> {
    let client = async_nats::connect(nats_url()).await.expect("nats");
    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream
        .get_stream(format!("T_{tag}"))
        .await
        .expect("stream");
    let state = stream.info().await.expect("stream info").state.clone();
    let mut received = Vec::new();
    if state.messages > 0 {
        for sequence in state.first_sequence..=state.last_sequence {
            let message = stream.get_raw_message(sequence).await.expect("message");
            received.push(parse(&message.payload));
        }
    }
    jetstream
        .delete_stream(format!("T_{tag}"))
        .await
        .expect("delete stream");
    received
}

/// Everything in the test's Redis stream, in stream order: (cart key, event id).
async fn redis_received(tag: &str) -> Vec<(String, Uuid)> {
    let client = redis::Client::open(redis_url()).expect("redis url");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let key = format!("cartd-test:{tag}:events");
    let reply: redis::streams::StreamRangeReply =
        connection.xrange_all(&key).await.expect("xrange");
    let _: () = connection.del(&key).await.expect("del");
    reply
        .ids
        .iter()
        .map(|entry| {
            let event: Vec<u8> = entry.get("event").expect("event field");
            let (key, id) = parse(&event);
            let subject: String = entry.get("subject").expect("subject field");
            assert_eq!(subject, key, "the subject field is the cart key");
            (key, id)
        })
        .collect()
}

fn parse(payload: &[u8]) -> (String, Uuid) {
    let json: serde_json::Value = serde_json::from_slice(payload).expect("envelope json");
    (
        json["subject"].as_str().expect("subject").to_owned(),
        json["id"].as_str().expect("id").parse().expect("uuid"),
    )
}

/// Waits until the outbox is empty (bounded: the test fails rather than hangs).
async fn wait_drained(world: &World) {
    for _ in 0..600 {
        let stats = world
            .outbox
            .outbox_stats(OffsetDateTime::now_utc())
            .await
            .expect("stats");
        if stats.depth == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the relay did not drain the outbox within 60 s");
}

async fn brokers_up() -> bool {
    if !reachable(&nats_url()).await {
        return !unavailable("NATS (CARTD_TEST_NATS_URL)");
    }
    if !reachable(&redis_url()).await {
        return !unavailable("Redis (CARTD_TEST_REDIS_URL)");
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_committed_change_reaches_nats_and_redis_once_in_cart_order() {
    if !brokers_up().await {
        return;
    }
    let tag = Uuid::new_v4().simple().to_string();
    let world = World::new().await;
    let relay = world.relay(vec![nats_sink(&tag).await, redis_sink(&tag).await]);
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(relay.run(stopped));

    let carts = guest_carts(50);
    let committed_writes = mixed_writes(&world.service, &carts, 2000, 16).await;
    wait_drained(&world).await;
    stop.send(true).expect("stop");
    running.await.expect("relay");

    let committed = world.committed();
    assert!(
        committed_writes > 1500,
        "most of the 2,000 writes commit ({committed_writes})"
    );
    assert_exactly_once_in_cart_order(&committed, &nats_received(&tag).await);
    assert_exactly_once_in_cart_order(&committed, &redis_received(&tag).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_on_one_store_publish_each_event_once_and_the_standby_takes_over() {
    if !brokers_up().await {
        return;
    }
    let tag = Uuid::new_v4().simple().to_string();
    let world = World::new().await;
    let sink = redis_sink(&tag).await;
    let first = world.relay(vec![sink.clone()]);
    let second = world.relay(vec![sink]);
    let second_status = second.status();
    let (stop_first, first_stopped) = watch::channel(false);
    let (stop_second, second_stopped) = watch::channel(false);
    let first = tokio::spawn(first.run(first_stopped));
    // The second starts a moment later, so the first holds the lease.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = tokio::spawn(second.run(second_stopped));

    let carts = guest_carts(20);
    mixed_writes(&world.service, &carts, 500, 8).await;
    wait_drained(&world).await;
    assert_eq!(
        second_status.lock().expect("status").active,
        Some(false),
        "the second relay stands by while the first holds the lease"
    );
    // The first stops and gives the lease up; the second takes over.
    stop_first.send(true).expect("stop");
    first.await.expect("first relay");
    mixed_writes(&world.service, &carts, 500, 8).await;
    wait_drained(&world).await;
    assert_eq!(
        second_status.lock().expect("status").active,
        Some(true),
        "the standby publishes once the lease is free"
    );
    stop_second.send(true).expect("stop");
    second.await.expect("second relay");

    assert_exactly_once_in_cart_order(&world.committed(), &redis_received(&tag).await);
}

/// The outbox of a relay that dies after publishing and before marking: marks never land.
struct DiesBeforeMarking(Arc<dyn Outbox>);

#[async_trait]
impl Outbox for DiesBeforeMarking {
    async fn acquire_relay_lease(
        &self,
        holder: &str,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<bool, StoreError> {
        self.0.acquire_relay_lease(holder, now, ttl).await
    }
    async fn release_relay_lease(&self, holder: &str) -> Result<(), StoreError> {
        self.0.release_relay_lease(holder).await
    }
    async fn mark_published(
        &self,
        _holder: &str,
        _seqs: &[u64],
        _now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        Err(StoreError::Unavailable(
            "the relay died before marking".into(),
        ))
    }
    async fn prune_published(
        &self,
        before: OffsetDateTime,
        batch: usize,
    ) -> Result<usize, StoreError> {
        self.0.prune_published(before, batch).await
    }
    async fn outbox_stats(&self, now: OffsetDateTime) -> Result<OutboxStats, StoreError> {
        self.0.outbox_stats(now).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_that_dies_between_publish_and_mark_is_deduplicated_by_jetstream() {
    if !brokers_up().await {
        return;
    }
    let tag = Uuid::new_v4().simple().to_string();
    let world = World::new().await;
    let carts = guest_carts(10);
    mixed_writes(&world.service, &carts, 300, 4).await;
    let committed = world.committed();
    let config = RelayConfig {
        batch: 10_000,
        ..RelayConfig::default()
    };

    let dying = Relay::new(
        world.store.clone(),
        Arc::new(DiesBeforeMarking(world.outbox.clone())),
        vec![nats_sink(&tag).await],
        Arc::new(cart_core::SystemClock),
        config.clone(),
    );
    assert!(
        matches!(dying.relay_once().await, Err(RelayError::Store(_))),
        "the batch was published, the mark failed"
    );
    let pending = world.store.pending_events(100_000).await.expect("pending");
    assert_eq!(pending.len(), committed.len(), "nothing was marked");

    // The dead relay's lease runs out; a new relay (its clock past the lease) sends it all again.
    let later = cart_core::ManualClock::new(OffsetDateTime::now_utc() + config.lease_ttl * 2);
    let restarted = Relay::new(
        world.store.clone(),
        world.outbox.clone(),
        vec![nats_sink(&tag).await],
        Arc::new(later),
        config,
    );
    assert_eq!(
        restarted.drain().await.expect("drain"),
        committed.len(),
        "the restarted relay re-sends every event"
    );
    assert!(
        world
            .store
            .pending_events(10)
            .await
            .expect("pending")
            .is_empty()
    );

    // JetStream dropped the copies by Nats-Msg-Id: the stream holds each event once, so a
    // consumer that deduplicates by id sees exactly the committed events.
    assert_exactly_once_in_cart_order(&committed, &nats_received(&tag).await);
}

#[tokio::test]
async fn order_events_reach_nats_and_an_older_cart_only_stream_is_widened_for_them() {
    if !brokers_up().await {
        return;
    }
    let tag = Uuid::new_v4().simple().to_string();
    // The stream as a build before order events created it.
    let client = async_nats::connect(nats_url()).await.expect("nats");
    let jetstream = async_nats::jetstream::new(client);
    jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: format!("T_{tag}"),
            subjects: vec![format!("t{tag}.cart.>")],
            ..Default::default()
        })
        .await
        .expect("old stream");
    let world = World::new().await;
    let key = cart_core::CartKey::parse("order-buyer").expect("key");
    world
        .service
        .execute(
            &key,
            cart_core::Command::AddItem(cart_core::AddItem {
                product_id: cart_core::ProductId::parse("book-1").expect("id"),
                variant_id: None,
                quantity: cart_core::RequestedQuantity::new(1).expect("q"),
                asserted_unit_price: None,
            }),
            cart_core::WriteOptions::default(),
        )
        .await
        .expect("add");
    let cart = world.service.get(&key).await.expect("cart");
    let paid =
        cart_core::CartEvent::about(Uuid::now_v7(), cart_core::EventType::OrderPaid, &cart, None)
            .with_order(Some(cart_core::order::OrderFacts {
                order_id: Uuid::now_v7(),
                number: "CD-000001".into(),
                status: cart_core::order::OrderStatus::Paid,
                buyer_id: "order-buyer".into(),
                number_of_installments: 1,
                total_amount: 1001,
                currency: "USD".into(),
                purchase_date: cart.updated_at(),
                reason: None,
            }));
    let envelope = cart_events::Envelope::from_event(&paid, "/cartd");
    nats_sink(&tag)
        .await
        .publish(&[envelope])
        .await
        .expect("an order event is published");
    let stream = jetstream
        .get_stream(format!("T_{tag}"))
        .await
        .expect("stream");
    let message = stream.get_raw_message(1).await.expect("message");
    assert_eq!(message.subject.as_str(), format!("t{tag}.order.paid"));
    jetstream
        .delete_stream(format!("T_{tag}"))
        .await
        .expect("delete stream");
}
