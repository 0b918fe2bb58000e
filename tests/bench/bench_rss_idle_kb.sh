#!/bin/sh
# bench_rss_idle_kb.sh: resident memory (VmRSS) of an idle `serve` process
# after start-up and a few requests (GET /health x20 on one keep-alive
# connection, /ready, /metrics), the median of SL_BENCH_ROUNDS starts
# (default 7). The database is the run's PostgreSQL through DATABASE_URL,
# so no embedded cluster is counted. Expected <= 32768 kB. No baseline.
set -eu
# shellcheck source=tests/bench/lib.sh
. "$SL_BENCH_DIR/lib.sh"
bench_init

work=$SL_BENCH_WORK
: >"$work/rss"
round=1
while [ "$round" -le "$BENCH_ROUNDS" ]; do
    bench_serve "$work/serve-$round.log"
    base=http://127.0.0.1:$SERVE_PORT
    # The PID must be the service itself, not a shell around it.
    exe=$(readlink "/proc/$SERVE_PID/exe")
    [ "$exe" = "$(readlink -f "$SL_BENCH_BIN")" ] || bench_die "PID $SERVE_PID is $exe"

    args=""
    i=0
    while [ "$i" -lt 20 ]; do args="$args -o /dev/null $base/health"; i=$((i + 1)); done
    # shellcheck disable=SC2086 # one word per argument
    codes=$(curl -sS -m 10 -w '%{http_code}\n' $args | sort -u | tr '\n' ' ')
    [ "$codes" = "200 " ] || bench_die "GET /health answered: $codes"
    ready=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' "$base/ready")
    metrics=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' "$base/metrics")
    if [ "$ready" != 200 ] || [ "$metrics" != 200 ]; then
        bench_die "GET /ready answered $ready, GET /metrics $metrics"
    fi
    sleep 0.2 # let the pool threads go back to epoll_wait

    kb=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9][0-9]*\) kB$/\1/p' "/proc/$SERVE_PID/status")
    [ -n "$kb" ] || bench_die "no VmRSS for PID $SERVE_PID"
    threads=$(sed -n 's/^Threads:[[:space:]]*//p' "/proc/$SERVE_PID/status")
    bench_note "rss_idle_kb start $round/$BENCH_ROUNDS: VmRSS $kb kB, $threads threads"
    echo "$kb" >>"$work/rss"
    bench_stop "$SERVE_PID"
    round=$((round + 1))
done

kb=$(bench_median <"$work/rss")
bench_report rss_idle_kb "$kb" kB
bench_expect rss_idle_kb value "$kb" '<=' 32768
