/* Gateway payments, refunds and stored payment methods on SQLite. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/money.h"
#include "store/sqlite/sqlite_store.h"

#define PAY_COLS                                                                                                \
    "merchant_id, payment_id, seq, amount, currency, method, status, decline_code, decline_message, "            \
    "network_code, created_at, settled_at, settled_amount, refunded, payment_method_id, card_sealed, "          \
    "card_masked, card_brand, card_name, exp_month, exp_year, phone"
#define REFUND_COLS "merchant_id, refund_id, payment_id, seq, amount, currency, created_at"
#define PM_COLS                                                                                                 \
    "merchant_id, payment_method_id, type, brand, bin, last4, masked, name, exp_month, exp_year, sealed, "        \
    "created_at"

static sq_store *S(store *s) { return (sq_store *)s; }

static void read_payment(sqlite3_stmt *st, void *row)
{
    struct payment_row *p = row;
    sq_col_text(st, 0, p->merchant_id, sizeof p->merchant_id);
    sq_col_text(st, 1, p->payment_id, sizeof p->payment_id);
    p->seq = sqlite3_column_int64(st, 2);
    p->amount = sqlite3_column_int64(st, 3);
    sq_col_text(st, 4, p->currency, sizeof p->currency);
    sq_col_text(st, 5, p->method, sizeof p->method);
    sq_col_text(st, 6, p->status, sizeof p->status);
    sq_col_text(st, 7, p->decline_code, sizeof p->decline_code);
    sq_col_text(st, 8, p->decline_message, sizeof p->decline_message);
    sq_col_text(st, 9, p->network_code, sizeof p->network_code);
    p->created_at = sqlite3_column_int64(st, 10);
    p->settled = sqlite3_column_type(st, 11) != SQLITE_NULL;
    p->settled_at = sqlite3_column_int64(st, 11);
    p->settled_amount = sqlite3_column_int64(st, 12);
    p->refunded = sqlite3_column_int64(st, 13);
    sq_col_text(st, 14, p->payment_method_id, sizeof p->payment_method_id);
    sq_col_text(st, 15, p->card_sealed, sizeof p->card_sealed);
    sq_col_text(st, 16, p->card_masked, sizeof p->card_masked);
    sq_col_text(st, 17, p->card_brand, sizeof p->card_brand);
    sq_col_text(st, 18, p->card_name, sizeof p->card_name);
    sq_col_text(st, 19, p->exp_month, sizeof p->exp_month);
    sq_col_text(st, 20, p->exp_year, sizeof p->exp_year);
    sq_col_text(st, 21, p->phone, sizeof p->phone);
}

static void read_refund(sqlite3_stmt *st, void *row)
{
    struct refund_row *r = row;
    sq_col_text(st, 0, r->merchant_id, sizeof r->merchant_id);
    sq_col_text(st, 1, r->refund_id, sizeof r->refund_id);
    sq_col_text(st, 2, r->payment_id, sizeof r->payment_id);
    r->seq = sqlite3_column_int64(st, 3);
    r->amount = sqlite3_column_int64(st, 4);
    sq_col_text(st, 5, r->currency, sizeof r->currency);
    r->created_at = sqlite3_column_int64(st, 6);
}

static enum store_rc get_payment_on(sq_conn *c, const char *merchant_id, const char *payment_id,
                                    struct payment_row *out)
{
    sqlite3_stmt *st = sq_stmt(c, "SELECT " PAY_COLS " FROM gw_payments WHERE merchant_id = ?1 AND payment_id = ?2");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, merchant_id);
    sq_bind_text(st, 2, payment_id);
    memset(out, 0, sizeof *out);
    return sq_fetch_one(c, st, read_payment, out, "payment_get");
}

struct payment_insert_args {
    const struct payment_row *p;
    const struct idem_in *idem;
    struct idem_out *out;
};

static enum store_rc payment_insert_fn(sq_conn *c, void *arg)
{
    struct payment_insert_args *a = arg;
    const struct payment_row *p = a->p;
    enum store_rc rc = sq_idem_check(c, p->merchant_id, a->idem, a->out);
    if (rc != STORE_OK)
        return rc;
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO gw_payments(merchant_id, payment_id, seq, amount, currency, amount_major, "
                                     "amount_frac4, method, status, decline_code, decline_message, network_code, "
                                     "created_at, settled_at, settled_amount, refunded, payment_method_id, "
                                     "card_sealed, card_masked, card_brand, card_name, exp_month, exp_year, phone) "
                                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?23, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 0, "
                                     "?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, p->merchant_id);
    sq_bind_text(st, 2, p->payment_id);
    sqlite3_bind_int64(st, 3, sq_next_seq(c, "gw_payments"));
    sqlite3_bind_int64(st, 4, p->amount);
    sq_bind_text(st, 5, p->currency);
    int exponent = currency_exponent(p->currency);
    struct money_scaled scaled = money_to_scaled(p->amount, exponent < 0 ? 2 : exponent);
    sqlite3_bind_int64(st, 6, scaled.major);
    sqlite3_bind_int(st, 23, scaled.frac4);
    sq_bind_text(st, 7, p->method);
    sq_bind_text(st, 8, p->status);
    sq_bind_text_or_null(st, 9, p->decline_code);
    sq_bind_text_or_null(st, 10, p->decline_message);
    sq_bind_text_or_null(st, 11, p->network_code);
    sqlite3_bind_int64(st, 12, p->created_at);
    sq_bind_i64_or_null(st, 13, p->settled, p->settled_at);
    sq_bind_i64_or_null(st, 14, p->settled, p->settled_amount);
    sq_bind_text_or_null(st, 15, p->payment_method_id);
    sq_bind_text_or_null(st, 16, p->card_sealed);
    sq_bind_text_or_null(st, 17, p->card_masked);
    sq_bind_text_or_null(st, 18, p->card_brand);
    sq_bind_text_or_null(st, 19, p->card_name);
    sq_bind_text_or_null(st, 20, p->exp_month);
    sq_bind_text_or_null(st, 21, p->exp_year);
    sq_bind_text_or_null(st, 22, p->phone);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if ((r & 0xff) == SQLITE_CONSTRAINT)
        return r == SQLITE_CONSTRAINT_FOREIGNKEY ? STORE_NOT_FOUND : STORE_EXISTS;
    if (r != SQLITE_DONE)
        return sq_fail(c, "payment_insert");
    return sq_idem_record(c, p->merchant_id, a->idem);
}

static enum store_rc sq_payment_insert(store *s, const struct payment_row *p, const struct idem_in *idem,
                                       struct idem_out *out)
{
    struct payment_insert_args a = {p, idem, out};
    return sq_write(S(s), payment_insert_fn, &a);
}

static enum store_rc sq_payment_get(store *s, const char *merchant_id, const char *payment_id,
                                    struct payment_row *out)
{
    sq_conn *c = sq_read_acquire(S(s));
    if (!c)
        return STORE_ERROR;
    enum store_rc rc = get_payment_on(c, merchant_id, payment_id, out);
    sq_read_release(S(s), c);
    return rc;
}

/* The filter bits of a payment listing, in the order of their placeholders. */
enum {
    PF_ID = 1 << 0,
    PF_METHOD = 1 << 1,
    PF_STATUS = 1 << 2,
    PF_AMOUNT_GTE = 1 << 3,
    PF_AMOUNT_LTE = 1 << 4,
    PF_CREATED_GTE = 1 << 5,
    PF_CREATED_LTE = 1 << 6,
    PF_SETTLED_GTE = 1 << 7,
    PF_SETTLED_LTE = 1 << 8,
    PF_CURSOR = 1 << 9,
};

