//! The envelope: operations, source, tombstones, schema caching, schemaless messages, JSON lines.

use debezium::{Change, DecodeError, Decoder, Op, Value};
use serde_json::json;

use crate::{event, message};

fn int_column() -> [(&'static str, serde_json::Value); 1] {
    [("id", json!({"type": "int64", "optional": false}))]
}

#[test]
fn every_row_operation_decodes_with_its_source() {
    for (code, op) in [
        ("c", Op::Create),
        ("u", Op::Update),
        ("d", Op::Delete),
        ("r", Op::Read),
    ] {
        let event = event(&message(
            code,
            &int_column(),
            json!({"id": 1}),
            json!({"id": 2}),
        ));
        assert_eq!(event.op, op);
        assert_eq!(event.op.code(), code);
        assert_eq!(event.before.unwrap().get("id"), Some(&Value::Int(1)));
        assert_eq!(event.after.unwrap().get("id"), Some(&Value::Int(2)));
        assert_eq!(event.ts_ms, Some(1762266037200));
        let source = event.source;
        assert_eq!(source.qualified_table(), "public.t");
        assert_eq!(
            (source.connector.as_str(), source.db.as_str()),
            ("postgresql", "crypto_db")
        );
        assert_eq!(source.lsn, Some(24023128));
        assert_eq!(source.ts_ms, 1762266037123);
        assert_eq!(source.ts_us, Some(1762266037123456));
        assert_eq!(source.ts_ns, Some(1762266037123456000));
        assert_eq!(source.tx_id, Some(771));
        assert_eq!(source.snapshot.as_deref(), Some("false"));
    }
}

#[test]
fn truncate_has_no_rows() {
    let event = event(&message("t", &int_column(), json!(null), json!(null)));
    assert_eq!(
        (event.op, event.before, event.after),
        (Op::Truncate, None, None)
    );
}

#[test]
fn a_logical_decoding_message_arrives_as_after() {
    let bytes = json!({
        "schema": {"type": "struct", "optional": false, "name": "io.debezium.connector.postgresql.MessageValue",
            "fields": [
                {"type": "string", "optional": false, "field": "op"},
                {"type": "int64", "optional": true, "field": "ts_ms"},
                {"type": "struct", "optional": false, "field": "source", "fields": [
                    {"type": "int64", "optional": false, "field": "ts_ms"},
                    {"type": "int64", "optional": true, "field": "lsn"}]},
                {"type": "struct", "optional": false, "field": "message", "name": "io.debezium.connector.postgresql.Message",
                 "fields": [{"type": "string", "optional": false, "field": "prefix"},
                            {"type": "bytes", "optional": true, "field": "content"}]}]},
        "payload": {"op": "m", "ts_ms": 1, "source": {"ts_ms": 2, "lsn": 3},
                    "message": {"prefix": "audit", "content": "aGk="}}
    });
    let event = event(bytes.to_string().as_bytes());
    assert_eq!((event.op, event.source.lsn), (Op::Message, Some(3)));
    let message = event.after.unwrap();
    assert_eq!(message.get("prefix"), Some(&Value::String("audit".into())));
    assert_eq!(message.get("content"), Some(&Value::Bytes(b"hi".to_vec())));
}

#[test]
fn tombstones_are_not_errors() {
    let mut decoder = Decoder::new();
    for value in [
        None,
        Some(&b""[..]),
        Some(&b"null"[..]),
        Some(&b" null\n"[..]),
    ] {
        assert_eq!(decoder.decode(value), Ok(Change::Tombstone));
    }
}

#[test]
fn a_decoder_keeps_every_schema_it_has_seen() {
    let text_column = [("id", json!({"type": "string", "optional": false}))];
    let mut decoder = Decoder::new();
    for id in 0..3 {
        let as_int = message("c", &int_column(), json!(null), json!({"id": id}));
        let as_text = message(
            "c",
            &text_column,
            json!(null),
            json!({"id": id.to_string()}),
        );
        for (bytes, expected) in [
            (as_int, Value::Int(id)),
            (as_text, Value::String(id.to_string())),
        ] {
            let Ok(Change::Event(event)) = decoder.decode(Some(&bytes)) else {
                panic!("not an event")
            };
            assert_eq!(event.after.unwrap().get("id"), Some(&expected));
        }
    }
}

#[test]
fn any_layout_of_the_same_message_decodes_the_same() {
    let compact = message("c", &int_column(), json!(null), json!({"id": 7}));
    let parsed: serde_json::Value = serde_json::from_slice(&compact).unwrap();
    let pretty = serde_json::to_vec_pretty(&parsed).unwrap();
    let payload_first = json!({"payload": parsed["payload"], "schema": parsed["schema"]});
    let mut decoder = Decoder::new();
    let expected = decoder.decode(Some(&compact)).unwrap();
    assert_eq!(decoder.decode(Some(&pretty)), Ok(expected.clone()));
    let reordered = payload_first.to_string();
    assert_eq!(decoder.decode(Some(reordered.as_bytes())), Ok(expected));
}

#[test]
fn json_lines_show_exact_values_in_schema_order() {
    let columns = [
        ("symbol", json!({"type": "string", "optional": false})),
        ("last_price", crate::decimal_schema(8)),
        (
            "close_time",
            json!({"type": "string", "optional": true, "name": "io.debezium.time.ZonedTimestamp"}),
        ),
        ("trades", json!({"type": "int64", "optional": true})),
    ];
    let after = json!({"symbol": "BTCUSDT", "last_price": crate::encode_unscaled(10_379_397_000_000),
                       "close_time": "2025-11-04T14:19:37.123Z", "trades": null});
    let bytes = message("c", &columns, json!(null), after);
    let change = Decoder::new().decode(Some(&bytes)).unwrap();
    assert_eq!(
        debezium::to_json_line(&change),
        r#"{"op":"c","table":"public.t","lsn":24023128,"ts_ms":1762266037123,"before":null,"after":{"symbol":"BTCUSDT","last_price":"103793.97000000","close_time":"2025-11-04T14:19:37.123Z","trades":null}}"#
    );
    assert_eq!(
        debezium::to_json_line(&Change::Tombstone),
        r#"{"op":"tombstone"}"#
    );
}

#[test]
fn schemaless_messages_decode_only_when_asked_and_decimals_stay_text() {
    let schemaless = br#"{"before":null,"after":{"symbol":"BTCUSDT","last_price":"103793.97000000","trades":7},
        "source":{"schema":"public","table":"ticker_24h","ts_ms":1762266037123},"op":"c","ts_ms":1}"#;
    let error = Decoder::new().decode(Some(schemaless)).unwrap_err();
    assert_eq!(error, DecodeError::MissingSchema);
    assert!(error.to_string().contains("scale"), "{error}");
    let Ok(Change::Event(event)) = Decoder::new()
        .accept_schemaless(true)
        .decode(Some(schemaless))
    else {
        panic!()
    };
    let after = event.after.unwrap();
    assert_eq!(
        after.get("last_price"),
        Some(&Value::String("103793.97000000".into()))
    );
    assert_eq!(after.get("trades"), Some(&Value::Int(7)));
    assert_eq!(event.source.qualified_table(), "public.ticker_24h");
}
