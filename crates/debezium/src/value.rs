//! Typed column values, rows, and the conversion of one JSON scalar into a value as its field's
//! schema says. (Walking the JSON itself is `payload.rs`'s job.)

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use crate::decimal::ExactDecimal;
use crate::schema::{Kind, MAX_DECIMAL_SCALE, TimeUnit};

/// Debezium's placeholder for a TOASTed column that did not change (and so was not sent). Bytes
/// and decimal columns carry the same text as base64.
pub(crate) const UNAVAILABLE_PLACEHOLDER: &str = "__debezium_unavailable_value";

/// The placeholder as an array column carries it, as JSON text: text arrays hold it as their one
/// element, integer arrays as its bytes.
const UNAVAILABLE_ARRAYS: [&str; 2] = [
    r#"["__debezium_unavailable_value"]"#,
    "[95,95,100,101,98,101,122,105,117,109,95,117,110,97,118,97,105,108,97,98,108,101,95,118,97,108,117,101]",
];

/// Days from 0001-01-01 (day 1 of the common era) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    /// An unchanged TOASTed column whose value Debezium did not receive: never data.
    Unavailable,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Text, and the logical types carried as text: Json, Uuid, Enum, ZonedTime, decimals in
    /// `string` mode, and PostgreSQL's `infinity`/`-infinity` timestamps, which have no instant.
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
#[derive(Clone, Default, PartialEq)]
pub struct Row {
    // Shared with the compiled schema: decoding a row copies no column names.
    names: Arc<[Box<str>]>,
    values: Vec<Value>,
}

impl Row {
    /// `names` and `values` pair up by position.
    pub(crate) fn new(names: Arc<[Box<str>]>, values: Vec<Value>) -> Self {
        Self { names, values }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        let index = self.names.iter().position(|column| **column == *name)?;
        self.values.get(index)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.names.iter().map(AsRef::as_ref).zip(&self.values)
    }

    /// Moves a column's value out, leaving `Null`.
    pub(crate) fn take(&mut self, name: &str) -> Option<Value> {
        let index = self.names.iter().position(|column| **column == *name)?;
        self.values
            .get_mut(index)
            .map(|value| std::mem::replace(value, Value::Null))
    }
}

