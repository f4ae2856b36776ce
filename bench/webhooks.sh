#!/bin/bash
# Webhook delivery benchmark: the dispatcher (claim under a lease, sign, send
# through one curl multi handle, record the results durably in batches) against nginx
# answering 200 on loopback, and as the reference of the same run the same
# POSTs through one curl multi handle with no store at all. Method and
# results: docs/benchmarks.md, "Webhook delivery".
#
#   make build && ./bench/webhooks.sh
#
# Writes a Markdown section to stdout and to bench/results/webhooks-<date>.md;
# progress goes to stderr. Settings (environment):
#   BENCH_DELIVERIES   deliveries per measured run               [50000]
#   BENCH_CONCURRENCY  deliveries in flight (webhook_concurrency) [256]
#   BENCH_RUNS         measured runs of each kind (median shown)  [3]
#   BENCH_BUILD        build directory whose librecoup.a is used  [build]
#   BENCH_PG=1         also run the dispatcher on PostgreSQL: a throwaway
#                      local cluster (scripts/pg-test-cluster.sh, fsync on),
#                      a new database per run
#   BENCH_KEEP=1       keep the temporary directory
set -eu

cd "$(dirname "$0")/.."
ROOT=$(pwd)

N=${BENCH_DELIVERIES:-50000}
CONC=${BENCH_CONCURRENCY:-256}
RUNS=${BENCH_RUNS:-3}
BUILD=${BENCH_BUILD:-build}

BENCH_NAME=webhooks
. "$ROOT/bench/lib.sh"

need_packages curl
bench_find_nginx
[ -f "$BUILD/librecoup.a" ] || die "$BUILD/librecoup.a not found: run 'make build' first"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/recoup-bench-webhooks.XXXXXX")
BENCH_NGINX_PID=""
PG_DIR=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$BENCH_NGINX_PID" ] && stop_pid "$BENCH_NGINX_PID" 5
    [ -n "$PG_DIR" ] && "$ROOT/scripts/pg-test-cluster.sh" stop "$PG_DIR"
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "building bench/webhooks/driver.c against $BUILD/librecoup.a"
# shellcheck disable=SC2046
cc -O2 -std=c17 -D_GNU_SOURCE -I"$ROOT/src" "$ROOT/bench/webhooks/driver.c" "$BUILD/librecoup.a" \
    $(pkg-config --libs sqlite3 libsodium libcjson libmicrohttpd libcurl libpq) -lpthread -lm \
    -o "$TMP/driver" 2>"$TMP/cc.log" || { cat "$TMP/cc.log" >&2; die "cannot build the driver"; }

PG_URL_BASE=""
if [ "${BENCH_PG:-0}" = 1 ]; then
    say "starting a throwaway PostgreSQL cluster"
    eval "$("$ROOT/scripts/pg-test-cluster.sh" start)"
    PG_DIR=$RECOUP_TEST_PG_DIR
    PSQL=$(command -v psql 2>/dev/null || echo "$RECOUP_TEST_PG_BIN/psql")
    PG_URL_BASE="postgresql://$RECOUP_TEST_PG_USER@/"
    PG_URL_QUERY="?host=$RECOUP_TEST_PG_HOST&port=$RECOUP_TEST_PG_PORT"
fi

PORT=$(bench_free_port)
bench_nginx_start "$TMP/nginx" "$PORT" '{"received":true}'
URL="http://127.0.0.1:$PORT/webhooks/retry-results"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

say "warm-up"
"$TMP/driver" raw "$URL" 5000 "$CONC" >/dev/null

RAW_RATES="" RAW_CPU="" DISPATCH_LINES=() PG_LINES=()
for i in $(seq 1 "$RUNS"); do
    line=$("$TMP/driver" raw "$URL" "$N" "$CONC")
    say "reference run $i: $(field "$line" rate) requests/s"
    RAW_RATES="$RAW_RATES $(field "$line" rate)"
    RAW_CPU="$RAW_CPU $(field "$line" cpu_us)"
    rm -f "$TMP/outbox.db"*
    line=$("$TMP/driver" dispatch "$TMP/outbox.db" "$URL" "$N" "$CONC" 2>>"$TMP/driver.log")
    say "dispatcher run $i: $(field "$line" rate) deliveries/s"
    DISPATCH_LINES+=("$line")
    if [ -n "$PG_URL_BASE" ]; then
        "$PSQL" -h "$RECOUP_TEST_PG_HOST" -p "$RECOUP_TEST_PG_PORT" -U "$RECOUP_TEST_PG_USER" -d postgres -qAtc \
            "CREATE DATABASE bench_webhooks_$i" || die "cannot create a database"
        line=$("$TMP/driver" dispatch "${PG_URL_BASE}bench_webhooks_$i$PG_URL_QUERY" "$URL" "$N" "$CONC" \
            2>>"$TMP/driver.log")
        say "dispatcher run $i on PostgreSQL: $(field "$line" rate) deliveries/s"
        PG_LINES+=("$line")
    fi
