/* Decline normalisation: every PSP's common codes and texts, every network
 * code Recover relies on, spelling tolerance, which input wins when several
 * disagree, the fallback for unknown declines and their bounded count, and
 * the project's own gateway, whose every decline must be understood. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "gateway/authorizer.h"
#include "http/metrics.h"
#include "recover/declines.h"

struct want {
    const char *psp, *raw, *msg, *code;
    const char *reason;
};

static struct rc_decline norm(const char *psp, const char *raw, const char *msg, const char *code)
{
    struct rc_decline_input in = {0};
    in.psp = psp;
    in.raw_response_message = raw;
    in.psp_response_message = msg;
    in.processor_response_code = code;
    struct rc_decline d;
    rc_decline_normalise(&in, &d);
    return d;
}

static void check_all(const struct want *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct rc_decline d = norm(w[i].psp, w[i].raw, w[i].msg, w[i].code);
        if (!d.known || strcmp(d.reason, w[i].reason) != 0)
            fail_msg("%s raw=%s msg=%s code=%s: want %s, got %s%s", w[i].psp, w[i].raw ? w[i].raw : "-",
                     w[i].msg ? w[i].msg : "-", w[i].code ? w[i].code : "-", w[i].reason, d.reason,
                     d.known ? "" : " (fallback)");
        const struct rc_decline_reason *r = rc_decline_reason_find(w[i].reason);
        assert_non_null(r);
        assert_int_equal(d.cls, r->cls);
    }
}

#define CHECK_ALL(a) check_all(a, sizeof a / sizeof a[0])

static uint64_t unknown_metric(void)
{
    buf b;
    buf_init(&b);
    metrics_render(&b);
    const char *p = strstr(buf_cstr(&b), "\nrecoup_recover_unknown_declines_total ");
    assert_non_null(p);
    uint64_t v = strtoull(p + strlen("\nrecoup_recover_unknown_declines_total "), NULL, 10);
    buf_free(&b);
    return v;
}

/* Patterns as the normaliser compares them. */
static void squashed(const char *in, char *out, size_t outsz)
{
    size_t o = 0;
    for (; *in && o + 1 < outsz; in++)
        if (isalnum((unsigned char)*in))
            out[o++] = (char)tolower((unsigned char)*in);
    out[o] = '\0';
}

/* Every row names a canonical reason; codes belong to one PSP; no pattern
 * is mapped twice to different reasons. */
static void table_is_consistent(void **state)
{
    (void)state;
    for (size_t i = 0; i < rc_decline_rules_count; i++) {
        const struct rc_decline_rule *r = &rc_decline_rules[i];
        if (!rc_decline_reason_find(r->canonical))
            fail_msg("row %zu (%s %s) maps to unknown reason %s", i, r->psp, r->pattern, r->canonical);
        if (r->field == RC_DF_CODE && strcmp(r->psp, "*") == 0)
            fail_msg("row %zu: a PSP code row needs its PSP", i);
        char rp[256], qp[256];
        squashed(r->pattern, rp, sizeof rp);
        if (!rp[0])
            fail_msg("row %zu: an empty pattern", i);
        for (size_t j = 0; j < i; j++) {
            const struct rc_decline_rule *q = &rc_decline_rules[j];
            squashed(q->pattern, qp, sizeof qp);
            if (q->field == r->field && strcasecmp(q->psp, r->psp) == 0 && strcmp(qp, rp) == 0)
                fail_msg("%s %s mapped twice (%s, %s)", r->psp, r->pattern, q->canonical, r->canonical);
        }
    }
    static const char *const spec[] = {
        "insufficient_funds", "withdrawal_limit",   "do_not_honor",   "generic_decline",
        "try_again_later",    "issuer_unavailable", "call_issuer",    "restricted_card",
        "authentication_required", "expired_card",  "invalid_expiry", "incorrect_cvc",
        "incorrect_number",   "invalid_account",    "lost_card",      "stolen_card",
        "pickup_card",        "fraudulent",         "transaction_not_allowed", "stop_payment",
        "revoked", "previously_declined_do_not_retry", "duplicate_transaction"};
    assert_int_equal(rc_decline_reasons_count, sizeof spec / sizeof spec[0]);
    for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++)
        assert_non_null(rc_decline_reason_find(spec[i]));
    assert_string_equal(rc_decline_class_name(RC_DCL_FIX_DATA), "fix_data");
    assert_string_equal(rc_decline_class_name(RC_DCL_CUSTOMER_ACTION), "customer_action");
}

