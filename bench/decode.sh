#!/usr/bin/env bash
# Decoding throughput, ours against the blog's: generates the ticker_24h events, runs the
# criterion benchmark and the blog's Python decode on the same bytes and the same single core,
# and writes bench/results/decode.md, judged against the target in BENCHMARKS.md (≥ 20× the
# blog's decode on one core).
#
#   bench/decode.sh                 # RUST_SECONDS=20 PYTHON_SECONDS=10 by default
#
# Criterion's estimates are read where criterion writes them: $CRITERION_HOME, else the
# criterion/ folder of cargo's target directory (CARGO_TARGET_DIR, or ./target by default).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source bench/lib.sh
bench_begin
target_dir="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
rust_seconds="${RUST_SECONDS:-20}"
python_seconds="${PYTHON_SECONDS:-10}"
events=bench/ticker_events.jsonl
estimates_dir="${CRITERION_HOME:-$target_dir/criterion}/decode_ticker/reused_decoder/new"
results=bench/results/decode.md

# Both sides on one core, the design's unit; taskset is missing on some systems (macOS).
if command -v taskset >/dev/null; then
    pin=(taskset -c 0)
    pinning="pinned to CPU 0 with taskset"
else
    pin=()
    pinning="not pinned (no taskset)"
fi

echo "== building, and writing $events"
cargo run --release --quiet -p debezium --example write_bench_events -- "$events"
# Build on every core; only the measurement runs pinned.
cargo bench --quiet -p debezium --bench decode_ticker --no-run

echo "== Rust: criterion, $rust_seconds s"
"${pin[@]}" cargo bench --quiet -p debezium --bench decode_ticker -- \
    --warm-up-time 3 --measurement-time "$rust_seconds" --sample-size 50 --noplot

echo "== Python: the blog's decode, $python_seconds s"
python_output="$("${pin[@]}" python3 bench/blog_decode.py "$events" --seconds "$python_seconds")"
echo "$python_output"

# Criterion stores nanoseconds per iteration; an iteration decodes every event once.
read -r rust_median rust_mean rust_low rust_high < <(python3 - "$estimates_dir" <<'PY'
import json, sys
directory = sys.argv[1]
estimates = json.load(open(f"{directory}/estimates.json"))
events = json.load(open(f"{directory}/benchmark.json"))["throughput"]["Elements"]
rate = lambda ns: events / (ns * 1e-9)
median = estimates["median"]
print(round(rate(median["point_estimate"])), round(rate(estimates["mean"]["point_estimate"])),
      round(rate(median["confidence_interval"]["upper_bound"])),
      round(rate(median["confidence_interval"]["lower_bound"])))
PY
)
python_median="$(sed -n 's/^median events\/s: //p' <<<"$python_output")"
python_mean="$(sed -n 's/^mean events\/s: //p' <<<"$python_output")"
ratio="$(python3 -c "print(f'{$rust_median / $python_median:.1f}')")"
mean_ratio="$(python3 -c "print(f'{$rust_mean / $python_mean:.1f}')")"
met="$(python3 -c "print(int($rust_median >= 20 * $python_median))")"

mkdir -p bench/results
{
    bench_header "Decoding Debezium JSON: Rust decoder vs the blog's Python" \
        "RUST_SECONDS=$rust_seconds PYTHON_SECONDS=$python_seconds bench/decode.sh"
    cat <<MD
- toolchains: $(rustc --version), $(python3 --version)
- input: \`$events\`, $(wc -l <"$events") distinct \`ticker_24h\` inserts, $(( ($(wc -c <"$events") - $(wc -l <"$events")) / $(wc -l <"$events") )) bytes each on average, as Debezium 3.x's PostgreSQL connector writes them (JSON converter, schemas, precise decimals)
- both sides $pinning; the Rust decoder is one \`Decoder\` reused for every message (schema cache warm, as in the consumer)

| decoder | events/s (median) | events/s (mean) |
|---|---:|---:|
| Rust \`debezium::Decoder\` (criterion, 50 samples; median's 95 % CI $rust_low–$rust_high) | $rust_median | $rust_mean |
| blog's Python (\`bench/blog_decode.py\`, passes over $python_seconds s) | $python_median | $python_mean |
| **ratio** | **${ratio}×** | ${mean_ratio}× |

MD
    verdict "decoding, ours against the blog's (medians, one core)" "${ratio}×" "≥ 20×" "$met"
} >"$results"
echo "== wrote $results"
cat "$results"
