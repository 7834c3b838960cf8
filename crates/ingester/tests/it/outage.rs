//! Gap-free klines: after ten market minutes without polling — the ingester stopped, or Binance
//! unreachable while it runs — every 1m candle is in PostgreSQL.

use std::net::SocketAddr;
use std::time::Duration;

use market_sim::SimConfig;

use crate::{
    HISTORY_START, MINUTE, START, START_CANDLE, config, continuous_span, database, eventually,
    free_port, frozen_market, metric, open_times, sim, spawn, stop,
};

const TEN_MINUTES: i64 = 10 * MINUTE;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_ten_minutes_backfills_every_candle() {
    const SYMBOLS: [&str; 2] = ["SYM0111USDT", "SYM0112USDT"];
    let database = database("restart_backfill").await;
    let admin = database.admin().await;
    let sim = sim(frozen_market()).await;
    let once = || {
        config(
            &database.ingester_url(),
            &sim.base_url(),
            &SYMBOLS,
            &["--once"],
        )
    };
    ingester::run(once(), Default::default()).await.unwrap();

    let advanced = reqwest::Client::new()
        .post(format!("{}/admin/advance?ms={TEN_MINUTES}", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert!(advanced.status().is_success());
    ingester::run(once(), Default::default()).await.unwrap();

    let open_now = (START + TEN_MINUTES) / MINUTE * MINUTE;
    for symbol in SYMBOLS {
        assert_eq!(
            continuous_span(symbol, &open_times(&admin, symbol).await),
            HISTORY_START..=open_now,
            "{symbol}: the first run's hour of history up to the open candle"
        );
    }
    sim.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_unreachable_for_ten_minutes_leaves_no_gap() {
    const SYMBOL: &str = "SYM0113USDT";
    let database = database("binance_unreachable").await;
    let admin = database.admin().await;
    let binance = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let operations = format!("127.0.0.1:{}", free_port());
    let first = sim(SimConfig {
        listen: binance,
        ..frozen_market()
    })
    .await;
    let running = spawn(config(
        &database.ingester_url(),
        &first.base_url(),
        &[SYMBOL],
        &["--listen", &operations],
    ));
    eventually("the first klines", Duration::from_secs(30), || async {
        (open_times(&admin, SYMBOL).await.last() == Some(&START_CANDLE)).then_some(())
    })
    .await;

    // Binance goes away until the ingester has given up on a request to it; when it is back,
    // its clock is ten minutes on.
    first.stop().await.unwrap();
    let unreachable = "ingester_errors_total{kind=\"binance_transport\"}";
    eventually(
        "a request to the stopped simulator to fail",
        Duration::from_secs(30),
        || async { (metric(&operations, unreachable).await >= 1.0).then_some(()) },
    )
    .await;
    let second = sim(SimConfig {
        listen: binance,
        start_time: Some(START + TEN_MINUTES),
        ..frozen_market()
    })
    .await;
    let open_now = (START + TEN_MINUTES) / MINUTE * MINUTE;
    eventually("the backfill", Duration::from_secs(60), || async {
        (open_times(&admin, SYMBOL).await.last() == Some(&open_now)).then_some(())
    })
    .await;
    stop(running).await;

    assert_eq!(
        continuous_span(SYMBOL, &open_times(&admin, SYMBOL).await),
        HISTORY_START..=open_now
    );
    second.stop().await.unwrap();
}
