/* The Recover API's answers outside the payload contract: 403 for every
 * key that is not a live Recover key, 404 for unknown paths and wrong
 * methods, 415, 413, malformed JSON, and never a 500 whatever the input. */
#include "rc_common.h"

static rserver srv;
static struct rc_keys keys;

static const char forbidden[] = "{\"message\":\"Forbidden\",\"errors\":\"Invalid API key\"}";
static const char not_found[] = "{\"message\":\"Method/path combination not found\"}";
static const char unsupported[] =
    "{\"message\":\"Unsupported media type\",\"errors\":\"Content-Type must be application/json\"}";

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

static void check_forbidden(hres *r)
{
    CHECK_STATUS(r, 403);
    CHECK(r, rc_body_is(r, forbidden));
}

/* Each of the three routes, with the key given as is (NULL: no header). */
static void check_all_routes_forbidden(const char *key)
{
    cJSON *p = rc_parse(RC_MIN_PAYLOAD);
    hres *r = rc_post_payment(&srv, key, p);
    check_forbidden(r);
    hres_free(r);
    r = rc_do(&srv, key, "POST", "/recover/payment_method_updates",
              "{\"customer_id\":\"cus_1\",\"payment_method_id\":\"pm_1\"}");
    check_forbidden(r);
    hres_free(r);
    r = rc_get_invoice(&srv, key, "in_min");
    check_forbidden(r);
    hres_free(r);
    cJSON_Delete(p);
}

static void missing_key(void **state)
{
    (void)state;
    check_all_routes_forbidden(NULL);
    /* An empty header is no key either. */
    const char *headers[] = {"x-api-key;", "Content-Type: application/json", NULL};
    hres *r = http_do("POST", srv.api, "/recover/payments", headers, RC_MIN_PAYLOAD);
    check_forbidden(r);
    hres_free(r);
}

static void wrong_key(void **state)
{
    (void)state;
    check_all_routes_forbidden("not-a-key");
    /* A real key with one character changed. */
    char bent[200];
    snprintf(bent, sizeof bent, "%s", keys.sandbox);
    size_t n = strlen(bent);
    bent[n - 1] = bent[n - 1] == 'A' ? 'B' : 'A';
    check_all_routes_forbidden(bent);
    char longer[240];
    snprintf(longer, sizeof longer, "%sx", keys.sandbox);
    check_all_routes_forbidden(longer);
}

static void gateway_key_is_not_a_recover_key(void **state)
{
    (void)state;
    check_all_routes_forbidden(srv.gateway_key);
}

