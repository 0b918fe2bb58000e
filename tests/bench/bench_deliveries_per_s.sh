#!/bin/sh
# bench_deliveries_per_s.sh: deliveries a second with the rate limit lifted
# (SL_LEVER_RPS=1000000, the fake instant and unlimited), SL_WORKERS=4,
# 2,000 applications a round (tests/bench/delivery.c).
# Baseline: the same PostgreSQL doing the bare queue cycle of as many rows,
# one row per transaction, 4 clients like the 4 workers: pgbench running
# SELECT ... FOR UPDATE SKIP LOCKED + UPDATE. Target ratio >= 0.5.
set -eu
# shellcheck source=tests/bench/lib.sh
. "$SL_BENCH_DIR/lib.sh"
bench_init
prog=$(dirname "$SL_BENCH_BIN")/tests/bench/delivery
[ -x "$prog" ] || bench_die "$prog is missing: run make bench"
work=$SL_BENCH_WORK
n=${SL_DELIVERY_N:-2000}
psql=$(pg_bindir 2>/dev/null || dirname "$(command -v psql)")/psql
pgbench=$(dirname "$psql")/pgbench
[ -x "$pgbench" ] || pgbench=$(command -v pgbench)

cat >"$work/claim.sql" <<'SQL'
BEGIN;
SELECT id AS claim_id FROM bench_claim WHERE state = 'pending'
 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED \gset
UPDATE bench_claim SET state = 'done' WHERE id = :claim_id;
COMMIT;
SQL
: >"$work/base"
round=1
while [ "$round" -le "$BENCH_ROUNDS" ]; do
    "$psql" "$SL_BENCH_DATABASE_URL" -q >/dev/null <<SQL
DROP TABLE IF EXISTS bench_claim;
CREATE TABLE bench_claim (id bigserial PRIMARY KEY, state text NOT NULL DEFAULT 'pending',
                          payload text);
CREATE INDEX bench_claim_due ON bench_claim (id) WHERE state = 'pending';
INSERT INTO bench_claim (payload) SELECT repeat('x', 200) FROM generate_series(1, $n);
VACUUM ANALYZE bench_claim;
SQL
    tps=$("$pgbench" -n -c 4 -j 2 -t $((n / 4)) -f "$work/claim.sql" "$SL_BENCH_DATABASE_URL" \
        2>"$work/pgbench.err" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
    [ -n "$tps" ] || { cat "$work/pgbench.err" >&2; bench_die "pgbench gave no tps"; }
    echo "$tps" >>"$work/base"
    bench_note "claim-and-complete baseline round $round/$BENCH_ROUNDS: $tps rows/s"
    round=$((round + 1))
done
"$psql" "$SL_BENCH_DATABASE_URL" -qc "DROP TABLE bench_claim"
base=$(bench_median <"$work/base")
SL_TEST_PG="$PG_BASE" SL_TEST_BIN="$SL_BENCH_BIN" SL_TEST_TMP="$work" \
    SL_BENCH_ROUNDS="$BENCH_ROUNDS" SL_BENCH_BASELINE="$base" SL_DELIVERY_N="$n" \
    "$prog" throughput | tee "$work/out"
ratio=$(sed -n 's/^BENCH deliveries_per_s .* ratio=\([0-9.]*\)$/\1/p' "$work/out")
bench_expect deliveries_per_s ratio "$ratio" '>=' 0.5 || exit 1
