#!/bin/sh
# Runs every test of a build directory and ends with one line counting the
# individual test cases: "N passed, N failed". Each test executable speaks
# TAP, so its cases are read from meson's log.
set -u
builddir=${1:-build-san}
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
echo "${passed:-0} passed, ${failed:-0} failed"
exit $rc
