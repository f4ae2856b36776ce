/* Merchants are isolated: another merchant's gateway key neither sees nor
 * changes the sandbox merchant's payments and stored cards. */
#include "pay_common.h"

static rserver srv;
static char other_key[200];

static int group_setup(void **state)
{
    (void)state;
    server_start(&srv, NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = server_stop(&srv);
    assert_int_equal(rc, 0);
    return rc;
}

static void check_empty_404(hres *r)
{
    CHECK_STATUS(r, 404);
    CHECK(r, strcmp(r->body, "{}") == 0);
}

static void other_merchant_is_created(void **state)
{
    (void)state;
    const char *json[] = {"Content-Type: application/json", NULL};
    hres *r = http_do("POST", srv.admin, "/admin/merchants", json, "{\"merchant_id\":\"other\",\"name\":\"Other\"}");
    CHECK_STATUS(r, 201);
    CHECK(r, strcmp(js(r->json, "merchant_id"), "other") == 0);
    hres_free(r);
    r = http_do("POST", srv.admin, "/admin/merchants/other/keys", json, "{\"service\":\"gateway\",\"env\":\"sandbox\"}");
    CHECK_STATUS(r, 201);
    CHECK(r, strcmp(js(r->json, "merchant_id"), "other") == 0);
    snprintf(other_key, sizeof other_key, "%s", js(r->json, "api_key"));
    hres_free(r);
    r = key_do(other_key, "GET", srv.payments, "/api/payments", NULL, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(r->body, "[]") == 0);
    hres_free(r);
}

static void payments_are_private(void **state)
{
    (void)state;
    char *id = create_card(&srv, srv.gateway_key, "30.00", "4242424242424242");
    char path[300], body[1024];
    snprintf(path, sizeof path, "/api/payments/%s", id);

    hres *r = key_do(other_key, "GET", srv.payments, path, NULL, NULL);
    check_empty_404(r);
    hres_free(r);
    r = key_do(other_key, "PUT", srv.payments, path, NULL, "{\"status\":\"settled\"}");
    check_empty_404(r);
    hres_free(r);
    r = key_do(other_key, "DELETE", srv.payments, path, NULL, NULL);
    check_empty_404(r);
    hres_free(r);

    snprintf(body, sizeof body, "{\"payment_id\":\"%s\",\"amount\":1.00}", id);
    r = key_do(other_key, "POST", srv.refunds, "/api/refunds", NULL, body);
    CHECK_FIELD_ERROR(r, 404, "payment_id");
    hres_free(r);

    r = key_do(other_key, "GET", srv.payments, "/api/payments", NULL, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(r->body, "[]") == 0);
    hres_free(r);
    char query[300];
    snprintf(query, sizeof query, "/api/payments?payment_id=%s", id);
    r = key_do(other_key, "GET", srv.payments, query, NULL, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(r->body, "[]") == 0);
    hres_free(r);

    /* None of those attempts touched the payment. */
    r = gw_do(&srv, "GET", srv.payments, path, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "status"), "success") == 0);
    CHECK(r, jnull(r->json, "settled_at"));
    CHECK(r, body_has(r, "\"refunded_amount\":0.00"));
    hres_free(r);
    r = gw_do(&srv, "GET", srv.refunds, "/api/refunds", NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(r->body, "[]") == 0);
    hres_free(r);
    r = gw_do(&srv, "GET", srv.payments, query, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, jlen(r) == 1);
    hres_free(r);

    /* The owner can still do what the other merchant could not. */
    r = gw_do(&srv, "DELETE", srv.payments, path, NULL);
    CHECK_STATUS(r, 200);
    hres_free(r);
    free(id);
}

static void own_payments_stay_own(void **state)
{
    (void)state;
    char *mine = create_mbway(&srv, other_key, "4.00", "912345678");
    char *theirs = create_card(&srv, srv.gateway_key, "5.00", "5555555555554444");
    hres *r = key_do(other_key, "GET", srv.payments, "/api/payments", NULL, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, jlen(r) == 1);
    CHECK(r, strcmp(js(cJSON_GetArrayItem(r->json, 0), "payment_id"), mine) == 0);
    hres_free(r);
    r = gw_do(&srv, "GET", srv.payments, "/api/payments", NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strstr(r->body, mine) == NULL);
    CHECK(r, strstr(r->body, theirs) != NULL);
    hres_free(r);
    char path[300];
    snprintf(path, sizeof path, "/api/payments/%s", mine);
    r = gw_do(&srv, "GET", srv.payments, path, NULL);
    check_empty_404(r);
    hres_free(r);
    free(mine);
    free(theirs);
}

static void stored_cards_are_private(void **state)
{
    (void)state;
    hres *r = gw_do(&srv, "POST", srv.payments, "/api/payment_methods",
                    "{\"type\":\"credit_card\",\"number\":\"4242424242424242\",\"name\":\"Ana Silva\","
                    "\"expiration_month\":12,\"expiration_year\":2099,\"cvv\":\"123\"}");
    CHECK_STATUS(r, 201);
    char pm[64];
    snprintf(pm, sizeof pm, "%s", js(r->json, "payment_method_id"));
    hres_free(r);

    char path[200], body[300];
    snprintf(path, sizeof path, "/api/payment_methods/%s", pm);
    r = key_do(other_key, "GET", srv.payments, path, NULL, NULL);
    check_empty_404(r);
    hres_free(r);
    r = key_do(other_key, "DELETE", srv.payments, path, NULL, NULL);
    check_empty_404(r);
    hres_free(r);
    snprintf(body, sizeof body, "{\"amount\":9.99,\"payment_method\":\"credit_card\",\"payment_method_id\":\"%s\"}", pm);
    r = key_do(other_key, "POST", srv.payments, "/api/payments", NULL, body);
    CHECK_FIELD_ERROR(r, 404, "payment_method_id");
    hres_free(r);

    r = gw_do(&srv, "GET", srv.payments, path, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "payment_method_id"), pm) == 0);
    hres_free(r);
}

static void idempotency_keys_are_private(void **state)
{
    (void)state;
    char body[1024];
    card_body(body, sizeof body, "6.00", "4242424242424242", NULL);
    const char *idem[] = {"Idempotency-Key: shared-key-1", NULL};
    hres *a = gw_do_h(&srv, "POST", srv.payments, "/api/payments", idem, body);
    CHECK_STATUS(a, 201);
    hres *b = key_do(other_key, "POST", srv.payments, "/api/payments", idem, body);
    CHECK_STATUS(b, 201);
    char *replayed = hres_header(b, "Idempotent-Replayed");
    CHECK(b, replayed == NULL);
    free(replayed);
    CHECK(b, strcmp(js(a->json, "payment_id"), js(b->json, "payment_id")) != 0);
    hres_free(a);
    hres_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(other_merchant_is_created),
        cmocka_unit_test(payments_are_private),
        cmocka_unit_test(own_payments_stay_own),
        cmocka_unit_test(stored_cards_are_private),
        cmocka_unit_test(idempotency_keys_are_private),
    };
    return cmocka_run_group_tests_name("pay_isolation", tests, group_setup, group_teardown);
}
