/* Recover on PostgreSQL: settings, the event inbox and the domain model,
 * with the semantics of sqlite/sqlite_recover.c, on a database that several
 * recoupd nodes share, each perhaps running the inbox worker.
 *
 * The inbox's guarantee is that the events of one invoice (and of one
 * customer, whose payment-method updates move its invoices) are applied in
 * the order they were received, each exactly once, whichever nodes apply
 * them. SQLite gets this from its single writer; here it rests on three
 * rules:
 *
 * 1. A pending list has no holes. seq comes from a sequence, so a later
 *    append can commit before an earlier one, and a worker reading in
 *    between would see event n+1 without event n. Each append (a batch
 *    of them: see the appender below) therefore holds a shared advisory
 *    lock (INBOX_LOCK_KEY) from before it draws its seqs until it commits,
 *    and inbox_pending takes the same lock exclusively before it reads:
 *    every append that drew a seq has then committed, and appends that
 *    start later draw larger ones. So when a
 *    list holds an event, it also holds every unprocessed event before it.
 *    Appends never wait for each other, only, briefly, for a pending read.
 *
 * 2. Claims in seq order. apply_events marks each event's inbox row
 *    processed (UPDATE ... WHERE processed_at IS NULL) first, in the
 *    transaction that applies it. A second worker claiming the same row
 *    waits for the first's transaction: if it committed, the row is
 *    processed and the second skips it; if it rolled back, the second
 *    applies it. A worker goes through its list in seq order, so it starts
 *    an event only once every earlier event of its list is committed as
 *    processed, by itself or by another node, and by rule 1 no earlier
 *    unprocessed event is missing from its list: workers never apply two
 *    events of an invoice out of order, nor one event twice.
 *
 * 3. A failure holds back what follows. An event that fails because of
 *    the store (rc STORE_ERROR: resources, a timeout, the server) rolls
 *    back to its savepoint and ends the batch: it and every event after it
 *    wait for the next round, so a retried event is never overtaken. An
 *    event that fails for good (its data, a constraint: SQLSTATE classes
 *    22 and 23) is recorded as rejected, as any failure other than the
 *    store's is on SQLite, and the events after it go on.
 *
 * A batch is one transaction with a savepoint per event, as on SQLite: one
 * durable commit per batch, and a failed event changes nothing of its own
 * while the others commit. The rows an event changes are locked as it
 * reads them (FOR UPDATE), so other writers of invoices take turns. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "store/postgres/pg_recover.h"
#include "store/postgres/pg_store.h"

static pg_store *S(store *s) { return (pg_store *)s; }

/* Key of the advisory lock of rule 1: "rcinbx" in ASCII, three digits a
 * letter; no other lock of the database uses it. */
#define INBOX_LOCK_KEY "114099105110098120"

static int retryable_state(const pg_conn *c)
{
    return strcmp(c->sqlstate, "40001") == 0 || strcmp(c->sqlstate, "40P01") == 0;
}

/* ---- settings ---- */

#define SETTINGS_COLS                                                                                           \
    "merchant_id, dunning_days, max_retries, timezone, integration, retry_status_url, retry_results_url, "       \
    "end_of_dunning_url, end_of_dunning_enabled, merchant_auth, merchant_auth_username, merchant_auth_secret, "  \
    "webhook_secret, updated_at, platform_retry_url, psp_url, psp_api_key"

static enum store_rc pg_settings_get(store *s, const char *merchant_id, struct rc_settings *out)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    PGresult *r = pg_read(S(s), "SELECT " SETTINGS_COLS " FROM rc_settings WHERE merchant_id = $1", &p);
    if (!r)
        return STORE_ERROR;
    memset(out, 0, sizeof *out);
    enum store_rc rc = PQntuples(r) ? STORE_OK : STORE_NOT_FOUND;
    if (rc == STORE_OK) {
        pg_col_text(r, 0, 0, out->merchant_id, sizeof out->merchant_id);
        out->dunning_days = pg_col_i64(r, 0, 1);
        out->max_retries = pg_col_i64(r, 0, 2);
        pg_col_text(r, 0, 3, out->timezone, sizeof out->timezone);
        pg_col_text(r, 0, 4, out->integration, sizeof out->integration);
        pg_col_text(r, 0, 5, out->retry_status_url, sizeof out->retry_status_url);
        pg_col_text(r, 0, 6, out->retry_results_url, sizeof out->retry_results_url);
        pg_col_text(r, 0, 7, out->end_of_dunning_url, sizeof out->end_of_dunning_url);
        out->end_of_dunning_enabled = (int)pg_col_i64(r, 0, 8);
        pg_col_text(r, 0, 9, out->merchant_auth, sizeof out->merchant_auth);
        pg_col_text(r, 0, 10, out->merchant_auth_username, sizeof out->merchant_auth_username);
        pg_col_text(r, 0, 11, out->merchant_auth_secret, sizeof out->merchant_auth_secret);
        pg_col_text(r, 0, 12, out->webhook_secret, sizeof out->webhook_secret);
        out->updated_at = pg_col_i64(r, 0, 13);
        pg_col_text(r, 0, 14, out->platform_retry_url, sizeof out->platform_retry_url);
        pg_col_text(r, 0, 15, out->psp_url, sizeof out->psp_url);
        pg_col_text(r, 0, 16, out->psp_api_key, sizeof out->psp_api_key);
    }
    PQclear(r);
    return rc;
}

static enum store_rc settings_put_fn(pg_conn *c, void *arg)
{
    const struct rc_settings *in = arg;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, in->merchant_id);
    pp_i64(&p, in->dunning_days);
    pp_i64(&p, in->max_retries);
    pp_text(&p, in->timezone);
    pp_text(&p, in->integration);
    pp_text_or_null(&p, in->retry_status_url);
    pp_text_or_null(&p, in->retry_results_url);
    pp_text_or_null(&p, in->end_of_dunning_url);
    pp_i64(&p, in->end_of_dunning_enabled);
    pp_text(&p, in->merchant_auth);
    pp_text_or_null(&p, in->merchant_auth_username);
    pp_text_or_null(&p, in->merchant_auth_secret);
    pp_text_or_null(&p, in->webhook_secret);
    pp_i64(&p, in->updated_at);
    pp_text_or_null(&p, in->platform_retry_url);
    pp_text_or_null(&p, in->psp_url);
    pp_text_or_null(&p, in->psp_api_key);
    PGresult *r = pg_run(c, "INSERT INTO rc_settings(" SETTINGS_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                            "$10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (merchant_id) DO UPDATE SET "
                            "dunning_days = excluded.dunning_days, max_retries = excluded.max_retries, "
                            "timezone = excluded.timezone, integration = excluded.integration, "
                            "retry_status_url = excluded.retry_status_url, "
                            "retry_results_url = excluded.retry_results_url, "
                            "end_of_dunning_url = excluded.end_of_dunning_url, "
                            "end_of_dunning_enabled = excluded.end_of_dunning_enabled, "
                            "merchant_auth = excluded.merchant_auth, "
                            "merchant_auth_username = excluded.merchant_auth_username, "
                            "merchant_auth_secret = excluded.merchant_auth_secret, "
                            "webhook_secret = excluded.webhook_secret, updated_at = excluded.updated_at, "
                            "platform_retry_url = excluded.platform_retry_url, psp_url = excluded.psp_url, "
                            "psp_api_key = excluded.psp_api_key",
                         &p);
    if (!r)
        return pg_rc(c) == STORE_NOT_FOUND ? STORE_NOT_FOUND : STORE_ERROR; /* no such merchant */
    PQclear(r);
    return STORE_OK;
}

