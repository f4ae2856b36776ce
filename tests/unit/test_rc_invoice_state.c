/* The invoice state machine over hand-made invoices and transactions:
 * every transition and every non-transition, the order of transactions
 * within an event, transactions seen before, and payment-method updates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "recover/invoice_state.h"

#define DAY 86400000LL
#define T0 1709287200000LL /* 2024-03-01T10:00:00Z */

static struct rc_txn txn(const char *id, int success, int64_t at, int64_t amount, const char *raw)
{
    struct rc_txn t;
    memset(&t, 0, sizeof t);
    str_copy(t.transaction_id, sizeof t.transaction_id, id);
    t.success = success;
    t.psp_created_at = at;
    t.amount = amount;
    str_copy(t.currency, sizeof t.currency, "USD");
    str_copy(t.raw_response_message, sizeof t.raw_response_message, raw);
    str_copy(t.origin, sizeof t.origin, "merchant");
    t.is_new = 1;
    return t;
}

/* An invoice as the store hands it over: new, or existing in a state. */
static struct rc_invoice invoice(const char *state)
{
    struct rc_invoice inv;
    memset(&inv, 0, sizeof inv);
    str_copy(inv.invoice_id, sizeof inv.invoice_id, "in_1");
    if (state) {
        inv.exists = 1;
        str_copy(inv.state, sizeof inv.state, state);
    }
    return inv;
}

/* An existing invoice in dunning since T0 with one failure of 10.00. */
static struct rc_invoice open_invoice(const char *state)
{
    struct rc_invoice inv = invoice(state);
    inv.failed_attempts = 1;
    inv.amount_due = 1000;
    str_copy(inv.currency, sizeof inv.currency, "USD");
    inv.has_dunning_started = 1;
    inv.dunning_started_at = T0;
    return inv;
}

static void decide(struct rc_invoice *inv, const struct rc_txn *t, size_t n, struct rc_transition *out)
{
    rc_decide_payment(inv, t, n, T0 + 30 * DAY, out);
}

static void new_invoice_failure_is_pending(void **state)
{
    (void)state;
    struct rc_invoice inv = invoice(NULL);
    struct rc_txn t = txn("t1", 0, T0, 1999, "insufficient_funds");
    struct rc_transition tr;
    decide(&inv, &t, 1, &tr);
    assert_int_equal(tr.changed, 1);
    assert_string_equal(tr.to_state, RC_STATE_PENDING);
    assert_non_null(strstr(tr.reason, "t1"));
    assert_int_equal(inv.failed_attempts, 1);
    assert_int_equal(inv.amount_due, 1999);
    assert_string_equal(inv.currency, "USD");
    assert_int_equal(inv.has_dunning_started, 1);
    assert_int_equal(inv.dunning_started_at, T0);
    assert_int_equal(inv.has_closed, 0);
}

static void new_invoice_expired_card_awaits_payment_method(void **state)
{
    (void)state;
    struct rc_invoice inv = invoice(NULL);
    struct rc_txn t = txn("t1", 0, T0, 1000, "expired_card");
    struct rc_transition tr;
    decide(&inv, &t, 1, &tr);
    assert_int_equal(tr.changed, 1);
    assert_string_equal(tr.to_state, RC_STATE_AWAITING_PM);
    assert_int_equal(inv.failed_attempts, 1);
    assert_int_equal(inv.has_dunning_started, 1);
}

static void new_invoice_success_is_paid(void **state)
{
    (void)state;
    struct rc_invoice inv = invoice(NULL);
    struct rc_txn t = txn("t1", 1, T0, 2500, "approved");
    struct rc_transition tr;
    decide(&inv, &t, 1, &tr);
    assert_int_equal(tr.changed, 1);
    assert_string_equal(tr.to_state, RC_STATE_PAID);
    assert_int_equal(inv.failed_attempts, 0);
    assert_int_equal(inv.has_dunning_started, 0);
    assert_int_equal(inv.amount_due, 2500);
    assert_string_equal(inv.currency, "USD");
}

