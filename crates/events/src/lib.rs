//! cart-events: delivering the outbox's events to brokers.
//!
//! # Layout
//!
//! - [`envelope`]: the CloudEvents 1.0 envelope built from an outbox event.
//! - [`sink`]: the brokers, one per `CARTD_EVENTS` URL: file, NATS JetStream, Redis Streams,
//!   SNS, SQS, EventBridge (each network sink behind a cargo feature).
//! - [`live`]: a bounded in-process fan-out of cart changes for GraphQL subscriptions, fed by
//!   the relay ([`live::LiveSink`]) or by the broker ([`live::follow_nats`]).
//! - [`relay`]: the loop that publishes the outbox in order, at least once, under a lease.

pub mod envelope;
pub mod live;
pub mod relay;
pub mod sink;

pub use envelope::{Envelope, EventData};
pub use relay::{Relay, RelayConfig, RelayError, RelayStatus, Round};
pub use sink::{PublishError, Sink, SinkUrl, SinkUrlError};
