//! Typed column values and their decoding from a payload's JSON, driven by the field schema.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde_json::Value as Json;

use crate::decimal::ExactDecimal;
use crate::error::DecodeError;
use crate::schema::{FieldSchema, Kind, TimeUnit};

/// Debezium's placeholder for a TOASTed column that did not change (and so was not sent).
const UNAVAILABLE_PLACEHOLDER: &str = "__debezium_unavailable_value";

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    /// An unchanged TOASTed column whose value Debezium did not receive: never data.
    Unavailable,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Bytes(Vec<u8>),
    Decimal(ExactDecimal),
    Timestamp(DateTime<Utc>),
    Date(NaiveDate),
    Time(NaiveTime),
    /// A nested struct.
    Row(Row),
    /// An array or map, as its JSON text.
    Structured(String),
}

/// The columns of one row, in schema order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    columns: Vec<(String, Value)>,
}

impl Row {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.columns
            .iter()
            .find(|(column, _)| column == name)
            .map(|(_, value)| value)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.columns
            .iter()
            .map(|(name, value)| (name.as_str(), value))
    }
}

impl FromIterator<(String, Value)> for Row {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(columns: I) -> Self {
        Self {
            columns: columns.into_iter().collect(),
        }
    }
}

/// Decodes `json` as `schema` says; `path` (`after.last_price`) names it in errors.
pub fn decode(schema: &FieldSchema, json: Option<&Json>, path: &str) -> Result<Value, DecodeError> {
    let json = match json {
        None | Some(Json::Null) if schema.optional => return Ok(Value::Null),
        None | Some(Json::Null) => {
            return Err(DecodeError::MissingField {
                path: path.to_owned(),
            });
        }
        Some(json) => json,
    };
    let invalid = |reason: String| DecodeError::InvalidValue {
        path: path.to_owned(),
        declared: schema.declared.clone(),
        reason,
    };
    let unexpected = || invalid(format!("unexpected JSON value {}", truncated(json)));
    if json.as_str() == Some(UNAVAILABLE_PLACEHOLDER) {
        return Ok(Value::Unavailable);
    }
    match &schema.kind {
        Kind::Int => json.as_i64().map(Value::Int).ok_or_else(unexpected),
        Kind::Float => match json {
            Json::Number(number) => number.as_f64().map(Value::Float).ok_or_else(unexpected),
            // Kafka Connect writes non-finite doubles as strings.
            Json::String(text) => match text.as_str() {
                "NaN" => Ok(Value::Float(f64::NAN)),
                "Infinity" => Ok(Value::Float(f64::INFINITY)),
                "-Infinity" => Ok(Value::Float(f64::NEG_INFINITY)),
                _ => Err(unexpected()),
            },
            _ => Err(unexpected()),
        },
        Kind::Boolean => json.as_bool().map(Value::Bool).ok_or_else(unexpected),
        Kind::Text => json
            .as_str()
            .map(|text| Value::String(text.to_owned()))
            .ok_or_else(unexpected),
        Kind::Bytes => base64_bytes(json)
            .map_err(invalid)
            .map(bytes_or_unavailable),
        Kind::Decimal { scale } => match base64_bytes(json).map_err(invalid)? {
            bytes if bytes == UNAVAILABLE_PLACEHOLDER.as_bytes() => Ok(Value::Unavailable),
            bytes => Ok(Value::Decimal(ExactDecimal::new(bytes, *scale))),
        },
        Kind::VariableScaleDecimal => {
            let scale = json
                .get("scale")
                .and_then(Json::as_i64)
                .and_then(|s| i32::try_from(s).ok());
            let scale = scale.ok_or_else(|| invalid("missing or invalid \"scale\"".to_owned()))?;
            let value = json
                .get("value")
                .ok_or_else(|| invalid("missing \"value\"".to_owned()))?;
            Ok(Value::Decimal(ExactDecimal::new(
                base64_bytes(value).map_err(invalid)?,
                scale,
            )))
        }
        Kind::Timestamp(unit) => {
            let count = json.as_i64().ok_or_else(unexpected)?;
            let timestamp = match unit {
                TimeUnit::Millis => DateTime::from_timestamp_millis(count),
                TimeUnit::Micros => DateTime::from_timestamp_micros(count),
                TimeUnit::Nanos => Some(DateTime::from_timestamp_nanos(count)),
            };
            timestamp
                .map(Value::Timestamp)
                .ok_or_else(|| invalid(format!("{count} is out of range")))
        }
        Kind::ZonedTimestamp => {
            let text = json.as_str().ok_or_else(unexpected)?;
            DateTime::parse_from_rfc3339(text)
                .map(|timestamp| Value::Timestamp(timestamp.with_timezone(&Utc)))
                .map_err(|error| invalid(format!("{text:?} is not an ISO-8601 timestamp: {error}")))
        }
        Kind::Date => {
            let days = json.as_i64().ok_or_else(unexpected)?;
            DateTime::UNIX_EPOCH
                .date_naive()
                .checked_add_signed(chrono::TimeDelta::days(days))
                .map(Value::Date)
                .ok_or_else(|| invalid(format!("{days} days is out of range")))
        }
        Kind::Time(unit) => {
            let count = json.as_i64().ok_or_else(unexpected)?;
            let nanos = match unit {
                TimeUnit::Millis => i128::from(count) * 1_000_000,
                TimeUnit::Micros => i128::from(count) * 1_000,
                TimeUnit::Nanos => i128::from(count),
            };
            time_of_day(nanos)
                .map(Value::Time)
                .ok_or_else(|| invalid(format!("{count} is not a time of day")))
        }
        Kind::Struct(fields) => decode_row(fields, json, path).map(Value::Row),
        Kind::Structured => Ok(Value::Structured(json.to_string())),
    }
}

