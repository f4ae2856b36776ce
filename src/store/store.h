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
};

/* One table of operations per domain, so each domain's storage grows in its
 * own files (store/<domain>_store.h, and one file per backend). */
struct store {
    const struct store_ops *ops;              /* merchants, keys, idempotency */
    const struct store_gateway_ops *gateway;  /* payments, refunds, vault */
    const struct store_disputes_ops *disputes; /* checkout records, Basic credentials */
    const struct store_recover_ops *recover;  /* settings, inbox, invoices */
};

#include "store/gateway_store.h"
#include "store/disputes_store.h"
#include "store/recover_store.h"

struct store_options {
    const char *sqlite_path;
    int commit_batch_max;
    const char *database_url; /* postgres: a postgresql:// URL or a libpq keyword string */
    int pg_pool_size;         /* postgres: most connections open at once */
};

/* Opens the backend named by kind ("sqlite" or "postgres"), applying migrations. */
store *store_open(const char *kind, const struct store_options *opt, char *err, size_t errsz);
void store_close(store *s);

#endif
