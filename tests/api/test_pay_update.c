/* GET, PUT and DELETE /api/payments/{id}: the single view, manual
 * settlement (once), fields an authorisation cannot change, and voiding
 * with its conflicts. */
#include <pthread.h>

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

static const char unknown_id[] = "SSUARQXWKPDJSTTGEPVRTEONTPDBQSUXOVRJTBGXWNCTGBBBJLEUKDUPNCZDPELHRUISCDEMMWRQNXBEKPQJCFWWAS"
                                 "QOMCYALVAHFPFCVDTOJXODEMDLJRDDECVDAUZEMDVLLNJYJPSAYXRBLCTSYGLBWKUAEOWKWOANLLAJWMIBPXTH"
                                 "VPWZAETCEBPSEZZYLVQTSTSM";

static void payment_path(char *out, size_t outsz, const char *id) { snprintf(out, outsz, "/api/payments/%s", id); }

static hres *get_payment(const char *id)
{
    char path[300];
    payment_path(path, sizeof path, id);
    return gw_do(&srv, "GET", srv.payments, path, NULL);
}

static hres *put_payment(const char *id, const char *body)
{
    char path[300];
    payment_path(path, sizeof path, id);
    return gw_do(&srv, "PUT", srv.payments, path, body);
}

static hres *delete_payment(const char *id)
{
    char path[300];
    payment_path(path, sizeof path, id);
    return gw_do(&srv, "DELETE", srv.payments, path, NULL);
}

static void check_empty_404(hres *r)
{
    CHECK_STATUS(r, 404);
    CHECK(r, strcmp(r->body, "{}") == 0);
}

static void get_one(void **state)
{
    (void)state;
    char *id = create_card(&srv, srv.gateway_key, "42.10", "4242424242424242");
    hres *r = get_payment(id);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "payment_id"), id) == 0);
    CHECK(r, body_has(r, "\"amount\":42.10,"));
    CHECK(r, strcmp(js(r->json, "status"), "success") == 0);
    CHECK(r, is_api_time(jstr(r->json, "created_at")));
    const cJSON *ap = jobj(r->json, "additional_params");
    CHECK(r, cJSON_IsObject(ap));
    CHECK(r, strcmp(js(ap, "payment"), id) == 0);
    CHECK(r, strcmp(js(ap, "method"), "credit_card") == 0);
    CHECK(r, strcmp(js(ap, "number"), "424242******4242") == 0);
    CHECK(r, strcmp(js(ap, "name"), "Ana Silva") == 0);
    CHECK(r, strcmp(js(ap, "expiration_month"), "12") == 0);
    CHECK(r, strcmp(js(ap, "expiration_year"), PAY_YEAR) == 0);
    CHECK(r, !body_has(r, "cvv") && !body_has(r, "4242424242424242"));
    hres_free(r);
    free(id);

    char *mb = create_mbway(&srv, srv.gateway_key, "3.00", "+351 912 345 678");
    r = get_payment(mb);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(jobj(r->json, "additional_params"), "method"), "mbway") == 0);
    CHECK(r, strstr(js(jobj(r->json, "additional_params"), "phone_number"), "345") != NULL);
    hres_free(r);
    free(mb);

    r = get_payment(unknown_id);
    check_empty_404(r);
    hres_free(r);
    r = get_payment("nope");
    check_empty_404(r);
    hres_free(r);
}

/* The source document's PUT: the same values as stored, sent back with the
 * full card number and the CVV. */
