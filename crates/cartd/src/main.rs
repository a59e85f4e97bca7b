//! cartd, the binary: parses the command line, sets up logging, and runs one subcommand.
//!
//! # Layout
//!
//! - [`config`]: flags, `CARTD_` variables, defaults and their checks.
//! - [`serve`]: wiring and running the HTTP server, the sweeper and graceful shutdown.
//! - [`admin`]: `migrate`, `catalog import`, `outbox list`, `token`, `openapi`, `health`.
//! - [`jwks`]: `jwks keygen`, `jwks serve` (a development identity provider).
//! - [`relay`]: the outbox relay, in `serve` and as `cartd relay`.
//! - [`worker`]: the order worker, in `serve` and as `cartd worker`.
//! - [`orders`]: `payments simulate`, `worker`, `dead-letters`.
//! - [`lambda`]: `cartd lambda`, the HTTP API, the relay and the worker as AWS Lambda functions.
//! - [`demo`]: the demo bookstore catalog.

mod admin;
mod config;
mod demo;
mod gauges;
mod jwks;
mod lambda;
mod orders;
mod pricing_file;
mod relay;
mod secrets;
mod serve;
mod telemetry;
mod worker;

use std::process::ExitCode;

use clap::Parser;
use opentelemetry_sdk::trace::SdkTracerProvider;

use config::{Cli, Command, LogFormat};

/// mimalloc instead of the system allocator: request handling allocates many small, short-lived
/// buffers, and glibc's malloc and free took a large share of the CPU on them under load
/// (docs/PERFORMANCE.md has the figures). Its v2 line (the `v2` feature), not v3: v3 commits its
/// first arena eagerly and then never returns freed pages of it, which kept peak RSS well above
/// v2's under the add load at the same CPU per request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The exit code for a bad setting or bad input, as clap uses for bad flags.
const EXIT_USAGE: u8 = 2;

/// Why a subcommand failed.
#[derive(Debug)]
enum Failure {
    /// A setting or an input file is wrong: exit 2.
    Usage(String),
    /// Anything else: exit 1.
    Runtime(anyhow::Error),
}

impl From<config::SettingError> for Failure {
    fn from(e: config::SettingError) -> Self {
        Self::Usage(format!("{}: {}", e.setting, e.reason))
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::Runtime(e)
    }
}

/// The service log, and traces when the standard `OTEL_EXPORTER_OTLP_*ENDPOINT` variables ask
/// for them (the relay and the worker run alone).
fn init_logging(format: LogFormat) -> Result<Option<SdkTracerProvider>, Failure> {
    let provider = telemetry::provider(None).map_err(Failure::Usage)?;
    init_logging_with(format, None, provider.as_ref())?;
    Ok(provider)
}

/// The service log on standard error (`CARTD_LOG` filters it), and, when `audit` names a file,
/// the audit log appended there as JSON lines (and left out of the service log). The audit
/// file's filter is its own, so a quiet `CARTD_LOG` never silences it.
fn init_logging_with(
    format: LogFormat,
    audit: Option<&std::path::Path>,
    traces: Option<&SdkTracerProvider>,
) -> Result<(), Failure> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let mut filter = tracing_subscriber::EnvFilter::try_from_env("CARTD_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let audit_file = match audit {
        None => None,
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    Failure::Usage(format!(
                        "CARTD_AUDIT_LOG: cannot open {}: {e}",
                        path.display()
                    ))
                })?;
            filter = filter.add_directive(
                format!("{}=off", cart_api::audit::TARGET)
                    .parse()
                    .map_err(|e| Failure::Runtime(anyhow::anyhow!("audit filter: {e}")))?,
            );
            Some(file)
        }
    };
    let service = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let service = match format {
        LogFormat::Json => service
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Text => service.boxed(),
    };
    let audit = audit_file.map(|file| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(std::sync::Mutex::new(file))
            .with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target(cart_api::audit::TARGET, tracing::Level::INFO),
            )
    });
    tracing_subscriber::registry()
        .with(service.with_filter(filter))
        .with(audit)
        .with(traces.map(telemetry::layer))
        .init();
    Ok(())
}

