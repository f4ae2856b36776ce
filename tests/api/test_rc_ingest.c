/* POST /recover/payments end to end: the acknowledgement's shape, what the
 * invoice then holds (every field as sent, custom echoed, the transaction
 * as received), the "body" wrapper of the published examples, duplicates,
 * and POST /recover/payment_method_updates. */
#include <pthread.h>

#include "rc_common.h"

static rserver srv;
static struct rc_keys keys;

static int group_setup(void **state)
{
    (void)state;
    server_start(&srv, RC_FIXTURE_CLOCK);
    rc_read_keys(&srv, &keys);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = server_stop(&srv);
    assert_int_equal(rc, 0);
    return rc;
}

/* 200 with exactly the message and a request id. */
static void check_ack(hres *r)
{
    CHECK_STATUS(r, 200);
    CHECK(r, cJSON_IsObject(r->json) && cJSON_GetArraySize(r->json) == 2);
    CHECK(r, strcmp(js(r->json, "message"), "Request submitted for processing") == 0);
    CHECK(r, strlen(js(r->json, "request_id")) >= 16);
}

static const cJSON *item(const cJSON *o, const char *name) { return cJSON_GetObjectItemCaseSensitive(o, name); }

static void full_payload(void **state)
{
    (void)state;
    cJSON *sent = rc_parse(RC_FULL_PAYLOAD);
    hres *r = rc_post_payment(&srv, keys.sandbox, sent);
    check_ack(r);
    hres_free(r);

    struct rc_want w = {"pending", 1, 1, 1};
    r = rc_wait(&srv, keys.sandbox, "in_full", w);
    RC_WAIT_OK(r, w);
    const cJSON *inv = r->json;
    CHECK(r, strcmp(js(inv, "invoice_id"), "in_full") == 0);
    CHECK(r, strcmp(js(inv, "environment"), "sandbox") == 0);
    CHECK(r, strcmp(js(inv, "customer_id"), "cus_full") == 0);
    CHECK(r, strcmp(js(inv, "subscription_id"), "sub_full") == 0);
    CHECK(r, strcmp(js(inv, "created_at"), "2024-03-01T00:00:00.000Z") == 0);
    CHECK(r, body_has(r, "\"amount_due\":12.23"));
    CHECK(r, strcmp(js(inv, "currency"), "USD") == 0);
    CHECK(r, strcmp(js(inv, "dunning_started_at"), "2024-03-01T10:15:00.000Z") == 0);
    CHECK(r, jnull(inv, "closed_at"));
    CHECK(r, jnum(inv, "failed_attempts") == 1);
    CHECK(r, cJSON_Compare(item(inv, "custom"), item(sent, "custom"), 1));

    const cJSON *t = cJSON_GetArrayItem(item(inv, "transactions"), 0);
    CHECK(r, strcmp(js(t, "transaction_id"), "txn_full") == 0);
    CHECK(r, strcmp(js(t, "psp_transaction_id"), "ch_3OqFull") == 0);
    CHECK(r, strcmp(js(t, "psp"), "stripe") == 0);
    CHECK(r, jnum(t, "amount") == 12.23);
    CHECK(r, strcmp(js(t, "currency"), "USD") == 0);
    CHECK(r, cJSON_IsFalse(item(t, "success")));
    CHECK(r, strcmp(js(t, "psp_transaction_created_at"), "2024-03-01T10:15:00.000Z") == 0);
    CHECK(r, strcmp(js(t, "payment_method_id"), "pm_full") == 0);
    CHECK(r, strcmp(js(t, "scheme"), "visa") == 0);
    CHECK(r, strcmp(js(t, "funding_source"), "credit") == 0);
    CHECK(r, strcmp(js(t, "acquirer_country"), "US") == 0);
    CHECK(r, strcmp(js(t, "origin"), "merchant") == 0);
    const cJSON *o = item(t, "outcome");
    CHECK(r, strcmp(js(o, "raw_response_message"), "insufficient_funds") == 0);
    CHECK(r, strcmp(js(o, "psp_response_message"), "Your card has insufficient funds.") == 0);
    CHECK(r, strcmp(js(o, "processor_response_code"), "51") == 0);
    CHECK(r, strcmp(js(o, "network_status"), "declined_by_network") == 0);
    CHECK(r, strcmp(js(o, "response_type"), "soft_decline") == 0);
    /* Everything sent, as sent: enhanced data, reporting group, bin... */
    const cJSON *sent_txn = cJSON_GetArrayItem(item(sent, "transactions"), 0);
    CHECK(r, cJSON_Compare(item(t, "received"), sent_txn, 1));

    const cJSON *h = cJSON_GetArrayItem(item(inv, "history"), 0);
    CHECK(r, jnull(h, "from"));
    CHECK(r, strcmp(js(h, "to"), "pending") == 0);
    CHECK(r, is_api_time(js(h, "at")));
    hres_free(r);
    cJSON_Delete(sent);
}

