/* ISO-8601 parsing and formatting, and the civil-date arithmetic under it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/timefmt.h"

#define HOUR_MS INT64_C(3600000)
#define MIN_MS INT64_C(60000)
#define DAY_MS INT64_C(86400000)

/* 2021-03-04T00:00:00Z */
#define BASE_MS INT64_C(1614816000000)

static void expect_parse(const char *s, int64_t want)
{
    int64_t got = -1;
    if (time_parse_iso8601(s, &got) != 0)
        fail_msg("\"%s\" was rejected", s);
    if (got != want)
        fail_msg("\"%s\" gave %lld, want %lld", s, (long long)got, (long long)want);
}

static void expect_reject(const char *s)
{
    int64_t got = 4242;
    if (time_parse_iso8601(s, &got) == 0)
        fail_msg("\"%s\" was accepted as %lld", s, (long long)got);
    assert_int_equal(got, 4242);
}

static void date_only_is_midnight_utc(void **state)
{
    (void)state;
    expect_parse("2021-03-04", BASE_MS);
    expect_parse("1970-01-01", 0);
    expect_parse("1969-12-31", -DAY_MS);
    expect_parse("2020-02-29", INT64_C(1582934400000));
}

static void date_and_time(void **state)
{
    (void)state;
    const int64_t t = BASE_MS + 5 * HOUR_MS + 6 * MIN_MS;
    expect_parse("2021-03-04T05:06", t);
    expect_parse("2021-03-04T05:06:07", t + 7000);
    expect_parse("2021-03-04 05:06:07", t + 7000);
    expect_parse("2021-03-04t05:06:07z", t + 7000);
    expect_parse("2021-03-04T23:59:59", BASE_MS + DAY_MS - 1000);
    expect_parse("2021-03-04T00:00:00", BASE_MS);
}

static void fractions_kept_to_milliseconds(void **state)
{
    (void)state;
    const int64_t t = BASE_MS + 7000;
    expect_parse("2021-03-04T00:00:07.5Z", t + 500);
    expect_parse("2021-03-04T00:00:07.05Z", t + 50);
    expect_parse("2021-03-04T00:00:07.123Z", t + 123);
    /* Extra digits are dropped, not rounded: the instant never moves forward. */
    expect_parse("2021-03-04T00:00:07.1239Z", t + 123);
    expect_parse("2021-03-04T00:00:07.999999999Z", t + 999);
    expect_parse("2021-03-04T00:00:07,25Z", t + 250);
    expect_parse("2021-03-04T00:00:07.000", t);
}

static void zones_and_offsets(void **state)
{
    (void)state;
    const int64_t t = BASE_MS + 12 * HOUR_MS;
    expect_parse("2021-03-04T12:00:00Z", t);
    expect_parse("2021-03-04T12:00:00", t);
    expect_parse("2021-03-04T12:00:00+01:00", t - HOUR_MS);
    expect_parse("2021-03-04T12:00:00+0100", t - HOUR_MS);
    expect_parse("2021-03-04T12:00:00+01", t - HOUR_MS);
    expect_parse("2021-03-04T12:00:00-05", t + 5 * HOUR_MS);
    expect_parse("2021-03-04T12:00:00-05:00", t + 5 * HOUR_MS);
    expect_parse("2021-03-04T12:00:00+05:30", t - 5 * HOUR_MS - 30 * MIN_MS);
    expect_parse("2021-03-04T12:00:00-0930", t + 9 * HOUR_MS + 30 * MIN_MS);
    expect_parse("2021-03-04T12:00+00:00", t);
    expect_parse("2021-03-04T12:00:00.250+02:00", t - 2 * HOUR_MS + 250);
    /* An offset may carry the instant across midnight and across a year end. */
    expect_parse("2021-01-01T00:30:00+01:00", INT64_C(1609457400000));
}

static void invalid_calendar_fields(void **state)
{
    (void)state;
    expect_reject("2021-02-30");
    expect_reject("2021-02-29");
    expect_reject("1900-02-29");
    expect_reject("2021-04-31");
    expect_reject("2020-13-01");
    expect_reject("2020-00-10");
    expect_reject("2020-01-00");
    expect_reject("2020-01-32");
    expect_parse("2000-02-29", INT64_C(951782400000));
    expect_parse("2021-12-31", INT64_C(1640908800000));
}

static void invalid_clock_fields(void **state)
{
    (void)state;
    expect_reject("2021-03-04T24:00");
    expect_reject("2021-03-04T24:00:00Z");
    expect_reject("2021-03-04T23:60");
    expect_reject("2021-03-04T23:59:60Z");
    expect_reject("2021-03-04T12:00:00+24:00");
    expect_reject("2021-03-04T12:00:00+01:60");
}

