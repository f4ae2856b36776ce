/* Recover storage: merchant settings, the inbox of acknowledged events, and
 * the domain model (customers, subscriptions, invoices, transactions,
 * payment methods, invoice history). Every key starts with the merchant id
 * and the environment (sandbox or production), whose data never mix. */
#ifndef RECOUP_STORE_RECOVER_STORE_H
#define RECOUP_STORE_RECOVER_STORE_H

#include <stddef.h>
#include <stdint.h>

/* store.h defines the shared types and includes this file after them. */
#include "store/store.h"

#define RC_ID_MAX 256 /* merchant-given ids: at most 255 bytes */

/* The learned model's scopes (model_merge, model_versions). */
typedef int (*rc_model_merge_fn)(void *ctx, const void *stored, size_t stored_len, int64_t stored_version,
                                 const void **out, size_t *out_len);
struct rc_model_version {
    char scope[ID_MAX]; /* "" for the global prior */
    int64_t version;
};
#define RC_ENV_MAX 16
#define RC_URL_MAX 1024

struct rc_settings {
    char merchant_id[ID_MAX];
    int64_t dunning_days;
    int64_t max_retries;
    char timezone[64];
    char integration[16];        /* psp (Recover charges) or platform (the merchant's platform does) */
    char retry_status_url[RC_URL_MAX];
    char retry_results_url[RC_URL_MAX];
    char end_of_dunning_url[RC_URL_MAX];
    int end_of_dunning_enabled;
    char merchant_auth[16];      /* none, basic, api_key, signing */
    char merchant_auth_username[256];
    char merchant_auth_secret[512]; /* sealed with the data key */
    char webhook_secret[512];       /* sealed with the data key */
    char platform_retry_url[RC_URL_MAX]; /* platform: POST {url}/{invoice_id} asks the merchant to charge */
    char psp_url[RC_URL_MAX];            /* psp: the gateway's base URL Recover charges at */
    char psp_api_key[512];               /* psp: the gateway API key, sealed with the data key */
    int64_t updated_at;
};

/* An acknowledged event, as stored before any processing. */
struct rc_inbox_row {
    char merchant_id[ID_MAX];
    char env[RC_ENV_MAX];
    int64_t seq;
    char kind[24];  /* payment, payment_method_update */
    char fingerprint[65];
    char request_id[72];
    char *payload;  /* malloc'd JSON text */
    int64_t received_at;
};

/* One transaction of a payment event, validated and normalised. */
struct rc_txn {
    char transaction_id[RC_ID_MAX];
    char psp_transaction_id[RC_ID_MAX];
    char psp[24];
    char acquirer_country[4];
    int64_t amount; /* minor units */
    char currency[4];
    char funding_source[24];
    char payment_method_id[RC_ID_MAX];
    int64_t psp_created_at;
    char scheme[32];
    int success;
    char raw_response_message[RC_ID_MAX];
    char psp_response_message[RC_ID_MAX];
    char processor_response_code[64];
    char network_status[64];
    char response_type[24];
    char network_transaction_id[RC_ID_MAX];
    char bin[16];
    char issuer_country[4];
    char origin[16]; /* merchant, or recover for Recover's own retries */
    char *raw;       /* the transaction object as received (JSON text) */
    int is_new;      /* set by the store: not seen before */
};

struct rc_customer {
    char customer_id[RC_ID_MAX];
    char psp_id[RC_ID_MAX];
    int has_created_at;
    int64_t created_at;
    char postal_code[64];
};

struct rc_subscription {
    char subscription_id[RC_ID_MAX];
    int64_t start_date;
    int has_end_date;
    int64_t end_date;
    int discounted; /* -1 unknown, 0, 1 */
    char product_id[RC_ID_MAX];
    char billing_period[8]; /* day, week, month, year, or "" */
    int64_t billing_frequency;
};