static enum store_rc pg_settings_put(store *s, const struct rc_settings *in)
{
    return pg_tx(S(s), settings_put_fn, (void *)in);
}

/* ---- inbox: appends, grouped into one transaction ---- */

/* Request threads do not append on their own: each hands its event to an
 * appender thread, which writes every event waiting at that moment with
 * one multi-row INSERT and one commit, then wakes each request with its own
 * answer. Under load the events that arrive while a batch commits form the
 * next batch, so the cost of a commit is shared by all of them; a lone
 * event waits for nothing but its own commit. A few appenders keep
 * batches in flight while others wait for their flush to disk, and keep
 * the inbox's share of a busy machine's CPU (four measured better than two
 * or eight in short runs of 64 connections here, on a loaded machine). */
#define INBOX_APPENDERS 4

struct inbox_waiter {
    const struct rc_inbox_row *ev;
    struct inbox_waiter *next;
    pthread_cond_t done_cv;
    int done;
    enum store_rc rc;
    int duplicate;
    char request_id[72];
};

struct pg_inbox_appender {
    pg_store *s;
    size_t batch_max;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;
    struct inbox_waiter *head, *tail;
    int stop;
    int nthreads;
    int claimed; /* slots of taken handed to threads so far */
    pthread_t threads[INBOX_APPENDERS];
    struct inbox_waiter **taken[INBOX_APPENDERS];
};

enum { ROW_PENDING, ROW_INSERTED, ROW_DUPLICATE };

/* One batch: its waiters in arrival order, and the distinct events among
 * them (a second waiter with the same key is answered as a duplicate of
 * the first, as it would be had it come a moment later). */
struct inbox_batch {
    struct inbox_waiter **w;
    size_t n;
    size_t *first;  /* per waiter: the index of its key's first waiter */
    size_t *uniq;   /* the waiters that are first of their key */
    size_t nuniq;
    int *state;     /* per uniq: ROW_* */
    char (*stored)[72]; /* per uniq: the request id in the inbox */
    size_t *slots;  /* hash index over uniq: position + 1, 0 empty */
    size_t cap;
    char sqlstate[6]; /* of the statement that failed, for the caller */
};

static uint64_t key_hash(const char *merchant_id, const char *env, const char *kind, const char *fingerprint)
{
    const char *parts[] = {merchant_id, env, kind, fingerprint};
    uint64_t h = 1469598103934665603ULL; /* FNV-1a, the parts separated by their NULs */
    for (size_t i = 0; i < 4; i++) {
        for (const unsigned char *p = (const unsigned char *)parts[i];; p++) {
            h ^= *p;
            h *= 1099511628211ULL;
            if (!*p)
                break;
        }
    }
    return h;
}

static int key_equal(const struct rc_inbox_row *ev, const char *merchant_id, const char *env, const char *kind,
                     const char *fingerprint)
{
    return strcmp(ev->fingerprint, fingerprint) == 0 && strcmp(ev->merchant_id, merchant_id) == 0 &&
           strcmp(ev->env, env) == 0 && strcmp(ev->kind, kind) == 0;
}

/* The uniq position of a key, or SIZE_MAX; with add, registers waiter i
 * as the first of its key when it is new. */
static size_t batch_find(struct inbox_batch *b, const char *merchant_id, const char *env, const char *kind,
                         const char *fingerprint, int add, size_t i)
{
    size_t j = key_hash(merchant_id, env, kind, fingerprint) & (b->cap - 1);
    while (b->slots[j]) {
        size_t u = b->slots[j] - 1;
        if (key_equal(b->w[b->uniq[u]]->ev, merchant_id, env, kind, fingerprint))
            return u;
        j = (j + 1) & (b->cap - 1);
    }
    if (!add)
        return SIZE_MAX;
    b->uniq[b->nuniq] = i;
    b->slots[j] = ++b->nuniq;
    return b->nuniq - 1;
}

static void batch_free(struct inbox_batch *b)
{
    free(b->first);
    free(b->uniq);
    free(b->state);
    free(b->stored);
    free(b->slots);
}

static int batch_init(struct inbox_batch *b, struct inbox_waiter **w, size_t n)
{
    memset(b, 0, sizeof *b);
    b->w = w;
    b->n = n;
    b->cap = 4;
    while (b->cap < 2 * n)
        b->cap *= 2;
    b->first = calloc(n, sizeof *b->first);
    b->uniq = calloc(n, sizeof *b->uniq);
    b->state = calloc(n, sizeof *b->state);
    b->stored = calloc(n, sizeof *b->stored);
    b->slots = calloc(b->cap, sizeof *b->slots);
    if (!b->first || !b->uniq || !b->state || !b->stored || !b->slots) {
        batch_free(b);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct rc_inbox_row *ev = w[i]->ev;
        size_t u = batch_find(b, ev->merchant_id, ev->env, ev->kind, ev->fingerprint, 1, i);
        b->first[i] = b->uniq[u];
    }
    return 0;
}

/* Array literals ({"a","b\"c"}), quoted and escaped as PostgreSQL's
 * array input reads them. */
static void start_array(buf *out)
{
    buf_reset(out);
    buf_putc(out, '{');
}

static void array_sep(buf *out)
{
    if (out->len > 1)
        buf_putc(out, ',');
}

static void put_array_text(buf *out, const char *v)
{
    array_sep(out);
    buf_putc(out, '"');
    while (*v) {
        size_t plain = strcspn(v, "\"\\");
        buf_append(out, v, plain);
        v += plain;
        if (*v) {
            buf_putc(out, '\\');
            buf_putc(out, *v++);
        }
    }
    buf_putc(out, '"');
}

static void put_array_i64(buf *out, int64_t v)
{
    array_sep(out);
    buf_put_i64(out, v);
}

static void end_array(buf *out) { buf_putc(out, '}'); }

enum { COL_MERCHANT, COL_ENV, COL_KIND, COL_FINGERPRINT, COL_REQUEST, COL_PAYLOAD, COL_RECEIVED, NCOLS };

/* The still pending events as array literals, key columns only unless
 * full; the number of them. */
static size_t pending_arrays(const struct inbox_batch *b, buf cols[NCOLS], int full)
{
    size_t count = 0;
    for (int k = 0; k < NCOLS; k++)
        start_array(&cols[k]);
    for (size_t u = 0; u < b->nuniq; u++) {
        if (b->state[u] != ROW_PENDING)
            continue;
        const struct rc_inbox_row *ev = b->w[b->uniq[u]]->ev;
        put_array_text(&cols[COL_MERCHANT], ev->merchant_id);
        put_array_text(&cols[COL_ENV], ev->env);
        put_array_text(&cols[COL_KIND], ev->kind);
        put_array_text(&cols[COL_FINGERPRINT], ev->fingerprint);
        if (full) {
            put_array_text(&cols[COL_REQUEST], ev->request_id);
            put_array_text(&cols[COL_PAYLOAD], ev->payload ? ev->payload : "");
            put_array_i64(&cols[COL_RECEIVED], ev->received_at);
        }
        count++;
    }
    for (int k = 0; k < NCOLS; k++)
        end_array(&cols[k]);
    return count;
}

static int arrays_oom(const buf cols[NCOLS])
{
    for (int k = 0; k < NCOLS; k++)
        if (cols[k].oom)
            return 1;
    return 0;
}

/* Marks the rows of r (merchant_id, env, kind, fingerprint[, request_id])
 * as state; a row already settled keeps its state. */
