/* Recover on SQLite: settings, the event inbox and the domain model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "store/sqlite/sqlite_recover.h"
#include "store/sqlite/sqlite_store.h"

static sq_store *S(store *s) { return (sq_store *)s; }

void rc_txns_free(struct rc_txn *txns, size_t n)
{
    for (size_t i = 0; txns && i < n; i++)
        free(txns[i].raw);
    free(txns);
}

/* ---- settings ---- */

#define SETTINGS_COLS                                                                                           \
    "merchant_id, dunning_days, max_retries, timezone, integration, retry_status_url, retry_results_url, "       \
    "end_of_dunning_url, end_of_dunning_enabled, merchant_auth, merchant_auth_username, merchant_auth_secret, "  \
    "webhook_secret, updated_at, platform_retry_url, psp_url, psp_api_key"

static void read_settings(sqlite3_stmt *st, void *row)
{
    struct rc_settings *r = row;
    sq_col_text(st, 0, r->merchant_id, sizeof r->merchant_id);
    r->dunning_days = sqlite3_column_int64(st, 1);
    r->max_retries = sqlite3_column_int64(st, 2);
    sq_col_text(st, 3, r->timezone, sizeof r->timezone);
    sq_col_text(st, 4, r->integration, sizeof r->integration);
    sq_col_text(st, 5, r->retry_status_url, sizeof r->retry_status_url);
    sq_col_text(st, 6, r->retry_results_url, sizeof r->retry_results_url);
    sq_col_text(st, 7, r->end_of_dunning_url, sizeof r->end_of_dunning_url);
    r->end_of_dunning_enabled = sqlite3_column_int(st, 8);
    sq_col_text(st, 9, r->merchant_auth, sizeof r->merchant_auth);
    sq_col_text(st, 10, r->merchant_auth_username, sizeof r->merchant_auth_username);
    sq_col_text(st, 11, r->merchant_auth_secret, sizeof r->merchant_auth_secret);
    sq_col_text(st, 12, r->webhook_secret, sizeof r->webhook_secret);
    r->updated_at = sqlite3_column_int64(st, 13);
    sq_col_text(st, 14, r->platform_retry_url, sizeof r->platform_retry_url);
    sq_col_text(st, 15, r->psp_url, sizeof r->psp_url);
    sq_col_text(st, 16, r->psp_api_key, sizeof r->psp_api_key);
}

static enum store_rc sq_settings_get(store *s, const char *merchant_id, struct rc_settings *out)
{
    const char *params[] = {merchant_id, NULL};
    memset(out, 0, sizeof *out);
    return sq_read_one(S(s), "SELECT " SETTINGS_COLS " FROM rc_settings WHERE merchant_id = ?1", params, read_settings,
                       out);
}

static enum store_rc settings_put_fn(sq_conn *c, void *arg)
{
    const struct rc_settings *r = arg;
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO rc_settings(" SETTINGS_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                                  "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) ON CONFLICT(merchant_id) DO UPDATE SET "
                                  "dunning_days = ?2, max_retries = ?3, timezone = ?4, integration = ?5, "
                                  "retry_status_url = ?6, retry_results_url = ?7, end_of_dunning_url = ?8, "
                                  "end_of_dunning_enabled = ?9, merchant_auth = ?10, merchant_auth_username = ?11, "
                                  "merchant_auth_secret = ?12, webhook_secret = ?13, updated_at = ?14, "
                                  "platform_retry_url = ?15, psp_url = ?16, psp_api_key = ?17");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, r->merchant_id);
    sqlite3_bind_int64(st, 2, r->dunning_days);
    sqlite3_bind_int64(st, 3, r->max_retries);
    sq_bind_text(st, 4, r->timezone);
    sq_bind_text(st, 5, r->integration);
    sq_bind_text_or_null(st, 6, r->retry_status_url);
    sq_bind_text_or_null(st, 7, r->retry_results_url);
    sq_bind_text_or_null(st, 8, r->end_of_dunning_url);
    sqlite3_bind_int(st, 9, r->end_of_dunning_enabled);
    sq_bind_text(st, 10, r->merchant_auth);
    sq_bind_text_or_null(st, 11, r->merchant_auth_username);
    sq_bind_text_or_null(st, 12, r->merchant_auth_secret);
    sq_bind_text_or_null(st, 13, r->webhook_secret);
    sqlite3_bind_int64(st, 14, r->updated_at);
    sq_bind_text_or_null(st, 15, r->platform_retry_url);
    sq_bind_text_or_null(st, 16, r->psp_url);
    sq_bind_text_or_null(st, 17, r->psp_api_key);
    int rr = sqlite3_step(st);
    sqlite3_reset(st);
    if (rr == SQLITE_CONSTRAINT_FOREIGNKEY)
        return STORE_NOT_FOUND;
    return rr == SQLITE_DONE ? STORE_OK : sq_fail(c, "rc_settings_put");
}

