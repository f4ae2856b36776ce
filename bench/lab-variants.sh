#!/bin/bash
# Strategy lab on random scenarios: N variants of the scenario format, each
# drawn from a seed (decline mix, pay cycles and pay days, how long money
# lasts, generic chances, time zones, renewal hours, hour effects, retry
# limit, window, outages, limits, cancellations), run through `recoupctl
# simulate`, and the distribution of recoup against the oracle and the
# fixed schedules across them. None of these scenarios is shipped: they
# show whether what holds on the shipped ones holds on merchants nobody
# looked at.
#
#   ./bench/lab-variants.sh              (after make build)
#   RECOUPCTL=./build/recoupctl          the binary to run
#   VARIANTS=12                          how many variants
#   VARIANT_SEED=1000                    seed of the first (then +1, +2, ...)
#   VARIANT_INVOICES=2000                failed invoices per variant
#   KEEP=dir                             keep the scenarios and results there
set -eu
cd "$(dirname "$0")/.."
BENCH_NAME=lab-variants
. bench/lib.sh

RECOUPCTL=${RECOUPCTL:-./build/recoupctl}
N=${VARIANTS:-12}
SEED0=${VARIANT_SEED:-1000}
INV=${VARIANT_INVOICES:-2000}
[ -x "$RECOUPCTL" ] || die "$RECOUPCTL not built (make build)"
need_packages jq gawk

DIR=${KEEP:-$(mktemp -d /tmp/recoup-lab-variants.XXXXXX)}
mkdir -p "$DIR"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$DIR"' EXIT

# One scenario from a seed. gawk's srand/rand are deterministic for a seed.
gen() {
    gawk -v seed="$1" -v inv="$INV" '
    function u(a, b) { return a + (b - a) * rand() }
    function ui(a, b) { return int(a + (b - a + 1) * rand()) }
    function r2(x) { return sprintf("%.2f", x) }
    BEGIN {
        srand(seed)
        nz = split("US:America/New_York US:America/Chicago US:America/Los_Angeles GB:Europe/London DE:Europe/Berlin " \
                   "FR:Europe/Paris PL:Europe/Warsaw BR:America/Sao_Paulo MX:America/Mexico_City JP:Asia/Tokyo " \
                   "AU:Australia/Sydney IN:Asia/Kolkata SG:Asia/Singapore NZ:Pacific/Auckland CL:America/Santiago " \
                   "ZA:Africa/Johannesburg", zones, " ")
        nreg = ui(1, 4)
        regs = ""
        for (i = 0; i < nreg; i++) {
            split(zones[ui(1, nz)], zc, ":")
            regs = regs (i ? ", " : "") sprintf("{\"country\": \"%s\", \"zone\": \"%s\", \"weight\": %s}", zc[1], zc[2], r2(u(0.2, 1)))
        }
        days = ui(14, 45)
        retries = ui(4, 12)
        lo = ui(0, 20); hi = lo + ui(1, 4)
        # decline mix
        mix = sprintf("{\"type\": \"insufficient_funds\", \"weight\": %s}, ", r2(u(0.1, 0.6)))
        mix = mix sprintf("{\"type\": \"generic\", \"reason\": \"%s\", \"weight\": %s}, ", rand() < 0.5 ? "do_not_honor" : "generic_decline", r2(u(0.05, 0.4)))
        mix = mix sprintf("{\"type\": \"withdrawal_limit\", \"weight\": %s}, ", r2(u(0, 0.15)))
        mix = mix sprintf("{\"type\": \"issuer_unavailable\", \"weight\": %s}, ", r2(u(0, 0.12)))
        mix = mix sprintf("{\"type\": \"expired_card\", \"weight\": %s}, ", r2(u(0, 0.15)))
        mix = mix sprintf("{\"type\": \"hard\", \"reason\": \"stolen_card\", \"weight\": %s}", r2(u(0, 0.2)))
        # pay cycles and days
        cyc = sprintf("{\"weekly\": %s, \"biweekly\": %s, \"semimonthly\": %s, \"monthly\": %s}", r2(u(0, 1)), r2(u(0, 1)), r2(u(0, 1)), r2(u(0, 1)))
        split("monday tuesday wednesday thursday friday saturday", wd, " ")
        wds = ""
        for (i = 1; i <= 6; i++) wds = wds (i > 1 ? ", " : "") sprintf("\"%s\": %s", wd[i], r2(rand() < 0.4 ? u(0.5, 3) : u(0, 0.3)))
        mds = sprintf("\"last\": %s, \"1\": %s, \"%d\": %s, \"%d\": %s", r2(u(0, 1)), r2(u(0, 1)), ui(2, 28), r2(u(0, 1)), ui(2, 28), r2(u(0, 1)))
        ah = ui(0, 12)
        ll = u(0.5, 4); lh = ll + u(0.5, 6)
        # generic chances, falling per retry
        c = u(0.12, 0.35); ch = ""
        for (i = 0; i < 8; i++) { ch = ch (i ? ", " : "") sprintf("%.3f", c); c = c * u(0.6, 0.95) }
        # hour effects: a night dip of random depth and width
        nd = u(0.3, 0.95); ne = ui(3, 7)
        hf = ""; dhf = ""
        for (h = 0; h < 24; h++) {
            f = h < ne ? nd : 1
            hf = hf (h ? ", " : "") r2(f)
            dhf = dhf (h ? ", " : "") r2(h == 0 ? u(0.8, 1.3) : f)
        }
        printf "{\"name\": \"variant_%d\", \"seed\": %d, \"invoices\": %d,\n", seed, seed, inv
        printf " \"renewal_hours_utc\": [%d, %d],\n", lo, hi
        printf " \"merchant\": {\"id\": \"lab_v%d\", \"timezone\": \"UTC\", \"dunning_days\": %d, \"max_retries\": %d},\n", seed, days, retries
        printf " \"amount\": [%d, %d],\n", ui(2, 10), ui(20, 300)
        printf " \"regions\": [%s],\n", regs
        printf " \"funding\": {\"credit\": %s, \"debit\": %s, \"prepaid\": %s},\n", r2(u(0.2, 1)), r2(u(0.2, 1)), r2(u(0, 0.2))
        printf " \"declines\": [%s],\n", mix
        printf " \"funds\": {\"pay_cycles\": %s, \"pay_weekdays\": {%s}, \"pay_month_days\": {%s},\n", cyc, wds, mds
        printf "           \"arrival_hours\": [%d, %d], \"last_days\": [%s, %s], \"success\": %s},\n", ah, ah + ui(2, 30), r2(ll), r2(lh), r2(u(0.7, 0.95))
        printf " \"generic\": {\"chances\": [%s], \"spread\": [%s, %s]},\n", ch, r2(u(0.3, 0.8)), r2(u(1.1, 1.6))
        printf " \"withdrawal_limit\": {\"success\": %s},\n", r2(u(0.5, 0.9))
        printf " \"issuer_unavailable\": {\"downtime_hours\": [1, %d], \"success\": %s},\n", ui(6, 72), r2(u(0.7, 0.95))
        printf " \"expired_card\": {\"updater_share\": %s, \"update_after_days\": [1, %d], \"new_card_success\": 0.9},\n", r2(u(0.3, 0.8)), ui(5, 20)
        printf " \"cancellations\": {\"share\": %s, \"after_days\": [0, %d]},\n", r2(u(0, 0.15)), ui(7, 25)
        printf " \"hour_factors\": [%s],\n", hf
        printf " \"debit_hour_factors\": [%s]}\n", dhf
    }'
}

