//! Published events leave the outbox after the retention, never before, and unpublished ones
//! never do.

use std::sync::Arc;

use time::OffsetDateTime;

use cart_core::ManualClock;
use cart_events::sink::{self, SinkUrl};
use cart_events::{Relay, RelayConfig};

use crate::common::{World, guest_carts, mixed_writes};

#[tokio::test]
async fn published_events_are_pruned_after_the_retention_and_pending_ones_never() {
    let world = World::new().await;
    let carts = guest_carts(5);
    mixed_writes(&world.service, &carts, 40, 2).await;
    let published_count = world.committed().len();

    let dir = tempfile::tempdir().expect("tempdir");
    let file = sink::connect(&SinkUrl::File(dir.path().join("e.ndjson")))
        .await
        .expect("file sink");
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let config = RelayConfig {
        retention: std::time::Duration::from_secs(3600),
        ..RelayConfig::default()
    };
    let relay = Relay::new(
        world.store.clone(),
        world.outbox.clone(),
        vec![file],
        clock.clone(),
        config,
    );
    assert_eq!(relay.drain().await.expect("drain"), published_count);

    // Newer changes wait unpublished.
    mixed_writes(&world.service, &carts, 20, 2).await;
    let waiting = world.store.pending_events(10_000).await.expect("pending");
    assert!(!waiting.is_empty());

    assert_eq!(
        relay.prune_once(100_000).await.expect("prune"),
        0,
        "nothing is pruned within the retention"
    );
    clock.advance(time::Duration::hours(2));
    assert_eq!(
        relay.prune_once(100_000).await.expect("prune"),
        published_count,
        "every published event is pruned after the retention"
    );
    assert_eq!(
        world.store.pending_events(10_000).await.expect("pending"),
        waiting,
        "unpublished events are untouched"
    );
}
