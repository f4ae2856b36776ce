/* Refunds racing for the same balance: whatever the interleaving, the
 * refunds of a payment never add up to more than its amount, and retries
 * sharing an Idempotency-Key create one refund. */
#include <pthread.h>

#include "ref_helpers.h"

static rserver srv;

static int setup(void **state)
{
    (void)state;
    server_start(&srv, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return server_stop(&srv) == 0 ? 0 : -1;
}

enum { MAX_RACERS = 16 };

struct racer {
    pthread_barrier_t *start;
    const char *payment_id;
    const char *amount;
    const char *idem_key; /* NULL: none */
    long status;
    char refund_id[256];
    char refundable[32];
    int replayed;
    char body[600];
};

static void *race_one(void *arg)
{
    struct racer *r = arg;
    char key[300];
    const char *headers[] = {key, NULL};
    if (r->idem_key)
        snprintf(key, sizeof key, "Idempotency-Key: %s", r->idem_key);
    pthread_barrier_wait(r->start);
    hres *h = refund_post_h(&srv, r->payment_id, r->amount, r->idem_key ? headers : NULL);
    r->status = h->status;
    snprintf(r->refund_id, sizeof r->refund_id, "%s", rs(h->json, "refund_id"));
    const cJSON *left = cJSON_GetObjectItemCaseSensitive(h->json, "refundable_amount");
    if (cJSON_IsNumber(left))
        snprintf(r->refundable, sizeof r->refundable, "%.2f", left->valuedouble);
    char *rep = hres_header(h, "Idempotent-Replayed");
    r->replayed = rep && strcmp(rep, "true") == 0;
    free(rep);
    snprintf(r->body, sizeof r->body, "%s", h->body ? h->body : "");
    hres_free(h);
    return NULL;
}

/* Starts n refunds of the payment at once and waits for all of them. */
static void race(struct racer *rs_, int n, const char *payment_id, const char *const *amounts, const char *idem_key)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n);
    pthread_t th[MAX_RACERS];
    for (int i = 0; i < n; i++) {
        memset(&rs_[i], 0, sizeof rs_[i]);
        rs_[i].start = &start;
        rs_[i].payment_id = payment_id;
        rs_[i].amount = amounts[i];
        rs_[i].idem_key = idem_key;
        assert_int_equal(pthread_create(&th[i], NULL, race_one, &rs_[i]), 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
}

/* The refunds listed for a payment: how many, and their sum in cents. */
static void listed_refunds(const char *payment_id, int *count, long *cents)
{
    char path[400];
    snprintf(path, sizeof path, "/api/refunds?payment_id=%s&limit=1000", payment_id);
    hres *r = gw_do(&srv, "GET", srv.refunds, path, NULL);
    R_STATUS(r, 200);
    *count = 0;
    *cents = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, r->json)
    {
        (*count)++;
        *cents += lround(jnum(item, "amount") * 100.0);
    }
    hres_free(r);
}

static void check_outcome(const char *pid, struct racer *rs_, int n, int want_ok, long want_cents,
                          const char *want_left)
{
    int ok = 0, conflict = 0;
    for (int i = 0; i < n; i++) {
        if (rs_[i].status == 201) {
            ok++;
            if (!is_refund_id(rs_[i].refund_id))
                fail_msg("201 without a refund id: %s", rs_[i].body);
        } else if (rs_[i].status == 409) {
            conflict++;
            if (!strstr(rs_[i].body, "\"field\":\"amount\"") || strcmp(rs_[i].refundable, want_left) != 0)
                fail_msg("409 without the refundable amount %s: %s", want_left, rs_[i].body);
        } else {
            fail_msg("racer %d: status %ld body %s", i, rs_[i].status, rs_[i].body);
        }
    }
    if (ok != want_ok || conflict != n - want_ok)
        fail_msg("%d refunds succeeded and %d were refused; wanted %d and %d", ok, conflict, want_ok, n - want_ok);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (rs_[i].status == 201 && rs_[j].status == 201 && strcmp(rs_[i].refund_id, rs_[j].refund_id) == 0)
                fail_msg("two racers got the same refund id");
    int count;
    long cents;
    listed_refunds(pid, &count, &cents);
    assert_int_equal(count, want_ok);
    assert_int_equal(cents, want_cents);
    hres *p = payment_get(&srv, pid);
    char want[40];
    snprintf(want, sizeof want, "%ld.%02ld", want_cents / 100, want_cents % 100);
    R_CHECK(p, has_raw(p, "refunded_amount", want));
    hres_free(p);
}

