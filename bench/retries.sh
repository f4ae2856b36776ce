#!/bin/bash
# Recover's retries end to end: claim, RetryStatus to a local merchant, the
# charge at recoupd's own gateway, the outcome recorded with its webhooks,
# the webhooks delivered. Method and results: docs/benchmarks.md, "Retry
# execution".
#
#   make build && ./bench/retries.sh
#
# 1. Seed, once: a release recoupd on SQLite with a virtual clock; nginx on
#    loopback as the merchant (RetryStatus answers {"retry":true}, webhooks
#    200); BENCH_RETRIES cards stored at the gateway and as many failed
#    payments (insufficient funds), one invoice and one card each, with
#    BENCH_HISTORY paid renewals per failure (bench/retries/load.c); then
#    recoupd applies and plans them all. Its data directory is kept.
# 2. For each value of BENCH_WORKERS: a copy of that directory, recoupd with
#    --retry_workers=W, the virtual clock moved past every planned first
#    attempt; attempts per second (retries succeeded + declined on /metrics)
#    until all are done, webhook deliveries per second, the time per stage
#    (recoup_recover_attempt_*_us_total), recoupd's CPU. The reference of
#    the run, on the same recoupd just before the clock moves: the gateway's
#    own charges of stored cards, as Recover makes them, 64 at once.
# 3. The dispatcher alone: the last run's webhooks (real bodies, every one
#    delivered once) made due again together, recoupd restarted, deliveries
#    per second until all are delivered again; the reference, the same
#    number of POSTs of a webhook-sized body to the same nginx through one
#    curl multi handle at the dispatcher's concurrency.
#
# Writes a Markdown section to stdout and to bench/results/retries-<date>.md;
# progress goes to stderr. Settings (environment):
#   BENCH_RETRIES      due retries (first attempts)                     [100000]
#   BENCH_WORKERS      retry_workers values, one run each               ["8 32 64"]
#   BENCH_APPROVE_PCT  share of cards whose charge is approved          [40]
#   BENCH_HISTORY      paid renewals sent per failed payment            [1]
#   BENCH_REF_CHARGES  charges in the reference of each run             [20000]
#   BENCH_RECOUPD_ARGS extra recoupd flags for every run
#   BENCH_SEED         a directory for the seed: reused when it holds one
#                      (the settings above then come from it), else made
#                      there and kept (runs of other builds on one seed)
#   RECOUPD, RECOUPCTL the binaries            [build/recoupd, build/recoupctl]
#   BENCH_KEEP=1       keep the temporary directory
set -eu

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BENCH_NAME=retries
. "$ROOT/bench/lib.sh"

N=${BENCH_RETRIES:-100000}
WORKERS=${BENCH_WORKERS:-"8 32 64"}
APPROVE=${BENCH_APPROVE_PCT:-40}
HISTORY=${BENCH_HISTORY:-1}
REF_CHARGES=${BENCH_REF_CHARGES:-20000}
RECOUPD=${RECOUPD:-build/recoupd}
RECOUPCTL=${RECOUPCTL:-build/recoupctl}
PLAN_TIMEOUT=1800 RUN_TIMEOUT=1200
[ -x "$RECOUPD" ] && [ -x "$RECOUPCTL" ] || die "$RECOUPD or $RECOUPCTL not built (make build)"
need_packages nginx-light curl jq sqlite3 libcurl4-openssl-dev

TMP=$(mktemp -d "${TMPDIR:-/tmp}/recoup-bench-retries.XXXXXX")
RECOUPD_PID="" BENCH_NGINX_PID=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$RECOUPD_PID" ] && stop_pid "$RECOUPD_PID" 30
    [ -n "$BENCH_NGINX_PID" ] && stop_pid "$BENCH_NGINX_PID" 5
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "building bench/retries/load.c"
# shellcheck disable=SC2046
cc -O2 -std=c17 -D_GNU_SOURCE -Wall -Wextra "$ROOT/bench/retries/load.c" $(pkg-config --libs libcurl) \
    -o "$TMP/load" 2>"$TMP/cc.log" || { cat "$TMP/cc.log" >&2; die "cannot build the load tool"; }

