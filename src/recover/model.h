/* The retry-success model: the chance that a charge attempt succeeds, given
 * what is known when it is planned. Learned online from every outcome that
 * reaches Recover (the merchant's renewals and retries, successful or not,
 * and Recover's own retries), per merchant over a global prior, so that a
 * new merchant starts from what all merchants taught and drifts towards its
 * own customers as its data grows.
 *
 * Deterministic: the same outcomes learned in the same order give the same
 * model, bit for bit, on every machine (no randomness, no threads inside).
 * docs/retry-planning.md describes the learner and why it was chosen. */
#ifndef RECOUP_RECOVER_MODEL_H
#define RECOUP_RECOVER_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "recover/declines.h"
#include "store/recover_store.h"

/* What the model sees about one attempt. Text fields may be "" (unknown). */
struct rc_model_features {
    const char *reason;           /* canonical reason of the decline being retried; "" for a first attempt */
    const char *decline_class;    /* its class (later, technical, ...); "" for a first attempt */
    const char *scheme;           /* visa, mastercard, amex, ... */
    const char *funding_source;   /* credit, debit, prepaid, ... */
    const char *issuer_country;   /* ISO alpha-2 */
    const char *acquirer_country; /* ISO alpha-2 */
    const char *currency;         /* ISO 4217 */
    int64_t amount_minor;
    int attempts;                   /* failed attempts on the invoice before this one */
    int64_t since_first_failure_ms; /* 0 for a first attempt */
    int local_hour;                 /* cardholder's local time of the attempt: 0-23 */
    int local_wday;                 /* 0 = Sunday .. 6 */
    int local_mday;                 /* 1-31 */
    int64_t since_last_failure_ms;  /* since the latest failed attempt; 0 for a first attempt */
    int64_t local_day;              /* the attempt's local date: days since 1970-01-01 */
    /* The card's latest payment that went through after a failed one
     * (rc_model_features_card): its local date and day of month; a
     * paid_mday of 0 means none is known. */
    int64_t paid_local_day;
    int paid_mday;
};

typedef struct rc_model rc_model;

rc_model *rc_model_new(void);
void rc_model_free(rc_model *m);

/* Thread-safe: predictions may run while another thread learns. */
double rc_model_predict(rc_model *m, const char *merchant_id, const struct rc_model_features *f);
void rc_model_learn(rc_model *m, const char *merchant_id, const struct rc_model_features *f, int success);

/* How many outcomes the model learned from, for a merchant (NULL: all). */
int64_t rc_model_count(rc_model *m, const char *merchant_id);

/* Persistence, one blob per scope: merchant_id NULL is the global prior.
 * save appends the scope's state to out; load replaces it (-1 when the
 * blob is not one this version wrote). rc_model_dirty_scopes fills up to
 * max merchant ids (each ID_MAX bytes) changed since the last call to
 * rc_model_mark_saved or their last rc_model_sync. */
int rc_model_save(rc_model *m, const char *merchant_id, buf *out);
int rc_model_load(rc_model *m, const char *merchant_id, const void *blob, size_t len);
size_t rc_model_dirty_scopes(rc_model *m, char (*out)[ID_MAX], size_t max, int *global_dirty);
void rc_model_mark_saved(rc_model *m);

/* ---- sharing one model between nodes ----
 * Each scope remembers the blob it last loaded or synced (its base).
 * rc_model_sync merges the store's blob of the scope with what this model
 * learned since: merged = stored + (current - base), entry by entry
 * (weights, squared gradients, count); current and base become merged,
 * appended to out, and the scope is no longer dirty. With stored NULL (or
 * a blob this version cannot read), merged is the current state; with
 * stored equal to the base it is the current state bit for bit. An
 * outcome learned on another thread meanwhile is never lost.
 *
 * When the merged blob could not be written, rc_model_rebase sets the
 * base back to the blob the sync read (NULL: none), which the store still
 * holds, so that the next sync sends this node's learning again; it marks
 * the scope dirty. -1 when memory runs out.
 *
 * The version is the store's version of the base (0: none), kept here for
 * the caller to tell which scopes changed elsewhere. */
int rc_model_sync(rc_model *m, const char *merchant_id, const void *stored, size_t stored_len, buf *out);
int rc_model_rebase(rc_model *m, const char *merchant_id, const void *blob, size_t len);
int64_t rc_model_version(rc_model *m, const char *merchant_id);
void rc_model_set_version(rc_model *m, const char *merchant_id, int64_t version);

