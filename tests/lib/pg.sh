# Shell helpers to run a throwaway PostgreSQL cluster; sourced by test.sh
# and the benchmarks. As root, PostgreSQL runs as the `postgres` user.

pg_bindir() {
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/postgres" ] && { echo "$d"; return; }
    done
    dirname "$(command -v postgres)"
}

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_up DIR: initdb into DIR/pg and start on a free 127.0.0.1 port with
# durability off; sets PG_PORT and PG_BASE ("host=127.0.0.1 port=N user=postgres").
pg_up() {
    _pgdir=$1
    _pgbin=$(pg_bindir)
    chmod 755 "$_pgdir"
    mkdir -p "$_pgdir/pg"
    [ "$(id -u)" = 0 ] && chown postgres "$_pgdir/pg"
    as_pg "$_pgbin/initdb" -D "$_pgdir/pg" -U postgres -A trust -E UTF8 --locale=C --no-sync \
        >"$_pgdir/initdb.log" 2>&1 || { cat "$_pgdir/initdb.log"; return 1; }
    for attempt in 1 2 3 4 5 6 7 8; do
        PG_PORT=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000 ))
        if as_pg "$_pgbin/pg_ctl" -D "$_pgdir/pg" -l "$_pgdir/pg/server.log" -w -t 60 start \
            -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$_pgdir/pg \
                -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
                -c max_connections=400 -c shared_buffers=128MB" >/dev/null 2>&1; then
            PG_BASE="host=127.0.0.1 port=$PG_PORT user=postgres"
            export PG_PORT PG_BASE
            return 0
        fi
    done
    cat "$_pgdir/pg/server.log"
    return 1
}

pg_down() {
    _pgdir=$1
    [ -f "$_pgdir/pg/postmaster.pid" ] || return 0
    as_pg "$(pg_bindir)/pg_ctl" -D "$_pgdir/pg" -m fast -w stop >/dev/null 2>&1 || true
}
