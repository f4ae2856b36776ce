/* SQLite backend internals, shared by the files of this directory only. */
#ifndef RECOUP_STORE_SQLITE_STORE_H
#define RECOUP_STORE_SQLITE_STORE_H

#include <sqlite3.h>

#include "store/store.h"

store *sqlite_store_open(const struct store_options *opt, char *err, size_t errsz);

/* Every fixed statement, prepared once per connection on first use. */
#define SQ_STATEMENTS(X)                                                                                         \
    X(MERCHANT_INSERT, "INSERT INTO merchants(merchant_id, name, created_at) VALUES (?1, ?2, ?3)")               \
    X(MERCHANT_GET, "SELECT merchant_id, name, created_at FROM merchants WHERE merchant_id = ?1")                \
    X(MERCHANT_LIST, "SELECT merchant_id, name, created_at FROM merchants ORDER BY created_at, merchant_id")     \
    X(KEY_INSERT, "INSERT INTO api_keys(merchant_id, key_id, service, env, label, secret_hash, created_at) "      \
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")                                                         \
    X(KEY_GET, "SELECT merchant_id, key_id, service, env, label, secret_hash, created_at, revoked_at "           \
               "FROM api_keys WHERE key_id = ?1")                                                                \
    X(KEY_LIST, "SELECT merchant_id, key_id, service, env, label, secret_hash, created_at, revoked_at "          \
                "FROM api_keys WHERE merchant_id = ?1 ORDER BY created_at, key_id")                              \
    X(KEY_REVOKE, "UPDATE api_keys SET revoked_at = ?3 WHERE merchant_id = ?1 AND key_id = ?2 "                  \
                  "AND revoked_at IS NULL")                                                                      \
    X(IDEM_GET, "SELECT request_hash, status, body FROM idempotency_keys "                                       \
                "WHERE merchant_id = ?1 AND scope = ?2 AND idem_key = ?3")                                       \
    X(IDEM_INSERT, "INSERT INTO idempotency_keys(merchant_id, scope, idem_key, request_hash, status, body, "     \
                   "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING")                     \
    X(IDEM_PURGE, "DELETE FROM idempotency_keys WHERE created_at < ?1")                                          \
    X(PAY_INSERT, "INSERT INTO gw_payments(merchant_id, payment_id, seq, amount, currency, amount_e4, method, "  \
                  "status, decline_code, decline_message, network_code, created_at, settled_at, "               \
                  "settled_amount, refunded, payment_method_id, card_sealed, card_masked, card_brand, "         \
                  "card_name, exp_month, exp_year, phone) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "     \
                  "?11, ?12, ?13, ?14, 0, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)")                              \
    X(PAY_GET, "SELECT " SQ_PAY_COLS " FROM gw_payments WHERE merchant_id = ?1 AND payment_id = ?2")             \
    X(PAY_MAX_SEQ, "SELECT COALESCE(MAX(seq), 0) FROM gw_payments")                                              \
    X(PAY_SETTLE, "UPDATE gw_payments SET status = 'settled', settled_at = ?3, settled_amount = ?4 "             \
                  "WHERE merchant_id = ?1 AND payment_id = ?2 AND status = 'success'")                           \
    X(PAY_DELETE, "DELETE FROM gw_payments WHERE merchant_id = ?1 AND payment_id = ?2")                          \
    X(PAY_SETTLE_CANDIDATES, "SELECT merchant_id, payment_id, amount, refunded FROM gw_payments "                \
                             "WHERE status = 'success' AND created_at <= ?1 LIMIT ?2")                                    \
    X(PAY_ADD_REFUNDED, "UPDATE gw_payments SET refunded = refunded + ?3 WHERE merchant_id = ?1 AND "            \
                        "payment_id = ?2")                                                                       \
    X(REFUND_INSERT, "INSERT INTO gw_refunds(merchant_id, refund_id, payment_id, seq, amount, currency, "        \
                     "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")                                          \
    X(REFUND_GET, "SELECT " SQ_REFUND_COLS " FROM gw_refunds WHERE merchant_id = ?1 AND refund_id = ?2")         \
    X(REFUND_MAX_SEQ, "SELECT COALESCE(MAX(seq), 0) FROM gw_refunds")                                            \
    X(PM_INSERT, "INSERT INTO gw_payment_methods(merchant_id, payment_method_id, type, brand, bin, last4, "      \
                 "masked, name, exp_month, exp_year, sealed, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "   \
                 "?8, ?9, ?10, ?11, ?12)")                                                                       \
    X(PM_GET, "SELECT merchant_id, payment_method_id, type, brand, bin, last4, masked, name, exp_month, "        \
              "exp_year, sealed, created_at FROM gw_payment_methods WHERE merchant_id = ?1 AND "                 \
              "payment_method_id = ?2")                                                                          \
    X(PM_DELETE, "DELETE FROM gw_payment_methods WHERE merchant_id = ?1 AND payment_method_id = ?2")

#define SQ_PAY_COLS                                                                                              \
    "merchant_id, payment_id, seq, amount, currency, method, status, decline_code, decline_message, "            \
    "network_code, created_at, settled_at, settled_amount, refunded, payment_method_id, card_sealed, "          \
    "card_masked, card_brand, card_name, exp_month, exp_year, phone"
#define SQ_REFUND_COLS "merchant_id, refund_id, payment_id, seq, amount, currency, created_at"

#define SQ_ENUM(name, sql) SQ_##name,
enum sq_stmt_id { SQ_STATEMENTS(SQ_ENUM) SQ_COUNT };
#undef SQ_ENUM

/* Statements whose WHERE clause depends on which filters a request uses:
 * one prepared statement per combination, built from fixed fragments, so
 * values are still always bound, never spliced. */
enum sq_dyn_kind { SQ_DYN_PAYMENT_LIST = 0, SQ_DYN_REFUND_LIST, SQ_DYN_KINDS };
#define SQ_DYN_MAX_MASKS 1024

typedef struct sq_conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[SQ_COUNT];
    sqlite3_stmt **dyn[SQ_DYN_KINDS];
    struct sq_conn *next_free;
    struct sq_store *owner;
} sq_conn;

typedef struct sq_store sq_store;

/* A prepared, reset statement of c (NULL on failure, logged). */
sqlite3_stmt *sq_stmt(sq_conn *c, enum sq_stmt_id id);
/* A dynamic statement; build writes the SQL for mask into a buffer. */
sqlite3_stmt *sq_dyn_stmt(sq_conn *c, enum sq_dyn_kind kind, unsigned mask, const char *sql);

/* Borrows a read connection (never the writer's); give it back after. */
sq_conn *sq_read_acquire(sq_store *s);
void sq_read_release(sq_store *s, sq_conn *c);

/* Runs fn inside the current group commit on the writer connection, in its
 * own savepoint, and returns its result once the group's commit is durable.
 * A result other than STORE_OK/STORE_REPLAY rolls back fn's changes. */
typedef enum store_rc (*sq_write_fn)(sq_conn *c, void *arg);
enum store_rc sq_write(sq_store *s, sq_write_fn fn, void *arg);

/* Next value of a per-table insertion counter (writer only). */
int64_t sq_next_seq(sq_store *s, int which);
enum { SQ_SEQ_PAYMENTS = 0, SQ_SEQ_REFUNDS, SQ_SEQ_COUNT };

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

/* Gateway operations, in sqlite_gateway.c. */
void sqlite_gateway_ops(struct store_ops *ops);

/* Migrations, in migrations.c. */
struct sq_migration {
    int version;
    const char *name;
    const char *sql;
};
extern const struct sq_migration sq_migrations[];
extern const size_t sq_migrations_count;

#endif
