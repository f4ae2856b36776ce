/* Recover's retry loop, between the inbox and the merchant:
 *
 *   planning.c   invoices marked by new outcomes -> the planner's decision,
 *                stored with its planned retry (or the end of dunning);
 *                the model learns from every outcome on the way
 *   executor.c   due retries -> RetryStatus -> a charge at the PSP (or a
 *                request to the merchant's platform) -> the outcome stored
 *   dunning.c    the webhooks those steps write to the outbox
 *
 * Each step's writes are one store transaction, so a crash anywhere leaves
 * an invoice either before or after a step, never half-way; a step that
 * died is redone (leases, idempotency keys, the plan_needed mark). */
#ifndef RECOUP_RECOVER_RETRIES_H
#define RECOUP_RECOVER_RETRIES_H

#include <stddef.h>
#include <stdint.h>

#include "store/recover_store.h"

struct app;

/* ---- planning.c ---- */

/* Plans up to max marked invoices; returns how many were looked at, or -1
 * after a store failure. */
int recover_plan_pending(struct app *app, int max);
/* The planner's decision for an open invoice, from its transactions (oldest
 * first) and, when given, an outcome not stored yet (an attempt being
 * recorded). 0, or -1 after a store failure or with no failure to plan
 * from. */
struct rc_decision;
int recover_decide(struct app *app, const struct rc_settings *st, const struct rc_invoice *inv,
                   const struct rc_txn *txns, size_t ntxns, const struct rc_txn *unstored, int64_t now,
                   struct rc_decision *d);
/* The pieces of a decision's write, for the executor, which stores the
 * decision that follows an attempt with the attempt itself: the row of a
 * decision (alternatives malloc'd), the decision that dunning is over for a
 * closed invoice, the next planned attempt of a retry decision (inv's
 * recover_attempts already counting the attempts made), and learning one
 * outcome, with the invoice's transactions before it. */
struct rc_decision_row;
void recover_decision_row(struct rc_decision_row *row, const struct rc_invoice *inv, const struct rc_decision *d);
void recover_closed_decision(const struct rc_invoice *inv, int64_t now, struct rc_decision *d);
void recover_next_retry(struct rc_retry *r, const struct rc_invoice *inv, const struct rc_decision *d, int64_t now);
void recover_learn_outcome(struct app *app, const struct rc_settings *st, const struct rc_invoice *inv,
                           const struct rc_txn *earlier, size_t nearlier, const struct rc_txn *outcome);
/* Marks for the planner the invoices whose dunning window is over and that
 * have no retry planned (waiting for a card that never came, say), so
 * that their dunning ends (exhausted, with End of Dunning) even when no
 * event of theirs arrives. Returns how many, or -1. */
int64_t recover_sweep_windows(struct app *app);
/* Teaches the model a payment event that needs no planning: a first
 * attempt that succeeded. */
void recover_learn_event(struct app *app, const struct rc_payment_event *ev);
/* The model: loaded from the store at start, saved (changed scopes only)
 * now and then and at stop. */
int recover_model_open(struct app *app);
void recover_model_save(struct app *app);
void recover_model_close(struct app *app);

/* The attempt id of an invoice's n-th retry: 32 hex characters, the same
 * whenever that attempt is planned again (it is the charge's idempotency
 * key, and the butter_id merchants see). */
void rc_attempt_id(const char *merchant_id, const char *env, const char *invoice_id, int64_t attempt_no,
                   char out[33]);

/* ---- dunning.c: the webhooks ---- */

/* The End of Dunning webhook for an invoice, when the merchant enabled it:
 * 1 with *out filled (out->body malloc'd), 0 when not enabled, -1 on error. */
int rc_end_of_dunning_webhook(struct app *app, const struct rc_settings *s, const struct rc_invoice *inv,
                              int recovered, int64_t now, struct rc_webhook *out);
/* The Retry Results webhook of an attempt; same returns (0: no URL set). */
int rc_retry_result_webhook(struct app *app, const struct rc_settings *s, const struct rc_invoice *inv,
                            const struct rc_txn *original, const struct rc_retry *attempt, const struct rc_txn *charge,
                            int dunning_complete, int64_t now, struct rc_webhook *out);

/* ---- executor.c ---- */

int rc_executor_start(struct app *app);
/* Wakes the scheduler: a retry was planned, or the clock moved. */
void rc_executor_kick(struct app *app);
/* Stops and joins the threads; the executor can still be kicked (to no
 * effect) until rc_executor_free, so that the inbox worker, which kicks
 * it, can be stopped after it without a race. */
void rc_executor_stop(struct app *app);
void rc_executor_free(struct app *app);
/* Runs every due attempt once, synchronously (recoupctl and tests use the
 * threads; this serves benchmarks that measure the stages). */
int rc_executor_run_due(struct app *app, int max);

#endif
