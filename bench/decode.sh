#!/usr/bin/env bash
# Decoding throughput, ours against the blog's: generates the ticker_24h events, runs the
# criterion benchmark and the blog's Python decode on the same bytes and the same single core,
# and writes bench/results/decode.md. The bar (design.md §7) is ≥ 10× the blog.
#
#   bench/decode.sh                 # RUST_SECONDS=20 PYTHON_SECONDS=10 by default
#
# Criterion's estimates are read where criterion writes them: $CRITERION_HOME, else the
# criterion/ folder of cargo's target directory (CARGO_TARGET_DIR, or ./target by default).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
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
verdict="$(python3 -c "print('meets' if $rust_median >= 10 * $python_median else 'MISSES')")"

mkdir -p bench/results
cat >"$results" <<MD
# Decoding Debezium JSON: Rust decoder vs the blog's Python

Written by \`bench/decode.sh\`; the bar (design.md §7) is ≥ 10× the blog's decode, one core, exact.

- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo " (with uncommitted changes)")
- Machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1); load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)
- Toolchains: $(rustc --version), $(python3 --version)
- Input: \`$events\`, $(wc -l <"$events") distinct \`ticker_24h\` inserts, $(( ($(wc -c <"$events") - $(wc -l <"$events")) / $(wc -l <"$events") )) bytes each on average, as Debezium 3.x's PostgreSQL connector writes them (JSON converter, schemas, precise decimals)
- Both sides $pinning; the Rust decoder is one \`Decoder\` reused for every message (schema cache warm, as in the consumer)
- Reproduce: \`RUST_SECONDS=$rust_seconds PYTHON_SECONDS=$python_seconds bench/decode.sh\`

| decoder | events/s (median) | events/s (mean) |
|---|---:|---:|
| Rust \`debezium::Decoder\` (criterion; median 95 % CI $rust_low–$rust_high) | $rust_median | $rust_mean |
| blog's Python (\`bench/blog_decode.py\`) | $python_median | $python_mean |
| **ratio** | **${ratio}×** | ${mean_ratio}× |

Target ≥ 10×: **$verdict** (on the medians).
MD
echo "== wrote $results"
cat "$results"
