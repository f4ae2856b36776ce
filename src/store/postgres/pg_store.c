/* PostgreSQL backend: a pool of libpq connections, every statement
 * prepared once per connection and cached by its text, transactions that
 * are retried on serialization failures and deadlocks, and named migrations
 * applied under an advisory lock so that nodes starting together do not
 * race.
 *
 * Durability: a write returns only after its COMMIT has returned, and
 * synchronous_commit is never weakened (a session whose server default is
 * "off" is raised to "on"). PostgreSQL groups the WAL flushes of concurrent
 * commits itself, so one connection per request thread gives group commit
 * without a writer thread of our own. Recover's inbox appends are the
 * exception (pg_recover.c): at its rates the transaction per event, not
 * the flush, was the cost, so appender threads write the events waiting
 * in one transaction each.
 *
 * Concurrency: where SQLite relies on its single writer, this backend takes
 * row locks: a refund locks its payment (SELECT ... FOR UPDATE), an
 * idempotency key is claimed by inserting it (a concurrent claim waits on
 * the unique index, then reads the winner's answer), and settlement claims
 * rows with FOR UPDATE SKIP LOCKED so that several nodes can settle at once
 * without settling a payment twice. */
#include "store/postgres/pg_store.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"

/* How long a request waits for a free pooled connection before failing. */
#define POOL_WAIT_MS 30000
/* Attempts of a transaction that keeps hitting serialization failures. */
#define TX_ATTEMPTS 12
/* Key of the session advisory lock held while migrating; any constant that
 * no other application on the database uses ("recoup" in ASCII). */
#define MIGRATION_LOCK_KEY "114101099111117112"

struct pg_store {
    store base;
    struct store_ops ops;
    char *conninfo;
    int pool_max;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    pg_conn *free_list;
    pg_conn **all; /* every connection opened, for closing */
    int nall;
    int nopen; /* opened or being opened: at most pool_max */

    int inbox_batch_max;
    int inbox_tried; /* an appender start was attempted (it is not retried) */
    struct pg_inbox_appender *inbox;
};

static pg_store *S(store *s) { return (pg_store *)s; }

/* ---- parameters and columns ---- */

void pp_init(struct pg_params *p) { memset(p, 0, sizeof *p); }

static int pp_slot(struct pg_params *p)
{
    if (p->n >= PG_MAX_PARAMS) {
        log_error("postgres: more than %d parameters in one statement", PG_MAX_PARAMS);
        abort(); /* a programming error, caught by the tests */
    }
    return p->n++;
}

void pp_text(struct pg_params *p, const char *v)
{
    int i = pp_slot(p);
    p->values[i] = v ? v : "";
}

void pp_text_or_null(struct pg_params *p, const char *v)
{
    int i = pp_slot(p);
    p->values[i] = v && *v ? v : NULL;
}

void pp_i64(struct pg_params *p, int64_t v)
{
    int i = pp_slot(p);
    snprintf(p->nums[i], sizeof p->nums[i], "%lld", (long long)v);
    p->values[i] = p->nums[i];
}

void pp_i64_or_null(struct pg_params *p, int has, int64_t v)
{
    if (has) {
        pp_i64(p, v);
    } else {
        int i = pp_slot(p);
        p->values[i] = NULL;
    }
}

