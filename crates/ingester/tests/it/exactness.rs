//! Stored values are the simulator's decimal strings, digit for digit: PostgreSQL's
//! `numeric::text` against the JSON the simulator serves, fetched directly.

use serde_json::Value;

use crate::{HISTORY_START, config, database, frozen_market, sim};

const SYMBOLS: [&str; 3] = ["PEPEUSDT", "SYM0101USDT", "SYM0102USDT"];

const TICKER_FIELDS: [(&str, &str); 15] = [
    ("priceChange", "price_change"),
    ("priceChangePercent", "price_change_percent"),
    ("weightedAvgPrice", "weighted_avg_price"),
    ("prevClosePrice", "prev_close_price"),
    ("lastPrice", "last_price"),
    ("lastQty", "last_qty"),
    ("bidPrice", "bid_price"),
    ("bidQty", "bid_qty"),
    ("askPrice", "ask_price"),
    ("askQty", "ask_qty"),
    ("openPrice", "open_price"),
    ("highPrice", "high_price"),
    ("lowPrice", "low_price"),
    ("volume", "volume"),
    ("quoteVolume", "quote_volume"),
];

/// Kline array positions and their columns.
const KLINE_FIELDS: [(usize, &str); 8] = [
    (1, "open_price"),
    (2, "high_price"),
    (3, "low_price"),
    (4, "close_price"),
    (5, "volume"),
    (7, "quote_volume"),
    (9, "taker_buy_base_volume"),
    (10, "taker_buy_quote_volume"),
];

/// Equal digit for digit; NUMERIC(38,8) pads to eight fraction digits, Binance may not.
fn assert_same_decimal(what: &str, stored: &str, served: &str) {
    let trim = |text: &str| {
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            text.to_owned()
        }
    };
    assert_eq!(
        trim(stored),
        trim(served),
        "{what}: stored {stored}, served {served}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_values_equal_the_simulator_strings() {
    let database = database("exactness").await;
    let admin = database.admin().await;
    let sim = sim(frozen_market()).await;
    ingester::run(
        config(
            &database.ingester_url(),
            &sim.base_url(),
            &SYMBOLS,
            &["--once"],
        ),
        Default::default(),
    )
    .await
    .expect("--once poll");

    let http = reqwest::Client::new();
    let symbols_param = format!("[\"{}\"]", SYMBOLS.join("\",\""));
    let tickers: Vec<Value> = http
        .get(format!("{}/api/v3/ticker/24hr", sim.base_url()))
        .query(&[("symbols", symbols_param)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tickers.len(), SYMBOLS.len());
    for ticker in &tickers {
        let symbol = ticker["symbol"].as_str().unwrap();
        let columns: Vec<String> = TICKER_FIELDS
            .iter()
            .map(|(_, column)| format!("{column}::text"))
            .collect();
        let rows = admin
            .query(
                &format!(
                    "SELECT {}, trade_count, (extract(epoch FROM close_time) * 1000)::bigint
                       FROM ticker_24h WHERE symbol = $1",
                    columns.join(", ")
                ),
                &[&symbol],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{symbol}: one ticker row per poll");
        for (index, (field, _)) in TICKER_FIELDS.iter().enumerate() {
            let stored: String = rows[0].get(index);
            assert_same_decimal(
                &format!("{symbol} {field}"),
                &stored,
                ticker[field].as_str().unwrap(),
            );
        }
        assert_eq!(Some(rows[0].get::<_, i64>(15)), ticker["count"].as_i64());
        assert_eq!(
            Some(rows[0].get::<_, i64>(16)),
            ticker["closeTime"].as_i64()
        );
    }

    for symbol in SYMBOLS {
        let klines: Vec<Vec<Value>> = http
            .get(format!("{}/api/v3/klines", sim.base_url()))
            .query(&[
                ("symbol", symbol),
                ("interval", "1m"),
                ("startTime", &HISTORY_START.to_string()),
                ("limit", "1000"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let columns: Vec<String> = KLINE_FIELDS
            .iter()
            .map(|(_, column)| format!("{column}::text"))
            .collect();
        let rows = admin
            .query(
                &format!(
                    "SELECT (extract(epoch FROM open_time) * 1000)::bigint, {}, trade_count,
                            (extract(epoch FROM close_time) * 1000)::bigint
                       FROM klines WHERE symbol = $1 AND interval = '1m' ORDER BY open_time",
                    columns.join(", ")
                ),
                &[&symbol],
            )
            .await
            .unwrap();
        assert_eq!(
            rows.len(),
            klines.len(),
            "{symbol}: one row per candle of the last hour"
        );
        assert_eq!(
            rows.len(),
            61,
            "{symbol}: an hour of history and the open candle"
        );
        for (row, kline) in rows.iter().zip(&klines) {
            assert_eq!(Some(row.get::<_, i64>(0)), kline[0].as_i64());
            for (index, (position, column)) in KLINE_FIELDS.iter().enumerate() {
                let stored: String = row.get(index + 1);
                assert_same_decimal(
                    &format!("{symbol} {} {column}", kline[0]),
                    &stored,
                    kline[*position].as_str().unwrap(),
                );
            }
            assert_eq!(Some(row.get::<_, i64>(9)), kline[8].as_i64());
            assert_eq!(Some(row.get::<_, i64>(10)), kline[6].as_i64());
        }
    }
    sim.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_candle_is_not_written_again() {
    const SYMBOL: &str = "SYM0103USDT";
    let database = database("unchanged_candle").await;
    let admin = database.admin().await;
    let sim = sim(frozen_market()).await;
    let once = || {
        config(
            &database.ingester_url(),
            &sim.base_url(),
            &[SYMBOL],
            &["--once"],
        )
    };
    ingester::run(once(), Default::default()).await.unwrap();
    let stamps =
        "SELECT array_agg(updated_at ORDER BY open_time)::text FROM klines WHERE symbol = $1";
    let before: String = admin.query_one(stamps, &[&SYMBOL]).await.unwrap().get(0);
    // The frozen market serves the same candles again, the open one included.
    ingester::run(once(), Default::default()).await.unwrap();
    let after: String = admin.query_one(stamps, &[&SYMBOL]).await.unwrap().get(0);
    assert_eq!(
        before, after,
        "no candle was updated, so no change event was produced"
    );
    sim.stop().await.unwrap();
}
