#!/usr/bin/env bash
# The source document's curl examples, run as written against a real
# recoupd. Three changes, all from the gateway spec: the host and ports are
# the test server's (the document's localhost:1111 and localhost:2222), the
# refund URLs the document shows on port 1111 go to the refunds port, and
# every request carries the gateway API key. Prints TAP.
set -u

RECOUPD=${RECOUPD:-./build/recoupd}
DATA=$(mktemp -d "${TMPDIR:-/tmp}/recoup-seed-XXXXXX")
LOG="$DATA.log"
BODY="$DATA.body"

"$RECOUPD" --data_dir="$DATA" --payments_port=0 --refunds_port=0 --api_port=0 --admin_port=0 \
    >/dev/null 2>"$LOG" &
SERVER=$!

cleanup() {
    if [ -n "${SERVER:-}" ] && kill -0 "$SERVER" 2>/dev/null; then
        kill -KILL "$SERVER" 2>/dev/null
        wait "$SERVER" 2>/dev/null
    fi
    rm -rf "$DATA" "$LOG" "$BODY"
}
trap cleanup EXIT

. "$(dirname "$0")/tap.sh"

# The last answer is an HTTP status and a body.
tap_detail() {
    echo "#   status ${STATUS:-?}, body: $(head -c 1500 "$BODY" 2>/dev/null)"
}

