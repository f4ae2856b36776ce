/* Webhook bodies, signatures, identities and the redelivery policy.
 *
 * The merchants' older verifier re-serialises the parsed body with Python's
 * json.dumps(body, separators=(",", ":")) before checking the signature;
 * the fake merchant's verifier (tests/fake_merchant/pyjson.h) emulates it.
 * The expected strings in the tables were produced by CPython 3. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/crypto.h"
#include "core/ids.h"
#include "recover/webhooks.h"

#include "../fake_merchant/pyjson.h"

/* ---- helpers ---- */

/* json.dumps(json.loads(text), separators=(",", ":")), malloc'd; NULL when
 * text is not JSON. */
static char *redump(const char *text) { return pyjson_compact(text, strlen(text)); }

static char *compact_text(const char *json_in)
{
    cJSON *v = cJSON_Parse(json_in);
    assert_non_null(v);
    buf b;
    buf_init(&b);
    assert_int_equal(rc_json_compact(v, &b), 0);
    cJSON_Delete(v);
    return buf_steal(&b, NULL);
}

static char *compact_number(double d)
{
    cJSON *v = cJSON_CreateNumber(d);
    buf b;
    buf_init(&b);
    assert_int_equal(rc_json_compact(v, &b), 0);
    cJSON_Delete(v);
    return buf_steal(&b, NULL);
}

static void hmac_of(const char *secret, const char *msg, char out[65])
{
    crypto_hmac_sha256_hex((const uint8_t *)secret, strlen(secret), (const uint8_t *)msg, strlen(msg), out);
}

/* A body with everything that trips serialisers: non-ASCII names (two-,
 * three- and four-byte UTF-8), every escape, DEL, '/', floats and big
 * numbers, nesting, empty containers, white space to be dropped. */
static const char *const tricky_in =
    "{ \"timestamp\": \"2026-11-21T10:00:00.000Z\",\n"
    "  \"name\": \"Jos\xc3\xa9 \xf0\x9f\x98\x80 \xe4\xb8\xad\",\n"
    "  \"q\": \"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\x7f\\/\",\n"
    "  \"n\": [0.1, 1e-07, 1E16, 12.5, 12.0, -3, 9007199254740992, 12345678901234567890, -0.5, 100.25],\n"
    "  \"t\": true, \"f\": false, \"z\": null,\n"
    "  \"o\": {\"deep\": {\"x\": [ ], \"y\": { }}} }";
static const char *const tricky_out =
    "{\"timestamp\":\"2026-11-21T10:00:00.000Z\",\"name\":\"Jos\\u00e9 \\ud83d\\ude00 \\u4e2d\","
    "\"q\":\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u007f/\",\"n\":[0.1,1e-07,1e+16,12.5,12,-3,9007199254740992,"
    "1.2345678901234567e+19,-0.5,100.25],\"t\":true,\"f\":false,\"z\":null,\"o\":{\"deep\":{\"x\":[],\"y\":{}}}}";

/* ---- the serialiser ---- */

static void compact_writes_what_python_writes(void **state)
{
    (void)state;
    char *out = compact_text(tricky_in);
    assert_string_equal(out, tricky_out);
    free(out);
}

static void numbers_in_shortest_round_trip_form(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0.1, "0.1"},
        {1e-07, "1e-07"},
        {1e16, "1e+16"},
        {12.5, "12.5"},
        {12.0, "12"},
        {-0.0, "0"},
        {1e15, "1000000000000000"},
        {9007199254740992.0, "9007199254740992"},
        {9007199254740994.0, "9007199254740994.0"},
        {1e22, "1e+22"},
        {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {0.0001, "0.0001"},
        {0.00001, "1e-05"},
        {123456.789, "123456.789"},
        {-2.5e-5, "-2.5e-05"},
        {100.25, "100.25"},
        {1234.56, "1234.56"},
        {0.3, "0.3"},
        {2.0 / 3.0, "0.6666666666666666"},
        /* powers of two, where the shortest digits lie above the value */
        {0x1p182, "6.129982163463556e+54"},
        {0x1p1023, "8.98846567431158e+307"},
        {0x1p-30, "9.313225746154785e-10"},
        {-0x1p70, "-1.1805916207174113e+21"},
        {-0x1p75, "-3.777893186295716e+22"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = compact_number(cases[i].v);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("%.17g: got %s, want %s", cases[i].v, out, cases[i].want);
        free(out);
    }
}

