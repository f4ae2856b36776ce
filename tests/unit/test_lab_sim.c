/* The strategy lab's runs: the fixed schedules' retries and days, the
 * network-rule violations and fees they cause, RetryStatus ending dunning
 * for cancelled subscriptions, the oracle never doing worse than the
 * planner where the world leaves nothing to chance, the planner strategy
 * being fed (warm-up, decisions), and one report per seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonv.h"
#include "lab/scenario.h"
#include "lab/simulate.h"
#include "lab/strategies.h"

static struct lab_scenario sc;
static struct lab_report rep;

#define FLAT "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]"

static void load(const char *text)
{
    verrs e;
    verrs_init(&e);
    if (lab_scenario_parse(text, &sc, &e) != 0) {
        char *p = cJSON_PrintUnformatted(e.list);
        fail_msg("scenario refused: %s", p);
    }
    verrs_free(&e);
}

static void run(unsigned mask)
{
    struct lab_options o = {sc.seed, mask, 1};
    char err[512];
    if (lab_simulate(&sc, &o, &rep, err, sizeof err) != 0)
        fail_msg("simulation failed: %s", err);
}

#define BIT(s) (1u << (s))
#define FIXED (BIT(LAB_FIXED_8_IN_14) | BIT(LAB_FIXED_8_16_24) | BIT(LAB_FIXED_1_3_5_7))

static void test_fixed_schedule_days(void **state)
{
    (void)state;
    for (int k = 0; k < 8; k++)
        assert_int_equal(lab_fixed_offset(LAB_FIXED_8_IN_14, k), (int64_t)(k + 1) * 42 * LAB_HOUR_MS);
    assert_int_equal(lab_fixed_offset(LAB_FIXED_8_IN_14, 7), 14 * LAB_DAY_MS);
    assert_int_equal(lab_fixed_offset(LAB_FIXED_8_IN_14, 8), -1);
    assert_int_equal(lab_fixed_offset(LAB_FIXED_8_16_24, 0), 8 * LAB_DAY_MS);
    assert_int_equal(lab_fixed_offset(LAB_FIXED_8_16_24, 1), 16 * LAB_DAY_MS);
    assert_int_equal(lab_fixed_offset(LAB_FIXED_8_16_24, 2), 24 * LAB_DAY_MS);
    assert_int_equal(lab_fixed_offset(LAB_FIXED_8_16_24, 3), -1);
    const int days[] = {1, 3, 5, 7};
    for (int k = 0; k < 4; k++)
        assert_int_equal(lab_fixed_offset(LAB_FIXED_1_3_5_7, k), days[k] * LAB_DAY_MS);
    assert_int_equal(lab_fixed_offset(LAB_FIXED_1_3_5_7, 4), -1);
    assert_int_equal(lab_fixed_offset(LAB_RECOUP, 0), -1);
    assert_int_equal(lab_fixed_offset(LAB_ORACLE, 0), -1);
}

/* Cards that never work: every fixed retry is made, each breaks the
 * never-retry rule and costs Visa's fee; the oracle makes none. */
static void test_fixed_schedules_on_hard_declines(void **state)
{
    (void)state;
    load("{\"name\":\"hard\",\"invoices\":40,\"schemes\":{\"visa\":1},\"declines\":[{\"type\":\"hard\"}],"
         "\"cancellations\":{\"share\":0},\"warmup\":{\"enabled\":false}}");
    run(FIXED | BIT(LAB_ORACLE));
    assert_int_equal(rep.r[LAB_FIXED_8_IN_14].attempts, 40 * 8);
    assert_int_equal(rep.r[LAB_FIXED_8_16_24].attempts, 40 * 3);
    assert_int_equal(rep.r[LAB_FIXED_1_3_5_7].attempts, 40 * 4);
    for (int st = LAB_FIXED_8_IN_14; st <= LAB_FIXED_1_3_5_7; st++) {
        assert_int_equal(rep.r[st].recovered, 0);
        assert_int_equal(rep.r[st].violations, rep.r[st].attempts);
        assert_true(fabs(rep.r[st].fees - 0.15 * (double)rep.r[st].attempts) < 1e-6);
        assert_true(rep.r[st].median_days < 0);
    }
    assert_int_equal(rep.r[LAB_ORACLE].attempts, 0);
    assert_int_equal(rep.r[LAB_ORACLE].violations, 0);
    assert_false(rep.r[LAB_RECOUP].ran);
}

