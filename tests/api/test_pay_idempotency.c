/* Idempotency-Key on POST /api/payments: a retried request is answered
 * from the first one and never charges twice, even when the retries race;
 * and concurrent creations stay distinct. */
#include <pthread.h>
#include <unistd.h>

#include "pay_common.h"

static rserver srv;
/* A second server on a virtual clock, stopped by the group teardown too
 * when a failed case left it running. */
static rserver vsrv;

static int group_setup(void **state)
{
    (void)state;
    server_start(&srv, NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (vsrv.pid)
        server_stop(&vsrv);
    int rc = server_stop(&srv);
    assert_int_equal(rc, 0);
    return rc;
}

static int count_payments(const char *key)
{
    hres *r = key_do(key, "GET", srv.payments, "/api/payments?limit=1000", NULL, NULL);
    int n = r->status == 200 ? jlen(r) : -1;
    hres_free(r);
    return n;
}

static hres *post_idem(const char *key, const char *idem_key, const char *body)
{
    char h[400];
    snprintf(h, sizeof h, "Idempotency-Key: %s", idem_key);
    const char *headers[] = {h, NULL};
    return key_do(key, "POST", srv.payments, "/api/payments", headers, body);
}

static int replayed(const hres *r)
{
    char *v = hres_header(r, "Idempotent-Replayed");
    int yes = v && strcmp(v, "true") == 0;
    free(v);
    return yes;
}

static void same_key_same_body_replays(void **state)
{
    (void)state;
    char key[200];
    assert_int_equal(make_merchant_key(&srv, "idem1", key, sizeof key), 0);
    char body[1024];
    card_body(body, sizeof body, "50.00", "4242424242424242", NULL);

    hres *a = post_idem(key, "order-1001", body);
    CHECK_STATUS(a, 201);
    CHECK(a, !replayed(a));
    hres *b = post_idem(key, "order-1001", body);
    CHECK_STATUS(b, 201);
    CHECK(b, replayed(b));
    CHECK(b, strcmp(a->body, b->body) == 0);
    CHECK(b, strcmp(js(a->json, "payment_id"), js(b->json, "payment_id")) == 0);
    hres_free(b);
    /* Re-indenting the same JSON is the same request. */
    char spaced[1100];
    snprintf(spaced, sizeof spaced, "  %s\n", body);
    b = post_idem(key, "order-1001", spaced);
    CHECK_STATUS(b, 201);
    CHECK(b, replayed(b));
    CHECK(b, strcmp(a->body, b->body) == 0);
    hres_free(b);
    assert_int_equal(count_payments(key), 1);

    /* A declined payment is replayed as declined, not retried. */
    card_body(body, sizeof body, "50.00", "4000000000009995", NULL);
    hres *d1 = post_idem(key, "order-1002", body);
    hres *d2 = post_idem(key, "order-1002", body);
    CHECK_STATUS(d2, 201);
    CHECK(d2, replayed(d2));
    CHECK(d2, strcmp(d1->body, d2->body) == 0);
    CHECK(d2, strcmp(js(d2->json, "decline_code"), "insufficient_funds") == 0);
    hres_free(d1);
    hres_free(d2);
    assert_int_equal(count_payments(key), 2);
    hres_free(a);
}

static void same_key_other_body_is_422(void **state)
{
    (void)state;
    char key[200];
    assert_int_equal(make_merchant_key(&srv, "idem2", key, sizeof key), 0);
    char body[1024], other[1024];
    card_body(body, sizeof body, "50.00", "4242424242424242", NULL);
    card_body(other, sizeof other, "50.01", "4242424242424242", NULL);
    hres *a = post_idem(key, "order-2001", body);
    CHECK_STATUS(a, 201);
    hres *b = post_idem(key, "order-2001", other);
    CHECK_STATUS(b, 422);
    CHECK(b, strlen(js(b->json, "message")) > 0);
    CHECK(b, !replayed(b));
    hres_free(b);
    /* The original is still what the key answers. */
    b = post_idem(key, "order-2001", body);
    CHECK(b, replayed(b) && strcmp(a->body, b->body) == 0);
    hres_free(b);
    assert_int_equal(count_payments(key), 1);
    hres_free(a);
}

static void different_keys_are_different_payments(void **state)
{
    (void)state;
    char key[200];
    assert_int_equal(make_merchant_key(&srv, "idem3", key, sizeof key), 0);
    char body[1024];
    card_body(body, sizeof body, "7.00", "4242424242424242", NULL);
    hres *a = post_idem(key, "order-3001", body);
    hres *b = post_idem(key, "order-3002", body);
    hres *c = key_do(key, "POST", srv.payments, "/api/payments", NULL, body);
    hres *d = key_do(key, "POST", srv.payments, "/api/payments", NULL, body);
    CHECK_STATUS(a, 201);
    CHECK_STATUS(b, 201);
    CHECK_STATUS(c, 201);
    CHECK_STATUS(d, 201);
    CHECK(b, !replayed(b) && !replayed(c) && !replayed(d));
    const char *ids[] = {js(a->json, "payment_id"), js(b->json, "payment_id"), js(c->json, "payment_id"),
                         js(d->json, "payment_id")};
    for (int i = 0; i < 4; i++)
        for (int k = i + 1; k < 4; k++)
            CHECK(a, strcmp(ids[i], ids[k]) != 0);
    assert_int_equal(count_payments(key), 4);
    hres_free(a);
    hres_free(b);
    hres_free(c);
    hres_free(d);
}

static void key_length(void **state)
{
    (void)state;
    char key[200];
    assert_int_equal(make_merchant_key(&srv, "idem4", key, sizeof key), 0);
    char body[1024];
    card_body(body, sizeof body, "7.00", "4242424242424242", NULL);
    char long_key[300];
    memset(long_key, 'k', 256);
    long_key[256] = '\0';
    hres *r = post_idem(key, long_key, body);
    CHECK_STATUS(r, 400);
    CHECK(r, has_error_field(r->json, "Idempotency-Key"));
    hres_free(r);
    assert_int_equal(count_payments(key), 0);

    long_key[255] = '\0';
    r = post_idem(key, long_key, body);
    CHECK_STATUS(r, 201);
    hres_free(r);
    r = post_idem(key, long_key, body);
    CHECK_STATUS(r, 201);
    CHECK(r, replayed(r));
    hres_free(r);
    r = post_idem(key, "k", body);
    CHECK_STATUS(r, 201);
    CHECK(r, !replayed(r));
    hres_free(r);
    assert_int_equal(count_payments(key), 2);

    /* Present but empty is not a key (";" makes libcurl send it empty). */
    const char *empty[] = {"Idempotency-Key;", NULL};
    r = key_do(key, "POST", srv.payments, "/api/payments", empty, body);
    CHECK_STATUS(r, 400);
    CHECK(r, has_error_field(r->json, "Idempotency-Key"));
    hres_free(r);
    assert_int_equal(count_payments(key), 2);
}

/* Keys are remembered for idempotency_ttl (24 hours by default), then
 * forgotten: on a virtual clock, 23 hours later a retry still replays, and
 * after 24 hours the key is new again. */
static void keys_expire_after_ttl(void **state)
{
    (void)state;
    rserver *v = &vsrv;
    const char *args[] = {"--clock=virtual", NULL};
    server_start(v, args);
    char body[1024], other[1024];
    card_body(body, sizeof body, "5.00", "4242424242424242", NULL);
    card_body(other, sizeof other, "6.00", "4242424242424242", NULL);
    const char *idem[] = {"Idempotency-Key: ttl-key", NULL};
    const char *json[] = {"Content-Type: application/json", NULL};

    hres *a = gw_do_h(v, "POST", v->payments, "/api/payments", idem, body);
    CHECK_STATUS(a, 201);
    hres *r = http_do("POST", v->admin, "/admin/clock/advance", json, "{\"seconds\":82800}");
    CHECK_STATUS(r, 200);
    hres_free(r);
    /* Give the background purge a chance to run on the moved clock. */
    usleep(1200 * 1000);
    r = gw_do_h(v, "POST", v->payments, "/api/payments", idem, body);
    CHECK_STATUS(r, 201);
    CHECK(r, replayed(r) && strcmp(r->body, a->body) == 0);
    hres_free(r);

    r = http_do("POST", v->admin, "/admin/clock/advance", json, "{\"seconds\":3700}");
    CHECK_STATUS(r, 200);
    hres_free(r);
    long status = 0;
    for (int i = 0; i < 40 && status != 201; i++) {
        usleep(100 * 1000);
        r = gw_do_h(v, "POST", v->payments, "/api/payments", idem, other);
        status = r->status;
        CHECK(r, status == 201 || status == 422);
        if (status == 201) {
            CHECK(r, !replayed(r));
            CHECK(r, strcmp(js(r->json, "payment_id"), js(a->json, "payment_id")) != 0);
        }
        hres_free(r);
    }
    assert_int_equal(status, 201);
    hres_free(a);
    assert_int_equal(server_stop(v), 0);
}

struct racer {
    pthread_t t;
    const char *key, *idem, *body;
    long status;
    int replayed;
    char payment_id[201];
    pthread_barrier_t *start;
};

static void *race(void *arg)
{
    struct racer *rc = arg;
    pthread_barrier_wait(rc->start);
    hres *r = rc->idem ? post_idem(rc->key, rc->idem, rc->body)
                       : key_do(rc->key, "POST", srv.payments, "/api/payments", NULL, rc->body);
    rc->status = r->status;
    rc->replayed = replayed(r);
    snprintf(rc->payment_id, sizeof rc->payment_id, "%s", js(r->json, "payment_id"));
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

static void racing_retries_charge_once(void **state)
{
    (void)state;
    char key[200];
    assert_int_equal(make_merchant_key(&srv, "idem5", key, sizeof key), 0);
    char body[1024];
    card_body(body, sizeof body, "99.00", "4242424242424242", NULL);
    enum { N = 16 };
    struct racer racers[N];
    memset(racers, 0, sizeof racers);
    for (int i = 0; i < N; i++) {
        racers[i].key = key;
        racers[i].idem = "race-key-1";
        racers[i].body = body;
    }
    run_racers(racers, N);
    int fresh = 0;
    for (int i = 0; i < N; i++) {
        if (racers[i].status != 201)
            fail_msg("racer %d: status %ld", i, racers[i].status);
        if (strcmp(racers[i].payment_id, racers[0].payment_id) != 0)
            fail_msg("racer %d got payment %.12s..., racer 0 got %.12s...", i, racers[i].payment_id,
                     racers[0].payment_id);
        fresh += !racers[i].replayed;
    }
    assert_int_equal(fresh, 1);
    assert_true(is_upper_id(racers[0].payment_id, 200));
    assert_int_equal(count_payments(key), 1);
}

static void concurrent_creations_are_distinct(void **state)
{
    (void)state;
    char key[200];
    assert_int_equal(make_merchant_key(&srv, "busy", key, sizeof key), 0);
    char card[1024], mbway[512];
    card_body(card, sizeof card, "3.00", "4242424242424242", NULL);
    mbway_body(mbway, sizeof mbway, "3.00", "912345678");
    enum { N = 32 };
    struct racer racers[N];
    memset(racers, 0, sizeof racers);
    for (int i = 0; i < N; i++) {
        racers[i].key = key;
        racers[i].body = i % 2 ? card : mbway;
    }
    run_racers(racers, N);
    for (int i = 0; i < N; i++) {
        if (racers[i].status != 201)
            fail_msg("creator %d: status %ld", i, racers[i].status);
        assert_true(is_upper_id(racers[i].payment_id, 200));
        for (int k = 0; k < i; k++)
            assert_string_not_equal(racers[i].payment_id, racers[k].payment_id);
    }
    assert_int_equal(count_payments(key), N);
    /* Every one of them can be read back. */
    hres *r = key_do(key, "GET", srv.payments, "/api/payments?limit=1000", NULL, NULL);
    for (int i = 0; i < N; i++)
        CHECK(r, strstr(r->body, racers[i].payment_id) != NULL);
    hres_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_key_same_body_replays),
        cmocka_unit_test(same_key_other_body_is_422),
        cmocka_unit_test(different_keys_are_different_payments),
        cmocka_unit_test(key_length),
        cmocka_unit_test(keys_expire_after_ttl),
        cmocka_unit_test(racing_retries_charge_once),
        cmocka_unit_test(concurrent_creations_are_distinct),
    };
    return cmocka_run_group_tests_name("pay_idempotency", tests, group_setup, group_teardown);
}
