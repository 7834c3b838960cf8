//! The Debezium envelope: operation, source position and time, and the before/after rows.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value as Json;
use serde_json::value::RawValue;

use crate::error::DecodeError;
use crate::schema::{EnvelopeSchema, FieldSchema, Kind};
use crate::value::{Row, decode_row, plain_row};

/// What one Kafka message says.
// Returned by value once per message and consumed at once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// The null-valued message that follows a delete so log compaction can drop the key.
    Tombstone,
    Event(ChangeEvent),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChangeEvent {
    pub op: Op,
    pub source: Source,
    pub before: Option<Row>,
    pub after: Option<Row>,
    /// When Debezium processed the change (not the commit time: see `Source::ts_ms`).
    pub ts_ms: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Create,
    Update,
    Delete,
    /// A row read by the initial snapshot.
    Read,
    Truncate,
    /// A logical decoding message (`pg_logical_emit_message`).
    Message,
}

impl Op {
    pub fn code(self) -> &'static str {
        match self {
            Op::Create => "c",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Read => "r",
            Op::Truncate => "t",
            Op::Message => "m",
        }
    }

    fn parse(code: &str) -> Result<Self, DecodeError> {
        Ok(match code {
            "c" => Op::Create,
            "u" => Op::Update,
            "d" => Op::Delete,
            "r" => Op::Read,
            "t" => Op::Truncate,
            "m" => Op::Message,
            other => return Err(DecodeError::UnknownOp(other.to_owned())),
        })
    }
}

/// Where the change comes from, as Debezium's `source` block says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Source {
    #[serde(default)]
    pub db: String,
    #[serde(default)]
    pub schema: String,
    #[serde(default)]
    pub table: String,
    /// Position of the change in PostgreSQL's WAL.
    pub lsn: Option<i64>,
    /// Commit time in PostgreSQL, milliseconds since the epoch.
    pub ts_ms: i64,
    /// Commit time in microseconds, where the connector sends it.
    pub ts_us: Option<i64>,
    #[serde(rename = "txId")]
    pub tx_id: Option<i64>,
    /// `"true"`, `"false"`, `"first"`, `"last"`, `"incremental"`, … (a string in Debezium 2+).
    #[serde(default, deserialize_with = "snapshot_marker")]
    pub snapshot: Option<String>,
}

impl Source {
    /// `public.ticker_24h`.
    pub fn qualified_table(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

/// Older Debezium versions sent `snapshot` as a boolean; keep it as text either way.
fn snapshot_marker<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Json>::deserialize(deserializer)? {
        Some(Json::String(text)) => Some(text),
        Some(Json::Bool(flag)) => Some(flag.to_string()),
        _ => None,
    })
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    schema: Option<&'a RawValue>,
    payload: Option<Payload>,
}

#[derive(Deserialize)]
struct Payload {
    op: Option<String>,
    source: Option<Source>,
    before: Option<Json>,
    after: Option<Json>,
    ts_ms: Option<i64>,
}

/// Decodes messages, parsing each distinct schema once: every message of a topic carries the
/// same schema, so after the first the per-message cost is the payload.
#[derive(Default)]
pub struct Decoder {
    schemas: HashMap<String, Arc<EnvelopeSchema>>,
    accept_schemaless: bool,
}

impl Decoder {
    /// A decoder that requires the schema in every message (`schemas.enable=true`).
    pub fn new() -> Self {
        Self::default()
    }

    /// With `accept` true, also reads messages without a schema, taking their values as plain JSON.
    /// Only right when the connector sends decimals as strings or doubles
    /// (`decimal.handling.mode=string|double`): a precise decimal's scale is only in the schema,
    /// and without it its base64 bytes would pass for a string.
    pub fn accept_schemaless(self, accept: bool) -> Self {
        Self {
            accept_schemaless: accept,
            ..self
        }
    }

    /// Decodes one message value; `None`, empty, or `null` is a tombstone.
    pub fn decode(&mut self, value: Option<&[u8]>) -> Result<Change, DecodeError> {
        let bytes = match value {
            None => return Ok(Change::Tombstone),
            Some(bytes) if bytes.trim_ascii().is_empty() || bytes.trim_ascii() == b"null" => {
                return Ok(Change::Tombstone);
            }
            Some(bytes) => bytes,
        };
        let message: Message =
            serde_json::from_slice(bytes).map_err(|error| DecodeError::Json(error.to_string()))?;
        let schema = match message.schema {
            Some(raw) if raw.get() != "null" => Some(self.schema(raw.get())?),
            _ if self.accept_schemaless => None,
            _ => return Err(DecodeError::MissingSchema),
        };
        let payload = match message.payload {
            Some(payload) => payload,
            // Without schemas, the JSON converter writes the envelope itself, unwrapped.
            None if schema.is_none() => serde_json::from_slice(bytes)
                .map_err(|error| DecodeError::Json(error.to_string()))?,
            None => return Err(DecodeError::MissingPayload),
        };
        let op = Op::parse(
            payload
                .op
                .as_deref()
                .ok_or(DecodeError::MissingField { path: "op".into() })?,
        )?;
        let source = payload.source.ok_or(DecodeError::MissingField {
            path: "source".into(),
        })?;
        Ok(Change::Event(ChangeEvent {
            op,
            before: row(
                schema.as_deref().map(|s| &s.before),
                payload.before.as_ref(),
                "before",
            )?,
            after: row(
                schema.as_deref().map(|s| &s.after),
                payload.after.as_ref(),
                "after",
            )?,
            source,
            ts_ms: payload.ts_ms,
        }))
    }

    fn schema(&mut self, text: &str) -> Result<Arc<EnvelopeSchema>, DecodeError> {
        if let Some(schema) = self.schemas.get(text) {
            return Ok(Arc::clone(schema));
        }
        let schema = Arc::new(EnvelopeSchema::parse(text)?);
        self.schemas.insert(text.to_owned(), Arc::clone(&schema));
        Ok(schema)
    }
}

/// The before or after image: absent or null means no row. `schema` is `None` for a schemaless
/// message, `Some(None)` when the message's schema does not describe this image.
fn row(
    schema: Option<&Option<FieldSchema>>,
    json: Option<&Json>,
    path: &str,
) -> Result<Option<Row>, DecodeError> {
    let Some(json) = json.filter(|json| !json.is_null()) else {
        return Ok(None);
    };
    let Some(schema) = schema else {
        return plain_row(json, path).map(Some);
    };
    let schema = schema.as_ref().ok_or_else(|| DecodeError::InvalidSchema {
        path: path.to_owned(),
        reason: "the payload has a row but the schema does not describe it".to_owned(),
    })?;
    let Kind::Struct(fields) = &schema.kind else {
        return Err(DecodeError::InvalidSchema {
            path: path.to_owned(),
            reason: format!("expected a struct, the schema declares {}", schema.declared),
        });
    };
    decode_row(fields, json, path).map(Some)
}
