//! Where the relay publishes: one [`Sink`] per `CARTD_EVENTS` URL.
//!
//! | URL | sink | feature |
//! |---|---|---|
//! | `file://PATH.ndjson` | appends one envelope per line, fsynced per batch | always |
//! | `nats://HOST:PORT[?stream=CART_EVENTS&duplicate_window=2m&subject_prefix=P]` | NATS JetStream | `nats` |
//! | `redis://HOST:PORT[/DB][?stream=cartd:events&maxlen=1000000]` | a Redis Stream | `redis` |
//! | `sns://TOPIC-ARN[?region=…&endpoint=…]` | AWS SNS | `aws` |
//! | `sqs://QUEUE-URL[?region=…&endpoint=…]` | AWS SQS | `aws` |
//! | `eventbridge://BUS[?region=…&endpoint=…]` | Amazon EventBridge | `aws` |

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;

use crate::envelope::Envelope;

#[cfg(feature = "aws")]
pub mod aws;
pub mod file;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "redis")]
pub mod redis;

/// A batch that was not (entirely) accepted: the first `published` envelopes were, the rest
/// were not and will be sent again.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message} (after {published} of the batch)")]
pub struct PublishError {
    /// How many envelopes, from the start of the batch, the broker accepted.
    pub published: usize,
    /// What went wrong, for logs.
    pub message: String,
}

impl PublishError {
    /// A failure after the first `published` envelopes.
    pub fn after(published: usize, message: impl std::fmt::Display) -> Self {
        Self {
            published,
            message: message.to_string(),
        }
    }
}

/// A broker the relay publishes to.
#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// A short name for metrics, logs and `/ready` (`file`, `nats`, `redis`, `sns`, …).
    fn name(&self) -> &'static str;

    /// Publishes `batch` in order and returns once the broker has accepted every envelope
    /// (acknowledged, appended, fsynced), so the relay may mark them published.
    async fn publish(&self, batch: &[Envelope]) -> Result<(), PublishError>;
}

/// Why a `CARTD_EVENTS` URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SinkUrlError {
    /// Not one of the schemes in the table above.
    #[error(
        "unknown event sink {0:?}: expected file://, nats://, redis://, sns://, sqs:// or eventbridge://"
    )]
    UnknownScheme(String),
    /// The scheme is known but the rest is not usable.
    #[error("{url}: {reason}")]
    Invalid {
        /// The URL (with any password removed).
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// This build was compiled without the feature the sink needs.
    #[error("this build of cartd has no {0} sink; enable the cargo feature")]
    NotBuilt(&'static str),
}

/// Where an AWS sink is: the target, and optionally the region and another endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsTarget {
    /// The topic ARN, queue URL or bus name.
    pub target: String,
    /// The region (from the URL, the ARN, `AWS_REGION`, else `us-east-1`).
    pub region: String,
    /// Another endpoint than AWS's (moto, LocalStack).
    pub endpoint: Option<String>,
}

/// A parsed `CARTD_EVENTS` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkUrl {
    /// An NDJSON file to append to.
    File(PathBuf),
    /// A NATS server with JetStream.
    Nats {
        /// The server URL (`nats://host:port`).
        url: String,
        /// The stream, created with subjects `cart.>` and `order.>` if missing (and given
        /// `order.>` if it has only `cart.>`).
        stream: String,
        /// How long JetStream remembers message ids to drop duplicates.
        duplicate_window: Duration,
        /// Subjects are `PREFIX.cart.<type>` instead of `cart.<type>` (several environments or
        /// tenants on one NATS account; JetStream streams cannot share subjects).
        subject_prefix: Option<String>,
    },
    /// A Redis Stream.
    Redis {
        /// The connection URL, cartd's parameters removed.
        url: String,
        /// The stream key.
        stream: String,
        /// The approximate maximum length (`XADD … MAXLEN ~`).
        max_len: usize,
    },
    /// An SNS topic.
    Sns(AwsTarget),
    /// An SQS queue.
    Sqs(AwsTarget),
    /// An EventBridge bus.
    EventBridge(AwsTarget),
}

