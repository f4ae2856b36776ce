/* Listing filters: every parameter validated and named when bad. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "gateway/filters.h"

static int names(const verrs *e, const char *field)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, e->list)
    {
        const cJSON *f = cJSON_GetObjectItem(it, "field");
        if (cJSON_IsString(f) && strcmp(f->valuestring, field) == 0)
            return 1;
    }
    return 0;
}

static void every_filter_accepted(void **state)
{
    (void)state;
    struct payment_filter f;
    memset(&f, 0, sizeof f);
    f.limit = GW_LIST_DEFAULT_LIMIT;
    verrs e;
    verrs_init(&e);
    gw_filter_payment_param(&f, "payment_id", "TEST", &e);
    gw_filter_payment_param(&f, "payment_method", "credit_card", &e);
    gw_filter_payment_param(&f, "status", "settled", &e);
    gw_filter_payment_param(&f, "amount_gte", "50.0", &e);
    gw_filter_payment_param(&f, "amount_lte", "500", &e);
    gw_filter_payment_param(&f, "created_at_gte", "2020-01-01T00:00:00", &e);
    gw_filter_payment_param(&f, "created_at_lte", "2021-01-01", &e);
    gw_filter_payment_param(&f, "settled_at_gte", "2020-01-01T00:00:00Z", &e);
    gw_filter_payment_param(&f, "settled_at_lte", "2021-01-01T00:00:00+01:00", &e);
    gw_filter_payment_param(&f, "limit", "7", &e);
    gw_filter_payment_param(&f, "cursor", "1609459200000.42", &e);
    assert_int_equal(e.count, 0);
    assert_string_equal(f.payment_id, "TEST");
    assert_string_equal(f.method, "credit_card");
    assert_string_equal(f.status, "settled");
    assert_true(f.has_amount_gte && f.amount_gte.major == 50 && f.amount_gte.frac4 == 0);
    assert_true(f.has_amount_lte && f.amount_lte.major == 500 && f.amount_lte.frac4 == 0);
    assert_true(f.has_created_gte && f.created_gte == 1577836800000LL);
    assert_true(f.has_created_lte && f.created_lte == 1609459200000LL);
    assert_true(f.has_settled_gte && f.settled_gte == 1577836800000LL);
    assert_true(f.has_settled_lte && f.settled_lte == 1609459200000LL - 3600000);
    assert_int_equal(f.limit, 7);
    assert_true(f.has_cursor && f.cursor_created_at == 1609459200000LL && f.cursor_seq == 42);
    verrs_free(&e);
}

static void bad_values_named(void **state)
{
    (void)state;
    struct payment_filter f;
    memset(&f, 0, sizeof f);
    verrs e;
    verrs_init(&e);
    const char *bad[][2] = {
        {"payment_method", "cash"}, {"status", "SUCCESS"},        {"amount_gte", "abc"},
        {"amount_lte", "-1"},       {"amount_gte", "1.00001"},    {"created_at_gte", "2020-13-01"},
        {"created_at_lte", "yesterday"}, {"settled_at_gte", "2020-02-30T00:00:00"}, {"limit", "0"},
        {"limit", "1001"},          {"cursor", "x"},              {"stauts", "success"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int before = e.count;
        gw_filter_payment_param(&f, bad[i][0], bad[i][1], &e);
        assert_int_equal(e.count, before + 1);
        assert_true(names(&e, bad[i][0]));
    }
    assert_null(f.method);
    assert_null(f.status);
    assert_false(f.has_amount_gte || f.has_amount_lte || f.has_created_gte || f.has_created_lte);
    verrs_free(&e);
}

static void refund_filters(void **state)
{
    (void)state;
    struct refund_filter f;
    memset(&f, 0, sizeof f);
    f.limit = GW_LIST_DEFAULT_LIMIT;
    verrs e;
    verrs_init(&e);
    gw_filter_refund_param(&f, "payment_id", "P", &e);
    gw_filter_refund_param(&f, "refund_id", "R", &e);
    assert_int_equal(e.count, 0);
    assert_string_equal(f.payment_id, "P");
    assert_string_equal(f.refund_id, "R");
    gw_filter_refund_param(&f, "status", "success", &e);
    assert_int_equal(e.count, 1);
    assert_true(names(&e, "status"));
    verrs_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_filter_accepted),
        cmocka_unit_test(bad_values_named),
        cmocka_unit_test(refund_filters),
    };
    return cmocka_run_group_tests_name("filters", tests, NULL, NULL);
}
