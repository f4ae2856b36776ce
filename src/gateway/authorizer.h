/* The sandbox authoriser: decides success or decline for a payment from its
 * instrument, by a documented table of test card and phone numbers
 * (docs/gateway.md), so that clients can exercise every path. */
#ifndef RECOUP_GATEWAY_AUTHORIZER_H
#define RECOUP_GATEWAY_AUTHORIZER_H

#include <stdint.h>

struct auth_result {
    int approved;
    const char *decline_code;    /* canonical reason, NULL when approved */
    const char *decline_message; /* cardholder-facing text */
    const char *network_code;    /* ISO 8583 style response code ("00", "51") */
};

/* Decline for a failed instrument check (Luhn, expiry, CVV, phone). */
struct auth_result auth_decline(const char *decline_code);

/* Decision for a well-formed, valid card (digits only). */
struct auth_result auth_card(const char *digits, int64_t amount_minor);
/* Decision for a valid MB WAY phone (nine national digits). */
struct auth_result auth_mbway(const char *phone, int64_t amount_minor);

/* Cards whose decision changes over the charges of one stored payment
 * method, so that a retry schedule can be exercised: the first `declines`
 * charges decline with decline_code, later ones are approved. Charged by
 * number instead of by stored payment method, every charge is a first one. */
struct sandbox_retry_entry {
    const char *number;
    int declines;
    const char *decline_code;
};
extern const struct sandbox_retry_entry sandbox_retry_cards[];
extern const int sandbox_retry_cards_count;

/* Whether the decision for this card depends on earlier charges (the caller
 * then counts them, which costs a store read). */
int auth_card_counts_charges(const char *digits);
/* Decision for the charge of a stored card that had earlier_charges
 * payments before this one. */
struct auth_result auth_card_charge(const char *digits, int64_t amount_minor, int64_t earlier_charges);

/* The table, for the docs test that checks the published list. */
struct sandbox_entry {
    const char *number;
    const char *decline_code; /* NULL: approved */
};
extern const struct sandbox_entry sandbox_cards[];
extern const int sandbox_cards_count;
extern const struct sandbox_entry sandbox_phones[];
extern const int sandbox_phones_count;

#endif
