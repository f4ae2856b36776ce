#!/usr/bin/env bash
# recoupctl simulate: the report table and its JSON form, determinism per
# seed, the fixed schedules' attempts on cards that never work, --check's
# exit status, errors naming the scenario field, and every shipped
# scenario running. Needs no recoupd. Prints TAP.
set -u

RECOUPCTL=${RECOUPCTL:-./build/recoupctl}
SCENARIOS=$(cd "$(dirname "$0")/../../scenarios" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/recoup-lab-XXXXXX")
OUT="$WORK/out"
ERR="$WORK/err"
trap 'rm -rf "$WORK"' EXIT

. "$(dirname "$0")/tap.sh"

sim() {
    "$RECOUPCTL" simulate "$@" >"$OUT" 2>"$ERR"
    RC=$?
}

cat >"$WORK/small.json" <<'JSON'
{
  "name": "small",
  "seed": 5,
  "invoices": 120,
  "regions": [
    {"country": "US", "zone": "America/Chicago", "postal_codes": ["60601"], "weight": 2},
    {"country": "DE", "zone": "Europe/Berlin"}
  ],
  "psps": {"stripe": 1, "adyen": 1},
  "warmup": {"invoices": 60}
}
JSON

cat >"$WORK/hard.json" <<'JSON'
{"name": "hard", "invoices": 25, "schemes": {"visa": 1}, "declines": [{"type": "hard"}],
 "cancellations": {"share": 0}, "warmup": {"enabled": false}}
JSON

sim "$WORK/small.json"
check "simulate: exit 0" eval '[ $RC = 0 ]'
check "the table's header names every column" \
    grep -qE '^strategy +recovered % +% of oracle +attempts/rec +violations +fees +median days$' "$OUT"
for s in recoup fixed_8_in_14 fixed_8_16_24 fixed_1_3_5_7 oracle; do
    check "the table has a row for $s" grep -qE "^$s +[0-9]+\.[0-9] +[0-9]+\.[0-9] +[0-9]+\.[0-9]{2} +[0-9]+ +[0-9]+\.[0-9]{2} USD +([0-9]+\.[0-9]|-)$" "$OUT"
done
check "the oracle is 100% of itself" grep -qE '^oracle +[0-9.]+ +100\.0 ' "$OUT"
check "the report checks the targets" \
    eval 'grep -q "^checks against the targets$" "$OUT" && [ "$(grep -cE "^(PASS|MISS) recoup" "$OUT")" = 6 ]'
check "the report breaks results down by decline type" grep -qE '^insufficient_funds +[0-9]+ ' "$OUT"
cp "$OUT" "$WORK/first.txt"

sim "$WORK/small.json"
check "the same seed gives the same report" cmp -s "$OUT" "$WORK/first.txt"

sim "$WORK/small.json" --json
check "--json: five strategies in order" \
    jq_is '[.strategies[].name] == ["recoup","fixed_8_in_14","fixed_8_16_24","fixed_1_3_5_7","oracle"]'
check "--json: the fields of each strategy" \
    jq_is 'all(.strategies[]; (.recovered_pct|type) == "number" and (.of_oracle_pct|type) == "number" and (.attempts_per_recovered|type) == "number" and (.violations|type) == "number" and (.fees|type) == "number" and has("median_days"))'
check "--json: six checks and an overall verdict" jq_is '(.checks | length) == 6 and (.pass | type) == "boolean"'
check "--json: the scenario, seed and warm-up" jq_is '.scenario == "small" and .seed == 5 and .warmup_outcomes > 60'
PASS=$(jq -r .pass "$OUT")
cp "$OUT" "$WORK/first.json"

sim "$WORK/small.json" --json --seed 6
check "--seed overrides the scenario's seed" \
    eval 'jq_is ".seed == 6" && ! cmp -s "$OUT" "$WORK/first.json"'

sim "$WORK/small.json" --check
if [ "$PASS" = true ]; then
    check "--check: exit 0 when every target is met" eval '[ $RC = 0 ]'
else
    check "--check: exit 1 when a target is missed" eval '[ $RC = 1 ]'
fi

sim "$WORK/hard.json" --json --strategies fixed_8_in_14,fixed_1_3_5_7,oracle
check "--strategies: only those run" jq_is '[.strategies[].name] == ["fixed_8_in_14","fixed_1_3_5_7","oracle"]'
check "cards that never work: every fixed retry is made and breaks a rule" \
    jq_is '(.strategies[0].attempts == 200) and (.strategies[0].violations == 200) and (.strategies[1].attempts == 100) and (.strategies[1].violations == 100) and (.strategies[0].fees == 30)'
check "cards that never work: the oracle does not try" jq_is '.strategies[2].attempts == 0 and .strategies[2].recovered_invoices == 0'
check "without recoup there is nothing to check" jq_is '(.checks | length) == 0'

printf '{"name":"bad","invoices":10,"declines":[{"type":"bad_luck"}],"merchant":{"max_retries":0}}' >"$WORK/bad.json"
sim "$WORK/bad.json"
check "a bad scenario: exit 2, each field named" \
    eval '[ $RC = 2 ] && grep -q "bad.json: declines\[0\].type: must be one of" "$ERR" && grep -q "merchant.max_retries" "$ERR"'

sim "$WORK/missing.json"
check "a missing scenario file: exit 2, named" eval '[ $RC = 2 ] && grep -q "missing.json" "$ERR"'

sim "$WORK/small.json" --frobnicate
check "an unknown option: usage, exit 2" eval '[ $RC = 2 ] && grep -q "usage: recoupctl simulate" "$ERR"'
sim
check "no scenario: usage, exit 2" eval '[ $RC = 2 ]'
sim "$WORK/small.json" --strategies nobody
check "an unknown strategy: exit 2" eval '[ $RC = 2 ] && grep -q "nobody" "$ERR"'

"$RECOUPCTL" --help >"$OUT" 2>"$ERR"
RC=$?
check "--help lists simulate" eval '[ $RC = 0 ] && grep -q "simulate SCENARIO.json" "$OUT"'

count=0
for f in "$SCENARIOS"/*.json; do
    count=$((count + 1))
    sim "$f" --invoices 80 --json
    check "shipped scenario $(basename "$f"): runs, five strategies" \
        eval '[ $RC = 0 ] && jq_is "(.strategies | length) == 5 and .invoices == 80"'
done
check "at least four scenarios are shipped" eval '[ $count -ge 4 ]'

tap_end
