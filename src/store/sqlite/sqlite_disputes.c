/* Disputes credentials and checkout records on SQLite. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "store/sqlite/sqlite_store.h"

static sq_store *S(store *s) { return (sq_store *)s; }

/* ---- credentials ---- */

#define CRED_SELECT                                                                                          \
    "SELECT c.merchant_id, c.environment, c.username, c.secret_hash, c.label, c.created_at, c.revoked_at, " \
    "m.disabled_at FROM dsp_credentials c LEFT JOIN dsp_merchants m ON m.merchant_id = c.merchant_id "

static void read_credential(sqlite3_stmt *st, void *row)
{
    struct dsp_credential_row *c = row;
    sq_col_text(st, 0, c->merchant_id, sizeof c->merchant_id);
    sq_col_text(st, 1, c->environment, sizeof c->environment);
    sq_col_text(st, 2, c->username, sizeof c->username);
    sq_col_text(st, 3, c->secret_hash, sizeof c->secret_hash);
    sq_col_text(st, 4, c->label, sizeof c->label);
    c->created_at = sqlite3_column_int64(st, 5);
    c->revoked_at = sqlite3_column_int64(st, 6);
    c->merchant_disabled = sqlite3_column_type(st, 7) != SQLITE_NULL;
}

static enum store_rc credential_insert_fn(sq_conn *c, void *arg)
{
    const struct dsp_credential_row *k = arg;
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO dsp_credentials(merchant_id, environment, username, secret_hash, label, "
                                  "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, k->merchant_id);
    sq_bind_text(st, 2, k->environment);
    sq_bind_text(st, 3, k->username);
    sq_bind_text(st, 4, k->secret_hash);
    sq_bind_text(st, 5, k->label);
    sqlite3_bind_int64(st, 6, k->created_at);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return STORE_NOT_FOUND;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return STORE_EXISTS;
    return rc == SQLITE_DONE ? STORE_OK : sq_fail(c, "dsp_credential_insert");
}

static enum store_rc sq_credential_insert(store *s, const struct dsp_credential_row *k)
{
    return sq_write(S(s), credential_insert_fn, (void *)k);
}

static enum store_rc sq_credential_get(store *s, const char *merchant_id, const char *env, const char *username,
                                       struct dsp_credential_row *out)
{
    const char *params[] = {merchant_id, env, username, NULL};
    memset(out, 0, sizeof *out);
    return sq_read_one(S(s), CRED_SELECT "WHERE c.merchant_id = ?1 AND c.environment = ?2 AND c.username = ?3",
                       params, read_credential, out);
}

static enum store_rc sq_credential_list(store *s, const char *merchant_id, struct dsp_credential_row **out, size_t *n)
{
    const char *params[] = {merchant_id, NULL};
    return sq_read_all(S(s), CRED_SELECT "WHERE c.merchant_id = ?1 ORDER BY c.created_at, c.username", params,
                       sizeof **out, read_credential, (void **)out, n);
}

struct credential_revoke_args {
    const char *merchant_id, *username;
    int64_t now;
};

static enum store_rc credential_revoke_fn(sq_conn *c, void *arg)
{
    struct credential_revoke_args *a = arg;
    sqlite3_stmt *st = sq_stmt(c, "UPDATE dsp_credentials SET revoked_at = ?3 WHERE merchant_id = ?1 AND "
                                  "username = ?2 AND revoked_at IS NULL");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, a->merchant_id);
    sq_bind_text(st, 2, a->username);
    sqlite3_bind_int64(st, 3, a->now);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sq_fail(c, "dsp_credential_revoke");
    return sqlite3_changes(c->db) ? STORE_OK : STORE_NOT_FOUND;
}

static enum store_rc sq_credential_revoke(store *s, const char *merchant_id, const char *username, int64_t now)
{
    struct credential_revoke_args a = {merchant_id, username, now};
    return sq_write(S(s), credential_revoke_fn, &a);
}

struct merchant_disable_args {
    const char *merchant_id;
    int disabled;
    int64_t now;
};

