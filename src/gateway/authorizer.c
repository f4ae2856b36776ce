#include "gateway/authorizer.h"

#include <string.h>

/* Canonical decline reasons with the message and network code a PSP would
 * return for them. The codes are the ones recoup's decline normalisation
 * understands for the project's own gateway. */
static const struct {
    const char *code;
    const char *message;
    const char *network_code;
} declines[] = {
    {"insufficient_funds", "Your card has insufficient funds.", "51"},
    {"do_not_honor", "Your card was declined: the issuer did not honour the payment.", "05"},
    {"expired_card", "Your card has expired.", "54"},
    {"incorrect_cvc", "Your card's security code is incorrect.", "N7"},
    {"lost_card", "Your card was declined: it has been reported lost.", "41"},
    {"stolen_card", "Your card was declined: it has been reported stolen.", "43"},
    {"fraudulent", "Your card was declined: the payment is suspected of fraud.", "59"},
    {"issuer_unavailable", "The card issuer could not be reached; try again later.", "91"},
    {"withdrawal_limit", "Your card has exceeded its withdrawal or spending limit.", "61"},
    {"incorrect_number", "Your card number is incorrect.", "14"},
    {"invalid_phone_number", "The phone number is not a valid MB WAY (Portuguese mobile) number.", "14"},
    {"generic_decline", "Your card was declined.", "05"},
};

const struct sandbox_entry sandbox_cards[] = {
    {"4242424242424242", NULL},
    {"5555555555554444", NULL},
    {"378282246310005", NULL},
    {"4000000000009995", "insufficient_funds"},
    {"4000000000000002", "do_not_honor"},
    {"4000000000000069", "expired_card"},
    {"4000000000000127", "incorrect_cvc"},
    {"4000000000009987", "lost_card"},
    {"4000000000009979", "stolen_card"},
    {"4100000000000019", "fraudulent"},
    {"4000000000000119", "issuer_unavailable"},
    {"4000000000009961", "withdrawal_limit"},
    {"5100000000000511", "insufficient_funds"},
    {"5100000000000008", "do_not_honor"},
};
const int sandbox_cards_count = sizeof sandbox_cards / sizeof sandbox_cards[0];

const struct sandbox_retry_entry sandbox_retry_cards[] = {
    {"4000000000005126", 2, "insufficient_funds"},
};
const int sandbox_retry_cards_count = sizeof sandbox_retry_cards / sizeof sandbox_retry_cards[0];

const struct sandbox_entry sandbox_phones[] = {
    {"912000051", "insufficient_funds"},
    {"912000005", "do_not_honor"},
    {"912000091", "issuer_unavailable"},
    {"912000061", "withdrawal_limit"},
    {"912000059", "fraudulent"},
};
const int sandbox_phones_count = sizeof sandbox_phones / sizeof sandbox_phones[0];

static const struct auth_result approved = {1, NULL, NULL, "00"};

struct auth_result auth_decline(const char *decline_code)
{
    for (size_t i = 0; i < sizeof declines / sizeof declines[0]; i++)
        if (strcmp(declines[i].code, decline_code) == 0)
            return (struct auth_result){0, declines[i].code, declines[i].message, declines[i].network_code};
    return (struct auth_result){0, "generic_decline", "Your card was declined.", "05"};
}

static struct auth_result lookup(const struct sandbox_entry *table, int n, const char *number)
{
    for (int i = 0; i < n; i++)
        if (strcmp(table[i].number, number) == 0)
            return table[i].decline_code ? auth_decline(table[i].decline_code) : approved;
    return approved;
}

static const struct sandbox_retry_entry *retry_entry(const char *digits)
{
    for (int i = 0; i < sandbox_retry_cards_count; i++)
        if (strcmp(sandbox_retry_cards[i].number, digits) == 0)
            return &sandbox_retry_cards[i];
    return NULL;
}

int auth_card_counts_charges(const char *digits) { return retry_entry(digits) != NULL; }

struct auth_result auth_card_charge(const char *digits, int64_t amount_minor, int64_t earlier_charges)
{
    const struct sandbox_retry_entry *e = retry_entry(digits);
    if (!e)
        return auth_card(digits, amount_minor);
    return earlier_charges < e->declines ? auth_decline(e->decline_code) : approved;
}

struct auth_result auth_card(const char *digits, int64_t amount_minor)
{
    (void)amount_minor;
    const struct sandbox_retry_entry *e = retry_entry(digits);
    if (e)
        return auth_decline(e->decline_code);
    return lookup(sandbox_cards, sandbox_cards_count, digits);
}

struct auth_result auth_mbway(const char *phone, int64_t amount_minor)
{
    (void)amount_minor;
    return lookup(sandbox_phones, sandbox_phones_count, phone);
}