static enum store_rc sq_settings_put(store *s, const struct rc_settings *in)
{
    return sq_write(S(s), settings_put_fn, (void *)in);
}

/* ---- inbox ---- */

struct inbox_append_args {
    const struct rc_inbox_row *ev;
    int duplicate;
    char request_id[72];
};

/* Runs on the inbox database's own writer. */
static enum store_rc inbox_append_fn(sq_conn *c, void *arg)
{
    struct inbox_append_args *a = arg;
    const struct rc_inbox_row *ev = a->ev;
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO rc_inbox(seq, merchant_id, env, kind, fingerprint, request_id, "
                                  "payload, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                                  "ON CONFLICT(merchant_id, env, kind, fingerprint) DO NOTHING");
    if (!st)
        return STORE_ERROR;
    int64_t seq = sq_next_seq(c, "rc_inbox");
    sqlite3_bind_int64(st, 1, seq);
    sq_bind_text(st, 2, ev->merchant_id);
    sq_bind_text(st, 3, ev->env);
    sq_bind_text(st, 4, ev->kind);
    sq_bind_text(st, 5, ev->fingerprint);
    sq_bind_text(st, 6, ev->request_id);
    sqlite3_bind_text(st, 7, ev->payload, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, ev->received_at);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return sq_fail(c, "rc_inbox_append");
    if (sqlite3_changes(c->db) > 0) {
        str_copy(a->request_id, sizeof a->request_id, ev->request_id);
        return STORE_OK;
    }
    /* Contiguous seqs let the applier see an event out of order. */
    sq_unuse_seq(c, "rc_inbox", seq);
    a->duplicate = 1;
    st = sq_stmt(c, "SELECT request_id FROM rc_inbox WHERE merchant_id = ?1 AND env = ?2 AND kind = ?3 AND "
                    "fingerprint = ?4");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, ev->merchant_id);
    sq_bind_text(st, 2, ev->env);
    sq_bind_text(st, 3, ev->kind);
    sq_bind_text(st, 4, ev->fingerprint);
    if (sqlite3_step(st) == SQLITE_ROW)
        sq_col_text(st, 0, a->request_id, sizeof a->request_id);
    sqlite3_reset(st);
    return STORE_OK;
}

static enum store_rc sq_inbox_append(store *s, const struct rc_inbox_row *ev, int *duplicate, char request_id_out[72])
{
    struct inbox_append_args a = {ev, 0, ""};
    enum store_rc rc = sq_db_write(sq_inbox(S(s)), inbox_append_fn, &a);
    if (duplicate)
        *duplicate = a.duplicate;
    if (request_id_out)
        str_copy(request_id_out, 72, a.request_id);
    return rc;
}

static void read_inbox(sqlite3_stmt *st, void *row)
{
    struct rc_inbox_row *r = row;
    r->seq = sqlite3_column_int64(st, 0);
    sq_col_text(st, 1, r->merchant_id, sizeof r->merchant_id);
    sq_col_text(st, 2, r->env, sizeof r->env);
    sq_col_text(st, 3, r->kind, sizeof r->kind);
    sq_col_text(st, 4, r->fingerprint, sizeof r->fingerprint);
    sq_col_text(st, 5, r->request_id, sizeof r->request_id);
    const unsigned char *p = sqlite3_column_text(st, 6);
    r->payload = strdup(p ? (const char *)p : "");
    r->received_at = sqlite3_column_int64(st, 7);
}

/* How far the inbox has been applied: read from the main database, where
 * it is written in the same transaction as the effects. */
static enum store_rc applied_seq_on(sq_conn *c, int64_t *out)
{
    sqlite3_stmt *st = sq_stmt(c, "SELECT applied_seq FROM rc_inbox_state WHERE id = 1");
    if (!st)
        return STORE_ERROR;
    int r = sqlite3_step(st);
    *out = r == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return r == SQLITE_ROW ? STORE_OK : sq_fail(c, "rc_inbox_state");
}

static enum store_rc applied_seq(store *s, int64_t *out)
{
    sq_conn *c = sq_read_acquire(S(s));
    if (!c)
        return STORE_ERROR;
    enum store_rc rc = applied_seq_on(c, out);
    sq_read_release(S(s), c);
    return rc;
}

static enum store_rc sq_inbox_pending(store *s, int max, struct rc_inbox_row **out, size_t *n)
{
    int64_t cursor;
    enum store_rc rc = applied_seq(s, &cursor);
    if (rc != STORE_OK)
        return rc;
    sq_db *inbox = sq_inbox(S(s));
    sq_conn *c = sq_db_read_acquire(inbox);
    if (!c)
        return STORE_ERROR;
    rc = STORE_ERROR;
    sqlite3_stmt *st = sq_stmt(c, "SELECT seq, merchant_id, env, kind, fingerprint, request_id, payload, "
                                  "received_at FROM rc_inbox WHERE seq > ?1 ORDER BY seq LIMIT ?2");
    if (st) {
        sqlite3_bind_int64(st, 1, cursor);
        sqlite3_bind_int(st, 2, max);
        rc = sq_collect_rows(c, st, sizeof **out, read_inbox, (void **)out, n);
    }
    sq_db_read_release(inbox, c);
    return rc;
}