static enum store_rc merchant_disable_fn(sq_conn *c, void *arg)
{
    struct merchant_disable_args *a = arg;
    sqlite3_stmt *st =
        a->disabled
            ? sq_stmt(c, "INSERT INTO dsp_merchants(merchant_id, disabled_at) VALUES (?1, ?2) "
                         "ON CONFLICT(merchant_id) DO UPDATE SET disabled_at = COALESCE(disabled_at, excluded.disabled_at)")
            : sq_stmt(c, "DELETE FROM dsp_merchants WHERE merchant_id = ?1");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, a->merchant_id);
    if (a->disabled)
        sqlite3_bind_int64(st, 2, a->now);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return STORE_NOT_FOUND;
    return rc == SQLITE_DONE ? STORE_OK : sq_fail(c, "dsp_merchant_set_disabled");
}

static enum store_rc sq_merchant_set_disabled(store *s, const char *merchant_id, int disabled, int64_t now)
{
    struct merchant_disable_args a = {merchant_id, disabled, now};
    return sq_write(S(s), merchant_disable_fn, &a);
}

/* ---- records ---- */

#define REC_COLS                                                                                               \
    "merchant_id, environment, record_id, content_hash, received_at, purchased_at, customer_email, email_norm, " \
    "ipv4_address, psp, customer_id, invoice_id, subscription_id, charge_id, transaction_id, "                  \
    "network_transaction_id, user_agent, device_id, account_id, payment_credential, ship_line1, ship_line2, "   \
    "ship_city, ship_state, ship_postal_code, ship_country, shipping_norm, amount, currency, "                  \
    "product_description, disputed_at, fraud_reported_at"

static void read_record(sqlite3_stmt *st, void *row)
{
    struct dsp_record_row *r = row;
    int i = 0;
    sq_col_text(st, i++, r->merchant_id, sizeof r->merchant_id);
    sq_col_text(st, i++, r->environment, sizeof r->environment);
    sq_col_text(st, i++, r->record_id, sizeof r->record_id);
    sq_col_text(st, i++, r->content_hash, sizeof r->content_hash);
    r->received_at = sqlite3_column_int64(st, i++);
    r->purchased_at = sqlite3_column_int64(st, i++);
    sq_col_text(st, i++, r->customer_email, sizeof r->customer_email);
    sq_col_text(st, i++, r->email_norm, sizeof r->email_norm);
    sq_col_text(st, i++, r->ipv4_address, sizeof r->ipv4_address);
    sq_col_text(st, i++, r->psp, sizeof r->psp);
    sq_col_text(st, i++, r->customer_id, sizeof r->customer_id);
    sq_col_text(st, i++, r->invoice_id, sizeof r->invoice_id);
    sq_col_text(st, i++, r->subscription_id, sizeof r->subscription_id);
    sq_col_text(st, i++, r->charge_id, sizeof r->charge_id);
    sq_col_text(st, i++, r->transaction_id, sizeof r->transaction_id);
    sq_col_text(st, i++, r->network_transaction_id, sizeof r->network_transaction_id);
    sq_col_text(st, i++, r->user_agent, sizeof r->user_agent);
    sq_col_text(st, i++, r->device_id, sizeof r->device_id);
    sq_col_text(st, i++, r->account_id, sizeof r->account_id);
    sq_col_text(st, i++, r->payment_credential, sizeof r->payment_credential);
    r->has_shipping = sqlite3_column_type(st, i) != SQLITE_NULL;
    sq_col_text(st, i++, r->shipping.line1, sizeof r->shipping.line1);
    sq_col_text(st, i++, r->shipping.line2, sizeof r->shipping.line2);
    sq_col_text(st, i++, r->shipping.city, sizeof r->shipping.city);
    sq_col_text(st, i++, r->shipping.state, sizeof r->shipping.state);
    sq_col_text(st, i++, r->shipping.postal_code, sizeof r->shipping.postal_code);
    sq_col_text(st, i++, r->shipping.country, sizeof r->shipping.country);
    sq_col_text(st, i++, r->shipping_norm, sizeof r->shipping_norm);
    r->has_amount = sqlite3_column_type(st, i) != SQLITE_NULL;
    r->amount = sqlite3_column_int64(st, i++);
    sq_col_text(st, i++, r->currency, sizeof r->currency);
    sq_col_text(st, i++, r->product_description, sizeof r->product_description);
    r->disputed_at = sqlite3_column_int64(st, i++);
    r->fraud_reported_at = sqlite3_column_int64(st, i++);
}

