//! `ingester`: polls Binance Spot 24-hour tickers for the configured symbols and appends them to
//! PostgreSQL, from where Debezium streams every change.
//!
//! Each poll is one Binance request (the `symbols` list as compact JSON, paced by the client's
//! weight budget) and one PostgreSQL statement. A failed poll is logged and the next one goes on;
//! SIGTERM or Ctrl-C stops it between polls.

mod store;

use std::time::Duration;

use anyhow::Context;
use binance::{BinanceClient, ClientConfig, DEFAULT_BASE_URL};
use clap::Parser;
use tokio_postgres::NoTls;

#[derive(Parser, Debug)]
#[command(name = "ingester", about = "Polls Binance market data into PostgreSQL")]
struct Config {
    /// PostgreSQL connection string for the `ingester` role.
    #[arg(
        long,
        env = "PG_URL",
        default_value = "host=127.0.0.1 port=5432 user=ingester password=ingester dbname=crypto_db"
    )]
    pg_url: String,
    /// Binance Spot REST base URL (or the simulator's).
    #[arg(long, env = "BINANCE_BASE_URL", default_value = DEFAULT_BASE_URL)]
    binance_base_url: String,
    /// Symbols to track, comma-separated.
    #[arg(
        long,
        env = "INGESTER_SYMBOLS",
        value_delimiter = ',',
        default_value = "BTCUSDT,ETHUSDT,BNBUSDT,SOLUSDT,XRPUSDT"
    )]
    symbols: Vec<String>,
    /// Seconds between ticker polls.
    #[arg(long, env = "INGESTER_TICKER_PERIOD_SECS", default_value_t = 5)]
    ticker_period_secs: u64,
    /// Poll once and exit.
    #[arg(long, env = "INGESTER_ONCE")]
    once: bool,
    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_parser = service::LOG_FORMATS)]
    log_format: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    service::init_logging(&config.log_format, "info");
    let shutdown = service::shutdown_on_signals();

    let binance = BinanceClient::new(ClientConfig {
        base_url: config.binance_base_url.clone(),
        ..ClientConfig::default()
    })
    .context("configuring the Binance client")?;
    let (postgres, connection) = tokio_postgres::connect(&config.pg_url, NoTls)
        .await
        .context("connecting to PostgreSQL (PG_URL)")?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::error!("PostgreSQL connection lost: {error}");
        }
    });

    let mut ticks = tokio::time::interval(Duration::from_secs(config.ticker_period_secs.max(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let span = tracing::info_span!("poll", symbols = config.symbols.len());
        let _entered = span.enter();
        match poll_tickers(&binance, &postgres, &config.symbols).await {
            Ok(stored) => tracing::info!("Stored {stored} ticker records"),
            Err(error) => tracing::error!("ticker poll failed: {error:#}"),
        }
        if config.once {
            break;
        }
    }
    Ok(())
}

async fn poll_tickers(
    binance: &BinanceClient,
    postgres: &tokio_postgres::Client,
    symbols: &[String],
) -> anyhow::Result<u64> {
    let tickers = binance
        .ticker_24h(symbols)
        .await
        .context("GET /api/v3/ticker/24hr")?;
    let fetched_at = chrono::Utc::now();
    Ok(store::insert_tickers(postgres, &tickers, fetched_at).await?)
}
