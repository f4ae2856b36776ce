/* Recover on SQLite: retry planning, execution, webhook deliveries and the
 * learned model.
 *
 * Every write runs on the single writer, inside its group commit: a claim
 * is one statement there, so two workers can never take the same row, and
 * a plan or an attempt's outcome lands with all its consequences or not at
 * all. The work queues (invoices marked for the planner, retries due,
 * deliveries due) are read through indexes that lead with the time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "store/sqlite/sqlite_recover.h"

static sq_store *S(store *s) { return (sq_store *)s; }

void rc_webhooks_free(struct rc_webhook *w, size_t n)
{
    for (size_t i = 0; w && i < n; i++)
        free(w[i].body);
    free(w);
}

void rc_decisions_free(struct rc_decision_row *d, size_t n)
{
    for (size_t i = 0; d && i < n; i++)
        free(d[i].alternatives);
    free(d);
}

static char *col_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? strdup((const char *)t) : NULL;
}

/* Runs a bound statement without results; SQLITE_DONE expected. */
static enum store_rc step_done(sq_conn *c, sqlite3_stmt *st, const char *what)
{
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_DONE ? STORE_OK : sq_fail(c, what);
}

/* ---- row readers ---- */

#define RETRY_COLS                                                                                              \
    "merchant_id, env, invoice_id, attempt_no, attempt_id, due_at, state, payment_method_id, postponements, "    \
    "last_error, lease_owner, lease_until, created_at, updated_at"

static void read_retry(sqlite3_stmt *st, void *row)
{
    struct rc_retry *r = row;
    sq_col_text(st, 0, r->merchant_id, sizeof r->merchant_id);
    sq_col_text(st, 1, r->env, sizeof r->env);
    sq_col_text(st, 2, r->invoice_id, sizeof r->invoice_id);
    r->attempt_no = sqlite3_column_int64(st, 3);
    sq_col_text(st, 4, r->attempt_id, sizeof r->attempt_id);
    r->due_at = sqlite3_column_int64(st, 5);
    sq_col_text(st, 6, r->state, sizeof r->state);
    sq_col_text(st, 7, r->payment_method_id, sizeof r->payment_method_id);
    r->postponements = sqlite3_column_int64(st, 8);
    sq_col_text(st, 9, r->last_error, sizeof r->last_error);
    sq_col_text(st, 10, r->lease_owner, sizeof r->lease_owner);
    r->lease_until = sqlite3_column_int64(st, 11);
    r->created_at = sqlite3_column_int64(st, 12);
    r->updated_at = sqlite3_column_int64(st, 13);
}

#define WEBHOOK_COLS                                                                                            \
    "merchant_id, env, webhook_id, type, invoice_id, url, body, created_at, next_attempt_at, give_up_at, "       \
    "attempts, state, last_status, last_error, delivered_at, lease_owner, lease_until"

static void read_webhook(sqlite3_stmt *st, void *row)
{
    struct rc_webhook *w = row;
    sq_col_text(st, 0, w->merchant_id, sizeof w->merchant_id);
    sq_col_text(st, 1, w->env, sizeof w->env);
    sq_col_text(st, 2, w->webhook_id, sizeof w->webhook_id);
    sq_col_text(st, 3, w->type, sizeof w->type);
    sq_col_text(st, 4, w->invoice_id, sizeof w->invoice_id);
    sq_col_text(st, 5, w->url, sizeof w->url);
    w->body = col_dup(st, 6);
    w->created_at = sqlite3_column_int64(st, 7);
    w->next_attempt_at = sqlite3_column_int64(st, 8);
    w->give_up_at = sqlite3_column_int64(st, 9);
    w->attempts = sqlite3_column_int64(st, 10);
    sq_col_text(st, 11, w->state, sizeof w->state);
    w->last_status = sqlite3_column_int64(st, 12);
    sq_col_text(st, 13, w->last_error, sizeof w->last_error);
    w->delivered_at = sqlite3_column_int64(st, 14);
    sq_col_text(st, 15, w->lease_owner, sizeof w->lease_owner);
    w->lease_until = sqlite3_column_int64(st, 16);
}

#define DECISION_COLS                                                                                           \
    "merchant_id, env, invoice_id, seq, decided_at, action, reason, decline_class, planned_at, "                 \
    "predicted_success, limited_by, payment_method_id, explanation, alternatives"

static void read_decision(sqlite3_stmt *st, void *row)
{
    struct rc_decision_row *d = row;
    sq_col_text(st, 0, d->merchant_id, sizeof d->merchant_id);
    sq_col_text(st, 1, d->env, sizeof d->env);
    sq_col_text(st, 2, d->invoice_id, sizeof d->invoice_id);
    d->seq = sqlite3_column_int64(st, 3);
    d->decided_at = sqlite3_column_int64(st, 4);
    sq_col_text(st, 5, d->action, sizeof d->action);
    sq_col_text(st, 6, d->reason, sizeof d->reason);
    sq_col_text(st, 7, d->decline_class, sizeof d->decline_class);
    d->planned_at = sqlite3_column_int64(st, 8);
    d->predicted_success = sqlite3_column_double(st, 9);
    sq_col_text(st, 10, d->limited_by, sizeof d->limited_by);
    sq_col_text(st, 11, d->payment_method_id, sizeof d->payment_method_id);
    sq_col_text(st, 12, d->explanation, sizeof d->explanation);
    d->alternatives = col_dup(st, 13);
}

static void read_ref(sqlite3_stmt *st, void *row)
{
    struct rc_invoice_ref *r = row;
    sq_col_text(st, 0, r->merchant_id, sizeof r->merchant_id);
    sq_col_text(st, 1, r->env, sizeof r->env);
    sq_col_text(st, 2, r->invoice_id, sizeof r->invoice_id);
}

