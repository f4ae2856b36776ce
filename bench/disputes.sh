#!/bin/bash
# Disputes benchmark: durable collection (POST /v1/analytics) against the
# same-run nginx fixed-response ceiling, then evidence lookups
# (POST /v1/evidence) over BENCH_RECORDS records. Method: docs/benchmarks.md.
#
#   make build && ./bench/disputes.sh
#
# Writes a Markdown section to stdout and to bench/results/disputes-<date>.md;
# progress goes to stderr. Both servers run on free loopback ports from a
# temporary directory and are stopped on exit. Settings (environment):
#   BENCH_DURATION     measured run length, wrk syntax          [10s]
#   BENCH_WARMUP       warm-up run length before each target    [5s]
#   BENCH_CONNECTIONS  wrk connections (one wrk thread)         [64]
#   BENCH_RECORDS      records loaded for the lookup runs       [1000000]
#   BENCH_RECOUPD_ARGS extra recoupd flags, e.g. --log_level=warn []
#   RECOUPD            the daemon to run                        [build/recoupd]
#   BENCH_KEEP=1       keep the temporary directory (logs, database)
set -eu

cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-5s}
CONNS=${BENCH_CONNECTIONS:-64}
RECORDS=${BENCH_RECORDS:-1000000}
EXTRA_ARGS=${BENCH_RECOUPD_ARGS:-}
RECOUPD=${RECOUPD:-build/recoupd}
TIMEOUT=${BENCH_TIMEOUT:-10s}
WRK="wrk -t1 -c$CONNS --timeout $TIMEOUT"
export BENCH_LUA_DIR="$ROOT/bench/lua"

BENCH_NAME=disputes
. "$ROOT/bench/lib.sh"

need_packages wrk curl jq sqlite3
bench_find_nginx
[ -x "$RECOUPD" ] || die "$RECOUPD not found: run 'make build' first"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/recoup-bench-disputes.XXXXXX")
RECOUPD_PID=""
NGINX_PID=""


cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$NGINX_PID" ] && stop_pid "$NGINX_PID" 5
    [ -n "$RECOUPD_PID" ] && stop_pid "$RECOUPD_PID" 30
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        say "kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

START_S=$(date +%s)

start_recoupd() {
    mkdir -p "$TMP/data"
    rm -f "$TMP/data/listeners.json"
    # shellcheck disable=SC2086
    "$RECOUPD" --data_dir="$TMP/data" --payments_port=0 --refunds_port=0 --api_port=0 \
        --admin_port=0 --shutdown_timeout=5 $EXTRA_ARGS >>"$TMP/recoupd.log" 2>&1 &
    RECOUPD_PID=$!
    local i=0
    while ! { [ -s "$TMP/data/listeners.json" ] && [ -s "$TMP/data/sandbox.json" ] &&
              jq -e .api "$TMP/data/listeners.json" >/dev/null 2>&1; }; do
        kill -0 "$RECOUPD_PID" 2>/dev/null || { tail -20 "$TMP/recoupd.log" >&2; die "recoupd exited"; }
        [ "$i" -lt 300 ] || die "recoupd did not write listeners.json within 30 s"
        sleep 0.1
        i=$((i + 1))
    done
    API_URL="http://127.0.0.1:$(jq -r .api "$TMP/data/listeners.json")"
    local user pass
    user=$(jq -r .disputes.username "$TMP/data/sandbox.json")
    pass=$(jq -r .disputes.password "$TMP/data/sandbox.json")
    TOKEN=$(printf '%s:%s' "$user" "$pass" | base64 -w0)
}

stop_recoupd() {
    stop_pid "$RECOUPD_PID" 60
    RECOUPD_PID=""
}

