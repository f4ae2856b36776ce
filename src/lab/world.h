/* The strategy lab's world: a population of customers whose renewal
 * failed, each with hidden state that decides whether a retry at a given
 * time can succeed (money on the account, a daily limit, an issuer that is
 * down, a card awaiting replacement, a cancelled subscription, a card
 * that will never work). Strategies see only what a merchant would send;
 * the oracle reads the hidden state through lab_world_chance, but never
 * the chance outcomes, which come from lab_world_draw.
 *
 * Everything is a pure function of the scenario and the seed: the same
 * inputs give the same population and the same draws on every machine. */
#ifndef RECOUP_LAB_WORLD_H
#define RECOUP_LAB_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "lab/scenario.h"

#define LAB_HOUR_MS INT64_C(3600000)
#define LAB_DAY_MS (24 * LAB_HOUR_MS)
#define LAB_NEVER INT64_MAX
#define LAB_MAX_FUNDS 16
/* Earlier invoices of a customer the merchant forwarded (scenario
 * card_history), and attempts on each: the renewal and the previous
 * schedule's 8 retries. */
#define LAB_MAX_PAST_INVOICES 3
#define LAB_PAST_ATTEMPTS 9

struct lab_customer {
    uint32_t id;     /* unique within its population; names the ids sent */
    uint8_t type;    /* enum lab_decline_type */
    uint8_t mix;     /* index into scenario declines */
    uint8_t region;
    uint8_t scheme;
    uint8_t funding;
    uint8_t psp;
    uint8_t currency;
    uint8_t cycle;    /* enum lab_pay_cycle (insufficient funds only) */
    int8_t postal;    /* index into the region's postal codes, -1: not sent */
    uint8_t debit;    /* the debit hour factors apply */
    uint8_t mastercard; /* MACs are sent */
    uint8_t nfunds;
    int64_t amount_minor;
    double value; /* the amount in the reporting currency */
    int64_t fail_at;
    int64_t cancel_at;   /* RetryStatus says no from here; LAB_NEVER when never */
    int64_t replaced_at; /* the updater's new card arrives; LAB_NEVER when never */
    int64_t down_until;  /* issuer unavailable until */
    double generic_mult;
    int64_t funds_from[LAB_MAX_FUNDS]; /* money on the account in [from, to) */
    int64_t funds_to[LAB_MAX_FUNDS];
    /* Earlier invoice k (0: a month before the failed renewal, 1: two
     * months, ...): how many of its attempts failed before one went
     * through (LAB_PAST_ATTEMPTS: none did). */
    uint8_t past_failed[LAB_MAX_PAST_INVOICES];
};

/* One attempt on an earlier invoice of the same card. */
struct lab_past {
    int64_t at;
    int success;
};

/* UTC offsets of a zone, hour by hour over the simulated span, so that the
 * world's many local-time questions do not each walk the zone rules. */
struct lab_zone {
    char name[LAB_NAME_MAX];
    int64_t t0;
    size_t n;
    int16_t *offset_min;
};

struct lab_world {
    const struct lab_scenario *s;
    uint64_t seed;
    struct lab_zone zones[LAB_MAX_CHOICES + 1];
    size_t nzones;
    uint8_t region_zone[LAB_MAX_CHOICES];
};

struct lab_local {
    int64_t day; /* local days since 1970-01-01 */
    int hour, wday, mday, month;
};

/* Builds the zone tables for the span the scenario covers. 0 or -1 (memory). */
int lab_world_init(struct lab_world *w, const struct lab_scenario *s, uint64_t seed);
void lab_world_free(struct lab_world *w);

/* The population: n customers of one stream (0: the dunning run, 1: the
 * warm-up month), first failures between from_ms and from_ms + span_ms. */
struct lab_customer *lab_population(const struct lab_world *w, int stream, size_t n, int64_t from_ms, int64_t span_ms);

void lab_world_local(const struct lab_world *w, const struct lab_customer *c, int64_t t, struct lab_local *out);
/* Money on the account at t (insufficient-funds customers). */
int lab_world_funds(const struct lab_customer *c, int64_t t);
/* The replacement card is on file at t. */
int lab_world_new_card(const struct lab_customer *c, int64_t t);

/* The card's attempts on the customer's earlier invoices (scenario
 * card_history of them, a month apart before the failed renewal), oldest
 * first, into out (room for LAB_MAX_PAST_INVOICES * LAB_PAST_ATTEMPTS);
 * returns how many. */
size_t lab_world_past(const struct lab_world *w, const struct lab_customer *c, struct lab_past *out);

/* The true chance that a retry at t succeeds, after `retries` retries of
 * the invoice, the latest failure at last_fail. 0 when nothing can
 * succeed then (including after a cancellation). */
double lab_world_chance(const struct lab_world *w, const struct lab_customer *c, int64_t t, int retries,
                        int64_t last_fail);
/* The chance outcome of retry number `retries` (0-based): a uniform draw in
 * [0, 1), the same for every strategy (common random numbers make the
 * comparison sharper than independent draws). */
double lab_world_draw(const struct lab_world *w, int stream, const struct lab_customer *c, int retries);
/* The canonical reason a failed attempt at t reports, and its MAC (""). */
void lab_world_failure(const struct lab_world *w, const struct lab_customer *c, int64_t t, const char **reason,
                       const char **mac);

/* The PSP's words for an outcome (what a merchant forwards). */
struct lab_psp_outcome {
    const char *raw;
    const char *psp_message;  /* "" when none */
    const char *code;         /* processor_response_code, "" when none */
    char network_status[24];  /* "51", "05 MAC 27", "" */
    const char *response_type;
};
void lab_psp_outcome(const char *psp, const char *reason, const char *mac, int success, struct lab_psp_outcome *o);

/* splitmix64 over a key: the lab's one source of randomness. */
uint64_t lab_hash(uint64_t a, uint64_t b, uint64_t c, uint64_t d);
double lab_unit(uint64_t h);

#endif