void pg_col_text(const PGresult *r, int row, int col, char *out, size_t outsz)
{
    str_copy(out, outsz, PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

int64_t pg_col_i64(const PGresult *r, int row, int col)
{
    int64_t v = 0;
    if (!PQgetisnull(r, row, col) && str_to_i64(PQgetvalue(r, row, col), &v) != 0)
        v = 0;
    return v;
}

int pg_col_null(const PGresult *r, int row, int col) { return PQgetisnull(r, row, col); }

/* ---- errors ---- */

static void log_pg_error(const char *what, const char *sqlstate, const char *msg)
{
    char clean[1024];
    str_copy(clean, sizeof clean, msg ? msg : "?");
    for (char *p = clean; *p; p++)
        if (*p == '\n')
            *p = ' ';
    const char *kv[] = {"component", "postgres", "op", what, "sqlstate", sqlstate, "error", clean, NULL};
    log_kv(LOG_ERROR, "store operation failed", kv);
}

enum store_rc pg_rc(const pg_conn *c)
{
    if (strcmp(c->sqlstate, "23505") == 0)
        return STORE_EXISTS;
    if (strcmp(c->sqlstate, "23503") == 0)
        return STORE_NOT_FOUND;
    return STORE_ERROR;
}

static int expected_state(const char *st)
{
    /* Violations the callers turn into answers, and the conflicts the
     * transaction runner retries: neither is a failure worth a log line. */
    return strcmp(st, "23505") == 0 || strcmp(st, "23503") == 0 || strcmp(st, "40001") == 0 ||
           strcmp(st, "40P01") == 0;
}

/* Takes ownership of r: NULL unless it succeeded. */
static PGresult *check_result(pg_conn *c, PGresult *r, const char *what)
{
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        c->sqlstate[0] = '\0';
        return r;
    }
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    /* A broken connection has no SQLSTATE: report it as a connection failure. */
    str_copy(c->sqlstate, sizeof c->sqlstate, state ? state : "08006");
    if (!expected_state(c->sqlstate))
        log_pg_error(what, c->sqlstate, r ? PQresultErrorMessage(r) : PQerrorMessage(c->conn));
    PQclear(r);
    return NULL;
}

/* ---- prepared statements ---- */

/* Open-addressing table from SQL text to the name of the statement prepared
 * on this connection. A connection sees a few dozen distinct statements. */
struct pg_stmt_cache {
    size_t cap, count;
    unsigned next_name;
    struct pg_cached {
        uint64_t hash;
        char *sql;
        char name[16];
    } *slots;
};

static uint64_t sql_hash(const char *sql)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

static void cache_free(struct pg_stmt_cache *cache)
{
    if (!cache)
        return;
    for (size_t i = 0; i < cache->cap; i++)
        free(cache->slots[i].sql);
    free(cache->slots);
    free(cache);
}

static int cache_grow(struct pg_stmt_cache *c)
{
    size_t cap = c->cap ? c->cap * 2 : 64;
    struct pg_cached *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->slots[i].sql)
            continue;
        size_t j = c->slots[i].hash & (cap - 1);
        while (slots[j].sql)
            j = (j + 1) & (cap - 1);
        slots[j] = c->slots[i];
    }
    free(c->slots);
    c->slots = slots;
    c->cap = cap;
    return 0;
}

/* The name of sql's prepared statement on c, preparing it on first use. */
static const char *stmt_name(pg_conn *c, const char *sql)
{
    if (!c->cache && !(c->cache = calloc(1, sizeof *c->cache)))
        return NULL;
    struct pg_stmt_cache *cache = c->cache;
    if ((cache->count + 1) * 2 > cache->cap && cache_grow(cache) != 0)
        return NULL;
    uint64_t h = sql_hash(sql);
    size_t i = h & (cache->cap - 1);
    while (cache->slots[i].sql) {
        if (cache->slots[i].hash == h && strcmp(cache->slots[i].sql, sql) == 0)
            return cache->slots[i].name;
        i = (i + 1) & (cache->cap - 1);
    }
    char name[16];
    snprintf(name, sizeof name, "r%u", cache->next_name);
    /* Parameter types are left to the server, which infers them from the
     * columns and operators they meet; every value travels as text. */
    PGresult *r = check_result(c, PQprepare(c->conn, name, sql, 0, NULL), sql);
    if (!r)
        return NULL;
    PQclear(r);
    char *copy = strdup(sql);
    if (!copy)
        return NULL;
    cache->next_name++;
    cache->slots[i].hash = h;
    cache->slots[i].sql = copy;
    str_copy(cache->slots[i].name, sizeof cache->slots[i].name, name);
    cache->count++;
    return cache->slots[i].name;
}