/// Decodes a struct's fields; `path` is the struct's own path (`after`).
pub fn decode_row(fields: &[FieldSchema], json: &Json, path: &str) -> Result<Row, DecodeError> {
    let object = json.as_object().ok_or_else(|| DecodeError::InvalidValue {
        path: path.to_owned(),
        declared: "struct".to_owned(),
        reason: format!("expected an object, found {}", truncated(json)),
    })?;
    let columns = fields
        .iter()
        .map(|field| {
            let field_path = format!("{path}.{}", field.name);
            decode(field, object.get(&field.name), &field_path)
                .map(|value| (field.name.clone(), value))
        })
        .collect::<Result<_, _>>()?;
    Ok(Row { columns })
}

/// A row of a message without a schema: each value as its JSON type says. Decimals must be
/// strings or doubles for this to be right (see `Decoder::accepting_schemaless`).
pub fn plain_row(json: &Json, path: &str) -> Result<Row, DecodeError> {
    let object = json.as_object().ok_or_else(|| DecodeError::InvalidValue {
        path: path.to_owned(),
        declared: "struct (no schema)".to_owned(),
        reason: format!("expected an object, found {}", truncated(json)),
    })?;
    Ok(object
        .iter()
        .map(|(name, value)| (name.clone(), plain_value(value)))
        .collect())
}

fn plain_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(flag) => Value::Bool(*flag),
        Json::Number(number) => match number.as_i64() {
            Some(integer) => Value::Int(integer),
            None => Value::Float(number.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(text) if text == UNAVAILABLE_PLACEHOLDER => Value::Unavailable,
        Json::String(text) => Value::String(text.clone()),
        Json::Object(object) => Value::Row(
            object
                .iter()
                .map(|(name, value)| (name.clone(), plain_value(value)))
                .collect(),
        ),
        Json::Array(_) => Value::Structured(json.to_string()),
    }
}

fn base64_bytes(json: &Json) -> Result<Vec<u8>, String> {
    let text = json
        .as_str()
        .ok_or_else(|| format!("expected a base64 string, found {}", truncated(json)))?;
    BASE64
        .decode(text)
        .map_err(|error| format!("{text:?} is not valid base64: {error}"))
}

fn bytes_or_unavailable(bytes: Vec<u8>) -> Value {
    if bytes == UNAVAILABLE_PLACEHOLDER.as_bytes() {
        Value::Unavailable
    } else {
        Value::Bytes(bytes)
    }
}

fn time_of_day(nanos: i128) -> Option<NaiveTime> {
    let seconds = u32::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
    let subsecond = u32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?;
    NaiveTime::from_num_seconds_from_midnight_opt(seconds, subsecond)
}

/// A JSON value shortened for an error message.
fn truncated(json: &Json) -> String {
    let text = json.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
