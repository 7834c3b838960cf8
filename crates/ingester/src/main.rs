//! The `ingester` binary: parses the configuration, sets up logging and signal handling, and
//! runs the poll loop until SIGTERM or Ctrl-C (or for one poll with `--once`).

use clap::Parser;
use ingester::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    service::init_logging(&config.log_format, "info");
    let shutdown = service::shutdown_on_signals();
    ingester::run(config, shutdown).await?;
    Ok(())
}
