//! Decoding of Debezium change events into typed, exact values.
//!
//! Input is one Kafka message value as produced by Kafka Connect's JSON converter with schemas
//! enabled: `{"schema": …, "payload": {"before", "after", "source", "op", "ts_ms"}}`. Every
//! column is decoded as its schema says — a `NUMERIC` arrives as base64 bytes whose scale is in
//! the schema's parameters, never assumed — so a price travels from PostgreSQL to Cassandra digit
//! for digit. Pure: no Kafka, no IO.

mod decimal;
mod envelope;
mod error;
mod json_line;
mod schema;
mod value;

pub use decimal::ExactDecimal;
pub use envelope::{Change, ChangeEvent, Decoder, Op, Source};
pub use error::DecodeError;
pub use json_line::to_json_line;
pub use value::{Row, Value};
