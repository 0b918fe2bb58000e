# tests/bench/lib.sh: helpers shared by the tests/bench/bench_*.sh scripts;
# sourced, never run.
#
# A bench script runs as its own process under run.sh, which provides:
#   SL_BENCH_BIN           absolute path of build/stakha-lever
#   SL_BENCH_DATABASE_URL  a migrated database in the run's throwaway PostgreSQL
#   SL_BENCH_DIR           tests/bench (absolute)
#   SL_BENCH_TMP           the run's scratch directory (removed at the end)
#   SL_BENCH_WORK          this bench's own directory under SL_BENCH_TMP
# and prints, for each figure, one line through bench_report:
#   BENCH <name> value=<n> unit=<u> baseline=<n|none> ratio=<value/baseline|none>
# Progress and details go to stderr as "# " lines, so stdout holds only
# BENCH lines.
#
# Every process a bench starts is started through bench_spawn, which
# records its PID; bench_cleanup (installed as the EXIT trap by
# bench_init) stops exactly those PIDs, however the script ends.
#
# Knobs (environment): SL_BENCH_ROUNDS (runs per side, default 7, at least
# 5), SL_BENCH_STRICT=1 (a figure outside its expectation fails the bench).

bench_pids=""

bench_note() { printf '# %s\n' "$*" >&2; }
bench_die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

bench_init() {
    : "${SL_BENCH_BIN:?run through tests/bench/run.sh}" "${SL_BENCH_WORK:?}"
    mkdir -p "$SL_BENCH_WORK"
    # Whatever a bench writes by mistake lands in its scratch directory.
    cd "$SL_BENCH_WORK" || exit 1
    BENCH_ROUNDS=${SL_BENCH_ROUNDS:-7}
    [ "$BENCH_ROUNDS" -ge 5 ] 2>/dev/null || bench_die "SL_BENCH_ROUNDS must be a number >= 5"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# bench_spawn PIDVAR CMD...: runs CMD in the background, stdin from
# /dev/null, and stores its PID in PIDVAR for bench_stop and bench_cleanup.
# A CMD that needs redirections is `sh -c 'exec PROG ... >LOG' ...`, so
# that the PID is PROG's own.
bench_spawn() {
    _var=$1; shift
    "$@" </dev/null &
    bench_pids="$bench_pids $!"
    eval "$_var=\$!"
}

# bench_stop PID: SIGTERM, then wait up to 5 s, then SIGKILL.
bench_stop() {
    _pid=$1
    kill -TERM "$_pid" 2>/dev/null || { wait "$_pid" 2>/dev/null || true; return 0; }
    _i=0
    while kill -0 "$_pid" 2>/dev/null && [ "$_i" -lt 100 ]; do
        sleep 0.05
        _i=$((_i + 1))
    done
    kill -KILL "$_pid" 2>/dev/null || true
    wait "$_pid" 2>/dev/null || true
    _rest=""
    for _p in $bench_pids; do [ "$_p" = "$_pid" ] || _rest="$_rest $_p"; done
    bench_pids=$_rest
}

bench_cleanup() {
    for _p in $bench_pids; do bench_stop "$_p"; done
}

# bench_median: the median of the numbers on stdin, one a line.
bench_median() {
    sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) exit 1
              m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%.10g\n", m }'
}

