/* SQLite backend: WAL, foreign keys, versioned migrations, every statement
 * prepared and cached per connection.
 *
 * Durability without giving up throughput: one writer thread owns the only
 * write connection. Request threads hand it their write (a function run in
 * a savepoint) and sleep; the writer runs every write that is waiting inside
 * one transaction and commits once (synchronous=FULL: the WAL is fsync'd),
 * then wakes them all. One fsync thus acknowledges a whole group, and a
 * write is never acknowledged before it is on disk. Reads use their own
 * connections and never wait for the writer (WAL snapshots). */
#include "store/sqlite/sqlite_store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "http/metrics.h"

struct sq_job {
    sq_write_fn fn;
    void *arg;
    enum store_rc rc;
    int done;
    /* Each waiter sleeps on its own condition, so a commit wakes exactly
     * the requests it made durable, not every waiting thread. */
    pthread_cond_t cv;
    struct sq_job *next;
};

/* One database file with its single writer (thread, job queue, insertion
 * counters) and its pool of read connections. */
struct sq_db {
    char path[4096];
    int batch_max;
    sq_conn *writer;
    pthread_t writer_thread;
    int thread_started;
    struct {
        const char *table;
        int64_t value;
    } seqs[32];
    int nseqs;
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* the writer waits here for jobs */
    struct sq_job *head, *tail;
    int stopping;

    pthread_mutex_t pool_mu;
    sq_conn *free_readers;
    sq_conn **all_readers; /* every reader ever opened, for closing */
    size_t nreaders, cap_readers;

    /* Checkpoints run here, not inside a writer's commit: copying the WAL
     * back into the database takes long enough to stall every write that
     * waits on that commit. */
    pthread_t checkpointer;
    int checkpointer_started;
    pthread_cond_t checkpoint_cv;
};

/* Two files: the domain database, and Recover's inbox of acknowledged
 * events. The inbox has its own writer so that acknowledging an event, one
 * small insert into an append-only file, never waits behind the domain
 * writes that apply earlier events. */
struct sq_store {
    store base;
    struct store_ops ops;
    sq_db main;
    sq_db inbox;
};

sq_db *sq_main(sq_store *s) { return &s->main; }
sq_db *sq_inbox(sq_store *s) { return &s->inbox; }

/* ---- connections and statements ---- */

enum store_rc sq_fail(sq_conn *c, const char *what)
{
    const char *kv[] = {"component", "sqlite", "op", what, "error", c && c->db ? sqlite3_errmsg(c->db) : "no connection",
                        NULL};
    log_kv(LOG_ERROR, "store operation failed", kv);
    return STORE_ERROR;
}

/* Open-addressing table of prepared statements keyed by SQL text. A
 * connection sees a few dozen distinct statements, so it never grows far. */
