#!/usr/bin/env bash
# Commit in PostgreSQL → row in Cassandra through the whole pipeline at 1,000 changes/s, as the
# consumer measures it at each acknowledged write, on a pipeline of the benchmark's own; writes
# bench/results/latency.md, judged against the target in BENCHMARKS.md.
#
#   bench/latency.sh               # BENCH_ROUNDS=3 of BENCH_SECONDS=30 by default
#
# Starts the native stack if needed (`cargo xtask stack up`).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_begin
bench_stack_environment

command=(cargo bench -p cdc-consumer --bench latency)
"${command[@]}" --no-run
echo "== ${command[*]}"
output="$("${command[@]}")"
mkdir -p bench/results
{
    bench_header "Pipeline latency: commit in PostgreSQL → row in Cassandra" \
        "BENCH_ROUNDS=${BENCH_ROUNDS:-3} BENCH_SECONDS=${BENCH_SECONDS:-30} bench/latency.sh"
    echo "- path: PostgreSQL (logical WAL) → Debezium on Kafka Connect (poll.interval.ms=5) → Kafka → cdc-consumer → Cassandra, all on this machine"
    echo
    echo "$output"
    echo
    echo "Each latency is the consumer's at the acknowledged Cassandra write: now minus the commit"
    echo "time Debezium reports (\`source.ts_us\`), from \`cdc_consumer_end_to_end_seconds\`; quantiles"
    echo "are interpolated within the histogram's buckets (bounds at 40, 50, 60, 75, 100, 125, 150 ms …)."
} > bench/results/latency.md
cat bench/results/latency.md
