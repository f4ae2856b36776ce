/* Disputes retention and start-up: the admin purge, the scheduled purge
 * driven by the virtual clock, and a sandbox.json without a "disputes"
 * section completed at the next start. */
#include <unistd.h>

#include "dsp_helpers.h"

static rserver srv;
static struct dsp_cred cred;
static const char *const args[] = {"--clock=virtual", "--disputes_purge_interval=60", NULL};

static int group_setup(void **state)
{
    (void)state;
    server_start(&srv, args);
    dsp_sandbox_cred(&srv, &cred);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = server_stop(&srv);
    assert_int_equal(rc, 0);
    return rc;
}

static char *record_days_ago(const char *charge, int days)
{
    char when[40], body[400];
    dsp_days_ago(days, when, sizeof when);
    snprintf(body, sizeof body,
             "{\"customer_email\":\"old@example.com\",\"ipv4_address\":\"192.0.2.5\",\"psp\":\"recurly\","
             "\"charge_id\":\"%s\",\"purchased_at\":\"%s\"}",
             charge, when);
    return dsp_store(&srv, &cred, body);
}

static long record_status(const char *id)
{
    char path[200];
    snprintf(path, sizeof path, "/v1/analytics/%s", id);
    hres *r = dsp_do(&srv, &cred, "GET", path, NULL);
    long st = r->status;
    hres_free(r);
    return st;
}

static void purges_by_age(void **state)
{
    (void)state;
    /* 18 months before today is about 548 days back. */
    char *young = record_days_ago("ret_young", 500);
    char *old = record_days_ago("ret_old", 560);
    char *fresh = record_days_ago("ret_fresh", 0);
    assert_int_equal(record_status(old), 200);

    hres *r = http_do("POST", srv.admin, "/admin/disputes/purge", NULL, NULL);
    D_STATUS(r, 200);
    D_CHECK(r, jnum(r->json, "purged") == 1 && jnum(r->json, "retention_months") == 18);
    D_CHECK(r, jstr(r->json, "cutoff") != NULL);
    hres_free(r);
    assert_int_equal(record_status(old), 404);
    assert_int_equal(record_status(young), 200);

    /* Two months on, the worker's schedule removes the 500-day-old record. */
    static const char *const json[] = {"Content-Type: application/json", NULL};
    r = http_do("POST", srv.admin, "/admin/clock/advance", json, "{\"seconds\":5184000}");
    D_STATUS(r, 200);
    hres_free(r);
    long st = 200;
    for (int i = 0; i < 100 && st == 200; i++) {
        usleep(50000);
        st = record_status(young);
    }
    assert_int_equal(st, 404);
    assert_int_equal(record_status(fresh), 200);

    r = http_do("POST", srv.admin, "/admin/disputes/purge", NULL, NULL);
    D_STATUS(r, 200);
    D_CHECK(r, jnum(r->json, "purged") == 0);
    hres_free(r);
    free(young);
    free(old);
    free(fresh);
}

static void sandbox_section_is_added_on_restart(void **state)
{
    (void)state;
    char path[320];
    snprintf(path, sizeof path, "%s/sandbox.json", srv.dir);
    char gateway_key[160];
    snprintf(gateway_key, sizeof gateway_key, "%s", srv.gateway_key);
    assert_int_equal(server_stop_keep(&srv), 0);

    /* An older sandbox.json, written before Disputes existed. */
    char *text = dsp_read_file(path);
    cJSON *j = cJSON_Parse(text);
    free(text);
    cJSON_DeleteItemFromObject(j, "disputes");
    char *without = cJSON_Print(j);
    cJSON_Delete(j);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(without, f);
    fclose(f);
    cJSON_free(without);

    server_restart(&srv, args);
    assert_string_equal(srv.gateway_key, gateway_key);
    struct dsp_cred fresh;
    dsp_sandbox_cred(&srv, &fresh);
    assert_string_not_equal(fresh.user, cred.user);
    char *id = dsp_store(&srv, &fresh,
                         "{\"customer_email\":\"new@example.com\",\"ipv4_address\":\"192.0.2.6\",\"psp\":\"recharge\","
                         "\"invoice_id\":\"in_restart\"}");
    /* The earlier credential was not revoked by the upgrade. */
    free(dsp_store(&srv, &cred,
                   "{\"customer_email\":\"new@example.com\",\"ipv4_address\":\"192.0.2.6\",\"psp\":\"recharge\","
                   "\"invoice_id\":\"in_restart_2\"}"));
    free(id);
    cred = fresh;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(purges_by_age),
        cmocka_unit_test(sandbox_section_is_added_on_restart),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
