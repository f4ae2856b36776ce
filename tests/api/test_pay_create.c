/* POST /api/payments on the payments listener: what the sandbox authoriser
 * decides for each documented card and MB WAY number, how invalid card
 * details are declined, the response's shape, and currencies. */
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

static hres *post(const char *body) { return gw_do(&srv, "POST", srv.payments, "/api/payments", body); }

static hres *post_card(const char *amount, const char *number, const char *cvv)
{
    char body[1024];
    card_body(body, sizeof body, amount, number, cvv);
    return post(body);
}

static void check_approved(hres *r)
{
    CHECK_STATUS(r, 201);
    CHECK(r, strcmp(js(r->json, "status"), "success") == 0);
    CHECK(r, jnull(r->json, "decline_code"));
    CHECK(r, jnull(r->json, "decline_message"));
    CHECK(r, strcmp(js(r->json, "network_response_code"), "00") == 0);
}

static void check_declined(hres *r, const char *code)
{
    CHECK_STATUS(r, 201);
    CHECK(r, strcmp(js(r->json, "status"), "error") == 0);
    CHECK(r, strcmp(js(r->json, "decline_code"), code) == 0);
    CHECK(r, strlen(js(r->json, "decline_message")) > 0);
}

static void card_successes(void **state)
{
    (void)state;
    static const struct {
        const char *number, *cvv, *brand, *masked;
    } cards[] = {
        {"4242424242424242", "123", "visa", "424242******4242"},
        {"5555555555554444", "123", "mastercard", "555555******4444"},
        {"378282246310005", "1234", "amex", "378282*****0005"},
        /* Spaces between groups are part of the documented format. */
        {"4242 4242 4242 4242", "123", "visa", "424242******4242"},
        /* Any other Luhn-valid number is authorised, its brand by prefix. */
        {"6011111111111117", "123", "discover", "601111******1117"},
        {"3530111333300000", "123", "jcb", "353011******0000"},
        {"2223003122003222", "123", "mastercard", "222300******3222"},
        {"4111111111111111", "123", "visa", "411111******1111"},
        {"30569309025904", "123", "diners", "305693****5904"},
    };
    for (size_t i = 0; i < sizeof cards / sizeof cards[0]; i++) {
        hres *r = post_card("50.0", cards[i].number, cards[i].cvv);
        check_approved(r);
        const cJSON *ap = jobj(r->json, "additional_params");
        CHECK(r, strcmp(js(ap, "brand"), cards[i].brand) == 0);
        CHECK(r, strcmp(js(ap, "number"), cards[i].masked) == 0);
        hres_free(r);
    }
}

static void card_declines(void **state)
{
    (void)state;
    static const struct {
        const char *number, *code, *network, *brand;
    } cards[] = {
        {"4000000000009995", "insufficient_funds", "51", "visa"},
        {"4000000000000002", "do_not_honor", "05", "visa"},
        {"4000000000000069", "expired_card", "54", "visa"},
        {"4000000000000127", "incorrect_cvc", "N7", "visa"},
        {"4000000000009987", "lost_card", "41", "visa"},
        {"4000000000009979", "stolen_card", "43", "visa"},
        {"4100000000000019", "fraudulent", "59", "visa"},
        {"4000000000000119", "issuer_unavailable", "91", "visa"},
        {"4000000000009961", "withdrawal_limit", "61", "visa"},
        {"5100000000000511", "insufficient_funds", "51", "mastercard"},
        {"5100000000000008", "do_not_honor", "05", "mastercard"},
    };
    for (size_t i = 0; i < sizeof cards / sizeof cards[0]; i++) {
        hres *r = post_card("25.00", cards[i].number, NULL);
        check_declined(r, cards[i].code);
        CHECK(r, strcmp(js(r->json, "network_response_code"), cards[i].network) == 0);
        CHECK(r, strcmp(js(jobj(r->json, "additional_params"), "brand"), cards[i].brand) == 0);
        if (strcmp(cards[i].code, "insufficient_funds") == 0)
            CHECK(r, strcmp(js(r->json, "decline_message"), "Your card has insufficient funds.") == 0);
        /* A declined payment is still a payment: it can be read back. */
        char path[300];
        snprintf(path, sizeof path, "/api/payments/%s", js(r->json, "payment_id"));
        hres *g = gw_do(&srv, "GET", srv.payments, path, NULL);
        CHECK_STATUS(g, 200);
        CHECK(g, strcmp(js(g->json, "status"), "error") == 0);
        CHECK(g, strcmp(js(g->json, "decline_code"), cards[i].code) == 0);
        hres_free(g);
        hres_free(r);
    }
}

