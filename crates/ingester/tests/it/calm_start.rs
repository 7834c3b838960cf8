//! The first start with every symbol, CI-sized: `--symbols all` on a simulator of 400 symbols
//! (391 USDT pairs trading), three hours of 1m history for each, a ticker poll every second,
//! and a weight limit that the backfill alone would use up. Every ticker poll made during the
//! backfill is stored on time, the backfill finishes, and no statement comes near a timeout.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use market_sim::SimConfig;

use crate::{MINUTE, START_CANDLE, config, database, eventually, free_port, get, sample};
use crate::{frozen_market, sim, spawn, stop};

/// Hours of 1m history each series starts with: one page (181 candles) of each of 391 series.
const HISTORY_HOURS: i64 = 3;
const TICKER_PERIOD: Duration = Duration::from_secs(1);

/// Open time of the oldest candle a series starts with, the newest being the candle open at
/// start-up (the market runs in real time from [`START`](crate::START); start-up takes well
/// under a minute).
const HISTORY_START: i64 = START_CANDLE - HISTORY_HOURS * 60 * MINUTE;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ticker_poll_is_on_time_while_every_symbol_is_backfilled() {
    let database = database("calm_start").await;
    let admin = database.admin().await;
    // Real time, so that every ticker poll is new. 1400 weight per 10 s, of which the
    // ingester spends half, 700: its ticker polls (20 lists of 20 symbols, 40 a poll) take
    // 400 of them, the backfill (391 pages, 2 each) would take them all if it could.
    let sim = sim(SimConfig {
        speed: 1.0,
        symbols: 400,
        weight_limit: 1400,
        weight_window_secs: 10,
        ..frozen_market()
    })
    .await;
    let symbols = trading_usdt_pairs(&sim.base_url()).await;
    let listen = format!("127.0.0.1:{}", free_port());
    let history = HISTORY_HOURS.to_string();
    let started_at = Utc::now();
    let running = spawn(config(
        &database.ingester_url(),
        &sim.base_url(),
        &["all"],
        &[
            "--listen",
            &listen,
            "--kline-history-hours",
            &history,
            "--kline-period-secs",
            "5",
        ],
    ));

    let backfill = Instant::now();
    let current = eventually(
        "every series backfilled up to the candle open at start-up",
        Duration::from_secs(100),
        || async {
            let current: i64 = admin
                .query_one(
                    "SELECT count(*) FROM (
                       SELECT symbol FROM klines WHERE interval = '1m'
                        GROUP BY symbol HAVING max(open_time) >= $1) AS current",
                    &[&at(START_CANDLE)],
                )
                .await
                .unwrap()
                .get(0);
            (current >= symbols).then_some(current)
        },
    )
    .await;
    let backfilled_at = Utc::now();
    let backfill = backfill.elapsed();
    let backfill_minutes = i64::try_from(backfill.as_secs() / 60 + 1).unwrap();
    let (_, metrics) = get(&format!("http://{listen}/metrics")).await;
    stop(running).await;
    sim.stop().await.unwrap();
    assert_eq!(current, symbols);
    let pages = sample(
        &metrics,
        "ingester_write_duration_seconds_count{table=\"klines\"}",
    );
    let ticker_polls = sample(
        &metrics,
        "ingester_polls_total{endpoint=\"/api/v3/ticker/24hr\",outcome=\"ok\"}",
    );
    eprintln!(
        "backfill of {symbols} series took {backfill:?}: {} ticker polls meanwhile; {pages} page \
         writes, {:.1} ms on average",
        ticker_polls,
        1000.0
            * sample(
                &metrics,
                "ingester_write_duration_seconds_sum{table=\"klines\"}"
            )
            / pages
    );

    // The backfill is the whole history of every series, each candle once. The market runs
    // on, so a series backfilled later starts later, with as many candles.
    let short: Vec<(String, i64, i64)> = admin
        .query(
            "SELECT symbol, count(*), (extract(epoch FROM min(open_time)) * 1000)::bigint
               FROM klines WHERE interval = '1m' GROUP BY symbol
             HAVING count(*) <> (extract(epoch FROM max(open_time) - min(open_time)) / 60)::bigint + 1
                 OR min(open_time) > $1 OR count(*) < $2",
            &[&at(HISTORY_START + backfill_minutes * MINUTE), &(HISTORY_HOURS * 60 + 1)],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    assert!(
        short.is_empty(),
        "series with gaps or short history: {short:?}"
    );

    // Every ticker poll from the first to the end of the backfill was stored, whole and on
    // time: fetched no more than two periods after the one before.
    let polls: Vec<(DateTime<Utc>, i64)> = admin
        .query(
            "SELECT fetched_at, count(*) FROM ticker_24h WHERE fetched_at <= $1
              GROUP BY fetched_at ORDER BY fetched_at",
            &[&backfilled_at],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let first = polls.first().expect("ticker polls during the backfill").0;
    assert!(
        first - started_at < chrono::Duration::seconds(5),
        "the first ticker poll came {} after start",
        first - started_at
    );
    let late: Vec<String> = polls
        .windows(2)
        .filter(|pair| (pair[1].0 - pair[0].0).to_std().unwrap_or_default() > 2 * TICKER_PERIOD)
        .map(|pair| format!("{} after {}", pair[1].0, pair[0].0))
        .collect();
    assert!(
        late.is_empty(),
        "{} of {} ticker polls came more than two periods after the one before: {late:?}",
        late.len(),
        polls.len()
    );
    let partial: Vec<_> = polls.iter().filter(|(_, rows)| *rows != symbols).collect();
    assert!(partial.is_empty(), "polls not stored whole: {partial:?}");
    assert!(
        backfilled_at - polls.last().unwrap().0
            <= chrono::Duration::from_std(2 * TICKER_PERIOD).unwrap(),
        "ticker polls stopped before the backfill ended"
    );

    // No write came near the statement timeout, and the weight budget held.
    for kind in [
        "postgres_timeout",
        "binance_429",
        "binance_418",
        "binance_blocked",
    ] {
        let errors = sample(
            &metrics,
            &format!("ingester_errors_total{{kind=\"{kind}\"}}"),
        );
        assert_eq!(errors, 0.0, "{kind}: {errors}");
    }
    let under_a_second = sample(
        &metrics,
        "ingester_write_duration_seconds_bucket{le=\"1.024\",table=\"klines\"}",
    );
    assert!(pages >= symbols as f64, "{metrics}");
    assert_eq!(
        under_a_second, pages,
        "a page write took over a second: {metrics}"
    );
}

/// How many pairs `--symbols all` tracks: the simulator's TRADING pairs quoted in USDT.
async fn trading_usdt_pairs(base_url: &str) -> i64 {
    let info: serde_json::Value = reqwest::get(format!("{base_url}/api/v3/exchangeInfo"))
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("GET exchangeInfo")
        .json()
        .await
        .expect("exchangeInfo is JSON");
    let pairs = info["symbols"]
        .as_array()
        .expect("exchangeInfo lists symbols")
        .iter()
        .filter(|symbol| symbol["status"] == "TRADING" && symbol["quoteAsset"] == "USDT")
        .count();
    i64::try_from(pairs).unwrap()
}

fn at(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).expect("a valid instant")
}
