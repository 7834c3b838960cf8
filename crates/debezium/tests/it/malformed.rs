//! Messages that cannot be decoded: each error says where and what, and no input panics.

use debezium::{DecodeError, Decoder};
use proptest::prelude::*;
use serde_json::{Value as Json, json};

use crate::{decimal_schema, decode_column, message};

const TICKER: &[u8] = include_bytes!("../fixtures/ticker_24h_create.json");

fn column_error(schema: Json, value: Json) -> String {
    decode_column(schema, value).unwrap_err().to_string()
}

fn assert_mentions(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
}

#[test]
fn bad_values_name_the_field_its_type_and_the_problem() {
    let int64 = json!({"type": "int64", "optional": true});
    let cases = [
        (decimal_schema(8), json!("not base64!"), "base64"),
        (decimal_schema(8), json!(12), "integer 12"),
        (int64.clone(), json!("seven"), "\"seven\""),
        (int64, json!(1.5), "number 1.5"),
        (
            json!({"type": "int16", "optional": true}),
            json!(40000),
            "range",
        ),
        (
            json!({"type": "boolean", "optional": true}),
            json!({"a": 1}),
            "object",
        ),
        (
            json!({"type": "string", "optional": true}),
            json!([1]),
            "array",
        ),
        (
            json!({"type": "double", "optional": true}),
            json!("fast"),
            "\"fast\"",
        ),
        (
            json!({"type": "string", "optional": true, "name": "io.debezium.time.ZonedTimestamp"}),
            json!("yesterday"),
            "ISO-8601",
        ),
        (
            json!({"type": "int32", "optional": true, "name": "io.debezium.time.Date"}),
            json!(i64::MAX),
            "out of range",
        ),
        (
            json!({"type": "int64", "optional": true, "name": "io.debezium.time.MicroTime"}),
            json!(-1),
            "time of day",
        ),
    ];
    for (schema, value, problem) in cases {
        let declared = schema["type"].as_str().unwrap().to_owned();
        let error = column_error(schema, value);
        assert_mentions(&error, &["after.x", &declared, problem]);
    }
    let error = column_error(decimal_schema(8), json!("AQ"));
    assert_mentions(
        &error,
        &["after.x", "org.apache.kafka.connect.data.Decimal"],
    );
}

#[test]
fn a_required_field_that_is_null_or_absent_is_an_error() {
    let required = json!({"type": "int64", "optional": false});
    let error = column_error(required.clone(), json!(null));
    assert_mentions(&error, &["after.x", "required"]);
    let bytes = message("c", &[("x", required)], json!(null), json!({}));
    let error = Decoder::new().decode(Some(&bytes)).unwrap_err();
    assert_eq!(
        error,
        DecodeError::MissingField {
            path: "after.x".into()
        }
    );
}

#[test]
fn broken_json_reports_its_line_and_column() {
    let mut decoder = Decoder::new();
    let ticker = TICKER.trim_ascii_end();
    for broken in [
        &b"{not json"[..],
        b"{\"schema\":{",
        &ticker[..ticker.len() - 1],
    ] {
        let error = decoder.decode(Some(broken)).unwrap_err();
        assert!(matches!(error, DecodeError::Json(_)), "{error}");
        assert_mentions(&error.to_string(), &["line 1", "column"]);
    }
}

#[test]
fn invalid_utf8_is_an_error() {
    let bytes = message(
        "c",
        &[("x", json!({"type": "string", "optional": true}))],
        json!(null),
        json!({"x": "é"}),
    );
    let position = bytes
        .windows(2)
        .position(|pair| pair == "é".as_bytes())
        .unwrap();
    let mut broken = bytes.clone();
    broken[position] = 0xff;
    let error = Decoder::new().decode(Some(&broken)).unwrap_err();
    assert!(matches!(error, DecodeError::Json(_)), "{error}");
}

