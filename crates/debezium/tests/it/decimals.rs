//! Decimals: the scale always comes from the schema; any sign, scale and length.

use debezium::Value;
use proptest::prelude::*;
use serde_json::json;

use crate::{decimal_schema, decode_column, encode_unscaled};

fn decode_price(scale: u32, encoded: serde_json::Value) -> Value {
    decode_column(decimal_schema(scale), encoded).unwrap()
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
    assert_eq!(decoded_text(8, -1), "-0.00000001");
    assert_eq!(decoded_text(8, 0), "0.00000000");
    assert_eq!(decoded_text(8, 10_i128.pow(20)), "1000000000000.00000000");
    assert_eq!(
        decoded_text(8, 123_456_789_012_345_678_901_234),
        "1234567890123456.78901234"
    );
    let max_38_digits = 10_i128.pow(38) - 1;
    assert_eq!(
        decoded_text(8, max_38_digits),
        "999999999999999999999999999999.99999999"
    );
    assert_eq!(
        decoded_text(8, -max_38_digits),
        "-999999999999999999999999999999.99999999"
    );
    assert_eq!(decoded_text(0, -42), "-42");
    assert_eq!(decode_price(8, json!(null)), Value::Null);
}

#[test]
fn an_empty_byte_array_is_zero() {
    assert!(matches!(decode_price(2, json!("")), Value::Decimal(d) if d.to_string() == "0.00"));
}

#[test]
fn decoded_decimals_convert_to_rust_decimal() {
    let Value::Decimal(price) = decode_price(8, json!(encode_unscaled(10_379_397_000_000))) else {
        panic!("not a decimal")
    };
    assert_eq!(price.scale(), 8);
    assert_eq!(
        price.unscaled_be_bytes(),
        [0x09, 0x70, 0xa4, 0x45, 0x6b, 0x40]
    );
    assert_eq!(
        price.to_rust_decimal().unwrap(),
        "103793.97000000".parse().unwrap()
    );
}

#[test]
fn variable_scale_decimal_carries_its_own_scale() {
    let schema = json!({"type": "struct", "optional": true, "name": "io.debezium.data.VariableScaleDecimal",
                        "fields": [{"type": "int32", "field": "scale"}, {"type": "bytes", "field": "value"}]});
    let decoded = decode_column(
        schema.clone(),
        json!({"scale": 3, "value": encode_unscaled(-1500)}),
    );
    assert!(matches!(decoded, Ok(Value::Decimal(d)) if d.to_string() == "-1.500"));
    let error = decode_column(schema, json!({"scale": "3", "value": "AQ=="})).unwrap_err();
    assert!(error.to_string().contains("after.x"), "{error}");
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
        unscaled in -(10_i128.pow(38) - 1)..=10_i128.pow(38) - 1,
        scale in 0u32..=18,
    ) {
        prop_assert_eq!(decoded_text(scale, unscaled), expected_text(unscaled, scale));
    }
}
