#!/bin/sh
# bench_ingest_to_lever.sh: ingest_to_lever_p50_ms and _p99_ms, the time from
# a webhook's 2xx to the fake Lever receiving that candidate's create, with
# signed webhooks at 100/s for 10 s (tests/bench/delivery.c). No baseline.
# Targets: p50 <= 10 ms, p99 <= 50 ms.
set -eu
# shellcheck source=tests/bench/lib.sh
. "$SL_BENCH_DIR/lib.sh"
bench_init
prog=$(dirname "$SL_BENCH_BIN")/tests/bench/delivery
[ -x "$prog" ] || bench_die "$prog is missing: run make bench"
SL_TEST_PG="$PG_BASE" SL_TEST_BIN="$SL_BENCH_BIN" SL_TEST_TMP="$SL_BENCH_WORK" \
    "$prog" latency | tee "$SL_BENCH_WORK/out"
p50=$(sed -n 's/^BENCH ingest_to_lever_p50_ms value=\([0-9.]*\) .*/\1/p' "$SL_BENCH_WORK/out")
p99=$(sed -n 's/^BENCH ingest_to_lever_p99_ms value=\([0-9.]*\) .*/\1/p' "$SL_BENCH_WORK/out")
bench_expect ingest_to_lever_p50_ms value "$p50" '<=' 10 || exit 1
bench_expect ingest_to_lever_p99_ms value "$p99" '<=' 50 || exit 1
