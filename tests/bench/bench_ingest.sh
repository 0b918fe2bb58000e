#!/bin/sh
# bench_ingest.sh: webhook ingestion (issue 4).
#
# ingest_rps: signed, realistic events (about 1 KB, unique webhook-ids) sent
#   by tests/bench/ingest_load.c on 32 keep-alive connections as fast as
#   answers come, against the real service and the run's PostgreSQL.
#   Baseline: pgbench on the same PostgreSQL, 32 clients, each transaction
#   inserting one 1 KB row with a unique text key into a table with a primary
#   key: PostgreSQL's single-row commit rate. Rounds alternate the two sides.
# ingest_p99_ms: p99 latency at a fixed rate of half the measured maximum
#   (scheduled-time latency, no coordinated omission). Target <= 15 ms.
# rss_ingest_kb: VmRSS of the service at the end of the throughput runs.
#   Target <= 65536.
set -eu
# shellcheck source=tests/bench/lib.sh
. "$SL_BENCH_DIR/lib.sh"
bench_init
work=$SL_BENCH_WORK
load=$(dirname "$SL_BENCH_BIN")/tests/bench/ingest_load
[ -x "$load" ] || bench_die "$load is missing: run make bench"
seconds=${SL_BENCH_SECONDS:-4}
psql=$(pg_bindir 2>/dev/null || dirname "$(command -v psql)")/psql
pgbench=$(dirname "$psql")/pgbench
[ -x "$pgbench" ] || pgbench=$(command -v pgbench)

"$psql" "$SL_BENCH_DATABASE_URL" -qc \
    "CREATE TABLE IF NOT EXISTS bench_inbox (id text PRIMARY KEY, payload text NOT NULL)"
cat >"$work/insert.sql" <<'SQL'
INSERT INTO bench_inbox VALUES (md5(random()::text || clock_timestamp()::text), repeat('x', 1000));
SQL

bench_serve "$work/serve.log"
: >"$work/svc" && : >"$work/base"
round=1
while [ "$round" -le "$BENCH_ROUNDS" ]; do
    out=$("$load" 127.0.0.1 "$SERVE_PORT" "$SL_STAKHA_WEBHOOK_SECRET" 32 "$seconds" 0 "r$round-$$")
    case "$out" in *"non2xx=0 errors=0"*) ;; *) bench_die "ingest load failed: $out" ;; esac
    rps=$(echo "$out" | sed 's/.*rps=\([0-9.]*\).*/\1/')
    echo "$rps" >>"$work/svc"
    tps=$("$pgbench" -n -c 32 -j 2 -T "$seconds" -f "$work/insert.sql" "$SL_BENCH_DATABASE_URL" \
        2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
    [ -n "$tps" ] || bench_die "pgbench gave no tps"
    echo "$tps" >>"$work/base"
    bench_note "ingest round $round/$BENCH_ROUNDS: service $rps events/s, pgbench $tps tps"
    round=$((round + 1))
done
rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9][0-9]*\) kB$/\1/p' "/proc/$SERVE_PID/status")
batches=$("$psql" "$SL_BENCH_DATABASE_URL" -Atc "SELECT count(*) FROM webhook_events")
bench_note "ingest: $batches events stored"

svc=$(bench_median <"$work/svc")
base=$(bench_median <"$work/base")
bench_report ingest_rps "$svc" events/s "$base"
bench_expect ingest_rps ratio "$(awk -v a="$svc" -v b="$base" 'BEGIN{print a/b}')" '>=' 1.0 || true

half=$(awk -v v="$svc" 'BEGIN { printf "%d", v / 2 }')
: >"$work/p99"
round=1
while [ "$round" -le "$BENCH_ROUNDS" ]; do
    out=$("$load" 127.0.0.1 "$SERVE_PORT" "$SL_STAKHA_WEBHOOK_SECRET" 32 "$seconds" "$half" \
        "p$round-$$")
    echo "$out" | sed 's/.*p99_ms=\([0-9.]*\).*/\1/' >>"$work/p99"
    bench_note "ingest at $half/s round $round/$BENCH_ROUNDS: $out"
    round=$((round + 1))
done
p99=$(bench_median <"$work/p99")
bench_report ingest_p99_ms "$p99" ms
bench_expect ingest_p99_ms value "$p99" '<=' 15 || true
bench_report rss_ingest_kb "$rss" kB
bench_expect rss_ingest_kb value "$rss" '<=' 65536 || true
