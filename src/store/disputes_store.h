/* Disputes storage: checkout records (the evidence), the Basic credentials
 * that send them, and a per-merchant switch. Every key starts with the
 * merchant id and then the environment (staging or production), so records
 * of one environment are never visible from the other and the tables can
 * be distributed by merchant. */
#ifndef RECOUP_STORE_DISPUTES_STORE_H
#define RECOUP_STORE_DISPUTES_STORE_H

#include <stddef.h>
#include <stdint.h>

/* store.h defines the shared types and includes this file after them. */
#include "store/store.h"

#define DSP_ENV_MAX 16
#define DSP_USERNAME_MAX 112
#define DSP_RECORD_ID_MAX 40
#define DSP_TEXT_MAX 256   /* ids and identity elements: 255 bytes of text */
#define DSP_UA_MAX 1025    /* user agent: 1024 bytes */
#define DSP_DESC_MAX 4001  /* product description: 1000 characters of UTF-8 */

struct dsp_credential_row {
    char merchant_id[ID_MAX];
    char environment[DSP_ENV_MAX]; /* staging, production */
    char username[DSP_USERNAME_MAX];
    char secret_hash[65];
    char label[64];
    int64_t created_at;
    int64_t revoked_at;    /* 0 while active */
    int merchant_disabled; /* filled by credential_get */
};

struct dsp_address {
    char line1[DSP_TEXT_MAX];
    char line2[DSP_TEXT_MAX];
    char city[DSP_TEXT_MAX];
    char state[DSP_TEXT_MAX];
    char postal_code[32];
    char country[4];
};

struct dsp_record_row {
    char merchant_id[ID_MAX];
    char environment[DSP_ENV_MAX];
    char record_id[DSP_RECORD_ID_MAX];
    char content_hash[33]; /* identical records share it (and so their id) */
    int64_t received_at;
    int64_t purchased_at;
    char customer_email[DSP_TEXT_MAX];
    char email_norm[DSP_TEXT_MAX]; /* lower case, for matching */
    char ipv4_address[16];
    char psp[16];
    char customer_id[DSP_TEXT_MAX];
    char invoice_id[DSP_TEXT_MAX];
    char subscription_id[DSP_TEXT_MAX];
    char charge_id[DSP_TEXT_MAX];
    char transaction_id[DSP_TEXT_MAX];
    char network_transaction_id[DSP_TEXT_MAX];
    char user_agent[DSP_UA_MAX];
    char device_id[DSP_TEXT_MAX];
    char account_id[DSP_TEXT_MAX];
    char payment_credential[DSP_TEXT_MAX];
    int has_shipping;
    struct dsp_address shipping;
    char shipping_norm[1100]; /* normalised full address, "" when none */
    int has_amount;
    int64_t amount; /* minor units of currency */
    char currency[4];
    char product_description[DSP_DESC_MAX];
    int64_t disputed_at;       /* 0: never disputed */
    int64_t fraud_reported_at; /* 0: never reported as fraud */
};

/* The columns a lookup can search by, each with its own index. */
enum dsp_key {
    DSP_KEY_INVOICE = 0,
    DSP_KEY_SUBSCRIPTION,
    DSP_KEY_CHARGE,
    DSP_KEY_TRANSACTION,
    DSP_KEY_NETWORK_TRANSACTION,
    DSP_KEY_CREDENTIAL,
    DSP_KEY_EMAIL,
    DSP_KEY_IP,
    DSP_KEY_DEVICE,
    DSP_KEY_ACCOUNT,
    DSP_KEY_COUNT
};

enum dsp_flag { DSP_FLAG_DISPUTED, DSP_FLAG_FRAUD_REPORTED };

struct store_disputes_ops {
    /* credentials: HTTP Basic username and a hash of the password */
    enum store_rc (*credential_insert)(store *s, const struct dsp_credential_row *c);
    /* The credential and whether its merchant is disabled for Disputes. */
    enum store_rc (*credential_get)(store *s, const char *merchant_id, const char *env, const char *username,
                                    struct dsp_credential_row *out);
    enum store_rc (*credential_list)(store *s, const char *merchant_id, struct dsp_credential_row **out, size_t *n);
    enum store_rc (*credential_revoke)(store *s, const char *merchant_id, const char *username, int64_t now);
    /* Disabling keeps the data and refuses the merchant's credentials (403). */
    enum store_rc (*merchant_set_disabled)(store *s, const char *merchant_id, int disabled, int64_t now);

    /* Inserts the record unless one with the same id exists in its merchant
     * and environment (ids derive from the content): then STORE_REPLAY, and
     * existing_id gets the stored record's id. */
    enum store_rc (*record_insert)(store *s, const struct dsp_record_row *r, char existing_id[DSP_RECORD_ID_MAX]);
    enum store_rc (*record_get)(store *s, const char *merchant_id, const char *env, const char *record_id,
                                struct dsp_record_row *out);
    /* Newest first, at most limit records whose column key equals value. */
    enum store_rc (*record_find)(store *s, const char *merchant_id, const char *env, enum dsp_key key,
                                 const char *value, int limit, struct dsp_record_row **out, size_t *n);
    /* Records on one payment credential purchased in [from_ms, to_ms),
     * newest first, at most limit. */
    enum store_rc (*record_priors)(store *s, const char *merchant_id, const char *env, const char *credential,
                                   int64_t from_ms, int64_t to_ms, int limit, struct dsp_record_row **out, size_t *n);
    /* Sets a status flag once (the first time stays); out gets the record. */
    enum store_rc (*record_mark)(store *s, const char *merchant_id, const char *env, const char *record_id,
                                 enum dsp_flag flag, int64_t now, struct dsp_record_row *out);
    /* Deletes up to max_rows records purchased before older_than. */
    enum store_rc (*record_purge)(store *s, const char *merchant_id, const char *env, int64_t older_than,
                                  int max_rows, int64_t *purged);
};

#endif
