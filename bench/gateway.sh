#!/bin/bash
# Gateway benchmark: POST /api/payments and filtered GET /api/payments against
# recoupd, with nginx returning a fixed 200 to the same request as the ceiling,
# measured in the same run. Method: docs/benchmarks.md.
#
#   make build && ./bench/gateway.sh
#
# Writes a Markdown table to stdout and to bench/results/gateway-<date>.md;
# progress goes to stderr. Both servers run on free loopback ports from a
# temporary directory and are stopped on exit. Settings (environment):
#   BENCH_DURATION     measured run length, wrk syntax          [10s]
#   BENCH_WARMUP       warm-up run length before each target    [5s]
#   BENCH_CONNECTIONS  wrk connections (one wrk thread)         [64]
#   BENCH_PAYMENTS     payments stored before the list runs     [100000]
#   BENCH_TIMEOUT      wrk --timeout                            [10s]
#   BENCH_RECOUPD_ARGS extra recoupd flags, e.g. --log_level=warn []
#   RECOUPD            the daemon to run                        [build/recoupd]
#   BENCH_KEEP=1       keep the temporary directory (logs, database)
set -eu

cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-5s}
CONNS=${BENCH_CONNECTIONS:-64}
PAYMENTS=${BENCH_PAYMENTS:-100000}
EXTRA_ARGS=${BENCH_RECOUPD_ARGS:-}
RECOUPD=${RECOUPD:-build/recoupd}
TIMEOUT=${BENCH_TIMEOUT:-10s}
# wrk's --timeout only decides which answers count as timeouts instead of
# latency samples; the default (2 s) would hide the latency of a slow query.
WRK="wrk -t1 -c$CONNS --timeout $TIMEOUT"
export BENCH_LUA_DIR="$ROOT/bench/lua"

BENCH_NAME=gateway
. "$ROOT/bench/lib.sh"

# ---- tools: wrk, nginx, curl, jq from Debian, installed when missing ----

need_packages wrk curl jq
bench_find_nginx
[ -x "$RECOUPD" ] || die "$RECOUPD not found: run 'make build' first"

# ---- temporary directory, servers, cleanup ----

TMP=$(mktemp -d "${TMPDIR:-/tmp}/recoup-bench.XXXXXX")
RECOUPD_PID=""
NGINX_PID=""


cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$NGINX_PID" ] && stop_pid "$NGINX_PID" 5
    [ -n "$RECOUPD_PID" ] && stop_pid "$RECOUPD_PID" 10
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

# Run a private copy: build/ may be rebuilt while the benchmark runs.
BUILT=$(date -u -r "$RECOUPD" +%Y-%m-%dT%H:%M:%SZ)
cp "$RECOUPD" "$TMP/recoupd"

start_recoupd() {
    mkdir -p "$TMP/data"
    # shellcheck disable=SC2086
    "$TMP/recoupd" --data_dir="$TMP/data" --payments_port=0 --refunds_port=0 --api_port=0 \
        --admin_port=0 --shutdown_timeout=5 $EXTRA_ARGS >"$TMP/recoupd.log" 2>&1 &
    RECOUPD_PID=$!
    local i=0
    while ! { [ -s "$TMP/data/listeners.json" ] && [ -s "$TMP/data/sandbox.json" ] &&
              jq -e .payments "$TMP/data/listeners.json" >/dev/null 2>&1; }; do
        kill -0 "$RECOUPD_PID" 2>/dev/null || { tail -20 "$TMP/recoupd.log" >&2; die "recoupd exited"; }
        [ "$i" -lt 100 ] || die "recoupd did not write listeners.json within 10 s"
        sleep 0.1
        i=$((i + 1))
    done
    PAY_PORT=$(jq -r .payments "$TMP/data/listeners.json")
    API_KEY=$(jq -r .gateway.api_key "$TMP/data/sandbox.json")
    PAY_URL="http://127.0.0.1:$PAY_PORT"
    ADMIN_PORT=$(jq -r .admin "$TMP/data/listeners.json")
}