/* ---- reads ---- */

/* A read with text parameters and up to two integers after them: texts
 * bind ?1.., integers the next two numbers. */
struct read_spec {
    const char *sql;
    const char *const *texts; /* NULL-terminated; a NULL array binds none */
    int nints;
    int64_t ints[2];
};

static sqlite3_stmt *bind_spec(sq_conn *c, const struct read_spec *q)
{
    sqlite3_stmt *st = sq_stmt(c, q->sql);
    if (!st)
        return NULL;
    int i = 0;
    for (; q->texts && q->texts[i]; i++)
        sq_bind_text(st, i + 1, q->texts[i]);
    for (int k = 0; k < q->nints; k++)
        sqlite3_bind_int64(st, i + 1 + k, q->ints[k]);
    return st;
}

static enum store_rc read_all(store *s, const struct read_spec *q, size_t elem, sq_row_reader read, void **out,
                              size_t *n)
{
    *out = NULL;
    *n = 0;
    sq_conn *c = sq_read_acquire(S(s));
    if (!c)
        return STORE_ERROR;
    sqlite3_stmt *st = bind_spec(c, q);
    enum store_rc rc = st ? sq_collect_rows(c, st, elem, read, out, n) : STORE_ERROR;
    sq_read_release(S(s), c);
    return rc;
}

static enum store_rc read_one(store *s, const struct read_spec *q, sq_row_reader read, void *out)
{
    sq_conn *c = sq_read_acquire(S(s));
    if (!c)
        return STORE_ERROR;
    sqlite3_stmt *st = bind_spec(c, q);
    enum store_rc rc = st ? sq_fetch_one(c, st, read, out, q->sql) : STORE_ERROR;
    sq_read_release(S(s), c);
    return rc;
}

enum store_rc sq_plan_pending(store *s, int max, struct rc_invoice_ref **out, size_t *n)
{
    struct read_spec q = {"SELECT merchant_id, env, invoice_id FROM rc_invoices WHERE plan_needed = 1 "
                          "ORDER BY plan_marked_at, merchant_id, env, invoice_id LIMIT ?1",
                          NULL, 1, {max > 0 ? max : 0, 0}};
    return read_all(s, &q, sizeof **out, read_ref, (void **)out, n);
}

struct window_args {
    const char *merchant_id;
    int64_t before, now, marked;
};

static enum store_rc mark_window_fn(sq_conn *c, void *arg)
{
    struct window_args *a = arg;
    sqlite3_stmt *st = sq_stmt(c, "UPDATE rc_invoices SET plan_needed = 1, plan_marked_at = ?3 WHERE merchant_id = ?1 "
                                  "AND state IN ('pending', 'awaiting_payment_method') AND dunning_started_at <= ?2 "
                                  "AND next_retry_at = 0 AND plan_needed = 0");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, a->merchant_id);
    sqlite3_bind_int64(st, 2, a->before);
    sqlite3_bind_int64(st, 3, a->now);
    enum store_rc rc = step_done(c, st, "rc_mark_window_over");
    a->marked = rc == STORE_OK ? sqlite3_changes(c->db) : 0;
    return rc;
}

enum store_rc sq_mark_window_over(store *s, const char *merchant_id, int64_t dunning_began_before, int64_t now,
                                  int64_t *marked)
{
    struct window_args a = {merchant_id, dunning_began_before, now, 0};
    enum store_rc rc = sq_write(S(s), mark_window_fn, &a);
    if (marked)
        *marked = a.marked;
    return rc;
}

enum store_rc sq_card_txns(store *s, const char *merchant_id, const char *env, const char *payment_method_id,
                           int64_t since, struct rc_txn **out, size_t *n)
{
    const char *texts[] = {merchant_id, env, payment_method_id, NULL};
    struct read_spec q = {"SELECT " TXN_COLS " FROM rc_transactions WHERE merchant_id = ?1 AND env = ?2 AND "
                          "payment_method_id = ?3 AND psp_created_at >= ?4 "
                          "ORDER BY psp_created_at, received_at, transaction_id",
                          texts, 1, {since, 0}};
    return read_all(s, &q, sizeof **out, sq_rc_read_txn, (void **)out, n);
}

struct pm_after_row {
    char pm_id[RC_ID_MAX];
    int64_t at;
};

static void read_pm_after(sqlite3_stmt *st, void *row)
{
    struct pm_after_row *r = row;
    sq_col_text(st, 0, r->pm_id, sizeof r->pm_id);
    r->at = sqlite3_column_int64(st, 1);
}

enum store_rc sq_pm_update_after(store *s, const char *merchant_id, const char *env, const char *customer_id,
                                 int64_t after, char pm_id_out[RC_ID_MAX], int64_t *at_out)
{
    const char *texts[] = {merchant_id, env, customer_id, NULL};
    struct read_spec q = {"SELECT payment_method_id, received_at FROM rc_pm_updates WHERE merchant_id = ?1 AND "
                          "env = ?2 AND customer_id = ?3 AND received_at > ?4 "
                          "ORDER BY received_at DESC, inbox_seq DESC LIMIT 1",
                          texts, 1, {after, 0}};
    struct pm_after_row row;
    memset(&row, 0, sizeof row);
    enum store_rc rc = read_one(s, &q, read_pm_after, &row);
    if (rc == STORE_OK) {
        str_copy(pm_id_out, RC_ID_MAX, row.pm_id);
        *at_out = row.at;
    }
    return rc;
}

