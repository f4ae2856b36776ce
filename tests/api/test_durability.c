/* Durability: a 201 means the write is on disk. Payments and refunds
 * acknowledged before a SIGKILL (right after the last answer, or in the
 * middle of the traffic) are all there after a restart, with the same
 * amounts, and their idempotency keys still replay; so are settlements,
 * merchants, keys and key revocations made through the admin API. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "ref_helpers.h"

enum { WRITERS = 8, PER_WRITER = 25, MAX_PER_WRITER = 400 };

struct acked {
    char payment_id[201];
    char payment_amount[16];
    char refund_id[201]; /* "" when the refund was not acknowledged */
    char refund_amount[16];
};

struct writer {
    rserver *s;
    int index, count; /* count: payments to create, or 0 to run until stopped */
    atomic_int *stop;
    atomic_int *acked_total;
    int n;
    struct acked *done;
    long stopped_by; /* the HTTP status that stopped this writer early (0: none came) */
    char stopped_body[200];
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    int limit = w->count ? w->count : MAX_PER_WRITER;
    for (int i = 0; i < limit && !atomic_load(w->stop); i++) {
        struct acked *a = &w->done[w->n];
        snprintf(a->payment_amount, sizeof a->payment_amount, "%d.%02d", 10 + w->index, i % 100);
        char body[600];
        snprintf(body, sizeof body,
                 "{\"amount\":%s,\"payment_method\":\"credit_card\",\"additional_params\":{\"number\":"
                 "\"5555555555554444\",\"name\":\"Durable Test\",\"expiration_month\":\"12\","
                 "\"expiration_year\":\"%s\",\"cvv\":\"123\"}}",
                 a->payment_amount, future_year());
        hres *r = gw_do(w->s, "POST", w->s->payments, "/api/payments", body);
        int ok = r->status == 201 && is_payment_id(jstr(r->json, "payment_id"));
        if (ok)
            snprintf(a->payment_id, sizeof a->payment_id, "%s", jstr(r->json, "payment_id"));
        if (!ok) {
            w->stopped_by = r->status;
            snprintf(w->stopped_body, sizeof w->stopped_body, "%s", r->body ? r->body : "");
        }
        hres_free(r);
        if (!ok)
            break;
        a->refund_id[0] = '\0';
        w->n++;
        atomic_fetch_add(w->acked_total, 1);

        snprintf(a->refund_amount, sizeof a->refund_amount, "%d.%02d", 1 + i % 9, w->index);
        r = refund_post(w->s, a->payment_id, a->refund_amount);
        ok = r->status == 201 && is_refund_id(jstr(r->json, "refund_id"));
        if (ok)
            snprintf(a->refund_id, sizeof a->refund_id, "%s", jstr(r->json, "refund_id"));
        if (!ok) {
            w->stopped_by = r->status;
            snprintf(w->stopped_body, sizeof w->stopped_body, "refund: %s", r->body ? r->body : "");
        }
        hres_free(r);
        if (!ok)
            break;
        atomic_fetch_add(w->acked_total, 1);
    }
    return NULL;
}

/* Runs the writers; with count 0 they run until stop_after acknowledged
 * writes, when the server is killed under them. Returns the writers. */
static struct writer *write_then_kill(rserver *s, int count, int stop_after)
{
    static struct writer ws[WRITERS];
    atomic_int stop = 0, acked_total = 0;
    pthread_t th[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        memset(&ws[i], 0, sizeof ws[i]);
        ws[i].s = s;
        ws[i].index = i;
        ws[i].count = count;
        ws[i].stop = &stop;
        ws[i].acked_total = &acked_total;
        ws[i].done = calloc(MAX_PER_WRITER, sizeof *ws[i].done);
        assert_non_null(ws[i].done);
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &ws[i]), 0);
    }
    if (count) {
        for (int i = 0; i < WRITERS; i++)
            pthread_join(th[i], NULL);
        server_kill(s, SIGKILL);
    } else {
        for (int i = 0; i < 1000 && atomic_load(&acked_total) < stop_after; i++)
            sleep_ms(10);
        server_kill(s, SIGKILL);
        atomic_store(&stop, 1);
        for (int i = 0; i < WRITERS; i++)
            pthread_join(th[i], NULL);
    }
    return ws;
}

/* Checks every acknowledged write against the restarted server; returns
 * how many payments were acknowledged. */
