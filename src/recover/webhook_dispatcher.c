/* The webhook dispatcher: one thread claims due deliveries from the outbox
 * under a lease and signs them; another sends them concurrently through
 * one libcurl multi handle (connections to a merchant are reused); two
 * recording threads store the results. Claiming and recording are durable
 * writes, so none of them happens on the sending thread, which would stop
 * every transfer for an fsync. A recording thread takes every result that
 * finished while the previous batch was being written and stores them in
 * one transaction: one durable write for up to hundreds of deliveries
 * instead of one each. Twice as many deliveries are leased as may be in
 * flight, so that while a claim or a batch of results is being written
 * the sender still has deliveries to start: otherwise the slots waiting
 * on the store count against the transfers and the network idles during
 * every write. */
#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "core/crypto.h"
#include "core/ids.h"
#include "core/log.h"
#include "http/metrics.h"
#include "recover/webhooks.h"

#define CLAIM_MAX 256
/* How often the outbox is looked at without a kick: deliveries written by
 * other nodes, and redeliveries that came due. */
#define IDLE_WAIT_MS 1000
/* Two, so that one batch gathers while the other is being written. */
#define RECORDERS 2
/* Results per durable write, at most. */
#define RECORD_BATCH_MAX 512
#define SECRETS_CACHED 16

struct delivery {
    struct rc_webhook w;
    CURL *easy;
    struct curl_slist *headers;
    char curl_error[CURL_ERROR_SIZE];
    int64_t ready_ns; /* when it was signed and queued for a transfer */
    int64_t sent_ns;
    int64_t done_ns; /* when it was handed to the recorders */
    long status;
    char error[256];
    int give_back_only; /* aborted at shutdown: release the lease, count no attempt */
    int no_attempt;     /* ended without sending (no secret): state already set */
    int in_multi;       /* handed to curl, no answer yet */
    struct delivery *next;
};

struct webhook_dispatcher {
    struct app *app;
    pthread_t thread, sender;
    atomic_int stop, sender_stop, kicked, sleeping, starved;
    char owner[64];
    int64_t retry_interval_ms, retry_for_ms, expiry_s, lease_ms;
    long connect_timeout_ms, timeout_ms;
    /* concurrency transfers at most, out of nslots leased deliveries: the
     * others are being signed or recorded, or wait for a free transfer,
     * so that a claim's or a record's durable write does not leave the
     * network idle. */
    size_t concurrency, nslots, claim_min;
    struct delivery *slots;
    CURLM *multi;
    size_t inflight;

    pthread_mutex_t mu; /* the free list, the sending and the recording queues */
    pthread_cond_t queued, slot_freed;
    struct delivery *free_list;
    size_t nfree;
    struct delivery *ready, *ready_tail; /* signed, for the sender to start, oldest first */
    struct delivery *qhead, *qtail;
    int recorders_stop;
    pthread_t recorders[RECORDERS];
    int nrecorders;

    atomic_llong claimed, delivered, retried, failed, claim_ns, send_ns, record_ns, claim_calls, wait_ns;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void free_claimed(struct rc_webhook *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(w[i].body);
    free(w);
}

/* Gives finished slots back to the free list, under one lock. */
static void give_slots(struct webhook_dispatcher *d, struct delivery **slots, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(slots[i]->w.body);
        slots[i]->w.body = NULL;
        curl_slist_free_all(slots[i]->headers);
        slots[i]->headers = NULL;
    }
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < n; i++) {
        slots[i]->next = d->free_list;
        d->free_list = slots[i];
    }
    d->nfree += n;
    /* The claiming thread may be waiting for free slots. */
    if (d->nfree >= d->claim_min && atomic_exchange(&d->starved, 0))
        pthread_cond_signal(&d->slot_freed);
    pthread_mutex_unlock(&d->mu);
}