start_nginx() { # body
    local port
    mkdir -p "$TMP/nginx/www"
    # The body is a file: nginx's return directive takes at most a few
    # kilobytes. A POST to a static file is a 405, which error_page turns into
    # the file with status 200 (as a GET), so any method gets the body.
    printf '%s' "$1" >"$TMP/nginx/www/body.json"
    # nginx's worker runs as an unprivileged user: it must reach the file.
    chmod 711 "$TMP" "$TMP/nginx"
    chmod 755 "$TMP/nginx/www"
    chmod 644 "$TMP/nginx/www/body.json"
    for _ in 1 2 3 4 5 6 7 8; do
        # A port no socket listens on, outside Linux's default ephemeral
        # range; nginx fails to start if it is taken meanwhile, and the loop
        # tries another.
        port=$((20000 + RANDOM % 12000))
        if ss -Htln 2>/dev/null | awk '{print $4}' | grep -q ":$port\$"; then
            continue
        fi
        cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    default_type application/json;
    server {
        listen 127.0.0.1:$port;
        root $TMP/nginx/www;
        open_file_cache max=16;
        location / {
            try_files /body.json =404;
            error_page 405 =200 /body.json;
        }
    }
}
EOF
        "$NGINX" -e "$TMP/nginx/error.log" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" \
            >"$TMP/nginx/stdout.log" 2>&1 &
        NGINX_PID=$!
        local i=0
        while [ "$i" -lt 50 ]; do
            if ! kill -0 "$NGINX_PID" 2>/dev/null; then
                wait "$NGINX_PID" 2>/dev/null || true
                NGINX_PID=""
                break
            fi
            if curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
                NGINX_URL="http://127.0.0.1:$port"
                return 0
            fi
            sleep 0.1
            i=$((i + 1))
        done
        [ -n "$NGINX_PID" ] && stop_pid "$NGINX_PID" 2 && NGINX_PID=""
    done
    cat "$TMP/nginx/error.log" >&2 2>/dev/null || true
    die "nginx did not start"
}

# bench NAME DURATION URL SCRIPT WRK_CMD [ARGS...]: runs wrk, keeps its output
# in $TMP/NAME.out and the BENCH line in $TMP/NAME.bench.
bench() {
    local name=$1 dur=$2 url=$3 script=$4 wrk_cmd=$5
    shift 5
    $wrk_cmd -d"$dur" -s "$ROOT/bench/lua/$script" "$url" -- "$@" >"$TMP/$name.out" 2>&1 ||
        { cat "$TMP/$name.out" >&2; die "wrk failed ($name)"; }
    sed -n 's/^BENCH //p' "$TMP/$name.out" >"$TMP/$name.bench"
    [ -s "$TMP/$name.bench" ] || { cat "$TMP/$name.out" >&2; die "no result from wrk ($name)"; }
    say "$name: $(cat "$TMP/$name.bench")"
}

# settle: waits (at most 30 s) until recoupd is idle.
settle() {
    local a b i=0
    a=$(awk '{print $14 + $15}' "/proc/$RECOUPD_PID/stat")
    while [ "$i" -lt 60 ]; do
        sleep 0.5
        b=$(awk '{print $14 + $15}' "/proc/$RECOUPD_PID/stat")
        [ $((b - a)) -lt 5 ] && return 0
        a=$b
        i=$((i + 1))
    done
    say "recoupd still busy after 30 s"
}

field() { tr ' ' '\n' <"$TMP/$1.bench" | sed -n "s/^$2=//p"; }

count_records() {
    sqlite3 "$TMP/data/recoup.db" "SELECT count(*) FROM dsp_records WHERE merchant_id = 'sandbox'" 2>/dev/null
}

CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
NPROC=$(nproc)
RUN_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
STAMP=$(date -u +%Y%m%d-%H%M%S)
KERNEL=$(uname -r)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
WRK_VERSION=$(wrk -v 2>&1 | sed -n 's/^\(wrk [^ ]*\).*/\1/p' | head -1)
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain -- src meson.build 2>/dev/null || true)" ]; then
    COMMIT="$COMMIT (src modified)"
fi
FS_TYPE=$(df -PT "$TMP" | awk 'NR==2 {print $2}')
[ "$FS_TYPE" = tmpfs ] && say "warning: $TMP is on tmpfs, where fsync costs nothing; set TMPDIR to a disk"
say "machine: $NPROC x $CPU_MODEL, load $LOAD_START; data on $FS_TYPE"

# ---- 1. collection: ceiling, then recoupd ----

start_recoupd
code=$(curl -sS -o "$TMP/smoke.json" -w '%{http_code}' -X POST -H "Authorization: Basic $TOKEN" \
    -H 'Content-Type: application/json' \
    -d '{"customer_email":"smoke@example.com","ipv4_address":"127.0.0.1","psp":"stripe","charge_id":"ch_smoke"}' \
    "$API_URL/v1/analytics")
[ "$code" = 200 ] || { cat "$TMP/smoke.json" >&2; die "smoke record answered $code"; }
# The ceiling answers with a body of the size of recoupd's answer.
start_nginx "$(cat "$TMP/smoke.json")"
CEILING_BYTES=$(wc -c <"$TMP/smoke.json")
say "nginx at $NGINX_URL, recoupd at $API_URL (pid $RECOUPD_PID)"