PGresult *pg_run(pg_conn *c, const char *sql, const struct pg_params *params)
{
    const char *name = stmt_name(c, sql);
    if (!name)
        return NULL;
    int n = params ? params->n : 0;
    PGresult *r = PQexecPrepared(c->conn, name, n, n ? params->values : NULL, NULL, NULL, 0);
    return check_result(c, r, sql);
}

/* ---- connections and the pool ---- */

static void conn_close(pg_conn *c)
{
    if (!c)
        return;
    cache_free(c->cache);
    PQfinish(c->conn);
    free(c);
}

/* Server notices ("relation already exists, skipping") are not errors and
 * must not reach stderr unformatted; real failures come back as results. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *connect_db(const char *conninfo, char *err, size_t errsz)
{
    /* expand_dbname: conninfo may be a URL or a keyword string. Keywords
     * before it are defaults that it may override: without a connect
     * timeout, an unreachable host would hold a request thread for minutes. */
    const char *const keys[] = {"connect_timeout", "dbname", "fallback_application_name", NULL};
    const char *const values[] = {"10", conninfo, "recoupd", NULL};
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        char msg[512];
        str_copy(msg, sizeof msg, conn ? PQerrorMessage(conn) : "out of memory");
        for (char *p = msg; *p; p++)
            if (*p == '\n')
                *p = ' ';
        snprintf(err, errsz, "cannot connect to PostgreSQL: %s", msg);
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, ignore_notice, NULL);
    return conn;
}

/* Per-session settings, run on every new or reset connection. */
static int conn_setup(pg_conn *c)
{
    PGresult *r = pg_run(c, "SELECT current_setting('synchronous_commit')", NULL);
    if (!r)
        return -1;
    int off = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "off") == 0;
    PQclear(r);
    if (off) {
        /* "off" acknowledges commits before they reach disk; a 2xx from
         * recoup promises the opposite. Any other value (local, on,
         * remote_write, remote_apply) is at least locally durable. */
        r = pg_run(c, "SELECT set_config('synchronous_commit', 'on', false)", NULL);
        if (!r)
            return -1;
        PQclear(r);
    }
    return 0;
}

static pg_conn *conn_open(pg_store *s, char *err, size_t errsz)
{
    pg_conn *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    c->owner = s;
    c->conn = connect_db(s->conninfo, err, errsz);
    if (!c->conn) {
        free(c);
        return NULL;
    }
    if (conn_setup(c) != 0) {
        snprintf(err, errsz, "cannot configure the PostgreSQL session");
        conn_close(c);
        return NULL;
    }
    return c;
}

/* A connection whose server went away is reconnected before reuse; its
 * prepared statements died with the old session. */
static void conn_repair(pg_conn *c)
{
    if (PQstatus(c->conn) == CONNECTION_OK) {
        if (PQtransactionStatus(c->conn) == PQTRANS_IDLE)
            return;
        PGresult *r = PQexec(c->conn, "ROLLBACK");
        PQclear(r);
        if (PQstatus(c->conn) == CONNECTION_OK && PQtransactionStatus(c->conn) == PQTRANS_IDLE)
            return;
    }
    cache_free(c->cache);
    c->cache = NULL;
    PQreset(c->conn);
    if (PQstatus(c->conn) == CONNECTION_OK && conn_setup(c) != 0)
        log_warn("postgres: a reconnected session could not be configured");
}

pg_conn *pg_acquire(pg_store *s)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += POOL_WAIT_MS / 1000;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        pg_conn *c = s->free_list;
        if (c) {
            s->free_list = c->next_free;
            pthread_mutex_unlock(&s->mu);
            c->next_free = NULL;
            c->sqlstate[0] = '\0';
            return c;
        }
        if (s->nopen < s->pool_max) {
            s->nopen++; /* counted while connecting, outside the lock */
            pthread_mutex_unlock(&s->mu);
            char err[600];
            c = conn_open(s, err, sizeof err);
            pthread_mutex_lock(&s->mu);
            if (c) {
                s->all[s->nall++] = c;
                pthread_mutex_unlock(&s->mu);
                return c;
            }
            s->nopen--;
            pthread_cond_signal(&s->cv);
            pthread_mutex_unlock(&s->mu);
            log_error("%s", err);
            return NULL;
        }
        if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&s->mu);
            log_error("postgres: no pooled connection free within %d ms (pg_pool_size %d)", POOL_WAIT_MS,
                      s->pool_max);
            return NULL;
        }
    }
}

