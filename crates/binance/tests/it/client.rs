//! `BinanceClient` against an in-process `market-sim`: every endpoint, paging, errors that are
//! not retried, faults that are, and the weight budget meeting 429 and 418.

use std::time::{Duration, Instant};

use binance::{BinanceClient, ClientConfig, Error, Interval, RetryPolicy};
use market_sim::{RunningSim, SimConfig};

/// 2024-03-01T12:00:00.250Z.
const START: i64 = 1_709_294_400_250;

/// The settings of these tests' simulator: a frozen clock at [`START`] and 60 symbols. A test
/// changes what it needs with struct update syntax.
fn frozen_market() -> SimConfig {
    SimConfig {
        symbols: 60,
        speed: 0.0,
        start_time: Some(START),
        ..SimConfig::in_process()
    }
}

/// A simulator started in-process with `config`.
async fn sim(config: SimConfig) -> RunningSim {
    RunningSim::start(config).await.unwrap()
}

/// Fast retries so that failure tests finish quickly.
fn config(base_url: String) -> ClientConfig {
    ClientConfig {
        base_url,
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        },
        max_budget_wait: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

fn client_for(sim: &RunningSim) -> BinanceClient {
    BinanceClient::new(config(sim.base_url())).unwrap()
}

fn names(symbols: &[&str]) -> Vec<String> {
    symbols.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn ping_and_exchange_info_adopts_the_weight_limit() {
    let sim = sim(SimConfig {
        weight_limit: 1200,
        weight_window_secs: 10,
        ..frozen_market()
    })
    .await;
    let client = client_for(&sim);
    client.ping().await.unwrap();
    let info = client.exchange_info().await.unwrap();
    assert_eq!(info.symbols.len(), 60);
    let budget = client.budget();
    assert_eq!(
        (budget.limit().limit, budget.limit().window_ms()),
        (1200, 10_000)
    );
    assert_eq!(budget.allowance(), 600);
    assert_eq!(budget.limit().used_weight_header(), "x-mbx-used-weight-10s");
}

#[tokio::test]
async fn tickers_for_few_many_and_all_symbols() {
    let sim = sim(frozen_market()).await;
    let client = client_for(&sim);
    let few = client
        .ticker_24h(&names(&["BTCUSDT", "PEPEUSDT"]))
        .await
        .unwrap();
    assert_eq!(
        few.iter().map(|t| t.symbol.as_str()).collect::<Vec<_>>(),
        ["BTCUSDT", "PEPEUSDT"]
    );
    assert_eq!(few[1].last_price.scale(), 8);

    let info = client.exchange_info().await.unwrap();
    let many: Vec<String> = info
        .symbols
        .iter()
        .take(45)
        .map(|s| s.symbol.clone())
        .collect();
    let tickers = client.ticker_24h(&many).await.unwrap();
    assert_eq!(
        tickers.iter().map(|t| t.symbol.clone()).collect::<Vec<_>>(),
        many,
        "three lists of ≤ 20"
    );

    assert_eq!(client.ticker_24h(&[]).await.unwrap().len(), 60);
}

#[tokio::test]
async fn klines_page_through_history_without_gaps() {
    let sim = sim(frozen_market()).await;
    let client = client_for(&sim);
    let start = START - 2_500 * 60_000;
    let mut klines = Vec::new();
    let mut from = start;
    loop {
        let page = client
            .klines("ETHUSDT", Interval::Minute1, Some(from), None, 1000)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        from = last.open_time + 1;
        klines.extend(page);
    }
    // START is 250 ms into a minute, so the candle containing `start` opens before it.
    assert_eq!(klines.len(), 2_500);
    assert!(
        klines
            .windows(2)
            .all(|w| w[1].open_time == w[0].open_time + 60_000 && w[1].open == w[0].close)
    );

    let recent = client
        .klines("ETHUSDT", Interval::Hour4, None, None, 3)
        .await
        .unwrap();
    assert_eq!(recent.len(), 3);
    assert!(recent[2].open_time <= START && START <= recent[2].close_time);
    assert!(matches!(
        client
            .klines("ETHUSDT", Interval::Minute1, None, None, 1001)
            .await,
        Err(Error::InvalidLimit(_))
    ));
}

#[tokio::test]
async fn an_invalid_symbol_is_not_retried() {
    let sim = sim(frozen_market()).await;
    let client = client_for(&sim);
    let started = Instant::now();
    let error = client
        .klines("NOPEUSDT", Interval::Minute1, None, None, 10)
        .await
        .unwrap_err();
    match &error {
        Error::Status {
            status: 400,
            api: Some(api),
            ..
        } => assert_eq!(api.code, -1121),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "GET /api/v3/klines: HTTP 400: Binance error -1121: Invalid symbol."
    );
    // One request of weight 2, as the sim's own count confirms.
    assert_eq!(client.budget().used(now_ms()), 2);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn server_errors_and_damaged_bodies_are_retried() {
    // The settings of a simulator injecting one fault into 40% of market-data responses.
    let faulty = |set_fault: fn(&mut SimConfig)| {
        let mut config = SimConfig {
            seed: 3,
            ..frozen_market()
        };
        set_fault(&mut config);
        config
    };
    for (fault, config) in [
        ("error_rate", faulty(|config| config.error_rate = 0.4)),
        ("truncate_rate", faulty(|config| config.truncate_rate = 0.4)),
        (
            "malformed_rate",
            faulty(|config| config.malformed_rate = 0.4),
        ),
    ] {
        let sim = sim(config).await;
        let client = client_for(&sim);
        for _ in 0..10 {
            let klines = client
                .klines("BTCUSDT", Interval::Minute5, None, None, 50)
                .await;
            assert_eq!(klines.unwrap_or_else(|e| panic!("{fault}: {e}")).len(), 50);
        }
    }
}

#[tokio::test]
async fn retries_give_up_after_max_attempts() {
    let sim = sim(SimConfig {
        error_rate: 1.0,
        ..frozen_market()
    })
    .await;
    let client = client_for(&sim);
    let error = client.ping().await.unwrap_err();
    assert!(
        matches!(error, Error::Status { status: 500, .. }),
        "{error}"
    );
    assert_eq!(
        client.budget().used(now_ms()),
        5,
        "five attempts of weight 1"
    );

    // Nothing listens on a port just released: connection errors are retried, then returned.
    let address = sim.address();
    sim.stop().await.unwrap();
    let client = BinanceClient::new(config(format!("http://{address}"))).unwrap();
    assert!(matches!(client.ping().await, Err(Error::Transport { .. })));
}

#[tokio::test]
async fn a_429_is_waited_out_via_retry_after() {
    // The sim allows 10 weight per 1-second window; the client believes Binance's 6000/min
    // until told otherwise, so it runs into 429 and must honour Retry-After.
    let sim = sim(SimConfig {
        weight_limit: 10,
        weight_window_secs: 1,
        ban_after: 100,
        ..frozen_market()
    })
    .await;
    let client = client_for(&sim);
    let started = Instant::now();
    // 24 weight cannot fit in fewer than three windows: at least one wait, with or without 429.
    for _ in 0..12 {
        client
            .klines("BTCUSDT", Interval::Minute1, None, None, 5)
            .await
            .unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "had to wait for a window"
    );
}

#[tokio::test]
async fn the_budget_paces_requests_without_any_429() {
    let sim = sim(SimConfig {
        weight_limit: 20,
        weight_window_secs: 1,
        ban_after: 1,
        ..frozen_market()
    })
    .await;
    let client = client_for(&sim);
    client.exchange_info().await.unwrap(); // weight 20: adopts 20 per second; our share is 10
    let started = Instant::now();
    for _ in 0..10 {
        client
            .klines("BTCUSDT", Interval::Minute1, None, None, 5)
            .await
            .unwrap();
    }
    // 5 requests of weight 2 per window after the one exchangeInfo filled: 2+ windows.
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(client.budget().used(now_ms()) <= 10);
    assert_eq!(
        client.budget().blocked_until(now_ms()),
        None,
        "never throttled"
    );
}

#[tokio::test]
async fn a_418_ban_stops_all_requests() {
    let sim = sim(SimConfig {
        weight_limit: 4,
        ban_after: 1,
        ban_secs: 300,
        ..frozen_market()
    })
    .await;
    // Another process on our IP gets it banned: spends the window, gets a 429, sends again.
    for _ in 0..5 {
        reqwest::get(format!("{}/api/v3/ping", sim.base_url()))
            .await
            .unwrap();
    }
    let last = reqwest::get(format!("{}/api/v3/ping", sim.base_url()))
        .await
        .unwrap();
    assert_eq!(last.status().as_u16(), 418);

    let client = client_for(&sim);
    let error = client.ping().await.unwrap_err();
    assert!(
        matches!(error, Error::Blocked { wait, .. } if wait > Duration::from_secs(250)),
        "{error}"
    );
    let until = client.budget().blocked_until(now_ms()).expect("blocked");
    assert!(until > now_ms() + 250_000);
    // Later calls fail at once, without sending anything.
    let started = Instant::now();
    assert!(matches!(
        client.ticker_24h(&[]).await,
        Err(Error::Blocked { .. })
    ));
    assert!(started.elapsed() < Duration::from_millis(100));
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
