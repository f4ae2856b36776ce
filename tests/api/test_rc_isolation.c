/* Recover data is private to a merchant and to an environment: another
 * merchant's key, or the same merchant's production key, neither reads
 * nor changes the sandbox merchant's invoices, and the same ids make
 * separate invoices there. */
#include "rc_common.h"

static rserver srv;
static struct rc_keys keys;
static char other_key[200];

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

static void second_merchant(void **state)
{
    (void)state;
    hres *r = rc_admin(&srv, "POST", "/admin/merchants", "{\"merchant_id\":\"rc-other\",\"name\":\"Other Ltd\"}");
    CHECK_STATUS(r, 201);
    hres_free(r);
    r = rc_admin(&srv, "POST", "/admin/merchants/rc-other/keys", "{\"service\":\"recover\",\"env\":\"sandbox\"}");
    CHECK_STATUS(r, 201);
    CHECK(r, strcmp(js(r->json, "service"), "recover") == 0);
    snprintf(other_key, sizeof other_key, "%s", js(r->json, "api_key"));
    hres_free(r);
    assert_true(other_key[0] != '\0');
}

static void invoice_of(const char *key, const char *invoice, const char *state, int txns, int failed, hres **out)
{
    struct rc_want w = {state, txns, failed, -1};
    hres *r = rc_wait(&srv, key, invoice, w);
    RC_WAIT_OK(r, w);
    *out = r;
}

static void other_merchant_cannot_read_or_change(void **state)
{
    (void)state;
    rc_send_free(&srv, keys.sandbox, rc_event("iso-1", "cus_iso", "iso-t1", 0, "expired_card", "2024-03-01T10:00:00Z"));
    hres *mine;
    invoice_of(keys.sandbox, "iso-1", "awaiting_payment_method", 1, 1, &mine);
    hres_free(mine);

    hres *r = rc_get_invoice(&srv, other_key, "iso-1");
    CHECK_STATUS(r, 404);
    hres_free(r);
    r = rc_admin(&srv, "GET", "/admin/merchants/rc-other/recover/invoices/iso-1", NULL);
    CHECK_STATUS(r, 404);
    hres_free(r);

    /* The same ids from the other merchant: a new event, a new invoice. */
    cJSON *p = rc_event("iso-1", "cus_iso", "iso-t1", 0, "insufficient_funds", "2024-03-02T10:00:00Z");
    rc_set(p, "transactions[0].amount", "77.00");
    char *theirs = rc_send(&srv, other_key, p);
    cJSON *again = rc_event("iso-1", "cus_iso", "iso-t1", 0, "expired_card", "2024-03-01T10:00:00Z");
    char *mine_again = rc_send(&srv, keys.sandbox, again);
    assert_string_not_equal(theirs, mine_again);
    free(theirs);
    free(mine_again);
    cJSON_Delete(again);
    hres *other;
    invoice_of(other_key, "iso-1", "pending", 1, 1, &other);
    CHECK(other, body_has(other, "\"amount_due\":77.00"));
    hres_free(other);

    /* Their success, and their payment-method update for a customer with
     * the same id, change nothing here. */
    rc_send_free(&srv, other_key, rc_event("iso-1", "cus_iso", "iso-t2", 1, "approved", "2024-03-03T10:00:00Z"));
    r = rc_do(&srv, other_key, "POST", "/recover/payment_method_updates",
              "{\"customer_id\":\"cus_iso\",\"payment_method_id\":\"pm_theirs\",\"reason\":\"customer_updated\"}");
    CHECK_STATUS(r, 200);
    hres_free(r);
    invoice_of(other_key, "iso-1", "paid_by_merchant", 2, 1, &other);
    hres_free(other);
    rc_barrier(&srv, other_key, "iso-other");
    rc_barrier(&srv, keys.sandbox, "iso-mine");

    r = rc_get_invoice(&srv, keys.sandbox, "iso-1");
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "state"), "awaiting_payment_method") == 0);
    CHECK(r, rc_count(r->json, "transactions") == 1);
    CHECK(r, jnum(r->json, "failed_attempts") == 1);
    CHECK(r, rc_count(r->json, "history") == 1);
    CHECK(r, body_has(r, "\"amount_due\":12.23"));
    hres_free(r);

    /* The admin API shows each merchant its own. */
    r = rc_admin(&srv, "GET", "/admin/merchants/rc-other/recover/invoices/iso-1", NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "state"), "paid_by_merchant") == 0);
    hres_free(r);
    r = rc_admin(&srv, "GET", "/admin/merchants/sandbox/recover/invoices/iso-1", NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "state"), "awaiting_payment_method") == 0);
    hres_free(r);
    cJSON_Delete(p);
}