# ---- the merchant: nginx on loopback, with an access log to count calls ----
MPORT=$(bench_free_port)
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
    log_format path '\$uri \$status';
    access_log $TMP/nginx/access.log path buffer=256k flush=1s;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    client_body_buffer_size 64k;
    keepalive_requests 10000000;
    server {
        listen 127.0.0.1:$MPORT;
        default_type application/json;
        location /retry/ { return 200 '{"retry":true}'; }
        location / { return 200 '{"received":true}'; }
    }
}
NGINX
NGINX_BIN=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
"$NGINX_BIN" -e "$TMP/nginx/error.log" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx/stdout.log" 2>&1 &
BENCH_NGINX_PID=$!
for _ in $(seq 1 50); do
    [ "$(curl -s -X POST -d '{}' "http://127.0.0.1:$MPORT/retry/x" 2>/dev/null)" = '{"retry":true}' ] && break
    sleep 0.1
done
MERCHANT=http://127.0.0.1:$MPORT
# Calls the merchant received, by kind (access log lines reach the file
# within a second).
merchant_calls() { sleep 1.2; awk -v p="$1" 'index($1, p) == 1' "$TMP/nginx/access.log" | wc -l; }

# ---- recoupd ----
ADMIN="" PAY="" API=""
# start_recoupd DATA_DIR LOG [FLAGS...]; sandbox.json keeps the ports of the
# first start, so each start's own are in ADMIN, PAY and API.
start_recoupd() {
    local dir=$1 log=$2
    shift 2
    local aport pport apiport
    aport=$(bench_free_port)
    pport=$(bench_free_port)
    apiport=$(bench_free_port)
    # shellcheck disable=SC2086
    "$RECOUPD" --data_dir="$dir" --payments_port="$pport" --refunds_port=0 --api_port="$apiport" \
        --admin_port="$aport" --clock=virtual "$@" ${BENCH_RECOUPD_ARGS:-} >"$log.out" 2>"$log" &
    RECOUPD_PID=$!
    ADMIN=http://127.0.0.1:$aport
    PAY=http://127.0.0.1:$pport
    API=http://127.0.0.1:$apiport
    for _ in $(seq 1 300); do
        curl -sf -o /dev/null "$ADMIN/readyz" 2>/dev/null && [ -s "$dir/sandbox.json" ] && return 0
        kill -0 "$RECOUPD_PID" 2>/dev/null || break
        sleep 0.1
    done
    tail -5 "$log" >&2
    die "recoupd did not start"
}
stop_recoupd() {
    stop_pid "$RECOUPD_PID" 60
    RECOUPD_PID=""
}
ctl() { "$RECOUPCTL" --admin "$ADMIN" "$@" >/dev/null; }
# The merchant's URLs (this run's nginx port, also on a reused seed).
merchant_settings() {
    ctl recover set sandbox retry_status_url="$MERCHANT" retry_results_url="$MERCHANT/webhooks/retry-results" \
        end_of_dunning_url="$MERCHANT/webhooks/end-of-dunning" end_of_dunning_enabled=true
}
clock_ms() { date -u -d "$(curl -s "$ADMIN/admin/clock" | jq -r .now)" +%s%3N; }
metrics() { curl -s "$ADMIN/metrics" >"$1"; }
mval() { awk -v n="$2" '$1 == n {print $2; found = 1} END {if (!found) print 0}' "$1"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# nginx: its master and its worker
nginx_ticks() {
    local t=0 p
    for p in "$BENCH_NGINX_PID" $(pgrep -P "$BENCH_NGINX_PID"); do t=$((t + $(cpu_ticks "$p"))); done
    echo "$t"
}
# busy and total jiffies of the whole machine
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
HZ=$(getconf CLK_TCK)
now_s() { date +%s.%N; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a - b}'; }
fdiv() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.0f", a / b; else print "n/a"}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.1f%%", 100 * a / b; else print "n/a"}'; }
q() { sqlite3 -cmd ".timeout 10000" "$1" "$2"; }

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- 1. seed (or BENCH_SEED, a seed directory kept from an earlier run) ----
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }
SEED=${BENCH_SEED:-$TMP/seed}
if [ -f "$SEED/seed.done" ]; then
    LOAD_LINE=$(sed -n 1p "$SEED/seed.done")
    T_LOADED=$(sed -n 2p "$SEED/seed.done")
    T_PLANNED=$(sed -n 3p "$SEED/seed.done")
    planned=$(q "$SEED/recoup.db" "SELECT COUNT(*) FROM rc_retries WHERE attempt_no = 1 AND state = 'planned'")
    STOPS=$(q "$SEED/recoup.db" "SELECT COUNT(*) FROM rc_decisions WHERE action = 'stop'")
    N=$(field "$LOAD_LINE" failed)
    APPROVE=$(($(field "$LOAD_LINE" approving) * 100 / N))
    HISTORY=$(($(field "$LOAD_LINE" events) / N - 1))
    GK=$(jq -r .gateway.api_key "$SEED/sandbox.json")
    say "reusing the seed in $SEED: $planned first attempts planned"