static void log_result(const struct rc_webhook *w, const char *msg, enum log_level lvl)
{
    if (!log_enabled(lvl))
        return;
    char status[24], attempts[24];
    snprintf(status, sizeof status, "#%lld", (long long)w->last_status);
    snprintf(attempts, sizeof attempts, "#%lld", (long long)w->attempts);
    const char *kv[] = {"component", "webhooks", "merchant", w->merchant_id, "webhook_id", w->webhook_id,
                        "type", w->type, "state", w->state, "status", status, "attempts", attempts,
                        "error", w->last_error, NULL};
    log_kv(lvl, msg, kv);
}

/* Counts and logs one recorded result, as what it turned out to be. */
static void count_result(struct webhook_dispatcher *d, const struct delivery *s)
{
    if (strcmp(s->w.state, "delivered") == 0) {
        atomic_fetch_add(&d->delivered, 1);
        metrics_count("recoup_recover_webhooks_delivered_total", 1);
        log_result(&s->w, "webhook delivered", LOG_DEBUG);
    } else if (strcmp(s->w.state, "failed") == 0) {
        atomic_fetch_add(&d->failed, 1);
        metrics_count("recoup_recover_webhooks_failed_total", 1);
        log_result(&s->w, "webhook given up", LOG_WARN);
    } else {
        atomic_fetch_add(&d->retried, 1);
        metrics_count("recoup_recover_webhooks_redeliveries_total", 1);
        log_result(&s->w, "webhook not accepted; will be sent again", LOG_INFO);
    }
}

static void not_recorded(const struct delivery *s, enum store_rc rc)
{
    /* The lease runs out and the delivery is sent again: at least once,
     * which the deduplication id is there for. */
    const char *kv[] = {"component", "webhooks", "webhook_id", s->w.webhook_id, "error", store_rc_name(rc), NULL};
    log_kv(LOG_ERROR, "webhook result not recorded; it will be sent again after its lease", kv);
}

/* Records a batch of finished deliveries in one durable write, then counts
 * them and frees their slots: a delivery counts as delivered only once its
 * result is on disk. */
static void record_batch(struct webhook_dispatcher *d, struct delivery **batch, size_t n,
                         const struct rc_webhook **rows, enum store_rc *rcs)
{
    struct app *app = d->app;
    int64_t now = clock_now_ms(app->clock);
    for (size_t i = 0; i < n; i++) {
        struct delivery *s = batch[i];
        if (s->give_back_only)
            s->w.next_attempt_at = now;
        else if (!s->no_attempt)
            rc_webhook_after_attempt(&s->w, s->status, s->error, now, d->retry_interval_ms);
        rows[i] = &s->w;
    }
    if (app->store->recover->webhook_results(app->store, rows, n, rcs) != STORE_OK) {
        /* One result the store cannot take (a value it rejects) would
         * otherwise fail every batch it comes back in, and with it every
         * delivery next to it: each is tried on its own. */
        for (size_t i = 0; i < n; i++)
            rcs[i] = app->store->recover->webhook_result(app->store, rows[i]);
    }
    int64_t t1 = mono_ns();
    long long waited = 0;
    for (size_t i = 0; i < n; i++) {
        struct delivery *s = batch[i];
        waited += t1 - s->done_ns;
        if (rcs[i] != STORE_OK)
            not_recorded(s, rcs[i]);
        else if (!s->give_back_only)
            count_result(d, s);
    }
    atomic_fetch_add(&d->record_ns, waited);
    give_slots(d, batch, n);
}

