#!/bin/sh
# bench_backfill_100k_ms.sh: one PUT .../lever-sync enqueuing 100,000
# stored applications (tests/bench/backfill.c, built by `make bench`).
# No baseline: the figure is the time of one request.
set -eu
# shellcheck source=tests/bench/lib.sh
. "$SL_BENCH_DIR/lib.sh"
bench_init
prog=$(dirname "$SL_BENCH_BIN")/tests/bench/backfill
[ -x "$prog" ] || bench_die "$prog is missing: run make bench"
SL_TEST_PG="$PG_BASE" SL_TEST_BIN="$SL_BENCH_BIN" SL_TEST_TMP="$SL_BENCH_WORK" \
    SL_BENCH_ROUNDS="$BENCH_ROUNDS" "$prog"