static void seed_put_changes_nothing(void **state)
{
    (void)state;
    hres *c = gw_do(&srv, "POST", srv.payments, "/api/payments",
                    "{\"amount\":50.0,\"payment_method\":\"credit_card\",\"additional_params\":{\"amount\":50,"
                    "\"method\":\"credit_card\",\"number\":\"4242424242424242\",\"name\":\"John john\","
                    "\"expiration_month\":\"05\",\"expiration_year\":\"" PAY_YEAR "\",\"cvv\":\"321\"}}");
    CHECK_STATUS(c, 201);
    char id[201];
    snprintf(id, sizeof id, "%s", js(c->json, "payment_id"));
    hres_free(c);
    hres *before = get_payment(id);
    CHECK_STATUS(before, 200);

    char body[2048];
    snprintf(body, sizeof body,
             "{\"amount\":50.0,\"payment_method\":\"credit_card\",\"additional_params\":{\"payment\":\"%s\","
             "\"amount\":50,\"method\":\"credit_card\",\"number\":\"4242424242424242\",\"name\":\"John john\","
             "\"expiration_month\":\"05\",\"expiration_year\":\"" PAY_YEAR "\",\"cvv\":\"321\"}}",
             id);
    hres *r = put_payment(id, body);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(r->body, before->body) == 0);
    CHECK(r, !body_has(r, "cvv") && !body_has(r, "4242424242424242"));
    hres_free(r);

    /* An empty object asks for nothing and changes nothing. */
    r = put_payment(id, "{}");
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(r->body, before->body) == 0);
    hres_free(r);

    r = get_payment(id);
    CHECK(r, strcmp(r->body, before->body) == 0);
    hres_free(r);
    hres_free(before);

    /* The document's own example card is declined; the same PUT still
     * returns it unchanged. */
    c = gw_do(&srv, "POST", srv.payments, "/api/payments",
              "{\"amount\":50.0,\"payment_method\":\"credit_card\",\"additional_params\":{\"amount\":50,"
              "\"method\":\"credit_card\",\"number\":\"1234567890123456\",\"name\":\"John john\","
              "\"expiration_month\":\"05\",\"expiration_year\":\"" PAY_YEAR "\",\"cvv\":\"321\"}}");
    CHECK_STATUS(c, 201);
    snprintf(id, sizeof id, "%s", js(c->json, "payment_id"));
    hres_free(c);
    before = get_payment(id);
    snprintf(body, sizeof body,
             "{\"amount\":50.0,\"payment_method\":\"credit_card\",\"additional_params\":{\"payment\":\"%s\","
             "\"amount\":50,\"method\":\"credit_card\",\"number\":\"1234567890123456\",\"name\":\"John john\","
             "\"expiration_month\":\"05\",\"expiration_year\":\"" PAY_YEAR "\",\"cvv\":\"321\"}}",
             id);
    r = put_payment(id, body);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(r->body, before->body) == 0);
    CHECK(r, strcmp(js(r->json, "status"), "error") == 0);
    hres_free(r);
    hres_free(before);
}

/* PUT answers "the payment as GET shows it", and accepts GET's fields; so
 * what GET shows, sent back unchanged (masked number, null decline fields
 * and all), changes nothing. */
static void get_body_can_be_put_back(void **state)
{
    (void)state;
    static const char *const numbers[] = {"4242424242424242", "4000000000009995"};
    for (size_t i = 0; i < 2; i++) {
        char *id = create_card(&srv, srv.gateway_key, "50.00", numbers[i]);
        hres *before = get_payment(id);
        CHECK_STATUS(before, 200);
        hres *r = put_payment(id, before->body);
        CHECK_STATUS(r, 200);
        CHECK(r, strcmp(r->body, before->body) == 0);
        hres_free(r);
        hres_free(before);
        free(id);
    }
}

static void manual_settlement(void **state)
{
    (void)state;
    char *id = create_card(&srv, srv.gateway_key, "50.00", "4242424242424242");
    hres *r = put_payment(id, "{\"status\":\"settled\"}");
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "status"), "settled") == 0);
    CHECK(r, is_api_time(jstr(r->json, "settled_at")));
    CHECK(r, body_has(r, "\"settled_amount\":50.00"));
    CHECK(r, cJSON_IsObject(jobj(r->json, "additional_params")));
    char settled_at[40];
    snprintf(settled_at, sizeof settled_at, "%s", js(r->json, "settled_at"));
    hres_free(r);

    r = get_payment(id);
    CHECK(r, strcmp(js(r->json, "status"), "settled") == 0);
    CHECK(r, strcmp(js(r->json, "settled_at"), settled_at) == 0);
    hres_free(r);

    /* Repeating what is there is not a second settlement. */
    r = put_payment(id, "{\"status\":\"settled\"}");
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "settled_at"), settled_at) == 0);
    hres_free(r);

    /* A different one is. */
    r = put_payment(id, "{\"status\":\"settled\",\"settled_amount\":10.00}");
    CHECK_FIELD_ERROR(r, 409, "status");
    hres_free(r);
    r = put_payment(id, "{\"settled_at\":\"2026-01-02T03:04:05Z\"}");
    CHECK_FIELD_ERROR(r, 409, "status");
    hres_free(r);
    /* A settled payment does not go back. */
    r = put_payment(id, "{\"status\":\"success\"}");
    CHECK_FIELD_ERROR(r, 409, "status");
    hres_free(r);

    r = get_payment(id);
    CHECK(r, strcmp(js(r->json, "settled_at"), settled_at) == 0);
    CHECK(r, body_has(r, "\"settled_amount\":50.00"));
    hres_free(r);
    free(id);
}