/* Recover's own success on an invoice nobody knew is still a plain paid. */
static void new_invoice_recover_success_is_paid(void **state)
{
    (void)state;
    struct rc_invoice inv = invoice(NULL);
    struct rc_txn t = txn("t1", 1, T0, 2500, "approved");
    str_copy(t.origin, sizeof t.origin, "recover");
    struct rc_transition tr;
    decide(&inv, &t, 1, &tr);
    assert_string_equal(tr.to_state, RC_STATE_PAID);
}

static void pending_failure_counts_without_transition(void **state)
{
    (void)state;
    struct rc_invoice inv = open_invoice(RC_STATE_PENDING);
    struct rc_txn t = txn("t2", 0, T0 + DAY, 750, "do_not_honor");
    str_copy(t.currency, sizeof t.currency, "EUR");
    struct rc_transition tr;
    decide(&inv, &t, 1, &tr);
    assert_int_equal(tr.changed, 0);
    assert_int_equal(inv.failed_attempts, 2);
    assert_int_equal(inv.amount_due, 750);
    assert_string_equal(inv.currency, "EUR");
    assert_int_equal(inv.dunning_started_at, T0);
}

static void pending_expired_card_awaits(void **state)
{
    (void)state;
    struct rc_invoice inv = open_invoice(RC_STATE_PENDING);
    struct rc_txn t = txn("t2", 0, T0 + DAY, 1000, "Expired Card");
    struct rc_transition tr;
    decide(&inv, &t, 1, &tr);
    assert_int_equal(tr.changed, 1);
    assert_string_equal(tr.to_state, RC_STATE_AWAITING_PM);
    assert_int_equal(inv.failed_attempts, 2);
}

static void awaiting_expired_again_stays(void **state)
{
    (void)state;
    struct rc_invoice inv = open_invoice(RC_STATE_AWAITING_PM);
    struct rc_txn t = txn("t2", 0, T0 + DAY, 1000, "expired_card");
    struct rc_transition tr;
    decide(&inv, &t, 1, &tr);
    assert_int_equal(tr.changed, 0);
    assert_int_equal(inv.failed_attempts, 2);
}

/* A failure for another reason means another payment method was tried. */
static void awaiting_other_failure_is_pending(void **state)
{
    (void)state;
    struct rc_invoice inv = open_invoice(RC_STATE_AWAITING_PM);
    struct rc_txn t = txn("t2", 0, T0 + DAY, 1000, "insufficient_funds");
    struct rc_transition tr;
    decide(&inv, &t, 1, &tr);
    assert_int_equal(tr.changed, 1);
    assert_string_equal(tr.to_state, RC_STATE_PENDING);
    assert_int_equal(inv.failed_attempts, 2);
}

static void merchant_success_closes(void **state)
{
    (void)state;
    static const char *const from[] = {RC_STATE_PENDING, RC_STATE_AWAITING_PM};
    for (size_t i = 0; i < 2; i++) {
        struct rc_invoice inv = open_invoice(from[i]);
        struct rc_txn t = txn("t2", 1, T0 + 2 * DAY, 1000, "approved");
        struct rc_transition tr;
        decide(&inv, &t, 1, &tr);
        assert_int_equal(tr.changed, 1);
        assert_string_equal(tr.to_state, RC_STATE_PAID_BY_MERCHANT);
        assert_int_equal(inv.has_closed, 1);
        assert_int_equal(inv.closed_at, T0 + 2 * DAY);
        assert_int_equal(inv.failed_attempts, 1);
    }
}

static void recover_success_recovers(void **state)
{
    (void)state;
    static const char *const from[] = {RC_STATE_PENDING, RC_STATE_AWAITING_PM};
    for (size_t i = 0; i < 2; i++) {
        struct rc_invoice inv = open_invoice(from[i]);
        struct rc_txn t = txn("retry1", 1, T0 + 3 * DAY, 1000, "approved");
        str_copy(t.origin, sizeof t.origin, "recover");
        struct rc_transition tr;
        decide(&inv, &t, 1, &tr);
        assert_int_equal(tr.changed, 1);
        assert_string_equal(tr.to_state, RC_STATE_RECOVERED);
        assert_non_null(strstr(tr.reason, "retry1"));
        assert_int_equal(inv.has_closed, 1);
        assert_int_equal(inv.closed_at, T0 + 3 * DAY);
    }
}