static enum store_rc sq_inbox_backlog(store *s, int64_t *unprocessed)
{
    int64_t cursor;
    enum store_rc rc = applied_seq(s, &cursor);
    if (rc != STORE_OK)
        return rc;
    sq_db *inbox = sq_inbox(S(s));
    sq_conn *c = sq_db_read_acquire(inbox);
    if (!c)
        return STORE_ERROR;
    rc = STORE_ERROR;
    sqlite3_stmt *st = sq_stmt(c, "SELECT COUNT(*) FROM rc_inbox WHERE seq > ?1");
    if (st) {
        sqlite3_bind_int64(st, 1, cursor);
        if (sqlite3_step(st) == SQLITE_ROW) {
            *unprocessed = sqlite3_column_int64(st, 0);
            rc = STORE_OK;
        }
        sqlite3_reset(st);
    }
    sq_db_read_release(inbox, c);
    return rc;
}

static enum store_rc record_rejection(sq_conn *c, int64_t seq, const char *merchant_id, const char *env,
                                      const char *reason, int64_t at)
{
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO rc_inbox_rejections(seq, merchant_id, env, reason, at) VALUES "
                                  "(?1, ?2, ?3, ?4, ?5) ON CONFLICT(seq) DO NOTHING");
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_int64(st, 1, seq);
    sq_bind_text(st, 2, merchant_id);
    sq_bind_text(st, 3, env);
    sq_bind_text(st, 4, reason ? reason : "rejected");
    sqlite3_bind_int64(st, 5, at);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_DONE ? STORE_OK : sq_fail(c, "rc_inbox_reject");
}

/* ---- invoices ---- */

#define INVOICE_COLS                                                                                            \
    "merchant_id, env, invoice_id, customer_id, subscription_id, created_at, state, state_reason, amount_due, "  \
    "currency, dunning_started_at, closed_at, failed_attempts, custom, updated_at"
/* Read with the columns Recover's own work keeps (never written by
 * save_invoice, so that applying an event leaves them alone). */
#define INVOICE_READ_COLS INVOICE_COLS ", recover_attempts, next_retry_at, plan_needed"

static void read_invoice(sqlite3_stmt *st, void *row)
{
    struct rc_invoice *r = row;
    sq_col_text(st, 0, r->merchant_id, sizeof r->merchant_id);
    sq_col_text(st, 1, r->env, sizeof r->env);
    sq_col_text(st, 2, r->invoice_id, sizeof r->invoice_id);
    sq_col_text(st, 3, r->customer_id, sizeof r->customer_id);
    sq_col_text(st, 4, r->subscription_id, sizeof r->subscription_id);
    r->created_at = sqlite3_column_int64(st, 5);
    sq_col_text(st, 6, r->state, sizeof r->state);
    sq_col_text(st, 7, r->state_reason, sizeof r->state_reason);
    r->amount_due = sqlite3_column_int64(st, 8);
    sq_col_text(st, 9, r->currency, sizeof r->currency);
    r->has_dunning_started = sqlite3_column_type(st, 10) != SQLITE_NULL;
    r->dunning_started_at = sqlite3_column_int64(st, 10);
    r->has_closed = sqlite3_column_type(st, 11) != SQLITE_NULL;
    r->closed_at = sqlite3_column_int64(st, 11);
    r->failed_attempts = sqlite3_column_int64(st, 12);
    const unsigned char *custom = sqlite3_column_text(st, 13);
    r->custom = custom ? strdup((const char *)custom) : NULL;
    r->updated_at = sqlite3_column_int64(st, 14);
    r->recover_attempts = sqlite3_column_int64(st, 15);
    r->next_retry_at = sqlite3_column_int64(st, 16);
    r->plan_needed = sqlite3_column_int(st, 17);
    r->exists = 1;
}

enum store_rc sq_rc_load_invoice(sq_conn *c, const char *merchant_id, const char *env, const char *invoice_id,
                                 struct rc_invoice *inv)
{
    sqlite3_stmt *st = sq_stmt(c, "SELECT " INVOICE_READ_COLS " FROM rc_invoices WHERE merchant_id = ?1 AND env = ?2 "
                                  "AND invoice_id = ?3");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, merchant_id);
    sq_bind_text(st, 2, env);
    sq_bind_text(st, 3, invoice_id);
    return sq_fetch_one(c, st, read_invoice, inv, "rc_invoice_load");
}

/* Writes the invoice; mark sets plan_needed, keeping the time of an
 * earlier mark still waiting, so that the planner's queue stays fair. */
