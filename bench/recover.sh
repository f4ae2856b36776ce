#!/bin/bash
# Recover ingestion benchmark: POST /recover/payments with a realistic ~1 KB
# event and a distinct transaction id per request, durable acknowledgement,
# against (same run) nginx's fixed answer as the ceiling and PostgreSQL's
# own insert rate for the same payload (pgbench, 64 clients, default
# durability). Reports requests/s, p50/p99, ratios, and recoupd's peak
# resident memory.
#
#   ./bench/recover.sh            (after make build)
#   BENCH_DURATION=10s BENCH_CONNECTIONS=64 BENCH_ARGS="--log_level=warn"
#   BENCH_STORE=postgres          recoupd on PostgreSQL (a throwaway cluster)
#   BENCH_NODES=2                 two recoupd nodes on that one PostgreSQL,
#                                 each loaded by its own wrk with half the
#                                 connections (needs BENCH_STORE=postgres)
set -eu
cd "$(dirname "$0")/.."
BENCH_NAME=recover
. bench/lib.sh

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-5s}
CONNS=${BENCH_CONNECTIONS:-64}
RECOUPD=${RECOUPD:-./build/recoupd}
[ -x "$RECOUPD" ] || die "$RECOUPD not built (make build)"
need_packages wrk nginx-light curl jq postgresql sqlite3

STORE=${BENCH_STORE:-sqlite}
NODES=${BENCH_NODES:-1}
[ "$NODES" = 1 ] || [ "$STORE" = postgres ] || die "BENCH_NODES=$NODES needs BENCH_STORE=postgres"

TMP=$(mktemp -d /tmp/recoup-bench-recover.XXXXXX)
RECOUPD_PID="" RECOUPD2_PID="" BENCH_NGINX_PID="" PGDIR=""
cleanup() {
    [ -n "$RECOUPD_PID" ] && stop_pid "$RECOUPD_PID" 10
    [ -n "$RECOUPD2_PID" ] && stop_pid "$RECOUPD2_PID" 10
    [ -n "$BENCH_NGINX_PID" ] && stop_pid "$BENCH_NGINX_PID" 5
    [ -n "$PGDIR" ] && ./scripts/pg-test-cluster.sh stop "$PGDIR" >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT

# ---- PostgreSQL: recoup's database (BENCH_STORE=postgres) and pgbench's ----
eval "$(./scripts/pg-test-cluster.sh start)"
PGDIR=$RECOUP_TEST_PG_DIR
PSQL="$RECOUP_TEST_PG_BIN/psql -h $RECOUP_TEST_PG_HOST -p $RECOUP_TEST_PG_PORT -U $RECOUP_TEST_PG_USER -q"
STORE_ARGS=()
if [ "$STORE" = postgres ]; then
    $PSQL -d postgres -c "CREATE DATABASE recoup" >/dev/null
    STORE_ARGS=(--store=postgres
        "--database_url=host=$RECOUP_TEST_PG_HOST port=$RECOUP_TEST_PG_PORT user=$RECOUP_TEST_PG_USER dbname=recoup")
fi

# inbox_count [unprocessed]: events in the inbox (those not applied yet).
inbox_count() {
    if [ "$STORE" = postgres ]; then
        $PSQL -d recoup -At -c "SELECT COUNT(*) FROM rc_inbox ${1:+WHERE processed_at IS NULL}"
    elif [ -n "${1:-}" ]; then
        applied=$(sqlite3 "$TMP/data/recoup.db" "SELECT applied_seq FROM rc_inbox_state")
        sqlite3 "$TMP/data/recoup.db-inbox" "SELECT COUNT(*) FROM rc_inbox WHERE seq > $applied"
    else
        sqlite3 "$TMP/data/recoup.db-inbox" "SELECT COUNT(*) FROM rc_inbox"
    fi
}

# ---- recoupd (one node, or two on the same PostgreSQL) ----
API_PORT=$(bench_free_port)
# shellcheck disable=SC2086
"$RECOUPD" --data_dir="$TMP/data" --payments_port=0 --refunds_port=0 --admin_port=0 --api_port="$API_PORT" \
    "${STORE_ARGS[@]}" ${BENCH_ARGS:-} >"$TMP/recoupd.out" 2>"$TMP/recoupd.log" &
RECOUPD_PID=$!
for _ in $(seq 1 100); do
    [ -s "$TMP/data/sandbox.json" ] && jq -e .recover.api_key "$TMP/data/sandbox.json" >/dev/null 2>&1 && break
    sleep 0.1
done
if [ "$NODES" = 2 ]; then
    # The second node shares the database, so it needs the same data key.
    mkdir -p "$TMP/data2" && chmod 700 "$TMP/data2"
    cp -p "$TMP/data/card.key" "$TMP/data2/card.key"
    API2_PORT=$(bench_free_port)
    # shellcheck disable=SC2086
    "$RECOUPD" --data_dir="$TMP/data2" --payments_port=0 --refunds_port=0 --admin_port=0 --api_port="$API2_PORT" \
        --sandbox=false "${STORE_ARGS[@]}" ${BENCH_ARGS:-} >"$TMP/recoupd2.out" 2>"$TMP/recoupd2.log" &
    RECOUPD2_PID=$!
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$API2_PORT/" && break
        sleep 0.1
    done
fi
export RECOVER_KEY
RECOVER_KEY=$(jq -r .recover.api_key "$TMP/data/sandbox.json")
URL="http://127.0.0.1:$API_PORT/recover/payments"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "x-api-key: $RECOVER_KEY" -H 'Content-Type: application/json' \
    -d '{}' "$URL")