static void luhn_failure_is_incorrect_number(void **state)
{
    (void)state;
    hres *r = post_card("10.00", "4242424242424241", NULL);
    check_declined(r, "incorrect_number");
    CHECK(r, strcmp(js(jobj(r->json, "additional_params"), "number"), "424242******4241") == 0);
    hres_free(r);

    /* The source document's own example number fails the check digit. */
    r = post("{\"amount\":50.0,\"payment_method\":\"credit_card\",\"additional_params\":{\"amount\":50,"
             "\"method\":\"credit_card\",\"number\":\"1234567890123456\",\"name\":\"John john\","
             "\"expiration_month\":\"05\",\"expiration_year\":\"" PAY_YEAR "\",\"cvv\":\"321\"}}");
    check_declined(r, "incorrect_number");
    hres_free(r);
}

static void past_expiry_is_expired_card(void **state)
{
    (void)state;
    char body[1024];
    snprintf(body, sizeof body,
             "{\"amount\":10.00,\"payment_method\":\"credit_card\",\"additional_params\":{\"number\":"
             "\"4242424242424242\",\"name\":\"Ana Silva\",\"expiration_month\":\"01\",\"expiration_year\":\"2020\","
             "\"cvv\":\"123\"}}");
    hres *r = post(body);
    check_declined(r, "expired_card");
    hres_free(r);

    /* A card is valid through the last day of its expiry month: this month
     * still works, last month does not. */
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    int year = tm.tm_year + 1900, month = tm.tm_mon + 1;
    snprintf(body, sizeof body,
             "{\"amount\":10.00,\"payment_method\":\"credit_card\",\"additional_params\":{\"number\":"
             "\"4242424242424242\",\"name\":\"Ana Silva\",\"expiration_month\":%d,\"expiration_year\":%d,"
             "\"cvv\":\"123\"}}",
             month, year);
    r = post(body);
    check_approved(r);
    hres_free(r);
    int pm = month == 1 ? 12 : month - 1, py = month == 1 ? year - 1 : year;
    snprintf(body, sizeof body,
             "{\"amount\":10.00,\"payment_method\":\"credit_card\",\"additional_params\":{\"number\":"
             "\"4242424242424242\",\"name\":\"Ana Silva\",\"expiration_month\":\"%02d\",\"expiration_year\":\"%d\","
             "\"cvv\":\"123\"}}",
             pm, py);
    r = post(body);
    check_declined(r, "expired_card");
    hres_free(r);
}