static void mark_rows(struct inbox_batch *b, PGresult *r, int state)
{
    for (int row = 0; row < PQntuples(r); row++) {
        size_t u = batch_find(b, PQgetvalue(r, row, 0), PQgetvalue(r, row, 1), PQgetvalue(r, row, 2),
                              PQgetvalue(r, row, 3), 0, 0);
        if (u == SIZE_MAX || b->state[u] != ROW_PENDING)
            continue;
        const char *own = b->w[b->uniq[u]]->ev->request_id;
        /* Request ids are unique: a row holding this event's own is one
         * that an earlier attempt of this batch stored. */
        b->state[u] = state == ROW_DUPLICATE && strcmp(PQgetvalue(r, row, 4), own) != 0 ? ROW_DUPLICATE
                                                                                       : ROW_INSERTED;
        str_copy(b->stored[u], sizeof b->stored[u], state == ROW_DUPLICATE ? PQgetvalue(r, row, 4) : own);
    }
}

static enum store_rc batch_failed(struct inbox_batch *b, pg_conn *c)
{
    str_copy(b->sqlstate, sizeof b->sqlstate, c->sqlstate);
    return STORE_ERROR;
}

/* One attempt at the batch on c, outside any explicit transaction: the
 * INSERT is a transaction of its own, so the lock, the rows and the commit
 * cost one round trip. */
static enum store_rc inbox_batch_once(pg_conn *c, struct inbox_batch *b)
{
    b->sqlstate[0] = '\0';
    buf cols[NCOLS];
    for (int k = 0; k < NCOLS; k++)
        buf_init(&cols[k]);
    enum store_rc rc = STORE_ERROR;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (pending_arrays(b, cols, 1) == 0) {
            rc = STORE_OK;
            break;
        }
        if (arrays_oom(cols))
            break;
        struct pg_params p;
        pp_init(&p);
        for (int k = 0; k < NCOLS; k++)
            pp_text(&p, buf_cstr(&cols[k]));
        pp_text(&p, INBOX_LOCK_KEY);
        /* Rule 1 for the whole batch: every row is joined with the lock's
         * CTE, so the lock is taken before the first row reaches the
         * projection above the join that draws its seq (row by row, in
         * arrival order), and it is held until the statement's transaction
         * commits. An event that another transaction is appending waits on
         * the unique index until that one ends, then inserts nothing if it
         * committed. */
        PGresult *r = pg_run(c, "WITH inbox_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared($8::bigint)) "
                                "INSERT INTO rc_inbox(merchant_id, env, kind, fingerprint, request_id, payload, "
                                "received_at) SELECT m, e, k, f, q, p, t FROM inbox_lock, unnest($1::text[], "
                                "$2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[]) "
                                "WITH ORDINALITY AS u(m, e, k, f, q, p, t, i) ORDER BY i "
                                "ON CONFLICT (merchant_id, env, kind, fingerprint) DO NOTHING "
                                "RETURNING merchant_id, env, kind, fingerprint",
                             &p);
        if (!r) {
            rc = batch_failed(b, c);
            break;
        }
        mark_rows(b, r, ROW_INSERTED);
        PQclear(r);
        if (pending_arrays(b, cols, 0) == 0) {
            rc = STORE_OK;
            break;
        }
        if (arrays_oom(cols))
            break;
        /* The rows met are committed by now: the INSERT waited for them. */
        pp_init(&p);
        for (int k = COL_MERCHANT; k <= COL_FINGERPRINT; k++)
            pp_text(&p, buf_cstr(&cols[k]));
        r = pg_run(c, "SELECT i.merchant_id, i.env, i.kind, i.fingerprint, i.request_id FROM unnest($1::text[], "
                      "$2::text[], $3::text[], $4::text[]) AS u(m, e, k, f) JOIN rc_inbox i ON i.merchant_id = u.m "
                      "AND i.env = u.e AND i.kind = u.k AND i.fingerprint = u.f",
                   &p);
        if (!r) {
            rc = batch_failed(b, c);
            break;
        }
        mark_rows(b, r, ROW_DUPLICATE);
        PQclear(r);
        /* An event neither inserted nor found had its conflicting row
         * disappear in between (never expected: inbox rows are not
         * deleted): insert it again. */
    }
    for (int k = 0; k < NCOLS; k++)
        buf_free(&cols[k]);
    return rc;
}

/* Runs the batch, again after a conflict or on a fresh session when the
 * connection failed. Repeating is safe even when an earlier attempt
 * committed without our hearing of it: its rows then read back as
 * duplicates carrying their own request ids, which mark_rows counts as
 * inserted. */
static enum store_rc inbox_batch_run(pg_store *s, struct inbox_batch *b)
{
    enum store_rc rc = STORE_ERROR;
    for (int attempt = 0; attempt < 6; attempt++) {
        pg_conn *c = pg_acquire(s);
        if (!c)
            return STORE_ERROR;
        rc = inbox_batch_once(c, b);
        int again = rc != STORE_OK && (retryable_state(c) || (PQstatus(c->conn) != CONNECTION_OK && attempt == 0));
        pg_release(s, c);
        if (!again)
            break;
        usleep(1000u << attempt);
    }
    return rc;
}

static void answer(struct inbox_waiter *w, enum store_rc rc, int duplicate, const char *request_id)
{
    w->rc = rc;
    w->duplicate = rc == STORE_OK ? duplicate : 0;
    str_copy(w->request_id, sizeof w->request_id, rc == STORE_OK ? request_id : "");
}

/* Writes the events of w[0..n) in one transaction and fills in each
 * waiter's answer. A batch refused for the data of one event (SQLSTATE
 * classes 22, 23) is written again one event at a time, so that only that
 * event fails; any other failure fails the whole batch, since none of it
 * is stored. */
static void inbox_write(pg_store *s, struct inbox_waiter **w, size_t n)
{
    struct inbox_batch b;
    if (batch_init(&b, w, n) != 0) {
        for (size_t i = 0; i < n; i++)
            answer(w[i], STORE_ERROR, 0, "");
        return;
    }
    enum store_rc rc = inbox_batch_run(s, &b);
    if (rc != STORE_OK && b.nuniq > 1 && (strncmp(b.sqlstate, "22", 2) == 0 || strncmp(b.sqlstate, "23", 2) == 0)) {
        struct inbox_waiter **one = calloc(n, sizeof *one);
        for (size_t u = 0; one && u < b.nuniq; u++) {
            size_t k = 0;
            for (size_t i = 0; i < n; i++)
                if (b.first[i] == b.uniq[u])
                    one[k++] = w[i];
            inbox_write(s, one, k);
        }
        if (one) {
            free(one);
            batch_free(&b);
            return;
        }
    }
    for (size_t u = 0; u < b.nuniq; u++) {
        size_t lead = b.uniq[u];
        answer(w[lead], rc, b.state[u] == ROW_DUPLICATE, b.stored[u]);
    }
    for (size_t i = 0; i < n; i++)
        if (b.first[i] != i)
            answer(w[i], w[b.first[i]]->rc, 1, w[b.first[i]]->request_id);
    batch_free(&b);
}

