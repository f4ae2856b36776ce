/* Disputes authentication: HTTP Basic with per-environment credentials.
 * Missing or wrong credentials are 401 with a Basic challenge, a revoked
 * credential or a disabled merchant is 403, other services' keys are never
 * accepted, rotation works with two active credentials, and staging and
 * production never see each other's records. */
#include "dsp_helpers.h"

static rserver srv;
static struct dsp_cred sandbox;

static int group_setup(void **state)
{
    (void)state;
    server_start(&srv, NULL);
    dsp_sandbox_cred(&srv, &sandbox);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = server_stop(&srv);
    assert_int_equal(rc, 0);
    return rc;
}

#define RECORD(id) \
    "{\"customer_email\":\"ana@example.com\",\"ipv4_address\":\"10.0.0.1\",\"psp\":\"braintree\",\"charge_id\":\"" id "\"}"

static void check_401(hres *r)
{
    D_DETAIL(r, 401, "Unauthorized");
    char *challenge = hres_header(r, "WWW-Authenticate");
    D_CHECK(r, challenge && strncmp(challenge, "Basic realm=", 12) == 0);
    free(challenge);
}

static void sandbox_json_has_the_credential(void **state)
{
    (void)state;
    char path[320];
    snprintf(path, sizeof path, "%s/sandbox.json", srv.dir);
    char *text = dsp_read_file(path);
    cJSON *j = cJSON_Parse(text);
    free(text);
    const cJSON *d = cJSON_GetObjectItem(j, "disputes");
    assert_non_null(d);
    assert_string_equal(jstr(d, "environment"), "staging");
    char url[80];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/analytics", srv.api);
    assert_string_equal(jstr(d, "url"), url);
    assert_true(strncmp(jstr(d, "username"), "sandbox.staging.", 16) == 0);
    assert_int_equal(strlen(jstr(d, "password")), 40);
    cJSON_Delete(j);
}

static void missing_or_wrong_credentials(void **state)
{
    (void)state;
    hres *r = dsp_do(&srv, NULL, "POST", "/v1/analytics", RECORD("a1"));
    check_401(r);
    hres_free(r);

    struct dsp_cred wrong = sandbox;
    wrong.pass[0] = wrong.pass[0] == 'A' ? 'B' : 'A';
    r = dsp_do(&srv, &wrong, "POST", "/v1/analytics", RECORD("a1"));
    check_401(r);
    hres_free(r);

    struct dsp_cred empty = sandbox;
    empty.pass[0] = '\0';
    r = dsp_do(&srv, &empty, "POST", "/v1/analytics", RECORD("a1"));
    check_401(r);
    hres_free(r);

    struct dsp_cred unknown = sandbox;
    unknown.user[strlen(unknown.user) - 1] ^= 1;
    r = dsp_do(&srv, &unknown, "POST", "/v1/analytics", RECORD("a1"));
    check_401(r);
    hres_free(r);

    /* The same username with another environment named in it. */
    struct dsp_cred env_swapped = sandbox;
    char *dot = strstr(env_swapped.user, ".staging.");
    char rest[64];
    snprintf(rest, sizeof rest, "%s", dot + 9);
    snprintf(dot, sizeof env_swapped.user - (size_t)(dot - env_swapped.user), ".production.%s", rest);
    r = dsp_do(&srv, &env_swapped, "POST", "/v1/analytics", RECORD("a1"));
    check_401(r);
    hres_free(r);

    const char *malformed[] = {"Authorization: Basic", "Authorization: Basic !!!notbase64",
                               "Authorization: Basic c2FuZGJveA==", /* "sandbox", no colon */
                               "Authorization: Digest username=\"x\"", NULL};
    for (int i = 0; malformed[i]; i++) {
        const char *h[] = {malformed[i], "Content-Type: application/json", NULL};
        r = http_do("POST", srv.api, "/v1/analytics", h, RECORD("a1"));
        check_401(r);
        hres_free(r);
    }
    /* Authentication comes before the body is looked at. */
    r = dsp_do(&srv, NULL, "POST", "/v1/analytics", "{not json");
    check_401(r);
    hres_free(r);
    r = dsp_do(&srv, NULL, "POST", "/v1/evidence", "{\"charge_id\":\"a1\"}");
    check_401(r);
    hres_free(r);
}

