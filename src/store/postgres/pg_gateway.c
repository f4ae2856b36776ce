/* Gateway payments, refunds and stored payment methods on PostgreSQL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/money.h"
#include "store/postgres/pg_store.h"

#define PAY_COLS                                                                                                \
    "merchant_id, payment_id, seq, amount, currency, method, status, decline_code, decline_message, "            \
    "network_code, created_at, settled_at, settled_amount, refunded, payment_method_id, card_sealed, "          \
    "card_masked, card_brand, card_name, exp_month, exp_year, phone"
#define REFUND_COLS "merchant_id, refund_id, payment_id, seq, amount, currency, created_at"
#define PM_COLS                                                                                                 \
    "merchant_id, payment_method_id, type, brand, bin, last4, masked, name, exp_month, exp_year, sealed, "        \
    "created_at"

static pg_store *S(store *s) { return (pg_store *)s; }

static void read_payment(const PGresult *r, int row, void *out)
{
    struct payment_row *p = out;
    memset(p, 0, sizeof *p);
    pg_col_text(r, row, 0, p->merchant_id, sizeof p->merchant_id);
    pg_col_text(r, row, 1, p->payment_id, sizeof p->payment_id);
    p->seq = pg_col_i64(r, row, 2);
    p->amount = pg_col_i64(r, row, 3);
    pg_col_text(r, row, 4, p->currency, sizeof p->currency);
    pg_col_text(r, row, 5, p->method, sizeof p->method);
    pg_col_text(r, row, 6, p->status, sizeof p->status);
    pg_col_text(r, row, 7, p->decline_code, sizeof p->decline_code);
    pg_col_text(r, row, 8, p->decline_message, sizeof p->decline_message);
    pg_col_text(r, row, 9, p->network_code, sizeof p->network_code);
    p->created_at = pg_col_i64(r, row, 10);
    p->settled = !pg_col_null(r, row, 11);
    p->settled_at = pg_col_i64(r, row, 11);
    p->settled_amount = pg_col_i64(r, row, 12);
    p->refunded = pg_col_i64(r, row, 13);
    pg_col_text(r, row, 14, p->payment_method_id, sizeof p->payment_method_id);
    pg_col_text(r, row, 15, p->card_sealed, sizeof p->card_sealed);
    pg_col_text(r, row, 16, p->card_masked, sizeof p->card_masked);
    pg_col_text(r, row, 17, p->card_brand, sizeof p->card_brand);
    pg_col_text(r, row, 18, p->card_name, sizeof p->card_name);
    pg_col_text(r, row, 19, p->exp_month, sizeof p->exp_month);
    pg_col_text(r, row, 20, p->exp_year, sizeof p->exp_year);
    pg_col_text(r, row, 21, p->phone, sizeof p->phone);
}

static void read_refund(const PGresult *r, int row, void *out)
{
    struct refund_row *f = out;
    memset(f, 0, sizeof *f);
    pg_col_text(r, row, 0, f->merchant_id, sizeof f->merchant_id);
    pg_col_text(r, row, 1, f->refund_id, sizeof f->refund_id);
    pg_col_text(r, row, 2, f->payment_id, sizeof f->payment_id);
    f->seq = pg_col_i64(r, row, 3);
    f->amount = pg_col_i64(r, row, 4);
    pg_col_text(r, row, 5, f->currency, sizeof f->currency);
    f->created_at = pg_col_i64(r, row, 6);
}

static void read_pm(const PGresult *r, int row, struct payment_method_row *pm)
{
    memset(pm, 0, sizeof *pm);
    pg_col_text(r, row, 0, pm->merchant_id, sizeof pm->merchant_id);
    pg_col_text(r, row, 1, pm->payment_method_id, sizeof pm->payment_method_id);
    pg_col_text(r, row, 2, pm->type, sizeof pm->type);
    pg_col_text(r, row, 3, pm->brand, sizeof pm->brand);
    pg_col_text(r, row, 4, pm->bin, sizeof pm->bin);
    pg_col_text(r, row, 5, pm->last4, sizeof pm->last4);
    pg_col_text(r, row, 6, pm->masked, sizeof pm->masked);
    pg_col_text(r, row, 7, pm->name, sizeof pm->name);
    pg_col_text(r, row, 8, pm->exp_month, sizeof pm->exp_month);
    pg_col_text(r, row, 9, pm->exp_year, sizeof pm->exp_year);
    pg_col_text(r, row, 10, pm->sealed, sizeof pm->sealed);
    pm->created_at = pg_col_i64(r, row, 11);
}

#define PAY_BY_ID "SELECT " PAY_COLS " FROM gw_payments WHERE merchant_id = $1 AND payment_id = $2"

/* The payment, locked for the rest of the transaction when lock is set. */
static enum store_rc get_payment_on(pg_conn *c, const char *merchant_id, const char *payment_id, int lock,
                                    struct payment_row *out)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    pp_text(&p, payment_id);
    PGresult *r = pg_run(c, lock ? PAY_BY_ID " FOR UPDATE" : PAY_BY_ID, &p);
    if (!r)
        return STORE_ERROR;
    enum store_rc rc = PQntuples(r) ? STORE_OK : STORE_NOT_FOUND;
    if (rc == STORE_OK)
        read_payment(r, 0, out);
    else
        memset(out, 0, sizeof *out);
    PQclear(r);
    return rc;
}

