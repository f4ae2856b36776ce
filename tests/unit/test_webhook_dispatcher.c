/* The webhook dispatcher end to end inside one process: a real SQLite
 * store in a temporary directory, a virtual clock, webhooks written to the
 * outbox the way Recover writes them (with a planner decision, through
 * plan_write), and a small HTTP receiver that plays the merchant: it
 * verifies nothing itself but keeps every request, and answers with the
 * statuses a test scripts. */
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "app.h"
#include "core/crypto.h"
#include "recover/recover.h"
#include "recover/webhooks.h"
#include "store/store.h"

#include "../fake_merchant/pyjson.h"

#define HOUR (3600 * 1000LL)
#define SECRET "whsec_0123456789abcdef"

/* ---- the merchant's receiver ---- */

struct received {
    char type[32], expiration[32], expires[32], dedup[40], signature[80], content_type[64];
    char *body;
};

struct receiver {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    struct received got[64];
    int n;
    int statuses[64]; /* answer for request i; 0 or past the end: 200 */
};

struct req_body {
    buf b;
};

static const char *hdr(struct MHD_Connection *c, const char *name)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    return v ? v : "";
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **ctx)
{
    (void)url;
    (void)method;
    (void)version;
    struct receiver *r = cls;
    if (!*ctx) {
        struct req_body *rb = calloc(1, sizeof *rb);
        buf_init(&rb->b);
        *ctx = rb;
        return MHD_YES;
    }
    struct req_body *rb = *ctx;
    if (*upload_size) {
        buf_append(&rb->b, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&r->mu);
    int i = r->n;
    int status = i < 64 && r->statuses[i] ? r->statuses[i] : 200;
    if (i < 64) {
        struct received *g = &r->got[i];
        str_copy(g->type, sizeof g->type, hdr(c, "X-Butter-Webhook-Type"));
        str_copy(g->expiration, sizeof g->expiration, hdr(c, "X-Butter-Webhook-Expiration"));
        str_copy(g->expires, sizeof g->expires, hdr(c, "X-Butter-Webhook-Expires"));
        str_copy(g->dedup, sizeof g->dedup, hdr(c, "X-Butter-Webhook-Deduplication-ID"));
        str_copy(g->signature, sizeof g->signature, hdr(c, "X-Butter-Webhook-Signature"));
        str_copy(g->content_type, sizeof g->content_type, hdr(c, "Content-Type"));
        g->body = strdup(buf_cstr(&rb->b));
        r->n++;
    }
    pthread_mutex_unlock(&r->mu);
    struct MHD_Response *resp = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode tc)
{
    (void)cls;
    (void)c;
    (void)tc;
    struct req_body *rb = *ctx;
    if (rb) {
        buf_free(&rb->b);
        free(rb);
    }
    *ctx = NULL;
}

static void receiver_start(struct receiver *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, r,
                            MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    assert_non_null(r->d);
    r->port = MHD_get_daemon_info(r->d, MHD_DAEMON_INFO_BIND_PORT)->port;
}

static void receiver_stop(struct receiver *r)
{
    if (r->d)
        MHD_stop_daemon(r->d);
    r->d = NULL;
    for (int i = 0; i < r->n; i++)
        free(r->got[i].body);
    pthread_mutex_destroy(&r->mu);
}

static int received(struct receiver *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* ---- the node: store, clock, dispatcher ---- */

struct node {
    char dir[128], db[160];
    struct app app;
    struct receiver rx;
};

static void open_store(struct node *n)
{
    struct store_options opt = {.sqlite_path = n->db, .commit_batch_max = 64};
    char err[256];
    n->app.store = store_open("sqlite", &opt, err, sizeof err);
    if (!n->app.store)
        fail_msg("store_open: %s", err);
}

static int64_t now_ms(struct node *n) { return clock_now_ms(n->app.clock); }

static void add_merchant(struct node *n, const char *merchant_id, const char *secret)
{
    struct merchant_row m;
    memset(&m, 0, sizeof m);
    str_copy(m.merchant_id, sizeof m.merchant_id, merchant_id);
    str_copy(m.name, sizeof m.name, merchant_id);
    m.created_at = now_ms(n);
    assert_int_equal(n->app.store->ops->merchant_create(n->app.store, &m), STORE_OK);
    struct rc_settings s;
    assert_int_equal(recover_settings_load(&n->app, merchant_id, &s), STORE_OK);
    if (secret) {
        char *sealed = crypto_seal_text(n->app.card_key, secret);
        assert_non_null(sealed);
        str_copy(s.webhook_secret, sizeof s.webhook_secret, sealed);
        free(sealed);
    }
    assert_int_equal(n->app.store->recover->settings_put(n->app.store, &s), STORE_OK);
}

/* A failed payment for invoice_id, received and applied as the inbox
 * worker applies it, so that the invoice exists. */
static void add_invoice(struct node *n, const char *merchant_id, const char *invoice_id)
{
    char payload[2048];
    snprintf(payload, sizeof payload,
             "{\"customer\":{\"id\":\"cus_1\"},\"subscription\":{\"id\":\"sub_1\",\"start_date\":"
             "\"2024-01-01T00:00:00Z\"},\"invoice\":{\"id\":\"%s\",\"created_at\":\"2024-03-01T00:00:00Z\"},"
             "\"transactions\":[{\"id\":\"txn_%s\",\"psp_transaction_id\":\"ch_%s\",\"psp\":\"stripe\","
             "\"acquirer_country\":\"US\",\"amount\":12.23,\"currency\":\"USD\",\"funding_source\":\"credit\","
             "\"outcome\":{\"raw_response_message\":\"insufficient_funds\"},\"payment_method_id\":\"pm_1\","
             "\"psp_transaction_created_at\":\"2024-03-01T10:00:00Z\",\"scheme\":\"visa\",\"success\":false}]}",
             invoice_id, invoice_id, invoice_id);
    struct rc_inbox_row ev;
    memset(&ev, 0, sizeof ev);
    str_copy(ev.merchant_id, sizeof ev.merchant_id, merchant_id);
    str_copy(ev.env, sizeof ev.env, "sandbox");
    str_copy(ev.kind, sizeof ev.kind, "payment");
    crypto_sha256_hex(payload, strlen(payload), ev.fingerprint);
    snprintf(ev.request_id, sizeof ev.request_id, "req_%s", invoice_id);
    ev.payload = payload;
    ev.received_at = now_ms(n);
    int dup = 0;
    char rid[72];
    assert_int_equal(n->app.store->recover->inbox_append(n->app.store, &ev, &dup, rid), STORE_OK);
    assert_true(recover_process_pending(&n->app, 100) >= 1);
}

/* Writes one End of Dunning webhook for the invoice with a stop decision,
 * as the planner does; returns its id. */
static void enqueue(struct node *n, const char *merchant_id, const char *invoice_id, const char *url,
                    int64_t retry_for_ms, char id_out[33])
{
    struct rc_invoice inv;
    memset(&inv, 0, sizeof inv);
    struct rc_txn *txns = NULL;
    size_t ntxns = 0;
    struct rc_invoice_event *events = NULL;
    size_t nevents = 0;
    assert_int_equal(n->app.store->recover->invoice_get(n->app.store, merchant_id, "sandbox", invoice_id, &inv, &txns,
                                                        &ntxns, &events, &nevents),
                     STORE_OK);
    rc_txns_free(txns, ntxns);
    free(events);
    free(inv.custom);

    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "timestamp", "2026-11-21T10:00:00.000Z");
    cJSON_AddStringToObject(body, "invoice_id", invoice_id);
    cJSON_AddBoolToObject(body, "recovered", 0);
    cJSON *custom = cJSON_AddObjectToObject(body, "custom");
    cJSON_AddStringToObject(custom, "customer_name", "Jos\xc3\xa9 \xe5\xb1\xb1\xe7\x94\xb0 \xf0\x9f\x98\x80");
    cJSON_AddNumberToObject(custom, "amount", 12.5);
    cJSON_AddNumberToObject(custom, "seats", 3);
    cJSON_AddNumberToObject(custom, "ratio", 0.1);
    struct rc_webhook w;
    assert_int_equal(rc_webhook_make(&w, merchant_id, "sandbox", RC_WEBHOOK_END_OF_DUNNING, invoice_id, url,
                                     invoice_id, body, now_ms(n), retry_for_ms),
                     0);
    cJSON_Delete(body);

    struct rc_plan_write pw;
    memset(&pw, 0, sizeof pw);
    struct rc_decision_row *d = &pw.decision;
    str_copy(d->merchant_id, sizeof d->merchant_id, merchant_id);
    str_copy(d->env, sizeof d->env, "sandbox");
    str_copy(d->invoice_id, sizeof d->invoice_id, invoice_id);
    d->decided_at = now_ms(n);
    str_copy(d->action, sizeof d->action, "stop");
    str_copy(d->reason, sizeof d->reason, "dunning_window_over");
    pw.expect_updated_at = inv.updated_at;
    pw.webhooks = &w;
    pw.nwebhooks = 1;
    pw.now = now_ms(n);
    assert_int_equal(n->app.store->recover->plan_write(n->app.store, &pw), STORE_OK);
    str_copy(id_out, 33, w.webhook_id);
    free(w.body);
    webhook_dispatcher_kick(&n->app);
}

static void node_setup(struct node *n)
{
    memset(n, 0, sizeof *n);
    snprintf(n->dir, sizeof n->dir, "/tmp/recoup-whd-XXXXXX");
    assert_non_null(mkdtemp(n->dir));
    snprintf(n->db, sizeof n->db, "%s/recoup.db", n->dir);
    n->app.clock = clock_new_virtual(1700000000000LL);
    randombytes_buf(n->app.card_key, sizeof n->app.card_key);
    n->app.webhooks.retry_interval_s = 43200;
    n->app.webhooks.retry_for_s = 604800;
    n->app.webhooks.expiry_s = 300;
    n->app.webhooks.connect_timeout_ms = 2000;
    n->app.webhooks.timeout_ms = 5000;
    n->app.webhooks.concurrency = 8;
    open_store(n);
    receiver_start(&n->rx);
    add_merchant(n, "m1", SECRET);
}

static void node_teardown(struct node *n)
{
    webhook_dispatcher_stop(&n->app);
    receiver_stop(&n->rx);
    store_close(n->app.store);
    clock_free(n->app.clock);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", n->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", n->dir);
}