static void network_codes(void **state)
{
    (void)state;
    static const struct {
        const char *code, *reason;
        int cat;
    } cases[] = {
        {"05", "do_not_honor", 4},          {"51", "insufficient_funds", 2}, {"54", "expired_card", 3},
        {"57", "transaction_not_allowed", 1}, {"59", "fraudulent", 2},     {"61", "withdrawal_limit", 2},
        {"62", "restricted_card", 2},       {"65", "withdrawal_limit", 2},   {"91", "issuer_unavailable", 2},
        {"96", "issuer_unavailable", 2},    {"14", "incorrect_number", 1},   {"41", "lost_card", 1},
        {"43", "stolen_card", 1},           {"04", "pickup_card", 1},        {"07", "pickup_card", 1},
        {"15", "invalid_account", 1},       {"46", "invalid_account", 1},    {"R0", "stop_payment", 1},
        {"R1", "revoked", 1},               {"R3", "revoked", 1},            {"1A", "authentication_required", 4},
        {"N7", "incorrect_cvc", 3},         {"82", "incorrect_cvc", 3},      {"19", "try_again_later", 2},
        {"94", "duplicate_transaction", 0}, {"01", "call_issuer", 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* Explicitly, inside network_status, and lower case. */
        char lower[4], status[40];
        for (size_t k = 0; k < 3; k++)
            lower[k] = (char)tolower((unsigned char)cases[i].code[k]);
        snprintf(status, sizeof status, "declined %s", lower);
        struct rc_decline_input in = {0};
        in.raw_response_message = "Declined by the issuer";
        in.network_code = cases[i].code;
        struct rc_decline d, e, f;
        rc_decline_normalise(&in, &d);
        in.network_code = NULL;
        in.network_status = status;
        rc_decline_normalise(&in, &e);
        /* A PSP without its own code table passes the network code through. */
        in.network_status = NULL;
        in.psp = "someprocessor";
        in.processor_response_code = cases[i].code;
        rc_decline_normalise(&in, &f);
        struct rc_decline *all[] = {&d, &e, &f};
        for (size_t k = 0; k < 3; k++) {
            if (!all[k]->known || strcmp(all[k]->reason, cases[i].reason) != 0)
                fail_msg("network %s (form %zu): want %s, got %s", cases[i].code, k, cases[i].reason,
                         all[k]->reason);
            assert_int_equal(all[k]->source, RC_DS_NETWORK);
            assert_int_equal(all[k]->visa_category, cases[i].cat);
            assert_string_equal(all[k]->network_code, cases[i].code);
        }
    }
    /* The Visa category 1 codes are never retried. */
    static const char *const cat1[] = {"04", "07", "12", "14", "15", "41", "43", "46", "57", "R0", "R1", "R3"};
    for (size_t i = 0; i < sizeof cat1 / sizeof cat1[0]; i++) {
        struct rc_decline_input in = {0};
        in.network_code = cat1[i];
        struct rc_decline d;
        rc_decline_normalise(&in, &d);
        if (d.cls != RC_DCL_NEVER)
            fail_msg("network %s should never be retried, class %s", cat1[i], rc_decline_class_name(d.cls));
    }
}

static void stripe(void **state)
{
    (void)state;
    static const struct want w[] = {
        {"stripe", "insufficient_funds", NULL, NULL, "insufficient_funds"},
        {"stripe", "card_velocity_exceeded", NULL, NULL, "withdrawal_limit"},
        {"stripe", "withdrawal_count_limit_exceeded", NULL, NULL, "withdrawal_limit"},
        {"stripe", "do_not_honor", NULL, NULL, "do_not_honor"},
        {"stripe", "generic_decline", NULL, NULL, "generic_decline"},
        {"stripe", "no_action_taken", NULL, NULL, "generic_decline"},
        {"stripe", "card_declined", NULL, NULL, "generic_decline"},
        {"stripe", "try_again_later", NULL, NULL, "try_again_later"},
        {"stripe", "reenter_transaction", NULL, NULL, "try_again_later"},
        {"stripe", "processing_error", NULL, NULL, "issuer_unavailable"},
        {"stripe", "issuer_not_available", NULL, NULL, "issuer_unavailable"},
        {"stripe", "call_issuer", NULL, NULL, "call_issuer"},
        {"stripe", "restricted_card", NULL, NULL, "restricted_card"},
        {"stripe", "authentication_required", NULL, NULL, "authentication_required"},
        {"stripe", "expired_card", NULL, NULL, "expired_card"},
        {"stripe", "invalid_expiry_month", NULL, NULL, "invalid_expiry"},
        {"stripe", "invalid_expiry_year", NULL, NULL, "invalid_expiry"},
        {"stripe", "incorrect_cvc", NULL, NULL, "incorrect_cvc"},
        {"stripe", "invalid_cvc", NULL, NULL, "incorrect_cvc"},
        {"stripe", "incorrect_number", NULL, NULL, "incorrect_number"},
        {"stripe", "invalid_number", NULL, NULL, "incorrect_number"},
        {"stripe", "invalid_account", NULL, NULL, "invalid_account"},
        {"stripe", "lost_card", NULL, NULL, "lost_card"},
        {"stripe", "stolen_card", NULL, NULL, "stolen_card"},
        {"stripe", "pickup_card", NULL, NULL, "pickup_card"},
        {"stripe", "fraudulent", NULL, NULL, "fraudulent"},
        {"stripe", "highest_risk_level", NULL, NULL, "fraudulent"},
        {"stripe", "merchant_blacklist", NULL, NULL, "fraudulent"},
        {"stripe", "transaction_not_allowed", NULL, NULL, "transaction_not_allowed"},
        {"stripe", "not_permitted", NULL, NULL, "transaction_not_allowed"},
        {"stripe", "card_not_supported", NULL, NULL, "transaction_not_allowed"},
        {"stripe", "stop_payment_order", NULL, NULL, "stop_payment"},
        {"stripe", "revocation_of_authorization", NULL, NULL, "revoked"},
        {"stripe", "revocation_of_all_authorizations", NULL, NULL, "revoked"},
        {"stripe", "previously_declined_do_not_retry", NULL, NULL, "previously_declined_do_not_retry"},
        {"stripe", "duplicate_transaction", NULL, NULL, "duplicate_transaction"},
        {"stripe", "card_declined", "Your card has insufficient funds.", NULL, "insufficient_funds"},
        {"stripe", NULL, "Your card has expired.", NULL, "expired_card"},
        {"stripe", NULL, "Your card's security code is incorrect.", NULL, "incorrect_cvc"},
        {"stripe", NULL, "Your card number is incorrect.", NULL, "incorrect_number"},
        {"stripe", NULL, "Your card was declined.", NULL, "generic_decline"},
        {"stripe", NULL, "An error occurred while processing your card. Try again in a little bit.", NULL,
         "issuer_unavailable"},
        {"stripe", NULL, "This card has been declined too many times. Try again after 24 hours.", NULL,
         "previously_declined_do_not_retry"},
    };
    CHECK_ALL(w);
}

static void braintree(void **state)
{
    (void)state;
    static const struct want w[] = {
        {"braintree", NULL, NULL, "2000", "do_not_honor"},
        {"braintree", NULL, NULL, "2001", "insufficient_funds"},
        {"braintree", NULL, NULL, "2002", "withdrawal_limit"},
        {"braintree", NULL, NULL, "2003", "withdrawal_limit"},
        {"braintree", NULL, NULL, "2004", "expired_card"},
        {"braintree", NULL, NULL, "2005", "incorrect_number"},
        {"braintree", NULL, NULL, "2006", "invalid_expiry"},
        {"braintree", NULL, NULL, "2007", "invalid_account"},
        {"braintree", NULL, NULL, "2010", "incorrect_cvc"},
        {"braintree", NULL, NULL, "2012", "lost_card"},
        {"braintree", NULL, NULL, "2013", "stolen_card"},
        {"braintree", NULL, NULL, "2014", "fraudulent"},
        {"braintree", NULL, NULL, "2015", "transaction_not_allowed"},
        {"braintree", NULL, NULL, "2016", "duplicate_transaction"},
        {"braintree", NULL, NULL, "2017", "stop_payment"},
        {"braintree", NULL, NULL, "2018", "revoked"},
        {"braintree", NULL, NULL, "2038", "generic_decline"},
        {"braintree", NULL, NULL, "2041", "call_issuer"},
        {"braintree", NULL, NULL, "2044", "call_issuer"},
        {"braintree", NULL, NULL, "2046", "generic_decline"},
        {"braintree", NULL, NULL, "2047", "pickup_card"},
        {"braintree", NULL, NULL, "2053", "lost_card"},
        {"braintree", NULL, NULL, "2057", "restricted_card"},
        {"braintree", NULL, NULL, "2099", "authentication_required"},
        {"braintree", NULL, NULL, "3000", "issuer_unavailable"},
        {"Braintree", "Insufficient Funds", NULL, NULL, "insufficient_funds"},
        {"braintree", "Do Not Honor", NULL, NULL, "do_not_honor"},
        {"braintree", "Limit Exceeded", NULL, NULL, "withdrawal_limit"},
        {"braintree", "Cardholder's Activity Limit Exceeded", NULL, NULL, "withdrawal_limit"},
        {"braintree", "Expired Card", NULL, NULL, "expired_card"},
        {"braintree", "Invalid Expiration Date", NULL, NULL, "invalid_expiry"},
        {"braintree", "Card Issuer Declined CVV", NULL, NULL, "incorrect_cvc"},
        {"braintree", "Processor Declined \xe2\x80\x93 Possible Lost Card", NULL, NULL, "lost_card"},
        {"braintree", "Processor Declined - Fraud Suspected", NULL, NULL, "fraudulent"},
        {"braintree", "Processor Declined", NULL, NULL, "generic_decline"},
        {"braintree", "Declined \xe2\x80\x93 Call Issuer", NULL, NULL, "call_issuer"},
        {"braintree", "Call Issuer. Pick Up Card", NULL, NULL, "pickup_card"},
        {"braintree", "Processor Network Unavailable \xe2\x80\x93 Try Again", NULL, NULL, "issuer_unavailable"},
        /* The code beats its text when both come (they agree anyway). */
        {"braintree", "Processor Declined", NULL, "2001", "insufficient_funds"},
    };
    CHECK_ALL(w);
}

static void adyen(void **state)
{
    (void)state;
    static const struct want w[] = {
        {"adyen", NULL, NULL, "2", "do_not_honor"},
        {"adyen", NULL, NULL, "3", "call_issuer"},
        {"adyen", NULL, NULL, "4", "issuer_unavailable"},
        {"adyen", NULL, NULL, "5", "pickup_card"},
        {"adyen", NULL, NULL, "6", "expired_card"},
        {"adyen", NULL, NULL, "8", "incorrect_number"},
        {"adyen", NULL, NULL, "9", "issuer_unavailable"},
        {"adyen", NULL, NULL, "11", "authentication_required"},
        {"adyen", NULL, NULL, "12", "insufficient_funds"},
        {"adyen", NULL, NULL, "14", "fraudulent"},
        {"adyen", NULL, NULL, "20", "fraudulent"},
        {"adyen", NULL, NULL, "22", "fraudulent"},
        {"adyen", NULL, NULL, "23", "transaction_not_allowed"},
        {"adyen", NULL, NULL, "24", "incorrect_cvc"},
        {"adyen", NULL, NULL, "25", "restricted_card"},
        {"adyen", NULL, NULL, "26", "revoked"},
        {"adyen", NULL, NULL, "27", "generic_decline"},
        {"adyen", NULL, NULL, "28", "withdrawal_limit"},
        {"adyen", NULL, NULL, "29", "withdrawal_limit"},
        {"adyen", NULL, NULL, "31", "fraudulent"},
        {"adyen", NULL, NULL, "38", "authentication_required"},
        {"adyen", "Refused", NULL, NULL, "do_not_honor"},
        {"adyen", "Referral", NULL, NULL, "call_issuer"},
        {"adyen", "Not enough balance", NULL, NULL, "insufficient_funds"},
        {"adyen", "Blocked Card", NULL, NULL, "pickup_card"},
        {"adyen", "Expired Card", NULL, NULL, "expired_card"},
        {"adyen", "CVC Declined", NULL, NULL, "incorrect_cvc"},
        {"adyen", "FRAUD", NULL, NULL, "fraudulent"},
        {"adyen", "FRAUD-CANCELLED", NULL, NULL, "fraudulent"},
        {"adyen", "Issuer Suspected Fraud", NULL, NULL, "fraudulent"},
        {"adyen", "3D Not Authenticated", NULL, NULL, "authentication_required"},
        {"adyen", "Withdrawal count exceeded", NULL, NULL, "withdrawal_limit"},
        {"adyen", "Revocation Of Auth", NULL, NULL, "revoked"},
        {"adyen", "Declined Non Generic", NULL, NULL, "generic_decline"},
        {"adyen", "Issuer Unavailable", NULL, NULL, "issuer_unavailable"},
    };
    CHECK_ALL(w);
    /* Adyen's 12 is its own code, not the network's "invalid transaction". */
    struct rc_decline d = norm("adyen", "Refused", NULL, "12");
    assert_string_equal(d.reason, "insufficient_funds");
    assert_int_equal(d.source, RC_DS_PSP_CODE);
    assert_string_equal(d.network_code, "");
}

static void other_psps(void **state)
{
    (void)state;
    static const struct want w[] = {
        {"worldpay", "REFUSED", NULL, NULL, "generic_decline"},
        {"worldpay", "INSUFFICIENT FUNDS", NULL, NULL, "insufficient_funds"},
        {"worldpay", "DO NOT HONOUR", NULL, NULL, "do_not_honor"},
        {"worldpay", "EXPIRED CARD", NULL, NULL, "expired_card"},
        {"worldpay", "REFERRAL", NULL, NULL, "call_issuer"},
        {"worldpay", "LOST CARD", NULL, NULL, "lost_card"},
        {"worldpay", "STOLEN CARD, PICK UP", NULL, NULL, "stolen_card"},
        {"worldpay", "PICK UP CARD", NULL, NULL, "pickup_card"},
        {"worldpay", "SUSPECTED FRAUD", NULL, NULL, "fraudulent"},
        {"worldpay", "EXCEEDS WITHDRAWAL AMOUNT LIMIT", NULL, NULL, "withdrawal_limit"},
        {"worldpay", "ISSUER OR SWITCH INOPERATIVE", NULL, NULL, "issuer_unavailable"},
        {"worldpay", "CLOSED ACCOUNT", NULL, NULL, "invalid_account"},
        {"worldpay", "REVOCATION OF ALL AUTHORISATIONS ORDER", NULL, NULL, "revoked"},
        {"recurly", "declined", NULL, NULL, "generic_decline"},
        {"recurly", "insufficient_funds", NULL, NULL, "insufficient_funds"},
        {"recurly", "expired_card", NULL, NULL, "expired_card"},
        {"recurly", "call_issuer", NULL, NULL, "call_issuer"},
        {"recurly", "try_again", NULL, NULL, "try_again_later"},
        {"recurly", "cardholder_requested_stop", NULL, NULL, "stop_payment"},
        {"recurly", "invalid_card_number", NULL, NULL, "incorrect_number"},
        {"recurly", "declined_expiration_date", NULL, NULL, "invalid_expiry"},
        {"recurly", "declined_security_code", NULL, NULL, "incorrect_cvc"},
        {"recurly", "fraud_stolen_card", NULL, NULL, "stolen_card"},
        {"recurly", "fraud_gateway", NULL, NULL, "fraudulent"},
        {"recurly", "restricted_card", NULL, NULL, "restricted_card"},
        {"recurly", "issuer_unavailable", NULL, NULL, "issuer_unavailable"},
        {"recurly", "duplicate_transaction", NULL, NULL, "duplicate_transaction"},
        {"recurly", NULL,
         "The transaction was declined due to insufficient funds in the account. Please use a different card.",
         NULL, "insufficient_funds"},
        {"recharge", "card_declined", NULL, NULL, "generic_decline"},
        {"recharge", "Card declined", NULL, NULL, "generic_decline"},
        {"recharge", "CLOSED_MAX_RETRIES_REACHED", NULL, NULL, "previously_declined_do_not_retry"},
        {"recharge", NULL, "Your card does not have sufficient funds.", NULL, "insufficient_funds"},
        {"recharge", "expired_card", "Your card has expired.", NULL, "expired_card"},
        {"recharge", "insufficient_funds", NULL, NULL, "insufficient_funds"},
    };
    CHECK_ALL(w);
}

static void spelling_tolerance(void **state)
{
    (void)state;
    static const char *const spellings[] = {"insufficient_funds", "Insufficient Funds", "INSUFFICIENT-FUNDS",
                                            " insufficient funds. ", "Insufficient.Funds"};
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
        struct rc_decline d = norm("STRIPE", spellings[i], NULL, NULL);
        if (!d.known || strcmp(d.reason, "insufficient_funds") != 0)
            fail_msg("\"%s\" read as %s", spellings[i], d.reason);
    }
    assert_string_equal(norm(" Adyen ", "not-enough-BALANCE", NULL, NULL).reason, "insufficient_funds");
    assert_string_equal(norm("braintree", NULL, NULL, " 2001 ").reason, "insufficient_funds");
    assert_string_equal(norm("recurly", "Declined Security Code", NULL, NULL).reason, "incorrect_cvc");
    /* A phrase inside a sentence, but not a word that merely starts alike. */
    assert_string_equal(norm(NULL, "Sorry: the card has expired (2023)", NULL, NULL).reason, "expired_card");
    assert_int_equal(norm(NULL, "expired_card_x", NULL, NULL).known, 0);
    assert_int_equal(norm(NULL, "expired", NULL, NULL).known, 0);
}

