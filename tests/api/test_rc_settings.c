/* Recover settings on the admin listener: defaults, partial updates, the
 * rules on each field and across fields, secrets that are never shown
 * back, and the webhook signing secret's rotation. */
#include "rc_common.h"

static rserver srv;

static int group_setup(void **state)
{
    (void)state;
    server_start(&srv, NULL);
    hres *r = rc_admin(&srv, "POST", "/admin/merchants", "{\"merchant_id\":\"rc-set\",\"name\":\"Settings Ltd\"}");
    int ok = r->status == 201;
    hres_free(r);
    return ok ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = server_stop(&srv);
    assert_int_equal(rc, 0);
    return rc;
}

#define SETTINGS "/admin/merchants/rc-set/recover"

static hres *put(const char *body) { return rc_admin(&srv, "PUT", SETTINGS, body); }

static hres *get(void) { return rc_admin(&srv, "GET", SETTINGS, NULL); }

static int is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static void defaults(void **state)
{
    (void)state;
    hres *r = get();
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "merchant_id"), "rc-set") == 0);
    CHECK(r, jnum(r->json, "dunning_days") == 30);
    CHECK(r, jnum(r->json, "max_retries") == 8);
    CHECK(r, strcmp(js(r->json, "timezone"), "UTC") == 0);
    CHECK(r, strcmp(js(r->json, "integration"), "psp") == 0);
    CHECK(r, jnull(r->json, "retry_status_url") && jnull(r->json, "retry_results_url") &&
                 jnull(r->json, "end_of_dunning_url"));
    CHECK(r, cJSON_IsFalse(jobj(r->json, "end_of_dunning_enabled")));
    const cJSON *auth = jobj(r->json, "merchant_auth");
    CHECK(r, strcmp(js(auth, "type"), "none") == 0);
    CHECK(r, jnull(auth, "username"));
    CHECK(r, cJSON_IsFalse(jobj(auth, "secret_set")));
    CHECK(r, cJSON_IsFalse(jobj(r->json, "webhook_signing_secret_set")));
    CHECK(r, jstr(r->json, "webhook_signing_secret") == NULL);
    hres_free(r);

    /* The sandbox merchant got its secret on first start. */
    r = rc_admin(&srv, "GET", "/admin/merchants/sandbox/recover", NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, jnum(r->json, "dunning_days") == 30);
    CHECK(r, cJSON_IsTrue(jobj(r->json, "webhook_signing_secret_set")));
    CHECK(r, jstr(r->json, "webhook_signing_secret") == NULL);
    hres_free(r);
}

