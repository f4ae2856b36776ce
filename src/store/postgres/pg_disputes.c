/* Disputes credentials and checkout records on PostgreSQL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "store/postgres/pg_store.h"

static pg_store *S(store *s) { return (pg_store *)s; }

/* ---- credentials ---- */

#define CRED_SELECT                                                                                          \
    "SELECT c.merchant_id, c.environment, c.username, c.secret_hash, c.label, c.created_at, c.revoked_at, " \
    "m.disabled_at FROM dsp_credentials c LEFT JOIN dsp_merchants m ON m.merchant_id = c.merchant_id "

static void read_credential(const PGresult *r, int row, void *out)
{
    struct dsp_credential_row *c = out;
    memset(c, 0, sizeof *c);
    pg_col_text(r, row, 0, c->merchant_id, sizeof c->merchant_id);
    pg_col_text(r, row, 1, c->environment, sizeof c->environment);
    pg_col_text(r, row, 2, c->username, sizeof c->username);
    pg_col_text(r, row, 3, c->secret_hash, sizeof c->secret_hash);
    pg_col_text(r, row, 4, c->label, sizeof c->label);
    c->created_at = pg_col_i64(r, row, 5);
    c->revoked_at = pg_col_i64(r, row, 6);
    c->merchant_disabled = !pg_col_null(r, row, 7);
}

static enum store_rc credential_insert_fn(pg_conn *c, void *arg)
{
    const struct dsp_credential_row *k = arg;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, k->merchant_id);
    pp_text(&p, k->environment);
    pp_text(&p, k->username);
    pp_text(&p, k->secret_hash);
    pp_text(&p, k->label);
    pp_i64(&p, k->created_at);
    PGresult *r = pg_run(c, "INSERT INTO dsp_credentials(merchant_id, environment, username, secret_hash, label, "
                            "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                         &p);
    if (!r)
        return pg_rc(c);
    PQclear(r);
    return STORE_OK;
}

static enum store_rc pg_credential_insert(store *s, const struct dsp_credential_row *k)
{
    return pg_tx(S(s), credential_insert_fn, (void *)k);
}

static enum store_rc pg_credential_get(store *s, const char *merchant_id, const char *env, const char *username,
                                       struct dsp_credential_row *out)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    pp_text(&p, env);
    pp_text(&p, username);
    PGresult *r = pg_read(S(s), CRED_SELECT "WHERE c.merchant_id = $1 AND c.environment = $2 AND c.username = $3", &p);
    if (!r)
        return STORE_ERROR;
    enum store_rc rc = PQntuples(r) ? STORE_OK : STORE_NOT_FOUND;
    if (rc == STORE_OK)
        read_credential(r, 0, out);
    else
        memset(out, 0, sizeof *out);
    PQclear(r);
    return rc;
}

static enum store_rc pg_credential_list(store *s, const char *merchant_id, struct dsp_credential_row **out, size_t *n)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    PGresult *r = pg_read(S(s), CRED_SELECT "WHERE c.merchant_id = $1 ORDER BY c.created_at, c.username", &p);
    return pg_collect(r, sizeof **out, read_credential, (void **)out, n);
}

struct credential_revoke_args {
    const char *merchant_id, *username;
    int64_t now;
};

static enum store_rc credential_revoke_fn(pg_conn *c, void *arg)
{
    struct credential_revoke_args *a = arg;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, a->merchant_id);
    pp_text(&p, a->username);
    pp_i64(&p, a->now);
    PGresult *r = pg_run(c, "UPDATE dsp_credentials SET revoked_at = $3 WHERE merchant_id = $1 AND username = $2 "
                            "AND revoked_at IS NULL",
                         &p);
    if (!r)
        return STORE_ERROR;
    int changed = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    return changed ? STORE_OK : STORE_NOT_FOUND;
}

static enum store_rc pg_credential_revoke(store *s, const char *merchant_id, const char *username, int64_t now)
{
    struct credential_revoke_args a = {merchant_id, username, now};
    return pg_tx(S(s), credential_revoke_fn, &a);
}

struct merchant_disable_args {
    const char *merchant_id;
    int disabled;
    int64_t now;
};

