//! A decoded change as one line of plain JSON, for people reading raw Kafka messages:
//! `{"op":"c","table":"public.ticker_24h","lsn":24023128,"ts_ms":1762266037123,"before":null,"after":{…}}`.
//!
//! Decimals are exact strings with as many fraction digits as their scale, timestamps RFC 3339
//! in UTC, dates `YYYY-MM-DD`, bytes base64, and a value Debezium did not send (an unchanged
//! TOAST column) the string `"__unavailable__"`. `ts_ms` is the commit time in PostgreSQL.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::SecondsFormat;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::envelope::Change;
use crate::value::{Row, Value};

#[derive(serde::Serialize)]
struct EventLine<'a> {
    op: &'a str,
    table: String,
    lsn: Option<i64>,
    ts_ms: i64,
    before: Option<&'a Row>,
    after: Option<&'a Row>,
}

#[derive(serde::Serialize)]
struct TombstoneLine {
    op: &'static str,
}

/// One line of JSON, without the newline.
pub fn to_json_line(change: &Change) -> String {
    let line = match change {
        Change::Tombstone => serde_json::to_string(&TombstoneLine { op: "tombstone" }),
        Change::Event(event) => serde_json::to_string(&EventLine {
            op: event.op.code(),
            table: event.source.qualified_table(),
            lsn: event.source.lsn,
            ts_ms: event.source.ts_ms,
            before: event.before.as_ref(),
            after: event.after.as_ref(),
        }),
    };
    // Serializing these types cannot fail: every map key is a string and no value errors.
    line.unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
}

/// Columns in schema order.
impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in self.iter() {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_none(),
            Value::Unavailable => serializer.serialize_str("__unavailable__"),
            Value::Bool(flag) => serializer.serialize_bool(*flag),
            Value::Int(number) => serializer.serialize_i64(*number),
            Value::Float(number) if number.is_finite() => serializer.serialize_f64(*number),
            Value::Float(number) => serializer.collect_str(number),
            Value::String(text) => serializer.serialize_str(text),
            Value::Bytes(bytes) => serializer.serialize_str(&BASE64.encode(bytes)),
            Value::Decimal(decimal) => serializer.collect_str(decimal),
            Value::Timestamp(at) => {
                serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            }
            Value::Date(day) => serializer.collect_str(&day.format("%Y-%m-%d")),
            Value::Time(time) => serializer.collect_str(&time.format("%H:%M:%S%.f")),
            Value::Row(row) => row.serialize(serializer),
            Value::Structured(json) => match serde_json::from_str::<serde_json::Value>(json) {
                Ok(parsed) => parsed.serialize(serializer),
                Err(_) => serializer.serialize_str(json),
            },
        }
    }
}
