/* POST /v1/analytics as a black box: a stored record and its id, replays
 * that store nothing new, every missing-id case, each field's 422, and the
 * HTTP answers of the path (405, 415, 413, malformed JSON, unknown paths). */
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

#define BASE "\"customer_email\":\"ana@example.com\",\"ipv4_address\":\"192.168.1.1\",\"psp\":\"stripe\""

static void stores_a_record(void **state)
{
    (void)state;
    hres *r = dsp_do(&srv, &cred, "POST", "/v1/analytics",
                     "{" BASE ",\"customer_id\":\"cus_1\",\"invoice_id\":\"in_1\",\"charge_id\":\"ch_1\","
                     "\"user_agent\":\"Mozilla/5.0\"}");
    D_STATUS(r, 200);
    D_CHECK(r, cJSON_GetArraySize(r->json) == 2);
    D_CHECK(r, strcmp(jstr(r->json, "status"), "ok") == 0);
    const char *id = jstr(r->json, "id");
    D_CHECK(r, id && strncmp(id, "rec_", 4) == 0 && strlen(id) == 28);
    char path[200];
    snprintf(path, sizeof path, "/v1/analytics/%s", id);
    hres_free(r);
    r = dsp_do(&srv, &cred, "GET", path, NULL);
    D_STATUS(r, 200);
    D_CHECK(r, strcmp(jstr(r->json, "customer_email"), "ana@example.com") == 0);
    D_CHECK(r, strcmp(jstr(r->json, "charge_id"), "ch_1") == 0);
    D_CHECK(r, strcmp(jstr(r->json, "environment"), "staging") == 0);
    D_CHECK(r, jnull(r->json, "transaction_id") && jnull(r->json, "shipping_address"));
    D_CHECK(r, cJSON_IsFalse(cJSON_GetObjectItem(r->json, "disputed")));
    hres_free(r);
}

static void richer_fields(void **state)
{
    (void)state;
    hres *r = dsp_do(&srv, &cred, "POST", "/v1/analytics",
                     "{" BASE ",\"transaction_id\":\"tx_rich\",\"device_id\":\"dev_1\",\"account_id\":\"login_7\","
                     "\"payment_credential\":\"card_fp_abc\",\"amount\":1500,\"currency\":\"JPY\","
                     "\"purchased_at\":\"2026-01-02T03:04:05Z\",\"product_description\":\"Annual plan\","
                     "\"shipping_address\":{\"line1\":\"1 Main Street\",\"city\":\"Springfield\",\"state\":\"IL\","
                     "\"postal_code\":\"62701\",\"country\":\"us\"},\"fraud_reported\":true}");
    D_STATUS(r, 200);
    char path[200];
    snprintf(path, sizeof path, "/v1/analytics/%s", jstr(r->json, "id"));
    hres_free(r);
    r = dsp_do(&srv, &cred, "GET", path, NULL);
    D_STATUS(r, 200);
    D_CHECK(r, strstr(r->body, "\"amount\":1500,") != NULL);
    D_CHECK(r, strcmp(jstr(r->json, "currency"), "JPY") == 0);
    D_CHECK(r, strcmp(jstr(r->json, "purchased_at"), "2026-01-02T03:04:05.000Z") == 0);
    const cJSON *a = cJSON_GetObjectItem(r->json, "shipping_address");
    D_CHECK(r, strcmp(jstr(a, "country"), "US") == 0 && strcmp(jstr(a, "line1"), "1 Main Street") == 0);
    D_CHECK(r, cJSON_IsTrue(cJSON_GetObjectItem(r->json, "fraud_reported")));
    D_CHECK(r, strcmp(jstr(r->json, "payment_credential"), "card_fp_abc") == 0);
    hres_free(r);
}

/* How many records of an evidence answer were found by this key. */
static int matched_on(const hres *r, const char *key)
{
    int n = 0;
    const cJSON *rec;
    cJSON_ArrayForEach(rec, cJSON_GetObjectItem(r->json, "records"))
    {
        const cJSON *k;
        cJSON_ArrayForEach(k, cJSON_GetObjectItem(rec, "matched_on")) n += strcmp(k->valuestring, key) == 0;
    }
    return n;
}

static void replay_returns_the_same_id(void **state)
{
    (void)state;
    const char *body = "{" BASE ",\"subscription_id\":\"sub_replay\",\"amount\":9.99,\"currency\":\"EUR\"}";
    char *first = dsp_store(&srv, &cred, body);
    /* The same record in another layout. */
    hres *r = dsp_do(&srv, &cred, "POST", "/v1/analytics",
                     "{ \"currency\": \"EUR\", \"amount\": 9.990, \"subscription_id\": \"sub_replay\", "
                     "\"psp\": \"stripe\", \"ipv4_address\": \"192.168.1.1\", \"customer_email\": \"ana@example.com\" }");
    D_STATUS(r, 200);
    D_CHECK(r, strcmp(jstr(r->json, "id"), first) == 0);
    char *replayed = hres_header(r, "Idempotent-Replayed");
    D_CHECK(r, replayed && strcmp(replayed, "true") == 0);
    free(replayed);
    hres_free(r);
    /* Nothing new was stored: the lookup by the subscription finds one record. */
    r = dsp_do(&srv, &cred, "POST", "/v1/evidence", "{\"subscription_id\":\"sub_replay\"}");
    D_STATUS(r, 200);
    D_CHECK(r, matched_on(r, "subscription_id") == 1);
    hres_free(r);
    /* Any change is another record. */
    char *other = dsp_store(&srv, &cred, "{" BASE ",\"subscription_id\":\"sub_replay\",\"amount\":9.98,\"currency\":\"EUR\"}");
    assert_string_not_equal(other, first);
    free(other);
    free(first);
}