static void two_refunds_race_for_one_balance(void **state)
{
    (void)state;
    static const char *const amounts[] = {"6.00", "6.00"};
    for (int round = 0; round < 8; round++) {
        char *pid = make_card_payment(&srv, "4242424242424242", "10.00");
        struct racer rr[2];
        race(rr, 2, pid, amounts, NULL);
        check_outcome(pid, rr, 2, 1, 600, "4.00");
        free(pid);
    }
}

static void sixteen_refunds_of_ten_on_a_hundred(void **state)
{
    (void)state;
    const char *amounts[MAX_RACERS];
    for (int i = 0; i < MAX_RACERS; i++)
        amounts[i] = "10.00";
    for (int round = 0; round < 4; round++) {
        char *pid = make_card_payment(&srv, "4242424242424242", "100.00");
        struct racer rr[MAX_RACERS];
        race(rr, MAX_RACERS, pid, amounts, NULL);
        check_outcome(pid, rr, MAX_RACERS, 10, 10000, "0.00");
        free(pid);
    }
}

static void uneven_refunds_leave_the_remainder(void **state)
{
    (void)state;
    const char *amounts[MAX_RACERS];
    for (int i = 0; i < MAX_RACERS; i++)
        amounts[i] = "7.00";
    for (int round = 0; round < 2; round++) {
        char *pid = make_card_payment(&srv, "4242424242424242", "100.00");
        struct racer rr[MAX_RACERS];
        race(rr, MAX_RACERS, pid, amounts, NULL);
        check_outcome(pid, rr, MAX_RACERS, 14, 9800, "2.00");
        /* What is left can still be refunded, and nothing beyond it. */
        char *last = make_refund(&srv, pid, "2.00");
        hres *r = refund_post(&srv, pid, "0.01");
        R_FIELD_ERROR(r, 409, "amount");
        hres_free(r);
        free(last);
        free(pid);
    }
}

static void same_key_retries_race_into_one_refund(void **state)
{
    (void)state;
    const char *amounts[12];
    for (int i = 0; i < 12; i++)
        amounts[i] = "10.00";
    for (int round = 0; round < 3; round++) {
        char *pid = make_card_payment(&srv, "4242424242424242", "100.00");
        char key[64];
        snprintf(key, sizeof key, "race-same-%d", round);
        struct racer rr[12];
        race(rr, 12, pid, amounts, key);
        int fresh = 0;
        for (int i = 0; i < 12; i++) {
            if (rr[i].status != 201)
                fail_msg("racer %d: status %ld body %s", i, rr[i].status, rr[i].body);
            if (strcmp(rr[i].refund_id, rr[0].refund_id) != 0)
                fail_msg("racers got different refunds: %s and %s", rr[0].body, rr[i].body);
            if (strcmp(rr[i].body, rr[0].body) != 0)
                fail_msg("replayed bodies differ: %s and %s", rr[0].body, rr[i].body);
            fresh += !rr[i].replayed;
        }
        /* One request did the work; every other one was a replay. */
        assert_int_equal(fresh, 1);
        int count;
        long cents;
        listed_refunds(pid, &count, &cents);
        assert_int_equal(count, 1);
        assert_int_equal(cents, 1000);
        free(pid);
    }
}