struct payment_insert_args {
    const struct payment_row *p;
    const struct idem_in *idem;
    struct idem_out *out;
};

static enum store_rc payment_insert_fn(pg_conn *c, void *arg)
{
    struct payment_insert_args *a = arg;
    const struct payment_row *pay = a->p;
    enum store_rc rc = pg_idem_claim(c, pay->merchant_id, a->idem, a->out);
    if (rc != STORE_OK)
        return rc;
    int exponent = currency_exponent(pay->currency);
    struct money_scaled scaled = money_to_scaled(pay->amount, exponent < 0 ? 2 : exponent);
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, pay->merchant_id);
    pp_text(&p, pay->payment_id);
    pp_i64(&p, pay->amount);
    pp_text(&p, pay->currency);
    pp_i64(&p, scaled.major);
    pp_i64(&p, scaled.frac4);
    pp_text(&p, pay->method);
    pp_text(&p, pay->status);
    pp_text_or_null(&p, pay->decline_code);
    pp_text_or_null(&p, pay->decline_message);
    pp_text_or_null(&p, pay->network_code);
    pp_i64(&p, pay->created_at);
    pp_i64_or_null(&p, pay->settled, pay->settled_at);
    pp_i64_or_null(&p, pay->settled, pay->settled_amount);
    pp_text_or_null(&p, pay->payment_method_id);
    pp_text_or_null(&p, pay->card_sealed);
    pp_text_or_null(&p, pay->card_masked);
    pp_text_or_null(&p, pay->card_brand);
    pp_text_or_null(&p, pay->card_name);
    pp_text_or_null(&p, pay->exp_month);
    pp_text_or_null(&p, pay->exp_year);
    pp_text_or_null(&p, pay->phone);
    PGresult *r = pg_run(c, "INSERT INTO gw_payments(merchant_id, payment_id, amount, currency, amount_major, "
                            "amount_frac4, method, status, decline_code, decline_message, network_code, created_at, "
                            "settled_at, settled_amount, refunded, payment_method_id, card_sealed, card_masked, "
                            "card_brand, card_name, exp_month, exp_year, phone) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                            "$8, $9, $10, $11, $12, $13, $14, 0, $15, $16, $17, $18, $19, $20, $21, $22)",
                         &p);
    if (!r)
        return pg_rc(c);
    PQclear(r);
    return STORE_OK;
}

static enum store_rc pg_payment_insert(store *s, const struct payment_row *p, const struct idem_in *idem,
                                       struct idem_out *out)
{
    struct payment_insert_args a = {p, idem, out};
    return pg_tx(S(s), payment_insert_fn, &a);
}

static enum store_rc pg_payment_get(store *s, const char *merchant_id, const char *payment_id,
                                    struct payment_row *out)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    pp_text(&p, payment_id);
    PGresult *r = pg_read(S(s), PAY_BY_ID, &p);
    if (!r)
        return STORE_ERROR;
    enum store_rc rc = PQntuples(r) ? STORE_OK : STORE_NOT_FOUND;
    if (rc == STORE_OK)
        read_payment(r, 0, out);
    PQclear(r);
    return rc;
}