struct rc_invoice {
    char merchant_id[ID_MAX];
    char env[RC_ENV_MAX];
    char invoice_id[RC_ID_MAX];
    char customer_id[RC_ID_MAX];
    char subscription_id[RC_ID_MAX];
    int64_t created_at;
    char state[32];
    char state_reason[128];
    int64_t amount_due; /* of the latest failed transaction */
    char currency[4];
    int has_dunning_started;
    int64_t dunning_started_at;
    int has_closed;
    int64_t closed_at;
    int64_t failed_attempts; /* failed transactions reported for it */
    char *custom;            /* JSON text, malloc'd, or NULL */
    /* Moves forward by at least 1 ms on every change (even two changes in
     * the same millisecond), so that a planner's read can be checked. */
    int64_t updated_at;
    int64_t recover_attempts; /* Recover's attempts made (charged or requested) */
    int64_t next_retry_at;    /* the planned retry's due time, 0 when none */
    int plan_needed;          /* read only: the planner must look at it */
    int exists;              /* set by the store: the row was there before */
};

struct rc_invoice_event {
    int64_t seq;
    int64_t at;
    char from_state[32];
    char to_state[32];
    char reason[128];
};

/* A transition decided by the Recover domain; the store writes it. */
struct rc_transition {
    int changed;
    char to_state[32];
    char reason[128];
};

/* Called by the store inside the event's transaction, with the invoice as
 * it is (exists == 0 when new) and the event's transactions (is_new set);
 * updates the invoice fields and fills the transition. Pure domain logic:
 * no I/O. */
typedef void (*rc_decide_fn)(struct rc_invoice *inv, const struct rc_txn *txns, size_t ntxns, int64_t now,
                             struct rc_transition *out);
/* For a payment-method update: the decision for one waiting invoice. */
typedef void (*rc_pm_decide_fn)(struct rc_invoice *inv, const char *reason, int64_t now, struct rc_transition *out);

struct rc_payment_event {
    const char *merchant_id, *env;
    int64_t inbox_seq;
    int64_t received_at;
    struct rc_customer customer;
    struct rc_subscription subscription;
    char invoice_id[RC_ID_MAX];
    int64_t invoice_created_at;
    char *custom; /* JSON text or NULL */
    struct rc_txn *txns;
    size_t ntxns;
    rc_decide_fn decide;
};

struct rc_pm_update {
    const char *merchant_id, *env;
    int64_t inbox_seq;
    int64_t received_at;
    char customer_id[RC_ID_MAX];
    char payment_method_id[RC_ID_MAX];
    char psp_customer_id[RC_ID_MAX];
    char reason[64];
    rc_pm_decide_fn decide;
};

/* One event of a batch to apply: a payment event, a payment method update,
 * or an event that cannot be applied (recorded as rejected, with why). */
struct rc_apply_item {
    struct rc_payment_event *payment; /* exactly one of the three */
    struct rc_pm_update *pm_update;
    const struct rc_inbox_row *rejected;
    const char *reject_reason;
    enum store_rc rc; /* set by the store */
};

/* ---- Retry planning, execution and webhooks ---- */

/* An invoice the planner must look at: a failure or an attempt's outcome
 * arrived, a payment method changed, or it closed (its planned retry goes).
 * The store marks it (plan_needed) in the transaction of the change:
 * apply_events when a payment event adds a new transaction to, or changes
 * the state of, an invoice that is or was in dunning (a first attempt that
 * succeeds is never marked), and when a payment-method update moves a
 * waiting invoice; attempt_write unless the invoice is closed. plan_write
 * clears the mark. */
struct rc_invoice_ref {
    char merchant_id[ID_MAX];
    char env[RC_ENV_MAX];
    char invoice_id[RC_ID_MAX];
};

/* A planner decision as stored, newest last per invoice. */
struct rc_decision_row {
    char merchant_id[ID_MAX];
    char env[RC_ENV_MAX];
    char invoice_id[RC_ID_MAX];
    int64_t seq; /* set by the store: 1, 2, ... per invoice */
    int64_t decided_at;
    char action[24]; /* retry, wait_payment_method, stop */
    char reason[40];
    char decline_class[20];
    int64_t planned_at; /* retry only */
    double predicted_success;
    char limited_by[48];
    char payment_method_id[RC_ID_MAX];
    char explanation[512];
    char *alternatives; /* JSON text, malloc'd, or NULL */
};

