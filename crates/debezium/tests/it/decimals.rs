//! Decimals: the scale always comes from the schema; any sign, scale and length.

use debezium::{Change, Decoder, Value};
use proptest::prelude::*;
use serde_json::json;

use crate::{decimal_schema, encode_unscaled, message};

fn decode_price(scale: u32, encoded: serde_json::Value) -> Value {
    let bytes = message(
        "c",
        &[("price", decimal_schema(scale))],
        json!(null),
        json!({"price": encoded}),
    );
    let Ok(Change::Event(event)) = Decoder::new().decode(Some(&bytes)) else {
        panic!("not an event")
    };
    event.after.unwrap().get("price").unwrap().clone()
}

fn decoded_text(scale: u32, unscaled: i128) -> String {
    match decode_price(scale, json!(encode_unscaled(unscaled))) {
        Value::Decimal(decimal) => decimal.to_string(),
        other => panic!("expected a decimal, got {other:?}"),
    }
}

#[test]
fn reads_the_scale_from_the_schema() {
    assert_eq!(decoded_text(8, 10_379_397_000_000), "103793.97000000");
    assert_eq!(decoded_text(2, 10_379_397_000_000), "103793970000.00");
}

#[test]
fn keeps_the_blogs_example_exact() {
    // "CW/ZvA3A" is the last_price in the blog's sample message: 103759.99 at scale 8.
    assert!(
        matches!(decode_price(8, json!("CW/ZvA3A")), Value::Decimal(d) if d.to_string() == "103759.99000000")
    );
}

#[test]
fn negative_zero_huge_and_null() {
    assert_eq!(decoded_text(8, -12_345_678), "-0.12345678");
    assert_eq!(decoded_text(8, 0), "0.00000000");
    assert_eq!(
        decoded_text(8, 123_456_789_012_345_678_901_234),
        "1234567890123456.78901234"
    );
    assert_eq!(decode_price(8, json!(null)), Value::Null);
}

#[test]
fn variable_scale_decimal_carries_its_own_scale() {
    let schema = json!({"type": "struct", "optional": true, "name": "io.debezium.data.VariableScaleDecimal",
                        "fields": [{"type": "int32", "field": "scale"}, {"type": "bytes", "field": "value"}]});
    let bytes = message(
        "c",
        &[("x", schema)],
        json!(null),
        json!({"x": {"scale": 3, "value": encode_unscaled(-1500)}}),
    );
    let Ok(Change::Event(event)) = Decoder::new().decode(Some(&bytes)) else {
        panic!()
    };
    assert!(
        matches!(event.after.unwrap().get("x"), Some(Value::Decimal(d)) if d.to_string() == "-1.500")
    );
}

/// The expected text computed independently of the decoder, from the integer and the scale.
fn expected_text(unscaled: i128, scale: u32) -> String {
    let digits = format!(
        "{:0>width$}",
        unscaled.unsigned_abs(),
        width = scale as usize + 1
    );
    let (integer, fraction) = digits.split_at(digits.len() - scale as usize);
    let sign = if unscaled < 0 { "-" } else { "" };
    if scale == 0 {
        format!("{sign}{integer}")
    } else {
        format!("{sign}{integer}.{fraction}")
    }
}

proptest! {
    #[test]
    fn any_decimal_round_trips(
        unscaled in -99_999_999_999_999_999_999_999_999_999_999_999_999i128..=99_999_999_999_999_999_999_999_999_999_999_999_999i128,
        scale in 0u32..=18,
    ) {
        prop_assert_eq!(decoded_text(scale, unscaled), expected_text(unscaled, scale));
    }
}
