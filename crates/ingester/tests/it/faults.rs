//! Binance misbehaving: 5xx, truncated and malformed bodies, 429 and 418. The ingester keeps
//! going, skips what it cannot parse (counted on /metrics), never overspends weight, and sends
//! nothing while banned.

use std::time::{Duration, Instant};

use market_sim::{RunningSim, SimConfig};

use crate::{
    HISTORY_START, MINUTE, START_CANDLE, config, continuous_span, database, eventually, free_port,
    frozen_market, get, market_now, metric, open_times, sample, sim, spawn, stop, within,
};

/// Ticker polls fetched and stored, on the /metrics of the ingester listening on `listen`.
/// Counted there rather than as rows: a frozen simulator serves the same tickers at every poll,
/// and the same ticker is stored once.
async fn ticker_polls(listen: &str) -> f64 {
    metric(
        listen,
        "ingester_polls_total{endpoint=\"/api/v3/ticker/24hr\",outcome=\"ok\"}",
    )
    .await
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storms_of_5xx_and_truncated_bodies_are_survived() {
    const SYMBOL: &str = "SYM0131USDT";
    let database = database("storms").await;
    let admin = database.admin().await;
    let sim = sim(SimConfig {
        error_rate: 0.3,
        truncate_rate: 0.2,
        ..frozen_market()
    })
    .await;
    let listen = format!("127.0.0.1:{}", free_port());
    let running = spawn(config(
        &database.ingester_url(),
        &sim.base_url(),
        &[SYMBOL],
        &["--listen", &listen],
    ));
    eventually(
        "five ticker polls through the storm",
        Duration::from_secs(60),
        || async { (ticker_polls(&listen).await >= 5.0).then_some(()) },
    )
    .await;
    assert_eq!(
        ticker_rows(&admin, SYMBOL).await,
        1,
        "the same ticker, stored once"
    );
    assert!(!running.1.is_finished());
    stop(running).await;
    assert_eq!(
        continuous_span(SYMBOL, &open_times(&admin, SYMBOL).await),
        HISTORY_START..=START_CANDLE
    );
    sim.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_response_is_counted_and_skipped() {
    const SYMBOL: &str = "SYM0132USDT";
    let database = database("malformed").await;
    // Every market-data body has a broken number; exchangeInfo's are in fields not parsed.
    let sim = sim(SimConfig {
        malformed_rate: 1.0,
        ..frozen_market()
    })
    .await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let running = spawn(config(
        &database.ingester_url(),
        &sim.base_url(),
        &[SYMBOL],
        &["--listen", &listen, "--unhealthy-after-failures", "2"],
    ));
    let metrics = eventually(
        "failed ticker polls on /metrics",
        Duration::from_secs(60),
        || async {
            let (_, metrics) = get(&format!("http://{listen}/metrics")).await;
            // The series exists from start-up at 0; the failed polls must count in it.
            let failed = sample(
                &metrics,
                "ingester_polls_total{endpoint=\"/api/v3/ticker/24hr\",outcome=\"error\"}",
            );
            (failed >= 2.0).then_some(metrics)
        },
    )
    .await;
    assert!(
        sample(
            &metrics,
            "ingester_errors_total{kind=\"binance_malformed\"}"
        ) >= 2.0,
        "{metrics}"
    );
    // Tickers and the one kline series each report their own failures; the kline series by
    // name, with why.
    let body = eventually(
        "/healthz to report the tickers and the kline series",
        Duration::from_secs(60),
        || async {
            let (status, body) = get(&format!("http://{listen}/healthz")).await;
            let both = body.contains("klines: ") && body.contains("tickers: ");
            (status == 503 && both).then_some(body)
        },
    )
    .await;
    assert!(
        body.starts_with("unhealthy: ") && body.contains("tickers: Binance failed "),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "klines: 1 kline series failed 2 or more polls in a row: {SYMBOL} 1m \
             (binance_malformed)"
        )),
        "{body}"
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
    let database = database("weight_budget").await;
    let admin = database.admin().await;
    // 40 per second, and a 10-minute ban on the first request sent during a 429: an ingester
    // that overspent once would stop storing anything for the rest of the test.
    let sim = sim(SimConfig {
        weight_limit: 40,
        weight_window_secs: 1,
        ban_after: 1,
        ban_secs: 600,
        ..frozen_market()
    })
    .await;
    let listen = format!("127.0.0.1:{}", free_port());
    // Each second asks for 2 (tickers) + 24 (klines) while the budget allows 20.
    let running = spawn(config(
        &database.ingester_url(),
        &sim.base_url(),
        &SYMBOLS,
        &["--listen", &listen],
    ));
    // The scenario: eight seconds of polling, sampled every 100 ms for weight and throttles.
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
    let before = ticker_polls(&listen).await;
    eventually(
        "another ticker poll: still polling, never banned",
        Duration::from_secs(10),
        || async { (ticker_polls(&listen).await > before).then_some(()) },
    )
    .await;
    stop(running).await;
    for symbol in SYMBOLS {
        assert_eq!(
            continuous_span(symbol, &open_times(&admin, symbol).await),
            HISTORY_START..=START_CANDLE,
            "{symbol}"
        );
    }
    sim.stop().await.unwrap();
}

/// The simulator's record of its bans (`GET /admin/bans`).
async fn bans(sim: &RunningSim) -> serde_json::Value {
    reqwest::get(format!("{}/admin/bans", sim.base_url()))
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("GET /admin/bans")
        .json()
        .await
        .expect("/admin/bans is JSON")
}

/// Another client on the ingester's IP spends the weight, ignores the 429s and gets the IP
/// banned. The simulator, as Binance, restarts a ban at every request sent during it, so an
/// ingester that did not sit out `Retry-After` would keep the ban going: it may send at most two
/// requests during the ban (the ones that learn of it: the ticker and the kline loop each have
/// one in flight at most, and both may be on their way when the ban starts), and then polls
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_and_a_418_from_another_client_are_waited_out() {
    const SYMBOL: &str = "SYM0133USDT";
    let database = database("ban").await;
    let admin = database.admin().await;
    let sim = sim(SimConfig {
        weight_limit: 100,
        weight_window_secs: 2,
        ban_after: 3,
        ban_secs: 3,
        ..frozen_market()
    })
    .await;
    let listen = format!("127.0.0.1:{}", free_port());
    let running = spawn(config(
        &database.ingester_url(),
        &sim.base_url(),
        &[SYMBOL],
        &["--listen", &listen],
    ));
    eventually("the first tickers", Duration::from_secs(30), || async {
        (ticker_rows(&admin, SYMBOL).await >= 1).then_some(())
    })
    .await;

    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    while !statuses.contains(&418) {
        let response = http
            .get(format!("{}/api/v3/ping", sim.base_url()))
            .send()
            .await
            .expect("pinging the simulator");
        statuses.push(response.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    // From here on only the ingester sends market-data requests.

    // Three seconds of ban, three more if the ingester's first requests during it restarted it.
    let ended = within(Duration::from_secs(20), || async {
        let record = bans(&sim).await;
        (record["banned"] == false).then_some(record)
    })
    .await;
    let record = bans(&sim).await;
    let sent_during_ban = record["requestsWhileBanned"]
        .as_u64()
        .expect("requestsWhileBanned");
    assert!(
        sent_during_ban <= 2,
        "the ingester kept sending during the ban: {record}"
    );
    let ended = ended.unwrap_or_else(|| panic!("the ban has not ended after 20 s: {record}"));
    let polls_when_it_ended = ticker_polls(&listen).await;

    eventually(
        "tickers fetched after the ban",
        Duration::from_secs(30),
        || async { (ticker_polls(&listen).await >= polls_when_it_ended + 2.0).then_some(()) },
    )
    .await;
    stop(running).await;
    let record = bans(&sim).await;
    assert_eq!(
        (&record["bans"], &record["requestsWhileBanned"]),
        (&1.into(), &ended["requestsWhileBanned"]),
        "no request during a ban after it ended, and no second ban: {record}"
    );
    sim.stop().await.unwrap();
}

/// One symbol's klines fail at every request, for good (the simulator answers 500), and
/// PostgreSQL rejects every candle of another symbol's 1h series (a check constraint of the
/// test's own database). While the market moves, every other series stays current, the
/// rejected symbol's own 1m series included; the broken symbol's tickers are still stored;
/// /healthz names the three failing series; and the rejected series is tried once a poll, not
/// in a loop of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_and_rejected_series_leave_every_other_series_current() {
    const BROKEN: &str = "SYM0172USDT";
    const REJECTED: &str = "SYM0174USDT";
    // In this order: the failing series come first, each followed by series that must not
    // wait for it.
    const SYMBOLS: [&str; 4] = [REJECTED, BROKEN, "SYM0171USDT", "SYM0173USDT"];
    const HOUR: i64 = 60 * MINUTE;
    let database = database("broken_series").await;
    let admin = database.admin().await;
    admin
        .batch_execute(&format!(
            "ALTER TABLE klines ADD CONSTRAINT it_rejects_one_series
               CHECK (symbol <> '{REJECTED}' OR interval <> '1h')"
        ))
        .await
        .unwrap();
    // A market minute per second: every healthy 1m series gets a new candle every poll.
    let sim = sim(SimConfig {
        speed: 60.0,
        broken_kline_symbols: vec![BROKEN.to_string()],
        ..frozen_market()
    })
    .await;
    let listen = format!("127.0.0.1:{}", free_port());
    let running = spawn(config(
        &database.ingester_url(),
        &sim.base_url(),
        &SYMBOLS,
        &[
            "--listen",
            &listen,
            "--kline-intervals",
            "1m,1h",
            "--unhealthy-after-failures",
            "2",
        ],
    ));
    let body = eventually(
        "/healthz naming the failing series",
        Duration::from_secs(60),
        || async {
            let (status, body) = get(&format!("http://{listen}/healthz")).await;
            (status == 503 && body.contains("3 kline series")).then_some(body)
        },
    )
    .await;
    for failing in [
        format!("{BROKEN} 1m (binance_5xx)"),
        format!("{BROKEN} 1h (binance_5xx)"),
        format!("{REJECTED} 1h (postgres_rejected)"),
    ] {
        assert!(body.contains(&failing), "{failing} not in {body}");
    }
    assert_eq!(metric(&listen, "ingester_failing_kline_series").await, 3.0);

    // Every other series keeps up with the market, twice over.
    let healthy = [
        (REJECTED, "1m"),
        (SYMBOLS[2], "1m"),
        (SYMBOLS[2], "1h"),
        (SYMBOLS[3], "1m"),
        (SYMBOLS[3], "1h"),
    ];
    for _ in 0..2 {
        let now = market_now(&sim).await;
        eventually(
            "every other series at the market's current candle",
            Duration::from_secs(30),
            || async {
                for (symbol, interval) in healthy {
                    let length = if interval == "1m" { MINUTE } else { HOUR };
                    let last = last_open_time(&admin, symbol, interval).await?;
                    if last < now / length * length {
                        return None;
                    }
                }
                Some(())
            },
        )
        .await;
    }

    // Tried again at every poll, never more often: a rejection costs one failed write a poll.
    let rejected = "ingester_kline_series_failures_total{reason=\"postgres_rejected\"}";
    let failed_polls = "ingester_polls_total{endpoint=\"/api/v3/klines\",outcome=\"error\"}";
    let counts = || async {
        (
            metric(&listen, rejected).await,
            metric(&listen, failed_polls).await,
        )
    };
    let before = counts().await;
    let after = eventually(
        "the rejected series tried twice more",
        Duration::from_secs(60),
        || async {
            let after = counts().await;
            (after.0 >= before.0 + 2.0).then_some(after)
        },
    )
    .await;
    assert!(
        after.0 - before.0 <= after.1 - before.1 + 1.0,
        "{} rejections in {} polls",
        after.0 - before.0,
        after.1 - before.1
    );
    assert!(!running.1.is_finished());
    stop(running).await;

    for (symbol, _) in healthy.iter().filter(|(_, interval)| *interval == "1m") {
        continuous_span(symbol, &open_times(&admin, symbol).await);
    }
    for (symbol, interval) in [(BROKEN, "1m"), (BROKEN, "1h"), (REJECTED, "1h")] {
        assert_eq!(
            last_open_time(&admin, symbol, interval).await,
            None,
            "{symbol} {interval} has nothing stored"
        );
    }
    assert!(
        ticker_rows(&admin, BROKEN).await >= 1,
        "its tickers are still stored"
    );
    sim.stop().await.unwrap();
}

/// The open time (ms) of the newest stored candle of a series, if it has any.
async fn last_open_time(
    admin: &tokio_postgres::Client,
    symbol: &str,
    interval: &str,
) -> Option<i64> {
    admin
        .query_one(
            "SELECT (extract(epoch FROM max(open_time)) * 1000)::bigint FROM klines
              WHERE symbol = $1 AND interval = $2",
            &[&symbol, &interval],
        )
        .await
        .unwrap()
        .get(0)
}
