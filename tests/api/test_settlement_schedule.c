/* Time-driven gateway work: with a short interval a payment settles on its
 * own; with a virtual clock the batch runs when the clock is moved past the
 * interval, and not before; refund idempotency keys are forgotten once
 * idempotency_ttl has passed, and only then. */
#include "ref_helpers.h"

/* Polls until the payment is settled or about timeout_s have passed;
 * returns its answer (the last one seen). */
static hres *wait_settled(rserver *s, const char *pid, double timeout_s)
{
    double until = mono_seconds() + timeout_s;
    for (;;) {
        hres *p = payment_get(s, pid);
        if (strcmp(rs(p->json, "status"), "settled") == 0 || mono_seconds() > until)
            return p;
        hres_free(p);
        sleep_ms(100);
    }
}

static void short_interval_settles_on_its_own(void **state)
{
    (void)state;
    rserver s;
    static const char *const args[] = {"--settlement_interval=1", NULL};
    server_start(&s, args);
    char *pid = make_card_payment(&s, "4242424242424242", "25.00");
    char *declined = make_card_payment(&s, "4000000000000069", "25.00");
    hres *rf = refund_post(&s, pid, "5.00");
    R_STATUS(rf, 201);

    hres *p = wait_settled(&s, pid, 5.0);
    R_CHECK(p, strcmp(rs(p->json, "status"), "settled") == 0);
    R_CHECK(p, is_iso_ms(jstr(p->json, "settled_at")));
    /* No fees by default: amount less the refunds made before the batch
     * (the batch may have run between the payment and its refund). */
    int refund_first = strcmp(rs(rf->json, "created_at"), rs(p->json, "settled_at")) <= 0;
    R_CHECK(p, has_raw(p, "settled_amount", refund_first ? "20.00" : "25.00"));
    hres_free(p);

    p = payment_get(&s, declined);
    R_CHECK(p, strcmp(rs(p->json, "status"), "error") == 0 && jnull(p->json, "settled_at"));
    hres_free(p);

    /* A real clock cannot be moved. */
    static const char *const json[] = {"Content-Type: application/json", NULL};
    hres *c = http_do("POST", s.admin, "/admin/clock/advance", json, "{\"seconds\":3601}");
    R_STATUS(c, 409);
    R_CHECK(c, jstr(c->json, "message") != NULL);
    hres_free(c);
    c = http_do("GET", s.admin, "/admin/clock", NULL, NULL);
    R_STATUS(c, 200);
    R_CHECK(c, is_iso_ms(jstr(c->json, "now")) && cJSON_IsFalse(cJSON_GetObjectItem(c->json, "virtual")));
    hres_free(c);

    hres_free(rf);
    free(pid);
    free(declined);
    assert_int_equal(server_stop(&s), 0);
}