[ "$code" = 400 ] || die "recoupd answered $code to an empty event (expected 400)"

# ---- the ceiling: nginx, same request ----
NGINX_PORT=$(bench_free_port)
bench_nginx_start "$TMP/nginx" "$NGINX_PORT" '{"message":"Request submitted for processing","request_id":"00000000-0000-4000-8000-000000000000"}'
CEIL_URL="http://127.0.0.1:$NGINX_PORT/recover/payments"
SCRIPT=bench/lua/recover_event.lua

say "warm-up ($WARMUP each)"
bench_wrk "$TMP/warm-ceiling" "$WARMUP" "$CEIL_URL" "$SCRIPT"
bench_wrk "$TMP/warm-recoupd" "$WARMUP" "$URL" "$SCRIPT"
WARM_OK=$(awk '/requests in/ {print $1}' "$TMP/warm-recoupd")

say "ceiling: nginx ($DURATION)"
bench_wrk "$TMP/ceiling" "$DURATION" "$CEIL_URL" "$SCRIPT"

say "recoupd ($DURATION, $NODES node(s) on $STORE), sampling its resident memory"
( peak=0; while kill -0 "$RECOUPD_PID" 2>/dev/null; do
      rss=$(awk '/VmRSS/ {print $2}' "/proc/$RECOUPD_PID/status" 2>/dev/null || echo 0)
      [ "${rss:-0}" -gt "$peak" ] && peak=$rss && echo "$peak" >"$TMP/rss.peak"
      sleep 0.2
  done ) &
SAMPLER=$!
if [ "$NODES" = 2 ]; then
    BENCH_CONNECTIONS=$((CONNS / 2)) bench_wrk "$TMP/recoupd" "$DURATION" "$URL" "$SCRIPT" &
    W1=$!
    BENCH_CONNECTIONS=$((CONNS / 2)) bench_wrk "$TMP/recoupd2" "$DURATION" "http://127.0.0.1:$API2_PORT/recover/payments" "$SCRIPT"
    wait "$W1"
else
    bench_wrk "$TMP/recoupd" "$DURATION" "$URL" "$SCRIPT"
fi
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
PEAK_KB=$(cat "$TMP/rss.peak" 2>/dev/null || echo 0)

# Every 200 must be on disk: count the inbox against wrk's answers.
REQS=$(awk '/requests in/ {print $1}' "$TMP/recoupd")
ERRS=$(bench_errors "$TMP/recoupd")
RPS=$(bench_rps "$TMP/recoupd")
P50=$(bench_pct "$TMP/recoupd" 50)
P99=$(bench_pct "$TMP/recoupd" 99)
if [ "$NODES" = 2 ]; then
    REQS=$((REQS + $(awk '/requests in/ {print $1}' "$TMP/recoupd2")))
    ERRS=$((ERRS + $(bench_errors "$TMP/recoupd2")))
    RPS=$(awk -v a="$RPS" -v b="$(bench_rps "$TMP/recoupd2")" 'BEGIN {printf "%.2f", a + b}')
    P99=$(awk -v a="$P99" -v b="$(bench_pct "$TMP/recoupd2" 99)" 'BEGIN {print (a > b ? a : b)}')