static enum store_rc pg_payment_list(store *s, const char *merchant_id, const struct payment_filter *f,
                                     struct payment_row **out, size_t *n)
{
    /* The WHERE clause is built from fixed fragments, one per filter used,
     * with numbered placeholders; each combination is one cached prepared
     * statement and every value is bound. */
    buf sql;
    buf_init(&sql);
    struct pg_params p;
    pp_init(&p);
    buf_puts(&sql, "SELECT " PAY_COLS " FROM gw_payments WHERE merchant_id = $1");
    pp_text(&p, merchant_id);
    if (f->payment_id) {
        pp_text(&p, f->payment_id);
        buf_printf(&sql, " AND payment_id = $%d", p.n);
    }
    if (f->method) {
        pp_text(&p, f->method);
        buf_printf(&sql, " AND method = $%d", p.n);
    }
    if (f->status) {
        pp_text(&p, f->status);
        buf_printf(&sql, " AND status = $%d", p.n);
    }
    if (f->has_amount_gte) {
        pp_i64(&p, f->amount_gte.major);
        pp_i64(&p, f->amount_gte.frac4);
        buf_printf(&sql, " AND (amount_major > $%d OR (amount_major = $%d AND amount_frac4 >= $%d))", p.n - 1,
                   p.n - 1, p.n);
    }
    if (f->has_amount_lte) {
        pp_i64(&p, f->amount_lte.major);
        pp_i64(&p, f->amount_lte.frac4);
        buf_printf(&sql, " AND (amount_major < $%d OR (amount_major = $%d AND amount_frac4 <= $%d))", p.n - 1,
                   p.n - 1, p.n);
    }
    if (f->has_created_gte) {
        pp_i64(&p, f->created_gte);
        buf_printf(&sql, " AND created_at >= $%d", p.n);
    }
    if (f->has_created_lte) {
        pp_i64(&p, f->created_lte);
        buf_printf(&sql, " AND created_at <= $%d", p.n);
    }
    if (f->has_settled_gte) {
        pp_i64(&p, f->settled_gte);
        buf_printf(&sql, " AND settled_at >= $%d", p.n);
    }
    if (f->has_settled_lte) {
        pp_i64(&p, f->settled_lte);
        buf_printf(&sql, " AND settled_at <= $%d", p.n);
    }
    if (f->has_cursor) {
        /* Newest first by (created_at, seq); a row comparison walks the
         * (merchant_id, created_at, seq) index from the cursor on. */
        pp_i64(&p, f->cursor_created_at);
        pp_i64(&p, f->cursor_seq);
        buf_printf(&sql, " AND (created_at, seq) < ($%d, $%d)", p.n - 1, p.n);
    }
    pp_i64(&p, f->limit > 0 ? f->limit : 0);
    buf_printf(&sql, " ORDER BY created_at DESC, seq DESC LIMIT $%d", p.n);

    PGresult *r = pg_read(S(s), buf_cstr(&sql), &p);
    buf_free(&sql);
    return pg_collect(r, sizeof **out, read_payment, (void **)out, n);
}

static int64_t fee_for(int64_t amount, const struct fee_schedule *fees)
{
    if (!fees)
        return 0;
    /* Rounded half up, in minor units; the settlement batch computes the
     * same expression in SQL. */
    return fees->fixed_minor + (amount * fees->bps + 5000) / 10000;
}

#define SETTLE_UPDATE                                                                                            \
    "UPDATE gw_payments SET status = 'settled', settled_at = $3, settled_amount = $4 "                        \
    "WHERE merchant_id = $1 AND payment_id = $2 AND status = 'success'"

struct settle_one_args {
    const char *merchant_id, *payment_id;
    int64_t settled_at, settled_amount;
    const struct fee_schedule *fees;
    struct payment_row *out;
};