enum store_rc sq_decisions_list(store *s, const char *merchant_id, const char *env, const char *invoice_id,
                                struct rc_decision_row **out, size_t *n)
{
    const char *texts[] = {merchant_id, env, invoice_id, NULL};
    struct read_spec q = {"SELECT " DECISION_COLS " FROM rc_decisions WHERE merchant_id = ?1 AND env = ?2 AND "
                          "invoice_id = ?3 ORDER BY seq",
                          texts, 0, {0, 0}};
    return read_all(s, &q, sizeof **out, read_decision, (void **)out, n);
}

enum store_rc sq_retries_list(store *s, const char *merchant_id, const char *env, const char *invoice_id,
                              struct rc_retry **out, size_t *n)
{
    const char *texts[] = {merchant_id, env, invoice_id, NULL};
    struct read_spec q = {"SELECT " RETRY_COLS " FROM rc_retries WHERE merchant_id = ?1 AND env = ?2 AND "
                          "invoice_id = ?3 ORDER BY attempt_no",
                          texts, 0, {0, 0}};
    return read_all(s, &q, sizeof **out, read_retry, (void **)out, n);
}

enum store_rc sq_retry_requested(store *s, const char *merchant_id, const char *env, const char *invoice_id,
                                 struct rc_retry *out)
{
    const char *texts[] = {merchant_id, env, invoice_id, NULL};
    struct read_spec q = {"SELECT " RETRY_COLS " FROM rc_retries WHERE merchant_id = ?1 AND env = ?2 AND "
                          "invoice_id = ?3 AND state = 'requested' ORDER BY attempt_no DESC LIMIT 1",
                          texts, 0, {0, 0}};
    memset(out, 0, sizeof *out);
    return read_one(s, &q, read_retry, out);
}

static void read_i64(sqlite3_stmt *st, void *row) { *(int64_t *)row = sqlite3_column_int64(st, 0); }

/* The earliest of two single-value reads (each NOT_FOUND when empty). */
static enum store_rc earliest_of(store *s, const char *sql_a, const char *sql_b, int64_t *out)
{
    int64_t a = 0, b = 0;
    struct read_spec qa = {sql_a, NULL, 0, {0, 0}}, qb = {sql_b, NULL, 0, {0, 0}};
    enum store_rc ra = read_one(s, &qa, read_i64, &a);
    if (ra == STORE_ERROR)
        return ra;
    enum store_rc rb = sql_b ? read_one(s, &qb, read_i64, &b) : STORE_NOT_FOUND;
    if (rb == STORE_ERROR)
        return rb;
    if (ra != STORE_OK && rb != STORE_OK)
        return STORE_NOT_FOUND;
    *out = ra != STORE_OK ? b : rb != STORE_OK ? a : (a < b ? a : b);
    return STORE_OK;
}

enum store_rc sq_retry_next_due(store *s, int64_t *due_at)
{
    /* A running attempt whose lease runs out is due again then. */
    return earliest_of(s, "SELECT due_at FROM rc_retries WHERE state = 'planned' ORDER BY due_at LIMIT 1",
                       "SELECT lease_until FROM rc_retries WHERE state = 'running' ORDER BY lease_until LIMIT 1",
                       due_at);
}

enum store_rc sq_webhook_next_due(store *s, int64_t *due_at)
{
    return earliest_of(s, "SELECT next_attempt_at FROM rc_webhooks WHERE state = 'pending' "
                          "ORDER BY next_attempt_at LIMIT 1",
                       NULL, due_at);
}

enum store_rc sq_webhooks_list(store *s, const char *merchant_id, const char *state, const char *invoice_id,
                               int limit, struct rc_webhook **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sq_conn *c = sq_read_acquire(S(s));
    if (!c)
        return STORE_ERROR;
    sqlite3_stmt *st = sq_stmt(c, "SELECT " WEBHOOK_COLS " FROM rc_webhooks WHERE merchant_id = ?1 AND "
                                  "(?2 IS NULL OR state = ?2) AND (?3 IS NULL OR invoice_id = ?3) "
                                  "ORDER BY created_at DESC, webhook_id DESC LIMIT ?4");
    enum store_rc rc = STORE_ERROR;
    if (st) {
        sq_bind_text(st, 1, merchant_id);
        sq_bind_text_or_null(st, 2, state);
        sq_bind_text_or_null(st, 3, invoice_id);
        sqlite3_bind_int(st, 4, limit > 0 ? limit : -1);
        rc = sq_collect_rows(c, st, sizeof **out, read_webhook, (void **)out, n);
    }
    sq_read_release(S(s), c);
    return rc;
}

enum store_rc sq_webhook_get(store *s, const char *merchant_id, const char *webhook_id, struct rc_webhook *out)
{
    const char *texts[] = {merchant_id, webhook_id, NULL};
    struct read_spec q = {"SELECT " WEBHOOK_COLS " FROM rc_webhooks WHERE merchant_id = ?1 AND webhook_id = ?2",
                          texts, 0, {0, 0}};
    memset(out, 0, sizeof *out);
    return read_one(s, &q, read_webhook, out);
}

/* ---- pieces of the writes ---- */

