/* Where Recover charges a retry: one connector per PSP. A connector charges
 * a stored payment method with an idempotency key, so that the same attempt
 * run again (after a crash, or a lost answer) is answered with the first
 * charge instead of making a second one. */
#ifndef RECOUP_RECOVER_PSP_H
#define RECOUP_RECOVER_PSP_H

#include <stdint.h>

#include "http/client.h"
#include "store/recover_store.h"

struct rc_psp_charge {
    const char *base_url;         /* the PSP's API */
    const char *api_key;          /* the merchant's credential there */
    const char *payment_method_id;
    int64_t amount;               /* minor units */
    const char *currency;
    const char *idempotency_key;  /* the attempt id */
    long connect_timeout_ms, timeout_ms;
};

struct rc_psp_result {
    int answered;        /* the PSP decided: success or a decline */
    int success;
    char psp_transaction_id[RC_ID_MAX];
    char decline_code[64];     /* the PSP's reason, as raw_response_message */
    char decline_message[256];
    char network_code[8];      /* the network's response code, if given */
    char error[256];           /* not answered: why (the charge may or may not exist) */
    int permanent;             /* not answered and asking again cannot help (bad key, unknown method) */
};

struct rc_psp_connector {
    const char *psp; /* the psp name transactions carry */
    int (*charge)(http_conn *conn, const struct rc_psp_charge *c, struct rc_psp_result *out);
};

/* The project's own gateway (docs/gateway.md). */
extern const struct rc_psp_connector rc_psp_recoup;

#endif
