#!/usr/bin/env bash
# One full-market ticker poll (2,000 simulator symbols) parsed and written to a PostgreSQL
# database of the benchmark's own (created and dropped by it, beside the pipeline's), release
# build; writes bench/results/ingester.md, judged against the target in BENCHMARKS.md.
#
#   bench/ingester.sh
#
# Starts the native stack if needed (`cargo xtask stack up`).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_begin
bench_stack_environment
command=(cargo bench -p ingester --bench full_market_poll)
"${command[@]}" --no-run
echo "== ${command[*]}"
output="$("${command[@]}")"
mkdir -p bench/results
{
    bench_header "ingester: one full-market poll" "bench/ingester.sh"
    echo "- PostgreSQL: the native stack's, on the same machine; a database of the benchmark's own"
    echo
    echo "$output"
    echo
    echo "The fetch column is the simulator rendering 2,000 tickers plus HTTP on the same 2 cores;"
    echo "it is shown for context and kept out of the ingester's own parse and write times."
} > bench/results/ingester.md
cat bench/results/ingester.md