static enum store_rc settle_one_fn(pg_conn *c, void *arg)
{
    struct settle_one_args *a = arg;
    struct payment_row pay;
    enum store_rc rc = get_payment_on(c, a->merchant_id, a->payment_id, 1, &pay);
    if (rc != STORE_OK)
        return rc;
    if (strcmp(pay.status, "success") != 0) {
        *a->out = pay;
        return STORE_STATE;
    }
    int64_t amount =
        a->settled_amount >= 0 ? a->settled_amount : pay.amount - pay.refunded - fee_for(pay.amount, a->fees);
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, a->merchant_id);
    pp_text(&p, a->payment_id);
    pp_i64(&p, a->settled_at);
    pp_i64(&p, amount);
    PGresult *r = pg_run(c, SETTLE_UPDATE, &p);
    if (!r)
        return STORE_ERROR;
    PQclear(r);
    return get_payment_on(c, a->merchant_id, a->payment_id, 0, a->out);
}

static enum store_rc pg_payment_settle_one(store *s, const char *merchant_id, const char *payment_id,
                                           int64_t settled_at, int64_t settled_amount,
                                           const struct fee_schedule *fees, struct payment_row *out)
{
    struct settle_one_args a = {merchant_id, payment_id, settled_at, settled_amount, fees, out};
    return pg_tx(S(s), settle_one_fn, &a);
}

struct payment_delete_args {
    const char *merchant_id, *payment_id;
    struct payment_row *out;
};

static enum store_rc payment_delete_fn(pg_conn *c, void *arg)
{
    struct payment_delete_args *a = arg;
    enum store_rc rc = get_payment_on(c, a->merchant_id, a->payment_id, 1, a->out);
    if (rc != STORE_OK)
        return rc;
    if (strcmp(a->out->status, "settled") == 0 || a->out->refunded > 0)
        return STORE_STATE;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, a->merchant_id);
    pp_text(&p, a->payment_id);
    PGresult *r = pg_run(c, "DELETE FROM gw_payments WHERE merchant_id = $1 AND payment_id = $2", &p);
    if (!r)
        return pg_rc(c) == STORE_NOT_FOUND ? STORE_STATE : STORE_ERROR; /* a refund still points at it */
    PQclear(r);
    return STORE_OK;
}

static enum store_rc pg_payment_delete(store *s, const char *merchant_id, const char *payment_id,
                                       struct payment_row *out)
{
    struct payment_delete_args a = {merchant_id, payment_id, out};
    return pg_tx(S(s), payment_delete_fn, &a);
}

/* A batch settles at most this many payments per transaction, so that row
 * locks are held briefly; settle_batch repeats until the backlog is gone. */
#define SETTLE_CHUNK 2000

struct settle_batch_args {
    int64_t now;
    const struct fee_schedule *fees;
    int64_t settled;
};

static enum store_rc settle_batch_fn(pg_conn *c, void *arg)
{
    struct settle_batch_args *a = arg;
    struct pg_params p;
    pp_init(&p);
    pp_i64(&p, a->now);
    pp_i64(&p, SETTLE_CHUNK);
    pp_i64(&p, a->fees ? a->fees->fixed_minor : 0);
    pp_i64(&p, a->fees ? a->fees->bps : 0);
    /* SKIP LOCKED: rows another node is settling, or a refund holds, are
     * left to that transaction or to the next batch, never settled twice. */
    PGresult *r = pg_run(c, "WITH due AS (SELECT merchant_id, payment_id FROM gw_payments "
                            "WHERE status = 'success' AND created_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED) "
                            "UPDATE gw_payments g SET status = 'settled', settled_at = $1, "
                            "settled_amount = g.amount - g.refunded - ($3 + (g.amount * $4 + 5000) / 10000) "
                            "FROM due WHERE g.merchant_id = due.merchant_id AND g.payment_id = due.payment_id",
                         &p);
    if (!r)
        return STORE_ERROR;
    if (str_to_i64(PQcmdTuples(r), &a->settled) != 0)
        a->settled = 0;
    PQclear(r);
    return STORE_OK;
}

static enum store_rc pg_settle_batch(store *s, int64_t now, const struct fee_schedule *fees, int64_t *settled)
{
    int64_t total = 0;
    enum store_rc rc;
    for (;;) {
        struct settle_batch_args a = {now, fees, 0};
        rc = pg_tx(S(s), settle_batch_fn, &a);
        if (rc != STORE_OK)
            break;
        total += a.settled;
        if (a.settled < SETTLE_CHUNK)
            break;
    }
    if (settled)
        *settled = total;
    return rc;
}

