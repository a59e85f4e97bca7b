//! The outbox relay: reads committed events in order, publishes them to every sink, and marks
//! them published only after every sink accepted them. At least once, in per-cart order.
//!
//! - **One publisher per store.** A relay publishes only while it holds the store's relay lease
//!   ([`Outbox::acquire_relay_lease`]), renewed at the start of every round; each round's
//!   publishing is cut off at half the lease's time, and the mark is conditional on the lease.
//!   Other relays (other replicas, `cartd relay` processes) stand by and take over when the
//!   lease expires or is released. So no two relays publish the same event at the same time,
//!   and reading in outbox order from one publisher keeps every cart's events in order.
//! - **Failures.** A sink that accepted only a prefix of the batch gets that prefix marked; the
//!   rest is sent again after an exponential backoff with full jitter. A relay that dies between
//!   publishing and marking sends the batch again on restart: consumers deduplicate by event id
//!   (JetStream does it itself through `Nats-Msg-Id`).
//! - **Pruning.** Published events are deleted after the retention, in batches.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument as _;

use thiserror::Error;
use time::OffsetDateTime;
use tokio::sync::watch;
use uuid::Uuid;

use cart_core::{Clock, Outbox, OutboxStats, Store, StoreError};

use crate::envelope::{DEFAULT_SOURCE, Envelope};
use crate::sink::{PublishError, Sink};

/// How the relay paces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// Events read and published per round.
    pub batch: usize,
    /// How long a lease lasts without renewal; a standby relay takes over after it.
    pub lease_ttl: Duration,
    /// The pause after a round that found nothing (more) to publish.
    pub idle_poll: Duration,
    /// The first pause after a failure; doubles per failure up to `backoff_max`.
    pub backoff_min: Duration,
    /// The longest pause after failures.
    pub backoff_max: Duration,
    /// How long published events are kept before pruning.
    pub retention: Duration,
    /// How often the active relay prunes.
    pub prune_interval: Duration,
    /// The CloudEvents `source` attribute.
    pub source: String,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch: 256,
            lease_ttl: Duration::from_secs(15),
            idle_poll: Duration::from_millis(100),
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            retention: Duration::from_secs(24 * 3600),
            prune_interval: Duration::from_secs(60),
            source: DEFAULT_SOURCE.to_owned(),
        }
    }
}

/// Why a round did not publish everything it read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RelayError {
    /// The store failed (reading, leasing or marking).
    #[error("outbox: {0}")]
    Store(#[from] StoreError),
    /// A sink refused or failed part of the batch; the accepted prefix was marked.
    #[error("{sink} sink: {error}")]
    Publish {
        /// Which sink.
        sink: &'static str,
        /// What it said.
        error: PublishError,
    },
    /// Publishing took longer than half the lease; nothing of the batch was marked.
    #[error("publishing took longer than half the relay lease ({0:?})")]
    TooSlow(Duration),
}

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Another relay holds the lease; this one waits.
    Standby,
    /// This relay holds the lease and published (and marked) this many events.
    Published(usize),
}

/// The relay's state as `/ready` and logs show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayStatus {
    /// Whether this process holds the lease (`None`: no round has run yet).
    pub active: Option<bool>,
    /// The last error of each failing sink (a sink that recovered is removed).
    pub failing_sinks: BTreeMap<&'static str, String>,
    /// The last store error, if the last round failed on the store.
    pub store_error: Option<String>,
    /// The outbox's depth and age at the last look.
    pub outbox: OutboxStats,
}

impl RelayStatus {
    /// True when events are not flowing: a sink or the store is failing.
    pub fn is_degraded(&self) -> bool {
        !self.failing_sinks.is_empty() || self.store_error.is_some()
    }
}

/// Publishes the outbox.
pub struct Relay {
    store: Arc<dyn Store>,
    outbox: Arc<dyn Outbox>,
    sinks: Vec<Arc<dyn Sink>>,
    clock: Arc<dyn Clock>,
    holder: String,
    config: RelayConfig,
    status: Arc<Mutex<RelayStatus>>,
    /// Until when this relay's lease runs, as of its last renewal (`None`: not held).
    lease_until: Mutex<Option<OffsetDateTime>>,
}