static void *recorder_main(void *arg)
{
    struct webhook_dispatcher *d = arg;
    struct delivery *batch[RECORD_BATCH_MAX];
    const struct rc_webhook *rows[RECORD_BATCH_MAX];
    enum store_rc rcs[RECORD_BATCH_MAX];
    for (;;) {
        pthread_mutex_lock(&d->mu);
        while (!d->qhead && !d->recorders_stop)
            pthread_cond_wait(&d->queued, &d->mu);
        /* Everything that finished while the previous batch was being
         * written goes into this one. */
        size_t n = 0;
        while (d->qhead && n < RECORD_BATCH_MAX) {
            struct delivery *s = d->qhead;
            d->qhead = s->next;
            s->next = NULL;
            batch[n++] = s;
        }
        if (!d->qhead)
            d->qtail = NULL;
        pthread_mutex_unlock(&d->mu);
        if (n == 0) /* stopping, and the queue is drained */
            break;
        record_batch(d, batch, n, rows, rcs);
    }
    return NULL;
}

static void enqueue_result(struct webhook_dispatcher *d, struct delivery *s)
{
    s->next = NULL;
    s->done_ns = mono_ns();
    pthread_mutex_lock(&d->mu);
    if (d->qtail)
        d->qtail->next = s;
    else
        d->qhead = s;
    d->qtail = s;
    pthread_cond_signal(&d->queued);
    pthread_mutex_unlock(&d->mu);
}

/* What signs a merchant's deliveries: its secret, or why there is none. */
enum secret_state {
    SECRET_OK,
    SECRET_NONE,        /* the merchant has none: nothing is sent unsigned */
    SECRET_UNREADABLE,  /* sealed with another key than this node's */
    SECRET_UNAVAILABLE, /* the store did not answer: try again later */
};

/* The merchants' signing secrets for one claimed batch, unsealed once per
 * merchant and wiped afterwards. */
struct secret_cache {
    struct {
        char merchant_id[ID_MAX];
        enum secret_state state;
        char secret[256];
    } e[SECRETS_CACHED];
    size_t n, next;
};

static enum secret_state merchant_secret(struct app *app, struct secret_cache *c, const char *merchant_id,
                                         const char **secret)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->e[i].merchant_id, merchant_id) == 0) {
            *secret = c->e[i].secret;
            return c->e[i].state;
        }
    size_t i = c->n < SECRETS_CACHED ? c->n++ : (c->next++ % SECRETS_CACHED);
    str_copy(c->e[i].merchant_id, sizeof c->e[i].merchant_id, merchant_id);
    c->e[i].secret[0] = '\0';
    *secret = c->e[i].secret;
    struct rc_settings s;
    enum store_rc rc = app->store->recover->settings_get(app->store, merchant_id, &s);
    if (rc != STORE_OK) {
        c->e[i].state = rc == STORE_NOT_FOUND ? SECRET_NONE : SECRET_UNAVAILABLE;
    } else if (!s.webhook_secret[0]) {
        c->e[i].state = SECRET_NONE;
    } else {
        char *plain = crypto_open_text(app->card_key, s.webhook_secret);
        if (plain) {
            str_copy(c->e[i].secret, sizeof c->e[i].secret, plain);
            sodium_memzero(plain, strlen(plain));
            free(plain);
            c->e[i].state = SECRET_OK;
        } else {
            const char *kv[] = {"component", "webhooks", "merchant", merchant_id, NULL};
            log_kv(LOG_ERROR, "webhook signing secret cannot be unsealed with this node's key", kv);
            c->e[i].state = SECRET_UNREADABLE;
        }
    }
    sodium_memzero(&s, sizeof s);
    return c->e[i].state;
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *name, const char *value)
{
    buf b;
    buf_init(&b);
    buf_printf(&b, "%s: %s", name, value);
    struct curl_slist *r = b.oom ? NULL : curl_slist_append(l, buf_cstr(&b));
    buf_free(&b);
    if (!r)
        curl_slist_free_all(l);
    return r;
}

/* Prepares one claimed delivery for the sender, signed with an expiration
 * counted from now; a delivery that cannot be sent goes straight to
 * recording. */
