//! The `market-sim` binary: reads the configuration, sets up logging, binds the listener and
//! serves until SIGTERM or SIGINT.

use anyhow::Context;
use clap::Parser;
use market_sim::SimConfig;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = SimConfig::parse();
    service::init_logging(&config.log_format, "info");
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let shutdown = service::shutdown_on_signals();
    market_sim::serve(config, listener, shutdown)
        .await
        .context("serving")?;
    tracing::info!("market-sim stopped");
    Ok(())
}