struct sq_stmt_cache {
    size_t cap, count;
    struct sq_cached {
        uint64_t hash;
        char *sql;
        sqlite3_stmt *st;
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

static int cache_grow(struct sq_stmt_cache *c)
{
    size_t cap = c->cap ? c->cap * 2 : 64;
    struct sq_cached *slots = calloc(cap, sizeof *slots);
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

sqlite3_stmt *sq_stmt(sq_conn *c, const char *sql)
{
    if (!c->cache && !(c->cache = calloc(1, sizeof *c->cache)))
        return NULL;
    struct sq_stmt_cache *cache = c->cache;
    if ((cache->count + 1) * 2 > cache->cap && cache_grow(cache) != 0)
        return NULL;
    uint64_t h = sql_hash(sql);
    size_t i = h & (cache->cap - 1);
    while (cache->slots[i].sql) {
        if (cache->slots[i].hash == h && strcmp(cache->slots[i].sql, sql) == 0) {
            sqlite3_stmt *st = cache->slots[i].st;
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return st;
        }
        i = (i + 1) & (cache->cap - 1);
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        sq_fail(c, sql);
        return NULL;
    }
    char *copy = strdup(sql);
    if (!copy) {
        sqlite3_finalize(st);
        return NULL;
    }
    cache->slots[i].hash = h;
    cache->slots[i].sql = copy;
    cache->slots[i].st = st;
    cache->count++;
    return st;
}

int sq_exec(sq_conn *c, const char *sql)
{
    sqlite3_stmt *st = sq_stmt(c, sql);
    if (!st)
        return SQLITE_ERROR;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int exec_sql(sq_conn *c, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        const char *kv[] = {"component", "sqlite", "sql", sql, "error", msg ? msg : "?", NULL};
        log_kv(LOG_ERROR, "statement failed", kv);
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static sq_conn *conn_open(const char *path, int writer, char *err, size_t errsz)
{
    sq_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errsz, "cannot open SQLite database %s: %s", path, c->db ? sqlite3_errmsg(c->db) : "?");
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->db, 5000);
    sqlite3_extended_result_codes(c->db, 1);
    /* synchronous=FULL: in WAL mode every commit fsyncs the WAL, so an
     * acknowledged write survives power loss, not only a process crash. */
    /* The writer never checkpoints (wal_autocheckpoint=0): a thread of the
     * database does it beside the writes (see checkpointer_main). The writer keeps a 16 MB page cache; each reader (there is one
     * per concurrently reading thread) 2 MB, relying on the OS page cache,
     * so that memory stays bounded however many threads read. */
    if (exec_sql(c, writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
                             "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16000; PRAGMA wal_autocheckpoint=0;"
                           : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
                             "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-2000;") != 0) {
        snprintf(err, errsz, "cannot configure SQLite database %s", path);
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    return c;
}

static void conn_close(sq_conn *c)
{
    if (!c)
        return;
    if (c->cache) {
        for (size_t i = 0; i < c->cache->cap; i++) {
            sqlite3_finalize(c->cache->slots[i].st);
            free(c->cache->slots[i].sql);
        }
        free(c->cache->slots);
        free(c->cache);
    }
    sqlite3_close(c->db);
    free(c);
}

sq_conn *sq_db_read_acquire(sq_db *s)
{
    pthread_mutex_lock(&s->pool_mu);
    sq_conn *c = s->free_readers;
    if (c) {
        s->free_readers = c->next_free;
        pthread_mutex_unlock(&s->pool_mu);
        return c;
    }
    pthread_mutex_unlock(&s->pool_mu);
    char err[512];
    c = conn_open(s->path, 0, err, sizeof err);
    if (!c) {
        log_error("%s", err);
        return NULL;
    }
    c->home = s;
    /* The pool grows to the number of threads that read at once and no
     * further: connections are reused, never closed before shutdown. */
    pthread_mutex_lock(&s->pool_mu);
    if (s->nreaders == s->cap_readers) {
        size_t cap = s->cap_readers ? s->cap_readers * 2 : 32;
        sq_conn **grown = realloc(s->all_readers, cap * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&s->pool_mu);
            conn_close(c);
            return NULL;
        }
        s->all_readers = grown;
        s->cap_readers = cap;
    }
    s->all_readers[s->nreaders++] = c;
    pthread_mutex_unlock(&s->pool_mu);
    return c;
}

void sq_db_read_release(sq_db *s, sq_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&s->pool_mu);
    c->next_free = s->free_readers;
    s->free_readers = c;
    pthread_mutex_unlock(&s->pool_mu);
}

/* ---- group commit ---- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int begin_immediate(sq_conn *c)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        int rc = sq_exec(c, "BEGIN IMMEDIATE");
        if (rc == SQLITE_OK)
            return 0;
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
            break;
        usleep(10000); /* another process holds the lock: back off and retry */
    }
    sq_fail(c, "BEGIN IMMEDIATE");
    return -1;
}

