/* POST /api/payments with bodies that are not a payment: every one is a 400
 * whose errors[] names the offending field by its path, every problem is
 * listed (not only the first), and nothing is created. */
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

/* A macro, so that a failure names the line of the case, not of the helper. */
#define expect_invalid(body, field) expect_invalid_at(__LINE__, body, field)

static void expect_invalid_at(int line, const char *body, const char *field)
{
    hres *r = post(body);
    int ok = r->status == 400 && has_error_field(r->json, field) &&
             strcmp(js(r->json, "message"), "Invalid request body") == 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, jobj(r->json, "errors"))
    {
        ok = ok && strlen(js(e, "message")) > 0;
    }
    if (!ok)
        fail_msg("line %d: expected 400 naming \"%s\"\n  request: %.1000s\n  status %ld, body: %.2000s", line, field,
                 body, r->status, r->body);
    hres_free(r);
}

#define CARD_AP "\"number\":\"4242424242424242\",\"name\":\"Ana Silva\",\"expiration_month\":\"12\"," \
                "\"expiration_year\":\"" PAY_YEAR "\",\"cvv\":\"123\""
#define CARD(top, ap) "{\"amount\":50.0,\"payment_method\":\"credit_card\"" top ",\"additional_params\":{" ap "}}"

static void malformed_bodies(void **state)
{
    (void)state;
    expect_invalid("{\"amount\":50.0,", "body");
    expect_invalid("{amount:50}", "body");
    expect_invalid("", "body");
    expect_invalid("[1,2,3]", "body");
    expect_invalid("[]", "body");
    expect_invalid("\"a string\"", "body");
    expect_invalid("null", "body");
    expect_invalid("42", "body");
    expect_invalid(CARD("", CARD_AP) " trailing", "body");
    expect_invalid(CARD("", CARD_AP) "{}", "body");
}

static void required_fields(void **state)
{
    (void)state;
    expect_invalid("{\"payment_method\":\"credit_card\",\"additional_params\":{" CARD_AP "}}", "amount");
    expect_invalid("{\"amount\":50.0,\"additional_params\":{" CARD_AP "}}", "payment_method");
    expect_invalid("{\"amount\":50.0,\"payment_method\":\"credit_card\"}", "additional_params");
    expect_invalid("{\"amount\":50.0,\"payment_method\":\"credit_card\",\"additional_params\":null}",
                   "additional_params");
    expect_invalid("{\"amount\":50.0,\"payment_method\":\"mbway\"}", "additional_params");
    expect_invalid("{\"amount\":50.0,\"payment_method\":\"mbway\",\"additional_params\":{}}",
                   "additional_params.phone_number");
    expect_invalid(CARD("", "\"name\":\"Ana\",\"expiration_month\":\"12\",\"expiration_year\":\"2099\",\"cvv\":\"123\""),
                   "additional_params.number");
    expect_invalid(CARD("", "\"number\":\"4242424242424242\",\"expiration_month\":\"12\",\"expiration_year\":\"2099\","
                            "\"cvv\":\"123\""),
                   "additional_params.name");
    expect_invalid(CARD("", "\"number\":\"4242424242424242\",\"name\":\"Ana\",\"expiration_year\":\"2099\","
                            "\"cvv\":\"123\""),
                   "additional_params.expiration_month");
    expect_invalid(CARD("", "\"number\":\"4242424242424242\",\"name\":\"Ana\",\"expiration_month\":\"12\","
                            "\"cvv\":\"123\""),
                   "additional_params.expiration_year");
    expect_invalid(CARD("", "\"number\":\"4242424242424242\",\"name\":\"Ana\",\"expiration_month\":\"12\","
                            "\"expiration_year\":\"2099\""),
                   "additional_params.cvv");
    expect_invalid("{}", "amount");
    expect_invalid("{}", "payment_method");
    expect_invalid("{\"amount\":null,\"payment_method\":\"credit_card\",\"additional_params\":{" CARD_AP "}}",
                   "amount");
}