static void approved(void **state)
{
    (void)state;
    struct rc_decline_input in = {0};
    in.success = 1;
    in.raw_response_message = "approved";
    in.network_status = "00";
    struct rc_decline d;
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.reason, "approved");
    assert_int_equal(d.cls, RC_DCL_NONE);
    assert_int_equal(d.source, RC_DS_SUCCESS);
    /* Even with a decline-looking text, success is success. */
    in.raw_response_message = "insufficient_funds";
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.reason, "approved");
}

static void precedence(void **state)
{
    (void)state;
    struct rc_decline_input in = {0};
    struct rc_decline d;

    /* A PSP code beats a generic text. */
    in.psp = "braintree";
    in.processor_response_code = "2004";
    in.raw_response_message = "insufficient_funds";
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.reason, "expired_card");
    assert_int_equal(d.source, RC_DS_PSP_CODE);

    /* A PSP code beats the network code. */
    in.network_status = "51";
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.reason, "expired_card");
    assert_string_equal(d.network_code, "51");

    /* The PSP's own text beats the network code. */
    memset(&in, 0, sizeof in);
    in.psp = "adyen";
    in.raw_response_message = "Not enough balance";
    in.network_status = "05";
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.reason, "insufficient_funds");
    assert_int_equal(d.source, RC_DS_PSP_TEXT);

    /* The network code beats a generic text. */
    memset(&in, 0, sizeof in);
    in.psp = "acme";
    in.raw_response_message = "generic_decline";
    in.network_status = "54";
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.reason, "expired_card");
    assert_int_equal(d.source, RC_DS_NETWORK);

    /* An explicit network code beats the one in network_status. */
    in.network_code = "51";
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.reason, "insufficient_funds");

    /* The raw message beats the PSP message; a whole text beats a phrase. */
    memset(&in, 0, sizeof in);
    in.raw_response_message = "expired_card";
    in.psp_response_message = "insufficient_funds";
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.reason, "expired_card");
    in.raw_response_message = "Your card has insufficient funds";
    in.psp_response_message = "do_not_honor";
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.reason, "do_not_honor");

    /* Mastercard MAC 03 forces never whatever the reason. */
    memset(&in, 0, sizeof in);
    in.raw_response_message = "insufficient_funds";
    in.network_status = "51 MAC 03";
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.reason, "insufficient_funds");
    assert_int_equal(d.cls, RC_DCL_NEVER);
    assert_string_equal(d.mac, "03");
    assert_string_equal(d.network_code, "51");

    /* MAC 21: the customer cancelled. */
    in.network_status = "MAC21";
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.reason, "revoked");
    assert_int_equal(d.cls, RC_DCL_NEVER);
    assert_string_equal(d.mac, "21");
    in.raw_response_message = "stop_payment_order";
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.reason, "stop_payment");

    /* The MAC passed explicitly; a retry advice (24-30) is kept for the
     * network rules and leaves the class alone. */
    memset(&in, 0, sizeof in);
    in.raw_response_message = "do_not_honor";
    in.mac = "3";
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.mac, "03");
    assert_int_equal(d.cls, RC_DCL_NEVER);
    in.mac = "25";
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.mac, "25");
    assert_int_equal(d.cls, RC_DCL_LATER);

    /* MAC 01: new account data, so the card data must change first; it
     * never softens a never. */
    in.mac = "01";
    rc_decline_normalise(&in, &d);
    assert_int_equal(d.cls, RC_DCL_FIX_DATA);
    in.raw_response_message = "stolen_card";
    rc_decline_normalise(&in, &d);
    assert_int_equal(d.cls, RC_DCL_NEVER);

    /* MAC 21 explains an unmapped text: not counted as unknown. */
    rc_decline_unknown_reset();
    memset(&in, 0, sizeof in);
    in.raw_response_message = "Mystery refusal";
    in.network_status = "MAC 21";
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.reason, "revoked");
    assert_int_equal(d.source, RC_DS_MAC);
    size_t distinct = 1;
    rc_decline_unknown_list(NULL, 0, &distinct, NULL);
    assert_int_equal(distinct, 0);
    /* MAC 03 says no retry, not why: the text stays unknown and counted. */
    in.network_status = "MAC 03";
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.reason, "generic_decline");
    assert_int_equal(d.cls, RC_DCL_NEVER);
    assert_int_equal(d.known, 0);
    rc_decline_unknown_list(NULL, 0, &distinct, NULL);
    assert_int_equal(distinct, 1);
    rc_decline_unknown_reset();

    /* A status without codes yields none. */
    memset(&in, 0, sizeof in);
    in.raw_response_message = "insufficient_funds";
    in.network_status = "declined_by_network";
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.network_code, "");
    assert_string_equal(d.mac, "");
    assert_string_equal(d.reason, "insufficient_funds");
}