static void run_batch(sq_db *s, struct sq_job *batch, int n)
{
    double t0 = now_seconds();
    sq_conn *c = s->writer;
    int64_t seq_before[32];
    int nseq_before = s->nseqs;
    for (int i = 0; i < s->nseqs; i++)
        seq_before[i] = s->seqs[i].value;
    if (begin_immediate(c) != 0) {
        for (struct sq_job *j = batch; j; j = j->next)
            j->rc = STORE_ERROR;
        return;
    }
    for (struct sq_job *j = batch; j; j = j->next) {
        if (sq_exec(c, "SAVEPOINT job") != SQLITE_OK) {
            j->rc = STORE_ERROR;
            continue;
        }
        j->rc = j->fn(c, j->arg);
        if (j->rc != STORE_OK && j->rc != STORE_REPLAY)
            sq_exec(c, "ROLLBACK TO job");
        sq_exec(c, "RELEASE job");
    }
    int rc = SQLITE_BUSY;
    for (int attempt = 0; attempt < 100 && ((rc & 0xff) == SQLITE_BUSY); attempt++) {
        rc = sq_exec(c, "COMMIT");
        if ((rc & 0xff) == SQLITE_BUSY)
            usleep(10000);
    }
    if (rc != SQLITE_OK) {
        sq_fail(c, "COMMIT");
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        /* Counters first used in this batch restart from the table. */
        s->nseqs = nseq_before;
        for (int i = 0; i < nseq_before; i++)
            s->seqs[i].value = seq_before[i];
        for (struct sq_job *j = batch; j; j = j->next)
            j->rc = STORE_ERROR;
    }
    metrics_observe_commit(n, now_seconds() - t0);
}