#[test]
fn envelope_problems_are_named() {
    let int_column = [("id", json!({"type": "int64", "optional": false}))];
    let mut decoder = Decoder::new();
    let unknown_op = message("x", &int_column, json!(null), json!({"id": 1}));
    assert_eq!(
        decoder.decode(Some(&unknown_op)),
        Err(DecodeError::UnknownOp("x".into()))
    );
    let no_payload = br#"{"schema":{"type":"struct","fields":[]}}"#;
    assert_eq!(
        decoder.decode(Some(no_payload)),
        Err(DecodeError::MissingPayload)
    );
    let no_schema = br#"{"payload":{"op":"c"}}"#;
    assert_eq!(
        decoder.decode(Some(no_schema)),
        Err(DecodeError::MissingSchema)
    );
    let bare_payload = br#"{"before":null,"after":{"price":"CW/ZvA3A"},"op":"c"}"#;
    assert_eq!(
        decoder.decode(Some(bare_payload)),
        Err(DecodeError::MissingSchema)
    );
    let not_an_object = br#"{"schema":{"type":"struct","fields":[]},"payload":[1]}"#;
    let error = decoder.decode(Some(not_an_object)).unwrap_err().to_string();
    assert_mentions(&error, &["payload", "array"]);
    let heartbeat = br#"{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"ts_ms"}]},"payload":{"ts_ms":1}}"#;
    let error = decoder.decode(Some(heartbeat)).unwrap_err();
    assert_eq!(error, DecodeError::MissingField { path: "op".into() });
    let wrong_source = br#"{"schema":{"type":"struct","fields":[{"type":"string","optional":false,"field":"op"},{"type":"struct","optional":false,"field":"source","fields":[{"type":"string","optional":false,"field":"ts_ms"}]}]},"payload":{"op":"c","source":{"ts_ms":"soon"}}}"#;
    let error = decoder.decode(Some(wrong_source)).unwrap_err().to_string();
    assert_mentions(&error, &["source.ts_ms", "int64"]);
}

#[test]
fn invalid_schemas_are_named() {
    let cases = [
        (json!({"type": "decimal", "optional": true}), "unknown type"),
        (
            json!({"type": "bytes", "optional": true, "name": "org.apache.kafka.connect.data.Decimal"}),
            "scale",
        ),
        (
            json!({"type": "bytes", "optional": true, "name": "org.apache.kafka.connect.data.Decimal",
                   "parameters": {"scale": "2000000000"}}),
            "scale",
        ),
    ];
    for (schema, problem) in cases {
        let error = column_error(schema, json!(null));
        assert_mentions(&error, &["schema", "before.x", problem]);
    }
    let not_a_struct = br#"{"schema":{"type":"string"},"payload":{}}"#;
    let error = Decoder::new().decode(Some(not_a_struct)).unwrap_err();
    assert!(
        matches!(error, DecodeError::InvalidSchema { .. }),
        "{error}"
    );
}

#[test]
fn every_truncation_of_a_real_message_is_an_error_not_a_panic() {
    let mut decoder = Decoder::new();
    assert!(decoder.decode(Some(TICKER)).is_ok());
    let ticker = TICKER.trim_ascii_end();
    for end in 1..ticker.len() {
        assert!(decoder.decode(Some(&ticker[..end])).is_err(), "{end}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn corrupted_messages_never_panic(
        edits in proptest::collection::vec((0..TICKER.len(), any::<u8>()), 1..4),
    ) {
        let mut corrupted = TICKER.to_vec();
        for (position, byte) in edits {
            corrupted[position] = byte;
        }
        // With the schema known, so a corrupted payload takes the fast path too.
        let mut decoder = Decoder::new();
        prop_assert!(decoder.decode(Some(TICKER)).is_ok());
        let _ = decoder.decode(Some(&corrupted));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Decoder::new().decode(Some(&bytes));
    }
}

#[test]
fn deep_nesting_never_overflows_the_stack() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let array = json!({"type": "array", "optional": true, "items": {"type": "string"}});
    let bytes = String::from_utf8(message("c", &[("x", array)], json!(null), json!({"x": 1})))
        .unwrap()
        .replace(r#"{"x":1}"#, &format!(r#"{{"x":{deep}}}"#));
    // An array column is kept as text, which needs no recursion: valid, however deep.
    let Ok(debezium::Change::Event(event)) = Decoder::new().decode(Some(bytes.as_bytes())) else {
        panic!("a deep array is still valid JSON")
    };
    let line = debezium::to_json_line(&debezium::Change::Event(event));
    assert!(line.len() > 200_000);
    // Without a schema every level is parsed, up to serde_json's recursion limit.
    let schemaless = format!(r#"{{"op":"c","after":{{"x":{deep}}}}}"#);
    let mut decoder = Decoder::new().accept_schemaless(true);
    assert!(decoder.decode(Some(schemaless.as_bytes())).is_err());
}
