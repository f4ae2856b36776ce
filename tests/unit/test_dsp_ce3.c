/* The Visa Compelling Evidence 3.0 matcher: the 120 to 365 day window
 * (boundaries 119, 120, 365, 366), the number of priors, the two-of-four
 * elements with IP or device, and the priors that never count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/timefmt.h"
#include "disputes/ce3.h"

#define DAY 86400000LL

static const struct ce3_params P = {120, 365, 2};

static int64_t at(int y, unsigned m, unsigned d, int hour)
{
    return days_from_civil(y, m, d) * DAY + (int64_t)hour * 3600000;
}

/* The disputed transaction: 2026-06-15 at 10:00 UTC. */
static struct ce3_txn disputed(void)
{
    struct ce3_txn d = {.id = "rec_disputed", .credential = "fp_card_1", .ip = "203.0.113.7", .device = "dev_a",
                        .account = "acct_9", .shipping = "1 main st||springfield|il|62701|US",
                        .purchased_at = at(2026, 6, 15, 10)};
    return d;
}

/* A prior on the same credential, days before, sharing IP and device. */
static struct ce3_txn prior(const char *id, int days_before)
{
    struct ce3_txn t = disputed();
    t.id = id;
    t.account = "";
    t.shipping = "";
    t.purchased_at = t.purchased_at - (int64_t)days_before * DAY;
    return t;
}

static void evaluate(const struct ce3_txn *d, const struct ce3_txn *priors, size_t n, struct ce3_result *res,
                     struct ce3_verdict *v)
{
    ce3_evaluate(&P, d, priors, n, res, v);
}

static void day_counting(void **state)
{
    (void)state;
    int64_t d = at(2026, 6, 15, 10);
    assert_int_equal(ce3_days_before(d, at(2026, 2, 15, 10)), 120);
    /* Whole calendar days: the time of day does not matter. */
    assert_int_equal(ce3_days_before(at(2026, 6, 15, 0), at(2026, 2, 15, 23)), 120);
    assert_int_equal(ce3_days_before(at(2026, 6, 15, 23), at(2026, 2, 15, 0)), 120);
    assert_int_equal(ce3_days_before(d, at(2025, 6, 15, 10)), 365);
    assert_int_equal(ce3_days_before(d, d), 0);
    /* Across a leap day. */
    assert_int_equal(ce3_days_before(at(2024, 3, 1, 0), at(2024, 2, 28, 0)), 2);
    /* Before 1970, days are still whole. */
    assert_int_equal(ce3_days_before(at(1970, 1, 1, 1), at(1969, 12, 31, 23)), 1);
}

