/* The payments listener as an HTTP service: content types, size limits,
 * unknown paths and methods, authentication, and key rotation through the
 * admin API. */
#include "pay_common.h"

static rserver srv;
static char auth[200];

static int group_setup(void **state)
{
    (void)state;
    server_start(&srv, NULL);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", srv.gateway_key);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = server_stop(&srv);
    assert_int_equal(rc, 0);
    return rc;
}

static const char valid_card[] =
    "{\"amount\":5.00,\"payment_method\":\"credit_card\",\"additional_params\":{\"number\":\"4242424242424242\","
    "\"name\":\"Ana Silva\",\"expiration_month\":\"12\",\"expiration_year\":\"" PAY_YEAR "\",\"cvv\":\"123\"}}";

static void check_415(hres *r)
{
    CHECK_STATUS(r, 415);
    CHECK(r, strcmp(js(r->json, "message"), "Unsupported media type") == 0);
    CHECK(r, strcmp(js(r->json, "errors"), "Content-Type must be application/json") == 0);
}

static int payment_count(void)
{
    hres *r = gw_do(&srv, "GET", srv.payments, "/api/payments?limit=1000", NULL);
    int n = r->status == 200 ? jlen(r) : -1;
    hres_free(r);
    return n;
}

static void unsupported_media_type(void **state)
{
    (void)state;
    int before = payment_count();
    /* An empty "Content-Type:" stops libcurl from adding its form default. */
    const char *none[] = {auth, "Content-Type:", NULL};
    hres *r = http_do("POST", srv.payments, "/api/payments", none, valid_card);
    check_415(r);
    hres_free(r);

    const char *plain[] = {auth, "Content-Type: text/plain", NULL};
    r = http_do("POST", srv.payments, "/api/payments", plain, valid_card);
    check_415(r);
    hres_free(r);

    const char *form[] = {auth, "Content-Type: application/x-www-form-urlencoded", NULL};
    r = http_do("POST", srv.payments, "/api/payments", form, valid_card);
    check_415(r);
    hres_free(r);

    const char *lookalike[] = {auth, "Content-Type: application/jsonp", NULL};
    r = http_do("POST", srv.payments, "/api/payments", lookalike, valid_card);
    check_415(r);
    hres_free(r);

    r = http_do("POST", srv.payments, "/api/payment_methods", plain, "{}");
    check_415(r);
    hres_free(r);

    char *id = make_card_payment(&srv, "4242424242424242", "5.00");
    char path[300];
    snprintf(path, sizeof path, "/api/payments/%s", id);
    r = http_do("PUT", srv.payments, path, plain, "{\"status\":\"settled\"}");
    check_415(r);
    hres_free(r);
    /* The refused update changed nothing. */
    r = gw_do(&srv, "GET", srv.payments, path, NULL);
    CHECK(r, strcmp(js(r->json, "status"), "success") == 0);
    hres_free(r);
    free(id);
    assert_int_equal(payment_count(), before + 1);

    /* Parameters after the media type are allowed. */
    const char *charset[] = {auth, "Content-Type: application/json; charset=utf-8", NULL};
    r = http_do("POST", srv.payments, "/api/payments", charset, valid_card);
    CHECK_STATUS(r, 201);
    hres_free(r);
}

/* A valid payment body padded with trailing spaces to exactly size bytes. */
static char *padded_body(size_t size)
{
    char *b = malloc(size + 1);
    size_t n = strlen(valid_card);
    memcpy(b, valid_card, n);
    memset(b + n, ' ', size - n);
    b[size] = '\0';
    return b;
}

static void check_413(hres *r)
{
    CHECK_STATUS(r, 413);
    CHECK(r, strcmp(js(r->json, "message"), "Request body too large") == 0);
    CHECK(r, jnum(r->json, "limit_bytes") == 65536);
}

static void body_size_limit(void **state)
{
    (void)state;
    int before = payment_count();
    char *body = padded_body(65536);
    hres *r = gw_do(&srv, "POST", srv.payments, "/api/payments", body);
    CHECK_STATUS(r, 201);
    hres_free(r);
    free(body);

    body = padded_body(65537);
    r = gw_do(&srv, "POST", srv.payments, "/api/payments", body);
    check_413(r);
    hres_free(r);

    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    r = gw_do_h(&srv, "POST", srv.payments, "/api/payments", chunked, body);
    check_413(r);
    hres_free(r);
    free(body);

    body = padded_body(300000);
    r = gw_do(&srv, "POST", srv.payments, "/api/payments", body);
    check_413(r);
    hres_free(r);
    r = gw_do_h(&srv, "POST", srv.payments, "/api/payments", chunked, body);
    check_413(r);
    hres_free(r);
    r = gw_do_h(&srv, "POST", srv.payments, "/api/payment_methods", chunked, body);
    check_413(r);
    hres_free(r);
    free(body);

    /* A chunked body under the limit is read like any other. */
    r = gw_do_h(&srv, "POST", srv.payments, "/api/payments", chunked, valid_card);
    CHECK_STATUS(r, 201);
    hres_free(r);
    assert_int_equal(payment_count(), before + 2);

    /* The listener still serves after refusing large bodies. */
    r = gw_do(&srv, "GET", srv.payments, "/api/payments?limit=1", NULL);
    CHECK_STATUS(r, 200);
    hres_free(r);
}

