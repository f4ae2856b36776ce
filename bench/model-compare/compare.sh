#!/bin/bash
# The retry-success learner (src/recover/model.c) against XGBoost's C API
# on synthetic outcomes with planted patterns: held-out log-loss and AUC,
# training and prediction times. XGBoost is needed only here (Debian's
# libxgboost-dev); the product does not link it. Results go to stdout and
# bench/results/model-compare.md; docs/retry-planning.md records them.
#
#   ./bench/model-compare/compare.sh [TRAINING_OUTCOMES [TREES]]
set -eu
cd "$(dirname "$0")/../.."
BENCH_NAME=model-compare
. bench/lib.sh

need_packages gcc libxgboost-dev libcjson-dev
out=bench/results
mkdir -p "$out"
bin=$(mktemp -d)/compare
trap 'rm -rf "$(dirname "$bin")"' EXIT

say "building"
cc -std=c17 -O2 -D_GNU_SOURCE -Isrc -I/usr/include/cjson -o "$bin" bench/model-compare/compare.c \
    src/recover/model.c src/recover/localtime.c src/recover/declines.c src/recover/declines_table.c \
    src/core/buf.c src/core/timefmt.c src/http/metrics.c -lxgboost -lm -lpthread

say "training and scoring (${1:-200000} outcomes, ${2:-100} trees)"
{
    echo "## Retry-success model: hand-written learner vs XGBoost ($(date -u +%Y-%m-%d), $(nproc) cores)"
    echo
    "$bin" "${1:-200000}" "${2:-100}"
} | tee "$out/model-compare.md"
