/* Several recoupd nodes on one PostgreSQL database: three processes (two
 * with role all and one with role worker, or one each of all, api and
 * worker), each on its own virtual clock moved by the same amounts, share
 * the sandbox merchant's Recover work. Invoices fail at the gateway with
 * the retry card (declined twice, then approved) and are forwarded through
 * both API nodes; the fake merchant answers
 * RetryStatus, receives the webhooks and stands between Recover and the
 * gateway. While the second retries are being charged, with the gateway's
 * answers held back in the proxy, one node (an "all" node, or the worker
 * node) is killed with attempts leased and charged; once the leases run out the survivors take its work over.
 *
 * What must hold afterwards: every invoice recovered by two attempts, each
 * stored card charged exactly three times at the gateway (the merchant's
 * charge and two retries; a taken-over charge is replayed under its
 * idempotency key, not repeated), exactly one Retry Results event per
 * attempt and one End of Dunning per invoice accepted by the merchant
 * (a deduplication id seen twice only when the killed node's delivery and
 * its redelivery straddle the kill), every signature valid. Then two
 * nodes run settlement batches at the same moment: each payment is settled
 * by exactly one of them.
 *
 * Only on PostgreSQL (tests-pg-only.txt): nodes cannot share SQLite. The
 * test reads the shared database directly for what the API does not show:
 * which node holds which lease. */
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/types.h>

#include "fake_merchant_client.h"
#include "rc_common.h"

#define NODES 3
#define INVOICES 30
#define LEASE_S 30

static rserver node[NODES];
static int alive[NODES];
static fmerchant fm;
static struct rc_keys keys;
static PGconn *db;
/* The killed node's lease owner pattern once it is dead ("" before):
 * what it leaves leased is not waited for. */
static char dead_owner[64];

/* Which node runs what, and which one is killed. Node 0 is always "all":
 * it bootstraps the sandbox and fronts the gateway for the PSP proxy. */
struct layout {
    const char *roles[NODES];
    int victim;
};
/* Two nodes with the API and workers and a worker node; an "all" node dies
 * (its API port with it). */
static const struct layout all_all_worker = {{"--role=all", "--role=all", "--role=worker"}, 1};
/* An API-only node whose acknowledged events the workers apply; the
 * worker-only node dies, leaving one worker. */
static const struct layout all_api_worker = {{"--role=all", "--role=api", "--role=worker"}, 2};
static const struct layout *lay;

static int64_t real_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- the shared database ---- */

/* One value of a one-row query with at most one text parameter, as a
 * number (0 when NULL). */