static void explicit_settlement_values(void **state)
{
    (void)state;
    char *id = create_card(&srv, srv.gateway_key, "50.00", "5555555555554444");
    hres *r = put_payment(id, "{\"status\":\"settled\",\"settled_at\":\"2026-01-02T03:04:05Z\",\"settled_amount\":45.5}");
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "status"), "settled") == 0);
    CHECK(r, strcmp(js(r->json, "settled_at"), "2026-01-02T03:04:05.000Z") == 0);
    CHECK(r, body_has(r, "\"settled_amount\":45.50"));
    hres_free(r);
    /* The same values again are accepted. */
    r = put_payment(id, "{\"status\":\"settled\",\"settled_at\":\"2026-01-02T03:04:05.000Z\",\"settled_amount\":45.50}");
    CHECK_STATUS(r, 200);
    hres_free(r);
    r = put_payment(id, "{\"settled_amount\":45.49}");
    CHECK_FIELD_ERROR(r, 409, "status");
    hres_free(r);
    free(id);

    /* settled_at alone settles, with the full amount; an offset is honoured. */
    id = create_mbway(&srv, srv.gateway_key, "20.00", "912345678");
    r = put_payment(id, "{\"settled_at\":\"2026-03-04T10:00:00+02:00\"}");
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "status"), "settled") == 0);
    CHECK(r, strcmp(js(r->json, "settled_at"), "2026-03-04T08:00:00.000Z") == 0);
    CHECK(r, body_has(r, "\"settled_amount\":20.00"));
    hres_free(r);
    free(id);

    /* settled_amount alone settles now. */
    id = create_card(&srv, srv.gateway_key, "20.00", "4242424242424242");
    r = put_payment(id, "{\"settled_amount\":0}");
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "status"), "settled") == 0);
    CHECK(r, is_api_time(jstr(r->json, "settled_at")));
    CHECK(r, body_has(r, "\"settled_amount\":0.00"));
    hres_free(r);
    free(id);

    /* By default the settled amount leaves out what was refunded. */
    id = create_card(&srv, srv.gateway_key, "50.00", "4242424242424242");
    char body[400];
    snprintf(body, sizeof body, "{\"payment_id\":\"%s\",\"amount\":20.00}", id);
    r = gw_do(&srv, "POST", srv.refunds, "/api/refunds", body);
    CHECK_STATUS(r, 201);
    hres_free(r);
    r = put_payment(id, "{\"status\":\"settled\"}");
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "status"), "settled") == 0);
    CHECK(r, body_has(r, "\"settled_amount\":30.00"));
    CHECK(r, body_has(r, "\"refunded_amount\":20.00"));
    hres_free(r);
    free(id);

    /* A settled payment is found by the settlement filters. */
    r = gw_do(&srv, "GET", srv.payments,
              "/api/payments?settled_at_gte=2026-01-02T03:04:05Z&settled_at_lte=2026-01-02T03:04:05Z", NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, jlen(r) == 1);
    CHECK(r, body_has(r, "\"settled_amount\":45.50"));
    hres_free(r);
}