static void *appender_main(void *arg)
{
    struct pg_inbox_appender *a = arg;
    pthread_mutex_lock(&a->mu);
    int self = a->claimed++;
    struct inbox_waiter **taken = a->taken[self];
    for (;;) {
        while (!a->head && !a->stop)
            pthread_cond_wait(&a->work_cv, &a->mu);
        if (!a->head)
            break; /* stopping, and nothing left to write */
        size_t n = 0;
        while (a->head && n < a->batch_max) {
            taken[n++] = a->head;
            a->head = a->head->next;
        }
        if (!a->head)
            a->tail = NULL;
        pthread_mutex_unlock(&a->mu);
        inbox_write(a->s, taken, n);
        pthread_mutex_lock(&a->mu);
        for (size_t i = 0; i < n; i++) {
            taken[i]->done = 1;
            pthread_cond_signal(&taken[i]->done_cv);
        }
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

void pg_inbox_appender_stop(struct pg_inbox_appender *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_broadcast(&a->work_cv);
    int n = a->nthreads;
    pthread_mutex_unlock(&a->mu);
    for (int i = 0; i < n; i++)
        pthread_join(a->threads[i], NULL);
    for (int i = 0; i < INBOX_APPENDERS; i++)
        free(a->taken[i]);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->work_cv);
    free(a);
}

struct pg_inbox_appender *pg_inbox_appender_start(pg_store *s, int batch_max)
{
    struct pg_inbox_appender *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->s = s;
    a->batch_max = batch_max > 0 ? (size_t)batch_max : 512;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->work_cv, NULL);
    pthread_mutex_lock(&a->mu);
    for (int i = 0; i < INBOX_APPENDERS; i++) {
        a->taken[i] = calloc(a->batch_max, sizeof *a->taken[i]);
        if (!a->taken[i])
            break;
        a->nthreads++;
        if (pthread_create(&a->threads[i], NULL, appender_main, a) != 0) {
            a->nthreads--;
            break;
        }
    }
    int started = a->nthreads;
    pthread_mutex_unlock(&a->mu);
    if (started == 0) {
        pg_inbox_appender_stop(a);
        return NULL;
    }
    return a;
}

static enum store_rc pg_inbox_append(store *s, const struct rc_inbox_row *ev, int *duplicate,
                                     char request_id_out[72])
{
    struct inbox_waiter w;
    memset(&w, 0, sizeof w);
    w.ev = ev;
    struct pg_inbox_appender *a = pg_inbox_appender_of(S(s));
    if (a) {
        pthread_cond_init(&w.done_cv, NULL);
        pthread_mutex_lock(&a->mu);
        if (a->stop) {
            pthread_mutex_unlock(&a->mu);
            a = NULL;
        } else {
            if (a->tail)
                a->tail->next = &w;
            else
                a->head = &w;
            a->tail = &w;
            pthread_cond_signal(&a->work_cv);
            while (!w.done)
                pthread_cond_wait(&w.done_cv, &a->mu);
            pthread_mutex_unlock(&a->mu);
        }
        pthread_cond_destroy(&w.done_cv);
    }
    if (!a) {
        /* No appender (it could not be started, or the store is closing):
         * the event is its own batch, written by this thread. */
        struct inbox_waiter *one = &w;
        inbox_write(S(s), &one, 1);
    }
    if (duplicate)
        *duplicate = w.duplicate;
    if (request_id_out)
        str_copy(request_id_out, 72, w.request_id);
    return w.rc;
}

struct inbox_pending_args {
    int max;
    struct rc_inbox_row *rows;
    size_t n;
};

static void free_inbox_rows(struct rc_inbox_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i].payload);
    free(rows);
}

static enum store_rc inbox_pending_fn(pg_conn *c, void *arg)
{
    struct inbox_pending_args *a = arg;
    free_inbox_rows(a->rows, a->n); /* from an earlier attempt */
    a->rows = NULL;
    a->n = 0;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, INBOX_LOCK_KEY);
    /* Rule 1: every append that drew a seq has committed once this is
     * granted, and the list below is read after it. */
    if (pg_run_cmd(c, "SELECT pg_advisory_xact_lock($1::bigint)", &p) != 0)
        return STORE_ERROR;
    pp_init(&p);
    pp_i64(&p, a->max > 0 ? a->max : 0);
    PGresult *r = pg_run(c, "SELECT merchant_id, env, seq, kind, fingerprint, request_id, payload, received_at "
                            "FROM rc_inbox WHERE processed_at IS NULL ORDER BY seq LIMIT $1",
                         &p);
    if (!r)
        return STORE_ERROR;
    int rows = PQntuples(r);
    struct rc_inbox_row *arr = calloc((size_t)(rows ? rows : 1), sizeof *arr);
    if (!arr) {
        PQclear(r);
        return STORE_ERROR;
    }
    for (int i = 0; i < rows; i++) {
        struct rc_inbox_row *row = &arr[i];
        pg_col_text(r, i, 0, row->merchant_id, sizeof row->merchant_id);
        pg_col_text(r, i, 1, row->env, sizeof row->env);
        row->seq = pg_col_i64(r, i, 2);
        pg_col_text(r, i, 3, row->kind, sizeof row->kind);
        pg_col_text(r, i, 4, row->fingerprint, sizeof row->fingerprint);
        pg_col_text(r, i, 5, row->request_id, sizeof row->request_id);
        row->payload = strdup(PQgetvalue(r, i, 6));
        row->received_at = pg_col_i64(r, i, 7);
        if (!row->payload) {
            PQclear(r);
            free_inbox_rows(arr, (size_t)i);
            return STORE_ERROR;
        }
    }
    PQclear(r);
    a->rows = arr;
    a->n = (size_t)rows;
    return STORE_OK;
}

static enum store_rc pg_inbox_pending(store *s, int max, struct rc_inbox_row **out, size_t *n)
{
    struct inbox_pending_args a = {max, NULL, 0};
    enum store_rc rc = pg_tx(S(s), inbox_pending_fn, &a);
    if (rc != STORE_OK) {
        free_inbox_rows(a.rows, a.n);
        *out = NULL;
        *n = 0;
        return rc;
    }
    *out = a.rows;
    *n = a.n;
    return STORE_OK;
}

static enum store_rc pg_inbox_backlog(store *s, int64_t *unprocessed)
{
    PGresult *r = pg_read(S(s), "SELECT COUNT(*) FROM rc_inbox WHERE processed_at IS NULL", NULL);
    if (!r)
        return STORE_ERROR;
    *unprocessed = pg_col_i64(r, 0, 0);
    PQclear(r);
    return STORE_OK;
}

/* Marks the inbox row processed; STORE_STATE when it already was (applied
 * before a crash, or by another node). A claim that meets another
 * transaction's claim waits for it to end (rule 2). */
static enum store_rc claim_inbox(pg_conn *c, const char *merchant_id, const char *env, int64_t seq, int64_t now,
                                 const char *error)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    pp_text(&p, env);
    pp_i64(&p, seq);
    pp_i64(&p, now);
    pp_text_or_null(&p, error);
    PGresult *r = pg_run(c, "UPDATE rc_inbox SET processed_at = $4, error = $5 WHERE merchant_id = $1 AND env = $2 "
                            "AND seq = $3 AND processed_at IS NULL",
                         &p);
    if (!r)
        return STORE_ERROR;
    int claimed = pg_changed_rows(r);
    PQclear(r);
    return claimed ? STORE_OK : STORE_STATE;
}

/* ---- invoices ---- */

#define INVOICE_COLS                                                                                            \
    "merchant_id, env, invoice_id, customer_id, subscription_id, created_at, state, state_reason, amount_due, "  \
    "currency, dunning_started_at, closed_at, failed_attempts, custom, updated_at"
/* Read with the columns Recover's own work keeps (never written by
 * save_invoice, so that applying an event leaves them alone). */
