//! Integration tests of the ingester: the simulator in-process, and PostgreSQL as `cargo xtask
//! test` runs it. Each test writes a database of its own ([`database`]: the pipeline's schema,
//! dropped when the test ends), so tests run in parallel without seeing each other's rows, and
//! nothing any of them writes reaches the pipeline's own database.

mod calm_start;
mod exactness;
mod faults;
mod help;
mod outage;
mod partitions;
mod postgres_down;
mod startup;

use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use clap::Parser;
use ingester::Config;
use market_sim::{RunningSim, SimConfig};
use stack_fixtures::{StackEnvironment, TestDatabase, unique_name};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// 2024-03-01T12:00:00.250Z: the simulator's market time at start-up.
pub const START: i64 = 1_709_294_400_250;
pub const MINUTE: i64 = 60_000;
/// Open time of the candle open at [`START`]: the newest a frozen simulator serves.
pub const START_CANDLE: i64 = START / MINUTE * MINUTE;
/// Open time of the oldest candle of the hour of history a new series starts with, when the
/// ingester first polls at [`START`].
pub const HISTORY_START: i64 = START_CANDLE - 60 * MINUTE;

/// A fresh database with the pipeline's schema for one test, named after `label`. Keep it for
/// the whole test: dropping it drops the database.
pub async fn database(label: &str) -> TestDatabase {
    TestDatabase::create(&StackEnvironment::from_env(), &unique_name(label)).await
}

/// The settings of these tests' simulator: a frozen clock at [`START`] and 200 symbols. A test
/// changes what it needs with struct update syntax.
pub fn frozen_market() -> SimConfig {
    SimConfig {
        symbols: 200,
        speed: 0.0,
        start_time: Some(START),
        ..SimConfig::in_process()
    }
}

/// A simulator started in-process with `config`.
pub async fn sim(config: SimConfig) -> RunningSim {
    RunningSim::start(config)
        .await
        .expect("starting the simulator")
}

/// An ingester configuration writing to `pg_url` and polling `base_url` for `symbols` every
/// second, with an hour of kline history, unless `extra` says otherwise. The URL is always
/// given: the default, and `PG_URL`, name the pipeline's database.
pub fn config(pg_url: &str, base_url: &str, symbols: &[&str], extra: &[&str]) -> Config {
    let symbols = symbols.join(",");
    let mut args = vec![
        "ingester",
        "--pg-url",
        pg_url,
        "--binance-base-url",
        base_url,
        "--symbols",
        &symbols,
    ];
    for (flag, value) in [
        ("--ticker-period-secs", "1"),
        ("--kline-period-secs", "1"),
        ("--kline-history-hours", "1"),
        ("--listen", "127.0.0.1:0"),
    ] {
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(extra);
    Config::parse_from(args)
}

/// The ingester running in the background until the returned token is cancelled.
pub fn spawn(
    config: Config,
) -> (
    CancellationToken,
    JoinHandle<Result<(), ingester::IngestError>>,
) {
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(ingester::run(config, shutdown.clone()));
    (shutdown, task)
}

/// Stops a background ingester and checks it ended cleanly.
pub async fn stop(
    (shutdown, task): (
        CancellationToken,
        JoinHandle<Result<(), ingester::IngestError>>,
    ),
) {
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("the ingester did not stop within 60 s")
        .expect("the ingester panicked")
        .expect("the ingester failed");
}

/// Polls `check` every 200 ms until it returns `Some`, or gives up with `None` after `limit`.
pub async fn within<T, F: Future<Output = Option<T>>>(
    limit: Duration,
    mut check: impl FnMut() -> F,
) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls `check` every 200 ms until it returns `Some`, panicking after `limit`.
pub async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    check: impl FnMut() -> F,
) -> T {
    within(limit, check)
        .await
        .unwrap_or_else(|| panic!("timed out after {limit:?} waiting for {what}"))
}

/// A free local port, for a listener a test needs to know in advance.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free local port")
        .port()
}

/// GET `url`, waiting up to 30 s for the ingester (started in the background) to listen.
pub async fn get(url: &str) -> (u16, String) {
    let response = eventually(
        "the ingester's operations endpoint",
        Duration::from_secs(30),
        || async { reqwest::get(url).await.ok() },
    )
    .await;
    let status = response.status().as_u16();
    (status, response.text().await.expect("a response body"))
}

/// The value of one sample in Prometheus text, 0 when absent.
pub fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The value of one sample on the `/metrics` of an ingester listening on `listen`.
pub async fn metric(listen: &str, name: &str) -> f64 {
    let (_, metrics) = get(&format!("http://{listen}/metrics")).await;
    sample(&metrics, name)
}

/// The simulator's market time now (`GET /admin/now`).
pub async fn market_now(sim: &RunningSim) -> i64 {
    let now: serde_json::Value = reqwest::get(format!("{}/admin/now", sim.base_url()))
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("GET /admin/now")
        .json()
        .await
        .expect("/admin/now is JSON");
    now["now"].as_i64().expect("/admin/now has a number `now`")
}

/// Stored open times (ms) of a 1m series, oldest first.
pub async fn open_times(postgres: &tokio_postgres::Client, symbol: &str) -> Vec<i64> {
    postgres
        .query(
            "SELECT (extract(epoch FROM open_time) * 1000)::bigint FROM klines
              WHERE symbol = $1 AND interval = '1m' ORDER BY open_time",
            &[&symbol],
        )
        .await
        .expect("reading open times")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// The first and last of `times`, after checking that they are every minute in between: the
/// series has no gap. Panics when there is a gap or no candle at all, so a caller's check of the
/// ends is what decides whether the series is long enough.
pub fn continuous_span(symbol: &str, times: &[i64]) -> RangeInclusive<i64> {
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        panic!("{symbol}: no 1m candle stored");
    };
    for pair in times.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            MINUTE,
            "{symbol}: gap between {} and {}",
            pair[0],
            pair[1]
        );
    }
    first..=last
}