static void closed_states_never_reopen(void **state)
{
    (void)state;
    static const char *const closed[] = {RC_STATE_PAID,    RC_STATE_PAID_BY_MERCHANT, RC_STATE_RECOVERED,
                                         "exhausted",      "cancelled",               "unrecoverable",
                                         "unknown_to_merchant"};
    for (size_t i = 0; i < sizeof closed / sizeof closed[0]; i++) {
        assert_false(rc_state_is_open(closed[i]));
        struct rc_txn ts[3] = {
            txn("f1", 0, T0 + DAY, 500, "insufficient_funds"),
            txn("f2", 0, T0 + 2 * DAY, 600, "expired_card"),
            txn("s1", 1, T0 + 3 * DAY, 700, "approved"),
        };
        str_copy(ts[2].origin, sizeof ts[2].origin, "recover");
        struct rc_invoice inv = open_invoice(closed[i]);
        inv.has_closed = 1;
        inv.closed_at = T0;
        struct rc_transition tr;
        decide(&inv, ts, 3, &tr);
        if (tr.changed)
            fail_msg("%s changed to %s", closed[i], tr.to_state);
        assert_int_equal(inv.failed_attempts, 1);
        assert_int_equal(inv.amount_due, 1000);
        assert_int_equal(inv.closed_at, T0);
        assert_int_equal(inv.dunning_started_at, T0);
    }
    assert_true(rc_state_is_open(RC_STATE_PENDING));
    assert_true(rc_state_is_open(RC_STATE_AWAITING_PM));
}

/* Transactions seen before (is_new == 0) change nothing. */
static void known_transactions_ignored(void **state)
{
    (void)state;
    struct rc_invoice inv = open_invoice(RC_STATE_PENDING);
    struct rc_txn ts[2] = {txn("t1", 0, T0, 1000, "insufficient_funds"), txn("t9", 1, T0 + DAY, 1000, "approved")};
    ts[0].is_new = 0;
    ts[1].is_new = 0;
    struct rc_transition tr;
    decide(&inv, ts, 2, &tr);
    assert_int_equal(tr.changed, 0);
    assert_int_equal(inv.failed_attempts, 1);
    assert_int_equal(inv.has_closed, 0);

    /* A known one next to a new one: only the new one counts. */
    ts[1] = txn("t2", 0, T0 + DAY, 800, "insufficient_funds");
    decide(&inv, ts, 2, &tr);
    assert_int_equal(tr.changed, 0);
    assert_int_equal(inv.failed_attempts, 2);
    assert_int_equal(inv.amount_due, 800);
}

/* A new invoice made only of transactions known under another invoice
 * still gets a state. */
static void new_invoice_of_known_transactions(void **state)
{
    (void)state;
    struct rc_invoice inv = invoice(NULL);
    struct rc_txn t = txn("t1", 0, T0, 1000, "insufficient_funds");
    t.is_new = 0;
    struct rc_transition tr;
    decide(&inv, &t, 1, &tr);
    assert_int_equal(tr.changed, 1);
    assert_string_equal(tr.to_state, RC_STATE_PENDING);
    assert_int_equal(inv.amount_due, 1000);
    inv = invoice(NULL);
    t.success = 1;
    decide(&inv, &t, 1, &tr);
    assert_string_equal(tr.to_state, RC_STATE_PAID);
}