# A payment-shaped body of the same size as recoupd's answer to the create.
ceiling_body() {
    local id
    id=$(LC_ALL=C tr -dc '[:upper:]' </dev/urandom | head -c 200 || true)
    printf '{"payment_id":"%s","amount":50.00,"currency":"EUR","payment_method":"credit_card","status":"success","decline_code":null,"decline_message":null,"network_response_code":"00","created_at":"2026-01-01T00:00:00.000Z","settled_at":null,"settled_amount":null,"refunded_amount":0.00,"payment_method_id":null,"additional_params":{"payment":"%s","amount":50.00,"method":"credit_card","number":"424242******4242","brand":"visa","name":"Ana Silva","expiration_month":"05","expiration_year":"2030"}}' "$id" "$id"
}

start_nginx() {
    local body port
    body=$(ceiling_body)
    CEILING_BYTES=${#body}
    mkdir -p "$TMP/nginx"
    for _ in 1 2 3 4 5 6 7 8; do
        # A port no socket listens on, from the range Linux does not hand out
        # as ephemeral ports by default; nginx fails to start if it is taken
        # meanwhile, and the loop tries another.
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
        location / {
            return 200 '$body';
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

# ---- wrk runs ----

# bench NAME DURATION URL SCRIPT [ARGS...]: runs wrk, keeps its output in
# $TMP/NAME.out and the BENCH line (bench/lua/report.lua) in $TMP/NAME.bench.
# The server's CPU time (user + system, clock ticks) over the run is added
# to the BENCH line as cpu_us (microseconds of server CPU per request): it
# varies less with other work on the machine than requests/s does.
bench() {
    local name=$1 dur=$2 url=$3 script=$4 pids t0 t1 hz
    shift 4
    case $url in
        "$NGINX_URL"*) pids="$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')" ;;
        *) pids=$RECOUPD_PID ;;
    esac
    t0=$(cpu_ticks "$pids")
    $WRK -d"$dur" -s "$ROOT/bench/lua/$script" "$url" -- "$@" >"$TMP/$name.out" 2>&1 ||
        { cat "$TMP/$name.out" >&2; die "wrk failed ($name)"; }
    t1=$(cpu_ticks "$pids")
    hz=$(getconf CLK_TCK)
    sed -n 's/^BENCH //p' "$TMP/$name.out" >"$TMP/$name.bench"
    [ -s "$TMP/$name.bench" ] || { cat "$TMP/$name.out" >&2; die "no result from wrk ($name)"; }
    awk -v t="$((t1 - t0))" -v hz="$hz" '{
        for (i = 1; i <= NF; i++) if ($i ~ /^requests=/) n = substr($i, 10)
        printf "%s cpu_us=%.1f\n", $0, (n > 0 ? t * 1e6 / hz / n : 0) }' \
        "$TMP/$name.bench" >"$TMP/$name.bench.new"
    mv "$TMP/$name.bench.new" "$TMP/$name.bench"
    say "$name: $(cat "$TMP/$name.bench")"
}

cpu_ticks() { # pids: their user + system CPU time, in clock ticks
    local p sum=0 t
    for p in $1; do
        t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
        sum=$((sum + t))
    done
    echo "$sum"
}

# settle: waits (at most 20 s) until recoupd is idle, so that requests still
# running after a wrk run (wrk stops waiting, the server does not) do not
# take CPU from the next run.
settle() {
    local a b i=0
    a=$(awk '{print $14 + $15}' "/proc/$RECOUPD_PID/stat")
    while [ "$i" -lt 40 ]; do
        sleep 0.5
        b=$(awk '{print $14 + $15}' "/proc/$RECOUPD_PID/stat")
        [ $((b - a)) -lt 5 ] && return 0
        a=$b
        i=$((i + 1))
    done
    say "recoupd still busy after 20 s; going on"
}