static enum store_rc insert_webhooks(sq_conn *c, const struct rc_invoice *inv, const struct rc_webhook *hooks,
                                     size_t n, int64_t now)
{
    for (size_t i = 0; i < n; i++) {
        const struct rc_webhook *w = &hooks[i];
        /* A repeat of the same delivery (same id) is the same event. */
        sqlite3_stmt *st = sq_stmt(c, "INSERT INTO rc_webhooks(" WEBHOOK_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                                      "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, NULL, NULL) "
                                      "ON CONFLICT(merchant_id, webhook_id) DO NOTHING");
        if (!st)
            return STORE_ERROR;
        sq_bind_text(st, 1, w->merchant_id[0] ? w->merchant_id : inv->merchant_id);
        sq_bind_text(st, 2, w->env[0] ? w->env : inv->env);
        sq_bind_text(st, 3, w->webhook_id);
        sq_bind_text(st, 4, w->type);
        sq_bind_text(st, 5, w->invoice_id[0] ? w->invoice_id : inv->invoice_id);
        sq_bind_text(st, 6, w->url);
        sq_bind_text(st, 7, w->body ? w->body : "");
        sqlite3_bind_int64(st, 8, w->created_at ? w->created_at : now);
        sqlite3_bind_int64(st, 9, w->next_attempt_at ? w->next_attempt_at : now);
        sqlite3_bind_int64(st, 10, w->give_up_at);
        sqlite3_bind_int64(st, 11, w->attempts);
        sq_bind_text(st, 12, w->state[0] ? w->state : "pending");
        sqlite3_bind_int64(st, 13, w->last_status);
        sq_bind_text_or_null(st, 14, w->last_error);
        sqlite3_bind_int64(st, 15, w->delivered_at);
        enum store_rc rc = step_done(c, st, "rc_webhook_insert");
        if (rc != STORE_OK)
            return rc;
    }
    return STORE_OK;
}

/* Moves the invoice (as loaded) to a closed state, with its history row. */
/* Moves the invoice (as loaded) to a state, with its history row; a closing
 * move stamps closed_at. */
static enum store_rc move_invoice(sq_conn *c, struct rc_invoice *inv, const char *state, const char *reason, int closes,
                                  int64_t now)
{
    struct rc_transition t;
    char from_state[32];
    rc_invoice_move(inv, state, reason, &t, from_state);
    if (closes) {
        inv->has_closed = 1;
        inv->closed_at = now;
    }
    return sq_rc_add_invoice_event(c, inv, from_state, &t, now);
}

/* Writes what planning and execution change on the invoice. */
static enum store_rc update_invoice(sq_conn *c, const struct rc_invoice *inv, int plan_needed, int64_t now)
{
    sqlite3_stmt *st = sq_stmt(c, "UPDATE rc_invoices SET state = ?4, state_reason = ?5, closed_at = ?6, "
                                  "recover_attempts = ?7, next_retry_at = ?8, "
                                  "plan_marked_at = CASE WHEN ?9 = 0 THEN NULL WHEN plan_needed = 1 THEN "
                                  "plan_marked_at ELSE ?11 END, "
                                  "plan_needed = ?9, updated_at = ?10 "
                                  "WHERE merchant_id = ?1 AND env = ?2 AND invoice_id = ?3");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, inv->merchant_id);
    sq_bind_text(st, 2, inv->env);
    sq_bind_text(st, 3, inv->invoice_id);
    sq_bind_text(st, 4, inv->state);
    sq_bind_text_or_null(st, 5, inv->state_reason);
    sq_bind_i64_or_null(st, 6, inv->has_closed, inv->closed_at);
    sqlite3_bind_int64(st, 7, inv->recover_attempts);
    sqlite3_bind_int64(st, 8, inv->next_retry_at);
    sqlite3_bind_int(st, 9, plan_needed ? 1 : 0);
    sqlite3_bind_int64(st, 10, inv->updated_at);
    sqlite3_bind_int64(st, 11, now);
    return step_done(c, st, "rc_invoice_update");
}

/* ---- planning ---- */

static enum store_rc insert_decision(sq_conn *c, const struct rc_decision_row *d)
{
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO rc_decisions(" DECISION_COLS ") SELECT ?1, ?2, ?3, "
                                  "COALESCE(MAX(seq), 0) + 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13 "
                                  "FROM rc_decisions WHERE merchant_id = ?1 AND env = ?2 AND invoice_id = ?3");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, d->merchant_id);
    sq_bind_text(st, 2, d->env);
    sq_bind_text(st, 3, d->invoice_id);
    sqlite3_bind_int64(st, 4, d->decided_at);
    sq_bind_text(st, 5, d->action);
    sq_bind_text_or_null(st, 6, d->reason);
    sq_bind_text_or_null(st, 7, d->decline_class);
    sq_bind_i64_or_null(st, 8, d->planned_at != 0, d->planned_at);
    sqlite3_bind_double(st, 9, d->predicted_success);
    sq_bind_text_or_null(st, 10, d->limited_by);
    sq_bind_text_or_null(st, 11, d->payment_method_id);
    sq_bind_text_or_null(st, 12, d->explanation);
    sq_bind_text_or_null(st, 13, d->alternatives);
    return step_done(c, st, "rc_decision_insert");
}

/* Plans r on the invoice: a new row, or the same attempt number planned or
 * cancelled before, replaced. STORE_STATE when that attempt has run. */
static enum store_rc plan_retry(sq_conn *c, const struct rc_decision_row *d, const struct rc_retry *r, int64_t now)
{
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO rc_retries(" RETRY_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                                  "'planned', ?7, ?8, NULL, NULL, NULL, ?9, ?9) "
                                  "ON CONFLICT(merchant_id, env, invoice_id, attempt_no) DO UPDATE SET "
                                  "attempt_id = ?5, due_at = ?6, state = 'planned', payment_method_id = ?7, "
                                  "postponements = ?8, last_error = NULL, lease_owner = NULL, lease_until = NULL, "
                                  "updated_at = ?9 WHERE state IN ('planned', 'cancelled')");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, d->merchant_id);
    sq_bind_text(st, 2, d->env);
    sq_bind_text(st, 3, d->invoice_id);
    sqlite3_bind_int64(st, 4, r->attempt_no);
    sq_bind_text(st, 5, r->attempt_id);
    sqlite3_bind_int64(st, 6, r->due_at);
    sq_bind_text_or_null(st, 7, r->payment_method_id);
    sqlite3_bind_int64(st, 8, r->postponements);
    sqlite3_bind_int64(st, 9, now);
    enum store_rc rc = step_done(c, st, "rc_retry_plan");
    if (rc == STORE_OK && sqlite3_changes(c->db) == 0)
        return STORE_STATE;
    return rc;
}

