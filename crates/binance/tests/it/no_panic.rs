//! No reply can panic the client: every parser, given any JSON (or any bytes), returns a value
//! or an error. Arbitrary JSON alone seldom reaches a parser's inner fields, so bodies are also
//! built from the field names the parsers read, and made by replacing one value anywhere in a
//! documented example with an arbitrary one. Whatever exchangeInfo the parser accepts, the
//! weight budget can then adopt and use without dividing by zero or overflowing.

use std::time::Duration;

use binance::{
    Throttle, WeightBudget, parse_api_error, parse_exchange_info, parse_klines, parse_mini_tickers,
    parse_tickers,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value};

/// Every key any parser reads.
const KEYS: &[&str] = &[
    "serverTime",
    "rateLimits",
    "symbols",
    "rateLimitType",
    "interval",
    "intervalNum",
    "limit",
    "symbol",
    "status",
    "baseAsset",
    "quoteAsset",
    "priceChange",
    "priceChangePercent",
    "weightedAvgPrice",
    "prevClosePrice",
    "lastPrice",
    "lastQty",
    "bidPrice",
    "bidQty",
    "askPrice",
    "askQty",
    "openPrice",
    "highPrice",
    "lowPrice",
    "volume",
    "quoteVolume",
    "openTime",
    "closeTime",
    "firstId",
    "lastId",
    "count",
    "code",
    "msg",
];

/// Strings that mean something to a parser, and some that almost do.
const STRINGS: &[&str] = &[
    "",
    "0",
    "-0",
    "1.5",
    "-94.99999800",
    "00.1",
    "1e5",
    ".5",
    "5.",
    "abc",
    "NaN",
    "Infinity",
    "79228162514264337593543950336",
    "0.00000000000000000000000000001",
    "SECOND",
    "MINUTE",
    "HOUR",
    "DAY",
    "WEEK",
    "REQUEST_WEIGHT",
    "ORDERS",
    "TRADING",
    "BREAK",
    "BTCUSDT",
    "BTC\"USDT",
    "币安人生USDT",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just(0i64),
            Just(-1),
            Just(1),
            Just(i64::MIN),
            Just(i64::MAX),
            Just(i64::from(u32::MAX)),
            Just(i64::from(u32::MAX) + 1),
            any::<i64>(),
        ]
        .prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // non-finite floats become null
        prop::sample::select(STRINGS).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ]
}

/// Integers at and around every bound a parser or the weight budget has.
fn edge_integer() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::sample::select(vec![0i64, -1, 1]).prop_map(Value::from),
        6 => prop::sample::select(vec![
            2i64, 60, 1000, 6000, 86_400, 86_401, 1_000_000, 1_000_001,
            i64::from(u32::MAX), i64::from(u32::MAX) + 1, 253_402_300_799_999,
            253_402_300_800_000, i64::MIN, i64::MAX,
        ])
        .prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => Just(Value::from(u64::MAX)),
    ]
}

/// A plausible value most of the time, anything at all otherwise.
fn mostly(plausible: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    prop_oneof![9 => plausible, 1 => json()]
}

/// Bodies with exchangeInfo's shape, every field near or past its bounds.
fn exchange_info_shaped() -> impl Strategy<Value = Value> {
    let text =
        |options: &'static [&'static str]| prop::sample::select(options).prop_map(Value::from);
    let rate_limit = (
        mostly(text(&["REQUEST_WEIGHT", "ORDERS", "RAW_REQUESTS", "OTHER"])),
        mostly(text(&["SECOND", "MINUTE", "HOUR", "DAY", "WEEK"])),
        mostly(edge_integer()),
        mostly(edge_integer()),
    )
        .prop_map(|(kind, interval, interval_num, limit)| {
            serde_json::json!({
                "rateLimitType": kind, "interval": interval,
                "intervalNum": interval_num, "limit": limit,
            })
        });
    let symbol = (
        mostly(text(STRINGS)),
        mostly(text(&["TRADING", "BREAK", "HALT", "END_OF_DAY"])),
        mostly(text(STRINGS)),
        mostly(text(STRINGS)),
    )
        .prop_map(|(symbol, status, base, quote)| {
            serde_json::json!({
                "symbol": symbol, "status": status, "baseAsset": base, "quoteAsset": quote,
            })
        });
    (
        mostly(edge_integer()),
        prop::collection::vec(rate_limit, 0..3),
        prop::collection::vec(symbol, 0..3),
    )
        .prop_map(|(server_time, rate_limits, symbols)| {
            serde_json::json!({
                "serverTime": server_time, "rateLimits": rate_limits, "symbols": symbols,
            })
        })
}

