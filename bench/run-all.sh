#!/bin/bash
# Runs every benchmark script in bench/ (each executable *.sh but this one;
# sourced helpers such as lib.sh are not executable), in name order, after
# `make build` (`make bench` does both). Each script prints its Markdown
# results to stdout and keeps a copy in bench/results/. The exit status is
# non-zero when any script failed; the others still run.
set -eu

cd "$(dirname "$0")/.."

failed=""
for script in bench/*.sh; do
    [ "$script" = bench/run-all.sh ] && continue
    [ -x "$script" ] || continue
    echo "== $script" >&2
    if ! "$script"; then
        failed="$failed $script"
    fi
    echo
done

if [ -n "$failed" ]; then
    echo "failed:$failed" >&2
    exit 1
fi
