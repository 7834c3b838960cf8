//! Decoding tests over whole Debezium messages, built by `envelope` from a list of column
//! schemas and payload values so each test shows only what it is about.

mod captured;
mod decimals;
mod envelope;
mod types;

use serde_json::{Value as Json, json};

/// A Debezium PostgreSQL message with the JSON converter's schema, for table public.t.
pub fn message(op: &str, columns: &[(&str, Json)], before: Json, after: Json) -> Vec<u8> {
    let fields: Vec<Json> = columns
        .iter()
        .map(|(name, schema)| {
            let mut schema = schema.clone();
            schema["field"] = json!(name);
            schema
        })
        .collect();
    let row_schema = |field: &str| json!({"type": "struct", "optional": true, "name": "crypto.public.t.Value", "field": field, "fields": fields});
    json!({
        "schema": {
            "type": "struct", "name": "crypto.public.t.Envelope", "optional": false,
            "fields": [
                row_schema("before"),
                row_schema("after"),
                {"type": "struct", "field": "source", "name": "io.debezium.connector.postgresql.Source", "optional": false, "fields": []},
                {"type": "string", "field": "op", "optional": false},
                {"type": "int64", "field": "ts_ms", "optional": true}
            ]
        },
        "payload": {
            "before": before,
            "after": after,
            "source": {"db": "crypto_db", "schema": "public", "table": "t", "lsn": 24023128,
                        "ts_ms": 1762266037123i64, "ts_us": 1762266037123456i64, "txId": 771, "snapshot": "false"},
            "op": op,
            "ts_ms": 1762266037200i64
        }
    })
    .to_string()
    .into_bytes()
}

/// A `NUMERIC(p, scale)` column's schema in `decimal.handling.mode=precise`.
pub fn decimal_schema(scale: u32) -> Json {
    json!({"type": "bytes", "optional": true, "name": "org.apache.kafka.connect.data.Decimal",
           "version": 1, "parameters": {"scale": scale.to_string(), "connect.decimal.precision": "38"}})
}

/// Debezium's encoding of an unscaled integer: minimal big-endian two's complement, base64.
pub fn encode_unscaled(unscaled: i128) -> String {
    use base64::Engine;
    let bytes = num_bigint::BigInt::from(unscaled).to_signed_bytes_be();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
