#!/usr/bin/env bash
# Commit in PostgreSQL → row in Cassandra through the whole pipeline at 1,000 changes/s, as the
# consumer measures it at each acknowledged write; writes bench/results/latency.md. The bar
# (design.md §7): p50 ≤ 50 ms, p99 ≤ 150 ms, all on this one box.
#
#   bench/latency.sh               # BENCH_ROUNDS=3 of BENCH_SECONDS=30 by default
#
# Starts the native stack if needed (`cargo xtask stack up`).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo xtask stack up
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:${CDC_KAFKA_PORT:-9092}}"
export CASSANDRA_NODES="${CASSANDRA_NODES:-127.0.0.1:${CDC_CASSANDRA_PORT:-9042}}"
pg="host=127.0.0.1 port=${CDC_PG_PORT:-5432} dbname=crypto_db"
export PG_URL="${PG_URL:-$pg user=ingester password=${CDC_INGESTER_PASSWORD:-ingester}}"
export PG_ADMIN_URL="${PG_ADMIN_URL:-$pg user=postgres password=${CDC_PG_SUPERUSER_PASSWORD:-postgres}}"

command=(cargo bench -p cdc-consumer --bench latency)
"${command[@]}" --no-run
echo "== ${command[*]}"
output="$("${command[@]}")"
mkdir -p bench/results
{
    echo "# Pipeline latency: commit in PostgreSQL → row in Cassandra"
    echo
    echo "- command: \`bench/latency.sh\` (\`${command[*]}\`, release profile), BENCH_ROUNDS=${BENCH_ROUNDS:-3}, BENCH_SECONDS=${BENCH_SECONDS:-30}"
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- machine: $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
    echo "- path: PostgreSQL (logical WAL) → Debezium on Kafka Connect (poll.interval.ms=5) → Kafka → cdc-consumer → Cassandra, all on this machine"
    echo
    echo "$output"
    echo
    echo "Each latency is the consumer's at the acknowledged Cassandra write: now minus the commit"
    echo "time Debezium reports (\`source.ts_us\`), from \`cdc_consumer_end_to_end_seconds\`; quantiles"
    echo "are interpolated within the histogram's buckets (bounds at 40, 50, 60, 75, 100, 125, 150 ms …)."
} > bench/results/latency.md
cat bench/results/latency.md