/* A dunning window shorter than a schedule cuts it. */
static void test_fixed_schedules_stop_at_the_window(void **state)
{
    (void)state;
    load("{\"name\":\"short\",\"invoices\":20,\"merchant\":{\"dunning_days\":10},\"declines\":[{\"type\":\"hard\"}],"
         "\"cancellations\":{\"share\":0},\"warmup\":{\"enabled\":false}}");
    run(FIXED);
    assert_int_equal(rep.r[LAB_FIXED_8_IN_14].attempts, 20 * 5); /* days 1.75 .. 8.75 */
    assert_int_equal(rep.r[LAB_FIXED_8_16_24].attempts, 20 * 1);
    assert_int_equal(rep.r[LAB_FIXED_1_3_5_7].attempts, 20 * 4);
}

/* A cap of two reattempts in 30 days: the third and fourth retries of
 * days 1, 3, 5, 7 break it, the first two do not. */
static void test_violations_when_a_schedule_breaks_a_cap(void **state)
{
    (void)state;
    load("{\"name\":\"cap\",\"invoices\":30,\"schemes\":{\"visa\":1},"
         "\"declines\":[{\"type\":\"generic\"}],\"generic\":{\"chances\":[0]},"
         "\"cancellations\":{\"share\":0},\"warmup\":{\"enabled\":false},"
         "\"network_rules\":{\"schemes\":{\"visa\":{\"caps\":[{\"id\":\"visa_tiny\",\"max\":2,\"window\":\"30d\","
         "\"count\":\"reattempts\",\"per_initiator\":true}],\"excess_retry_fee\":0.25}}}}");
    run(BIT(LAB_FIXED_1_3_5_7) | BIT(LAB_FIXED_8_16_24) | BIT(LAB_ORACLE));
    assert_int_equal(rep.r[LAB_FIXED_1_3_5_7].attempts, 30 * 4);
    assert_int_equal(rep.r[LAB_FIXED_1_3_5_7].violations, 30 * 2);
    assert_true(fabs(rep.r[LAB_FIXED_1_3_5_7].fees - 30 * 2 * 0.25) < 1e-6);
    assert_int_equal(rep.r[LAB_FIXED_8_16_24].violations, 30 * 1);
    /* Nothing can succeed: the oracle does not try. */
    assert_int_equal(rep.r[LAB_ORACLE].attempts, 0);
}

/* RetryStatus says no from the failure on: nobody retries, every invoice
 * ends cancelled. */
static void test_cancelled_subscriptions_stop_at_retry_status(void **state)
{
    (void)state;
    load("{\"name\":\"cancel\",\"invoices\":30,\"cancellations\":{\"share\":1,\"after_days\":[0,0]},"
         "\"declines\":[{\"type\":\"generic\"},{\"type\":\"insufficient_funds\"}],\"warmup\":{\"invoices\":20}}");
    run(0);
    for (int st = 0; st < LAB_STRATEGY_COUNT; st++) {
        assert_true(rep.r[st].ran);
        assert_int_equal(rep.r[st].attempts, 0);
        assert_int_equal(rep.r[st].recovered, 0);
        if (st != LAB_ORACLE && st != LAB_RECOUP)
            assert_int_equal(rep.r[st].cancelled, 30);
    }
    /* Cancelled halfway: no retry after day 3. */
    load("{\"name\":\"cancel\",\"invoices\":30,\"cancellations\":{\"share\":1,\"after_days\":[3,3]},"
         "\"declines\":[{\"type\":\"hard\"}],\"warmup\":{\"enabled\":false}}");
    run(BIT(LAB_FIXED_1_3_5_7) | BIT(LAB_FIXED_8_IN_14));
    assert_int_equal(rep.r[LAB_FIXED_1_3_5_7].attempts, 30 * 1); /* day 1; day 3 is refused */
    assert_int_equal(rep.r[LAB_FIXED_1_3_5_7].cancelled, 30);
    assert_int_equal(rep.r[LAB_FIXED_8_IN_14].attempts, 30 * 1); /* 1.75; 3.5 is refused */
}