#define INVOICE_READ_COLS INVOICE_COLS ", recover_attempts, next_retry_at, plan_needed"
#define INVOICE_BY_ID "SELECT " INVOICE_READ_COLS " FROM rc_invoices WHERE merchant_id = $1 AND env = $2 AND invoice_id = $3"

static void read_invoice(const PGresult *r, int row, struct rc_invoice *inv)
{
    memset(inv, 0, sizeof *inv);
    pg_col_text(r, row, 0, inv->merchant_id, sizeof inv->merchant_id);
    pg_col_text(r, row, 1, inv->env, sizeof inv->env);
    pg_col_text(r, row, 2, inv->invoice_id, sizeof inv->invoice_id);
    pg_col_text(r, row, 3, inv->customer_id, sizeof inv->customer_id);
    pg_col_text(r, row, 4, inv->subscription_id, sizeof inv->subscription_id);
    inv->created_at = pg_col_i64(r, row, 5);
    pg_col_text(r, row, 6, inv->state, sizeof inv->state);
    pg_col_text(r, row, 7, inv->state_reason, sizeof inv->state_reason);
    inv->amount_due = pg_col_i64(r, row, 8);
    pg_col_text(r, row, 9, inv->currency, sizeof inv->currency);
    inv->has_dunning_started = !pg_col_null(r, row, 10);
    inv->dunning_started_at = pg_col_i64(r, row, 10);
    inv->has_closed = !pg_col_null(r, row, 11);
    inv->closed_at = pg_col_i64(r, row, 11);
    inv->failed_attempts = pg_col_i64(r, row, 12);
    inv->custom = pg_col_dup_or_null(r, row, 13);
    inv->updated_at = pg_col_i64(r, row, 14);
    inv->recover_attempts = pg_col_i64(r, row, 15);
    inv->next_retry_at = pg_col_i64(r, row, 16);
    inv->plan_needed = (int)pg_col_i64(r, row, 17);
    inv->exists = 1;
}

/* The invoice, locked until the event's transaction ends when lock is set. */
enum store_rc pg_rc_load_invoice(pg_conn *c, const char *merchant_id, const char *env, const char *invoice_id,
                                 int lock, struct rc_invoice *inv)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    pp_text(&p, env);
    pp_text(&p, invoice_id);
    PGresult *r = pg_run(c, lock ? INVOICE_BY_ID " FOR UPDATE" : INVOICE_BY_ID, &p);
    if (!r)
        return STORE_ERROR;
    enum store_rc rc = PQntuples(r) ? STORE_OK : STORE_NOT_FOUND;
    if (rc == STORE_OK)
        read_invoice(r, 0, inv);
    PQclear(r);
    return rc;
}

/* Writes the invoice; mark sets plan_needed, keeping the time of an
 * earlier mark still waiting, so that the planner's queue stays fair. */
static enum store_rc save_invoice(pg_conn *c, const struct rc_invoice *inv, int mark)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, inv->merchant_id);
    pp_text(&p, inv->env);
    pp_text(&p, inv->invoice_id);
    pp_text(&p, inv->customer_id);
    pp_text(&p, inv->subscription_id);
    pp_i64(&p, inv->created_at);
    pp_text(&p, inv->state);
    pp_text_or_null(&p, inv->state_reason);
    pp_i64(&p, inv->amount_due);
    pp_text(&p, inv->currency);
    pp_i64_or_null(&p, inv->has_dunning_started, inv->dunning_started_at);
    pp_i64_or_null(&p, inv->has_closed, inv->closed_at);
    pp_i64(&p, inv->failed_attempts);
    pp_text_or_null(&p, inv->custom);
    pp_i64(&p, inv->updated_at);
    pp_i64(&p, mark ? 1 : 0);
    return pg_run_cmd(c, "INSERT INTO rc_invoices(" INVOICE_COLS ", plan_needed, plan_marked_at) VALUES ($1, $2, $3, "
                      "$4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::integer, "
                      "CASE WHEN $16::integer = 1 THEN $15::bigint END) "
                      "ON CONFLICT (merchant_id, env, invoice_id) DO UPDATE SET "
                      "customer_id = excluded.customer_id, subscription_id = excluded.subscription_id, "
                      "state = excluded.state, state_reason = excluded.state_reason, "
                      "amount_due = excluded.amount_due, currency = excluded.currency, "
                      "dunning_started_at = excluded.dunning_started_at, closed_at = excluded.closed_at, "
                      "failed_attempts = excluded.failed_attempts, custom = excluded.custom, "
                      "updated_at = excluded.updated_at, "
                      /* A closed invoice has no next retry, from the moment it closes. */
                      "next_retry_at = CASE WHEN excluded.closed_at IS NOT NULL THEN 0 "
                      "ELSE rc_invoices.next_retry_at END, "
                      "plan_marked_at = CASE WHEN excluded.plan_needed = 1 AND rc_invoices.plan_needed = 0 "
                      "THEN excluded.plan_marked_at ELSE rc_invoices.plan_marked_at END, "
                      "plan_needed = GREATEST(rc_invoices.plan_needed, excluded.plan_needed)",
                   &p) == 0
               ? STORE_OK
               : STORE_ERROR;
}

enum store_rc pg_rc_add_invoice_event(pg_conn *c, const struct rc_invoice *inv, const char *from_state,
                                      const struct rc_transition *t, int64_t at)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, inv->merchant_id);
    pp_text(&p, inv->env);
    pp_text(&p, inv->invoice_id);
    pp_i64(&p, at);
    pp_text_or_null(&p, from_state);
    pp_text(&p, t->to_state);
    pp_text_or_null(&p, t->reason);
    return pg_run_cmd(c, "INSERT INTO rc_invoice_events(merchant_id, env, invoice_id, at, from_state, to_state, reason) "
                      "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                   &p) == 0
               ? STORE_OK
               : STORE_ERROR;
}

/* ---- applying a payment event ---- */

static enum store_rc upsert_customer(pg_conn *c, const struct rc_payment_event *ev)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, ev->merchant_id);
    pp_text(&p, ev->env);
    pp_text(&p, ev->customer.customer_id);
    pp_text_or_null(&p, ev->customer.psp_id);
    pp_i64_or_null(&p, ev->customer.has_created_at, ev->customer.created_at);
    pp_text_or_null(&p, ev->customer.postal_code);
    pp_i64(&p, ev->received_at);
    return pg_run_cmd(c, "INSERT INTO rc_customers(merchant_id, env, customer_id, psp_id, created_at, postal_code, "
                      "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (merchant_id, env, customer_id) "
                      "DO UPDATE SET psp_id = COALESCE(excluded.psp_id, rc_customers.psp_id), "
                      "created_at = COALESCE(excluded.created_at, rc_customers.created_at), "
                      "postal_code = COALESCE(excluded.postal_code, rc_customers.postal_code), "
                      "updated_at = excluded.updated_at",
                   &p) == 0
               ? STORE_OK
               : STORE_ERROR;
}

