//! Start-up: symbols are checked against exchangeInfo (an unknown one stops the binary with a
//! non-zero status naming it), `all` means every TRADING pair of the quote asset, and a kline
//! interval given twice counts once.

use std::process::Command;

use std::time::Duration;

use market_sim::SimConfig;

use crate::{
    MINUTE, config, continuous_span, database, eventually, frozen_market, market_now, open_times,
    sim, spawn, stop,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_symbol_stops_the_ingester_naming_it() {
    // Start-up fails before any write; a database of its own all the same, in case it did not.
    let database = database("unknown_symbol").await;
    let pg_url = database.ingester_url();
    let sim = sim(frozen_market()).await;
    let base_url = sim.base_url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_ingester"))
            .args([
                "--symbols",
                "BTCUSDT,NOPEUSDT",
                "--listen",
                "127.0.0.1:0",
                "--once",
            ])
            .env("BINANCE_BASE_URL", base_url)
            .env("PG_URL", pg_url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("unknown symbol(s) not listed in exchangeInfo: NOPEUSDT"),
        "{stderr}"
    );
    sim.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_tracks_every_trading_pair_of_the_quote_asset() {
    let database = database("all_btc_pairs").await;
    let admin = database.admin().await;
    let sim = sim(frozen_market()).await;
    ingester::run(
        config(
            &database.ingester_url(),
            &sim.base_url(),
            &["all"],
            &["--quote-asset", "BTC", "--once"],
        ),
        Default::default(),
    )
    .await
    .unwrap();
    // ETHBTC and BNBBTC are the simulator's only BTC-quoted pairs. The database is the test's
    // own, so any other symbol in it would be one the ingester should not have tracked.
    for table in ["ticker_24h", "klines"] {
        let rows = admin
            .query(
                &format!("SELECT DISTINCT symbol FROM {table} ORDER BY symbol"),
                &[],
            )
            .await
            .unwrap();
        let symbols: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
        assert_eq!(symbols, ["BNBBTC", "ETHBTC"], "{table}");
    }
    sim.stop().await.unwrap();
}

/// `--kline-intervals 1m,1m` asks for each 1m series twice. Fetched twice into one batch, every
/// candle would be in the batched upsert twice, which PostgreSQL refuses as a whole, at every
/// poll, for every series in the batch; the interval counts once instead, and every series is
/// stored, each candle once, and kept current while the market moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_kline_interval_counts_once_and_every_series_stays_current() {
    const SYMBOLS: [&str; 2] = ["SYM0161USDT", "SYM0162USDT"];
    let database = database("repeated_interval").await;
    let admin = database.admin().await;
    // A market minute per second.
    let sim = sim(SimConfig {
        speed: 60.0,
        ..frozen_market()
    })
    .await;
    let running = spawn(config(
        &database.ingester_url(),
        &sim.base_url(),
        &SYMBOLS,
        &["--kline-intervals", "1m,1m"],
    ));
    let later = market_now(&sim).await + 5 * MINUTE;
    eventually(
        "every series five market minutes on",
        Duration::from_secs(60),
        || async {
            for symbol in SYMBOLS {
                if open_times(&admin, symbol).await.last()? < &(later / MINUTE * MINUTE) {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    stop(running).await;
    for symbol in SYMBOLS {
        let span = continuous_span(symbol, &open_times(&admin, symbol).await);
        assert!(
            span.end() - span.start() >= 65 * MINUTE,
            "{symbol}: an hour of history and five minutes on: {span:?}"
        );
    }
    sim.stop().await.unwrap();
}