void pg_release(pg_store *s, pg_conn *c)
{
    if (!c)
        return;
    conn_repair(c);
    pthread_mutex_lock(&s->mu);
    c->next_free = s->free_list;
    s->free_list = c;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- transactions ---- */

static int retryable(const pg_conn *c)
{
    return strcmp(c->sqlstate, "40001") == 0 || strcmp(c->sqlstate, "40P01") == 0;
}

static void backoff(int attempt)
{
    /* Exponential from 2 ms, capped at 250 ms, randomised so that the
     * transactions that collided do not collide again in step. */
    unsigned base = 2000u << (attempt < 7 ? attempt : 7);
    if (base > 250000u)
        base = 250000u;
    usleep(base / 2 + randombytes_uniform(base));
}

static int run_simple(pg_conn *c, const char *sql)
{
    PGresult *r = pg_run(c, sql, NULL);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

enum store_rc pg_tx(pg_store *s, pg_tx_fn fn, void *arg)
{
    enum store_rc rc = STORE_ERROR;
    for (int attempt = 0; attempt < TX_ATTEMPTS; attempt++) {
        pg_conn *c = pg_acquire(s);
        if (!c)
            return STORE_ERROR;
        if (run_simple(c, "BEGIN") != 0) {
            /* Nothing ran yet: a pooled connection whose server restarted
             * is repaired on release, and the transaction tried again. */
            int broken = PQstatus(c->conn) != CONNECTION_OK;
            pg_release(s, c);
            if (broken && attempt == 0)
                continue;
            return STORE_ERROR;
        }
        rc = fn(c, arg);
        if (rc == STORE_OK || rc == STORE_REPLAY) {
            PGresult *r = pg_run(c, "COMMIT", NULL);
            /* COMMIT of a transaction that failed earlier answers ROLLBACK. */
            if (!r || strcmp(PQcmdStatus(r), "COMMIT") != 0) {
                if (r)
                    log_error("postgres: transaction was rolled back at commit");
                rc = STORE_ERROR;
            }
            PQclear(r);
        } else {
            char state[sizeof c->sqlstate];
            str_copy(state, sizeof state, c->sqlstate);
            if (PQstatus(c->conn) == CONNECTION_OK)
                run_simple(c, "ROLLBACK");
            str_copy(c->sqlstate, sizeof c->sqlstate, state);
        }
        int again = rc == STORE_ERROR && retryable(c);
        pg_release(s, c);
        if (!again)
            return rc;
        backoff(attempt);
    }
    log_error("postgres: transaction still conflicting after %d attempts", TX_ATTEMPTS);
    return rc;
}

/* ---- migrations ---- */

static int exec_ddl(pg_conn *c, const char *sql, const char *what)
{
    /* Migration scripts are constant text with several statements and no
     * parameters, so they go through the simple query protocol. */
    PGresult *r = check_result(c, PQexec(c->conn, sql), what);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

static int migrate(pg_conn *c, char *err, size_t errsz)
{
    /* A session lock: every node starting at once waits here, and the
     * first applies what is missing while the others find it done. */
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, MIGRATION_LOCK_KEY);
    PGresult *r = pg_run(c, "SELECT pg_advisory_lock($1::bigint)", &p);
    if (!r) {
        snprintf(err, errsz, "cannot take the migration lock");
        return -1;
    }
    PQclear(r);
    int rc = 0;
    if (exec_ddl(c, "CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)",
                 "schema_migrations") != 0) {
        snprintf(err, errsz, "cannot create schema_migrations");
        rc = -1;
    }
    for (size_t si = 0; rc == 0 && si < pg_migration_sets_count; si++) {
        for (size_t i = 0; rc == 0 && i < pg_migration_sets[si].count; i++) {
            const struct pg_migration *m = &pg_migration_sets[si].list[i];
            pp_init(&p);
            pp_text(&p, m->id);
            r = pg_run(c, "SELECT 1 FROM schema_migrations WHERE id = $1", &p);
            if (!r) {
                snprintf(err, errsz, "cannot read schema_migrations");
                rc = -1;
                break;
            }
            int applied = PQntuples(r) > 0;
            PQclear(r);
            if (applied)
                continue;
            pp_init(&p);
            pp_text(&p, m->id);
            pp_i64(&p, (int64_t)time(NULL));
            if (run_simple(c, "BEGIN") != 0 || exec_ddl(c, m->sql, m->id) != 0 ||
                !(r = pg_run(c, "INSERT INTO schema_migrations(id, applied_at) VALUES ($1, $2)", &p))) {
                run_simple(c, "ROLLBACK");
                snprintf(err, errsz, "PostgreSQL migration %s failed (see the log)", m->id);
                rc = -1;
                break;
            }
            PQclear(r);
            if (run_simple(c, "COMMIT") != 0) {
                snprintf(err, errsz, "PostgreSQL migration %s could not be committed", m->id);
                rc = -1;
                break;
            }
            const char *kv[] = {"component", "postgres", "migration", m->id, NULL};
            log_kv(LOG_INFO, "migration applied", kv);
        }
    }
    pp_init(&p);
    pp_text(&p, MIGRATION_LOCK_KEY);
    r = pg_run(c, "SELECT pg_advisory_unlock($1::bigint)", &p);
    PQclear(r);
    return rc;
}

/* ---- reads ---- */

PGresult *pg_read(pg_store *s, const char *sql, const struct pg_params *p)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        pg_conn *c = pg_acquire(s);
        if (!c)
            return NULL;
        PGresult *r = pg_run(c, sql, p);
        int broken = !r && PQstatus(c->conn) != CONNECTION_OK;
        pg_release(s, c);
        if (r || !broken)
            return r;
    }
    return NULL;
}