struct refund_insert_args {
    const struct refund_row *r;
    const struct idem_in *idem;
    struct idem_out *out;
    int64_t refundable;
};

static enum store_rc refund_insert_fn(pg_conn *c, void *arg)
{
    struct refund_insert_args *a = arg;
    const struct refund_row *ref = a->r;
    enum store_rc rc = pg_idem_claim(c, ref->merchant_id, a->idem, a->out);
    if (rc != STORE_OK)
        return rc;
    /* The row lock makes racing refunds of one payment take turns: each
     * sees the balance the previous one left. */
    struct payment_row pay;
    rc = get_payment_on(c, ref->merchant_id, ref->payment_id, 1, &pay);
    if (rc != STORE_OK)
        return rc;
    a->refundable = pay.amount - pay.refunded;
    if (strcmp(pay.status, "error") == 0)
        return STORE_STATE;
    if (ref->amount > a->refundable)
        return STORE_LIMIT;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, ref->merchant_id);
    pp_text(&p, ref->refund_id);
    pp_text(&p, ref->payment_id);
    pp_i64(&p, ref->amount);
    pp_text(&p, pay.currency);
    pp_i64(&p, ref->created_at);
    PGresult *r = pg_run(c, "INSERT INTO gw_refunds(merchant_id, refund_id, payment_id, amount, currency, created_at) "
                            "VALUES ($1, $2, $3, $4, $5, $6)",
                         &p);
    if (!r)
        return pg_rc(c);
    PQclear(r);
    pp_init(&p);
    pp_text(&p, ref->merchant_id);
    pp_text(&p, ref->payment_id);
    pp_i64(&p, ref->amount);
    r = pg_run(c, "UPDATE gw_payments SET refunded = refunded + $3 WHERE merchant_id = $1 AND payment_id = $2", &p);
    if (!r)
        return STORE_ERROR;
    PQclear(r);
    a->refundable -= ref->amount;
    return STORE_OK;
}

static enum store_rc pg_refund_insert(store *s, const struct refund_row *r, const struct idem_in *idem,
                                      struct idem_out *out, int64_t *refundable)
{
    struct refund_insert_args a = {r, idem, out, 0};
    enum store_rc rc = pg_tx(S(s), refund_insert_fn, &a);
    if (refundable)
        *refundable = a.refundable;
    return rc;
}

static enum store_rc pg_refund_get(store *s, const char *merchant_id, const char *refund_id, struct refund_row *out)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    pp_text(&p, refund_id);
    PGresult *r = pg_read(S(s), "SELECT " REFUND_COLS " FROM gw_refunds WHERE merchant_id = $1 AND refund_id = $2",
                            &p);
    if (!r)
        return STORE_ERROR;
    enum store_rc rc = PQntuples(r) ? STORE_OK : STORE_NOT_FOUND;
    if (rc == STORE_OK)
        read_refund(r, 0, out);
    PQclear(r);
    return rc;
}

static enum store_rc pg_refund_list(store *s, const char *merchant_id, const struct refund_filter *f,
                                    struct refund_row **out, size_t *n)
{
    buf sql;
    buf_init(&sql);
    struct pg_params p;
    pp_init(&p);
    buf_puts(&sql, "SELECT " REFUND_COLS " FROM gw_refunds WHERE merchant_id = $1");
    pp_text(&p, merchant_id);
    if (f->payment_id) {
        pp_text(&p, f->payment_id);
        buf_printf(&sql, " AND payment_id = $%d", p.n);
    }
    if (f->refund_id) {
        pp_text(&p, f->refund_id);
        buf_printf(&sql, " AND refund_id = $%d", p.n);
    }
    if (f->before_seq > 0) {
        pp_i64(&p, f->before_seq);
        buf_printf(&sql, " AND seq < $%d", p.n);
    }
    pp_i64(&p, f->limit > 0 ? f->limit : 0);
    buf_printf(&sql, " ORDER BY seq DESC LIMIT $%d", p.n);
    PGresult *r = pg_read(S(s), buf_cstr(&sql), &p);
    buf_free(&sql);
    return pg_collect(r, sizeof **out, read_refund, (void **)out, n);
}