BEFORE=$(count_records)
say "collect: nginx warm-up $WARMUP and $DURATION, then recoupd warm-up $WARMUP and $DURATION"
bench collect-ceiling-warmup "$WARMUP" "$NGINX_URL/v1/analytics" disputes_collect.lua "$WRK" "$TOKEN" cw
bench collect-ceiling "$DURATION" "$NGINX_URL/v1/analytics" disputes_collect.lua "$WRK" "$TOKEN" c
bench collect-warmup "$WARMUP" "$API_URL/v1/analytics" disputes_collect.lua "$WRK" "$TOKEN" w
settle
bench collect "$DURATION" "$API_URL/v1/analytics" disputes_collect.lua "$WRK" "$TOKEN" m
settle
AFTER=$(count_records)
STORED=$((AFTER - BEFORE))
say "records stored by the collection runs: $STORED"

# ---- 2. lookups over RECORDS records ----

stop_recoupd
say "loading $RECORDS records with bench/disputes_load.sql"
LOAD_T0=$(date +%s%3N)
LOADED=$(sqlite3 "$TMP/data/recoup.db" -cmd ".parameter set @n $RECORDS" -cmd ".parameter set @now $LOAD_T0" \
    <"$ROOT/bench/disputes_load.sql" | tail -1)
LOAD_MS=$(($(date +%s%3N) - LOAD_T0))
say "store holds $LOADED sandbox staging records (loaded in $LOAD_MS ms)"
DB_MB=$(du -m "$TMP/data/recoup.db" | cut -f1)
start_recoupd

code=$(curl -sS -o "$TMP/lookup.json" -w '%{http_code}' -X POST -H "Authorization: Basic $TOKEN" \
    -H 'Content-Type: application/json' -d "{\"charge_id\":\"ch_$((RECORDS / 2 + 1))\"}" "$API_URL/v1/evidence")
[ "$code" = 200 ] || { cat "$TMP/lookup.json" >&2; die "lookup answered $code"; }
LOOKUP_BYTES=$(wc -c <"$TMP/lookup.json")
LOOKUP_RECORDS=$(jq '.records | length' "$TMP/lookup.json")
LOOKUP_PRIORS=$(jq '.visa_ce3.prior_transactions | length' "$TMP/lookup.json")
LOOKUP_CONSIDERED=$(jq '.visa_ce3.considered | length' "$TMP/lookup.json")
[ "$LOOKUP_RECORDS" -gt 0 ] || die "the lookup found no records"
stop_pid "$NGINX_PID" 5
start_nginx "$(cat "$TMP/lookup.json")"

WRK1="wrk -t1 -c1 --timeout $TIMEOUT"
say "lookups: one connection, then $CONNS; nginx ceiling for the latter"
bench lookup-warmup "$WARMUP" "$API_URL/v1/evidence" disputes_lookup.lua "$WRK" "$TOKEN" "$RECORDS"
settle
bench lookup1 "$DURATION" "$API_URL/v1/evidence" disputes_lookup.lua "$WRK1" "$TOKEN" "$RECORDS"
bench lookup-ceiling "$DURATION" "$NGINX_URL/v1/evidence" disputes_lookup.lua "$WRK" "$TOKEN" "$RECORDS"
bench lookup "$DURATION" "$API_URL/v1/evidence" disputes_lookup.lua "$WRK" "$TOKEN" "$RECORDS"
settle

# Server-side durations of the lookups (request log, default log level):
# the time inside recoupd, without the client's share of the machine.
server_pct() { # path
    grep "\"path\":\"$1\"" "$TMP/recoupd.log" | sed -n 's/.*"duration_ms":\([0-9.]*\).*/\1/p' | sort -n |
        awk '{a[NR] = $1} END {if (NR) printf "p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms over %d lookups", a[int(NR * 0.5) + 1], a[int(NR * 0.99) + 1], a[int(NR * 0.999) + 1], NR}'
}
LOOKUP_SERVER=$(server_pct /v1/evidence)
say "lookups inside recoupd: $LOOKUP_SERVER"

# ---- 3. the store alone: durable inserts through the store interface ----

STORE_LINE=""
if cc -O2 -D_GNU_SOURCE -I"$ROOT/src" "$ROOT/bench/disputes_store.c" "$ROOT/build/librecoup.a" \
    $(pkg-config --libs sqlite3 libsodium libcjson libmicrohttpd libcurl libpq) -lpthread -lm \
    -o "$TMP/disputes_store" 2>"$TMP/cc.log"; then
    STORE_LINE=$("$TMP/disputes_store" "$TMP/store.db" 32 20000 2>/dev/null | sed -n 's/^STORE //p')
    say "store alone: $STORE_LINE"
else
    say "could not build bench/disputes_store.c: $(head -3 "$TMP/cc.log")"
fi

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - START_S))