# field NAME KEY: a value from the BENCH line of run NAME.
field() { tr ' ' '\n' <"$TMP/$1.bench" | sed -n "s/^$2=//p"; }

# ---- machine facts ----

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
    COMMIT="$COMMIT, with local changes under src/"
fi
FS_TYPE=$(df -PT "$TMP" | awk 'NR==2 {print $2}')
[ "$FS_TYPE" = tmpfs ] && say "warning: $TMP is on tmpfs, where fsync costs nothing; set TMPDIR to a disk"

say "machine: $NPROC x $CPU_MODEL, load $LOAD_START; data on $FS_TYPE"

# ---- 1. ceiling (first half) ----

start_nginx
start_recoupd
say "nginx at $NGINX_URL (worker_processes 1), recoupd at $PAY_URL (pid $RECOUPD_PID)"

# Smoke test: the key works, a create answers 201, a list answers 200.
code=$(curl -sS -o "$TMP/smoke.json" -w '%{http_code}' -X POST -H "x-api-key: $API_KEY" \
    -H 'Content-Type: application/json' \
    -d '{"amount":10.00,"currency":"EUR","payment_method":"credit_card","additional_params":{"number":"4242424242424242","name":"Smoke Test","expiration_month":"05","expiration_year":"2030","cvv":"321"}}' \
    "$PAY_URL/api/payments")
[ "$code" = 201 ] || { cat "$TMP/smoke.json" >&2; die "smoke create answered $code"; }
SMOKE_ID=$(jq -r .payment_id "$TMP/smoke.json")
code=$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE -H "x-api-key: $API_KEY" "$PAY_URL/api/payments/$SMOKE_ID")
[ "$code" = 200 ] || [ "$code" = 204 ] || say "note: could not delete the smoke-test payment ($code); the store holds one extra payment"

say "nginx warm-up: $WARMUP"
bench ceiling-warmup "$WARMUP" "$NGINX_URL/api/payments" create.lua "$API_KEY"

# ---- 2. store PAYMENTS payments through the API ----

count_payments() { # pages through GET /api/payments, 1000 at a time
    local n=0 cursor="" page c
    while :; do
        page="$PAY_URL/api/payments?limit=1000${cursor:+&cursor=$cursor}"
        cursor=$(curl -fsS -D - -o "$TMP/page.json" -H "x-api-key: $API_KEY" "$page" |
            tr -d '\r' | awk -F': ' 'tolower($1) == "x-next-cursor" {print $2}')
        c=$(jq length "$TMP/page.json")
        n=$((n + c))
        [ -z "$cursor" ] && break
    done
    echo "$n"
}

BEFORE=$(count_payments)
settle
say "loading $PAYMENTS payments (store holds $BEFORE)"
LOAD_T0=$(date +%s%3N)
wrk -t1 -c"$CONNS" -d90s -s "$ROOT/bench/lua/load.lua" "$PAY_URL/api/payments" -- "$API_KEY" "$PAYMENTS" \
    >"$TMP/load.out" 2>&1 || { cat "$TMP/load.out" >&2; die "wrk failed (load)"; }
LOAD_T1=$(date +%s%3N)
LOAD_LINE=$(sed -n 's/^LOAD //p' "$TMP/load.out")
say "load: $LOAD_LINE in $((LOAD_T1 - LOAD_T0)) ms"
settle
STORED=$(count_payments)
STORED=$((STORED - BEFORE))
[ "$STORED" -eq "$PAYMENTS" ] || { cat "$TMP/load.out" >&2; die "stored $STORED payments, wanted $PAYMENTS"; }
LOAD_MS=$((LOAD_T1 - LOAD_T0))
LOAD_RATE=$(awk -v n="$PAYMENTS" -v ms="$LOAD_MS" 'BEGIN {printf "%.0f", n / (ms / 1000)}')
MIX=$(curl -fsS -H "x-api-key: $API_KEY" "$PAY_URL/api/payments?limit=1000" |
    jq -r 'group_by(.payment_method + " " + .status) | map("\(.[0].payment_method) \(.[0].status) \(length / 10)%") | join(", ")')