static void malformed_text(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "2021",
        "2021-03",
        "2021-3-04",
        "2021-03-4",
        "20210304",
        "21-03-04",
        "2021/03/04",
        "2021-03-04x",
        "2021-03-04Z",
        "2021-03-04 ",
        "2021-03-04T",
        "2021-03-04T12",
        "2021-03-04T12:",
        "2021-03-04T12:0",
        "2021-03-04T12:00:",
        "2021-03-04T12:00:0",
        "2021-03-04T12:00:00.",
        "2021-03-04T12:00:00.Z",
        "2021-03-04T12:00:00ZZ",
        "2021-03-04T12:00:00Z junk",
        "2021-03-04T12:00:00 Z",
        "2021-03-04T12:00:00+1",
        "2021-03-04T12:00:00+01:0",
        "2021-03-04T12:00:00+010",
        "2021-03-04T12:00:00+",
        "2021-03-04T12:00:00UTC",
        " 2021-03-04",
        "2021-03-04T12:00:00\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_reject(bad[i]);
    int64_t out = 0;
    assert_int_equal(time_parse_iso8601(NULL, &out), -1);
    assert_int_equal(time_parse_iso8601_strict(NULL, &out), -1);
}

static void strict_requires_time_and_zone(void **state)
{
    (void)state;
    int64_t out = 4242;
    assert_int_equal(time_parse_iso8601_strict("2021-03-04", &out), -1);
    assert_int_equal(time_parse_iso8601_strict("2021-03-04T12:00:00", &out), -1);
    assert_int_equal(time_parse_iso8601_strict("2021-03-04T12:00", &out), -1);
    assert_int_equal(time_parse_iso8601_strict("2021-03-04T12:00:00.5", &out), -1);
    assert_int_equal(out, 4242);

    assert_int_equal(time_parse_iso8601_strict("2021-03-04T12:00:00Z", &out), 0);
    assert_int_equal(out, BASE_MS + 12 * HOUR_MS);
    assert_int_equal(time_parse_iso8601_strict("2021-03-04T12:00+02:00", &out), 0);
    assert_int_equal(out, BASE_MS + 10 * HOUR_MS);
    assert_int_equal(time_parse_iso8601_strict("2021-03-04 12:00:00.125-01", &out), 0);
    assert_int_equal(out, BASE_MS + 13 * HOUR_MS + 125);
    /* Strictness adds requirements; it never relaxes the calendar checks. */
    assert_int_equal(time_parse_iso8601_strict("2021-02-30T12:00:00Z", &out), -1);
    assert_int_equal(time_parse_iso8601_strict("2021-03-04T24:00:00Z", &out), -1);
}

static void expect_format(int64_t ms, const char *want)
{
    char out[32];
    memset(out, 'x', sizeof out);
    time_format_ms(ms, out, sizeof out);
    assert_string_equal(out, want);
}

static void formats_utc_with_milliseconds(void **state)
{
    (void)state;
    expect_format(0, "1970-01-01T00:00:00.000Z");
    expect_format(INT64_C(1605953730123), "2020-11-21T10:15:30.123Z");
    expect_format(-1, "1969-12-31T23:59:59.999Z");
    expect_format(-1000, "1969-12-31T23:59:59.000Z");
    expect_format(-DAY_MS, "1969-12-31T00:00:00.000Z");
    expect_format(-DAY_MS - 1, "1969-12-30T23:59:59.999Z");
    expect_format(INT64_C(951782400000), "2000-02-29T00:00:00.000Z");
    expect_format(INT64_C(253402300799999), "9999-12-31T23:59:59.999Z");
    char out[25];
    time_format_ms(INT64_C(1605953730123), out, sizeof out);
    assert_int_equal(strlen(out), 24);
}

static void format_then_parse_round_trips(void **state)
{
    (void)state;
    static const int64_t fixed[] = {
        0, 1, -1, 999, -999, 1000, INT64_C(951782400000), INT64_C(951868799999),
        INT64_C(-2208988800000), INT64_C(253402300799999), INT64_C(-62135596800000),
    };
    char text[32];
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        int64_t back = 0;
        time_format_ms(fixed[i], text, sizeof text);
        assert_int_equal(time_parse_iso8601_strict(text, &back), 0);
        assert_int_equal(back, fixed[i]);
    }
    /* A stride that is prime in milliseconds visits every clock field and many leap days. */
    for (int64_t ms = INT64_C(-2208988800000); ms < INT64_C(4102444800000); ms += INT64_C(7919773337)) {
        int64_t back = 0;
        time_format_ms(ms, text, sizeof text);
        if (time_parse_iso8601_strict(text, &back) != 0 || back != ms)
            fail_msg("%lld formatted as %s read back as %lld", (long long)ms, text, (long long)back);
    }
}