static void invalid_input_is_refused(void **state)
{
    (void)state;
    static const char *const bad_strings[] = {
        "\xc0\xaf",         /* overlong '/' */
        "\xed\xa0\x80",     /* a surrogate encoded as UTF-8 */
        "\xf4\x90\x80\x80", /* past U+10FFFF */
        "ok\xff",
        "\xe4\xb8",         /* cut short */
    };
    for (size_t i = 0; i < sizeof bad_strings / sizeof bad_strings[0]; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", bad_strings[i]);
        buf b;
        buf_init(&b);
        buf_puts(&b, "prefix");
        assert_int_equal(rc_json_compact(o, &b), -1);
        assert_string_equal(buf_cstr(&b), "prefix"); /* nothing half-written is left */
        buf_free(&b);
        /* the same bytes in a key */
        cJSON_Delete(o);
        o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, bad_strings[i], 1);
        buf_init(&b);
        assert_int_equal(rc_json_compact(o, &b), -1);
        buf_free(&b);
        cJSON_Delete(o);
    }
    const double not_json[] = {NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < 3; i++) {
        cJSON *n = cJSON_CreateNumber(not_json[i]);
        buf b;
        buf_init(&b);
        assert_int_equal(rc_json_compact(n, &b), -1);
        buf_free(&b);
        cJSON_Delete(n);
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void put_utf8(buf *b, unsigned cp)
{
    if (cp < 0x80) {
        buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        buf_putc(b, (char)(0xc0 | (cp >> 6)));
        buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        buf_putc(b, (char)(0xe0 | (cp >> 12)));
        buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    } else {
        buf_putc(b, (char)(0xf0 | (cp >> 18)));
        buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
        buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    }
}

static char *random_text(void)
{
    buf b;
    buf_init(&b);
    int n = (int)(rng() % 12);
    for (int i = 0; i < n; i++) {
        unsigned cp;
        switch (rng() % 5) {
        case 0: cp = (unsigned)(rng() % 0x80) + 1; break;          /* ASCII, controls included */
        case 1: cp = 0x80 + (unsigned)(rng() % 0x780); break;      /* two bytes */
        case 2: cp = 0x800 + (unsigned)(rng() % 0xd000); break;    /* three bytes, below the surrogates */
        case 3: cp = 0x10000 + (unsigned)(rng() % 0x100000); break; /* four bytes */
        default: cp = "\"\\/\n\x7f"[rng() % 5]; break;
        }
        if (cp >= 0xd800 && cp < 0xe000)
            cp = 0xe000;
        put_utf8(&b, cp);
    }
    return buf_steal(&b, NULL);
}

static double random_number(void)
{
    switch (rng() % 4) {
    case 0: {
        uint64_t bits = rng();
        double d;
        memcpy(&d, &bits, sizeof d);
        return isfinite(d) ? d : 1.5;
    }
    case 1: return (double)((int64_t)(rng() % 2000001) - 1000000) / 100.0; /* money-like */
    case 2: return ldexp(1.0, (int)(rng() % 2098) - 1074) * (rng() % 2 ? 1 : -1);
    default: return (double)(int64_t)(rng() >> (rng() % 64));
    }
}

static cJSON *random_value(int depth)
{
    int kind = (int)(rng() % (depth > 3 ? 5 : 7));
    switch (kind) {
    case 0: return cJSON_CreateNull();
    case 1: return cJSON_CreateBool(rng() % 2);
    case 2: return cJSON_CreateNumber(random_number());
    case 3:
    case 4: {
        char *t = random_text();
        cJSON *s = cJSON_CreateString(t);
        free(t);
        return s;
    }
    case 5: {
        cJSON *a = cJSON_CreateArray();
        int n = (int)(rng() % 5);
        for (int i = 0; i < n; i++)
            cJSON_AddItemToArray(a, random_value(depth + 1));
        return a;
    }
    default: {
        cJSON *o = cJSON_CreateObject();
        int n = (int)(rng() % 5);
        for (int i = 0; i < n; i++) {
            char *k = random_text();
            char key[64];
            snprintf(key, sizeof key, "%d%s", i, k); /* distinct keys: a dict keeps one of each */
            free(k);
            cJSON_AddItemToObject(o, key, random_value(depth + 1));
        }
        return o;
    }
    }
}

/* Every body we write reads back unchanged through the emulated Python
 * verifier, and the emulator itself is checked against CPython's output. */
static void bodies_are_fixed_points_of_the_python_verifier(void **state)
{
    (void)state;
    /* The emulator against CPython: the input keeps its float 12.0 and its
     * big int (Python ints have every digit); our output is a fixed point. */
    char *py = redump(tricky_in);
    assert_non_null(py);
    assert_string_equal(py, "{\"timestamp\":\"2026-11-21T10:00:00.000Z\",\"name\":\"Jos\\u00e9 \\ud83d\\ude00 "
                            "\\u4e2d\",\"q\":\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u007f/\",\"n\":[0.1,1e-07,"
                            "1e+16,12.5,12.0,-3,9007199254740992,12345678901234567890,-0.5,100.25],\"t\":true,"
                            "\"f\":false,\"z\":null,\"o\":{\"deep\":{\"x\":[],\"y\":{}}}}");
    free(py);
    py = redump(tricky_out);
    assert_string_equal(py, tricky_out);
    free(py);
    py = redump("{\"a\": 12.0, \"b\": -0, \"c\": 1e16, \"d\": 12345678901234567890}");
    assert_string_equal(py, "{\"a\":12.0,\"b\":0,\"c\":1e+16,\"d\":12345678901234567890}");
    free(py);

    for (int i = 0; i < 3000; i++) {
        cJSON *v = random_value(0);
        buf b;
        buf_init(&b);
        assert_int_equal(rc_json_compact(v, &b), 0);
        char *again = redump(buf_cstr(&b));
        assert_non_null(again);
        if (strcmp(again, buf_cstr(&b)) != 0)
            fail_msg("not a fixed point:\n ours   %s\n python %s", buf_cstr(&b), again);
        /* and what we wrote still means the same value */
        cJSON *back = cJSON_Parse(buf_cstr(&b));
        assert_non_null(back);
        assert_true(cJSON_Compare(v, back, 1));
        cJSON_Delete(back);
        free(again);
        buf_free(&b);
        cJSON_Delete(v);
    }
}

/* ---- signatures ---- */

static void signature_matches_the_published_example(void **state)
{
    (void)state;
    char sig[65];
    rc_webhook_signature("secret", "{\"a\":1}", 7, 1698251668, sig);
    assert_string_equal(sig, "a0a0594da48cfe026552048c5f0984ad342f01848b34998082db54a488b5baff");
    char tricky[65];
    char *body = compact_text(tricky_in);
    rc_webhook_signature("whsec_test", body, strlen(body), 1700000000, tricky);
    assert_string_equal(tricky, "934aa9cd417606c1b21fa1ecbc7f468ade005e110b77a0bbe05c7f6d1ba9b6c4");
    free(body);
}

/* Both published verifiers, emulated: one signs the raw bytes received,
 * the other json.dumps of the parsed body; each recomputes the HMAC over
 * its text + "+" + the expiration header and compares. */
static void both_verifiers_accept_our_signature(void **state)
{
    (void)state;
    const char *const bodies[] = {
        tricky_in,
        "{\"timestamp\":\"2026-01-02T03:04:05.000Z\",\"butter_id\":\"0123456789abcdef0123456789abcdef\","
        "\"customer_id\":\"cus_\xe5\xb1\xb1\xe7\x94\xb0\",\"original_amount\":12.5,\"amount_collected\":0,"
        "\"currency\":\"EUR\",\"success\":false,\"dunning_complete\":false,"
        "\"custom\":{\"plan\":\"gold \xf0\x9f\xa5\x87\",\"seats\":3,\"ratio\":0.1,\"nested\":{\"list\":[1,2.25,null]}}}",
        "{\"timestamp\":\"2026-01-02T03:04:05.000Z\",\"invoice_id\":\"in_1\",\"recovered\":true,\"custom\":null}",
        "{\"big\":1e300,\"small\":-1e-300,\"id\":9007199254740993}",
    };
    for (int round = 0; round < 200; round++) {
        cJSON *v;
        if ((size_t)round < sizeof bodies / sizeof bodies[0])
            v = cJSON_Parse(bodies[round]);
        else
            v = random_value(0);
        assert_non_null(v);
        buf body;
        buf_init(&body);
        assert_int_equal(rc_json_compact(v, &body), 0);
        int64_t expiration = 1700000000 + round;
        char sent[65];
        rc_webhook_signature("a shared secret", buf_cstr(&body), body.len, expiration, sent);

        char msg[64];
        snprintf(msg, sizeof msg, "+%lld", (long long)expiration);
        buf raw;
        buf_init(&raw);
        buf_append(&raw, body.data, body.len);
        buf_puts(&raw, msg);
        char raw_sig[65];
        hmac_of("a shared secret", buf_cstr(&raw), raw_sig);
        assert_string_equal(raw_sig, sent);

        char *redumped = redump(buf_cstr(&body));
        assert_non_null(redumped);
        buf re;
        buf_init(&re);
        buf_puts(&re, redumped);
        buf_puts(&re, msg);
        char re_sig[65];
        hmac_of("a shared secret", buf_cstr(&re), re_sig);
        assert_string_equal(re_sig, sent);

        /* a different expiration or secret does not verify */
        char other[65];
        rc_webhook_signature("a shared secret", buf_cstr(&body), body.len, expiration + 1, other);
        assert_string_not_equal(other, sent);
        rc_webhook_signature("another secret", buf_cstr(&body), body.len, expiration, other);
        assert_string_not_equal(other, sent);
        free(redumped);
        buf_free(&re);
        buf_free(&raw);
        buf_free(&body);
        cJSON_Delete(v);
    }
}

/* ---- making a delivery ---- */

static void make(struct rc_webhook *w, const char *merchant, const char *env, const char *type, const char *key,
                 const char *body)
{
    cJSON *b = cJSON_Parse(body);
    assert_non_null(b);
    assert_int_equal(rc_webhook_make(w, merchant, env, type, "in_1", "https://m.example/webhooks/retry-results", key,
                                     b, 1000, 7 * 86400000LL),
                     0);
    cJSON_Delete(b);
}

static void make_fills_a_pending_delivery_with_a_stable_id(void **state)
{
    (void)state;
    struct rc_webhook a, b;
    make(&a, "m1", "sandbox", RC_WEBHOOK_RETRY_RESULT, "attempt-7", "{\"x\": 1.50, \"y\": \"\xc3\xa9\"}");
    assert_true(id_matches(a.webhook_id, 32, ID_HEX));
    assert_string_equal(a.body, "{\"x\":1.5,\"y\":\"\\u00e9\"}");
    assert_string_equal(a.state, "pending");
    assert_string_equal(a.type, "retry_result");
    assert_string_equal(a.invoice_id, "in_1");
    assert_string_equal(a.url, "https://m.example/webhooks/retry-results");
    assert_int_equal(a.created_at, 1000);
    assert_int_equal(a.next_attempt_at, 1000);
    assert_int_equal(a.give_up_at, 1000 + 7 * 86400000LL);
    assert_int_equal(a.attempts, 0);

    /* The same event gets the same id, whatever the body says now. */
    make(&b, "m1", "sandbox", RC_WEBHOOK_RETRY_RESULT, "attempt-7", "{\"x\": 2}");
    assert_string_equal(a.webhook_id, b.webhook_id);
    free(b.body);

    /* Any other part of the identity gives another id. */
    const char *const variants[][4] = {
        {"m2", "sandbox", RC_WEBHOOK_RETRY_RESULT, "attempt-7"},
        {"m1", "production", RC_WEBHOOK_RETRY_RESULT, "attempt-7"},
        {"m1", "sandbox", RC_WEBHOOK_END_OF_DUNNING, "attempt-7"},
        {"m1", "sandbox", RC_WEBHOOK_RETRY_RESULT, "attempt-8"},
        /* the parts are delimited: moving a character between them counts */
        {"m1s", "andbox", RC_WEBHOOK_RETRY_RESULT, "attempt-7"},
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        make(&b, variants[i][0], variants[i][1], variants[i][2], variants[i][3], "{}");
        assert_string_not_equal(a.webhook_id, b.webhook_id);
        free(b.body);
    }
    free(a.body);

    /* A body that cannot be written leaves nothing allocated. */
    cJSON *bad = cJSON_CreateObject();
    cJSON_AddNumberToObject(bad, "x", NAN);
    assert_int_equal(rc_webhook_make(&b, "m1", "sandbox", RC_WEBHOOK_RETRY_RESULT, "in_1", "https://m.example/", "k",
                                     bad, 0, 1),
                     -1);
    assert_null(b.body);
    cJSON_Delete(bad);
}

/* ---- what follows an attempt ---- */

#define HOUR (3600 * 1000LL)
#define DAY (24 * HOUR)

static struct rc_webhook claimed_at(int64_t created)
{
    struct rc_webhook w;
    memset(&w, 0, sizeof w);
    w.created_at = created;
    w.give_up_at = created + 7 * DAY;
    w.next_attempt_at = created;
    str_copy(w.state, sizeof w.state, "pending");
    str_copy(w.lease_owner, sizeof w.lease_owner, "node-a");
    return w;
}

static void a_2xx_is_delivered(void **state)
{
    (void)state;
    const long statuses[] = {200, 201, 202, 204, 299};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        struct rc_webhook w = claimed_at(0);
        str_copy(w.last_error, sizeof w.last_error, "HTTP 500");
        rc_webhook_after_attempt(&w, statuses[i], NULL, 5 * HOUR, 12 * HOUR);
        assert_string_equal(w.state, "delivered");
        assert_int_equal(w.delivered_at, 5 * HOUR);
        assert_int_equal(w.attempts, 1);
        assert_int_equal(w.last_status, statuses[i]);
        assert_string_equal(w.last_error, "");
        assert_string_equal(w.lease_owner, "node-a"); /* the store checks and releases it */
    }
}

