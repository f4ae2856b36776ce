/* A strategy-lab scenario: a simulated merchant's failed invoices and the
 * hidden truth about each customer, read from JSON (docs/strategy-lab.md
 * documents every field and its default). Parsing checks every field and
 * names each problem by its path, so that a hand-written scenario can be
 * corrected from the message alone. */
#ifndef RECOUP_LAB_SCENARIO_H
#define RECOUP_LAB_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "core/jsonv.h"
#include "recover/network_rules.h"

#define LAB_MAX_CHOICES 32
#define LAB_MAX_POSTAL 8
#define LAB_MAX_CHANCES 16
#define LAB_NAME_MAX 64

/* The kinds of hidden state behind a failed renewal. */
enum lab_decline_type {
    LAB_INSUFFICIENT_FUNDS, /* pay-cycle driven: succeeds while money is there */
    LAB_WITHDRAWAL_LIMIT,   /* a daily limit: succeeds on a later local day */
    LAB_GENERIC,            /* do_not_honor and kin: a chance per attempt */
    LAB_ISSUER_UNAVAILABLE, /* the issuer is down for some hours */
    LAB_EXPIRED_CARD,       /* only a replacement card (updater) can succeed */
    LAB_HARD,               /* never succeeds; retries cost network fees */
    LAB_TYPE_COUNT
};

enum lab_pay_cycle { LAB_WEEKLY, LAB_BIWEEKLY, LAB_SEMIMONTHLY, LAB_MONTHLY, LAB_CYCLE_COUNT };

struct lab_weighted {
    char name[LAB_NAME_MAX];
    double weight;
};

struct lab_region {
    char country[4];
    char zone[LAB_NAME_MAX];
    char postal_codes[LAB_MAX_POSTAL][16];
    size_t npostal;
    double weight;
};

struct lab_currency {
    char code[4];
    double weight;
    double rate; /* one unit in the reporting currency */
};

struct lab_decline_mix {
    enum lab_decline_type type;
    char reason[40]; /* canonical reason reported for this type's declines */
    char mac[4];     /* Mastercard advice code sent with them, "" for none */
    double weight;
};

struct lab_range {
    double lo, hi;
};

struct lab_scenario {
    char name[LAB_NAME_MAX];
    uint64_t seed;
    int64_t invoices;
    int64_t start_ms;       /* the first failures happen from here ... */
    int64_t spread_days;    /* ... over this many days */
    struct lab_range renewal_hours_utc;

    char merchant_id[LAB_NAME_MAX];
    char merchant_tz[LAB_NAME_MAX];
    int64_t dunning_days;
    int64_t max_retries;

    char reporting_currency[4];
    double usd_rate; /* one US dollar in the reporting currency (network fees are in US cents) */
    struct lab_currency currencies[LAB_MAX_CHOICES];
    size_t ncurrencies;
    struct lab_range amount; /* major units of the invoice's currency, log-uniform */

    struct lab_region regions[LAB_MAX_CHOICES];
    size_t nregions;
    double postal_code_share; /* customers whose postal code the merchant sends */
    struct lab_weighted schemes[LAB_MAX_CHOICES];
    size_t nschemes;
    struct lab_weighted funding[LAB_MAX_CHOICES];
    size_t nfunding;
    struct lab_weighted psps[LAB_MAX_CHOICES];
    size_t npsps;

    struct lab_decline_mix declines[LAB_MAX_CHOICES];
    size_t ndeclines;

    /* insufficient funds */
    double pay_cycle_weights[LAB_CYCLE_COUNT];
    double pay_weekday_weights[7]; /* weekly and bi-weekly pay days, 0 = Sunday */
    double pay_mday_weights[29];   /* monthly pay days: 1-28, and 0 for the month's last day */
    struct lab_range arrival_hours; /* after local midnight of pay day */
    struct lab_range funds_last_days;
    double funds_success;

    /* generic declines: the chance of the k-th retry, then the last repeats */
    double generic_chances[LAB_MAX_CHANCES];
    size_t ngeneric_chances;
    struct lab_range generic_spread; /* per-customer multiplier */

    double limit_success;
    struct lab_range downtime_hours;
    double technical_success;

    double updater_share; /* expired cards replaced through the updater */
    struct lab_range updater_days;
    double new_card_success;

    double cancel_share;
    struct lab_range cancel_days;

    double hour_factors[24];
    double debit_hour_factors[24];

    int warmup;
    int64_t warmup_invoices;
    int64_t warmup_renewals; /* successful renewals learned per warm-up invoice */
    int64_t card_history;    /* earlier monthly invoices per customer the merchant forwarded */

    struct nr_rules rules;
};

/* Parses and validates; returns 0, or the number of problems (each in e
 * with its field path). */
int lab_scenario_parse(const char *json, struct lab_scenario *out, verrs *e);
/* Reads a file and parses it; on failure writes every problem, one a line,
 * into err. Returns 0 or -1. */
int lab_scenario_load(const char *path, struct lab_scenario *out, char *err, size_t errsz);

const char *lab_decline_type_name(enum lab_decline_type t);
const char *lab_pay_cycle_name(enum lab_pay_cycle c);

#endif
