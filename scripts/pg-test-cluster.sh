#!/bin/sh
# A throwaway PostgreSQL cluster for the tests.
#
#   pg-test-cluster.sh start   creates and starts one in a new temporary
#                              directory and prints the shell lines that
#                              point the tests at it (eval them)
#   pg-test-cluster.sh stop DIR
#                              stops it and removes DIR
#
# The cluster listens only on a Unix socket inside its own directory (no
# TCP port, so it never meets another PostgreSQL on this machine) and
# trusts local connections. PostgreSQL refuses to run as root: run as
# root, the cluster belongs to the system user "postgres" (or "recoup-test",
# created when there is no such user). Installs PostgreSQL when missing.
set -eu

find_bindir() {
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            echo "$d"
            return 0
        fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return 0
    fi
    return 1
}

# as_owner CMD...: runs CMD as the cluster's owner.
as_owner() {
    if [ -n "$OWNER" ]; then
        runuser -u "$OWNER" -- "$@"
    else
        "$@"
    fi
}

pick_owner() {
    OWNER=
    [ "$(id -u)" -ne 0 ] && return 0
    if id -u postgres >/dev/null 2>&1; then
        OWNER=postgres
    else
        id -u recoup-test >/dev/null 2>&1 ||
            useradd --system --no-create-home --shell /usr/sbin/nologin recoup-test
        OWNER=recoup-test
    fi
}

start() {
    if ! BINDIR=$(find_bindir); then
        echo "PostgreSQL server not found; installing it" >&2
        here=$(dirname "$0")
        "$here/install-deps.sh" >&2
        BINDIR=$(find_bindir) || { echo "error: no initdb after installing PostgreSQL" >&2; exit 1; }
    fi
    pick_owner
    # Under /tmp, not $TMPDIR: a Unix socket path must stay short, and the
    # owner must be able to reach the directory.
    DIR=$(mktemp -d /tmp/recoup-pg-XXXXXX)
    chmod 755 "$DIR"
    if [ -n "$OWNER" ]; then chown "$OWNER" "$DIR"; fi
    PORT=5432
    if ! as_owner "$BINDIR/initdb" -D "$DIR/data" -U recoup --auth=trust --no-locale -E UTF8 --no-sync \
        >"$DIR/initdb.log" 2>&1; then
        cat "$DIR/initdb.log" >&2
        rm -rf "$DIR"
        exit 1
    fi
    # listen_addresses='': no TCP at all. The tests open a database per
    # server, several servers at once, each with a small pool.
    if ! as_owner "$BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$DIR' -c port=$PORT -c max_connections=400" \
        start >/dev/null 2>&1; then
        echo "error: the PostgreSQL test cluster did not start:" >&2
        tail -n 30 "$DIR/server.log" >&2 || true
        rm -rf "$DIR"
        exit 1
    fi
    echo "RECOUP_TEST_PG_DIR='$DIR'; export RECOUP_TEST_PG_DIR"
    echo "RECOUP_TEST_PG_HOST='$DIR'; export RECOUP_TEST_PG_HOST"
    echo "RECOUP_TEST_PG_PORT=$PORT; export RECOUP_TEST_PG_PORT"
    echo "RECOUP_TEST_PG_USER=recoup; export RECOUP_TEST_PG_USER"
    echo "RECOUP_TEST_PG_BIN='$BINDIR'; export RECOUP_TEST_PG_BIN"
}

stop() {
    DIR=${1:-}
    case "$DIR" in
    /tmp/recoup-pg-*) ;;
    *) echo "usage: $0 stop /tmp/recoup-pg-XXXXXX" >&2; exit 2 ;;
    esac
    BINDIR=$(find_bindir) || true
    pick_owner
    if [ -n "$BINDIR" ] && [ -f "$DIR/data/postmaster.pid" ]; then
        as_owner "$BINDIR/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$DIR"
}

case "${1:-}" in
start) start ;;
stop) stop "${2:-}" ;;
*) echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