else
say "seeding: recoupd on SQLite, virtual clock; $N cards and failed payments, $HISTORY paid renewal(s) per failure"
start_recoupd "$SEED" "$TMP/seed.log"
merchant_settings
GK=$(jq -r .gateway.api_key "$SEED/sandbox.json")
RK=$(jq -r .recover.api_key "$SEED/sandbox.json")
NOW_ISO=$(curl -s "$ADMIN/admin/clock" | jq -r .now)
T0=$(now_s)
LOAD_LINE=$("$TMP/load" seed "$PAY" "$GK" "$API" "$RK" "$N" "$APPROVE" "$HISTORY" 64 "$NOW_ISO" "b$$")
say "$LOAD_LINE"
T_LOADED=$(now_s)
TOTAL_EVENTS=$(field "$LOAD_LINE" events)

say "waiting until every event is applied and every invoice planned"
planned=0
for _ in $(seq 1 $((PLAN_TIMEOUT / 2))); do
    applied=$(q "$SEED/recoup.db" "SELECT applied_seq FROM rc_inbox_state")
    last=$(q "$SEED/recoup.db-inbox" "SELECT COALESCE(MAX(seq), 0) FROM rc_inbox")
    marked=$(q "$SEED/recoup.db" "SELECT COUNT(*) FROM rc_invoices WHERE plan_needed = 1")
    planned=$(q "$SEED/recoup.db" "SELECT COUNT(*) FROM rc_retries WHERE attempt_no = 1 AND state = 'planned'")
    [ "${applied:-0}" = "$last" ] && [ "$last" -ge "$TOTAL_EVENTS" ] && [ "$marked" = 0 ] && break
    say "  applied $applied of $last events, $planned retries planned, $marked invoices waiting for the planner"
    sleep 2
done
T_PLANNED=$(now_s)
STOPS=$(q "$SEED/recoup.db" "SELECT COUNT(*) FROM rc_decisions WHERE action = 'stop'")
say "planned $planned first attempts ($STOPS decisions to stop) in $(fsub "$T_PLANNED" "$T_LOADED") s after the load"
[ "$planned" -gt 0 ] || die "nothing was planned"
stop_recoupd
printf '%s\n%s\n%s\n' "$LOAD_LINE" "$T_LOADED" "$T_PLANNED" >"$SEED/seed.done"
fi