static void days_from_civil_known_values(void **state)
{
    (void)state;
    assert_int_equal(days_from_civil(1970, 1, 1), 0);
    assert_int_equal(days_from_civil(1970, 1, 2), 1);
    assert_int_equal(days_from_civil(1969, 12, 31), -1);
    assert_int_equal(days_from_civil(2000, 2, 29), 11016);
    assert_int_equal(days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(days_from_civil(2038, 1, 19), 24855);
    assert_int_equal(days_from_civil(1900, 1, 1), -25567);
    assert_int_equal(days_from_civil(1600, 2, 29), -135081);
    assert_int_equal(days_from_civil(2400, 12, 31), 157419);
    assert_int_equal(days_from_civil(1, 1, 1), -719162);
    assert_int_equal(days_from_civil(0, 3, 1), -719468);
    /* Leap rules: 2020 and 2000 are leap years, 2100 and 1900 are not. */
    assert_int_equal(days_from_civil(2020, 3, 1) - days_from_civil(2020, 2, 28), 2);
    assert_int_equal(days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28), 2);
    assert_int_equal(days_from_civil(2100, 3, 1) - days_from_civil(2100, 2, 28), 1);
    assert_int_equal(days_from_civil(1900, 3, 1) - days_from_civil(1900, 2, 28), 1);
    assert_int_equal(days_from_civil(2021, 1, 1) - days_from_civil(2020, 1, 1), 366);
    assert_int_equal(days_from_civil(2022, 1, 1) - days_from_civil(2021, 1, 1), 365);
}

static void expect_civil(int64_t z, int64_t y, unsigned m, unsigned d)
{
    int64_t gy = 0;
    unsigned gm = 0, gd = 0;
    civil_from_days(z, &gy, &gm, &gd);
    if (gy != y || gm != m || gd != d)
        fail_msg("day %lld gave %lld-%u-%u, want %lld-%u-%u", (long long)z, (long long)gy, gm, gd,
                 (long long)y, m, d);
}

static void civil_from_days_known_values(void **state)
{
    (void)state;
    expect_civil(0, 1970, 1, 1);
    expect_civil(-1, 1969, 12, 31);
    expect_civil(11016, 2000, 2, 29);
    expect_civil(11017, 2000, 3, 1);
    expect_civil(-25567, 1900, 1, 1);
    expect_civil(-135081, 1600, 2, 29);
    expect_civil(-719162, 1, 1, 1);
    expect_civil(-719469, 0, 2, 29);
    expect_civil(-719528, 0, 1, 1);
    expect_civil(-719529, -1, 12, 31);
}

static void civil_days_are_consecutive_and_inverse(void **state)
{
    (void)state;
    int64_t py;
    unsigned pm, pd;
    civil_from_days(-800001, &py, &pm, &pd);
    for (int64_t z = -800000; z <= 800000; z++) {
        int64_t y;
        unsigned m, d;
        civil_from_days(z, &y, &m, &d);
        if (days_from_civil(y, m, d) != z)
            fail_msg("day %lld does not round trip", (long long)z);
        /* Each day is the next day of the calendar: same month and d+1, or the 1st. */
        int next_day = y == py && m == pm && d == pd + 1;
        int next_month = d == 1 && ((y == py && m == pm + 1) || (y == py + 1 && m == 1 && pm == 12));
        if (!next_day && !next_month)
            fail_msg("day %lld (%lld-%u-%u) does not follow %lld-%u-%u", (long long)z, (long long)y, m, d,
                     (long long)py, pm, pd);
        py = y;
        pm = m;
        pd = d;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(date_only_is_midnight_utc),
        cmocka_unit_test(date_and_time),
        cmocka_unit_test(fractions_kept_to_milliseconds),
        cmocka_unit_test(zones_and_offsets),
        cmocka_unit_test(invalid_calendar_fields),
        cmocka_unit_test(invalid_clock_fields),
        cmocka_unit_test(malformed_text),
        cmocka_unit_test(strict_requires_time_and_zone),
        cmocka_unit_test(formats_utc_with_milliseconds),
        cmocka_unit_test(format_then_parse_round_trips),
        cmocka_unit_test(days_from_civil_known_values),
        cmocka_unit_test(civil_from_days_known_values),
        cmocka_unit_test(civil_days_are_consecutive_and_inverse),
    };
    return cmocka_run_group_tests_name("timefmt", tests, NULL, NULL);
}
