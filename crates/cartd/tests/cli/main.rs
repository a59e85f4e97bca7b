//! Tests of the `cartd` binary as an operator runs it: settings, subcommands, signals, and crash
//! safety under SIGKILL.

mod backends;
mod catalog;
mod commands;
mod crash;
mod edges;
mod events;
mod flags;
mod graphql;
mod harness;
mod identity;
mod lambda;
mod monitoring;
mod orders;
mod rate_limits;
#[cfg(unix)]
mod readme;
mod traces;
