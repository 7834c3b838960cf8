//! Mutations inside a valid `ticker_24h` insert: one value of the envelope or of its schema is
//! replaced, so the JSON stays well-formed and the fuzzer reaches the per-type decoders (base64,
//! decimals, timestamps, integer ranges, schema parameters) that random bytes rarely get past
//! the JSON parser to.
//!
//! Input layout: byte 0 picks the slot, byte 1 how the rest becomes its new value. When the rest
//! goes into a decimal column as base64, the decoded decimal must equal the bytes read as a
//! big-endian two's-complement integer at scale 8, computed independently with num-bigint; no
//! bytes at all must be an error naming the column.

#![no_main]

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use debezium::{Change, Decoder, Value, to_json_line};
use libfuzzer_sys::fuzz_target;
use num_bigint::BigInt;
use serde_json::Value as Json;

/// The first event of `bench/ticker_events.jsonl`: what the connector sends for the table.
const TEMPLATE: &str = include_str!("../templates/ticker_24h_insert.json");

/// JSON pointers into the template, and for `NUMERIC(38, 8)` columns the column name.
const SLOTS: &[(&str, Option<&str>)] = &[
    ("/payload/after/price_change", Some("price_change")),
    ("/payload/after/last_price", Some("last_price")),
    ("/payload/after/quote_volume", Some("quote_volume")),
    ("/payload/after/id", None),
    ("/payload/after/symbol", None),
    ("/payload/after/close_time", None),
    ("/payload/after/open_time", None),
    ("/payload/after/trade_count", None),
    ("/payload/after", None),
    ("/payload/before", None),
    ("/payload/op", None),
    ("/payload/source", None),
    ("/payload/source/ts_ms", None),
    ("/payload/source/lsn", None),
    ("/payload/source/snapshot", None),
    ("/payload/source/txId", None),
    // last_price's schema: its scale parameter, type, logical name and parameters.
    ("/schema/fields/1/fields/6/parameters/scale", None),
    ("/schema/fields/1/fields/6/type", None),
    ("/schema/fields/1/fields/6/name", None),
    ("/schema/fields/1/fields/6/parameters", None),
    // close_time's logical name, trade_count's type, the after image's type, the envelope's.
    ("/schema/fields/1/fields/18/name", None),
    ("/schema/fields/1/fields/21/type", None),
    ("/schema/fields/1/type", None),
    ("/schema/fields/1/fields", None),
    ("/schema", None),
];

/// For each slot, the template's text before and after the slot's value: splicing a new value
/// between them is a string concatenation, not a JSON tree to clone and serialize again.
fn spliceable() -> &'static [(String, String)] {
    static SPLICEABLE: OnceLock<Vec<(String, String)>> = OnceLock::new();
    SPLICEABLE.get_or_init(|| {
        let template: Json =
            serde_json::from_str(TEMPLATE).expect("the template is one JSON message");
        SLOTS
            .iter()
            .map(|(pointer, _)| {
                // Serializes as itself, and no message contains it.
                const MARK: &str = "@@fuzz-slot@@";
                let mut message = template.clone();
                *message
                    .pointer_mut(pointer)
                    .unwrap_or_else(|| panic!("{pointer} is not in the template")) =
                    Json::from(MARK);
                let text = message.to_string();
                let at = text
                    .find(&format!("\"{MARK}\""))
                    .expect("the mark is in the text");
                (
                    text[..at].to_owned(),
                    text[at + MARK.len() + 2..].to_owned(),
                )
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let [slot, how, rest @ ..] = data else { return };
    let (_, decimal_column) = SLOTS[usize::from(*slot) % SLOTS.len()];
    let as_base64 = how % 4 == 1;
    let value = match how % 4 {
        0 => Json::String(String::from_utf8_lossy(rest).into_owned()),
        1 => Json::String(BASE64.encode(rest)),
        2 => serde_json::from_slice(rest)
            .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(rest).into_owned())),
        _ => {
            let mut word = [0u8; 8];
            let len = rest.len().min(8);
            word[..len].copy_from_slice(&rest[..len]);
            Json::from(i64::from_be_bytes(word))
        }
    };
    let (before, after) = &spliceable()[usize::from(*slot) % SLOTS.len()];
    let bytes = format!("{before}{value}{after}").into_bytes();

    let decoded = Decoder::new().decode(Some(&bytes));
    if let Ok(change) = &decoded {
        let line = to_json_line(change);
        assert!(
            serde_json::from_str::<Json>(&line).is_ok(),
            "to_json_line wrote invalid JSON: {line}"
        );
    }
    if let (Some(column), true) = (decimal_column, as_base64) {
        // No bytes are no integer: the message is refused, naming the column.
        if rest.is_empty() {
            let error = decoded.expect_err("an empty decimal decoded").to_string();
            assert!(
                error.contains(&format!("after.{column}")) && error.contains("empty"),
                "{error}"
            );
            return;
        }
        // Any other bytes are a valid unscaled integer: the message must decode, and exactly.
        let event = match decoded {
            Ok(Change::Event(event)) => event,
            other => panic!("{column} = base64 {rest:02x?} did not decode: {other:?}"),
        };
        let decoded = event.after.as_ref().and_then(|row| row.get(column));
        if rest == b"__debezium_unavailable_value" {
            assert_eq!(decoded, Some(&Value::Unavailable));
        } else {
            let Some(Value::Decimal(decimal)) = decoded else {
                panic!("{column} = base64 {rest:02x?} decoded to {decoded:?}")
            };
            assert_eq!(
                decimal.to_string(),
                at_scale_8(&BigInt::from_signed_bytes_be(rest))
            );
        }
    }
});

/// `unscaled` × 10⁻⁸ with exactly eight fraction digits, written without the decoder's code.
fn at_scale_8(unscaled: &BigInt) -> String {
    let digits = format!("{:0>9}", unscaled.magnitude());
    let (integer, fraction) = digits.split_at(digits.len() - 8);
    let sign = if unscaled.sign() == num_bigint::Sign::Minus {
        "-"
    } else {
        ""
    };
    format!("{sign}{integer}.{fraction}")
}