fi
STORED=$(inbox_count)
say "acknowledged $((REQS - ERRS)) in the run, $WARM_OK in the warm-up; inbox holds $STORED"

# How long applying the backlog takes once the load stops.
T0=$(date +%s.%N)
for _ in $(seq 1 600); do
    [ "$(inbox_count unprocessed)" = 0 ] && break
    sleep 0.5
done
DRAIN=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')

# ---- PostgreSQL's own insert rate for the same payload ----
say "pgbench: 64 clients inserting the same event ($DURATION)"
$PSQL -d postgres -c "CREATE DATABASE bench" >/dev/null
$PSQL -d bench -c "CREATE TABLE rc_inbox (seq BIGSERIAL PRIMARY KEY, merchant_id TEXT NOT NULL, env TEXT NOT NULL,
    kind TEXT NOT NULL, fingerprint TEXT NOT NULL, request_id TEXT NOT NULL, payload TEXT NOT NULL,
    received_at BIGINT NOT NULL);
    CREATE UNIQUE INDEX rc_inbox_dedup ON rc_inbox (merchant_id, env, kind, fingerprint);" >/dev/null
PAYLOAD=$(lua -e 'print(1)' >/dev/null 2>&1; sed -n '/^local template = \[\[/,/\]\]$/p' "$SCRIPT" |
    sed '1s/^local template = \[\[//; $s/\]\]$//' | tr -d '\n' | sed "s/'/''/g")
cat >"$TMP/insert.sql" <<SQL
INSERT INTO rc_inbox (merchant_id, env, kind, fingerprint, request_id, payload, received_at)
VALUES ('sandbox', 'sandbox', 'payment', md5(:client_id::text || '-' || random()::text || clock_timestamp()::text),
        gen_random_uuid()::text, '$PAYLOAD', (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
SQL
"$RECOUP_TEST_PG_BIN/pgbench" -h "$RECOUP_TEST_PG_HOST" -p "$RECOUP_TEST_PG_PORT" -U "$RECOUP_TEST_PG_USER" \
    -n -c 64 -j 2 -T "${DURATION%s}" -f "$TMP/insert.sql" bench >"$TMP/pgbench" 2>&1 || cat "$TMP/pgbench" >&2
PG_TPS=$(awk '/^tps =/ {printf "%.0f", $3; exit}' "$TMP/pgbench")

# ---- the report ----
CEIL=$(bench_rps "$TMP/ceiling")
RESULT="bench/results/recover-$STORE-$NODES-$(date -u +%Y%m%dT%H%M%SZ).md"
mkdir -p bench/results
{
    echo "## Recover ingestion: POST /recover/payments, ~1 KB event, durable acknowledgement"
    echo
    bench_machine
    echo "- wrk -t1 -c$CONNS -d$DURATION after a $WARMUP warm-up; store: $STORE; recoupd nodes: $NODES$([ "$NODES" = 2 ] && echo " (two wrk, $((CONNS / 2)) connections each)"); recoupd flags: ${BENCH_ARGS:-(defaults)}"
    echo
    echo "| what | requests/s | p50 ms | p99 ms | non-2xx | ratio to ceiling |"
    echo "|---|---|---|---|---|---|"
    echo "| nginx fixed answer (ceiling) | $CEIL | $(bench_pct "$TMP/ceiling" 50) | $(bench_pct "$TMP/ceiling" 99) | $(bench_errors "$TMP/ceiling") | 1.000 |"
    echo "| recoupd POST /recover/payments ($STORE, $NODES node(s)) | $RPS | $P50 | $P99 | $ERRS | $(bench_ratio "$RPS" "$CEIL") |"
    echo "| pgbench INSERT of the same event, 64 clients | ${PG_TPS:-n/a} | | | | $(bench_ratio "${PG_TPS:-0}" "$CEIL") |"
    echo
    echo "- recoupd / pgbench: $(bench_ratio "$RPS" "${PG_TPS:-0}")"
    echo "- recoupd peak resident memory during the run: $((PEAK_KB / 1024)) MiB (the first node)"
    echo "- events in the inbox after the run: $STORED (every acknowledged one is on disk)"
    echo "- applying the backlog after the load stopped took ${DRAIN}s"
} | tee "$RESULT"
say "written to $RESULT"
