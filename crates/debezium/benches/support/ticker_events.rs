//! Deterministic `ticker_24h` change events, byte for byte as Debezium 3.x's PostgreSQL connector
//! writes them through Kafka Connect's JSON converter (schemas enabled,
//! `decimal.handling.mode=precise`) for the table in `sql/postgres/01-tables.sql`.
//!
//! Shared by the decode benchmark and `examples/write_bench_events.rs` (through `#[path]`), so
//! the Rust benchmark and the Python baseline in `bench/` decode the very same bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Duration, Utc};
use num_bigint::BigInt;

/// How many distinct events the benchmark cycles through: ~9 MB, more than the caches hold, so
/// each decode reads its message from memory as a consumer reading fresh Kafka batches does.
pub const EVENT_COUNT: usize = 1000;

/// The 15 `NUMERIC(38, 8)` columns, in table order.
const DECIMAL_COLUMNS: [&str; 15] = [
    "price_change",
    "price_change_percent",
    "weighted_avg_price",
    "prev_close_price",
    "last_price",
    "last_qty",
    "bid_price",
    "bid_qty",
    "ask_price",
    "ask_qty",
    "open_price",
    "high_price",
    "low_price",
    "volume",
    "quote_volume",
];

/// Symbols and a typical last price in units of 1e-8, so magnitudes span sub-cent to six digits
/// and encodings span 3 to 16 bytes, as on the real market.
const SYMBOLS: [(&str, i128); 12] = [
    ("BTCUSDT", 10_379_397_000_000),
    ("ETHUSDT", 351_234_000_000),
    ("BNBUSDT", 98_765_000_000),
    ("SOLUSDT", 16_543_000_000),
    ("XRPUSDT", 243_210_000),
    ("DOGEUSDT", 17_654_321),
    ("ADAUSDT", 56_780_000),
    ("TRXUSDT", 29_870_000),
    ("LINKUSDT", 1_567_800_000),
    ("PEPEUSDT", 812),
    ("SHIBUSDT", 1_023),
    ("WBTCUSDT", 10_371_234_000_000),
];