static enum store_rc upsert_subscription(pg_conn *c, const struct rc_payment_event *ev)
{
    const struct rc_subscription *sub = &ev->subscription;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, ev->merchant_id);
    pp_text(&p, ev->env);
    pp_text(&p, sub->subscription_id);
    pp_text(&p, ev->customer.customer_id);
    pp_i64(&p, sub->start_date);
    pp_i64_or_null(&p, sub->has_end_date, sub->end_date);
    pp_i64_or_null(&p, sub->discounted >= 0, sub->discounted);
    pp_text_or_null(&p, sub->product_id);
    pp_text_or_null(&p, sub->billing_period);
    pp_i64_or_null(&p, sub->billing_frequency > 0, sub->billing_frequency);
    pp_i64(&p, ev->received_at);
    return pg_run_cmd(c, "INSERT INTO rc_subscriptions(merchant_id, env, subscription_id, customer_id, start_date, "
                      "end_date, discounted, product_id, billing_period, billing_frequency, updated_at) VALUES ($1, "
                      "$2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (merchant_id, env, subscription_id) "
                      "DO UPDATE SET customer_id = excluded.customer_id, start_date = excluded.start_date, "
                      "end_date = COALESCE(excluded.end_date, rc_subscriptions.end_date), "
                      "discounted = COALESCE(excluded.discounted, rc_subscriptions.discounted), "
                      "product_id = COALESCE(excluded.product_id, rc_subscriptions.product_id), "
                      "billing_period = COALESCE(excluded.billing_period, rc_subscriptions.billing_period), "
                      "billing_frequency = COALESCE(excluded.billing_frequency, rc_subscriptions.billing_frequency), "
                      "updated_at = excluded.updated_at",
                   &p) == 0
               ? STORE_OK
               : STORE_ERROR;
}

enum store_rc pg_rc_insert_txn(pg_conn *c, const struct rc_payment_event *ev, struct rc_txn *t)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, ev->merchant_id);
    pp_text(&p, ev->env);
    pp_text(&p, t->transaction_id);
    pp_text(&p, ev->invoice_id);
    pp_text(&p, t->psp_transaction_id);
    pp_text(&p, t->psp);
    pp_text(&p, t->acquirer_country);
    pp_i64(&p, t->amount);
    pp_text(&p, t->currency);
    pp_text(&p, t->funding_source);
    pp_text(&p, t->payment_method_id);
    pp_i64(&p, t->psp_created_at);
    pp_text(&p, t->scheme);
    pp_i64(&p, t->success ? 1 : 0);
    pp_text(&p, t->raw_response_message);
    pp_text_or_null(&p, t->psp_response_message);
    pp_text_or_null(&p, t->processor_response_code);
    pp_text_or_null(&p, t->network_status);
    pp_text_or_null(&p, t->response_type);
    pp_text_or_null(&p, t->network_transaction_id);
    pp_text_or_null(&p, t->bin);
    pp_text_or_null(&p, t->issuer_country);
    pp_text(&p, t->origin[0] ? t->origin : "merchant");
    pp_text_or_null(&p, t->raw);
    pp_i64(&p, ev->received_at);
    pp_i64(&p, ev->inbox_seq);
    PGresult *r = pg_run(c, "INSERT INTO rc_transactions(merchant_id, env, transaction_id, invoice_id, "
                            "psp_transaction_id, psp, acquirer_country, amount, currency, funding_source, "
                            "payment_method_id, psp_created_at, scheme, success, raw_response_message, "
                            "psp_response_message, processor_response_code, network_status, response_type, "
                            "network_transaction_id, bin, issuer_country, origin, raw, received_at, inbox_seq) "
                            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, "
                            "$18, $19, $20, $21, $22, $23, $24, $25, $26) "
                            "ON CONFLICT (merchant_id, env, transaction_id) DO NOTHING",
                         &p);
    if (!r)
        return STORE_ERROR;
    t->is_new = pg_changed_rows(r);
    PQclear(r);
    return STORE_OK;
}

static enum store_rc upsert_payment_method(pg_conn *c, const struct rc_payment_event *ev, const struct rc_txn *t)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, ev->merchant_id);
    pp_text(&p, ev->env);
    pp_text(&p, t->payment_method_id);
    pp_text(&p, ev->customer.customer_id);
    pp_text(&p, t->psp);
    pp_text(&p, t->scheme);
    pp_text(&p, t->funding_source);
    pp_text_or_null(&p, t->bin);
    pp_text_or_null(&p, t->issuer_country);
    pp_i64(&p, ev->received_at);
    return pg_run_cmd(c, "INSERT INTO rc_payment_methods(merchant_id, env, payment_method_id, customer_id, psp, scheme, "
                      "funding_source, bin, issuer_country, status, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                      "$8, $9, 'active', $10) ON CONFLICT (merchant_id, env, payment_method_id) DO UPDATE SET "
                      "customer_id = excluded.customer_id, psp = excluded.psp, scheme = excluded.scheme, "
                      "funding_source = excluded.funding_source, "
                      "bin = COALESCE(excluded.bin, rc_payment_methods.bin), "
                      "issuer_country = COALESCE(excluded.issuer_country, rc_payment_methods.issuer_country), "
                      "updated_at = excluded.updated_at",
                   &p) == 0
               ? STORE_OK
               : STORE_ERROR;
}

static enum store_rc apply_payment(pg_conn *c, struct rc_payment_event *ev)
{
    enum store_rc rc = claim_inbox(c, ev->merchant_id, ev->env, ev->inbox_seq, ev->received_at, NULL);
    if (rc == STORE_STATE)
        return STORE_REPLAY; /* applied before: nothing to do, nothing to undo */
    if (rc != STORE_OK)
        return rc;
    if ((rc = upsert_customer(c, ev)) != STORE_OK || (rc = upsert_subscription(c, ev)) != STORE_OK)
        return rc;
    for (size_t i = 0; i < ev->ntxns; i++) {
        if ((rc = pg_rc_insert_txn(c, ev, &ev->txns[i])) != STORE_OK)
            return rc;
        if (ev->txns[i].is_new && (rc = upsert_payment_method(c, ev, &ev->txns[i])) != STORE_OK)
            return rc;
    }
    struct rc_invoice inv;
    memset(&inv, 0, sizeof inv);
    rc = pg_rc_load_invoice(c, ev->merchant_id, ev->env, ev->invoice_id, 1, &inv);
    if (rc == STORE_NOT_FOUND) {
        memset(&inv, 0, sizeof inv);
        str_copy(inv.merchant_id, sizeof inv.merchant_id, ev->merchant_id);
        str_copy(inv.env, sizeof inv.env, ev->env);
        str_copy(inv.invoice_id, sizeof inv.invoice_id, ev->invoice_id);
        inv.created_at = ev->invoice_created_at;
    } else if (rc != STORE_OK) {
        return rc;
    }
    str_copy(inv.customer_id, sizeof inv.customer_id, ev->customer.customer_id);
    str_copy(inv.subscription_id, sizeof inv.subscription_id, ev->subscription.subscription_id);
    if (ev->custom) {
        /* The latest custom object is the one echoed in webhooks. */
        free(inv.custom);
        inv.custom = strdup(ev->custom);
    }
    char from_state[32];
    str_copy(from_state, sizeof from_state, inv.exists ? inv.state : "");
    struct rc_transition t;
    memset(&t, 0, sizeof t);
    ev->decide(&inv, ev->txns, ev->ntxns, ev->received_at, &t);
    if (t.changed) {
        str_copy(inv.state, sizeof inv.state, t.to_state);
        str_copy(inv.state_reason, sizeof inv.state_reason, t.reason);
    }
    inv.updated_at = rc_next_updated_at(&inv, ev->received_at);
    rc = save_invoice(c, &inv, rc_event_needs_plan(&inv, ev, &t));
    if (rc == STORE_OK && t.changed)
        rc = pg_rc_add_invoice_event(c, &inv, from_state[0] ? from_state : NULL, &t, ev->received_at);
    free(inv.custom);
    return rc;
}

