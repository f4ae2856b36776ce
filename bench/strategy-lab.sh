#!/bin/bash
# Strategy lab benchmark: every shipped scenario (scenarios/*.json) through
# `recoupctl simulate`, one table per scenario with each strategy's
# recovered value, share of the oracle's, attempts per recovered invoice,
# violations, fees and median days, and the checks against the targets;
# then the time to simulate 100,000 invoices over a 30-day window, for
# recoup's strategy alone and for all five strategies (two at a time).
# Writes Markdown to stdout and to bench/results/strategy-lab-<date>.md.
#
#   ./bench/strategy-lab.sh          (after make build)
#   RECOUPCTL=./build/recoupctl      the binary to run
#   BENCH_INVOICES=100000            invoices of the timing runs
#   BENCH_JOBS=2                     strategies run at once in "all strategies"
#   BENCH_SCENARIO_INVOICES=         override every scenario's invoice count
set -eu
cd "$(dirname "$0")/.."
BENCH_NAME=strategy-lab
. bench/lib.sh

RECOUPCTL=${RECOUPCTL:-./build/recoupctl}
INVOICES=${BENCH_INVOICES:-100000}
JOBS=${BENCH_JOBS:-2}
SCENARIO_INVOICES=${BENCH_SCENARIO_INVOICES:-}
TIMING_SCENARIO=${BENCH_TIMING_SCENARIO:-scenarios/us_paychecks.json}
[ -x "$RECOUPCTL" ] || die "$RECOUPCTL not built (make build)"
need_packages jq

TMP=$(mktemp -d /tmp/recoup-bench-lab.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
STAMP=$(date -u +%Y%m%d-%H%M%S)
mkdir -p bench/results
OUT="bench/results/strategy-lab-$STAMP.md"

emit() { printf '%s\n' "$*" | tee -a "$OUT"; }
: >"$OUT"

emit "### Strategy lab, $(date -u +%Y-%m-%dT%H:%MZ) (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
emit ""
emit "Machine: $(nproc) cores, load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)."
emit ""

for f in scenarios/*.json; do
    name=$(basename "$f" .json)
    args=(--json --jobs "$JOBS")
    [ -n "$SCENARIO_INVOICES" ] && args+=(--invoices "$SCENARIO_INVOICES")
    say "scenario $name"
    timeout 900 "$RECOUPCTL" simulate "$f" "${args[@]}" >"$TMP/$name.json" || die "simulate $f failed"
    r="$TMP/$name.json"
    emit "#### $name ($(jq -r '.invoices' "$r") invoices, seed $(jq -r '.seed' "$r"), reported in $(jq -r '.currency' "$r"))"
    emit ""
    emit "| strategy | recovered % | % of oracle | attempts / recovered | violations | fees | median days |"
    emit "|---|---|---|---|---|---|---|"
    jq -r '.currency as $c | .strategies[] |
        "| \(.name) | \(.recovered_pct) | \(.of_oracle_pct) | \(.attempts_per_recovered) | \(.violations) | \(.fees) \($c) | \(.median_days // "-") |"' \
        "$r" | while IFS= read -r line; do emit "$line"; done
    emit ""
    emit "Recovered % by decline type (recoup / fixed_8_in_14 / oracle):"
    emit ""
    jq -r '(.strategies | map({(.name): .by_type}) | add) as $b | $b.recoup | keys[] as $t |
        "- \($t): \($b.recoup[$t].recovered_pct) / \($b.fixed_8_in_14[$t].recovered_pct) / \($b.oracle[$t].recovered_pct) (\($b.recoup[$t].invoices) invoices; recoup \($b.recoup[$t].attempts) retries, fixed_8_in_14 \($b.fixed_8_in_14[$t].attempts))"' \
        "$r" | while IFS= read -r line; do emit "$line"; done
    emit ""
    jq -r '.checks[] | "- \(if .pass then "PASS" else "MISS" end) \(.check): \(.value) (target \(.target))"' "$r" |
        while IFS= read -r line; do emit "$line"; done
    emit ""
done

# wall and CPU seconds of one command, into WALL and CPU
timed() {
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -f '%U %S' -o "$TMP/cpu" "$@" >"$TMP/timed.json" || die "$* failed"
    t1=$(date +%s.%N)
    WALL=$(echo "$t1 - $t0" | bc)
    CPU=$(awk '{print $1 + $2}' "$TMP/cpu")
}

[ -x /usr/bin/time ] || need_packages time
command -v bc >/dev/null || need_packages bc

say "timing: $INVOICES invoices, recoup alone"
timed timeout 900 "$RECOUPCTL" simulate "$TIMING_SCENARIO" --invoices "$INVOICES" --strategies recoup --json --timing
W1=$WALL C1=$CPU
S1=$(jq -r '.strategies[0].seconds' "$TMP/timed.json")
WU=$(jq -r '.warmup_seconds' "$TMP/timed.json")
say "timing: $INVOICES invoices, all strategies, $JOBS at a time"
timed timeout 900 "$RECOUPCTL" simulate "$TIMING_SCENARIO" --invoices "$INVOICES" --jobs "$JOBS" --json --timing
W2=$WALL C2=$CPU
PER=$(jq -r '[.strategies[] | "\(.name) \(.seconds) s"] | join(", ")' "$TMP/timed.json")

emit "#### Time to simulate $INVOICES invoices over a 30-day window ($(basename "$TIMING_SCENARIO"))"
emit ""
emit "| run | wall s | CPU s | target | wall / target |"
emit "|---|---|---|---|---|"
emit "| recoup alone (warm-up $WU s, dunning run $(echo "$S1 - $WU" | bc) s) | $(printf '%.1f' "$W1") | $(printf '%.1f' "$C1") | 60 s | $(echo "scale=2; $W1 / 60" | bc) |"
emit "| all five strategies, $JOBS at a time | $(printf '%.1f' "$W2") | $(printf '%.1f' "$C2") | 60 s | $(echo "scale=2; $W2 / 60" | bc) |"
emit ""
emit "Per strategy (wall, while sharing the machine): $PER."
emit ""
emit "Load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)."
say "results in $OUT"