/* A planned attempt of Recover's on an invoice (the scheduler's row). */
struct rc_retry {
    char merchant_id[ID_MAX];
    char env[RC_ENV_MAX];
    char invoice_id[RC_ID_MAX];
    char attempt_id[33]; /* 32 hex: butter_id, and the charge's idempotency key */
    int64_t attempt_no;  /* 1 for Recover's first retry of the invoice */
    int64_t due_at;
    /* planned: waits for due_at; running: claimed under a lease; requested:
     * the merchant's platform was asked to charge and its report is awaited;
     * done: finished (charged or ended); cancelled: replaced or dunning ended */
    char state[16];
    char payment_method_id[RC_ID_MAX];
    int64_t postponements;
    char last_error[256];
    char lease_owner[64];
    int64_t lease_until;
    int64_t created_at;
    int64_t updated_at;
};

/* A webhook delivery: one event for a merchant's endpoint, kept until it
 * is delivered or given up. */
struct rc_webhook {
    char merchant_id[ID_MAX];
    char env[RC_ENV_MAX];
    char webhook_id[33]; /* 32 hex: X-Butter-Webhook-Deduplication-ID, stable across redeliveries */
    char type[24];       /* retry_result, end_of_dunning */
    char invoice_id[RC_ID_MAX];
    char url[RC_URL_MAX];
    char *body;          /* the exact bytes sent (compact JSON), malloc'd */
    int64_t created_at;
    int64_t next_attempt_at;
    int64_t give_up_at;  /* no delivery attempt after this time: failed */
    int64_t attempts;    /* delivery attempts made */
    char state[16];      /* pending, delivered, failed */
    int64_t last_status; /* HTTP status of the latest attempt, 0 when none came */
    char last_error[256];
    int64_t delivered_at;
    char lease_owner[64];
    int64_t lease_until;
};

/* A planner decision written with its consequences, atomically: the
 * decision row; the invoice's planned retry replaced (retry) or cancelled
 * (otherwise); the invoice closed when dunning ends, with the webhooks of
 * that ending; the invoice's plan_needed mark cleared. */
struct rc_plan_write {
    struct rc_decision_row decision;
    /* STORE_STATE, and nothing written, when the invoice changed since it
     * was read (its updated_at differs): the planner then runs again. */
    int64_t expect_updated_at;
    struct rc_retry retry;        /* for a retry: the attempt to plan */
    const char *close_state;      /* NULL, or the closed state to move to */
    const char *close_reason;
    /* Inserted pending (state "" means pending; next_attempt_at and
     * created_at 0 mean now); a webhook_id already stored is left as it is. */
    const struct rc_webhook *webhooks;
    size_t nwebhooks;
    int64_t now;
};
/* For action retry, retry.attempt_no is the invoice's recover_attempts + 1
 * and the invoice's next_retry_at becomes retry.due_at (else 0). A row of
 * that attempt_no still planned or cancelled is replaced by retry (its
 * attempt_id as given: re-planning the same attempt passes the same id);
 * STORE_STATE when that attempt is running or over. A closing decision
 * sets closed_at to now and adds the history row apply_events would. */

/* The end of one claimed attempt, written atomically: the retry row's new
 * state, the charge as a transaction of the invoice (origin recover), the
 * invoice's new state, the webhooks, and either the planner's next decision
 * (decision, below) or the plan_needed mark so that the planner decides
 * what follows. A postponed attempt (planned again) is not marked: its new
 * time stands. */
struct rc_attempt_write {
    /* As claimed: still running under retry->lease_owner, else STORE_STATE.
     * Or, to end a request whose report came (retry as retry_requested
     * returned it, state "requested"): still requested. */
    const struct rc_retry *retry;
    /* done, cancelled, requested (platform), or planned again with a new
     * due_at (postponed: RetryStatus asked to wait) */
    const char *retry_state;
    int64_t new_due_at;     /* for planned */
    const char *error;      /* why it was postponed or ended, or NULL */
    const struct rc_txn *txn; /* the charge made, or NULL */
    const char *close_state;  /* recovered, cancelled, unknown_to_merchant, or NULL */
    const char *close_reason;
    const struct rc_webhook *webhooks;
    size_t nwebhooks;
    int64_t now;
    /* The planner's next decision, taken with this attempt's outcome, when
     * the caller has it (NULL otherwise): written in the same transaction,
     * with, for a retry, the next planned attempt (next: its attempt_no one
     * above the attempts counted after this one); the invoice is then not
     * marked for the planner. */
    const struct rc_decision_row *decision;
    const struct rc_retry *next;
    /* For an invoice that stays open: a state to move it to (awaiting_
     * payment_method after a fix_data decline of Recover's own charge),
     * with its history row; NULL keeps the state. */
    const char *open_state;
    const char *open_reason;
};
/* The lease is released. txn is stored with origin "recover", once per
 * transaction_id (a repeat after a crash, or the merchant's own report of
 * the same charge, adds nothing). recover_attempts grows by one when the
 * retry leaves running charged (txn) or requested, never when a request's
 * report ends it. next_retry_at becomes new_due_at when planned again,
 * else 0. */