static enum store_rc plan_write_fn(sq_conn *c, void *arg)
{
    const struct rc_plan_write *w = arg;
    const struct rc_decision_row *d = &w->decision;
    struct rc_invoice inv;
    memset(&inv, 0, sizeof inv);
    enum store_rc rc = sq_rc_load_invoice(c, d->merchant_id, d->env, d->invoice_id, &inv);
    if (rc != STORE_OK)
        return rc;
    free(inv.custom);
    inv.custom = NULL;
    if (inv.updated_at != w->expect_updated_at)
        return STORE_STATE;
    if ((rc = insert_decision(c, d)) != STORE_OK)
        return rc;
    sqlite3_stmt *st = sq_stmt(c, "UPDATE rc_retries SET state = 'cancelled', updated_at = ?4 WHERE merchant_id = ?1 "
                                  "AND env = ?2 AND invoice_id = ?3 AND state = 'planned'");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, d->merchant_id);
    sq_bind_text(st, 2, d->env);
    sq_bind_text(st, 3, d->invoice_id);
    sqlite3_bind_int64(st, 4, w->now);
    if ((rc = step_done(c, st, "rc_retry_cancel")) != STORE_OK)
        return rc;
    int retry = strcmp(d->action, "retry") == 0;
    if (retry && (rc = plan_retry(c, d, &w->retry, w->now)) != STORE_OK)
        return rc;
    inv.next_retry_at = retry ? w->retry.due_at : 0;
    if (w->close_state && w->close_state[0] &&
        (rc = move_invoice(c, &inv, w->close_state, w->close_reason, 1, w->now)) != STORE_OK)
        return rc;
    inv.updated_at = rc_next_updated_at(&inv, w->now);
    if ((rc = update_invoice(c, &inv, 0, w->now)) != STORE_OK)
        return rc;
    return insert_webhooks(c, &inv, w->webhooks, w->nwebhooks, w->now);
}

enum store_rc sq_plan_write(store *s, const struct rc_plan_write *w)
{
    return sq_write(S(s), plan_write_fn, (void *)w);
}

/* ---- execution ---- */

struct claim_args {
    int64_t now, lease_until;
    const char *owner;
    int max;
    void *rows;
    size_t n;
};

/* Appends the rows a bound UPDATE ... RETURNING yields to a->rows. */
static enum store_rc claim_step(sq_conn *c, sqlite3_stmt *st, struct claim_args *a, size_t elem, sq_row_reader read)
{
    void *rows = NULL;
    size_t n = 0;
    enum store_rc rc = sq_collect_rows(c, st, elem, read, &rows, &n);
    if (rc != STORE_OK)
        return rc;
    if (n == 0) {
        free(rows);
        return STORE_OK;
    }
    if (!a->rows) {
        a->rows = rows;
        a->n = n;
        return STORE_OK;
    }
    char *grown = realloc(a->rows, (a->n + n) * elem);
    if (!grown) {
        free(rows);
        return STORE_ERROR;
    }
    memcpy(grown + a->n * elem, rows, n * elem);
    free(rows);
    a->rows = grown;
    a->n += n;
    return STORE_OK;
}

static enum store_rc retries_claim_fn(sq_conn *c, void *arg)
{
    struct claim_args *a = arg;
    /* Attempts whose worker died first (they are the oldest), then those
     * planned, earliest due first. */
    static const char *const queries[] = {
        "UPDATE rc_retries SET state = 'running', lease_owner = ?2, lease_until = ?3, updated_at = ?1 WHERE "
        "(merchant_id, env, invoice_id, attempt_no) IN (SELECT merchant_id, env, invoice_id, attempt_no FROM "
        "rc_retries WHERE state = 'running' AND lease_until <= ?1 ORDER BY lease_until LIMIT ?4) "
        "RETURNING " RETRY_COLS,
        "UPDATE rc_retries SET state = 'running', lease_owner = ?2, lease_until = ?3, updated_at = ?1 WHERE "
        "(merchant_id, env, invoice_id, attempt_no) IN (SELECT merchant_id, env, invoice_id, attempt_no FROM "
        "rc_retries WHERE state = 'planned' AND due_at <= ?1 ORDER BY due_at LIMIT ?4) "
        "RETURNING " RETRY_COLS,
    };
    for (size_t q = 0; q < 2 && (int)a->n < a->max; q++) {
        sqlite3_stmt *st = sq_stmt(c, queries[q]);
        if (!st)
            return STORE_ERROR;
        sqlite3_bind_int64(st, 1, a->now);
        sq_bind_text(st, 2, a->owner);
        sqlite3_bind_int64(st, 3, a->lease_until);
        sqlite3_bind_int(st, 4, a->max - (int)a->n);
        enum store_rc rc = claim_step(c, st, a, sizeof(struct rc_retry), read_retry);
        if (rc != STORE_OK)
            return rc;
    }
    return STORE_OK;
}

