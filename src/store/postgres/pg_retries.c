/* Recover on PostgreSQL: retry planning, execution, webhook deliveries and
 * the learned model, with the semantics of sqlite/sqlite_retries.c on a
 * database that several recoupd nodes share.
 *
 * Claims take due rows with FOR UPDATE SKIP LOCKED: a node passes over the
 * rows another node is claiming instead of waiting for them, and a row
 * another node claimed and committed no longer qualifies when it is read
 * again, so no two nodes ever hold one attempt or one delivery. Every
 * write that changes an invoice locks it first (FOR UPDATE), then its
 * retry rows: one order for apply_events, plan_write and attempt_write, so
 * that they take turns without deadlocks; claims lock retry rows only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "store/postgres/pg_recover.h"

static pg_store *S(store *s) { return (pg_store *)s; }

/* ---- row readers ---- */

#define RETRY_COLS                                                                                              \
    "merchant_id, env, invoice_id, attempt_no, attempt_id, due_at, state, payment_method_id, postponements, "    \
    "last_error, lease_owner, lease_until, created_at, updated_at"

static void read_retry(const PGresult *r, int row, void *out)
{
    struct rc_retry *t = out;
    memset(t, 0, sizeof *t);
    pg_col_text(r, row, 0, t->merchant_id, sizeof t->merchant_id);
    pg_col_text(r, row, 1, t->env, sizeof t->env);
    pg_col_text(r, row, 2, t->invoice_id, sizeof t->invoice_id);
    t->attempt_no = pg_col_i64(r, row, 3);
    pg_col_text(r, row, 4, t->attempt_id, sizeof t->attempt_id);
    t->due_at = pg_col_i64(r, row, 5);
    pg_col_text(r, row, 6, t->state, sizeof t->state);
    pg_col_text(r, row, 7, t->payment_method_id, sizeof t->payment_method_id);
    t->postponements = pg_col_i64(r, row, 8);
    pg_col_text(r, row, 9, t->last_error, sizeof t->last_error);
    pg_col_text(r, row, 10, t->lease_owner, sizeof t->lease_owner);
    t->lease_until = pg_col_i64(r, row, 11);
    t->created_at = pg_col_i64(r, row, 12);
    t->updated_at = pg_col_i64(r, row, 13);
}

#define WEBHOOK_COLS                                                                                            \
    "merchant_id, env, webhook_id, type, invoice_id, url, body, created_at, next_attempt_at, give_up_at, "       \
    "attempts, state, last_status, last_error, delivered_at, lease_owner, lease_until"

static void read_webhook(const PGresult *r, int row, void *out)
{
    struct rc_webhook *w = out;
    memset(w, 0, sizeof *w);
    pg_col_text(r, row, 0, w->merchant_id, sizeof w->merchant_id);
    pg_col_text(r, row, 1, w->env, sizeof w->env);
    pg_col_text(r, row, 2, w->webhook_id, sizeof w->webhook_id);
    pg_col_text(r, row, 3, w->type, sizeof w->type);
    pg_col_text(r, row, 4, w->invoice_id, sizeof w->invoice_id);
    pg_col_text(r, row, 5, w->url, sizeof w->url);
    w->body = pg_col_dup_or_null(r, row, 6);
    w->created_at = pg_col_i64(r, row, 7);
    w->next_attempt_at = pg_col_i64(r, row, 8);
    w->give_up_at = pg_col_i64(r, row, 9);
    w->attempts = pg_col_i64(r, row, 10);
    pg_col_text(r, row, 11, w->state, sizeof w->state);
    w->last_status = pg_col_i64(r, row, 12);
    pg_col_text(r, row, 13, w->last_error, sizeof w->last_error);
    w->delivered_at = pg_col_i64(r, row, 14);
    pg_col_text(r, row, 15, w->lease_owner, sizeof w->lease_owner);
    w->lease_until = pg_col_i64(r, row, 16);
}

#define DECISION_COLS                                                                                           \
    "merchant_id, env, invoice_id, seq, decided_at, action, reason, decline_class, planned_at, "                 \
    "predicted_success, limited_by, payment_method_id, explanation, alternatives"

static void read_decision(const PGresult *r, int row, void *out)
{
    struct rc_decision_row *d = out;
    memset(d, 0, sizeof *d);
    pg_col_text(r, row, 0, d->merchant_id, sizeof d->merchant_id);
    pg_col_text(r, row, 1, d->env, sizeof d->env);
    pg_col_text(r, row, 2, d->invoice_id, sizeof d->invoice_id);
    d->seq = pg_col_i64(r, row, 3);
    d->decided_at = pg_col_i64(r, row, 4);
    pg_col_text(r, row, 5, d->action, sizeof d->action);
    pg_col_text(r, row, 6, d->reason, sizeof d->reason);
    pg_col_text(r, row, 7, d->decline_class, sizeof d->decline_class);
    d->planned_at = pg_col_i64(r, row, 8);
    d->predicted_success = PQgetisnull(r, row, 9) ? 0.0 : strtod(PQgetvalue(r, row, 9), NULL);
    pg_col_text(r, row, 10, d->limited_by, sizeof d->limited_by);
    pg_col_text(r, row, 11, d->payment_method_id, sizeof d->payment_method_id);
    pg_col_text(r, row, 12, d->explanation, sizeof d->explanation);
    d->alternatives = pg_col_dup_or_null(r, row, 13);
}

