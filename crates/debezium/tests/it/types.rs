//! Non-decimal column types: each schema type and logical name decodes to its typed value.

use chrono::{NaiveDate, NaiveTime};
use debezium::Value;
use serde_json::{Value as Json, json};

use crate::decode_column;

fn named(kind: &str, name: &str) -> Json {
    json!({"type": kind, "optional": true, "name": name})
}

fn optional(kind: &str) -> Json {
    json!({"type": kind, "optional": true})
}

fn rfc3339(value: Value) -> String {
    match value {
        Value::Timestamp(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        other => panic!("not a timestamp: {other:?}"),
    }
}

#[test]
fn timestamps_in_every_unit() {
    let cases = [
        (
            "io.debezium.time.MicroTimestamp",
            1762266037123456i64,
            "2025-11-04T14:20:37.123456Z",
        ),
        (
            "io.debezium.time.Timestamp",
            1762266037123,
            "2025-11-04T14:20:37.123Z",
        ),
        (
            "org.apache.kafka.connect.data.Timestamp",
            1762266037123,
            "2025-11-04T14:20:37.123Z",
        ),
        (
            "io.debezium.time.NanoTimestamp",
            1762266037123456789,
            "2025-11-04T14:20:37.123456789Z",
        ),
        (
            "io.debezium.time.MicroTimestamp",
            -1,
            "1969-12-31T23:59:59.999999Z",
        ),
    ];
    for (name, count, expected) in cases {
        let decoded = decode_column(named("int64", name), json!(count)).unwrap();
        assert_eq!(rfc3339(decoded), expected, "{name}");
    }
}

#[test]
fn zoned_timestamps_with_any_fraction_and_offset_become_utc() {
    let cases = [
        ("2025-11-04T14:19:37.123456Z", "2025-11-04T14:19:37.123456Z"),
        ("2025-11-04T14:19:37Z", "2025-11-04T14:19:37Z"),
        ("2025-11-04T14:19:37.1Z", "2025-11-04T14:19:37.100Z"),
        (
            "2025-11-04T14:19:37.123456789Z",
            "2025-11-04T14:19:37.123456789Z",
        ),
        ("2025-11-04T16:19:37.5+02:00", "2025-11-04T14:19:37.500Z"),
    ];
    for (sent, expected) in cases {
        let decoded = decode_column(
            named("string", "io.debezium.time.ZonedTimestamp"),
            json!(sent),
        );
        assert_eq!(rfc3339(decoded.unwrap()), expected, "{sent}");
    }
    // PostgreSQL's infinite timestamps have no instant; Debezium sends the words.
    assert_eq!(
        decode_column(
            named("string", "io.debezium.time.ZonedTimestamp"),
            json!("infinity")
        ),
        Ok(Value::String("infinity".into()))
    );
}

#[test]
fn dates_and_times() {
    let day = |y, m, d| Value::Date(NaiveDate::from_ymd_opt(y, m, d).unwrap());
    for name in [
        "io.debezium.time.Date",
        "org.apache.kafka.connect.data.Date",
    ] {
        assert_eq!(
            decode_column(named("int32", name), json!(20396)),
            Ok(day(2025, 11, 4))
        );
    }
    assert_eq!(
        decode_column(named("int32", "io.debezium.time.Date"), json!(-1)),
        Ok(day(1969, 12, 31))
    );
    let time =
        |nanos| Value::Time(NaiveTime::from_num_seconds_from_midnight_opt(51_577, nanos).unwrap());
    let cases = [
        ("int32", "io.debezium.time.Time", 51_577_123i64, 123_000_000),
        (
            "int32",
            "org.apache.kafka.connect.data.Time",
            51_577_123,
            123_000_000,
        ),
        ("int64", "io.debezium.time.MicroTime", 51_577_000_001, 1_000),
        ("int64", "io.debezium.time.NanoTime", 51_577_000_000_001, 1),
    ];
    for (kind, name, count, nanos) in cases {
        assert_eq!(
            decode_column(named(kind, name), json!(count)),
            Ok(time(nanos)),
            "{name}"
        );
    }
}

#[test]
fn plain_types() {
    let cases = [
        ("int8", json!(-128), Value::Int(-128)),
        ("int16", json!(-32768), Value::Int(-32768)),
        ("int32", json!(2147483647), Value::Int(2147483647)),
        ("int64", json!(i64::MIN), Value::Int(i64::MIN)),
        ("boolean", json!(true), Value::Bool(true)),
        ("string", json!("BTCUSDT"), Value::String("BTCUSDT".into())),
        (
            "string",
            json!("caf\u{e9} \"q\""),
            Value::String("caf\u{e9} \"q\"".into()),
        ),
        ("bytes", json!("AQI="), Value::Bytes(vec![1, 2])),
        ("bytes", json!(""), Value::Bytes(vec![])),
        ("double", json!(-2.25), Value::Float(-2.25)),
        ("float", json!(1.5), Value::Float(1.5)),
        ("float64", json!(3), Value::Float(3.0)),
        ("double", json!("Infinity"), Value::Float(f64::INFINITY)),
        (
            "double",
            json!("-Infinity"),
            Value::Float(f64::NEG_INFINITY),
        ),
    ];
    for (kind, sent, expected) in cases {
        assert_eq!(
            decode_column(optional(kind), sent.clone()),
            Ok(expected),
            "{kind} {sent}"
        );
    }
    assert!(
        matches!(decode_column(optional("float64"), json!("NaN")).unwrap(), Value::Float(f) if f.is_nan())
    );
}

#[test]
fn logical_types_carried_as_strings_stay_text() {
    let cases = [
        ("io.debezium.data.Json", r#"{"a": [1, 2]}"#),
        (
            "io.debezium.data.Uuid",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        ),
        ("io.debezium.data.Enum", "volatile"),
        ("io.debezium.time.ZonedTime", "14:19:37.123456Z"),
    ];
    for (name, text) in cases {
        assert_eq!(
            decode_column(named("string", name), json!(text)),
            Ok(Value::String(text.into())),
            "{name}"
        );
    }
    assert_eq!(
        decode_column(named("bytes", "io.debezium.data.Bits"), json!("BQ==")),
        Ok(Value::Bytes(vec![5]))
    );
}

#[test]
fn arrays_and_maps_keep_their_json_text() {
    let array =
        json!({"type": "array", "optional": true, "items": {"type": "string", "optional": true}});
    assert_eq!(
        decode_column(array.clone(), json!(["a", null])),
        Ok(Value::Structured(r#"["a",null]"#.into()))
    );
    assert_eq!(decode_column(array, json!(null)), Ok(Value::Null));
}

#[test]
fn nested_structs_decode_field_by_field() {
    let point = json!({"type": "struct", "optional": true, "name": "io.debezium.data.geometry.Point",
                       "fields": [{"type": "double", "optional": false, "field": "x"},
                                  {"type": "double", "optional": false, "field": "y"}]});
    let Value::Row(row) = decode_column(point, json!({"x": 1.5, "y": -2.0})).unwrap() else {
        panic!("not a row")
    };
    assert_eq!(row.get("x"), Some(&Value::Float(1.5)));
    assert_eq!(row.get("y"), Some(&Value::Float(-2.0)));
}

#[test]
fn absent_optional_fields_are_null_and_unknown_fields_are_ignored() {
    let columns = [("a", optional("int64")), ("b", optional("string"))];
    let bytes = crate::message("c", &columns, json!(null), json!({"b": "x", "extra": 1}));
    let after = crate::event(&bytes).after.unwrap();
    let columns: Vec<_> = after.iter().collect();
    assert_eq!(
        columns,
        [("a", &Value::Null), ("b", &Value::String("x".into()))]
    );
}

#[test]
fn unchanged_toasted_values_are_unavailable_not_data() {
    let placeholder = "__debezium_unavailable_value";
    let base64_placeholder = "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==";
    let cases = [
        (optional("string"), json!(placeholder)),
        (named("string", "io.debezium.data.Json"), json!(placeholder)),
        (optional("bytes"), json!(base64_placeholder)),
        (crate::decimal_schema(8), json!(base64_placeholder)),
    ];
    for (schema, sent) in cases {
        assert_eq!(
            decode_column(schema.clone(), sent),
            Ok(Value::Unavailable),
            "{schema}"
        );
    }
}
