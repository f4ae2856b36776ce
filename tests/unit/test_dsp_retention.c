/* The retention cutoff: whole calendar months back, at the same time of
 * day, with month ends clamped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/timefmt.h"
#include "disputes/disputes_internal.h"

static int64_t t(const char *iso)
{
    int64_t ms = 0;
    assert_int_equal(time_parse_iso8601(iso, &ms), 0);
    return ms;
}

static void eighteen_months(void **state)
{
    (void)state;
    assert_int_equal(dsp_months_before(t("2026-11-21T10:15:30.250Z"), 18), t("2025-05-21T10:15:30.250Z"));
    assert_int_equal(dsp_months_before(t("2026-05-21T00:00:00Z"), 18), t("2024-11-21T00:00:00Z"));
}

static void month_ends_are_clamped(void **state)
{
    (void)state;
    assert_int_equal(dsp_months_before(t("2026-08-31T12:00:00Z"), 6), t("2026-02-28T12:00:00Z"));
    assert_int_equal(dsp_months_before(t("2024-08-31T12:00:00Z"), 6), t("2024-02-29T12:00:00Z"));
    assert_int_equal(dsp_months_before(t("2026-03-31T23:59:59Z"), 1), t("2026-02-28T23:59:59Z"));
    assert_int_equal(dsp_months_before(t("2026-07-31T00:00:00Z"), 1), t("2026-06-30T00:00:00Z"));
}

static void across_years(void **state)
{
    (void)state;
    assert_int_equal(dsp_months_before(t("2026-01-15T08:00:00Z"), 1), t("2025-12-15T08:00:00Z"));
    assert_int_equal(dsp_months_before(t("2026-01-15T08:00:00Z"), 13), t("2024-12-15T08:00:00Z"));
    assert_int_equal(dsp_months_before(t("2026-01-15T08:00:00Z"), 120), t("2016-01-15T08:00:00Z"));
    assert_int_equal(dsp_months_before(t("2026-01-15T08:00:00Z"), 0), t("2026-01-15T08:00:00Z"));
    /* Before 1970 too. */
    assert_int_equal(dsp_months_before(t("1970-02-01T00:00:00Z"), 2), t("1969-12-01T00:00:00Z"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(eighteen_months),
        cmocka_unit_test(month_ends_are_clamped),
        cmocka_unit_test(across_years),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