static void read_ref(const PGresult *r, int row, void *out)
{
    struct rc_invoice_ref *ref = out;
    memset(ref, 0, sizeof *ref);
    pg_col_text(r, row, 0, ref->merchant_id, sizeof ref->merchant_id);
    pg_col_text(r, row, 1, ref->env, sizeof ref->env);
    pg_col_text(r, row, 2, ref->invoice_id, sizeof ref->invoice_id);
}

static void read_txn_v(const PGresult *r, int row, void *out) { pg_rc_read_txn(r, row, out); }

/* ---- reads ---- */

/* A read of at most one row: OK with it read, NOT_FOUND when none. */
static enum store_rc read_one(store *s, const char *sql, const struct pg_params *p, pg_row_reader read, void *out)
{
    PGresult *r = pg_read(S(s), sql, p);
    if (!r)
        return STORE_ERROR;
    enum store_rc rc = PQntuples(r) ? STORE_OK : STORE_NOT_FOUND;
    if (rc == STORE_OK)
        read(r, 0, out);
    PQclear(r);
    return rc;
}

static enum store_rc read_all(store *s, const char *sql, const struct pg_params *p, size_t elem, pg_row_reader read,
                              void **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return pg_collect(pg_read(S(s), sql, p), elem, read, out, n);
}

static void pp_invoice(struct pg_params *p, const char *merchant_id, const char *env, const char *invoice_id)
{
    pp_init(p);
    pp_text(p, merchant_id);
    pp_text(p, env);
    pp_text(p, invoice_id);
}

enum store_rc pg_plan_pending(store *s, int max, struct rc_invoice_ref **out, size_t *n)
{
    struct pg_params p;
    pp_init(&p);
    pp_i64(&p, max > 0 ? max : 0);
    return read_all(s, "SELECT merchant_id, env, invoice_id FROM rc_invoices WHERE plan_needed = 1 "
                       "ORDER BY plan_marked_at, merchant_id, env, invoice_id LIMIT $1",
                    &p, sizeof **out, read_ref, (void **)out, n);
}

struct window_args {
    const char *merchant_id;
    int64_t before, now, marked;
};

static enum store_rc mark_window_fn(pg_conn *c, void *arg)
{
    struct window_args *a = arg;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, a->merchant_id);
    pp_i64(&p, a->before);
    pp_i64(&p, a->now);
    PGresult *r = pg_run(c, "UPDATE rc_invoices SET plan_needed = 1, plan_marked_at = $3 WHERE merchant_id = $1 "
                            "AND state IN ('pending', 'awaiting_payment_method') AND dunning_started_at <= $2 "
                            "AND next_retry_at = 0 AND plan_needed = 0",
                         &p);
    if (!r)
        return STORE_ERROR;
    a->marked = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return STORE_OK;
}

enum store_rc pg_mark_window_over(store *s, const char *merchant_id, int64_t dunning_began_before, int64_t now,
                                  int64_t *marked)
{
    struct window_args a = {merchant_id, dunning_began_before, now, 0};
    enum store_rc rc = pg_tx(S(s), mark_window_fn, &a);
    if (marked)
        *marked = rc == STORE_OK ? a.marked : 0;
    return rc;
}

enum store_rc pg_card_txns(store *s, const char *merchant_id, const char *env, const char *payment_method_id,
                           int64_t since, struct rc_txn **out, size_t *n)
{
    struct pg_params p;
    pp_invoice(&p, merchant_id, env, payment_method_id);
    pp_i64(&p, since);
    return read_all(s, "SELECT " TXN_COLS " FROM rc_transactions WHERE merchant_id = $1 AND env = $2 AND "
                       "payment_method_id = $3 AND psp_created_at >= $4 "
                       "ORDER BY psp_created_at, received_at, transaction_id",
                    &p, sizeof **out, read_txn_v, (void **)out, n);
}

struct pm_after_row {
    char pm_id[RC_ID_MAX];
    int64_t at;
};

static void read_pm_after(const PGresult *r, int row, void *out)
{
    struct pm_after_row *a = out;
    pg_col_text(r, row, 0, a->pm_id, sizeof a->pm_id);
    a->at = pg_col_i64(r, row, 1);
}

enum store_rc pg_pm_update_after(store *s, const char *merchant_id, const char *env, const char *customer_id,
                                 int64_t after, char pm_id_out[RC_ID_MAX], int64_t *at_out)
{
    struct pg_params p;
    pp_invoice(&p, merchant_id, env, customer_id);
    pp_i64(&p, after);
    struct pm_after_row row;
    memset(&row, 0, sizeof row);
    enum store_rc rc = read_one(s, "SELECT payment_method_id, received_at FROM rc_pm_updates WHERE merchant_id = $1 "
                                   "AND env = $2 AND customer_id = $3 AND received_at > $4 "
                                   "ORDER BY received_at DESC, inbox_seq DESC LIMIT 1",
                                &p, read_pm_after, &row);
    if (rc == STORE_OK) {
        str_copy(pm_id_out, RC_ID_MAX, row.pm_id);
        *at_out = row.at;
    }
    return rc;
}

enum store_rc pg_decisions_list(store *s, const char *merchant_id, const char *env, const char *invoice_id,
                                struct rc_decision_row **out, size_t *n)
{
    struct pg_params p;
    pp_invoice(&p, merchant_id, env, invoice_id);
    return read_all(s, "SELECT " DECISION_COLS " FROM rc_decisions WHERE merchant_id = $1 AND env = $2 AND "
                       "invoice_id = $3 ORDER BY seq",
                    &p, sizeof **out, read_decision, (void **)out, n);
}

