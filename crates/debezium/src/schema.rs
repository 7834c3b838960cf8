//! The Kafka Connect schema that travels with each message, compiled once per distinct schema
//! into the field types that drive value decoding.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value as Json;

use crate::error::DecodeError;

/// PostgreSQL's largest `NUMERIC` display scale. Java allows any `int`, but a scale of two
/// billion would make formatting the value allocate gigabytes, so larger ones are refused.
pub const MAX_DECIMAL_SCALE: i32 = 16_383;

/// How a field's JSON value is to be read.
#[derive(Debug)]
pub enum Kind {
    /// `int8` … `int64`, with the declared type's range.
    Int {
        min: i64,
        max: i64,
    },
    Float,
    Boolean,
    /// Plain strings and the logical types carried as strings (Json, Uuid, Enum, ZonedTime, …);
    /// also decimals in Debezium's `string` handling mode.
    Text,
    Bytes,
    /// `org.apache.kafka.connect.data.Decimal`: base64 unscaled bytes, scale in the schema.
    Decimal {
        scale: i32,
    },
    /// `io.debezium.data.VariableScaleDecimal`: a struct carrying its own scale.
    VariableScaleDecimal,
    /// A number since the epoch in the given unit.
    Timestamp(TimeUnit),
    /// `io.debezium.time.ZonedTimestamp`: an ISO-8601 string with an offset.
    ZonedTimestamp,
    /// Days since the epoch.
    Date,
    /// Time of day as a number in the given unit.
    Time(TimeUnit),
    Struct(StructSchema),
    /// Arrays and maps: kept as their JSON text.
    Structured,
    /// No schema at all: each value as its JSON type says (see `Decoder::accept_schemaless`).
    Plain,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimeUnit {
    Millis,
    Micros,
    Nanos,
}

#[derive(Debug)]
pub struct FieldSchema {
    pub optional: bool,
    pub kind: Kind,
    /// The type as the schema declares it, for error messages: `bytes (org.apache.kafka.connect.data.Decimal)`.
    pub declared: Cow<'static, str>,
}

/// A struct's fields in schema order. The names are shared with every decoded row, so a row
/// costs no string copies for its column names.
#[derive(Debug)]
pub struct StructSchema {
    pub names: Arc<[Box<str>]>,
    pub fields: Vec<FieldSchema>,
}

/// What a message without a schema is decoded as.
pub static SCHEMALESS: FieldSchema = FieldSchema {
    optional: false,
    kind: Kind::Plain,
    declared: Cow::Borrowed("struct (no schema)"),
};

/// A value inside a schemaless payload, or inside a struct decoded without its field schemas.
pub static PLAIN: FieldSchema = FieldSchema {
    optional: true,
    kind: Kind::Plain,
    declared: Cow::Borrowed("any (no schema)"),
};

impl StructSchema {
    /// The index of field `name`; `hint` is where it is expected, as the JSON converter writes
    /// fields in schema order.
    pub fn position(&self, name: &str, hint: usize) -> Option<usize> {
        match self.names.get(hint) {
            Some(expected) if **expected == *name => Some(hint),
            _ => self.names.iter().position(|field| **field == *name),
        }
    }
}

#[derive(Deserialize)]
struct RawSchema {
    #[serde(rename = "type")]
    kind: String,
    name: Option<String>,
    #[serde(default)]
    optional: bool,
    field: Option<String>,
    #[serde(default)]
    fields: Vec<RawSchema>,
    #[serde(default)]
    parameters: serde_json::Map<String, Json>,
}

/// Compiles an envelope's schema: a struct whose fields are `before`, `after`, `source`, `op`, ….
pub fn compile_envelope(schema_json: &str) -> Result<FieldSchema, DecodeError> {
    let raw: RawSchema =
        serde_json::from_str(schema_json).map_err(|error| DecodeError::InvalidSchema {
            path: "schema".to_owned(),
            reason: error.to_string(),
        })?;
    let envelope = compile(raw, "schema")?;
    match envelope.kind {
        Kind::Struct(_) => Ok(envelope),
        _ => Err(DecodeError::InvalidSchema {
            path: "schema".to_owned(),
            reason: format!("an envelope is a struct, not {}", envelope.declared),
        }),
    }
}

fn compile(raw: RawSchema, path: &str) -> Result<FieldSchema, DecodeError> {
    let declared = match &raw.name {
        Some(name) => format!("{} ({name})", raw.kind),
        None => raw.kind.clone(),
    };
    let kind = match kind_of(&raw, path)? {
        Some(kind) => kind,
        None => Kind::Struct(compile_struct(raw.fields, path)?),
    };
    Ok(FieldSchema {
        optional: raw.optional,
        kind,
        declared: Cow::Owned(declared),
    })
}

fn compile_struct(raw_fields: Vec<RawSchema>, path: &str) -> Result<StructSchema, DecodeError> {
    let mut names = Vec::with_capacity(raw_fields.len());
    let mut fields = Vec::with_capacity(raw_fields.len());
    for mut raw in raw_fields {
        let name = raw.field.take().unwrap_or_default();
        fields.push(compile(raw, &format!("{path}.{name}"))?);
        names.push(name.into_boxed_str());
    }
    Ok(StructSchema {
        names: names.into(),
        fields,
    })
}

/// The decoding kind of a schema node; `None` for a plain struct, whose fields the caller compiles.
fn kind_of(raw: &RawSchema, path: &str) -> Result<Option<Kind>, DecodeError> {
    let invalid = |reason: String| DecodeError::InvalidSchema {
        path: path.to_owned(),
        reason,
    };
    let by_name = match raw.name.as_deref() {
        Some("org.apache.kafka.connect.data.Decimal") => Some(Kind::Decimal {
            scale: decimal_scale(raw).map_err(invalid)?,
        }),
        Some("io.debezium.data.VariableScaleDecimal") => Some(Kind::VariableScaleDecimal),
        Some("io.debezium.time.Timestamp" | "org.apache.kafka.connect.data.Timestamp") => {
            Some(Kind::Timestamp(TimeUnit::Millis))
        }
        Some("io.debezium.time.MicroTimestamp") => Some(Kind::Timestamp(TimeUnit::Micros)),
        Some("io.debezium.time.NanoTimestamp") => Some(Kind::Timestamp(TimeUnit::Nanos)),
        Some("io.debezium.time.ZonedTimestamp") => Some(Kind::ZonedTimestamp),
        Some("io.debezium.time.Date" | "org.apache.kafka.connect.data.Date") => Some(Kind::Date),
        Some("io.debezium.time.Time" | "org.apache.kafka.connect.data.Time") => {
            Some(Kind::Time(TimeUnit::Millis))
        }
        Some("io.debezium.time.MicroTime") => Some(Kind::Time(TimeUnit::Micros)),
        Some("io.debezium.time.NanoTime") => Some(Kind::Time(TimeUnit::Nanos)),
        _ => None,
    };
    if by_name.is_some() {
        return Ok(by_name);
    }
    let int = |min, max| Some(Kind::Int { min, max });
    // The JSON converter writes `float`/`double`; Connect's own names are `float32`/`float64`.
    Ok(match raw.kind.as_str() {
        "int8" => int(i8::MIN.into(), i8::MAX.into()),
        "int16" => int(i16::MIN.into(), i16::MAX.into()),
        "int32" => int(i32::MIN.into(), i32::MAX.into()),
        "int64" => int(i64::MIN, i64::MAX),
        "float" | "float32" | "float64" | "double" => Some(Kind::Float),
        "boolean" => Some(Kind::Boolean),
        "string" => Some(Kind::Text),
        "bytes" => Some(Kind::Bytes),
        "array" | "map" => Some(Kind::Structured),
        "struct" => None,
        other => return Err(invalid(format!("unknown type {other:?}"))),
    })
}

/// The `scale` parameter of a Decimal: a string such as `"8"` as Connect writes it (a number
/// is accepted too).
fn decimal_scale(raw: &RawSchema) -> Result<i32, String> {
    let scale = raw
        .parameters
        .get("scale")
        .ok_or("Decimal without a scale parameter")?;
    let parsed = match scale {
        Json::String(text) => text.parse::<i32>().ok(),
        Json::Number(number) => number.as_i64().and_then(|n| i32::try_from(n).ok()),
        _ => None,
    };
    match parsed {
        Some(scale) if (-MAX_DECIMAL_SCALE..=MAX_DECIMAL_SCALE).contains(&scale) => Ok(scale),
        _ => Err(format!(
            "Decimal scale {scale} is not an integer within ±{MAX_DECIMAL_SCALE}"
        )),
    }
}