static enum store_rc apply_pm_update(pg_conn *c, const struct rc_pm_update *up)
{
    enum store_rc rc = claim_inbox(c, up->merchant_id, up->env, up->inbox_seq, up->received_at, NULL);
    if (rc == STORE_STATE)
        return STORE_REPLAY;
    if (rc != STORE_OK)
        return rc;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, up->merchant_id);
    pp_text(&p, up->env);
    pp_i64(&p, up->inbox_seq);
    pp_text(&p, up->customer_id);
    pp_text(&p, up->payment_method_id);
    pp_text_or_null(&p, up->psp_customer_id);
    pp_text_or_null(&p, up->reason);
    pp_i64(&p, up->received_at);
    if (pg_run_cmd(c, "INSERT INTO rc_pm_updates(merchant_id, env, inbox_seq, customer_id, payment_method_id, "
                   "psp_customer_id, reason, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &p) != 0)
        return STORE_ERROR;

    /* The customer's newest payment method: a removal or expiry marks the
     * method, anything else makes it the one to use. */
    const char *status = up->reason[0] && (strcmp(up->reason, "removed") == 0 || strcmp(up->reason, "expired") == 0)
                             ? up->reason
                             : "active";
    pp_init(&p);
    pp_text(&p, up->merchant_id);
    pp_text(&p, up->env);
    pp_text(&p, up->payment_method_id);
    pp_text(&p, up->customer_id);
    pp_text(&p, status);
    pp_i64(&p, up->received_at);
    if (pg_run_cmd(c, "INSERT INTO rc_payment_methods(merchant_id, env, payment_method_id, customer_id, psp, scheme, "
                   "funding_source, status, updated_at) VALUES ($1, $2, $3, $4, '', '', '', $5, $6) "
                   "ON CONFLICT (merchant_id, env, payment_method_id) DO UPDATE SET "
                   "customer_id = excluded.customer_id, status = excluded.status, updated_at = excluded.updated_at",
                &p) != 0)
        return STORE_ERROR;
    if (strcmp(status, "active") != 0)
        return STORE_OK;

    /* Invoices of the customer that wait for a new payment method, locked
     * in id order so that concurrent writers take them in one order. */
    pp_init(&p);
    pp_text(&p, up->merchant_id);
    pp_text(&p, up->env);
    pp_text(&p, up->customer_id);
    PGresult *r = pg_run(c, "SELECT " INVOICE_READ_COLS " FROM rc_invoices WHERE merchant_id = $1 AND env = $2 AND "
                            "customer_id = $3 AND state IN ('awaiting_payment_method', 'pending') ORDER BY invoice_id FOR UPDATE",
                         &p);
    if (!r)
        return STORE_ERROR;
    rc = STORE_OK;
    for (int i = 0; rc == STORE_OK && i < PQntuples(r); i++) {
        struct rc_invoice inv;
        read_invoice(r, i, &inv);
        char from_state[32];
        str_copy(from_state, sizeof from_state, inv.state);
        struct rc_transition t;
        memset(&t, 0, sizeof t);
        up->decide(&inv, up->reason, up->received_at, &t);
        if (t.changed) {
            str_copy(inv.state, sizeof inv.state, t.to_state);
            str_copy(inv.state_reason, sizeof inv.state_reason, t.reason);
            inv.updated_at = rc_next_updated_at(&inv, up->received_at);
            /* A new payment method: the planner decides when to use it. */
            rc = save_invoice(c, &inv, 1);
            if (rc == STORE_OK)
                rc = pg_rc_add_invoice_event(c, &inv, from_state, &t, up->received_at);
        } else {
            /* Still in dunning: a new card changes the best retry time
             * (and ends a wait for one), so the planner looks again. */
            inv.updated_at = rc_next_updated_at(&inv, up->received_at);
            rc = save_invoice(c, &inv, 1);
        }
        free(inv.custom);
    }
    PQclear(r);
    return rc;
}

struct apply_batch_args {
    struct rc_apply_item *items;
    size_t n;
};

/* Whether the failure c reports is the event's own, so that applying it
 * again would fail again: bad data or a broken constraint (SQLSTATE
 * classes 22 and 23). Anything else (resources, timeouts, the server) is
 * the store's and may pass. */
static int failure_is_the_events(const pg_conn *c)
{
    return strncmp(c->sqlstate, "22", 2) == 0 || strncmp(c->sqlstate, "23", 2) == 0;
}

static enum store_rc apply_batch_fn(pg_conn *c, void *arg)
{
    struct apply_batch_args *a = arg;
    for (size_t i = 0; i < a->n; i++)
        a->items[i].rc = STORE_ERROR; /* this may be a repeat of the batch */
    for (size_t i = 0; i < a->n; i++) {
        struct rc_apply_item *it = &a->items[i];
        if (it->rejected) {
            /* An event that cannot be applied is marked done, with why, so
             * that it does not block the events after it. */
            enum store_rc rrc = claim_inbox(c, it->rejected->merchant_id, it->rejected->env, it->rejected->seq,
                                            it->rejected->received_at, it->reject_reason);
            if (rrc == STORE_ERROR)
                return STORE_ERROR;
            it->rc = STORE_OK;
            continue;
        }
        if (pg_run_cmd(c, "SAVEPOINT item", NULL) != 0)
            return STORE_ERROR;
        enum store_rc rc = it->payment ? apply_payment(c, it->payment) : apply_pm_update(c, it->pm_update);
        if (rc == STORE_OK || rc == STORE_REPLAY) {
            if (pg_run_cmd(c, "RELEASE SAVEPOINT item", NULL) != 0)
                return STORE_ERROR;
            it->rc = STORE_OK;
            continue;
        }
        /* A conflict (serialization failure, deadlock) or a lost
         * connection ends the whole batch: pg_tx runs it again, or it is
         * tried next round. Anything else undoes only this event. */
        if (retryable_state(c) || PQstatus(c->conn) != CONNECTION_OK)
            return STORE_ERROR;
        if (rc == STORE_ERROR && failure_is_the_events(c))
            rc = STORE_STATE;
        if (pg_run_cmd(c, "ROLLBACK TO SAVEPOINT item", NULL) != 0 || pg_run_cmd(c, "RELEASE SAVEPOINT item", NULL) != 0)
            return STORE_ERROR;
        /* Rule 3: a failure of the store's leaves this event, and every
         * one after it, for the next round; the batch so far commits. */
        if (rc == STORE_ERROR)
            break;
        /* This event's failure is for good: recorded as rejected. */
        const char *merchant = it->payment ? it->payment->merchant_id : it->pm_update->merchant_id;
        const char *env = it->payment ? it->payment->env : it->pm_update->env;
        int64_t seq = it->payment ? it->payment->inbox_seq : it->pm_update->inbox_seq;
        int64_t at = it->payment ? it->payment->received_at : it->pm_update->received_at;
        if (claim_inbox(c, merchant, env, seq, at, store_rc_name(rc)) == STORE_ERROR)
            return STORE_ERROR;
        it->rc = rc;
    }
    return STORE_OK;
}

static enum store_rc pg_apply_events(store *s, struct rc_apply_item *items, size_t n)
{
    if (n == 0)
        return STORE_OK;
    struct apply_batch_args a = {items, n};
    enum store_rc rc = pg_tx(S(s), apply_batch_fn, &a);
    if (rc != STORE_OK)
        for (size_t i = 0; i < n; i++)
            items[i].rc = rc;
    return rc;
}

/* ---- read access ---- */

void pg_rc_read_txn(const PGresult *r, int row, struct rc_txn *t)
{
    memset(t, 0, sizeof *t);
    pg_col_text(r, row, 0, t->transaction_id, sizeof t->transaction_id);
    pg_col_text(r, row, 1, t->psp_transaction_id, sizeof t->psp_transaction_id);
    pg_col_text(r, row, 2, t->psp, sizeof t->psp);
    pg_col_text(r, row, 3, t->acquirer_country, sizeof t->acquirer_country);
    t->amount = pg_col_i64(r, row, 4);
    pg_col_text(r, row, 5, t->currency, sizeof t->currency);
    pg_col_text(r, row, 6, t->funding_source, sizeof t->funding_source);
    pg_col_text(r, row, 7, t->payment_method_id, sizeof t->payment_method_id);
    t->psp_created_at = pg_col_i64(r, row, 8);
    pg_col_text(r, row, 9, t->scheme, sizeof t->scheme);
    t->success = pg_col_i64(r, row, 10) != 0;
    pg_col_text(r, row, 11, t->raw_response_message, sizeof t->raw_response_message);
    pg_col_text(r, row, 12, t->psp_response_message, sizeof t->psp_response_message);
    pg_col_text(r, row, 13, t->processor_response_code, sizeof t->processor_response_code);
    pg_col_text(r, row, 14, t->network_status, sizeof t->network_status);
    pg_col_text(r, row, 15, t->response_type, sizeof t->response_type);
    pg_col_text(r, row, 16, t->network_transaction_id, sizeof t->network_transaction_id);
    pg_col_text(r, row, 17, t->bin, sizeof t->bin);
    pg_col_text(r, row, 18, t->issuer_country, sizeof t->issuer_country);
    pg_col_text(r, row, 19, t->origin, sizeof t->origin);
    t->raw = pg_col_dup_or_null(r, row, 20);
}

static void read_event(const PGresult *r, int row, struct rc_invoice_event *e)
{
    memset(e, 0, sizeof *e);
    e->seq = pg_col_i64(r, row, 0);
    e->at = pg_col_i64(r, row, 1);
    pg_col_text(r, row, 2, e->from_state, sizeof e->from_state);
    pg_col_text(r, row, 3, e->to_state, sizeof e->to_state);
    pg_col_text(r, row, 4, e->reason, sizeof e->reason);
}

struct invoice_get_args {
    const char *merchant_id, *env, *invoice_id;
    struct rc_invoice *inv;
    struct rc_txn **txns;
    size_t *ntxns;
    struct rc_invoice_event **events;
    size_t *nevents;
};

static void invoice_get_clear(struct invoice_get_args *a)
{
    free(a->inv->custom);
    memset(a->inv, 0, sizeof *a->inv);
    rc_txns_free(*a->txns, *a->ntxns);
    free(*a->events);
    *a->txns = NULL;
    *a->events = NULL;
    *a->ntxns = *a->nevents = 0;
}

/* The three reads, inside the caller's transaction. */
static enum store_rc invoice_get_reads(pg_conn *c, struct invoice_get_args *a)
{
    enum store_rc rc = pg_rc_load_invoice(c, a->merchant_id, a->env, a->invoice_id, 0, a->inv);
    if (rc != STORE_OK)
        return rc;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, a->merchant_id);
    pp_text(&p, a->env);
    pp_text(&p, a->invoice_id);
    PGresult *r = pg_run(c, "SELECT " TXN_COLS " FROM rc_transactions WHERE merchant_id = $1 AND env = $2 AND "
                            "invoice_id = $3 ORDER BY psp_created_at, received_at, transaction_id",
                         &p);
    if (!r)
        return STORE_ERROR;
    int rows = PQntuples(r);
    *a->txns = calloc((size_t)(rows ? rows : 1), sizeof **a->txns);
    if (!*a->txns) {
        PQclear(r);
        return STORE_ERROR;
    }
    for (int i = 0; i < rows; i++)
        pg_rc_read_txn(r, i, &(*a->txns)[i]);
    *a->ntxns = (size_t)rows;
    PQclear(r);
    r = pg_run(c, "SELECT seq, at, from_state, to_state, reason FROM rc_invoice_events WHERE merchant_id = $1 AND "
                  "env = $2 AND invoice_id = $3 ORDER BY seq",
               &p);
    if (!r)
        return STORE_ERROR;
    rows = PQntuples(r);
    *a->events = calloc((size_t)(rows ? rows : 1), sizeof **a->events);
    if (!*a->events) {
        PQclear(r);
        return STORE_ERROR;
    }
    for (int i = 0; i < rows; i++)
        read_event(r, i, &(*a->events)[i]);
    *a->nevents = (size_t)rows;
    PQclear(r);
    return STORE_OK;
}