static int verify_all(rserver *s, struct writer *ws)
{
    int payments = 0, refunds = 0, missing = 0;
    for (int i = 0; i < WRITERS; i++) {
        for (int k = 0; k < ws[i].n; k++) {
            const struct acked *a = &ws[i].done[k];
            payments++;
            hres *p = payment_get(s, a->payment_id);
            int ok = p->status == 200 && has_raw(p, "amount", a->payment_amount) &&
                     strcmp(rs(p->json, "status"), "success") == 0;
            if (ok && a->refund_id[0])
                ok = has_raw(p, "refunded_amount", a->refund_amount);
            if (!ok && missing++ == 0)
                print_error("payment %.24s... amount %s refund %s: status %ld body %.300s\n", a->payment_id,
                            a->payment_amount, a->refund_id[0] ? a->refund_amount : "-", p->status, p->body);
            hres_free(p);
            if (!a->refund_id[0])
                continue;
            refunds++;
            char path[300];
            snprintf(path, sizeof path, "/api/refunds/%s", a->refund_id);
            hres *r = gw_do(s, "GET", s->refunds, path, NULL);
            ok = r->status == 200 && has_raw(r, "amount", a->refund_amount) &&
                 strcmp(rs(r->json, "payment_id"), a->payment_id) == 0;
            if (!ok && missing++ == 0)
                print_error("refund %.24s...: status %ld body %.300s\n", a->refund_id, r->status, r->body);
            hres_free(r);
        }
    }
    print_message("# %d payments and %d refunds acknowledged before the kill\n", payments, refunds);
    assert_int_equal(missing, 0);
    return payments;
}

static void free_writers(struct writer *ws)
{
    for (int i = 0; i < WRITERS; i++) {
        free(ws[i].done);
        ws[i].done = NULL;
    }
}

static void ready_after_restart(rserver *s)
{
    hres *h = http_do("GET", s->admin, "/readyz", NULL, NULL);
    R_STATUS(h, 200);
    R_CHECK(h, strcmp(rs(h->json, "status"), "ready") == 0);
    hres_free(h);
}

static void kill_right_after_the_last_201(void **state)
{
    (void)state;
    rserver s;
    server_start(&s, NULL);
    /* An idempotent refund made before the kill. */
    char *pid = make_card_payment(&s, "4242424242424242", "30.00");
    const char *key[] = {"Idempotency-Key: durable-refund", NULL};
    hres *first = refund_post_h(&s, pid, "7.00", key);
    R_STATUS(first, 201);

    struct writer *ws = write_then_kill(&s, PER_WRITER, 0);
    /* Every write of this case is answered before the kill: a writer that
     * stopped early says what stopped it. */
    for (int i = 0; i < WRITERS; i++)
        if (ws[i].n != PER_WRITER || ws[i].stopped_by)
            fail_msg("writer %d stopped after %d payments: status %ld, %s", i, ws[i].n, ws[i].stopped_by,
                     ws[i].stopped_body);
    server_restart(&s, NULL);
    ready_after_restart(&s);
    int payments = verify_all(&s, ws);
    assert_int_equal(payments, WRITERS * PER_WRITER);

    /* Exactly what was acknowledged, nothing twice. */
    hres *l = gw_do(&s, "GET", s.refunds, "/api/refunds?limit=1000", NULL);
    R_STATUS(l, 200);
    R_CHECK(l, cJSON_GetArraySize(l->json) == WRITERS * PER_WRITER + 1);
    hres_free(l);
    l = gw_do(&s, "GET", s.payments, "/api/payments?limit=1000", NULL);
    R_STATUS(l, 200);
    R_CHECK(l, cJSON_GetArraySize(l->json) == WRITERS * PER_WRITER + 1);
    hres_free(l);

    /* The idempotency key outlived the kill. */
    hres *again = refund_post_h(&s, pid, "7.00", key);
    R_STATUS(again, 201);
    char *rep = hres_header(again, "Idempotent-Replayed");
    R_CHECK(again, rep && strcmp(rep, "true") == 0);
    free(rep);
    R_CHECK(again, strcmp(rs(again->json, "refund_id"), rs(first->json, "refund_id")) == 0);
    hres_free(again);
    hres_free(first);

    /* New writes after the restart page correctly with the old ones. */
    char *newer = make_card_payment(&s, "4242424242424242", "1.23");
    l = gw_do(&s, "GET", s.payments, "/api/payments?limit=1", NULL);
    R_STATUS(l, 200);
    R_CHECK(l, strcmp(rs(cJSON_GetArrayItem(l->json, 0), "payment_id"), newer) == 0);
    char *cursor = hres_header(l, "X-Next-Cursor");
    R_CHECK(l, cursor != NULL);
    hres_free(l);
    char path[200];
    snprintf(path, sizeof path, "/api/payments?limit=1000&cursor=%s", cursor ? cursor : "");
    l = gw_do(&s, "GET", s.payments, path, NULL);
    R_STATUS(l, 200);
    R_CHECK(l, cJSON_GetArraySize(l->json) == WRITERS * PER_WRITER + 1 && strstr(l->body, newer) == NULL);
    hres_free(l);
    char *rid = make_refund(&s, newer, "1.23");
    free(rid);
    free(cursor);
    free(newer);
    free(pid);
    free_writers(ws);
    assert_int_equal(server_stop(&s), 0);
}