static void partial_updates(void **state)
{
    (void)state;
    hres *r = put("{\"dunning_days\":45}");
    CHECK_STATUS(r, 200);
    CHECK(r, jnum(r->json, "dunning_days") == 45);
    CHECK(r, jnum(r->json, "max_retries") == 8);
    /* The first save makes the webhook secret, shown this once. */
    CHECK(r, is_hex64(jstr(r->json, "webhook_signing_secret")));
    CHECK(r, cJSON_IsTrue(jobj(r->json, "webhook_signing_secret_set")));
    CHECK(r, is_api_time(js(r->json, "updated_at")));
    hres_free(r);

    r = put("{\"max_retries\":3,\"timezone\":\"Europe/Lisbon\"}");
    CHECK_STATUS(r, 200);
    CHECK(r, jnum(r->json, "dunning_days") == 45);
    CHECK(r, jnum(r->json, "max_retries") == 3);
    CHECK(r, strcmp(js(r->json, "timezone"), "Europe/Lisbon") == 0);
    CHECK(r, jstr(r->json, "webhook_signing_secret") == NULL);
    hres_free(r);

    /* The platform integration needs the URL Recover asks to charge at. */
    r = put("{\"integration\":\"platform\"}");
    CHECK_STATUS(r, 400);
    CHECK(r, has_error_field(r->json, "integration"));
    hres_free(r);
    r = put("{\"retry_status_url\":\"https://merchant.example/recover\",\"retry_results_url\":"
            "\"https://merchant.example/webhooks/retry-results\",\"integration\":\"platform\","
            "\"platform_retry_url\":\"https://merchant.example/charge\",\"psp_url\":\"http://127.0.0.1:1111\","
            "\"psp_api_key\":\"rk_sandbox_x_y\"}");
    CHECK_STATUS(r, 200);
    CHECK(r, cJSON_IsTrue(jobj(r->json, "psp_api_key_set")));
    CHECK(r, jstr(r->json, "psp_api_key") == NULL); /* sealed, never shown */
    hres_free(r);
    r = put("{\"end_of_dunning_url\":\"http://127.0.0.1:9/eod\",\"end_of_dunning_enabled\":true}");
    CHECK_STATUS(r, 200);
    hres_free(r);

    r = get();
    CHECK_STATUS(r, 200);
    CHECK(r, jnum(r->json, "dunning_days") == 45);
    CHECK(r, jnum(r->json, "max_retries") == 3);
    CHECK(r, strcmp(js(r->json, "timezone"), "Europe/Lisbon") == 0);
    CHECK(r, strcmp(js(r->json, "integration"), "platform") == 0);
    CHECK(r, strcmp(js(r->json, "retry_status_url"), "https://merchant.example/recover") == 0);
    CHECK(r, strcmp(js(r->json, "retry_results_url"), "https://merchant.example/webhooks/retry-results") == 0);
    CHECK(r, strcmp(js(r->json, "end_of_dunning_url"), "http://127.0.0.1:9/eod") == 0);
    CHECK(r, cJSON_IsTrue(jobj(r->json, "end_of_dunning_enabled")));
    CHECK(r, strcmp(js(r->json, "platform_retry_url"), "https://merchant.example/charge") == 0);
    CHECK(r, strcmp(js(r->json, "psp_url"), "http://127.0.0.1:1111") == 0);
    hres_free(r);

    /* Limits are inclusive; null and "" clear a URL. */
    r = put("{\"dunning_days\":1,\"max_retries\":0,\"retry_results_url\":null,\"retry_status_url\":\"\"}");
    CHECK_STATUS(r, 200);
    CHECK(r, jnum(r->json, "dunning_days") == 1 && jnum(r->json, "max_retries") == 0);
    CHECK(r, jnull(r->json, "retry_results_url") && jnull(r->json, "retry_status_url"));
    hres_free(r);
    r = put("{\"dunning_days\":365,\"max_retries\":100,\"timezone\":\"UTC\"}");
    CHECK_STATUS(r, 200);
    CHECK(r, jnum(r->json, "dunning_days") == 365 && jnum(r->json, "max_retries") == 100);
    hres_free(r);
    r = put("{}");
    CHECK_STATUS(r, 200);
    CHECK(r, jnum(r->json, "dunning_days") == 365);
    hres_free(r);
}