# bench_report NAME VALUE UNIT [BASELINE]: the one line a figure gets.
bench_report() {
    _base=${4:-none}
    if [ "$_base" = none ]; then
        _ratio=none
    else
        _ratio=$(awk -v a="$2" -v b="$_base" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
    fi
    echo "BENCH $1 value=$2 unit=$3 baseline=$_base ratio=$_ratio"
}

# bench_expect NAME WHAT VALUE OP LIMIT (OP is >= or <=): says whether a
# figure meets the issue's expectation; under SL_BENCH_STRICT=1 a miss
# fails the bench. Noise on a shared machine makes a miss a hint, not a
# verdict, by default.
bench_expect() {
    if awk -v v="$3" -v l="$5" -v op="$4" 'BEGIN { exit !(op == ">=" ? v >= l : v <= l) }'; then
        bench_note "$1: $2 $3 $4 $5: ok"
        return 0
    fi
    bench_note "$1: $2 $3, expected $4 $5: MISSED"
    [ "${SL_BENCH_STRICT:-0}" != 1 ]
}

# bench_serve LOG: starts `stakha-lever serve` on 127.0.0.1, port 0, against
# the run's database, its JSON logs appended to LOG (O_APPEND, so a bench
# may truncate LOG while the service runs); waits for the "listening" line
# and sets SERVE_PID and SERVE_PORT. The level is info, the default: the
# port is only known from that line. Other settings come from the caller's
# environment (e.g. SL_HTTP_THREADS).
bench_serve() {
    _log=$1
    : >"$_log"
    # shellcheck disable=SC2016 # expanded by the inner sh
    bench_spawn SERVE_PID env DATABASE_URL="$SL_BENCH_DATABASE_URL" SL_HTTP_ADDR=127.0.0.1:0 \
        SL_DATA_DIR="$SL_BENCH_TMP/var" SL_SHUTDOWN_TIMEOUT=2 SL_LOG_LEVEL=info \
        sh -c 'exec "$0" serve 2>>"$1" >/dev/null' "$SL_BENCH_BIN" "$_log"
    SERVE_PORT=""
    _i=0
    while [ -z "$SERVE_PORT" ]; do
        SERVE_PORT=$(sed -n 's/.*"event":"listening".*"port":\([0-9][0-9]*\).*/\1/p' "$_log" |
            head -n 1)
        [ -n "$SERVE_PORT" ] && break
        kill -0 "$SERVE_PID" 2>/dev/null || { cat "$_log" >&2; bench_die "serve exited at start"; }
        [ "$_i" -lt 300 ] || { cat "$_log" >&2; bench_die "serve did not listen within 15 s"; }
        sleep 0.05
        _i=$((_i + 1))
    done
}

# bench_baseline_build: compiles mhd_baseline.c once per run; prints its path.
bench_baseline_build() {
    _out=$SL_BENCH_TMP/mhd_baseline
    if [ ! -x "$_out" ]; then
        # shellcheck disable=SC2046 # pkg-config prints several words
        cc -O2 -Wall -Wextra -o "$_out.tmp" "$SL_BENCH_DIR/mhd_baseline.c" \
            $(pkg-config --cflags --libs libmicrohttpd) >&2 || bench_die "cannot build mhd_baseline"
        mv "$_out.tmp" "$_out"
    fi
    echo "$_out"
}

# bench_baseline_serve THREADS LOG: starts mhd_baseline; sets BASE_PID and BASE_PORT.
bench_baseline_serve() {
    _exe=$(bench_baseline_build)
    : >"$2"
    # shellcheck disable=SC2016 # expanded by the inner sh
    bench_spawn BASE_PID sh -c 'exec "$0" "$1" >"$2" 2>&1' "$_exe" "$1" "$2"
    BASE_PORT=""
    _i=0
    while [ -z "$BASE_PORT" ]; do
        BASE_PORT=$(sed -n 's/^port \([0-9][0-9]*\)$/\1/p' "$2")
        [ -n "$BASE_PORT" ] && break
        kill -0 "$BASE_PID" 2>/dev/null || { cat "$2" >&2; bench_die "mhd_baseline exited at start"; }
        [ "$_i" -lt 100 ] || bench_die "mhd_baseline did not listen within 5 s"
        sleep 0.05
        _i=$((_i + 1))
    done
}

# bench_need_wrk: wrk on PATH, installed with apt-get when missing and root.
bench_need_wrk() {
    command -v wrk >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ]; then
        bench_note "installing wrk"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) \
            >"$SL_BENCH_WORK/apt.log" 2>&1 || { cat "$SL_BENCH_WORK/apt.log" >&2; return 1; }
        return 0
    fi
    bench_note "wrk is missing; run: sudo apt-get install -y wrk"
    return 1
}

# bench_wrk URL SECONDS OUT: one wrk run with the suite's settings
# (SL_BENCH_WRK_THREADS, default 2; SL_BENCH_CONNECTIONS, default 32);
# prints requests per second. Any non-2xx answer fails the bench, since
# the figure would then not measure /health.
bench_wrk() {
    wrk -t"${SL_BENCH_WRK_THREADS:-2}" -c"${SL_BENCH_CONNECTIONS:-32}" -d"$2"s "$1" \
        >"$3" 2>&1 || { cat "$3" >&2; bench_die "wrk failed against $1"; }
    if grep -q 'Non-2xx' "$3"; then
        cat "$3" >&2
        bench_die "non-2xx answers from $1"
    fi
    grep -q 'Socket errors' "$3" && bench_note "$(grep 'Socket errors' "$3") ($1)"
    _rps=$(sed -n 's/^Requests\/sec: *\([0-9.][0-9.]*\).*/\1/p' "$3")
    [ -n "$_rps" ] || { cat "$3" >&2; bench_die "no Requests/sec in wrk output"; }
    echo "$_rps"
}