# expect CODE DESCRIPTION [JQ_FILTER]: the last answer has this status and,
# when given, satisfies the filter.
expect() {
    if [ "$STATUS" = "$1" ] && { [ $# -lt 3 ] || jq_is "$3"; }; then ok "$2"; else not_ok "$2"; fi
}

# jq_is FILTER: the last body satisfies the jq filter (prints true).
jq_is() {
    [ "$(jq -r "$1" "$BODY" 2>/dev/null)" = "true" ]
}

# raw NAME TEXT: the body holds "NAME":TEXT literally (amounts as written).
raw() {
    grep -Eq "\"$1\":$2[,}]" "$BODY"
}

for _ in $(seq 1 200); do
    [ -s "$DATA/listeners.json" ] && [ -s "$DATA/sandbox.json" ] && break
    if ! kill -0 "$SERVER" 2>/dev/null; then
        echo "Bail out! recoupd exited during start-up: $(tail -c 2000 "$LOG")"
        exit 1
    fi
    sleep 0.1
done
PAY=$(jq -r .payments "$DATA/listeners.json")
REF=$(jq -r .refunds "$DATA/listeners.json")
KEY=$(jq -r .gateway.api_key "$DATA/sandbox.json")
if [ -z "$PAY" ] || [ "$PAY" = null ] || [ -z "$KEY" ] || [ "$KEY" = null ]; then
    echo "Bail out! no ports or key in $DATA"
    exit 1
fi

# curl as the document runs it, plus what a test needs to look at the
# answer (status and body) and the API key.
doc_curl() {
    STATUS=$(curl -s -o "$BODY" -w '%{http_code}' --max-time 30 -H "x-api-key: $KEY" "$@")
}

SEED_ID=SSUARQXWKPDJSTTGEPVRTEONTPDBQSUXOVRJTBGXWNCTGBBBJLEUKDUPNCZDPELHRUISCDEMMWRQNXBEKPQJCFWWASQOMCYALVAHFPFCVDTOJXODEMDLJRDDECVDAUZEMDVLLNJYJPSAYXRBLCTSYGLBWKUAEOWKWOANLLAJWMIBPXTHVPWZAETCEBPSEZZYLVQTSTSM
SEED_REFUND=pW30g8efRUrbR3ly6ZxW5KkQVWuCzyhdfsDEePLCJaAquXFDqNGc29iM59UtbakCL1UuURpPyZlcDIuOuE9m40B5n3XqTWh1FHfTZLT6CGCFfikANe6yo09I9CI4UFwiT393rV8MBI7Xh3oVj4LaCK52ITqY7AipZnOOG0sgfPKV0oRmia0yPgn51SFsNIf3VxSl0UxB

# ---- the document's commands ----

doc_curl -X GET "http://127.0.0.1:$PAY/api/payments?payment_id=TEST&payment_method=credit_card&status=settled&amount_gte=50.0&amount_lte=500.0&created_at_gte=2020-01-01T00:00:00&created_at_lte=2021-01-01T00:00:00&settled_at_gte=2020-01-01T00:00:00&settled_at_lte=2021-01-01T00:00:00" -H "accept: application/json"
expect 200 "filtered payment list: 200 []" '. == []'

doc_curl -X GET "http://127.0.0.1:$PAY/api/payments/SSUARQXWKPDJSTTGEPVRTEONTPDBQSUXOVRJTBGXWNCTGBBBJLEUKDUPNCZDPELHRUISCDEMMWRQNXBEKPQJCFWWASQOMCYALVAHFPFCVDTOJXODEMDLJRDDECVDAUZEMDVLLNJYJPSAYXRBLCTSYGLBWKUAEOWKWOANLLAJWMIBPXTHVPWZAETCEBPSEZZYLVQTSTSM" -H "accept: application/json"
expect 404 "GET the document's payment id: 404 {}" '. == {}'

doc_curl -X POST "http://127.0.0.1:$PAY/api/payments" -H "accept: application/json" -H "Content-Type: application/json" -d "{\"amount\":50.0,\"payment_method\":\"credit_card\",\"additional_params\":{\"amount\":50,\"method\":\"credit_card\",\"number\":\"1234567890123456\",\"name\":\"John john\",\"expiration_month\":\"05\",\"expiration_year\":\"2028\",\"cvv\":\"321\"}}"
expect 201 "create with the document's card: 201"
check "the document's card fails the Luhn check: status error, incorrect_number" \
    jq_is '.status == "error" and .decline_code == "incorrect_number" and (.decline_message | type == "string") and .settled_at == null and .settled_amount == null'
check "the created payment: 200-letter id, repeated in additional_params.payment" \
    jq_is '(.payment_id | test("^[A-Z]{200}$")) and .additional_params.payment == .payment_id and .payment_method == "credit_card" and .currency == "EUR"'
check "amount written with the currency's decimals" raw amount 50.00
check "card number masked" jq_is '.additional_params.number == "123456******3456" and .additional_params.name == "John john" and .additional_params.expiration_month == "05" and .additional_params.expiration_year == "2028"'
check "no cvv anywhere in the answer" jq_is '[paths | .[-1] | select(. == "cvv")] == []'
check "created_at is UTC with milliseconds" jq_is '.created_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$")'
DECLINED_ID=$(jq -r .payment_id "$BODY")

doc_curl -X PUT "http://127.0.0.1:$PAY/api/payments/SSUARQXWKPDJSTTGEPVRTEONTPDBQSUXOVRJTBGXWNCTGBBBJLEUKDUPNCZDPELHRUISCDEMMWRQNXBEKPQJCFWWASQOMCYALVAHFPFCVDTOJXODEMDLJRDDECVDAUZEMDVLLNJYJPSAYXRBLCTSYGLBWKUAEOWKWOANLLAJWMIBPXTHVPWZAETCEBPSEZZYLVQTSTSM" -H "accept: application/json" -H "Content-Type: application/json" -d "{\"amount\":50.0,\"payment_method\":\"credit_card\",\"additional_params\":{\"payment\":\"SSUARQXWKPDJSTTGEPVRTEONTPDBQSUXOVRJTBGXWNCTGBBBJLEUKDUPNCZDPELHRUISCDEMMWRQNXBEKPQJCFWWASQOMCYALVAHFPFCVDTOJXODEMDLJRDDECVDAUZEMDVLLNJYJPSAYXRBLCTSYGLBWKUAEOWKWOANLLAJWMIBPXTHVPWZAETCEBPSEZZYLVQTSTSM\",\"amount\":50,\"method\":\"credit_card\",\"number\":\"1234567890123456\",\"name\":\"John john\",\"expiration_month\":\"05\",\"expiration_year\":\"2028\",\"cvv\":\"321\"}}"
expect 404 "PUT the document's payment id: 404 {}" '. == {}'

doc_curl -X DELETE "http://127.0.0.1:$PAY/api/payments/SSUARQXWKPDJSTTGEPVRTEONTPDBQSUXOVRJTBGXWNCTGBBBJLEUKDUPNCZDPELHRUISCDEMMWRQNXBEKPQJCFWWASQOMCYALVAHFPFCVDTOJXODEMDLJRDDECVDAUZEMDVLLNJYJPSAYXRBLCTSYGLBWKUAEOWKWOANLLAJWMIBPXTHVPWZAETCEBPSEZZYLVQTSTSM" -H "accept: application/json"
expect 404 "DELETE the document's payment id: 404 {}" '. == {}'

doc_curl -X GET "http://127.0.0.1:$REF/api/payments?payment_id=TEST&refund_id=SSUARQXWKPDJSTTGEPVRTEONTPDBQSUXOVRJTBGXWNCTGBBBJLEUKDUPNCZDPELHRUISCDEMMWRQNXBEKPQJCFWWASQOMCYALVAHFPFCVDTOJXODEMDLJRDDECVDAUZEMDVLLNJYJPSAYXRBLCTSYGLBWKUAEOWKWOANLLAJWMIBPXTHVPWZAETCEBPSEZZYLVQTSTSM" -H "accept: application/json"
expect 200 "refund listing at the refunds port's /api/payments: 200 []" '. == []'

doc_curl -X GET "http://127.0.0.1:$REF/api/refunds/pW30g8efRUrbR3ly6ZxW5KkQVWuCzyhdfsDEePLCJaAquXFDqNGc29iM59UtbakCL1UuURpPyZlcDIuOuE9m40B5n3XqTWh1FHfTZLT6CGCFfikANe6yo09I9CI4UFwiT393rV8MBI7Xh3oVj4LaCK52ITqY7AipZnOOG0sgfPKV0oRmia0yPgn51SFsNIf3VxSl0UxB" -H "accept: application/json"
expect 404 "GET the document's refund id: 404 {}" '. == {}'

doc_curl -X POST "http://127.0.0.1:$REF/api/refunds" -H "accept: application/json" -H "Content-Type: application/json" -d "{\"amount\":20.0,\"payment_id\":\"SSUARQXWKPDJSTTGEPVRTEONTPDBQSUXOVRJTBGXWNCTGBBBJLEUKDUPNCZDPELHRUISCDEMMWRQNXBEKPQJCFWWASQOMCYALVAHFPFCVDTOJXODEMDLJRDDECVDAUZEMDVLLNJYJPSAYXRBLCTSYGLBWKUAEOWKWOANLLAJWMIBPXTHVPWZAETCEBPSEZZYLVQTSTSM\"}"
expect 404 "refund of the document's (unknown) payment: 404 naming payment_id" '(.message | type == "string") and ([.errors[].field] | index("payment_id") != null)'

doc_curl -X POST "http://127.0.0.1:$REF/api/refunds" -H "accept: application/json" -H "Content-Type: application/json" -d "{\"amount\":20.0,\"payment_id\":\"$DECLINED_ID\"}"
expect 409 "refund of the declined payment: 409" '(.message | type == "string") and (.errors | length > 0)'

# ---- the same flow with a card that is authorised ----
# The document's expiry (05/2028) is kept as written.

doc_curl -X POST "http://127.0.0.1:$PAY/api/payments" -H "accept: application/json" -H "Content-Type: application/json" -d "{\"amount\":50.0,\"payment_method\":\"credit_card\",\"additional_params\":{\"amount\":50,\"method\":\"credit_card\",\"number\":\"4242424242424242\",\"name\":\"John john\",\"expiration_month\":\"05\",\"expiration_year\":\"2028\",\"cvv\":\"321\"}}"
expect 201 "create with 4242424242424242: 201 success" '.status == "success" and .decline_code == null and .network_response_code == "00"'
check "masked visa number, no cvv" jq_is '.additional_params.number == "424242******4242" and .additional_params.brand == "visa" and ([paths | .[-1] | select(. == "cvv")] == [])'
ID=$(jq -r .payment_id "$BODY")

doc_curl -X GET "http://127.0.0.1:$PAY/api/payments/$ID" -H "accept: application/json"
expect 200 "GET the new payment: 200 with additional_params" ".payment_id == \"$ID\" and .additional_params.payment == \"$ID\" and .status == \"success\""
check "GET shows the amount as created" raw amount 50.00

doc_curl -X PUT "http://127.0.0.1:$PAY/api/payments/$ID" -H "accept: application/json" -H "Content-Type: application/json" -d "{\"amount\":50.0,\"payment_method\":\"credit_card\",\"additional_params\":{\"payment\":\"$ID\",\"amount\":50,\"method\":\"credit_card\",\"number\":\"4242424242424242\",\"name\":\"John john\",\"expiration_month\":\"05\",\"expiration_year\":\"2028\",\"cvv\":\"321\"}}"
expect 200 "PUT the document's body with the new id: 200, unchanged" ".payment_id == \"$ID\" and .status == \"success\" and .additional_params.number == \"424242******4242\" and .settled_at == null"

doc_curl -X POST "http://127.0.0.1:$REF/api/refunds" -H "accept: application/json" -H "Content-Type: application/json" -d "{\"amount\":20.0,\"payment_id\":\"$ID\"}"
expect 201 "refund 20.0: 201" "(.refund_id | test(\"^[A-Za-z0-9]{200}$\")) and .payment_id == \"$ID\" and .currency == \"EUR\""
check "refund amount written 20.00" raw amount 20.00
RID=$(jq -r .refund_id "$BODY")

doc_curl -X GET "http://127.0.0.1:$REF/api/payments?payment_id=$ID&refund_id=$RID" -H "accept: application/json"
expect 200 "refund listing by payment_id and refund_id: the refund" "length == 1 and .[0].refund_id == \"$RID\" and .[0].payment_id == \"$ID\" and .[0].amount == 20"

doc_curl -X GET "http://127.0.0.1:$REF/api/refunds/$RID" -H "accept: application/json"
expect 200 "GET the refund: 200" ".refund_id == \"$RID\" and .payment_id == \"$ID\" and .amount == 20 and (.created_at | type == \"string\")"

doc_curl -X DELETE "http://127.0.0.1:$PAY/api/payments/$ID" -H "accept: application/json"
expect 409 "DELETE a refunded payment: 409" '(.message | type == "string") and (.errors | length > 0)'

doc_curl -X GET "http://127.0.0.1:$PAY/api/payments/$ID" -H "accept: application/json"
expect 200 "the payment is still there" ".payment_id == \"$ID\" and .status == \"success\""
check "20.00 of it refunded" raw refunded_amount 20.00

# The document's own list query still matches nothing (its dates are 2020).
doc_curl -X GET "http://127.0.0.1:$PAY/api/payments?payment_id=TEST&payment_method=credit_card&status=settled&amount_gte=50.0&amount_lte=500.0&created_at_gte=2020-01-01T00:00:00&created_at_lte=2021-01-01T00:00:00&settled_at_gte=2020-01-01T00:00:00&settled_at_lte=2021-01-01T00:00:00" -H "accept: application/json"
expect 200 "filtered payment list after the flow: still 200 []" '. == []'

# Without the key nothing is served.
STATUS=$(curl -s -o "$BODY" -w '%{http_code}' --max-time 30 -X GET "http://127.0.0.1:$PAY/api/payments/$ID" -H "accept: application/json")
expect 401 "without the API key: 401" '.message == "Missing or invalid API key"'

kill -TERM "$SERVER"
wait "$SERVER"
rc=$?
SERVER=
if [ "$rc" = 0 ]; then
    ok "recoupd exits 0 on SIGTERM"
else
    not_ok "recoupd exits 0 on SIGTERM (exit $rc)"
    tail -c 3000 "$LOG" | sed 's/^/#   /'
fi

tap_end
