#!/bin/sh
# pg-run.sh TEST [ARGS...]: runs one API test against PostgreSQL instead of
# SQLite. The test cluster comes from scripts/pg-test-cluster.sh (through
# RECOUP_TEST_PG_HOST, _PORT, _USER, _BIN); without one the test is skipped
# (TAP "1..0 # SKIP"), so that meson test works on a machine without it.
#
# A C test (harness.c) makes a database per server itself. A shell test
# starts recoupd on its own, so it gets one fresh database for the whole
# script, passed through recoupd's environment settings (RECOUP_STORE,
# RECOUP_DATABASE_URL, ...), which every recoupd it starts reads; the
# database is dropped afterwards.
set -u

if [ -z "${RECOUP_TEST_PG_HOST:-}" ]; then
    echo "1..0 # SKIP no PostgreSQL test cluster (scripts/run-tests.sh starts one)"
    exit 0
fi
export RECOUP_TEST_STORE=postgres

case "$1" in
*.sh) ;;
*) exec "$@" ;;
esac

PSQL="${RECOUP_TEST_PG_BIN:+$RECOUP_TEST_PG_BIN/}psql"
ADMIN="host=$RECOUP_TEST_PG_HOST port=${RECOUP_TEST_PG_PORT:-5432} user=${RECOUP_TEST_PG_USER:-postgres}"
DB="recoup_sh_$$"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/recoup-pgsh-XXXXXX")

psql_admin() {
    "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$ADMIN dbname=postgres" -c "$1" >/dev/null
}

if ! psql_admin "CREATE DATABASE $DB"; then
    echo "Bail out! cannot create a database on the PostgreSQL test cluster"
    rm -rf "$WORK"
    exit 1
fi

export RECOUP_STORE=postgres
export RECOUP_DATABASE_URL="$ADMIN dbname=$DB"
# Every recoupd of the script shares the database, so they share the key
# that encrypts its card numbers, as the nodes of one deployment do.
export RECOUP_CARD_KEY_FILE="$WORK/card.key"

"$@"
rc=$?
psql_admin "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || rc=1
rm -rf "$WORK"
exit $rc