static enum store_rc save_invoice(sq_conn *c, const struct rc_invoice *inv, int mark)
{
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO rc_invoices(" INVOICE_COLS ", plan_needed, plan_marked_at) VALUES (?1, "
                                  "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
                                  "CASE WHEN ?16 THEN ?15 END) ON CONFLICT(merchant_id, env, invoice_id) "
                                  "DO UPDATE SET customer_id = ?4, subscription_id = ?5, state = ?7, "
                                  "state_reason = ?8, amount_due = ?9, currency = ?10, dunning_started_at = ?11, "
                                  "closed_at = ?12, failed_attempts = ?13, custom = ?14, updated_at = ?15, "
                                  /* A closed invoice has no next retry, from the moment it closes. */
                                  "next_retry_at = CASE WHEN ?12 IS NOT NULL THEN 0 ELSE next_retry_at END, "
                                  "plan_marked_at = CASE WHEN ?16 AND plan_needed = 0 THEN ?15 ELSE plan_marked_at END, "
                                  "plan_needed = CASE WHEN ?16 THEN 1 ELSE plan_needed END");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, inv->merchant_id);
    sq_bind_text(st, 2, inv->env);
    sq_bind_text(st, 3, inv->invoice_id);
    sq_bind_text(st, 4, inv->customer_id);
    sq_bind_text(st, 5, inv->subscription_id);
    sqlite3_bind_int64(st, 6, inv->created_at);
    sq_bind_text(st, 7, inv->state);
    sq_bind_text_or_null(st, 8, inv->state_reason);
    sqlite3_bind_int64(st, 9, inv->amount_due);
    sq_bind_text(st, 10, inv->currency);
    sq_bind_i64_or_null(st, 11, inv->has_dunning_started, inv->dunning_started_at);
    sq_bind_i64_or_null(st, 12, inv->has_closed, inv->closed_at);
    sqlite3_bind_int64(st, 13, inv->failed_attempts);
    sq_bind_text_or_null(st, 14, inv->custom);
    sqlite3_bind_int64(st, 15, inv->updated_at);
    sqlite3_bind_int(st, 16, mark ? 1 : 0);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_DONE ? STORE_OK : sq_fail(c, "rc_invoice_save");
}

enum store_rc sq_rc_add_invoice_event(sq_conn *c, const struct rc_invoice *inv, const char *from_state,
                                      const struct rc_transition *t, int64_t at)
{
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO rc_invoice_events(merchant_id, env, invoice_id, seq, at, from_state, "
                                  "to_state, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, inv->merchant_id);
    sq_bind_text(st, 2, inv->env);
    sq_bind_text(st, 3, inv->invoice_id);
    sqlite3_bind_int64(st, 4, sq_next_seq(c, "rc_invoice_events"));
    sqlite3_bind_int64(st, 5, at);
    sq_bind_text_or_null(st, 6, from_state);
    sq_bind_text(st, 7, t->to_state);
    sq_bind_text_or_null(st, 8, t->reason);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_DONE ? STORE_OK : sq_fail(c, "rc_invoice_event");
}

/* ---- applying a payment event ---- */

static enum store_rc upsert_customer(sq_conn *c, const struct rc_payment_event *ev)
{
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO rc_customers(merchant_id, env, customer_id, psp_id, created_at, "
                                  "postal_code, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                                  "ON CONFLICT(merchant_id, env, customer_id) DO UPDATE SET "
                                  "psp_id = COALESCE(?4, psp_id), created_at = COALESCE(?5, created_at), "
                                  "postal_code = COALESCE(?6, postal_code), updated_at = ?7");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, ev->merchant_id);
    sq_bind_text(st, 2, ev->env);
    sq_bind_text(st, 3, ev->customer.customer_id);
    sq_bind_text_or_null(st, 4, ev->customer.psp_id);
    sq_bind_i64_or_null(st, 5, ev->customer.has_created_at, ev->customer.created_at);
    sq_bind_text_or_null(st, 6, ev->customer.postal_code);
    sqlite3_bind_int64(st, 7, ev->received_at);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_DONE ? STORE_OK : sq_fail(c, "rc_customer_upsert");
}

static enum store_rc upsert_subscription(sq_conn *c, const struct rc_payment_event *ev)
{
    const struct rc_subscription *sub = &ev->subscription;
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO rc_subscriptions(merchant_id, env, subscription_id, customer_id, "
                                  "start_date, end_date, discounted, product_id, billing_period, billing_frequency, "
                                  "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
                                  "ON CONFLICT(merchant_id, env, subscription_id) DO UPDATE SET customer_id = ?4, "
                                  "start_date = ?5, end_date = COALESCE(?6, end_date), "
                                  "discounted = COALESCE(?7, discounted), product_id = COALESCE(?8, product_id), "
                                  "billing_period = COALESCE(?9, billing_period), "
                                  "billing_frequency = COALESCE(?10, billing_frequency), updated_at = ?11");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, ev->merchant_id);
    sq_bind_text(st, 2, ev->env);
    sq_bind_text(st, 3, sub->subscription_id);
    sq_bind_text(st, 4, ev->customer.customer_id);
    sqlite3_bind_int64(st, 5, sub->start_date);
    sq_bind_i64_or_null(st, 6, sub->has_end_date, sub->end_date);
    sq_bind_i64_or_null(st, 7, sub->discounted >= 0, sub->discounted);
    sq_bind_text_or_null(st, 8, sub->product_id);
    sq_bind_text_or_null(st, 9, sub->billing_period);
    sq_bind_i64_or_null(st, 10, sub->billing_frequency > 0, sub->billing_frequency);
    sqlite3_bind_int64(st, 11, ev->received_at);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_DONE ? STORE_OK : sq_fail(c, "rc_subscription_upsert");
}