static void missing_id_cases(void **state)
{
    (void)state;
    const char *bodies[] = {
        "{" BASE "}",
        "{" BASE ",\"customer_id\":\"cus_1\"}",
        "{" BASE ",\"user_agent\":\"Mozilla\"}",
        "{" BASE ",\"invoice_id\":null,\"subscription_id\":null,\"charge_id\":null,\"transaction_id\":null,"
        "\"network_transaction_id\":null}",
        "{" BASE ",\"invoice_id\":\"\",\"charge_id\":\"\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        hres *r = dsp_do(&srv, &cred, "POST", "/v1/analytics", bodies[i]);
        D_422(r, NULL, "missing_identifier");
        D_CHECK(r, cJSON_GetArraySize(cJSON_GetObjectItem(r->json, "detail")) == 1);
        hres_free(r);
    }
    /* Each id alone is enough. */
    const char *ids[] = {"invoice_id", "subscription_id", "charge_id", "transaction_id", "network_transaction_id"};
    for (size_t i = 0; i < 5; i++) {
        char body[300];
        snprintf(body, sizeof body, "{" BASE ",\"%s\":\"only_%s\"}", ids[i], ids[i]);
        free(dsp_store(&srv, &cred, body));
    }
}

static void field_errors(void **state)
{
    (void)state;
    static const struct {
        const char *body, *field, *type;
    } cases[] = {
        {"{\"ipv4_address\":\"1.2.3.4\",\"psp\":\"stripe\",\"charge_id\":\"c\"}", "customer_email", "missing"},
        {"{\"customer_email\":\"ana@\",\"ipv4_address\":\"1.2.3.4\",\"psp\":\"stripe\",\"charge_id\":\"c\"}",
         "customer_email", "value_error"},
        {"{\"customer_email\":\"ana @example.com\",\"ipv4_address\":\"1.2.3.4\",\"psp\":\"stripe\",\"charge_id\":\"c\"}",
         "customer_email", "value_error"},
        {"{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"256.1.1.1\",\"psp\":\"stripe\",\"charge_id\":\"c\"}",
         "ipv4_address", "ip_v4_address"},
        {"{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"1.2.3\",\"psp\":\"stripe\",\"charge_id\":\"c\"}",
         "ipv4_address", "ip_v4_address"},
        {"{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"01.2.3.4\",\"psp\":\"stripe\",\"charge_id\":\"c\"}",
         "ipv4_address", "ip_v4_address"},
        {"{\"customer_email\":\"a@b.co\",\"ipv4_address\":\" 1.2.3.4\",\"psp\":\"stripe\",\"charge_id\":\"c\"}",
         "ipv4_address", "ip_v4_address"},
        {"{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"1.2.3.4.5\",\"psp\":\"stripe\",\"charge_id\":\"c\"}",
         "ipv4_address", "ip_v4_address"},
        {"{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"1.2.3.4\",\"psp\":\"Stripe\",\"charge_id\":\"c\"}", "psp",
         "literal_error"},
        {"{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"1.2.3.4\",\"psp\":\"paypal\",\"charge_id\":\"c\"}", "psp",
         "literal_error"},
        {"{\"customer_email\":\"a@b.co\",\"ipv4_address\":\"1.2.3.4\",\"psp\":\"stripe\",\"charge_id\":42}",
         "charge_id", "string_type"},
        {"{" BASE ",\"charge_id\":\"c\",\"payment_credential\":\"4242 4242 4242 4242\"}", "payment_credential",
         "value_error"},
        {"{" BASE ",\"charge_id\":\"c\",\"amount\":10.001,\"currency\":\"EUR\"}", "amount", "decimal_max_places"},
        {"{" BASE ",\"charge_id\":\"c\",\"amount\":10,\"currency\":\"EURO\"}", "currency", "string_too_long"},
        {"{" BASE ",\"charge_id\":\"c\",\"purchased_at\":\"2026-01-02\"}", "purchased_at", "datetime_parsing"},
        {"{" BASE ",\"charge_id\":\"c\",\"disputed\":1}", "disputed", "bool_type"},
        {"{" BASE ",\"charge_id\":\"c\",\"shipping_address\":\"1 Main St\"}", "shipping_address", "model_type"},
        {"{" BASE ",\"charge_id\":\"c\",\"color\":\"blue\"}", "color", "extra_forbidden"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hres *r = dsp_do(&srv, &cred, "POST", "/v1/analytics", cases[i].body);
        D_422(r, cases[i].field, cases[i].type);
        hres_free(r);
    }
    /* Every invalid field at once, each with its own entry. */
    hres *r = dsp_do(&srv, &cred, "POST", "/v1/analytics",
                     "{\"customer_email\":\"nope\",\"ipv4_address\":\"300.1.1.1\",\"psp\":\"ADYEN\"}");
    D_422(r, "customer_email", "value_error");
    D_422(r, "ipv4_address", "ip_v4_address");
    D_422(r, "psp", "literal_error");
    D_422(r, NULL, "missing_identifier");
    D_CHECK(r, cJSON_GetArraySize(cJSON_GetObjectItem(r->json, "detail")) == 4);
    hres_free(r);
}

static void malformed_bodies(void **state)
{
    (void)state;
    const char *bodies[] = {"{\"customer_email\":", "not json", "{} trailing", ""};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        hres *r = dsp_do(&srv, &cred, "POST", "/v1/analytics", bodies[i]);
        D_422(r, NULL, "json_invalid");
        hres_free(r);
    }
    hres *r = dsp_do(&srv, &cred, "POST", "/v1/analytics", "[1,2,3]");
    D_422(r, NULL, "model_attributes_type");
    hres_free(r);
}

