/* Stored payment methods: tokenising a card, reading and deleting the
 * token, and charging it with POST /api/payments. */
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

static hres *tokenise(const char *number, const char *cvv)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"type\":\"credit_card\",\"number\":\"%s\",\"name\":\"Ana Silva\",\"expiration_month\":12,"
             "\"expiration_year\":2099,\"cvv\":\"%s\"}",
             number, cvv);
    return gw_do(&srv, "POST", srv.payments, "/api/payment_methods", body);
}

/* Tokenises a card and returns its token (malloc'd). */
static char *stored(const char *number)
{
    hres *r = tokenise(number, number[0] == '3' ? "1234" : "123");
    CHECK_STATUS(r, 201);
    char *id = strdup(js(r->json, "payment_method_id"));
    hres_free(r);
    return id;
}

static int is_token(const char *t)
{
    if (!t || strlen(t) != 35 || strncmp(t, "pm_", 3) != 0)
        return 0;
    for (const char *p = t + 3; *p; p++)
        if (!isalnum((unsigned char)*p))
            return 0;
    return 1;
}

static hres *charge(const char *key, const char *pm, const char *amount)
{
    char body[300];
    snprintf(body, sizeof body, "{\"amount\":%s,\"currency\":\"EUR\",\"payment_method\":\"credit_card\","
             "\"payment_method_id\":\"%s\"}", amount, pm);
    return key_do(key, "POST", srv.payments, "/api/payments", NULL, body);
}

static void tokenise_card(void **state)
{
    (void)state;
    hres *r = tokenise("4242424242424242", "123");
    CHECK_STATUS(r, 201);
    CHECK(r, is_token(jstr(r->json, "payment_method_id")));
    CHECK(r, strcmp(js(r->json, "type"), "credit_card") == 0);
    CHECK(r, strcmp(js(r->json, "brand"), "visa") == 0);
    CHECK(r, strcmp(js(r->json, "bin"), "424242") == 0);
    CHECK(r, strcmp(js(r->json, "last4"), "4242") == 0);
    CHECK(r, strcmp(js(r->json, "number"), "424242******4242") == 0);
    CHECK(r, strcmp(js(r->json, "name"), "Ana Silva") == 0);
    CHECK(r, strcmp(js(r->json, "expiration_month"), "12") == 0);
    CHECK(r, strcmp(js(r->json, "expiration_year"), "2099") == 0);
    CHECK(r, is_api_time(jstr(r->json, "created_at")));
    CHECK(r, !body_has(r, "4242424242424242") && !body_has(r, "cvv"));
    char id[64];
    snprintf(id, sizeof id, "%s", js(r->json, "payment_method_id"));
    char *created = strdup(r->body);
    hres_free(r);

    char path[200];
    snprintf(path, sizeof path, "/api/payment_methods/%s", id);
    r = gw_do(&srv, "GET", srv.payments, path, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(r->body, created) == 0);
    hres_free(r);

    /* Amex, with a four-digit CVV and spaces, and without a type. */
    r = gw_do(&srv, "POST", srv.payments, "/api/payment_methods",
              "{\"number\":\"3782 822463 10005\",\"name\":\"Rui\",\"expiration_month\":\"05\","
              "\"expiration_year\":\"2099\",\"cvv\":\"1234\"}");
    CHECK_STATUS(r, 201);
    CHECK(r, strcmp(js(r->json, "brand"), "amex") == 0);
    CHECK(r, strcmp(js(r->json, "bin"), "378282") == 0);
    CHECK(r, strcmp(js(r->json, "last4"), "0005") == 0);
    CHECK(r, strcmp(js(r->json, "number"), "378282*****0005") == 0);
    CHECK(r, strcmp(js(r->json, "expiration_month"), "05") == 0);
    CHECK(r, strcmp(js(r->json, "type"), "credit_card") == 0);
    CHECK(r, !body_has(r, "378282246310005") && !body_has(r, "1234\""));
    CHECK(r, strcmp(js(r->json, "payment_method_id"), id) != 0);
    hres_free(r);
    free(created);
}