enum store_rc sq_rc_insert_txn(sq_conn *c, const struct rc_payment_event *ev, struct rc_txn *t)
{
    sqlite3_stmt *st = sq_stmt(
        c, "INSERT INTO rc_transactions(merchant_id, env, transaction_id, invoice_id, psp_transaction_id, psp, "
           "acquirer_country, amount, currency, funding_source, payment_method_id, psp_created_at, scheme, success, "
           "raw_response_message, psp_response_message, processor_response_code, network_status, response_type, "
           "network_transaction_id, bin, issuer_country, origin, raw, received_at, inbox_seq) VALUES (?1, ?2, ?3, "
           "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, "
           "?25, ?26) ON CONFLICT(merchant_id, env, transaction_id) DO NOTHING");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, ev->merchant_id);
    sq_bind_text(st, 2, ev->env);
    sq_bind_text(st, 3, t->transaction_id);
    sq_bind_text(st, 4, ev->invoice_id);
    sq_bind_text(st, 5, t->psp_transaction_id);
    sq_bind_text(st, 6, t->psp);
    sq_bind_text(st, 7, t->acquirer_country);
    sqlite3_bind_int64(st, 8, t->amount);
    sq_bind_text(st, 9, t->currency);
    sq_bind_text(st, 10, t->funding_source);
    sq_bind_text(st, 11, t->payment_method_id);
    sqlite3_bind_int64(st, 12, t->psp_created_at);
    sq_bind_text(st, 13, t->scheme);
    sqlite3_bind_int(st, 14, t->success);
    sq_bind_text(st, 15, t->raw_response_message);
    sq_bind_text_or_null(st, 16, t->psp_response_message);
    sq_bind_text_or_null(st, 17, t->processor_response_code);
    sq_bind_text_or_null(st, 18, t->network_status);
    sq_bind_text_or_null(st, 19, t->response_type);
    sq_bind_text_or_null(st, 20, t->network_transaction_id);
    sq_bind_text_or_null(st, 21, t->bin);
    sq_bind_text_or_null(st, 22, t->issuer_country);
    sq_bind_text(st, 23, t->origin[0] ? t->origin : "merchant");
    sq_bind_text_or_null(st, 24, t->raw);
    sqlite3_bind_int64(st, 25, ev->received_at);
    sqlite3_bind_int64(st, 26, ev->inbox_seq);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return sq_fail(c, "rc_transaction_insert");
    t->is_new = sqlite3_changes(c->db) > 0;
    return STORE_OK;
}

static enum store_rc upsert_payment_method(sq_conn *c, const struct rc_payment_event *ev, const struct rc_txn *t)
{
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO rc_payment_methods(merchant_id, env, payment_method_id, customer_id, "
                                  "psp, scheme, funding_source, bin, issuer_country, status, updated_at) VALUES (?1, "
                                  "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'active', ?10) ON CONFLICT(merchant_id, env, "
                                  "payment_method_id) DO UPDATE SET customer_id = ?4, psp = ?5, scheme = ?6, "
                                  "funding_source = ?7, bin = COALESCE(?8, bin), "
                                  "issuer_country = COALESCE(?9, issuer_country), updated_at = ?10");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, ev->merchant_id);
    sq_bind_text(st, 2, ev->env);
    sq_bind_text(st, 3, t->payment_method_id);
    sq_bind_text(st, 4, ev->customer.customer_id);
    sq_bind_text(st, 5, t->psp);
    sq_bind_text(st, 6, t->scheme);
    sq_bind_text(st, 7, t->funding_source);
    sq_bind_text_or_null(st, 8, t->bin);
    sq_bind_text_or_null(st, 9, t->issuer_country);
    sqlite3_bind_int64(st, 10, ev->received_at);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_DONE ? STORE_OK : sq_fail(c, "rc_payment_method_upsert");
}

static void invoice_free_fields(struct rc_invoice *inv)
{
    free(inv->custom);
    inv->custom = NULL;
}