static void prepare_delivery(struct webhook_dispatcher *d, struct delivery *s, enum secret_state state,
                             const char *secret)
{
    struct app *app = d->app;
    s->status = 0;
    s->error[0] = '\0';
    s->curl_error[0] = '\0';
    s->give_back_only = 0;
    s->no_attempt = 0;
    if (state == SECRET_UNAVAILABLE) {
        s->give_back_only = 1;
        enqueue_result(d, s);
        return;
    }
    if (state != SECRET_OK) {
        /* Signing with an empty key would teach the merchant to accept
         * forgeries; it is a configuration error to be seen and fixed. */
        str_copy(s->w.state, sizeof s->w.state, "failed");
        str_copy(s->w.last_error, sizeof s->w.last_error,
                 state == SECRET_NONE ? "no webhook signing secret"
                                      : "webhook signing secret sealed with another key than this node's");
        s->w.last_status = 0;
        s->no_attempt = 1;
        enqueue_result(d, s);
        return;
    }
    int64_t expiration = clock_now_ms(app->clock) / 1000 + d->expiry_s;
    char exp_text[24], sig[65];
    snprintf(exp_text, sizeof exp_text, "%lld", (long long)expiration);
    size_t body_len = strlen(s->w.body);
    rc_webhook_signature(secret, s->w.body, body_len, expiration, sig);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    /* Without this curl waits for a 100 Continue before larger bodies. */
    h = h ? curl_slist_append(h, "Expect:") : NULL;
    h = h ? add_header(h, "X-Butter-Webhook-Type", s->w.type) : NULL;
    h = h ? add_header(h, "X-Butter-Webhook-Expiration", exp_text) : NULL;
    h = h ? add_header(h, "X-Butter-Webhook-Expires", exp_text) : NULL;
    h = h ? add_header(h, "X-Butter-Webhook-Deduplication-ID", s->w.webhook_id) : NULL;
    h = h ? add_header(h, "X-Butter-Webhook-Signature", sig) : NULL;
    s->headers = h;
    CURL *e = s->easy;
    if (!h || curl_easy_setopt(e, CURLOPT_URL, s->w.url) != CURLE_OK) {
        str_copy(s->error, sizeof s->error, h ? "the webhook URL is not usable" : "out of memory");
        enqueue_result(d, s);
        return;
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->w.body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    s->next = NULL;
    s->ready_ns = mono_ns();
    pthread_mutex_lock(&d->mu);
    if (d->ready_tail)
        d->ready_tail->next = s;
    else
        d->ready = s;
    d->ready_tail = s;
    pthread_mutex_unlock(&d->mu);
}

/* On the sending thread: hands what was prepared to curl, oldest first,
 * while fewer than concurrency transfers run. */
static void start_ready(struct webhook_dispatcher *d)
{
    while (d->inflight < d->concurrency) {
        pthread_mutex_lock(&d->mu);
        struct delivery *s = d->ready;
        if (s) {
            d->ready = s->next;
            if (!d->ready)
                d->ready_tail = NULL;
        }
        pthread_mutex_unlock(&d->mu);
        if (!s)
            return;
        s->next = NULL;
        s->sent_ns = mono_ns();
        atomic_fetch_add(&d->wait_ns, s->sent_ns - s->ready_ns);
        if (curl_multi_add_handle(d->multi, s->easy) != CURLM_OK) {
            str_copy(s->error, sizeof s->error, "cannot start the request");
            enqueue_result(d, s);
        } else {
            s->in_multi = 1;
            d->inflight++;
        }
    }
}

static CURL *new_easy(struct webhook_dispatcher *d, struct delivery *s)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, d->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, d->timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->curl_error);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "recoup-webhooks/1");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    return e;
}

/* Collects finished transfers and queues their results. */
static void harvest(struct webhook_dispatcher *d)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(d->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct delivery *s = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        CURLcode res = m->data.result;
        if (res == CURLE_OK) {
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &s->status);
        } else {
            s->status = 0;
            str_copy(s->error, sizeof s->error, s->curl_error[0] ? s->curl_error : curl_easy_strerror(res));
        }
        curl_multi_remove_handle(d->multi, m->easy_handle);
        s->in_multi = 0;
        atomic_fetch_add(&d->send_ns, mono_ns() - s->sent_ns);
        d->inflight--;
        enqueue_result(d, s);
    }
}