static void minimal_payload(void **state)
{
    (void)state;
    cJSON *sent = rc_parse(RC_MIN_PAYLOAD);
    hres *r = rc_post_payment(&srv, keys.sandbox, sent);
    check_ack(r);
    hres_free(r);
    struct rc_want w = {"pending", 1, 1, -1};
    r = rc_wait(&srv, keys.sandbox, "in_min", w);
    RC_WAIT_OK(r, w);
    CHECK(r, jnull(r->json, "custom"));
    const cJSON *t = cJSON_GetArrayItem(item(r->json, "transactions"), 0);
    const cJSON *o = item(t, "outcome");
    CHECK(r, strcmp(js(o, "raw_response_message"), "insufficient_funds") == 0);
    CHECK(r, jnull(o, "psp_response_message") && jnull(o, "processor_response_code") && jnull(o, "network_status") &&
                 jnull(o, "response_type"));
    CHECK(r, cJSON_Compare(item(t, "received"), cJSON_GetArrayItem(item(sent, "transactions"), 0), 1));
    hres_free(r);
    cJSON_Delete(sent);
}

/* Values are stored normalised, and the amount given as text reads back as
 * the same number. */
static void normalised_values(void **state)
{
    (void)state;
    cJSON *p = rc_event("ing-norm", "cus_norm", "ing-norm", 0, "insufficient_funds", "2024-03-01T10:00:00+02:00");
    rc_set_str(p, "transactions[0].amount", "1234");
    rc_set_str(p, "transactions[0].currency", "JPY");
    rc_set_str(p, "transactions[0].funding_source", "Debit");
    rc_set_str(p, "transactions[0].psp", "Adyen");
    rc_set_str(p, "transactions[0].scheme", "MasterCard");
    rc_send_free(&srv, keys.sandbox, p);
    struct rc_want w = {"pending", 1, 1, -1};
    hres *r = rc_wait(&srv, keys.sandbox, "ing-norm", w);
    RC_WAIT_OK(r, w);
    const cJSON *t = cJSON_GetArrayItem(item(r->json, "transactions"), 0);
    CHECK(r, body_has(r, "\"amount_due\":1234,"));
    CHECK(r, jnum(t, "amount") == 1234);
    CHECK(r, strcmp(js(t, "funding_source"), "debit") == 0);
    CHECK(r, strcmp(js(t, "psp"), "adyen") == 0);
    CHECK(r, strcmp(js(t, "scheme"), "mastercard") == 0);
    CHECK(r, strcmp(js(t, "psp_transaction_created_at"), "2024-03-01T08:00:00.000Z") == 0);
    /* The received copy keeps the text as sent. */
    CHECK(r, strcmp(js(item(t, "received"), "amount"), "1234") == 0);
    hres_free(r);
}