static void other_methods_are_405(void **state)
{
    (void)state;
    const char *methods[] = {"GET", "PUT", "PATCH", "DELETE"};
    for (size_t i = 0; i < 4; i++) {
        /* Without credentials too: the method is refused before anything else. */
        hres *r = dsp_do(&srv, i % 2 ? NULL : &cred, methods[i], "/v1/analytics", NULL);
        D_DETAIL(r, 405, "Method Not Allowed");
        char *allow = hres_header(r, "Allow");
        D_CHECK(r, allow && strcmp(allow, "POST") == 0);
        free(allow);
        hres_free(r);
    }
    hres *r = dsp_do(&srv, &cred, "POST", "/v1/evidence/", "{\"charge_id\":\"x\"}");
    D_STATUS(r, 200); /* one trailing slash is forgiven */
    hres_free(r);
    r = dsp_do(&srv, &cred, "GET", "/v1/evidence", NULL);
    D_DETAIL(r, 405, "Method Not Allowed");
    hres_free(r);
}

static void unsupported_media_type(void **state)
{
    (void)state;
    char auth[600];
    dsp_basic_header(cred.user, cred.pass, auth, sizeof auth);
    const char *plain[] = {auth, "Content-Type: text/plain", NULL};
    hres *r = http_do("POST", srv.api, "/v1/analytics", plain, "{" BASE ",\"charge_id\":\"ct\"}");
    D_STATUS(r, 415);
    D_CHECK(r, jstr(r->json, "detail") && strstr(jstr(r->json, "detail"), "application/json"));
    hres_free(r);
    const char *none[] = {auth, "Content-Type:", NULL};
    r = http_do("POST", srv.api, "/v1/analytics", none, "{" BASE ",\"charge_id\":\"ct\"}");
    D_STATUS(r, 415);
    hres_free(r);
    const char *charset[] = {auth, "Content-Type: application/json; charset=utf-8", NULL};
    r = http_do("POST", srv.api, "/v1/analytics", charset, "{" BASE ",\"charge_id\":\"ct\"}");
    D_STATUS(r, 200);
    hres_free(r);
}

static void too_large(void **state)
{
    (void)state;
    size_t n = 70 * 1024;
    char *body = malloc(n + 200);
    int k = snprintf(body, 200, "{" BASE ",\"charge_id\":\"big\",\"product_description\":\"");
    memset(body + k, 'x', n);
    memcpy(body + k + n, "\"}", 3);
    hres *r = dsp_do(&srv, &cred, "POST", "/v1/analytics", body);
    D_STATUS(r, 413);
    D_CHECK(r, jstr(r->json, "detail") && strstr(jstr(r->json, "detail"), "65536"));
    hres_free(r);
    free(body);
}

static void unknown_paths(void **state)
{
    (void)state;
    hres *r = dsp_do(&srv, &cred, "GET", "/v1/nothing", NULL);
    D_DETAIL(r, 404, "Not Found");
    hres_free(r);
    r = dsp_do(&srv, &cred, "GET", "/v1/analytics/rec_doesnotexist0000000000000", NULL);
    D_DETAIL(r, 404, "Not Found");
    hres_free(r);
    r = dsp_do(&srv, &cred, "POST", "/v1/analytics/rec_doesnotexist0000000000000/disputed", NULL);
    D_DETAIL(r, 404, "Not Found");
    hres_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stores_a_record),
        cmocka_unit_test(richer_fields),
        cmocka_unit_test(replay_returns_the_same_id),
        cmocka_unit_test(missing_id_cases),
        cmocka_unit_test(field_errors),
        cmocka_unit_test(malformed_bodies),
        cmocka_unit_test(other_methods_are_405),
        cmocka_unit_test(unsupported_media_type),
        cmocka_unit_test(too_large),
        cmocka_unit_test(unknown_paths),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