printf '| variant | window / retries | recoup %% | 8-in-14 %% | best fixed %% | oracle %% | recoup %% of oracle | attempts %% of 8-in-14 | violations | pass |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
: >"$DIR/rows.tsv"
for k in $(seq 0 $((N - 1))); do
    s=$((SEED0 + k))
    gen "$s" >"$DIR/v$s.json"
    timeout 900 "$RECOUPCTL" simulate "$DIR/v$s.json" --json --jobs 2 >"$DIR/v$s.out.json" || die "simulate variant $s failed"
    jq -r --arg s "$s" --slurpfile sc "$DIR/v$s.json" '
        (.strategies | map({(.name): .}) | add) as $x |
        ([$x.fixed_8_in_14.recovered_pct, $x.fixed_8_16_24.recovered_pct, $x.fixed_1_3_5_7.recovered_pct] | max) as $bf |
        ($x.recoup.attempts_per_recovered / $x.fixed_8_in_14.attempts_per_recovered * 100) as $ar |
        [$s, "\($sc[0].merchant.dunning_days) d / \($sc[0].merchant.max_retries)", $x.recoup.recovered_pct,
         $x.fixed_8_in_14.recovered_pct, $bf, $x.oracle.recovered_pct, $x.recoup.of_oracle_pct,
         ($ar * 10 | round / 10), $x.recoup.violations,
         (if $x.recoup.of_oracle_pct >= 90 and $x.recoup.recovered_pct > $bf and $ar <= 60 and $x.recoup.violations == 0
          then "yes" else "no" end)] | @tsv' "$DIR/v$s.out.json" | tee -a "$DIR/rows.tsv" |
        awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10}'
done
# Distribution: min, median, max of recoup's share of the oracle, its lead
# over the best fixed schedule, and its attempts against 8-in-14's.
awk -F'\t' '
    function sortn(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t } }
    function med(a, n) { return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    { n++; o[n] = $7; l[n] = $3 - $5; a[n] = $8; p += ($10 == "yes") }
    END {
        sortn(o, n); sortn(l, n); sortn(a, n)
        printf "\n%d variants, all four targets met on %d.\n\n", n, p
        printf "| measure | min | median | max |\n|---|---|---|---|\n"
        printf "| recoup, %% of the oracle | %.1f | %.1f | %.1f |\n", o[1], med(o, n), o[n]
        printf "| recoup minus best fixed schedule, points | %.2f | %.2f | %.2f |\n", l[1], med(l, n), l[n]
        printf "| recoup attempts per recovery, %% of 8-in-14 | %.1f | %.1f | %.1f |\n", a[1], med(a, n), a[n]
    }' "$DIR/rows.tsv"
