# TAP for the shell tests (sourced, not run). A test reports each case with
# ok, not_ok or check and ends with tap_end, whose status is the script's.
# not_ok shows what the last command left: its exit status in RC and its
# output in the files OUT and ERR. A script whose answers are kept
# elsewhere redefines tap_detail and jq_is after sourcing this.
n=0
failed=0

tap_detail() {
    echo "#   exit ${RC:-?}, stdout: $(head -c 1500 "$OUT" 2>/dev/null)"
    echo "#   stderr: $(head -c 600 "$ERR" 2>/dev/null)"
}

ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}

not_ok() {
    n=$((n + 1))
    failed=$((failed + 1))
    echo "not ok $n - $1"
    tap_detail
}

# check DESCRIPTION COMMAND...: one case, passed when the command succeeds.
check() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# jq_is FILTER: the last output satisfies the jq filter (prints true).
jq_is() {
    [ "$(jq -r "$1" "$OUT" 2>/dev/null)" = "true" ]
}

tap_end() {
    echo "1..$n"
    [ "$failed" = 0 ]
}