static enum store_rc run_claim(store *s, sq_write_fn fn, int64_t now, const char *owner, int64_t lease_ms, int max,
                               void **out, size_t *n, void (*free_rows)(void *, size_t))
{
    struct claim_args a = {now, now + lease_ms, owner, max, NULL, 0};
    *out = NULL;
    *n = 0;
    if (max <= 0)
        return STORE_OK;
    enum store_rc rc = sq_write(S(s), fn, &a);
    if (rc != STORE_OK) {
        /* Rolled back, or never durable: nothing is claimed. */
        free_rows(a.rows, a.n);
        return rc;
    }
    *out = a.rows;
    *n = a.n;
    return STORE_OK;
}

static void free_plain(void *rows, size_t n)
{
    (void)n;
    free(rows);
}

static void free_webhook_rows(void *rows, size_t n) { rc_webhooks_free(rows, n); }

enum store_rc sq_retries_claim(store *s, int64_t now, const char *owner, int64_t lease_ms, int max,
                               struct rc_retry **out, size_t *n)
{
    return run_claim(s, retries_claim_fn, now, owner, lease_ms, max, (void **)out, n, free_plain);
}

static enum store_rc attempt_write_fn(sq_conn *c, void *arg)
{
    const struct rc_attempt_write *w = arg;
    const struct rc_retry *r = w->retry;
    struct rc_invoice inv;
    memset(&inv, 0, sizeof inv);
    enum store_rc rc = sq_rc_load_invoice(c, r->merchant_id, r->env, r->invoice_id, &inv);
    if (rc != STORE_OK)
        return rc;
    free(inv.custom);
    inv.custom = NULL;

    sqlite3_stmt *st = sq_stmt(c, "SELECT state, lease_owner FROM rc_retries WHERE merchant_id = ?1 AND env = ?2 "
                                  "AND invoice_id = ?3 AND attempt_no = ?4");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, r->merchant_id);
    sq_bind_text(st, 2, r->env);
    sq_bind_text(st, 3, r->invoice_id);
    sqlite3_bind_int64(st, 4, r->attempt_no);
    char state[16] = "", owner[64] = "";
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        sq_col_text(st, 0, state, sizeof state);
        sq_col_text(st, 1, owner, sizeof owner);
    }
    sqlite3_reset(st);
    if (step != SQLITE_ROW)
        return step == SQLITE_DONE ? STORE_NOT_FOUND : sq_fail(c, "rc_retry_load");
    int from_running = strcmp(state, "running") == 0 && strcmp(owner, r->lease_owner) == 0;
    int from_requested = strcmp(state, "requested") == 0 && strcmp(r->state, "requested") == 0;
    if (!from_running && !from_requested)
        return STORE_STATE; /* another worker holds it, or it is over */

    int planned = strcmp(w->retry_state, "planned") == 0;
    st = sq_stmt(c, "UPDATE rc_retries SET state = ?5, last_error = ?6, "
                    "due_at = CASE WHEN ?7 THEN ?8 ELSE due_at END, "
                    "postponements = postponements + CASE WHEN ?7 THEN 1 ELSE 0 END, "
                    "lease_owner = NULL, lease_until = NULL, updated_at = ?9 "
                    "WHERE merchant_id = ?1 AND env = ?2 AND invoice_id = ?3 AND attempt_no = ?4");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, r->merchant_id);
    sq_bind_text(st, 2, r->env);
    sq_bind_text(st, 3, r->invoice_id);
    sqlite3_bind_int64(st, 4, r->attempt_no);
    sq_bind_text(st, 5, w->retry_state);
    sq_bind_text_or_null(st, 6, w->error);
    sqlite3_bind_int(st, 7, planned);
    sqlite3_bind_int64(st, 8, w->new_due_at);
    sqlite3_bind_int64(st, 9, w->now);
    if ((rc = step_done(c, st, "rc_retry_finish")) != STORE_OK)
        return rc;

    if (w->txn) {
        /* Idempotent on the transaction id: a charge reported twice (or
         * also by the merchant) is one transaction. */
        struct rc_txn t = *w->txn;
        str_copy(t.origin, sizeof t.origin, "recover");
        struct rc_payment_event ev;
        memset(&ev, 0, sizeof ev);
        ev.merchant_id = r->merchant_id;
        ev.env = r->env;
        str_copy(ev.invoice_id, sizeof ev.invoice_id, r->invoice_id);
        ev.received_at = w->now;
        if ((rc = sq_rc_insert_txn(c, &ev, &t)) != STORE_OK)
            return rc;
    }
    /* An attempt counts once: when it leaves running charged or handed to
     * the merchant's platform, not when a request's report comes back. */
    if (from_running && (w->txn || strcmp(w->retry_state, "requested") == 0))
        inv.recover_attempts++;
    inv.next_retry_at = planned ? w->new_due_at : 0;
    if (w->close_state && w->close_state[0] &&
        (rc = move_invoice(c, &inv, w->close_state, w->close_reason, 1, w->now)) != STORE_OK)
        return rc;
    /* An open invoice whose attempt showed it needs a new card waits for
     * one, as the state machine has it for the merchant's own declines. */
    if (w->open_state && w->open_state[0] && !inv.has_closed && strcmp(inv.state, w->open_state) != 0 &&
        (rc = move_invoice(c, &inv, w->open_state, w->open_reason, 0, w->now)) != STORE_OK)
        return rc;
    /* The next decision came with the outcome: stored now, so the invoice
     * needs no planning pass of its own. */
    if (w->decision && (rc = insert_decision(c, w->decision)) != STORE_OK)
        return rc;
    if (w->decision && w->next) {
        if ((rc = plan_retry(c, w->decision, w->next, w->now)) != STORE_OK)
            return rc;
        inv.next_retry_at = w->next->due_at;
    }
    inv.updated_at = rc_next_updated_at(&inv, w->now);
    /* A postponed attempt keeps its new time: planning it again would
     * undo the wait the merchant asked for. */
    if ((rc = update_invoice(c, &inv, !inv.has_closed && !w->decision && !planned, w->now)) != STORE_OK)
        return rc;
    return insert_webhooks(c, &inv, w->webhooks, w->nwebhooks, w->now);
}

