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
    use super::decode_lines;

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
