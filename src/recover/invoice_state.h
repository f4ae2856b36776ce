/* The invoice state machine (docs/recover.md has the diagram):
 *
 *   (new) --success--> paid
 *   (new) --failure--> pending | awaiting_payment_method     dunning opens
 *   pending/awaiting --merchant success--> paid_by_merchant   closed
 *   pending/awaiting --Recover's success--> recovered         closed
 *   awaiting_payment_method --payment method update--> pending
 *
 * pending is where an open invoice waits for the retry planner. Closed
 * states (paid, paid_by_merchant, recovered, exhausted, cancelled,
 * unrecoverable, unknown_to_merchant) never reopen: later events are
 * recorded but change nothing. */
#ifndef RECOUP_RECOVER_INVOICE_STATE_H
#define RECOUP_RECOVER_INVOICE_STATE_H

#include "store/store.h"

#define RC_STATE_PAID "paid"
#define RC_STATE_PENDING "pending"
#define RC_STATE_AWAITING_PM "awaiting_payment_method"
#define RC_STATE_PAID_BY_MERCHANT "paid_by_merchant"
#define RC_STATE_RECOVERED "recovered"

/* Whether the invoice is in dunning (open for retries). */
int rc_state_is_open(const char *state);

/* Whether a failed transaction can only succeed once the payment method
 * changes (an expired card, a wrong security code). */
int rc_txn_needs_new_payment_method(const struct rc_txn *t);

/* The decisions the store calls inside the event's transaction. */
void rc_decide_payment(struct rc_invoice *inv, const struct rc_txn *txns, size_t ntxns, int64_t now,
                       struct rc_transition *out);
void rc_decide_pm_update(struct rc_invoice *inv, const char *reason, int64_t now, struct rc_transition *out);

#endif