static const char *const payment_filter_sql[] = {
    " AND payment_id = ?",  " AND method = ?",     " AND status = ?",      " AND (amount_major > ? OR (amount_major = ? AND amount_frac4 >= ?))",
    " AND (amount_major < ? OR (amount_major = ? AND amount_frac4 <= ?))",
    " AND created_at >= ?", " AND created_at <= ?", " AND settled_at >= ?", " AND settled_at <= ?",
    " AND (created_at < ? OR (created_at = ? AND seq < ?))",
};

static enum store_rc sq_payment_list(store *s, const char *merchant_id, const struct payment_filter *f,
                                     struct payment_row **out, size_t *n)
{
    unsigned mask = (f->payment_id ? PF_ID : 0) | (f->method ? PF_METHOD : 0) | (f->status ? PF_STATUS : 0) |
                    (f->has_amount_gte ? PF_AMOUNT_GTE : 0) | (f->has_amount_lte ? PF_AMOUNT_LTE : 0) |
                    (f->has_created_gte ? PF_CREATED_GTE : 0) | (f->has_created_lte ? PF_CREATED_LTE : 0) |
                    (f->has_settled_gte ? PF_SETTLED_GTE : 0) | (f->has_settled_lte ? PF_SETTLED_LTE : 0) |
                    (f->has_cursor ? PF_CURSOR : 0);
    buf sql;
    buf_init(&sql);
    buf_puts(&sql, "SELECT " PAY_COLS " FROM gw_payments WHERE merchant_id = ?");
    for (unsigned i = 0; i < sizeof payment_filter_sql / sizeof payment_filter_sql[0]; i++)
        if (mask & (1u << i))
            buf_puts(&sql, payment_filter_sql[i]);
    buf_puts(&sql, " ORDER BY created_at DESC, seq DESC LIMIT ?");