static void unknown_fallback(void **state)
{
    (void)state;
    rc_decline_unknown_reset();
    uint64_t before = unknown_metric();
    struct rc_decline_input in = {0};
    in.psp = "stripe";
    in.raw_response_message = "Bank says no (code zz)";
    struct rc_decline d;
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.reason, "generic_decline");
    assert_int_equal(d.cls, RC_DCL_LATER);
    assert_int_equal(d.known, 0);
    assert_int_equal(d.source, RC_DS_NONE);

    in.response_type = "soft_decline";
    rc_decline_normalise(&in, &d);
    assert_int_equal(d.cls, RC_DCL_LATER);
    /* A hard decline without a known reason: no blind retries on the card. */
    in.response_type = "HARD_DECLINE";
    rc_decline_normalise(&in, &d);
    assert_string_equal(d.reason, "generic_decline");
    assert_int_equal(d.cls, RC_DCL_FIX_DATA);
    /* A known reason keeps its class whatever the response type says. */
    in.raw_response_message = "insufficient_funds";
    rc_decline_normalise(&in, &d);
    assert_int_equal(d.cls, RC_DCL_LATER);

    /* The same message in another spelling is the same pair; another PSP
     * is another pair. */
    in.raw_response_message = "BANK SAYS NO code-zz";
    rc_decline_normalise(&in, &d);
    in.psp = "adyen";
    rc_decline_normalise(&in, &d);

    struct rc_unknown_decline list[8];
    size_t distinct = 0;
    uint64_t overflow = 1;
    size_t n = rc_decline_unknown_list(list, 8, &distinct, &overflow);
    assert_int_equal(n, 2);
    assert_int_equal(distinct, 2);
    assert_int_equal(overflow, 0);
    assert_string_equal(list[0].psp, "stripe");
    assert_string_equal(list[0].message, "Bank says no (code zz)");
    assert_int_equal(list[0].count, 4);
    assert_string_equal(list[1].psp, "adyen");
    assert_int_equal(list[1].count, 1);
    assert_int_equal(unknown_metric() - before, 5);

    /* An empty decline is counted under its code, or as empty. */
    rc_decline_unknown_reset();
    rc_decline_normalise(&(struct rc_decline_input){.psp = "acme", .processor_response_code = "X9Z"}, &d);
    assert_int_equal(d.known, 0);
    n = rc_decline_unknown_list(list, 8, NULL, NULL);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].message, "X9Z");

    /* Bounded: new pairs beyond the limit only count as overflow. */
    rc_decline_unknown_reset();
    for (int i = 0; i < RC_DECLINE_UNKNOWN_MAX + 10; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "mystery %d", i);
        rc_decline_normalise(&(struct rc_decline_input){.psp = "acme", .raw_response_message = msg}, &d);
    }
    rc_decline_normalise(&(struct rc_decline_input){.psp = "acme", .raw_response_message = "mystery 3"}, &d);
    n = rc_decline_unknown_list(list, 8, &distinct, &overflow);
    assert_int_equal(n, 8);
    assert_int_equal(distinct, RC_DECLINE_UNKNOWN_MAX);
    assert_int_equal(overflow, 10);
    assert_string_equal(list[0].message, "mystery 3"); /* most frequent first */
    assert_int_equal(list[0].count, 2);
    rc_decline_unknown_reset();
    n = rc_decline_unknown_list(list, 8, &distinct, &overflow);
    assert_int_equal(n, 0);
    assert_int_equal(distinct, 0);
    assert_int_equal(overflow, 0);
}