enum store_rc pg_retries_list(store *s, const char *merchant_id, const char *env, const char *invoice_id,
                              struct rc_retry **out, size_t *n)
{
    struct pg_params p;
    pp_invoice(&p, merchant_id, env, invoice_id);
    return read_all(s, "SELECT " RETRY_COLS " FROM rc_retries WHERE merchant_id = $1 AND env = $2 AND "
                       "invoice_id = $3 ORDER BY attempt_no",
                    &p, sizeof **out, read_retry, (void **)out, n);
}

enum store_rc pg_retry_requested(store *s, const char *merchant_id, const char *env, const char *invoice_id,
                                 struct rc_retry *out)
{
    struct pg_params p;
    pp_invoice(&p, merchant_id, env, invoice_id);
    memset(out, 0, sizeof *out);
    return read_one(s, "SELECT " RETRY_COLS " FROM rc_retries WHERE merchant_id = $1 AND env = $2 AND "
                       "invoice_id = $3 AND state = 'requested' ORDER BY attempt_no DESC LIMIT 1",
                    &p, read_retry, out);
}

static void read_i64(const PGresult *r, int row, void *out) { *(int64_t *)out = pg_col_i64(r, row, 0); }

static enum store_rc earliest(store *s, const char *sql, int64_t *out)
{
    int64_t v = 0;
    enum store_rc rc = read_one(s, sql, NULL, read_i64, &v);
    if (rc == STORE_OK)
        *out = v;
    return rc;
}

enum store_rc pg_retry_next_due(store *s, int64_t *due_at)
{
    /* A running attempt whose lease runs out is due again then. Each
     * branch is one step down its index. */
    return earliest(s, "SELECT MIN(t) FROM ((SELECT due_at AS t FROM rc_retries WHERE state = 'planned' "
                       "ORDER BY due_at LIMIT 1) UNION ALL (SELECT lease_until FROM rc_retries WHERE "
                       "state = 'running' ORDER BY lease_until LIMIT 1)) AS due HAVING COUNT(*) > 0",
                    due_at);
}

enum store_rc pg_webhook_next_due(store *s, int64_t *due_at)
{
    return earliest(s, "SELECT next_attempt_at FROM rc_webhooks WHERE state = 'pending' "
                       "ORDER BY next_attempt_at LIMIT 1",
                    due_at);
}

enum store_rc pg_webhooks_list(store *s, const char *merchant_id, const char *state, const char *invoice_id,
                               int limit, struct rc_webhook **out, size_t *n)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    pp_text_or_null(&p, state);
    pp_text_or_null(&p, invoice_id);
    pp_i64_or_null(&p, limit > 0, limit);
    return read_all(s, "SELECT " WEBHOOK_COLS " FROM rc_webhooks WHERE merchant_id = $1 AND "
                       "($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR invoice_id = $3) "
                       "ORDER BY created_at DESC, webhook_id DESC LIMIT $4",
                    &p, sizeof **out, read_webhook, (void **)out, n);
}

enum store_rc pg_webhook_get(store *s, const char *merchant_id, const char *webhook_id, struct rc_webhook *out)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    pp_text(&p, webhook_id);
    memset(out, 0, sizeof *out);
    return read_one(s, "SELECT " WEBHOOK_COLS " FROM rc_webhooks WHERE merchant_id = $1 AND webhook_id = $2", &p,
                    read_webhook, out);
}

/* ---- pieces of the writes ---- */

static enum store_rc insert_webhooks(pg_conn *c, const struct rc_invoice *inv, const struct rc_webhook *hooks,
                                     size_t n, int64_t now)
{
    for (size_t i = 0; i < n; i++) {
        const struct rc_webhook *w = &hooks[i];
        struct pg_params p;
        pp_init(&p);
        pp_text(&p, w->merchant_id[0] ? w->merchant_id : inv->merchant_id);
        pp_text(&p, w->env[0] ? w->env : inv->env);
        pp_text(&p, w->webhook_id);
        pp_text(&p, w->type);
        pp_text(&p, w->invoice_id[0] ? w->invoice_id : inv->invoice_id);
        pp_text(&p, w->url);
        pp_text(&p, w->body ? w->body : "");
        pp_i64(&p, w->created_at ? w->created_at : now);
        pp_i64(&p, w->next_attempt_at ? w->next_attempt_at : now);
        pp_i64(&p, w->give_up_at);
        pp_i64(&p, w->attempts);
        pp_text(&p, w->state[0] ? w->state : "pending");
        pp_i64(&p, w->last_status);
        pp_text_or_null(&p, w->last_error);
        pp_i64(&p, w->delivered_at);
        /* A repeat of the same delivery (same id) is the same event. */
        if (pg_run_cmd(c, "INSERT INTO rc_webhooks(" WEBHOOK_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
                       "$11, $12, $13, $14, $15, NULL, NULL) ON CONFLICT (merchant_id, webhook_id) DO NOTHING",
                    &p) != 0)
            return STORE_ERROR;
    }
    return STORE_OK;
}

/* Moves the invoice (as loaded) to a closed state, with its history row. */
/* Moves the invoice (as loaded) to a state, with its history row; a closing
 * move stamps closed_at. */
