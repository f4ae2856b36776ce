/* Strategy-lab scenarios: the defaults a minimal scenario gets, and that
 * every kind of mistake is reported with the path of the field at fault,
 * all of them in one pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/jsonv.h"
#include "lab/scenario.h"

static struct lab_scenario sc;

/* Parses text; returns the number of problems, and whether one of them
 * names field (with a message containing words, when given). */
static int parse(const char *text, const char *field, const char *words, int *found)
{
    verrs e;
    verrs_init(&e);
    int n = lab_scenario_parse(text, &sc, &e);
    *found = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, e.list)
    {
        const char *f = jv_get_string(x, "field"), *m = jv_get_string(x, "message");
        if (field && f && strcmp(f, field) == 0 && (!words || (m && strstr(m, words))))
            *found = 1;
    }
    verrs_free(&e);
    return n;
}

static void expect_error(const char *text, const char *field, const char *words)
{
    int found;
    int n = parse(text, field, words, &found);
    if (!found)
        fail_msg("no error naming %s (%s) for %s; %d problems", field, words ? words : "", text, n);
}

static void test_minimal_gets_defaults(void **state)
{
    (void)state;
    int found;
    assert_int_equal(parse("{\"name\":\"m\",\"invoices\":10}", NULL, NULL, &found), 0);
    assert_string_equal(sc.name, "m");
    assert_int_equal(sc.invoices, 10);
    assert_int_equal(sc.dunning_days, 30);
    assert_int_equal(sc.max_retries, 8);
    assert_string_equal(sc.reporting_currency, "USD");
    assert_true(sc.usd_rate == 1.0);
    assert_int_equal(sc.ndeclines, 6);
    assert_int_equal(sc.nregions, 1);
    assert_string_equal(sc.regions[0].zone, "America/New_York");
    assert_true(sc.warmup);
    assert_int_equal(sc.warmup_invoices, 10);
    assert_int_equal(sc.rules.schemes[NR_SCHEME_VISA].caps[0].max, 20);
    assert_true(sc.hour_factors[3] < sc.hour_factors[12]);
}

static void test_fields_are_read(void **state)
{
    (void)state;
    const char *text =
        "{\"name\":\"eu\",\"seed\":7,\"invoices\":300,\"start\":\"2026-05-01T00:00:00Z\",\"spread_days\":10,"
        "\"merchant\":{\"id\":\"m1\",\"timezone\":\"Europe/Berlin\",\"dunning_days\":21,\"max_retries\":5},"
        "\"reporting_currency\":\"EUR\",\"usd_rate\":0.9,"
        "\"currencies\":[{\"code\":\"EUR\",\"weight\":3,\"rate\":1},{\"code\":\"GBP\",\"weight\":1,\"rate\":1.17}],"
        "\"regions\":[{\"country\":\"DE\",\"zone\":\"Europe/Berlin\",\"postal_codes\":[\"10115\"]},"
        "{\"country\":\"GB\",\"weight\":2}],"
        "\"declines\":[{\"type\":\"generic\",\"reason\":\"generic_decline\",\"mac\":\"27\",\"weight\":2},"
        "{\"type\":\"hard\",\"reason\":\"revoked\"}],"
        "\"funds\":{\"pay_cycles\":{\"monthly\":1},\"pay_month_days\":{\"25\":2,\"last\":1},"
        "\"pay_weekdays\":{\"thursday\":1}},\"generic\":{\"chances\":[0.5,0.25]},"
        "\"warmup\":{\"enabled\":false},"
        "\"network_rules\":{\"schemes\":{\"visa\":{\"caps\":[{\"id\":\"visa_tiny\",\"max\":2,\"window\":\"30d\","
        "\"count\":\"reattempts\",\"per_initiator\":true}]}}}}";
    int found;
    assert_int_equal(parse(text, NULL, NULL, &found), 0);
    assert_int_equal(sc.seed, 7);
    assert_string_equal(sc.merchant_id, "m1");
    assert_int_equal(sc.dunning_days, 21);
    assert_int_equal(sc.max_retries, 5);
    assert_true(sc.usd_rate == 0.9);
    assert_int_equal(sc.ncurrencies, 2);
    assert_true(sc.currencies[1].rate == 1.17);
    /* A region without a zone gets the country's. */
    assert_string_equal(sc.regions[1].zone, "Europe/London");
    assert_int_equal(sc.declines[0].type, LAB_GENERIC);
    assert_string_equal(sc.declines[0].reason, "generic_decline");
    assert_string_equal(sc.declines[0].mac, "27");
    assert_string_equal(sc.declines[1].reason, "revoked");
    assert_true(sc.pay_cycle_weights[LAB_MONTHLY] == 1 && sc.pay_cycle_weights[LAB_WEEKLY] == 0);
    assert_true(sc.pay_mday_weights[25] == 2 && sc.pay_mday_weights[0] == 1 && sc.pay_mday_weights[1] == 0);
    assert_true(sc.pay_weekday_weights[4] == 1 && sc.pay_weekday_weights[5] == 0);
    assert_int_equal(sc.ngeneric_chances, 2);
    assert_false(sc.warmup);
    assert_string_equal(sc.rules.schemes[NR_SCHEME_VISA].caps[0].id, "visa_tiny");
    assert_int_equal(sc.rules.schemes[NR_SCHEME_VISA].caps[0].max, 2);
}