static void wrong_cvv_length_is_incorrect_cvc(void **state)
{
    (void)state;
    static const struct {
        const char *number, *cvv;
    } cases[] = {
        {"4242424242424242", "12"},
        {"4242424242424242", "1234"},
        {"5555555555554444", "1"},
        {"378282246310005", "123"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hres *r = post_card("10.00", cases[i].number, cases[i].cvv);
        check_declined(r, "incorrect_cvc");
        hres_free(r);
    }
}

static void mbway_successes(void **state)
{
    (void)state;
    static const char *const phones[] = {"912345678", "+351912345678", "00351 912 345 678", "932345678",
                                         "962345678", "922345678"};
    for (size_t i = 0; i < sizeof phones / sizeof phones[0]; i++) {
        char body[512];
        mbway_body(body, sizeof body, "12.5", phones[i]);
        hres *r = post(body);
        check_approved(r);
        CHECK(r, strcmp(js(r->json, "payment_method"), "mbway") == 0);
        CHECK(r, body_has(r, "\"amount\":12.50"));
        const char *phone = js(jobj(r->json, "additional_params"), "phone_number");
        char digits[32];
        size_t n = 0;
        for (const char *p = phone; *p && n + 1 < sizeof digits; p++)
            if (isdigit((unsigned char)*p))
                digits[n++] = *p;
        digits[n] = '\0';
        CHECK(r, n >= 9 && strcmp(digits + n - 9, phones[i][0] == '9' ? phones[i] : "912345678") == 0);
        hres_free(r);
    }
}

static void mbway_declines(void **state)
{
    (void)state;
    static const struct {
        const char *phone, *code;
    } phones[] = {
        {"912000051", "insufficient_funds"},
        {"912000005", "do_not_honor"},
        {"912000091", "issuer_unavailable"},
        {"912000061", "withdrawal_limit"},
        {"912000059", "fraudulent"},
        /* The table is about the number, whatever its written form. */
        {"+351912000051", "insufficient_funds"},
        {"00351 912 000 005", "do_not_honor"},
    };
    for (size_t i = 0; i < sizeof phones / sizeof phones[0]; i++) {
        char body[512];
        mbway_body(body, sizeof body, "8.00", phones[i].phone);
        hres *r = post(body);
        check_declined(r, phones[i].code);
        CHECK(r, strcmp(js(r->json, "payment_method"), "mbway") == 0);
        hres_free(r);
    }
}

static void mbway_invalid_phone(void **state)
{
    (void)state;
    static const char *const phones[] = {"812345678", "91234567", "9123456789", "+44912345678", "952345678",
                                         "phone"};
    for (size_t i = 0; i < sizeof phones / sizeof phones[0]; i++) {
        char body[512];
        mbway_body(body, sizeof body, "8.00", phones[i]);
        hres *r = post(body);
        check_declined(r, "invalid_phone_number");
        hres_free(r);
    }
}

static void response_shape(void **state)
{
    (void)state;
    hres *r = post("{\"amount\":50.0,\"payment_method\":\"credit_card\",\"additional_params\":{\"number\":"
                   "\"4242424242424242\",\"name\":\"John john\",\"expiration_month\":\"05\",\"expiration_year\":\"" PAY_YEAR
                   "\",\"cvv\":\"321\"}}");
    CHECK_STATUS(r, 201);
    const char *id = js(r->json, "payment_id");
    CHECK(r, is_upper_id(id, 200));
    CHECK(r, body_has(r, "\"amount\":50.00,"));
    CHECK(r, strcmp(js(r->json, "currency"), "EUR") == 0);
    CHECK(r, strcmp(js(r->json, "payment_method"), "credit_card") == 0);
    CHECK(r, strcmp(js(r->json, "status"), "success") == 0);
    CHECK(r, is_api_time(jstr(r->json, "created_at")));
    CHECK(r, jnull(r->json, "settled_at"));
    CHECK(r, jnull(r->json, "settled_amount"));
    CHECK(r, jnull(r->json, "payment_method_id"));
    CHECK(r, body_has(r, "\"refunded_amount\":0.00"));
    const cJSON *ap = jobj(r->json, "additional_params");
    CHECK(r, cJSON_IsObject(ap));
    CHECK(r, strcmp(js(ap, "payment"), id) == 0);
    CHECK(r, body_has(r, "\"amount\":50.00,\"method\":\"credit_card\""));
    CHECK(r, strcmp(js(ap, "method"), "credit_card") == 0);
    CHECK(r, strcmp(js(ap, "number"), "424242******4242") == 0);
    CHECK(r, strcmp(js(ap, "brand"), "visa") == 0);
    CHECK(r, strcmp(js(ap, "name"), "John john") == 0);
    CHECK(r, strcmp(js(ap, "expiration_month"), "05") == 0);
    CHECK(r, strcmp(js(ap, "expiration_year"), PAY_YEAR) == 0);
    /* The CVV is checked and forgotten; the full number never comes back. */
    CHECK(r, !body_has(r, "cvv"));
    CHECK(r, !body_has(r, "4242424242424242"));
    CHECK(r, cJSON_GetObjectItemCaseSensitive(ap, "cvv") == NULL);
    char *ct = hres_header(r, "Content-Type");
    CHECK(r, ct && strncmp(ct, "application/json", 16) == 0);
    free(ct);

    /* Two payments never share an id. */
    hres *r2 = post_card("50.0", "4242424242424242", NULL);
    CHECK_STATUS(r2, 201);
    CHECK(r2, strcmp(js(r2->json, "payment_id"), id) != 0);
    hres_free(r2);

    /* The single view shows what the creation answered. */
    char path[300];
    snprintf(path, sizeof path, "/api/payments/%s", id);
    hres *g = gw_do(&srv, "GET", srv.payments, path, NULL);
    CHECK_STATUS(g, 200);
    CHECK(g, strcmp(g->body, r->body) == 0);
    hres_free(g);
    hres_free(r);

    /* Month and year may be integers; the answer writes them as text. */
    r = post("{\"amount\":0.01,\"payment_method\":\"credit_card\",\"additional_params\":{\"number\":"
             "\"5555555555554444\",\"name\":\"Ana\",\"expiration_month\":5,\"expiration_year\":2099,\"cvv\":321}}");
    CHECK_STATUS(r, 201);
    CHECK(r, body_has(r, "\"amount\":0.01,"));
    CHECK(r, strcmp(js(jobj(r->json, "additional_params"), "expiration_month"), "05") == 0);
    CHECK(r, strcmp(js(jobj(r->json, "additional_params"), "expiration_year"), "2099") == 0);
    CHECK(r, !body_has(r, "cvv"));
    hres_free(r);
}

/* A name is "1 to 100 characters": characters, not bytes, so an accented
 * name of 60 letters is valid and comes back intact. */
static void names_count_characters(void **state)
{
    (void)state;
    char name[256] = "";
    for (int i = 0; i < 30; i++) {
        size_t l = strlen(name);
        snprintf(name + l, sizeof name - l, "%s", "\xc3\xa3\xc3\xa9"); /* "ãé" */
    }
    char body[1024];
    snprintf(body, sizeof body,
             "{\"amount\":5,\"payment_method\":\"credit_card\",\"additional_params\":{\"number\":"
             "\"4242424242424242\",\"name\":\"%s\",\"expiration_month\":\"12\",\"expiration_year\":\"" PAY_YEAR
             "\",\"cvv\":\"123\"}}",
             name);
    hres *r = post(body);
    CHECK_STATUS(r, 201);
    CHECK(r, strcmp(js(jobj(r->json, "additional_params"), "name"), name) == 0);
    hres_free(r);

    snprintf(body, sizeof body,
             "{\"type\":\"credit_card\",\"number\":\"4242424242424242\",\"name\":\"%s\",\"expiration_month\":12,"
             "\"expiration_year\":2099,\"cvv\":\"123\"}",
             name);
    r = gw_do(&srv, "POST", srv.payments, "/api/payment_methods", body);
    CHECK_STATUS(r, 201);
    CHECK(r, strcmp(js(r->json, "name"), name) == 0);
    hres_free(r);
}

static void currencies(void **state)
{
    (void)state;
    hres *r = post("{\"amount\":500,\"currency\":\"JPY\",\"payment_method\":\"credit_card\",\"additional_params\":"
                   "{\"number\":\"4242424242424242\",\"name\":\"Ana\",\"expiration_month\":\"12\","
                   "\"expiration_year\":\"" PAY_YEAR "\",\"cvv\":\"123\"}}");
    CHECK_STATUS(r, 201);
    CHECK(r, strcmp(js(r->json, "currency"), "JPY") == 0);
    CHECK(r, body_has(r, "\"amount\":500,"));
    CHECK(r, jnum(r->json, "amount") == 500);
    hres_free(r);

    r = post("{\"amount\":12.34,\"currency\":\"USD\",\"payment_method\":\"mbway\",\"additional_params\":"
             "{\"phone_number\":\"912345678\"}}");
    CHECK_STATUS(r, 201);
    CHECK(r, strcmp(js(r->json, "currency"), "USD") == 0);
    CHECK(r, body_has(r, "\"amount\":12.34,"));
    hres_free(r);

    r = post("{\"amount\":7,\"currency\":null,\"payment_method\":\"mbway\",\"additional_params\":"
             "{\"phone_number\":\"912345678\"}}");
    CHECK_STATUS(r, 201);
    CHECK(r, strcmp(js(r->json, "currency"), "EUR") == 0);
    hres_free(r);

    /* Explicit EUR is the same as the default. */
    r = post("{\"amount\":7,\"currency\":\"EUR\",\"payment_method\":\"mbway\",\"additional_params\":"
             "{\"phone_number\":\"912345678\"}}");
    CHECK_STATUS(r, 201);
    CHECK(r, body_has(r, "\"amount\":7.00,"));
    hres_free(r);

    r = post("{\"amount\":500.5,\"currency\":\"JPY\",\"payment_method\":\"mbway\",\"additional_params\":"
             "{\"phone_number\":\"912345678\"}}");
    CHECK_FIELD_ERROR(r, 400, "amount");
    CHECK(r, strcmp(js(r->json, "message"), "Invalid request body") == 0);
    hres_free(r);

    r = post("{\"amount\":12.345,\"payment_method\":\"mbway\",\"additional_params\":{\"phone_number\":\"912345678\"}}");
    CHECK_FIELD_ERROR(r, 400, "amount");
    hres_free(r);

    r = post("{\"amount\":12.345,\"currency\":\"EUR\",\"payment_method\":\"credit_card\",\"additional_params\":"
             "{\"number\":\"4242424242424242\",\"name\":\"Ana\",\"expiration_month\":\"12\","
             "\"expiration_year\":\"" PAY_YEAR "\",\"cvv\":\"123\"}}");
    CHECK_FIELD_ERROR(r, 400, "amount");
    hres_free(r);

    static const char *const bad[] = {"EURO", "eur", "XYZ", "", "E1R"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"amount\":10,\"currency\":\"%s\",\"payment_method\":\"mbway\",\"additional_params\":"
                 "{\"phone_number\":\"912345678\"}}",
                 bad[i]);
        r = post(body);
        CHECK_FIELD_ERROR(r, 400, "currency");
        hres_free(r);
    }
    r = post("{\"amount\":10,\"currency\":978,\"payment_method\":\"mbway\",\"additional_params\":"
             "{\"phone_number\":\"912345678\"}}");
    CHECK_FIELD_ERROR(r, 400, "currency");
    hres_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(card_successes),
        cmocka_unit_test(card_declines),
        cmocka_unit_test(luhn_failure_is_incorrect_number),
        cmocka_unit_test(past_expiry_is_expired_card),
        cmocka_unit_test(wrong_cvv_length_is_incorrect_cvc),
        cmocka_unit_test(mbway_successes),
        cmocka_unit_test(mbway_declines),
        cmocka_unit_test(mbway_invalid_phone),
        cmocka_unit_test(response_shape),
        cmocka_unit_test(names_count_characters),
        cmocka_unit_test(currencies),
    };
    return cmocka_run_group_tests_name("pay_create", tests, group_setup, group_teardown);
}