static enum store_rc move_invoice(pg_conn *c, struct rc_invoice *inv, const char *state, const char *reason, int closes,
                                  int64_t now)
{
    struct rc_transition t;
    char from_state[32];
    rc_invoice_move(inv, state, reason, &t, from_state);
    if (closes) {
        inv->has_closed = 1;
        inv->closed_at = now;
    }
    return pg_rc_add_invoice_event(c, inv, from_state, &t, now);
}

/* Writes what planning and execution change on the invoice. */
static enum store_rc update_invoice(pg_conn *c, const struct rc_invoice *inv, int plan_needed, int64_t now)
{
    struct pg_params p;
    pp_invoice(&p, inv->merchant_id, inv->env, inv->invoice_id);
    pp_text(&p, inv->state);
    pp_text_or_null(&p, inv->state_reason);
    pp_i64_or_null(&p, inv->has_closed, inv->closed_at);
    pp_i64(&p, inv->recover_attempts);
    pp_i64(&p, inv->next_retry_at);
    pp_i64(&p, plan_needed ? 1 : 0);
    pp_i64(&p, inv->updated_at);
    pp_i64(&p, now);
    return pg_run_cmd(c, "UPDATE rc_invoices SET state = $4, state_reason = $5, closed_at = $6, recover_attempts = $7, "
                      "next_retry_at = $8, plan_marked_at = CASE WHEN $9::integer = 0 THEN NULL "
                      "WHEN plan_needed = 1 THEN plan_marked_at ELSE $11::bigint END, plan_needed = $9, "
                      "updated_at = $10 WHERE merchant_id = $1 AND env = $2 AND invoice_id = $3",
                   &p) == 0
               ? STORE_OK
               : STORE_ERROR;
}

/* ---- planning ---- */

static enum store_rc insert_decision(pg_conn *c, const struct rc_decision_row *d)
{
    char success[40];
    snprintf(success, sizeof success, "%.17g", d->predicted_success);
    struct pg_params p;
    pp_invoice(&p, d->merchant_id, d->env, d->invoice_id);
    pp_i64(&p, d->decided_at);
    pp_text(&p, d->action);
    pp_text_or_null(&p, d->reason);
    pp_text_or_null(&p, d->decline_class);
    pp_i64_or_null(&p, d->planned_at != 0, d->planned_at);
    pp_text(&p, success);
    pp_text_or_null(&p, d->limited_by);
    pp_text_or_null(&p, d->payment_method_id);
    pp_text_or_null(&p, d->explanation);
    pp_text_or_null(&p, d->alternatives);
    /* The next seq is safe to compute: the invoice is locked. */
    return pg_run_cmd(c, "INSERT INTO rc_decisions(" DECISION_COLS ") SELECT $1, $2, $3, COALESCE(MAX(seq), 0) + 1, "
                      "$4::bigint, $5::text, $6::text, $7::text, $8::bigint, $9::double precision, $10::text, "
                      "$11::text, $12::text, $13::text FROM rc_decisions WHERE merchant_id = $1 AND env = $2 AND "
                      "invoice_id = $3",
                   &p) == 0
               ? STORE_OK
               : STORE_ERROR;
}

/* Plans r on the invoice: a new row, or the same attempt number planned or
 * cancelled before, replaced. STORE_STATE when that attempt has run. */
static enum store_rc plan_retry(pg_conn *c, const struct rc_decision_row *d, const struct rc_retry *r, int64_t now)
{
    struct pg_params p;
    pp_invoice(&p, d->merchant_id, d->env, d->invoice_id);
    pp_i64(&p, r->attempt_no);
    pp_text(&p, r->attempt_id);
    pp_i64(&p, r->due_at);
    pp_text_or_null(&p, r->payment_method_id);
    pp_i64(&p, r->postponements);
    pp_i64(&p, now);
    PGresult *res = pg_run(c, "INSERT INTO rc_retries(" RETRY_COLS ") VALUES ($1, $2, $3, $4, $5, $6, 'planned', $7, "
                              "$8, NULL, NULL, NULL, $9, $9) ON CONFLICT (merchant_id, env, invoice_id, attempt_no) "
                              "DO UPDATE SET attempt_id = excluded.attempt_id, due_at = excluded.due_at, "
                              "state = 'planned', payment_method_id = excluded.payment_method_id, "
                              "postponements = excluded.postponements, last_error = NULL, lease_owner = NULL, "
                              "lease_until = NULL, updated_at = excluded.updated_at "
                              "WHERE rc_retries.state IN ('planned', 'cancelled')",
                           &p);
    if (!res)
        return STORE_ERROR;
    int changed = pg_changed_rows(res);
    PQclear(res);
    return changed ? STORE_OK : STORE_STATE;
}

