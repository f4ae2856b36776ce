/* The largest amounts the API accepts (fifteen major digits) are stored,
 * shown and filtered like any other. A server of its own: the amount
 * filters must hold at the top of the range. */
#include "pay_common.h"

static rserver srv;

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

static void sixteen_digits_are_refused(void **state)
{
    (void)state;
    char body[512];
    mbway_body(body, sizeof body, "1000000000000000", "912345678");
    hres *r = gw_do(&srv, "POST", srv.payments, "/api/payments", body);
    CHECK_FIELD_ERROR(r, 400, "amount");
    hres_free(r);
}

/* Any amount a payment can have is a valid bound. */
static void filters_take_the_largest_amount(void **state)
{
    (void)state;
    static const char *const paths[] = {"/api/payments?amount_gte=999999999999999",
                                        "/api/payments?amount_lte=999999999999999.99"};
    for (int i = 0; i < 2; i++) {
        hres *r = gw_do(&srv, "GET", srv.payments, paths[i], NULL);
        CHECK_STATUS(r, 200);
        CHECK(r, strcmp(r->body, "[]") == 0);
        hres_free(r);
    }
    hres *r = gw_do(&srv, "GET", srv.payments, "/api/payments?amount_gte=1000000000000000", NULL);
    CHECK_FIELD_ERROR(r, 400, "amount_gte");
    hres_free(r);
}

static void largest_eur_amount(void **state)
{
    (void)state;
    char key[200];
    assert_int_equal(make_merchant_key(&srv, "big-eur", key, sizeof key), 0);
    char *small = create_mbway(&srv, key, "1.00", "912345678");
    char body[512];
    mbway_body(body, sizeof body, "999999999999999", "912345678");
    hres *r = key_do(key, "POST", srv.payments, "/api/payments", NULL, body);
    CHECK_STATUS(r, 201);
    CHECK(r, body_has(r, "\"amount\":999999999999999.00,"));
    char big[201];
    snprintf(big, sizeof big, "%s", js(r->json, "payment_id"));
    hres_free(r);

    /* The big one is above every small bound and below no small one. */
    r = key_do(key, "GET", srv.payments, "/api/payments?amount_gte=900000000000000", NULL, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, jlen(r) == 1 && strstr(r->body, big) != NULL);
    hres_free(r);
    r = key_do(key, "GET", srv.payments, "/api/payments?amount_lte=2", NULL, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, jlen(r) == 1 && strstr(r->body, small) != NULL);
    hres_free(r);
    r = key_do(key, "GET", srv.payments, "/api/payments?amount_lte=999999999999998.99", NULL, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, jlen(r) == 1 && strstr(r->body, small) != NULL);
    hres_free(r);
    free(small);
}

static void largest_jpy_amount(void **state)
{
    (void)state;
    char key[200];
    assert_int_equal(make_merchant_key(&srv, "big-jpy", key, sizeof key), 0);
    hres *r = key_do(key, "POST", srv.payments, "/api/payments", NULL,
                     "{\"amount\":999999999999999,\"currency\":\"JPY\",\"payment_method\":\"mbway\","
                     "\"additional_params\":{\"phone_number\":\"912345678\"}}");
    CHECK_STATUS(r, 201);
    CHECK(r, body_has(r, "\"amount\":999999999999999,"));
    hres_free(r);
    r = key_do(key, "GET", srv.payments, "/api/payments?amount_gte=1000", NULL, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, jlen(r) == 1);
    hres_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sixteen_digits_are_refused),
        cmocka_unit_test(filters_take_the_largest_amount),
        cmocka_unit_test(largest_eur_amount),
        cmocka_unit_test(largest_jpy_amount),
    };
    return cmocka_run_group_tests_name("pay_amount_range", tests, group_setup, group_teardown);
}