impl FromIterator<(String, Value)> for Row {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(columns: I) -> Self {
        let (names, values): (Vec<Box<str>>, Vec<Value>) = columns
            .into_iter()
            .map(|(name, value)| (name.into_boxed_str(), value))
            .unzip();
        Self::new(names.into(), values)
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// One JSON scalar as the parser saw it.
#[derive(Clone, Copy)]
pub(crate) enum Scalar<'a> {
    Bool(bool),
    Int(i64),
    /// An integer above `i64::MAX`.
    LargeUInt(u64),
    Float(f64),
    Str(&'a str),
}

/// Decodes `scalar` as `kind` says; the error is the reason, which the caller places.
pub(crate) fn decode_scalar(kind: &Kind, scalar: Scalar) -> Result<Value, String> {
    match (kind, scalar) {
        (_, Scalar::Str(UNAVAILABLE_PLACEHOLDER)) => Ok(Value::Unavailable),
        (Kind::Plain, scalar) => Ok(plain(scalar)),
        (Kind::Boolean, Scalar::Bool(flag)) => Ok(Value::Bool(flag)),
        (Kind::Int { min, max }, Scalar::Int(number)) if (*min..=*max).contains(&number) => {
            Ok(Value::Int(number))
        }
        (Kind::Int { min, max }, Scalar::Int(_) | Scalar::LargeUInt(_)) => Err(format!(
            "{} is out of the declared range {min}..={max}",
            Found(scalar)
        )),
        (Kind::Float, Scalar::Float(number)) => Ok(Value::Float(number)),
        (Kind::Float, Scalar::Int(number)) => Ok(Value::Float(number as f64)),
        (Kind::Float, Scalar::LargeUInt(number)) => Ok(Value::Float(number as f64)),
        (Kind::Float, Scalar::Str(text)) => non_finite(text).ok_or_else(|| mismatch(kind, scalar)),
        (Kind::Text, Scalar::Str(text)) => Ok(Value::String(text.to_owned())),
        (Kind::Bytes, Scalar::Str(text)) => {
            unless_placeholder(base64(text)?, |bytes| Ok(Value::Bytes(bytes)))
        }
        (Kind::Decimal { scale }, Scalar::Str(text)) => {
            unless_placeholder(base64(text)?, |bytes| decimal(bytes, *scale))
        }
        (Kind::Timestamp(unit), Scalar::Int(count)) => timestamp(*unit, count),
        (Kind::ZonedTimestamp, Scalar::Str(text)) => zoned_timestamp(text),
        (Kind::Date, Scalar::Int(days)) => date(days),
        (Kind::Time(unit), Scalar::Int(count)) => time_of_day(*unit, count),
        (kind, scalar) => Err(mismatch(kind, scalar)),
    }
}

/// An array or map column from its JSON text.
pub(crate) fn structured(json_text: &str) -> Value {
    if UNAVAILABLE_ARRAYS.contains(&json_text) {
        Value::Unavailable
    } else {
        Value::Structured(json_text.to_owned())
    }
}

/// A `VariableScaleDecimal` from its decoded `{scale, value}` struct.
pub(crate) fn variable_scale_decimal(parts: &Row) -> Result<Value, String> {
    let scale = match parts.get("scale") {
        Some(Value::Int(scale)) => i32::try_from(*scale)
            .ok()
            .filter(|scale| (-MAX_DECIMAL_SCALE..=MAX_DECIMAL_SCALE).contains(scale)),
        _ => None,
    };
    let scale = scale.ok_or_else(|| {
        format!("\"scale\" must be an integer within ±{MAX_DECIMAL_SCALE}, found {parts:?}")
    })?;
    match parts.get("value") {
        Some(Value::String(text)) => unless_placeholder(base64(text)?, |bytes| {
            decimal(bytes, scale).map_err(|reason| format!("\"value\": {reason}"))
        }),
        Some(Value::Unavailable) => Ok(Value::Unavailable),
        _ => Err(format!(
            "\"value\" must be a base64 string, found {parts:?}"
        )),
    }
}

fn plain(scalar: Scalar) -> Value {
    match scalar {
        Scalar::Bool(flag) => Value::Bool(flag),
        Scalar::Int(number) => Value::Int(number),
        Scalar::LargeUInt(number) => Value::Float(number as f64),
        Scalar::Float(number) => Value::Float(number),
        Scalar::Str(text) => Value::String(text.to_owned()),
    }
}

/// Kafka Connect writes non-finite doubles as strings.
fn non_finite(text: &str) -> Option<Value> {
    match text {
        "NaN" => Some(Value::Float(f64::NAN)),
        "Infinity" => Some(Value::Float(f64::INFINITY)),
        "-Infinity" => Some(Value::Float(f64::NEG_INFINITY)),
        _ => None,
    }
}

fn base64(text: &str) -> Result<Vec<u8>, String> {
    BASE64
        .decode(text)
        .map_err(|error| format!("{} is not valid base64: {error}", Found(Scalar::Str(text))))
}

fn unless_placeholder(
    bytes: Vec<u8>,
    value: impl FnOnce(Vec<u8>) -> Result<Value, String>,
) -> Result<Value, String> {
    if bytes == UNAVAILABLE_PLACEHOLDER.as_bytes() {
        Ok(Value::Unavailable)
    } else {
        value(bytes)
    }
}

/// Empty bytes are refused here, so the message goes to the dead-letter topic instead of
/// becoming a zero-length varint in Cassandra.
fn decimal(unscaled: Vec<u8>, scale: i32) -> Result<Value, String> {
    ExactDecimal::new(unscaled, scale)
        .map(Value::Decimal)
        .map_err(|error| error.to_string())
}

fn timestamp(unit: TimeUnit, count: i64) -> Result<Value, String> {
    let timestamp = match unit {
        TimeUnit::Millis => DateTime::from_timestamp_millis(count),
        TimeUnit::Micros => DateTime::from_timestamp_micros(count),
        TimeUnit::Nanos => Some(DateTime::from_timestamp_nanos(count)),
    };
    timestamp
        .map(Value::Timestamp)
        .ok_or_else(|| format!("{count} is out of range"))
}

fn zoned_timestamp(text: &str) -> Result<Value, String> {
    if text == "infinity" || text == "-infinity" {
        return Ok(Value::String(text.to_owned()));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|timestamp| Value::Timestamp(timestamp.with_timezone(&Utc)))
        .map_err(|error| format!("{text:?} is not an ISO-8601 timestamp: {error}"))
}

fn date(days_since_epoch: i64) -> Result<Value, String> {
    i32::try_from(days_since_epoch)
        .ok()
        .and_then(|days| days.checked_add(UNIX_EPOCH_DAYS_FROM_CE))
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .map(Value::Date)
        .ok_or_else(|| format!("{days_since_epoch} days is out of range"))
}

fn time_of_day(unit: TimeUnit, count: i64) -> Result<Value, String> {
    let nanos = match unit {
        TimeUnit::Millis => i128::from(count) * 1_000_000,
        TimeUnit::Micros => i128::from(count) * 1_000,
        TimeUnit::Nanos => i128::from(count),
    };
    let seconds = u32::try_from(nanos.div_euclid(1_000_000_000)).ok();
    let subsecond = u32::try_from(nanos.rem_euclid(1_000_000_000)).ok();
    seconds
        .zip(subsecond)
        .and_then(|(seconds, subsecond)| {
            NaiveTime::from_num_seconds_from_midnight_opt(seconds, subsecond)
        })
        .map(Value::Time)
        .ok_or_else(|| format!("{count} is not a time of day"))
}

fn mismatch(kind: &Kind, scalar: Scalar) -> String {
    format!("expected {}, found {}", expected(kind), Found(scalar))
}

/// What JSON a field of `kind` must hold, for error messages.
pub(crate) fn expected(kind: &Kind) -> &'static str {
    match kind {
        Kind::Int { .. } | Kind::Timestamp(_) | Kind::Date | Kind::Time(_) => "an integer",
        Kind::Float => "a number (or NaN, Infinity, -Infinity)",
        Kind::Boolean => "a boolean",
        Kind::Text | Kind::ZonedTimestamp => "a string",
        Kind::Bytes | Kind::Decimal { .. } => "a base64 string",
        Kind::VariableScaleDecimal | Kind::Struct(_) => "an object",
        Kind::Structured => "an array or object",
        Kind::Plain => "any JSON value",
    }
}

/// A scalar as an error message shows it: its JSON type and (shortened) text.
struct Found<'a>(Scalar<'a>);