static void *writer_main(void *arg)
{
    sq_db *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->stopping)
            pthread_cond_wait(&s->work_cv, &s->mu);
        if (!s->head && s->stopping)
            break;
        struct sq_job *batch = s->head, *last = s->head;
        int n = 1;
        while (last->next && n < s->batch_max) {
            last = last->next;
            n++;
        }
        s->head = last->next;
        if (!s->head)
            s->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&s->mu);

        run_batch(s, batch, n);

        pthread_mutex_lock(&s->mu);
        /* A waiter needs the mutex, held here, to return: each job (on its
         * waiter's stack) stays valid through this loop. */
        for (struct sq_job *j = batch; j;) {
            struct sq_job *next = j->next;
            j->done = 1;
            pthread_cond_signal(&j->cv);
            j = next;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

enum store_rc sq_db_write(sq_db *s, sq_write_fn fn, void *arg)
{
    struct sq_job job = {.fn = fn, .arg = arg, .rc = STORE_ERROR};
    pthread_cond_init(&job.cv, NULL);
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        pthread_cond_destroy(&job.cv);
        return STORE_ERROR;
    }
    if (s->tail)
        s->tail->next = &job;
    else
        s->head = &job;
    s->tail = &job;
    pthread_cond_signal(&s->work_cv);
    while (!job.done)
        pthread_cond_wait(&job.cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    pthread_cond_destroy(&job.cv);
    return job.rc;
}

int64_t sq_next_seq(sq_conn *writer, const char *table)
{
    sq_db *s = writer->home;
    for (int i = 0; i < s->nseqs; i++)
        if (s->seqs[i].table == table || strcmp(s->seqs[i].table, table) == 0)
            return ++s->seqs[i].value;
    if (s->nseqs == (int)(sizeof s->seqs / sizeof s->seqs[0]))
        return -1;
    buf sql;
    buf_init(&sql);
    buf_printf(&sql, "SELECT COALESCE(MAX(seq), 0) FROM %s", table);
    int64_t v = 0;
    sqlite3_stmt *st = sq_stmt(writer, buf_cstr(&sql));
    buf_free(&sql);
    if (st && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    if (st)
        sqlite3_reset(st);
    s->seqs[s->nseqs].table = table;
    s->seqs[s->nseqs].value = v + 1;
    s->nseqs++;
    return v + 1;
}

void sq_unuse_seq(sq_conn *writer, const char *table, int64_t value)
{
    sq_db *s = writer->home;
    for (int i = 0; i < s->nseqs; i++)
        if ((s->seqs[i].table == table || strcmp(s->seqs[i].table, table) == 0) && s->seqs[i].value == value)
            s->seqs[i].value--;
}

/* Makes the next seq of table at least floor + 1. */
static void seq_floor(sq_conn *writer, const char *table, int64_t floor)
{
    int64_t next = sq_next_seq(writer, table); /* also loads the counter */
    sq_unuse_seq(writer, table, next);
    sq_db *s = writer->home;
    for (int i = 0; i < s->nseqs; i++)
        if (strcmp(s->seqs[i].table, table) == 0 && s->seqs[i].value < floor)
            s->seqs[i].value = floor;
}

sq_conn *sq_read_acquire(sq_store *s) { return sq_db_read_acquire(&s->main); }
void sq_read_release(sq_store *s, sq_conn *c) { sq_db_read_release(&s->main, c); }
enum store_rc sq_write(sq_store *s, sq_write_fn fn, void *arg) { return sq_db_write(&s->main, fn, arg); }

/* ---- helpers ---- */

void sq_bind_text(sqlite3_stmt *st, int i, const char *v) { sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_TRANSIENT); }

void sq_bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

void sq_bind_i64_or_null(sqlite3_stmt *st, int i, int has, int64_t v)
{
    if (has)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

void sq_col_text(sqlite3_stmt *st, int col, char *out, size_t outsz)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    str_copy(out, outsz, t ? (const char *)t : "");
}

/* ---- migrations ---- */

static int migrate(sq_conn *c, const struct sq_migration_set *sets, size_t nsets, char *err, size_t errsz)
{
    if (exec_sql(c, "CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, "
                    "applied_at INTEGER NOT NULL)") != 0) {
        snprintf(err, errsz, "cannot create schema_migrations");
        return -1;
    }
    for (size_t si = 0; si < nsets; si++) {
        for (size_t i = 0; i < sets[si].count; i++) {
            const struct sq_migration *m = &sets[si].list[i];
            sqlite3_stmt *st;
            sqlite3_prepare_v2(c->db, "SELECT 1 FROM schema_migrations WHERE id = ?1", -1, &st, NULL);
            sqlite3_bind_text(st, 1, m->id, -1, SQLITE_STATIC);
            int applied = sqlite3_step(st) == SQLITE_ROW;
            sqlite3_finalize(st);
            if (applied)
                continue;
            if (exec_sql(c, "BEGIN IMMEDIATE") != 0 || exec_sql(c, m->sql) != 0) {
                exec_sql(c, "ROLLBACK");
                snprintf(err, errsz, "migration %s failed", m->id);
                return -1;
            }
            sqlite3_prepare_v2(c->db, "INSERT INTO schema_migrations(id, applied_at) VALUES (?1, ?2)", -1, &st,
                               NULL);
            sqlite3_bind_text(st, 1, m->id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
            int ok = sqlite3_step(st) == SQLITE_DONE;
            sqlite3_finalize(st);
            if (!ok || exec_sql(c, "COMMIT") != 0) {
                exec_sql(c, "ROLLBACK");
                snprintf(err, errsz, "migration %s could not be recorded", m->id);
                return -1;
            }
            const char *kv[] = {"component", "sqlite", "migration", m->id, NULL};
            log_kv(LOG_INFO, "migration applied", kv);
        }
    }
    return 0;
}

/* ---- merchants, keys, idempotency ---- */

#define KEY_COLS_SELECT \
    "SELECT merchant_id, key_id, service, env, label, secret_hash, created_at, revoked_at FROM api_keys "


static sq_store *S(store *s) { return (sq_store *)s; }

static int sq_ping(store *s)
{
    sq_conn *c = sq_read_acquire(S(s));
    if (!c)
        return -1;
    int ok = sqlite3_exec(c->db, "SELECT 1", NULL, NULL, NULL) == SQLITE_OK;
    sq_read_release(S(s), c);
    return ok ? 0 : -1;
}

static enum store_rc merchant_create_fn(sq_conn *c, void *arg)
{
    const struct merchant_row *m = arg;
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO merchants(merchant_id, name, created_at) VALUES (?1, ?2, ?3)");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, m->merchant_id);
    sq_bind_text(st, 2, m->name);
    sqlite3_bind_int64(st, 3, m->created_at);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
        return STORE_EXISTS;
    return rc == SQLITE_DONE ? STORE_OK : sq_fail(c, "merchant_create");
}

static enum store_rc sq_merchant_create(store *s, const struct merchant_row *m)
{
    return sq_write(S(s), merchant_create_fn, (void *)m);
}

static void read_merchant(sqlite3_stmt *st, struct merchant_row *m)
{
    sq_col_text(st, 0, m->merchant_id, sizeof m->merchant_id);
    sq_col_text(st, 1, m->name, sizeof m->name);
    m->created_at = sqlite3_column_int64(st, 2);
}

static void read_merchant_v(sqlite3_stmt *st, void *row);

static enum store_rc sq_merchant_get(store *s, const char *merchant_id, struct merchant_row *out)
{
    const char *params[] = {merchant_id, NULL};
    return sq_read_one(S(s), "SELECT merchant_id, name, created_at FROM merchants WHERE merchant_id = ?1", params,
                       read_merchant_v, out);
}

enum store_rc sq_fetch_one(sq_conn *c, sqlite3_stmt *st, sq_row_reader read, void *out, const char *what)
{
    int r = sqlite3_step(st);
    enum store_rc rc;
    if (r == SQLITE_ROW) {
        read(st, out);
        rc = STORE_OK;
    } else {
        rc = r == SQLITE_DONE ? STORE_NOT_FOUND : sq_fail(c, what);
    }
    sqlite3_reset(st);
    return rc;
}

enum store_rc sq_collect_rows(sq_conn *c, sqlite3_stmt *st, size_t elem_size, sq_row_reader read, void **out,
                              size_t *n)
{
    size_t cap = 16, count = 0;
    char *rows = malloc(cap * elem_size);
    if (!rows)
        return STORE_ERROR;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            cap *= 2;
            char *nr = realloc(rows, cap * elem_size);
            if (!nr) {
                free(rows);
                sqlite3_reset(st);
                return STORE_ERROR;
            }
            rows = nr;
        }
        memset(rows + count * elem_size, 0, elem_size);
        read(st, rows + count * elem_size);
        count++;
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        free(rows);
        return sq_fail(c, "collect_rows");
    }
    *out = rows;
    *n = count;
    return STORE_OK;
}