/* ---- merchants, keys, idempotency ---- */

static int pg_ping(store *s)
{
    PGresult *r = pg_read(S(s), "SELECT 1", NULL);
    PQclear(r);
    return r ? 0 : -1;
}

static enum store_rc merchant_create_fn(pg_conn *c, void *arg)
{
    const struct merchant_row *m = arg;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, m->merchant_id);
    pp_text(&p, m->name);
    pp_i64(&p, m->created_at);
    PGresult *r = pg_run(c, "INSERT INTO merchants(merchant_id, name, created_at) VALUES ($1, $2, $3)", &p);
    if (!r)
        return pg_rc(c);
    PQclear(r);
    return STORE_OK;
}

static enum store_rc pg_merchant_create(store *s, const struct merchant_row *m)
{
    return pg_tx(S(s), merchant_create_fn, (void *)m);
}

enum store_rc pg_collect(PGresult *r, size_t elem_size, pg_row_reader read, void **out, size_t *n)
{
    if (!r)
        return STORE_ERROR;
    int rows = PQntuples(r);
    char *arr = calloc((size_t)(rows ? rows : 1), elem_size);
    if (!arr) {
        PQclear(r);
        return STORE_ERROR;
    }
    for (int i = 0; i < rows; i++)
        read(r, i, arr + (size_t)i * elem_size);
    PQclear(r);
    *out = arr;
    *n = (size_t)rows;
    return STORE_OK;
}

static void read_merchant(const PGresult *r, int row, void *out)
{
    struct merchant_row *m = out;
    memset(m, 0, sizeof *m);
    pg_col_text(r, row, 0, m->merchant_id, sizeof m->merchant_id);
    pg_col_text(r, row, 1, m->name, sizeof m->name);
    m->created_at = pg_col_i64(r, row, 2);
}