# ---- 2. one run per retry_workers value ----
ROWS=() STAGE_ROWS=() WRITER_ROWS=() NOTES=()
LAST_RUN=""
for W in $WORKERS; do
    RUN=$TMP/run-$W
    rm -rf "$RUN"
    cp -a "$SEED" "$RUN"
    start_recoupd "$RUN" "$TMP/run-$W.log" --retry_workers="$W"
    merchant_settings
    LAST_RUN=$RUN
    # The reference of this run, just before it on the same recoupd (idle:
    # nothing is due yet): the gateway's own charges of stored cards.
    r0=$(cpu_ticks "$RECOUPD_PID")
    REF_LINE=$("$TMP/load" charges "$PAY" "$GK" "$REF_CHARGES" 64 "ref$W")
    ref=$(field "$REF_LINE" charge_rate)
    ref_cpu=$(awk -v a="$r0" -v b="$(cpu_ticks "$RECOUPD_PID")" -v hz="$HZ" -v n="$REF_CHARGES" \
        'BEGIN {printf "%.0f", (b - a) / hz / n * 1e6}')
    say "retry_workers=$W: reference: $REF_LINE, recoupd CPU $ref_cpu us per charge"
    max_due=$(q "$RUN/recoup.db" "SELECT MAX(due_at) FROM rc_retries WHERE attempt_no = 1 AND state = 'planned'")
    pay0=$(q "$RUN/recoup.db" "SELECT COUNT(*) FROM gw_payments")
    rs0=$(merchant_calls /retry/)
    wh0=$(merchant_calls /webhooks/)
    secs=$(((max_due - $(clock_ms)) / 1000 + 60))
    metrics "$TMP/m0"
    c0=$(cpu_ticks "$RECOUPD_PID")
    n0=$(nginx_ticks)
    read -r mb0 mt0 <<<"$(machine_ticks)"
    say "retry_workers=$W: moving the clock $secs s, past every planned first attempt"
    t0=$(now_s)
    ctl clock advance "$secs"
    t10="" t90="" done_n=0
    deadline=$(($(date +%s) + RUN_TIMEOUT))
    while :; do
        metrics "$TMP/m"
        done_n=$(($(mval "$TMP/m" recoup_recover_retries_succeeded_total) + $(mval "$TMP/m" recoup_recover_retries_declined_total)))
        [ -z "$t10" ] && [ "$done_n" -ge $((planned / 10)) ] && t10=$(now_s) && d10=$done_n
        [ -z "$t90" ] && [ "$done_n" -ge $((planned * 9 / 10)) ] && t90=$(now_s) && d90=$done_n
        [ "$done_n" -ge "$planned" ] && break
        [ "$(date +%s)" -lt "$deadline" ] || die "retry_workers=$W: only $done_n of $planned attempts after ${RUN_TIMEOUT}s"
        sleep 0.25
    done
    t1=$(now_s)
    cp "$TMP/m" "$TMP/m1"
    c1=$(cpu_ticks "$RECOUPD_PID")
    n1=$(nginx_ticks)
    read -r mb1 mt1 <<<"$(machine_ticks)"
    # The webhooks of the last attempts are still on their way.
    while :; do
        pending=$(q "$RUN/recoup.db" "SELECT COUNT(*) FROM rc_webhooks WHERE state = 'pending'")
        [ "$pending" = 0 ] && break
        [ "$(date +%s)" -lt "$deadline" ] || die "retry_workers=$W: $pending webhooks still pending"
        sleep 0.25
    done
    t2=$(now_s)
    metrics "$TMP/m2"
    wall=$(fsub "$t1" "$t0")
    rate=$(fdiv "$planned" "$wall")
    steady=$(fdiv "$((d90 - d10))" "$(fsub "$t90" "$t10")")
    delivered=$(($(mval "$TMP/m2" recoup_recover_webhooks_delivered_total) - $(mval "$TMP/m0" recoup_recover_webhooks_delivered_total)))
    wh_rate=$(fdiv "$delivered" "$(fsub "$t2" "$t0")")
    succeeded=$(mval "$TMP/m1" recoup_recover_retries_succeeded_total)
    cores=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v w="$wall" 'BEGIN {printf "%.2f", (b - a) / hz / w}')
    cpu_us=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v n="$planned" 'BEGIN {printf "%.0f", (b - a) / hz / n * 1e6}')
    ngx_cores=$(awk -v a="$n0" -v b="$n1" -v hz="$HZ" -v w="$wall" 'BEGIN {printf "%.2f", (b - a) / hz / w}')
    busy=$(awk -v b0="$mb0" -v b1="$mb1" -v t0="$mt0" -v t1="$mt1" 'BEGIN {printf "%.0f%%", 100 * (b1 - b0) / (t1 - t0)}')

    # Every attempt asked the merchant once and charged once.
    pays=$(($(q "$RUN/recoup.db" "SELECT COUNT(*) FROM gw_payments") - pay0))
    rs_calls=$(($(merchant_calls /retry/) - rs0))
    wh_calls=$(($(merchant_calls /webhooks/) - wh0))
    attempts_done=$(q "$RUN/recoup.db" "SELECT COUNT(*) FROM rc_retries WHERE attempt_no = 1 AND state = 'done'")
    webhooks=$(q "$RUN/recoup.db" "SELECT COUNT(*) FROM rc_webhooks")
    say "retry_workers=$W: $planned attempts in $wall s ($rate/s, $steady/s from 10% to 90%), $delivered webhooks ($wh_rate/s)"
    say "  checks: $attempts_done first attempts done, $pays gateway payments, $rs_calls RetryStatus calls, $webhooks webhooks written, $wh_calls delivered to the merchant"
    [ "$attempts_done" = "$planned" ] && [ "$pays" = "$planned" ] && [ "$rs_calls" = "$planned" ] &&
        [ "$delivered" = "$webhooks" ] || NOTES+=("retry_workers=$W: checks off: $attempts_done attempts done, $pays payments, $rs_calls RetryStatus calls, $delivered of $webhooks webhooks delivered")

    # The single writer every durable write goes through (all services).
    dw=$(($(mval "$TMP/m1" recoup_store_committed_writes_total) - $(mval "$TMP/m0" recoup_store_committed_writes_total)))
    dc=$(($(mval "$TMP/m1" recoup_store_commits_total) - $(mval "$TMP/m0" recoup_store_commits_total)))
    dsec=$(awk -v a="$(mval "$TMP/m0" recoup_store_commit_seconds_total)" -v b="$(mval "$TMP/m1" recoup_store_commit_seconds_total)" \
        'BEGIN {printf "%.3f", b - a}')
    WRITER_ROWS+=("| $W | $(awk -v a="$dw" -v n="$planned" 'BEGIN {printf "%.2f", a / n}') | $(awk -v a="$dw" -v c="$dc" 'BEGIN {if (c > 0) printf "%.1f", a / c}') | $(pct "$dsec" "$wall") |")
    s_claim=$(($(mval "$TMP/m1" recoup_recover_attempt_claim_us_total) - $(mval "$TMP/m0" recoup_recover_attempt_claim_us_total)))
    s_load=$(($(mval "$TMP/m1" recoup_recover_attempt_load_us_total) - $(mval "$TMP/m0" recoup_recover_attempt_load_us_total)))
    s_rs=$(($(mval "$TMP/m1" recoup_recover_attempt_retry_status_us_total) - $(mval "$TMP/m0" recoup_recover_attempt_retry_status_us_total)))
    s_charge=$(($(mval "$TMP/m1" recoup_recover_attempt_charge_us_total) - $(mval "$TMP/m0" recoup_recover_attempt_charge_us_total)))
    s_record=$(($(mval "$TMP/m1" recoup_recover_attempt_record_us_total) - $(mval "$TMP/m0" recoup_recover_attempt_record_us_total)))
    s_all=$((s_claim + s_load + s_rs + s_charge + s_record))
    ms() { awk -v a="$1" -v n="$planned" 'BEGIN {printf "%.2f", a / n / 1000}'; }
    STAGE_ROWS+=("| $W | $(pct $s_claim $s_all) | $(pct $s_load $s_all) | $(pct $s_rs $s_all) | $(pct $s_charge $s_all) | $(pct $s_record $s_all) | $(ms $s_claim) / $(ms $s_load) / $(ms $s_rs) / $(ms $s_charge) / $(ms $s_record) |")

    ROWS+=("| $W | $planned | $wall | **$rate** | $steady | $ref ($ref_cpu us) | $(bench_ratio "$rate" "$ref") | $delivered | $wh_rate | $cores | $cpu_us | $ngx_cores | $busy |")
    stop_recoupd