static void bad_settlement_values(void **state)
{
    (void)state;
    char *id = create_card(&srv, srv.gateway_key, "50.00", "4242424242424242");
    hres *r = put_payment(id, "{\"status\":\"settled\",\"settled_amount\":50.01}");
    CHECK_FIELD_ERROR(r, 400, "settled_amount");
    hres_free(r);
    r = put_payment(id, "{\"settled_amount\":-1}");
    CHECK_FIELD_ERROR(r, 400, "settled_amount");
    hres_free(r);
    r = put_payment(id, "{\"settled_amount\":1.001}");
    CHECK_FIELD_ERROR(r, 400, "settled_amount");
    hres_free(r);
    r = put_payment(id, "{\"settled_amount\":\"5\"}");
    CHECK_FIELD_ERROR(r, 400, "settled_amount");
    hres_free(r);
    r = put_payment(id, "{\"settled_at\":\"yesterday\"}");
    CHECK_FIELD_ERROR(r, 400, "settled_at");
    hres_free(r);
    r = put_payment(id, "{\"status\":\"paid\"}");
    CHECK_FIELD_ERROR(r, 400, "status");
    hres_free(r);
    r = put_payment(id, "{\"colour\":\"red\"}");
    CHECK_FIELD_ERROR(r, 400, "colour");
    hres_free(r);
    r = put_payment(id, "{\"additional_params\":\"x\"}");
    CHECK_FIELD_ERROR(r, 400, "additional_params");
    hres_free(r);
    r = put_payment(id, "[]");
    CHECK_FIELD_ERROR(r, 400, "body");
    hres_free(r);
    r = put_payment(id, "{\"status\":");
    CHECK_FIELD_ERROR(r, 400, "body");
    hres_free(r);
    r = put_payment(id, "");
    CHECK_FIELD_ERROR(r, 400, "body");
    hres_free(r);

    /* None of the refused requests settled it. */
    r = get_payment(id);
    CHECK(r, strcmp(js(r->json, "status"), "success") == 0);
    CHECK(r, jnull(r->json, "settled_at") && jnull(r->json, "settled_amount"));
    hres_free(r);
    /* The full amount is allowed. */
    r = put_payment(id, "{\"settled_amount\":50}");
    CHECK_STATUS(r, 200);
    CHECK(r, body_has(r, "\"settled_amount\":50.00"));
    hres_free(r);
    free(id);
}

static void declined_payment_cannot_be_settled(void **state)
{
    (void)state;
    char *id = create_card(&srv, srv.gateway_key, "50.00", "4000000000009995");
    hres *r = put_payment(id, "{\"status\":\"settled\"}");
    CHECK_FIELD_ERROR(r, 409, "status");
    hres_free(r);
    r = put_payment(id, "{\"settled_amount\":10}");
    CHECK_FIELD_ERROR(r, 409, "status");
    hres_free(r);
    r = put_payment(id, "{\"status\":\"success\"}");
    CHECK_FIELD_ERROR(r, 409, "status");
    hres_free(r);
    r = get_payment(id);
    CHECK(r, strcmp(js(r->json, "status"), "error") == 0);
    CHECK(r, jnull(r->json, "settled_at"));
    hres_free(r);
    free(id);
}

