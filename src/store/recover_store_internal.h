/* Recover domain rules the backends share: when a change makes an invoice
 * wait for the planner, and how its updated_at moves. Pure functions. */
#ifndef RECOUP_STORE_RECOVER_STORE_INTERNAL_H
#define RECOUP_STORE_RECOVER_STORE_INTERNAL_H

#include <string.h>

#include "core/buf.h"
#include "store/store.h"

/* The planner's optimistic check compares updated_at: two changes in one
 * millisecond must still tell apart, so a change never reuses the value. */
static inline int64_t rc_next_updated_at(const struct rc_invoice *inv, int64_t now)
{
    return inv->exists && inv->updated_at >= now ? inv->updated_at + 1 : now;
}

/* Whether an applied payment event gives the planner something to decide:
 * a new transaction, or a change of state, on an invoice that is or was in
 * dunning (inv is the invoice after the event's decision, so a first
 * failure counts). A first attempt that succeeds never needs a plan. */
static inline int rc_event_needs_plan(const struct rc_invoice *inv, const struct rc_payment_event *ev,
                                      const struct rc_transition *t)
{
    if (!inv->has_dunning_started)
        return 0;
    if (t->changed)
        return 1;
    for (size_t i = 0; i < ev->ntxns; i++)
        if (ev->txns[i].is_new)
            return 1;
    return 0;
}

/* Moves the invoice (as loaded) to state, filling the transition its
 * history row records and the state it came from. */
static inline void rc_invoice_move(struct rc_invoice *inv, const char *state, const char *reason,
                                   struct rc_transition *t, char from_state[32])
{
    memset(t, 0, sizeof *t);
    t->changed = 1;
    str_copy(t->to_state, sizeof t->to_state, state);
    str_copy(t->reason, sizeof t->reason, reason ? reason : "");
    str_copy(from_state, 32, inv->state);
    str_copy(inv->state, sizeof inv->state, state);
    str_copy(inv->state_reason, sizeof inv->state_reason, t->reason);
}

#endif