/* Prepares sql on a read connection and binds its text parameters. */
static sqlite3_stmt *read_stmt(sq_conn *c, const char *sql, const char *const *params)
{
    sqlite3_stmt *st = sq_stmt(c, sql);
    for (int i = 0; st && params && params[i]; i++)
        sq_bind_text(st, i + 1, params[i]);
    return st;
}

enum store_rc sq_read_one(sq_store *s, const char *sql, const char *const *params, sq_row_reader read, void *out)
{
    sq_conn *c = sq_read_acquire(s);
    if (!c)
        return STORE_ERROR;
    sqlite3_stmt *st = read_stmt(c, sql, params);
    enum store_rc rc = st ? sq_fetch_one(c, st, read, out, sql) : STORE_ERROR;
    sq_read_release(s, c);
    return rc;
}

enum store_rc sq_read_all(sq_store *s, const char *sql, const char *const *params, size_t elem_size,
                          sq_row_reader read, void **out, size_t *n)
{
    sq_conn *c = sq_read_acquire(s);
    if (!c)
        return STORE_ERROR;
    sqlite3_stmt *st = read_stmt(c, sql, params);
    enum store_rc rc = st ? sq_collect_rows(c, st, elem_size, read, out, n) : STORE_ERROR;
    sq_read_release(s, c);
    return rc;
}

static void read_merchant_v(sqlite3_stmt *st, void *row) { read_merchant(st, row); }

static enum store_rc sq_merchant_list(store *s, struct merchant_row **out, size_t *n)
{
    return sq_read_all(S(s), "SELECT merchant_id, name, created_at FROM merchants ORDER BY created_at, merchant_id",
                       NULL, sizeof **out, read_merchant_v, (void **)out, n);
}

