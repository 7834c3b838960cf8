//! Arbitrary bytes as a Kafka message value: decoding must return `Ok` or `Err`, never panic,
//! and whatever decodes must also render as a JSON line (`cdc-consumer decode`'s output).

#![no_main]

use debezium::{Decoder, to_json_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(change) = Decoder::new().decode(Some(data)) {
        let line = to_json_line(&change);
        // The line is for people and tools reading raw messages: it must itself be JSON.
        assert!(
            serde_json::from_str::<serde_json::Value>(&line).is_ok(),
            "to_json_line wrote invalid JSON: {line}"
        );
    }
});
