/* The webhook dispatcher alone, against a local receiver that answers 200
 * at once: N deliveries are written to a SQLite outbox (as Recover writes
 * them, with a planner decision), then one dispatcher sends them all and
 * the time until the last result is recorded is measured.
 *
 *   driver dispatch DB URL N CONCURRENCY        the dispatcher, store and all;
 *                                               DB is a SQLite file, or a
 *                                               postgresql:// URL of an
 *                                               empty database
 *   driver raw URL N CONCURRENCY                the same requests through one
 *                                               curl multi handle, no store
 *                                               (the reference of the run)
 *
 * Prints one line "RESULT key=value ..." on stdout. */
#include <curl/curl.h>
#include <sys/resource.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "core/crypto.h"
#include "recover/recover.h"
#include "recover/webhooks.h"
#include "store/store.h"

#define BODY_EXAMPLE                                                                                              \
    "{\"timestamp\":\"2026-11-21T10:00:00.000Z\",\"butter_id\":\"0123456789abcdef0123456789abcdef\","             \
    "\"customer_id\":\"cus_1\",\"subscription_id\":\"sub_1\",\"invoice_id\":\"in_bench\",\"transaction_id\":"    \
    "\"txn_1\",\"original_psp_transaction_id\":\"ch_1\",\"psp_transactions\":[{\"psp_transaction_id\":\"ch_2\","  \
    "\"network_transaction_id\":\"483297487231504\",\"merchant_payment_method_id\":\"pm_1\",\"success\":true}],"  \
    "\"original_amount\":12.23,\"amount_collected\":12.23,\"currency\":\"USD\",\"success\":true,"               \
    "\"dunning_complete\":true,\"custom\":{\"plan\":\"premium\",\"seats\":3}}"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU seconds this process used (all threads, user and system): on a
 * machine shared with other work it varies far less than throughput. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "driver: %s\n", what);
    exit(1);
}

static void setup_merchant(struct app *app)
{
    struct merchant_row m;
    memset(&m, 0, sizeof m);
    str_copy(m.merchant_id, sizeof m.merchant_id, "bench");
    str_copy(m.name, sizeof m.name, "bench");
    if (app->store->ops->merchant_create(app->store, &m) != STORE_OK)
        die("merchant_create");
    struct rc_settings s;
    if (recover_settings_load(app, "bench", &s) != STORE_OK)
        die("settings");
    char *sealed = crypto_seal_text(app->card_key, "whsec_bench_secret");
    str_copy(s.webhook_secret, sizeof s.webhook_secret, sealed);
    free(sealed);
    if (app->store->recover->settings_put(app->store, &s) != STORE_OK)
        die("settings_put");
    const char *payload =
        "{\"customer\":{\"id\":\"cus_1\"},\"subscription\":{\"id\":\"sub_1\",\"start_date\":\"2024-01-01T00:00:00Z\"},"
        "\"invoice\":{\"id\":\"in_bench\",\"created_at\":\"2024-03-01T00:00:00Z\"},\"transactions\":[{\"id\":\"txn_1\","
        "\"psp_transaction_id\":\"ch_1\",\"psp\":\"stripe\",\"acquirer_country\":\"US\",\"amount\":12.23,"
        "\"currency\":\"USD\",\"funding_source\":\"credit\",\"outcome\":{\"raw_response_message\":"
        "\"insufficient_funds\"},\"payment_method_id\":\"pm_1\",\"psp_transaction_created_at\":"
        "\"2024-03-01T10:00:00Z\",\"scheme\":\"visa\",\"success\":false}]}";
    struct rc_inbox_row ev;
    memset(&ev, 0, sizeof ev);
    str_copy(ev.merchant_id, sizeof ev.merchant_id, "bench");
    str_copy(ev.env, sizeof ev.env, "sandbox");
    str_copy(ev.kind, sizeof ev.kind, "payment");
    crypto_sha256_hex(payload, strlen(payload), ev.fingerprint);
    str_copy(ev.request_id, sizeof ev.request_id, "req_bench");
    ev.payload = (char *)payload;
    ev.received_at = clock_now_ms(app->clock);
    int dup;
    char rid[72];
    if (app->store->recover->inbox_append(app->store, &ev, &dup, rid) != STORE_OK ||
        recover_process_pending(app, 10) < 1)
        die("invoice");
}