static void own_invoices_stay_own(void **state)
{
    (void)state;
    rc_send_free(&srv, other_key, rc_event("iso-theirs", "cus_t", "iso-theirs-1", 0, "insufficient_funds",
                                           "2024-03-01T10:00:00Z"));
    hres *r;
    invoice_of(other_key, "iso-theirs", "pending", 1, 1, &r);
    hres_free(r);
    r = rc_get_invoice(&srv, keys.sandbox, "iso-theirs");
    CHECK_STATUS(r, 404);
    hres_free(r);
    r = rc_get_invoice(&srv, keys.production, "iso-theirs");
    CHECK_STATUS(r, 404);
    hres_free(r);
}

static void sandbox_and_production_are_separate(void **state)
{
    (void)state;
    cJSON *p = rc_event("iso-env", "cus_env", "iso-env-1", 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    char *sandbox_req = rc_send(&srv, keys.sandbox, p);
    hres *r;
    invoice_of(keys.sandbox, "iso-env", "pending", 1, 1, &r);
    CHECK(r, strcmp(js(r->json, "environment"), "sandbox") == 0);
    hres_free(r);
    r = rc_get_invoice(&srv, keys.production, "iso-env");
    CHECK_STATUS(r, 404);
    hres_free(r);

    /* The same event in production is not a duplicate of the sandbox one. */
    rc_set(p, "transactions[0].success", "true");
    rc_set_str(p, "transactions[0].outcome.raw_response_message", "approved");
    char *prod_req = rc_send(&srv, keys.production, p);
    assert_string_not_equal(sandbox_req, prod_req);
    invoice_of(keys.production, "iso-env", "paid", 1, 0, &r);
    CHECK(r, strcmp(js(r->json, "environment"), "production") == 0);
    hres_free(r);
    rc_barrier(&srv, keys.production, "env-prod");
    r = rc_get_invoice(&srv, keys.sandbox, "iso-env");
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "state"), "pending") == 0);
    CHECK(r, rc_count(r->json, "transactions") == 1);
    CHECK(r, jnum(r->json, "failed_attempts") == 1);
    hres_free(r);

    r = rc_admin(&srv, "GET", "/admin/merchants/sandbox/recover/invoices/iso-env?env=production", NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "state"), "paid") == 0);
    hres_free(r);
    r = rc_admin(&srv, "GET", "/admin/merchants/sandbox/recover/invoices/iso-env?env=sandbox", NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "state"), "pending") == 0);
    hres_free(r);

    /* A production payment-method update leaves sandbox invoices alone. */
    rc_send_free(&srv, keys.sandbox, rc_event("iso-env-exp", "cus_env", "iso-env-exp", 0, "expired_card",
                                              "2024-03-01T10:00:00Z"));
    invoice_of(keys.sandbox, "iso-env-exp", "awaiting_payment_method", 1, 1, &r);
    hres_free(r);
    r = rc_do(&srv, keys.production, "POST", "/recover/payment_method_updates",
              "{\"customer_id\":\"cus_env\",\"payment_method_id\":\"pm_prod\"}");
    CHECK_STATUS(r, 200);
    hres_free(r);
    rc_barrier(&srv, keys.production, "env-prod-2");
    r = rc_get_invoice(&srv, keys.sandbox, "iso-env-exp");
    CHECK(r, strcmp(js(r->json, "state"), "awaiting_payment_method") == 0);
    hres_free(r);
    free(sandbox_req);
    free(prod_req);
    cJSON_Delete(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(second_merchant),
        cmocka_unit_test(other_merchant_cannot_read_or_change),
        cmocka_unit_test(own_invoices_stay_own),
        cmocka_unit_test(sandbox_and_production_are_separate),
    };
    return cmocka_run_group_tests_name("rc_isolation", tests, group_setup, group_teardown);
}