static void immutable_fields(void **state)
{
    (void)state;
    char *id = create_card(&srv, srv.gateway_key, "50.00", "4242424242424242");
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"{\"amount\":51}", "amount"},
        {"{\"currency\":\"USD\"}", "currency"},
        {"{\"payment_method\":\"mbway\"}", "payment_method"},
        {"{\"additional_params\":{\"name\":\"Someone Else\"}}", "additional_params.name"},
        {"{\"additional_params\":{\"number\":\"5555555555554444\"}}", "additional_params.number"},
        {"{\"additional_params\":{\"number\":\"555555******4444\"}}", "additional_params.number"},
        {"{\"additional_params\":{\"expiration_month\":\"11\"}}", "additional_params.expiration_month"},
        {"{\"additional_params\":{\"expiration_year\":\"2098\"}}", "additional_params.expiration_year"},
        {"{\"additional_params\":{\"amount\":49}}", "additional_params.amount"},
        {"{\"additional_params\":{\"method\":\"mbway\"}}", "additional_params.method"},
        {"{\"payment_id\":\"ABC\"}", "payment_id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hres *r = put_payment(id, cases[i].body);
        CHECK_FIELD_ERROR(r, 409, cases[i].field);
        hres_free(r);
    }
    /* All at once: each field is named. */
    hres *r = put_payment(id, "{\"amount\":1,\"currency\":\"USD\",\"payment_method\":\"mbway\",\"additional_params\":"
                              "{\"name\":\"X\",\"number\":\"5555555555554444\"}}");
    CHECK_FIELD_ERROR(r, 409, "amount");
    CHECK_FIELD_ERROR(r, 409, "currency");
    CHECK_FIELD_ERROR(r, 409, "payment_method");
    CHECK_FIELD_ERROR(r, 409, "additional_params.name");
    CHECK_FIELD_ERROR(r, 409, "additional_params.number");
    hres_free(r);
    /* A change alongside a settlement refuses both. */
    r = put_payment(id, "{\"amount\":51,\"status\":\"settled\"}");
    CHECK_FIELD_ERROR(r, 409, "amount");
    hres_free(r);
    /* Equal values written differently are equal; the CVV is ignored. */
    r = put_payment(id, "{\"amount\":50,\"currency\":\"EUR\",\"additional_params\":{\"number\":\"4242 4242 4242 4242\","
                        "\"expiration_month\":12,\"expiration_year\":2099,\"cvv\":\"999\"}}");
    CHECK_STATUS(r, 200);
    hres_free(r);

    r = get_payment(id);
    CHECK(r, body_has(r, "\"amount\":50.00,"));
    CHECK(r, strcmp(js(r->json, "currency"), "EUR") == 0);
    CHECK(r, strcmp(js(r->json, "status"), "success") == 0);
    CHECK(r, strcmp(js(jobj(r->json, "additional_params"), "name"), "Ana Silva") == 0);
    CHECK(r, strcmp(js(jobj(r->json, "additional_params"), "number"), "424242******4242") == 0);
    hres_free(r);
    free(id);

    char *mb = create_mbway(&srv, srv.gateway_key, "5.00", "912345678");
    r = put_payment(mb, "{\"additional_params\":{\"phone_number\":\"932345678\"}}");
    CHECK_FIELD_ERROR(r, 409, "additional_params.phone_number");
    hres_free(r);
    r = put_payment(mb, "{\"additional_params\":{\"phone_number\":\"+351912345678\"}}");
    CHECK_STATUS(r, 200);
    hres_free(r);
    free(mb);
}

static void update_unknown(void **state)
{
    (void)state;
    hres *r = put_payment(unknown_id, "{\"status\":\"settled\"}");
    check_empty_404(r);
    hres_free(r);
    r = put_payment("nope", "{}");
    check_empty_404(r);
    hres_free(r);
}

static void delete_returns_then_forgets(void **state)
{
    (void)state;
    char *id = create_card(&srv, srv.gateway_key, "12.00", "4242424242424242");
    hres *before = get_payment(id);
    hres *r = delete_payment(id);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(r->body, before->body) == 0);
    CHECK(r, strcmp(js(r->json, "payment_id"), id) == 0);
    CHECK(r, strcmp(js(jobj(r->json, "additional_params"), "number"), "424242******4242") == 0);
    hres_free(r);
    hres_free(before);
    r = get_payment(id);
    check_empty_404(r);
    hres_free(r);
    r = delete_payment(id);
    check_empty_404(r);
    hres_free(r);
    r = put_payment(id, "{}");
    check_empty_404(r);
    hres_free(r);
    char path[300];
    snprintf(path, sizeof path, "/api/payments?payment_id=%s", id);
    r = gw_do(&srv, "GET", srv.payments, path, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(r->body, "[]") == 0);
    hres_free(r);
    free(id);

    /* A declined payment can be deleted too. */
    id = create_card(&srv, srv.gateway_key, "12.00", "4000000000000002");
    r = delete_payment(id);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "status"), "error") == 0);
    hres_free(r);
    free(id);
}

static void delete_conflicts(void **state)
{
    (void)state;
    char *settled = create_card(&srv, srv.gateway_key, "12.00", "4242424242424242");
    hres *r = put_payment(settled, "{\"status\":\"settled\"}");
    CHECK_STATUS(r, 200);
    hres_free(r);
    r = delete_payment(settled);
    CHECK_STATUS(r, 409);
    CHECK(r, strlen(js(r->json, "message")) > 0);
    CHECK(r, cJSON_IsArray(jobj(r->json, "errors")));
    hres_free(r);
    r = get_payment(settled);
    CHECK_STATUS(r, 200);
    hres_free(r);

    char *refunded = create_card(&srv, srv.gateway_key, "12.00", "4242424242424242");
    char body[400];
    snprintf(body, sizeof body, "{\"payment_id\":\"%s\",\"amount\":2.00}", refunded);
    r = gw_do(&srv, "POST", srv.refunds, "/api/refunds", body);
    CHECK_STATUS(r, 201);
    hres_free(r);
    r = delete_payment(refunded);
    CHECK_STATUS(r, 409);
    CHECK(r, strlen(js(r->json, "message")) > 0);
    CHECK(r, cJSON_IsArray(jobj(r->json, "errors")));
    hres_free(r);
    r = get_payment(refunded);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "status"), "success") == 0);
    hres_free(r);

    r = delete_payment(unknown_id);
    check_empty_404(r);
    hres_free(r);
    free(settled);
    free(refunded);
}

