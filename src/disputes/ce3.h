/* Visa Compelling Evidence 3.0, as a pure function: given a disputed
 * transaction and earlier transactions, which of them count as evidence,
 * and does the dispute qualify.
 *
 * The rule: at least min_prior earlier transactions on the same payment
 * credential, settled and never disputed or reported as fraud, made
 * min_days to max_days before the disputed one, each sharing at least two
 * of four data elements with it (customer account or login id, IP address,
 * full shipping address, device id or fingerprint), one of which is the IP
 * address or the device id.
 *
 * Days are whole UTC calendar days: a prior made on day P counts for a
 * dispute on day D when min_days <= D - P <= max_days, both ends included
 * (with the defaults, 120 and 365 count, 119 and 366 do not). The time of
 * day plays no part, so the verdict does not change during a day. */
#ifndef RECOUP_DISPUTES_CE3_H
#define RECOUP_DISPUTES_CE3_H

#include <stddef.h>
#include <stdint.h>

enum ce3_element {
    CE3_ACCOUNT = 1,
    CE3_IP = 2,
    CE3_SHIPPING = 4,
    CE3_DEVICE = 8,
};

struct ce3_params {
    int min_days;  /* 120 */
    int max_days;  /* 365 */
    int min_prior; /* 2 */
};

/* One transaction. Empty or NULL strings are unknown elements, which never
 * match. shipping is the normalised full address. */
struct ce3_txn {
    const char *id;
    const char *credential;
    const char *ip;
    const char *device;
    const char *account;
    const char *shipping;
    int64_t purchased_at; /* ms since the epoch, UTC */
    int disputed;
    int fraud_reported;
};

enum ce3_status {
    CE3_QUALIFIES = 0,
    CE3_SAME_TRANSACTION,  /* the disputed transaction itself */
    CE3_OTHER_CREDENTIAL,  /* another payment credential */
    CE3_NOT_EARLIER,       /* on or after the disputed transaction's day */
    CE3_TOO_RECENT,        /* fewer than min_days before */
    CE3_TOO_OLD,           /* more than max_days before */
    CE3_DISPUTED,          /* itself disputed: never evidence */
    CE3_FRAUD_REPORTED,    /* reported as fraud: never evidence */
    CE3_TOO_FEW_ELEMENTS,  /* fewer than two elements match */
    CE3_NO_IP_OR_DEVICE,   /* two or more match, but neither IP nor device */
};

struct ce3_result {
    enum ce3_status status;
    unsigned matched;   /* ce3_element bits shared with the disputed transaction */
    int64_t days_before;
};

struct ce3_verdict {
    int qualifies;
    size_t qualifying;        /* priors with CE3_QUALIFIES */
    unsigned known_elements;  /* elements the disputed transaction has */
    int has_credential;
    size_t counts[CE3_NO_IP_OR_DEVICE + 1]; /* priors per status */
};

/* Whole UTC days from prior_ms's day to disputed_ms's day. */
int64_t ce3_days_before(int64_t disputed_ms, int64_t prior_ms);
/* Elements of t that are known (non-empty). */
unsigned ce3_known(const struct ce3_txn *t);
/* Elements shared by a and b (known in both and equal). */
unsigned ce3_shared(const struct ce3_txn *a, const struct ce3_txn *b);

/* Classifies each prior (results[i] for priors[i]) and gives the verdict. */
void ce3_evaluate(const struct ce3_params *p, const struct ce3_txn *disputed, const struct ce3_txn *priors,
                  size_t n, struct ce3_result *results, struct ce3_verdict *v);

const char *ce3_status_name(enum ce3_status s);
/* "account_id", "ipv4_address", "shipping_address", "device_id". */
const char *ce3_element_name(enum ce3_element e);

#endif
