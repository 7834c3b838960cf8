//! The simulator's configuration: one flag per setting, each also settable from the
//! environment as `MARKET_SIM_<NAME>`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

use crate::faults::FaultRates;
use crate::limiter::LimiterConfig;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "market-sim",
    version,
    about = "A Binance-compatible Spot REST simulator"
)]
pub struct SimConfig {
    /// Address to listen on.
    #[arg(long, env = "MARKET_SIM_LISTEN", default_value = "127.0.0.1:8089")]
    pub listen: SocketAddr,
    /// Number of listed symbols: well-known pairs (BTCUSDT, ETHUSDT, …) first, then
    /// SYM0001USDT, SYM0002USDT, ….
    #[arg(long, env = "MARKET_SIM_SYMBOLS", default_value_t = 400)]
    pub symbols: usize,
    /// Seed of every price path and fault draw: the same seed gives the same market.
    #[arg(long, env = "MARKET_SIM_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Market milliseconds per real millisecond: 1 is real time, 60 is a market minute per
    /// second, 0 freezes the clock (it then moves only by POST /admin/advance).
    #[arg(long, env = "MARKET_SIM_SPEED", default_value_t = 1.0, value_parser = non_negative)]
    pub speed: f64,
    /// Market time at start-up, in Unix milliseconds; the real time when not given.
    #[arg(long, env = "MARKET_SIM_START_TIME")]
    pub start_time: Option<i64>,
    /// REQUEST_WEIGHT allowed per window, as listed in exchangeInfo (Binance: 6000).
    #[arg(long, env = "MARKET_SIM_WEIGHT_LIMIT", default_value_t = 6000)]
    pub weight_limit: u32,
    /// Length of the weight window in real seconds (Binance: 60). Shorter windows make
    /// rate-limit tests fast; exchangeInfo and the X-MBX-USED-WEIGHT-… header name follow it.
    #[arg(long, env = "MARKET_SIM_WEIGHT_WINDOW_SECS", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub weight_window_secs: u32,
    /// Requests sent during a 429 period before the IP is banned with 418.
    #[arg(long, env = "MARKET_SIM_BAN_AFTER", default_value_t = 5)]
    pub ban_after: u32,
    /// Length of a 418 ban in seconds (Binance's shortest is 120); a request sent during a ban
    /// restarts it.
    #[arg(long, env = "MARKET_SIM_BAN_SECS", default_value_t = 120)]
    pub ban_secs: u32,
    /// Latency added to every market-data response, in milliseconds.
    #[arg(long, env = "MARKET_SIM_LATENCY_MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// Share of market-data requests answered with HTTP 500 (0..=1).
    #[arg(long, env = "MARKET_SIM_ERROR_RATE", default_value_t = 0.0, value_parser = rate)]
    pub error_rate: f64,
    /// Share of successful responses whose body is cut in half (0..=1).
    #[arg(long, env = "MARKET_SIM_TRUNCATE_RATE", default_value_t = 0.0, value_parser = rate)]
    pub truncate_rate: f64,
    /// Share of successful responses with one decimal malformed, e.g. "4.00000200.4" (0..=1).
    #[arg(long, env = "MARKET_SIM_MALFORMED_RATE", default_value_t = 0.0, value_parser = rate)]
    pub malformed_rate: f64,
    /// Symbols whose klines always answer HTTP 500, comma-separated: one series failing for
    /// good while every other goes on.
    #[arg(long, env = "MARKET_SIM_BROKEN_KLINE_SYMBOLS", value_delimiter = ',')]
    pub broken_kline_symbols: Vec<String>,
    /// Log format: `text` for people, `json` for log pipelines (the same variable as the
    /// pipeline's other binaries read).
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_parser = service::LOG_FORMATS)]
    pub log_format: String,
}

impl SimConfig {
    /// The settings of a simulator started in-process (tests, benchmarks): every flag's default,
    /// nothing read from the environment or the command line, listening on a free port of
    /// 127.0.0.1. Change settings with struct update syntax:
    /// `SimConfig { symbols: 40, ..SimConfig::in_process() }`.
    pub fn in_process() -> Self {
        // The defaults come from the flags themselves, with every env binding cut, so that a
        // MARKET_SIM_* or LOG_FORMAT variable of the test process cannot leak in.
        let matches = <Self as clap::CommandFactory>::command()
            .mut_args(|arg| arg.env(None))
            .try_get_matches_from(["market-sim"])
            .expect("the simulator's flag defaults do not parse: a bug in SimConfig");
        let mut config = <Self as clap::FromArgMatches>::from_arg_matches(&matches)
            .expect("the simulator's flag defaults do not make a SimConfig: a bug in SimConfig");
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config
    }

    pub fn limiter(&self) -> LimiterConfig {
        LimiterConfig {
            limit: self.weight_limit,
            window_ms: i64::from(self.weight_window_secs) * 1000,
            violations_before_ban: self.ban_after,
            ban_ms: i64::from(self.ban_secs) * 1000,
        }
    }

    pub fn fault_rates(&self) -> FaultRates {
        FaultRates {
            latency: Duration::from_millis(self.latency_ms),
            server_error: self.error_rate,
            truncated_body: self.truncate_rate,
            malformed_number: self.malformed_rate,
        }
    }
}

fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value >= 0.0 && value.is_finite() => Ok(value),
        _ => Err(format!("{text:?} is not a non-negative number")),
    }
}

fn rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(value),
        _ => Err(format!("{text:?} is not a rate between 0 and 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_process_settings_ignore_the_environment() {
        // SAFETY: no other test of this crate reads or writes the environment.
        unsafe { std::env::set_var("MARKET_SIM_SYMBOLS", "7") };
        let in_process = SimConfig::in_process();
        let from_flags = SimConfig::parse_from(["market-sim"]);
        unsafe { std::env::remove_var("MARKET_SIM_SYMBOLS") };
        assert_eq!(
            in_process.symbols, 400,
            "the flag's default, not the environment"
        );
        assert_eq!(
            from_flags.symbols, 7,
            "the command line does read the environment"
        );
        assert_eq!(in_process.listen.port(), 0, "a free port");
        assert!(in_process.listen.ip().is_loopback());
    }
}
