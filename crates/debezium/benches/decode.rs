//! Decoding throughput on realistic messages: the design's bar is ten times the blog's Python
//! decoder (~17k events/s), one core, exact. Run with `cargo bench -p debezium`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use debezium::{Decoder, to_json_line};

const TICKER: &[u8] = include_bytes!("../tests/fixtures/ticker_24h_create.json");
const CAPTURED: &str = include_str!("../tests/fixtures/captured_all_types.jsonl");

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    let mut decoder = Decoder::new();
    group.bench_function("ticker_24h insert", |b| {
        b.iter(|| decoder.decode(black_box(Some(TICKER))))
    });
    let captured: Vec<&[u8]> = CAPTURED.lines().map(str::as_bytes).collect();
    group.throughput(Throughput::Elements(captured.len() as u64));
    group.bench_function("captured, every column type", |b| {
        b.iter(|| {
            for message in &captured {
                let _ = black_box(decoder.decode(black_box(Some(message))));
            }
        })
    });
    group.finish();
}

fn json_line(c: &mut Criterion) {
    let Ok(change) = Decoder::new().decode(Some(TICKER)) else {
        panic!("the ticker fixture must decode")
    };
    c.bench_function("to_json_line ticker_24h", |b| {
        b.iter(|| to_json_line(black_box(&change)))
    });
}

criterion_group!(benches, decode, json_line);
criterion_main!(benches);