done

# ---- 3. the dispatcher alone, on a backlog of the last run's webhooks ----
due=$(($(date +%s%3N) + 3600 * 1000))
q "$LAST_RUN/recoup.db" "UPDATE rc_webhooks SET state = 'pending', attempts = 0, next_attempt_at = $due, delivered_at = 0,
    last_status = 0, last_error = NULL, lease_owner = NULL, lease_until = NULL"
K=$(q "$LAST_RUN/recoup.db" "SELECT COUNT(*) FROM rc_webhooks WHERE state = 'pending'")
start_recoupd "$LAST_RUN" "$TMP/drain.log"
merchant_settings
# The planner's re-planning of the declined invoices finishes first, so
# that the dispatcher runs alone.
for _ in $(seq 1 1200); do
    [ "$(q "$LAST_RUN/recoup.db" "SELECT COUNT(*) FROM rc_invoices WHERE plan_needed = 1")" = 0 ] && break
    sleep 0.5
done
metrics "$TMP/d0"
d_base=$(mval "$TMP/d0" recoup_recover_webhooks_delivered_total)
c0=$(cpu_ticks "$RECOUPD_PID")
say "dispatcher: $K webhooks made due at once"
t0=$(now_s)
ctl clock advance 3660
t10="" t90=""
deadline=$(($(date +%s) + RUN_TIMEOUT))
while :; do
    metrics "$TMP/d"
    got=$(($(mval "$TMP/d" recoup_recover_webhooks_delivered_total) - d_base))
    [ -z "$t10" ] && [ "$got" -ge $((K / 10)) ] && t10=$(now_s) && d10=$got
    [ -z "$t90" ] && [ "$got" -ge $((K * 9 / 10)) ] && t90=$(now_s) && d90=$got
    [ "$got" -ge "$K" ] && break
    [ "$(date +%s)" -lt "$deadline" ] || die "dispatcher: only $got of $K delivered after ${RUN_TIMEOUT}s"
    sleep 0.2