static void invalid_cards_are_400(void **state)
{
    (void)state;
    hres *r = tokenise("4242424242424241", "123");
    CHECK_FIELD_ERROR(r, 400, "number");
    hres_free(r);
    r = tokenise("4242", "123");
    CHECK_FIELD_ERROR(r, 400, "number");
    hres_free(r);
    r = tokenise("4242424242424242", "12");
    CHECK_FIELD_ERROR(r, 400, "cvv");
    hres_free(r);
    r = tokenise("378282246310005", "123");
    CHECK_FIELD_ERROR(r, 400, "cvv");
    hres_free(r);
    r = gw_do(&srv, "POST", srv.payments, "/api/payment_methods",
              "{\"type\":\"credit_card\",\"number\":\"4242424242424242\",\"name\":\"Ana\",\"expiration_month\":1,"
              "\"expiration_year\":2020,\"cvv\":\"123\"}");
    CHECK_STATUS(r, 400);
    CHECK(r, has_error_field(r->json, "expiration_year") || has_error_field(r->json, "expiration_month"));
    hres_free(r);

    static const struct {
        const char *body, *field;
    } cases[] = {
        {"{\"type\":\"mbway\",\"number\":\"4242424242424242\",\"name\":\"A\",\"expiration_month\":1,"
         "\"expiration_year\":2099}",
         "type"},
        {"{\"name\":\"A\",\"expiration_month\":1,\"expiration_year\":2099}", "number"},
        {"{\"number\":\"4242424242424242\",\"expiration_month\":1,\"expiration_year\":2099}", "name"},
        {"{\"number\":\"4242424242424242\",\"name\":\"A\",\"expiration_year\":2099}", "expiration_month"},
        {"{\"number\":\"4242424242424242\",\"name\":\"A\",\"expiration_month\":1}", "expiration_year"},
        {"{\"number\":\"4242424242424242\",\"name\":\"A\",\"expiration_month\":13,\"expiration_year\":2099}",
         "expiration_month"},
        {"{\"number\":\"4242424242424242\",\"name\":\"A\",\"expiration_month\":1,\"expiration_year\":\"99\"}",
         "expiration_year"},
        {"{\"number\":4242424242424242,\"name\":\"A\",\"expiration_month\":1,\"expiration_year\":2099}", "number"},
        {"{\"number\":\"4242424242424242\",\"name\":\" \",\"expiration_month\":1,\"expiration_year\":2099}", "name"},
        {"{\"number\":\"4242424242424242\",\"name\":\"A\",\"expiration_month\":1,\"expiration_year\":2099,"
         "\"pin\":\"1\"}",
         "pin"},
        {"[]", "body"},
        {"{", "body"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        r = gw_do(&srv, "POST", srv.payments, "/api/payment_methods", cases[i].body);
        CHECK_FIELD_ERROR(r, 400, cases[i].field);
        CHECK(r, strcmp(js(r->json, "message"), "Invalid request body") == 0);
        hres_free(r);
    }
}

static void get_and_delete(void **state)
{
    (void)state;
    char *pm = stored("5555555555554444");
    char path[200];
    snprintf(path, sizeof path, "/api/payment_methods/%s", pm);
    hres *r = gw_do(&srv, "GET", srv.payments, path, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "brand"), "mastercard") == 0);
    CHECK(r, strcmp(js(r->json, "last4"), "4444") == 0);
    char *shown = strdup(r->body);
    hres_free(r);

    r = gw_do(&srv, "DELETE", srv.payments, path, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(r->body, shown) == 0);
    hres_free(r);
    free(shown);
    r = gw_do(&srv, "GET", srv.payments, path, NULL);
    CHECK_STATUS(r, 404);
    CHECK(r, strcmp(r->body, "{}") == 0);
    hres_free(r);
    r = gw_do(&srv, "DELETE", srv.payments, path, NULL);
    CHECK_STATUS(r, 404);
    CHECK(r, strcmp(r->body, "{}") == 0);
    hres_free(r);
    /* A deleted token can no longer be charged. */
    r = charge(srv.gateway_key, pm, "1.00");
    CHECK_FIELD_ERROR(r, 404, "payment_method_id");
    hres_free(r);
    free(pm);

    r = gw_do(&srv, "GET", srv.payments, "/api/payment_methods/pm_doesnotexist0000000000000000000", NULL);
    CHECK_STATUS(r, 404);
    CHECK(r, strcmp(r->body, "{}") == 0);
    hres_free(r);
}