static void url_of(struct node *n, char *out, size_t outsz)
{
    snprintf(out, outsz, "http://127.0.0.1:%d/webhooks/end-of-dunning", n->rx.port);
}

static void get(struct node *n, const char *merchant_id, const char *id, struct rc_webhook *w)
{
    memset(w, 0, sizeof *w);
    assert_int_equal(n->app.store->recover->webhook_get(n->app.store, merchant_id, id, w), STORE_OK);
    free(w->body);
    w->body = NULL;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (bounded, 20 s of real time) until the delivery has recorded
 * `attempts` attempts. Fails the test when it does not get there: a
 * correctness bound, not a speed target. */
static void wait_attempts(struct node *n, const char *merchant_id, const char *id, int64_t attempts,
                          struct rc_webhook *w)
{
    for (int i = 0; i < 2000; i++) {
        get(n, merchant_id, id, w);
        if (w->attempts >= attempts && !w->lease_owner[0])
            return;
        sleep_ms(10);
    }
    fail_msg("delivery %s: %lld attempts, %lld expected", id, (long long)w->attempts, (long long)attempts);
}

static void wait_state(struct node *n, const char *merchant_id, const char *id, const char *state,
                       struct rc_webhook *w)
{
    for (int i = 0; i < 2000; i++) {
        get(n, merchant_id, id, w);
        if (strcmp(w->state, state) == 0 && !w->lease_owner[0])
            return;
        sleep_ms(10);
    }
    fail_msg("delivery %s is %s, %s expected", id, w->state, state);
}

/* What a merchant's verifiers do with one request: the raw-body variant
 * and the re-serialising variant both recompute the signature. */
static void assert_verifies(const struct received *g, const char *secret)
{
    char raw[65], re[65];
    buf msg;
    buf_init(&msg);
    buf_puts(&msg, g->body);
    buf_putc(&msg, '+');
    buf_puts(&msg, g->expiration);
    crypto_hmac_sha256_hex((const uint8_t *)secret, strlen(secret), (const uint8_t *)buf_cstr(&msg), msg.len, raw);
    buf_free(&msg);
    assert_string_equal(raw, g->signature);

    char *again = pyjson_compact(g->body, strlen(g->body));
    assert_non_null(again);
    buf_init(&msg);
    buf_puts(&msg, again);
    buf_putc(&msg, '+');
    buf_puts(&msg, g->expiration);
    crypto_hmac_sha256_hex((const uint8_t *)secret, strlen(secret), (const uint8_t *)buf_cstr(&msg), msg.len, re);
    buf_free(&msg);
    free(again);
    assert_string_equal(re, g->signature);
}

/* ---- tests ---- */

static void delivered_signed_with_the_documented_headers(void **state)
{
    (void)state;
    struct node n;
    node_setup(&n);
    add_invoice(&n, "m1", "in_1");
    char url[128], id[33];
    url_of(&n, url, sizeof url);
    enqueue(&n, "m1", "in_1", url, 7 * 24 * HOUR, id);
    int64_t sent_at = now_ms(&n);
    assert_int_equal(webhook_dispatcher_start(&n.app), 0);

    struct rc_webhook w;
    wait_state(&n, "m1", id, "delivered", &w);
    assert_int_equal(w.attempts, 1);
    assert_int_equal(w.last_status, 200);
    assert_int_equal(w.delivered_at, sent_at);
    assert_int_equal(received(&n.rx), 1);

    struct received *g = &n.rx.got[0];
    assert_string_equal(g->type, "end_of_dunning");
    assert_string_equal(g->content_type, "application/json");
    assert_string_equal(g->dedup, id);
    char want_exp[32];
    snprintf(want_exp, sizeof want_exp, "%lld", (long long)(sent_at / 1000 + 300));
    assert_string_equal(g->expiration, want_exp);
    assert_string_equal(g->expires, want_exp);
    assert_int_equal(strlen(g->signature), 64);
    assert_verifies(g, SECRET);
    assert_string_equal(g->body, "{\"timestamp\":\"2026-11-21T10:00:00.000Z\",\"invoice_id\":\"in_1\",\"recovered\":false,"
                                 "\"custom\":{\"customer_name\":\"Jos\\u00e9 \\u5c71\\u7530 \\ud83d\\ude00\","
                                 "\"amount\":12.5,\"seats\":3,\"ratio\":0.1}}");
    node_teardown(&n);
}

static void redelivered_every_interval_until_accepted_then_never_again(void **state)
{
    (void)state;
    struct node n;
    node_setup(&n);
    n.rx.statuses[0] = 500;
    n.rx.statuses[1] = 503;
    add_invoice(&n, "m1", "in_2");
    char url[128], id[33];
    url_of(&n, url, sizeof url);
    enqueue(&n, "m1", "in_2", url, 7 * 24 * HOUR, id);
    int64_t t0 = now_ms(&n);
    assert_int_equal(webhook_dispatcher_start(&n.app), 0);

    struct rc_webhook w;
    wait_attempts(&n, "m1", id, 1, &w);
    assert_string_equal(w.state, "pending");
    assert_int_equal(w.last_status, 500);
    assert_string_equal(w.last_error, "HTTP 500");
    assert_int_equal(w.next_attempt_at, t0 + 12 * HOUR);

    /* Not due yet: an advance short of the interval sends nothing. */
    clock_advance_ms(n.app.clock, 11 * HOUR);
    webhook_dispatcher_kick(&n.app);
    sleep_ms(300);
    get(&n, "m1", id, &w);
    assert_int_equal(w.attempts, 1);
    assert_int_equal(received(&n.rx), 1);

    clock_advance_ms(n.app.clock, HOUR);
    wait_attempts(&n, "m1", id, 2, &w);
    assert_string_equal(w.state, "pending");
    assert_int_equal(w.last_status, 503);
    assert_int_equal(w.next_attempt_at, t0 + 24 * HOUR);

    clock_advance_ms(n.app.clock, 12 * HOUR);
    wait_state(&n, "m1", id, "delivered", &w);
    assert_int_equal(w.attempts, 3);
    assert_int_equal(w.last_status, 200);
    assert_int_equal(w.delivered_at, t0 + 24 * HOUR);

    /* Delivered once: later advances send nothing more. */
    clock_advance_ms(n.app.clock, 13 * HOUR);
    webhook_dispatcher_kick(&n.app);
    sleep_ms(300);
    assert_int_equal(received(&n.rx), 3);

    /* One event, one id on every redelivery; each send signed anew with
     * its own expiration, and each verifies. */
    for (int i = 0; i < 3; i++) {
        assert_string_equal(n.rx.got[i].dedup, id);
        assert_string_equal(n.rx.got[i].body, n.rx.got[0].body);
        assert_verifies(&n.rx.got[i], SECRET);
    }
    assert_string_not_equal(n.rx.got[0].expiration, n.rx.got[1].expiration);
    node_teardown(&n);
}

static void given_up_when_the_redelivery_period_is_over(void **state)
{
    (void)state;
    struct node n;
    node_setup(&n);
    for (int i = 0; i < 64; i++)
        n.rx.statuses[i] = 502;
    add_invoice(&n, "m1", "in_3");
    char url[128], id[33];
    url_of(&n, url, sizeof url);
    enqueue(&n, "m1", "in_3", url, 24 * HOUR, id); /* attempts at 0, 12 h and 24 h */
    assert_int_equal(webhook_dispatcher_start(&n.app), 0);
    struct rc_webhook w;
    for (int a = 1; a <= 2; a++) {
        wait_attempts(&n, "m1", id, a, &w);
        assert_string_equal(w.state, "pending");
        clock_advance_ms(n.app.clock, 12 * HOUR);
    }
    wait_state(&n, "m1", id, "failed", &w);
    assert_int_equal(w.attempts, 3);
    assert_int_equal(w.last_status, 502);
    assert_int_equal(w.delivered_at, 0);
    clock_advance_ms(n.app.clock, 48 * HOUR);
    webhook_dispatcher_kick(&n.app);
    sleep_ms(300);
    assert_int_equal(received(&n.rx), 3);
    node_teardown(&n);
}

static void a_merchant_without_signing_secret_gets_nothing_unsigned(void **state)
{
    (void)state;
    struct node n;
    node_setup(&n);
    add_merchant(&n, "m_nosecret", NULL);
    add_invoice(&n, "m_nosecret", "in_4");
    char url[128], id[33];
    url_of(&n, url, sizeof url);
    enqueue(&n, "m_nosecret", "in_4", url, 7 * 24 * HOUR, id);
    assert_int_equal(webhook_dispatcher_start(&n.app), 0);
    struct rc_webhook w;
    wait_state(&n, "m_nosecret", id, "failed", &w);
    assert_string_equal(w.last_error, "no webhook signing secret");
    assert_int_equal(w.attempts, 0);
    assert_int_equal(received(&n.rx), 0);

    /* A secret sealed with another node's key cannot sign either. */
    uint8_t other_key[CRYPTO_KEY_BYTES];
    randombytes_buf(other_key, sizeof other_key);
    add_merchant(&n, "m_otherkey", NULL);
    struct rc_settings st;
    assert_int_equal(recover_settings_load(&n.app, "m_otherkey", &st), STORE_OK);
    char *sealed = crypto_seal_text(other_key, SECRET);
    str_copy(st.webhook_secret, sizeof st.webhook_secret, sealed);
    free(sealed);
    assert_int_equal(n.app.store->recover->settings_put(n.app.store, &st), STORE_OK);
    add_invoice(&n, "m_otherkey", "in_4b");
    enqueue(&n, "m_otherkey", "in_4b", url, 7 * 24 * HOUR, id);
    wait_state(&n, "m_otherkey", id, "failed", &w);
    assert_string_equal(w.last_error, "webhook signing secret sealed with another key than this node's");
    assert_int_equal(w.attempts, 0);
    assert_int_equal(received(&n.rx), 0);
    node_teardown(&n);
}

static void no_answer_is_recorded_and_redelivered(void **state)
{
    (void)state;
    struct node n;
    node_setup(&n);
    add_invoice(&n, "m1", "in_5");
    /* A port nothing listens on: the receiver's, after it stopped. */
    struct receiver gone;
    receiver_start(&gone);
    char url[128], id[33];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/webhooks/end-of-dunning", gone.port);
    receiver_stop(&gone);
    enqueue(&n, "m1", "in_5", url, 7 * 24 * HOUR, id);
    int64_t t0 = now_ms(&n);
    assert_int_equal(webhook_dispatcher_start(&n.app), 0);
    struct rc_webhook w;
    wait_attempts(&n, "m1", id, 1, &w);
    assert_string_equal(w.state, "pending");
    assert_int_equal(w.last_status, 0);
    assert_true(w.last_error[0] != '\0');
    assert_int_equal(w.next_attempt_at, t0 + 12 * HOUR);
    node_teardown(&n);
}

/* Deliveries live in the store, not in the process: a stop with work
 * pending, and a node that died holding a lease, lose nothing. */
static void deliveries_survive_a_restart_and_a_dead_node(void **state)
{
    (void)state;
    struct node n;
    node_setup(&n);
    n.rx.statuses[0] = 500;
    add_invoice(&n, "m1", "in_6");
    add_invoice(&n, "m1", "in_7");
    char url[128], id6[33], id7[33];
    url_of(&n, url, sizeof url);
    enqueue(&n, "m1", "in_6", url, 7 * 24 * HOUR, id6);
    assert_int_equal(webhook_dispatcher_start(&n.app), 0);
    struct rc_webhook w;
    wait_attempts(&n, "m1", id6, 1, &w);
    assert_string_equal(w.state, "pending");

    /* Restart: dispatcher and store closed and opened again. */
    webhook_dispatcher_stop(&n.app);
    store_close(n.app.store);
    open_store(&n);

    /* Another node claims in_7's delivery and dies before answering. */
    enqueue(&n, "m1", "in_7", url, 7 * 24 * HOUR, id7);
    struct rc_webhook *claimed = NULL;
    size_t nclaimed = 0;
    assert_int_equal(n.app.store->recover->webhooks_claim(n.app.store, now_ms(&n), "dead-node:1:x", 60000, 10, &claimed,
                                                          &nclaimed),
                     STORE_OK);
    assert_int_equal(nclaimed, 1);
    assert_string_equal(claimed[0].webhook_id, id7);
    rc_webhooks_free(claimed, nclaimed);

    assert_int_equal(webhook_dispatcher_start(&n.app), 0);
    webhook_dispatcher_kick(&n.app);
    sleep_ms(300);
    get(&n, "m1", id7, &w);
    assert_int_equal(w.attempts, 0); /* still leased to the dead node */
    assert_string_equal(w.lease_owner, "dead-node:1:x");

    clock_advance_ms(n.app.clock, 12 * HOUR); /* past the lease, and in_6 is due again */
    wait_state(&n, "m1", id7, "delivered", &w);
    assert_int_equal(w.attempts, 1);
    wait_state(&n, "m1", id6, "delivered", &w);
    assert_int_equal(w.attempts, 2);
    assert_int_equal(received(&n.rx), 3);
    node_teardown(&n);
}

/* Results are recorded in batches: each delivery of a batch must still get
 * its own answer, and be sent once. */
static void many_answers_recorded_each_as_its_own(void **state)
{
    (void)state;
    enum { N = 40 };
    struct node n;
    node_setup(&n);
    for (int i = 0; i < N; i++)
        n.rx.statuses[i] = i % 3 == 1 ? 503 : 200;
    char url[128], ids[N][33];
    url_of(&n, url, sizeof url);
    for (int i = 0; i < N; i++) {
        char invoice[32];
        snprintf(invoice, sizeof invoice, "in_m%d", i);
        add_invoice(&n, "m1", invoice);
        enqueue(&n, "m1", invoice, url, 7 * 24 * HOUR, ids[i]);
    }
    int64_t t0 = now_ms(&n);
    assert_int_equal(webhook_dispatcher_start(&n.app), 0);
    struct rc_webhook w;
    for (int i = 0; i < N; i++)
        wait_attempts(&n, "m1", ids[i], 1, &w);
    assert_int_equal(received(&n.rx), N);
    /* The receiver numbered the requests as they came; each delivery
     * must carry the answer its own request got. */
    for (int i = 0; i < N; i++) {
        get(&n, "m1", n.rx.got[i].dedup, &w);
        assert_int_equal(w.attempts, 1);
        assert_int_equal(w.last_status, n.rx.statuses[i]);
        if (n.rx.statuses[i] == 200) {
            assert_string_equal(w.state, "delivered");
        } else {
            assert_string_equal(w.state, "pending");
            assert_int_equal(w.next_attempt_at, t0 + 12 * HOUR);
        }
    }
    /* The counters move just after the write that they count. */
    struct webhook_dispatcher_stats st;
    for (int i = 0; i < 2000; i++) {
        webhook_dispatcher_stats(&n.app, &st);
        if (st.delivered + st.retried >= N)
            break;
        sleep_ms(10);
    }
    assert_int_equal(st.delivered, N - N / 3);
    assert_int_equal(st.retried, N / 3);
    node_teardown(&n);
}

/* A stop while deliveries wait for their answers, or for a transfer to
 * start in, gives every one of them back through the recorders,
 * uncounted, so that the next start (or another node) sends them at once
 * instead of after the lease. */
static void a_stop_gives_back_what_waits_for_an_answer(void **state)
{
    (void)state;
    /* More than node_setup's concurrency of 8, and no more than the twice
     * as many that a node leases: some wait in flight, the others for a
     * free transfer. */
    enum { N = 12 };
    struct node n;
    node_setup(&n);
    /* A merchant that takes the connection and never answers: the
     * kernel accepts it into the backlog. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 64), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    char url[128], ids[N][33];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/webhooks/end-of-dunning", ntohs(sa.sin_port));
    for (int i = 0; i < N; i++) {
        char invoice[32];
        snprintf(invoice, sizeof invoice, "in_s%d", i);
        add_invoice(&n, "m1", invoice);
        enqueue(&n, "m1", invoice, url, 7 * 24 * HOUR, ids[i]);
    }
    assert_int_equal(webhook_dispatcher_start(&n.app), 0);
    struct rc_webhook w;
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 2000; k++) {
            get(&n, "m1", ids[i], &w);
            if (w.lease_owner[0])
                break;
            sleep_ms(10);
        }
        assert_true(w.lease_owner[0] != '\0');
    }
    webhook_dispatcher_stop(&n.app);
    int64_t stopped_at = now_ms(&n);
    for (int i = 0; i < N; i++) {
        get(&n, "m1", ids[i], &w);
        assert_string_equal(w.lease_owner, "");
        assert_string_equal(w.state, "pending");
        assert_int_equal(w.attempts, 0);
        assert_int_equal(w.next_attempt_at, stopped_at);
    }
    close(fd);
    node_teardown(&n);
}

static enum store_rc refuse_batches(store *s, const struct rc_webhook *const *w, size_t n, enum store_rc *rcs)
{
    (void)s;
    (void)w;
    (void)n;
    (void)rcs;
    return STORE_ERROR;
}

/* A batch the store refuses as a whole (one value it cannot take fails
 * the transaction) is recorded one delivery at a time, so that the
 * others are not sent again and again with it. */
static void a_refused_batch_is_recorded_one_by_one(void **state)
{
    (void)state;
    enum { N = 5 };
    struct node n;
    node_setup(&n);
    const struct store_recover_ops *real = n.app.store->recover;
    struct store_recover_ops ops = *real;
    ops.webhook_results = refuse_batches;
    n.app.store->recover = &ops;
    char url[128], ids[N][33];
    url_of(&n, url, sizeof url);
    for (int i = 0; i < N; i++) {
        char invoice[32];
        snprintf(invoice, sizeof invoice, "in_r%d", i);
        add_invoice(&n, "m1", invoice);
        enqueue(&n, "m1", invoice, url, 7 * 24 * HOUR, ids[i]);
    }
    assert_int_equal(webhook_dispatcher_start(&n.app), 0);
    struct rc_webhook w;
    for (int i = 0; i < N; i++) {
        wait_state(&n, "m1", ids[i], "delivered", &w);
        assert_int_equal(w.attempts, 1);
    }
    assert_int_equal(received(&n.rx), N);
    webhook_dispatcher_stop(&n.app);
    n.app.store->recover = real;
    node_teardown(&n);
}

int main(void)
{
    crypto_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(delivered_signed_with_the_documented_headers),
        cmocka_unit_test(redelivered_every_interval_until_accepted_then_never_again),
        cmocka_unit_test(given_up_when_the_redelivery_period_is_over),
        cmocka_unit_test(a_merchant_without_signing_secret_gets_nothing_unsigned),
        cmocka_unit_test(no_answer_is_recorded_and_redelivered),
        cmocka_unit_test(deliveries_survive_a_restart_and_a_dead_node),
        cmocka_unit_test(many_answers_recorded_each_as_its_own),
        cmocka_unit_test(a_stop_gives_back_what_waits_for_an_answer),
        cmocka_unit_test(a_refused_batch_is_recorded_one_by_one),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
