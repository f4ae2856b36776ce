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
    int64_t updated_at;
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
};

void rc_txns_free(struct rc_txn *txns, size_t n);

#endif