static enum store_rc plan_write_fn(pg_conn *c, void *arg)
{
    const struct rc_plan_write *w = arg;
    const struct rc_decision_row *d = &w->decision;
    struct rc_invoice inv;
    memset(&inv, 0, sizeof inv);
    enum store_rc rc = pg_rc_load_invoice(c, d->merchant_id, d->env, d->invoice_id, 1, &inv);
    if (rc != STORE_OK)
        return rc;
    free(inv.custom);
    inv.custom = NULL;
    if (inv.updated_at != w->expect_updated_at)
        return STORE_STATE;
    if ((rc = insert_decision(c, d)) != STORE_OK)
        return rc;
    struct pg_params p;
    pp_invoice(&p, d->merchant_id, d->env, d->invoice_id);
    pp_i64(&p, w->now);
    if (pg_run_cmd(c, "UPDATE rc_retries SET state = 'cancelled', updated_at = $4 WHERE merchant_id = $1 AND env = $2 "
                   "AND invoice_id = $3 AND state = 'planned'",
                &p) != 0)
        return STORE_ERROR;
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

enum store_rc pg_plan_write(store *s, const struct rc_plan_write *w)
{
    return pg_tx(S(s), plan_write_fn, (void *)w);
}

/* ---- execution ---- */

struct claim_args {
    int64_t now, lease_until;
    const char *owner;
    int max;
    void *rows;
    size_t n;
    void (*free_rows)(void *, size_t);
};

/* Appends the rows of a claiming statement to a->rows. */
static enum store_rc claim_run(pg_conn *c, const char *sql, struct claim_args *a, size_t elem, pg_row_reader read)
{
    struct pg_params p;
    pp_init(&p);
    pp_i64(&p, a->now);
    pp_text(&p, a->owner);
    pp_i64(&p, a->lease_until);
    pp_i64(&p, a->max - (int64_t)a->n);
    void *rows = NULL;
    size_t n = 0;
    enum store_rc rc = pg_collect(pg_run(c, sql, &p), elem, read, &rows, &n);
    if (rc != STORE_OK)
        return rc;
    if (n == 0) {
        free(rows);
        return STORE_OK;
    }
    char *grown = realloc(a->rows, (a->n + n) * elem);
    if (!grown) {
        a->free_rows(rows, n);
        return STORE_ERROR;
    }
    memcpy(grown + a->n * elem, rows, n * elem);
    free(rows);
    a->rows = grown;
    a->n += n;
    return STORE_OK;
}

static enum store_rc retries_claim_fn(pg_conn *c, void *arg)
{
    struct claim_args *a = arg;
    a->free_rows(a->rows, a->n); /* from an earlier attempt of this transaction */
    a->rows = NULL;
    a->n = 0;
    /* Attempts whose worker died first (they are the oldest), then those
     * planned, earliest due first. */
    static const char *const queries[] = {
        "WITH due AS MATERIALIZED (SELECT merchant_id, env, invoice_id, attempt_no FROM rc_retries WHERE "
        "state = 'running' AND lease_until <= $1 ORDER BY lease_until LIMIT $4 FOR UPDATE SKIP LOCKED) "
        "UPDATE rc_retries SET state = 'running', lease_owner = $2, lease_until = $3, updated_at = $1 "
        "WHERE (merchant_id, env, invoice_id, attempt_no) IN (SELECT merchant_id, env, invoice_id, attempt_no "
        "FROM due) RETURNING " RETRY_COLS,
        "WITH due AS MATERIALIZED (SELECT merchant_id, env, invoice_id, attempt_no FROM rc_retries WHERE "
        "state = 'planned' AND due_at <= $1 ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED) "
        "UPDATE rc_retries SET state = 'running', lease_owner = $2, lease_until = $3, updated_at = $1 "
        "WHERE (merchant_id, env, invoice_id, attempt_no) IN (SELECT merchant_id, env, invoice_id, attempt_no "
        "FROM due) RETURNING " RETRY_COLS,
    };
    for (size_t q = 0; q < 2 && (int64_t)a->n < a->max; q++) {
        enum store_rc rc = claim_run(c, queries[q], a, sizeof(struct rc_retry), read_retry);
        if (rc != STORE_OK)
            return rc;
    }
    return STORE_OK;
}

static enum store_rc run_claim(store *s, pg_tx_fn fn, struct claim_args *a, void **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (a->max <= 0)
        return STORE_OK;
    enum store_rc rc = pg_tx(S(s), fn, a);
    if (rc != STORE_OK) {
        /* Rolled back: nothing is claimed. */
        a->free_rows(a->rows, a->n);
        return rc;
    }
    *out = a->rows;
    *n = a->n;
    return STORE_OK;
}

static void free_plain(void *rows, size_t n)
{
    (void)n;
    free(rows);
}

static void free_webhook_rows(void *rows, size_t n) { rc_webhooks_free(rows, n); }

enum store_rc pg_retries_claim(store *s, int64_t now, const char *owner, int64_t lease_ms, int max,
                               struct rc_retry **out, size_t *n)
{
    struct claim_args a = {now, now + lease_ms, owner, max, NULL, 0, free_plain};
    return run_claim(s, retries_claim_fn, &a, (void **)out, n);
}

static enum store_rc attempt_write_fn(pg_conn *c, void *arg)
{
    const struct rc_attempt_write *w = arg;
    const struct rc_retry *r = w->retry;
    struct rc_invoice inv;
    memset(&inv, 0, sizeof inv);
    enum store_rc rc = pg_rc_load_invoice(c, r->merchant_id, r->env, r->invoice_id, 1, &inv);
    if (rc != STORE_OK)
        return rc;
    free(inv.custom);
    inv.custom = NULL;

