//! Parser tests: Binance's documented examples parse digit for digit, and malformed bodies give
//! errors that name the place and what was wrong.

use std::str::FromStr;

use binance::{
    ApiError, Kline, ParseError, RateLimitInterval, RateLimitKind, SymbolStatus, parse_api_error,
    parse_exchange_info, parse_klines, parse_mini_tickers, parse_tickers,
};
use rust_decimal::Decimal;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn error_text(result: Result<impl std::fmt::Debug, ParseError>) -> String {
    result.expect_err("should not parse").to_string()
}

#[test]
fn full_ticker_single_object() {
    let tickers = parse_tickers(&fixture("ticker_24hr_full.json")).unwrap();
    assert_eq!(tickers.len(), 1);
    let ticker = &tickers[0];
    assert_eq!(ticker.symbol, "BNBBTC");
    assert_eq!(ticker.price_change, dec("-94.99999800"));
    assert_eq!(ticker.price_change_percent, dec("-95.960"));
    assert_eq!(ticker.weighted_avg_price, dec("0.29628482"));
    assert_eq!(ticker.prev_close_price, dec("0.10002000"));
    assert_eq!(ticker.last_price, dec("4.00000200"));
    assert_eq!(ticker.last_qty, dec("200.00000000"));
    assert_eq!(ticker.bid_price, dec("4.00000000"));
    assert_eq!(ticker.bid_qty, dec("100.00000000"));
    assert_eq!(ticker.ask_price, dec("4.00000200"));
    assert_eq!(ticker.ask_qty, dec("100.00000000"));
    assert_eq!(ticker.open_price, dec("99.00000000"));
    assert_eq!(ticker.high_price, dec("100.00000000"));
    assert_eq!(ticker.low_price, dec("0.10000000"));
    assert_eq!(ticker.volume, dec("8913.30000000"));
    assert_eq!(ticker.quote_volume, dec("15.30000000"));
    assert_eq!(
        (ticker.open_time, ticker.close_time),
        (1499783499040, 1499869899040)
    );
    assert_eq!(
        (ticker.first_id, ticker.last_id, ticker.count),
        (28385, 28460, 76)
    );
    // Exact: the scale Binance sent survives, trailing zeros included.
    assert_eq!(ticker.last_price.to_string(), "4.00000200");
}

#[test]
fn full_ticker_list_equals_single_object() {
    let list = parse_tickers(&fixture("ticker_24hr_full_list.json")).unwrap();
    let single = parse_tickers(&fixture("ticker_24hr_full.json")).unwrap();
    assert_eq!(list, single);
}

#[test]
fn mini_ticker() {
    let tickers = parse_mini_tickers(&fixture("ticker_24hr_mini.json")).unwrap();
    assert_eq!(tickers.len(), 1);
    let ticker = &tickers[0];
    assert_eq!(ticker.symbol, "BNBBTC");
    assert_eq!(ticker.open_price, dec("99.00000000"));
    assert_eq!(ticker.last_price, dec("4.00000200"));
    assert_eq!(ticker.quote_volume, dec("15.30000000"));
    assert_eq!(ticker.count, 76);
    // A MINI body lacks the FULL-only fields, and the FULL parser says which.
    assert_eq!(
        error_text(parse_tickers(&fixture("ticker_24hr_mini.json"))),
        "ticker/24hr[0].priceChange is missing"
    );
}

#[test]
fn klines_row() {
    let klines = parse_klines(&fixture("klines.json")).unwrap();
    assert_eq!(
        klines,
        vec![Kline {
            open_time: 1499040000000,
            open: dec("0.01634790"),
            high: dec("0.80000000"),
            low: dec("0.01575800"),
            close: dec("0.01577100"),
            volume: dec("148976.11427815"),
            close_time: 1499644799999,
            quote_volume: dec("2434.19055334"),
            trades: 308,
            taker_buy_base_volume: dec("1756.87402397"),
            taker_buy_quote_volume: dec("28.46694368"),
        }]
    );
}

#[test]
fn exchange_info_excerpt() {
    let info = parse_exchange_info(&fixture("exchange_info.json")).unwrap();
    assert_eq!(info.server_time, 1565246363776);
    assert_eq!(info.symbols.len(), 1);
    let symbol = &info.symbols[0];
    assert_eq!(
        (
            symbol.symbol.as_str(),
            symbol.base_asset.as_str(),
            symbol.quote_asset.as_str()
        ),
        ("ETHBTC", "ETH", "BTC")
    );
    assert_eq!(symbol.status, SymbolStatus::Trading);
    assert_eq!(info.rate_limits.len(), 3);
    let weight = info.request_weight_limit().unwrap();
    assert_eq!(weight.kind, RateLimitKind::RequestWeight);
    assert_eq!(
        (weight.interval, weight.interval_num, weight.limit),
        (RateLimitInterval::Minute, 1, 6000)
    );
    assert_eq!(weight.window_ms(), 60_000);
    assert_eq!(info.rate_limits[2].kind, RateLimitKind::RawRequests);
}