struct store_recover_ops {
    /* NOT_FOUND when the merchant has no settings row yet (defaults apply). */
    enum store_rc (*settings_get)(store *s, const char *merchant_id, struct rc_settings *out);
    enum store_rc (*settings_put)(store *s, const struct rc_settings *in);

    /* The acknowledgement path: durable once it returns OK. A repeat of an
     * event already received (same kind and fingerprint) stores nothing and
     * returns OK with *duplicate set and the first request id. */
    enum store_rc (*inbox_append)(store *s, const struct rc_inbox_row *ev, int *duplicate,
                                  char request_id_out[72]);
    /* Up to max unprocessed events, oldest first (payloads malloc'd). */
    enum store_rc (*inbox_pending)(store *s, int max, struct rc_inbox_row **out, size_t *n);
    /* Applies events in inbox order, each atomically with the record that
     * it was applied; an event applied before is skipped (its rc STORE_OK),
     * so a crash between acknowledgement and processing neither loses nor
     * repeats anything. One durable commit covers the batch. Each item gets
     * its own rc: an item that fails for good (never expected: events are
     * validated before they are acknowledged) is recorded as rejected and
     * changes nothing else; after a store failure (STORE_ERROR) the rest of
     * the batch is left for the next round. */
    enum store_rc (*apply_events)(store *s, struct rc_apply_item *items, size_t n);
    enum store_rc (*inbox_backlog)(store *s, int64_t *unprocessed);

    /* Read access for the merchant: the invoice, its transactions (oldest
     * first) and its history. Arrays and custom are malloc'd. */
    enum store_rc (*invoice_get)(store *s, const char *merchant_id, const char *env, const char *invoice_id,
                                 struct rc_invoice *inv, struct rc_txn **txns, size_t *ntxns,
                                 struct rc_invoice_event **events, size_t *nevents);

    /* ---- planning ---- */
    /* Up to max invoices marked as needing the planner, oldest mark first. */
    enum store_rc (*plan_pending)(store *s, int max, struct rc_invoice_ref **out, size_t *n);
    /* Marks for the planner a merchant's invoices still in dunning that
     * began at or before dunning_began_before and have no retry planned
     * (they wait for a payment method, or were judged not worth a retry
     * yet): the planner then ends those whose window is over. *marked
     * counts them. */
    enum store_rc (*mark_window_over)(store *s, const char *merchant_id, int64_t dunning_began_before, int64_t now,
                                      int64_t *marked);
    /* Attempts on one payment method since a time, from every invoice of the
     * merchant and environment, oldest first (malloc'd; rc_txns_free). */
    enum store_rc (*card_txns)(store *s, const char *merchant_id, const char *env, const char *payment_method_id,
                               int64_t since, struct rc_txn **out, size_t *n);
    /* The latest payment method update for a customer after a time:
     * NOT_FOUND when none; else its payment method id and time. */
    enum store_rc (*pm_update_after)(store *s, const char *merchant_id, const char *env, const char *customer_id,
                                     int64_t after, char pm_id_out[RC_ID_MAX], int64_t *at_out);
    enum store_rc (*plan_write)(store *s, const struct rc_plan_write *w);
    /* The invoice's decisions and retries, oldest first (malloc'd). */
    enum store_rc (*decisions_list)(store *s, const char *merchant_id, const char *env, const char *invoice_id,
                                    struct rc_decision_row **out, size_t *n);
    enum store_rc (*retries_list)(store *s, const char *merchant_id, const char *env, const char *invoice_id,
                                  struct rc_retry **out, size_t *n);