/// The NATS stream cartd creates when none is named.
pub const DEFAULT_NATS_STREAM: &str = "CART_EVENTS";
/// The Redis stream key when none is named.
pub const DEFAULT_REDIS_STREAM: &str = "cartd:events";
/// The Redis stream's approximate length cap when none is given.
pub const DEFAULT_REDIS_MAX_LEN: usize = 1_000_000;

impl SinkUrl {
    /// Parses one URL.
    pub fn parse(raw: &str) -> Result<Self, SinkUrlError> {
        let raw = raw.trim();
        let (scheme, rest) = raw
            .split_once("://")
            .ok_or_else(|| SinkUrlError::UnknownScheme(raw.to_owned()))?;
        let invalid = |reason: &str| SinkUrlError::Invalid {
            url: redact(raw),
            reason: reason.to_owned(),
        };
        match scheme {
            "file" => {
                if rest.is_empty() {
                    return Err(invalid("a file path is needed, e.g. file://events.ndjson"));
                }
                Ok(Self::File(PathBuf::from(rest)))
            }
            "nats" | "tls" => {
                let (address, params) = split_query(rest);
                let mut stream = DEFAULT_NATS_STREAM.to_owned();
                let mut duplicate_window = Duration::from_secs(120);
                let mut subject_prefix = None;
                for (name, value) in params {
                    match name.as_str() {
                        "subject_prefix" if is_subject_token(&value) => {
                            subject_prefix = Some(value)
                        }
                        "subject_prefix" => {
                            return Err(invalid(
                                "subject_prefix: one or more dot-separated tokens without spaces, * or >",
                            ));
                        }
                        "stream" if is_stream_name(&value) => stream = value,
                        "stream" => return Err(invalid("stream: letters, digits, - and _ only")),
                        "duplicate_window" => {
                            duplicate_window = humantime::parse_duration(&value)
                                .map_err(|e| invalid(&format!("duplicate_window: {e}")))?;
                        }
                        other => return Err(invalid(&format!("unknown parameter {other:?}"))),
                    }
                }
                Ok(Self::Nats {
                    url: format!("{scheme}://{address}"),
                    stream,
                    duplicate_window,
                    subject_prefix,
                })
            }
            "redis" | "rediss" => {
                let (address, params) = split_query(rest);
                let mut stream = DEFAULT_REDIS_STREAM.to_owned();
                let mut max_len = DEFAULT_REDIS_MAX_LEN;
                let mut passed = Vec::new();
                for (name, value) in params {
                    match name.as_str() {
                        "stream" if !value.is_empty() => stream = value,
                        "maxlen" => {
                            max_len = value
                                .parse()
                                .ok()
                                .filter(|n| *n > 0)
                                .ok_or_else(|| invalid("maxlen: a positive whole number"))?;
                        }
                        _ => passed.push(format!("{name}={value}")),
                    }
                }
                let query = if passed.is_empty() {
                    String::new()
                } else {
                    format!("?{}", passed.join("&"))
                };
                Ok(Self::Redis {
                    url: format!("{scheme}://{address}{query}"),
                    stream,
                    max_len,
                })
            }
            "sns" => Ok(Self::Sns(aws_target(rest, &invalid)?)),
            "sqs" => {
                let mut target = aws_target(rest, &invalid)?;
                if !target.target.starts_with("http://") && !target.target.starts_with("https://") {
                    target.target = format!("https://{}", target.target);
                }
                Ok(Self::Sqs(target))
            }
            "eventbridge" => Ok(Self::EventBridge(aws_target(rest, &invalid)?)),
            _ => Err(SinkUrlError::UnknownScheme(redact(raw))),
        }
    }

