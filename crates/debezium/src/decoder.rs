//! [`Decoder`]: one Kafka message value in, one [`Change`] out, with each distinct schema
//! compiled once.
//!
//! Every message of a topic repeats the same schema, and it is most of the message (about 7 of
//! a ticker's 9 KB). So a message is first matched byte for byte against the schemas already
//! compiled — `{"schema":` + a known schema + `,"payload":` + payload + `}`, the JSON
//! converter's exact layout — and only its payload is parsed. Anything else (a new schema,
//! other whitespace or field order, broken JSON) takes the general path, which parses the whole
//! message and reports errors with their line and column in it.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::envelope::{Change, change_from_payload};
use crate::error::DecodeError;
use crate::payload::decode_payload;
use crate::schema::{FieldSchema, SCHEMALESS, compile_envelope};

/// Enough for every table's schema and a few versions of each; beyond it the oldest is dropped.
const MAX_CACHED_SCHEMAS: usize = 64;

/// Decodes messages, compiling each distinct schema once (see the module documentation).
#[derive(Default)]
pub struct Decoder {
    /// Oldest first.
    schemas: Vec<CachedSchema>,
    accept_schemaless: bool,
}

struct CachedSchema {
    /// The schema's JSON exactly as it appears in the message.
    text: Box<str>,
    compiled: Arc<FieldSchema>,
}

/// The two halves of a message with schema, borrowed unparsed.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    schema: Option<&'a RawValue>,
    #[serde(borrow)]
    payload: Option<&'a RawValue>,
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
        let Some(message) = value
            .map(<[u8]>::trim_ascii)
            .filter(|message| !message.is_empty() && *message != b"null")
        else {
            return Ok(Change::Tombstone);
        };
        if let Some((schema, payload)) = self.split_at_known_schema(message) {
            match decode_payload(schema, payload) {
                // Not the converter's layout after all, or broken JSON: the general path tells.
                Err(DecodeError::Json(_)) => {}
                decoded => return decoded.and_then(change_from_payload),
            }
        }
        self.decode_in_full(message)
    }

    /// The compiled schema and the payload text of a message laid out exactly as the JSON
    /// converter writes it, around a schema already seen.
    fn split_at_known_schema<'m>(&self, message: &'m [u8]) -> Option<(&FieldSchema, &'m [u8])> {
        let rest = message.strip_prefix(b"{\"schema\":")?;
        self.schemas.iter().rev().find_map(|cached| {
            let payload = rest
                .strip_prefix(cached.text.as_bytes())?
                .strip_prefix(b",\"payload\":")?
                .strip_suffix(b"}")?;
            payload
                .starts_with(b"{")
                .then_some((&*cached.compiled, payload))
        })
    }

    fn decode_in_full(&mut self, message: &[u8]) -> Result<Change, DecodeError> {
        let parts: Message = serde_json::from_slice(message)
            .map_err(|error| DecodeError::Json(error.to_string()))?;
        let (schema, payload) = match (parts.schema, parts.payload) {
            (Some(schema), Some(payload)) => {
                (Some(self.compiled(schema.get())?), payload.get().as_bytes())
            }
            (Some(_), None) => return Err(DecodeError::MissingPayload),
            (None, _) if !self.accept_schemaless => return Err(DecodeError::MissingSchema),
            (None, Some(payload)) => (None, payload.get().as_bytes()),
            // Without schemas, the JSON converter writes the envelope itself, unwrapped.
            (None, None) => (None, message),
        };
        let schema = schema.as_deref().unwrap_or(&SCHEMALESS);
        decode_payload(schema, payload).and_then(change_from_payload)
    }

    fn compiled(&mut self, text: &str) -> Result<Arc<FieldSchema>, DecodeError> {
        if let Some(cached) = self.schemas.iter().find(|cached| *cached.text == *text) {
            return Ok(Arc::clone(&cached.compiled));
        }
        let compiled = Arc::new(compile_envelope(text)?);
        if self.schemas.len() >= MAX_CACHED_SCHEMAS {
            self.schemas.remove(0);
        }
        self.schemas.push(CachedSchema {
            text: text.into(),
            compiled: Arc::clone(&compiled),
        });
        Ok(compiled)
    }
}