say "verified $STORED payments through the API; newest 1000: $MIX"

# ---- 3. filtered lists over the stored payments ----

iso_ms() { # epoch milliseconds -> ISO-8601 UTC with milliseconds
    printf '%s.%03dZ' "$(date -u -d "@$(($1 / 1000))" +%Y-%m-%dT%H:%M:%S)" $(($1 % 1000))
}
SPAN=$((LOAD_T1 - LOAD_T0))
RANGE_GTE=$(iso_ms $((LOAD_T0 + SPAN / 4)))
RANGE_LTE=$(iso_ms $((LOAD_T0 + 3 * SPAN / 4)))
Q_FILTER="status=success&payment_method=credit_card&amount_gte=10.00"
Q_RANGE="status=success&payment_method=credit_card&amount_gte=10.00&created_at_gte=$RANGE_GTE&created_at_lte=$RANGE_LTE"
for q in "$Q_FILTER" "$Q_RANGE"; do
    code=$(curl -sS -o "$TMP/list.json" -w '%{http_code}' -H "x-api-key: $API_KEY" "$PAY_URL/api/payments?$q")
    [ "$code" = 200 ] || { cat "$TMP/list.json" >&2; die "list answered $code for $q"; }
done
LIST_ROWS=$(jq length "$TMP/list.json")
LIST_BYTES=$(wc -c <"$TMP/list.json")

# pair NAME SCRIPT ARGS...: the ceiling (nginx, same script and arguments),
# then recoupd: warm-up and measured run. Each ratio is against the ceiling
# measured just before it, so that a change in the machine's speed between
# the pairs (other work on the host) cancels out as far as it can.
pair() {
    local name=$1 script=$2
    shift 2
    say "$name: nginx $DURATION, then recoupd warm-up $WARMUP and $DURATION"
    bench "$name-ceiling" "$DURATION" "$NGINX_URL/api/payments" "$script" "$@"
    bench "$name-warmup" "$WARMUP" "$PAY_URL/api/payments" "$script" "$@"
    bench "$name" "$DURATION" "$PAY_URL/api/payments" "$script" "$@"
    settle
}

pair list list.lua "$API_KEY" "$Q_FILTER"
pair range list.lua "$API_KEY" "$Q_RANGE"

# ---- 4. durable create (after the list runs, which see exactly PAYMENTS) ----

commit_counters() { # "commits writes" from the admin listener's metrics
    curl -fsS "http://127.0.0.1:$ADMIN_PORT/metrics" 2>/dev/null | awk '
        $1 == "recoup_store_commits_total" {c = $2}
        $1 == "recoup_store_committed_writes_total" {w = $2}
        END {print c + 0, w + 0}'
}
C0=$(commit_counters)
pair create create.lua "$API_KEY"
C1=$(commit_counters)
PER_COMMIT=$(echo "$C0 $C1" | awk '{d = $3 - $1; printf (d > 0 ? "%.2f" : "n/a"), (d > 0 ? ($4 - $2) / d : 0)}')
say "create: $PER_COMMIT writes per group commit"

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - START_S))

# ---- results ----