static void url_length_limit(void **state)
{
    (void)state;
    char path[4096];
    int n = snprintf(path, sizeof path, "/api/payments?payment_id=");
    memset(path + n, 'A', 3000);
    path[n + 3000] = '\0';
    hres *r = gw_do(&srv, "GET", srv.payments, path, NULL);
    CHECK_STATUS(r, 414);
    CHECK(r, strcmp(js(r->json, "message"), "URL too long") == 0);
    hres_free(r);

    n = snprintf(path, sizeof path, "/api/payments/");
    memset(path + n, 'A', 2100);
    path[n + 2100] = '\0';
    r = gw_do(&srv, "GET", srv.payments, path, NULL);
    CHECK_STATUS(r, 414);
    CHECK(r, strcmp(js(r->json, "message"), "URL too long") == 0);
    hres_free(r);

    /* Under the limit the same kind of URL is served. */
    n = snprintf(path, sizeof path, "/api/payments?payment_id=");
    memset(path + n, 'A', 200);
    path[n + 200] = '\0';
    r = gw_do(&srv, "GET", srv.payments, path, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(r->body, "[]") == 0);
    hres_free(r);
}

static void unknown_paths(void **state)
{
    (void)state;
    static const char *const paths[] = {"/", "/api", "/api/unknown", "/api/refunds", "/api/refunds/ABC",
                                        "/api/payments/ABC/refunds", "/api/paymentsX", "/API/PAYMENTS"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        hres *r = gw_do(&srv, "GET", srv.payments, paths[i], NULL);
        CHECK_STATUS(r, 404);
        CHECK(r, strcmp(js(r->json, "message"), "Not found") == 0);
        hres_free(r);
    }
    hres *r = gw_do(&srv, "POST", srv.payments, "/api/refunds", "{\"payment_id\":\"X\",\"amount\":1}");
    CHECK_STATUS(r, 404);
    CHECK(r, strcmp(js(r->json, "message"), "Not found") == 0);
    hres_free(r);

    /* One trailing slash is forgiven. */
    r = gw_do(&srv, "GET", srv.payments, "/api/payments/", NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, cJSON_IsArray(r->json));
    hres_free(r);
}

