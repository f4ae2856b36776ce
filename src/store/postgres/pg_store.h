/* PostgreSQL backend internals, shared by the files of this directory only. */
#ifndef RECOUP_STORE_PG_STORE_H
#define RECOUP_STORE_PG_STORE_H

#include <libpq-fe.h>

#include "store/store.h"

store *pg_store_open(const struct store_options *opt, char *err, size_t errsz);

struct pg_stmt_cache;
typedef struct pg_store pg_store;

typedef struct pg_conn {
    PGconn *conn;
    struct pg_stmt_cache *cache;
    struct pg_conn *next_free;
    pg_store *owner;
    char sqlstate[6]; /* of the last failed statement, "" after a success */
} pg_conn;

/* Parameters of one statement, always sent as text and typed by the
 * server from the statement. Text values are referenced, not copied: they
 * must live until the statement has run. Numbers are kept inside. */
#define PG_MAX_PARAMS 64
struct pg_params {
    int n;
    const char *values[PG_MAX_PARAMS];
    char nums[PG_MAX_PARAMS][24];
};

void pp_init(struct pg_params *p);
void pp_text(struct pg_params *p, const char *v);          /* NULL binds "" */
void pp_text_or_null(struct pg_params *p, const char *v);  /* NULL or "" binds SQL NULL */
void pp_i64(struct pg_params *p, int64_t v);
void pp_i64_or_null(struct pg_params *p, int has, int64_t v);

/* Runs sql on c with params (NULL: none) as a prepared statement: prepared
 * on first use on this connection and cached by its text, so statements
 * built from fixed fragments are cached too. Returns the result (the caller
 * PQclear()s it) when it is PGRES_TUPLES_OK or PGRES_COMMAND_OK, else NULL
 * with c->sqlstate set and the error logged (unique and foreign-key
 * violations are expected answers and are not logged). Values are always
 * bound, never spliced into sql. */
PGresult *pg_run(pg_conn *c, const char *sql, const struct pg_params *params);

/* Borrows a pooled connection outside any transaction (reads); give it
 * back after. NULL when none could be had in time. */
pg_conn *pg_acquire(pg_store *s);
void pg_release(pg_store *s, pg_conn *c);

/* One statement outside any transaction on a pooled connection (a read,
 * seeing everything committed before it started), tried again once on a
 * fresh session when the pooled one had lost its server. NULL on failure. */
PGresult *pg_read(pg_store *s, const char *sql, const struct pg_params *params);

/* Reads every row of a result (cleared here) into a malloc'd array of
 * elem_size elements. */
typedef void (*pg_row_reader)(const PGresult *r, int row, void *out);
enum store_rc pg_collect(PGresult *r, size_t elem_size, pg_row_reader read, void **out, size_t *n);

/* Runs fn in a READ COMMITTED transaction on a pooled connection and
 * commits when it returns STORE_OK or STORE_REPLAY, else rolls back. A
 * serialization failure or deadlock anywhere in it (fn's statements or the
 * commit) rolls back and runs fn again after a short randomised backoff, so
 * fn must be safe to repeat. Returns once the commit is durable. */
typedef enum store_rc (*pg_tx_fn)(pg_conn *c, void *arg);
enum store_rc pg_tx(pg_store *s, pg_tx_fn fn, void *arg);

/* The store_rc for a failed pg_run: EXISTS for a unique violation,
 * NOT_FOUND for a foreign-key violation, else ERROR. */
enum store_rc pg_rc(const pg_conn *c);

/* Column readers; NULL reads as "" or 0. */
void pg_col_text(const PGresult *r, int row, int col, char *out, size_t outsz);
int64_t pg_col_i64(const PGresult *r, int row, int col);
/* A column's text, malloc'd, or NULL for SQL NULL. */
char *pg_col_dup_or_null(const PGresult *r, int row, int col);
/* Runs a statement whose result is not needed: 0, or -1 (logged). */
int pg_run_cmd(pg_conn *c, const char *sql, const struct pg_params *p);
/* Whether an UPDATE/DELETE/INSERT result touched any row. */
int pg_changed_rows(PGresult *r);
int pg_col_null(const PGresult *r, int row, int col);

/* Idempotency inside a transaction: claims the key (insert if absent). OK
 * when this transaction now owns it; otherwise the key is already there
 * (committed, or waited for until its transaction ended) and the result is
 * REPLAY with out filled, or IDEM_MISMATCH. The answer recorded is idem's
 * status and body, so a creation that fails must roll back. */
enum store_rc pg_idem_claim(pg_conn *c, const char *merchant_id, const struct idem_in *idem, struct idem_out *out);

/* Recover's inbox appender (pg_recover.c): threads that write the events
 * handed to them in shared transactions. start returns NULL when no thread
 * could be started; stop writes what is still waiting, then ends them. */
struct pg_inbox_appender;
struct pg_inbox_appender *pg_inbox_appender_start(pg_store *s, int batch_max);
void pg_inbox_appender_stop(struct pg_inbox_appender *a);
/* The store's appender, started on first use (NULL if it cannot be). */
struct pg_inbox_appender *pg_inbox_appender_of(pg_store *s);

/* Operations of each domain, in pg_<domain>.c. */
extern const struct store_gateway_ops pg_gateway_ops;
extern const struct store_disputes_ops pg_disputes_ops;
extern const struct store_recover_ops pg_recover_ops;

/* Migrations: named "<domain>-<n>", applied once each, in list order. */
struct pg_migration {
    const char *id;
    const char *sql;
};
struct pg_migration_set {
    const struct pg_migration *list;
    size_t count;
};
extern const struct pg_migration_set pg_migration_sets[];
extern const size_t pg_migration_sets_count;

#endif