static enum store_rc pg_merchant_get(store *s, const char *merchant_id, struct merchant_row *out)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    PGresult *r = pg_read(S(s), "SELECT merchant_id, name, created_at FROM merchants WHERE merchant_id = $1", &p);
    if (!r)
        return STORE_ERROR;
    enum store_rc rc = PQntuples(r) ? STORE_OK : STORE_NOT_FOUND;
    if (rc == STORE_OK)
        read_merchant(r, 0, out);
    PQclear(r);
    return rc;
}

static enum store_rc pg_merchant_list(store *s, struct merchant_row **out, size_t *n)
{
    PGresult *r = pg_read(S(s), "SELECT merchant_id, name, created_at FROM merchants ORDER BY created_at, merchant_id",
                          NULL);
    return pg_collect(r, sizeof **out, read_merchant, (void **)out, n);
}

static enum store_rc key_insert_fn(pg_conn *c, void *arg)
{
    const struct api_key_row *k = arg;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, k->merchant_id);
    pp_text(&p, k->key_id);
    pp_text(&p, k->service);
    pp_text(&p, k->env);
    pp_text(&p, k->label);
    pp_text(&p, k->secret_hash);
    pp_i64(&p, k->created_at);
    PGresult *r = pg_run(c, "INSERT INTO api_keys(merchant_id, key_id, service, env, label, secret_hash, created_at) "
                            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                         &p);
    if (!r)
        return pg_rc(c);
    PQclear(r);
    return STORE_OK;
}

static enum store_rc pg_api_key_insert(store *s, const struct api_key_row *k)
{
    return pg_tx(S(s), key_insert_fn, (void *)k);
}

#define KEY_COLS_SELECT \
    "SELECT merchant_id, key_id, service, env, label, secret_hash, created_at, revoked_at FROM api_keys "

static void read_key(const PGresult *r, int row, void *out)
{
    struct api_key_row *k = out;
    memset(k, 0, sizeof *k);
    pg_col_text(r, row, 0, k->merchant_id, sizeof k->merchant_id);
    pg_col_text(r, row, 1, k->key_id, sizeof k->key_id);
    pg_col_text(r, row, 2, k->service, sizeof k->service);
    pg_col_text(r, row, 3, k->env, sizeof k->env);
    pg_col_text(r, row, 4, k->label, sizeof k->label);
    pg_col_text(r, row, 5, k->secret_hash, sizeof k->secret_hash);
    k->created_at = pg_col_i64(r, row, 6);
    k->revoked_at = pg_col_i64(r, row, 7);
}

static enum store_rc pg_api_key_get(store *s, const char *key_id, struct api_key_row *out)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, key_id);
    /* Authentication finds the merchant through the key, so this is the
     * one lookup that cannot start from a merchant id (key_id is unique
     * across merchants). */
    PGresult *r = pg_read(S(s), KEY_COLS_SELECT "WHERE key_id = $1", &p);
    if (!r)
        return STORE_ERROR;
    enum store_rc rc = PQntuples(r) ? STORE_OK : STORE_NOT_FOUND;
    if (rc == STORE_OK)
        read_key(r, 0, out);
    PQclear(r);
    return rc;
}

static enum store_rc pg_api_key_list(store *s, const char *merchant_id, struct api_key_row **out, size_t *n)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    PGresult *r = pg_read(S(s), KEY_COLS_SELECT "WHERE merchant_id = $1 ORDER BY created_at, key_id", &p);
    return pg_collect(r, sizeof **out, read_key, (void **)out, n);
}

struct key_revoke_args {
    const char *merchant_id, *key_id;
    int64_t now;
};