static enum store_rc merchant_disable_fn(pg_conn *c, void *arg)
{
    struct merchant_disable_args *a = arg;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, a->merchant_id);
    PGresult *r;
    if (a->disabled) {
        pp_i64(&p, a->now);
        /* The first time it was disabled stays. */
        r = pg_run(c, "INSERT INTO dsp_merchants(merchant_id, disabled_at) VALUES ($1, $2) ON CONFLICT (merchant_id) "
                      "DO UPDATE SET disabled_at = COALESCE(dsp_merchants.disabled_at, excluded.disabled_at)",
                   &p);
    } else {
        r = pg_run(c, "DELETE FROM dsp_merchants WHERE merchant_id = $1", &p);
    }
    if (!r)
        return pg_rc(c) == STORE_NOT_FOUND ? STORE_NOT_FOUND : STORE_ERROR;
    PQclear(r);
    return STORE_OK;
}

static enum store_rc pg_merchant_set_disabled(store *s, const char *merchant_id, int disabled, int64_t now)
{
    struct merchant_disable_args a = {merchant_id, disabled, now};
    return pg_tx(S(s), merchant_disable_fn, &a);
}

/* ---- records ---- */

#define REC_COLS                                                                                               \
    "merchant_id, environment, record_id, content_hash, received_at, purchased_at, customer_email, email_norm, " \
    "ipv4_address, psp, customer_id, invoice_id, subscription_id, charge_id, transaction_id, "                  \
    "network_transaction_id, user_agent, device_id, account_id, payment_credential, ship_line1, ship_line2, "   \
    "ship_city, ship_state, ship_postal_code, ship_country, shipping_norm, amount, currency, "                  \
    "product_description, disputed_at, fraud_reported_at"

static void read_record(const PGresult *res, int row, void *out)
{
    struct dsp_record_row *r = out;
    memset(r, 0, sizeof *r);
    int i = 0;
    pg_col_text(res, row, i++, r->merchant_id, sizeof r->merchant_id);
    pg_col_text(res, row, i++, r->environment, sizeof r->environment);
    pg_col_text(res, row, i++, r->record_id, sizeof r->record_id);
    pg_col_text(res, row, i++, r->content_hash, sizeof r->content_hash);
    r->received_at = pg_col_i64(res, row, i++);
    r->purchased_at = pg_col_i64(res, row, i++);
    pg_col_text(res, row, i++, r->customer_email, sizeof r->customer_email);
    pg_col_text(res, row, i++, r->email_norm, sizeof r->email_norm);
    pg_col_text(res, row, i++, r->ipv4_address, sizeof r->ipv4_address);
    pg_col_text(res, row, i++, r->psp, sizeof r->psp);
    pg_col_text(res, row, i++, r->customer_id, sizeof r->customer_id);
    pg_col_text(res, row, i++, r->invoice_id, sizeof r->invoice_id);
    pg_col_text(res, row, i++, r->subscription_id, sizeof r->subscription_id);
    pg_col_text(res, row, i++, r->charge_id, sizeof r->charge_id);
    pg_col_text(res, row, i++, r->transaction_id, sizeof r->transaction_id);
    pg_col_text(res, row, i++, r->network_transaction_id, sizeof r->network_transaction_id);
    pg_col_text(res, row, i++, r->user_agent, sizeof r->user_agent);
    pg_col_text(res, row, i++, r->device_id, sizeof r->device_id);
    pg_col_text(res, row, i++, r->account_id, sizeof r->account_id);
    pg_col_text(res, row, i++, r->payment_credential, sizeof r->payment_credential);
    r->has_shipping = !pg_col_null(res, row, i);
    pg_col_text(res, row, i++, r->shipping.line1, sizeof r->shipping.line1);
    pg_col_text(res, row, i++, r->shipping.line2, sizeof r->shipping.line2);
    pg_col_text(res, row, i++, r->shipping.city, sizeof r->shipping.city);
    pg_col_text(res, row, i++, r->shipping.state, sizeof r->shipping.state);
    pg_col_text(res, row, i++, r->shipping.postal_code, sizeof r->shipping.postal_code);
    pg_col_text(res, row, i++, r->shipping.country, sizeof r->shipping.country);
    pg_col_text(res, row, i++, r->shipping_norm, sizeof r->shipping_norm);
    r->has_amount = !pg_col_null(res, row, i);
    r->amount = pg_col_i64(res, row, i++);
    pg_col_text(res, row, i++, r->currency, sizeof r->currency);
    pg_col_text(res, row, i++, r->product_description, sizeof r->product_description);
    r->disputed_at = pg_col_i64(res, row, i++);
    r->fraud_reported_at = pg_col_i64(res, row, i++);
}

static enum store_rc collect_records(PGresult *r, struct dsp_record_row **out, size_t *n)
{
    return pg_collect(r, sizeof **out, read_record, (void **)out, n);
}

