//! Binance misbehaving: 5xx, truncated and malformed bodies, 429 and 418. The ingester keeps
//! going, skips what it cannot parse (counted on /metrics), and never overspends weight.

use std::time::{Duration, Instant};

use crate::{
    MINUTE, START, assert_continuous, clean, config, eventually, free_port, open_times, sim, spawn,
    stop,
};

async fn ticker_rows(admin: &tokio_postgres::Client, symbol: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM ticker_24h WHERE symbol = $1",
            &[&symbol],
        )
        .await
        .unwrap()
        .get(0)
}

/// GET `url`, waiting up to 30 s for the ingester (started in the background) to listen.
async fn get(url: &str) -> (u16, String) {
    let response = eventually(
        "the ingester's operations endpoint",
        Duration::from_secs(30),
        || async { reqwest::get(url).await.ok() },
    )
    .await;
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The value of one sample in Prometheus text, 0 when absent.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storms_of_5xx_and_truncated_bodies_are_survived() {
    const SYMBOL: &str = "SYM0131USDT";
    let admin = clean(&[SYMBOL]).await;
    let sim = sim(&["--error-rate", "0.3", "--truncate-rate", "0.2"]).await;
    let running = spawn(config(&sim.base_url(), &[SYMBOL], &[]));
    eventually(
        "five ticker polls through the storm",
        Duration::from_secs(60),
        || async { (ticker_rows(&admin, SYMBOL).await >= 5).then_some(()) },
    )
    .await;
    assert!(!running.1.is_finished());
    stop(running).await;
    let times = open_times(&admin, SYMBOL).await;
    assert_continuous(SYMBOL, &times);
    assert_eq!(times.last(), Some(&(START / MINUTE * MINUTE)));
    sim.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_response_is_counted_and_skipped() {
    const SYMBOL: &str = "SYM0132USDT";
    clean(&[SYMBOL]).await;
    // Every market-data body has a broken number; exchangeInfo's are in fields not parsed.
    let sim = sim(&["--malformed-rate", "1"]).await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let running = spawn(config(
        &sim.base_url(),
        &[SYMBOL],
        &["--listen", &listen, "--unhealthy-after-failures", "2"],
    ));
    let metrics = eventually(
        "malformed responses on /metrics",
        Duration::from_secs(60),
        || async {
            let (_, metrics) = get(&format!("http://{listen}/metrics")).await;
            let ticker = sample(
                &metrics,
                "ingester_errors_total{kind=\"binance_malformed\"}",
            );
            (ticker >= 2.0).then_some(metrics)
        },
    )
    .await;
    assert!(
        metrics
            .contains("ingester_polls_total{endpoint=\"/api/v3/ticker/24hr\",outcome=\"error\"}"),
        "{metrics}"
    );
    let (status, body) = get(&format!("http://{listen}/healthz")).await;
    assert_eq!(
        (status, body.trim()),
        (503, "unhealthy: Binance failed 2 consecutive polls")
    );
    assert!(!running.1.is_finished(), "the loop goes on");
    stop(running).await;
    sim.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_weight_budget_keeps_the_ingester_under_the_limit() {
    const SYMBOLS: [&str; 12] = [
        "SYM0141USDT",
        "SYM0142USDT",
        "SYM0143USDT",
        "SYM0144USDT",
        "SYM0145USDT",
        "SYM0146USDT",
        "SYM0147USDT",
        "SYM0148USDT",
        "SYM0149USDT",
        "SYM0151USDT",
        "SYM0152USDT",
        "SYM0153USDT",
    ];
    let admin = clean(&SYMBOLS).await;
    // 40 per second, and a 10-minute ban on the first request sent during a 429: an ingester
    // that overspent once would stop storing anything for the rest of the test.
    let sim = sim(&[
        "--weight-limit",
        "40",
        "--weight-window-secs",
        "1",
        "--ban-after",
        "1",
        "--ban-secs",
        "600",
    ])
    .await;
    let listen = format!("127.0.0.1:{}", free_port());
    // Each second asks for 2 (tickers) + 24 (klines) while the budget allows 20.
    let running = spawn(config(&sim.base_url(), &SYMBOLS, &["--listen", &listen]));
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut highest = 0.0_f64;
    while Instant::now() < deadline {
        let (_, metrics) = get(&format!("http://{listen}/metrics")).await;
        highest = highest.max(sample(&metrics, "ingester_binance_weight_used"));
        for kind in ["binance_429", "binance_418", "binance_blocked"] {
            let name = format!("ingester_errors_total{{kind=\"{kind}\"}}");
            assert_eq!(sample(&metrics, &name), 0.0, "{metrics}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(highest <= 40.0, "used weight reached {highest} of 40");
    let before = ticker_rows(&admin, SYMBOLS[0]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        ticker_rows(&admin, SYMBOLS[0]).await > before,
        "still polling: never banned"
    );
    stop(running).await;
    for symbol in SYMBOLS {
        assert_eq!(open_times(&admin, symbol).await.len(), 61, "{symbol}");
    }
    sim.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_and_a_418_from_another_client_are_waited_out() {
    const SYMBOL: &str = "SYM0133USDT";
    let admin = clean(&[SYMBOL]).await;
    let sim = sim(&[
        "--weight-limit",
        "100",
        "--weight-window-secs",
        "2",
        "--ban-after",
        "3",
        "--ban-secs",
        "3",
    ])
    .await;
    let running = spawn(config(&sim.base_url(), &[SYMBOL], &[]));
    eventually("the first tickers", Duration::from_secs(30), || async {
        (ticker_rows(&admin, SYMBOL).await >= 1).then_some(())
    })
    .await;
    // Another process on the same IP spends the weight, ignores the 429s and gets banned.
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    while !statuses.contains(&418) {
        let response = http
            .get(format!("{}/api/v3/ping", sim.base_url()))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert!(statuses.contains(&429));
    let banned_at = chrono::Utc::now();
    eventually(
        "tickers stored after the ban",
        Duration::from_secs(30),
        || async {
            let after: i64 = admin
                .query_one(
                    "SELECT count(*) FROM ticker_24h WHERE symbol = $1 AND fetched_at > $2",
                    &[&SYMBOL, &(banned_at + chrono::Duration::seconds(3))],
                )
                .await
                .unwrap()
                .get(0);
            (after >= 2).then_some(())
        },
    )
    .await;
    stop(running).await;
    sim.stop().await.unwrap();
}