/* n deliveries in batches of plan writes, each carrying many webhooks. */
static void enqueue(struct app *app, const char *url, int n)
{
    cJSON *body = cJSON_Parse(BODY_EXAMPLE);
    const int per_write = 2000;
    struct rc_webhook *w = calloc((size_t)per_write, sizeof *w);
    for (int done = 0; done < n;) {
        int k = n - done < per_write ? n - done : per_write;
        int64_t now = clock_now_ms(app->clock);
        for (int i = 0; i < k; i++) {
            char key[32];
            snprintf(key, sizeof key, "attempt-%d", done + i);
            if (rc_webhook_make(&w[i], "bench", "sandbox", RC_WEBHOOK_RETRY_RESULT, "in_bench", url, key, body, now,
                                7 * 86400000LL) != 0)
                die("rc_webhook_make");
        }
        struct rc_invoice inv;
        struct rc_txn *txns = NULL;
        size_t nt = 0;
        struct rc_invoice_event *evs = NULL;
        size_t ne = 0;
        if (app->store->recover->invoice_get(app->store, "bench", "sandbox", "in_bench", &inv, &txns, &nt, &evs, &ne) !=
            STORE_OK)
            die("invoice_get");
        rc_txns_free(txns, nt);
        free(evs);
        free(inv.custom);
        struct rc_plan_write pw;
        memset(&pw, 0, sizeof pw);
        str_copy(pw.decision.merchant_id, sizeof pw.decision.merchant_id, "bench");
        str_copy(pw.decision.env, sizeof pw.decision.env, "sandbox");
        str_copy(pw.decision.invoice_id, sizeof pw.decision.invoice_id, "in_bench");
        pw.decision.decided_at = now;
        str_copy(pw.decision.action, sizeof pw.decision.action, "wait_payment_method");
        pw.expect_updated_at = inv.updated_at;
        pw.webhooks = w;
        pw.nwebhooks = (size_t)k;
        pw.now = now;
        if (app->store->recover->plan_write(app->store, &pw) != STORE_OK)
            die("plan_write");
        for (int i = 0; i < k; i++)
            free(w[i].body);
        done += k;
    }
    free(w);
    cJSON_Delete(body);
}