    sq_conn *c = sq_read_acquire(S(s));
    if (!c) {
        buf_free(&sql);
        return STORE_ERROR;
    }
    enum store_rc rc = STORE_ERROR;
    sqlite3_stmt *st = sq_stmt(c, buf_cstr(&sql));
    buf_free(&sql);
    if (st) {
        int i = 1;
        sq_bind_text(st, i++, merchant_id);
        if (mask & PF_ID)
            sq_bind_text(st, i++, f->payment_id);
        if (mask & PF_METHOD)
            sq_bind_text(st, i++, f->method);
        if (mask & PF_STATUS)
            sq_bind_text(st, i++, f->status);
        if (mask & PF_AMOUNT_GTE) {
            sqlite3_bind_int64(st, i++, f->amount_gte.major);
            sqlite3_bind_int64(st, i++, f->amount_gte.major);
            sqlite3_bind_int(st, i++, f->amount_gte.frac4);
        }
        if (mask & PF_AMOUNT_LTE) {
            sqlite3_bind_int64(st, i++, f->amount_lte.major);
            sqlite3_bind_int64(st, i++, f->amount_lte.major);
            sqlite3_bind_int(st, i++, f->amount_lte.frac4);
        }
        if (mask & PF_CREATED_GTE)
            sqlite3_bind_int64(st, i++, f->created_gte);
        if (mask & PF_CREATED_LTE)
            sqlite3_bind_int64(st, i++, f->created_lte);
        if (mask & PF_SETTLED_GTE)
            sqlite3_bind_int64(st, i++, f->settled_gte);
        if (mask & PF_SETTLED_LTE)
            sqlite3_bind_int64(st, i++, f->settled_lte);
        if (mask & PF_CURSOR) {
            sqlite3_bind_int64(st, i++, f->cursor_created_at);
            sqlite3_bind_int64(st, i++, f->cursor_created_at);
            sqlite3_bind_int64(st, i++, f->cursor_seq);
        }
        sqlite3_bind_int(st, i, f->limit);
        size_t count = 0;
        void *rows = NULL;
        /* Rows are large; read them one by one into an exactly sized array. */
        struct payment_row *arr = calloc((size_t)(f->limit > 0 ? f->limit : 1), sizeof *arr);
        if (arr) {
            int r;
            while ((r = sqlite3_step(st)) == SQLITE_ROW && count < (size_t)f->limit)
                read_payment(st, &arr[count++]);
            sqlite3_reset(st);
            if (r == SQLITE_DONE || r == SQLITE_ROW) {
                rows = arr;
                rc = STORE_OK;
            } else {
                free(arr);
                rc = sq_fail(c, "payment_list");
            }
        }
        *out = rows;
        *n = count;
    }
    sq_read_release(S(s), c);
    return rc;
}

static int64_t fee_for(int64_t amount, const struct fee_schedule *fees)
{
    if (!fees)
        return 0;
    /* Rounded half up, in minor units. */
    return fees->fixed_minor + (amount * fees->bps + 5000) / 10000;
}

