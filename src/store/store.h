/* The storage interface: a struct of function pointers with one
 * implementation per backend (sqlite/, and postgres/ to follow). Callers
 * speak in domain operations, never SQL, so a backend can change without
 * touching them. Every write returns only once it is durable.
 *
 * Every row carries its merchant id, and every operation takes one: no query
 * can cross merchants, and the schema can be distributed by merchant. */
#ifndef RECOUP_STORE_STORE_H
#define RECOUP_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

enum store_rc {
    STORE_OK = 0,
    STORE_NOT_FOUND,
    STORE_EXISTS,        /* unique key already taken */
    STORE_REPLAY,        /* idempotency key seen with the same request: out->status/body hold the first answer */
    STORE_IDEM_MISMATCH, /* idempotency key seen with a different request */
    STORE_STATE,         /* the row is in a state that forbids the change */
    STORE_LIMIT,         /* the change would exceed a limit (refund beyond the balance) */
    STORE_ERROR,         /* the backend failed; details are logged, never shown */
};

const char *store_rc_name(enum store_rc rc);

#define ID_MAX 64
#define PAYMENT_ID_LEN 200
#define REFUND_ID_LEN 200

struct merchant_row {
    char merchant_id[ID_MAX];
    char name[128];
    int64_t created_at;
};

struct api_key_row {
    char key_id[32];
    char merchant_id[ID_MAX];
    char service[16]; /* gateway, recover, disputes */
    char env[16];     /* sandbox, production (disputes: staging, production) */
    char label[64];
    char secret_hash[65];
    int64_t created_at;
    int64_t revoked_at; /* 0 while active */
};

/* What an idempotent write remembers: the key, a fingerprint of the request,
 * and the answer given, so that a repeat gets the same answer. */
struct idem_in {
    const char *key;          /* NULL: the request carried no Idempotency-Key */
    const char *scope;        /* "POST /api/payments" */
    const char *request_hash; /* hex SHA-256 of the body */
    int status;               /* the answer to remember */
    const char *body;
    int64_t created_at;
};

struct idem_out {
    int status;
    char *body; /* malloc'd; the caller frees */
};

struct payment_row {
    char merchant_id[ID_MAX];
    char payment_id[PAYMENT_ID_LEN + 1];
    int64_t seq; /* insertion order, the paging cursor */
    int64_t amount;
    char currency[4];
    char method[16]; /* credit_card, mbway */
    char status[16]; /* success, error, settled */
    char decline_code[40];
    char decline_message[128];
    char network_code[8];
    int64_t created_at;
    int settled; /* settled_at/settled_amount meaningful */
    int64_t settled_at;
    int64_t settled_amount;
    int64_t refunded; /* sum of refunds, filled on reads */
    char payment_method_id[40];
    /* instrument */
    char card_sealed[192]; /* encrypted card number */
    char card_masked[24];
    char card_brand[16];
    char card_name[104];
    char exp_month[4];
    char exp_year[8];
    char phone[24];
};

struct payment_filter {
    const char *payment_id;
    const char *method;
    const char *status;
    int has_amount_gte, has_amount_lte;
    int64_t amount_gte_e4, amount_lte_e4; /* major units x 10^4 */
    int has_created_gte, has_created_lte, has_settled_gte, has_settled_lte;
    int64_t created_gte, created_lte, settled_gte, settled_lte;
    int64_t before_seq; /* 0: from the newest */
    int limit;
};

struct refund_row {
    char merchant_id[ID_MAX];
    char refund_id[REFUND_ID_LEN + 1];
    char payment_id[PAYMENT_ID_LEN + 1];
    int64_t seq;
    int64_t amount;
    char currency[4];
    int64_t created_at;
};

struct refund_filter {
    const char *payment_id;
    const char *refund_id;
    int64_t before_seq;
    int limit;
};