/* Claims what is due, up to the free slots; returns how many were claimed
 * and sets *full when the claim was limited by max (more may be due). */
static size_t claim_and_prepare(struct webhook_dispatcher *d, int *full)
{
    struct app *app = d->app;
    /* Each claim is a durable write, so while deliveries are in flight or
     * being recorded it waits for enough free slots to make the write
     * worth it. starved is set under the lock that give_slots takes, so
     * that the slot which ends the wait always signals it. */
    pthread_mutex_lock(&d->mu);
    size_t nfree = d->nfree;
    int wait = nfree == 0 || (nfree < d->nslots && nfree < d->claim_min);
    if (wait)
        atomic_store(&d->starved, 1);
    pthread_mutex_unlock(&d->mu);
    if (wait) {
        *full = 1; /* not looked: more may be due */
        return 0;
    }
    *full = 0;
    int max = nfree < CLAIM_MAX ? (int)nfree : CLAIM_MAX;
    struct rc_webhook *got = NULL;
    size_t n = 0;
    int64_t t0 = mono_ns();
    enum store_rc rc = app->store->recover->webhooks_claim(app->store, clock_now_ms(app->clock), d->owner,
                                                            d->lease_ms, max, &got, &n);
    atomic_fetch_add(&d->claim_ns, mono_ns() - t0);
    atomic_fetch_add(&d->claim_calls, 1);
    if (rc != STORE_OK) {
        const char *kv[] = {"component", "webhooks", "error", store_rc_name(rc), NULL};
        log_kv(LOG_ERROR, "cannot claim due webhooks", kv);
        return 0;
    }
    atomic_fetch_add(&d->claimed, (long long)n);
    struct secret_cache cache;
    memset(&cache, 0, sizeof cache);
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&d->mu);
        struct delivery *s = d->free_list;
        d->free_list = s->next;
        d->nfree--;
        pthread_mutex_unlock(&d->mu);
        s->w = got[i];
        got[i].body = NULL; /* the slot owns it now */
        const char *secret;
        enum secret_state state = merchant_secret(app, &cache, s->w.merchant_id, &secret);
        prepare_delivery(d, s, state, secret);
    }
    sodium_memzero(&cache, sizeof cache);
    free_claimed(got, n);
    if (n > 0)
        curl_multi_wakeup(d->multi);
    *full = n == (size_t)max;
    return n;
}

/* The sending thread: drives every transfer, and hands each answer to the
 * recording threads. */
static void *sender_main(void *arg)
{
    struct webhook_dispatcher *d = arg;
    while (!atomic_load(&d->sender_stop)) {
        start_ready(d);
        int running;
        curl_multi_perform(d->multi, &running);
        harvest(d);
        /* The answers just in made room: waiting deliveries start now,
         * not after the next poll. */
        start_ready(d);
        /* woken early by curl_multi_wakeup when deliveries are ready */
        curl_multi_poll(d->multi, NULL, 0, 100, NULL);
    }
    /* Transfers still running are cut off, and what was never started is
     * given back: released for the next start (or another node) without
     * counting an attempt. Answers already in are recorded as such. */
    harvest(d);
    pthread_mutex_lock(&d->mu);
    struct delivery *waiting = d->ready;
    d->ready = d->ready_tail = NULL;
    pthread_mutex_unlock(&d->mu);
    while (waiting) {
        struct delivery *s = waiting;
        waiting = s->next;
        s->give_back_only = 1;
        enqueue_result(d, s);
    }
    for (size_t i = 0; i < d->nslots; i++) {
        struct delivery *s = &d->slots[i];
        if (!s->in_multi)
            continue;
        curl_multi_remove_handle(d->multi, s->easy);
        s->in_multi = 0;
        s->give_back_only = 1;
        d->inflight--;
        enqueue_result(d, s);
    }
    return NULL;
}