impl Relay {
    /// A relay over `store`'s outbox publishing to `sinks`, with a holder name unique to it.
    pub fn new(
        store: Arc<dyn Store>,
        outbox: Arc<dyn Outbox>,
        sinks: Vec<Arc<dyn Sink>>,
        clock: Arc<dyn Clock>,
        config: RelayConfig,
    ) -> Self {
        let holder = format!("relay-{}-{}", std::process::id(), Uuid::new_v4().simple());
        Self {
            store,
            outbox,
            sinks,
            clock,
            holder,
            config,
            status: Arc::default(),
            lease_until: Mutex::new(None),
        }
    }

    /// This relay's lease holder name.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// A handle on the relay's status, for `/ready`.
    pub fn status(&self) -> Arc<Mutex<RelayStatus>> {
        self.status.clone()
    }

    /// One round: take or renew the lease, read a batch, publish it to every sink, mark what
    /// every sink accepted.
    pub async fn relay_once(&self) -> Result<Round, RelayError> {
        let outcome = self.round().await;
        self.record(&outcome);
        outcome
    }

    /// Rounds until nothing is pending or another relay holds the lease; the number published.
    /// Tests drain with it deterministically.
    pub async fn drain(&self) -> Result<usize, RelayError> {
        let mut total = 0;
        loop {
            match self.relay_once().await? {
                Round::Published(0) | Round::Standby => return Ok(total),
                Round::Published(n) => total += n,
            }
        }
    }

    /// Deletes published events older than the retention (up to `batch` of them).
    pub async fn prune_once(&self, batch: usize) -> Result<usize, StoreError> {
        let before = self.clock.now() - self.config.retention;
        self.outbox.prune_published(before, batch).await
    }

    /// Reads the outbox's depth and age into the status and the metrics.
    pub async fn refresh_stats(&self) -> Result<OutboxStats, StoreError> {
        let now = self.clock.now();
        let stats = self.outbox.outbox_stats(now).await?;
        metrics::gauge!("cartd_outbox_depth").set(stats.depth as f64);
        let age = stats
            .oldest_pending_at
            .map_or(0.0, |at| (now - at).as_seconds_f64().max(0.0));
        metrics::gauge!("cartd_outbox_oldest_pending_seconds").set(age);
        lock(&self.status).outbox = stats;
        Ok(stats)
    }

