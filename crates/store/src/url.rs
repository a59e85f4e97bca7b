//! The store URL (`CARTD_STORE`): which backend, and where.

use std::path::PathBuf;

use thiserror::Error;

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `sqlite://PATH[?synchronous=normal|full]`: a file, relative (`sqlite://cartd.db`) or
    /// absolute (`sqlite:///var/lib/cartd/cartd.db`).
    Sqlite(SqliteOptions),
}

/// Where and how durably the embedded store writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// The database file.
    pub path: PathBuf,
    /// `NORMAL` (default: survives a process crash) or `FULL` (also survives power loss).
    pub synchronous: Synchronous,
}

/// SQLite's `synchronous` setting in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// Every acknowledged commit survives a process crash; the last ones may be lost on power
    /// loss.
    Normal,
    /// Every acknowledged commit survives power loss; an fsync per group commit.
    Full,
}

/// Why a store URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UrlError {
    /// The scheme names no backend compiled into this build.
    #[error("unsupported store scheme in {0:?}; this build knows sqlite://")]
    UnsupportedScheme(String),
    /// A scheme without a location.
    #[error("store URL {0:?} names no database")]
    MissingPath(String),
    /// An unknown or malformed query parameter.
    #[error("bad store option {0:?}")]
    BadOption(String),
}

impl StoreUrl {
    /// Parses a store URL.
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let Some(rest) = raw.strip_prefix("sqlite://") else {
            return Err(UrlError::UnsupportedScheme(raw.to_owned()));
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() {
            return Err(UrlError::MissingPath(raw.to_owned()));
        }
        let mut synchronous = Synchronous::Normal;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            synchronous = match pair.to_ascii_lowercase().as_str() {
                "synchronous=normal" => Synchronous::Normal,
                "synchronous=full" => Synchronous::Full,
                _ => return Err(UrlError::BadOption(pair.to_owned())),
            };
        }
        Ok(Self::Sqlite(SqliteOptions {
            path: PathBuf::from(path),
            synchronous,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_a_file() {
        let StoreUrl::Sqlite(relative) = StoreUrl::parse("sqlite://cartd.db").expect("relative");
        assert_eq!(relative.path, PathBuf::from("cartd.db"));
        assert_eq!(relative.synchronous, Synchronous::Normal);
        let StoreUrl::Sqlite(absolute) =
            StoreUrl::parse("sqlite:///var/lib/c.db?synchronous=full").expect("absolute");
        assert_eq!(absolute.path, PathBuf::from("/var/lib/c.db"));
        assert_eq!(absolute.synchronous, Synchronous::Full);
    }

    #[test]
    fn other_urls_are_refused() {
        assert!(matches!(
            StoreUrl::parse("mysql://x"),
            Err(UrlError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            StoreUrl::parse("sqlite://"),
            Err(UrlError::MissingPath(_))
        ));
        assert!(matches!(
            StoreUrl::parse("sqlite://a.db?x=1"),
            Err(UrlError::BadOption(_))
        ));
    }
}