static void body_wrapper(void **state)
{
    (void)state;
    cJSON *inner = rc_event("ing-wrap", "cus_wrap", "ing-wrap", 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    cJSON *wrapped = cJSON_CreateObject();
    cJSON_AddItemToObject(wrapped, "body", cJSON_Duplicate(inner, 1));
    char *first = rc_send(&srv, keys.sandbox, wrapped);
    /* The unwrapped form of the same event is a duplicate of it. */
    char *second = rc_send(&srv, keys.sandbox, inner);
    assert_string_equal(first, second);
    struct rc_want w = {"pending", 1, 1, 1};
    hres *r = rc_wait(&srv, keys.sandbox, "ing-wrap", w);
    RC_WAIT_OK(r, w);
    CHECK(r, strcmp(js(r->json, "customer_id"), "cus_wrap") == 0);
    hres_free(r);

    /* And the other way round. */
    cJSON *inner2 = rc_event("ing-wrap2", "cus_wrap", "ing-wrap2", 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    cJSON *wrapped2 = cJSON_CreateObject();
    cJSON_AddItemToObject(wrapped2, "body", cJSON_Duplicate(inner2, 1));
    char *third = rc_send(&srv, keys.sandbox, inner2);
    char *fourth = rc_send(&srv, keys.sandbox, wrapped2);
    assert_string_equal(third, fourth);
    assert_string_not_equal(first, third);

    /* The wrapper is checked like the payload it holds. */
    rc_del(wrapped2, "body.invoice.id");
    hres *bad = rc_post_payment(&srv, keys.sandbox, wrapped2);
    RC_INVALID(bad);
    CHECK(bad, has_error_field(bad->json, "invoice.id"));
    hres_free(bad);
    free(first);
    free(second);
    free(third);
    free(fourth);
    cJSON_Delete(inner);
    cJSON_Delete(wrapped);
    cJSON_Delete(inner2);
    cJSON_Delete(wrapped2);
}

static void duplicate_event(void **state)
{
    (void)state;
    cJSON *p = rc_event("ing-dup", "cus_dup", "ing-dup-1", 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    char *first = rc_send(&srv, keys.sandbox, p);
    struct rc_want w = {"pending", 1, 1, 1};
    hres *r = rc_wait(&srv, keys.sandbox, "ing-dup", w);
    RC_WAIT_OK(r, w);
    hres_free(r);
    for (int i = 0; i < 3; i++) {
        char *again = rc_send(&srv, keys.sandbox, p);
        assert_string_equal(first, again);
        free(again);
    }
    /* A resend with other details but the same transaction is the same event. */
    rc_set(p, "transactions[0].amount", "99.99");
    char *changed = rc_send(&srv, keys.sandbox, p);
    assert_string_equal(first, changed);
    free(changed);

    rc_barrier(&srv, keys.sandbox, "dup");
    r = rc_get_invoice(&srv, keys.sandbox, "ing-dup");
    CHECK_STATUS(r, 200);
    CHECK(r, rc_count(r->json, "transactions") == 1);
    CHECK(r, jnum(r->json, "failed_attempts") == 1);
    CHECK(r, rc_count(r->json, "history") == 1);
    CHECK(r, body_has(r, "\"amount_due\":12.23"));
    hres_free(r);
    free(first);
    cJSON_Delete(p);
}

static void transaction_resent_in_another_event(void **state)
{
    (void)state;
    cJSON *p = rc_event("ing-re", "cus_re", "ing-re-1", 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    char *first = rc_send(&srv, keys.sandbox, p);
    struct rc_want w = {"pending", 1, 1, -1};
    hres *r = rc_wait(&srv, keys.sandbox, "ing-re", w);
    RC_WAIT_OK(r, w);
    hres_free(r);

    /* The next event carries the earlier transaction again plus a new one. */
    cJSON *txns = cJSON_GetObjectItemCaseSensitive(p, "transactions");
    cJSON_AddItemToArray(txns, cJSON_Duplicate(cJSON_GetArrayItem(txns, 0), 1));
    rc_set_str(p, "transactions[1].id", "ing-re-2");
    rc_set_str(p, "transactions[1].psp_transaction_id", "ing-re-2");
    rc_set_str(p, "transactions[1].psp_transaction_created_at", "2024-03-02T10:00:00Z");
    rc_set(p, "transactions[1].amount", "15.00");
    char *second = rc_send(&srv, keys.sandbox, p);
    assert_string_not_equal(first, second);
    w = (struct rc_want){"pending", 2, 2, 1};
    r = rc_wait(&srv, keys.sandbox, "ing-re", w);
    RC_WAIT_OK(r, w);
    CHECK(r, strcmp(js(cJSON_GetArrayItem(item(r->json, "transactions"), 0), "transaction_id"), "ing-re-1") == 0);
    CHECK(r, strcmp(js(cJSON_GetArrayItem(item(r->json, "transactions"), 1), "transaction_id"), "ing-re-2") == 0);
    CHECK(r, body_has(r, "\"amount_due\":15.00"));
    hres_free(r);

    /* The first transaction alone once more, in an event of its own again:
     * still a duplicate. */
    cJSON_DeleteItemFromArray(txns, 1);
    char *third = rc_send(&srv, keys.sandbox, p);
    assert_string_equal(first, third);
    rc_barrier(&srv, keys.sandbox, "re");
    r = rc_get_invoice(&srv, keys.sandbox, "ing-re");
    CHECK(r, rc_count(r->json, "transactions") == 2);
    CHECK(r, jnum(r->json, "failed_attempts") == 2);
    hres_free(r);
    free(first);
    free(second);
    free(third);
    cJSON_Delete(p);
}

struct racer {
    const char *body;
    long status;
    char request_id[80];
};

static void *race(void *arg)
{
    struct racer *x = arg;
    hres *r = rc_do(&srv, keys.sandbox, "POST", "/recover/payments", x->body);
    x->status = r->status;
    snprintf(x->request_id, sizeof x->request_id, "%s", js(r->json, "request_id"));
    hres_free(r);
    return NULL;
}

/* The same event sent many times at once is still one event. */
static void concurrent_duplicates(void **state)
{
    (void)state;
    enum { RACERS = 8 };
    cJSON *p = rc_event("ing-race", "cus_race", "ing-race-1", 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    char *body = cJSON_PrintUnformatted(p);
    struct racer xs[RACERS];
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++) {
        memset(&xs[i], 0, sizeof xs[i]);
        xs[i].body = body;
        assert_int_equal(pthread_create(&th[i], NULL, race, &xs[i]), 0);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < RACERS; i++) {
        if (xs[i].status != 200 || strcmp(xs[i].request_id, xs[0].request_id) != 0)
            fail_msg("racer %d: status %ld, request id %s (first %s)", i, xs[i].status, xs[i].request_id,
                     xs[0].request_id);
    }
    rc_barrier(&srv, keys.sandbox, "race");
    hres *r = rc_get_invoice(&srv, keys.sandbox, "ing-race");
    CHECK_STATUS(r, 200);
    CHECK(r, rc_count(r->json, "transactions") == 1);
    CHECK(r, jnum(r->json, "failed_attempts") == 1);
    CHECK(r, rc_count(r->json, "history") == 1);
    hres_free(r);
    free(body);
    cJSON_Delete(p);
}

/* The latest custom object is the one kept. */
static void custom_is_replaced_by_the_latest(void **state)
{
    (void)state;
    cJSON *p = rc_event("ing-custom", "cus_custom", "ing-custom-1", 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    rc_set(p, "custom", "{\"v\":1,\"nested\":{\"list\":[1,\"two\",null,true]}}");
    rc_send_free(&srv, keys.sandbox, p);
    struct rc_want w = {NULL, 1, -1, -1};
    hres *r = rc_wait(&srv, keys.sandbox, "ing-custom", w);
    RC_WAIT_OK(r, w);
    CHECK(r, body_has(r, "\"custom\":{\"v\":1,\"nested\":{\"list\":[1,\"two\",null,true]}}"));
    hres_free(r);
    p = rc_event("ing-custom", "cus_custom", "ing-custom-2", 0, "insufficient_funds", "2024-03-02T10:00:00Z");
    rc_set(p, "custom", "{\"v\":2}");
    rc_send_free(&srv, keys.sandbox, p);
    w.transactions = 2;
    r = rc_wait(&srv, keys.sandbox, "ing-custom", w);
    RC_WAIT_OK(r, w);
    CHECK(r, body_has(r, "\"custom\":{\"v\":2}"));
    hres_free(r);
}

static void unknown_invoice(void **state)
{
    (void)state;
    hres *r = rc_get_invoice(&srv, keys.sandbox, "in_never_sent");
    CHECK_STATUS(r, 404);
    CHECK(r, *js(r->json, "message") != '\0');
    hres_free(r);
}

/* Invoice ids are the merchant's own: any id the contract accepts can be
 * read back, percent-encoded in the path. */
static void ids_with_reserved_characters(void **state)
{
    (void)state;
    static const struct {
        const char *id, *encoded;
    } ids[] = {
        {"inv with space", "inv%20with%20space"},
        {"inv+plus", "inv%2Bplus"},
        {"inv%percent", "inv%25percent"},
        {"inv?query", "inv%3Fquery"},
        {"inv#hash", "inv%23hash"},
        {"caf\xc3\xa9", "caf%C3%A9"},
        {"inv/with/slash", "inv%2Fwith%2Fslash"},
    };
    size_t n = sizeof ids / sizeof ids[0];
    for (size_t i = 0; i < n; i++) {
        char txn[32];
        snprintf(txn, sizeof txn, "ing-resv-%zu", i);
        rc_send_free(&srv, keys.sandbox, rc_event(ids[i].id, "cus_resv", txn, 0, "insufficient_funds",
                                                  "2024-03-01T10:00:00Z"));
    }
    rc_barrier(&srv, keys.sandbox, "resv");
    struct rc_soft soft = {0};
    for (size_t i = 0; i < n; i++) {
        char path[200];
        snprintf(path, sizeof path, "/recover/invoices/%s", ids[i].encoded);
        hres *r = rc_do(&srv, keys.sandbox, "GET", path, NULL);
        snprintf(soft.ctx, sizeof soft.ctx, "invoice \"%s\" at GET %s", ids[i].id, path);
        SOFT(&soft, r, r->status == 200 && strcmp(js(r->json, "invoice_id"), ids[i].id) == 0);
        hres_free(r);
    }
    rc_soft_end(&soft);
}

/* ---- payment-method updates ---- */

static hres *pm_update(const char *body)
{
    return rc_do(&srv, keys.sandbox, "POST", "/recover/payment_method_updates", body);
}

static void pm_update_accepted(void **state)
{
    (void)state;
    hres *r = pm_update("{\"customer_id\":\"cus_pm\",\"payment_method_id\":\"pm_new\",\"psp_customer_id\":\"cus_X\","
                        "\"reason\":\"customer_updated\"}");
    check_ack(r);
    char first[80];
    snprintf(first, sizeof first, "%s", js(r->json, "request_id"));
    hres_free(r);
    /* reason is optional. */
    r = pm_update("{\"customer_id\":\"cus_pm\",\"payment_method_id\":\"pm_other\"}");
    check_ack(r);
    CHECK(r, strcmp(js(r->json, "request_id"), first) != 0);
    hres_free(r);
    r = pm_update("{\"customer_id\":\"cus_pm\",\"payment_method_id\":\"pm_third\",\"reason\":null,"
                  "\"psp_customer_id\":null}");
    check_ack(r);
    hres_free(r);
    static const char *const reasons[] = {"network_updated", "customer_updated", "expired", "removed"};
    for (size_t i = 0; i < 4; i++) {
        char body[200];
        snprintf(body, sizeof body, "{\"customer_id\":\"cus_pm2\",\"payment_method_id\":\"pm_r%zu\",\"reason\":\"%s\"}",
                 i, reasons[i]);
        r = pm_update(body);
        check_ack(r);
        hres_free(r);
    }
}

/* An update sent again is stored again: applying it twice changes nothing
 * more than once, and the same update can rightly come again later. */
static void pm_update_duplicates(void **state)
{
    (void)state;
    const char *body = "{\"customer_id\":\"cus_pmd\",\"payment_method_id\":\"pm_d\",\"reason\":\"network_updated\"}";
    hres *a = pm_update(body);
    check_ack(a);
    hres *b = pm_update(body);
    check_ack(b);
    CHECK(b, strcmp(js(a->json, "request_id"), js(b->json, "request_id")) != 0);
    /* The wrapped form is accepted the same way. */
    hres *c = pm_update("{\"body\":{\"customer_id\":\"cus_pmd\",\"payment_method_id\":\"pm_d\","
                        "\"reason\":\"network_updated\"}}");
    check_ack(c);
    hres_free(a);
    hres_free(b);
    hres_free(c);
}

static void pm_update_validation(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *fields[3];
    } cases[] = {
        {"{\"payment_method_id\":\"pm_1\"}", {"customer_id"}},
        {"{\"customer_id\":\"cus_1\"}", {"payment_method_id"}},
        {"{}", {"customer_id", "payment_method_id"}},
        {"{\"customer_id\":\"\",\"payment_method_id\":\"pm_1\"}", {"customer_id"}},
        {"{\"customer_id\":null,\"payment_method_id\":\"pm_1\"}", {"customer_id"}},
        {"{\"customer_id\":7,\"payment_method_id\":[\"pm_1\"]}", {"customer_id", "payment_method_id"}},
        {"{\"customer_id\":\"cus_1\",\"payment_method_id\":\"pm_1\",\"reason\":5}", {"reason"}},
        {"{\"customer_id\":\"cus_1\",\"payment_method_id\":\"pm_1\",\"psp_customer_id\":{}}", {"psp_customer_id"}},
        {"{\"customer_id\":1,\"payment_method_id\":\"\",\"reason\":true}",
         {"customer_id", "payment_method_id", "reason"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hres *r = pm_update(cases[i].body);
        RC_INVALID(r);
        int n = 0;
        for (; n < 3 && cases[i].fields[n]; n++)
            if (!has_error_field(r->json, cases[i].fields[n]))
                fail_msg("%s: errors[] does not name %s\n  body: %s", cases[i].body, cases[i].fields[n], r->body);
        CHECK(r, rc_count(r->json, "errors") == n);
        hres_free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_payload),
        cmocka_unit_test(minimal_payload),
        cmocka_unit_test(normalised_values),
        cmocka_unit_test(body_wrapper),
        cmocka_unit_test(duplicate_event),
        cmocka_unit_test(transaction_resent_in_another_event),
        cmocka_unit_test(concurrent_duplicates),
        cmocka_unit_test(custom_is_replaced_by_the_latest),
        cmocka_unit_test(unknown_invoice),
        cmocka_unit_test(ids_with_reserved_characters),
        cmocka_unit_test(pm_update_accepted),
        cmocka_unit_test(pm_update_duplicates),
        cmocka_unit_test(pm_update_validation),
    };
    return cmocka_run_group_tests_name("rc_ingest", tests, group_setup, group_teardown);
}