ms() { awk -v us="$1" 'BEGIN {printf (us < 10000 ? "%.2f ms" : "%.1f ms"), us / 1000}'; }
rps() { awk -v r="$1" 'BEGIN {printf "%.0f", r}'; }
ratio() { awk -v r="$(field "$1" rps)" -v c="$(field "$2" rps)" 'BEGIN {printf "%.3f", r / c}'; }
errors() {
    local s
    s=$(($(field "$1" connect) + $(field "$1" read) + $(field "$1" write) + $(field "$1" timeout)))
    if [ "$s" -gt 0 ]; then echo "$(field "$1" non2xx) (+$s socket errors or timeouts)"; else field "$1" non2xx; fi
}
verdict_ratio() { # name ceiling min-ratio
    awk -v r="$(field "$1" rps)" -v c="$(field "$2" rps)" -v t="$3" 'BEGIN {
        x = r / c
        if (x >= t) printf ">= %.2f of ceiling: **met** (%.3f)", t, x
        else printf ">= %.2f of ceiling: **missed** (%.3f, %.1fx short)", t, x, t / x }'
}
verdict_p99() { # name max-ms
    awk -v us="$(field "$1" p99_us)" -v t="$2" 'BEGIN {
        m = us / 1000
        if (m <= t) printf "p99 <= %g ms: **met** (%.2f ms)", t, m
        else printf "p99 <= %g ms: **missed** (%.1f ms, %.1fx over)", t, m, m / t }'
}
row() { # name label ceiling-name target-text
    local ceil="-" rat="-"
    if [ -n "$3" ]; then
        ceil="$(rps "$(field "$3" rps)") ($(ms "$(field "$3" p99_us)") p99)"
        rat=$(ratio "$1" "$3")
    fi
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$(rps "$(field "$1" rps)")" \
        "$(ms "$(field "$1" p50_us)")" "$(ms "$(field "$1" p99_us)")" "$(errors "$1")" "$ceil" "$rat" "$4"
}

FAILED=0
for n in collect lookup1 lookup; do
    [ "$(field $n non2xx)" -eq 0 ] || FAILED=1
done

mkdir -p "$ROOT/bench/results"
OUT="$ROOT/bench/results/disputes-$STAMP.md"
{
    echo "### Disputes run, $RUN_DATE"
    echo
    echo "- machine: $NPROC cores (nproc), $CPU_MODEL, Linux $KERNEL; load average $LOAD_START at the start, $LOAD_END at the end"
    echo "- recoupd: \`$RECOUPD\` at commit $COMMIT, release build, default settings${EXTRA_ARGS:+ plus \`$EXTRA_ARGS\`}; SQLite on $FS_TYPE, every write fsync'd before its 200"
    echo "- load generator: $WRK_VERSION, \`wrk -t1 -c$CONNS\` (and \`-c1\` for the single-connection lookup), $DURATION runs after a $WARMUP warm-up, on loopback"
    echo "- ceiling: $NGINX_VERSION, worker_processes 1, access_log off, a fixed 200 answer (a static file, whatever the method) holding recoupd's own answer ($CEILING_BYTES bytes for a record, $LOOKUP_BYTES for a lookup), same wrk settings and Lua script, measured in the same run"
    echo "- collection: every request a new ~520-byte record; $STORED records stored by the warm-up and measured runs"
    echo "- lookups: $LOADED records of one merchant and environment loaded by \`bench/disputes_load.sql\` in $LOAD_MS ms (database $DB_MB MB); each lookup by a charge id spread over all of them; a sample answer lists $LOOKUP_RECORDS records, $LOOKUP_PRIORS qualifying and $LOOKUP_CONSIDERED other priors ($LOOKUP_BYTES bytes)"
    echo
    echo "| run | requests/s | p50 | p99 | non-2xx | ceiling: nginx (requests/s) | ratio | target |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|"
    row collect "POST /v1/analytics, $CONNS connections (durable)" collect-ceiling "$(verdict_ratio collect collect-ceiling 0.25)"
    row lookup1 "POST /v1/evidence, 1 connection" "" "$(verdict_p99 lookup1 5)"
    row lookup "POST /v1/evidence, $CONNS connections" lookup-ceiling "-"
    echo
    echo "Lookups measured inside recoupd (its request log) during the runs above: $LOOKUP_SERVER."
    [ -n "$STORE_LINE" ] && echo "The store alone (\`bench/disputes_store.c\`: 32 threads inserting through the store interface, group commit, fsync, no HTTP): $STORE_LINE."
    echo
    echo "Whole script: ${ELAPSED} s."
} | tee "$OUT"
say "written to ${OUT#"$ROOT"/}"
[ "$FAILED" -eq 0 ] || die "some requests were answered with an error status"
