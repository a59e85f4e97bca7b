//! The store URL (`CARTD_STORE`): which backend, and where.

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `sqlite://PATH[?synchronous=normal|full]`: a file, relative (`sqlite://cartd.db`) or
    /// absolute (`sqlite:///var/lib/cartd/cartd.db`).
    Sqlite(SqliteOptions),
    /// `postgres://USER@HOST[:PORT]/DB[?max_connections=16&acquire_timeout=5s&statement_timeout=5s&schema=NAME&group_commit=64]`
    /// (also `postgresql://`); other query parameters (e.g. `sslmode`) go to the driver.
    Postgres(PostgresOptions),
    /// `redis://HOST[:PORT][/DB][?prefix=cartd&timeout=2s]` (also `rediss://` for TLS).
    Redis(RedisOptions),
    /// `dynamodb://TABLE[?region=us-east-1&endpoint=http://…&create=true&timeout=5s]`.
    Dynamo(DynamoOptions),
}

/// Which DynamoDB table, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoOptions {
    /// The table.
    pub table: String,
    /// The AWS region (default: `AWS_REGION`, else `us-east-1`).
    pub region: String,
    /// Another endpoint than AWS's (DynamoDB Local, moto).
    pub endpoint: Option<String>,
    /// Create the table (with its TTL attribute) when it is missing (`cartd migrate`).
    pub create: bool,
    /// Timeout of every call (default 5 s).
    pub timeout: Duration,
}

/// Where the Redis store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// The connection URL as the client reads it (cartd's own parameters removed).
    pub url: String,
    /// Key prefix, also the Redis Cluster hash tag: `{prefix}:…` (default `cartd`).
    pub prefix: String,
    /// Timeout of connecting and of every call (default 2 s).
    pub timeout: Duration,
}

impl RedisOptions {
    /// The URL with any password replaced, for logs.
    pub fn redacted(&self) -> String {
        redact_password(&self.url)
    }
}

/// Where the PostgreSQL store is and how its pool behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// The connection URL as the driver reads it (cartd's own parameters removed).
    pub url: String,
    /// Most connections in the pool (default 16).
    pub max_connections: u32,
    /// How long a request waits for a free connection before `503` (default 5 s).
    pub acquire_timeout: Duration,
    /// Server-side limit on every statement (default 5 s).
    pub statement_timeout: Duration,
    /// Schema to use instead of `public` (`search_path`), e.g. to share a database.
    pub schema: Option<String>,
    /// Most carts one group-commit statement writes (default 64); 1 commits every cart in a
    /// statement of its own.
    pub group_commit: usize,
}

impl PostgresOptions {
    /// The URL with any password replaced, for logs.
    pub fn redacted(&self) -> String {
        redact_password(&self.url)
    }
}

/// `scheme://user:secret@host…` → `scheme://user:***@host…`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
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
    #[error(
        "unsupported store scheme in {0:?}; use sqlite://, postgres://, redis:// or dynamodb://"
    )]
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
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return parse_postgres(raw);
        }
        if raw.starts_with("redis://") || raw.starts_with("rediss://") {
            return parse_redis(raw);
        }
        if let Some(rest) = raw.strip_prefix("dynamodb://") {
            return parse_dynamo(raw, rest);
        }
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

/// A count option's value, 1 to 1,000.
fn count<T: std::str::FromStr + From<u16> + PartialOrd>(
    pair: &str,
    value: &str,
) -> Result<T, UrlError> {
    value
        .parse()
        .ok()
        .filter(|n| (T::from(1)..=T::from(1000)).contains(n))
        .ok_or_else(|| UrlError::BadOption(pair.to_owned()))
}

fn parse_postgres(raw: &str) -> Result<StoreUrl, UrlError> {
    let (base, query) = raw.split_once('?').unwrap_or((raw, ""));
    let host_and_db = base.split_once("://").map_or("", |(_, rest)| rest);
    if host_and_db.is_empty() {
        return Err(UrlError::MissingPath(raw.to_owned()));
    }
    let duration = |pair: &str, value: &str| {
        humantime::parse_duration(value)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| UrlError::BadOption(pair.to_owned()))
    };
    let mut options = PostgresOptions {
        url: String::new(),
        max_connections: 16,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(5),
        schema: None,
        group_commit: 64,
    };
    let mut passed_on = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "max_connections" => options.max_connections = count(pair, value)?,
            "acquire_timeout" => options.acquire_timeout = duration(pair, value)?,
            "statement_timeout" => options.statement_timeout = duration(pair, value)?,
            "group_commit" => options.group_commit = count(pair, value)?,
            "schema" => {
                let valid = !value.is_empty()
                    && value.len() <= 63
                    && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(UrlError::BadOption(pair.to_owned()));
                }
                options.schema = Some(value.to_owned());
            }
            _ => passed_on.push(pair),
        }
    }
    options.url = if passed_on.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", passed_on.join("&"))
    };
    Ok(StoreUrl::Postgres(options))
}