/* The features of an attempt at time at_ms on invoice inv, given the
 * invoice's earlier transactions (oldest first; the attempt itself is not
 * among them) and the transaction shape of the attempt (its payment method:
 * scheme, funding source, countries, amount). The local time is the
 * cardholder's: from the issuer country (and the postal code where it
 * decides the zone), else the merchant's time zone (an IANA name) given. */
void rc_model_features_for(struct rc_model_features *f, const struct rc_txn *earlier, size_t nearlier,
                           const struct rc_txn *shape, const char *postal_code, const char *merchant_tz,
                           int64_t at_ms);

/* ---- for callers that score one attempt at many times (the planner) ---- */

/* What changes between the candidate times of one attempt. */
struct rc_model_when {
    int local_hour;
    int local_wday;
    int local_mday;
    int64_t since_first_failure_ms;
    int64_t since_last_failure_ms;
    int64_t local_day; /* days since 1970-01-01, local */
};

/* The log-odds rc_model_predict would give for f at each of n times, in
 * one pass under one lock; *next_attempt_delta (may be NULL) gets how much
 * one more failed attempt before these would move every one of them. */
void rc_model_logits(rc_model *m, const char *merchant_id, const struct rc_model_features *f,
                     const struct rc_model_when *when, size_t n, double *logits, double *next_attempt_delta);
/* For planning several attempts ahead. The time since the latest failure
 * is a curve through RC_MODEL_SINCE_LAST_BUCKETS knots; interval b runs
 * from rc_model_since_last_edge(b) to rc_model_since_last_edge(b + 1)
 * (INT64_MAX after the last knot). */
#define RC_MODEL_SINCE_LAST_BUCKETS 8
int64_t rc_model_since_last_edge(int b);
/* rc_model_logits, and what a later attempt of the same decline at those
 * times would score: no_last[i] is logits[i] without the time-since-the-
 * latest-failure term, last_w[b] that term's mean over interval b, and
 * att_delta[a] the shift of a+1 more failed attempts (a < natt). A later
 * attempt at when[i], an interval-b time after a failed one, a+1 attempts
 * on, scores about no_last[i] + last_w[b] + att_delta[a]. */
void rc_model_logits_ahead(rc_model *m, const char *merchant_id, const struct rc_model_features *f,
                           const struct rc_model_when *when, size_t n, double *logits, double *no_last,
                           double last_w[RC_MODEL_SINCE_LAST_BUCKETS], double *att_delta, size_t natt);
/* The chance of a log-odds value, computed the same way on every machine. */
double rc_model_sigmoid(double logit);

/* rc_decline_of_txn (declines.h) through a small per-thread cache of the
 * latest declines read: the same answer, without rescanning the mapping
 * table for a decline seen moments ago. A decline found in the cache is
 * not counted again among the unknown ones. */
void rc_decline_of_txn_cached(const struct rc_txn *t, struct rc_decline *out);

/* The card's own history: the latest successful payment on the card,
 * before at_ms, that came within 20 days after a failed one (a payment
 * recovered when money, or whatever was missing, arrived), from the
 * card's attempts on every invoice (any order). Sets f's paid_* fields;
 * leaves them unknown when there is none. */
void rc_model_features_card(struct rc_model_features *f, const struct rc_txn *card, size_t n, int zone_idx,
                            int64_t at_ms);

/* The local date of a time, as days since 1970-01-01, given the UTC
 * offset in force then. */
int64_t rc_model_local_day(int64_t utc_ms, int offset_min);

/* The cardholder's zone as rc_model_features_for picks it (an index of
 * rc_zone_index; -1 reads as UTC). */
int rc_model_zone(const struct rc_txn *shape, const char *postal_code, const char *merchant_tz);
/* rc_model_features_for with the history already read: the latest
 * decline's reason and class ("" for a first attempt), the failed attempts
 * before this one, and the first and latest failures' times (0 when none). */
void rc_model_features_at(struct rc_model_features *f, const char *reason, const char *decline_class, int attempts,
                          int64_t first_failure_at, int64_t last_failure_at, const struct rc_txn *shape,
                          int zone_idx, int64_t at_ms);

#endif
