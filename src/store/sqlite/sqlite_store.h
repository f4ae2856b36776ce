/* SQLite backend internals, shared by the files of this directory only. */
#ifndef RECOUP_STORE_SQLITE_STORE_H
#define RECOUP_STORE_SQLITE_STORE_H

#include <sqlite3.h>

#include "store/store.h"

store *sqlite_store_open(const struct store_options *opt, char *err, size_t errsz);

struct sq_stmt_cache;

typedef struct sq_conn {
    sqlite3 *db;
    struct sq_stmt_cache *cache;
    struct sq_conn *next_free;
    struct sq_db *home; /* the database file this connection belongs to */
} sq_conn;

typedef struct sq_store sq_store;
typedef struct sq_db sq_db;
typedef enum store_rc (*sq_write_fn)(sq_conn *c, void *arg);

/* The domain database and Recover's inbox database. */
sq_db *sq_main(sq_store *s);
sq_db *sq_inbox(sq_store *s);
sq_conn *sq_db_read_acquire(sq_db *d);
void sq_db_read_release(sq_db *d, sq_conn *c);
enum store_rc sq_db_write(sq_db *d, sq_write_fn fn, void *arg);

/* The prepared statement for sql on connection c, reset and unbound,
 * prepared on first use and cached by its text (so statements built from
 * fixed fragments are cached too). NULL on failure, logged. Values are
 * always bound, never spliced into sql. */
sqlite3_stmt *sq_stmt(sq_conn *c, const char *sql);
/* Runs a statement without results (transaction control included) through
 * the same cache; returns an SQLite result code (SQLITE_OK on success). */
int sq_exec(sq_conn *c, const char *sql);

/* Borrows a read connection (never the writer's); give it back after. */
sq_conn *sq_read_acquire(sq_store *s);
void sq_read_release(sq_store *s, sq_conn *c);

/* Runs fn inside the current group commit on the writer connection, in its
 * own savepoint, and returns its result once the group's commit is durable.
 * A result other than STORE_OK/STORE_REPLAY rolls back fn's changes. */
enum store_rc sq_write(sq_store *s, sq_write_fn fn, void *arg);

/* Next value of a table's insertion counter (its "seq" column), for the
 * writer only; initialised from MAX(seq) on first use, and rolled back with
 * a failed group commit. table must be a static string. */
int64_t sq_next_seq(sq_conn *writer, const char *table);
/* Gives back the value sq_next_seq just returned, when nothing used it, so
 * that a table's seq values stay contiguous. */
void sq_unuse_seq(sq_conn *writer, const char *table, int64_t value);

/* Logs the connection's last error with context; returns STORE_ERROR. */
enum store_rc sq_fail(sq_conn *c, const char *what);

/* Binding helpers: NULL or "" text binds SQL NULL when nullable. */
void sq_bind_text(sqlite3_stmt *st, int i, const char *v);
void sq_bind_text_or_null(sqlite3_stmt *st, int i, const char *v);
void sq_bind_i64_or_null(sqlite3_stmt *st, int i, int has, int64_t v);
void sq_col_text(sqlite3_stmt *st, int col, char *out, size_t outsz);

/* Idempotency inside the writer's transaction. */
enum store_rc sq_idem_check(sq_conn *c, const char *merchant_id, const struct idem_in *idem, struct idem_out *out);
enum store_rc sq_idem_record(sq_conn *c, const char *merchant_id, const struct idem_in *idem);

/* Operations of each domain, in sqlite_<domain>.c. */
extern const struct store_gateway_ops sqlite_gateway_ops;
extern const struct store_disputes_ops sqlite_disputes_ops;
extern const struct store_recover_ops sqlite_recover_ops;

/* Collects every row of st via read into a malloc'd array. */
typedef void (*sq_row_reader)(sqlite3_stmt *st, void *row);
enum store_rc sq_collect_rows(sq_conn *c, sqlite3_stmt *st, size_t elem_size, sq_row_reader read, void **out,
                              size_t *n);
/* Steps a bound single-row lookup: OK with the row read, or NOT_FOUND. */
enum store_rc sq_fetch_one(sq_conn *c, sqlite3_stmt *st, sq_row_reader read, void *out, const char *what);

/* A whole read on a read connection of the main file: sql with its text
 * parameters (NULL-terminated), one row into out, or every row into a
 * malloc'd array. */
enum store_rc sq_read_one(sq_store *s, const char *sql, const char *const *params, sq_row_reader read, void *out);
enum store_rc sq_read_all(sq_store *s, const char *sql, const char *const *params, size_t elem_size,
                          sq_row_reader read, void **out, size_t *n);

/* Migrations: named "<domain>-<n>", applied once each, in list order. */
struct sq_migration {
    const char *id;
    const char *sql;
};
struct sq_migration_set {
    const struct sq_migration *list;
    size_t count;
};
extern const struct sq_migration_set sq_migration_sets[];
extern const size_t sq_migration_sets_count;
/* The inbox database's own migrations. */
extern const struct sq_migration_set sq_inbox_migration_sets[];
extern const size_t sq_inbox_migration_sets_count;

#endif
