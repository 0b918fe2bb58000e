#!/bin/sh
# `make test`: one throwaway PostgreSQL for the whole run, a migrated
# template database that every integration test copies, then prove.
# The cluster is stopped however the run ends.
set -eu
bin=$1; shift
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pg.sh"

tmp=$(mktemp -d /tmp/sl-test.XXXXXX)
cleanup() { pg_down "$tmp"; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

pg_up "$tmp"
psql_cmd="$(pg_bindir)/psql"
"$psql_cmd" "$PG_BASE dbname=postgres" -qc "CREATE DATABASE sl_template" >/dev/null
DATABASE_URL="$PG_BASE dbname=sl_template" "$bin" migrate 2>"$tmp/migrate.log" \
    || { cat "$tmp/migrate.log"; exit 1; }

export SL_TEST_PG="$PG_BASE" SL_TEST_BIN="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
export SL_TEST_TMP="$tmp" SL_TEST_SIM="${SL_TEST_SIM:-$(dirname "$SL_TEST_BIN")/lever-sim}"
prove --exec '' --timer -j "${SL_TEST_JOBS:-3}" "$@"