done
t1=$(now_s)
c1=$(cpu_ticks "$RECOUPD_PID")
D_WALL=$(fsub "$t1" "$t0")
D_RATE=$(fdiv "$K" "$D_WALL")
D_STEADY=$(fdiv "$((d90 - d10))" "$(fsub "$t90" "$t10")")
D_CPU=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v n="$K" 'BEGIN {printf "%.0f", (b - a) / hz / n * 1e6}')
D_FAILED=$(($(mval "$TMP/d" recoup_recover_webhooks_failed_total) - $(mval "$TMP/d0" recoup_recover_webhooks_failed_total)))
stop_recoupd
BODY_LEN=$(q "$LAST_RUN/recoup.db" "SELECT CAST(AVG(LENGTH(body)) AS INTEGER) FROM rc_webhooks")
CONC=$(awk -F= '/webhook_concurrency/ {print $2}' <<<"${BENCH_RECOUPD_ARGS:-}" | tr -d ' ')
CONC=${CONC:-256}
RAW_LINE=$("$TMP/load" posts "$MERCHANT/webhooks/retry-results" "$K" "$CONC" "$BODY_LEN")
RAW=$(field "$RAW_LINE" post_rate)
say "dispatcher: $K in $D_WALL s ($D_RATE/s, $D_STEADY/s from 10% to 90%); reference: $RAW_LINE"

# ---- the report ----
STAMP=$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$ROOT/bench/results"
OUT="$ROOT/bench/results/retries-$STAMP.md"
{
    echo "## Retry execution, end to end"
    echo
    bench_machine | sed "s/^- load average at start: .*/- load average at start: $LOAD_START/"
    echo "- recoupd: $RECOUPD, SQLite, virtual clock, flags: --retry_workers=W ${BENCH_RECOUPD_ARGS:-}"
    echo "- $N due retries, one card and one invoice each; $APPROVE% of the cards approve, the rest decline"
    echo "  (insufficient funds); $HISTORY paid renewal(s) sent per failure; merchant: nginx on loopback"
    echo "- seeding: $(field "$LOAD_LINE" tokens) cards stored in $(field "$LOAD_LINE" token_s) s ($(field "$LOAD_LINE" token_rate)/s),"
    echo "  $(field "$LOAD_LINE" events) events acknowledged in $(field "$LOAD_LINE" event_s) s ($(field "$LOAD_LINE" event_rate)/s),"
    echo "  applied and planned $(fsub "$T_PLANNED" "$T_LOADED") s after the last acknowledgement ($planned first attempts planned, $STOPS stops)"
    echo
    echo "| retry_workers | attempts | seconds | attempts/s | attempts/s, 10% to 90% | reference: gateway charges/s (recoupd CPU per charge) | ratio | webhooks delivered | webhooks/s | recoupd CPU (cores) | recoupd CPU per attempt (us) | nginx CPU (cores) | machine busy |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "Time per stage, summed over the attempts (claim: the scheduler's claims; the others: the workers'),"
    echo "as a share of their sum, and the mean per attempt in ms (claim / load / RetryStatus / charge / record):"
    echo
    echo "| retry_workers | claim | load | RetryStatus | charge | record | mean per attempt, ms |"
    echo "|---:|---:|---:|---:|---:|---:|---|"
    printf '%s\n' "${STAGE_ROWS[@]}"
    echo
    echo "The store's single writer during the attempts (every service's durable writes: claims, gateway payments,"
    echo "outcomes, webhook results, the planner's decisions): writes per attempt, writes per group commit, and"
    echo "the share of the wall time it spent running groups (statements, commit, fsync):"
    echo
    echo "| retry_workers | writes per attempt | writes per commit | writer busy |"
    echo "|---:|---:|---:|---:|"
    printf '%s\n' "${WRITER_ROWS[@]}"
    echo
    echo "The dispatcher alone: $K webhooks of the last run (average body $BODY_LEN bytes) due at once, nothing else running:"
    echo
    echo "| what | deliveries/s | deliveries/s, 10% to 90% | ratio to the reference |"
    echo "|---|---:|---:|---:|"
    echo "| reference: the same number of POSTs to the same nginx, one curl multi handle, $CONC in flight, no store | $RAW | | 1.000 |"
    echo "| dispatcher: claim, sign, send, record (fsync on), $CONC in flight | $D_RATE | $D_STEADY | $(bench_ratio "$D_RATE" "$RAW") |"
    echo
    echo "- dispatcher: $K delivered in $D_WALL s, $D_FAILED failed; recoupd CPU $D_CPU us per delivery"
    for n in "${NOTES[@]}"; do echo "- $n"; done
} | tee "$OUT"
say "written to $OUT"
