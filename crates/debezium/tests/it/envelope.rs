//! The envelope: operations, source, tombstones, and messages that cannot be decoded.

use debezium::{Change, DecodeError, Decoder, Op};
use serde_json::json;

use crate::message;

fn int_column() -> [(&'static str, serde_json::Value); 1] {
    [("id", json!({"type": "int64", "optional": false}))]
}

#[test]
fn every_operation_decodes_with_its_source() {
    for (code, op) in [
        ("c", Op::Create),
        ("u", Op::Update),
        ("d", Op::Delete),
        ("r", Op::Read),
    ] {
        let bytes = message(code, &int_column(), json!({"id": 1}), json!({"id": 2}));
        let Ok(Change::Event(event)) = Decoder::new().decode(Some(&bytes)) else {
            panic!("{code}")
        };
        assert_eq!(event.op, op);
        assert_eq!(event.source.qualified_table(), "public.t");
        assert_eq!(event.source.lsn, Some(24023128));
        assert_eq!(event.source.ts_ms, 1762266037123);
        assert_eq!(event.source.snapshot.as_deref(), Some("false"));
    }
}

#[test]
fn truncate_has_no_rows() {
    let bytes = message("t", &int_column(), json!(null), json!(null));
    let Ok(Change::Event(event)) = Decoder::new().decode(Some(&bytes)) else {
        panic!()
    };
    assert_eq!(
        (event.op, event.before, event.after),
        (Op::Truncate, None, None)
    );
}

#[test]
fn tombstones_are_not_errors() {
    let mut decoder = Decoder::new();
    for value in [None, Some(&b""[..]), Some(&b"null"[..])] {
        assert_eq!(decoder.decode(value), Ok(Change::Tombstone));
    }
}

#[test]
fn a_decoder_is_reused_across_messages() {
    let mut decoder = Decoder::new();
    for id in 0..3 {
        let bytes = message("c", &int_column(), json!(null), json!({"id": id}));
        assert!(matches!(decoder.decode(Some(&bytes)), Ok(Change::Event(_))));
    }
}

#[test]
fn malformed_messages_say_what_is_wrong() {
    let mut decoder = Decoder::new();
    assert!(matches!(
        decoder.decode(Some(b"{not json")),
        Err(DecodeError::Json(_))
    ));
    let schemaless = br#"{"before":null,"after":{"price":"CW/ZvA3A"},"op":"c"}"#;
    assert_eq!(
        decoder.decode(Some(schemaless)),
        Err(DecodeError::MissingSchema)
    );
    let bytes = message("x", &int_column(), json!(null), json!({"id": 1}));
    assert_eq!(
        decoder.decode(Some(&bytes)),
        Err(DecodeError::UnknownOp("x".into()))
    );
    assert!(DecodeError::MissingSchema.to_string().contains("scale"));
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
    assert_eq!(
        Decoder::new().decode(Some(schemaless)),
        Err(DecodeError::MissingSchema)
    );
    let Ok(Change::Event(event)) = Decoder::new()
        .accept_schemaless(true)
        .decode(Some(schemaless))
    else {
        panic!()
    };
    let after = event.after.unwrap();
    assert_eq!(
        after.get("last_price"),
        Some(&debezium::Value::String("103793.97000000".into()))
    );
    assert_eq!(after.get("trades"), Some(&debezium::Value::Int(7)));
    assert_eq!(event.source.qualified_table(), "public.ticker_24h");
}
