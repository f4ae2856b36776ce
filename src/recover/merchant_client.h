/* Recover's calls to a merchant: RetryStatus before every attempt, and, for
 * merchants whose own subscription platform charges (integration
 * "platform"), the request to charge. Authenticated the way the merchant
 * chose (docs/recover.md "Calls to the merchant"). */
#ifndef RECOUP_RECOVER_MERCHANT_CLIENT_H
#define RECOUP_RECOVER_MERCHANT_CLIENT_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "http/client.h"
#include "store/recover_store.h"

struct app;

enum rc_retry_status {
    RC_RS_RETRY,         /* retry now (amount and payment methods may be given) */
    RC_RS_CANCELLED,     /* retry: false: dunning ends, with the merchant's reason */
    RC_RS_UNKNOWN,       /* 404: the merchant does not know the invoice */
    RC_RS_LATER,         /* no answer in time, 429 or 5xx: ask again later */
    RC_RS_BAD_ANSWER,    /* any other answer: counted and asked again later */
};

#define RC_MAX_PAYMENT_METHODS 8

struct rc_retry_status_answer {
    enum rc_retry_status status;
    long http_status;
    char reason[128];       /* retry: false's reason, or what went wrong */
    int has_amount;
    int64_t amount;         /* minor units of the invoice's currency */
    char payment_methods[RC_MAX_PAYMENT_METHODS][RC_ID_MAX];
    size_t npayment_methods;
};

/* POST {retry_status_url}/retry/{invoice_id} with {"custom": ...}. When the
 * merchant has no RetryStatus URL, every retry is allowed. */
void rc_retry_status_call(struct app *app, http_conn *conn, const struct rc_settings *s,
                          const struct rc_invoice *inv, struct rc_retry_status_answer *out);

/* POST {platform_retry_url}/{invoice_id}: asks the merchant's platform to
 * charge; signed like a webhook. 0 when it answered 2xx, else -1 with why
 * in err. */
int rc_platform_retry_request(struct app *app, http_conn *conn, const struct rc_settings *s,
                              const struct rc_invoice *inv, const struct rc_retry *attempt, int64_t amount,
                              const char *payment_method_id, char *err, size_t errsz);

#endif
