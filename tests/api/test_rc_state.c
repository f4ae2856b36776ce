/* The invoice state machine end to end, through the API only: a failure
 * opens dunning, an expired card waits for a new payment method, a
 * payment-method update makes the invoice retryable again, a merchant's
 * success closes it for good, and the history records each step in order. */
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

static const cJSON *history(const hres *r, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r->json, "history"), i);
}

static int hist_is(const hres *r, int i, const char *from, const char *to)
{
    const cJSON *h = history(r, i);
    if (!h || strcmp(js(h, "to"), to) != 0 || !is_api_time(js(h, "at")) || !*js(h, "reason"))
        return 0;
    return from ? strcmp(js(h, "from"), from) == 0 : jnull(h, "from");
}

/* One event of one transaction with the sandbox key. */
static void send_event(const char *invoice, const char *customer, const char *txn, int success, const char *raw,
                       const char *at)
{
    rc_send_free(&srv, keys.sandbox, rc_event(invoice, customer, txn, success, raw, at));
}

static void pm_update_send(const char *customer, const char *pm, const char *reason)
{
    char body[300];
    if (reason)
        snprintf(body, sizeof body, "{\"customer_id\":\"%s\",\"payment_method_id\":\"%s\",\"reason\":\"%s\"}", customer,
                 pm, reason);
    else
        snprintf(body, sizeof body, "{\"customer_id\":\"%s\",\"payment_method_id\":\"%s\"}", customer, pm);
    hres *r = rc_do(&srv, keys.sandbox, "POST", "/recover/payment_method_updates", body);
    CHECK_STATUS(r, 200);
    hres_free(r);
}