    /// Parses a comma-separated list (`CARTD_EVENTS`); every event goes to every sink.
    pub fn parse_list(raw: &str) -> Result<Vec<Self>, SinkUrlError> {
        raw.split(',')
            .filter(|part| !part.trim().is_empty())
            .map(Self::parse)
            .collect()
    }

    /// The URL for logs, without passwords.
    pub fn redacted(&self) -> String {
        match self {
            Self::File(path) => format!("file://{}", path.display()),
            Self::Nats { url, stream, .. } => format!("{} (stream {stream})", redact(url)),
            Self::Redis { url, stream, .. } => format!("{} (stream {stream})", redact(url)),
            Self::Sns(t) => format!("sns://{}", t.target),
            Self::Sqs(t) => format!("sqs://{}", t.target),
            Self::EventBridge(t) => format!("eventbridge://{}", t.target),
        }
    }
}

/// Why a sink could not be set up.
#[derive(Debug, Error)]
#[error("cannot connect the {sink} sink: {message}")]
pub struct ConnectError {
    /// Which sink.
    pub sink: &'static str,
    /// What failed.
    pub message: String,
}

/// Opens the sink a URL names (creating the JetStream stream if missing).
pub async fn connect(url: &SinkUrl) -> Result<Arc<dyn Sink>, ConnectError> {
    match url {
        SinkUrl::File(path) => Ok(Arc::new(file::FileSink::open(path).await?)),
        #[cfg(feature = "nats")]
        SinkUrl::Nats {
            url,
            stream,
            duplicate_window,
            subject_prefix,
        } => Ok(Arc::new(
            nats::NatsSink::connect(url, stream, *duplicate_window, subject_prefix.as_deref())
                .await?,
        )),
        #[cfg(feature = "redis")]
        SinkUrl::Redis {
            url,
            stream,
            max_len,
        } => Ok(Arc::new(
            redis::RedisSink::connect(url, stream, *max_len).await?,
        )),
        #[cfg(feature = "aws")]
        SinkUrl::Sns(target) => Ok(Arc::new(aws::SnsSink::connect(target).await)),
        #[cfg(feature = "aws")]
        SinkUrl::Sqs(target) => Ok(Arc::new(aws::SqsSink::connect(target).await)),
        #[cfg(feature = "aws")]
        SinkUrl::EventBridge(target) => Ok(Arc::new(aws::EventBridgeSink::connect(target).await)),
        #[allow(unreachable_patterns)]
        other => Err(ConnectError {
            sink: "event",
            message: format!("this build has no support for {}", other.redacted()),
        }),
    }
}

fn split_query(rest: &str) -> (&str, Vec<(String, String)>) {
    match rest.split_once('?') {
        Some((address, query)) => (
            address,
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        ),
        None => (rest, Vec::new()),
    }
}

fn aws_target(
    rest: &str,
    invalid: &dyn Fn(&str) -> SinkUrlError,
) -> Result<AwsTarget, SinkUrlError> {
    let (target, params) = split_query(rest);
    if target.is_empty() {
        return Err(invalid("the topic ARN, queue URL or bus name is missing"));
    }
    let mut region = None;
    let mut endpoint = None;
    for (name, value) in params {
        match name.as_str() {
            "region" => region = Some(value),
            "endpoint" => endpoint = Some(value),
            other => return Err(invalid(&format!("unknown parameter {other:?}"))),
        }
    }
    // An ARN names its region: arn:aws:sns:REGION:ACCOUNT:NAME.
    let from_arn = target
        .strip_prefix("arn:")
        .and_then(|arn| arn.split(':').nth(2))
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let region = region
        .or(from_arn)
        .or_else(|| std::env::var("AWS_REGION").ok())
        .unwrap_or_else(|| "us-east-1".to_owned());
    Ok(AwsTarget {
        target: target.to_owned(),
        region,
        endpoint,
    })
}

fn is_subject_token(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.split('.').all(|token| {
            !token.is_empty()
                && token
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'*' && b != b'>')
        })
}