#[test]
fn unknown_symbol_status_is_kept() {
    let body = br#"{"serverTime":1,"rateLimits":[],"symbols":[
        {"symbol":"ABCUSDT","status":"END_OF_DAY","baseAsset":"ABC","quoteAsset":"USDT"}]}"#;
    let info = parse_exchange_info(body).unwrap();
    assert_eq!(
        info.symbols[0].status,
        SymbolStatus::Other("END_OF_DAY".into())
    );
    assert_eq!(info.request_weight_limit(), None);
}

#[test]
fn error_body() {
    assert_eq!(
        parse_api_error(&fixture("error_invalid_symbol.json")).unwrap(),
        ApiError {
            code: -1121,
            msg: "Invalid symbol.".into()
        }
    );
    assert_eq!(
        parse_api_error(&fixture("error_invalid_symbol.json"))
            .unwrap()
            .to_string(),
        "Binance error -1121: Invalid symbol."
    );
    assert_eq!(
        error_text(parse_api_error(br#"{"code":"x","msg":"m"}"#)),
        r#"error body.code should be an integer, found string "x""#
    );
}

/// Four valid rows, then a fifth whose open price is `bad`.
fn klines_with_bad_open(bad: &str) -> Vec<u8> {
    let row = r#"[1499040000000,"1.0","2.0","0.5","1.5","10",1499644799999,"15",3,"5","7.5","0"]"#;
    let bad_row = row.replacen(r#""1.0""#, bad, 1);
    format!("[{row},{row},{row},{bad_row}]").into_bytes()
}

#[test]
fn malformed_decimal_names_row_and_column() {
    assert_eq!(
        error_text(parse_klines(&klines_with_bad_open(r#""abc""#))),
        r#"klines[3][1] "abc" is not a decimal"#
    );
    assert_eq!(
        error_text(parse_klines(&klines_with_bad_open(r#""12.3.4""#))),
        r#"klines[3][1] "12.3.4" is not a decimal"#
    );
}

#[test]
fn number_where_a_decimal_string_is_expected() {
    assert_eq!(
        error_text(parse_klines(&klines_with_bad_open("1.0"))),
        "klines[3][1] should be a decimal string, found number 1.0"
    );
    let body = String::from_utf8(fixture("ticker_24hr_full_list.json"))
        .unwrap()
        .replace(r#""lastPrice": "4.00000200""#, r#""lastPrice": 4.000002"#);
    assert_eq!(
        error_text(parse_tickers(body.as_bytes())),
        "ticker/24hr[0].lastPrice should be a decimal string, found number 4.000002"
    );
}

#[test]
fn short_kline_row() {
    let body = br#"[[1499040000000,"1","2","0.5","1.5","10",1499644799999,"15",3,"5","7.5"]]"#;
    assert_eq!(
        error_text(parse_klines(body)),
        "klines[0] has 11 elements, expected 12"
    );
}

#[test]
fn truncated_json() {
    let full = fixture("ticker_24hr_full_list.json");
    let message = error_text(parse_tickers(&full[..full.len() / 2]));
    assert!(
        message.starts_with("ticker/24hr: the body is not valid JSON (EOF while parsing"),
        "{message}"
    );
    let full = fixture("klines.json");
    assert!(
        error_text(parse_klines(&full[..40])).starts_with("klines: the body is not valid JSON")
    );
}

#[test]
fn wrong_top_level_shape() {
    assert_eq!(
        error_text(parse_klines(br#"{"code":-1121,"msg":"Invalid symbol."}"#)),
        r#"klines should be an array, found object {"code":-1121,"msg":"Invalid symbol."}"#
    );
    assert_eq!(
        error_text(parse_exchange_info(br#"{"serverTime":1,"symbols":[]}"#)),
        "exchangeInfo.rateLimits is missing"
    );
    assert_eq!(
        error_text(parse_tickers(br#"[{"symbol":"X"}, 7]"#)),
        "ticker/24hr[0].priceChange is missing"
    );
    assert_eq!(
        error_text(parse_tickers(br#"[7]"#)),
        "ticker/24hr[0] should be an object, found number 7"
    );
}

#[test]
fn huge_volumes_and_tiny_prices_stay_exact() {
    let body = br#"[[1,"0.00001234","0.00001240","0.00001200","0.00001239","123456789012.00000000",2,"1523456.12345678",99,"61728394506.00000000","761728.06172839","0"]]"#;
    let kline = &parse_klines(body).unwrap()[0];
    assert_eq!(kline.open.to_string(), "0.00001234");
    assert_eq!(kline.volume.to_string(), "123456789012.00000000");
}