    /* ---- execution ---- */
    /* Claims up to max planned retries due at now (and running ones whose
     * lease ran out: their worker died; those first), leasing them to owner
     * until now + lease_ms: state running, returned as stored. Each attempt
     * is claimed by one worker at a time, across nodes. Durable on return. */
    enum store_rc (*retries_claim)(store *s, int64_t now, const char *owner, int64_t lease_ms, int max,
                                   struct rc_retry **out, size_t *n);
    /* STORE_STATE when the lease was lost (another worker has it now). */
    enum store_rc (*attempt_write)(store *s, const struct rc_attempt_write *w);
    /* The retry in state requested for an invoice (platform integration):
     * NOT_FOUND when none. */
    enum store_rc (*retry_requested)(store *s, const char *merchant_id, const char *env, const char *invoice_id,
                                     struct rc_retry *out);
    /* Earliest due_at of a planned retry, or end of a running lease (a
     * claim could take it then); NOT_FOUND when none. */
    enum store_rc (*retry_next_due)(store *s, int64_t *due_at);

    /* ---- webhooks ---- */
    /* Claims up to max pending deliveries due at now under a lease (owner
     * until now + lease_ms). While leased, next_attempt_at is the lease's
     * end: the delivery is due again then unless webhook_result came. */
    enum store_rc (*webhooks_claim)(store *s, int64_t now, const char *owner, int64_t lease_ms, int max,
                                    struct rc_webhook **out, size_t *n);
    /* Records a delivery attempt's result: state, attempts, next_attempt_at,
     * last_status, last_error, delivered_at from w; releases the lease.
     * STORE_STATE unless w->lease_owner still holds it; NOT_FOUND for an
     * unknown (merchant_id, webhook_id). */
    enum store_rc (*webhook_result)(store *s, const struct rc_webhook *w);
    /* webhook_result for n deliveries in one transaction: one durable write
     * for many results. rcs[i] is w[i]'s answer (OK, STATE, NOT_FOUND), as
     * webhook_result would give it; a delivery refused that way changes
     * nothing and does not stop the others. Any other return than STORE_OK
     * means that none was recorded (rcs then undefined). A delivery may
     * appear once per call. */
    enum store_rc (*webhook_results)(store *s, const struct rc_webhook *const *w, size_t n, enum store_rc *rcs);
    /* A merchant's deliveries (both environments), newest first (by
     * created_at); state and invoice_id filter when not NULL; at most limit
     * (none when limit <= 0). Bodies malloc'd: rc_webhooks_free. */
    enum store_rc (*webhooks_list)(store *s, const char *merchant_id, const char *state, const char *invoice_id,
                                   int limit, struct rc_webhook **out, size_t *n);
    enum store_rc (*webhook_get)(store *s, const char *merchant_id, const char *webhook_id, struct rc_webhook *out);
    /* Makes a delivery pending again, due at now, with give_up_at moved to
     * give_up_at; NOT_FOUND for an unknown id. */
    enum store_rc (*webhook_redeliver)(store *s, const char *merchant_id, const char *webhook_id, int64_t now,
                                       int64_t give_up_at);
    enum store_rc (*webhook_next_due)(store *s, int64_t *due_at);

    /* ---- the learned model ---- */
    /* scope: "" for the global prior, else a merchant id. model_get:
     * NOT_FOUND when none; else *blob malloc'd (len bytes, plus a zero byte
     * after them). model_put replaces the scope's model. */
    enum store_rc (*model_get)(store *s, const char *scope, char **blob, size_t *len);
    enum store_rc (*model_put)(store *s, const char *scope, const void *blob, size_t len, int64_t now);
    /* A read-modify-write of one scope that no other writer of the scope
     * (another node included) can come between: fn gets the stored blob
     * (NULL when none) and its version, and answers 1 to store *out
     * (*out_len bytes, valid until model_merge returns) as the next
     * version, 0 to leave the scope as it is, -1 to give up (ERROR). fn
     * may run more than once (the transaction tried again); the last run
     * counts. *version (may be NULL) gets the scope's version after. Every
     * write of a scope, model_put's too, adds one to its version. */
    enum store_rc (*model_merge)(store *s, const char *scope, int64_t now, rc_model_merge_fn fn, void *ctx,
                                 int64_t *version);
    /* Every stored scope with its version, malloc'd. */
    enum store_rc (*model_versions)(store *s, struct rc_model_version **out, size_t *n);
};

void rc_txns_free(struct rc_txn *txns, size_t n);
void rc_webhooks_free(struct rc_webhook *w, size_t n);
void rc_decisions_free(struct rc_decision_row *d, size_t n);

#endif