static void other_services_keys_are_refused(void **state)
{
    (void)state;
    /* The sandbox gateway key, as a bearer token and as a Basic password. */
    hres *r = key_do(srv.gateway_key, "POST", srv.api, "/v1/analytics", NULL, RECORD("k1"));
    check_401(r);
    hres_free(r);
    struct dsp_cred as_basic;
    snprintf(as_basic.user, sizeof as_basic.user, "%s", sandbox.user);
    snprintf(as_basic.pass, sizeof as_basic.pass, "%s", srv.gateway_key);
    r = dsp_do(&srv, &as_basic, "POST", "/v1/analytics", RECORD("k1"));
    check_401(r);
    hres_free(r);
    snprintf(as_basic.user, sizeof as_basic.user, "sandbox");
    r = dsp_do(&srv, &as_basic, "POST", "/v1/analytics", RECORD("k1"));
    check_401(r);
    hres_free(r);

    /* A Recover key of the same merchant. */
    static const char *const json[] = {"Content-Type: application/json", NULL};
    r = http_do("POST", srv.admin, "/admin/merchants/sandbox/keys", json,
                "{\"service\":\"recover\",\"env\":\"sandbox\"}");
    D_STATUS(r, 201);
    char recover_key[200];
    snprintf(recover_key, sizeof recover_key, "%s", jstr(r->json, "api_key"));
    hres_free(r);
    r = key_do(recover_key, "POST", srv.api, "/v1/analytics", NULL, RECORD("k1"));
    check_401(r);
    hres_free(r);
    const char *xkey[] = {NULL, NULL};
    char xh[260];
    snprintf(xh, sizeof xh, "x-api-key: %s", recover_key);
    xkey[0] = xh;
    r = key_do(NULL, "POST", srv.api, "/v1/analytics", xkey, RECORD("k1"));
    check_401(r);
    hres_free(r);
}

static void rotation_and_revocation(void **state)
{
    (void)state;
    struct dsp_cred first, second;
    dsp_make_cred(&srv, "acme", "staging", &first);
    dsp_make_cred(&srv, "acme", "staging", &second);
    assert_string_not_equal(first.user, second.user);
    /* Both work at once, so clients can move to the new one first. */
    free(dsp_store(&srv, &first, RECORD("rot1")));
    free(dsp_store(&srv, &second, RECORD("rot2")));

    char path[300];
    snprintf(path, sizeof path, "/admin/merchants/acme/disputes/credentials/%s", first.user);
    hres *r = http_do("DELETE", srv.admin, path, NULL, NULL);
    D_STATUS(r, 200);
    hres_free(r);
    r = http_do("DELETE", srv.admin, path, NULL, NULL);
    D_STATUS(r, 404);
    hres_free(r);

    /* The right password of a revoked credential: known, and refused. */
    r = dsp_do(&srv, &first, "POST", "/v1/analytics", RECORD("rot3"));
    D_DETAIL(r, 403, "Forbidden");
    hres_free(r);
    /* A wrong password of a revoked credential stays a 401. */
    struct dsp_cred wrong = first;
    wrong.pass[1] = wrong.pass[1] == 'A' ? 'B' : 'A';
    r = dsp_do(&srv, &wrong, "POST", "/v1/analytics", RECORD("rot3"));
    check_401(r);
    hres_free(r);
    free(dsp_store(&srv, &second, RECORD("rot3")));

    /* The listing shows both, one revoked, and never a password or hash. */
    r = http_do("GET", srv.admin, "/admin/merchants/acme/disputes/credentials", NULL, NULL);
    D_STATUS(r, 200);
    D_CHECK(r, cJSON_GetArraySize(r->json) == 2);
    D_CHECK(r, !strstr(r->body, first.pass) && !strstr(r->body, second.pass) && !strstr(r->body, "hash"));
    D_CHECK(r, !jnull(cJSON_GetArrayItem(r->json, 0), "revoked_at"));
    D_CHECK(r, jnull(cJSON_GetArrayItem(r->json, 1), "revoked_at"));
    hres_free(r);
}

static void disabled_merchant_is_forbidden(void **state)
{
    (void)state;
    struct dsp_cred c;
    dsp_make_cred(&srv, "paused", "production", &c);
    free(dsp_store(&srv, &c, RECORD("p1")));
    static const char *const json[] = {"Content-Type: application/json", NULL};
    hres *r = http_do("PUT", srv.admin, "/admin/merchants/paused/disputes", json, "{\"enabled\":false}");
    D_STATUS(r, 200);
    hres_free(r);
    r = dsp_do(&srv, &c, "POST", "/v1/analytics", RECORD("p2"));
    D_DETAIL(r, 403, "Forbidden");
    hres_free(r);
    r = dsp_do(&srv, &c, "POST", "/v1/evidence", "{\"charge_id\":\"p1\"}");
    D_DETAIL(r, 403, "Forbidden");
    hres_free(r);
    r = http_do("PUT", srv.admin, "/admin/merchants/paused/disputes", json, "{\"enabled\":true}");
    D_STATUS(r, 200);
    hres_free(r);
    free(dsp_store(&srv, &c, RECORD("p2")));
    r = http_do("PUT", srv.admin, "/admin/merchants/nobody/disputes", json, "{\"enabled\":false}");
    D_STATUS(r, 404);
    hres_free(r);
}

