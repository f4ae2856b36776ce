/* POST /v1/evidence end to end: records stored through the API, a disputed
 * charge looked up by its id or by its credential and date, a Visa CE 3.0
 * verdict that qualifies with the priors and matched elements, and verdicts
 * that do not, each saying what is missing. */
#include "dsp_helpers.h"

static rserver srv;
static struct dsp_cred cred;

static int group_setup(void **state)
{
    (void)state;
    server_start(&srv, NULL);
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

/* Stores a checkout on credential fp, days ago, with the given elements
 * ("" leaves one out). Returns the record id (malloc'd). */
static char *checkout(const char *charge, const char *fp, int days_ago, const char *ip, const char *device,
                      const char *account)
{
    char when[40], body[1024];
    dsp_days_ago(days_ago, when, sizeof when);
    int n = snprintf(body, sizeof body,
                     "{\"customer_email\":\"ana@example.com\",\"ipv4_address\":\"%s\",\"psp\":\"stripe\","
                     "\"charge_id\":\"%s\",\"payment_credential\":\"%s\",\"purchased_at\":\"%s\"",
                     *ip ? ip : "192.0.2.200", charge, fp, when);
    if (*device)
        n += snprintf(body + n, sizeof body - (size_t)n, ",\"device_id\":\"%s\"", device);
    if (*account)
        n += snprintf(body + n, sizeof body - (size_t)n, ",\"account_id\":\"%s\"", account);
    snprintf(body + n, sizeof body - (size_t)n, "}");
    return dsp_store(&srv, &cred, body);
}

static hres *lookup(const char *body)
{
    hres *r = dsp_do(&srv, &cred, "POST", "/v1/evidence", body);
    D_STATUS(r, 200);
    D_CHECK(r, cJSON_GetObjectItem(r->json, "visa_ce3") != NULL);
    return r;
}

static const cJSON *verdict(const hres *r) { return cJSON_GetObjectItem(r->json, "visa_ce3"); }

static int qualifies(const hres *r) { return cJSON_IsTrue(cJSON_GetObjectItem(verdict(r), "qualifies")); }

static int missing_has(const hres *r, const char *code)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(verdict(r), "missing"))
    {
        if (jstr(m, "code") && strcmp(jstr(m, "code"), code) == 0 && jstr(m, "message") && *jstr(m, "message"))
            return 1;
    }
    return 0;
}