static void charge_stored_cards(void **state)
{
    (void)state;
    char *good = stored("4242424242424242");
    hres *r = charge(srv.gateway_key, good, "9.99");
    CHECK_STATUS(r, 201);
    CHECK(r, strcmp(js(r->json, "status"), "success") == 0);
    CHECK(r, strcmp(js(r->json, "payment_method_id"), good) == 0);
    CHECK(r, body_has(r, "\"amount\":9.99,"));
    const cJSON *ap = jobj(r->json, "additional_params");
    CHECK(r, strcmp(js(ap, "number"), "424242******4242") == 0);
    CHECK(r, strcmp(js(ap, "name"), "Ana Silva") == 0);
    CHECK(r, strcmp(js(ap, "brand"), "visa") == 0);
    CHECK(r, !body_has(r, "4242424242424242") && !body_has(r, "cvv"));
    char path[300];
    snprintf(path, sizeof path, "/api/payments/%s", js(r->json, "payment_id"));
    hres_free(r);
    r = gw_do(&srv, "GET", srv.payments, path, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "payment_method_id"), good) == 0);
    hres_free(r);
    /* A token is reusable. */
    r = charge(srv.gateway_key, good, "1.00");
    CHECK_STATUS(r, 201);
    CHECK(r, strcmp(js(r->json, "status"), "success") == 0);
    hres_free(r);

    char *poor = stored("4000000000009995");
    for (int i = 0; i < 3; i++) {
        r = charge(srv.gateway_key, poor, "9.99");
        CHECK_STATUS(r, 201);
        CHECK(r, strcmp(js(r->json, "status"), "error") == 0);
        CHECK(r, strcmp(js(r->json, "decline_code"), "insufficient_funds") == 0);
        CHECK(r, strcmp(js(r->json, "decline_message"), "Your card has insufficient funds.") == 0);
        CHECK(r, strcmp(js(r->json, "network_response_code"), "51") == 0);
        CHECK(r, strcmp(js(r->json, "payment_method_id"), poor) == 0);
        hres_free(r);
    }
    /* Deleting the token leaves the payments made with it intact. */
    char pm_path[200];
    snprintf(pm_path, sizeof pm_path, "/api/payment_methods/%s", good);
    r = gw_do(&srv, "DELETE", srv.payments, pm_path, NULL);
    CHECK_STATUS(r, 200);
    hres_free(r);
    r = gw_do(&srv, "GET", srv.payments, path, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "status"), "success") == 0);
    CHECK(r, strcmp(js(jobj(r->json, "additional_params"), "number"), "424242******4242") == 0);
    hres_free(r);
    free(good);
    free(poor);
}

static void charge_errors(void **state)
{
    (void)state;
    hres *r = charge(srv.gateway_key, "pm_doesnotexist0000000000000000000", "5.00");
    CHECK_FIELD_ERROR(r, 404, "payment_method_id");
    CHECK(r, strlen(js(r->json, "message")) > 0);
    hres_free(r);

    char *pm = stored("4242424242424242");
    /* The body is still validated with a token. */
    char body[300];
    snprintf(body, sizeof body, "{\"amount\":0,\"payment_method\":\"credit_card\",\"payment_method_id\":\"%s\"}", pm);
    r = gw_do(&srv, "POST", srv.payments, "/api/payments", body);
    CHECK_FIELD_ERROR(r, 400, "amount");
    hres_free(r);
    snprintf(body, sizeof body, "{\"amount\":5,\"payment_method\":\"mbway\",\"payment_method_id\":\"%s\"}", pm);
    r = gw_do(&srv, "POST", srv.payments, "/api/payments", body);
    CHECK_FIELD_ERROR(r, 400, "payment_method_id");
    hres_free(r);

    /* Another merchant's token is unknown to this merchant. */
    char other[200];
    assert_int_equal(make_merchant_key(&srv, "other", other, sizeof other), 0);
    r = charge(other, pm, "5.00");
    CHECK_FIELD_ERROR(r, 404, "payment_method_id");
    hres_free(r);
    r = key_do(other, "GET", srv.payments, "/api/payments", NULL, NULL);
    CHECK(r, strcmp(r->body, "[]") == 0);
    hres_free(r);
    free(pm);
}

