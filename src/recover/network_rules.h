/* Card-network retry rules: which retries of a declined card payment the
 * networks allow, when, and what a forbidden or excess retry costs.
 *
 * The numbers are configuration (network_rules_config.c holds the defaults,
 * a JSON file named by the network_rules_file setting overrides them),
 * because the networks change them; the code here only knows the kinds of
 * rule. The evaluator is pure: the same rules and inputs give the same
 * answer, with no clock and no store. docs/network-rules-config.md states
 * how each rule is read and how attempts are counted. */
#ifndef RECOUP_RECOVER_NETWORK_RULES_H
#define RECOUP_RECOVER_NETWORK_RULES_H

#include <stddef.h>
#include <stdint.h>

struct rc_txn;

#define NR_CODE_MAX 8     /* a network response code or MAC: "05", "R0", "1A" */
#define NR_ID_MAX 48      /* a rule id: "mastercard_24h_cap" */
#define NR_CLASS_MAX 24   /* a canonical decline class: "never" */
#define NR_MAX_CODES 32
#define NR_MAX_MACS 16
#define NR_MAX_CAPS 4
#define NR_MAX_CLASSES 8
#define NR_REASON_MAX 256

/* "No allowed time": earliest_ms of a verdict that can never be retried
 * (or not before an event the evaluator cannot foresee, such as a new
 * payment method). */
#define NR_NEVER INT64_MAX

/* The rule sets, one per scheme; every other scheme uses NR_SCHEME_OTHER. */
enum nr_scheme {
    NR_SCHEME_VISA,
    NR_SCHEME_MASTERCARD,
    NR_SCHEME_AMEX,
    NR_SCHEME_DISCOVER,
    NR_SCHEME_OTHER,
    NR_SCHEME_COUNT
};

/* What a cap counts in its window. */
enum nr_count {
    NR_COUNT_ATTEMPTS,   /* every authorization attempt */
    NR_COUNT_DECLINES,   /* declined attempts */
    NR_COUNT_REATTEMPTS, /* attempts made right after a decline on the card */
};

struct nr_cap {
    char id[NR_ID_MAX];
    int64_t max;       /* most counted attempts in any window */
    int64_t window_ms; /* length of the sliding window */
    enum nr_count count;
    int per_initiator; /* customer- and merchant-initiated counted apart */
};

/* A Merchant Advice Code that asks for a wait before the next retry. */
struct nr_mac_wait {
    char mac[NR_CODE_MAX];
    int64_t wait_ms;
};

struct nr_scheme_rules {
    /* Response codes after which the card is never retried. */
    char never_codes_rule[NR_ID_MAX];
    char never_codes[NR_MAX_CODES][NR_CODE_MAX];
    size_t n_never_codes;
    /* MACs after which the card is never retried. */
    char never_macs[NR_MAX_MACS][NR_CODE_MAX];
    size_t n_never_macs;
    /* MACs after which only an updated payment method may be tried. */
    char update_macs[NR_MAX_MACS][NR_CODE_MAX];
    size_t n_update_macs;
    struct nr_mac_wait mac_waits[NR_MAX_MACS];
    size_t n_mac_waits;
    struct nr_cap caps[NR_MAX_CAPS];
    size_t n_caps;
    /* What the network charges per forbidden or excess retry, in US cents. */
    int64_t fee_cents;
};

struct nr_rules {
    /* Canonical decline classes that are never retried, on any scheme. */
    char never_classes[NR_MAX_CLASSES][NR_CLASS_MAX];
    size_t n_never_classes;
    struct nr_scheme_rules schemes[NR_SCHEME_COUNT];
};

/* The built-in defaults (network_rules_config.c). */
extern const struct nr_rules nr_default_rules;

/* Fills out with the defaults, then, when path is neither NULL nor empty,
 * applies the JSON file at path over them. Returns 0, or -1 with a message
 * naming the file and the field in err (out is then left at the defaults). */
int nr_rules_load(struct nr_rules *out, const char *path, char *err, size_t errsz);
/* The same, from JSON text; source names it in messages. */
int nr_rules_parse(struct nr_rules *out, const char *json, const char *source, char *err, size_t errsz);

/* The rule set of a scheme as Recover stores it (lower case, as validated
 * at ingestion): american_express is amex, maestro is mastercard. */
enum nr_scheme nr_scheme_from_name(const char *scheme);
const char *nr_scheme_name(enum nr_scheme s);

enum nr_initiator { NR_MIT = 0, NR_CIT = 1 };
enum nr_origin { NR_ORIGIN_MERCHANT = 0, NR_ORIGIN_RECOVER = 1 };

/* One authorization attempt on the card. The merchant's own attempts count
 * as much as Recover's: the network sees them all. */
struct nr_attempt {
    int64_t at_ms;
    int success;
    enum nr_initiator initiator;
    enum nr_origin origin;
};

/* An attempt as the store holds it: Recover's retries and subscription
 * renewals are merchant-initiated (the customer is not present). */
struct nr_attempt nr_attempt_from_txn(const struct rc_txn *t);
/* The attempts of txns on one payment method, in the order given, into out
 * (at most cap); returns how many there are (which may exceed cap). */
size_t nr_history_from_txns(const struct rc_txn *txns, size_t n, const char *payment_method_id,
                            struct nr_attempt *out, size_t cap);

/* The latest decline, as the decline classifier reads it. Any text may be
 * NULL or empty when unknown. */
struct nr_decline {
    const char *network_code;  /* network response code: "05", "R1" */
    const char *mac;           /* Mastercard Merchant Advice Code: "01" .. "30" */
    const char *decline_class; /* canonical class: later, technical, fix_data, customer_action, never */
    int64_t declined_at_ms;
    int has_pm_update;         /* the payment method was updated ... */
    int64_t pm_updated_at_ms;  /* ... at this time */
};

struct nr_request {
    enum nr_scheme scheme;
    const struct nr_attempt *history; /* the card's attempts, any order */
    size_t nhistory;
    struct nr_decline decline;
    enum nr_initiator initiator; /* of the proposed retry */
    int64_t proposed_at_ms;
};

struct nr_verdict {
    int allowed;            /* a retry at the proposed time breaks no rule */
    int64_t earliest_ms;    /* earliest allowed time at or after the proposed one, or NR_NEVER */
    int needs_new_payment_method; /* NR_NEVER until the payment method changes */
    /* When not allowed: the rule a retry at the proposed time breaks, a
     * sentence saying why, and the network's fee for that retry. */
    char rule_id[NR_ID_MAX];
    char reason[NR_REASON_MAX];
    int64_t fee_cents;
};

/* Answers whether a retry at q->proposed_at_ms is allowed and, if not, the
 * earliest time it would be. Returns 0, or -1 when memory runs out. */
int nr_evaluate(const struct nr_rules *r, const struct nr_request *q, struct nr_verdict *out);

/* For a simulated plan: 1 when an attempt at q->proposed_at_ms breaks a
 * rule (out says which and its fee), 0 when it does not, -1 on failure. */
int nr_check_planned(const struct nr_rules *r, const struct nr_request *q, struct nr_verdict *out);

#endif
