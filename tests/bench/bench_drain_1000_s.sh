#!/bin/sh
# bench_drain_1000_s.sh: 1,000 applications of one connection drained at
# SL_LEVER_RPS=10 against a fake Lever that is instant but limits like Lever
# (10/s, bursts of 20); tests/bench/delivery.c, built by `make bench`.
# Baseline: Lever requests made / 10, the least time the limit allows.
# Target ratio <= 1.05 with e2e_429 = 0. One round: it takes over 3 minutes.
set -eu
# shellcheck source=tests/bench/lib.sh
. "$SL_BENCH_DIR/lib.sh"
bench_init
prog=$(dirname "$SL_BENCH_BIN")/tests/bench/delivery
[ -x "$prog" ] || bench_die "$prog is missing: run make bench"
SL_TEST_PG="$PG_BASE" SL_TEST_BIN="$SL_BENCH_BIN" SL_TEST_TMP="$SL_BENCH_WORK" \
    "$prog" drain | tee "$SL_BENCH_WORK/out"
ratio=$(sed -n 's/^BENCH drain_1000_s .* ratio=\([0-9.]*\)$/\1/p' "$SL_BENCH_WORK/out")
n429=$(sed -n 's/^BENCH e2e_429 value=\([0-9]*\) .*/\1/p' "$SL_BENCH_WORK/out")
bench_expect drain_1000_s ratio "$ratio" '<=' 1.05 || exit 1
bench_expect e2e_429 value "$n429" '<=' 0 || exit 1