/// `count` distinct insert events; the same `count` always gives the same bytes.
pub fn ticker_events(count: usize) -> Vec<Vec<u8>> {
    let schema = envelope_schema();
    let mut random = SplitMix64(0x5eed_7e1c_e4b0_0001);
    let first_commit = DateTime::UNIX_EPOCH + Duration::milliseconds(1_762_266_037_123);
    (0..count)
        .map(|index| {
            let (symbol, typical) = SYMBOLS[index % SYMBOLS.len()];
            let payload = payload(index, symbol, typical, first_commit, &mut random);
            // The JSON converter's layout: schema first, no whitespace.
            format!(r#"{{"schema":{schema},"payload":{payload}}}"#).into_bytes()
        })
        .collect()
}

fn payload(
    index: usize,
    symbol: &str,
    typical: i128,
    first_commit: DateTime<Utc>,
    random: &mut SplitMix64,
) -> String {
    // Prices wander ±5 % around the typical one; quantities are whatever size they are.
    let mut around = |base: i128| base + base * i128::from(random.below(1001)) / 10_000 - base / 20;
    let last = around(typical);
    let open = around(typical);
    let prev_close = open;
    let change = last - open;
    // Percent at scale 8: 100 × change / open, rounded toward zero like Binance's.
    let change_percent = change * 100 * 100_000_000 / open.max(1);
    let (high, low) = (last.max(open) + typical / 50, last.min(open) - typical / 50);
    let weighted = (high + low) / 2;
    let tick = (typical / 10_000).max(1);
    let volume = i128::from(random.below(50_000_000)) * 1_000_000;
    let mut quantity = || i128::from(random.below(1_000_000_000)) * 1_000;
    let decimals: [i128; 15] = [
        change,
        change_percent,
        weighted,
        prev_close,
        last,
        quantity(),
        last - tick,
        quantity(),
        last,
        quantity(),
        open,
        high,
        low,
        volume,
        volume / 100_000_000 * weighted,
    ];

    let id = index as i64 + 1;
    let commit = first_commit + Duration::milliseconds(index as i64 * 37);
    let commit_us = commit.timestamp_micros() + (index as i64 * 7919) % 1000;
    let lsn = 24_023_128 + index as i64 * 1_464;
    let first_trade_id = 5_401_234_567 + index as i64 * 211;
    let trade_count = 2_111_112 + (index as i64 * 7) % 50_000;

    let mut after = format!(r#"{{"id":{id},"symbol":"{symbol}""#);
    for (column, unscaled) in DECIMAL_COLUMNS.iter().zip(decimals) {
        after.push_str(&format!(r#","{column}":"{}""#, encode_decimal(unscaled)));
    }
    after.push_str(&format!(
        r#","open_time":"{}","close_time":"{}","first_trade_id":{first_trade_id},"last_trade_id":{},"trade_count":{trade_count},"fetched_at":"{}"}}"#,
        zoned(commit - Duration::days(1)),
        zoned(commit - Duration::milliseconds(1)),
        first_trade_id + trade_count - 1,
        zoned(commit - Duration::microseconds(24_358)),
    ));
    let source = format!(
        r#"{{"version":"3.6.3.Final","connector":"postgresql","name":"crypto","ts_ms":{},"snapshot":"false","db":"crypto_db","sequence":"[\"{}\",\"{lsn}\"]","ts_us":{commit_us},"ts_ns":{},"schema":"public","table":"ticker_24h","txId":{},"lsn":{lsn},"xmin":null,"origin":null,"origin_lsn":null}}"#,
        commit.timestamp_millis(),
        lsn - 224,
        commit_us * 1_000,
        771 + index,
    );
    // Debezium reads the change some 100–300 ms after the commit.
    let processed_us = commit_us + 100_000 + random.below(200_000) as i64;
    format!(
        r#"{{"before":null,"after":{after},"source":{source},"transaction":null,"op":"c","ts_ms":{},"ts_us":{processed_us},"ts_ns":{}}}"#,
        processed_us / 1_000,
        processed_us * 1_000 + 465,
    )
}

/// What `BigInteger.toByteArray` gives — minimal big-endian two's complement — in base64.
fn encode_decimal(unscaled: i128) -> String {
    BASE64.encode(BigInt::from(unscaled).to_signed_bytes_be())
}

/// `io.debezium.time.ZonedTimestamp` for a `timestamptz` column: UTC, microsecond precision.
fn zoned(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The envelope schema the connector attaches to every message of `crypto.public.ticker_24h`,
/// with the `source` and `transaction` blocks of the connector 3.6.3 recorded in
/// `tests/fixtures/captured_all_types.jsonl`.
fn envelope_schema() -> String {
    let decimal = |column: &str| {
        format!(
            r#"{{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{{"scale":"8","connect.decimal.precision":"38"}},"field":"{column}"}}"#
        )
    };
    let zoned = |column: &str, optional: bool, default: &str| {
        format!(
            r#"{{"type":"string","optional":{optional},"name":"io.debezium.time.ZonedTimestamp","version":1,{default}"field":"{column}"}}"#
        )
    };
    let mut row = String::from(
        r#"{"type":"int64","optional":false,"default":0,"field":"id"},{"type":"string","optional":false,"field":"symbol"}"#,
    );
    for column in DECIMAL_COLUMNS {
        row.push(',');
        row.push_str(&decimal(column));
    }
    row.push_str(&format!(
        r#",{},{},{{"type":"int64","optional":true,"field":"first_trade_id"}},{{"type":"int64","optional":true,"field":"last_trade_id"}},{{"type":"int64","optional":true,"field":"trade_count"}},{}"#,
        zoned("open_time", true, ""),
        zoned("close_time", false, ""),
        // `DEFAULT now()` has no constant value; the connector declares the epoch.
        zoned("fetched_at", false, r#""default":"1970-01-01T00:00:00Z","#),
    ));
    let image = |field: &str| {
        format!(
            r#"{{"type":"struct","fields":[{row}],"optional":true,"name":"crypto.public.ticker_24h.Value","field":"{field}"}}"#
        )
    };
    format!(
        concat!(
            r#"{{"type":"struct","fields":[{before},{after},"#,
            r#"{{"type":"struct","fields":[{{"type":"string","optional":false,"field":"version"}},{{"type":"string","optional":false,"field":"connector"}},{{"type":"string","optional":false,"field":"name"}},{{"type":"int64","optional":false,"field":"ts_ms"}},"#,
            r#"{{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{{"allowed":"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"}},"default":"false","field":"snapshot"}},"#,
            r#"{{"type":"string","optional":false,"field":"db"}},{{"type":"string","optional":true,"field":"sequence"}},{{"type":"int64","optional":true,"field":"ts_us"}},{{"type":"int64","optional":true,"field":"ts_ns"}},"#,
            r#"{{"type":"string","optional":false,"field":"schema"}},{{"type":"string","optional":false,"field":"table"}},{{"type":"int64","optional":true,"field":"txId"}},{{"type":"int64","optional":true,"field":"lsn"}},{{"type":"int64","optional":true,"field":"xmin"}},"#,
            r#"{{"type":"string","optional":true,"field":"origin"}},{{"type":"int64","optional":true,"field":"origin_lsn"}}],"optional":false,"name":"io.debezium.connector.postgresql.Source","version":1,"field":"source"}},"#,
            r#"{{"type":"struct","fields":[{{"type":"string","optional":false,"field":"id"}},{{"type":"int64","optional":false,"field":"total_order"}},{{"type":"int64","optional":false,"field":"data_collection_order"}}],"optional":true,"name":"event.block","version":1,"field":"transaction"}},"#,
            r#"{{"type":"string","optional":false,"field":"op"}},{{"type":"int64","optional":true,"field":"ts_ms"}},{{"type":"int64","optional":true,"field":"ts_us"}},{{"type":"int64","optional":true,"field":"ts_ns"}}],"#,
            r#""optional":false,"name":"crypto.public.ticker_24h.Envelope","version":2}}"#
        ),
        before = image("before"),
        after = image("after"),
    )
}

/// SplitMix64: a few lines, deterministic everywhere, and no dependency for it.
struct SplitMix64(u64);

impl SplitMix64 {
    /// A number in `0..bound`; the slight modulo bias does not matter for test data.
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % bound
    }
}