ms() { awk -v us="$1" 'BEGIN {printf (us < 10000 ? "%.2f ms" : "%.1f ms"), us / 1000}'; }
rps() { awk -v r="$1" 'BEGIN {printf "%.0f", r}'; }
ratio() { awk -v r="$(field "$1" rps)" -v c="$(field "$1-ceiling" rps)" 'BEGIN {printf "%.3f", r / c}'; }
errors() { # non-2xx, then socket errors when there are any
    local s
    s=$(($(field "$1" connect) + $(field "$1" read) + $(field "$1" write) + $(field "$1" timeout)))
    if [ "$s" -gt 0 ]; then echo "$(field "$1" non2xx) (+$s socket errors or timeouts)"; else field "$1" non2xx; fi
}
row() { # name label target-text
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$(rps "$(field "$1" rps)")" \
        "$(ms "$(field "$1" p50_us)")" "$(ms "$(field "$1" p99_us)")" "$(errors "$1")" \
        "$(rps "$(field "$1-ceiling" rps)") ($(ms "$(field "$1-ceiling" p99_us)") p99)" "$(ratio "$1")" \
        "$(rps "$(field "$1" cpu_us)") / $(awk -v x="$(field "$1-ceiling" cpu_us)" 'BEGIN {printf "%.1f", x}')" "$3"
}
verdict_ratio() { # name min-ratio
    awk -v r="$(field "$1" rps)" -v c="$(field "$1-ceiling" rps)" -v t="$2" 'BEGIN {
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

FAILED=0
for n in list range create; do
    [ "$(field $n non2xx)" -eq 0 ] || FAILED=1
done

WRK_CMD="$WRK -d$DURATION"
mkdir -p "$ROOT/bench/results"
OUT="$ROOT/bench/results/gateway-$STAMP.md"
{
    echo "## Gateway benchmark, $RUN_DATE"
    echo
    echo "- machine: $NPROC cores (nproc), $CPU_MODEL, Linux $KERNEL; load average $LOAD_START at the start, $LOAD_END at the end"
    echo "- recoupd: \`$RECOUPD\` built $BUILT (HEAD $COMMIT at run time), release build, default settings${EXTRA_ARGS:+ plus \`$EXTRA_ARGS\`}; SQLite on $FS_TYPE, every write fsync'd"
    echo "- load generator: $WRK_VERSION, \`$WRK_CMD\` after a $WARMUP warm-up of the same request, on loopback"
    echo "- ceiling: $NGINX_VERSION, worker_processes 1, access_log off, \`return 200\` with a fixed $CEILING_BYTES-byte payment-shaped JSON body, for any method and path; measured with the same wrk settings, Lua script and arguments just before each recoupd run, and each ratio is against that run"
    echo "- list runs over $STORED payments stored through the API in $LOAD_MS ms ($LOAD_RATE/s, 64 connections); newest 1000: $MIX; a list answer is $LIST_ROWS rows, $LIST_BYTES bytes"
    echo
    echo "| run | requests/s | p50 | p99 | non-2xx | ceiling: nginx, same request (requests/s) | ratio to ceiling | server CPU per request, us (recoupd / nginx) | target |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
    row create "POST /api/payments (durable)" "$(verdict_ratio create 0.20)"
    row list "GET /api/payments, 3 filters" "$(verdict_p99 list 5)"
    row range "GET /api/payments, 3 filters + created_at range" "$(verdict_p99 range 5)"
    echo
    echo "During the create warm-up and run, a group commit held $PER_COMMIT writes on average (recoupd's recoup_store_committed_writes_total / recoup_store_commits_total)."
    echo
    echo "Commands (URL ports are the free ones picked for this run; KEY is the sandbox key):"
    echo
    echo '```sh'
    echo "# each ceiling: the same command with the nginx URL, $NGINX_URL/api/payments"
    echo "$WRK_CMD -s bench/lua/create.lua $PAY_URL/api/payments -- KEY"
    echo "wrk -t1 -c$CONNS -d90s -s bench/lua/load.lua $PAY_URL/api/payments -- KEY $PAYMENTS    # load, stops at $PAYMENTS"
    echo "$WRK_CMD -s bench/lua/list.lua $PAY_URL/api/payments -- KEY '$Q_FILTER'"
    echo "$WRK_CMD -s bench/lua/list.lua $PAY_URL/api/payments -- KEY '$Q_RANGE'"
    echo '```'
    echo
    echo "Whole script: ${ELAPSED} s. non-2xx is wrk's count of answers with status >= 400; socket errors and timeouts (no answer within $TIMEOUT), when any, are shown in brackets."
} | tee "$OUT"
say "written to ${OUT#"$ROOT"/}"
[ "$FAILED" -eq 0 ] || die "some requests were answered with an error status"
