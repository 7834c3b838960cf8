//! Start-up: symbols are checked against exchangeInfo (an unknown one stops the binary with a
//! non-zero status naming it), and `all` means every TRADING pair of the quote asset.

use std::process::Command;

use crate::{clean, config, pg_url, sim};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_symbol_stops_the_ingester_naming_it() {
    let sim = sim(&[]).await;
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
            .env("PG_URL", pg_url())
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
    // The simulator lists ETHBTC and BNBBTC; no other test writes BTC-quoted pairs.
    let admin = clean(&["ETHBTC", "BNBBTC"]).await;
    let sim = sim(&[]).await;
    ingester::run(
        config(
            &sim.base_url(),
            &["all"],
            &["--quote-asset", "BTC", "--once"],
        ),
        Default::default(),
    )
    .await
    .unwrap();
    let rows = admin
        .query(
            "SELECT DISTINCT symbol FROM ticker_24h WHERE symbol IN ('ETHBTC', 'BNBBTC')
              ORDER BY symbol",
            &[],
        )
        .await
        .unwrap();
    let symbols: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    assert_eq!(symbols, ["BNBBTC", "ETHBTC"]);
    sim.stop().await.unwrap();
}
