/* Validation of Disputes requests, without HTTP or storage: the field
 * rules (e-mail, dotted-quad IPv4, PSP names, payment credentials that
 * must not be card numbers, addresses, money, times) and the readers that
 * turn a JSON body into a record or an evidence query, collecting every
 * problem in the {"loc", "msg", "type"} shape of the API's 422 answers. */
#ifndef RECOUP_DISPUTES_VALIDATE_H
#define RECOUP_DISPUTES_VALIDATE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Problems found in a request body: a JSON array of
 * {"loc": ["body", field, sub...], "msg": text, "type": code}. */
typedef struct dsp_errs {
    cJSON *list;
    int count;
} dsp_errs;

void dsp_errs_init(dsp_errs *e);
void dsp_errs_free(dsp_errs *e);
/* Moves the list out (the caller owns it). */
cJSON *dsp_errs_take(dsp_errs *e);
/* field NULL: the body as a whole; sub: a member of field (or NULL). */
void dsp_errs_add(dsp_errs *e, const char *field, const char *sub, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Field rules. Each returns 1 when s is acceptable. */
int dsp_email_valid(const char *s);
int dsp_ipv4_valid(const char *s);
/* Exact lower-case names only: stripe, braintree, adyen, worldpay,
 * recurly, recharge. */
int dsp_psp_valid(const char *s);
/* Whether s holds a run of 12 to 19 digits (single spaces or dashes may
 * separate them) that passes the Luhn check: a full card number. */
int dsp_looks_like_pan(const char *s);
/* Valid UTF-8 without control characters. */
int dsp_text_ok(const char *s);
/* ISO 3166-1 alpha-2 shape: two upper-case ASCII letters. */
int dsp_country_valid(const char *s);

/* Lower-cased e-mail, the form records are matched by. */
void dsp_email_normalize(const char *s, char *out, size_t outsz);
/* The comparison form of an address: each part lower-cased, punctuation
 * dropped, blanks collapsed, common street words abbreviated ("Street" and
 * "St." compare equal), the postal code upper-cased without blanks or
 * dashes; parts joined with '|'. Two addresses are the same full shipping
 * address when these forms are equal. */
void dsp_address_normalize(const struct dsp_address *a, char *out, size_t outsz);

/* Reads a checkout record body. Fills r (all but merchant, environment,
 * record id and received time) and r->content_hash; the purchase time
 * defaults to now_ms, and then takes no part in the hash, so a record sent
 * again later is still the same record. Returns the number of problems. */
int dsp_record_from_json(const cJSON *body, int64_t now_ms, struct dsp_record_row *r, dsp_errs *e);

/* What an evidence lookup describes: the disputed transaction, by the ids
 * of its stored record and/or its own data elements. */
struct dsp_evidence_query {
    char invoice_id[DSP_TEXT_MAX];
    char subscription_id[DSP_TEXT_MAX];
    char charge_id[DSP_TEXT_MAX];
    char transaction_id[DSP_TEXT_MAX];
    char network_transaction_id[DSP_TEXT_MAX];
    char record_id[DSP_RECORD_ID_MAX];
    char payment_credential[DSP_TEXT_MAX];
    char customer_email[DSP_TEXT_MAX];
    char ipv4_address[16];
    char device_id[DSP_TEXT_MAX];
    char account_id[DSP_TEXT_MAX];
    int has_shipping;
    struct dsp_address shipping;
    int has_purchased_at;
    int64_t purchased_at;
};

/* Reads an evidence lookup body; returns the number of problems. */
int dsp_evidence_from_json(const cJSON *body, struct dsp_evidence_query *q, dsp_errs *e);

#endif
