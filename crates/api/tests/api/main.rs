//! Integration tests of the HTTP API: a real server on port 0 over a fresh SQLite file per test.

mod attacks;
mod auth;
mod cart_pricing;
mod carts;
mod checkout;
mod concurrency;
mod contract;
mod edges;
mod errors;
mod graphql_abuse;
mod graphql_api;
mod graphql_helpers;
mod graphql_parity;
mod graphql_subscriptions;
mod helpers;
mod idempotency;
mod merge;
mod ops;
mod pricing_settings;
mod products;
mod replicas;
mod shared_limits;
