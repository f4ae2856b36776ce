/* Recover's retry execution through the store alone, without HTTP, the
 * merchant or the PSP: T threads claim due attempts in batches and write
 * each one's outcome (the charge as a transaction, the invoice closed with
 * its history row, a webhook queued), every write durable. The reference,
 * measured in the same run by the same threads on the same database: the
 * cheapest durable write the store has (one small upsert per commit job),
 * so the ratio says how close an attempt's bookkeeping comes to the
 * store's floor.
 *
 *   cc -O2 -D_GNU_SOURCE -Isrc bench/retries_store.c build/librecoup.a \
 *      $(pkg-config --libs sqlite3 libsodium libcjson libmicrohttpd libcurl libpq) -lpthread -lm \
 *      -o /tmp/retries_store
 *   /tmp/retries_store sqlite DB THREADS ATTEMPTS BATCH
 *   /tmp/retries_store postgres DATABASE_URL THREADS ATTEMPTS BATCH
 *
 * Prints one line per phase and a summary line starting with RETRIES. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "store/store.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail_decide(struct rc_invoice *inv, const struct rc_txn *txns, size_t ntxns, int64_t now,
                        struct rc_transition *out)
{
    (void)ntxns;
    memset(out, 0, sizeof *out);
    inv->failed_attempts++;
    inv->amount_due = txns[0].amount;
    str_copy(inv->currency, sizeof inv->currency, txns[0].currency);
    if (!inv->has_dunning_started) {
        inv->has_dunning_started = 1;
        inv->dunning_started_at = now;
    }
    out->changed = !inv->exists;
    str_copy(out->to_state, sizeof out->to_state, "pending");
    str_copy(out->reason, sizeof out->reason, "insufficient_funds");
}

static void txn_for(struct rc_txn *t, const char *id, int success)
{
    memset(t, 0, sizeof *t);
    str_copy(t->transaction_id, sizeof t->transaction_id, id);
    snprintf(t->psp_transaction_id, sizeof t->psp_transaction_id, "ch_%s", id);
    str_copy(t->psp, sizeof t->psp, "recoup");
    str_copy(t->acquirer_country, sizeof t->acquirer_country, "US");
    t->amount = 1999;
    str_copy(t->currency, sizeof t->currency, "EUR");
    str_copy(t->funding_source, sizeof t->funding_source, "credit");
    str_copy(t->payment_method_id, sizeof t->payment_method_id, "pm_bench");
    t->psp_created_at = 1;
    str_copy(t->scheme, sizeof t->scheme, "visa");
    t->success = success;
    str_copy(t->raw_response_message, sizeof t->raw_response_message,
             success ? "approved" : "insufficient_funds");
}

/* Failed invoices inv_<i>, through the inbox as recoupd applies them. */
static int load_invoices(store *s, int n)
{
    for (int i = 0; i < n; i++) {
        struct rc_inbox_row ev;
        memset(&ev, 0, sizeof ev);
        str_copy(ev.merchant_id, sizeof ev.merchant_id, "bench");
        str_copy(ev.env, sizeof ev.env, "sandbox");
        str_copy(ev.kind, sizeof ev.kind, "payment");
        snprintf(ev.fingerprint, sizeof ev.fingerprint, "f%d", i);
        snprintf(ev.request_id, sizeof ev.request_id, "r%d", i);
        ev.payload = (char *)"{}";
        ev.received_at = 1000;
        int dup = 0;
        char rid[72];
        if (s->recover->inbox_append(s, &ev, &dup, rid) != STORE_OK)
            return -1;
    }
    for (;;) {
        struct rc_inbox_row *rows = NULL;
        size_t m = 0;
        if (s->recover->inbox_pending(s, 256, &rows, &m) != STORE_OK)
            return -1;
        if (m == 0) {
            free(rows);
            return 0;
        }
        struct rc_payment_event *evs = calloc(m, sizeof *evs);
        struct rc_txn *txns = calloc(m, sizeof *txns);
        struct rc_apply_item *items = calloc(m, sizeof *items);
        if (!evs || !txns || !items)
            return -1;
        for (size_t k = 0; k < m; k++) {
            struct rc_payment_event *e = &evs[k];
            e->merchant_id = rows[k].merchant_id;
            e->env = rows[k].env;
            e->inbox_seq = rows[k].seq;
            e->received_at = rows[k].received_at;
            const char *num = rows[k].fingerprint + 1;
            snprintf(e->customer.customer_id, sizeof e->customer.customer_id, "cus_%s", num);
            snprintf(e->subscription.subscription_id, sizeof e->subscription.subscription_id, "sub_%s", num);
            e->subscription.start_date = 1;
            e->subscription.discounted = -1;
            snprintf(e->invoice_id, sizeof e->invoice_id, "inv_%s", num);
            e->invoice_created_at = 1;
            char id[32];
            snprintf(id, sizeof id, "t_%s", num);
            txn_for(&txns[k], id, 0);
            e->txns = &txns[k];
            e->ntxns = 1;
            e->decide = fail_decide;
            items[k].payment = e;
        }
        enum store_rc rc = s->recover->apply_events(s, items, m);
        for (size_t k = 0; k < m; k++)
            free(rows[k].payload);
        free(rows);
        free(evs);
        free(txns);
        free(items);
        if (rc != STORE_OK)
            return -1;
    }
}