static void environments_are_kept_apart(void **state)
{
    (void)state;
    struct dsp_cred staging, production, other;
    dsp_make_cred(&srv, "globex", "staging", &staging);
    dsp_make_cred(&srv, "globex", "production", &production);
    dsp_make_cred(&srv, "initech", "production", &other);
    char *id = dsp_store(&srv, &production, RECORD("env_shared"));
    char path[200];
    snprintf(path, sizeof path, "/v1/analytics/%s", id);

    hres *r = dsp_do(&srv, &production, "GET", path, NULL);
    D_STATUS(r, 200);
    D_CHECK(r, strcmp(jstr(r->json, "environment"), "production") == 0);
    hres_free(r);
    /* Staging of the same merchant, and another merchant's production. */
    r = dsp_do(&srv, &staging, "GET", path, NULL);
    D_DETAIL(r, 404, "Not Found");
    hres_free(r);
    r = dsp_do(&srv, &other, "GET", path, NULL);
    D_DETAIL(r, 404, "Not Found");
    hres_free(r);
    r = dsp_do(&srv, &staging, "POST", "/v1/evidence", "{\"charge_id\":\"env_shared\"}");
    D_STATUS(r, 200);
    D_CHECK(r, cJSON_GetArraySize(cJSON_GetObjectItem(r->json, "records")) == 0);
    D_CHECK(r, jnull(cJSON_GetObjectItem(r->json, "disputed_transaction"), "record_id"));
    hres_free(r);
    r = dsp_do(&srv, &staging, "POST", path, NULL);
    D_STATUS(r, 405);
    hres_free(r);
    char mark[240];
    snprintf(mark, sizeof mark, "%s/disputed", path);
    r = dsp_do(&srv, &staging, "POST", mark, NULL);
    D_DETAIL(r, 404, "Not Found");
    hres_free(r);

    /* The same record sent to staging is a separate record. */
    char *staged = dsp_store(&srv, &staging, RECORD("env_shared"));
    assert_string_not_equal(staged, id);
    r = dsp_do(&srv, &production, "POST", "/v1/evidence", "{\"charge_id\":\"env_shared\"}");
    D_STATUS(r, 200);
    const cJSON *records = cJSON_GetObjectItem(r->json, "records");
    D_CHECK(r, cJSON_GetArraySize(records) == 1 && strcmp(jstr(cJSON_GetArrayItem(records, 0), "id"), id) == 0);
    hres_free(r);
    free(staged);
    free(id);
}

static void admin_refuses_bad_requests(void **state)
{
    (void)state;
    static const char *const json[] = {"Content-Type: application/json", NULL};
    hres *r = http_do("POST", srv.admin, "/admin/merchants/sandbox/disputes/credentials", json,
                      "{\"environment\":\"sandbox\"}");
    D_STATUS(r, 400);
    hres_free(r);
    r = http_do("POST", srv.admin, "/admin/merchants/nobody/disputes/credentials", json,
                "{\"environment\":\"staging\"}");
    D_STATUS(r, 404);
    hres_free(r);
    r = http_do("GET", srv.admin, "/admin/merchants/nobody/disputes/credentials", NULL, NULL);
    D_STATUS(r, 404);
    hres_free(r);
}

static void recoupctl_manages_credentials(void **state)
{
    (void)state;
    const char *ctl = getenv("RECOUPCTL");
    if (!ctl || !*ctl)
        ctl = "./build/recoupctl";
    char cmd[1024], out[320];
    snprintf(out, sizeof out, "%s.ctl", srv.dir);
    snprintf(cmd, sizeof cmd, "%s --admin http://127.0.0.1:%d disputes-credentials create sandbox production cli >%s",
             ctl, srv.admin, out);
    assert_int_equal(system(cmd), 0);
    char *text = dsp_read_file(out);
    cJSON *j = cJSON_Parse(text);
    free(text);
    struct dsp_cred c;
    assert_non_null(jstr(j, "username"));
    snprintf(c.user, sizeof c.user, "%s", jstr(j, "username"));
    snprintf(c.pass, sizeof c.pass, "%s", jstr(j, "password"));
    assert_string_equal(jstr(j, "environment"), "production");
    cJSON_Delete(j);
    free(dsp_store(&srv, &c, RECORD("ctl1")));
    snprintf(cmd, sizeof cmd, "%s --admin http://127.0.0.1:%d disputes-credentials list sandbox >%s", ctl, srv.admin,
             out);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s --admin http://127.0.0.1:%d disputes-credentials revoke sandbox %s >%s", ctl,
             srv.admin, c.user, out);
    assert_int_equal(system(cmd), 0);
    hres *r = dsp_do(&srv, &c, "POST", "/v1/analytics", RECORD("ctl2"));
    D_DETAIL(r, 403, "Forbidden");
    hres_free(r);
    snprintf(cmd, sizeof cmd, "%s --admin http://127.0.0.1:%d disputes-credentials create sandbox sandbox >%s 2>&1",
             ctl, srv.admin, out);
    assert_int_not_equal(system(cmd), 0);
    unlink(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sandbox_json_has_the_credential),
        cmocka_unit_test(missing_or_wrong_credentials),
        cmocka_unit_test(other_services_keys_are_refused),
        cmocka_unit_test(rotation_and_revocation),
        cmocka_unit_test(disabled_merchant_is_forbidden),
        cmocka_unit_test(environments_are_kept_apart),
        cmocka_unit_test(admin_refuses_bad_requests),
        cmocka_unit_test(recoupctl_manages_credentials),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