struct racer {
    pthread_t t;
    pthread_barrier_t *start;
    const char *method, *id;
    char body[128];
    long status;
    char *answer;
};

static void *race(void *arg)
{
    struct racer *rc = arg;
    char path[300];
    payment_path(path, sizeof path, rc->id);
    pthread_barrier_wait(rc->start);
    hres *r = gw_do(&srv, rc->method, srv.payments, path, rc->body[0] ? rc->body : NULL);
    rc->status = r->status;
    rc->answer = strdup(r->body);
    hres_free(r);
    return NULL;
}

static void run_racers(struct racer *racers, int n)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        racers[i].start = &start;
        assert_int_equal(pthread_create(&racers[i].t, NULL, race, &racers[i]), 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(racers[i].t, NULL);
    pthread_barrier_destroy(&start);
}

/* Settlement happens once even when different settlements race. */
static void racing_settlements(void **state)
{
    (void)state;
    char *id = create_card(&srv, srv.gateway_key, "80.00", "4242424242424242");
    enum { N = 8 };
    struct racer racers[N];
    memset(racers, 0, sizeof racers);
    for (int i = 0; i < N; i++) {
        racers[i].method = "PUT";
        racers[i].id = id;
        snprintf(racers[i].body, sizeof racers[i].body, "{\"status\":\"settled\",\"settled_amount\":%d}", 10 + i);
    }
    run_racers(racers, N);
    int winner = -1, ok = 0;
    for (int i = 0; i < N; i++) {
        if (racers[i].status == 200) {
            ok++;
            winner = i;
        } else if (racers[i].status != 409) {
            fail_msg("settler %d: status %ld body %s", i, racers[i].status, racers[i].answer);
        }
    }
    assert_int_equal(ok, 1);
    hres *r = get_payment(id);
    char want[64];
    snprintf(want, sizeof want, "\"settled_amount\":%d.00", 10 + winner);
    CHECK(r, body_has(r, want));
    CHECK(r, strcmp(js(r->json, "status"), "settled") == 0);
    hres_free(r);
    for (int i = 0; i < N; i++)
        free(racers[i].answer);
    free(id);
}

/* A payment is voided once: one DELETE returns it, the others find nothing. */
static void racing_deletes(void **state)
{
    (void)state;
    char *id = create_card(&srv, srv.gateway_key, "80.00", "4242424242424242");
    enum { N = 8 };
    struct racer racers[N];
    memset(racers, 0, sizeof racers);
    for (int i = 0; i < N; i++) {
        racers[i].method = "DELETE";
        racers[i].id = id;
    }
    run_racers(racers, N);
    int ok = 0;
    for (int i = 0; i < N; i++) {
        if (racers[i].status == 200)
            ok++;
        else if (racers[i].status != 404 || strcmp(racers[i].answer, "{}") != 0)
            fail_msg("deleter %d: status %ld body %s", i, racers[i].status, racers[i].answer);
    }
    assert_int_equal(ok, 1);
    for (int i = 0; i < N; i++)
        free(racers[i].answer);
    free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(get_one),
        cmocka_unit_test(seed_put_changes_nothing),
        cmocka_unit_test(get_body_can_be_put_back),
        cmocka_unit_test(manual_settlement),
        cmocka_unit_test(explicit_settlement_values),
        cmocka_unit_test(bad_settlement_values),
        cmocka_unit_test(declined_payment_cannot_be_settled),
        cmocka_unit_test(immutable_fields),
        cmocka_unit_test(update_unknown),
        cmocka_unit_test(delete_returns_then_forgets),
        cmocka_unit_test(delete_conflicts),
        cmocka_unit_test(racing_settlements),
        cmocka_unit_test(racing_deletes),
    };
    return cmocka_run_group_tests_name("pay_update", tests, group_setup, group_teardown);
}