/* Where the world leaves nothing to chance (every chance 0 or 1), the
 * oracle recovers every invoice the planner does. */
static void test_oracle_never_worse_than_planner(void **state)
{
    (void)state;
    load("{\"name\":\"sure\",\"invoices\":120,\"seed\":3,"
         "\"declines\":[{\"type\":\"insufficient_funds\",\"weight\":3},{\"type\":\"expired_card\"},"
         "{\"type\":\"withdrawal_limit\"},{\"type\":\"issuer_unavailable\"},{\"type\":\"hard\"},"
         "{\"type\":\"generic\"}],"
         "\"funds\":{\"success\":1},\"withdrawal_limit\":{\"success\":1},\"issuer_unavailable\":{\"success\":1},"
         "\"expired_card\":{\"new_card_success\":1},\"generic\":{\"chances\":[1,0],\"spread\":[1,1]},"
         "\"hour_factors\":" FLAT ",\"debit_hour_factors\":" FLAT ",\"warmup\":{\"invoices\":60}}");
    run(BIT(LAB_RECOUP) | BIT(LAB_ORACLE));
    const struct lab_result *o = &rep.r[LAB_ORACLE], *p = &rep.r[LAB_RECOUP];
    assert_true(o->recovered > 0);
    assert_true(o->recovered_value >= p->recovered_value - 1e-9);
    assert_true(o->recovered >= p->recovered);
    for (int t = 0; t < LAB_TYPE_COUNT; t++)
        assert_true(o->by_type[t].recovered >= p->by_type[t].recovered);
    assert_int_equal(o->violations, 0);
    /* The oracle needs one retry per recovery when nothing is left to chance. */
    assert_int_equal(o->attempts, o->recovered);
    /* The planner was asked, after a warm-up month of outcomes. */
    assert_true(p->plans >= 120);
    assert_true(rep.warmup_outcomes > 60);
}

/* Expired cards that the updater replaces: the update reaches recoup as a
 * payment method update event, the planner plans again, and the new card
 * (which always works here) is charged; nothing is tried on the old one
 * by recoup or the oracle, while every fixed schedule tries it. */
static void test_updated_cards_reach_the_planner(void **state)
{
    (void)state;
    load("{\"name\":\"updater\",\"invoices\":40,\"declines\":[{\"type\":\"expired_card\"}],"
         "\"expired_card\":{\"updater_share\":1,\"update_after_days\":[1,5],\"new_card_success\":1},"
         "\"cancellations\":{\"share\":0},\"hour_factors\":" FLAT ",\"debit_hour_factors\":" FLAT ","
         "\"warmup\":{\"invoices\":40}}");
    run(BIT(LAB_RECOUP) | BIT(LAB_ORACLE) | BIT(LAB_FIXED_8_IN_14));
    assert_int_equal(rep.r[LAB_ORACLE].recovered, 40);
    assert_int_equal(rep.r[LAB_ORACLE].attempts, 40);
    assert_int_equal(rep.r[LAB_RECOUP].recovered, 40);
    assert_int_equal(rep.r[LAB_RECOUP].attempts, 40);
    assert_int_equal(rep.r[LAB_RECOUP].violations, 0);
    /* The planner was asked after each failure and after each update. */
    assert_true(rep.r[LAB_RECOUP].plans >= 80);
    assert_int_equal(rep.r[LAB_FIXED_8_IN_14].recovered, 40);
    assert_true(rep.r[LAB_FIXED_8_IN_14].attempts > 40);
}