struct pm_insert_args {
    const struct payment_method_row *pm;
    const struct idem_in *idem;
    struct idem_out *out;
};

static enum store_rc pm_insert_fn(pg_conn *c, void *arg)
{
    struct pm_insert_args *a = arg;
    const struct payment_method_row *pm = a->pm;
    enum store_rc rc = pg_idem_claim(c, pm->merchant_id, a->idem, a->out);
    if (rc != STORE_OK)
        return rc;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, pm->merchant_id);
    pp_text(&p, pm->payment_method_id);
    pp_text(&p, pm->type);
    pp_text(&p, pm->brand);
    pp_text(&p, pm->bin);
    pp_text(&p, pm->last4);
    pp_text(&p, pm->masked);
    pp_text(&p, pm->name);
    pp_text(&p, pm->exp_month);
    pp_text(&p, pm->exp_year);
    pp_text(&p, pm->sealed);
    pp_i64(&p, pm->created_at);
    PGresult *r = pg_run(c, "INSERT INTO gw_payment_methods(" PM_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                            "$10, $11, $12)",
                         &p);
    if (!r)
        return pg_rc(c) == STORE_EXISTS ? STORE_EXISTS : STORE_ERROR;
    PQclear(r);
    return STORE_OK;
}

static enum store_rc pg_pm_insert(store *s, const struct payment_method_row *pm, const struct idem_in *idem,
                                  struct idem_out *out)
{
    struct pm_insert_args a = {pm, idem, out};
    return pg_tx(S(s), pm_insert_fn, &a);
}

static enum store_rc pg_pm_get(store *s, const char *merchant_id, const char *pm_id, struct payment_method_row *out)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    pp_text(&p, pm_id);
    PGresult *r = pg_read(
        S(s), "SELECT " PM_COLS " FROM gw_payment_methods WHERE merchant_id = $1 AND payment_method_id = $2", &p);
    if (!r)
        return STORE_ERROR;
    enum store_rc rc = PQntuples(r) ? STORE_OK : STORE_NOT_FOUND;
    if (rc == STORE_OK)
        read_pm(r, 0, out);
    PQclear(r);
    return rc;
}

struct pm_delete_args {
    const char *merchant_id, *pm_id;
};

static enum store_rc pm_delete_fn(pg_conn *c, void *arg)
{
    struct pm_delete_args *a = arg;
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, a->merchant_id);
    pp_text(&p, a->pm_id);
    PGresult *r = pg_run(c, "DELETE FROM gw_payment_methods WHERE merchant_id = $1 AND payment_method_id = $2", &p);
    if (!r)
        return STORE_ERROR;
    int changed = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    return changed ? STORE_OK : STORE_NOT_FOUND;
}

static enum store_rc pg_pm_delete(store *s, const char *merchant_id, const char *pm_id)
{
    struct pm_delete_args a = {merchant_id, pm_id};
    return pg_tx(S(s), pm_delete_fn, &a);
}

static enum store_rc pg_pm_charges(store *s, const char *merchant_id, const char *pm_id, int64_t *count)
{
    struct pg_params p;
    pp_init(&p);
    pp_text(&p, merchant_id);
    pp_text(&p, pm_id);
    PGresult *r =
        pg_read(S(s), "SELECT COUNT(*) FROM gw_payments WHERE merchant_id = $1 AND payment_method_id = $2", &p);
    if (!r)
        return STORE_ERROR;
    *count = PQntuples(r) ? pg_col_i64(r, 0, 0) : 0;
    PQclear(r);
    return STORE_OK;
}

const struct store_gateway_ops pg_gateway_ops = {
    .payment_insert = pg_payment_insert,
    .payment_get = pg_payment_get,
    .payment_list = pg_payment_list,
    .payment_settle_one = pg_payment_settle_one,
    .payment_delete = pg_payment_delete,
    .settle_batch = pg_settle_batch,
    .refund_insert = pg_refund_insert,
    .refund_get = pg_refund_get,
    .refund_list = pg_refund_list,
    .payment_method_insert = pg_pm_insert,
    .payment_method_get = pg_pm_get,
    .payment_method_delete = pg_pm_delete,
    .payment_method_charges = pg_pm_charges,
};
