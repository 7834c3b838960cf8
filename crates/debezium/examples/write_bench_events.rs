//! Writes the decode benchmark's `ticker_24h` events, one message per line, so the Python
//! baseline in `bench/` decodes the very same bytes as the Rust benchmark.
//!
//! `cargo run --release -p debezium --example write_bench_events -- bench/ticker_events.jsonl`

#[path = "../benches/support/ticker_events.rs"]
mod ticker_events;

use std::io::Write;

fn main() -> std::io::Result<()> {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: write_bench_events <output.jsonl>");
        std::process::exit(2);
    };
    let events = ticker_events::ticker_events(ticker_events::EVENT_COUNT);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    for event in &events {
        // The JSON converter writes no raw newline, so one message per line is unambiguous.
        out.write_all(event)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    let bytes: usize = events.iter().map(Vec::len).sum();
    eprintln!(
        "wrote {} events, {} bytes each on average, to {}",
        events.len(),
        bytes / events.len(),
        path.to_string_lossy()
    );
    Ok(())
}
