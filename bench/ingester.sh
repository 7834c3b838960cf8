#!/usr/bin/env bash
# One full-market ticker poll (2,000 simulator symbols) parsed and written to PostgreSQL,
# release build; writes bench/results/ingester.md. Needs the native stack (`cargo xtask stack up`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PG_URL="${PG_URL:-host=127.0.0.1 port=5432 user=ingester password=ingester dbname=crypto_db}"
export PG_ADMIN_URL="${PG_ADMIN_URL:-host=127.0.0.1 port=5432 user=postgres password=postgres dbname=crypto_db}"
command=(cargo bench -p ingester --bench full_market_poll)
output="$("${command[@]}" 2>/dev/null)"
mkdir -p bench/results
{
    echo "# ingester: one full-market poll"
    echo
    echo "- command: \`bench/ingester.sh\` (\`${command[*]}\`, release profile)"
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- machine: $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
    echo "- PostgreSQL: the native stack's, on the same machine (shared with the rest of the pipeline)"
    echo "- target: parse + write ≤ 200 ms per poll"
    echo
    echo "$output"
    echo
    echo "The fetch column is the simulator rendering 2,000 tickers plus HTTP on the same 2 cores;"
    echo "it is shown for context and kept out of the ingester's own parse and write times."
} > bench/results/ingester.md
cat bench/results/ingester.md