/* Within an event, transactions count in the order they happened. */
static void ordered_by_psp_created_at(void **state)
{
    (void)state;
    /* Listed success first, but the failure happened first. */
    struct rc_txn ts[2] = {txn("ok", 1, T0 + DAY, 1000, "approved"), txn("fail", 0, T0, 1000, "insufficient_funds")};
    struct rc_invoice inv = invoice(NULL);
    struct rc_transition tr;
    decide(&inv, ts, 2, &tr);
    assert_int_equal(tr.changed, 1);
    assert_string_equal(tr.to_state, RC_STATE_PAID_BY_MERCHANT);
    assert_int_equal(inv.failed_attempts, 1);
    assert_int_equal(inv.dunning_started_at, T0);
    assert_int_equal(inv.closed_at, T0 + DAY);

    /* Listed failure first, but the success happened first. */
    struct rc_txn us[2] = {txn("fail", 0, T0 + DAY, 1000, "insufficient_funds"), txn("ok", 1, T0, 1000, "approved")};
    inv = invoice(NULL);
    decide(&inv, us, 2, &tr);
    assert_string_equal(tr.to_state, RC_STATE_PAID);
    assert_int_equal(inv.failed_attempts, 0);
    assert_int_equal(inv.has_dunning_started, 0);

    /* Three failures out of order: dunning starts at the earliest, the
     * amount due is the latest's, the state follows the latest. */
    struct rc_txn vs[3] = {
        txn("b", 0, T0 + 2 * DAY, 300, "insufficient_funds"),
        txn("c", 0, T0 + 3 * DAY, 400, "expired_card"),
        txn("a", 0, T0 + DAY, 200, "insufficient_funds"),
    };
    inv = invoice(NULL);
    decide(&inv, vs, 3, &tr);
    assert_int_equal(tr.changed, 1);
    assert_string_equal(tr.to_state, RC_STATE_AWAITING_PM);
    assert_int_equal(inv.failed_attempts, 3);
    assert_int_equal(inv.dunning_started_at, T0 + DAY);
    assert_int_equal(inv.amount_due, 400);

    /* Expired, then a different failure later in the same event. */
    struct rc_txn ws[2] = {txn("y", 0, T0 + 2 * DAY, 300, "insufficient_funds"),
                           txn("x", 0, T0 + DAY, 300, "expired_card")};
    inv = invoice(NULL);
    decide(&inv, ws, 2, &tr);
    assert_string_equal(tr.to_state, RC_STATE_PENDING);
    assert_int_equal(inv.failed_attempts, 2);

    /* A failure after the success in one event leaves it closed. */
    struct rc_txn zs[3] = {txn("f1", 0, T0, 100, "insufficient_funds"), txn("s", 1, T0 + DAY, 100, "approved"),
                           txn("f2", 0, T0 + 2 * DAY, 999, "insufficient_funds")};
    inv = invoice(NULL);
    decide(&inv, zs, 3, &tr);
    assert_string_equal(tr.to_state, RC_STATE_PAID_BY_MERCHANT);
    assert_int_equal(inv.failed_attempts, 1);
    assert_int_equal(inv.amount_due, 100);
}

