//! Decimals: the scale always comes from the schema (or, for `VariableScaleDecimal`, the value);
//! any sign, scale and length renders exactly, both as `Display` and in `to_json_line` (what
//! `cdc-consumer decode` prints); an empty byte string is an error naming the field.
//!
//! The rendering the tests expect, from a sign, a digit string and a scale, is PostgreSQL's
//! own text for the value: exactly `scale` fraction digits, no leading zeros before the point
//! but one `0`, no exponent, `-` only before a non-zero value; a negative scale appends that
//! many zeros to the integer.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use debezium::{Change, Decoder, Value, to_json_line};
use proptest::prelude::*;
use serde_json::{Value as Json, json};

use crate::{decimal_schema, decode_column, encode_unscaled, message};

/// Any `NUMERIC` without precision and scale: Debezium's `{scale, value}` struct.
fn variable_scale_schema() -> Json {
    json!({"type": "struct", "optional": true, "name": "io.debezium.data.VariableScaleDecimal",
           "fields": [{"type": "int32", "field": "scale"}, {"type": "bytes", "field": "value"}]})
}

/// A `Decimal` schema with any scale, negative ones included.
fn decimal_schema_with_scale(scale: i32) -> Json {
    json!({"type": "bytes", "optional": true, "name": "org.apache.kafka.connect.data.Decimal",
           "version": 1, "parameters": {"scale": scale.to_string()}})
}

fn decode_price(scale: u32, encoded: Json) -> Value {
    decode_column(decimal_schema(scale), encoded).unwrap()
}

fn decoded_text(scale: u32, unscaled: i128) -> String {
    match decode_price(scale, json!(encode_unscaled(unscaled))) {
        Value::Decimal(decimal) => decimal.to_string(),
        other => panic!("expected a decimal, got {other:?}"),
    }
}

/// Column `x` of a message with `schema` and `value`, rendered twice: by the value's `Display`
/// and by `to_json_line`, which must agree.
fn rendered(schema: Json, value: Json) -> String {
    let bytes = message("c", &[("x", schema)], json!(null), json!({"x": value}));
    let change = Decoder::new().decode(Some(&bytes)).unwrap();
    let line: Json = serde_json::from_str(&to_json_line(&change)).unwrap();
    let Change::Event(event) = change else {
        panic!("not an event")
    };
    let display = match event.after.as_ref().and_then(|row| row.get("x")) {
        Some(Value::Decimal(decimal)) => decimal.to_string(),
        other => panic!("expected a decimal, got {other:?}"),
    };
    assert_eq!(line["after"]["x"], json!(display), "to_json_line ≠ Display");
    display
}

/// Java's `BigInteger.toByteArray()` of ±`digits` (minimal big-endian two's complement), by
/// schoolbook arithmetic rather than num-bigint, which the decoder itself uses; then
/// `padding` redundant sign bytes in front, as a non-minimal encoder could send.
fn java_bytes(negative: bool, digits: &str, padding: usize) -> Vec<u8> {
    let mut little_endian: Vec<u8> = Vec::new();
    for digit in digits.bytes().map(|digit| digit - b'0') {
        let mut carry = u16::from(digit);
        for byte in &mut little_endian {
            let product = u16::from(*byte) * 10 + carry;
            *byte = product as u8;
            carry = product >> 8;
        }
        if carry > 0 {
            little_endian.push(carry as u8);
        }
    }
    // A clear top bit: the magnitude as a non-negative two's-complement integer.
    little_endian.push(0);
    if negative {
        let mut carry = true;
        for byte in &mut little_endian {
            *byte = !*byte;
            if carry {
                (*byte, carry) = byte.overflowing_add(1);
            }
        }
    }
    let mut bytes: Vec<u8> = little_endian.into_iter().rev().collect();
    while let [first, next, ..] = bytes[..] {
        if (first == 0x00 && next < 0x80) || (first == 0xff && next >= 0x80) {
            bytes.remove(0);
        } else {
            break;
        }
    }
    let sign_byte = if bytes[0] >= 0x80 { 0xff } else { 0x00 };
    std::iter::repeat_n(sign_byte, padding)
        .chain(bytes)
        .collect()
}

/// The text of ±`digits` × 10^-`scale` as documented at the top, built from the digit string
/// alone.
fn expected_text(negative: bool, digits: &str, scale: i32) -> String {
    let strip = |integer: &str| match integer.trim_start_matches('0') {
        "" => "0".to_owned(),
        rest => rest.to_owned(),
    };
    let (integer, fraction) = match usize::try_from(scale) {
        Ok(scale) => {
            let padded = format!("{digits:0>width$}", width = scale + 1);
            let (integer, fraction) = padded.split_at(padded.len() - scale);
            (strip(integer), fraction.to_owned())
        }
        Err(_) => match strip(digits) {
            zero if zero == "0" => (zero, String::new()),
            integer => (
                integer + &"0".repeat(scale.unsigned_abs() as usize),
                String::new(),
            ),
        },
    };
    let is_zero = digits.bytes().all(|digit| digit == b'0');
    let sign = if negative && !is_zero { "-" } else { "" };
    if fraction.is_empty() {
        format!("{sign}{integer}")
    } else {
        format!("{sign}{integer}.{fraction}")
    }
}

fn decimal_text(negative: bool, digits: &str, scale: i32, padding: usize) -> String {
    rendered(
        decimal_schema_with_scale(scale),
        json!(BASE64.encode(java_bytes(negative, digits, padding))),
    )
}

