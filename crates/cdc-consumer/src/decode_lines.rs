//! `cdc-consumer decode`: raw Kafka message values in, one JSON document per line; decoded
//! changes out, one per line. What the blog's author needed: "always check the raw Kafka
//! messages first". A line that cannot be decoded is reported with its number and the reason,
//! and the rest still decode.

use std::io::{self, BufRead, Write};

use debezium::{Decoder, to_json_line};

/// Decodes every line of `input` to `output`, reporting bad lines to `errors`; returns how many
/// lines could not be decoded. An empty line or `null` is a tombstone. `accept_schemaless`
/// as in `Decoder::accept_schemaless`.
pub fn decode_lines(
    input: impl BufRead,
    accept_schemaless: bool,
    mut output: impl Write,
    mut errors: impl Write,
) -> io::Result<usize> {
    let mut decoder = Decoder::new().accept_schemaless(accept_schemaless);
    let mut failed = 0;
    for (index, line) in input.lines().enumerate() {
        let line = line?;
        match decoder.decode(Some(line.as_bytes())) {
            Ok(change) => writeln!(output, "{}", to_json_line(&change))?,
            Err(error) => {
                failed += 1;
                writeln!(errors, "line {}: {error}", index + 1)?;
            }
        }
    }
    output.flush()?;
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value as Json, json};

    use super::decode_lines;

    /// A one-line Debezium insert into public.t whose `after` holds `price`, a `NUMERIC(38,8)`
    /// (Decimal), and `free`, an unconstrained `NUMERIC` (VariableScaleDecimal), as base64.
    fn insert(price: &str, free_scale: i32, free: &str) -> String {
        let decimal = json!({"type": "bytes", "optional": true, "field": "price",
            "name": "org.apache.kafka.connect.data.Decimal",
            "parameters": {"scale": "8", "connect.decimal.precision": "38"}});
        let variable = json!({"type": "struct", "optional": true, "field": "free",
            "name": "io.debezium.data.VariableScaleDecimal",
            "fields": [{"type": "int32", "field": "scale"}, {"type": "bytes", "field": "value"}]});
        let field = |kind: &str, name: &str| json!({"type": kind, "optional": true, "field": name});
        let schema = json!({"type": "struct", "fields": [
            {"type": "struct", "optional": true, "field": "after", "fields": [decimal, variable]},
            {"type": "struct", "field": "source", "fields": [
                field("string", "schema"), field("string", "table"), field("int64", "ts_ms")]},
            field("string", "op")]});
        let payload = json!({"after": {"price": price, "free": {"scale": free_scale, "value": free}},
            "source": {"schema": "public", "table": "t", "ts_ms": 1}, "op": "c"});
        json!({"schema": schema, "payload": payload}).to_string()
    }

    /// Java's `BigInteger.toByteArray` of `digits`, base64.
    fn encoded(digits: &str) -> String {
        use base64::Engine;
        let unscaled: num_bigint::BigInt = digits.parse().unwrap();
        base64::engine::general_purpose::STANDARD.encode(unscaled.to_signed_bytes_be())
    }

    fn decoded(input: &str) -> (usize, String, String) {
        let (mut output, mut errors) = (Vec::new(), Vec::new());
        let failed = decode_lines(input.as_bytes(), false, &mut output, &mut errors).unwrap();
        let text = |bytes| String::from_utf8(bytes).unwrap();
        (failed, text(output), text(errors))
    }

    /// 31, 38 and 60 significant digits, beyond the 28 of `rust_decimal` (which would round the
    /// first and third and refuse the second), are printed digit for digit.
    #[test]
    fn decimals_print_exactly_at_any_precision() {
        let sixty = "-123456789012345678901234567890123456789012345678901234567890";
        let input = [
            insert(
                &encoded("-12345678901234567890123456789012345678"),
                30,
                &encoded(sixty),
            ),
            insert(
                &encoded("1234567890123456789012345678901"),
                58,
                &encoded(sixty),
            ),
        ]
        .join("\n");
        let (failed, output, errors) = decoded(&input);
        assert_eq!((failed, errors.as_str()), (0, ""));
        let lines: Vec<Json> = output
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let rendered: Vec<(&Json, &Json)> = lines
            .iter()
            .map(|line| (&line["after"]["price"], &line["after"]["free"]))
            .collect();
        assert_eq!(
            rendered,
            [
                (
                    &json!("-123456789012345678901234567890.12345678"),
                    &json!("-123456789012345678901234567890.123456789012345678901234567890")
                ),
                (
                    &json!("12345678901234567890123.45678901"),
                    &json!("-12.3456789012345678901234567890123456789012345678901234567890")
                ),
            ]
        );
    }

    #[test]
    fn an_empty_decimal_is_reported_with_its_field() {
        let (failed, output, errors) = decoded(&insert("", 0, "AA=="));
        assert_eq!((failed, output.as_str()), (1, ""));
        assert!(
            errors.starts_with("line 1: after.price") && errors.contains("empty"),
            "{errors}"
        );
        let (failed, _, errors) = decoded(&insert("AA==", 2, ""));
        assert_eq!(failed, 1);
        assert!(
            errors.starts_with("line 1: after.free") && errors.contains("empty"),
            "{errors}"
        );
    }

    #[test]
    fn bad_lines_are_reported_with_their_number_and_the_rest_decode() {
        let input = "\nnull\n{broken\n";
        let (mut output, mut errors) = (Vec::new(), Vec::new());
        let failed = decode_lines(input.as_bytes(), false, &mut output, &mut errors).unwrap();
        assert_eq!(failed, 1);
        assert_eq!(
            String::from_utf8(output).unwrap(),
            "{\"op\":\"tombstone\"}\n{\"op\":\"tombstone\"}\n"
        );
        let errors = String::from_utf8(errors).unwrap();
        assert!(
            errors.starts_with("line 3: the message is not valid JSON"),
            "{errors}"
        );
    }
}
