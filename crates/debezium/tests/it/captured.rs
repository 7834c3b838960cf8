//! Messages recorded from the real Debezium PostgreSQL connector by `cargo xtask
//! capture-fixtures` (see `crates/xtask/src/fixtures.rs` for the statements that produced them):
//! a snapshot read, inserts of every column type, an update leaving a TOASTed column unchanged,
//! an update, a delete with its tombstone, and a truncate.

use chrono::{NaiveDate, NaiveTime};
use debezium::{Change, ChangeEvent, Decoder, Op, Row, Value};

const CAPTURED: &str = include_str!("../fixtures/captured_all_types.jsonl");

fn captured() -> Vec<Change> {
    let mut decoder = Decoder::new();
    CAPTURED
        .lines()
        .enumerate()
        .map(|(index, line)| {
            decoder
                .decode(Some(line.as_bytes()))
                .unwrap_or_else(|error| panic!("line {}: {error}", index + 1))
        })
        .collect()
}

fn event(change: &Change) -> &ChangeEvent {
    match change {
        Change::Event(event) => event,
        Change::Tombstone => panic!("expected an event, found a tombstone"),
    }
}

fn text(row: &Row, column: &str) -> String {
    match row.get(column) {
        Some(Value::Decimal(decimal)) => decimal.to_string(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Timestamp(at)) => at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        other => panic!("{column}: {other:?}"),
    }
}

#[test]
fn operations_arrive_in_order_with_their_source() {
    let changes = captured();
    let ops: Vec<&str> = changes
        .iter()
        .map(|change| match change {
            Change::Tombstone => "tombstone",
            Change::Event(event) => event.op.code(),
        })
        .collect();
    assert_eq!(
        ops,
        [
            "r",
            "c",
            "c",
            "c",
            "c",
            "c",
            "u",
            "u",
            "d",
            "tombstone",
            "t"
        ]
    );
    let snapshot = event(&changes[0]);
    assert_eq!(snapshot.source.snapshot.as_deref(), Some("last"));
    assert_eq!(snapshot.source.qualified_table(), "fixtures.all_types");
    let streamed = event(&changes[1]);
    assert_eq!(streamed.source.snapshot.as_deref(), Some("false"));
    assert!(streamed.source.lsn.is_some_and(|lsn| lsn > 0));
    assert!(streamed.source.tx_id.is_some());
    assert!(
        streamed
            .source
            .ts_us
            .is_some_and(|us| us / 1000 == streamed.source.ts_ms)
    );
}

#[test]
fn every_column_type_decodes_exactly() {
    let changes = captured();
    let row = event(&changes[1]).after.as_ref().unwrap();
    assert_eq!(text(row, "price"), "-1234.56789012");
    assert_eq!(text(row, "free_numeric"), "-0.000000000001");
    assert_eq!(row.get("small"), Some(&Value::Int(-32768)));
    assert_eq!(row.get("regular"), Some(&Value::Int(2147483647)));
    assert_eq!(row.get("big"), Some(&Value::Int(i64::MIN)));
    assert_eq!(row.get("single_float"), Some(&Value::Float(1.5)));
    assert_eq!(row.get("double_float"), Some(&Value::Float(-2.25)));
    assert_eq!(row.get("flag"), Some(&Value::Bool(true)));
    assert_eq!(row.get("raw"), Some(&Value::Bytes(vec![0x00, 0xff, 0x10])));
    assert_eq!(text(row, "document"), r#"{"a": [1, 2]}"#);
    assert_eq!(
        text(row, "identifier"),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    );
    assert_eq!(text(row, "mood"), "volatile");
    assert_eq!(
        row.get("day"),
        Some(&Value::Date(NaiveDate::from_ymd_opt(2025, 11, 4).unwrap()))
    );
    let time = NaiveTime::from_hms_micro_opt(14, 19, 37, 123_456).unwrap();
    assert_eq!(row.get("time_of_day"), Some(&Value::Time(time)));
    assert_eq!(text(row, "local_time"), "2025-11-04T14:19:37.123456Z");
    assert_eq!(text(row, "instant"), "2025-11-04T14:19:37.123456Z");
    assert_eq!(row.get("long_text"), Some(&Value::Null));
}

#[test]
fn large_zero_and_null_decimals() {
    let changes = captured();
    let large = event(&changes[2]).after.as_ref().unwrap();
    assert_eq!(text(large, "price"), "1234567890123.45678901");
    assert_eq!(
        text(large, "free_numeric"),
        "123456789012345678901234567890.123456789"
    );
    let zero = event(&changes[3]).after.as_ref().unwrap();
    assert_eq!(text(zero, "price"), "0.00000000");
    assert_eq!(text(zero, "free_numeric"), "0");
    let null = event(&changes[4]).after.as_ref().unwrap();
    assert_eq!(null.get("price"), Some(&Value::Null));
    let snapshot = event(&changes[0]).after.as_ref().unwrap();
    assert_eq!(text(snapshot, "price"), "103793.97000000");
}

#[test]
fn an_unchanged_toasted_column_is_unavailable_not_data() {
    let changes = captured();
    let inserted = event(&changes[5]).after.as_ref().unwrap();
    assert_eq!(text(inserted, "long_text").len(), 400 * 32);
    let updated = event(&changes[6]);
    assert_eq!(updated.op, Op::Update);
    let after = updated.after.as_ref().unwrap();
    assert_eq!(after.get("long_text"), Some(&Value::Unavailable));
    assert_eq!(text(after, "price"), "98765.43210000");
}

#[test]
fn delete_tombstone_and_truncate() {
    let changes = captured();
    let deleted = event(&changes[8]);
    assert_eq!(deleted.op, Op::Delete);
    assert!(deleted.after.is_none());
    assert_eq!(
        deleted.before.as_ref().unwrap().get("id"),
        Some(&Value::Int(4))
    );
    assert_eq!(changes[9], Change::Tombstone);
    let truncated = event(&changes[10]);
    assert_eq!(
        (truncated.op, &truncated.before, &truncated.after),
        (Op::Truncate, &None, &None)
    );
}
