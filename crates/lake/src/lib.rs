//! `cartd-lake`: the analytics lake fed by cartd's event stream.
//!
//! Three layers under one root (a directory or an S3 prefix, see [`lake::Lake`]):
//! **bronze** holds the events exactly as they arrived ([`ingest`], from NATS JetStream, Redis
//! Streams, SQS or the file sink), **silver** holds them validated against their JSON Schemas,
//! deduplicated and flattened into typed Parquet tables ([`silver`]), and **gold** holds daily
//! cart metrics computed from silver ([`gold`]). Each promotion into silver and gold passes a
//! quality gate first ([`gate`]); nothing half-written is ever visible.

pub mod bronze;
pub mod gate;
pub mod gold;
pub mod ingest;
pub mod lake;
pub mod parquet_io;
pub mod promote;
pub mod record;
pub mod schedule;
pub mod schemas;
pub mod silver;
pub mod source;
pub mod summary;

/// Why a lake command failed.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// The lake's object store refused or failed an operation.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// A lake or source URL that cannot be used.
    #[error("{0}")]
    Config(String),
    /// The event source failed (connection, read or acknowledgement).
    #[error("event source: {0}")]
    Source(String),
    /// Writing or reading Parquet failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Building an Arrow batch failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A quality gate refused to promote a partition; the report says why.
    #[error("quality gate refused {what}: {reasons}")]
    GateRefused {
        /// The partition refused, e.g. `silver date=2026-12-01`.
        what: String,
        /// The failed checks, joined.
        reasons: String,
    },
    /// What a command needs first is not there (e.g. gold before its silver partitions).
    #[error("not ready: {0}")]
    NotReady(String),
    /// Local I/O (compression, a checkpoint file).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}