struct settle_one_args {
    const char *merchant_id, *payment_id;
    int64_t settled_at, settled_amount;
    const struct fee_schedule *fees;
    struct payment_row *out;
};

static enum store_rc settle_one_fn(sq_conn *c, void *arg)
{
    struct settle_one_args *a = arg;
    struct payment_row p;
    enum store_rc rc = get_payment_on(c, a->merchant_id, a->payment_id, &p);
    if (rc != STORE_OK)
        return rc;
    if (strcmp(p.status, "success") != 0) {
        *a->out = p;
        return STORE_STATE;
    }
    int64_t amount = a->settled_amount >= 0 ? a->settled_amount : p.amount - p.refunded - fee_for(p.amount, a->fees);
    sqlite3_stmt *st = sq_stmt(c, "UPDATE gw_payments SET status = 'settled', settled_at = ?3, settled_amount = ?4 "
                                     "WHERE merchant_id = ?1 AND payment_id = ?2 AND status = 'success'");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, a->merchant_id);
    sq_bind_text(st, 2, a->payment_id);
    sqlite3_bind_int64(st, 3, a->settled_at);
    sqlite3_bind_int64(st, 4, amount);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return sq_fail(c, "payment_settle_one");
    return get_payment_on(c, a->merchant_id, a->payment_id, a->out);
}

static enum store_rc sq_payment_settle_one(store *s, const char *merchant_id, const char *payment_id,
                                           int64_t settled_at, int64_t settled_amount,
                                           const struct fee_schedule *fees, struct payment_row *out)
{
    struct settle_one_args a = {merchant_id, payment_id, settled_at, settled_amount, fees, out};
    return sq_write(S(s), settle_one_fn, &a);
}

struct payment_delete_args {
    const char *merchant_id, *payment_id;
    struct payment_row *out;
};

static enum store_rc payment_delete_fn(sq_conn *c, void *arg)
{
    struct payment_delete_args *a = arg;
    enum store_rc rc = get_payment_on(c, a->merchant_id, a->payment_id, a->out);
    if (rc != STORE_OK)
        return rc;
    if (strcmp(a->out->status, "settled") == 0 || a->out->refunded > 0)
        return STORE_STATE;
    sqlite3_stmt *st = sq_stmt(c, "DELETE FROM gw_payments WHERE merchant_id = ?1 AND payment_id = ?2");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, a->merchant_id);
    sq_bind_text(st, 2, a->payment_id);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r == SQLITE_CONSTRAINT_FOREIGNKEY)
        return STORE_STATE;
    return r == SQLITE_DONE ? STORE_OK : sq_fail(c, "payment_delete");
}

static enum store_rc sq_payment_delete(store *s, const char *merchant_id, const char *payment_id,
                                       struct payment_row *out)
{
    struct payment_delete_args a = {merchant_id, payment_id, out};
    return sq_write(S(s), payment_delete_fn, &a);
}

/* A batch settles at most this many payments per transaction, so that a
 * large backlog never holds the single writer (and every request waiting on
 * it) for long; settle_batch repeats until the backlog is gone. */
#define SETTLE_CHUNK 2000

struct settle_batch_args {
    int64_t now;
    const struct fee_schedule *fees;
    int64_t settled;
};