static void kill_in_the_middle_of_the_traffic(void **state)
{
    (void)state;
    rserver s;
    server_start(&s, NULL);
    struct writer *ws = write_then_kill(&s, 0, 150);
    server_restart(&s, NULL);
    ready_after_restart(&s);
    int payments = verify_all(&s, ws);
    assert_true(payments > 0);

    /* Writes go on where they stopped. */
    char *pid = make_card_payment(&s, "4242424242424242", "5.00");
    char *rid = make_refund(&s, pid, "5.00");
    free(rid);
    free(pid);
    free_writers(ws);
    assert_int_equal(server_stop(&s), 0);
}

static void admin_writes_survive_a_kill(void **state)
{
    (void)state;
    rserver s;
    server_start(&s, NULL);
    char kept[200], revoked[200];
    ref_merchant_key(&s, "durable_m", kept, sizeof kept);
    static const char *const json[] = {"Content-Type: application/json", NULL};
    hres *k = http_do("POST", s.admin, "/admin/merchants/durable_m/keys", json,
                      "{\"service\":\"gateway\",\"env\":\"sandbox\"}");
    R_STATUS(k, 201);
    snprintf(revoked, sizeof revoked, "%s", rs(k->json, "api_key"));
    char path[200];
    snprintf(path, sizeof path, "/admin/merchants/durable_m/keys/%s", rs(k->json, "key_id"));
    hres_free(k);
    k = http_do("DELETE", s.admin, path, NULL, NULL);
    R_STATUS(k, 200);
    hres_free(k);

    char *pid = make_card_payment(&s, "4242424242424242", "45.00");
    char *rid = make_refund(&s, pid, "5.00");
    assert_int_equal(ref_settle(&s), 1);
    hres *before = payment_get(&s, pid);
    R_CHECK(before, strcmp(rs(before->json, "status"), "settled") == 0);
    server_kill(&s, SIGKILL);

    server_restart(&s, NULL);
    ready_after_restart(&s);
    /* The settlement, exactly as answered. */
    hres *after = payment_get(&s, pid);
    R_STATUS(after, 200);
    R_CHECK(after, strcmp(before->body, after->body) == 0);
    hres_free(before);
    hres_free(after);
    /* The merchant and its keys: the kept one works, the revoked one not. */
    hres *r = ref_key_do(kept, "GET", s.payments, "/api/payments", NULL);
    R_STATUS(r, 200);
    R_CHECK(r, cJSON_IsArray(r->json) && cJSON_GetArraySize(r->json) == 0);
    hres_free(r);
    r = ref_key_do(revoked, "GET", s.payments, "/api/payments", NULL);
    R_STATUS(r, 401);
    hres_free(r);
    r = http_do("GET", s.admin, "/admin/merchants/durable_m", NULL, NULL);
    R_STATUS(r, 200);
    R_CHECK(r, strcmp(rs(r->json, "merchant_id"), "durable_m") == 0);
    hres_free(r);
    /* Nothing to settle twice. */
    assert_int_equal(ref_settle(&s), 0);
    free(rid);
    free(pid);
    assert_int_equal(server_stop(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kill_right_after_the_last_201),
        cmocka_unit_test(kill_in_the_middle_of_the_traffic),
        cmocka_unit_test(admin_writes_survive_a_kill),
    };
    return cmocka_run_group_tests_name("durability", tests, NULL, NULL);
}
