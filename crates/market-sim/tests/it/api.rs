//! Endpoint shapes, validation errors, weights, kline paging, ticker/kline consistency,
//! determinism and fault injection.

use std::str::FromStr;
use std::time::{Duration, Instant};

use binance::{parse_klines, parse_tickers};
use market_sim::SimConfig;
use rust_decimal::Decimal;

use crate::{START, frozen_market, get, json, sim};

fn keys(value: &serde_json::Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn ping_time_and_exchange_info() {
    let sim = sim(frozen_market()).await;
    let (status, _, body) = get(&sim, "/api/v3/ping").await;
    assert_eq!((status, body.as_str()), (200, "{}"));
    let (_, _, body) = get(&sim, "/api/v3/time").await;
    assert_eq!(json(&body)["serverTime"], START);

    let (_, _, body) = get(&sim, "/api/v3/exchangeInfo").await;
    let info = binance::parse_exchange_info(body.as_bytes()).unwrap();
    assert_eq!(info.server_time, START);
    assert_eq!(info.symbols.len(), 30);
    assert_eq!(info.symbols[0].symbol, "BTCUSDT");
    assert!(
        info.symbols
            .iter()
            .any(|s| s.symbol == "SYM0001USDT" && s.quote_asset == "USDT")
    );
    assert!(info.symbols.iter().any(|s| s.quote_asset == "BTC"));
    let limit = info.request_weight_limit().unwrap();
    assert_eq!((limit.limit, limit.window_ms()), (6000, 60_000));
}

#[tokio::test]
async fn ticker_shapes() {
    let sim = sim(frozen_market()).await;
    let (status, _, body) = get(&sim, "/api/v3/ticker/24hr?symbol=PEPEUSDT").await;
    assert_eq!(status, 200);
    let single = json(&body);
    assert!(single.is_object());
    assert_eq!(
        keys(&single),
        [
            "askPrice",
            "askQty",
            "bidPrice",
            "bidQty",
            "closeTime",
            "count",
            "firstId",
            "highPrice",
            "lastId",
            "lastPrice",
            "lastQty",
            "lowPrice",
            "openPrice",
            "openTime",
            "prevClosePrice",
            "priceChange",
            "priceChangePercent",
            "quoteVolume",
            "symbol",
            "volume",
            "weightedAvgPrice"
        ]
    );
    let pepe = &parse_tickers(body.as_bytes()).unwrap()[0];
    assert!(
        pepe.last_price < Decimal::from_str("0.001").unwrap(),
        "{}",
        pepe.last_price
    );
    assert!(
        pepe.volume > Decimal::from(100_000_000_000_u64),
        "{}",
        pepe.volume
    );
    assert_eq!(pepe.last_price.scale(), 8);
    assert!(pepe.bid_price < pepe.ask_price);

    let (_, _, body) = get(
        &sim,
        "/api/v3/ticker/24hr?symbols=%5B%22BTCUSDT%22,%22ETHBTC%22%5D",
    )
    .await;
    let tickers = parse_tickers(body.as_bytes()).unwrap();
    assert_eq!(
        tickers
            .iter()
            .map(|t| t.symbol.as_str())
            .collect::<Vec<_>>(),
        ["BTCUSDT", "ETHBTC"]
    );

    let (_, _, body) = get(&sim, "/api/v3/ticker/24hr").await;
    assert_eq!(parse_tickers(body.as_bytes()).unwrap().len(), 30);

    let (_, _, body) = get(
        &sim,
        "/api/v3/ticker/24hr?type=MINI&symbols=%5B%22BTCUSDT%22%5D",
    )
    .await;
    let mini = json(&body);
    assert_eq!(keys(&mini[0]).len(), 12);
    assert_eq!(
        binance::parse_mini_tickers(body.as_bytes()).unwrap()[0].last_price,
        tickers[0].last_price
    );
}

#[tokio::test]
async fn kline_shape_and_paging() {
    let sim = sim(frozen_market()).await;
    let (_, _, body) = get(&sim, "/api/v3/klines?symbol=BTCUSDT&interval=1m").await;
    let rows = json(&body);
    assert_eq!(rows.as_array().unwrap().len(), 500, "default limit");
    assert_eq!(rows[0].as_array().unwrap().len(), 12);
    let klines = parse_klines(body.as_bytes()).unwrap();
    let newest = klines.last().unwrap();
    assert!(
        newest.open_time <= START && START <= newest.close_time,
        "ends with the open candle"
    );
    assert!(
        klines
            .windows(2)
            .all(|w| w[0].open_time + 60_000 == w[1].open_time),
        "oldest first, no gaps"
    );

    // Page forward from an open time: [startTime, endTime] inclusive on open times.
    let from = klines[10].open_time;
    let (_, _, body) = get(
        &sim,
        &format!(
            "/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime={from}&endTime={}&limit=1000",
            from + 120_000
        ),
    )
    .await;
    let page = parse_klines(body.as_bytes()).unwrap();
    assert_eq!(page, klines[10..13].to_vec());
    let (_, _, body) = get(
        &sim,
        &format!(
            "/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime={}&limit=2",
            from + 1
        ),
    )
    .await;
    assert_eq!(
        parse_klines(body.as_bytes()).unwrap(),
        klines[11..13].to_vec()
    );

    let (_, _, body) = get(&sim, "/api/v3/klines?symbol=BTCUSDT&interval=1M&limit=3").await;
    let months = parse_klines(body.as_bytes()).unwrap();
    assert_eq!(months[2].open_time, 1_709_251_200_000); // 2024-03-01
    assert_eq!(months[1].close_time, 1_709_251_199_999); // February 2024 had 29 days
    assert_eq!(months[1].open_time, 1_706_745_600_000);
}

#[tokio::test]
async fn the_open_candle_moves_with_the_clock() {
    let sim = sim(frozen_market()).await;
    let latest = |sim| async move {
        let (_, _, body) = get(sim, "/api/v3/klines?symbol=ETHUSDT&interval=1m&limit=2").await;
        parse_klines(body.as_bytes()).unwrap()
    };
    let before = latest(&sim).await;
    let client = reqwest::Client::new();
    let advanced = client
        .post(format!("{}/admin/advance?ms=20000", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(json(&advanced.text().await.unwrap())["now"], START + 20_000);
    let (_, _, now) = get(&sim, "/admin/now").await;
    assert_eq!(json(&now)["now"], START + 20_000);
    let after = latest(&sim).await;
    assert_eq!(after[0], before[0], "closed candles never change");
    assert_eq!(after[1].open_time, before[1].open_time);
    assert!(after[1].volume > before[1].volume && after[1].trades > before[1].trades);

    client
        .post(format!("{}/admin/advance?ms=60000", sim.base_url()))
        .send()
        .await
        .unwrap();
    let next = latest(&sim).await;
    assert_eq!(next[0].open_time, before[1].open_time);
    assert_eq!(next[0].open, before[1].open);
    assert!(next[0].volume >= after[1].volume);
    assert_eq!(next[1].open, next[0].close);
}

#[tokio::test]
async fn day_ticker_agrees_with_one_minute_klines() {
    let sim = sim(frozen_market()).await;
    let (_, _, body) = get(&sim, "/api/v3/ticker/24hr?symbol=SOLUSDT").await;
    let ticker = parse_tickers(body.as_bytes()).unwrap().remove(0);
    let mut klines = Vec::new();
    let mut from = ticker.open_time;
    while klines.len() < 1441 {
        let (_, _, body) = get(
            &sim,
            &format!("/api/v3/klines?symbol=SOLUSDT&interval=1m&startTime={from}&limit=1000"),
        )
        .await;
        let page = parse_klines(body.as_bytes()).unwrap();
        from = page.last().unwrap().open_time + 1;
        klines.extend(page);
    }
    assert_eq!(
        klines.len(),
        1441,
        "24 h ago to now, the open candle included"
    );
    assert_eq!(ticker.open_price, klines[0].open);
    assert_eq!(ticker.last_price, klines[1440].close);
    assert_eq!(
        ticker.high_price,
        klines.iter().map(|k| k.high).max().unwrap()
    );
    assert_eq!(
        ticker.low_price,
        klines.iter().map(|k| k.low).min().unwrap()
    );
    assert_eq!(
        ticker.volume,
        klines.iter().map(|k| k.volume).sum::<Decimal>()
    );
    assert_eq!(
        ticker.quote_volume,
        klines.iter().map(|k| k.quote_volume).sum::<Decimal>()
    );
    assert_eq!(ticker.count, klines.iter().map(|k| k.trades).sum::<u64>());
    assert_eq!(ticker.price_change, ticker.last_price - ticker.open_price);
    assert_eq!(ticker.close_time, START);
}

#[tokio::test]
async fn bad_input_gets_binance_error_codes() {
    let sim = sim(frozen_market()).await;
    let cases = [
        (
            "/api/v3/ticker/24hr?symbols=%5B%22BTCUSDT%22,%20%22ETHUSDT%22%5D",
            -1100,
        ),
        ("/api/v3/ticker/24hr?symbol=btc%20usdt", -1100),
        ("/api/v3/klines?interval=1m", -1102),
        ("/api/v3/klines?symbol=BTCUSDT", -1102),
        ("/api/v3/klines?symbol=BTCUSDT&interval=7m", -1120),
        ("/api/v3/klines?symbol=NOPEUSDT&interval=1m", -1121),
        ("/api/v3/ticker/24hr?symbol=NOPEUSDT", -1121),
        (
            "/api/v3/ticker/24hr?symbols=%5B%22BTCUSDT%22,%22NOPEUSDT%22%5D",
            -1121,
        ),
        (
            "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1001",
            -1130,
        ),
        ("/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=0", -1130),
    ];
    for (path, code) in cases {
        let (status, headers, body) = get(&sim, path).await;
        assert_eq!(status, 400, "{path}");
        let error = binance::parse_api_error(body.as_bytes()).unwrap();
        assert_eq!(error.code, code, "{path}: {}", error.msg);
        assert!(headers.contains_key("x-mbx-used-weight-1m"));
    }
}

#[tokio::test]
async fn weight_is_reported_then_429_then_418() {
    let sim = sim(SimConfig {
        weight_limit: 120,
        ban_after: 2,
        ban_secs: 300,
        ..frozen_market()
    })
    .await;
    let used = |headers: &reqwest::header::HeaderMap| {
        headers["x-mbx-used-weight-1m"]
            .to_str()
            .unwrap()
            .parse::<u32>()
            .unwrap()
    };
    let (_, headers, _) = get(&sim, "/api/v3/ping").await;
    let first = used(&headers);
    let (_, headers, _) = get(&sim, "/api/v3/exchangeInfo").await;
    // A window may roll over between two requests, so compare with care.
    assert!(used(&headers) == first + 20 || used(&headers) == 20);
    let (_, headers, _) = get(&sim, "/api/v3/ticker/24hr").await;
    assert!(used(&headers) >= 80);

    // Spend the rest of the window, then go over it.
    let mut status = 200;
    let mut headers = reqwest::header::HeaderMap::new();
    for _ in 0..60 {
        (status, headers, _) = get(&sim, "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1").await;
        if status != 200 {
            break;
        }
    }
    assert_eq!(status, 429);
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");

    // Ignoring Retry-After: two more violations earn a ban longer than the window.
    let (status, _, _) = get(&sim, "/api/v3/ping").await;
    assert_eq!(status, 429);
    let (status, headers, body) = get(&sim, "/api/v3/ping").await;
    assert_eq!(status, 418);
    assert_eq!(headers["retry-after"], "300");
    assert_eq!(
        binance::parse_api_error(body.as_bytes()).unwrap().code,
        -1003
    );
    let (_, _, bans) = get(&sim, "/admin/bans").await;
    let bans = json(&bans);
    assert_eq!(
        (&bans["bans"], &bans["requestsWhileBanned"]),
        (&1.into(), &0.into())
    );
    assert_eq!(bans["banned"], true);
    let first_end = bans["bannedUntil"].as_i64().expect("bannedUntil");

    // Sending during the ban gets 418 again and restarts it: the full length from now. A second
    // into the ban first, so that an unchanged ban would say 299.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (status, headers, _) = get(&sim, "/api/v3/ping").await;
    assert_eq!(status, 418);
    assert_eq!(headers["retry-after"], "300");
    let (_, _, bans) = get(&sim, "/admin/bans").await;
    let bans = json(&bans);
    assert_eq!(
        (&bans["bans"], &bans["requestsWhileBanned"]),
        (&1.into(), &1.into())
    );
    let extended_end = bans["bannedUntil"].as_i64().expect("bannedUntil");
    assert!(
        extended_end >= first_end + 1_000,
        "the ban ending at {first_end} now ends at {extended_end}"
    );
}

#[tokio::test]
async fn the_same_seed_gives_the_same_market() {
    let seeded = |seed| {
        sim(SimConfig {
            seed,
            ..frozen_market()
        })
    };
    let (a, b, c) = (seeded(5).await, seeded(5).await, seeded(6).await);
    let path = "/api/v3/klines?symbol=SYM0003USDT&interval=1h&limit=50";
    assert_eq!(get(&a, path).await.2, get(&b, path).await.2);
    assert_ne!(get(&a, path).await.2, get(&c, path).await.2);
    let path = "/api/v3/ticker/24hr";
    assert_eq!(get(&a, path).await.2, get(&b, path).await.2);
}

#[tokio::test]
async fn faults_are_injected() {
    // A simulator injecting one fault into every market-data response.
    let sim_with = |set_fault: fn(&mut SimConfig)| {
        let mut config = frozen_market();
        set_fault(&mut config);
        sim(config)
    };
    let path = "/api/v3/ticker/24hr?symbol=BTCUSDT";

    let (status, _, body) = get(&sim_with(|config| config.error_rate = 1.0).await, path).await;
    assert_eq!(
        (
            status,
            binance::parse_api_error(body.as_bytes()).unwrap().code
        ),
        (500, -1000)
    );

    let (status, _, body) = get(&sim_with(|config| config.truncate_rate = 1.0).await, path).await;
    assert_eq!(status, 200);
    assert!(
        parse_tickers(body.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("not valid JSON")
    );

    let (status, _, body) = get(&sim_with(|config| config.malformed_rate = 1.0).await, path).await;
    assert_eq!(status, 200);
    let error = parse_tickers(body.as_bytes()).unwrap_err().to_string();
    assert!(
        error.starts_with("ticker/24hr.") && error.ends_with("is not a decimal"),
        "{error}"
    );

    let slow = sim(SimConfig {
        latency_ms: 150,
        ..frozen_market()
    })
    .await;
    let started = Instant::now();
    get(&slow, "/api/v3/ping").await;
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn stops_gracefully() {
    let sim = sim(frozen_market()).await;
    let address = sim.address();
    sim.stop().await.unwrap();
    assert!(tokio::net::TcpStream::connect(address).await.is_err());
}

/// `POST /admin/storm` refuses every market-data request with its status for its length (429
/// and 418 with `Retry-After`), then the simulator answers as before; a status that is no storm
/// is refused by name.
#[tokio::test]
async fn a_storm_refuses_market_data_for_its_length() {
    let sim = sim(frozen_market()).await;
    let http = reqwest::Client::new();
    let storm = |query: &'static str| {
        let request = http.post(format!("{}/admin/storm?{query}", sim.base_url()));
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, body) = storm("status=404&seconds=1").await;
    assert_eq!(status, 400);
    assert!(body.contains("'status'"), "{body}");

    for (query, expected, retry_after) in [
        ("status=429&seconds=2", 429, Some("2")),
        ("status=418&seconds=2", 418, Some("2")),
        ("status=503&seconds=2", 503, None),
    ] {
        assert_eq!(storm(query).await.0, 200, "{query}");
        let (status, headers, body) = get(&sim, "/api/v3/ticker/24hr?symbol=BTCUSDT").await;
        assert_eq!(status, expected, "{query}: {body}");
        assert_eq!(
            headers
                .get("retry-after")
                .map(|value| value.to_str().unwrap()),
            retry_after,
            "{query}"
        );
        assert!(binance::parse_api_error(body.as_bytes()).is_ok(), "{body}");
    }
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let (status, _, body) = get(&sim, "/api/v3/ticker/24hr?symbol=BTCUSDT").await;
    assert_eq!(status, 200, "after the storm: {body}");
}