static void window_boundaries(void **state)
{
    (void)state;
    struct ce3_txn d = disputed();
    static const struct {
        int days;
        enum ce3_status want;
    } cases[] = {
        {119, CE3_TOO_RECENT}, {120, CE3_QUALIFIES}, {121, CE3_QUALIFIES}, {200, CE3_QUALIFIES},
        {364, CE3_QUALIFIES},  {365, CE3_QUALIFIES}, {366, CE3_TOO_OLD},    {1, CE3_TOO_RECENT},
        {0, CE3_NOT_EARLIER},  {-3, CE3_NOT_EARLIER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ce3_txn t = prior("p", cases[i].days);
        struct ce3_result r;
        struct ce3_verdict v;
        evaluate(&d, &t, 1, &r, &v);
        if (r.status != cases[i].want)
            fail_msg("%d days before: %s, want %s", cases[i].days, ce3_status_name(r.status),
                     ce3_status_name(cases[i].want));
        assert_int_equal(r.days_before, cases[i].days);
    }
}

static void two_priors_at_the_edges_qualify(void **state)
{
    (void)state;
    struct ce3_txn d = disputed();
    struct ce3_txn priors[] = {prior("p120", 120), prior("p365", 365)};
    struct ce3_result r[2];
    struct ce3_verdict v;
    evaluate(&d, priors, 2, r, &v);
    assert_true(v.qualifies);
    assert_int_equal(v.qualifying, 2);
    assert_int_equal(r[0].matched, CE3_IP | CE3_DEVICE);
}

static void just_outside_the_edges(void **state)
{
    (void)state;
    struct ce3_txn d = disputed();
    struct ce3_txn priors[] = {prior("p119", 119), prior("p366", 366), prior("p200", 200)};
    struct ce3_result r[3];
    struct ce3_verdict v;
    evaluate(&d, priors, 3, r, &v);
    assert_false(v.qualifies);
    assert_int_equal(v.qualifying, 1);
    assert_int_equal(v.counts[CE3_TOO_RECENT], 1);
    assert_int_equal(v.counts[CE3_TOO_OLD], 1);
}

static void one_prior_is_not_enough(void **state)
{
    (void)state;
    struct ce3_txn d = disputed();
    struct ce3_txn one = prior("p", 200);
    struct ce3_result r;
    struct ce3_verdict v;
    evaluate(&d, &one, 1, &r, &v);
    assert_int_equal(r.status, CE3_QUALIFIES);
    assert_false(v.qualifies);
    evaluate(&d, NULL, 0, NULL, &v);
    assert_false(v.qualifies);
    assert_int_equal(v.qualifying, 0);
}

static void ip_or_device_must_be_among_the_matches(void **state)
{
    (void)state;
    struct ce3_txn d = disputed();
    /* Account and shipping match; IP and device differ. */
    struct ce3_txn a = prior("a", 150), b = prior("b", 160);
    a.ip = b.ip = "198.51.100.1";
    a.device = b.device = "dev_other";
    a.account = b.account = "acct_9";
    a.shipping = b.shipping = d.shipping;
    struct ce3_txn priors[] = {a, b};
    struct ce3_result r[2];
    struct ce3_verdict v;
    evaluate(&d, priors, 2, r, &v);
    assert_int_equal(r[0].status, CE3_NO_IP_OR_DEVICE);
    assert_int_equal(r[0].matched, CE3_ACCOUNT | CE3_SHIPPING);
    assert_false(v.qualifies);

    /* IP alone with the account is enough; device alone with shipping too. */
    priors[0].ip = d.ip;
    priors[1].device = d.device;
    evaluate(&d, priors, 2, r, &v);
    assert_int_equal(r[0].matched, CE3_ACCOUNT | CE3_SHIPPING | CE3_IP);
    assert_true(v.qualifies);
}

static void ip_missing_or_device_missing(void **state)
{
    (void)state;
    /* A disputed transaction without IP or device can never qualify. */
    struct ce3_txn d = disputed();
    d.ip = "";
    d.device = NULL;
    struct ce3_txn a = prior("a", 150), b = prior("b", 160);
    a.account = b.account = "acct_9";
    a.shipping = b.shipping = d.shipping;
    struct ce3_txn priors[] = {a, b};
    struct ce3_result r[2];
    struct ce3_verdict v;
    evaluate(&d, priors, 2, r, &v);
    assert_false(v.qualifies);
    assert_int_equal(v.known_elements, CE3_ACCOUNT | CE3_SHIPPING);
    assert_int_equal(r[1].status, CE3_NO_IP_OR_DEVICE);

    /* Only the device is known: device plus account qualifies. */
    d = disputed();
    d.ip = NULL;
    priors[0].ip = priors[1].ip = NULL;
    evaluate(&d, priors, 2, r, &v);
    assert_int_equal(r[0].matched, CE3_ACCOUNT | CE3_SHIPPING | CE3_DEVICE);
    assert_true(v.qualifies);

    /* A prior without IP or device shares too little. */
    d = disputed();
    struct ce3_txn bare = prior("bare", 150);
    bare.ip = "";
    bare.device = "";
    evaluate(&d, &bare, 1, r, &v);
    assert_int_equal(r[0].status, CE3_TOO_FEW_ELEMENTS);
}

static void unknown_elements_never_match(void **state)
{
    (void)state;
    struct ce3_txn a = {.ip = "", .device = "", .account = "", .shipping = ""};
    struct ce3_txn b = a;
    assert_int_equal(ce3_shared(&a, &b), 0);
    assert_int_equal(ce3_known(&a), 0);
    b.ip = NULL;
    assert_int_equal(ce3_shared(&a, &b), 0);
}

static void disputed_and_fraud_reported_priors_never_count(void **state)
{
    (void)state;
    struct ce3_txn d = disputed();
    struct ce3_txn priors[] = {prior("ok", 150), prior("disputed", 160), prior("fraud", 170)};
    priors[1].disputed = 1;
    priors[2].fraud_reported = 1;
    struct ce3_result r[3];
    struct ce3_verdict v;
    evaluate(&d, priors, 3, r, &v);
    assert_int_equal(r[0].status, CE3_QUALIFIES);
    assert_int_equal(r[1].status, CE3_DISPUTED);
    assert_int_equal(r[2].status, CE3_FRAUD_REPORTED);
    assert_false(v.qualifies);
    priors[1].disputed = 0;
    evaluate(&d, priors, 3, r, &v);
    assert_true(v.qualifies);
}

static void other_credential_never_counts(void **state)
{
    (void)state;
    struct ce3_txn d = disputed();
    struct ce3_txn priors[] = {prior("a", 150), prior("b", 160)};
    priors[1].credential = "fp_card_2";
    struct ce3_result r[2];
    struct ce3_verdict v;
    evaluate(&d, priors, 2, r, &v);
    assert_int_equal(r[1].status, CE3_OTHER_CREDENTIAL);
    assert_false(v.qualifies);
    /* Without a credential on the disputed side nothing is "the same". */
    d.credential = "";
    priors[1].credential = "fp_card_1";
    evaluate(&d, priors, 2, r, &v);
    assert_false(v.has_credential);
    assert_false(v.qualifies);
    assert_int_equal(v.counts[CE3_OTHER_CREDENTIAL], 2);
}

static void the_disputed_record_itself_is_skipped(void **state)
{
    (void)state;
    struct ce3_txn d = disputed();
    struct ce3_txn self = d;
    self.purchased_at -= 200 * DAY; /* even if its date were in the window */
    struct ce3_result r;
    struct ce3_verdict v;
    evaluate(&d, &self, 1, &r, &v);
    assert_int_equal(r.status, CE3_SAME_TRANSACTION);
}

static void configurable_parameters(void **state)
{
    (void)state;
    struct ce3_txn d = disputed();
    struct ce3_txn priors[] = {prior("a", 100), prior("b", 110), prior("c", 400)};
    struct ce3_result r[3];
    struct ce3_verdict v;
    const struct ce3_params wide = {90, 400, 3};
    ce3_evaluate(&wide, &d, priors, 3, r, &v);
    assert_true(v.qualifies);
    const struct ce3_params strict = {90, 399, 3};
    ce3_evaluate(&strict, &d, priors, 3, r, &v);
    assert_false(v.qualifies);
}

static void names(void **state)
{
    (void)state;
    assert_string_equal(ce3_element_name(CE3_IP), "ipv4_address");
    assert_string_equal(ce3_element_name(CE3_DEVICE), "device_id");
    assert_string_equal(ce3_element_name(CE3_ACCOUNT), "account_id");
    assert_string_equal(ce3_element_name(CE3_SHIPPING), "shipping_address");
    assert_string_equal(ce3_status_name(CE3_TOO_OLD), "too_old");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(day_counting),
        cmocka_unit_test(window_boundaries),
        cmocka_unit_test(two_priors_at_the_edges_qualify),
        cmocka_unit_test(just_outside_the_edges),
        cmocka_unit_test(one_prior_is_not_enough),
        cmocka_unit_test(ip_or_device_must_be_among_the_matches),
        cmocka_unit_test(ip_missing_or_device_missing),
        cmocka_unit_test(unknown_elements_never_match),
        cmocka_unit_test(disputed_and_fraud_reported_priors_never_count),
        cmocka_unit_test(other_credential_never_counts),
        cmocka_unit_test(the_disputed_record_itself_is_skipped),
        cmocka_unit_test(configurable_parameters),
        cmocka_unit_test(names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