static enum store_rc key_insert_fn(sq_conn *c, void *arg)
{
    const struct api_key_row *k = arg;
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO api_keys(merchant_id, key_id, service, env, label, secret_hash, created_at) "
                                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, k->merchant_id);
    sq_bind_text(st, 2, k->key_id);
    sq_bind_text(st, 3, k->service);
    sq_bind_text(st, 4, k->env);
    sq_bind_text(st, 5, k->label);
    sq_bind_text(st, 6, k->secret_hash);
    sqlite3_bind_int64(st, 7, k->created_at);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return STORE_NOT_FOUND;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return STORE_EXISTS;
    return rc == SQLITE_DONE ? STORE_OK : sq_fail(c, "api_key_insert");
}

static enum store_rc sq_api_key_insert(store *s, const struct api_key_row *k)
{
    return sq_write(S(s), key_insert_fn, (void *)k);
}

static void read_key(sqlite3_stmt *st, void *row)
{
    struct api_key_row *k = row;
    sq_col_text(st, 0, k->merchant_id, sizeof k->merchant_id);
    sq_col_text(st, 1, k->key_id, sizeof k->key_id);
    sq_col_text(st, 2, k->service, sizeof k->service);
    sq_col_text(st, 3, k->env, sizeof k->env);
    sq_col_text(st, 4, k->label, sizeof k->label);
    sq_col_text(st, 5, k->secret_hash, sizeof k->secret_hash);
    k->created_at = sqlite3_column_int64(st, 6);
    k->revoked_at = sqlite3_column_int64(st, 7);
}

static enum store_rc sq_api_key_get(store *s, const char *key_id, struct api_key_row *out)
{
    const char *params[] = {key_id, NULL};
    return sq_read_one(S(s), KEY_COLS_SELECT "WHERE key_id = ?1", params, read_key, out);
}

static enum store_rc sq_api_key_list(store *s, const char *merchant_id, struct api_key_row **out, size_t *n)
{
    const char *params[] = {merchant_id, NULL};
    return sq_read_all(S(s), KEY_COLS_SELECT "WHERE merchant_id = ?1 ORDER BY created_at, key_id", params,
                       sizeof **out, read_key, (void **)out, n);
}

struct key_revoke_args {
    const char *merchant_id, *key_id;
    int64_t now;
};

static enum store_rc key_revoke_fn(sq_conn *c, void *arg)
{
    struct key_revoke_args *a = arg;
    sqlite3_stmt *st = sq_stmt(c, "UPDATE api_keys SET revoked_at = ?3 WHERE merchant_id = ?1 AND key_id = ?2 "
                                     "AND revoked_at IS NULL");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, a->merchant_id);
    sq_bind_text(st, 2, a->key_id);
    sqlite3_bind_int64(st, 3, a->now);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sq_fail(c, "api_key_revoke");
    return sqlite3_changes(c->db) ? STORE_OK : STORE_NOT_FOUND;
}

static enum store_rc sq_api_key_revoke(store *s, const char *merchant_id, const char *key_id, int64_t now)
{
    struct key_revoke_args a = {merchant_id, key_id, now};
    return sq_write(S(s), key_revoke_fn, &a);
}

/* Looks the key up on connection c: REPLAY or IDEM_MISMATCH when seen,
 * STORE_OK when new. */
enum store_rc sq_idem_check(sq_conn *c, const char *merchant_id, const struct idem_in *idem, struct idem_out *out)
{
    if (!idem || !idem->key)
        return STORE_OK;
    sqlite3_stmt *st = sq_stmt(c, "SELECT request_hash, status, body FROM idempotency_keys "
                                     "WHERE merchant_id = ?1 AND scope = ?2 AND idem_key = ?3");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, merchant_id);
    sq_bind_text(st, 2, idem->scope);
    sq_bind_text(st, 3, idem->key);
    int r = sqlite3_step(st);
    enum store_rc rc = STORE_OK;
    if (r == SQLITE_ROW) {
        const char *hash = (const char *)sqlite3_column_text(st, 0);
        if (hash && strcmp(hash, idem->request_hash) == 0) {
            rc = STORE_REPLAY;
            if (out) {
                out->status = sqlite3_column_int(st, 1);
                const char *body = (const char *)sqlite3_column_text(st, 2);
                out->body = strdup(body ? body : "{}");
            }
        } else {
            rc = STORE_IDEM_MISMATCH;
        }
    } else if (r != SQLITE_DONE) {
        rc = sq_fail(c, "idem_check");
    }
    sqlite3_reset(st);
    return rc;
}

