//! `cargo xtask test` and `cargo xtask run`: the two commands the README promises work on a
//! fresh machine. Both install what is missing and bring the stack up first.

use std::process::{Command, ExitCode, Stdio};

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use stack_fixtures::cargo::cargo;

use crate::config::Stack;
use crate::install::{build_packages, ensure_debian_packages};
use crate::services;
use crate::services::connect;

/// Runs the whole workspace's test suite against the running stack.
///
/// Each test works in a slice of the stack of its own (`stack-fixtures`) and removes it when it
/// ends; what a killed run left behind is removed before and after the suite, so the pipeline's
/// own database, topics and keyspace end as they were.
pub async fn test(stack: &Stack, cargo_test_args: &[String]) -> anyhow::Result<ExitCode> {
    ensure_debian_packages(&build_packages())?;
    services::up(stack).await?;
    let fixtures = stack.fixture_environment();
    stack_fixtures::remove_leftovers(&fixtures)
        .await
        .context("removing what an earlier test run left in the stack")?;
    let (_, connector) = connect::read_connector_file(stack)?;
    let topic_prefix = connector["topic.prefix"]
        .as_str()
        .context("the connector has no topic.prefix")?
        .to_owned();
    let footprint = || {
        stack_fixtures::pipeline_footprint(
            &fixtures,
            &topic_prefix,
            crate::config::PG_DATABASE,
            cassandra_schema::DEFAULT_KEYSPACE,
        )
    };
    let before = footprint().await?;
    let status = cargo()
        // Every test binary runs even after one fails, so one run shows every failure.
        .args(["test", "--no-fail-fast"])
        .args(workspace_unless_packages_named(cargo_test_args))
        .args(cargo_test_args)
        .envs(stack.client_environment())
        .current_dir(&stack.workspace_root)
        .status()
        .context("cannot run cargo test")?;
    // A test that failed may have stopped a service; bring it back before cleaning up.
    services::up(stack).await?;
    stack_fixtures::remove_leftovers(&fixtures)
        .await
        .context("removing what the tests left in the stack")?;
    // The tests work in slices of their own: the pipeline's own topics and tables must be as
    // they were (unless the pipeline itself ran meanwhile, e.g. `cargo xtask run`).
    let changes = before.changes(&footprint().await?);
    if !changes.is_empty() {
        anyhow::bail!(
            "the test suite wrote into the pipeline's own topics or tables (was `cargo xtask run` \
             running too?):\n  {}",
            changes.join("\n  ")
        );
    }
    tracing::info!(
        "the pipeline's own topics and tables are as the suite found them ({topic_prefix}.*, {}, \
         {})",
        crate::config::PG_DATABASE,
        cassandra_schema::DEFAULT_KEYSPACE
    );
    verify_pipeline_tables(stack)?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The pipeline's replicated tables, as `cdc-consumer verify --table` names them.
const REPLICATED_TABLES: [&str; 2] = ["ticker_24h", "klines"];

/// `cdc-consumer verify` over the whole of each replicated table of the pipeline itself, as a
/// user would run it after the suite: where the footprint counts writes, this compares the rows
/// (in the days PostgreSQL holds).
fn verify_pipeline_tables(stack: &Stack) -> anyhow::Result<()> {
    for table in REPLICATED_TABLES {
        let status = cargo()
            .args(["run", "--quiet", "-p", "cdc-consumer", "--", "verify"])
            .args(["--table", table, "--since", "2000-01-01T00:00:00Z"])
            .envs(stack.client_environment())
            // Read as Grafana's read-only role, as an operator would.
            .env("PG_URL", stack.pg_url("grafana", &stack.grafana_password))
            .env("RUST_LOG", "warn")
            .current_dir(&stack.workspace_root)
            .status()
            .context("cannot run cdc-consumer verify")?;
        anyhow::ensure!(
            status.success(),
            "after the suite, `cdc-consumer verify --table {table}` over the whole table found \
             differences between PostgreSQL and Cassandra (see above): a test wrote into the \
             pipeline's own keyspace or database"
        );
    }
    tracing::info!("verify over the whole of {REPLICATED_TABLES:?}: no difference");
    Ok(())
}

/// `--workspace`, unless the arguments name packages (`-p`/`--package`), which `--workspace`
/// would override.
fn workspace_unless_packages_named(cargo_test_args: &[String]) -> Option<&'static str> {
    let names_packages = cargo_test_args
        .iter()
        .take_while(|arg| *arg != "--")
        .any(|arg| arg == "-p" || arg.starts_with("--package") || arg.starts_with("-p"));
    (!names_packages).then_some("--workspace")
}

/// Where `--offline` runs the Binance simulator.
const SIMULATOR_ADDRESS: &str = "127.0.0.1:8089";

/// Builds the pipeline's binaries in release mode and runs them until Ctrl-C or SIGTERM: the
/// consumer, the ingester, and with `offline` the Binance simulator the ingester then polls.
pub async fn run(stack: &Stack, offline: bool) -> anyhow::Result<()> {
    ensure_debian_packages(&build_packages())?;
    services::up(stack).await?;
    let mut binaries = vec!["cdc-consumer", "ingester"];
    let mut environment = stack.client_environment();
    if offline {
        binaries.insert(1, "market-sim");
        environment.push(("MARKET_SIM_LISTEN".to_owned(), SIMULATOR_ADDRESS.to_owned()));
        environment.push((
            "BINANCE_BASE_URL".to_owned(),
            format!("http://{SIMULATOR_ADDRESS}"),
        ));
    }
    let status = cargo()
        .args(["build", "--release"])
        .args(binaries.iter().flat_map(|name| ["--bin", name]))
        .current_dir(&stack.workspace_root)
        .status()
        .context("cannot run cargo build")?;
    anyhow::ensure!(status.success(), "building the pipeline failed");

    let mut children = Vec::new();
    for binary in binaries {
        let path = stack.workspace_root.join("target/release").join(binary);
        let child = Command::new(&path)
            .envs(environment.iter().cloned())
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", path.display()))?;
        tracing::info!("started {binary} (pid {})", child.id());
        children.push(child);
    }
    wait_for_shutdown_signal().await?;
    // Stop the producers of data first, the consumer last, so it drains what they wrote.
    for child in children.iter_mut().rev() {
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let status = child.wait()?;
        tracing::info!("pid {} exited with {status}", child.id());
    }
    tracing::info!("the stack keeps running; `cargo xtask stack down` stops it");
    Ok(())
}

async fn wait_for_shutdown_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