static enum store_rc apply_payment_fn(sq_conn *c, void *arg)
{
    struct rc_payment_event *ev = arg;
    enum store_rc rc;
    if ((rc = upsert_customer(c, ev)) != STORE_OK || (rc = upsert_subscription(c, ev)) != STORE_OK)
        return rc;
    for (size_t i = 0; i < ev->ntxns; i++) {
        if ((rc = sq_rc_insert_txn(c, ev, &ev->txns[i])) != STORE_OK)
            return rc;
        if (ev->txns[i].is_new && (rc = upsert_payment_method(c, ev, &ev->txns[i])) != STORE_OK)
            return rc;
    }
    struct rc_invoice inv;
    memset(&inv, 0, sizeof inv);
    rc = sq_rc_load_invoice(c, ev->merchant_id, ev->env, ev->invoice_id, &inv);
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
        rc = sq_rc_add_invoice_event(c, &inv, from_state[0] ? from_state : NULL, &t, ev->received_at);
    invoice_free_fields(&inv);
    return rc;
}


static enum store_rc apply_pm_update_fn(sq_conn *c, void *arg)
{
    const struct rc_pm_update *up = arg;
    enum store_rc rc;
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO rc_pm_updates(merchant_id, env, inbox_seq, customer_id, "
                                  "payment_method_id, psp_customer_id, reason, received_at) VALUES (?1, ?2, ?3, ?4, "
                                  "?5, ?6, ?7, ?8)");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, up->merchant_id);
    sq_bind_text(st, 2, up->env);
    sqlite3_bind_int64(st, 3, up->inbox_seq);
    sq_bind_text(st, 4, up->customer_id);
    sq_bind_text(st, 5, up->payment_method_id);
    sq_bind_text_or_null(st, 6, up->psp_customer_id);
    sq_bind_text_or_null(st, 7, up->reason);
    sqlite3_bind_int64(st, 8, up->received_at);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return sq_fail(c, "rc_pm_update_insert");

    /* The customer's newest payment method: a removal or expiry marks the
     * method, anything else makes it the one to use. */
    const char *status = up->reason[0] && (strcmp(up->reason, "removed") == 0 || strcmp(up->reason, "expired") == 0)
                             ? up->reason
                             : "active";
    st = sq_stmt(c, "INSERT INTO rc_payment_methods(merchant_id, env, payment_method_id, customer_id, psp, scheme, "
                    "funding_source, status, updated_at) VALUES (?1, ?2, ?3, ?4, '', '', '', ?5, ?6) "
                    "ON CONFLICT(merchant_id, env, payment_method_id) DO UPDATE SET customer_id = ?4, status = ?5, "
                    "updated_at = ?6");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, up->merchant_id);
    sq_bind_text(st, 2, up->env);
    sq_bind_text(st, 3, up->payment_method_id);
    sq_bind_text(st, 4, up->customer_id);
    sq_bind_text(st, 5, status);
    sqlite3_bind_int64(st, 6, up->received_at);
    r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return sq_fail(c, "rc_pm_update_method");
    if (strcmp(status, "active") != 0)
        return STORE_OK;

    /* Invoices of the customer in dunning: waiting for a new payment
     * method, or for their next retry. */
    st = sq_stmt(c, "SELECT invoice_id FROM rc_invoices WHERE merchant_id = ?1 AND env = ?2 AND customer_id = ?3 "
                    "AND state IN ('awaiting_payment_method', 'pending')");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, up->merchant_id);
    sq_bind_text(st, 2, up->env);
    sq_bind_text(st, 3, up->customer_id);
    char (*ids)[RC_ID_MAX] = NULL;
    size_t n = 0, cap = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            char(*grown)[RC_ID_MAX] = realloc(ids, cap * sizeof *ids);
            if (!grown) {
                free(ids);
                sqlite3_reset(st);
                return STORE_ERROR;
            }
            ids = grown;
        }
        sq_col_text(st, 0, ids[n++], RC_ID_MAX);
    }
    sqlite3_reset(st);
    rc = r == SQLITE_DONE ? STORE_OK : sq_fail(c, "rc_pm_update_waiting");
    for (size_t i = 0; rc == STORE_OK && i < n; i++) {
        struct rc_invoice inv;
        memset(&inv, 0, sizeof inv);
        rc = sq_rc_load_invoice(c, up->merchant_id, up->env, ids[i], &inv);
        if (rc != STORE_OK)
            break;
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
                rc = sq_rc_add_invoice_event(c, &inv, from_state, &t, up->received_at);
        } else {
            /* Still in dunning: a new card changes the best retry time
             * (and ends a wait for one), so the planner looks again. */
            inv.updated_at = rc_next_updated_at(&inv, up->received_at);
            rc = save_invoice(c, &inv, 1);
        }
        invoice_free_fields(&inv);
    }
    free(ids);
    return rc;
}

struct apply_batch_args {
    sq_store *store;
    struct rc_apply_item *items;
    size_t n;
};

/* Whether the inbox holds events strictly between two seqs: 0 when none
 * (a seq whose insert failed is a gap that nothing will ever fill), 1 when
 * some, -1 when the inbox cannot be read (then nothing is skipped). */