/// Turns transparent huge pages off for this process, first thing, before the runtime's
/// threads start. mimalloc asks the kernel for huge pages for its arenas
/// (`madvise(MADV_HUGEPAGE)`), so the first touch of each thread's heap made a whole 2 MiB page
/// resident: much more RSS, idle and under load, for no throughput measurable here
/// (docs/DECISIONS.md, "Memory"; docs/PERFORMANCE.md has the figures). If the kernel refuses,
/// cartd only uses more memory.
#[cfg(target_os = "linux")]
fn without_huge_pages() {
    let _ = nix::sys::prctl::set_thp_disable(true);
}

/// Huge pages are a Linux matter.
#[cfg(not(target_os = "linux"))]
fn without_huge_pages() {}

fn main() -> ExitCode {
    without_huge_pages();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // A bad value is one line naming the setting (clap's value_name is the variable).
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::InvalidValue | clap::error::ErrorKind::ValueValidation
            ) =>
        {
            let rendered = e.render().to_string();
            eprintln!(
                "{}",
                rendered.lines().next().unwrap_or("error: invalid value")
            );
            return ExitCode::from(EXIT_USAGE);
        }
        Err(e) => e.exit(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Traces are flushed after the command, outside the async context: the HTTP exporter's
    // blocking client may not be dropped inside it.
    let mut traces: Option<SdkTracerProvider> = None;
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => {
                traces =
                    telemetry::provider(args.otel_endpoint.as_deref()).map_err(Failure::Usage)?;
                init_logging_with(args.log_format, args.audit_log.as_deref(), traces.as_ref())?;
                serve::run(*args).await
            }
            Command::Relay(args) => {
                traces = init_logging(args.log_format)?;
                relay::run(*args).await
            }
            Command::Migrate(store) => admin::migrate(&store).await,
            Command::Catalog(config::CatalogCommand::Import { file, store }) => {
                admin::import_catalog(&file, &store).await
            }
            Command::Pricing(config::PricingCommand::Import { file, store }) => {
                admin::import_pricing(&file, &store).await
            }
            Command::Payments(config::PaymentsCommand::Simulate(mut args)) => {
                secrets::resolve(None, Some(&mut args.orders)).await?;
                orders::simulate(
                    args.order,
                    args.outcome,
                    &args.server,
                    &args.store,
                    &args.orders,
                )
                .await
            }
            Command::Worker(mut args) => {
                traces = init_logging(args.log_format)?;
                secrets::resolve(None, Some(&mut args.orders)).await?;
                orders::worker(*args).await
            }
            Command::DeadLetters(config::DeadLettersCommand::List { limit, store }) => {
                orders::list_dead_letters(limit, &store).await
            }
            Command::DeadLetters(config::DeadLettersCommand::Retry { order, store }) => {
                orders::retry_dead_letter(order, &store).await
            }
            Command::Outbox(config::OutboxCommand::List { limit, store }) => {
                admin::list_outbox(limit, &store).await
            }
            Command::Token(mut args) => {
                secrets::resolve(Some(&mut args.jwt), None).await?;
                admin::token(&args)
            }
            Command::Jwks(config::JwksCommand::Keygen { alg, out }) => jwks::keygen(&alg, &out),
            Command::Jwks(config::JwksCommand::Serve { keys, listen }) => {
                jwks::serve(keys, listen).await
            }
            Command::Openapi => {
                print!("{}", cart_api::openapi_json());
                Ok(())
            }
            Command::Lambda(args) => {
                traces = telemetry::provider(args.serve.otel_endpoint.as_deref())
                    .map_err(Failure::Usage)?;
                init_logging_with(
                    args.serve.log_format,
                    args.serve.audit_log.as_deref(),
                    traces.as_ref(),
                )?;
                lambda::run(*args).await
            }
            Command::Health(args) => admin::health(&args).await,
        }
    });
    if let Some(traces) = traces
        && let Err(e) = traces.shutdown()
    {
        eprintln!("warning: not every trace could be sent: {e}");
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
