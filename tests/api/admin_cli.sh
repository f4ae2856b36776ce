#!/usr/bin/env bash
# recoupctl against a running recoupd (every command, its output and exit
# code: 0 on success, non-zero on a 4xx, 3 when recoupd cannot be reached),
# the admin listener's own errors, and recoupd's settings: --help, unknown
# flags, the loopback-only admin address, and where settings come from
# (flag over environment over configuration file). Prints TAP.
set -u

RECOUPD=${RECOUPD:-./build/recoupd}
RECOUPCTL=${RECOUPCTL:-./build/recoupctl}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/recoup-admin-XXXXXX")
OUT="$WORK/out"
ERR="$WORK/err"
SERVER=

cleanup() {
    if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
        kill -KILL "$SERVER" 2>/dev/null
        wait "$SERVER" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

. "$(dirname "$0")/tap.sh"

# ctl ARGS...: recoupctl against the test server; exit status in RC.
ctl() {
    "$RECOUPCTL" --admin "http://127.0.0.1:$ADMIN" "$@" >"$OUT" 2>"$ERR"
    RC=$?
}

# start_server DATA_DIR [ARGS...]: starts recoupd (all ports free-picked
# unless ARGS say otherwise) and waits for its listeners file. Returns
# non-zero when it exits during start-up.
start_server() {
    local dir=$1
    shift
    rm -f "$dir/listeners.json"
    "$RECOUPD" --data_dir="$dir" --payments_port=0 --refunds_port=0 --api_port=0 --admin_port=0 \
        --http_threads=4 "$@" >/dev/null 2>"$WORK/server.log" &
    SERVER=$!
    for _ in $(seq 1 200); do
        [ -s "$dir/listeners.json" ] && return 0
        if ! kill -0 "$SERVER" 2>/dev/null; then
            wait "$SERVER" 2>/dev/null
            SERVER=
            return 1
        fi
        sleep 0.1
    done
    return 1
}

# stop_server: SIGTERM; succeeds when recoupd exits 0.
stop_server() {
    kill -TERM "$SERVER"
    wait "$SERVER"
    local rc=$?
    SERVER=
    if [ "$rc" != 0 ]; then
        echo "#   recoupd exited $rc"
        tail -c 3000 "$WORK/server.log" | sed 's/^/#   /'
    fi
    return "$rc"
}

# gw KEY PATH: GET on the payments listener with that key; status in STATUS.
gw() {
    STATUS=$(curl -s -o "$OUT" -w '%{http_code}' --max-time 30 -H "x-api-key: $1" "http://127.0.0.1:$PAY$2")
}

# admin_http METHOD PATH [BODY]: a raw request to the admin listener.
admin_http() {
    if [ $# -ge 3 ]; then
        STATUS=$(curl -s -D "$ERR" -o "$OUT" -w '%{http_code}' --max-time 30 -X "$1" \
            -H 'Content-Type: application/json' -d "$3" "http://127.0.0.1:$ADMIN$2")
    else
        STATUS=$(curl -s -D "$ERR" -o "$OUT" -w '%{http_code}' --max-time 30 -X "$1" "http://127.0.0.1:$ADMIN$2")
    fi
}

# A loopback port nothing listens on right now.
free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

DATA="$WORK/data"
if ! start_server "$DATA"; then
    echo "Bail out! recoupd did not start: $(tail -c 2000 "$WORK/server.log")"
    exit 1
fi
ADMIN=$(jq -r .admin "$DATA/listeners.json")
PAY=$(jq -r .payments "$DATA/listeners.json")
SANDBOX_KEY=$(jq -r .gateway.api_key "$DATA/sandbox.json")

# ---- recoupctl ----

ctl health
check "health: exit 0, status ok" eval '[ $RC = 0 ] && jq_is ".status == \"ok\""'

ctl ready
check "ready: exit 0, ready, store up" eval '[ $RC = 0 ] && jq_is ".status == \"ready\" and .store == true and .shutting_down == false"'

gw "$SANDBOX_KEY" /api/payments
ctl metrics
check "metrics: exit 0, Prometheus text with the requests served" \
    eval '[ $RC = 0 ] && grep -q "^recoup_http_requests_total{listener=\"payments\",code=\"200\"} [1-9]" "$OUT"'

ctl settle
check "settle with nothing to settle: exit 0, settled 0" \
    eval '[ $RC = 0 ] && jq_is ".settled == 0 and (.batch_at | test(\"Z$\"))"'

ctl merchants list
check "merchants list: exit 0, the sandbox merchant" \
    eval '[ $RC = 0 ] && jq_is "type == \"array\" and any(.[]; .merchant_id == \"sandbox\")"'

ctl merchants create acme "Acme Ltd"
check "merchants create: exit 0, the merchant" \
    eval '[ $RC = 0 ] && jq_is ".merchant_id == \"acme\" and .name == \"Acme Ltd\" and (.created_at | type == \"string\")"'

ctl merchants create acme "Acme again"
check "merchants create of an existing id: non-zero exit, 409 said on stderr" \
    eval '[ $RC != 0 ] && [ $RC != 3 ] && grep -q 409 "$ERR"'

ctl merchants create "Not Valid!" "Bad"
check "merchants create with a bad id: non-zero exit, the field named" \
    eval '[ $RC != 0 ] && [ $RC != 3 ] && jq_is "any(.errors[]; .field == \"merchant_id\")"'

ctl merchants show acme
check "merchants show: exit 0" eval '[ $RC = 0 ] && jq_is ".merchant_id == \"acme\" and .name == \"Acme Ltd\""'

ctl merchants show nobody
check "merchants show of an unknown id: non-zero exit, 404" eval '[ $RC != 0 ] && [ $RC != 3 ] && grep -q 404 "$ERR"'

# recoupd is reachable: an id no merchant can have is a 4xx (exit 1), not
# the exit code of an unreachable recoupd.
ctl merchants show "no such merchant"
check "merchants show of an id with spaces: non-zero exit, not 3" eval '[ $RC != 0 ] && [ $RC != 3 ]'

ctl merchants list
check "merchants list: both merchants" \
    eval '[ $RC = 0 ] && jq_is "([.[].merchant_id] | sort) == [\"acme\", \"sandbox\"]"'

ctl keys create acme gateway sandbox checkout
check "keys create: exit 0, the key shown once" \
    eval '[ $RC = 0 ] && jq_is "(.api_key | length > 20) and .merchant_id == \"acme\" and .service == \"gateway\" and .env == \"sandbox\" and .label == \"checkout\" and .revoked_at == null"'
ACME_KEY=$(jq -r .api_key "$OUT")
ACME_KEY_ID=$(jq -r .key_id "$OUT")

gw "$ACME_KEY" /api/payments
check "the new key works on the gateway, and sees none of the sandbox's payments" \
    eval '[ "$STATUS" = 200 ] && jq_is ". == []"'

ctl keys list acme
check "keys list: the key, without its secret" \
    eval '[ $RC = 0 ] && jq_is "length == 1 and .[0].key_id == \"$ACME_KEY_ID\" and .[0].revoked_at == null" && ! grep -q "$ACME_KEY" "$OUT"'

ctl keys create acme payroll sandbox
check "keys create for an unknown service: non-zero exit, the field named" \
    eval '[ $RC != 0 ] && [ $RC != 3 ] && jq_is "any(.errors[]; .field == \"service\")"'

ctl keys create nobody gateway sandbox
check "keys create for an unknown merchant: non-zero exit, 404" eval '[ $RC != 0 ] && [ $RC != 3 ] && grep -q 404 "$ERR"'

ctl keys revoke acme "$ACME_KEY_ID"
check "keys revoke: exit 0" eval '[ $RC = 0 ]'

gw "$ACME_KEY" /api/payments
check "a revoked key gets 401" eval '[ "$STATUS" = 401 ] && jq_is ".message == \"Missing or invalid API key\""'

ctl keys list acme
check "keys list shows the revocation" eval '[ $RC = 0 ] && jq_is ".[0].revoked_at | type == \"string\""'

ctl keys revoke acme "$ACME_KEY_ID"
check "revoking it again: non-zero exit, 404" eval '[ $RC != 0 ] && [ $RC != 3 ] && grep -q 404 "$ERR"'

ctl keys revoke sandbox "$ACME_KEY_ID"
check "revoking another merchant's key: non-zero exit" eval '[ $RC != 0 ] && [ $RC != 3 ]'

ctl keys create acme recover sandbox
check "keys create for recover: exit 0" eval '[ $RC = 0 ] && jq_is ".service == \"recover\""'
RECOVER_KEY=$(jq -r .api_key "$OUT")
gw "$RECOVER_KEY" /api/payments
check "a recover key is refused by the gateway" eval '[ "$STATUS" = 401 ]'

ctl gateway-keys create --merchant acme --label second
check "gateway-keys create: exit 0" eval '[ $RC = 0 ] && jq_is ".service == \"gateway\" and .env == \"sandbox\" and .label == \"second\""'
SECOND_KEY=$(jq -r .api_key "$OUT")
gw "$SECOND_KEY" /api/payments
check "that key works" eval '[ "$STATUS" = 200 ]'
gw "$SANDBOX_KEY" /api/payments
check "the sandbox key still works" eval '[ "$STATUS" = 200 ]'

ctl clock
check "clock: exit 0, a real clock" eval '[ $RC = 0 ] && jq_is ".virtual == false and (.now | type == \"string\")"'

ctl clock advance 60
check "clock advance on a real clock: non-zero exit, 409" eval '[ $RC != 0 ] && [ $RC != 3 ] && grep -q 409 "$ERR"'

"$RECOUPCTL" >"$OUT" 2>"$ERR"
RC=$?
check "no command: exit 2 with the usage" eval '[ $RC = 2 ] && grep -q "usage: recoupctl" "$ERR"'

ctl frobnicate
check "an unknown command: exit 2" eval '[ $RC = 2 ] && grep -q "usage: recoupctl" "$ERR"'

ctl merchants create only-an-id
check "a command with missing arguments: exit 2" eval '[ $RC = 2 ]'

"$RECOUPCTL" --help >"$OUT" 2>"$ERR"
RC=$?
check "--help: exit 0, usage on stdout" eval '[ $RC = 0 ] && grep -q "keys revoke MERCHANT KEY_ID" "$OUT"'

RECOUP_ADMIN_URL="http://127.0.0.1:$ADMIN" "$RECOUPCTL" health >"$OUT" 2>"$ERR"
RC=$?
check "RECOUP_ADMIN_URL is used without --admin" eval '[ $RC = 0 ] && jq_is ".status == \"ok\""'

"$RECOUPCTL" --admin "http://127.0.0.1:1" health >"$OUT" 2>"$ERR"
RC=$?
check "recoupd unreachable: exit 3 with a message" eval '[ $RC = 3 ] && grep -q "cannot reach recoupd" "$ERR"'

"$RECOUPCTL" --admin "http://127.0.0.1:1" settle >"$OUT" 2>"$ERR"
RC=$?
check "settle with recoupd unreachable: exit 3" eval '[ $RC = 3 ]'

# ---- the admin listener's own answers ----

admin_http GET /admin/nothing-here
check "admin: unknown path 404 with a message" eval '[ "$STATUS" = 404 ] && jq_is ".message == \"Not found\""'

admin_http PUT /admin/merchants '{}'
check "admin: wrong method 405 with Allow" \
    eval '[ "$STATUS" = 405 ] && jq_is ".message == \"Method not allowed\"" && grep -qi "^Allow: .*GET" "$ERR" && grep -qi "^Allow: .*POST" "$ERR"'

admin_http DELETE /healthz
check "admin: DELETE /healthz is 405" eval '[ "$STATUS" = 405 ]'

admin_http POST /admin/merchants '{"merchant_id":"x1","name":"X","extra":1}'
check "admin: unknown field 400 naming it" eval '[ "$STATUS" = 400 ] && jq_is "any(.errors[]; .field == \"extra\")"'

admin_http POST /admin/merchants '{"merchant_id":'
check "admin: malformed JSON 400" eval '[ "$STATUS" = 400 ]'

STATUS=$(curl -s -o "$OUT" -w '%{http_code}' --max-time 30 -X POST -H 'Content-Type: text/plain' \
    -d '{"merchant_id":"x2","name":"X"}' "http://127.0.0.1:$ADMIN/admin/merchants")
check "admin: wrong Content-Type 415" eval '[ "$STATUS" = 415 ]'

admin_http GET /admin/merchants/nobody/keys
check "admin: keys of an unknown merchant" eval '[ "$STATUS" = 404 ] || { [ "$STATUS" = 200 ] && jq_is ". == []"; }'

admin_http GET /readyz
check "admin: /readyz 200 while serving" eval '[ "$STATUS" = 200 ]'

check "recoupd exits 0 on SIGTERM" stop_server

# ---- recoupd's settings ----

"$RECOUPD" --help >"$OUT" 2>"$ERR"
RC=$?
check "recoupd --help exits 0" eval '[ $RC = 0 ]'

# Every setting the help lists carries its environment name, and the
# settings the gateway depends on are all there.
help_ok=1
names=$(grep -oE '^  --[a-z0-9_]+' "$OUT" | sed 's/^  --//')
for name in $names; do
    env_name="RECOUP_$(echo "$name" | tr '[:lower:]' '[:upper:]')"
    grep -A1 -E "^  --$name " "$OUT" | grep -q "env $env_name\$" || { help_ok=0; echo "#   $name has no $env_name"; }
done
for want in config data_dir listen_address payments_port refunds_port api_port admin_address admin_port \
    http_threads max_connections max_body_bytes max_url_bytes max_header_bytes idle_timeout shutdown_timeout \
    log_level settlement_interval fee_fixed fee_bps idempotency_ttl clock sandbox; do
    echo "$names" | grep -qx "$want" || { help_ok=0; echo "#   --help does not list $want"; }
done
check "--help lists every setting with its RECOUP_ environment name" [ "$help_ok" = 1 ]

"$RECOUPD" --data_dir="$WORK/never" --no_such_setting=1 >"$OUT" 2>"$ERR"
RC=$?
check "an unknown flag: exit 2 naming it" eval '[ $RC = 2 ] && grep -q "no_such_setting" "$ERR"'

"$RECOUPD" --data_dir="$WORK/never" stray-argument >"$OUT" 2>"$ERR"
RC=$?
check "a stray argument: exit 2" eval '[ $RC = 2 ] && grep -q "stray-argument" "$ERR"'

"$RECOUPD" --data_dir="$WORK/never" --payments_port=0 --refunds_port=0 --api_port=0 --admin_port=0 \
    --admin_address=0.0.0.0 >"$OUT" 2>"$ERR" &
bad=$!
for _ in $(seq 1 100); do kill -0 "$bad" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$bad" 2>/dev/null; then
    kill -KILL "$bad"
    wait "$bad"
    RC=running
else
    wait "$bad"
    RC=$?
fi
check "--admin_address=0.0.0.0 is refused" \
    eval '[ "$RC" != running ] && [ "$RC" != 0 ] && grep -q "admin_address" "$ERR" && [ ! -e "$WORK/never/listeners.json" ]'

"$RECOUPD" --data_dir="$WORK/never" --payments_port=0 --refunds_port=0 --api_port=0 --admin_port=0 \
    --http_threads=many >"$OUT" 2>"$ERR"
RC=$?
check "a malformed number is refused naming the setting" eval '[ "$RC" != 0 ] && grep -q "http_threads" "$ERR"'

# Where a setting comes from: flag > environment > file. Ports are chosen
# below the kernel's ephemeral range, so that the free-picked ports of tests
# running alongside rarely take them; a start that still finds its port
# taken is retried with new ones.
CONF="$WORK/recoup.conf"

# run_conf HOW: starts recoupd with the configuration file, plus per HOW
# (file, env, flag, config_env) an environment variable and a flag. Sets
# WANT (the payments port that should win) and GOT (the one bound).
run_conf() {
    local how=$1 attempt
    GOT=
    for attempt in 1 2 3; do
        P_FILE=$(free_port)
        P_ENV=$(free_port)
        P_FLAG=$(free_port)
        cat >"$CONF" <<EOF
# recoupd settings for the test
data_dir = "$WORK/fromfile"
payments_port = $P_FILE
refunds_port = 0

api_port=0
admin_port = 0
EOF
        rm -f "$WORK/fromfile/listeners.json"
        case $how in
        file)
            WANT=$P_FILE
            "$RECOUPD" --config="$CONF" --http_threads=2 >/dev/null 2>"$WORK/server.log" &
            ;;
        env)
            WANT=$P_ENV
            RECOUP_PAYMENTS_PORT=$P_ENV "$RECOUPD" --config="$CONF" --http_threads=2 \
                >/dev/null 2>"$WORK/server.log" &
            ;;
        flag)
            WANT=$P_FLAG
            RECOUP_PAYMENTS_PORT=$P_ENV "$RECOUPD" --config="$CONF" --http_threads=2 --payments_port="$P_FLAG" \
                >/dev/null 2>"$WORK/server.log" &
            ;;
        config_env)
            WANT=$P_FILE
            RECOUP_CONFIG="$CONF" "$RECOUPD" --http_threads=2 >/dev/null 2>"$WORK/server.log" &
            ;;
        esac
        SERVER=$!
        for _ in $(seq 1 200); do
            [ -s "$WORK/fromfile/listeners.json" ] && break
            kill -0 "$SERVER" 2>/dev/null || break
            sleep 0.1
        done
        if [ -s "$WORK/fromfile/listeners.json" ]; then
            GOT=$(jq -r .payments "$WORK/fromfile/listeners.json")
            return 0
        fi
        wait "$SERVER" 2>/dev/null
        SERVER=
        grep -q "in use" "$WORK/server.log" || break
    done
    echo "#   recoupd did not start: $(tail -c 600 "$WORK/server.log")"
    return 1
}

