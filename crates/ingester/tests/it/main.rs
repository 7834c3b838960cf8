//! Integration tests of the ingester: the simulator in-process, the real PostgreSQL of
//! `cargo xtask test` (`PG_URL` for the ingester role, `PG_ADMIN_URL` for clean-up).
//!
//! Tests run in parallel against one shared database, so each uses symbols no other test (or
//! test suite) writes, and deletes them before it starts.

mod exactness;
mod faults;
mod outage;
mod postgres_down;
mod startup;

use std::time::{Duration, Instant};

use clap::Parser;
use ingester::Config;
use market_sim::{RunningSim, SimConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// 2024-03-01T12:00:00.250Z: the simulator's market time at start-up.
pub const START: i64 = 1_709_294_400_250;
pub const MINUTE: i64 = 60_000;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run these tests with `cargo xtask test`, which starts PostgreSQL \
             and sets PG_URL and PG_ADMIN_URL"
        )
    })
}

pub fn pg_url() -> String {
    env("PG_URL")
}

pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to PostgreSQL ({url}): {error}"));
    tokio::spawn(connection);
    client
}

/// The superuser connection, with every row of `symbols` deleted.
pub async fn clean(symbols: &[&str]) -> tokio_postgres::Client {
    let admin = connect(&env("PG_ADMIN_URL")).await;
    let symbols: Vec<String> = symbols.iter().map(|s| s.to_string()).collect();
    for table in ["klines", "ticker_24h"] {
        admin
            .execute(
                &format!("DELETE FROM {table} WHERE symbol = ANY($1)"),
                &[&symbols],
            )
            .await
            .unwrap();
    }
    admin
}

/// A frozen simulator at `START` with `extra` flags.
pub async fn sim(extra: &[&str]) -> RunningSim {
    sim_on("127.0.0.1:0", START, "0", extra).await
}

/// A simulator on `listen` whose market starts at `start` and runs at `speed`.
pub async fn sim_on(listen: &str, start: i64, speed: &str, extra: &[&str]) -> RunningSim {
    let start = start.to_string();
    let mut args = vec![
        "market-sim",
        "--listen",
        listen,
        "--symbols",
        "200",
        "--speed",
        speed,
        "--start-time",
        &start,
    ];
    args.extend_from_slice(extra);
    RunningSim::start(SimConfig::parse_from(args))
        .await
        .unwrap()
}

/// An ingester configuration polling `base_url` for `symbols` every second.
pub fn config(base_url: &str, symbols: &[&str], extra: &[&str]) -> Config {
    let symbols = symbols.join(",");
    let mut args = vec![
        "ingester",
        "--binance-base-url",
        base_url,
        "--symbols",
        &symbols,
        "--ticker-period-secs",
        "1",
        "--kline-period-secs",
        "1",
        "--kline-history-hours",
        "1",
    ];
    if !extra.contains(&"--listen") {
        args.extend(["--listen", "127.0.0.1:0"]);
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

/// Polls `check` every 200 ms until it returns `Some`, panicking after `limit`.
pub async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A free local port, for a listener a test needs to know in advance.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Panics unless `times` are consecutive minutes.
pub fn assert_continuous(symbol: &str, times: &[i64]) {
    for pair in times.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            MINUTE,
            "{symbol}: gap between {} and {}",
            pair[0],
            pair[1]
        );
    }
}