static void idempotent_tokenisation(void **state)
{
    (void)state;
    const char *body = "{\"type\":\"credit_card\",\"number\":\"5555555555554444\",\"name\":\"Ana\","
                       "\"expiration_month\":12,\"expiration_year\":2099,\"cvv\":\"123\"}";
    const char *idem[] = {"Idempotency-Key: pm-key-1", NULL};
    hres *a = gw_do_h(&srv, "POST", srv.payments, "/api/payment_methods", idem, body);
    CHECK_STATUS(a, 201);
    char *rep = hres_header(a, "Idempotent-Replayed");
    CHECK(a, rep == NULL);
    free(rep);
    hres *b = gw_do_h(&srv, "POST", srv.payments, "/api/payment_methods", idem, body);
    CHECK_STATUS(b, 201);
    CHECK(b, strcmp(a->body, b->body) == 0);
    rep = hres_header(b, "Idempotent-Replayed");
    CHECK(b, rep && strcmp(rep, "true") == 0);
    free(rep);
    hres_free(b);
    hres *c = gw_do_h(&srv, "POST", srv.payments, "/api/payment_methods", idem,
                      "{\"type\":\"credit_card\",\"number\":\"4242424242424242\",\"name\":\"Ana\","
                      "\"expiration_month\":12,\"expiration_year\":2099,\"cvv\":\"123\"}");
    CHECK_STATUS(c, 422);
    CHECK(c, strlen(js(c->json, "message")) > 0);
    hres_free(c);
    const char *idem2[] = {"Idempotency-Key: pm-key-2", NULL};
    c = gw_do_h(&srv, "POST", srv.payments, "/api/payment_methods", idem2, body);
    CHECK_STATUS(c, 201);
    CHECK(c, strcmp(js(c->json, "payment_method_id"), js(a->json, "payment_method_id")) != 0);
    hres_free(c);
    hres_free(a);
}

/* The retry card declines the first two charges of one stored payment
 * method and approves the later ones; an idempotent replay is not a new
 * charge, another token of the same card starts over, and charging by
 * number is always a first charge. */
static void retry_card_approves_from_third_charge(void **state)
{
    (void)state;
    char *pm = stored("4000000000005126");
    static const char *const idem[] = {"Idempotency-Key: retry-card-first", NULL};
    char body[300];
    snprintf(body, sizeof body, "{\"amount\":7.50,\"currency\":\"EUR\",\"payment_method\":\"credit_card\","
             "\"payment_method_id\":\"%s\"}", pm);
    hres *r = key_do(srv.gateway_key, "POST", srv.payments, "/api/payments", idem, body);
    CHECK_STATUS(r, 201);
    CHECK(r, strcmp(js(r->json, "status"), "error") == 0);
    CHECK(r, strcmp(js(r->json, "decline_code"), "insufficient_funds") == 0);
    CHECK(r, strcmp(js(r->json, "network_response_code"), "51") == 0);
    char first_id[300];
    snprintf(first_id, sizeof first_id, "%s", js(r->json, "payment_id"));
    hres_free(r);
    r = key_do(srv.gateway_key, "POST", srv.payments, "/api/payments", idem, body);
    CHECK(r, strcmp(js(r->json, "payment_id"), first_id) == 0);
    CHECK(r, strcmp(js(r->json, "status"), "error") == 0);
    hres_free(r);

    static const char *const want[] = {"error", "success", "success"};
    for (int i = 0; i < 3; i++) {
        r = charge(srv.gateway_key, pm, "7.50");
        CHECK_STATUS(r, 201);
        CHECK(r, strcmp(js(r->json, "status"), want[i]) == 0);
        CHECK(r, strcmp(js(r->json, "payment_method_id"), pm) == 0);
        if (i == 0)
            CHECK(r, strcmp(js(r->json, "decline_code"), "insufficient_funds") == 0);
        else
            CHECK(r, jnull(r->json, "decline_code") || !jobj(r->json, "decline_code"));
        hres_free(r);
    }

    char *other = stored("4000000000005126");
    r = charge(srv.gateway_key, other, "7.50");
    CHECK(r, strcmp(js(r->json, "status"), "error") == 0);
    hres_free(r);

    for (int i = 0; i < 3; i++) {
        char card[512];
        card_body(card, sizeof card, "7.50", "4000000000005126", NULL);
        r = gw_do(&srv, "POST", srv.payments, "/api/payments", card);
        CHECK_STATUS(r, 201);
        CHECK(r, strcmp(js(r->json, "status"), "error") == 0);
        CHECK(r, strcmp(js(r->json, "decline_code"), "insufficient_funds") == 0);
        hres_free(r);
    }
    free(pm);
    free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tokenise_card),
        cmocka_unit_test(invalid_cards_are_400),
        cmocka_unit_test(get_and_delete),
        cmocka_unit_test(charge_stored_cards),
        cmocka_unit_test(charge_errors),
        cmocka_unit_test(idempotent_tokenisation),
        cmocka_unit_test(retry_card_approves_from_third_charge),
    };
    return cmocka_run_group_tests_name("pay_methods", tests, group_setup, group_teardown);
}