struct worker {
    store *s;
    int phase; /* 0 plan, 1 execute, 2 reference */
    int first, count;
    int batch;
    char owner[16];
    int done, failed;
};

static int plan_one(store *s, int i)
{
    char invoice[32];
    snprintf(invoice, sizeof invoice, "inv_%d", i);
    struct rc_invoice inv;
    struct rc_txn *t = NULL;
    struct rc_invoice_event *e = NULL;
    size_t nt = 0, ne = 0;
    if (s->recover->invoice_get(s, "bench", "sandbox", invoice, &inv, &t, &nt, &e, &ne) != STORE_OK)
        return -1;
    free(inv.custom);
    rc_txns_free(t, nt);
    free(e);
    struct rc_plan_write w;
    memset(&w, 0, sizeof w);
    str_copy(w.decision.merchant_id, sizeof w.decision.merchant_id, "bench");
    str_copy(w.decision.env, sizeof w.decision.env, "sandbox");
    str_copy(w.decision.invoice_id, sizeof w.decision.invoice_id, invoice);
    str_copy(w.decision.action, sizeof w.decision.action, "retry");
    str_copy(w.decision.reason, sizeof w.decision.reason, "insufficient_funds");
    str_copy(w.decision.explanation, sizeof w.decision.explanation, "payday in the cardholder's time zone");
    w.decision.decided_at = 2000;
    w.decision.planned_at = 3000;
    w.decision.predicted_success = 0.31;
    w.expect_updated_at = inv.updated_at;
    w.retry.attempt_no = 1;
    snprintf(w.retry.attempt_id, sizeof w.retry.attempt_id, "%032d", i);
    w.retry.due_at = 3000;
    str_copy(w.retry.payment_method_id, sizeof w.retry.payment_method_id, "pm_bench");
    w.now = 2000;
    return s->recover->plan_write(s, &w) == STORE_OK ? 0 : -1;
}

