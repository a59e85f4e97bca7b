//! `cartd-lake`: the analytics lake's command line (docs/LAKE.md). Exit codes: 0 done, 1 an
//! error, 2 bad arguments, 3 a quality gate refused the partition (its report says why), 4 not
//! ready (gold before the silver it needs).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use time::Date;

use cartd_lake::gold::{self, GoldOptions};
use cartd_lake::ingest::{self, IngestOptions};
use cartd_lake::lake::Lake;
use cartd_lake::schedule::{self, ScheduleOptions};
use cartd_lake::silver::{self, SilverOptions};
use cartd_lake::{LakeError, source};

/// Turns cartd's event stream into a lake: bronze NDJSON, silver and gold Parquet.
#[derive(Debug, Parser)]
#[command(name = "cartd-lake", version)]
struct Cli {
    /// The lake: a directory, or s3://bucket/prefix.
    #[arg(long, env = "CARTD_LAKE_URL", default_value = "./lake", global = true)]
    lake: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Reads the event stream into bronze.
    Ingest {
        #[command(flatten)]
        source: SourceArgs,
        /// Drain what is there now, then exit.
        #[arg(long)]
        once: bool,
    },
    /// Builds silver for a date (or one hour of it) from bronze.
    Silver {
        /// The date (UTC), YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        date: Date,
        /// Only this hour (0-23).
        #[arg(long)]
        hour: Option<u8>,
        #[command(flatten)]
        gate: SilverGate,
    },
    /// Builds gold for a date from silver.
    Gold {
        /// The date (UTC), YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        date: Date,
        #[command(flatten)]
        window: Abandonment,
    },
    /// Runs ingest, silver and gold on a schedule (or once over a range of dates).
    Run {
        #[command(flatten)]
        source: SourceArgs,
        /// How often a round runs.
        #[arg(long, env = "CARTD_LAKE_EVERY", default_value = "1h", value_parser = humantime::parse_duration)]
        every: Duration,
        /// How long after an hour ends its events are taken as all in.
        #[arg(long, env = "CARTD_LAKE_LATENESS", default_value = "10m", value_parser = humantime::parse_duration)]
        lateness: Duration,
        /// Rebuild silver and gold for FROM..TO (dates, inclusive), then exit.
        #[arg(long, value_parser = parse_range)]
        backfill: Option<(Date, Date)>,
        /// Serve Prometheus metrics here (e.g. 0.0.0.0:9464).
        #[arg(long, env = "CARTD_LAKE_METRICS_ADDR")]
        metrics_addr: Option<SocketAddr>,
        #[command(flatten)]
        gate: SilverGate,
        #[command(flatten)]
        window: Abandonment,
    },
}

#[derive(Debug, Args)]
struct SourceArgs {
    /// The event stream, a CARTD_EVENTS URL: nats://…, redis://…, sqs://…, file://….
    #[arg(long = "from", env = "CARTD_LAKE_FROM")]
    from: String,
    /// The durable consumer, consumer group or checkpoint name.
    #[arg(long, env = "CARTD_LAKE_CONSUMER", default_value = "cartd-lake")]
    consumer: String,
    /// The most events per bronze object.
    #[arg(long, env = "CARTD_LAKE_BATCH", default_value_t = 5000)]
    batch: usize,
    /// How long to wait for the first event of a batch.
    #[arg(long, env = "CARTD_LAKE_WAIT", default_value = "1s", value_parser = humantime::parse_duration)]
    wait: Duration,
}

#[derive(Debug, Args)]
struct SilverGate {
    /// The largest share of rejected records silver promotes.
    #[arg(long, env = "CARTD_LAKE_MAX_REJECT_RATIO", default_value_t = 0.01)]
    max_reject_ratio: f64,
}

#[derive(Debug, Args)]
struct Abandonment {
    /// How long a cart stays unchanged before it counts as abandoned.
    #[arg(long, env = "CARTD_LAKE_ABANDON_AFTER", default_value = "24h", value_parser = humantime::parse_duration)]
    abandon_after: Duration,
}

fn parse_date(text: &str) -> Result<Date, String> {
    Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|e| format!("{text}: not a YYYY-MM-DD date ({e})"))
}

