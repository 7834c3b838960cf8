//! The Kafka Connect schema that travels with each message, parsed once per distinct schema
//! into the field types that drive value decoding.

use serde::Deserialize;
use serde_json::Value as Json;

use crate::error::DecodeError;

/// How a field's JSON value is to be read.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Int,
    Float,
    Boolean,
    /// Plain strings and the logical types carried as strings (Json, Uuid, Enum, ZonedTime, …).
    Text,
    Bytes,
    /// `org.apache.kafka.connect.data.Decimal`: base64 unscaled bytes, scale in the schema.
    Decimal {
        scale: i32,
    },
    /// `io.debezium.data.VariableScaleDecimal`: a struct carrying its own scale.
    VariableScaleDecimal,
    /// A decimal in Debezium's `string` handling mode is plain text and stays `Text`; this is a
    /// number since the epoch in the given unit.
    Timestamp(TimeUnit),
    /// `io.debezium.time.ZonedTimestamp`: an ISO-8601 string with an offset.
    ZonedTimestamp,
    /// Days since the epoch.
    Date,
    /// Time of day as a number in the given unit.
    Time(TimeUnit),
    Struct(Vec<FieldSchema>),
    /// Arrays and maps: kept as their JSON text.
    Structured,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimeUnit {
    Millis,
    Micros,
    Nanos,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldSchema {
    pub name: String,
    pub optional: bool,
    pub kind: Kind,
    /// The type as the schema declares it, for error messages: `bytes (org.apache.kafka.connect.data.Decimal)`.
    pub declared: String,
}

/// The parts of an envelope schema that decoding needs: the row schemas of `before`/`after`.
#[derive(Debug, PartialEq)]
pub struct EnvelopeSchema {
    pub before: Option<FieldSchema>,
    pub after: Option<FieldSchema>,
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

impl EnvelopeSchema {
    pub fn parse(schema_json: &str) -> Result<Self, DecodeError> {
        let raw: RawSchema =
            serde_json::from_str(schema_json).map_err(|error| DecodeError::InvalidSchema {
                path: "schema".to_owned(),
                reason: error.to_string(),
            })?;
        let mut before = None;
        let mut after = None;
        for field in raw.fields {
            match field.field.as_deref() {
                Some("before") => before = Some(FieldSchema::from_raw(field, "before")?),
                Some("after") => after = Some(FieldSchema::from_raw(field, "after")?),
                _ => {}
            }
        }
        Ok(Self { before, after })
    }
}

impl FieldSchema {
    fn from_raw(raw: RawSchema, path: &str) -> Result<Self, DecodeError> {
        let declared = match &raw.name {
            Some(name) => format!("{} ({name})", raw.kind),
            None => raw.kind.clone(),
        };
        let kind = kind_of(&raw, path)?;
        let name = raw.field.unwrap_or_default();
        let kind = match kind {
            Some(kind) => kind,
            None => {
                let fields = raw
                    .fields
                    .into_iter()
                    .map(|child| {
                        let child_path =
                            format!("{path}.{}", child.field.as_deref().unwrap_or("?"));
                        FieldSchema::from_raw(child, &child_path)
                    })
                    .collect::<Result<_, _>>()?;
                Kind::Struct(fields)
            }
        };
        Ok(Self {
            name,
            optional: raw.optional,
            kind,
            declared,
        })
    }
}

/// The decoding kind of a schema node; `None` for a plain struct, whose fields the caller parses.
fn kind_of(raw: &RawSchema, path: &str) -> Result<Option<Kind>, DecodeError> {
    let invalid = |reason: String| DecodeError::InvalidSchema {
        path: path.to_owned(),
        reason,
    };
    let by_name = match raw.name.as_deref() {
        Some("org.apache.kafka.connect.data.Decimal") => {
            let scale = raw
                .parameters
                .get("scale")
                .ok_or_else(|| invalid("Decimal without a scale parameter".into()))?;
            let scale = match scale {
                Json::String(text) => text.parse::<i32>().ok(),
                Json::Number(number) => number.as_i64().and_then(|n| i32::try_from(n).ok()),
                _ => None,
            }
            .ok_or_else(|| invalid(format!("Decimal scale {scale} is not an integer")))?;
            Some(Kind::Decimal { scale })
        }
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
    Ok(match raw.kind.as_str() {
        "int8" | "int16" | "int32" | "int64" => Some(Kind::Int),
        "float" | "float32" | "float64" | "double" => Some(Kind::Float),
        "boolean" => Some(Kind::Boolean),
        "string" => Some(Kind::Text),
        "bytes" => Some(Kind::Bytes),
        "array" | "map" => Some(Kind::Structured),
        "struct" => None,
        other => return Err(invalid(format!("unknown type {other:?}"))),
    })
}