    struct pg_params p;
    pp_invoice(&p, r->merchant_id, r->env, r->invoice_id);
    pp_i64(&p, r->attempt_no);
    PGresult *res = pg_run(c, "SELECT state, lease_owner FROM rc_retries WHERE merchant_id = $1 AND env = $2 AND "
                              "invoice_id = $3 AND attempt_no = $4 FOR UPDATE",
                           &p);
    if (!res)
        return STORE_ERROR;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return STORE_NOT_FOUND;
    }
    char state[16], owner[64];
    pg_col_text(res, 0, 0, state, sizeof state);
    pg_col_text(res, 0, 1, owner, sizeof owner);
    PQclear(res);
    int from_running = strcmp(state, "running") == 0 && strcmp(owner, r->lease_owner) == 0;
    int from_requested = strcmp(state, "requested") == 0 && strcmp(r->state, "requested") == 0;
    if (!from_running && !from_requested)
        return STORE_STATE; /* another worker holds it, or it is over */

    int planned = strcmp(w->retry_state, "planned") == 0;
    pp_invoice(&p, r->merchant_id, r->env, r->invoice_id);
    pp_i64(&p, r->attempt_no);
    pp_text(&p, w->retry_state);
    pp_text_or_null(&p, w->error);
    pp_i64(&p, planned);
    pp_i64(&p, w->new_due_at);
    pp_i64(&p, w->now);
    if (pg_run_cmd(c, "UPDATE rc_retries SET state = $5, last_error = $6, "
                   "due_at = CASE WHEN $7::integer = 1 THEN $8::bigint ELSE due_at END, "
                   "postponements = postponements + $7::integer, lease_owner = NULL, lease_until = NULL, "
                   "updated_at = $9 WHERE merchant_id = $1 AND env = $2 AND invoice_id = $3 AND attempt_no = $4",
                &p) != 0)
        return STORE_ERROR;

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
        if ((rc = pg_rc_insert_txn(c, &ev, &t)) != STORE_OK)
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

enum store_rc pg_attempt_write(store *s, const struct rc_attempt_write *w)
{
    return pg_tx(S(s), attempt_write_fn, (void *)w);
}

/* ---- webhooks ---- */

static enum store_rc webhooks_claim_fn(pg_conn *c, void *arg)
{
    struct claim_args *a = arg;
    a->free_rows(a->rows, a->n);
    a->rows = NULL;
    a->n = 0;
    /* next_attempt_at moves to the lease's end: the delivery is due again
     * only if this worker never reports, and the due index alone finds
     * what to claim. */
    return claim_run(c, "WITH due AS MATERIALIZED (SELECT merchant_id, webhook_id FROM rc_webhooks WHERE "
                         "state = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) "
                         "ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) "
                         "UPDATE rc_webhooks SET lease_owner = $2, lease_until = $3, next_attempt_at = $3 "
                         "WHERE (merchant_id, webhook_id) IN (SELECT merchant_id, webhook_id FROM due) "
                         "RETURNING " WEBHOOK_COLS,
                     a, sizeof(struct rc_webhook), read_webhook);
}

enum store_rc pg_webhooks_claim(store *s, int64_t now, const char *owner, int64_t lease_ms, int max,
                                struct rc_webhook **out, size_t *n)
{
    struct claim_args a = {now, now + lease_ms, owner, max, NULL, 0, free_webhook_rows};
    return run_claim(s, webhooks_claim_fn, &a, (void **)out, n);
}

/* NOT_FOUND when the delivery does not exist, else STORE_STATE: used when
 * a conditional update changed nothing. */
static enum store_rc webhook_missing_or_state(pg_conn *c, const char *merchant_id, const char *webhook_id)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    pp_text(&p, webhook_id);
    PGresult *r = pg_run(c, "SELECT 1 FROM rc_webhooks WHERE merchant_id = $1 AND webhook_id = $2", &p);
    if (!r)
        return STORE_ERROR;
    enum store_rc rc = PQntuples(r) ? STORE_STATE : STORE_NOT_FOUND;
    PQclear(r);
    return rc;
}

static enum store_rc webhook_result_fn(pg_conn *c, void *arg)
{
    const struct rc_webhook *w = arg;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, w->merchant_id);
    pp_text(&p, w->webhook_id);
    pp_text(&p, w->state);
    pp_i64(&p, w->attempts);
    pp_i64(&p, w->next_attempt_at);
    pp_i64(&p, w->last_status);
    pp_text_or_null(&p, w->last_error);
    pp_i64(&p, w->delivered_at);
    pp_text(&p, w->lease_owner);
    PGresult *r = pg_run(c, "UPDATE rc_webhooks SET state = $3, attempts = $4, next_attempt_at = $5, "
                            "last_status = $6, last_error = $7, delivered_at = $8, lease_owner = NULL, "
                            "lease_until = NULL WHERE merchant_id = $1 AND webhook_id = $2 AND lease_owner = $9",
                         &p);
    if (!r)
        return STORE_ERROR;
    int changed = pg_changed_rows(r);
    PQclear(r);
    return changed ? STORE_OK : webhook_missing_or_state(c, w->merchant_id, w->webhook_id);
}

enum store_rc pg_webhook_result(store *s, const struct rc_webhook *w)
{
    return pg_tx(S(s), webhook_result_fn, (void *)w);
}

struct results_args {
    const struct rc_webhook *const *w;
    size_t n;
    enum store_rc *rcs;
};

/* The results as one JSON array, sent as one parameter: the whole batch is
 * one statement, one round trip, however many deliveries it holds. */