done
RAW=$(tr ' ' '\n' <<<"$RAW_RATES" | grep . | median)
RAW_CPU_MED=$(tr ' ' '\n' <<<"$RAW_CPU" | grep . | median)
CPU_MED=$(for l in "${DISPATCH_LINES[@]}"; do field "$l" cpu_us; done | median)
# The run with the median delivery rate, for its time shares.
MEDIAN_LINE=$(for l in "${DISPATCH_LINES[@]}"; do echo "$(field "$l" rate) $l"; done | sort -n |
    awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}' | cut -d' ' -f2-)
RATE=$(field "$MEDIAN_LINE" rate)
ALL_RATES=$(for l in "${DISPATCH_LINES[@]}"; do field "$l" rate; done | tr '\n' ' ')
pct() { awk -v v="$1" 'BEGIN {printf "%.0f%%", v * 100}'; }

STAMP=$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$ROOT/bench/results"
OUT="$ROOT/bench/results/webhooks-$STAMP.md"
{
    echo "## Webhook delivery"
    echo
    bench_machine | sed "s/^- load average at start: .*/- load average at start: $LOAD_START/"
    echo "- $N deliveries per run, $CONC in flight, $RUNS runs of each kind (median shown), receiver: nginx answering 200 on loopback"
    echo
    echo "| what | per second | ratio to the reference |"
    echo "|---|---|---|"
    echo "| reference: the same POSTs through one curl multi handle, no store | $RAW | 1.000 |"
    echo "| dispatcher: claim, sign, send, record (SQLite, fsync on) | $RATE | $(bench_ratio "$RATE" "$RAW") |"
    if [ ${#PG_LINES[@]} -gt 0 ]; then
        PG_RATE=$(for l in "${PG_LINES[@]}"; do field "$l" rate; done | median)
        echo "| dispatcher on PostgreSQL (local, fsync on) | $PG_RATE | $(bench_ratio "$PG_RATE" "$RAW") |"
    fi
    echo
    echo "Dispatcher runs: $ALL_RATES deliveries/s; reference runs:$RAW_RATES requests/s; outbox filled in $(field "$MEDIAN_LINE" enqueue_s) s (median run)."
    echo
    echo "CPU time per delivery of the whole driver process (all threads, user and system; it varies far less than"
    echo "throughput on a shared machine): dispatcher $CPU_MED us, reference $RAW_CPU_MED us"
    echo "(ratio $(bench_ratio "$CPU_MED" "$RAW_CPU_MED")). nginx's share is not included in either."
    if [ ${#PG_LINES[@]} -gt 0 ]; then
        echo
        echo "On PostgreSQL: runs $(for l in "${PG_LINES[@]}"; do field "$l" rate; done | tr '\n' ' ')deliveries/s;"
        echo "CPU per delivery of the driver $(for l in "${PG_LINES[@]}"; do field "$l" cpu_us; done | median) us"
        echo "(the server's share is not included)."
    fi
    echo
    echo "A delivery's life in the median run: it waits for the claim of its batch, then, signed, for a free"
    echo "transfer (up to $CONC in flight; a node leases twice that), then for its answer, then for the durable"
    echo "write of its result (in a batch of everything answered meanwhile). Mean time in each, and its share"
    echo "of their sum:"
    echo
    echo "| part | mean | share |"
    echo "|---|---|---|"
    echo "| claim (a leased batch of up to 256; $(field "$MEDIAN_LINE" claim_calls) claims) | $(field "$MEDIAN_LINE" claim_ms) ms | $(pct "$(field "$MEDIAN_LINE" claim_share)") |"
    echo "| wait for a free transfer | $(field "$MEDIAN_LINE" wait_ms) ms | $(pct "$(field "$MEDIAN_LINE" wait_share)") |"
    echo "| send (hand-over to curl until the answer) | $(field "$MEDIAN_LINE" send_ms) ms | $(pct "$(field "$MEDIAN_LINE" send_share)") |"
    echo "| record (from the answer until its batch is durable) | $(field "$MEDIAN_LINE" record_ms) ms | $(pct "$(field "$MEDIAN_LINE" record_share)") |"
} | tee "$OUT"
say "written to $OUT"