enum store_rc sq_attempt_write(store *s, const struct rc_attempt_write *w)
{
    return sq_write(S(s), attempt_write_fn, (void *)w);
}

/* ---- webhooks ---- */

static enum store_rc webhooks_claim_fn(sq_conn *c, void *arg)
{
    struct claim_args *a = arg;
    /* next_attempt_at moves to the lease's end: the delivery is due again
     * only if this worker never reports, and the due index alone finds
     * what to claim. */
    sqlite3_stmt *st = sq_stmt(c, "UPDATE rc_webhooks SET lease_owner = ?2, lease_until = ?3, next_attempt_at = ?3 "
                                  "WHERE (merchant_id, webhook_id) IN (SELECT merchant_id, webhook_id FROM rc_webhooks "
                                  "WHERE state = 'pending' AND next_attempt_at <= ?1 AND (lease_until IS NULL OR "
                                  "lease_until <= ?1) ORDER BY next_attempt_at LIMIT ?4) RETURNING " WEBHOOK_COLS);
    if (!st)
        return STORE_ERROR;
    sqlite3_bind_int64(st, 1, a->now);
    sq_bind_text(st, 2, a->owner);
    sqlite3_bind_int64(st, 3, a->lease_until);
    sqlite3_bind_int(st, 4, a->max);
    return claim_step(c, st, a, sizeof(struct rc_webhook), read_webhook);
}

enum store_rc sq_webhooks_claim(store *s, int64_t now, const char *owner, int64_t lease_ms, int max,
                                struct rc_webhook **out, size_t *n)
{
    return run_claim(s, webhooks_claim_fn, now, owner, lease_ms, max, (void **)out, n, free_webhook_rows);
}

/* NOT_FOUND when the delivery does not exist, else STORE_STATE: used when
 * a conditional update changed nothing. */
static enum store_rc webhook_missing_or_state(sq_conn *c, const char *merchant_id, const char *webhook_id)
{
    sqlite3_stmt *st = sq_stmt(c, "SELECT 1 FROM rc_webhooks WHERE merchant_id = ?1 AND webhook_id = ?2");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, merchant_id);
    sq_bind_text(st, 2, webhook_id);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r == SQLITE_ROW)
        return STORE_STATE;
    return r == SQLITE_DONE ? STORE_NOT_FOUND : sq_fail(c, "rc_webhook_exists");
}

static enum store_rc webhook_result_fn(sq_conn *c, void *arg)
{
    const struct rc_webhook *w = arg;
    sqlite3_stmt *st = sq_stmt(c, "UPDATE rc_webhooks SET state = ?3, attempts = ?4, next_attempt_at = ?5, "
                                  "last_status = ?6, last_error = ?7, delivered_at = ?8, lease_owner = NULL, "
                                  "lease_until = NULL WHERE merchant_id = ?1 AND webhook_id = ?2 AND lease_owner = ?9");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, w->merchant_id);
    sq_bind_text(st, 2, w->webhook_id);
    sq_bind_text(st, 3, w->state);
    sqlite3_bind_int64(st, 4, w->attempts);
    sqlite3_bind_int64(st, 5, w->next_attempt_at);
    sqlite3_bind_int64(st, 6, w->last_status);
    sq_bind_text_or_null(st, 7, w->last_error);
    sqlite3_bind_int64(st, 8, w->delivered_at);
    sq_bind_text(st, 9, w->lease_owner);
    enum store_rc rc = step_done(c, st, "rc_webhook_result");
    if (rc == STORE_OK && sqlite3_changes(c->db) == 0)
        return webhook_missing_or_state(c, w->merchant_id, w->webhook_id);
    return rc;
}

enum store_rc sq_webhook_result(store *s, const struct rc_webhook *w)
{
    return sq_write(S(s), webhook_result_fn, (void *)w);
}

struct results_args {
    const struct rc_webhook *const *w;
    size_t n;
    enum store_rc *rcs;
};

static enum store_rc webhook_results_fn(sq_conn *c, void *arg)
{
    const struct results_args *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        /* A refused result changed nothing, so it needs no savepoint of
         * its own; a failure of the statement itself undoes the batch. */
        enum store_rc rc = webhook_result_fn(c, (void *)a->w[i]);
        if (rc != STORE_OK && rc != STORE_STATE && rc != STORE_NOT_FOUND)
            return rc;
        a->rcs[i] = rc;
    }
    return STORE_OK;
}

enum store_rc sq_webhook_results(store *s, const struct rc_webhook *const *w, size_t n, enum store_rc *rcs)
{
    if (n == 0)
        return STORE_OK;
    struct results_args a = {w, n, rcs};
    return sq_write(S(s), webhook_results_fn, &a);
}

struct redeliver_args {
    const char *merchant_id, *webhook_id;
    int64_t now, give_up_at;
};