struct payment_method_row {
    char merchant_id[ID_MAX];
    char payment_method_id[40];
    char type[16];
    char brand[16];
    char bin[9];
    char last4[5];
    char masked[24];
    char name[104];
    char exp_month[4];
    char exp_year[8];
    char sealed[192];
    int64_t created_at;
};

struct fee_schedule {
    int64_t fixed_minor;
    int64_t bps;
};

typedef struct store store;

struct store_ops {
    const char *backend;
    int (*ping)(store *s);
    void (*close)(store *s);

    /* merchants and API keys */
    enum store_rc (*merchant_create)(store *s, const struct merchant_row *m);
    enum store_rc (*merchant_get)(store *s, const char *merchant_id, struct merchant_row *out);
    enum store_rc (*merchant_list)(store *s, struct merchant_row **out, size_t *n);
    enum store_rc (*api_key_insert)(store *s, const struct api_key_row *k);
    enum store_rc (*api_key_get)(store *s, const char *key_id, struct api_key_row *out);
    enum store_rc (*api_key_list)(store *s, const char *merchant_id, struct api_key_row **out, size_t *n);
    enum store_rc (*api_key_revoke)(store *s, const char *merchant_id, const char *key_id, int64_t now);

    /* idempotency: a replay answer, if the key was seen */
    enum store_rc (*idem_get)(store *s, const char *merchant_id, const struct idem_in *idem, struct idem_out *out);
    enum store_rc (*idem_purge)(store *s, int64_t older_than, int64_t *purged);

    /* gateway payments */
    enum store_rc (*payment_insert)(store *s, const struct payment_row *p, const struct idem_in *idem,
                                    struct idem_out *out);
    enum store_rc (*payment_get)(store *s, const char *merchant_id, const char *payment_id, struct payment_row *out);
    enum store_rc (*payment_list)(store *s, const char *merchant_id, const struct payment_filter *f,
                                  struct payment_row **out, size_t *n);
    /* Manual settlement, once, of a successful payment. settled_amount < 0
     * means: amount less refunds less fees. */
    enum store_rc (*payment_settle_one)(store *s, const char *merchant_id, const char *payment_id,
                                        int64_t settled_at, int64_t settled_amount, const struct fee_schedule *fees,
                                        struct payment_row *out);
    /* Deletes a payment with no refunds that is not settled; out gets it as it was. */
    enum store_rc (*payment_delete)(store *s, const char *merchant_id, const char *payment_id,
                                    struct payment_row *out);
    /* Settles every successful unsettled payment created at or before now. */
    enum store_rc (*settle_batch)(store *s, int64_t now, const struct fee_schedule *fees, int64_t *settled);

    /* gateway refunds: the balance check and the insert are one atomic step.
     * On STORE_LIMIT, *refundable holds what is left. */
    enum store_rc (*refund_insert)(store *s, const struct refund_row *r, const struct idem_in *idem,
                                   struct idem_out *out, int64_t *refundable);
    enum store_rc (*refund_get)(store *s, const char *merchant_id, const char *refund_id, struct refund_row *out);
    enum store_rc (*refund_list)(store *s, const char *merchant_id, const struct refund_filter *f,
                                 struct refund_row **out, size_t *n);

    /* gateway vault */
    enum store_rc (*payment_method_insert)(store *s, const struct payment_method_row *pm, const struct idem_in *idem,
                                           struct idem_out *out);
    enum store_rc (*payment_method_get)(store *s, const char *merchant_id, const char *pm_id,
                                        struct payment_method_row *out);
    enum store_rc (*payment_method_delete)(store *s, const char *merchant_id, const char *pm_id);
};

struct store {
    const struct store_ops *ops;
};

struct store_options {
    const char *sqlite_path;
    int commit_batch_max;
};

/* Opens the backend named by kind ("sqlite"), applying migrations. */
store *store_open(const char *kind, const struct store_options *opt, char *err, size_t errsz);
void store_close(store *s);

#endif
