//! Decoding of Debezium change events into typed, exact values.
//!
//! Input is one Kafka message value as produced by Kafka Connect's JSON converter with schemas
//! enabled: `{"schema": …, "payload": {"before", "after", "source", "op", "ts_ms"}}`. Every
//! column is decoded as its schema says — a `NUMERIC` arrives as base64 bytes whose scale is in
//! the schema's parameters, never assumed — so a price travels from PostgreSQL to Cassandra digit
//! for digit. [`Decoder`] compiles each distinct schema once, so the per-message cost is the
//! payload. Pure: no Kafka, no IO; malformed input is a [`DecodeError`] naming the field, never
//! a panic.
//!
//! ```
//! let mut decoder = debezium::Decoder::new();
//! assert_eq!(decoder.decode(None), Ok(debezium::Change::Tombstone));
//! ```

mod decimal;
mod decoder;
mod envelope;
mod error;
mod json_line;
mod payload;
mod schema;
mod value;

pub use decimal::{DecimalError, ExactDecimal};
pub use decoder::Decoder;
pub use envelope::{Change, ChangeEvent, Op, Source};
pub use error::DecodeError;
pub use json_line::to_json_line;
pub use value::{Row, Value};
