# What every benchmark script shares: the stack's client environment from xtask, and the header
# of a results file (what ran, on which commit, on what machine, under what load). Sourced by
# bench/*.sh; the targets each result is judged against are listed in BENCHMARKS.md.

# Call first: refuses to measure a tree with uncommitted changes (a figure must belong to a commit
# that a reader can check out and rerun; BENCH_ALLOW_DIRTY=1 measures anyway and says so), and
# records what the header reports as it is before the run: commit, tree, date, load.
bench_begin() {
    bench_tree="clean tree"
    if [ -n "$(git status --porcelain --untracked-files=no -- . ':!bench/results')" ]; then
        if [ "${BENCH_ALLOW_DIRTY:-0}" != 1 ]; then
            echo "error: the work tree has uncommitted changes; commit first (or BENCH_ALLOW_DIRTY=1)" >&2
            exit 1
        fi
        bench_tree="UNCOMMITTED CHANGES: these figures belong to no commit"
    fi
    bench_commit="$(git rev-parse HEAD)"
    bench_started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    bench_load="$(cut -d' ' -f1-3 /proc/loadavg)"
}

# Starts the native stack if needed and exports the variables its clients read (PG_URL,
# KAFKA_BROKERS, CASSANDRA_NODES, …) exactly as `cargo xtask test` sets them.
bench_stack_environment() {
    cargo xtask stack up
    eval "$(cargo xtask stack env)"
}

# bench_header TITLE REPRODUCE: the first lines of a results file (after bench_begin).
bench_header() {
    echo "# $1"
    echo
    echo "- reproduce: \`$2\`"
    echo "- commit: $bench_commit ($bench_tree)"
    echo "- started: $bench_started"
    echo "- machine: $(uname -srm), $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
    echo "- load average before the run: $bench_load"
    echo "- targets and their sources: BENCHMARKS.md"
}

# verdict WHAT MEASURED TARGET MET: one line judging a figure against its target.
verdict() {
    local outcome="**not met**"
    [ "$4" = 1 ] && outcome="**met**"
    echo "- $1: $2 — target $3: $outcome"
}