static int64_t db_i64(const char *sql, const char *param)
{
    const char *params[1] = {param};
    PGresult *r = PQexecParams(db, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s: %s", sql, PQerrorMessage(db));
        PQclear(r);
        fail_msg("%s", msg);
    }
    int64_t v = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* The LIKE pattern of a node's lease owner ("host:pid:random"). */
static void owner_pattern(const rserver *s, char *out, size_t outsz)
{
    snprintf(out, outsz, "%%:%ld:%%", (long)s->pid);
}

/* ---- the clocks ---- */

static int64_t parse_time_ms(const char *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int ms = 0;
    if (!t || sscanf(t, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                     &tm.tm_sec, &ms) < 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static int64_t clock_of(const rserver *s)
{
    hres *r = rc_admin(s, "GET", "/admin/clock", NULL);
    int64_t t = parse_time_ms(jstr(r->json, "now"));
    hres_free(r);
    return t;
}

/* Every live node's clock moves by the same amount, so that they agree. */
static void advance_all(int64_t seconds)
{
    char body[64];
    snprintf(body, sizeof body, "{\"seconds\":%lld}", (long long)seconds);
    for (int i = 0; i < NODES; i++) {
        if (!alive[i])
            continue;
        hres *r = rc_admin(&node[i], "POST", "/admin/clock/advance", body);
        CHECK_STATUS(r, 200);
        hres_free(r);
    }
}

/* ---- set-up ---- */

static void configure(void)
{
    char base[128], results[160], eod[160], psp[160], body[2048];
    fm_url(&fm, "", base, sizeof base);
    fm_url(&fm, "/webhooks/retry-results", results, sizeof results);
    fm_url(&fm, "/webhooks/end-of-dunning", eod, sizeof eod);
    fm_url(&fm, "/psp", psp, sizeof psp);
    snprintf(body, sizeof body,
             "{\"retry_status_url\":\"%s\",\"retry_results_url\":\"%s\",\"end_of_dunning_url\":\"%s\","
             "\"end_of_dunning_enabled\":true,\"psp_url\":\"%s\"}",
             base, results, eod, psp);
    hres *r = rc_admin(&node[0], "PUT", "/admin/merchants/sandbox/recover", body);
    CHECK_STATUS(r, 200);
    hres_free(r);
    /* Rotated on one node, read by all: the secret is sealed with the
     * shared card key. */
    r = rc_admin(&node[NODES - 1], "POST", "/admin/merchants/sandbox/recover/webhook-secret", "{}");
    CHECK_STATUS(r, 200);
    CHECK(r, jstr(r->json, "webhook_signing_secret") != NULL);
    char cfg[400];
    snprintf(cfg, sizeof cfg, "{\"webhook_secret\":\"%s\"}", js(r->json, "webhook_signing_secret"));
    hres_free(r);
    fm_control(&fm, "/_control/config", cfg);
}

/* The merchant forwards every payment, and the retry model learns from
 * them whether a retry after insufficient funds is worth it: here, paid
 * invoices, and invoices whose card was declined for insufficient funds
 * and went through when the merchant charged it again two days later.
 * Without that history the thirty declined first retries of the case
 * would teach the nodes that a second retry is not worth its cost.
 *
 * A node learns from the events it applies and plans, and shares what it
 * learned through the database (saved at shutdown and every 30 s, loaded
 * at start), so the history goes to the first node alone, which is then
 * restarted: every node starts with the same model. */
static void send_history_event(const char *inv, const char *txn, int success, const char *at)
{
    cJSON *p = rc_event(inv, "cus_hist", txn, success, success ? "approved" : "insufficient_funds", at);
    rc_set_str(p, "invoice.created_at", "2026-02-20T08:00:00Z");
    rc_set_str(p, "transactions[0].psp", "recoup");
    rc_set(p, "transactions[0].amount", "19.99");
    rc_set_str(p, "transactions[0].currency", "EUR");
    rc_send_free(&node[0], keys.sandbox, p);
}

static void merchant_history(int paid, int paid_after_decline)
{
    char inv[64], txn[64];
    for (int i = 0; i < paid; i++) {
        snprintf(inv, sizeof inv, "hist-paid-%d", i);
        snprintf(txn, sizeof txn, "hist-paid-txn-%d", i);
        send_history_event(inv, txn, 1, "2026-02-27T08:00:00Z");
    }
    for (int i = 0; i < paid_after_decline; i++) {
        snprintf(inv, sizeof inv, "hist-late-%d", i);
        snprintf(txn, sizeof txn, "hist-late-txn-%d-1", i);
        send_history_event(inv, txn, 0, "2026-02-25T08:00:00Z");
        snprintf(txn, sizeof txn, "hist-late-txn-%d-2", i);
        send_history_event(inv, txn, 1, "2026-02-27T08:00:00Z");
    }
    /* Applied and planned (planning is where a dunning invoice's outcomes
     * are learned). */
    int64_t waiting = -1;
    for (int i = 0; i < 400 && waiting != 0; i++) {
        usleep(50000);
        waiting = db_i64("SELECT (SELECT count(*) FROM rc_inbox WHERE processed_at IS NULL) + (SELECT count(*) FROM "
                         "rc_invoices WHERE plan_needed = 1) + (SELECT count(*) FROM rc_invoices WHERE invoice_id LIKE "
                         "'hist-late-%' AND state <> 'paid_by_merchant')",
                         NULL);
    }
    assert_int_equal(waiting, 0);
}

static int setup(void **state)
{
    lay = *state;
    dead_owner[0] = '\0';
    char lease[40];
    snprintf(lease, sizeof lease, "--retry_lease=%d", LEASE_S);
    for (int i = 0; i < NODES; i++) {
        /* Four workers a node: a claim takes at most eight attempts, so
         * the due attempts spread over the nodes. */
        /* Settlement only when asked: the case checks what concurrent
         * batches on two nodes settle. */
        const char *args[] = {"--clock=virtual", "--clock_start=2026-03-02T09:00:00Z", lease, "--retry_workers=4",
                              "--settlement_interval=0", lay->roles[i], NULL};
        if (i == 0) {
            server_start(&node[0], args);
            rc_read_keys(&node[0], &keys);
            db = PQconnectdb(node[0].pg_url);
            if (PQstatus(db) != CONNECTION_OK)
                fail_msg("cannot connect to the test database: %s", PQerrorMessage(db));
            merchant_history(100, 100);
            assert_int_equal(server_stop_keep(&node[0]), 0);
            server_restart(&node[0], args);
        } else {
            server_start_peer(&node[i], &node[0], args);
        }
        alive[i] = 1;
    }
    char upstream[96];
    snprintf(upstream, sizeof upstream, "--psp-upstream=http://127.0.0.1:%d", node[0].payments);
    const char *fm_args[] = {upstream, NULL};
    fm_start(&fm, fm_args);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    PQfinish(db);
    db = NULL;
    int fm_rc = fm_stop(&fm);
    int rc[NODES];
    /* The first node last: it drops the database. A killed node has no
     * exit status to check, only its directory to remove. */
    for (int i = NODES; i-- > 0;) {
        int was_alive = alive[i];
        rc[i] = server_stop(&node[i]);
        if (!was_alive)
            rc[i] = 0;
        alive[i] = 0;
    }
    assert_int_equal(fm_rc, 0);
    for (int i = 0; i < NODES; i++)
        assert_int_equal(rc[i], 0);
    return 0;
}

/* ---- the merchant's side ---- */

static char *tokenise(const rserver *s, const char *number)
{
    char body[400];
    snprintf(body, sizeof body,
             "{\"type\":\"credit_card\",\"number\":\"%s\",\"name\":\"Ana Silva\",\"expiration_month\":12,"
             "\"expiration_year\":2099,\"cvv\":\"123\"}",
             number);
    hres *r = gw_do((rserver *)s, "POST", s->payments, "/api/payment_methods", body);
    CHECK_STATUS(r, 201);
    char *pm = strdup(js(r->json, "payment_method_id"));
    hres_free(r);
    return pm;
}

/* The merchant's own charge of the stored card, declined. */
static char *merchant_charge(const rserver *s, const char *pm)
{
    char body[300];
    snprintf(body, sizeof body,
             "{\"amount\":19.99,\"currency\":\"EUR\",\"payment_method\":\"credit_card\",\"payment_method_id\":\"%s\"}",
             pm);
    hres *r = gw_do((rserver *)s, "POST", s->payments, "/api/payments", body);
    CHECK_STATUS(r, 201);
    CHECK(r, strcmp(js(r->json, "status"), "error") == 0);
    CHECK(r, strcmp(js(r->json, "decline_code"), "insufficient_funds") == 0);
    char *id = strdup(js(r->json, "payment_id"));
    hres_free(r);
    return id;
}

static void forward(const rserver *s, const char *invoice, const char *payment_id, const char *pm)
{
    char at[40], customer[64], txn[64];
    time_t secs = (time_t)(clock_of(&node[0]) / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(customer, sizeof customer, "cus_%s", invoice);
    snprintf(txn, sizeof txn, "%s-1", invoice);
    cJSON *p = rc_event(invoice, customer, txn, 0, "insufficient_funds", at);
    rc_set_str(p, "transactions[0].psp", "recoup");
    rc_set_str(p, "transactions[0].psp_transaction_id", payment_id);
    rc_set_str(p, "transactions[0].payment_method_id", pm);
    rc_set(p, "transactions[0].amount", "19.99");
    rc_set_str(p, "transactions[0].currency", "EUR");
    rc_set_str(p, "invoice.created_at", at);
    rc_set(p, "custom", "{\"plan\":\"pro\",\"note\":\"caf\\u00e9\"}");
    rc_send_free(s, keys.sandbox, p);
}

/* ---- driving time ---- */

#define INVOICE_FILTER "merchant_id = 'sandbox' AND invoice_id LIKE 'mn-%'"

/* Waits (real time, up to 15 s) until no live node is in the middle of an
 * attempt or a delivery, so that moving the clocks past the leases never
 * takes work away from a node that is still doing it. */
static void wait_live_nodes_idle(void)
{
    for (int i = 0; i < 300; i++) {
        if (db_i64("SELECT (SELECT count(*) FROM rc_retries WHERE " INVOICE_FILTER " AND state = 'running' AND "
                   "lease_owner NOT LIKE $1) + (SELECT count(*) FROM rc_webhooks WHERE " INVOICE_FILTER
                   " AND state = 'pending' AND lease_owner IS NOT NULL AND lease_owner NOT LIKE $1)",
                   dead_owner) == 0)
            return;
        usleep(50000);
    }
}

/* What the invoices are at, for a failure's message. */
static void invoices_summary(char *out, size_t outsz)
{
    PGresult *r = PQexec(db, "SELECT invoice_id || ' ' || state || ' attempts=' || recover_attempts || ' next=' || "
                             "next_retry_at || ' (' || COALESCE(state_reason, '') || ') webhooks: ' || COALESCE((SELECT "
                             "string_agg(w.type || '/' || w.state, ' ' ORDER BY w.created_at) FROM rc_webhooks w "
                             "WHERE w.merchant_id = i.merchant_id AND w.invoice_id = i.invoice_id), '') FROM "
                             "rc_invoices i WHERE " INVOICE_FILTER " ORDER BY invoice_id");
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r) && used + 300 < outsz; i++)
        used += (size_t)snprintf(out + used, outsz - used, "\n  %.280s", PQgetvalue(r, i, 0));
    PQclear(r);
}

#define DB_CHECK(cond)                                                                                             \
    do {                                                                                                           \
        if (!(cond)) {                                                                                             \
            char s_[12000];                                                                                         \
            invoices_summary(s_, sizeof s_);                                                                       \
            fprintf(stderr, "the invoices:%s\n", s_);                                                             \
            fail_msg("%s:%d: %s", __FILE__, __LINE__, #cond);                                                      \
        }                                                                                                          \
    } while (0)

/* Real time by which the case must be over: a node that never takes
 * work over fails it with the invoices' state instead of hanging. */
static int64_t deadline_ms;

static void check_deadline(void) { DB_CHECK(real_ms() < deadline_ms); }

static int64_t open_invoices(void)
{
    return db_i64("SELECT count(*) FROM rc_invoices WHERE " INVOICE_FILTER " AND closed_at IS NULL", NULL);
}

static int64_t attempts_made(void)
{
    return db_i64("SELECT COALESCE(sum(recover_attempts), 0) FROM rc_invoices WHERE " INVOICE_FILTER, NULL);
}

/* Moves the clocks to the earliest planned attempt (and past it), or by
 * two minutes when none is planned, which also outlasts a dead node's
 * leases (retry_lease, and the webhook lease of 80 s); then waits (real
 * time, up to 10 s) for the nodes to act. */
static void step(void)
{
    int64_t due = db_i64("SELECT min(due_at) FROM rc_retries WHERE " INVOICE_FILTER " AND state = 'planned'", NULL);
    int64_t now = clock_of(&node[0]);
    int64_t secs = due ? (due - now) / 1000 + 61 : 120;
    int64_t before_attempts = attempts_made(), before_open = open_invoices();
    check_deadline();
    wait_live_nodes_idle();
    advance_all(secs < 120 ? 120 : secs);
    for (int i = 0; i < 200; i++) {
        usleep(50000);
        int64_t running = db_i64("SELECT count(*) FROM rc_retries WHERE " INVOICE_FILTER " AND state = 'running'",
                                 NULL);
        int64_t marked = db_i64("SELECT count(*) FROM rc_invoices WHERE " INVOICE_FILTER " AND plan_needed = 1",
                                NULL);
        if (running == 0 && marked == 0 && (attempts_made() != before_attempts || open_invoices() != before_open))
            break;
    }
}

/* Moves the clocks past every planned attempt at once, so that all of
 * them are due together and the nodes share them out. */
static void advance_past_planned(void)
{
    int64_t due = db_i64("SELECT max(due_at) FROM rc_retries WHERE " INVOICE_FILTER " AND state = 'planned'", NULL);
    int64_t secs = due ? (due - clock_of(&node[0])) / 1000 + 1 : 0;
    advance_all(secs < 1 ? 1 : secs);
}

/* Waits (real time, up to 20 s) until the query's count is want. */
static int64_t wait_count(const char *sql, int64_t want)
{
    int64_t got = -1;
    for (int i = 0; i < 400 && (got = db_i64(sql, NULL)) != want; i++)
        usleep(50000);
    return got;
}

/* ---- checks ---- */

struct gw_count {
    int total, success;
};

static struct gw_count gateway_payments(const cJSON *list, const char *pm)
{
    struct gw_count c = {0, 0};
    const cJSON *p;
    cJSON_ArrayForEach(p, list)
    {
        if (strcmp(js(p, "payment_method_id"), pm) != 0)
            continue;
        c.total++;
        c.success += strcmp(js(p, "status"), "error") != 0;
    }
    return c;
}

static int accepted(const cJSON *e)
{
    double st = jnum(e, "status_answered");
    return st >= 200 && st < 300;
}

#define LOG_CHECK(cond, fmt, ...)                                                                                  \
    do {                                                                                                           \
        if (!(cond))                                                                                               \
            fail_msg("%s:%d: %s: " fmt, __FILE__, __LINE__, #cond, __VA_ARGS__);                                 \
    } while (0)

/* The merchant's accepted deliveries of one kind for an invoice: each
 * deduplication id is one event; a second acceptance of the same id is
 * allowed only when the first came before the kill and the second after
 * it (the killed node sent it and could not record it), and must carry the
 * same body. Returns the number of events; ids (may be NULL) receives
 * each event's butter_id. */
static int events_of(const cJSON *log, const char *kind, const char *invoice, int64_t kill_ms, char ids[][128],
                     int max_ids, int *duplicates)
{
    const cJSON *seen[16];
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, log)
    {
        if (strcmp(js(e, "kind"), kind) != 0 || strcmp(js(e, "invoice_id"), invoice) != 0 || !accepted(e))
            continue;
        const char *dedup = js(e, "dedup_id");
        const cJSON *first = NULL;
        for (int i = 0; i < n && !first; i++)
            if (strcmp(js(seen[i], "dedup_id"), dedup) == 0)
                first = seen[i];
        if (first) {
            LOG_CHECK(jnum(first, "at_ms") <= (double)kill_ms && jnum(e, "at_ms") > (double)kill_ms,
                      "%s %s: deduplication id %s accepted twice, not across the kill", kind, invoice, dedup);
            LOG_CHECK(strcmp(js(first, "raw_body"), js(e, "raw_body")) == 0,
                      "%s %s: a redelivery of %s with another body", kind, invoice, dedup);
            (*duplicates)++;
            continue;
        }
        LOG_CHECK(n < 16, "%s %s: too many events", kind, invoice);
        if (ids && n < max_ids)
            snprintf(ids[n], sizeof ids[n], "%s", js(cJSON_GetObjectItemCaseSensitive(e, "body"), "butter_id"));
        seen[n++] = e;
    }
    return n;
}

struct settler {
    rserver *node;
    pthread_barrier_t *start;
    int64_t settled;
    int failed;
};

static void *settle_repeatedly(void *arg)
{
    struct settler *st = arg;
    pthread_barrier_wait(st->start);
    for (int i = 0; i < 5; i++) {
        int n = settle_now(st->node, NULL, 0);
        if (n < 0)
            st->failed = 1;
        else
            st->settled += n;
    }
    return NULL;
}

static int count_status(const cJSON *list, const char *status)
{
    int n = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, list) n += strcmp(js(p, "status"), status) == 0;
    return n;
}

/* Whether the node with this lease owner pattern holds an attempt that
 * the gateway has already charged (the proxy logs a charge before it holds
 * the answer back). */
static int holds_a_charged_attempt(const char *owner)
{
    const char *params[1] = {owner};
    PGresult *r = PQexecParams(db,
                               "SELECT attempt_id FROM rc_retries WHERE " INVOICE_FILTER
                               " AND state = 'running' AND lease_owner LIKE $1",
                               1, NULL, params, NULL, NULL, 0);
    cJSON *log = fm_log(&fm);
    int found = 0;
    for (int row = 0; PQresultStatus(r) == PGRES_TUPLES_OK && row < PQntuples(r) && !found; row++) {
        const cJSON *e;
        cJSON_ArrayForEach(e, log)
        {
            found |= strcmp(js(e, "kind"), "psp") == 0 &&
                     strcmp(js(jobj(e, "headers"), "Idempotency-Key"), PQgetvalue(r, row, 0)) == 0;
        }
    }
    cJSON_Delete(log);
    PQclear(r);
    return found;
}

/* ---- the case ---- */

static void one_node_killed_while_charging(void)
{
    deadline_ms = real_ms() + 120000;
    configure();
    char *pms[INVOICES], *pays[INVOICES], inv[INVOICES][32];
    for (int i = 0; i < INVOICES; i++) {
        /* Through both API nodes: the gateway and Recover of either. */
        const rserver *via = &node[i % 2];
        snprintf(inv[i], sizeof inv[i], "mn-%02d", i);
        pms[i] = tokenise(via, "4000000000005126");
        pays[i] = merchant_charge(via, pms[i]);
        forward(via, inv[i], pays[i], pms[i]);
    }
    /* Applied and planned, by whichever workers took them. */
    int64_t planned = 0;
    for (int i = 0; i < 200 && planned < INVOICES; i++) {
        usleep(50000);
        planned = db_i64("SELECT count(*) FROM rc_retries WHERE " INVOICE_FILTER " AND state = 'planned'", NULL);
    }
    assert_int_equal(planned, INVOICES);

    /* The first retries, all due at once: declined, and the second ones
     * planned. */
    advance_past_planned();
    DB_CHECK(wait_count("SELECT count(*) FROM rc_invoices WHERE " INVOICE_FILTER " AND recover_attempts = 1 AND "
                        "closed_at IS NULL AND plan_needed = 0 AND next_retry_at > 0",
                        INVOICES) == INVOICES);
    DB_CHECK(wait_count("SELECT count(*) FROM rc_retries WHERE " INVOICE_FILTER " AND state = 'planned'", INVOICES) ==
             INVOICES);
    /* How far the second retries were from not being worth it (the
     * planner stops below 3 %): in percent, for the run's log. */
    print_message("# lowest predicted success of a second retry: %lld %%\n",
                  (long long)db_i64("SELECT floor(100 * min(predicted_success)) FROM rc_decisions WHERE " INVOICE_FILTER
                                    " AND action = 'retry' AND seq >= 2",
                                    NULL));
    wait_live_nodes_idle();

    /* The second retries: the gateway approves, the proxy holds the
     * answers, and the victim is killed once it holds an attempt that the
     * gateway has already charged. */
    fm_control(&fm, "/_control/psp", "{\"hold_ms\":4000}");
    char victim_owner[64];
    owner_pattern(&node[lay->victim], victim_owner, sizeof victim_owner);
    const char *victim_params[1] = {victim_owner};
    advance_past_planned();
    int charged_held = 0;
    for (int i = 0; i < 400 && !(charged_held = holds_a_charged_attempt(victim_owner)); i++)
        usleep(20000);
    assert_true(charged_held);
    server_kill(&node[lay->victim], SIGKILL);
    alive[lay->victim] = 0;
    int64_t kill_ms = real_ms();
    snprintf(dead_owner, sizeof dead_owner, "%s", victim_owner);
    fm_control(&fm, "/_control/psp", "{\"hold_ms\":0}");
    int64_t orphaned = db_i64("SELECT count(*) FROM rc_retries WHERE " INVOICE_FILTER
                              " AND state = 'running' AND lease_owner LIKE $1",
                              victim_owner);
    assert_true(orphaned >= 1);
    /* The attempts the dead node held, for the takeover check below. */
    PGresult *held = PQexecParams(db,
                                  "SELECT attempt_id FROM rc_retries WHERE " INVOICE_FILTER
                                  " AND state = 'running' AND lease_owner LIKE $1",
                                  1, NULL, victim_params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(held), PGRES_TUPLES_OK);

    /* Past the dead node's leases, and on until every invoice is closed. */
    for (int s = 0; s < 30 && open_invoices() > 0; s++)
        step();
    DB_CHECK(open_invoices() == 0);
    /* Every webhook delivered, the dead node's included (its leases run
     * out too). */
    for (int s = 0; s < 10; s++) {
        int64_t pending = db_i64("SELECT count(*) FROM rc_webhooks WHERE " INVOICE_FILTER " AND state <> 'delivered'",
                                 NULL);
        if (pending == 0)
            break;
        step();
    }
    assert_int_equal(db_i64("SELECT count(*) FROM rc_webhooks WHERE " INVOICE_FILTER " AND state <> 'delivered'", NULL),
                     0);
    DB_CHECK(db_i64("SELECT count(*) FROM rc_webhooks WHERE " INVOICE_FILTER, NULL) == 3 * INVOICES);

    /* The attempts the dead node held were finished by the others. */
    for (int row = 0; row < PQntuples(held); row++) {
        assert_int_equal(db_i64("SELECT count(*) FROM rc_retries WHERE attempt_id = $1 AND state = 'done'",
                                PQgetvalue(held, row, 0)),
                         1);
    }

    hres *list = gw_do(&node[0], "GET", node[0].payments, "/api/payments?limit=1000", NULL);
    CHECK_STATUS(list, 200);
    cJSON *log = fm_log(&fm);
    char why[4000];
    LOG_CHECK(fm_all_signed_ok(log, why, sizeof why), "%s", why);
    int duplicates = 0, replayed = 0;
    for (int i = 0; i < INVOICES; i++) {
        /* Read through the surviving API node. */
        hres *r = rc_get_invoice(&node[0], keys.sandbox, inv[i]);
        CHECK_STATUS(r, 200);
        CHECK(r, strcmp(js(r->json, "state"), "recovered") == 0);
        CHECK(r, jnum(r->json, "recover_attempts") == 2);
        char attempt_ids[2][128] = {"", ""};
        int done = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r->json, "retries"))
        {
            if (strcmp(js(x, "state"), "done") == 0 && done < 2)
                snprintf(attempt_ids[done++], sizeof attempt_ids[0], "%s", js(x, "attempt_id"));
        }
        CHECK(r, done == 2);
        hres_free(r);

        struct gw_count g = gateway_payments(list->json, pms[i]);
        LOG_CHECK(g.total == 3 && g.success == 1, "%s: card charged %d times, %d approved", inv[i], g.total,
                  g.success);

        char butter[4][128];
        int n = events_of(log, "retry_result", inv[i], kill_ms, butter, 4, &duplicates);
        LOG_CHECK(n == 2, "%s: %d Retry Results events accepted", inv[i], n);
        /* One event per attempt: the two butter_ids are the two attempts. */
        LOG_CHECK(strcmp(butter[0], butter[1]) != 0, "%s: one attempt reported twice (%s)", inv[i], butter[0]);
        for (int k = 0; k < 2; k++)
            LOG_CHECK(strcmp(butter[k], attempt_ids[0]) == 0 || strcmp(butter[k], attempt_ids[1]) == 0,
                      "%s: butter_id %s is not one of its attempts", inv[i], butter[k]);
        n = events_of(log, "end_of_dunning", inv[i], kill_ms, NULL, 0, &duplicates);
        LOG_CHECK(n == 1, "%s: %d End of Dunning events accepted", inv[i], n);

        /* A charge sent more than once went with the same idempotency key:
         * only the dead node's attempts are sent again. */
        for (int k = 0; k < 2; k++) {
            int sent = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, log)
                sent += strcmp(js(e, "kind"), "psp") == 0 &&
                        strcmp(js(jobj(e, "headers"), "Idempotency-Key"), attempt_ids[k]) == 0;
            int was_held = 0;
            for (int row = 0; row < PQntuples(held); row++)
                was_held |= strcmp(PQgetvalue(held, row, 0), attempt_ids[k]) == 0;
            LOG_CHECK(sent >= 1, "%s: attempt %s never charged through the PSP", inv[i], attempt_ids[k]);
            LOG_CHECK(sent == 1 || was_held, "%s: attempt %s charged %d times without a takeover", inv[i],
                      attempt_ids[k], sent);
            replayed += sent > 1;
        }
    }
    /* The charge the dead node made and never heard back from was sent
     * again by a survivor (and answered with the first payment). */
    assert_true(replayed >= 1);
    /* Settlement on two nodes at once: every successful payment (the
     * recovered ones and a hundred more) is settled by exactly one batch. */
    for (int i = 0; i < 100; i++)
        free(make_card_payment(&node[0], "4242424242424242", "10.00"));
    hres_free(list);
    list = gw_do(&node[0], "GET", node[0].payments, "/api/payments?limit=1000", NULL);
    CHECK_STATUS(list, 200);
    int to_settle = count_status(list->json, "success");
    CHECK(list, to_settle == INVOICES + 100 && count_status(list->json, "settled") == 0);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    struct settler settlers[2] = {{&node[0], &start, 0, 0}, {&node[lay->victim == 1 ? 2 : 1], &start, 0, 0}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, settle_repeatedly, &settlers[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
    assert_false(settlers[0].failed || settlers[1].failed);
    assert_int_equal(settlers[0].settled + settlers[1].settled, to_settle);
    hres_free(list);
    list = gw_do(&node[0], "GET", node[0].payments, "/api/payments?limit=1000", NULL);
    CHECK(list, count_status(list->json, "settled") == to_settle && count_status(list->json, "success") == 0);
    print_message("# settled by the two nodes: %lld and %lld\n", (long long)settlers[0].settled,
                  (long long)settlers[1].settled);

    print_message("# %lld attempts taken over from the killed node, %d charges replayed, %d webhook redeliveries "
                  "across the kill\n",
                  (long long)orphaned, replayed, duplicates);
    cJSON_Delete(log);
    hres_free(list);
    PQclear(held);
    for (int i = 0; i < INVOICES; i++) {
        free(pms[i]);
        free(pays[i]);
    }
}

static void all_all_worker_an_all_node_killed(void **state)
{
    (void)state;
    one_node_killed_while_charging();
}

static void all_api_worker_the_worker_killed(void **state)
{
    (void)state;
    one_node_killed_while_charging();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate_setup_teardown(all_all_worker_an_all_node_killed, setup, teardown,
                                                 (void *)&all_all_worker),
        cmocka_unit_test_prestate_setup_teardown(all_api_worker_the_worker_killed, setup, teardown,
                                                 (void *)&all_api_worker),
    };
    return cmocka_run_group_tests_name("multinode", tests, NULL, NULL);
}