static void anything_else_is_redelivered_after_the_interval(void **state)
{
    (void)state;
    const long statuses[] = {0, 100, 199, 300, 301, 400, 404, 429, 500, 503};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        struct rc_webhook w = claimed_at(0);
        rc_webhook_after_attempt(&w, statuses[i], statuses[i] == 0 ? "Connection refused" : NULL, HOUR, 12 * HOUR);
        assert_string_equal(w.state, "pending");
        assert_int_equal(w.next_attempt_at, 13 * HOUR);
        assert_int_equal(w.delivered_at, 0);
        assert_int_equal(w.attempts, 1);
        if (statuses[i] == 0)
            assert_string_equal(w.last_error, "Connection refused");
        else {
            char want[32];
            snprintf(want, sizeof want, "HTTP %ld", statuses[i]);
            assert_string_equal(w.last_error, want);
        }
    }
    struct rc_webhook w = claimed_at(0);
    rc_webhook_after_attempt(&w, 0, NULL, 0, 12 * HOUR);
    assert_string_equal(w.last_error, "no answer");
}

static void given_up_once_the_next_attempt_would_pass_give_up_at(void **state)
{
    (void)state;
    /* Exactly at give_up_at is still an attempt; one millisecond later is not. */
    struct rc_webhook w = claimed_at(0);
    rc_webhook_after_attempt(&w, 500, NULL, 7 * DAY - 12 * HOUR, 12 * HOUR);
    assert_string_equal(w.state, "pending");
    assert_int_equal(w.next_attempt_at, 7 * DAY);
    w = claimed_at(0);
    rc_webhook_after_attempt(&w, 500, NULL, 7 * DAY - 12 * HOUR + 1, 12 * HOUR);
    assert_string_equal(w.state, "failed");
    assert_int_equal(w.delivered_at, 0);

    /* The whole default schedule: every 12 hours for 7 days is the first
     * attempt and 14 redeliveries, the last at day 7, then given up. */
    w = claimed_at(0);
    int64_t now = 0;
    int attempts = 0;
    while (strcmp(w.state, "pending") == 0) {
        assert_true(now <= w.give_up_at);
        rc_webhook_after_attempt(&w, 503, NULL, now, 12 * HOUR);
        attempts++;
        now = w.next_attempt_at;
    }
    assert_string_equal(w.state, "failed");
    assert_int_equal(attempts, 15);
    assert_int_equal(w.attempts, 15);
    assert_int_equal(w.last_status, 503);

    /* With no redelivery period, one failed attempt gives up. */
    w = claimed_at(0);
    w.give_up_at = 0;
    rc_webhook_after_attempt(&w, 500, NULL, 0, 12 * HOUR);
    assert_string_equal(w.state, "failed");
}

int main(void)
{
    crypto_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(compact_writes_what_python_writes),
        cmocka_unit_test(numbers_in_shortest_round_trip_form),
        cmocka_unit_test(invalid_input_is_refused),
        cmocka_unit_test(bodies_are_fixed_points_of_the_python_verifier),
        cmocka_unit_test(signature_matches_the_published_example),
        cmocka_unit_test(both_verifiers_accept_our_signature),
        cmocka_unit_test(make_fills_a_pending_delivery_with_a_stable_id),
        cmocka_unit_test(a_2xx_is_delivered),
        cmocka_unit_test(anything_else_is_redelivered_after_the_interval),
        cmocka_unit_test(given_up_once_the_next_attempt_would_pass_give_up_at),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