impl fmt::Display for Found<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN_CHARS: usize = 80;
        match self.0 {
            Scalar::Bool(flag) => write!(f, "boolean {flag}"),
            Scalar::Int(number) => write!(f, "integer {number}"),
            Scalar::LargeUInt(number) => write!(f, "integer {number}"),
            Scalar::Float(number) => write!(f, "number {number}"),
            Scalar::Str(text) => match text.char_indices().nth(SHOWN_CHARS) {
                Some((cut, _)) => write!(f, "string {:?}…", text.get(..cut).unwrap_or_default()),
                None => write!(f, "string {text:?}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_is_day_zero() {
        assert_eq!(
            date(0),
            Ok(Value::Date(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()))
        );
        assert_eq!(
            date(-1),
            Ok(Value::Date(NaiveDate::from_ymd_opt(1969, 12, 31).unwrap()))
        );
        assert!(date(i64::MAX).is_err());
        assert!(date(i64::from(i32::MAX)).is_err());
    }

    #[test]
    fn ints_keep_to_their_declared_width() {
        let int8 = Kind::Int {
            min: i8::MIN.into(),
            max: i8::MAX.into(),
        };
        assert_eq!(
            decode_scalar(&int8, Scalar::Int(-128)),
            Ok(Value::Int(-128))
        );
        let error = decode_scalar(&int8, Scalar::Int(128)).unwrap_err();
        assert!(error.contains("128") && error.contains("range"), "{error}");
    }

    #[test]
    fn long_strings_are_shortened_in_errors() {
        let long = "x".repeat(1000);
        let error = decode_scalar(&Kind::Boolean, Scalar::Str(&long)).unwrap_err();
        assert!(error.len() < 200, "{error}");
    }

    #[test]
    fn unavailable_arrays_spell_the_placeholder() {
        let bytes: Vec<String> = UNAVAILABLE_PLACEHOLDER
            .bytes()
            .map(|b| b.to_string())
            .collect();
        assert_eq!(UNAVAILABLE_ARRAYS[1], format!("[{}]", bytes.join(",")));
        assert_eq!(structured(UNAVAILABLE_ARRAYS[0]), Value::Unavailable);
        assert_eq!(structured("[1]"), Value::Structured("[1]".into()));
    }

    #[test]
    fn infinite_timestamps_stay_text() {
        assert_eq!(
            decode_scalar(&Kind::ZonedTimestamp, Scalar::Str("-infinity")),
            Ok(Value::String("-infinity".into()))
        );
    }
}