static int inbox_holds_between(sq_store *s, int64_t after, int64_t before)
{
    sq_db *inbox = sq_inbox(s);
    sq_conn *c = sq_db_read_acquire(inbox);
    if (!c)
        return -1;
    int result = -1;
    sqlite3_stmt *st = sq_stmt(c, "SELECT EXISTS (SELECT 1 FROM rc_inbox WHERE seq > ?1 AND seq < ?2)");
    if (st) {
        sqlite3_bind_int64(st, 1, after);
        sqlite3_bind_int64(st, 2, before);
        if (sqlite3_step(st) == SQLITE_ROW)
            result = sqlite3_column_int(st, 0);
        sqlite3_reset(st);
    }
    sq_db_read_release(inbox, c);
    return result;
}

static int64_t item_seq(const struct rc_apply_item *it)
{
    return it->payment ? it->payment->inbox_seq : it->pm_update ? it->pm_update->inbox_seq : it->rejected->seq;
}

static enum store_rc apply_batch_fn(sq_conn *c, void *arg)
{
    struct apply_batch_args *a = arg;
    int64_t cursor;
    enum store_rc rc = applied_seq_on(c, &cursor);
    if (rc != STORE_OK)
        return rc;
    int64_t start = cursor;
    size_t i = 0;
    for (; i < a->n; i++) {
        struct rc_apply_item *it = &a->items[i];
        int64_t seq = item_seq(it);
        if (seq <= cursor) {
            it->rc = STORE_OK; /* applied before a crash or a retry */
            continue;
        }
        if (seq != cursor + 1 && inbox_holds_between(a->store, cursor, seq) != 0)
            break; /* events apply in inbox order, none skipped */
        if (it->rejected) {
            it->rc = record_rejection(c, seq, it->rejected->merchant_id, it->rejected->env, it->reject_reason,
                                      it->rejected->received_at);
        } else {
            if (sq_exec(c, "SAVEPOINT item") != SQLITE_OK) {
                it->rc = sq_fail(c, "rc_apply savepoint");
                break;
            }
            it->rc = it->payment ? apply_payment_fn(c, it->payment) : apply_pm_update_fn(c, it->pm_update);
            if (it->rc != STORE_OK)
                sq_exec(c, "ROLLBACK TO item");
            sq_exec(c, "RELEASE item");
            /* A failure other than the store's own is this event's for
             * good: recorded, so that it does not block the ones after. */
            if (it->rc != STORE_OK && it->rc != STORE_ERROR) {
                const char *merchant = it->payment ? it->payment->merchant_id : it->pm_update->merchant_id;
                const char *env = it->payment ? it->payment->env : it->pm_update->env;
                int64_t at = it->payment ? it->payment->received_at : it->pm_update->received_at;
                if (record_rejection(c, seq, merchant, env, store_rc_name(it->rc), at) != STORE_OK)
                    it->rc = STORE_ERROR;
            }
        }
        if (it->rc == STORE_ERROR)
            break;
        cursor = seq;
    }
    for (size_t j = i; j < a->n; j++)
        a->items[j].rc = STORE_ERROR; /* left for the next round */
    if (cursor == start)
        return STORE_OK;
    sqlite3_stmt *st = sq_stmt(c, "UPDATE rc_inbox_state SET applied_seq = ?1 WHERE id = 1");
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_int64(st, 1, cursor);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_DONE ? STORE_OK : sq_fail(c, "rc_inbox_state_update");
}

static enum store_rc sq_apply_events(store *s, struct rc_apply_item *items, size_t n)
{
    struct apply_batch_args a = {S(s), items, n};
    enum store_rc rc = sq_write(S(s), apply_batch_fn, &a);
    if (rc != STORE_OK)
        for (size_t i = 0; i < n; i++)
            items[i].rc = rc;
    return rc;
}

/* ---- read access ---- */

void sq_rc_read_txn(sqlite3_stmt *st, void *row)
{
    struct rc_txn *t = row;
    sq_col_text(st, 0, t->transaction_id, sizeof t->transaction_id);
    sq_col_text(st, 1, t->psp_transaction_id, sizeof t->psp_transaction_id);
    sq_col_text(st, 2, t->psp, sizeof t->psp);
    sq_col_text(st, 3, t->acquirer_country, sizeof t->acquirer_country);
    t->amount = sqlite3_column_int64(st, 4);
    sq_col_text(st, 5, t->currency, sizeof t->currency);
    sq_col_text(st, 6, t->funding_source, sizeof t->funding_source);
    sq_col_text(st, 7, t->payment_method_id, sizeof t->payment_method_id);
    t->psp_created_at = sqlite3_column_int64(st, 8);
    sq_col_text(st, 9, t->scheme, sizeof t->scheme);
    t->success = sqlite3_column_int(st, 10);
    sq_col_text(st, 11, t->raw_response_message, sizeof t->raw_response_message);
    sq_col_text(st, 12, t->psp_response_message, sizeof t->psp_response_message);
    sq_col_text(st, 13, t->processor_response_code, sizeof t->processor_response_code);
    sq_col_text(st, 14, t->network_status, sizeof t->network_status);
    sq_col_text(st, 15, t->response_type, sizeof t->response_type);
    sq_col_text(st, 16, t->network_transaction_id, sizeof t->network_transaction_id);
    sq_col_text(st, 17, t->bin, sizeof t->bin);
    sq_col_text(st, 18, t->issuer_country, sizeof t->issuer_country);
    sq_col_text(st, 19, t->origin, sizeof t->origin);
    const unsigned char *raw = sqlite3_column_text(st, 20);
    t->raw = raw ? strdup((const char *)raw) : NULL;
}