static int dispatch(const char *db, const char *url, int n, int concurrency)
{
    struct app app;
    memset(&app, 0, sizeof app);
    app.clock = clock_new_real();
    randombytes_buf(app.card_key, sizeof app.card_key);
    int pg = strncmp(db, "postgres", 8) == 0;
    struct store_options opt = {.sqlite_path = db, .commit_batch_max = 512, .database_url = db, .pg_pool_size = 16};
    char err[256];
    if (!(app.store = store_open(pg ? "postgres" : "sqlite", &opt, err, sizeof err)))
        die(err);
    setup_merchant(&app);
    double t0 = now_s();
    enqueue(&app, url, n);
    double enqueue_s = now_s() - t0;
    app.webhooks.retry_interval_s = 43200;
    app.webhooks.retry_for_s = 604800;
    app.webhooks.expiry_s = 300;
    app.webhooks.connect_timeout_ms = 2000;
    app.webhooks.timeout_ms = 10000;
    app.webhooks.concurrency = concurrency;
    double start = now_s(), cpu0 = cpu_s();
    if (webhook_dispatcher_start(&app) != 0)
        die("dispatcher");
    struct webhook_dispatcher_stats st;
    for (;;) {
        webhook_dispatcher_stats(&app, &st);
        if (st.delivered + st.retried + st.failed >= n || now_s() - start > 120)
            break;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    double elapsed = now_s() - start, cpu = cpu_s() - cpu0;
    webhook_dispatcher_stop(&app);
    /* A delivery's life: it waits for its batch's claim, then (signed)
     * for a free transfer, then for its answer, then for its result's
     * durable write; the means of the four, and each one's share of their
     * sum. */
    double claim_ms = st.claim_calls ? st.claim_ns / 1e6 / (double)st.claim_calls : 0;
    double done = (double)(st.delivered + st.retried + st.failed);
    double send_ms = done > 0 ? st.send_ns / 1e6 / done : 0;
    double record_ms = done > 0 ? st.record_ns / 1e6 / done : 0;
    double wait_ms = done > 0 ? st.wait_ns / 1e6 / done : 0;
    double sum = claim_ms + wait_ms + send_ms + record_ms;
    printf("RESULT mode=dispatch n=%d concurrency=%d delivered=%lld not_accepted=%lld failed=%lld elapsed_s=%.3f "
           "rate=%.0f enqueue_s=%.3f claim_calls=%lld claim_ms=%.2f wait_ms=%.2f send_ms=%.2f record_ms=%.2f "
           "claim_share=%.3f wait_share=%.3f send_share=%.3f record_share=%.3f cpu_us=%.1f\n",
           n, concurrency, (long long)st.delivered, (long long)st.retried, (long long)st.failed, elapsed,
           st.delivered / elapsed, enqueue_s, (long long)st.claim_calls, claim_ms, wait_ms, send_ms, record_ms,
           sum > 0 ? claim_ms / sum : 0, sum > 0 ? wait_ms / sum : 0, sum > 0 ? send_ms / sum : 0,
           sum > 0 ? record_ms / sum : 0,
           done > 0 ? cpu * 1e6 / done : 0);
    store_close(app.store);
    clock_free(app.clock);
    return st.delivered == n ? 0 : 1;
}

static size_t discard(char *p, size_t s, size_t m, void *u)
{
    (void)p;
    (void)u;
    return s * m;
}

/* The reference: the same POSTs with the same headers through one curl
 * multi handle, no store, no signing. */
static int raw(const char *url, int n, int concurrency)
{
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)concurrency);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)concurrency);
    CURL **easy = calloc((size_t)concurrency, sizeof *easy);
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    h = curl_slist_append(h, "X-Butter-Webhook-Type: retry_result");
    h = curl_slist_append(h, "X-Butter-Webhook-Expiration: 1700000300");
    h = curl_slist_append(h, "X-Butter-Webhook-Expires: 1700000300");
    h = curl_slist_append(h, "X-Butter-Webhook-Deduplication-ID: 0123456789abcdef0123456789abcdef");
    h = curl_slist_append(h, "X-Butter-Webhook-Signature: 0000000000000000000000000000000000000000000000000000000000000000");
    int started = 0, finished = 0, ok = 0;
    double start = now_s(), cpu0 = cpu_s();
    for (int i = 0; i < concurrency && started < n; i++, started++) {
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, url);
        curl_easy_setopt(easy[i], CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(easy[i], CURLOPT_POSTFIELDS, BODY_EXAMPLE);
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(easy[i], CURLOPT_NOSIGNAL, 1L);
        curl_multi_add_handle(multi, easy[i]);
    }
    while (finished < n) {
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            long status = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            ok += m->data.result == CURLE_OK && status == 200;
            finished++;
            CURL *e = m->easy_handle;
            curl_multi_remove_handle(multi, e);
            if (started < n) {
                started++;
                curl_multi_add_handle(multi, e);
            }
        }
        curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    double elapsed = now_s() - start, cpu = cpu_s() - cpu0;
    printf("RESULT mode=raw n=%d concurrency=%d ok=%d elapsed_s=%.3f rate=%.0f cpu_us=%.1f\n", n, concurrency, ok,
           elapsed, n / elapsed, cpu * 1e6 / n);
    for (int i = 0; i < concurrency; i++)
        if (easy[i])
            curl_easy_cleanup(easy[i]);
    free(easy);
    curl_slist_free_all(h);
    curl_multi_cleanup(multi);
    return ok == n ? 0 : 1;
}

static int arg_int(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 1 || v > 10000000)
        die("counts must be whole numbers from 1 to 10000000");
    return (int)v;
}

int main(int argc, char **argv)
{
    if (crypto_init() != 0)
        die("libsodium");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc;
    if (argc == 6 && strcmp(argv[1], "dispatch") == 0)
        rc = dispatch(argv[2], argv[3], arg_int(argv[4]), arg_int(argv[5]));
    else if (argc == 5 && strcmp(argv[1], "raw") == 0)
        rc = raw(argv[2], arg_int(argv[3]), arg_int(argv[4]));
    else {
        fprintf(stderr, "usage: driver dispatch DB URL N CONCURRENCY | driver raw URL N CONCURRENCY\n");
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
