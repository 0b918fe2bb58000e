#!/bin/sh
# `make run`: the service on its embedded defaults. Without Lever
# credentials, the bundled Lever simulator is started first and the service
# pointed at it, so the whole OAuth flow can be clicked through on localhost.
set -eu
bin=$1 sim=$2
export SL_DATA_DIR="${SL_DATA_DIR:-./var}"
mkdir -p "$SL_DATA_DIR"
sim_pid=""
cleanup() { [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

if [ -z "${SL_LEVER_CLIENT_ID:-}" ]; then
    addr=${SL_HTTP_ADDR:-127.0.0.1:8080}
    public=${SL_PUBLIC_URL:-http://localhost:${addr##*:}}
    export SL_LEVER_CLIENT_ID=sim-client SL_LEVER_CLIENT_SECRET=sim-secret
    : >"$SL_DATA_DIR/lever-sim.out" # exists before the first read below
    setsid "$sim" --addr 127.0.0.1:0 --client-id sim-client --client-secret sim-secret \
        --redirect-uri "$public/oauth/lever/callback" >"$SL_DATA_DIR/lever-sim.out" 2>&1 &
    sim_pid=$!
    for i in $(seq 1 300); do
        url=$(sed -n 's/^lever-sim listening on //p' "$SL_DATA_DIR/lever-sim.out" || true)
        [ -n "$url" ] && break
        sleep 0.05
    done
    [ -n "$url" ] || { cat "$SL_DATA_DIR/lever-sim.out"; exit 1; }
    export SL_LEVER_AUTH_URL="$url" SL_LEVER_API_URL="$url/v1" SL_LEVER_AUDIENCE="$url/v1/"
    echo "make run: no SL_LEVER_CLIENT_ID, so the Lever simulator runs at $url" >&2
fi
if [ -z "${SL_API_TOKEN:-}" ]; then
    export SL_API_TOKEN=dev-token
    echo "make run: internal API token is 'dev-token' (set SL_API_TOKEN to choose)" >&2
fi
if [ -z "${SL_STAKHA_WEBHOOK_SECRET:-}" ]; then
    export SL_STAKHA_WEBHOOK_SECRET=whsec_ZGV2ZWxvcG1lbnQtb25seS13ZWJob29rLXNlY3JldA==
    echo "make run: webhook secret is $SL_STAKHA_WEBHOOK_SECRET (set SL_STAKHA_WEBHOOK_SECRET to choose)" >&2
fi
# The service handles Ctrl-C itself (drains, stops its PostgreSQL, exits 0);
# this shell only waits for it, then stops the simulator.
trap 'true' INT TERM
status=0
"$bin" serve || status=$?
exit $status
