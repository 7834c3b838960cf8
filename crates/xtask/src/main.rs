//! `cargo xtask`: the project's single entry point for automation.
//!
//! - `cargo xtask stack up|down|kill|status|logs [SERVICE]` manages the native stack: PostgreSQL,
//!   Kafka (KRaft), Kafka Connect with the Debezium connector, and Cassandra, installed at the
//!   versions pinned in `.env` (the same file `docker compose` reads) and run as plain processes;
//!   with `--ha`, three Cassandra nodes, three Kafka brokers and two Connect workers.
//! - `cargo xtask test` brings the stack up when needed and runs every test of the workspace.
//! - `cargo xtask run` runs the whole pipeline natively until Ctrl-C.
//! - `cargo xtask bench NAME` runs a benchmark and writes `bench/results/NAME.md`.
//! - `cargo xtask drill` injects faults into the running pipeline under load and checks that no
//!   change is lost (`bench/results/drill.md`).
//!
//! xtask itself needs no native libraries, so it can install what the rest of the workspace
//! needs to build (see `install::ensure_build_prerequisites`).

mod bench;
mod config;
mod fixtures;
mod install;
mod pipeline;
mod process;
mod readiness;
mod services;
mod versions;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::StackConfig;
use crate::services::Service;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Install, run and test the crypto CDC pipeline natively"
)]
struct Cli {
    #[command(flatten)]
    stack: StackConfig,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage the native stack of real services.
    Stack {
        #[command(subcommand)]
        action: StackAction,
    },
    /// Bring the stack up if needed, then run the whole test suite (extra args go to `cargo test`).
    Test {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cargo_test_args: Vec<String>,
    },
    /// Record the real Debezium connector's messages for every column type into the decoder's
    /// test fixtures (crates/debezium/tests/fixtures/).
    CaptureFixtures,
    /// Run a benchmark against the stack and write bench/results/NAME.md.
    Bench { benchmark: bench::Benchmark },
    /// The chaos drill: the pipeline under steady load while a consumer and Connect are killed,
    /// Cassandra and Kafka stopped, PostgreSQL restarted and Binance storms, one at a time; then
    /// `verify` on both tables. Writes bench/results/drill.md (drill-short.md) and its plot.
    /// `--profile ceiling` instead raises the load step by step to find the pipeline's ceiling
    /// (bench/results/ceiling.md).
    Drill {
        #[command(flatten)]
        drill: bench::DrillArgs,
    },
    /// Run the pipeline natively (stack, ingester, consumer) until Ctrl-C.
    Run {
        /// Poll the bundled Binance simulator instead of the real Binance API.
        #[arg(long)]
        offline: bool,
    },
}

#[derive(Subcommand)]
enum StackAction {
    /// Install what is missing, start every service, apply schemas, register the connector.
    Up,
    /// Stop the services that `up` started, or only SERVICE (data stays in the state directory).
    Down {
        service: Option<Service>,
        /// Only this node of SERVICE (1, 2, 3 on the high-availability stack).
        #[arg(long, requires = "service")]
        node: Option<u8>,
    },
    /// Kill SERVICE with SIGKILL, as a crash would end it (`up` starts it again).
    Kill {
        service: Service,
        /// Only this node of SERVICE.
        #[arg(long)]
        node: Option<u8>,
    },
    /// Show each service as healthy or not.
    Status,
    /// Print the environment under which clients find the stack (`PG_URL`, `KAFKA_BROKERS`, …)
    /// as shell `export` lines, for `eval "$(cargo xtask stack env)"` in scripts.
    Env,
    /// Print the tail of a service's log (all services when none is named).
    Logs {
        service: Option<Service>,
        /// Only this node of SERVICE.
        #[arg(long, requires = "service")]
        node: Option<u8>,
        /// How many lines of each log to print.
        #[arg(long, default_value_t = 60)]
        lines: usize,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,scylla=off,rskafka=error".into()),
        )
        .with_target(false)
        .without_time()
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let stack = cli.stack.resolve()?;
    match cli.command {
        Command::Stack { action } => match action {
            StackAction::Up => services::up(&stack).await?,
            StackAction::Down { service, node } => services::down(&stack, service, node)?,
            StackAction::Kill { service, node } => services::kill(&stack, service, node)?,
            StackAction::Status => {
                let all_healthy = services::status(&stack).await;
                return Ok(if all_healthy {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            StackAction::Logs {
                service,
                node,
                lines,
            } => services::print_logs(&stack, service, node, lines),
            StackAction::Env => {
                for (name, value) in stack.client_environment() {
                    println!("export {name}='{}'", value.replace('\'', r"'\''"));
                }
            }
        },
        Command::Test { cargo_test_args } => {
            return pipeline::test(&stack, &cargo_test_args).await;
        }
        Command::Bench { benchmark } => bench::run(&stack, benchmark).await?,
        Command::Drill { drill } => bench::drill(&stack, &drill).await?,
        Command::Run { offline } => pipeline::run(&stack, offline).await?,
        Command::CaptureFixtures => {
            services::up(&stack).await?;
            fixtures::capture(&stack).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