fn variable_scale_text(negative: bool, digits: &str, scale: i32, padding: usize) -> String {
    rendered(
        variable_scale_schema(),
        json!({"scale": scale, "value": BASE64.encode(java_bytes(negative, digits, padding))}),
    )
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

/// 38 significant digits, ten more than `rust_decimal` holds: each must survive.
#[test]
fn numeric_38_8_at_full_width_is_exact() {
    let digits = "12345678901234567890123456789012345678";
    for negative in [false, true] {
        let sign = if negative { "-" } else { "" };
        assert_eq!(
            decimal_text(negative, digits, 8, 0),
            format!("{sign}123456789012345678901234567890.12345678")
        );
    }
    assert_eq!(
        decimal_text(false, digits, 38, 0),
        "0.12345678901234567890123456789012345678"
    );
    assert_eq!(
        decimal_text(true, "00000000000000000000000000000000000001", 38, 0),
        "-0.00000000000000000000000000000000000001"
    );
}

/// An unconstrained `NUMERIC` has no 38-digit bound: 60 digits, 30 of them after the point.
#[test]
fn unconstrained_numeric_with_60_digits_is_exact() {
    let digits = "123456789012345678901234567890123456789012345678901234567890";
    assert_eq!(
        variable_scale_text(true, digits, 30, 0),
        "-123456789012345678901234567890.123456789012345678901234567890"
    );
    assert_eq!(
        variable_scale_text(false, digits, 0, 0),
        "123456789012345678901234567890123456789012345678901234567890"
    );
}

#[test]
fn a_scale_beyond_the_digits_writes_leading_fraction_zeros() {
    assert_eq!(decimal_text(false, "5", 12, 0), "0.000000000005");
    assert_eq!(
        variable_scale_text(true, "5", 40, 0),
        format!("-0.{}5", "0".repeat(39))
    );
}

/// PostgreSQL 15 allows `NUMERIC(p, s)` with s < 0, and Connect's Decimal (Java's BigDecimal)
/// any scale: such a value is an integer, written out with its zeros, never as `42E+2`.
#[test]
fn a_negative_scale_appends_zeros() {
    assert_eq!(decimal_text(false, "42", -2, 0), "4200");
    assert_eq!(decimal_text(true, "42", -2, 0), "-4200");
    assert_eq!(variable_scale_text(false, "0", -3, 0), "0");
}

#[test]
fn redundant_sign_bytes_change_nothing() {
    assert_eq!(decimal_text(false, "42", 1, 3), "4.2");
    assert_eq!(decimal_text(true, "42", 1, 3), "-4.2");
    assert_eq!(rendered(decimal_schema(1), json!("AAAAKg==")), "4.2");
    assert_eq!(rendered(decimal_schema(1), json!("//////8=")), "-0.1");
}

/// Java writes zero as one byte (`AA==`), so an empty byte string is no number: it is refused,
/// naming the field, and the consumer dead-letters the message rather than writing it.
#[test]
fn an_empty_byte_string_is_an_error_naming_the_field() {
    let error = decode_column(decimal_schema(2), json!("")).unwrap_err();
    let error = error.to_string();
    assert!(
        error.contains("after.x") && error.contains("empty"),
        "{error}"
    );
    let error = decode_column(variable_scale_schema(), json!({"scale": 2, "value": ""}))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("after.x") && error.contains("\"value\"") && error.contains("empty"),
        "{error}"
    );
    assert!(matches!(decode_price(2, json!("AA==")), Value::Decimal(d) if d.to_string() == "0.00"));
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
    let decoded = decode_column(
        variable_scale_schema(),
        json!({"scale": 3, "value": encode_unscaled(-1500)}),
    );
    assert!(matches!(decoded, Ok(Value::Decimal(d)) if d.to_string() == "-1.500"));
    let error = decode_column(
        variable_scale_schema(),
        json!({"scale": "3", "value": "AQ=="}),
    )
    .unwrap_err();
    assert!(error.to_string().contains("after.x"), "{error}");
}

/// A digit string of 1..=`max` digits (leading zeros included, so a scale may exceed the
/// significant digits) and a scale from `scales(length)`.
fn digits_and_scale(
    max: usize,
    scales: fn(usize) -> std::ops::RangeInclusive<i32>,
) -> impl Strategy<Value = (String, i32)> {
    proptest::string::string_regex(&format!("[0-9]{{1,{max}}}"))
        .unwrap()
        .prop_flat_map(move |digits| {
            let scale = scales(digits.len());
            (Just(digits), scale)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// The test's own encoder agrees with num-bigint's, so the properties below test the
    /// decoder against Debezium's encoding, not against a mistake of their own.
    #[test]
    fn the_tests_encoder_is_javas(unscaled in any::<i128>(), padding in 0usize..3) {
        let digits = unscaled.unsigned_abs().to_string();
        let bytes = java_bytes(unscaled < 0, &digits, padding);
        prop_assert_eq!(
            &bytes[padding..],
            &num_bigint::BigInt::from(unscaled).to_signed_bytes_be()[..]
        );
    }

    /// Every `NUMERIC(p, s)` Debezium sends as a Decimal: 1..=38 digits, scale 0..=p.
    #[test]
    fn any_numeric_up_to_38_digits_renders_exactly(
        (digits, scale) in digits_and_scale(38, |length| 0..=length as i32),
        negative in any::<bool>(),
        padding in 0usize..3,
    ) {
        prop_assert_eq!(
            decimal_text(negative, &digits, scale, padding),
            expected_text(negative, &digits, scale)
        );
    }

    /// An unconstrained `NUMERIC`: up to 100 digits, any scale around them.
    #[test]
    fn any_variable_scale_decimal_renders_exactly(
        (digits, scale) in digits_and_scale(100, |length| -5..=length as i32 + 5),
        negative in any::<bool>(),
        padding in 0usize..3,
    ) {
        prop_assert_eq!(
            variable_scale_text(negative, &digits, scale, padding),
            expected_text(negative, &digits, scale)
        );
    }
}