static void wrong_types(void **state)
{
    (void)state;
    expect_invalid("{\"amount\":\"50.0\",\"payment_method\":\"credit_card\",\"additional_params\":{" CARD_AP "}}",
                   "amount");
    expect_invalid("{\"amount\":true,\"payment_method\":\"credit_card\",\"additional_params\":{" CARD_AP "}}",
                   "amount");
    expect_invalid("{\"amount\":50.0,\"payment_method\":\"credit_card\",\"additional_params\":\"4242424242424242\"}",
                   "additional_params");
    expect_invalid("{\"amount\":50.0,\"payment_method\":\"credit_card\",\"additional_params\":[1]}",
                   "additional_params");
    expect_invalid("{\"amount\":50.0,\"payment_method\":7,\"additional_params\":{" CARD_AP "}}", "payment_method");
    expect_invalid(CARD("", "\"number\":4242424242424242,\"name\":\"Ana\",\"expiration_month\":\"12\","
                            "\"expiration_year\":\"2099\",\"cvv\":\"123\""),
                   "additional_params.number");
    expect_invalid(CARD("", "\"number\":\"4242424242424242\",\"name\":42,\"expiration_month\":\"12\","
                            "\"expiration_year\":\"2099\",\"cvv\":\"123\""),
                   "additional_params.name");
    expect_invalid(CARD("", "\"number\":\"4242-abcd-4242-4242\",\"name\":\"Ana\",\"expiration_month\":\"12\","
                            "\"expiration_year\":\"2099\",\"cvv\":\"123\""),
                   "additional_params.number");
    expect_invalid(CARD("", "\"number\":\"4242424242424242\",\"name\":\"Ana\",\"expiration_month\":\"12\","
                            "\"expiration_year\":\"2099\",\"cvv\":\"abc\""),
                   "additional_params.cvv");
    expect_invalid("{\"amount\":50.0,\"payment_method\":\"mbway\",\"additional_params\":{\"phone_number\":912345678}}",
                   "additional_params.phone_number");
    expect_invalid("{\"amount\":50.0,\"payment_method\":\"cash\",\"additional_params\":{" CARD_AP "}}",
                   "payment_method");
}

static void bad_amounts(void **state)
{
    (void)state;
    static const char *const amounts[] = {"0", "0.0", "-1", "-50.5", "1e15", "0.001"};
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        char body[512];
        mbway_body(body, sizeof body, amounts[i], "912345678");
        expect_invalid(body, "amount");
        card_body(body, sizeof body, amounts[i], "4242424242424242", NULL);
        expect_invalid(body, "amount");
    }
}

static void unknown_fields(void **state)
{
    (void)state;
    expect_invalid(CARD(",\"colour\":\"red\"", CARD_AP), "colour");
    expect_invalid(CARD(",\"status\":\"settled\"", CARD_AP), "status");
    expect_invalid(CARD("", CARD_AP ",\"pin\":\"1234\""), "additional_params.pin");
    expect_invalid("{\"amount\":5,\"payment_method\":\"mbway\",\"additional_params\":{\"phone_number\":\"912345678\","
                   "\"number\":\"4242424242424242\"}}",
                   "additional_params.number");
}

static void repeated_fields_must_agree(void **state)
{
    (void)state;
    expect_invalid(CARD("", CARD_AP ",\"amount\":49"), "additional_params.amount");
    expect_invalid(CARD("", CARD_AP ",\"amount\":\"50\""), "additional_params.amount");
    expect_invalid(CARD("", CARD_AP ",\"method\":\"mbway\""), "additional_params.method");
    expect_invalid("{\"amount\":5,\"payment_method\":\"mbway\",\"additional_params\":{\"phone_number\":\"912345678\","
                   "\"method\":\"credit_card\"}}",
                   "additional_params.method");
    expect_invalid("{\"amount\":5,\"payment_method\":\"mbway\",\"additional_params\":{\"phone_number\":\"912345678\","
                   "\"amount\":6}}",
                   "additional_params.amount");

    /* Agreeing copies are accepted, as the source document sends them. */
    hres *r = post(CARD("", CARD_AP ",\"amount\":50,\"method\":\"credit_card\""));
    CHECK_STATUS(r, 201);
    CHECK(r, strcmp(js(r->json, "status"), "success") == 0);
    char path[300];
    snprintf(path, sizeof path, "/api/payments/%s", js(r->json, "payment_id"));
    hres_free(r);
    /* Only used to keep the merchant's list empty for the last case. */
    r = gw_do(&srv, "DELETE", srv.payments, path, NULL);
    CHECK_STATUS(r, 200);
    hres_free(r);
}

