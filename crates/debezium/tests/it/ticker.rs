//! The hand-written `ticker_24h` insert in `tests/fixtures/ticker_24h_create.json`: the table of
//! `sql/postgres/01-tables.sql` as Debezium 3.x sends it, every column checked.

use chrono::{DateTime, Utc};
use debezium::{Change, Decoder, Op, Value, to_json_line};

const TICKER: &[u8] = include_bytes!("../fixtures/ticker_24h_create.json");

fn utc(rfc3339: &str) -> Value {
    Value::Timestamp(
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc),
    )
}

#[test]
fn every_column_of_a_ticker_decodes_exactly() {
    let event = crate::event(TICKER);
    assert_eq!(event.op, Op::Create);
    assert_eq!(event.before, None);
    assert_eq!(event.source.qualified_table(), "public.ticker_24h");
    assert_eq!(event.source.lsn, Some(24023128));
    let after = event.after.unwrap();
    let decimals = [
        ("price_change", "-1234.56000000"),
        ("price_change_percent", "-1.17500000"),
        ("weighted_avg_price", "104321.12345678"),
        ("prev_close_price", "105028.53000000"),
        ("last_price", "103793.97000000"),
        ("last_qty", "0.00048000"),
        ("bid_price", "103793.96000000"),
        ("bid_qty", "3.61234000"),
        ("ask_price", "103793.97000000"),
        ("ask_qty", "0.08511000"),
        ("open_price", "105028.53000000"),
        ("high_price", "106666.00000000"),
        ("low_price", "103500.01000000"),
        ("volume", "21563.77889000"),
        ("quote_volume", "2249561234.56789010"),
    ];
    for (column, expected) in decimals {
        match after.get(column) {
            Some(Value::Decimal(decimal)) => assert_eq!(decimal.to_string(), expected, "{column}"),
            other => panic!("{column}: {other:?}"),
        }
    }
    assert_eq!(after.get("id"), Some(&Value::Int(4711)));
    assert_eq!(after.get("symbol"), Some(&Value::String("BTCUSDT".into())));
    assert_eq!(
        after.get("open_time"),
        Some(&utc("2025-11-03T14:20:37.123Z"))
    );
    assert_eq!(
        after.get("close_time"),
        Some(&utc("2025-11-04T14:20:37.122Z"))
    );
    assert_eq!(
        after.get("fetched_at"),
        Some(&utc("2025-11-04T14:20:37.098765Z"))
    );
    assert_eq!(after.get("trade_count"), Some(&Value::Int(2111112)));
    assert_eq!(after.iter().count(), 23);
}

#[test]
fn a_ticker_as_a_json_line() {
    let change = Decoder::new().decode(Some(TICKER)).unwrap();
    let line = to_json_line(&change);
    assert!(
        line.starts_with(r#"{"op":"c","table":"public.ticker_24h","lsn":24023128,"ts_ms":1762266037123,"before":null,"after":{"id":4711,"symbol":"BTCUSDT","price_change":"-1234.56000000","#),
        "{line}"
    );
    assert!(
        line.ends_with(r#""trade_count":2111112,"fetched_at":"2025-11-04T14:20:37.098765Z"}}"#),
        "{line}"
    );
    assert_eq!(to_json_line(&Change::Tombstone), r#"{"op":"tombstone"}"#);
}