static void wrong_methods(void **state)
{
    (void)state;
    static const struct {
        const char *method, *path;
        const char *allow[4];
    } cases[] = {
        {"PATCH", "/api/payments", {"GET", "POST", NULL}},
        {"DELETE", "/api/payments", {"GET", "POST", NULL}},
        {"PUT", "/api/payments", {"GET", "POST", NULL}},
        {"POST", "/api/payments/ABCDEF", {"GET", "PUT", "DELETE", NULL}},
        {"PATCH", "/api/payments/ABCDEF", {"GET", "PUT", "DELETE", NULL}},
        {"GET", "/api/payment_methods", {"POST", NULL}},
        {"POST", "/api/payment_methods/pm_x", {"GET", "DELETE", NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hres *r = gw_do(&srv, cases[i].method, srv.payments, cases[i].path, "{}");
        CHECK_STATUS(r, 405);
        CHECK(r, strcmp(js(r->json, "message"), "Method not allowed") == 0);
        char *allow = hres_header(r, "Allow");
        CHECK(r, allow != NULL);
        for (int k = 0; cases[i].allow[k]; k++)
            CHECK(r, strstr(allow, cases[i].allow[k]) != NULL);
        CHECK(r, strstr(allow, cases[i].method) == NULL);
        free(allow);
        hres_free(r);
    }
}

static void check_401(hres *r)
{
    CHECK_STATUS(r, 401);
    CHECK(r, strcmp(js(r->json, "message"), "Missing or invalid API key") == 0);
    char *www = hres_header(r, "WWW-Authenticate");
    CHECK(r, www && strcmp(www, "Bearer realm=\"recoup gateway\"") == 0);
    free(www);
}

/* Every route of the listener, to show that none is open without a key. */
static void check_all_routes_refuse(const char *const *headers)
{
    static const struct {
        const char *method, *path, *body;
    } routes[] = {
        {"GET", "/api/payments", NULL},
        {"POST", "/api/payments", valid_card},
        {"GET", "/api/payments/ABCDEF", NULL},
        {"PUT", "/api/payments/ABCDEF", "{}"},
        {"DELETE", "/api/payments/ABCDEF", NULL},
        {"POST", "/api/payment_methods", "{}"},
        {"GET", "/api/payment_methods/pm_x", NULL},
        {"DELETE", "/api/payment_methods/pm_x", NULL},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        hres *r = http_do(routes[i].method, srv.payments, routes[i].path, headers, routes[i].body);
        check_401(r);
        hres_free(r);
    }
}

static void authentication(void **state)
{
    (void)state;
    int before = payment_count();
    const char *none[] = {"Content-Type: application/json", NULL};
    check_all_routes_refuse(none);

    /* The right shape with an unknown key id and secret. */
    const char *wrong[] = {"Content-Type: application/json",
                           "Authorization: Bearer rk_sandbox_abcdefghijklmnop_"
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn",
                           NULL};
    check_all_routes_refuse(wrong);

    /* The right key id with another secret. */
    char tampered[200], tampered_h[240];
    snprintf(tampered, sizeof tampered, "%s", srv.gateway_key);
    size_t kl = strlen(tampered);
    tampered[kl - 1] = tampered[kl - 1] == 'a' ? 'b' : 'a';
    snprintf(tampered_h, sizeof tampered_h, "Authorization: Bearer %s", tampered);
    const char *tamp[] = {"Content-Type: application/json", tampered_h, NULL};
    check_all_routes_refuse(tamp);

    const char *malformed[] = {"Content-Type: application/json", "Authorization: Bearer not-a-key", NULL};
    check_all_routes_refuse(malformed);
    const char *basic[] = {"Content-Type: application/json", "Authorization: Basic dXNlcjpwYXNz", NULL};
    check_all_routes_refuse(basic);
    const char *empty[] = {"Content-Type: application/json", "Authorization: Bearer ", NULL};
    check_all_routes_refuse(empty);
    const char *bad_x[] = {"Content-Type: application/json", "x-api-key: rk_sandbox_", NULL};
    check_all_routes_refuse(bad_x);

    /* A valid key of another service is not a gateway key. */
    const char *json[] = {"Content-Type: application/json", NULL};
    hres *k = http_do("POST", srv.admin, "/admin/merchants/sandbox/keys", json,
                      "{\"service\":\"recover\",\"env\":\"sandbox\"}");
    CHECK_STATUS(k, 201);
    char other[240];
    snprintf(other, sizeof other, "Authorization: Bearer %s", js(k->json, "api_key"));
    hres_free(k);
    const char *recover_key[] = {"Content-Type: application/json", other, NULL};
    check_all_routes_refuse(recover_key);
    assert_int_equal(payment_count(), before);

    /* Both ways of sending the key are accepted. */
    const char *bearer[] = {auth, NULL};
    hres *r = http_do("GET", srv.payments, "/api/payments", bearer, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, cJSON_IsArray(r->json));
    hres_free(r);
    char xkey[240];
    snprintf(xkey, sizeof xkey, "x-api-key: %s", srv.gateway_key);
    const char *xk[] = {xkey, "Content-Type: application/json", NULL};
    r = http_do("GET", srv.payments, "/api/payments", xk, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, cJSON_IsArray(r->json));
    hres_free(r);
    r = http_do("POST", srv.payments, "/api/payments", xk, valid_card);
    CHECK_STATUS(r, 201);
    CHECK(r, strcmp(js(r->json, "status"), "success") == 0);
    hres_free(r);
}

static int key_listed(const hres *list, const char *key_id, int *revoked)
{
    const cJSON *k;
    cJSON_ArrayForEach(k, list->json)
    {
        if (strcmp(js(k, "key_id"), key_id) == 0) {
            *revoked = !jnull(k, "revoked_at");
            return 1;
        }
    }
    return 0;
}

static void key_rotation_without_downtime(void **state)
{
    (void)state;
    const char *json[] = {"Content-Type: application/json", NULL};
    char keys[2][200], ids[2][40];
    for (int i = 0; i < 2; i++) {
        hres *k = http_do("POST", srv.admin, "/admin/merchants/sandbox/keys", json,
                          "{\"service\":\"gateway\",\"env\":\"sandbox\"}");
        CHECK_STATUS(k, 201);
        CHECK(k, strncmp(js(k->json, "api_key"), "rk_sandbox_", 11) == 0);
        snprintf(keys[i], sizeof keys[i], "%s", js(k->json, "api_key"));
        snprintf(ids[i], sizeof ids[i], "%s", js(k->json, "key_id"));
        hres_free(k);
        hres *r = key_do(keys[i], "GET", srv.payments, "/api/payments", NULL, NULL);
        CHECK_STATUS(r, 200);
        hres_free(r);
    }

    hres *l = http_do("GET", srv.admin, "/admin/merchants/sandbox/keys", NULL, NULL);
    CHECK_STATUS(l, 200);
    int revoked = -1;
    CHECK(l, key_listed(l, ids[0], &revoked) && revoked == 0);
    CHECK(l, key_listed(l, ids[1], &revoked) && revoked == 0);
    /* The list never shows a key's secret. */
    CHECK(l, strstr(l->body, keys[0]) == NULL && strstr(l->body, keys[1]) == NULL);
    hres_free(l);

    char path[200];
    snprintf(path, sizeof path, "/admin/merchants/sandbox/keys/%s", ids[0]);
    hres *d = http_do("DELETE", srv.admin, path, NULL, NULL);
    CHECK_STATUS(d, 200);
    hres_free(d);

    hres *r = key_do(keys[0], "GET", srv.payments, "/api/payments", NULL, NULL);
    check_401(r);
    hres_free(r);
    r = key_do(keys[0], "POST", srv.payments, "/api/payments", NULL, valid_card);
    check_401(r);
    hres_free(r);
    char xkey[240];
    snprintf(xkey, sizeof xkey, "x-api-key: %s", keys[0]);
    const char *xk[] = {xkey, NULL};
    r = http_do("GET", srv.payments, "/api/payments", xk, NULL);
    check_401(r);
    hres_free(r);

    /* The other new key and the original one keep working. */
    r = key_do(keys[1], "POST", srv.payments, "/api/payments", NULL, valid_card);
    CHECK_STATUS(r, 201);
    hres_free(r);
    r = gw_do(&srv, "GET", srv.payments, "/api/payments?limit=1", NULL);
    CHECK_STATUS(r, 200);
    hres_free(r);

    l = http_do("GET", srv.admin, "/admin/merchants/sandbox/keys", NULL, NULL);
    CHECK(l, key_listed(l, ids[0], &revoked) && revoked == 1);
    CHECK(l, key_listed(l, ids[1], &revoked) && revoked == 0);
    hres_free(l);

    /* Revoking twice finds no active key. */
    d = http_do("DELETE", srv.admin, path, NULL, NULL);
    CHECK_STATUS(d, 404);
    hres_free(d);
}

static void header_size_limit(void **state)
{
    (void)state;
    static char big[20 * 1024];
    int n = snprintf(big, sizeof big, "X-Padding: ");
    memset(big + n, 'p', sizeof big - (size_t)n - 1);
    big[sizeof big - 1] = '\0';
    const char *headers[] = {big, NULL};
    hres *r = gw_do_h(&srv, "GET", srv.payments, "/api/payments", headers, NULL);
    CHECK_STATUS(r, 431);
    hres_free(r);
    /* The listener is unaffected. */
    r = gw_do(&srv, "GET", srv.payments, "/api/payments?limit=1", NULL);
    CHECK_STATUS(r, 200);
    hres_free(r);
}

static void request_id(void **state)
{
    (void)state;
    const char *mine[] = {"X-Request-Id: trace-42.a_b", NULL};
    hres *r = gw_do_h(&srv, "GET", srv.payments, "/api/payments?limit=1", mine, NULL);
    char *rid = hres_header(r, "X-Request-Id");
    CHECK(r, rid && strcmp(rid, "trace-42.a_b") == 0);
    free(rid);
    hres_free(r);

    /* Errors carry one as well, and an unusable one is replaced. */
    const char *bad[] = {"X-Request-Id: has spaces and <html>", NULL};
    r = http_do("GET", srv.payments, "/api/payments", bad, NULL);
    CHECK_STATUS(r, 401);
    rid = hres_header(r, "X-Request-Id");
    CHECK(r, rid && strlen(rid) > 0 && strstr(rid, "<") == NULL);
    free(rid);
    hres_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unsupported_media_type),
        cmocka_unit_test(body_size_limit),
        cmocka_unit_test(url_length_limit),
        cmocka_unit_test(unknown_paths),
        cmocka_unit_test(wrong_methods),
        cmocka_unit_test(authentication),
        cmocka_unit_test(key_rotation_without_downtime),
        cmocka_unit_test(header_size_limit),
        cmocka_unit_test(request_id),
    };
    return cmocka_run_group_tests_name("pay_http", tests, group_setup, group_teardown);
}