static char *report_json(uint64_t seed)
{
    struct lab_options o = {seed, 0, 1};
    char err[512];
    if (lab_simulate(&sc, &o, &rep, err, sizeof err) != 0)
        fail_msg("simulation failed: %s", err);
    cJSON *j = lab_report_json(&rep, 0);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return text;
}

static void test_same_seed_same_report(void **state)
{
    (void)state;
    load("{\"name\":\"det\",\"invoices\":80,\"warmup\":{\"invoices\":40},"
         "\"psps\":{\"stripe\":1,\"adyen\":1,\"braintree\":1,\"worldpay\":1},"
         "\"regions\":[{\"country\":\"US\",\"zone\":\"America/Chicago\",\"postal_codes\":[\"60601\"]},"
         "{\"country\":\"DE\"},{\"country\":\"JP\"}]}");
    char *a = report_json(42);
    char *b = report_json(42);
    char *c = report_json(43);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    cJSON *j = cJSON_Parse(a);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "strategies")), LAB_STRATEGY_COUNT);
    cJSON_Delete(j);
    /* Running strategies side by side changes nothing. */
    struct lab_options o = {42, 0, 3};
    char err[512];
    assert_int_equal(lab_simulate(&sc, &o, &rep, err, sizeof err), 0);
    cJSON *jj = lab_report_json(&rep, 0);
    char *d = cJSON_PrintUnformatted(jj);
    cJSON_Delete(jj);
    assert_string_equal(a, d);
    free(a);
    free(b);
    free(c);
    free(d);
}

static void test_report_checks(void **state)
{
    (void)state;
    memset(&rep, 0, sizeof rep);
    rep.s = &sc;
    for (int st = 0; st < LAB_STRATEGY_COUNT; st++) {
        rep.r[st].ran = 1;
        rep.r[st].failed_value = 1000;
        rep.r[st].recovered = 10;
    }
    rep.r[LAB_ORACLE].recovered_value = 600;
    rep.r[LAB_RECOUP].recovered_value = 550; /* 91.7% of the oracle */
    rep.r[LAB_FIXED_8_IN_14].recovered_value = 500;
    rep.r[LAB_FIXED_8_16_24].recovered_value = 560; /* beats recoup */
    rep.r[LAB_FIXED_1_3_5_7].recovered_value = 400;
    rep.r[LAB_FIXED_8_IN_14].attempts = 50;
    rep.r[LAB_RECOUP].attempts = 30; /* 3 against 5 a recovery: 60% */
    rep.r[LAB_RECOUP].violations = 1;
    struct lab_check c[8];
    size_t n = lab_report_checks(&rep, c, 8);
    assert_int_equal(n, 6);
    assert_true(c[0].pass);
    assert_true(c[1].pass);
    assert_false(c[2].pass);
    assert_true(c[3].pass);
    assert_true(c[4].pass);
    assert_true(fabs(c[4].value - 60) < 1e-9);
    assert_false(c[5].pass);
    buf b;
    buf_init(&b);
    lab_report_text(&rep, 0, &b);
    assert_non_null(strstr(b.data, "MISS recoup recovers more than fixed_8_16_24"));
    assert_non_null(strstr(b.data, "PASS recoup recovers at least 90% of the oracle's value: 91.7%"));
    assert_non_null(strstr(b.data, "MISS recoup breaks no network rule: 1 violations"));
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_schedule_days),
        cmocka_unit_test(test_fixed_schedules_on_hard_declines),
        cmocka_unit_test(test_fixed_schedules_stop_at_the_window),
        cmocka_unit_test(test_violations_when_a_schedule_breaks_a_cap),
        cmocka_unit_test(test_cancelled_subscriptions_stop_at_retry_status),
        cmocka_unit_test(test_oracle_never_worse_than_planner),
        cmocka_unit_test(test_updated_cards_reach_the_planner),
        cmocka_unit_test(test_same_seed_same_report),
        cmocka_unit_test(test_report_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
