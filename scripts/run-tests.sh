#!/bin/sh
# Runs every test of a build directory and ends with one line counting the
# individual test cases: "N passed, N failed". Each test executable speaks
# TAP, so its cases are read from meson's log.
set -u
builddir=${1:-build-san}
here=$(dirname "$0")

# Every API and store test runs against SQLite and, as "<name>_pg", against
# PostgreSQL: a throwaway cluster, removed afterwards even when tests fail.
if ! pgenv=$("$here/pg-test-cluster.sh" start); then
    echo "error: the PostgreSQL test cluster could not be started" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
eval "$pgenv"
trap '"$here/pg-test-cluster.sh" stop "$RECOUP_TEST_PG_DIR"' EXIT
trap 'exit 130' INT TERM

meson test -C "$builddir" --print-errorlogs --num-processes 2
rc=$?
log="$builddir/meson-logs/testlog.txt"
passed=$(grep -cE '^ok [0-9]+' "$log" 2>/dev/null || true)
failed=$(grep -cE '^not ok [0-9]+' "$log" 2>/dev/null || true)
# A test executable that crashed before printing its plan counts as a failure.
crashed=$(grep -cE '^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT|ERROR) ' "$log" 2>/dev/null || true)
if [ "$rc" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then
    failed=${crashed:-1}
    [ "$failed" -eq 0 ] && failed=1
fi
# What failed and why, again, right above the count: a summary that keeps
# only the end of this output still shows it.
if [ "$rc" -ne 0 ] && command -v python3 >/dev/null 2>&1; then
    python3 "$here/test-failure-digest.py" "$builddir/meson-logs/testlog.json"
fi
echo "${passed:-0} passed, ${failed:-0} failed"
exit $rc
