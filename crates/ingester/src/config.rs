//! The ingester's configuration: one flag per setting, each also settable from the environment.
//! `PG_URL` and `BINANCE_BASE_URL` keep the names every binary of the pipeline shares; the rest
//! are `INGESTER_…`.

use std::net::SocketAddr;
use std::time::Duration;

use binance::{DEFAULT_BASE_URL, Interval};
use clap::Parser;

use crate::symbols::ALL;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "ingester",
    version,
    about = "Polls Binance market data into PostgreSQL"
)]
pub struct Config {
    /// PostgreSQL connection string for the `ingester` role (a development default for the
    /// local stack exists). Prefer the environment variable: a flag's value shows in the
    /// process list.
    #[arg(
        long,
        env = "PG_URL",
        default_value = "host=127.0.0.1 port=5432 user=ingester password=ingester dbname=crypto_db",
        hide_default_value = true,
        hide_env_values = true
    )]
    pub pg_url: String,
    /// Binance Spot REST base URL (or the simulator's).
    #[arg(long, env = "BINANCE_BASE_URL", default_value = DEFAULT_BASE_URL)]
    pub binance_base_url: String,
    /// Symbols to track, comma-separated, or `all`: every TRADING pair of `--quote-asset`.
    /// Each is checked against exchangeInfo at start-up; an unknown one stops the ingester.
    #[arg(
        long,
        env = "INGESTER_SYMBOLS",
        value_delimiter = ',',
        default_value = "BTCUSDT,ETHUSDT,BNBUSDT,SOLUSDT,XRPUSDT"
    )]
    pub symbols: Vec<String>,
    /// Quote asset whose pairs `--symbols all` tracks.
    #[arg(long, env = "INGESTER_QUOTE_ASSET", default_value = "USDT")]
    pub quote_asset: String,
    /// Seconds between ticker polls.
    #[arg(long, env = "INGESTER_TICKER_PERIOD_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub ticker_period_secs: u64,
    /// Seconds between kline passes (each also backfills whatever is missing; a longer pass is
    /// followed by the next at once).
    #[arg(long, env = "INGESTER_KLINE_PERIOD_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub kline_period_secs: u64,
    /// Kline intervals to store, comma-separated (1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M);
    /// one given twice counts once.
    #[arg(
        long,
        env = "INGESTER_KLINE_INTERVALS",
        value_delimiter = ',',
        default_value = "1m"
    )]
    pub kline_intervals: Vec<Interval>,
    /// Hours of kline history fetched for a (symbol, interval) with nothing stored yet
    /// [default: 24, or 6 with `--symbols all`].
    #[arg(long, env = "INGESTER_KLINE_HISTORY_HOURS")]
    pub kline_history_hours: Option<u64>,
    /// Days of data PostgreSQL keeps (1 to 365), counted back from each table's newest row:
    /// older daily partitions are dropped every hour, and Cassandra keeps their rows.
    #[arg(long, env = "INGESTER_PG_RETENTION_DAYS", default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub pg_retention_days: u32,
    /// Ticker polls kept while PostgreSQL is unreachable; beyond it the oldest are dropped.
    #[arg(long, env = "INGESTER_BUFFER_POLLS", default_value_t = 720, value_parser = clap::value_parser!(u64).range(1..))]
    pub buffer_polls: u64,
    /// Consecutive failed ticker polls (Binance), or failed passes of one kline series, after
    /// which /healthz reports them.
    #[arg(long, env = "INGESTER_UNHEALTHY_AFTER_FAILURES", default_value_t = 3)]
    pub unhealthy_after_failures: u32,
    /// Share of Binance's request-weight limit this ingester may spend (0..=1); a part of it is
    /// kept for ticker polls, which the kline backfill may not spend.
    #[arg(long, env = "INGESTER_WEIGHT_SHARE", default_value_t = 0.5)]
    pub weight_share: f64,
    /// Address of the /metrics and /healthz endpoints.
    #[arg(
        long,
        env = "INGESTER_METRICS_LISTEN",
        default_value = "127.0.0.1:9101"
    )]
    pub listen: SocketAddr,
    /// One ticker poll and one kline pass, then exit; non-zero when either was not stored.
    #[arg(long, env = "INGESTER_ONCE")]
    pub once: bool,
    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_parser = service::LOG_FORMATS)]
    pub log_format: String,
}

impl Config {
    pub fn ticker_period(&self) -> Duration {
        Duration::from_secs(self.ticker_period_secs)
    }

    pub fn kline_period(&self) -> Duration {
        Duration::from_secs(self.kline_period_secs)
    }

    /// The history a new series starts with: as configured, or by default a day, except when
    /// tracking every pair, where a day of hundreds of series is half a million candles and as
    /// many change events of 7.5 KB each; six hours fill the market dashboard's default range.
    pub fn kline_history(&self) -> Duration {
        let tracks_all =
            matches!(self.symbols.as_slice(), [only] if only.eq_ignore_ascii_case(ALL));
        let hours = self
            .kline_history_hours
            .unwrap_or(if tracks_all { 6 } else { 24 });
        Duration::from_secs(hours.saturating_mul(3600))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(args: &[&str]) -> Duration {
        let mut argv = vec!["ingester"];
        argv.extend_from_slice(args);
        Config::try_parse_from(argv).unwrap().kline_history()
    }

    #[test]
    fn a_new_series_gets_a_day_of_history_or_six_hours_with_every_pair() {
        const HOUR: u64 = 3600;
        assert_eq!(history(&[]), Duration::from_secs(24 * HOUR));
        assert_eq!(
            history(&["--symbols", "BTCUSDT"]),
            Duration::from_secs(24 * HOUR)
        );
        assert_eq!(
            history(&["--symbols", "all"]),
            Duration::from_secs(6 * HOUR)
        );
        assert_eq!(
            history(&["--symbols", "ALL"]),
            Duration::from_secs(6 * HOUR)
        );
        assert_eq!(
            history(&["--symbols", "all", "--kline-history-hours", "24"]),
            Duration::from_secs(24 * HOUR)
        );
        assert_eq!(history(&["--kline-history-hours", "0"]), Duration::ZERO);
    }
}
