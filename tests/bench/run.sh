#!/bin/sh
# tests/bench/run.sh: `make bench`, the benchmark suite.
#
#   sh tests/bench/run.sh BIN [FILTER]
#
# Starts one throwaway PostgreSQL (tests/lib/pg.sh) with a migrated
# database for the whole run, then runs every tests/bench/bench_<name>.sh
# in name order (only those whose <name> matches FILTER, an extended
# regular expression, when given), each as its own process with
# tests/bench/lib.sh to lean on. A benchmark is added by dropping a new
# bench_<name>.sh file here; it prints one line per figure:
#   BENCH <name> value=<n> unit=<u> baseline=<n|none> ratio=<value/baseline|none>
# Everything listens on 127.0.0.1 with port 0 or a free port. Whatever the
# run started (the cluster, the bench in progress, which stops its own
# servers by PID) is stopped however it ends. Exit status: 0 when every
# bench ran; 1 when one failed (SL_BENCH_STRICT=1 also fails a figure
# outside its expectation).
set -eu
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 BIN [FILTER]" >&2
    exit 2
fi
if [ ! -f "$1" ] || [ ! -x "$1" ]; then
    echo "bench: $1 is not an executable" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
filter=${2:-}
# shellcheck source=tests/lib/pg.sh
. "$here/../lib/pg.sh"

benches=""
for f in "$here"/bench_*.sh; do
    [ -f "$f" ] || continue
    name=${f##*/bench_}
    name=${name%.sh}
    if [ -n "$filter" ] && ! printf '%s\n' "$name" | grep -Eq -- "$filter"; then
        continue
    fi
    benches="$benches $name"
done
[ -n "$benches" ] || {
    all=""
    for f in "$here"/bench_*.sh; do n=${f##*/bench_}; all="$all ${n%.sh}"; done
    echo "bench: no benchmark matches \"$filter\"; there are:$all" >&2
    exit 2
}

tmp=$(mktemp -d /tmp/sl-bench.XXXXXX)
child=""
cleanup() {
    if [ -n "$child" ]; then
        kill -TERM "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    pg_down "$tmp"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$(date +%s)
pg_up "$tmp"
"$(pg_bindir)/psql" "$PG_BASE dbname=postgres" -qc "CREATE DATABASE sl_bench" >/dev/null
DATABASE_URL="$PG_BASE dbname=sl_bench" "$bin" migrate 2>"$tmp/migrate.log" ||
    { cat "$tmp/migrate.log" >&2; exit 1; }
printf '# bench: PostgreSQL on 127.0.0.1:%s; %s on %s CPUs, load %s\n' "$PG_PORT" \
    "$(basename "$bin")" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" >&2

# `serve` refuses to start without its secrets: throwaway ones unless given.
export SL_API_TOKEN="${SL_API_TOKEN:-bench-token}"
export SL_STAKHA_WEBHOOK_SECRET="${SL_STAKHA_WEBHOOK_SECRET:-whsec_$(head -c 32 /dev/urandom | base64)}"
export SL_TOKEN_KEY="${SL_TOKEN_KEY:-$(head -c 32 /dev/urandom | base64)}"
export SL_BENCH_BIN="$bin" SL_BENCH_DATABASE_URL="$PG_BASE dbname=sl_bench"
export SL_BENCH_DIR="$here" SL_BENCH_TMP="$tmp"
failed=""
for name in $benches; do
    t0=$(date +%s)
    # In the background so that a signal to this shell is handled at once
    # (a shell defers traps while a foreground child runs) and passed on.
    SL_BENCH_WORK="$tmp/$name" sh "$here/bench_$name.sh" &
    child=$!
    if wait "$child"; then status=ok; else status=FAILED; failed="$failed $name"; fi
    child=""
    echo "# bench $name: $status in $(($(date +%s) - t0)) s" >&2
done
echo "# bench: done in $(($(date +%s) - started)) s${failed:+; failed:$failed}" >&2
[ -z "$failed" ]