static enum store_rc pg_invoice_get(store *s, const char *merchant_id, const char *env, const char *invoice_id,
                                    struct rc_invoice *inv, struct rc_txn **txns, size_t *ntxns,
                                    struct rc_invoice_event **events, size_t *nevents)
{
    struct invoice_get_args a = {merchant_id, env, invoice_id, inv, txns, ntxns, events, nevents};
    memset(inv, 0, sizeof *inv);
    *txns = NULL;
    *events = NULL;
    *ntxns = *nevents = 0;
    enum store_rc rc = STORE_ERROR;
    /* One REPEATABLE READ snapshot for the three reads, so the invoice, its
     * transactions and its history agree even while the worker applies an
     * event. A read-only transaction never meets a serialization failure;
     * a pooled connection that lost its server is tried once more. */
    for (int attempt = 0; attempt < 2; attempt++) {
        pg_conn *c = pg_acquire(S(s));
        if (!c)
            return STORE_ERROR;
        if (pg_run_cmd(c, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", NULL) != 0) {
            int broken = PQstatus(c->conn) != CONNECTION_OK;
            pg_release(S(s), c);
            if (broken)
                continue;
            return STORE_ERROR;
        }
        rc = invoice_get_reads(c, &a);
        if (pg_run_cmd(c, "COMMIT", NULL) != 0 && rc == STORE_OK)
            rc = STORE_ERROR;
        pg_release(S(s), c);
        break;
    }
    if (rc != STORE_OK)
        invoice_get_clear(&a);
    return rc;
}

const struct store_recover_ops pg_recover_ops = {
    .settings_get = pg_settings_get,
    .settings_put = pg_settings_put,
    .inbox_append = pg_inbox_append,
    .inbox_pending = pg_inbox_pending,
    .apply_events = pg_apply_events,
    .inbox_backlog = pg_inbox_backlog,
    .invoice_get = pg_invoice_get,
    .plan_pending = pg_plan_pending,
    .mark_window_over = pg_mark_window_over,
    .card_txns = pg_card_txns,
    .pm_update_after = pg_pm_update_after,
    .plan_write = pg_plan_write,
    .decisions_list = pg_decisions_list,
    .retries_list = pg_retries_list,
    .retries_claim = pg_retries_claim,
    .attempt_write = pg_attempt_write,
    .retry_requested = pg_retry_requested,
    .retry_next_due = pg_retry_next_due,
    .webhooks_claim = pg_webhooks_claim,
    .webhook_result = pg_webhook_result,
    .webhook_results = pg_webhook_results,
    .webhooks_list = pg_webhooks_list,
    .webhook_get = pg_webhook_get,
    .webhook_redeliver = pg_webhook_redeliver,
    .webhook_next_due = pg_webhook_next_due,
    .model_get = pg_model_get,
    .model_put = pg_model_put,
    .model_merge = pg_model_merge,
    .model_versions = pg_model_versions,
};