static void qualifying_dispute(void **state)
{
    (void)state;
    char *p1 = checkout("ch_q1", "fp_q", 200, "203.0.113.7", "dev_q", "acct_q");
    char *p2 = checkout("ch_q2", "fp_q", 150, "203.0.113.7", "dev_q", "");
    char *weak = checkout("ch_q3", "fp_q", 140, "198.51.100.9", "dev_other", "");
    char *recent = checkout("ch_q4", "fp_q", 30, "203.0.113.7", "dev_q", "acct_q");
    char *other_card = checkout("ch_q5", "fp_other", 180, "203.0.113.7", "dev_q", "acct_q");
    char *disputed = checkout("ch_qd", "fp_q", 0, "203.0.113.7", "dev_q", "acct_q");

    hres *r = lookup("{\"charge_id\":\"ch_qd\"}");
    D_CHECK(r, qualifies(r));
    const cJSON *v = verdict(r);
    const cJSON *priors = cJSON_GetObjectItem(v, "prior_transactions");
    D_CHECK(r, cJSON_GetArraySize(priors) == 2);
    D_CHECK(r, strcmp(jstr(cJSON_GetArrayItem(priors, 0), "id"), p2) == 0);
    D_CHECK(r, strcmp(jstr(cJSON_GetArrayItem(priors, 1), "id"), p1) == 0);
    D_CHECK(r, jnum(cJSON_GetArrayItem(priors, 0), "days_before") == 150);
    const cJSON *m = cJSON_GetObjectItem(cJSON_GetArrayItem(priors, 1), "matched_elements");
    D_CHECK(r, cJSON_GetArraySize(m) == 3);
    D_CHECK(r, strstr(r->body, "\"matched_elements\":[\"account_id\",\"ipv4_address\",\"device_id\"]"));
    D_CHECK(r, cJSON_GetArraySize(cJSON_GetObjectItem(v, "missing")) == 0);
    D_CHECK(r, strncmp(jstr(v, "explanation"), "Qualifies", 9) == 0);
    /* The near misses are shown with their reasons. */
    D_CHECK(r, strstr(r->body, "\"status\":\"too_few_matching_elements\""));
    D_CHECK(r, strstr(r->body, "\"status\":\"too_recent\""));
    D_CHECK(r, strcmp(jstr(cJSON_GetObjectItem(r->json, "disputed_transaction"), "record_id"), disputed) == 0);
    /* Order insight: the other card's record shares the IP, device, account and e-mail. */
    D_CHECK(r, strstr(r->body, other_card) != NULL);
    hres_free(r);

    /* The same verdict from the credential and date alone. */
    char when[40], body[300];
    dsp_days_ago(0, when, sizeof when);
    snprintf(body, sizeof body,
             "{\"payment_credential\":\"fp_q\",\"purchased_at\":\"%.10s\",\"ipv4_address\":\"203.0.113.7\","
             "\"device_id\":\"dev_q\"}",
             when);
    r = lookup(body);
    D_CHECK(r, qualifies(r));
    hres_free(r);

    /* A prior marked disputed no longer counts. */
    char path[200];
    snprintf(path, sizeof path, "/v1/analytics/%s/disputed", p1);
    r = dsp_do(&srv, &cred, "POST", path, NULL);
    D_STATUS(r, 200);
    D_CHECK(r, cJSON_IsTrue(cJSON_GetObjectItem(r->json, "disputed")));
    hres_free(r);
    r = lookup("{\"charge_id\":\"ch_qd\"}");
    D_CHECK(r, !qualifies(r));
    D_CHECK(r, missing_has(r, "prior_transactions"));
    D_CHECK(r, strstr(r->body, "found 1") && strstr(r->body, "1 disputed"));
    D_CHECK(r, strncmp(jstr(verdict(r), "explanation"), "Does not qualify", 16) == 0);
    hres_free(r);
    free(p1);
    free(p2);
    free(weak);
    free(recent);
    free(other_card);
    free(disputed);
}

static void fraud_reported_prior(void **state)
{
    (void)state;
    char *p1 = checkout("ch_f1", "fp_f", 200, "203.0.113.8", "dev_f", "");
    char *p2 = checkout("ch_f2", "fp_f", 250, "203.0.113.8", "dev_f", "");
    free(checkout("ch_fd", "fp_f", 1, "203.0.113.8", "dev_f", ""));
    hres *r = lookup("{\"charge_id\":\"ch_fd\"}");
    D_CHECK(r, qualifies(r));
    hres_free(r);
    char path[200];
    snprintf(path, sizeof path, "/v1/analytics/%s/fraud_reported", p2);
    r = dsp_do(&srv, &cred, "POST", path, NULL);
    D_STATUS(r, 200);
    D_CHECK(r, cJSON_IsTrue(cJSON_GetObjectItem(r->json, "fraud_reported")));
    hres_free(r);
    r = lookup("{\"charge_id\":\"ch_fd\"}");
    D_CHECK(r, !qualifies(r));
    D_CHECK(r, strstr(r->body, "1 reported as fraud"));
    hres_free(r);
    free(p1);
    free(p2);
}