static void revoked_key(void **state)
{
    (void)state;
    hres *r = rc_admin(&srv, "POST", "/admin/merchants/sandbox/keys", "{\"service\":\"recover\",\"env\":\"sandbox\"}");
    CHECK_STATUS(r, 201);
    char key[200], key_id[100];
    snprintf(key, sizeof key, "%s", js(r->json, "api_key"));
    snprintf(key_id, sizeof key_id, "%s", js(r->json, "key_id"));
    hres_free(r);

    cJSON *p = rc_event("http-revoked", "cus_rev", "http-revoked", 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    r = rc_post_payment(&srv, key, p);
    CHECK_STATUS(r, 200);
    hres_free(r);

    char path[300];
    snprintf(path, sizeof path, "/admin/merchants/sandbox/keys/%s", key_id);
    r = rc_admin(&srv, "DELETE", path, NULL);
    CHECK(r, r->status == 200 || r->status == 204);
    hres_free(r);
    check_all_routes_forbidden(key);
    /* The merchant's other keys still work. */
    r = rc_post_payment(&srv, keys.sandbox, p);
    CHECK_STATUS(r, 200);
    hres_free(r);
    cJSON_Delete(p);
}

static void check_not_found(hres *r)
{
    CHECK_STATUS(r, 404);
    CHECK(r, rc_body_is(r, not_found));
}

static void unknown_paths(void **state)
{
    (void)state;
    static const char *const paths[] = {
        "/recover/nothing",  "/recover/payment",      "/recover/payments/extra", "/recover/invoices",
        "/recover/Payments", "/recover/payments/1/2",
    };
    static const char *const methods[] = {"GET", "POST"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        for (size_t m = 0; m < 2; m++) {
            hres *r = rc_do(&srv, keys.sandbox, methods[m], paths[i], m ? "{}" : NULL);
            check_not_found(r);
            hres_free(r);
            /* Without a key the answer is the same: the path is unknown either way. */
            r = rc_do(&srv, NULL, methods[m], paths[i], m ? "{}" : NULL);
            check_not_found(r);
            hres_free(r);
        }
}

/* The API's own root is one of its paths too. */
static void recover_root(void **state)
{
    (void)state;
    struct rc_soft soft = {0};
    static const char *const paths[] = {"/recover/", "/recover"};
    for (size_t i = 0; i < 2; i++) {
        hres *r = rc_do(&srv, keys.sandbox, "GET", paths[i], NULL);
        snprintf(soft.ctx, sizeof soft.ctx, "GET %s", paths[i]);
        SOFT(&soft, r, r->status == 404 && rc_body_is(r, not_found));
        hres_free(r);
    }
    rc_soft_end(&soft);
}

static void wrong_methods_on_known_paths(void **state)
{
    (void)state;
    static const struct {
        const char *method, *path;
    } cases[] = {
        {"GET", "/recover/payments"},
        {"PUT", "/recover/payments"},
        {"DELETE", "/recover/payments"},
        {"PATCH", "/recover/payments"},
        {"GET", "/recover/payment_method_updates"},
        {"PUT", "/recover/payment_method_updates"},
        {"DELETE", "/recover/payment_method_updates"},
        {"POST", "/recover/invoices/in_min"},
        {"PUT", "/recover/invoices/in_min"},
        {"DELETE", "/recover/invoices/in_min"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int body = strcmp(cases[i].method, "GET") != 0 && strcmp(cases[i].method, "DELETE") != 0;
        hres *r = rc_do(&srv, keys.sandbox, cases[i].method, cases[i].path, body ? RC_MIN_PAYLOAD : NULL);
        check_not_found(r);
        CHECK(r, r->status != 405);
        hres_free(r);
    }
}

static void content_type(void **state)
{
    (void)state;
    char auth[240];
    snprintf(auth, sizeof auth, "x-api-key: %s", keys.sandbox);
    static const char *const bad[] = {
        "Content-Type:", "Content-Type: text/plain", "Content-Type: application/x-www-form-urlencoded",
        "Content-Type: application/jsonp", "Content-Type: text/json", "Content-Type: multipart/form-data",
    };
    static const char *const paths[] = {"/recover/payments", "/recover/payment_method_updates"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (size_t p = 0; p < 2; p++) {
            const char *headers[] = {auth, bad[i], NULL};
            hres *r = http_do("POST", srv.api, paths[p], headers, RC_MIN_PAYLOAD);
            CHECK_STATUS(r, 415);
            CHECK(r, rc_body_is(r, unsupported));
            hres_free(r);
        }
    /* Parameters and any case are still JSON. */
    cJSON *p = rc_event("http-ct", "cus_ct", "http-ct", 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    char *text = cJSON_PrintUnformatted(p);
    static const char *const good[] = {"Content-Type: application/json; charset=utf-8",
                                       "Content-Type: Application/JSON"};
    for (size_t i = 0; i < 2; i++) {
        const char *headers[] = {auth, good[i], NULL};
        hres *r = http_do("POST", srv.api, "/recover/payments", headers, text);
        CHECK_STATUS(r, 200);
        hres_free(r);
    }
    free(text);
    cJSON_Delete(p);
}

static void body_too_large(void **state)
{
    (void)state;
    /* A valid payload padded with a custom field beyond the default limit
     * of 64 KiB. */
    size_t pad = 80 * 1024;
    char *filler = malloc(pad + 1);
    memset(filler, 'a', pad);
    filler[pad] = '\0';
    cJSON *p = rc_event("http-big", "cus_big", "http-big", 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    cJSON *custom = cJSON_AddObjectToObject(p, "custom");
    cJSON_AddStringToObject(custom, "filler", filler);
    hres *r = rc_post_payment(&srv, keys.sandbox, p);
    CHECK_STATUS(r, 413);
    CHECK(r, *js(r->json, "message") != '\0');
    hres_free(r);
    r = rc_post_json(&srv, keys.sandbox, "/recover/payment_method_updates", p);
    CHECK_STATUS(r, 413);
    hres_free(r);
    /* Nothing of it was stored. */
    r = rc_get_invoice(&srv, keys.sandbox, "http-big");
    CHECK_STATUS(r, 404);
    hres_free(r);
    free(filler);
    cJSON_Delete(p);
}

static void malformed_json(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "{\"customer\":", "{customer:{}}", "not json", "{\"a\":1}}", "{\"a\":1} trailing", "", "[]", "\"text\"",
        "42", "null", "{\"a\":\"\\x\"}",
    };
    static const char *const paths[] = {"/recover/payments", "/recover/payment_method_updates"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        for (size_t p = 0; p < 2; p++) {
            hres *r = rc_do(&srv, keys.sandbox, "POST", paths[p], bodies[i]);
            RC_INVALID(r);
            CHECK(r, has_error_field(r->json, "body"));
            hres_free(r);
        }
}

/* Odd but well-formed inputs: each is a 200 or a 400, never a 500 and
 * never a dropped connection. */
static void never_a_server_error(void **state)
{
    (void)state;
    static const struct {
        const char *path, *value;
    } odd[] = {
        {"transactions[0].amount", "1e308"},
        {"transactions[0].amount", "-1e308"},
        {"transactions[0].amount", "\"1e5\""},
        {"transactions[0].amount", "\"  12\""},
        {"transactions[0].amount", "0.1e-400"},
        {"transactions[0].amount", "99999999999999.99"},
        {"transactions[0].amount", "\"999999999999999999999999\""},
        {"transactions[0].outcome.processor_response_code", "1e300"},
        {"transactions[0].outcome.processor_response_code", "-9223372036854775808"},
        {"transactions[0].outcome.processor_response_code", "9007199254740993"},
        {"transactions[0].bin", "1e20"},
        {"transactions[0].bin", "-424242"},
        {"transactions[0].bin", "12345678"},
        {"subscription.billing", "{\"frequency\":1e300}"},
        {"subscription.billing", "{\"frequency\":9007199254740993}"},
        {"transactions[0].psp_transaction_created_at", "\"9999-12-31T23:59:59Z\""},
        {"transactions[0].psp_transaction_created_at", "\"0000-01-01T00:00:00Z\""},
        {"transactions[0].psp_transaction_created_at", "\"2024-03-01T10:00:00.123456789123456789Z\""},
        {"transactions[0].psp_transaction_created_at", "\"2024-03-01T10:00:00+23:59\""},
        {"customer.id", "\"\\u0000\""},
        {"customer.id", "\"caf\\u00e9 \\ud83d\\ude00\""},
        {"invoice.id", "\"in/with/slashes?and=query#frag\""},
        {"invoice.id", "\"%2e%2e\""},
        {"custom", "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":[[[[[[1]]]]]]}}}}}}"},
        {"custom", "{\"\":\"\",\"\\u0000\":null}"},
        {"transactions[0].enhanced_data", "{\"level_2\":{},\"level_3\":{},\"level_4\":1}"},
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        char id[32];
        snprintf(id, sizeof id, "http-odd-%zu", i);
        cJSON *p = rc_event(id, "cus_odd", id, 0, "insufficient_funds", "2024-03-01T10:00:00Z");
        rc_set(p, odd[i].path, odd[i].value);
        hres *r = rc_post_payment(&srv, keys.sandbox, p);
        if (r->status != 200 && r->status != 400)
            fail_msg("%s = %s: status %ld, body %s", odd[i].path, odd[i].value, r->status, r->body);
        if (r->status == 400)
            RC_INVALID(r);
        hres_free(r);
        cJSON_Delete(p);
    }
    /* A long id at the limit, and one past it. */
    char id[300];
    memset(id, 'i', 255);
    id[255] = '\0';
    cJSON *p = rc_event(id, "cus_long", id, 0, "insufficient_funds", "2024-03-01T10:00:00Z");
    hres *r = rc_post_payment(&srv, keys.sandbox, p);
    CHECK_STATUS(r, 200);
    hres_free(r);
    memset(id, 'j', 256);
    id[256] = '\0';
    rc_set_str(p, "invoice.id", id);
    rc_set_str(p, "transactions[0].id", id);
    r = rc_post_payment(&srv, keys.sandbox, p);
    RC_INVALID(r);
    CHECK(r, has_error_field(r->json, "invoice.id"));
    CHECK(r, has_error_field(r->json, "transactions[0].id"));
    hres_free(r);
    cJSON_Delete(p);

    /* Let the worker apply what was accepted, then no 500 was ever sent. */
    rc_barrier(&srv, keys.sandbox, "odd");
    r = http_do("GET", srv.admin, "/metrics", NULL, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strstr(r->body, "listener=\"api\",code=\"500\"") == NULL);
    CHECK(r, strstr(r->body, "listener=\"api\",code=\"200\"") != NULL);
    hres_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(missing_key),
        cmocka_unit_test(wrong_key),
        cmocka_unit_test(gateway_key_is_not_a_recover_key),
        cmocka_unit_test(revoked_key),
        cmocka_unit_test(unknown_paths),
        cmocka_unit_test(recover_root),
        cmocka_unit_test(wrong_methods_on_known_paths),
        cmocka_unit_test(content_type),
        cmocka_unit_test(body_too_large),
        cmocka_unit_test(malformed_json),
        cmocka_unit_test(never_a_server_error),
    };
    return cmocka_run_group_tests_name("rc_http", tests, group_setup, group_teardown);
}