static void *dispatcher_main(void *arg)
{
    struct webhook_dispatcher *d = arg;
    struct app *app = d->app;
    int more_due = 1;
    while (!atomic_load(&d->stop)) {
        atomic_store(&d->kicked, 0);
        claim_and_prepare(d, &more_due);
        if (atomic_load(&d->starved)) {
            /* More may be due but too few slots are free: wait for the
             * recording threads to give some back. */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_mutex_lock(&d->mu);
            if (atomic_load(&d->starved) && !atomic_load(&d->stop))
                pthread_cond_timedwait(&d->slot_freed, &d->mu, &ts);
            pthread_mutex_unlock(&d->mu);
            continue;
        }
        if (more_due)
            continue;
        /* Nothing more due now: sleep until the next delivery is due, a
         * kick, or a virtual clock's advance. */
        int64_t now = clock_now_ms(app->clock);
        int64_t deadline = now + IDLE_WAIT_MS, due;
        int64_t max_real = IDLE_WAIT_MS;
        if (app->store->recover->webhook_next_due(app->store, &due) == STORE_OK && due < deadline) {
            if (due > now)
                deadline = due;
            else
                max_real = 100; /* due but not claimable yet: leased, or in flight here */
        }
        atomic_store(&d->sleeping, 1);
        if (!atomic_load(&d->kicked) && !atomic_load(&d->stop))
            clock_wait_until(app->clock, deadline > now ? deadline : now + 1, max_real);
        atomic_store(&d->sleeping, 0);
    }
    return NULL;
}

static void make_owner(char *out, size_t outsz)
{
    char host[40] = "";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    char rnd[9];
    id_random(rnd, 8, ID_LOWER_ALNUM);
    snprintf(out, outsz, "%s:%ld:%s", host[0] ? host : "node", (long)getpid(), rnd);
}

static void destroy(struct webhook_dispatcher *d)
{
    if (!d)
        return;
    if (d->slots) {
        for (size_t i = 0; i < d->nslots; i++) {
            if (d->slots[i].easy)
                curl_easy_cleanup(d->slots[i].easy);
            curl_slist_free_all(d->slots[i].headers);
            free(d->slots[i].w.body);
        }
        free(d->slots);
    }
    if (d->multi)
        curl_multi_cleanup(d->multi);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->queued);
    pthread_cond_destroy(&d->slot_freed);
    free(d);
}

static void stop_sender(struct webhook_dispatcher *d)
{
    atomic_store(&d->sender_stop, 1);
    curl_multi_wakeup(d->multi);
    pthread_join(d->sender, NULL);
}

/* The recorders drain the queue before they stop: every answer that came
 * back is recorded. */
static void stop_recorders(struct webhook_dispatcher *d)
{
    pthread_mutex_lock(&d->mu);
    d->recorders_stop = 1;
    pthread_cond_broadcast(&d->queued);
    pthread_mutex_unlock(&d->mu);
    for (int i = 0; i < d->nrecorders; i++)
        pthread_join(d->recorders[i], NULL);
}