struct record_insert_args {
    const struct dsp_record_row *r;
    char *existing_id;
};

static enum store_rc record_insert_fn(pg_conn *c, void *arg)
{
    struct record_insert_args *a = arg;
    const struct dsp_record_row *r = a->r;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, r->merchant_id);
    pp_text(&p, r->environment);
    pp_text(&p, r->record_id);
    pp_text(&p, r->content_hash);
    pp_i64(&p, r->received_at);
    pp_i64(&p, r->purchased_at);
    pp_text(&p, r->customer_email);
    pp_text(&p, r->email_norm);
    pp_text(&p, r->ipv4_address);
    pp_text(&p, r->psp);
    pp_text_or_null(&p, r->customer_id);
    pp_text_or_null(&p, r->invoice_id);
    pp_text_or_null(&p, r->subscription_id);
    pp_text_or_null(&p, r->charge_id);
    pp_text_or_null(&p, r->transaction_id);
    pp_text_or_null(&p, r->network_transaction_id);
    pp_text_or_null(&p, r->user_agent);
    pp_text_or_null(&p, r->device_id);
    pp_text_or_null(&p, r->account_id);
    pp_text_or_null(&p, r->payment_credential);
    if (r->has_shipping) {
        pp_text(&p, r->shipping.line1);
        pp_text(&p, r->shipping.line2);
        pp_text(&p, r->shipping.city);
        pp_text(&p, r->shipping.state);
        pp_text(&p, r->shipping.postal_code);
        pp_text(&p, r->shipping.country);
        pp_text(&p, r->shipping_norm);
    } else {
        for (int k = 0; k < 7; k++)
            pp_text_or_null(&p, NULL);
    }
    pp_i64_or_null(&p, r->has_amount, r->amount);
    pp_text_or_null(&p, r->has_amount ? r->currency : NULL);
    pp_text_or_null(&p, r->product_description);
    pp_i64_or_null(&p, r->disputed_at != 0, r->disputed_at);
    pp_i64_or_null(&p, r->fraud_reported_at != 0, r->fraud_reported_at);
    /* Insert-if-absent on the record id, which the service derives from
     * the content: two identical records sent at once make one row, the
     * second waiting on the primary key until the first commits. */
    PGresult *res = pg_run(c, "INSERT INTO dsp_records(" REC_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
                              "$11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, "
                              "$28, $29, $30, $31, $32) ON CONFLICT (merchant_id, environment, record_id) DO NOTHING",
                           &p);
    if (!res)
        return STORE_ERROR;
    int inserted = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    if (inserted)
        return STORE_OK;
    str_copy(a->existing_id, DSP_RECORD_ID_MAX, r->record_id);
    return STORE_REPLAY;
}

static enum store_rc pg_record_insert(store *s, const struct dsp_record_row *r, char existing_id[DSP_RECORD_ID_MAX])
{
    struct record_insert_args a = {r, existing_id};
    return pg_tx(S(s), record_insert_fn, &a);
}

#define REC_BY_ID "SELECT " REC_COLS " FROM dsp_records WHERE merchant_id = $1 AND environment = $2 AND record_id = $3"

static enum store_rc pg_record_get(store *s, const char *merchant_id, const char *env, const char *record_id,
                                   struct dsp_record_row *out)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    pp_text(&p, env);
    pp_text(&p, record_id);
    PGresult *r = pg_read(S(s), REC_BY_ID, &p);
    if (!r)
        return STORE_ERROR;
    enum store_rc rc = PQntuples(r) ? STORE_OK : STORE_NOT_FOUND;
    if (rc == STORE_OK)
        read_record(r, 0, out);
    else
        memset(out, 0, sizeof *out);
    PQclear(r);
    return rc;
}

/* One fixed statement per searchable column, each served by its index
 * (merchant_id, environment, column, purchased_at). */
