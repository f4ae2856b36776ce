/* Decline normalisation: every PSP says "declined" in its own words (free
 * text, its own numeric codes, the card network's response code, a
 * Mastercard Merchant Advice Code). Recover plans retries from one
 * canonical reason and one class (docs/declines.md), derived here from the
 * data in declines_table.c so that adding a mapping never touches logic.
 *
 * Precedence, first that applies wins (docs/declines.md explains why):
 *   1. a successful transaction: "approved", class none;
 *   2. the reason, from the first source that knows it:
 *      a. the PSP's own code (processor_response_code in the PSP's table),
 *      b. the PSP's own text (raw, then PSP message; exact, then phrase),
 *      c. the network response code (explicit, else from network_status,
 *         else processor_response_code for a PSP without a code table),
 *      d. the generic texts ("*" rows and the canonical names themselves);
 *   3. nothing known: generic_decline, class later, or class fix_data when
 *      the PSP called it a hard_decline; the message is counted as unknown;
 *   4. the Mastercard MAC overrides the class last: 03 and 21 force never
 *      (21 also makes the reason revoked unless it is stop_payment), 01
 *      (new account data available) makes a retryable class fix_data.
 */
#ifndef RECOUP_RECOVER_DECLINES_H
#define RECOUP_RECOVER_DECLINES_H

#include <stddef.h>
#include <stdint.h>

#include "store/recover_store.h"

enum rc_decline_class {
    RC_DCL_NONE = 0, /* approved */
    RC_DCL_LATER,    /* retry within the network caps */
    RC_DCL_TECHNICAL,
    RC_DCL_FIX_DATA, /* retry only after the payment method changes */
    RC_DCL_CUSTOMER_ACTION,
    RC_DCL_NEVER,
};

/* Which input the table rows look at. */
enum rc_decline_field {
    RC_DF_CODE,    /* processor_response_code, for the row's PSP */
    RC_DF_TEXT,    /* raw or PSP message, whole text equal to the pattern */
    RC_DF_PHRASE,  /* raw or PSP message containing the pattern */
    RC_DF_NETWORK, /* ISO 8583 / card network response code */
};

/* Where the reason came from (for logs and tests). */
enum rc_decline_source {
    RC_DS_NONE = 0, /* fallback */
    RC_DS_SUCCESS,
    RC_DS_PSP_CODE,
    RC_DS_PSP_TEXT,
    RC_DS_NETWORK,
    RC_DS_TEXT,
    RC_DS_MAC,
};

/* One mapping: psp "*" applies to every PSP. Patterns and codes compare
 * case and punctuation blind ("Do Not Honor" == "do_not_honor"). */
struct rc_decline_rule {
    const char *psp;
    enum rc_decline_field field;
    const char *pattern;
    const char *canonical;
};

/* A canonical reason, its class and Visa category (0: none given). */
struct rc_decline_reason {
    const char *name;
    enum rc_decline_class cls;
    int visa_category;
};

extern const struct rc_decline_rule rc_decline_rules[];
extern const size_t rc_decline_rules_count;
extern const struct rc_decline_reason rc_decline_reasons[];
extern const size_t rc_decline_reasons_count;

/* Everything the normaliser reads; any field may be NULL or "". */
struct rc_decline_input {
    int success;
    const char *psp;
    const char *raw_response_message;
    const char *psp_response_message;
    const char *processor_response_code;
    const char *response_type; /* soft_decline, hard_decline */
    const char *network_status;
    const char *network_code; /* "51", "R0"; NULL: read from network_status */
    const char *mac;          /* Mastercard advice code "03"; NULL: read from network_status */
};

struct rc_decline {
    const char *reason; /* canonical name, or "approved" */
    enum rc_decline_class cls;
    int visa_category;
    int known; /* 0: the generic fallback */
    enum rc_decline_source source;
    char network_code[4]; /* as found, upper case, "" when none */
    char mac[4];          /* "03", "" when none */
};

/* The input view of a stored transaction (pointers into t). */
void rc_decline_input_from_txn(const struct rc_txn *t, struct rc_decline_input *in);

/* Normalises; an unknown decline is counted (see below). */
void rc_decline_normalise(const struct rc_decline_input *in, struct rc_decline *out);
void rc_decline_of_txn(const struct rc_txn *t, struct rc_decline *out);

/* Lookups over the canonical table. */
const struct rc_decline_reason *rc_decline_reason_find(const char *name);
const char *rc_decline_class_name(enum rc_decline_class cls);

/* Unknown declines, process-wide: the distinct (psp, message) pairs that
 * fell back, with counts, so that an operator can see what to map. At most
 * RC_DECLINE_UNKNOWN_MAX pairs are kept; later new pairs only count in the
 * overflow. Each unknown also increments the Prometheus counter
 * recoup_recover_unknown_declines_total. */
#define RC_DECLINE_UNKNOWN_MAX 256
struct rc_unknown_decline {
    char psp[24];
    char message[128]; /* first spelling seen */
    uint64_t count;
};
/* Copies up to max pairs, most frequent first; returns how many were copied.
 * *distinct gets the number kept, *overflow the count of unknowns that found
 * the table full (either may be NULL). */
size_t rc_decline_unknown_list(struct rc_unknown_decline *out, size_t max, size_t *distinct, uint64_t *overflow);
void rc_decline_unknown_reset(void);

#endif