struct record_insert_args {
    const struct dsp_record_row *r;
    char *existing_id;
};

static enum store_rc record_insert_fn(sq_conn *c, void *arg)
{
    struct record_insert_args *a = arg;
    const struct dsp_record_row *r = a->r;
    /* Insert-if-absent on the record id, which the service derives from
     * the content: the primary key decides, in the writer's transaction, so
     * two identical records sent at once still make one row. */
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO dsp_records(seq, " REC_COLS ") VALUES (?33, ?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                                  "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, "
                                  "?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32) "
                                  "ON CONFLICT(merchant_id, environment, record_id) DO NOTHING");
    if (!st)
        return STORE_ERROR;
    int64_t seq = sq_next_seq(c, "dsp_records");
    if (seq < 0)
        return STORE_ERROR;
    sqlite3_bind_int64(st, 33, seq);
    int i = 1;
    sq_bind_text(st, i++, r->merchant_id);
    sq_bind_text(st, i++, r->environment);
    sq_bind_text(st, i++, r->record_id);
    sq_bind_text(st, i++, r->content_hash);
    sqlite3_bind_int64(st, i++, r->received_at);
    sqlite3_bind_int64(st, i++, r->purchased_at);
    sq_bind_text(st, i++, r->customer_email);
    sq_bind_text(st, i++, r->email_norm);
    sq_bind_text(st, i++, r->ipv4_address);
    sq_bind_text(st, i++, r->psp);
    sq_bind_text_or_null(st, i++, r->customer_id);
    sq_bind_text_or_null(st, i++, r->invoice_id);
    sq_bind_text_or_null(st, i++, r->subscription_id);
    sq_bind_text_or_null(st, i++, r->charge_id);
    sq_bind_text_or_null(st, i++, r->transaction_id);
    sq_bind_text_or_null(st, i++, r->network_transaction_id);
    sq_bind_text_or_null(st, i++, r->user_agent);
    sq_bind_text_or_null(st, i++, r->device_id);
    sq_bind_text_or_null(st, i++, r->account_id);
    sq_bind_text_or_null(st, i++, r->payment_credential);
    if (r->has_shipping) {
        sq_bind_text(st, i++, r->shipping.line1);
        sq_bind_text(st, i++, r->shipping.line2);
        sq_bind_text(st, i++, r->shipping.city);
        sq_bind_text(st, i++, r->shipping.state);
        sq_bind_text(st, i++, r->shipping.postal_code);
        sq_bind_text(st, i++, r->shipping.country);
        sq_bind_text(st, i++, r->shipping_norm);
    } else {
        for (int k = 0; k < 7; k++)
            sqlite3_bind_null(st, i++);
    }
    sq_bind_i64_or_null(st, i++, r->has_amount, r->amount);
    sq_bind_text_or_null(st, i++, r->has_amount ? r->currency : NULL);
    sq_bind_text_or_null(st, i++, r->product_description);
    sq_bind_i64_or_null(st, i++, r->disputed_at != 0, r->disputed_at);
    sq_bind_i64_or_null(st, i++, r->fraud_reported_at != 0, r->fraud_reported_at);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sq_fail(c, "dsp_record_insert");
    if (sqlite3_changes(c->db) == 1)
        return STORE_OK;
    str_copy(a->existing_id, DSP_RECORD_ID_MAX, r->record_id);
    return STORE_REPLAY;
}