static void results_json(buf *j, const struct results_args *a)
{
    buf_putc(j, '[');
    for (size_t i = 0; i < a->n; i++) {
        const struct rc_webhook *w = a->w[i];
        buf_printf(j, "%s{\"i\":%zu,\"m\":", i ? "," : "", i);
        buf_put_json_string(j, w->merchant_id);
        buf_puts(j, ",\"w\":");
        buf_put_json_string(j, w->webhook_id);
        buf_puts(j, ",\"s\":");
        buf_put_json_string(j, w->state);
        buf_puts(j, ",\"a\":");
        buf_put_i64(j, w->attempts);
        buf_puts(j, ",\"n\":");
        buf_put_i64(j, w->next_attempt_at);
        buf_puts(j, ",\"ls\":");
        buf_put_i64(j, w->last_status);
        buf_puts(j, ",\"le\":");
        if (w->last_error[0])
            buf_put_json_string(j, w->last_error);
        else
            buf_puts(j, "null");
        buf_puts(j, ",\"d\":");
        buf_put_i64(j, w->delivered_at);
        buf_puts(j, ",\"o\":");
        buf_put_json_string(j, w->lease_owner);
        buf_putc(j, '}');
    }
    buf_putc(j, ']');
}

/* Each delivery is updated only under its own lease, as webhook_result
 * does; the rows not updated are then told apart (another lease, or
 * unknown) in the same statement. Safe to repeat after a conflict: every
 * answer is written afresh. */
static enum store_rc webhook_results_fn(pg_conn *c, void *arg)
{
    const struct results_args *a = arg;
    buf j;
    buf_init(&j);
    results_json(&j, a);
    if (j.oom) {
        buf_free(&j);
        return STORE_ERROR;
    }
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, buf_cstr(&j));
    PGresult *r = pg_run(c, "WITH r AS MATERIALIZED (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(i integer, m text, "
                            "w text, s text, a bigint, n bigint, ls bigint, le text, d bigint, o text)), "
                            "u AS (UPDATE rc_webhooks AS h SET state = r.s, attempts = r.a, next_attempt_at = r.n, "
                            "last_status = r.ls, last_error = r.le, delivered_at = r.d, lease_owner = NULL, "
                            "lease_until = NULL FROM r WHERE h.merchant_id = r.m AND h.webhook_id = r.w AND "
                            "h.lease_owner = r.o RETURNING r.i) "
                            "SELECT r.i, u.i IS NOT NULL, EXISTS (SELECT 1 FROM rc_webhooks x WHERE x.merchant_id = r.m "
                            "AND x.webhook_id = r.w) FROM r LEFT JOIN u ON u.i = r.i",
                         &p);
    buf_free(&j);
    if (!r)
        return STORE_ERROR;
    enum store_rc rc = PQntuples(r) == (int)a->n ? STORE_OK : STORE_ERROR;
    for (int row = 0; rc == STORE_OK && row < PQntuples(r); row++) {
        int64_t i = pg_col_i64(r, row, 0);
        if (i < 0 || (size_t)i >= a->n) {
            rc = STORE_ERROR;
            break;
        }
        a->rcs[i] = PQgetvalue(r, row, 1)[0] == 't'   ? STORE_OK
                    : PQgetvalue(r, row, 2)[0] == 't' ? STORE_STATE
                                                      : STORE_NOT_FOUND;
    }
    PQclear(r);
    return rc;
}

enum store_rc pg_webhook_results(store *s, const struct rc_webhook *const *w, size_t n, enum store_rc *rcs)
{
    if (n == 0)
        return STORE_OK;
    struct results_args a = {w, n, rcs};
    return pg_tx(S(s), webhook_results_fn, &a);
}

struct redeliver_args {
    const char *merchant_id, *webhook_id;
    int64_t now, give_up_at;
};

static enum store_rc webhook_redeliver_fn(pg_conn *c, void *arg)
{
    const struct redeliver_args *a = arg;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, a->merchant_id);
    pp_text(&p, a->webhook_id);
    pp_i64(&p, a->now);
    pp_i64(&p, a->give_up_at);
    PGresult *r = pg_run(c, "UPDATE rc_webhooks SET state = 'pending', next_attempt_at = $3, give_up_at = $4, "
                            "lease_owner = NULL, lease_until = NULL WHERE merchant_id = $1 AND webhook_id = $2",
                         &p);
    if (!r)
        return STORE_ERROR;
    int changed = pg_changed_rows(r);
    PQclear(r);
    return changed ? STORE_OK : STORE_NOT_FOUND;
}

enum store_rc pg_webhook_redeliver(store *s, const char *merchant_id, const char *webhook_id, int64_t now,
                                   int64_t give_up_at)
{
    struct redeliver_args a = {merchant_id, webhook_id, now, give_up_at};
    return pg_tx(S(s), webhook_redeliver_fn, &a);
}

/* ---- the learned model ---- */

struct model_blob {
    char *data;
    size_t len;
};

/* The column arrives in bytea's text form (hex); unescaped here. */
static void read_model(const PGresult *r, int row, void *out)
{
    struct model_blob *m = out;
    size_t len = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, 0), &len);
    if (!raw)
        return;
    /* One byte more, always zero: a text model can be read as a string. */
    m->data = malloc(len + 1);
    if (m->data) {
        if (len)
            memcpy(m->data, raw, len);
        m->data[len] = '\0';
        m->len = len;
    }
    PQfreemem(raw);
}

