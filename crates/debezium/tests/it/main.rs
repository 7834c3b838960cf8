//! Decoding tests over whole Debezium messages, built by `message` from a list of column
//! schemas and payload values so each test shows only what it is about; plus messages recorded
//! from the real connector and a hand-written `ticker_24h` one under `tests/fixtures/`.

mod captured;
mod decimals;
mod envelope;
mod malformed;
mod ticker;
mod types;

use debezium::{Change, ChangeEvent, DecodeError, Decoder, Value};
use serde_json::{Value as Json, json};

/// A Debezium 3.x PostgreSQL message as the JSON converter writes it with schemas, for table
/// public.t with the given columns (name, schema); `before` and `after` are the payload's rows.
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
    let schema = json!({
            "type": "struct", "name": "crypto.public.t.Envelope", "optional": false, "version": 2,
            "fields": [
                row_schema("before"),
                row_schema("after"),
                source_schema(),
                {"type": "struct", "field": "transaction", "name": "event.block", "optional": true, "version": 1,
                 "fields": [{"type": "string", "optional": false, "field": "id"},
                            {"type": "int64", "optional": false, "field": "total_order"},
                            {"type": "int64", "optional": false, "field": "data_collection_order"}]},
                {"type": "string", "field": "op", "optional": false},
                {"type": "int64", "field": "ts_ms", "optional": true},
                {"type": "int64", "field": "ts_us", "optional": true},
                {"type": "int64", "field": "ts_ns", "optional": true}
            ]
    });
    let payload = json!({
            "before": before,
            "after": after,
            "source": {"version": "3.6.3.Final", "connector": "postgresql", "name": "crypto",
                       "ts_ms": 1762266037123i64, "snapshot": "false", "db": "crypto_db",
                       "sequence": "[\"24022904\",\"24023128\"]", "ts_us": 1762266037123456i64,
                       "ts_ns": 1762266037123456000i64, "schema": "public", "table": "t",
                       "txId": 771, "lsn": 24023128, "xmin": null},
            "transaction": null,
            "op": op,
            "ts_ms": 1762266037200i64, "ts_us": 1762266037200123i64, "ts_ns": 1762266037200123456i64
    });
    // The JSON converter's layout: schema first, no whitespace.
    format!(r#"{{"schema":{schema},"payload":{payload}}}"#).into_bytes()
}

/// The schema of Debezium 3.x's PostgreSQL `source` block.
fn source_schema() -> Json {
    let field = |kind: &str, optional: bool, name: &str| json!({"type": kind, "optional": optional, "field": name});
    json!({
        "type": "struct", "field": "source", "name": "io.debezium.connector.postgresql.Source", "optional": false,
        "fields": [
            field("string", false, "version"), field("string", false, "connector"),
            field("string", false, "name"), field("int64", false, "ts_ms"),
            {"type": "string", "optional": true, "name": "io.debezium.data.Enum", "version": 1,
             "parameters": {"allowed": "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},
             "default": "false", "field": "snapshot"},
            field("string", false, "db"), field("string", true, "sequence"),
            field("int64", true, "ts_us"), field("int64", true, "ts_ns"),
            field("string", false, "schema"), field("string", false, "table"),
            field("int64", true, "txId"), field("int64", true, "lsn"), field("int64", true, "xmin")
        ]
    })
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

/// The event of a message that must decode to one.
pub fn event(bytes: &[u8]) -> ChangeEvent {
    match Decoder::new().decode(Some(bytes)) {
        Ok(Change::Event(event)) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// Decodes `value` as the `after` value of a single column `x` declared by `schema`.
pub fn decode_column(schema: Json, value: Json) -> Result<Value, DecodeError> {
    let bytes = message("c", &[("x", schema)], json!(null), json!({"x": value}));
    match Decoder::new().decode(Some(&bytes))? {
        Change::Event(event) => Ok(event.after.unwrap().get("x").unwrap().clone()),
        Change::Tombstone => panic!("not an event"),
    }
}