static void card_detail_formats(void **state)
{
    (void)state;
    expect_invalid(CARD("", "\"number\":\"4242424242424242\",\"name\":\"Ana\",\"expiration_month\":\"13\","
                            "\"expiration_year\":\"2099\",\"cvv\":\"123\""),
                   "additional_params.expiration_month");
    expect_invalid(CARD("", "\"number\":\"4242424242424242\",\"name\":\"Ana\",\"expiration_month\":0,"
                            "\"expiration_year\":\"2099\",\"cvv\":\"123\""),
                   "additional_params.expiration_month");
    expect_invalid(CARD("", "\"number\":\"4242424242424242\",\"name\":\"Ana\",\"expiration_month\":\"May\","
                            "\"expiration_year\":\"2099\",\"cvv\":\"123\""),
                   "additional_params.expiration_month");
    expect_invalid(CARD("", "\"number\":\"4242424242424242\",\"name\":\"Ana\",\"expiration_month\":\"12\","
                            "\"expiration_year\":\"28\",\"cvv\":\"123\""),
                   "additional_params.expiration_year");
    expect_invalid(CARD("", "\"number\":\"4242424242424242\",\"name\":\"Ana\",\"expiration_month\":\"12\","
                            "\"expiration_year\":28,\"cvv\":\"123\""),
                   "additional_params.expiration_year");
    expect_invalid(CARD("", "\"number\":\"4242424242424242\",\"name\":\"Ana\",\"expiration_month\":\"12\","
                            "\"expiration_year\":\"20299\",\"cvv\":\"123\""),
                   "additional_params.expiration_year");
    expect_invalid(CARD("", "\"number\":\"4242424242424242\",\"name\":\"   \",\"expiration_month\":\"12\","
                            "\"expiration_year\":\"2099\",\"cvv\":\"123\""),
                   "additional_params.name");
    expect_invalid(CARD("", "\"number\":\"4242424242424242\",\"name\":\"\",\"expiration_month\":\"12\","
                            "\"expiration_year\":\"2099\",\"cvv\":\"123\""),
                   "additional_params.name");
    char name[128];
    memset(name, 'a', 101);
    name[101] = '\0';
    char body[1024];
    snprintf(body, sizeof body,
             CARD("", "\"number\":\"4242424242424242\",\"name\":\"%s\",\"expiration_month\":\"12\","
                      "\"expiration_year\":\"2099\",\"cvv\":\"123\""),
             name);
    expect_invalid(body, "additional_params.name");
}

static void payment_method_id_and_params(void **state)
{
    (void)state;
    expect_invalid(CARD(",\"payment_method_id\":\"pm_00000000000000000000000000000000\"", CARD_AP),
                   "payment_method_id");
    expect_invalid("{\"amount\":5,\"payment_method\":\"mbway\",\"payment_method_id\":\"pm_0000000000000000000000000000"
                   "0000\",\"additional_params\":{\"phone_number\":\"912345678\"}}",
                   "payment_method_id");
    expect_invalid("{\"amount\":5,\"payment_method\":\"credit_card\",\"payment_method_id\":17}", "payment_method_id");
}

static void every_problem_is_listed(void **state)
{
    (void)state;
    hres *r = post("{\"amount\":\"x\",\"payment_method\":\"cash\",\"colour\":1,\"currency\":\"EURO\"}");
    CHECK_FIELD_ERROR(r, 400, "amount");
    CHECK_FIELD_ERROR(r, 400, "payment_method");
    CHECK_FIELD_ERROR(r, 400, "colour");
    CHECK_FIELD_ERROR(r, 400, "currency");
    hres_free(r);

    r = post(CARD("", "\"number\":4242,\"expiration_month\":\"13\",\"expiration_year\":\"28\",\"cvv\":\"123\","
                      "\"pin\":1"));
    CHECK_FIELD_ERROR(r, 400, "additional_params.number");
    CHECK_FIELD_ERROR(r, 400, "additional_params.name");
    CHECK_FIELD_ERROR(r, 400, "additional_params.expiration_month");
    CHECK_FIELD_ERROR(r, 400, "additional_params.expiration_year");
    CHECK_FIELD_ERROR(r, 400, "additional_params.pin");
    hres_free(r);

    r = post("{\"amount\":-3,\"payment_method\":\"credit_card\",\"additional_params\":{" CARD_AP
             ",\"method\":\"mbway\"},\"extra\":null}");
    CHECK_FIELD_ERROR(r, 400, "amount");
    CHECK_FIELD_ERROR(r, 400, "additional_params.method");
    CHECK_FIELD_ERROR(r, 400, "extra");
    hres_free(r);
}

static void nothing_was_created(void **state)
{
    (void)state;
    hres *r = gw_do(&srv, "GET", srv.payments, "/api/payments", NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(r->body, "[]") == 0);
    hres_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(malformed_bodies),
        cmocka_unit_test(required_fields),
        cmocka_unit_test(wrong_types),
        cmocka_unit_test(bad_amounts),
        cmocka_unit_test(unknown_fields),
        cmocka_unit_test(repeated_fields_must_agree),
        cmocka_unit_test(card_detail_formats),
        cmocka_unit_test(payment_method_id_and_params),
        cmocka_unit_test(every_problem_is_listed),
        cmocka_unit_test(nothing_was_created),
    };
    return cmocka_run_group_tests_name("pay_validation", tests, group_setup, group_teardown);
}