static void same_key_different_bodies_race(void **state)
{
    (void)state;
    const char *amounts[10];
    for (int i = 0; i < 10; i++)
        amounts[i] = i % 2 ? "3.00" : "4.00";
    for (int round = 0; round < 3; round++) {
        char *pid = make_card_payment(&srv, "4242424242424242", "100.00");
        char key[64];
        snprintf(key, sizeof key, "race-mixed-%d", round);
        struct racer rr[10];
        race(rr, 10, pid, amounts, key);
        const char *winner = NULL, *winning_amount = NULL;
        for (int i = 0; i < 10; i++)
            if (rr[i].status == 201 && !winner) {
                winner = rr[i].refund_id;
                winning_amount = rr[i].amount;
            }
        assert_non_null(winner);
        for (int i = 0; i < 10; i++) {
            int same_body = strcmp(rr[i].amount, winning_amount) == 0;
            if (same_body && (rr[i].status != 201 || strcmp(rr[i].refund_id, winner) != 0))
                fail_msg("racer %d with the winning body: status %ld body %s", i, rr[i].status, rr[i].body);
            if (!same_body && rr[i].status != 422)
                fail_msg("racer %d with another body: status %ld body %s", i, rr[i].status, rr[i].body);
        }
        int count;
        long cents;
        listed_refunds(pid, &count, &cents);
        assert_int_equal(count, 1);
        assert_int_equal(cents, strcmp(winning_amount, "3.00") == 0 ? 300 : 400);
        free(pid);
    }
}

struct voider {
    pthread_barrier_t *start;
    const char *payment_id;
    long status;
    char body[600];
};

static void *void_one(void *arg)
{
    struct voider *v = arg;
    char path[300];
    snprintf(path, sizeof path, "/api/payments/%s", v->payment_id);
    pthread_barrier_wait(v->start);
    hres *h = gw_do(&srv, "DELETE", srv.payments, path, NULL);
    v->status = h->status;
    snprintf(v->body, sizeof v->body, "%s", h->body ? h->body : "");
    hres_free(h);
    return NULL;
}

static void refund_racing_a_void(void **state)
{
    (void)state;
    int voided = 0, refunded = 0;
    char problem[1400] = "";
    for (int round = 0; round < 30 && !problem[0]; round++) {
        char *pid = make_card_payment(&srv, "4242424242424242", "10.00");
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, 2);
        struct racer r;
        memset(&r, 0, sizeof r);
        r.start = &start;
        r.payment_id = pid;
        r.amount = "10.00";
        struct voider v = {&start, pid, 0, ""};
        pthread_t a, b;
        assert_int_equal(pthread_create(&a, NULL, race_one, &r), 0);
        assert_int_equal(pthread_create(&b, NULL, void_one, &v), 0);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        pthread_barrier_destroy(&start);
        free(pid);
        /* One or the other: a voided payment has no refund, a refunded one
         * cannot be voided. */
        if (v.status == 200) {
            voided++;
            cJSON *j = cJSON_Parse(r.body);
            int names = r.status == 404 && has_error_field(j, "payment_id");
            cJSON_Delete(j);
            if (!names)
                snprintf(problem, sizeof problem,
                         "round %d: voided, and the refund answered %ld %s (want 404 naming payment_id)", round,
                         r.status, r.body);
        } else if (r.status == 201) {
            refunded++;
            if (v.status != 409)
                snprintf(problem, sizeof problem, "round %d: refunded, and the void answered %ld %.500s", round,
                         v.status, v.body);
        } else {
            snprintf(problem, sizeof problem, "round %d: void %ld %.500s, refund %ld %.500s", round, v.status,
                     v.body, r.status, r.body);
        }
    }
    print_message("# %d voided first, %d refunded first\n", voided, refunded);
    if (problem[0])
        fail_msg("%s", problem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_refunds_race_for_one_balance),
        cmocka_unit_test(sixteen_refunds_of_ten_on_a_hundred),
        cmocka_unit_test(uneven_refunds_leave_the_remainder),
        cmocka_unit_test(same_key_retries_race_into_one_refund),
        cmocka_unit_test(same_key_different_bodies_race),
        cmocka_unit_test(refund_racing_a_void),
    };
    return cmocka_run_group_tests_name("refund_race", tests, setup, teardown);
}
