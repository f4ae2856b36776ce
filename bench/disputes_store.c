/* Disputes store throughput without HTTP: T threads insert N records
 * through the store interface (the same group commit recoupd uses, every
 * commit fsync'd), so the cost of the storage alone can be told apart from
 * the cost of serving HTTP. Also a loader: records land in the sandbox
 * merchant's staging environment of the database given.
 *
 *   cc -O2 -Isrc bench/disputes_store.c build/librecoup.a \
 *      $(pkg-config --libs sqlite3 libsodium libcjson libmicrohttpd libcurl libpq) -lpthread -lm \
 *      -o /tmp/disputes_store
 *   /tmp/disputes_store DB THREADS RECORDS
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "store/store.h"

struct worker {
    store *s;
    int first, count, failed;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    struct dsp_record_row *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    char existing[DSP_RECORD_ID_MAX];
    int64_t now = now_ms();
    for (int k = 0; k < w->count; k++) {
        int i = w->first + k;
        memset(r, 0, sizeof *r);
        str_copy(r->merchant_id, sizeof r->merchant_id, "sandbox");
        str_copy(r->environment, sizeof r->environment, "staging");
        /* Ids as the service makes them: uniformly spread, not ordered. */
        uint64_t h = (uint64_t)i * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 32;
        snprintf(r->record_id, sizeof r->record_id, "rec_%016llx%08x", (unsigned long long)h, (unsigned)i);
        snprintf(r->content_hash, sizeof r->content_hash, "store%027d", i);
        r->received_at = now;
        r->purchased_at = now - (int64_t)((i * 104729LL) % 46656000) * 1000;
        snprintf(r->customer_email, sizeof r->customer_email, "customer%d@example.com", i % 200000);
        str_copy(r->email_norm, sizeof r->email_norm, r->customer_email);
        unsigned u = (unsigned)i;
        snprintf(r->ipv4_address, sizeof r->ipv4_address, "10.%u.%u.%u", (u / 65536) % 256, (u / 256) % 256, u % 256);
        str_copy(r->psp, sizeof r->psp, "stripe");
        snprintf(r->customer_id, sizeof r->customer_id, "cus_%d", i % 200000);
        snprintf(r->invoice_id, sizeof r->invoice_id, "in_s%d", i);
        snprintf(r->charge_id, sizeof r->charge_id, "ch_s%d", i);
        str_copy(r->user_agent, sizeof r->user_agent, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0");
        snprintf(r->device_id, sizeof r->device_id, "dev_%d", i % 150000);
        snprintf(r->account_id, sizeof r->account_id, "acct_%d", i % 100000);
        snprintf(r->payment_credential, sizeof r->payment_credential, "card_fp_%d", i % 100000);
        r->has_amount = 1;
        r->amount = 100 + i % 10000;
        str_copy(r->currency, sizeof r->currency, "EUR");
        str_copy(r->product_description, sizeof r->product_description, "Monthly plan");
        enum store_rc rc = w->s->disputes->record_insert(w->s, r, existing);
        if (rc != STORE_OK && rc != STORE_REPLAY)
            w->failed++;
    }
    free(r);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s DB THREADS RECORDS\n", argv[0]);
        return 2;
    }
    int64_t threads = 0, records = 0;
    if (str_to_i64(argv[2], &threads) != 0 || threads < 1 || threads > 1024 || str_to_i64(argv[3], &records) != 0 ||
        records < threads || records > 100000000) {
        fprintf(stderr, "THREADS must be 1 to 1024 and RECORDS at least THREADS\n");
        return 2;
    }
    crypto_init();
    char err[512];
    struct store_options opt = {.sqlite_path = argv[1], .commit_batch_max = 512};
    store *s = store_open("sqlite", &opt, err, sizeof err);
    if (!s) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct merchant_row m = {.created_at = now_ms()};
    str_copy(m.merchant_id, sizeof m.merchant_id, "sandbox");
    str_copy(m.name, sizeof m.name, "Sandbox merchant");
    s->ops->merchant_create(s, &m);
    int nthreads = (int)threads, total = (int)records;
    pthread_t *tid = calloc((size_t)nthreads, sizeof *tid);
    struct worker *w = calloc((size_t)nthreads, sizeof *w);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int t = 0; t < nthreads; t++) {
        w[t].s = s;
        w[t].first = 1 + t * (total / nthreads);
        w[t].count = total / nthreads;
        pthread_create(&tid[t], NULL, run, &w[t]);
    }
    int failed = 0;
    for (int t = 0; t < nthreads; t++) {
        pthread_join(tid[t], NULL);
        failed += w[t].failed;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    int done = (total / nthreads) * nthreads;
    printf("STORE threads=%d records=%d failed=%d seconds=%.3f rate=%.0f\n", nthreads, done, failed, secs,
           done / secs);
    store_close(s);
    free(tid);
    free(w);
    return failed ? 1 : 0;
}