/// JSON trees whose objects mostly use the keys the parsers read.
fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 12, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..13).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
                        1 => "[a-zA-Z]{0,8}",
                    ],
                    inner
                ),
                0..12
            )
            .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    serde_json::from_slice(&text).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The JSON pointer of every value in `value`, itself included.
fn pointers(value: &Value, at: String, into: &mut Vec<String>) {
    match value {
        Value::Array(elements) => {
            for (index, element) in elements.iter().enumerate() {
                pointers(element, format!("{at}/{index}"), into);
            }
        }
        Value::Object(members) => {
            for (key, member) in members {
                pointers(
                    member,
                    format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")),
                    into,
                );
            }
        }
        _ => {}
    }
    into.push(at);
}

/// A documented example with the value at one place replaced.
fn mutated(name: &str, place: &Index, replacement: Value) -> Vec<u8> {
    let mut body = fixture(name);
    let mut places = Vec::new();
    pointers(&body, String::new(), &mut places);
    let pointer = place.get(&places);
    match body.pointer_mut(pointer) {
        Some(target) => *target = replacement,
        None => unreachable!("{pointer} was collected from the same value"),
    }
    serde_json::to_vec(&body).expect("a JSON value serializes")
}

const FIXTURES: &[&str] = &[
    "exchange_info.json",
    "ticker_24hr_full.json",
    "ticker_24hr_full_list.json",
    "ticker_24hr_mini.json",
    "klines.json",
    "error_invalid_symbol.json",
];

/// Runs every parser on `body`; none may panic. Whatever exchangeInfo is accepted, a weight
/// budget adopts each of its rate limits and keeps working.
fn parse_everything(body: &[u8]) {
    let _ = parse_tickers(body);
    let _ = parse_mini_tickers(body);
    let _ = parse_klines(body);
    let _ = parse_api_error(body);
    if let Ok(info) = parse_exchange_info(body) {
        let _ = info.request_weight_limit();
        for limit in info.rate_limits {
            assert!(limit.window_ms() > 0, "accepted a zero window: {limit:?}");
            assert!(limit.limit > 0, "accepted a zero limit: {limit:?}");
            let _ = limit.used_weight_header();
            let mut budget = WeightBudget::new(0.5);
            for now in [info.server_time, 0, i64::MAX / 2] {
                budget.set_limit(now, limit.clone());
                let _ = budget.try_acquire(now, 20);
                budget.record_used(now, now, u32::MAX);
                budget.record_throttle(now, Throttle::TooManyRequests, None);
                budget.record_throttle(now, Throttle::Banned, Some(Duration::MAX));
                let _ = budget.try_acquire(now, u32::MAX);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn no_parser_panics_on_any_json(value in json()) {
        parse_everything(&serde_json::to_vec(&value).expect("a JSON value serializes"));
    }

    #[test]
    fn no_parser_panics_on_a_documented_example_with_one_value_replaced(
        name in prop::sample::select(FIXTURES),
        place in any::<Index>(),
        replacement in json(),
    ) {
        parse_everything(&mutated(name, &place, replacement));
    }

    #[test]
    fn no_parser_panics_on_any_exchange_info_shaped_body(value in exchange_info_shaped()) {
        parse_everything(&serde_json::to_vec(&value).expect("a JSON value serializes"));
    }

    #[test]
    fn no_parser_panics_on_any_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
        parse_everything(&body);
    }
}