static void read_event(sqlite3_stmt *st, void *row)
{
    struct rc_invoice_event *e = row;
    e->seq = sqlite3_column_int64(st, 0);
    e->at = sqlite3_column_int64(st, 1);
    sq_col_text(st, 2, e->from_state, sizeof e->from_state);
    sq_col_text(st, 3, e->to_state, sizeof e->to_state);
    sq_col_text(st, 4, e->reason, sizeof e->reason);
}

static enum store_rc sq_invoice_get(store *s, const char *merchant_id, const char *env, const char *invoice_id,
                                    struct rc_invoice *inv, struct rc_txn **txns, size_t *ntxns,
                                    struct rc_invoice_event **events, size_t *nevents)
{
    sq_conn *c = sq_read_acquire(S(s));
    if (!c)
        return STORE_ERROR;
    *txns = NULL;
    *events = NULL;
    *ntxns = *nevents = 0;
    memset(inv, 0, sizeof *inv);
    /* One read transaction, so the three reads see the same snapshot. */
    sq_exec(c, "BEGIN");
    enum store_rc rc = sq_rc_load_invoice(c, merchant_id, env, invoice_id, inv);
    if (rc == STORE_OK) {
        sqlite3_stmt *st = sq_stmt(c, "SELECT " TXN_COLS " FROM rc_transactions WHERE merchant_id = ?1 AND env = ?2 "
                                      "AND invoice_id = ?3 ORDER BY psp_created_at, received_at, transaction_id");
        rc = STORE_ERROR;
        if (st) {
            sq_bind_text(st, 1, merchant_id);
            sq_bind_text(st, 2, env);
            sq_bind_text(st, 3, invoice_id);
            rc = sq_collect_rows(c, st, sizeof **txns, sq_rc_read_txn, (void **)txns, ntxns);
        }
    }
    if (rc == STORE_OK) {
        sqlite3_stmt *st = sq_stmt(c, "SELECT seq, at, from_state, to_state, reason FROM rc_invoice_events WHERE "
                                      "merchant_id = ?1 AND env = ?2 AND invoice_id = ?3 ORDER BY seq");
        rc = STORE_ERROR;
        if (st) {
            sq_bind_text(st, 1, merchant_id);
            sq_bind_text(st, 2, env);
            sq_bind_text(st, 3, invoice_id);
            rc = sq_collect_rows(c, st, sizeof **events, read_event, (void **)events, nevents);
        }
    }
    sq_exec(c, "COMMIT");
    sq_read_release(S(s), c);
    if (rc != STORE_OK) {
        free(inv->custom);
        inv->custom = NULL;
        rc_txns_free(*txns, *ntxns);
        free(*events);
        *txns = NULL;
        *events = NULL;
        *ntxns = *nevents = 0;
    }
    return rc;
}

const struct store_recover_ops sqlite_recover_ops = {
    .settings_get = sq_settings_get,
    .settings_put = sq_settings_put,
    .inbox_append = sq_inbox_append,
    .inbox_pending = sq_inbox_pending,
    .apply_events = sq_apply_events,
    .inbox_backlog = sq_inbox_backlog,
    .invoice_get = sq_invoice_get,
    .plan_pending = sq_plan_pending,
    .mark_window_over = sq_mark_window_over,
    .card_txns = sq_card_txns,
    .pm_update_after = sq_pm_update_after,
    .plan_write = sq_plan_write,
    .decisions_list = sq_decisions_list,
    .retries_list = sq_retries_list,
    .retries_claim = sq_retries_claim,
    .attempt_write = sq_attempt_write,
    .retry_requested = sq_retry_requested,
    .retry_next_due = sq_retry_next_due,
    .webhooks_claim = sq_webhooks_claim,
    .webhook_result = sq_webhook_result,
    .webhook_results = sq_webhook_results,
    .webhooks_list = sq_webhooks_list,
    .webhook_get = sq_webhook_get,
    .webhook_redeliver = sq_webhook_redeliver,
    .webhook_next_due = sq_webhook_next_due,
    .model_get = sq_model_get,
    .model_put = sq_model_put,
    .model_merge = sq_model_merge,
    .model_versions = sq_model_versions,
};