static void virtual_clock_moves_the_schedule(void **state)
{
    (void)state;
    rserver s;
    static const char *const args[] = {"--clock=virtual", "--settlement_interval=3600", NULL};
    server_start(&s, args);
    static const char *const json[] = {"Content-Type: application/json", NULL};

    hres *c = http_do("GET", s.admin, "/admin/clock", NULL, NULL);
    R_STATUS(c, 200);
    R_CHECK(c, cJSON_IsTrue(cJSON_GetObjectItem(c->json, "virtual")) && is_iso_ms(jstr(c->json, "now")));
    char start[40];
    snprintf(start, sizeof start, "%s", rs(c->json, "now"));
    hres_free(c);

    char *pid = make_card_payment(&s, "4242424242424242", "60.00");

    /* Real time passing does not move a virtual clock, nor the schedule. */
    sleep_ms(1500);
    hres *p = payment_get(&s, pid);
    R_CHECK(p, strcmp(rs(p->json, "status"), "success") == 0 && jnull(p->json, "settled_at"));
    hres_free(p);

    /* Short of the interval: nothing yet. */
    c = http_do("POST", s.admin, "/admin/clock/advance", json, "{\"seconds\":1800}");
    R_STATUS(c, 200);
    hres_free(c);
    sleep_ms(1200);
    p = payment_get(&s, pid);
    R_CHECK(p, strcmp(rs(p->json, "status"), "success") == 0);
    hres_free(p);

    c = http_do("POST", s.admin, "/admin/clock/advance", json, "{\"seconds\":1801}");
    R_STATUS(c, 200);
    R_CHECK(c, cJSON_IsTrue(cJSON_GetObjectItem(c->json, "virtual")) && is_iso_ms(jstr(c->json, "now")));
    R_CHECK(c, strcmp(rs(c->json, "now"), start) > 0);
    hres_free(c);

    p = wait_settled(&s, pid, 5.0);
    R_CHECK(p, strcmp(rs(p->json, "status"), "settled") == 0 && has_raw(p, "settled_amount", "60.00"));
    /* Stamped with virtual time, an hour after the payment. */
    R_CHECK(p, strcmp(rs(p->json, "settled_at"), rs(p->json, "created_at")) > 0);
    hres_free(p);

    /* Bad advances. */
    static const char *const bad[] = {"{\"seconds\":-1}", "{\"seconds\":\"10\"}", "{}", "{\"seconds\":1.5}",
                                      "{\"seconds\":99999999999}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hres *r = http_do("POST", s.admin, "/admin/clock/advance", json, bad[i]);
        if (r->status != 400 || !has_error_field(r->json, "seconds"))
            fail_msg("advance %s: status %ld body %s", bad[i], r->status, r->body);
        hres_free(r);
    }
    free(pid);
    assert_int_equal(server_stop(&s), 0);
}

static void refund_idempotency_keys_expire(void **state)
{
    (void)state;
    rserver s;
    static const char *const args[] = {"--clock=virtual", "--idempotency_ttl=60", NULL};
    server_start(&s, args);
    static const char *const json[] = {"Content-Type: application/json", NULL};
    char *pid = make_card_payment(&s, "4242424242424242", "50.00");
    const char *key[] = {"Idempotency-Key: ttl-refund", NULL};
    hres *first = refund_post_h(&s, pid, "5.00", key);
    R_STATUS(first, 201);

    /* Within the TTL: a replay. */
    hres *c = http_do("POST", s.admin, "/admin/clock/advance", json, "{\"seconds\":30}");
    R_STATUS(c, 200);
    hres_free(c);
    sleep_ms(300);
    hres *r = refund_post_h(&s, pid, "5.00", key);
    R_STATUS(r, 201);
    char *rep = hres_header(r, "Idempotent-Replayed");
    R_CHECK(r, rep && strcmp(rep, "true") == 0);
    R_CHECK(r, strcmp(rs(r->json, "refund_id"), rs(first->json, "refund_id")) == 0);
    free(rep);
    hres_free(r);

    /* Well past it: the key is forgotten and the same request is a new
     * refund (the purge runs on the worker's next tick). */
    c = http_do("POST", s.admin, "/admin/clock/advance", json, "{\"seconds\":150}");
    R_STATUS(c, 200);
    hres_free(c);
    int fresh = 0;
    for (int i = 0; i < 30 && !fresh; i++) {
        sleep_ms(100);
        /* A replay changes nothing, so probing with the key is safe. */
        r = refund_post_h(&s, pid, "5.00", key);
        R_STATUS(r, 201);
        rep = hres_header(r, "Idempotent-Replayed");
        if (!rep) {
            fresh = 1;
            R_CHECK(r, strcmp(rs(r->json, "refund_id"), rs(first->json, "refund_id")) != 0);
        }
        free(rep);
        hres_free(r);
    }
    assert_true(fresh);
    hres *p = payment_get(&s, pid);
    R_CHECK(p, has_raw(p, "refunded_amount", "10.00"));
    hres_free(p);
    hres_free(first);
    free(pid);
    assert_int_equal(server_stop(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(short_interval_settles_on_its_own),
        cmocka_unit_test(virtual_clock_moves_the_schedule),
        cmocka_unit_test(refund_idempotency_keys_expire),
    };
    return cmocka_run_group_tests_name("settlement_schedule", tests, NULL, NULL);
}
