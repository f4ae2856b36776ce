#include "recover/invoice_state.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "recover/declines.h"

int rc_state_is_open(const char *state)
{
    return strcmp(state, RC_STATE_PENDING) == 0 || strcmp(state, RC_STATE_AWAITING_PM) == 0;
}

/* The decline's class decides: only a fix_data decline (an expired card, a
 * wrong security code, or a hard decline nobody has mapped yet) waits for
 * a new payment method; everything else goes to the retry planner. */
int rc_txn_needs_new_payment_method(const struct rc_txn *t)
{
    struct rc_decline d;
    rc_decline_of_txn(t, &d);
    return d.cls == RC_DCL_FIX_DATA;
}

static int by_time(const void *a, const void *b)
{
    const struct rc_txn *x = *(const struct rc_txn *const *)a, *y = *(const struct rc_txn *const *)b;
    return x->psp_created_at < y->psp_created_at ? -1 : x->psp_created_at > y->psp_created_at;
}

static void set_transition(struct rc_transition *out, const char *state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_transition(struct rc_transition *out, const char *state, const char *fmt, ...)
{
    out->changed = 1;
    str_copy(out->to_state, sizeof out->to_state, state);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
}

void rc_decide_payment(struct rc_invoice *inv, const struct rc_txn *txns, size_t ntxns, int64_t now,
                       struct rc_transition *out)
{
    (void)now;
    memset(out, 0, sizeof *out);
    /* Only transactions not seen before count; within the event, in the
     * order they happened. */
    const struct rc_txn **fresh = calloc(ntxns ? ntxns : 1, sizeof *fresh);
    if (!fresh)
        return;
    size_t n = 0;
    for (size_t i = 0; i < ntxns; i++)
        if (txns[i].is_new)
            fresh[n++] = &txns[i];
    qsort(fresh, n, sizeof *fresh, by_time);

    char state[32];
    str_copy(state, sizeof state, inv->exists ? inv->state : "");
    for (size_t i = 0; i < n; i++) {
        const struct rc_txn *t = fresh[i];
        int open = rc_state_is_open(state);
        if (t->success) {
            if (state[0] == '\0') {
                str_copy(state, sizeof state, RC_STATE_PAID);
                set_transition(out, state, "paid: transaction %.80s succeeded", t->transaction_id);
                inv->has_closed = 1;
                inv->closed_at = t->psp_created_at;
            } else if (open) {
                int ours = strcmp(t->origin, "recover") == 0;
                str_copy(state, sizeof state, ours ? RC_STATE_RECOVERED : RC_STATE_PAID_BY_MERCHANT);
                set_transition(out, state,
                               ours ? "recovered: Recover's retry %.80s succeeded"
                                    : "paid by the merchant: transaction %.80s succeeded",
                               t->transaction_id);
                inv->has_closed = 1;
                inv->closed_at = t->psp_created_at;
            }
            continue;
        }
        /* A failure. */
        if (state[0] != '\0' && !open)
            continue; /* closed invoices never reopen */
        inv->failed_attempts++;
        inv->amount_due = t->amount;
        str_copy(inv->currency, sizeof inv->currency, t->currency);
        if (!inv->has_dunning_started) {
            inv->has_dunning_started = 1;
            inv->dunning_started_at = t->psp_created_at;
        }
        const char *next = rc_txn_needs_new_payment_method(t) ? RC_STATE_AWAITING_PM : RC_STATE_PENDING;
        if (strcmp(state, next) != 0) {
            str_copy(state, sizeof state, next);
            set_transition(out, state,
                           strcmp(next, RC_STATE_PENDING) == 0
                               ? "dunning open: transaction %.80s failed; waiting for the retry planner"
                               : "dunning open: transaction %.80s failed and needs a new payment method",
                           t->transaction_id);
        }
    }
    if (!inv->currency[0] && n > 0) {
        inv->amount_due = fresh[n - 1]->amount;
        str_copy(inv->currency, sizeof inv->currency, fresh[n - 1]->currency);
    }
    if (!inv->exists && !out->changed && n == 0 && ntxns > 0) {
        /* Every transaction was known already (sent before under another
         * invoice id): the invoice still needs a state. */
        const struct rc_txn *t = &txns[ntxns - 1];
        inv->amount_due = t->amount;
        str_copy(inv->currency, sizeof inv->currency, t->currency);
        set_transition(out, t->success ? RC_STATE_PAID : RC_STATE_PENDING, "opened by transaction %.80s",
                       t->transaction_id);
    }
    free(fresh);
}

void rc_decide_pm_update(struct rc_invoice *inv, const char *reason, int64_t now, struct rc_transition *out)
{
    (void)now;
    memset(out, 0, sizeof *out);
    if (strcmp(inv->state, RC_STATE_AWAITING_PM) != 0)
        return;
    set_transition(out, RC_STATE_PENDING, "payment method updated (%.60s): eligible for a retry again",
                   reason && *reason ? reason : "no reason given");
}