static int execute_batch(struct worker *w)
{
    struct rc_retry *rows = NULL;
    size_t n = 0;
    if (w->s->recover->retries_claim(w->s, 3000, w->owner, 60000, w->batch, &rows, &n) != STORE_OK)
        return -1;
    char body[512];
    for (size_t k = 0; k < n; k++) {
        struct rc_txn charge;
        char id[48];
        snprintf(id, sizeof id, "rc_%s", rows[k].attempt_id);
        txn_for(&charge, id, 1);
        struct rc_webhook hook;
        memset(&hook, 0, sizeof hook);
        str_copy(hook.webhook_id, sizeof hook.webhook_id, rows[k].attempt_id);
        str_copy(hook.type, sizeof hook.type, "retry_result");
        str_copy(hook.url, sizeof hook.url, "https://merchant.example.com/webhooks/retry-results");
        snprintf(body, sizeof body, "{\"butter_id\":\"%s\",\"invoice_id\":\"%s\",\"success\":true}",
                 rows[k].attempt_id, rows[k].invoice_id);
        hook.body = body;
        hook.give_up_at = 3000 + 7 * 86400000LL;
        struct rc_attempt_write a;
        memset(&a, 0, sizeof a);
        a.retry = &rows[k];
        a.retry_state = "done";
        a.txn = &charge;
        a.close_state = "recovered";
        a.close_reason = "retry succeeded";
        a.webhooks = &hook;
        a.nwebhooks = 1;
        a.now = 3100;
        if (w->s->recover->attempt_write(w->s, &a) == STORE_OK)
            w->done++;
        else
            w->failed++;
    }
    free(rows);
    return (int)n;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    if (w->phase == 0) {
        for (int i = w->first; i < w->first + w->count; i++)
            if (plan_one(w->s, i) == 0)
                w->done++;
            else
                w->failed++;
    } else if (w->phase == 1) {
        for (;;) {
            int got = execute_batch(w);
            if (got <= 0) {
                w->failed += got < 0;
                break;
            }
        }
    } else {
        char scope[32];
        for (int i = 0; i < w->count; i++) {
            snprintf(scope, sizeof scope, "%s-%d", w->owner, i % 64);
            if (w->s->recover->model_put(w->s, scope, "reference", 9, 1) == STORE_OK)
                w->done++;
            else
                w->failed++;
        }
    }
    return NULL;
}

static double run_phase(store *s, int phase, int threads, int total, int batch, int *done, int *failed)
{
    struct worker *ws = calloc((size_t)threads, sizeof *ws);
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    if (!ws || !th)
        exit(1);
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        ws[i].s = s;
        ws[i].phase = phase;
        ws[i].first = total / threads * i;
        ws[i].count = i == threads - 1 ? total - ws[i].first : total / threads;
        ws[i].batch = batch;
        snprintf(ws[i].owner, sizeof ws[i].owner, "w%d", i);
        pthread_create(&th[i], NULL, run, &ws[i]);
    }
    *done = *failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        *done += ws[i].done;
        *failed += ws[i].failed;
    }
    double secs = now_s() - t0;
    free(ws);
    free(th);
    return secs;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s sqlite|postgres DB_OR_URL THREADS ATTEMPTS BATCH\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[3]), total = atoi(argv[4]), batch = atoi(argv[5]);
    if (threads < 1 || total < threads || batch < 1)
        return 2;
    struct store_options opt = {.sqlite_path = argv[2], .commit_batch_max = 512, .database_url = argv[2],
                                .pg_pool_size = threads + 2};
    char err[512];
    store *s = store_open(argv[1], &opt, err, sizeof err);
    if (!s) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double t0 = now_s();
    if (load_invoices(s, total) != 0) {
        fprintf(stderr, "loading the invoices failed\n");
        return 1;
    }
    printf("load %d failed invoices: %.2f s\n", total, now_s() - t0);
    int done, failed;
    double plan = run_phase(s, 0, threads, total, batch, &done, &failed);
    printf("plan: %d decisions in %.2f s = %.0f/s (%d failed)\n", done, plan, done / plan, failed);
    double exec = run_phase(s, 1, threads, total, batch, &done, &failed);
    double attempts = done / exec;
    printf("execute: %d attempts in %.2f s = %.0f/s (%d failed)\n", done, exec, attempts, failed);
    int rdone, rfailed;
    double ref = run_phase(s, 2, threads, total, batch, &rdone, &rfailed);
    double writes = rdone / ref;
    printf("reference: %d single-row durable writes in %.2f s = %.0f/s (%d failed)\n", rdone, ref, writes, rfailed);
    printf("RETRIES backend=%s threads=%d batch=%d plans_per_s=%.0f attempts_per_s=%.0f reference_writes_per_s=%.0f "
           "ratio=%.2f failed=%d\n",
           argv[1], threads, batch, total / plan, attempts, writes, attempts / writes, failed + rfailed);
    store_close(s);
    return failed || rfailed ? 1 : 0;
}
