#!/bin/sh
# bench_health_rps.sh: requests per second of GET /health, the service
# against a minimal libmicrohttpd server (mhd_baseline.c) with the same
# threading (epoll internal thread + a pool of SL_HTTP_THREADS, default 4).
#
# Both servers run for the whole bench. Each gets a 1 s warm-up, then
# SL_BENCH_ROUNDS rounds (default 7) of one wrk run per side with the same
# settings (-t2 -c32 -d3s by default), the order alternating from round to
# round so that drift in the machine's load falls on both sides alike. The
# figure is the median of each side; ratio = service / baseline, expected
# >= 0.8. About 5 + 6 * rounds seconds.
#
# Each round also notes the CPU time each server used per request (from
# /proc/PID/stat), which noise from other processes disturbs far less
# than throughput, to tell a real gap from a noisy run.
#
# The service logs at its default level, access log included, to a file
# (truncated after each round once checked for errors): that is the cost
# it pays in production, so it belongs in the figure.
set -eu
# shellcheck source=tests/bench/lib.sh
. "$SL_BENCH_DIR/lib.sh"
bench_init
bench_need_wrk || exit 1

threads=${SL_HTTP_THREADS:-4}
secs=${SL_BENCH_DURATION:-3}
work=$SL_BENCH_WORK

SL_HTTP_THREADS=$threads bench_serve "$work/serve.log"
bench_baseline_serve "$threads" "$work/baseline.out"
svc_url=http://127.0.0.1:$SERVE_PORT/health
base_url=http://127.0.0.1:$BASE_PORT/health
bench_note "health_rps: service pid $SERVE_PID port $SERVE_PORT, baseline pid $BASE_PID" \
    "port $BASE_PORT, $threads HTTP threads, wrk -t${SL_BENCH_WRK_THREADS:-2}" \
    "-c${SL_BENCH_CONNECTIONS:-32} -d${secs}s, $BENCH_ROUNDS rounds"

# Both must answer the same thing, or the comparison means nothing.
for url in "$svc_url" "$base_url"; do
    got=$(curl -sS -m 5 -w ' %{http_code} %{content_type}' "$url") ||
        bench_die "GET $url failed"
    [ "$got" = '{"status":"ok"} 200 application/json' ] ||
        bench_die "GET $url answered: $got"
done

wrk -t"${SL_BENCH_WRK_THREADS:-2}" -c"${SL_BENCH_CONNECTIONS:-32}" -d1s "$svc_url" >/dev/null 2>&1
wrk -t"${SL_BENCH_WRK_THREADS:-2}" -c"${SL_BENCH_CONNECTIONS:-32}" -d1s "$base_url" >/dev/null 2>&1

# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() {
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
hz=$(getconf CLK_TCK)

# Microseconds of the server's CPU per request in the wrk run just done:
# what each side costs, whatever else the machine was doing meanwhile.
cpu_per_request() { # PID TICKS_BEFORE WRK_OUTPUT
    awk -v t0="$2" -v t1="$(cpu_ticks "$1")" -v hz="$hz" \
        -v n="$(sed -n 's/^ *\([0-9][0-9]*\) requests in.*/\1/p' "$3")" \
        'BEGIN { printf "%.2f\n", (n > 0 ? (t1 - t0) * 1e6 / hz / n : 0) }'
}

# A round of the service: wrk, then the log checked for errors and emptied.
service_round() {
    t0=$(cpu_ticks "$SERVE_PID")
    rps=$(bench_wrk "$svc_url" "$secs" "$work/wrk-service.txt")
    cpu_per_request "$SERVE_PID" "$t0" "$work/wrk-service.txt" >>"$work/service.cpu"
    if grep -q '"level":"\(warn\|error\|fatal\)"' "$work/serve.log"; then
        grep '"level":"\(warn\|error\|fatal\)"' "$work/serve.log" | head -n 5 >&2
        bench_die "the service logged warnings or errors under load"
    fi
    : >"$work/serve.log"
    echo "$rps" >>"$work/service.rps"
    echo "$rps"
}
baseline_round() {
    t0=$(cpu_ticks "$BASE_PID")
    rps=$(bench_wrk "$base_url" "$secs" "$work/wrk-baseline.txt")
    cpu_per_request "$BASE_PID" "$t0" "$work/wrk-baseline.txt" >>"$work/baseline.cpu"
    echo "$rps" >>"$work/baseline.rps"
    echo "$rps"
}

: >"$work/service.rps"
: >"$work/baseline.rps"
: >"$work/paired.ratio"
: >"$work/service.cpu"
: >"$work/baseline.cpu"
round=1
while [ "$round" -le "$BENCH_ROUNDS" ]; do
    if [ $((round % 2)) = 1 ]; then
        s=$(service_round)
        b=$(baseline_round)
    else
        b=$(baseline_round)
        s=$(service_round)
    fi
    r=$(awk -v a="$s" -v b="$b" 'BEGIN { printf "%.3f", a / b }')
    echo "$r" >>"$work/paired.ratio"
    bench_note "health_rps round $round/$BENCH_ROUNDS: service $s baseline $b req/s ($r)"
    round=$((round + 1))
done

svc=$(bench_median <"$work/service.rps")
base=$(bench_median <"$work/baseline.rps")
# The spread, and the median of the per-round ratios as a cross-check of
# the ratio of medians (they part ways when the machine's load drifts).
bench_note "health_rps: service $(sort -g "$work/service.rps" | tr '\n' ' ')|" \
    "baseline $(sort -g "$work/baseline.rps" | tr '\n' ' ')|" \
    "median of per-round ratios $(bench_median <"$work/paired.ratio")"
svc_cpu=$(bench_median <"$work/service.cpu")
base_cpu=$(bench_median <"$work/baseline.cpu")
bench_note "health_rps: server CPU per request (median): service $svc_cpu us, baseline" \
    "$base_cpu us ($(awk -v a="$svc_cpu" -v b="$base_cpu" 'BEGIN { printf "%.2f", a / b }')x)"
bench_report health_rps "$svc" req/s "$base"
bench_expect health_rps ratio "$(awk -v a="$svc" -v b="$base" 'BEGIN { printf "%.3f", a / b }')" \
    '>=' 0.8
