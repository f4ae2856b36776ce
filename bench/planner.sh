#!/bin/bash
# Retry planning benchmark: rc_plan latency (p50/p99 over many decisions
# with a trained model, against the 100 us p99 target and against
# nr_evaluate on the same inputs in the same run), the model's predict and
# learn costs, and a seeded simulation of failed invoices comparing the
# planner with fixed retry schedules and an oracle. Builds its own driver
# from the sources it needs (optimised, no sanitizers); nothing else.
#
#   ./bench/planner.sh
#   BENCH_DECISIONS=100000 BENCH_INVOICES=20000
set -eu
cd "$(dirname "$0")/.."
BENCH_NAME=planner
. bench/lib.sh

DECISIONS=${BENCH_DECISIONS:-100000}
INVOICES=${BENCH_INVOICES:-20000}
need_packages gcc libcjson-dev

out=bench/results
mkdir -p "$out"
bin=$(mktemp -d)/planner_bench
trap 'rm -rf "$(dirname "$bin")"' EXIT

say "building the driver"
cc -std=c17 -O2 -D_GNU_SOURCE -Isrc -I/usr/include/cjson -o "$bin" bench/planner/planner_bench.c \
    src/recover/planner.c src/recover/model.c src/recover/localtime.c src/recover/declines.c \
    src/recover/declines_table.c src/recover/network_rules.c src/recover/network_rules_config.c \
    src/core/buf.c src/core/timefmt.c src/core/money.c src/http/metrics.c -lcjson -lm -lpthread

{
    echo "## Retry planning ($(date -u +%Y-%m-%d), $(nproc) cores)"
    echo
    echo "rc_plan latency, $DECISIONS decisions, model trained on 200000 outcomes of 50 merchants:"
    echo
    say "latency: $DECISIONS decisions"
    "$bin" latency "$DECISIONS"
    echo
    echo "Simulation, $INVOICES failed invoices (seeded; see bench/planner/planner_bench.c for the hidden truth):"
    echo
    say "simulation: $INVOICES invoices"
    "$bin" sim "$INVOICES"
} | tee "$out/planner.md"
