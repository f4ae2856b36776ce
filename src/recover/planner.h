/* The retry planner: for an invoice in dunning, what to do next and when.
 *
 *   stop                  no retry can succeed or none is allowed: the class
 *                         is never, the dunning window is over, or the
 *                         merchant's retry limit is reached;
 *   wait_payment_method   the decline needs new card data (fix_data): wait
 *                         for a payment method update, then plan again;
 *   retry                 the next attempt's time: inside the dunning window
 *                         and the retry limit, allowed by every card-network
 *                         rule, at the candidate time with the best expected
 *                         value per the model (hours when issuers decline
 *                         most score low there, so they are avoided).
 *
 * Pure: no clock, no store, no I/O; the caller gathers the inputs and
 * stores the decision. The same inputs (and model state) give the same
 * decision. docs/retry-planning.md explains the choice of time. */
#ifndef RECOUP_RECOVER_PLANNER_H
#define RECOUP_RECOVER_PLANNER_H

#include <stddef.h>
#include <stdint.h>

#include "recover/model.h"
#include "recover/network_rules.h"
#include "store/recover_store.h"

struct rc_plan_input {
    const char *merchant_id;
    int64_t dunning_days;     /* the merchant's window, from the first failure */
    int64_t max_retries;      /* Recover's attempts allowed per invoice */
    const char *merchant_tz;  /* IANA name, for cardholders of unknown zone */
    const struct rc_invoice *invoice;
    const struct rc_txn *txns; /* the invoice's transactions, oldest first */
    size_t ntxns;
    /* Every attempt on the payment method to retry within the longest cap
     * window, the merchant's and Recover's, from any invoice. */
    const struct rc_txn *card_txns;
    size_t ncard_txns;
    const char *payment_method_id; /* the method the next attempt would use */
    int has_pm_update;             /* a payment method update arrived ... */
    int64_t pm_updated_at;         /* ... at this time (after the latest decline) */
    const char *postal_code;       /* the customer's, or "" */
    int64_t recover_attempts;      /* Recover's retries made on the invoice so far */
    int64_t now;
    const struct nr_rules *rules;
    rc_model *model;
};

#define RC_PLAN_MAX_ALTS 8

/* A candidate time the planner weighed and did not choose, and why. */
struct rc_plan_alt {
    int64_t at;
    double predicted_success;
    char why_not[96]; /* "lower expected value", "visa_30d_cap", "outside dunning window" */
};

#define RC_ACTION_RETRY "retry"
#define RC_ACTION_WAIT_PM "wait_payment_method"
#define RC_ACTION_STOP "stop"
/* Not the planner's: the platform integration waits for the merchant's
 * report of a requested attempt before anything else is planned. */
#define RC_ACTION_WAIT_REPORT "wait_report"

struct rc_decision {
    char action[24];        /* RC_ACTION_* */
    char reason[40];        /* canonical reason of the latest decline */
    char decline_class[20]; /* its class */
    char stop_state[32];    /* for stop: "exhausted" (window, limit) or "unrecoverable" (never class) */
    int64_t decided_at;
    int64_t planned_at;       /* retry: when; else 0 */
    double predicted_success; /* retry: the model's chance at planned_at */
    char limited_by[48];      /* what bound the choice: a network rule id, "dunning_window",
                                 "max_retries", "decline_class", "model" */
    char payment_method_id[RC_ID_MAX];
    char explanation[512];    /* one or two sentences for a person */
    struct rc_plan_alt alts[RC_PLAN_MAX_ALTS];
    size_t nalts;
};

/* Decides; returns 0, or -1 when the input is unusable (no failed
 * transaction to plan from: out then says stop with the reason). */
int rc_plan(const struct rc_plan_input *in, struct rc_decision *out);

/* The alternatives as JSON text (malloc'd):
 * [{"at":"<ISO-8601>","predicted_success":0.12,"why_not":"..."}] */
char *rc_plan_alts_json(const struct rc_decision *d);

#endif