static enum store_rc settle_batch_fn(sq_conn *c, void *arg)
{
    struct settle_batch_args *a = arg;
    sqlite3_stmt *sel = sq_stmt(c, "SELECT merchant_id, payment_id, amount, refunded FROM gw_payments "
                                     "WHERE status = 'success' AND created_at <= ?1 LIMIT ?2");
    if (!sel)
        return STORE_ERROR;
    sqlite3_bind_int64(sel, 1, a->now);
    sqlite3_bind_int(sel, 2, SETTLE_CHUNK);
    /* Collect first: updating rows while stepping over the same index would
     * make the scan see its own changes. */
    struct cand {
        char merchant_id[ID_MAX];
        char payment_id[PAYMENT_ID_LEN + 1];
        int64_t amount, refunded;
    } *cands = NULL;
    size_t n = 0, cap = 0;
    int r;
    while ((r = sqlite3_step(sel)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct cand *nc = realloc(cands, cap * sizeof *cands);
            if (!nc) {
                free(cands);
                sqlite3_reset(sel);
                return STORE_ERROR;
            }
            cands = nc;
        }
        sq_col_text(sel, 0, cands[n].merchant_id, sizeof cands[n].merchant_id);
        sq_col_text(sel, 1, cands[n].payment_id, sizeof cands[n].payment_id);
        cands[n].amount = sqlite3_column_int64(sel, 2);
        cands[n].refunded = sqlite3_column_int64(sel, 3);
        n++;
    }
    sqlite3_reset(sel);
    if (r != SQLITE_DONE) {
        free(cands);
        return sq_fail(c, "settle_batch select");
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = sq_stmt(c, "UPDATE gw_payments SET status = 'settled', settled_at = ?3, settled_amount = ?4 "
                                     "WHERE merchant_id = ?1 AND payment_id = ?2 AND status = 'success'");
        if (!st) {
            free(cands);
            return STORE_ERROR;
        }
        sq_bind_text(st, 1, cands[i].merchant_id);
        sq_bind_text(st, 2, cands[i].payment_id);
        sqlite3_bind_int64(st, 3, a->now);
        sqlite3_bind_int64(st, 4, cands[i].amount - cands[i].refunded - fee_for(cands[i].amount, a->fees));
        r = sqlite3_step(st);
        sqlite3_reset(st);
        if (r != SQLITE_DONE) {
            free(cands);
            return sq_fail(c, "settle_batch update");
        }
    }
    free(cands);
    a->settled = (int64_t)n;
    return STORE_OK;
}