int webhook_dispatcher_start(struct app *app)
{
    const struct store_recover_ops *ops = app->store->recover;
    if (!ops || !ops->webhooks_claim || !ops->webhook_results || !ops->webhook_result || !ops->webhook_next_due) {
        log_warn("webhook delivery is not available on the %s store: webhooks stay in the outbox",
                 app->store->ops->backend);
        return 0;
    }
    struct webhook_dispatcher *d = calloc(1, sizeof *d);
    if (!d)
        return -1;
    d->app = app;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->queued, NULL);
    pthread_cond_init(&d->slot_freed, NULL);
    make_owner(d->owner, sizeof d->owner);
    d->retry_interval_ms = app->webhooks.retry_interval_s * 1000;
    d->retry_for_ms = app->webhooks.retry_for_s * 1000;
    d->expiry_s = app->webhooks.expiry_s;
    d->connect_timeout_ms = (long)app->webhooks.connect_timeout_ms;
    d->timeout_ms = (long)app->webhooks.timeout_ms;
    /* Long enough that a delivery's wait for a free transfer (at most one
     * timeout: no more than concurrency deliveries wait ahead of it), its
     * answer and its recording finish well within it; after a crash the
     * deliveries are taken over once it passes. */
    d->lease_ms = 60000 + 2 * (int64_t)d->timeout_ms;
    d->concurrency = (size_t)app->webhooks.concurrency;
    d->nslots = 2 * d->concurrency;
    d->claim_min = d->concurrency / 2 > CLAIM_MAX ? CLAIM_MAX : d->concurrency / 2 ? d->concurrency / 2 : 1;
    d->slots = calloc(d->nslots, sizeof *d->slots);
    d->multi = curl_multi_init();
    if (!d->slots || !d->multi) {
        destroy(d);
        return -1;
    }
    curl_multi_setopt(d->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)d->concurrency);
    curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, (long)d->concurrency);
    for (size_t i = 0; i < d->nslots; i++) {
        struct delivery *s = &d->slots[i];
        if (!(s->easy = new_easy(d, s))) {
            destroy(d);
            return -1;
        }
        s->next = d->free_list;
        d->free_list = s;
        d->nfree++;
    }
    d->nrecorders = RECORDERS;
    for (int i = 0; i < d->nrecorders; i++) {
        if (pthread_create(&d->recorders[i], NULL, recorder_main, d) != 0) {
            d->nrecorders = i;
            stop_recorders(d);
            destroy(d);
            return -1;
        }
    }
    int sender = pthread_create(&d->sender, NULL, sender_main, d) == 0;
    app->webhook_dispatcher = d;
    if (!sender || pthread_create(&d->thread, NULL, dispatcher_main, d) != 0) {
        app->webhook_dispatcher = NULL;
        if (sender)
            stop_sender(d);
        stop_recorders(d);
        destroy(d);
        return -1;
    }
    const char *kv[] = {"component", "webhooks", "owner", d->owner, NULL};
    log_kv(LOG_INFO, "webhook dispatcher started", kv);
    return 0;
}

void webhook_dispatcher_kick(struct app *app)
{
    struct webhook_dispatcher *d = app->webhook_dispatcher;
    if (!d)
        return;
    atomic_store(&d->kicked, 1);
    if (atomic_load(&d->sleeping))
        clock_wake(app->clock);
}

void webhook_dispatcher_stop(struct app *app)
{
    struct webhook_dispatcher *d = app->webhook_dispatcher;
    if (!d)
        return;
    atomic_store(&d->stop, 1);
    clock_wake(app->clock);
    pthread_mutex_lock(&d->mu);
    pthread_cond_signal(&d->slot_freed);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    stop_sender(d);
    stop_recorders(d);
    app->webhook_dispatcher = NULL;
    destroy(d);
}

void webhook_dispatcher_stats(struct app *app, struct webhook_dispatcher_stats *out)
{
    memset(out, 0, sizeof *out);
    struct webhook_dispatcher *d = app->webhook_dispatcher;
    if (!d)
        return;
    out->claimed = atomic_load(&d->claimed);
    out->delivered = atomic_load(&d->delivered);
    out->retried = atomic_load(&d->retried);
    out->failed = atomic_load(&d->failed);
    out->claim_ns = atomic_load(&d->claim_ns);
    out->send_ns = atomic_load(&d->send_ns);
    out->record_ns = atomic_load(&d->record_ns);
    out->claim_calls = atomic_load(&d->claim_calls);
    out->wait_ns = atomic_load(&d->wait_ns);
}
