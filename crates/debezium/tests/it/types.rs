//! Non-decimal column types and the errors that name the field.

use debezium::{Change, DecodeError, Decoder, Value};
use serde_json::{Value as Json, json};

use crate::message;

fn decode_column(schema: Json, value: Json) -> Result<Value, DecodeError> {
    let bytes = message("c", &[("x", schema)], json!(null), json!({"x": value}));
    match Decoder::new().decode(Some(&bytes))? {
        Change::Event(event) => Ok(event.after.unwrap().get("x").unwrap().clone()),
        Change::Tombstone => panic!("not an event"),
    }
}

fn named(kind: &str, name: &str) -> Json {
    json!({"type": kind, "optional": true, "name": name})
}

fn rfc3339(value: Value) -> String {
    match value {
        Value::Timestamp(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        other => panic!("not a timestamp: {other:?}"),
    }
}

#[test]
fn timestamps_in_every_unit() {
    let zoned = decode_column(
        named("string", "io.debezium.time.ZonedTimestamp"),
        json!("2025-11-04T14:19:37.123456Z"),
    );
    assert_eq!(rfc3339(zoned.unwrap()), "2025-11-04T14:19:37.123456Z");
    let micros = decode_column(
        named("int64", "io.debezium.time.MicroTimestamp"),
        json!(1762266037123456i64),
    );
    assert_eq!(rfc3339(micros.unwrap()), "2025-11-04T14:20:37.123456Z");
    let millis = decode_column(
        named("int64", "io.debezium.time.Timestamp"),
        json!(1762266037123i64),
    );
    assert_eq!(rfc3339(millis.unwrap()), "2025-11-04T14:20:37.123Z");
    let nanos = decode_column(
        named("int64", "io.debezium.time.NanoTimestamp"),
        json!(1762266037123456789i64),
    );
    assert_eq!(rfc3339(nanos.unwrap()), "2025-11-04T14:20:37.123456789Z");
}

#[test]
fn dates_and_times() {
    let date = decode_column(named("int32", "io.debezium.time.Date"), json!(20396)).unwrap();
    assert_eq!(
        date,
        Value::Date(chrono::NaiveDate::from_ymd_opt(2025, 11, 4).unwrap())
    );
    let time = decode_column(
        named("int64", "io.debezium.time.MicroTime"),
        json!(51_577_000_001i64),
    )
    .unwrap();
    assert_eq!(
        time,
        Value::Time(chrono::NaiveTime::from_hms_micro_opt(14, 19, 37, 1).unwrap())
    );
}

#[test]
fn plain_types() {
    let optional = |kind: &str| json!({"type": kind, "optional": true});
    assert_eq!(
        decode_column(optional("int64"), json!(-7)).unwrap(),
        Value::Int(-7)
    );
    assert_eq!(
        decode_column(optional("boolean"), json!(true)).unwrap(),
        Value::Bool(true)
    );
    assert_eq!(
        decode_column(optional("string"), json!("BTCUSDT")).unwrap(),
        Value::String("BTCUSDT".into())
    );
    assert_eq!(
        decode_column(optional("bytes"), json!("AQI=")).unwrap(),
        Value::Bytes(vec![1, 2])
    );
    assert!(
        matches!(decode_column(optional("float64"), json!("NaN")).unwrap(), Value::Float(f) if f.is_nan())
    );
}

#[test]
fn unchanged_toasted_values_are_unavailable_not_data() {
    let value = decode_column(
        json!({"type": "string", "optional": true}),
        json!("__debezium_unavailable_value"),
    );
    assert_eq!(value.unwrap(), Value::Unavailable);
}

#[test]
fn errors_name_the_field_and_its_type() {
    let error = decode_column(crate::decimal_schema(8), json!("not base64!"))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("after.x") && error.contains("org.apache.kafka.connect.data.Decimal"),
        "{error}"
    );
    let error = decode_column(json!({"type": "int64", "optional": true}), json!("seven"))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("after.x") && error.contains("int64") && error.contains("seven"),
        "{error}"
    );
    let error = decode_column(json!({"type": "int64", "optional": false}), json!(null))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("after.x") && error.contains("required"),
        "{error}"
    );
}