enum store_rc sq_idem_record(sq_conn *c, const char *merchant_id, const struct idem_in *idem)
{
    if (!idem || !idem->key)
        return STORE_OK;
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO idempotency_keys(merchant_id, scope, idem_key, request_hash, status, "
                                     "body, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, merchant_id);
    sq_bind_text(st, 2, idem->scope);
    sq_bind_text(st, 3, idem->key);
    sq_bind_text(st, 4, idem->request_hash);
    sqlite3_bind_int(st, 5, idem->status);
    sq_bind_text(st, 6, idem->body);
    sqlite3_bind_int64(st, 7, idem->created_at);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_OK : sq_fail(c, "idem_record");
}

static enum store_rc sq_idem_get(store *s, const char *merchant_id, const struct idem_in *idem, struct idem_out *out)
{
    sq_conn *c = sq_read_acquire(S(s));
    if (!c)
        return STORE_ERROR;
    enum store_rc rc = sq_idem_check(c, merchant_id, idem, out);
    sq_read_release(S(s), c);
    return rc;
}

struct idem_purge_args {
    int64_t older_than;
    int64_t purged;
};

static enum store_rc idem_purge_fn(sq_conn *c, void *arg)
{
    struct idem_purge_args *a = arg;
    sqlite3_stmt *st = sq_stmt(c, "DELETE FROM idempotency_keys WHERE created_at < ?1");
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_int64(st, 1, a->older_than);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sq_fail(c, "idem_purge");
    a->purged = sqlite3_changes(c->db);
    return STORE_OK;
}

static enum store_rc sq_idem_purge(store *s, int64_t older_than, int64_t *purged)
{
    struct idem_purge_args a = {older_than, 0};
    enum store_rc rc = sq_write(S(s), idem_purge_fn, &a);
    if (purged)
        *purged = a.purged;
    return rc;
}

/* ---- lifecycle ---- */

#define CHECKPOINT_EVERY_MS 1000

/* Passive checkpoints once a second on a connection of their own: they
 * copy what no reader still needs and never block a write; when one
 * catches up with the whole WAL, SQLite starts the WAL over, so the file
 * stays small without any write waiting for it. */
static void *checkpointer_main(void *arg)
{
    sq_db *d = arg;
    char err[256];
    sq_conn *c = conn_open(d->path, 0, err, sizeof err);
    if (!c) {
        log_error("%s", err);
        return NULL;
    }
    pthread_mutex_lock(&d->mu);
    while (!d->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += CHECKPOINT_EVERY_MS / 1000;
        pthread_cond_timedwait(&d->checkpoint_cv, &d->mu, &ts);
        if (d->stopping)
            break;
        pthread_mutex_unlock(&d->mu);
        sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&d->mu);
    }
    pthread_mutex_unlock(&d->mu);
    conn_close(c);
    return NULL;
}

static void db_close(sq_db *d)
{
    if (d->checkpointer_started) {
        pthread_mutex_lock(&d->mu);
        d->stopping = 1;
        pthread_cond_signal(&d->checkpoint_cv);
        pthread_mutex_unlock(&d->mu);
        pthread_join(d->checkpointer, NULL);
    }
    if (d->thread_started) {
        pthread_mutex_lock(&d->mu);
        d->stopping = 1;
        pthread_cond_signal(&d->work_cv);
        pthread_mutex_unlock(&d->mu);
        pthread_join(d->writer_thread, NULL);
    }
    /* A clean close folds the WAL back into the database file. */
    if (d->writer)
        sqlite3_wal_checkpoint_v2(d->writer->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    for (size_t i = 0; i < d->nreaders; i++)
        conn_close(d->all_readers[i]);
    free(d->all_readers);
    conn_close(d->writer);
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->pool_mu);
    pthread_cond_destroy(&d->work_cv);
    pthread_cond_destroy(&d->checkpoint_cv);
}