static void test_errors_name_the_field(void **state)
{
    (void)state;
    expect_error("{\"invoices\":10}", "name", "required");
    expect_error("{\"name\":\"x\"}", "invoices", "required");
    expect_error("{\"name\":\"x\",\"invoices\":0}", "invoices", "between");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"invoces\":3}", "invoces", "not a known field");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"start\":\"yesterday\"}", "start", "ISO-8601");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"merchant\":{\"max_retries\":0}}", "merchant.max_retries",
                 "between");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"merchant\":{\"timezone\":\"Mars/Olympus\"}}",
                 "merchant.timezone", "time zone");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"regions\":[{\"country\":\"US\",\"zone\":\"Nowhere/Land\"}]}",
                 "regions[0].zone", "time zone");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"regions\":[{\"zone\":\"UTC\"},{\"country\":\"XX\"}]}",
                 "regions[1].country", "ISO 3166");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"declines\":[{\"type\":\"generic\"},{\"type\":\"bad_luck\"}]}",
                 "declines[1].type", "must be one of");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"declines\":[{\"type\":\"generic\",\"reason\":\"stolen_card\"}]}",
                 "declines[0].reason", "for type generic");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"declines\":[{\"type\":\"hard\",\"mac\":\"99\"}]}",
                 "declines[0].mac", "Merchant Advice Code");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"declines\":[{\"type\":\"hard\",\"weight\":0}]}", "declines",
                 "positive weight");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"generic\":{\"chances\":[0.2,1.5]}}", "generic.chances[1]",
                 "between 0 and 1");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"funds\":{\"last_days\":[5,2]}}", "funds.last_days",
                 "must not exceed");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"funds\":{\"pay_cycles\":{\"daily\":1}}}",
                 "funds.pay_cycles.daily", "pay cycle");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"funds\":{\"pay_weekdays\":{\"friyay\":1}}}",
                 "funds.pay_weekdays.friyay", "weekday");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"funds\":{\"pay_month_days\":{\"30\":1}}}",
                 "funds.pay_month_days.30", "pay day of the month");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"schemes\":{\"visa\":1,\"bitcoin\":1}}", "schemes.bitcoin",
                 "scheme");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"psps\":{\"paypal\":1}}", "psps.paypal", "PSP");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"currencies\":[{\"code\":\"EUR\"}]}", "currencies[0].rate",
                 "required");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"reporting_currency\":\"EUR\"}", "usd_rate", "required");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"hour_factors\":[1,1]}", "hour_factors", "24 factors");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"warmup\":{\"enabled\":\"yes\"}}", "warmup.enabled", "true or false");
    expect_error("{\"name\":\"x\",\"invoices\":10,\"network_rules\":{\"schemes\":{\"visa\":{\"caps\":"
                 "[{\"id\":\"c\",\"max\":-1,\"window\":\"30d\",\"count\":\"attempts\"}]}}}}",
                 "network_rules", "max");
    expect_error("[1,2]", "body", "object");
    expect_error("{\"name\":", "body", "not valid JSON");
}

static void test_every_problem_in_one_pass(void **state)
{
    (void)state;
    int found;
    int n = parse("{\"invoices\":-1,\"merchant\":{\"dunning_days\":0},\"amount\":[9,1],\"postal_code_share\":2}",
                  "postal_code_share", NULL, &found);
    assert_true(found);
    /* name missing, invoices, dunning_days, amount, postal_code_share */
    assert_int_equal(n, 5);
}

static void test_load_reports_path_and_field(void **state)
{
    (void)state;
    char path[] = "/tmp/lab-scenario-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "{\"name\":\"x\",\"invoices\":10,\"merchant\":{\"dunning_days\":500}}";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char err[1024];
    assert_int_equal(lab_scenario_load(path, &sc, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "merchant.dunning_days"));
    unlink(path);
    assert_int_equal(lab_scenario_load("/nonexistent/lab.json", &sc, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/lab.json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_gets_defaults),
        cmocka_unit_test(test_fields_are_read),
        cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_every_problem_in_one_pass),
        cmocka_unit_test(test_load_reports_path_and_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