enum store_rc pg_model_get(store *s, const char *scope, char **blob, size_t *len)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, scope ? scope : "");
    struct model_blob m = {NULL, 0};
    *blob = NULL;
    *len = 0;
    enum store_rc rc = read_one(s, "SELECT blob FROM rc_models WHERE scope = $1", &p, read_model, &m);
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
    const char *hex; /* the blob in bytea's hex input form */
    int64_t now;
};

static enum store_rc model_put_fn(pg_conn *c, void *arg)
{
    const struct model_put_args *a = arg;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, a->scope ? a->scope : "");
    pp_text(&p, a->hex);
    pp_i64(&p, a->now);
    return pg_run_cmd(c, "INSERT INTO rc_models(scope, blob, updated_at) VALUES ($1, $2::bytea, $3) "
                      "ON CONFLICT (scope) DO UPDATE SET blob = excluded.blob, updated_at = excluded.updated_at, "
                      "version = rc_models.version + 1",
                   &p) == 0
               ? STORE_OK
               : STORE_ERROR;
}

/* Parameters travel as text: the bytes go as "\x" and two hex digits
 * each, which bytea reads back exactly. malloc'd; NULL when out of memory. */
static char *bytea_hex(const void *blob, size_t len)
{
    if (len > (SIZE_MAX - 3) / 2)
        return NULL;
    char *hex = malloc(len * 2 + 3);
    if (!hex)
        return NULL;
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = blob;
    hex[0] = '\\';
    hex[1] = 'x';
    for (size_t i = 0; i < len; i++) {
        hex[2 + 2 * i] = digits[b[i] >> 4];
        hex[3 + 2 * i] = digits[b[i] & 15];
    }
    hex[2 + 2 * len] = '\0';
    return hex;
}

enum store_rc pg_model_put(store *s, const char *scope, const void *blob, size_t len, int64_t now)
{
    char *hex = bytea_hex(blob, len);
    if (!hex)
        return STORE_ERROR;
    struct model_put_args a = {scope, hex, now};
    enum store_rc rc = pg_tx(S(s), model_put_fn, &a);
    free(hex);
    return rc;
}

struct model_merge_args {
    const char *scope;
    int64_t now;
    rc_model_merge_fn fn;
    void *ctx;
    int64_t version;
};

/* The row is created first when absent (version 0, no model yet), so that
 * there is always a row to lock: two nodes merging the same scope then
 * run one after the other, the second reading what the first wrote. */
static enum store_rc model_merge_fn(pg_conn *c, void *arg)
{
    struct model_merge_args *a = arg;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, a->scope);
    pp_i64(&p, a->now);
    if (pg_run_cmd(c, "INSERT INTO rc_models(scope, blob, updated_at, version) VALUES ($1, ''::bytea, $2, 0) "
                      "ON CONFLICT (scope) DO NOTHING",
                   &p) != 0)
        return STORE_ERROR;
    pp_init(&p);
    pp_text(&p, a->scope);
    PGresult *r = pg_run(c, "SELECT blob, version FROM rc_models WHERE scope = $1 FOR UPDATE", &p);
    if (!r)
        return STORE_ERROR;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return STORE_ERROR;
    }
    int64_t version = pg_col_i64(r, 0, 1);
    struct model_blob stored = {NULL, 0};
    if (version > 0) {
        read_model(r, 0, &stored);
        if (!stored.data) {
            PQclear(r);
            return STORE_ERROR;
        }
    }
    PQclear(r);
    const void *out = NULL;
    size_t out_len = 0;
    int put = a->fn(a->ctx, stored.data, stored.len, version, &out, &out_len);
    free(stored.data);
    a->version = version;
    if (put < 0)
        return STORE_ERROR;
    if (put == 0)
        /* Rolls the placeholder row back, if this made one. */
        return version > 0 ? STORE_OK : STORE_NOT_FOUND;
    char *hex = bytea_hex(out, out_len);
    if (!hex)
        return STORE_ERROR;
    pp_init(&p);
    pp_text(&p, a->scope);
    pp_text(&p, hex);
    pp_i64(&p, a->now);
    pp_i64(&p, version + 1);
    int rc = pg_run_cmd(c, "UPDATE rc_models SET blob = $2::bytea, updated_at = $3, version = $4 WHERE scope = $1",
                        &p);
    free(hex);
    if (rc != 0)
        return STORE_ERROR;
    a->version = version + 1;
    return STORE_OK;
}

enum store_rc pg_model_merge(store *s, const char *scope, int64_t now, rc_model_merge_fn fn, void *ctx,
                             int64_t *version)
{
    struct model_merge_args a = {scope ? scope : "", now, fn, ctx, 0};
    enum store_rc rc = pg_tx(S(s), model_merge_fn, &a);
    if (rc == STORE_NOT_FOUND)
        rc = STORE_OK;
    if (rc == STORE_OK && version)
        *version = a.version;
    return rc;
}

static void read_model_version(const PGresult *r, int row, void *out)
{
    struct rc_model_version *v = out;
    pg_col_text(r, row, 0, v->scope, sizeof v->scope);
    v->version = pg_col_i64(r, row, 1);
}

enum store_rc pg_model_versions(store *s, struct rc_model_version **out, size_t *n)
{
    struct pg_params p;
    pp_init(&p);
    return read_all(s, "SELECT scope, version FROM rc_models WHERE version > 0 ORDER BY scope", &p, sizeof **out,
                    read_model_version, (void **)out, n);
}