static enum store_rc sq_record_insert(store *s, const struct dsp_record_row *r, char existing_id[DSP_RECORD_ID_MAX])
{
    struct record_insert_args a = {r, existing_id};
    return sq_write(S(s), record_insert_fn, &a);
}

static enum store_rc get_record_on(sq_conn *c, const char *merchant_id, const char *env, const char *record_id,
                                   struct dsp_record_row *out)
{
    sqlite3_stmt *st = sq_stmt(c, "SELECT " REC_COLS " FROM dsp_records WHERE merchant_id = ?1 AND environment = ?2 "
                                  "AND record_id = ?3");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, merchant_id);
    sq_bind_text(st, 2, env);
    sq_bind_text(st, 3, record_id);
    memset(out, 0, sizeof *out);
    return sq_fetch_one(c, st, read_record, out, "dsp_record_get");
}

static enum store_rc sq_record_get(store *s, const char *merchant_id, const char *env, const char *record_id,
                                   struct dsp_record_row *out)
{
    sq_conn *c = sq_read_acquire(S(s));
    if (!c)
        return STORE_ERROR;
    enum store_rc rc = get_record_on(c, merchant_id, env, record_id, out);
    sq_read_release(S(s), c);
    return rc;
}

/* One fixed statement per searchable column, each served by its index
 * (merchant_id, environment, column, purchased_at). */
static const char *const find_sql[DSP_KEY_COUNT] = {
#define FIND(col)                                                                                                   \
    "SELECT " REC_COLS " FROM dsp_records WHERE merchant_id = ?1 AND environment = ?2 AND " col " = ?3 "            \
    "ORDER BY purchased_at DESC LIMIT ?4"
    [DSP_KEY_INVOICE] = FIND("invoice_id"),
    [DSP_KEY_SUBSCRIPTION] = FIND("subscription_id"),
    [DSP_KEY_CHARGE] = FIND("charge_id"),
    [DSP_KEY_TRANSACTION] = FIND("transaction_id"),
    [DSP_KEY_NETWORK_TRANSACTION] = FIND("network_transaction_id"),
    [DSP_KEY_CREDENTIAL] = FIND("payment_credential"),
    [DSP_KEY_EMAIL] = FIND("email_norm"),
    [DSP_KEY_IP] = FIND("ipv4_address"),
    [DSP_KEY_DEVICE] = FIND("device_id"),
    [DSP_KEY_ACCOUNT] = FIND("account_id"),
#undef FIND
};

static enum store_rc sq_record_find(store *s, const char *merchant_id, const char *env, enum dsp_key key,
                                    const char *value, int limit, struct dsp_record_row **out, size_t *n)
{
    if ((int)key < 0 || key >= DSP_KEY_COUNT)
        return STORE_ERROR;
    sq_conn *c = sq_read_acquire(S(s));
    if (!c)
        return STORE_ERROR;
    enum store_rc rc = STORE_ERROR;
    sqlite3_stmt *st = sq_stmt(c, find_sql[key]);
    if (st) {
        sq_bind_text(st, 1, merchant_id);
        sq_bind_text(st, 2, env);
        sq_bind_text(st, 3, value);
        sqlite3_bind_int(st, 4, limit);
        rc = sq_collect_rows(c, st, sizeof **out, read_record, (void **)out, n);
    }
    sq_read_release(S(s), c);
    return rc;
}

static enum store_rc sq_record_priors(store *s, const char *merchant_id, const char *env, const char *credential,
                                      int64_t from_ms, int64_t to_ms, int limit, struct dsp_record_row **out,
                                      size_t *n)
{
    sq_conn *c = sq_read_acquire(S(s));
    if (!c)
        return STORE_ERROR;
    enum store_rc rc = STORE_ERROR;
    sqlite3_stmt *st = sq_stmt(c, "SELECT " REC_COLS " FROM dsp_records WHERE merchant_id = ?1 AND environment = ?2 "
                                  "AND payment_credential = ?3 AND purchased_at >= ?4 AND purchased_at < ?5 "
                                  "ORDER BY purchased_at DESC LIMIT ?6");
    if (st) {
        sq_bind_text(st, 1, merchant_id);
        sq_bind_text(st, 2, env);
        sq_bind_text(st, 3, credential);
        sqlite3_bind_int64(st, 4, from_ms);
        sqlite3_bind_int64(st, 5, to_ms);
        sqlite3_bind_int(st, 6, limit);
        rc = sq_collect_rows(c, st, sizeof **out, read_record, (void **)out, n);
    }
    sq_read_release(S(s), c);
    return rc;
}