fn parse_range(text: &str) -> Result<(Date, Date), String> {
    let (from, to) = text
        .split_once("..")
        .ok_or_else(|| format!("{text}: FROM..TO expected"))?;
    let (from, to) = (parse_date(from)?, parse_date(to)?);
    if from > to {
        return Err(format!("{text}: FROM is after TO"));
    }
    Ok((from, to))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CARTD_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match execute(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cartd-lake: {error}");
            ExitCode::from(match error {
                LakeError::GateRefused { .. } => 3,
                LakeError::NotReady(_) => 4,
                _ => 1,
            })
        }
    }
}

async fn execute(cli: Cli) -> Result<(), LakeError> {
    let lake = Lake::open(&cli.lake)?;
    let started = Instant::now();
    match cli.command {
        Command::Ingest { source, once } => {
            let mut from = source::open(&source.from, &lake, &source.consumer).await?;
            let (stop, stopped) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    let _ = stop.send(true);
                }
            });
            let options = IngestOptions {
                batch: source.batch,
                wait: source.wait,
                once,
            };
            let summary = ingest::run(&lake, from.as_mut(), options, stopped).await?;
            println!("{}", summary.line("ingest", started.elapsed()));
        }
        Command::Silver { date, hour, gate } => {
            let options = SilverOptions {
                date,
                hour,
                max_reject_ratio: gate.max_reject_ratio,
            };
            let outcome = silver::run(&lake, options).await?;
            println!(
                "{}",
                outcome
                    .summary
                    .line(&format!("silver {date}"), started.elapsed())
            );
        }
        Command::Gold { date, window } => {
            let options = GoldOptions {
                date,
                abandon_after: window.abandon_after,
            };
            let summary = gold::run(&lake, options).await?;
            println!(
                "{}",
                summary.line(&format!("gold {date}"), started.elapsed())
            );
        }
        Command::Run {
            source,
            every,
            lateness,
            backfill,
            metrics_addr,
            gate,
            window,
        } => {
            if let Some(address) = metrics_addr {
                metrics_exporter_prometheus::PrometheusBuilder::new()
                    .with_http_listener(address)
                    .install()
                    .map_err(|e| LakeError::Config(format!("--metrics-addr: {e}")))?;
            }
            if let Some((from, to)) = backfill {
                return backfill_range(
                    &lake,
                    from,
                    to,
                    gate.max_reject_ratio,
                    window.abandon_after,
                )
                .await;
            }
            let mut from = source::open(&source.from, &lake, &source.consumer).await?;
            let options = ScheduleOptions {
                ingest: IngestOptions {
                    batch: source.batch,
                    wait: source.wait,
                    once: true,
                },
                max_reject_ratio: gate.max_reject_ratio,
                abandon_after: window.abandon_after,
                lateness,
            };
            let mut ticks = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                }
                let now = time::OffsetDateTime::now_utc();
                match schedule::round(&lake, from.as_mut(), options, now).await {
                    Ok(lines) => lines.iter().for_each(|line| println!("{line}")),
                    // A refused or failed round is reported and tried again next time.
                    Err(error) => {
                        metrics::counter!("cartd_lake_round_failures_total").increment(1);
                        eprintln!("cartd-lake: round failed: {error}");
                    }
                }
            }
        }
    }
    Ok(())
}

/// Silver then gold for every date of `from..=to`; gold for a date whose following day is not
/// built is skipped and said so.
async fn backfill_range(
    lake: &Lake,
    from: Date,
    to: Date,
    max_reject_ratio: f64,
    abandon_after: Duration,
) -> Result<(), LakeError> {
    let mut date = from;
    let mut dates = Vec::new();
    loop {
        dates.push(date);
        match date.next_day() {
            Some(next) if next <= to => date = next,
            _ => break,
        }
    }
    for &date in &dates {
        let options = SilverOptions {
            date,
            hour: None,
            max_reject_ratio,
        };
        let outcome = silver::run(lake, options).await?;
        println!("silver {date}: {}", outcome.summary);
    }
    for &date in &dates {
        match gold::run(
            lake,
            GoldOptions {
                date,
                abandon_after,
            },
        )
        .await
        {
            Ok(summary) => println!("gold {date}: {summary}"),
            Err(LakeError::NotReady(why)) => println!("gold {date}: skipped, not ready: {why}"),
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