fn is_stream_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The URL with the password of `user:password@` replaced.
fn redact(raw: &str) -> String {
    match (raw.find("://"), raw.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &raw[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &raw[..scheme_end + 3], &raw[at..]),
                None => raw.to_owned(),
            }
        }
        _ => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_parses_with_its_defaults() {
        assert_eq!(
            SinkUrl::parse("file://events.ndjson"),
            Ok(SinkUrl::File(PathBuf::from("events.ndjson")))
        );
        assert_eq!(
            SinkUrl::parse("nats://127.0.0.1:4222"),
            Ok(SinkUrl::Nats {
                url: "nats://127.0.0.1:4222".into(),
                stream: DEFAULT_NATS_STREAM.into(),
                duplicate_window: Duration::from_secs(120),
                subject_prefix: None,
            })
        );
        assert_eq!(
            SinkUrl::parse("redis://127.0.0.1:6379/2?stream=shop:cart&maxlen=500"),
            Ok(SinkUrl::Redis {
                url: "redis://127.0.0.1:6379/2".into(),
                stream: "shop:cart".into(),
                max_len: 500,
            })
        );
        assert_eq!(
            SinkUrl::parse("sns://arn:aws:sns:eu-west-1:123456789012:carts"),
            Ok(SinkUrl::Sns(AwsTarget {
                target: "arn:aws:sns:eu-west-1:123456789012:carts".into(),
                region: "eu-west-1".into(),
                endpoint: None,
            }))
        );
        assert_eq!(
            SinkUrl::parse(
                "sqs://http://127.0.0.1:5005/123456789012/q?region=us-east-1&endpoint=http://127.0.0.1:5005"
            ),
            Ok(SinkUrl::Sqs(AwsTarget {
                target: "http://127.0.0.1:5005/123456789012/q".into(),
                region: "us-east-1".into(),
                endpoint: Some("http://127.0.0.1:5005".into()),
            }))
        );
        let Ok(SinkUrl::Sqs(target)) =
            SinkUrl::parse("sqs://sqs.eu-west-1.amazonaws.com/123456789012/q?region=eu-west-1")
        else {
            panic!("an SQS URL without scheme is an https queue URL");
        };
        assert_eq!(
            target.target,
            "https://sqs.eu-west-1.amazonaws.com/123456789012/q"
        );
        assert!(matches!(
            SinkUrl::parse("eventbridge://shop-bus?region=eu-west-1"),
            Ok(SinkUrl::EventBridge(AwsTarget { ref target, ref region, .. }))
                if target == "shop-bus" && region == "eu-west-1"
        ));
    }

    #[test]
    fn bad_urls_are_refused_with_a_reason() {
        assert!(matches!(
            SinkUrl::parse("kafka://broker:9092"),
            Err(SinkUrlError::UnknownScheme(_))
        ));
        assert!(matches!(
            SinkUrl::parse("events.ndjson"),
            Err(SinkUrlError::UnknownScheme(_))
        ));
        for bad in [
            "file://",
            "nats://h:4222?stream=a.b",
            "nats://h:4222?duplicate_window=soon",
            "nats://h:4222?color=blue",
            "nats://h:4222?subject_prefix=a.*",
            "nats://h:4222?subject_prefix=a..b",
            "redis://h?maxlen=0",
            "sns://",
            "eventbridge://bus?colour=red",
        ] {
            assert!(
                matches!(SinkUrl::parse(bad), Err(SinkUrlError::Invalid { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_list_gives_one_sink_per_url_and_passwords_stay_out_of_logs() {
        let sinks =
            SinkUrl::parse_list("file://a.ndjson, redis://:secret@h:6379").expect("two sinks");
        assert_eq!(sinks.len(), 2);
        assert!(
            !sinks[1].redacted().contains("secret"),
            "{}",
            sinks[1].redacted()
        );
    }
}