static void field_rules(void **state)
{
    (void)state;
    hres *before = get();
    static const struct {
        const char *body, *field;
    } bad[] = {
        {"{\"dunning_days\":0}", "dunning_days"},
        {"{\"dunning_days\":366}", "dunning_days"},
        {"{\"dunning_days\":\"30\"}", "dunning_days"},
        {"{\"dunning_days\":30.5}", "dunning_days"},
        {"{\"max_retries\":-1}", "max_retries"},
        {"{\"max_retries\":101}", "max_retries"},
        {"{\"max_retries\":null}", "max_retries"},
        {"{\"timezone\":\"Mars/Olympus_Mons\"}", "timezone"},
        {"{\"timezone\":\"../../etc/passwd\"}", "timezone"},
        {"{\"timezone\":\"Europe/Lisbon \"}", "timezone"},
        {"{\"timezone\":\"\"}", "timezone"},
        {"{\"timezone\":\"Europe\"}", "timezone"},
        {"{\"integration\":\"direct\"}", "integration"},
        {"{\"retry_status_url\":\"ftp://merchant.example/x\"}", "retry_status_url"},
        {"{\"retry_results_url\":\"merchant.example/x\"}", "retry_results_url"},
        {"{\"end_of_dunning_url\":\"https://merchant.example/a b\"}", "end_of_dunning_url"},
        {"{\"end_of_dunning_enabled\":\"yes\"}", "end_of_dunning_enabled"},
        {"{\"merchant_auth\":\"oauth\"}", "merchant_auth"},
        {"{\"merchant_auth\":\"basic\"}", "merchant_auth"},
        {"{\"merchant_auth\":\"basic\",\"merchant_auth_username\":\"u\"}", "merchant_auth"},
        {"{\"merchant_auth\":\"basic\",\"merchant_auth_secret\":\"pw\"}", "merchant_auth"},
        {"{\"merchant_auth\":\"api_key\"}", "merchant_auth"},
        {"{\"merchant_auth\":\"signing\"}", "merchant_auth"},
        {"{\"end_of_dunning_enabled\":true,\"end_of_dunning_url\":null}", "end_of_dunning_enabled"},
        {"{\"webhook_signing_secret\":\"mine\"}", "webhook_signing_secret"},
        {"{\"unknown\":1}", "unknown"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hres *r = put(bad[i].body);
        RC_INVALID(r);
        if (!has_error_field(r->json, bad[i].field))
            fail_msg("%s: errors[] does not name %s\n  body: %s", bad[i].body, bad[i].field, r->body);
        hres_free(r);
    }
    /* Several problems at once are all listed. */
    hres *r = put("{\"dunning_days\":0,\"max_retries\":101,\"timezone\":\"Nowhere/City\",\"retry_status_url\":\"x\"}");
    RC_INVALID(r);
    CHECK(r, has_error_field(r->json, "dunning_days") && has_error_field(r->json, "max_retries") &&
                 has_error_field(r->json, "timezone") && has_error_field(r->json, "retry_status_url"));
    CHECK(r, rc_count(r->json, "errors") == 4);
    hres_free(r);
    /* None of the refused updates changed anything. */
    r = get();
    CHECK(r, cJSON_Compare(before->json, r->json, 1));
    hres_free(r);
    hres_free(before);

    r = rc_admin(&srv, "PUT", SETTINGS, "[1]");
    CHECK_STATUS(r, 400);
    hres_free(r);
    r = rc_admin(&srv, "PUT", SETTINGS, "{\"dunning_days\":");
    CHECK_STATUS(r, 400);
    hres_free(r);
}

/* A file of the zone database that is no zone is no time zone. */
static void timezone_must_be_a_zone(void **state)
{
    (void)state;
    struct rc_soft soft = {0};
    static const char *const not_zones[] = {"leapseconds", "zone1970.tab", "right"};
    for (size_t i = 0; i < 3; i++) {
        char body[100];
        snprintf(body, sizeof body, "{\"timezone\":\"%s\"}", not_zones[i]);
        hres *r = put(body);
        snprintf(soft.ctx, sizeof soft.ctx, "PUT %s", body);
        SOFT(&soft, r, r->status == 400 && has_error_field(r->json, "timezone"));
        hres_free(r);
    }
    static const char *const zones[] = {"America/New_York", "Asia/Kolkata", "Etc/GMT+5", "UTC"};
    for (size_t i = 0; i < 4; i++) {
        char body[100];
        snprintf(body, sizeof body, "{\"timezone\":\"%s\"}", zones[i]);
        hres *r = put(body);
        CHECK_STATUS(r, 200);
        CHECK(r, strcmp(js(r->json, "timezone"), zones[i]) == 0);
        hres_free(r);
    }
    rc_soft_end(&soft);
}

static void secrets_are_never_shown(void **state)
{
    (void)state;
    hres *r = put("{\"merchant_auth\":\"basic\",\"merchant_auth_username\":\"recoup\","
                  "\"merchant_auth_secret\":\"s3cr3t-Basic-pw\"}");
    CHECK_STATUS(r, 200);
    const cJSON *auth = jobj(r->json, "merchant_auth");
    CHECK(r, strcmp(js(auth, "type"), "basic") == 0);
    CHECK(r, strcmp(js(auth, "username"), "recoup") == 0);
    CHECK(r, cJSON_IsTrue(jobj(auth, "secret_set")));
    CHECK(r, strstr(r->body, "s3cr3t-Basic-pw") == NULL);
    hres_free(r);
    r = get();
    CHECK(r, strstr(r->body, "s3cr3t-Basic-pw") == NULL);
    CHECK(r, cJSON_IsTrue(jobj(jobj(r->json, "merchant_auth"), "secret_set")));
    hres_free(r);

    /* Another scheme keeps the stored secret; clearing it is explicit. */
    r = put("{\"merchant_auth\":\"api_key\"}");
    CHECK_STATUS(r, 200);
    CHECK(r, cJSON_IsTrue(jobj(jobj(r->json, "merchant_auth"), "secret_set")));
    hres_free(r);
    r = put("{\"merchant_auth\":\"signing\",\"merchant_auth_secret\":\"another-s3cret\"}");
    CHECK_STATUS(r, 200);
    CHECK(r, strstr(r->body, "another-s3cret") == NULL);
    hres_free(r);
    r = put("{\"merchant_auth_secret\":null}");
    RC_INVALID(r);
    CHECK(r, has_error_field(r->json, "merchant_auth"));
    hres_free(r);
    r = put("{\"merchant_auth\":\"none\",\"merchant_auth_secret\":null,\"merchant_auth_username\":null}");
    CHECK_STATUS(r, 200);
    CHECK(r, cJSON_IsFalse(jobj(jobj(r->json, "merchant_auth"), "secret_set")));
    CHECK(r, jnull(jobj(r->json, "merchant_auth"), "username"));
    hres_free(r);
}

static void webhook_secret_rotation(void **state)
{
    (void)state;
    hres *a = rc_admin(&srv, "POST", SETTINGS "/webhook-secret", NULL);
    CHECK_STATUS(a, 200);
    CHECK(a, is_hex64(jstr(a->json, "webhook_signing_secret")));
    CHECK(a, strcmp(js(a->json, "merchant_id"), "rc-set") == 0);
    hres *b = rc_admin(&srv, "POST", SETTINGS "/webhook-secret", "{}");
    CHECK_STATUS(b, 200);
    CHECK(b, is_hex64(jstr(b->json, "webhook_signing_secret")));
    CHECK(b, strcmp(js(a->json, "webhook_signing_secret"), js(b->json, "webhook_signing_secret")) != 0);
    hres *g = get();
    CHECK_STATUS(g, 200);
    CHECK(g, cJSON_IsTrue(jobj(g->json, "webhook_signing_secret_set")));
    CHECK(g, strstr(g->body, js(a->json, "webhook_signing_secret")) == NULL);
    CHECK(g, strstr(g->body, js(b->json, "webhook_signing_secret")) == NULL);
    /* Rotation keeps the other settings. */
    CHECK(g, jnum(g->json, "dunning_days") == 365);
    hres_free(a);
    hres_free(b);
    hres_free(g);
}

static void unknown_merchant(void **state)
{
    (void)state;
    hres *r = rc_admin(&srv, "GET", "/admin/merchants/nobody/recover", NULL);
    CHECK_STATUS(r, 404);
    CHECK(r, *js(r->json, "message") != '\0');
    hres_free(r);
    r = rc_admin(&srv, "PUT", "/admin/merchants/nobody/recover", "{\"dunning_days\":10}");
    CHECK_STATUS(r, 404);
    hres_free(r);
    r = rc_admin(&srv, "POST", "/admin/merchants/nobody/recover/webhook-secret", NULL);
    CHECK_STATUS(r, 404);
    hres_free(r);
    r = rc_admin(&srv, "GET", "/admin/merchants/nobody/recover/invoices/in_1", NULL);
    CHECK_STATUS(r, 404);
    hres_free(r);
    /* Nothing was created for it. */
    r = rc_admin(&srv, "GET", "/admin/merchants/nobody", NULL);
    CHECK_STATUS(r, 404);
    hres_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(partial_updates),
        cmocka_unit_test(field_rules),
        cmocka_unit_test(timezone_must_be_a_zone),
        cmocka_unit_test(secrets_are_never_shown),
        cmocka_unit_test(webhook_secret_rotation),
        cmocka_unit_test(unknown_merchant),
    };
    return cmocka_run_group_tests_name("rc_settings", tests, group_setup, group_teardown);
}