    /// Runs rounds until `stop` turns true, then gives the lease up.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = self.config.backoff_min;
        let mut last_prune: Option<Instant> = None;
        let mut last_stats: Option<Instant> = None;
        tracing::info!(holder = %self.holder, sinks = self.sinks.len(), "outbox relay started");
        // Present from the start, so an alert on their increase sees the first event.
        for sink in &self.sinks {
            metrics::counter!("cartd_events_published_total", "sink" => sink.name()).increment(0);
            metrics::counter!("cartd_event_publish_failures_total", "sink" => sink.name())
                .increment(0);
        }
        while !*stop.borrow() {
            let pause = match self.relay_once().await {
                Ok(Round::Published(n)) => {
                    backoff = self.config.backoff_min;
                    if n == self.config.batch {
                        Duration::ZERO
                    } else {
                        self.config.idle_poll
                    }
                }
                Ok(Round::Standby) => self.config.lease_ttl / 3,
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?backoff, "outbox relay round failed");
                    let pause = jitter(backoff);
                    backoff = (backoff * 2).min(self.config.backoff_max);
                    pause
                }
            };
            if last_stats.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                last_stats = Some(Instant::now());
                if let Err(error) = self.refresh_stats().await {
                    tracing::debug!(%error, "cannot read the outbox's depth");
                }
            }
            let active = lock(&self.status).active == Some(true);
            if active && last_prune.is_none_or(|at| at.elapsed() >= self.config.prune_interval) {
                last_prune = Some(Instant::now());
                match self.prune_once(10_000).await {
                    Ok(0) => {}
                    Ok(pruned) => tracing::info!(pruned, "pruned published outbox events"),
                    Err(error) => tracing::warn!(%error, "pruning the outbox failed"),
                }
            }
            if !pause.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        *self.lease_until.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if let Err(error) = self.outbox.release_relay_lease(&self.holder).await {
            tracing::warn!(%error, "could not release the relay lease; it expires on its own");
        }
        tracing::info!("outbox relay stopped");
    }

    async fn round(&self) -> Result<Round, RelayError> {
        let lease = self.config.lease_ttl;
        if !self.hold_lease().await? {
            return Ok(Round::Standby);
        }
        let entries = self.store.pending_events(self.config.batch).await?;
        if entries.is_empty() {
            return Ok(Round::Published(0));
        }
        let envelopes: Vec<Envelope> = entries
            .iter()
            .map(|entry| Envelope::from_event(&entry.event, &self.config.source))
            .collect();
        let cutoff = lease / 2;
        let (accepted, failure) = tokio::time::timeout(cutoff, self.publish(&envelopes))
            .await
            .map_err(|_| RelayError::TooSlow(cutoff))?;
        if accepted > 0 {
            let seqs: Vec<u64> = entries[..accepted].iter().map(|e| e.seq).collect();
            self.outbox
                .mark_published(&self.holder, &seqs, self.clock.now())
                .await?;
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(Round::Published(accepted)),
        }
    }

    /// Takes or renews the lease, unless more than two thirds of it remain (renewing on every
    /// idle poll would be a store write every 100 ms, which DynamoDB bills). At least two
    /// thirds remain when a round starts, so publishing, cut off at half the lease, ends
    /// before it expires.
    async fn hold_lease(&self) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let ttl = time::Duration::try_from(self.config.lease_ttl).unwrap_or(time::Duration::SECOND);
        let held_until = *self.lease_until.lock().unwrap_or_else(|p| p.into_inner());
        if held_until.is_some_and(|until| until - now > ttl * 2 / 3) {
            return Ok(true);
        }
        let outcome = self
            .outbox
            .acquire_relay_lease(&self.holder, now, ttl)
            .await;
        *self.lease_until.lock().unwrap_or_else(|p| p.into_inner()) =
            matches!(outcome, Ok(true)).then_some(now + ttl);
        outcome
    }

    /// Publishes to each sink in turn; a sink gets only what every earlier sink accepted.
    /// Returns how many (from the start) every sink accepted, and the first failure.
    async fn publish(&self, envelopes: &[Envelope]) -> (usize, Option<RelayError>) {
        let mut accepted = envelopes.len();
        let mut failure = None;
        for sink in &self.sinks {
            if accepted == 0 {
                break;
            }
            let sink_name = sink.name();
            let span = tracing::info_span!(
                "publish",
                otel.kind = "producer",
                sink = sink_name,
                events = accepted
            );
            match sink.publish(&envelopes[..accepted]).instrument(span).await {
                Ok(()) => {
                    metrics::counter!("cartd_events_published_total", "sink" => sink_name)
                        .increment(accepted as u64);
                    lock(&self.status).failing_sinks.remove(sink_name);
                }
                Err(error) => {
                    metrics::counter!("cartd_event_publish_failures_total", "sink" => sink_name)
                        .increment(1);
                    lock(&self.status)
                        .failing_sinks
                        .insert(sink_name, error.message.clone());
                    accepted = error.published.min(accepted);
                    failure.get_or_insert(RelayError::Publish {
                        sink: sink_name,
                        error,
                    });
                }
            }
        }
        (accepted, failure)
    }

    fn record(&self, outcome: &Result<Round, RelayError>) {
        if matches!(outcome, Err(RelayError::Store(_))) {
            // A failed or refused mark may mean the lease is gone: ask the store next round.
            *self.lease_until.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        let mut status = lock(&self.status);
        match outcome {
            Ok(round) => {
                status.active = Some(matches!(round, Round::Published(_)));
                status.store_error = None;
            }
            Err(RelayError::Store(StoreError::LeaseLost)) => {
                status.active = Some(false);
                status.store_error = None;
            }
            Err(RelayError::Store(error)) => status.store_error = Some(error.to_string()),
            Err(RelayError::Publish { .. } | RelayError::TooSlow(_)) => {
                status.active = Some(true);
                status.store_error = None;
            }
        }
        metrics::gauge!("cartd_relay_active").set(if status.active == Some(true) {
            1.0
        } else {
            0.0
        });
    }
}

/// A pause drawn uniformly from `[backoff / 2, backoff]`, so relays that failed together do
/// not retry together.
fn jitter(backoff: Duration) -> Duration {
    let half = backoff / 2;
    half + half.mul_f64(fastrand::f64())
}

fn lock(status: &Mutex<RelayStatus>) -> std::sync::MutexGuard<'_, RelayStatus> {
    status.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// When the outbox's oldest event was committed, as an age at `now` (for messages).
pub fn age(oldest: Option<OffsetDateTime>, now: OffsetDateTime) -> Option<Duration> {
    oldest.map(|at| Duration::try_from(now - at).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_between_half_and_all_of_the_backoff() {
        let backoff = Duration::from_secs(8);
        for _ in 0..1000 {
            let pause = jitter(backoff);
            assert!(pause >= backoff / 2 && pause <= backoff, "{pause:?}");
        }
    }
}