run_conf file
check "the configuration file is read (data_dir and payments_port from it)" eval '[ "$GOT" = "$WANT" ]'
check "recoupd with a configuration file exits 0 on SIGTERM" eval '[ -n "$SERVER" ] && stop_server'

run_conf env
check "RECOUP_PAYMENTS_PORT beats the file" eval '[ "$GOT" = "$WANT" ]'
check "recoupd exits 0 on SIGTERM" eval '[ -n "$SERVER" ] && stop_server'

run_conf flag
check "--payments_port beats RECOUP_PAYMENTS_PORT" eval '[ "$GOT" = "$WANT" ]'
check "recoupd exits 0 on SIGTERM" eval '[ -n "$SERVER" ] && stop_server'

run_conf config_env
check "RECOUP_CONFIG names the configuration file" eval '[ "$GOT" = "$WANT" ]'
check "recoupd exits 0 on SIGTERM" eval '[ -n "$SERVER" ] && stop_server'

printf 'payments_port = 0\nno_such_setting = 1\n' >"$WORK/bad.conf"
"$RECOUPD" --config="$WORK/bad.conf" --data_dir="$WORK/never" >"$OUT" 2>"$ERR"
RC=$?
check "an unknown setting in the file: exit 2 naming the file and line" \
    eval '[ $RC = 2 ] && grep -q "bad.conf:2" "$ERR" && grep -q "no_such_setting" "$ERR"'

printf 'payments_port 0\n' >"$WORK/bad2.conf"
"$RECOUPD" --config="$WORK/bad2.conf" --data_dir="$WORK/never" >"$OUT" 2>"$ERR"
RC=$?
check "a line without '=': exit 2" eval '[ $RC = 2 ] && grep -q "bad2.conf:1" "$ERR"'

"$RECOUPD" --config="$WORK/missing.conf" --data_dir="$WORK/never" >"$OUT" 2>"$ERR"
RC=$?
check "a missing configuration file named explicitly: exit 2" eval '[ $RC = 2 ] && grep -q "missing.conf" "$ERR"'

tap_end
