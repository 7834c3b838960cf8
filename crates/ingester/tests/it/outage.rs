//! Gap-free klines: after ten market minutes without polling — the ingester stopped, or Binance
//! unreachable while it runs — every 1m candle is in PostgreSQL.

use std::time::Duration;

use crate::{
    MINUTE, START, assert_continuous, clean, config, eventually, free_port, open_times, sim,
    sim_on, spawn, stop,
};

const TEN_MINUTES: i64 = 10 * MINUTE;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_ten_minutes_backfills_every_candle() {
    const SYMBOLS: [&str; 2] = ["SYM0111USDT", "SYM0112USDT"];
    let admin = clean(&SYMBOLS).await;
    let sim = sim(&[]).await;
    let once = || config(&sim.base_url(), &SYMBOLS, &["--once"]);
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
        let times = open_times(&admin, symbol).await;
        assert_continuous(symbol, &times);
        assert_eq!(
            times.first(),
            Some(&(START / MINUTE * MINUTE - 60 * MINUTE))
        );
        assert_eq!(
            times.last(),
            Some(&open_now),
            "{symbol}: up to the open candle"
        );
    }
    sim.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_unreachable_for_ten_minutes_leaves_no_gap() {
    const SYMBOL: &str = "SYM0113USDT";
    let admin = clean(&[SYMBOL]).await;
    let listen = format!("127.0.0.1:{}", free_port());
    let first = sim_on(&listen, START, "0", &[]).await;
    let running = spawn(config(&first.base_url(), &[SYMBOL], &[]));
    let first_open = START / MINUTE * MINUTE;
    eventually("the first klines", Duration::from_secs(30), || async {
        (open_times(&admin, SYMBOL).await.last() == Some(&first_open)).then_some(())
    })
    .await;

    // Binance goes away; when it is back, its clock is ten minutes on.
    first.stop().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let second = sim_on(&listen, START + TEN_MINUTES, "0", &[]).await;
    let open_now = (START + TEN_MINUTES) / MINUTE * MINUTE;
    eventually("the backfill", Duration::from_secs(60), || async {
        (open_times(&admin, SYMBOL).await.last() == Some(&open_now)).then_some(())
    })
    .await;
    stop(running).await;

    let times = open_times(&admin, SYMBOL).await;
    assert_continuous(SYMBOL, &times);
    assert_eq!(times.len(), 61 + 10);
    second.stop().await.unwrap();
}