static enum store_rc key_revoke_fn(pg_conn *c, void *arg)
{
    struct key_revoke_args *a = arg;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, a->merchant_id);
    pp_text(&p, a->key_id);
    pp_i64(&p, a->now);
    PGresult *r = pg_run(c, "UPDATE api_keys SET revoked_at = $3 WHERE merchant_id = $1 AND key_id = $2 "
                            "AND revoked_at IS NULL",
                         &p);
    if (!r)
        return pg_rc(c);
    int changed = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    return changed ? STORE_OK : STORE_NOT_FOUND;
}

static enum store_rc pg_api_key_revoke(store *s, const char *merchant_id, const char *key_id, int64_t now)
{
    struct key_revoke_args a = {merchant_id, key_id, now};
    return pg_tx(S(s), key_revoke_fn, &a);
}

/* Compares a stored key's row (request_hash, status, body) with idem. */
static enum store_rc idem_compare(const PGresult *r, const struct idem_in *idem, struct idem_out *out)
{
    if (strcmp(PQgetvalue(r, 0, 0), idem->request_hash) != 0)
        return STORE_IDEM_MISMATCH;
    if (out) {
        out->status = (int)pg_col_i64(r, 0, 1);
        free(out->body); /* a retried transaction may have filled it already */
        out->body = strdup(PQgetisnull(r, 0, 2) ? "{}" : PQgetvalue(r, 0, 2));
    }
    return STORE_REPLAY;
}

#define IDEM_SELECT \
    "SELECT request_hash, status, body FROM idempotency_keys WHERE merchant_id = $1 AND scope = $2 AND idem_key = $3"

enum store_rc pg_idem_claim(pg_conn *c, const char *merchant_id, const struct idem_in *idem, struct idem_out *out)
{
    if (!idem || !idem->key)
        return STORE_OK;
    for (int attempt = 0; attempt < 3; attempt++) {
        struct pg_params p;
        pp_init(&p);
        pp_text(&p, merchant_id);
        pp_text(&p, idem->scope);
        pp_text(&p, idem->key);
        pp_text(&p, idem->request_hash);
        pp_i64(&p, idem->status);
        pp_text(&p, idem->body);
        pp_i64(&p, idem->created_at);
        /* A concurrent claim of the same key waits here on the unique index
         * until the other transaction ends; if that one committed, nothing
         * is inserted and its answer is read below. */
        PGresult *r = pg_run(c, "INSERT INTO idempotency_keys(merchant_id, scope, idem_key, request_hash, status, "
                                "body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING "
                                "RETURNING 1",
                             &p);
        if (!r)
            return STORE_ERROR;
        int claimed = PQntuples(r) == 1;
        PQclear(r);
        if (claimed)
            return STORE_OK;
        pp_init(&p);
        pp_text(&p, merchant_id);
        pp_text(&p, idem->scope);
        pp_text(&p, idem->key);
        r = pg_run(c, IDEM_SELECT, &p);
        if (!r)
            return STORE_ERROR;
        enum store_rc rc = PQntuples(r) ? idem_compare(r, idem, out) : STORE_OK;
        int gone = PQntuples(r) == 0;
        PQclear(r);
        if (!gone)
            return rc;
        /* Purged between the two statements: claim again. */
    }
    return STORE_ERROR;
}

static enum store_rc pg_idem_get(store *s, const char *merchant_id, const struct idem_in *idem, struct idem_out *out)
{
    if (!idem || !idem->key)
        return STORE_OK;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    pp_text(&p, idem->scope);
    pp_text(&p, idem->key);
    PGresult *r = pg_read(S(s), IDEM_SELECT, &p);
    if (!r)
        return STORE_ERROR;
    enum store_rc rc = PQntuples(r) ? idem_compare(r, idem, out) : STORE_OK;
    PQclear(r);
    return rc;
}

struct idem_purge_args {
    int64_t older_than;
    int64_t purged;
};