static void window_edges_through_the_api(void **state)
{
    (void)state;
    /* 119 and 366 days do not count; 120 and 365 do. */
    free(checkout("ch_e119", "fp_e", 119, "203.0.113.9", "dev_e", ""));
    free(checkout("ch_e366", "fp_e", 366, "203.0.113.9", "dev_e", ""));
    free(checkout("ch_ed", "fp_e", 0, "203.0.113.9", "dev_e", ""));
    hres *r = lookup("{\"charge_id\":\"ch_ed\"}");
    D_CHECK(r, !qualifies(r));
    D_CHECK(r, strstr(r->body, "1 too recent") && strstr(r->body, "1 too old"));
    hres_free(r);
    free(checkout("ch_e120", "fp_e", 120, "203.0.113.9", "dev_e", ""));
    free(checkout("ch_e365", "fp_e", 365, "203.0.113.9", "dev_e", ""));
    r = lookup("{\"charge_id\":\"ch_ed\"}");
    D_CHECK(r, qualifies(r));
    const cJSON *priors = cJSON_GetObjectItem(verdict(r), "prior_transactions");
    D_CHECK(r, cJSON_GetArraySize(priors) == 2);
    D_CHECK(r, jnum(cJSON_GetArrayItem(priors, 0), "days_before") == 120);
    D_CHECK(r, jnum(cJSON_GetArrayItem(priors, 1), "days_before") == 365);
    hres_free(r);
}

static void what_is_missing(void **state)
{
    (void)state;
    /* No credential anywhere. */
    free(dsp_store(&srv, &cred,
                   "{\"customer_email\":\"bo@example.com\",\"ipv4_address\":\"192.0.2.1\",\"psp\":\"adyen\","
                   "\"transaction_id\":\"tx_nocard\"}"));
    hres *r = lookup("{\"transaction_id\":\"tx_nocard\"}");
    D_CHECK(r, !qualifies(r));
    D_CHECK(r, missing_has(r, "payment_credential"));
    D_CHECK(r, missing_has(r, "data_elements"));
    hres_free(r);

    /* Neither IP nor device on the disputed side (given without a record). */
    r = lookup("{\"payment_credential\":\"fp_q\",\"purchased_at\":\"2026-01-01\",\"account_id\":\"acct_q\"}");
    D_CHECK(r, !qualifies(r));
    D_CHECK(r, missing_has(r, "ip_or_device"));
    D_CHECK(r, !missing_has(r, "payment_credential"));
    hres_free(r);

    /* Nothing stored and no date. */
    r = lookup("{\"charge_id\":\"ch_nowhere\"}");
    D_CHECK(r, !qualifies(r));
    D_CHECK(r, missing_has(r, "purchased_at") && missing_has(r, "payment_credential"));
    D_CHECK(r, cJSON_GetArraySize(cJSON_GetObjectItem(r->json, "records")) == 0);
    hres_free(r);

    /* One qualifying prior only. */
    free(checkout("ch_o1", "fp_o", 200, "203.0.113.10", "dev_o", ""));
    free(checkout("ch_od", "fp_o", 0, "203.0.113.10", "dev_o", ""));
    r = lookup("{\"charge_id\":\"ch_od\"}");
    D_CHECK(r, !qualifies(r));
    D_CHECK(r, missing_has(r, "prior_transactions") && strstr(r->body, "found 1"));
    hres_free(r);
}

static void lookup_validation(void **state)
{
    (void)state;
    hres *r = dsp_do(&srv, &cred, "POST", "/v1/evidence", "{\"ipv4_address\":\"1.2.3.4\"}");
    D_422(r, NULL, "missing_identifier");
    hres_free(r);
    r = dsp_do(&srv, &cred, "POST", "/v1/evidence", "{\"charge_id\":\"x\",\"purchased_at\":\"soon\"}");
    D_422(r, "purchased_at", "datetime_parsing");
    hres_free(r);
    r = dsp_do(&srv, &cred, "POST", "/v1/evidence", "{\"payment_credential\":\"4111111111111111\"}");
    D_422(r, "payment_credential", "value_error");
    hres_free(r);
    r = dsp_do(&srv, &cred, "POST", "/v1/evidence", "{\"charge_id\":\"x\",\"ipv4_address\":\"1.2.3.04\"}");
    D_422(r, "ipv4_address", "ip_v4_address");
    hres_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(qualifying_dispute),
        cmocka_unit_test(fraud_reported_prior),
        cmocka_unit_test(window_edges_through_the_api),
        cmocka_unit_test(what_is_missing),
        cmocka_unit_test(lookup_validation),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