static void sq_close(store *base)
{
    sq_store *s = S(base);
    db_close(&s->inbox);
    db_close(&s->main);
    free(s);
}

static int db_open(sq_db *d, const char *path, int batch_max, const struct sq_migration_set *sets, size_t nsets,
                   char *err, size_t errsz)
{
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->pool_mu, NULL);
    pthread_cond_init(&d->work_cv, NULL);
    pthread_cond_init(&d->checkpoint_cv, NULL);
    str_copy(d->path, sizeof d->path, path);
    d->batch_max = batch_max;
    d->writer = conn_open(d->path, 1, err, errsz);
    if (!d->writer)
        return -1;
    d->writer->home = d;
    if (migrate(d->writer, sets, nsets, err, errsz) != 0)
        return -1;
    if (pthread_create(&d->writer_thread, NULL, writer_main, d) != 0) {
        snprintf(err, errsz, "cannot start the SQLite writer thread");
        return -1;
    }
    d->thread_started = 1;
    if (pthread_create(&d->checkpointer, NULL, checkpointer_main, d) != 0) {
        snprintf(err, errsz, "cannot start the SQLite checkpoint thread");
        return -1;
    }
    d->checkpointer_started = 1;
    return 0;
}

store *sqlite_store_open(const struct store_options *opt, char *err, size_t errsz)
{
    sq_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    int batch_max = opt->commit_batch_max > 0 ? opt->commit_batch_max : 512;
    /* The inbox lives beside the main file: recoup.db -> recoup.db-inbox. */
    char inbox_path[4096 + 8];
    snprintf(inbox_path, sizeof inbox_path, "%s-inbox", opt->sqlite_path);
    if (db_open(&s->main, opt->sqlite_path, batch_max, sq_migration_sets, sq_migration_sets_count, err, errsz) != 0 ||
        db_open(&s->inbox, inbox_path, batch_max, sq_inbox_migration_sets, sq_inbox_migration_sets_count, err,
                errsz) != 0) {
        db_close(&s->inbox);
        db_close(&s->main);
        free(s);
        return NULL;
    }

    /* The inbox's seqs continue above what the main file says was applied,
     * even when the inbox file is older than the main file (restored from
     * an earlier backup, or lost): a new event can never get a seq that is
     * taken for applied already. */
    int64_t applied = 0;
    sqlite3_stmt *st = sq_stmt(s->main.writer, "SELECT applied_seq FROM rc_inbox_state WHERE id = 1");
    if (st && sqlite3_step(st) == SQLITE_ROW)
        applied = sqlite3_column_int64(st, 0);
    if (st)
        sqlite3_reset(st);
    seq_floor(s->inbox.writer, "rc_inbox", applied);

    s->ops.backend = "sqlite";
    s->ops.ping = sq_ping;
    s->ops.close = sq_close;
    s->ops.merchant_create = sq_merchant_create;
    s->ops.merchant_get = sq_merchant_get;
    s->ops.merchant_list = sq_merchant_list;
    s->ops.api_key_insert = sq_api_key_insert;
    s->ops.api_key_get = sq_api_key_get;
    s->ops.api_key_list = sq_api_key_list;
    s->ops.api_key_revoke = sq_api_key_revoke;
    s->ops.idem_get = sq_idem_get;
    s->ops.idem_purge = sq_idem_purge;
    s->base.ops = &s->ops;
    s->base.gateway = &sqlite_gateway_ops;
    s->base.disputes = &sqlite_disputes_ops;
    s->base.recover = &sqlite_recover_ops;
    return &s->base;
}
