//! Decodes a payload's JSON straight into values as its compiled schema says: one pass, no
//! intermediate JSON tree, no copies of column names. serde drives the walk; each JSON scalar is
//! handed to `value::decode_scalar` together with its field's schema.
//!
//! serde's callbacks can only fail with the parser's own error type, so a decoding error is
//! parked in a [`Failure`] and handed back whole once the parser has unwound.

use std::cell::Cell;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::DecodeError;
use crate::schema::{FieldSchema, Kind, PLAIN, StructSchema};
use crate::value::{
    Row, Scalar, Value, decode_scalar, expected, structured, variable_scale_decimal,
};

/// Decodes one payload (the whole JSON text) as `schema` says.
pub fn decode_payload(schema: &FieldSchema, payload: &[u8]) -> Result<Value, DecodeError> {
    let failure = Failure::default();
    let mut parser = serde_json::Deserializer::from_slice(payload);
    let seed = ValueSeed {
        schema,
        path: Path::ROOT,
        failure: &failure,
    };
    seed.deserialize(&mut parser)
        .and_then(|value| parser.end().map(|()| value))
        .map_err(|error| {
            failure
                .take()
                .unwrap_or_else(|| DecodeError::Json(error.to_string()))
        })
}

/// The decoding error behind the parser's error, when decoding (not parsing) failed.
#[derive(Default)]
struct Failure(Cell<Option<DecodeError>>);

impl Failure {
    fn raise<E: de::Error>(&self, error: DecodeError) -> E {
        let message = error.to_string();
        self.0.set(Some(error));
        E::custom(message)
    }

    fn take(&self) -> Option<DecodeError> {
        self.0.take()
    }
}

/// Where a value is (`after.last_price`), built on the stack and only rendered for an error.
#[derive(Clone, Copy)]
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    name: &'a str,
}

impl<'a> Path<'a> {
    const ROOT: Path<'static> = Path {
        parent: None,
        name: "",
    };

    fn child(&'a self, name: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            name,
        }
    }

    fn write_from_root(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parent {
            None => Ok(()),
            Some(parent) if parent.parent.is_none() => f.write_str(self.name),
            Some(parent) => {
                parent.write_from_root(f)?;
                write!(f, ".{}", self.name)
            }
        }
    }
}

/// Paths are relative to the payload (`op`, `after.last_price`); the payload itself is `payload`.
impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parent {
            None => f.write_str("payload"),
            Some(_) => self.write_from_root(f),
        }
    }
}

/// Decodes the value at `path` as `schema` says.
#[derive(Clone, Copy)]
struct ValueSeed<'a> {
    schema: &'a FieldSchema,
    path: Path<'a>,
    failure: &'a Failure,
}

impl ValueSeed<'_> {
    fn null<E: de::Error>(self) -> Result<Value, E> {
        if self.schema.optional {
            Ok(Value::Null)
        } else {
            Err(self.failure.raise(DecodeError::MissingField {
                path: self.path.to_string(),
            }))
        }
    }

    fn invalid<E: de::Error>(self, reason: String) -> E {
        self.failure.raise(DecodeError::InvalidValue {
            path: self.path.to_string(),
            declared: self.schema.declared.clone().into_owned(),
            reason,
        })
    }

    fn scalar<E: de::Error>(self, scalar: Scalar) -> Result<Value, E> {
        decode_scalar(&self.schema.kind, scalar).map_err(|reason| self.invalid(reason))
    }

    /// Arrays and maps are kept as their JSON text, which the parser hands over unparsed.
    fn structured<'de, D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        let raw = <&RawValue>::deserialize(deserializer)?;
        match raw.get() {
            "null" => self.null(),
            text => Ok(structured(text)),
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        match self.schema.kind {
            Kind::Structured => self.structured(deserializer),
            _ => deserializer.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a value of type {}", self.schema.declared)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.null()
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Value, E> {
        self.scalar(Scalar::Bool(flag))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Value, E> {
        self.scalar(Scalar::Int(number))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Value, E> {
        self.scalar(match i64::try_from(number) {
            Ok(number) => Scalar::Int(number),
            Err(_) => Scalar::LargeUInt(number),
        })
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Value, E> {
        self.scalar(Scalar::Float(number))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Value, E> {
        self.scalar(Scalar::Str(text))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        match &self.schema.kind {
            Kind::Struct(schema) => decode_struct(schema, map, self).map(Value::Row),
            Kind::Plain => decode_plain_struct(map, self).map(Value::Row),
            Kind::VariableScaleDecimal => {
                let parts = decode_plain_struct(map, self)?;
                variable_scale_decimal(&parts).map_err(|reason| self.invalid(reason))
            }
            kind => Err(self.invalid(format!("expected {}, found an object", expected(kind)))),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let Kind::Plain = self.schema.kind else {
            let expected = expected(&self.schema.kind);
            return Err(self.invalid(format!("expected {expected}, found an array")));
        };
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<serde_json::Value>()? {
            items.push(item);
        }
        Ok(Value::Structured(
            serde_json::Value::Array(items).to_string(),
        ))
    }
}

/// The fields of a struct with a schema; `parent` is the struct's own seed.
fn decode_struct<'de, A: MapAccess<'de>>(
    schema: &StructSchema,
    mut map: A,
    parent: ValueSeed,
) -> Result<Row, A::Error> {
    let mut values: Vec<Option<Value>> = std::iter::repeat_with(|| None)
        .take(schema.fields.len())
        .collect();
    let mut expected_position = 0;
    while let Some(position) = map.next_key_seed(FieldPosition {
        schema,
        hint: expected_position,
    })? {
        let field = position.and_then(|position| {
            Some((
                position,
                schema.fields.get(position)?,
                schema.names.get(position)?,
                values.get_mut(position)?,
            ))
        });
        let Some((position, field, name, slot)) = field else {
            // Kafka Connect ignores fields the schema does not declare; so do we.
            map.next_value::<IgnoredAny>()?;
            continue;
        };
        *slot = Some(map.next_value_seed(ValueSeed {
            schema: field,
            path: parent.path.child(name),
            failure: parent.failure,
        })?);
        expected_position = position + 1;
    }
    let values = values
        .into_iter()
        .zip(schema.fields.iter().zip(schema.names.iter()))
        .map(|(value, (field, name))| match value {
            Some(value) => Ok(value),
            // As in Kafka Connect, an absent field is a null one.
            None => ValueSeed {
                schema: field,
                path: parent.path.child(name),
                failure: parent.failure,
            }
            .null(),
        })
        .collect::<Result<_, _>>()?;
    Ok(Row::new(schema.names.clone(), values))
}

/// The fields of a struct without a schema, each as its JSON type says, in message order.
fn decode_plain_struct<'de, A: MapAccess<'de>>(
    mut map: A,
    parent: ValueSeed,
) -> Result<Row, A::Error> {
    let mut columns = Vec::new();
    while let Some(name) = map.next_key::<String>()? {
        let value = map.next_value_seed(ValueSeed {
            schema: &PLAIN,
            path: parent.path.child(&name),
            failure: parent.failure,
        })?;
        columns.push((name, value));
    }
    Ok(columns.into_iter().collect())
}

/// Resolves a JSON key to its field's position without allocating; `None` for unknown keys.
struct FieldPosition<'a> {
    schema: &'a StructSchema,
    hint: usize,
}

impl<'de> DeserializeSeed<'de> for FieldPosition<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldPosition<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Option<usize>, E> {
        Ok(self.schema.position(name, self.hint))
    }
}