static enum store_rc idem_purge_fn(pg_conn *c, void *arg)
{
    struct idem_purge_args *a = arg;
    struct pg_params p;
    pp_init(&p);
    pp_i64(&p, a->older_than);
    PGresult *r = pg_run(c, "DELETE FROM idempotency_keys WHERE created_at < $1", &p);
    if (!r)
        return STORE_ERROR;
    if (str_to_i64(PQcmdTuples(r), &a->purged) != 0)
        a->purged = 0;
    PQclear(r);
    return STORE_OK;
}

static enum store_rc pg_idem_purge(store *s, int64_t older_than, int64_t *purged)
{
    struct idem_purge_args a = {older_than, 0};
    enum store_rc rc = pg_tx(S(s), idem_purge_fn, &a);
    if (purged)
        *purged = a.purged;
    return rc;
}

/* ---- lifecycle ---- */

struct pg_inbox_appender *pg_inbox_appender_of(pg_store *s)
{
    /* Started on first use, so that a store opened for other work
     * (recoupctl, the tests) runs no thread of Recover's. */
    pthread_mutex_lock(&s->mu);
    if (!s->inbox_tried) {
        s->inbox_tried = 1;
        s->inbox = pg_inbox_appender_start(s, s->inbox_batch_max);
        if (!s->inbox)
            log_warn("postgres: no inbox appender thread; each event commits on its own");
    }
    struct pg_inbox_appender *a = s->inbox;
    pthread_mutex_unlock(&s->mu);
    return a;
}

static void pg_close(store *base)
{
    pg_store *s = S(base);
    /* Before the connections: the appender may be writing a batch. */
    pg_inbox_appender_stop(s->inbox);
    for (int i = 0; i < s->nall; i++)
        conn_close(s->all[i]);
    free(s->all);
    free(s->conninfo);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

store *pg_store_open(const struct store_options *opt, char *err, size_t errsz)
{
    if (!opt->database_url || !*opt->database_url) {
        snprintf(err, errsz, "store postgres needs database_url (postgresql://user@host/dbname or a libpq "
                             "keyword string)");
        return NULL;
    }
    if (sodium_init() < 0) {
        snprintf(err, errsz, "libsodium could not be initialised");
        return NULL;
    }
    pg_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    s->pool_max = opt->pg_pool_size > 0 ? opt->pg_pool_size : 16;
    s->inbox_batch_max = opt->commit_batch_max > 0 ? opt->commit_batch_max : 512;
    s->conninfo = strdup(opt->database_url);
    s->all = calloc((size_t)s->pool_max, sizeof *s->all);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (!s->conninfo || !s->all) {
        snprintf(err, errsz, "out of memory");
        pg_close(&s->base);
        return NULL;
    }
    pg_conn *c = conn_open(s, err, errsz);
    if (!c) {
        pg_close(&s->base);
        return NULL;
    }
    s->all[s->nall++] = c;
    s->nopen = 1;
    if (migrate(c, err, errsz) != 0) {
        pg_close(&s->base);
        return NULL;
    }
    c->next_free = NULL;
    s->free_list = c;

    s->ops.backend = "postgres";
    s->ops.ping = pg_ping;
    s->ops.close = pg_close;
    s->ops.merchant_create = pg_merchant_create;
    s->ops.merchant_get = pg_merchant_get;
    s->ops.merchant_list = pg_merchant_list;
    s->ops.api_key_insert = pg_api_key_insert;
    s->ops.api_key_get = pg_api_key_get;
    s->ops.api_key_list = pg_api_key_list;
    s->ops.api_key_revoke = pg_api_key_revoke;
    s->ops.idem_get = pg_idem_get;
    s->ops.idem_purge = pg_idem_purge;
    s->base.ops = &s->ops;
    s->base.gateway = &pg_gateway_ops;
    s->base.disputes = &pg_disputes_ops;
    s->base.recover = &pg_recover_ops;
    return &s->base;
}

char *pg_col_dup_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

int pg_run_cmd(pg_conn *c, const char *sql, const struct pg_params *p)
{
    PGresult *r = pg_run(c, sql, p);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int pg_changed_rows(PGresult *r) { return strcmp(PQcmdTuples(r), "0") != 0; }
