//! The relay against real brokers: NATS JetStream and Redis running on this machine, the file
//! sink, and the JSON Schemas in `docs/events/`. Network tests skip with a printed reason when
//! the server is absent, unless `CARTD_REQUIRE_SERVICES=1`.

mod brokers;
mod common;
mod pruning;
mod schema;