static void failure_opens_dunning(void **state)
{
    (void)state;
    cJSON *p = rc_event("st-fail", "cus_fail", "st-fail-1", 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    rc_set(p, "transactions[0].amount", "19.99");
    rc_set_str(p, "transactions[0].currency", "EUR");
    rc_send_free(&srv, keys.sandbox, p);
    struct rc_want w = {"pending", 1, 1, 1};
    hres *r = rc_wait(&srv, keys.sandbox, "st-fail", w);
    RC_WAIT_OK(r, w);
    CHECK(r, strcmp(js(r->json, "dunning_started_at"), "2024-03-01T10:00:00.000Z") == 0);
    CHECK(r, body_has(r, "\"amount_due\":19.99"));
    CHECK(r, strcmp(js(r->json, "currency"), "EUR") == 0);
    CHECK(r, jnull(r->json, "closed_at"));
    CHECK(r, *js(r->json, "state_reason") != '\0');
    CHECK(r, hist_is(r, 0, NULL, "pending"));
    hres_free(r);

    /* A second failure counts, updates the amount due, changes no state. */
    p = rc_event("st-fail", "cus_fail", "st-fail-2", 0, "do_not_honor", "2024-03-03T10:00:00Z");
    rc_set(p, "transactions[0].amount", "9.50");
    rc_set_str(p, "transactions[0].currency", "EUR");
    rc_send_free(&srv, keys.sandbox, p);
    w = (struct rc_want){"pending", 2, 2, 1};
    r = rc_wait(&srv, keys.sandbox, "st-fail", w);
    RC_WAIT_OK(r, w);
    CHECK(r, strcmp(js(r->json, "dunning_started_at"), "2024-03-01T10:00:00.000Z") == 0);
    CHECK(r, body_has(r, "\"amount_due\":9.50"));
    hres_free(r);
}

/* Expired card, then a payment-method update, then the merchant collects,
 * then failures arrive late: the whole life of one invoice. */
static void expired_card_to_paid_by_merchant(void **state)
{
    (void)state;
    send_event("st-exp", "cus_exp", "st-exp-1", 0, "expired_card", "2024-03-01T10:00:00Z");
    struct rc_want w = {"awaiting_payment_method", 1, 1, 1};
    hres *r = rc_wait(&srv, keys.sandbox, "st-exp", w);
    RC_WAIT_OK(r, w);
    CHECK(r, strcmp(js(r->json, "dunning_started_at"), "2024-03-01T10:00:00.000Z") == 0);
    CHECK(r, hist_is(r, 0, NULL, "awaiting_payment_method"));
    hres_free(r);

    pm_update_send("cus_exp", "pm_new_card", "customer_updated");
    w = (struct rc_want){"pending", 1, 1, 2};
    r = rc_wait(&srv, keys.sandbox, "st-exp", w);
    RC_WAIT_OK(r, w);
    CHECK(r, hist_is(r, 1, "awaiting_payment_method", "pending"));
    CHECK(r, jnull(r->json, "closed_at"));
    hres_free(r);

    send_event("st-exp", "cus_exp", "st-exp-2", 1, "approved", "2024-03-04T08:30:00Z");
    w = (struct rc_want){"paid_by_merchant", 2, 1, 3};
    r = rc_wait(&srv, keys.sandbox, "st-exp", w);
    RC_WAIT_OK(r, w);
    CHECK(r, strcmp(js(r->json, "closed_at"), "2024-03-04T08:30:00.000Z") == 0);
    CHECK(r, hist_is(r, 2, "pending", "paid_by_merchant"));
    CHECK(r, hist_is(r, 0, NULL, "awaiting_payment_method"));
    CHECK(r, hist_is(r, 1, "awaiting_payment_method", "pending"));
    hres_free(r);

    /* Closed for good: later failures are recorded and change nothing. */
    send_event("st-exp", "cus_exp", "st-exp-3", 0, "insufficient_funds", "2024-03-05T08:30:00Z");
    send_event("st-exp", "cus_exp", "st-exp-4", 0, "expired_card", "2024-03-06T08:30:00Z");
    w = (struct rc_want){NULL, 4, -1, -1};
    r = rc_wait(&srv, keys.sandbox, "st-exp", w);
    RC_WAIT_OK(r, w);
    CHECK(r, strcmp(js(r->json, "state"), "paid_by_merchant") == 0);
    CHECK(r, jnum(r->json, "failed_attempts") == 1);
    CHECK(r, strcmp(js(r->json, "closed_at"), "2024-03-04T08:30:00.000Z") == 0);
    CHECK(r, rc_count(r->json, "history") == 3);
    hres_free(r);

    /* Nor does a payment-method update. */
    pm_update_send("cus_exp", "pm_newer_card", "customer_updated");
    rc_barrier(&srv, keys.sandbox, "exp");
    r = rc_get_invoice(&srv, keys.sandbox, "st-exp");
    CHECK(r, strcmp(js(r->json, "state"), "paid_by_merchant") == 0);
    CHECK(r, rc_count(r->json, "history") == 3);
    hres_free(r);
}

static void first_event_success_is_paid(void **state)
{
    (void)state;
    send_event("st-paid", "cus_paid", "st-paid-1", 1, "approved", "2024-03-01T10:00:00Z");
    struct rc_want w = {"paid", 1, 0, 1};
    hres *r = rc_wait(&srv, keys.sandbox, "st-paid", w);
    RC_WAIT_OK(r, w);
    CHECK(r, jnull(r->json, "dunning_started_at"));
    CHECK(r, hist_is(r, 0, NULL, "paid"));
    CHECK(r, body_has(r, "\"amount_due\":12.23"));
    hres_free(r);
    send_event("st-paid", "cus_paid", "st-paid-2", 0, "insufficient_funds", "2024-03-02T10:00:00Z");
    w = (struct rc_want){NULL, 2, -1, -1};
    r = rc_wait(&srv, keys.sandbox, "st-paid", w);
    RC_WAIT_OK(r, w);
    CHECK(r, strcmp(js(r->json, "state"), "paid") == 0);
    CHECK(r, jnum(r->json, "failed_attempts") == 0);
    CHECK(r, jnull(r->json, "dunning_started_at"));
    CHECK(r, rc_count(r->json, "history") == 1);
    hres_free(r);
}

static void pending_to_paid_by_merchant(void **state)
{
    (void)state;
    send_event("st-pbm", "cus_pbm", "st-pbm-1", 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    send_event("st-pbm", "cus_pbm", "st-pbm-2", 1, "approved", "2024-03-02T11:00:00Z");
    struct rc_want w = {"paid_by_merchant", 2, 1, 2};
    hres *r = rc_wait(&srv, keys.sandbox, "st-pbm", w);
    RC_WAIT_OK(r, w);
    CHECK(r, hist_is(r, 0, NULL, "pending"));
    CHECK(r, hist_is(r, 1, "pending", "paid_by_merchant"));
    CHECK(r, strcmp(js(r->json, "closed_at"), "2024-03-02T11:00:00.000Z") == 0);
    hres_free(r);
}

/* Several transactions of one event count in the order they happened, not
 * in the order they are listed. */
static void order_within_an_event(void **state)
{
    (void)state;
    cJSON *p = rc_event("st-ord", "cus_ord", "st-ord-ok", 1, "approved", "2024-03-02T10:00:00Z");
    cJSON *txns = cJSON_GetObjectItemCaseSensitive(p, "transactions");
    cJSON_AddItemToArray(txns, cJSON_Duplicate(cJSON_GetArrayItem(txns, 0), 1));
    rc_set_str(p, "transactions[1].id", "st-ord-fail");
    rc_set(p, "transactions[1].success", "false");
    rc_set_str(p, "transactions[1].outcome.raw_response_message", "insufficient_funds");
    rc_set_str(p, "transactions[1].psp_transaction_created_at", "2024-03-01T10:00:00Z");
    rc_send_free(&srv, keys.sandbox, p);
    struct rc_want w = {"paid_by_merchant", 2, 1, -1};
    hres *r = rc_wait(&srv, keys.sandbox, "st-ord", w);
    RC_WAIT_OK(r, w);
    CHECK(r, strcmp(js(r->json, "dunning_started_at"), "2024-03-01T10:00:00.000Z") == 0);
    CHECK(r, strcmp(js(r->json, "closed_at"), "2024-03-02T10:00:00.000Z") == 0);
    /* Transactions are listed oldest first. */
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(r->json, "transactions");
    CHECK(r, strcmp(js(cJSON_GetArrayItem(t, 0), "transaction_id"), "st-ord-fail") == 0);
    CHECK(r, strcmp(js(cJSON_GetArrayItem(t, 1), "transaction_id"), "st-ord-ok") == 0);
    const cJSON *last = history(r, rc_count(r->json, "history") - 1);
    CHECK(r, strcmp(js(last, "to"), "paid_by_merchant") == 0);
    hres_free(r);

    /* The success first and the failure after: the invoice was paid. */
    p = rc_event("st-ord2", "cus_ord", "st-ord2-ok", 1, "approved", "2024-03-01T10:00:00Z");
    txns = cJSON_GetObjectItemCaseSensitive(p, "transactions");
    cJSON_InsertItemInArray(txns, 0, cJSON_Duplicate(cJSON_GetArrayItem(txns, 0), 1));
    rc_set_str(p, "transactions[0].id", "st-ord2-fail");
    rc_set(p, "transactions[0].success", "false");
    rc_set_str(p, "transactions[0].outcome.raw_response_message", "insufficient_funds");
    rc_set_str(p, "transactions[0].psp_transaction_created_at", "2024-03-02T10:00:00Z");
    rc_send_free(&srv, keys.sandbox, p);
    w = (struct rc_want){"paid", 2, 0, 1};
    r = rc_wait(&srv, keys.sandbox, "st-ord2", w);
    RC_WAIT_OK(r, w);
    CHECK(r, jnull(r->json, "dunning_started_at"));
    hres_free(r);
}

/* Messages that need a new payment method, in the spellings PSPs use. */
static void needs_new_payment_method(void **state)
{
    (void)state;
    /* psp NULL: the payload's stripe; code: processor_response_code as
     * JSON (a number or a string); type: response_type. */
    static const struct {
        const char *raw, *psp_message;
        const char *state;
        const char *psp, *code, *type;
    } cases[] = {
        {"expired_card", NULL, "awaiting_payment_method", NULL, NULL, NULL},
        {"Expired Card", NULL, "awaiting_payment_method", NULL, NULL, NULL},
        {"EXPIRED-CARD", NULL, "awaiting_payment_method", NULL, NULL, NULL},
        {"declined", "card_expired", "awaiting_payment_method", NULL, NULL, NULL},
        {"incorrect_cvc", NULL, "awaiting_payment_method", NULL, NULL, NULL},
        {"insufficient_funds", NULL, "pending", NULL, NULL, NULL},
        {"do_not_honor", "generic_decline", "pending", NULL, NULL, NULL},
        {"invalid_expiry_year", NULL, "awaiting_payment_method", NULL, NULL, NULL},
        {"Processor Declined", NULL, "awaiting_payment_method", "braintree", "2004", NULL},
        {"Processor Declined", NULL, "pending", "braintree", "\"2001\"", NULL},
        {"Refused", NULL, "awaiting_payment_method", "adyen", "24", NULL},
        /* a never class: dunning opens, and the planner ends it at once */
        {"lost_card", NULL, "unrecoverable", NULL, NULL, "hard_decline"},
        {"The bank said no", NULL, "pending", NULL, NULL, "soft_decline"},
        {"The bank said no", NULL, "awaiting_payment_method", NULL, NULL, "hard_decline"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char id[40];
        snprintf(id, sizeof id, "st-npm-%zu", i);
        cJSON *p = rc_event(id, "cus_npm", id, 0, cases[i].raw, "2024-03-01T10:00:00Z");
        if (cases[i].psp_message)
            rc_set_str(p, "transactions[0].outcome.psp_response_message", cases[i].psp_message);
        if (cases[i].psp)
            rc_set_str(p, "transactions[0].psp", cases[i].psp);
        if (cases[i].code)
            rc_set(p, "transactions[0].outcome.processor_response_code", cases[i].code);
        if (cases[i].type)
            rc_set_str(p, "transactions[0].outcome.response_type", cases[i].type);
        rc_send_free(&srv, keys.sandbox, p);
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char id[40];
        snprintf(id, sizeof id, "st-npm-%zu", i);
        int closed = strcmp(cases[i].state, "unrecoverable") == 0;
        struct rc_want w = {cases[i].state, 1, 1, closed ? 2 : 1};
        hres *r = rc_wait(&srv, keys.sandbox, id, w);
        if (!rc_matches(r, &w))
            fail_msg("raw %s: want %s, got %s", cases[i].raw, cases[i].state, r->body);
        hres_free(r);
    }
}

/* A removal or an expiry is no new payment method; an update of another
 * customer is not this customer's. */
static void pm_updates_that_do_not_reopen(void **state)
{
    (void)state;
    send_event("st-wait", "cus_wait", "st-wait-1", 0, "expired_card", "2024-03-01T10:00:00Z");
    send_event("st-pend", "cus_wait", "st-pend-1", 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    struct rc_want w = {"awaiting_payment_method", 1, 1, 1};
    hres *r = rc_wait(&srv, keys.sandbox, "st-wait", w);
    RC_WAIT_OK(r, w);
    hres_free(r);
    pm_update_send("cus_wait", "pm_old", "removed");
    pm_update_send("cus_wait", "pm_old2", "expired");
    pm_update_send("cus_someone_else", "pm_x", "customer_updated");
    rc_barrier(&srv, keys.sandbox, "wait");
    r = rc_get_invoice(&srv, keys.sandbox, "st-wait");
    CHECK(r, strcmp(js(r->json, "state"), "awaiting_payment_method") == 0);
    CHECK(r, rc_count(r->json, "history") == 1);
    hres_free(r);

    /* An update without a reason is a new payment method; it moves the
     * waiting invoice and leaves the pending one of the same customer. */
    pm_update_send("cus_wait", "pm_fresh", NULL);
    w = (struct rc_want){"pending", 1, 1, 2};
    r = rc_wait(&srv, keys.sandbox, "st-wait", w);
    RC_WAIT_OK(r, w);
    CHECK(r, hist_is(r, 1, "awaiting_payment_method", "pending"));
    CHECK(r, strstr(js(history(r, 1), "reason"), "no reason given") != NULL);
    hres_free(r);
    r = rc_get_invoice(&srv, keys.sandbox, "st-pend");
    CHECK(r, strcmp(js(r->json, "state"), "pending") == 0);
    CHECK(r, rc_count(r->json, "history") == 1);
    hres_free(r);
}

/* Every waiting invoice of the customer moves with one update. */
static void pm_update_moves_all_waiting_invoices(void **state)
{
    (void)state;
    send_event("st-all-1", "cus_all", "st-all-1", 0, "expired_card", "2024-03-01T10:00:00Z");
    send_event("st-all-2", "cus_all", "st-all-2", 0, "expired_card", "2024-04-01T10:00:00Z");
    struct rc_want w = {"awaiting_payment_method", 1, 1, 1};
    hres *r = rc_wait(&srv, keys.sandbox, "st-all-2", w);
    RC_WAIT_OK(r, w);
    hres_free(r);
    pm_update_send("cus_all", "pm_all", "network_updated");
    w = (struct rc_want){"pending", 1, 1, 2};
    for (int i = 1; i <= 2; i++) {
        char id[20];
        snprintf(id, sizeof id, "st-all-%d", i);
        r = rc_wait(&srv, keys.sandbox, id, w);
        RC_WAIT_OK(r, w);
        CHECK(r, strstr(js(history(r, 1), "reason"), "network_updated") != NULL);
        hres_free(r);
    }
}

/* An invoice waiting for a card that never comes ends with its window,
 * though no event of its own arrives: exhausted, with a history row. Last
 * in the group: it moves the clock past every fixture's window. */
static void window_ends_a_wait_without_events(void **state)
{
    (void)state;
    send_event("st-lapse", "cus_lapse", "st-lapse", 0, "expired_card", "2024-03-05T10:00:00Z");
    struct rc_want w = {"awaiting_payment_method", 1, 1, 1};
    hres *r = rc_wait(&srv, keys.sandbox, "st-lapse", w);
    RC_WAIT_OK(r, w);
    hres_free(r);
    /* 2024-03-10 + 30 days: past the window (2024-04-04T10:00) */
    hres *a = rc_admin(&srv, "POST", "/admin/clock/advance", "{\"seconds\": 2592000}");
    CHECK_STATUS(a, 200);
    hres_free(a);
    w = (struct rc_want){"exhausted", 1, 1, 2};
    r = rc_wait(&srv, keys.sandbox, "st-lapse", w);
    RC_WAIT_OK(r, w);
    CHECK(r, strstr(js(history(r, 1), "reason"), "window") != NULL);
    hres_free(r);
}

/* The admin view of an invoice is the merchant's view. */
static void admin_invoice_view(void **state)
{
    (void)state;
    hres *a = rc_get_invoice(&srv, keys.sandbox, "st-pbm");
    hres *b = rc_admin(&srv, "GET", "/admin/merchants/sandbox/recover/invoices/st-pbm?env=sandbox", NULL);
    CHECK_STATUS(b, 200);
    CHECK(b, a->json && b->json && cJSON_Compare(a->json, b->json, 1));
    hres_free(b);
    b = rc_admin(&srv, "GET", "/admin/merchants/sandbox/recover/invoices/st-pbm", NULL);
    CHECK_STATUS(b, 200);
    CHECK(b, cJSON_Compare(a->json, b->json, 1));
    hres_free(b);
    b = rc_admin(&srv, "GET", "/admin/merchants/sandbox/recover/invoices/st-pbm?env=production", NULL);
    CHECK_STATUS(b, 404);
    hres_free(b);
    b = rc_admin(&srv, "GET", "/admin/merchants/sandbox/recover/invoices/st-pbm?env=staging", NULL);
    CHECK_STATUS(b, 400);
    hres_free(b);
    b = rc_admin(&srv, "GET", "/admin/merchants/nobody/recover/invoices/st-pbm", NULL);
    CHECK_STATUS(b, 404);
    hres_free(b);
    hres_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failure_opens_dunning),
        cmocka_unit_test(expired_card_to_paid_by_merchant),
        cmocka_unit_test(first_event_success_is_paid),
        cmocka_unit_test(pending_to_paid_by_merchant),
        cmocka_unit_test(order_within_an_event),
        cmocka_unit_test(needs_new_payment_method),
        cmocka_unit_test(pm_updates_that_do_not_reopen),
        cmocka_unit_test(pm_update_moves_all_waiting_invoices),
        cmocka_unit_test(admin_invoice_view),
        cmocka_unit_test(window_ends_a_wait_without_events),
    };
    return cmocka_run_group_tests_name("rc_state", tests, group_setup, group_teardown);
}