static enum store_rc sq_settle_batch(store *s, int64_t now, const struct fee_schedule *fees, int64_t *settled)
{
    int64_t total = 0;
    enum store_rc rc;
    for (;;) {
        struct settle_batch_args a = {now, fees, 0};
        rc = sq_write(S(s), settle_batch_fn, &a);
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

static enum store_rc refund_insert_fn(sq_conn *c, void *arg)
{
    struct refund_insert_args *a = arg;
    const struct refund_row *r = a->r;
    enum store_rc rc = sq_idem_check(c, r->merchant_id, a->idem, a->out);
    if (rc != STORE_OK)
        return rc;
    struct payment_row p;
    rc = get_payment_on(c, r->merchant_id, r->payment_id, &p);
    if (rc != STORE_OK)
        return rc;
    a->refundable = p.amount - p.refunded;
    if (strcmp(p.status, "error") == 0)
        return STORE_STATE;
    /* The single writer runs this check and the insert with no other write
     * in between, so racing refunds cannot both pass it. */
    if (r->amount > a->refundable)
        return STORE_LIMIT;
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO gw_refunds(merchant_id, refund_id, payment_id, seq, amount, currency, "
                                     "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, r->merchant_id);
    sq_bind_text(st, 2, r->refund_id);
    sq_bind_text(st, 3, r->payment_id);
    sqlite3_bind_int64(st, 4, sq_next_seq(c, "gw_refunds"));
    sqlite3_bind_int64(st, 5, r->amount);
    sq_bind_text(st, 6, p.currency);
    sqlite3_bind_int64(st, 7, r->created_at);
    int rr = sqlite3_step(st);
    sqlite3_reset(st);
    if (rr != SQLITE_DONE)
        return sq_fail(c, "refund_insert");
    st = sq_stmt(c, "UPDATE gw_payments SET refunded = refunded + ?3 WHERE merchant_id = ?1 AND "
                                     "payment_id = ?2");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, r->merchant_id);
    sq_bind_text(st, 2, r->payment_id);
    sqlite3_bind_int64(st, 3, r->amount);
    rr = sqlite3_step(st);
    sqlite3_reset(st);
    if (rr != SQLITE_DONE)
        return sq_fail(c, "refund_insert balance");
    a->refundable -= r->amount;
    return sq_idem_record(c, r->merchant_id, a->idem);
}

static enum store_rc sq_refund_insert(store *s, const struct refund_row *r, const struct idem_in *idem,
                                      struct idem_out *out, int64_t *refundable)
{
    struct refund_insert_args a = {r, idem, out, 0};
    enum store_rc rc = sq_write(S(s), refund_insert_fn, &a);
    if (refundable)
        *refundable = a.refundable;
    return rc;
}

static enum store_rc sq_refund_get(store *s, const char *merchant_id, const char *refund_id, struct refund_row *out)
{
    const char *params[] = {merchant_id, refund_id, NULL};
    return sq_read_one(S(s), "SELECT " REFUND_COLS " FROM gw_refunds WHERE merchant_id = ?1 AND refund_id = ?2", params,
                       read_refund, out);
}

static enum store_rc sq_refund_list(store *s, const char *merchant_id, const struct refund_filter *f,
                                    struct refund_row **out, size_t *n)
{
    enum { RF_PAYMENT = 1, RF_REFUND = 2, RF_CURSOR = 4 };
    unsigned mask = (f->payment_id ? RF_PAYMENT : 0) | (f->refund_id ? RF_REFUND : 0) | (f->before_seq > 0 ? RF_CURSOR : 0);
    buf sql;
    buf_init(&sql);
    buf_puts(&sql, "SELECT " REFUND_COLS " FROM gw_refunds WHERE merchant_id = ?");
    if (mask & RF_PAYMENT)
        buf_puts(&sql, " AND payment_id = ?");
    if (mask & RF_REFUND)
        buf_puts(&sql, " AND refund_id = ?");
    if (mask & RF_CURSOR)
        buf_puts(&sql, " AND seq < ?");
    buf_puts(&sql, " ORDER BY seq DESC LIMIT ?");
    sq_conn *c = sq_read_acquire(S(s));
    if (!c) {
        buf_free(&sql);
        return STORE_ERROR;
    }
    enum store_rc rc = STORE_ERROR;
    sqlite3_stmt *st = sq_stmt(c, buf_cstr(&sql));
    buf_free(&sql);
    if (st) {
        int i = 1;
        sq_bind_text(st, i++, merchant_id);
        if (mask & RF_PAYMENT)
            sq_bind_text(st, i++, f->payment_id);
        if (mask & RF_REFUND)
            sq_bind_text(st, i++, f->refund_id);
        if (mask & RF_CURSOR)
            sqlite3_bind_int64(st, i++, f->before_seq);
        sqlite3_bind_int(st, i, f->limit);
        size_t count = 0;
        struct refund_row *arr = calloc((size_t)(f->limit > 0 ? f->limit : 1), sizeof *arr);
        if (arr) {
            int r;
            while ((r = sqlite3_step(st)) == SQLITE_ROW && count < (size_t)f->limit)
                read_refund(st, &arr[count++]);
            sqlite3_reset(st);
            if (r == SQLITE_DONE || r == SQLITE_ROW) {
                rc = STORE_OK;
            } else {
                free(arr);
                arr = NULL;
                count = 0;
                rc = sq_fail(c, "refund_list");
            }
        }
        *out = arr;
        *n = count;
    }
    sq_read_release(S(s), c);
    return rc;
}

struct pm_insert_args {
    const struct payment_method_row *pm;
    const struct idem_in *idem;
    struct idem_out *out;
};

static enum store_rc pm_insert_fn(sq_conn *c, void *arg)
{
    struct pm_insert_args *a = arg;
    const struct payment_method_row *pm = a->pm;
    enum store_rc rc = sq_idem_check(c, pm->merchant_id, a->idem, a->out);
    if (rc != STORE_OK)
        return rc;
    sqlite3_stmt *st = sq_stmt(c, "INSERT INTO gw_payment_methods(" PM_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                                     "?8, ?9, ?10, ?11, ?12)");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, pm->merchant_id);
    sq_bind_text(st, 2, pm->payment_method_id);
    sq_bind_text(st, 3, pm->type);
    sq_bind_text(st, 4, pm->brand);
    sq_bind_text(st, 5, pm->bin);
    sq_bind_text(st, 6, pm->last4);
    sq_bind_text(st, 7, pm->masked);
    sq_bind_text(st, 8, pm->name);
    sq_bind_text(st, 9, pm->exp_month);
    sq_bind_text(st, 10, pm->exp_year);
    sq_bind_text(st, 11, pm->sealed);
    sqlite3_bind_int64(st, 12, pm->created_at);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if ((r & 0xff) == SQLITE_CONSTRAINT)
        return STORE_EXISTS;
    if (r != SQLITE_DONE)
        return sq_fail(c, "payment_method_insert");
    return sq_idem_record(c, pm->merchant_id, a->idem);
}

static enum store_rc sq_pm_insert(store *s, const struct payment_method_row *pm, const struct idem_in *idem,
                                  struct idem_out *out)
{
    struct pm_insert_args a = {pm, idem, out};
    return sq_write(S(s), pm_insert_fn, &a);
}

static void read_pm(sqlite3_stmt *st, void *row)
{
    struct payment_method_row *pm = row;
    sq_col_text(st, 0, pm->merchant_id, sizeof pm->merchant_id);
    sq_col_text(st, 1, pm->payment_method_id, sizeof pm->payment_method_id);
    sq_col_text(st, 2, pm->type, sizeof pm->type);
    sq_col_text(st, 3, pm->brand, sizeof pm->brand);
    sq_col_text(st, 4, pm->bin, sizeof pm->bin);
    sq_col_text(st, 5, pm->last4, sizeof pm->last4);
    sq_col_text(st, 6, pm->masked, sizeof pm->masked);
    sq_col_text(st, 7, pm->name, sizeof pm->name);
    sq_col_text(st, 8, pm->exp_month, sizeof pm->exp_month);
    sq_col_text(st, 9, pm->exp_year, sizeof pm->exp_year);
    sq_col_text(st, 10, pm->sealed, sizeof pm->sealed);
    pm->created_at = sqlite3_column_int64(st, 11);
}

static enum store_rc sq_pm_get(store *s, const char *merchant_id, const char *pm_id, struct payment_method_row *out)
{
    const char *params[] = {merchant_id, pm_id, NULL};
    return sq_read_one(S(s),
                       "SELECT " PM_COLS " FROM gw_payment_methods WHERE merchant_id = ?1 AND payment_method_id = ?2",
                       params, read_pm, out);
}

struct pm_delete_args {
    const char *merchant_id, *pm_id;
};

static enum store_rc pm_delete_fn(sq_conn *c, void *arg)
{
    struct pm_delete_args *a = arg;
    sqlite3_stmt *st = sq_stmt(c, "DELETE FROM gw_payment_methods WHERE merchant_id = ?1 AND payment_method_id = ?2");
    if (!st)
        return STORE_ERROR;
    sq_bind_text(st, 1, a->merchant_id);
    sq_bind_text(st, 2, a->pm_id);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        return sq_fail(c, "payment_method_delete");
    return sqlite3_changes(c->db) ? STORE_OK : STORE_NOT_FOUND;
}

static enum store_rc sq_pm_delete(store *s, const char *merchant_id, const char *pm_id)
{
    struct pm_delete_args a = {merchant_id, pm_id};
    return sq_write(S(s), pm_delete_fn, &a);
}

static void read_count(sqlite3_stmt *st, void *row) { *(int64_t *)row = sqlite3_column_int64(st, 0); }

static enum store_rc sq_pm_charges(store *s, const char *merchant_id, const char *pm_id, int64_t *count)
{
    const char *params[] = {merchant_id, pm_id, NULL};
    *count = 0;
    return sq_read_one(S(s), "SELECT COUNT(*) FROM gw_payments WHERE merchant_id = ?1 AND payment_method_id = ?2",
                       params, read_count, count);
}

const struct store_gateway_ops sqlite_gateway_ops = {
    .payment_insert = sq_payment_insert,
    .payment_get = sq_payment_get,
    .payment_list = sq_payment_list,
    .payment_settle_one = sq_payment_settle_one,
    .payment_delete = sq_payment_delete,
    .settle_batch = sq_settle_batch,
    .refund_insert = sq_refund_insert,
    .refund_get = sq_refund_get,
    .refund_list = sq_refund_list,
    .payment_method_insert = sq_pm_insert,
    .payment_method_get = sq_pm_get,
    .payment_method_delete = sq_pm_delete,
    .payment_method_charges = sq_pm_charges,
};
