/* "Submitted for processing" means stored durably: events acknowledged
 * right before a SIGKILL, whether the worker had applied them or not, are
 * all applied after a restart on the same data, each exactly once. */
#include <pthread.h>
#include <signal.h>

#include "rc_common.h"

enum { WRITERS = 4, INVOICES_PER_WRITER = 10, EVENTS_PER_INVOICE = 5 };

static rserver srv;
static struct rc_keys keys;

struct writer {
    int index;
    int acked;    /* events acknowledged with a 200 */
    int repeated; /* duplicates acknowledged with the first request id */
    char first_request[80];
};

static void invoice_id(char *out, size_t outsz, int writer, int inv)
{
    snprintf(out, outsz, "crash-%d-%d", writer, inv);
}

static cJSON *event(int writer, int inv, int k)
{
    char id[48], txn[64], at[40];
    invoice_id(id, sizeof id, writer, inv);
    snprintf(txn, sizeof txn, "%s-t%d", id, k);
    snprintf(at, sizeof at, "2024-03-%02dT10:00:00Z", k + 1);
    cJSON *p = rc_event(id, "cus_crash", txn, 0, "insufficient_funds", at);
    char amount[16];
    snprintf(amount, sizeof amount, "%d.%02d", 10 + k, inv);
    rc_set(p, "transactions[0].amount", amount);
    return p;
}

static int post(const cJSON *p, char *request_id, size_t sz)
{
    char *text = cJSON_PrintUnformatted(p);
    hres *r = rc_do(&srv, keys.sandbox, "POST", "/recover/payments", text);
    free(text);
    int ok = r->status == 200 && jstr(r->json, "request_id");
    if (ok && request_id)
        snprintf(request_id, sz, "%s", jstr(r->json, "request_id"));
    hres_free(r);
    return ok;
}

/* Events of one invoice go in order; writers run side by side. */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (int k = 0; k < EVENTS_PER_INVOICE; k++)
        for (int inv = 0; inv < INVOICES_PER_WRITER; inv++) {
            cJSON *p = event(w->index, inv, k);
            char rid[80];
            int ok = post(p, rid, sizeof rid);
            if (ok && k == 0 && inv == 0)
                snprintf(w->first_request, sizeof w->first_request, "%s", rid);
            cJSON_Delete(p);
            if (!ok)
                return NULL;
            w->acked++;
        }
    /* A resend of the first event: acknowledged, never applied twice. */
    cJSON *p = event(w->index, 0, 0);
    char rid[80];
    if (post(p, rid, sizeof rid) && strcmp(rid, w->first_request) == 0)
        w->repeated++;
    cJSON_Delete(p);
    return NULL;
}

static void killed_after_the_last_acknowledgement(void **state)
{
    (void)state;
    server_start(&srv, RC_FIXTURE_CLOCK);
    rc_read_keys(&srv, &keys);
    /* No retries of Recover's own: this test counts the merchant's events. */
    hres *set = rc_admin(&srv, "PUT", "/admin/merchants/sandbox/recover", "{\"max_retries\": 0}");
    CHECK_STATUS(set, 200);
    hres_free(set);
    struct writer ws[WRITERS];
    pthread_t th[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        memset(&ws[i], 0, sizeof ws[i]);
        ws[i].index = i;
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &ws[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    server_kill(&srv, SIGKILL);

    int total = 0;
    for (int i = 0; i < WRITERS; i++) {
        if (ws[i].acked != INVOICES_PER_WRITER * EVENTS_PER_INVOICE || ws[i].repeated != 1)
            fail_msg("writer %d: %d events acknowledged, %d duplicates recognised", i, ws[i].acked, ws[i].repeated);
        total += ws[i].acked;
    }
    assert_int_equal(total, 200);

    server_restart(&srv, RC_FIXTURE_CLOCK);
    for (int w = 0; w < WRITERS; w++)
        for (int inv = 0; inv < INVOICES_PER_WRITER; inv++) {
            char id[48];
            invoice_id(id, sizeof id, w, inv);
            /* Applied exactly once: every transaction, once, in order. The
             * invoice's state and counters are the planner's business (with
             * no retries allowed it ends dunning after the first failure it
             * sees, and a closed invoice records later transactions without
             * counting them), which this test is not about. */
            struct rc_want want = {NULL, EVENTS_PER_INVOICE, -1, -1};
            hres *r = rc_wait(&srv, keys.sandbox, id, want);
            RC_WAIT_OK(r, want);
            /* Each transaction once, in order. */
            const cJSON *txns = jobj(r->json, "transactions");
            int merchants = 0;
            const cJSON *t;
            cJSON_ArrayForEach(t, txns) merchants += strcmp(js(t, "origin"), "merchant") == 0;
            CHECK(r, merchants == EVENTS_PER_INVOICE);
            for (int k = 0; k < EVENTS_PER_INVOICE; k++) {
                char txn[64];
                snprintf(txn, sizeof txn, "%s-t%d", id, k);
                CHECK(r, strcmp(js(cJSON_GetArrayItem(txns, k), "transaction_id"), txn) == 0);
            }
            CHECK(r, strcmp(js(r->json, "dunning_started_at"), "2024-03-01T10:00:00.000Z") == 0);
            hres_free(r);
        }

    /* After the restart the duplicates are still recognised. */
    cJSON *p = event(0, 0, 0);
    char rid[80];
    assert_true(post(p, rid, sizeof rid));
    assert_string_equal(rid, ws[0].first_request);
    cJSON_Delete(p);

    int rc = server_stop(&srv);
    assert_int_equal(rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(killed_after_the_last_acknowledgement),
    };
    return cmocka_run_group_tests_name("rc_crash", tests, NULL, NULL);
}