#define NTHREADS 4
#define PER_THREAD 500
static void *count_many(void *arg)
{
    (void)arg;
    struct rc_decline d;
    for (int i = 0; i < PER_THREAD; i++)
        rc_decline_normalise(&(struct rc_decline_input){.psp = "acme", .raw_response_message = "contended"}, &d);
    return NULL;
}

static void unknown_count_is_thread_safe(void **state)
{
    (void)state;
    rc_decline_unknown_reset();
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, count_many, NULL), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    struct rc_unknown_decline list[2];
    assert_int_equal(rc_decline_unknown_list(list, 2, NULL, NULL), 1);
    assert_int_equal(list[0].count, NTHREADS * PER_THREAD);
    rc_decline_unknown_reset();
}

/* What the project's own gateway says, as a transaction would carry it. */
static void check_gateway(struct auth_result r, const char *what)
{
    if (r.approved)
        return;
    rc_decline_unknown_reset();
    struct rc_decline_input in = {0};
    in.psp = "recoup";
    in.raw_response_message = r.decline_code;
    in.psp_response_message = r.decline_message;
    in.network_status = r.network_code;
    struct rc_decline d;
    rc_decline_normalise(&in, &d);
    if (!d.known)
        fail_msg("%s: gateway decline %s fell back", what, r.decline_code);
    /* Its codes are canonical names, except the MB WAY phone's. */
    if (rc_decline_reason_find(r.decline_code) && strcmp(d.reason, r.decline_code) != 0)
        fail_msg("%s: %s read as %s", what, r.decline_code, d.reason);
    /* Each input alone is understood as well. */
    const char *alone[3] = {r.decline_code, r.decline_message, r.network_code};
    for (int k = 0; k < 3; k++) {
        struct rc_decline_input one = {.psp = "recoup"};
        if (k == 0)
            one.raw_response_message = alone[k];
        else if (k == 1)
            one.psp_response_message = alone[k];
        else
            one.network_status = alone[k];
        rc_decline_normalise(&one, &d);
        if (!d.known)
            fail_msg("%s: gateway %s input %d (%s) fell back", what, r.decline_code, k, alone[k]);
    }
    size_t distinct = 1;
    rc_decline_unknown_list(NULL, 0, &distinct, NULL);
    assert_int_equal(distinct, 0);
}