static void needs_new_payment_method(void **state)
{
    (void)state;
    static const char *const yes[] = {"expired_card",  "Expired Card",  "EXPIRED-CARD",  "card_expired",
                                      "incorrect_cvc", "invalid_cvc",   "Incorrect CVV", "invalid_expiry_year",
                                      "invalid_expiry_month"};
    static const char *const no[] = {"insufficient_funds", "do_not_honor", "card_declined", "expired", "",
                                     "generic_decline",    "lost_card",    "expired_card_x"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        struct rc_txn t = txn("t", 0, T0, 1, yes[i]);
        if (!rc_txn_needs_new_payment_method(&t))
            fail_msg("raw \"%s\" should need a new payment method", yes[i]);
        /* The PSP's message counts as well. */
        struct rc_txn u = txn("t", 0, T0, 1, "declined");
        str_copy(u.psp_response_message, sizeof u.psp_response_message, yes[i]);
        if (!rc_txn_needs_new_payment_method(&u))
            fail_msg("psp message \"%s\" should need a new payment method", yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        struct rc_txn t = txn("t", 0, T0, 1, no[i]);
        if (rc_txn_needs_new_payment_method(&t))
            fail_msg("\"%s\" should not need a new payment method", no[i]);
    }
}

/* Codes and response types count too, not only the texts: the decline's
 * class decides (fix_data waits for a new payment method). */
static void needs_new_payment_method_by_class(void **state)
{
    (void)state;
    static const struct {
        const char *psp, *raw, *code, *type;
        int yes;
    } cases[] = {
        {"braintree", "Processor Declined", "2004", NULL, 1},
        {"braintree", "Processor Declined", "2006", NULL, 1},
        {"braintree", "Processor Declined", "2010", NULL, 1},
        {"braintree", "Processor Declined", "2001", NULL, 0},
        {"adyen", "Refused", "24", NULL, 1},
        {"adyen", "Refused", "6", NULL, 1},
        {"adyen", "Refused", "12", NULL, 0},
        {"acme", "declined", "54", NULL, 1},
        {"acme", "declined", "N7", NULL, 1},
        {"acme", "declined", "51", NULL, 0},
        {"stripe", "stolen_card", NULL, "hard_decline", 0},
        {"stripe", "bank said no", NULL, "soft_decline", 0},
        {"stripe", "bank said no", NULL, "hard_decline", 1},
        {"stripe", "bank said no", NULL, NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct rc_txn t = txn("t", 0, T0, 1, cases[i].raw);
        str_copy(t.psp, sizeof t.psp, cases[i].psp);
        str_copy(t.processor_response_code, sizeof t.processor_response_code, cases[i].code ? cases[i].code : "");
        str_copy(t.response_type, sizeof t.response_type, cases[i].type ? cases[i].type : "");
        if (rc_txn_needs_new_payment_method(&t) != cases[i].yes)
            fail_msg("%s %s code %s type %s: want %d", cases[i].psp, cases[i].raw, cases[i].code ? cases[i].code : "-",
                     cases[i].type ? cases[i].type : "-", cases[i].yes);
    }
    /* A success never does. */
    struct rc_txn ok = txn("t", 1, T0, 1, "expired_card");
    assert_int_equal(rc_txn_needs_new_payment_method(&ok), 0);
}

static void empty_event(void **state)
{
    (void)state;
    struct rc_invoice inv = open_invoice(RC_STATE_PENDING);
    struct rc_transition tr;
    decide(&inv, NULL, 0, &tr);
    assert_int_equal(tr.changed, 0);
    assert_int_equal(inv.failed_attempts, 1);
}

static void pm_update_transitions(void **state)
{
    (void)state;
    struct rc_invoice inv = open_invoice(RC_STATE_AWAITING_PM);
    struct rc_transition tr;
    rc_decide_pm_update(&inv, "customer_updated", T0, &tr);
    assert_int_equal(tr.changed, 1);
    assert_string_equal(tr.to_state, RC_STATE_PENDING);
    assert_non_null(strstr(tr.reason, "customer_updated"));
    /* The decision leaves the counters alone. */
    assert_int_equal(inv.failed_attempts, 1);
    assert_int_equal(inv.amount_due, 1000);

    rc_decide_pm_update(&inv, "", T0, &tr);
    assert_int_equal(tr.changed, 1);
    assert_non_null(strstr(tr.reason, "no reason given"));
    rc_decide_pm_update(&inv, NULL, T0, &tr);
    assert_int_equal(tr.changed, 1);
    assert_non_null(strstr(tr.reason, "no reason given"));

    static const char *const others[] = {RC_STATE_PENDING,   RC_STATE_PAID, RC_STATE_PAID_BY_MERCHANT,
                                         RC_STATE_RECOVERED, "exhausted",   "cancelled"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        struct rc_invoice o = open_invoice(others[i]);
        rc_decide_pm_update(&o, "network_updated", T0, &tr);
        if (tr.changed)
            fail_msg("a payment-method update moved %s to %s", others[i], tr.to_state);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_invoice_failure_is_pending),
        cmocka_unit_test(new_invoice_expired_card_awaits_payment_method),
        cmocka_unit_test(new_invoice_success_is_paid),
        cmocka_unit_test(new_invoice_recover_success_is_paid),
        cmocka_unit_test(pending_failure_counts_without_transition),
        cmocka_unit_test(pending_expired_card_awaits),
        cmocka_unit_test(awaiting_expired_again_stays),
        cmocka_unit_test(awaiting_other_failure_is_pending),
        cmocka_unit_test(merchant_success_closes),
        cmocka_unit_test(recover_success_recovers),
        cmocka_unit_test(closed_states_never_reopen),
        cmocka_unit_test(known_transactions_ignored),
        cmocka_unit_test(new_invoice_of_known_transactions),
        cmocka_unit_test(ordered_by_psp_created_at),
        cmocka_unit_test(needs_new_payment_method),
        cmocka_unit_test(needs_new_payment_method_by_class),
        cmocka_unit_test(empty_event),
        cmocka_unit_test(pm_update_transitions),
    };
    return cmocka_run_group_tests_name("rc_invoice_state", tests, NULL, NULL);
}