fn parse_dynamo(raw: &str, rest: &str) -> Result<StoreUrl, UrlError> {
    let (table, query) = rest.split_once('?').unwrap_or((rest, ""));
    let valid_table = (3..=255).contains(&table.len())
        && table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid_table {
        return Err(UrlError::MissingPath(raw.to_owned()));
    }
    let mut options = DynamoOptions {
        table: table.to_owned(),
        region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        endpoint: None,
        create: false,
        timeout: Duration::from_secs(5),
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = || UrlError::BadOption(pair.to_owned());
        match name {
            "region" if !value.is_empty() => options.region = value.to_owned(),
            "endpoint" if value.starts_with("http://") || value.starts_with("https://") => {
                options.endpoint = Some(value.to_owned());
            }
            "create" => options.create = value.parse().map_err(|_| bad())?,
            "timeout" => {
                options.timeout = humantime::parse_duration(value)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(bad)?;
            }
            _ => return Err(bad()),
        }
    }
    Ok(StoreUrl::Dynamo(options))
}

fn parse_redis(raw: &str) -> Result<StoreUrl, UrlError> {
    let (base, query) = raw.split_once('?').unwrap_or((raw, ""));
    if base
        .split_once("://")
        .is_none_or(|(_, rest)| rest.is_empty())
    {
        return Err(UrlError::MissingPath(raw.to_owned()));
    }
    let mut options = RedisOptions {
        url: base.to_owned(),
        prefix: "cartd".into(),
        timeout: Duration::from_secs(2),
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "prefix" => {
                let valid = !value.is_empty()
                    && value.len() <= 64
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
                if !valid {
                    return Err(UrlError::BadOption(pair.to_owned()));
                }
                options.prefix = value.to_owned();
            }
            "timeout" => {
                options.timeout = humantime::parse_duration(value)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| UrlError::BadOption(pair.to_owned()))?;
            }
            _ => return Err(UrlError::BadOption(pair.to_owned())),
        }
    }
    Ok(StoreUrl::Redis(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_a_file() {
        let Ok(StoreUrl::Sqlite(relative)) = StoreUrl::parse("sqlite://cartd.db") else {
            panic!("relative");
        };
        assert_eq!(relative.path, PathBuf::from("cartd.db"));
        assert_eq!(relative.synchronous, Synchronous::Normal);
        let Ok(StoreUrl::Sqlite(absolute)) =
            StoreUrl::parse("sqlite:///var/lib/c.db?synchronous=full")
        else {
            panic!("absolute");
        };
        assert_eq!(absolute.path, PathBuf::from("/var/lib/c.db"));
        assert_eq!(absolute.synchronous, Synchronous::Full);
    }

    #[test]
    fn postgres_urls_carry_pool_settings_and_pass_the_rest_on() {
        let url = StoreUrl::parse(
            "postgres://cart:pw@db:5432/carts?max_connections=4&sslmode=require&statement_timeout=2s&schema=tenant_a&group_commit=1",
        )
        .expect("url");
        let StoreUrl::Postgres(options) = url else {
            panic!("not postgres");
        };
        assert_eq!(
            options.url,
            "postgres://cart:pw@db:5432/carts?sslmode=require"
        );
        assert_eq!(options.max_connections, 4);
        assert_eq!(options.statement_timeout, Duration::from_secs(2));
        assert_eq!(options.acquire_timeout, Duration::from_secs(5));
        assert_eq!(options.schema.as_deref(), Some("tenant_a"));
        assert_eq!(options.group_commit, 1);
        assert_eq!(
            options.redacted(),
            "postgres://cart:***@db:5432/carts?sslmode=require"
        );
        for bad in [
            "postgres://db/x?max_connections=0",
            "postgres://db/x?group_commit=0",
            "postgres://db/x?group_commit=many",
            "postgres://db/x?statement_timeout=soon",
            "postgres://db/x?schema=a;drop",
            "postgres://",
        ] {
            assert!(StoreUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redis_urls_carry_a_prefix_and_a_timeout() {
        let Ok(StoreUrl::Redis(options)) =
            StoreUrl::parse("redis://:pw@cache:6380/2?prefix=shop-a&timeout=500ms")
        else {
            panic!("not redis");
        };
        assert_eq!(options.url, "redis://:pw@cache:6380/2");
        assert_eq!(options.prefix, "shop-a");
        assert_eq!(options.timeout, Duration::from_millis(500));
        assert_eq!(options.redacted(), "redis://:***@cache:6380/2");
        for bad in [
            "redis://",
            "redis://h?prefix=a{b}",
            "redis://h?timeout=0s",
            "redis://h?x=1",
        ] {
            assert!(StoreUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dynamodb_urls_name_a_table_a_region_and_maybe_an_endpoint() {
        let Ok(StoreUrl::Dynamo(options)) = StoreUrl::parse(
            "dynamodb://carts-prod?region=eu-west-1&endpoint=http://127.0.0.1:5005&create=true&timeout=3s",
        ) else {
            panic!("not dynamodb");
        };
        assert_eq!(options.table, "carts-prod");
        assert_eq!(options.region, "eu-west-1");
        assert_eq!(options.endpoint.as_deref(), Some("http://127.0.0.1:5005"));
        assert!(options.create);
        assert_eq!(options.timeout, Duration::from_secs(3));
        for bad in [
            "dynamodb://",
            "dynamodb://ab",
            "dynamodb://t/x?region=a",
            "dynamodb://table?endpoint=ftp://x",
            "dynamodb://table?create=maybe",
            "dynamodb://table?color=red",
        ] {
            assert!(StoreUrl::parse(bad).is_err(), "{bad}");
        }
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