static enum store_rc webhook_redeliver_fn(sq_conn *c, void *arg)
{
    const struct redeliver_args *a = arg;
    sqlite3_stmt *st = sq_stmt(c, "UPDATE rc_webhooks SET state = 'pending', next_attempt_at = ?3, give_up_at = ?4, "
                                  "lease_owner = NULL, lease_until = NULL WHERE merchant_id = ?1 AND webhook_id = ?2");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, a->merchant_id);
    sq_bind_text(st, 2, a->webhook_id);
    sqlite3_bind_int64(st, 3, a->now);
    sqlite3_bind_int64(st, 4, a->give_up_at);
    enum store_rc rc = step_done(c, st, "rc_webhook_redeliver");
    if (rc == STORE_OK && sqlite3_changes(c->db) == 0)
        return STORE_NOT_FOUND;
    return rc;
}

enum store_rc sq_webhook_redeliver(store *s, const char *merchant_id, const char *webhook_id, int64_t now,
                                   int64_t give_up_at)
{
    struct redeliver_args a = {merchant_id, webhook_id, now, give_up_at};
    return sq_write(S(s), webhook_redeliver_fn, &a);
}

/* ---- the learned model ---- */

struct model_blob {
    char *data;
    size_t len;
};

static void read_model(sqlite3_stmt *st, void *row)
{
    struct model_blob *m = row;
    const void *p = sqlite3_column_blob(st, 0);
    int len = sqlite3_column_bytes(st, 0);
    /* One byte more, always zero: a text model can be read as a string. */
    m->data = malloc((size_t)len + 1);
    if (!m->data)
        return;
    if (len > 0)
        memcpy(m->data, p, (size_t)len);
    m->data[len] = '\0';
    m->len = (size_t)len;
}

enum store_rc sq_model_get(store *s, const char *scope, char **blob, size_t *len)
{
    const char *texts[] = {scope ? scope : "", NULL};
    struct read_spec q = {"SELECT blob FROM rc_models WHERE scope = ?1", texts, 0, {0, 0}};
    struct model_blob m = {NULL, 0};
    *blob = NULL;
    *len = 0;
    enum store_rc rc = read_one(s, &q, read_model, &m);
    if (rc == STORE_OK && !m.data)
        return STORE_ERROR;
    if (rc == STORE_OK) {
        *blob = m.data;
        *len = m.len;
    }
    return rc;
}

struct model_put_args {
    const char *scope;
    const void *blob;
    size_t len;
    int64_t now;
};

static enum store_rc model_put_fn(sq_conn *c, void *arg)
{
    const struct model_put_args *a = arg;
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO rc_models(scope, blob, updated_at) VALUES (?1, ?2, ?3) "
                                  "ON CONFLICT(scope) DO UPDATE SET blob = ?2, updated_at = ?3, "
                                  "version = rc_models.version + 1");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, a->scope ? a->scope : "");
    /* A zero-length blob is still a blob, never NULL. */
    sqlite3_bind_blob64(st, 2, a->len ? a->blob : "", a->len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, a->now);
    return step_done(c, st, "rc_model_put");
}

enum store_rc sq_model_put(store *s, const char *scope, const void *blob, size_t len, int64_t now)
{
    struct model_put_args a = {scope, blob, len, now};
    return sq_write(S(s), model_put_fn, &a);
}

struct model_merge_args {
    const char *scope;
    int64_t now;
    rc_model_merge_fn fn;
    void *ctx;
    int64_t version;
};

/* The single writer runs this whole, so no other write of the scope can
 * come between the read and the write. */
static enum store_rc model_merge_fn(sq_conn *c, void *arg)
{
    struct model_merge_args *a = arg;
    sqlite3_stmt *st = sq_stmt(c, "SELECT blob, version FROM rc_models WHERE scope = ?1");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, a->scope);
    struct model_blob stored = {NULL, 0};
    int64_t version = 0;
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        read_model(st, &stored);
        version = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        return sq_fail(c, "rc_model_merge");
    if (r == SQLITE_ROW && !stored.data)
        return STORE_ERROR;
    const void *out = NULL;
    size_t out_len = 0;
    int put = a->fn(a->ctx, stored.data, stored.len, version, &out, &out_len);
    free(stored.data);
    a->version = version;
    if (put < 0)
        return STORE_ERROR;
    if (put == 0)
        return STORE_OK;
    st = sq_stmt(c, "INSERT INTO rc_models(scope, blob, updated_at, version) VALUES (?1, ?2, ?3, ?4) "
                    "ON CONFLICT(scope) DO UPDATE SET blob = ?2, updated_at = ?3, version = ?4");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, a->scope);
    sqlite3_bind_blob64(st, 2, out_len ? out : "", out_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, a->now);
    sqlite3_bind_int64(st, 4, version + 1);
    enum store_rc rc = step_done(c, st, "rc_model_merge");
    if (rc == STORE_OK)
        a->version = version + 1;
    return rc;
}

enum store_rc sq_model_merge(store *s, const char *scope, int64_t now, rc_model_merge_fn fn, void *ctx,
                             int64_t *version)
{
    struct model_merge_args a = {scope ? scope : "", now, fn, ctx, 0};
    enum store_rc rc = sq_write(S(s), model_merge_fn, &a);
    if (rc == STORE_OK && version)
        *version = a.version;
    return rc;
}

static void read_model_version(sqlite3_stmt *st, void *row)
{
    struct rc_model_version *v = row;
    sq_col_text(st, 0, v->scope, sizeof v->scope);
    v->version = sqlite3_column_int64(st, 1);
}

enum store_rc sq_model_versions(store *s, struct rc_model_version **out, size_t *n)
{
    struct read_spec q = {"SELECT scope, version FROM rc_models ORDER BY scope", NULL, 0, {0, 0}};
    return read_all(s, &q, sizeof **out, read_model_version, (void **)out, n);
}