struct record_mark_args {
    const char *merchant_id, *env, *record_id;
    enum dsp_flag flag;
    int64_t now;
    struct dsp_record_row *out;
};

static enum store_rc record_mark_fn(sq_conn *c, void *arg)
{
    struct record_mark_args *a = arg;
    sqlite3_stmt *st =
        a->flag == DSP_FLAG_DISPUTED
            ? sq_stmt(c, "UPDATE dsp_records SET disputed_at = COALESCE(disputed_at, ?4) WHERE merchant_id = ?1 "
                         "AND environment = ?2 AND record_id = ?3")
            : sq_stmt(c, "UPDATE dsp_records SET fraud_reported_at = COALESCE(fraud_reported_at, ?4) WHERE "
                         "merchant_id = ?1 AND environment = ?2 AND record_id = ?3");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, a->merchant_id);
    sq_bind_text(st, 2, a->env);
    sq_bind_text(st, 3, a->record_id);
    sqlite3_bind_int64(st, 4, a->now);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sq_fail(c, "dsp_record_mark");
    if (sqlite3_changes(c->db) == 0)
        return STORE_NOT_FOUND;
    return get_record_on(c, a->merchant_id, a->env, a->record_id, a->out);
}

static enum store_rc sq_record_mark(store *s, const char *merchant_id, const char *env, const char *record_id,
                                    enum dsp_flag flag, int64_t now, struct dsp_record_row *out)
{
    struct record_mark_args a = {merchant_id, env, record_id, flag, now, out};
    return sq_write(S(s), record_mark_fn, &a);
}

struct record_purge_args {
    const char *merchant_id, *env;
    int64_t older_than;
    int max_rows;
    int64_t purged;
};

static enum store_rc record_purge_fn(sq_conn *c, void *arg)
{
    struct record_purge_args *a = arg;
    /* Bounded chunks keep the single writer free for requests between them. */
    sqlite3_stmt *st = sq_stmt(c, "DELETE FROM dsp_records WHERE merchant_id = ?1 AND environment = ?2 AND "
                                  "seq IN (SELECT seq FROM dsp_records WHERE merchant_id = ?1 AND environment = ?2 AND "
                                  "purchased_at < ?3 LIMIT ?4)");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, a->merchant_id);
    sq_bind_text(st, 2, a->env);
    sqlite3_bind_int64(st, 3, a->older_than);
    sqlite3_bind_int(st, 4, a->max_rows);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sq_fail(c, "dsp_record_purge");
    a->purged = sqlite3_changes(c->db);
    return STORE_OK;
}

static enum store_rc sq_record_purge(store *s, const char *merchant_id, const char *env, int64_t older_than,
                                     int max_rows, int64_t *purged)
{
    struct record_purge_args a = {merchant_id, env, older_than, max_rows, 0};
    enum store_rc rc = sq_write(S(s), record_purge_fn, &a);
    if (purged)
        *purged = rc == STORE_OK ? a.purged : 0;
    return rc;
}

const struct store_disputes_ops sqlite_disputes_ops = {
    .credential_insert = sq_credential_insert,
    .credential_get = sq_credential_get,
    .credential_list = sq_credential_list,
    .credential_revoke = sq_credential_revoke,
    .merchant_set_disabled = sq_merchant_set_disabled,
    .record_insert = sq_record_insert,
    .record_get = sq_record_get,
    .record_find = sq_record_find,
    .record_priors = sq_record_priors,
    .record_mark = sq_record_mark,
    .record_purge = sq_record_purge,
};