static void gateway_declines(void **state)
{
    (void)state;
    for (int i = 0; i < sandbox_cards_count; i++)
        check_gateway(auth_card(sandbox_cards[i].number, 1000), sandbox_cards[i].number);
    for (int i = 0; i < sandbox_phones_count; i++)
        check_gateway(auth_mbway(sandbox_phones[i].number, 1000), sandbox_phones[i].number);
    /* Declines of the instrument checks (Luhn, expiry, CVV, phone). */
    static const char *const checks[] = {"incorrect_number", "expired_card", "incorrect_cvc", "invalid_phone_number",
                                         "generic_decline"};
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        check_gateway(auth_decline(checks[i]), checks[i]);
    struct rc_decline d = norm("recoup", "invalid_phone_number", NULL, NULL);
    assert_string_equal(d.reason, "incorrect_number");
}

static void from_txn(void **state)
{
    (void)state;
    struct rc_txn t;
    memset(&t, 0, sizeof t);
    str_copy(t.psp, sizeof t.psp, "braintree");
    str_copy(t.raw_response_message, sizeof t.raw_response_message, "Processor Declined");
    str_copy(t.processor_response_code, sizeof t.processor_response_code, "2006");
    str_copy(t.network_status, sizeof t.network_status, "54");
    struct rc_decline d;
    rc_decline_of_txn(&t, &d);
    assert_string_equal(d.reason, "invalid_expiry");
    assert_int_equal(d.cls, RC_DCL_FIX_DATA);
    assert_int_equal(d.visa_category, 3);
    assert_string_equal(d.network_code, "54");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_is_consistent),
        cmocka_unit_test(network_codes),
        cmocka_unit_test(stripe),
        cmocka_unit_test(braintree),
        cmocka_unit_test(adyen),
        cmocka_unit_test(other_psps),
        cmocka_unit_test(spelling_tolerance),
        cmocka_unit_test(approved),
        cmocka_unit_test(precedence),
        cmocka_unit_test(unknown_fallback),
        cmocka_unit_test(unknown_count_is_thread_safe),
        cmocka_unit_test(gateway_declines),
        cmocka_unit_test(from_txn),
    };
    return cmocka_run_group_tests_name("rc_declines", tests, NULL, NULL);
}
