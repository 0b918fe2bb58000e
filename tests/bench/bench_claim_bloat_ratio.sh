#!/bin/sh
# bench_claim_bloat_ratio.sh: queue cycles a second (claim + complete, 4
# threads, 20,000 rows a round) with 1,000,000 delivered rows in the
# deliveries table, divided by the same with an empty table
# (tests/bench/delivery.c). Target >= 0.8: the claim reads only the partial
# index of due rows, whatever the history.
set -eu
# shellcheck source=tests/bench/lib.sh
. "$SL_BENCH_DIR/lib.sh"
bench_init
prog=$(dirname "$SL_BENCH_BIN")/tests/bench/delivery
[ -x "$prog" ] || bench_die "$prog is missing: run make bench"
SL_TEST_PG="$PG_BASE" SL_TEST_BIN="$SL_BENCH_BIN" SL_TEST_TMP="$SL_BENCH_WORK" \
    SL_BENCH_ROUNDS="$BENCH_ROUNDS" "$prog" bloat | tee "$SL_BENCH_WORK/out"
ratio=$(sed -n 's/^BENCH claim_bloat_ratio value=\([0-9.]*\) .*/\1/p' "$SL_BENCH_WORK/out")
bench_expect claim_bloat_ratio value "$ratio" '>=' 0.8 || exit 1