static const char *const find_sql[DSP_KEY_COUNT] = {
#define FIND(col)                                                                                                   \
    "SELECT " REC_COLS " FROM dsp_records WHERE merchant_id = $1 AND environment = $2 AND " col " = $3 "            \
    "ORDER BY purchased_at DESC LIMIT $4"
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

static enum store_rc pg_record_find(store *s, const char *merchant_id, const char *env, enum dsp_key key,
                                    const char *value, int limit, struct dsp_record_row **out, size_t *n)
{
    if ((int)key < 0 || key >= DSP_KEY_COUNT)
        return STORE_ERROR;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    pp_text(&p, env);
    pp_text(&p, value);
    pp_i64(&p, limit);
    return collect_records(pg_read(S(s), find_sql[key], &p), out, n);
}

static enum store_rc pg_record_priors(store *s, const char *merchant_id, const char *env, const char *credential,
                                      int64_t from_ms, int64_t to_ms, int limit, struct dsp_record_row **out,
                                      size_t *n)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    pp_text(&p, env);
    pp_text(&p, credential);
    pp_i64(&p, from_ms);
    pp_i64(&p, to_ms);
    pp_i64(&p, limit);
    return collect_records(pg_read(S(s),
                                   "SELECT " REC_COLS " FROM dsp_records WHERE merchant_id = $1 AND environment = $2 "
                                   "AND payment_credential = $3 AND purchased_at >= $4 AND purchased_at < $5 "
                                   "ORDER BY purchased_at DESC LIMIT $6",
                                   &p),
                           out, n);
}

struct record_mark_args {
    const char *merchant_id, *env, *record_id;
    enum dsp_flag flag;
    int64_t now;
    struct dsp_record_row *out;
};

static enum store_rc record_mark_fn(pg_conn *c, void *arg)
{
    struct record_mark_args *a = arg;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, a->merchant_id);
    pp_text(&p, a->env);
    pp_text(&p, a->record_id);
    pp_i64(&p, a->now);
    /* RETURNING gives the record as the update left it, in one statement. */
    PGresult *r =
        pg_run(c,
               a->flag == DSP_FLAG_DISPUTED
                   ? "UPDATE dsp_records SET disputed_at = COALESCE(disputed_at, $4) WHERE merchant_id = $1 AND "
                     "environment = $2 AND record_id = $3 RETURNING " REC_COLS
                   : "UPDATE dsp_records SET fraud_reported_at = COALESCE(fraud_reported_at, $4) WHERE merchant_id = "
                     "$1 AND environment = $2 AND record_id = $3 RETURNING " REC_COLS,
               &p);
    if (!r)
        return STORE_ERROR;
    enum store_rc rc = PQntuples(r) ? STORE_OK : STORE_NOT_FOUND;
    if (rc == STORE_OK)
        read_record(r, 0, a->out);
    PQclear(r);
    return rc;
}

static enum store_rc pg_record_mark(store *s, const char *merchant_id, const char *env, const char *record_id,
                                    enum dsp_flag flag, int64_t now, struct dsp_record_row *out)
{
    struct record_mark_args a = {merchant_id, env, record_id, flag, now, out};
    return pg_tx(S(s), record_mark_fn, &a);
}

struct record_purge_args {
    const char *merchant_id, *env;
    int64_t older_than;
    int max_rows;
    int64_t purged;
};

static enum store_rc record_purge_fn(pg_conn *c, void *arg)
{
    struct record_purge_args *a = arg;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, a->merchant_id);
    pp_text(&p, a->env);
    pp_i64(&p, a->older_than);
    pp_i64(&p, a->max_rows);
    /* Bounded chunks keep each transaction, and the row locks it holds,
     * short; SKIP LOCKED lets two nodes purge side by side. */
    PGresult *r = pg_run(c, "DELETE FROM dsp_records WHERE merchant_id = $1 AND environment = $2 AND record_id IN "
                            "(SELECT record_id FROM dsp_records WHERE merchant_id = $1 AND environment = $2 AND "
                            "purchased_at < $3 LIMIT $4 FOR UPDATE SKIP LOCKED)",
                         &p);
    if (!r)
        return STORE_ERROR;
    if (str_to_i64(PQcmdTuples(r), &a->purged) != 0)
        a->purged = 0;
    PQclear(r);
    return STORE_OK;
}

static enum store_rc pg_record_purge(store *s, const char *merchant_id, const char *env, int64_t older_than,
                                     int max_rows, int64_t *purged)
{
    struct record_purge_args a = {merchant_id, env, older_than, max_rows, 0};
    enum store_rc rc = pg_tx(S(s), record_purge_fn, &a);
    if (purged)
        *purged = rc == STORE_OK ? a.purged : 0;
    return rc;
}

const struct store_disputes_ops pg_disputes_ops = {
    .credential_insert = pg_credential_insert,
    .credential_get = pg_credential_get,
    .credential_list = pg_credential_list,
    .credential_revoke = pg_credential_revoke,
    .merchant_set_disabled = pg_merchant_set_disabled,
    .record_insert = pg_record_insert,
    .record_get = pg_record_get,
    .record_find = pg_record_find,
    .record_priors = pg_record_priors,
    .record_mark = pg_record_mark,
    .record_purge = pg_record_purge,
};
