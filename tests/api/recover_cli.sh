#!/usr/bin/env bash
# recoupctl recover show|set|webhook-secret|invoice against a running
# recoupd: output, exit codes (0 on success, 1 on a 4xx, 2 on a usage
# error), and that what the commands change is what the admin API then
# shows. Prints TAP.
set -u

RECOUPD=${RECOUPD:-./build/recoupd}
RECOUPCTL=${RECOUPCTL:-./build/recoupctl}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/recoup-rccli-XXXXXX")
DATA="$WORK/data"
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

# post_event INVOICE TXN SUCCESS RAW: POST /recover/payments with the
# sandbox key; status in STATUS.
post_event() {
    local body
    body=$(printf '{"customer":{"id":"cus_cli"},"subscription":{"id":"sub_cli","start_date":"2024-01-01T00:00:00Z"},'`
        `'"invoice":{"id":"%s","created_at":"2024-03-01T00:00:00Z"},"transactions":[{"id":"%s",'`
        `'"psp_transaction_id":"ch_%s","psp":"stripe","acquirer_country":"US","amount":12.23,"currency":"USD",'`
        `'"funding_source":"credit","outcome":{"raw_response_message":"%s"},"payment_method_id":"pm_cli",'`
        `'"psp_transaction_created_at":"2024-03-01T10:00:00Z","scheme":"visa","success":%s}]}' \
        "$1" "$2" "$2" "$4" "$3")
    STATUS=$(curl -s -o "$OUT" -w '%{http_code}' --max-time 30 -H "x-api-key: $KEY" \
        -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$API/recover/payments")
}

# wait_invoice MERCHANT INVOICE FILTER [ENV]: runs "recover invoice" until
# the filter holds, for up to about 5 s.
wait_invoice() {
    local i
    for i in $(seq 1 50); do
        if [ $# -ge 4 ]; then ctl recover invoice "$1" "$2" --env "$4"; else ctl recover invoice "$1" "$2"; fi
        [ "$RC" = 0 ] && jq_is "$3" && return 0
        sleep 0.1
    done
    return 1
}

mkdir -p "$DATA"
# On a virtual clock a few days after the fixtures' failures (early March
# 2024), so that their invoices are still in dunning.
"$RECOUPD" --data_dir="$DATA" --payments_port=0 --refunds_port=0 --api_port=0 --admin_port=0 --http_threads=4 \
    --clock=virtual --clock_start=2024-03-10T00:00:00Z \
    >/dev/null 2>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 1 200); do
    [ -s "$DATA/listeners.json" ] && [ -s "$DATA/sandbox.json" ] && break
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 0.1
done
if [ ! -s "$DATA/listeners.json" ]; then
    echo "Bail out! recoupd did not start: $(tail -c 2000 "$WORK/server.log")"
    exit 1
fi
ADMIN=$(jq -r .admin "$DATA/listeners.json")
API=$(jq -r .api "$DATA/listeners.json")
KEY=$(jq -r .recover.api_key "$DATA/sandbox.json")
PROD_KEY=$(jq -r .recover.production_api_key "$DATA/sandbox.json")
BOOT_SECRET=$(jq -r .recover.webhook_signing_secret "$DATA/sandbox.json")

ctl recover show sandbox
check "show: exit 0, the defaults" \
    eval '[ $RC = 0 ] && jq_is ".merchant_id == \"sandbox\" and .dunning_days == 30 and .max_retries == 8 and .timezone == \"UTC\" and .integration == \"psp\" and .merchant_auth.type == \"none\" and .webhook_signing_secret_set == true"'
check "show: the bootstrap's webhook secret is not shown" eval '! grep -q "$BOOT_SECRET" "$OUT"'

ctl recover set sandbox dunning_days=45 timezone=Europe/Lisbon
check "set: exit 0, the new values" \
    eval '[ $RC = 0 ] && jq_is ".dunning_days == 45 and .timezone == \"Europe/Lisbon\" and .max_retries == 8"'

ctl recover set sandbox max_retries=5 end_of_dunning_url=https://merchant.example/eod end_of_dunning_enabled=true
check "set: numbers, URLs and booleans" \
    eval '[ $RC = 0 ] && jq_is ".max_retries == 5 and .end_of_dunning_url == \"https://merchant.example/eod\" and .end_of_dunning_enabled == true and .dunning_days == 45"'

ctl recover show sandbox
check "show: the changes are kept" \
    eval '[ $RC = 0 ] && jq_is ".dunning_days == 45 and .max_retries == 5 and .timezone == \"Europe/Lisbon\" and .end_of_dunning_enabled == true"'

ctl recover set sandbox dunning_days=0
check "set with a value out of range: exit 1, the field named" \
    eval '[ $RC = 1 ] && jq_is "any(.errors[]; .field == \"dunning_days\")"'

ctl recover set sandbox timezone=Nowhere/Land max_retries=101
check "set with two bad values: both named" \
    eval '[ $RC = 1 ] && jq_is "any(.errors[]; .field == \"timezone\") and any(.errors[]; .field == \"max_retries\")"'

ctl recover set sandbox merchant_auth=basic
check "set basic without credentials: exit 1" eval '[ $RC = 1 ] && jq_is "any(.errors[]; .field == \"merchant_auth\")"'

ctl recover set sandbox merchant_auth=basic merchant_auth_username=recoup merchant_auth_secret=Cli-s3cret-pw
check "set basic with credentials: exit 0, the secret not shown" \
    eval '[ $RC = 0 ] && jq_is ".merchant_auth.type == \"basic\" and .merchant_auth.username == \"recoup\" and .merchant_auth.secret_set == true" && ! grep -q "Cli-s3cret-pw" "$OUT"'

ctl recover set sandbox end_of_dunning_url=null
check "set NAME=null clears, and the cross-field rule applies" \
    eval '[ $RC = 1 ] && jq_is "any(.errors[]; .field == \"end_of_dunning_enabled\")"'

ctl recover set sandbox end_of_dunning_enabled=false end_of_dunning_url=null
check "set NAME=null with the rule met: exit 0" \
    eval '[ $RC = 0 ] && jq_is ".end_of_dunning_url == null and .end_of_dunning_enabled == false"'

ctl recover set sandbox nonsense=1
check "set an unknown setting: exit 1, named" eval '[ $RC = 1 ] && jq_is "any(.errors[]; .field == \"nonsense\")"'

ctl recover set sandbox dunning_days
check "set without NAME=VALUE: usage error, exit 2" eval '[ $RC = 2 ]'

ctl recover set sandbox
check "set without settings: usage error, exit 2" eval '[ $RC = 2 ]'

ctl recover show nobody
check "show an unknown merchant: exit 1, 404" eval '[ $RC = 1 ] && grep -q 404 "$ERR"'

ctl recover webhook-secret sandbox
check "webhook-secret: exit 0, a new 64-hex secret" \
    eval '[ $RC = 0 ] && jq_is "(.webhook_signing_secret | test(\"^[0-9a-f]{64}$\")) and .merchant_id == \"sandbox\""'
SECRET=$(jq -r .webhook_signing_secret "$OUT")
check "webhook-secret: not the bootstrap's" eval '[ "$SECRET" != "$BOOT_SECRET" ]'

ctl recover webhook-secret sandbox
check "webhook-secret again: another secret" \
    eval '[ $RC = 0 ] && [ "$(jq -r .webhook_signing_secret "$OUT")" != "$SECRET" ]'
SECRET2=$(jq -r .webhook_signing_secret "$OUT")

ctl recover show sandbox
check "show after rotation: set, never shown" \
    eval '[ $RC = 0 ] && jq_is ".webhook_signing_secret_set == true and .dunning_days == 45" && ! grep -q "$SECRET2" "$OUT" && ! grep -q "$SECRET" "$OUT"'

ctl recover webhook-secret nobody
check "webhook-secret for an unknown merchant: exit 1" eval '[ $RC = 1 ] && grep -q 404 "$ERR"'

post_event cli-inv-1 cli-t1 false expired_card
check "an event through the API: 200" eval '[ "$STATUS" = 200 ]'
check "invoice: the event applied, awaiting a payment method" \
    wait_invoice sandbox cli-inv-1 '.invoice_id == "cli-inv-1" and .state == "awaiting_payment_method" and .failed_attempts == 1 and (.transactions | length) == 1'
check "invoice: transactions and history" \
    jq_is '.transactions[0].transaction_id == "cli-t1" and .history[0].to == "awaiting_payment_method" and .environment == "sandbox"'

ctl recover invoice sandbox cli-inv-1 --env sandbox
check "invoice --env sandbox: exit 0" eval '[ $RC = 0 ] && jq_is ".invoice_id == \"cli-inv-1\""'

ctl recover invoice sandbox cli-inv-1 --env production
check "invoice --env production: not there, exit 1" eval '[ $RC = 1 ] && grep -q 404 "$ERR"'

ctl recover invoice sandbox cli-inv-1 --env staging
check "invoice --env staging: refused, exit 1" eval '[ $RC = 1 ] && grep -q 400 "$ERR"'

ctl recover invoice sandbox cli-inv-1 --environment production
check "invoice with an unknown option: usage error" eval '[ $RC = 2 ]'

ctl recover invoice sandbox no-such-invoice
check "invoice unknown: exit 1, 404" eval '[ $RC = 1 ] && grep -q 404 "$ERR"'

ctl recover invoice nobody cli-inv-1
check "invoice of an unknown merchant: exit 1" eval '[ $RC = 1 ] && grep -q 404 "$ERR"'

KEY=$PROD_KEY
post_event cli-inv-1 cli-t1 true approved
check "the same event in production: 200" eval '[ "$STATUS" = 200 ]'
check "invoice --env production: its own invoice, paid" \
    wait_invoice sandbox cli-inv-1 '.environment == "production" and .state == "paid"' production
ctl recover invoice sandbox cli-inv-1
check "the sandbox invoice is untouched" eval '[ $RC = 0 ] && jq_is ".state == \"awaiting_payment_method\""'

# Invoice ids are the merchant's: characters a path needs escaped work.
KEY=$(jq -r .recover.api_key "$DATA/sandbox.json")
post_event "inv 2+x" cli-t2 false insufficient_funds
check "an invoice id with a space and a plus: 200" eval '[ "$STATUS" = 200 ]'
check "invoice with that id: found" wait_invoice sandbox "inv 2+x" '.invoice_id == "inv 2+x" and .state == "pending"'

ctl recover
check "recover without a subcommand: usage error" eval '[ $RC = 2 ]'
ctl recover frobnicate sandbox
check "recover with an unknown subcommand: usage error" eval '[ $RC = 2 ]'

"$RECOUPCTL" --help >"$OUT" 2>"$ERR"
RC=$?
check "--help lists the recover commands" \
    eval '[ $RC = 0 ] && grep -q "recover show MERCHANT" "$OUT" && grep -q "recover webhook-secret MERCHANT" "$OUT" && grep -q "recover invoice MERCHANT INVOICE_ID" "$OUT"'

"$RECOUPCTL" --admin "http://127.0.0.1:1" recover show sandbox >"$OUT" 2>"$ERR"
RC=$?
check "recoupd unreachable: exit 3" eval '[ $RC = 3 ]'

kill -TERM "$SERVER"
wait "$SERVER"
RC=$?
SERVER=
if [ "$RC" != 0 ]; then tail -c 3000 "$WORK/server.log" | sed 's/^/#   /'; fi
check "recoupd exits 0 on SIGTERM" eval '[ $RC = 0 ]'

tap_end
