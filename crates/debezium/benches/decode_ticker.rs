//! Decoding throughput on realistic `ticker_24h` inserts, against the blog's Python decoder on
//! one core (the target is in BENCHMARKS.md). `cargo xtask bench decode` runs this beside the Python
//! baseline and writes `bench/results/decode.md`; alone:
//! `cargo bench -p debezium --bench decode_ticker`.

#[path = "support/ticker_events.rs"]
mod ticker_events;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use debezium::{Change, Decoder};
use ticker_events::{EVENT_COUNT, ticker_events};

fn decode_ticker(c: &mut Criterion) {
    let events = ticker_events(EVENT_COUNT);
    // As in production: one decoder for the topic, its schema cache warm after the first message.
    let mut decoder = Decoder::new();
    for (index, event) in events.iter().enumerate() {
        // Timing the error path would flatter nothing: every event must decode to a change.
        match decoder.decode(Some(event)) {
            Ok(Change::Event(_)) => {}
            other => panic!("generated event {index} does not decode: {other:?}"),
        }
    }
    let mut group = c.benchmark_group("decode_ticker");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("reused_decoder", |b| {
        b.iter(|| {
            for event in &events {
                // Dropping the decoded change is part of the cost, as in the consumer.
                black_box(decoder.decode(black_box(Some(event.as_slice()))).ok());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, decode_ticker);
criterion_main!(benches);
