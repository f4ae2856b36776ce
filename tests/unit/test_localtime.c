/* Cardholder local time: zones by country and postal code, offsets, and
 * the daylight-saving transitions of the US, the EU, Australia, New
 * Zealand and Chile, on both sides of each change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/countries.h"
#include "core/timefmt.h"
#include "recover/localtime.h"

static int64_t at(const char *iso)
{
    int64_t ms;
    assert_int_equal(time_parse_iso8601(iso, &ms), 0);
    return ms;
}

static void expect(const char *iso_utc, const char *zone, int year, int month, int mday, int hour, int wday,
                   int offset_min)
{
    struct rc_local lt;
    rc_local_time(at(iso_utc), zone, &lt);
    if (lt.year != year || lt.month != month || lt.mday != mday || lt.hour != hour || lt.wday != wday ||
        lt.offset_min != offset_min)
        fail_msg("%s in %s: got %04d-%02d-%02d %02dh wday %d offset %d", iso_utc, zone, lt.year, lt.month, lt.mday,
                 lt.hour, lt.wday, lt.offset_min);
}

static void test_zone_by_country(void **state)
{
    (void)state;
    assert_string_equal(rc_zone_for("FR", NULL), "Europe/Paris");
    assert_string_equal(rc_zone_for("de", ""), "Europe/Berlin");
    assert_string_equal(rc_zone_for("GB", "SW1A 1AA"), "Europe/London");
    assert_string_equal(rc_zone_for("JP", NULL), "Asia/Tokyo");
    assert_string_equal(rc_zone_for("IN", NULL), "Asia/Kolkata");
    assert_string_equal(rc_zone_for("AR", NULL), "America/Argentina/Buenos_Aires");
    assert_string_equal(rc_zone_for("NZ", NULL), "Pacific/Auckland");
    assert_null(rc_zone_for("ZZ", NULL));
    assert_null(rc_zone_for("", NULL));
    assert_null(rc_zone_for(NULL, NULL));
    /* Every zone the table hands out is one the converter knows. */
    static const char *const ccs[] = {"FR", "DE", "ES", "IT", "PT", "IE", "GB", "PL", "SE", "FI", "GR", "RO",
                                      "UA", "TR", "US", "CA", "MX", "BR", "AR", "CL", "CO", "PE", "JP", "KR",
                                      "CN", "SG", "IN", "AU", "NZ", "ZA", "AE", "IL", "EG", "RU"};
    for (size_t i = 0; i < sizeof ccs / sizeof ccs[0]; i++) {
        const char *z = rc_zone_for(ccs[i], NULL);
        assert_non_null(z);
        assert_true(rc_zone_known(z));
    }
    /* Every assigned code with people living there has a zone; only
     * uninhabited territories and Antarctica have none. */
    static const char *const none[] = {"AQ", "BV", "HM", "GS", "TF", "UM", "IO", "PN", "TK", NULL};
    for (char a = 'A'; a <= 'Z'; a++)
        for (char b = 'A'; b <= 'Z'; b++) {
            char cc[3] = {a, b, 0};
            if (!country_code_valid(cc))
                continue;
            int uninhabited = 0;
            for (size_t i = 0; none[i]; i++)
                uninhabited |= strcmp(none[i], cc) == 0;
            const char *z = rc_zone_for(cc, NULL);
            if (!uninhabited && !z)
                fail_msg("no zone for %s", cc);
            if (z && !rc_zone_known(z))
                fail_msg("zone %s of %s unknown to the converter", z, cc);
        }
    /* Linked countries keep their own clocks: Mali on GMT, Samoa at +13. */
    struct rc_local lt;
    rc_local_time(at("2026-11-20T12:00:00Z"), rc_zone_for("ML", NULL), &lt);
    assert_int_equal(lt.offset_min, 0);
    rc_local_time(at("2026-11-20T12:00:00Z"), rc_zone_for("WS", NULL), &lt);
    assert_int_equal(lt.offset_min, 780);
}

static void test_zone_by_postal_code(void **state)
{
    (void)state;
    assert_string_equal(rc_zone_for("US", "10001"), "America/New_York");
    assert_string_equal(rc_zone_for("US", "60601"), "America/Chicago");
    assert_string_equal(rc_zone_for("US", "80202"), "America/Denver");
    assert_string_equal(rc_zone_for("US", "85001"), "America/Phoenix");
    assert_string_equal(rc_zone_for("US", "94105-1234"), "America/Los_Angeles");
    assert_string_equal(rc_zone_for("US", "99501"), "America/Anchorage");
    assert_string_equal(rc_zone_for("US", "96813"), "Pacific/Honolulu");
    assert_string_equal(rc_zone_for("US", "00901"), "America/Puerto_Rico");
    /* Unreadable or missing codes fall back to the most populous zone. */
    assert_string_equal(rc_zone_for("US", "abc"), "America/New_York");
    assert_string_equal(rc_zone_for("US", NULL), "America/New_York");
    assert_string_equal(rc_zone_for("CA", "V6B 1A1"), "America/Vancouver");
    assert_string_equal(rc_zone_for("CA", "m5v 2t6"), "America/Toronto");
    assert_string_equal(rc_zone_for("CA", "S4P 3Y2"), "America/Regina");
    assert_string_equal(rc_zone_for("CA", "A1C 5M2"), "America/St_Johns");
    assert_string_equal(rc_zone_for("AU", "2000"), "Australia/Sydney");
    assert_string_equal(rc_zone_for("AU", "0200"), "Australia/Sydney");
    assert_string_equal(rc_zone_for("AU", "0800"), "Australia/Darwin");
    assert_string_equal(rc_zone_for("AU", "3000"), "Australia/Melbourne");
    assert_string_equal(rc_zone_for("AU", "4000"), "Australia/Brisbane");
    assert_string_equal(rc_zone_for("AU", "5000"), "Australia/Adelaide");
    assert_string_equal(rc_zone_for("AU", "6000"), "Australia/Perth");
    assert_string_equal(rc_zone_for("BR", "01310-100"), "America/Sao_Paulo");
    assert_string_equal(rc_zone_for("BR", "69005-000"), "America/Manaus");
    assert_string_equal(rc_zone_for("BR", "69900-000"), "America/Rio_Branco");
    assert_string_equal(rc_zone_for("MX", "22000"), "America/Tijuana");
    assert_string_equal(rc_zone_for("MX", "77500"), "America/Cancun");
    assert_string_equal(rc_zone_for("MX", "06600"), "America/Mexico_City");
    assert_string_equal(rc_zone_for("RU", "101000"), "Europe/Moscow");
    assert_string_equal(rc_zone_for("RU", "630099"), "Asia/Novosibirsk");
    assert_string_equal(rc_zone_for("RU", "690091"), "Asia/Vladivostok");
    assert_string_equal(rc_zone_for("RU", "236000"), "Europe/Kaliningrad");
}

static void test_fixed_offsets(void **state)
{
    (void)state;
    /* 2026-11-20 is a Friday. */
    expect("2026-11-20T23:30:00Z", "Asia/Tokyo", 2026, 11, 21, 8, 6, 540);
    expect("2026-11-20T23:30:00Z", "Asia/Kolkata", 2026, 11, 21, 5, 6, 330);
    expect("2026-11-20T18:20:00Z", "Asia/Kathmandu", 2026, 11, 21, 0, 6, 345);
    expect("2026-11-20T03:00:00Z", "America/Sao_Paulo", 2026, 11, 20, 0, 5, -180);
    expect("2026-07-01T12:00:00Z", "America/Phoenix", 2026, 7, 1, 5, 3, -420);
    expect("2026-12-31T23:59:00Z", "Pacific/Auckland", 2027, 1, 1, 12, 5, 780);
    /* Unknown names read as UTC. */
    assert_false(rc_zone_known("Mars/Olympus_Mons"));
    assert_false(rc_zone_known(""));
    expect("2026-11-20T23:30:00Z", "Mars/Olympus_Mons", 2026, 11, 20, 23, 5, 0);
    expect("2026-11-20T23:30:00Z", "UTC", 2026, 11, 20, 23, 5, 0);
    /* Old names the IANA database keeps as links. */
    assert_true(rc_zone_known("Europe/Kiev"));
    expect("2026-11-20T12:00:00Z", "Asia/Calcutta", 2026, 11, 20, 17, 5, 330);
    /* Before 1970 too. */
    expect("1969-12-31T23:00:00Z", "Europe/Paris", 1970, 1, 1, 0, 4, 60);
}

static void test_dst_us(void **state)
{
    (void)state;
    /* 2026: from 2026-03-08 02:00 EST to 2026-11-01 02:00 EDT. */
    expect("2026-03-08T06:59:00Z", "America/New_York", 2026, 3, 8, 1, 0, -300);
    expect("2026-03-08T07:00:00Z", "America/New_York", 2026, 3, 8, 3, 0, -240);
    expect("2026-11-01T05:59:00Z", "America/New_York", 2026, 11, 1, 1, 0, -240);
    expect("2026-11-01T06:00:00Z", "America/New_York", 2026, 11, 1, 1, 0, -300);
    expect("2026-03-08T09:59:00Z", "America/Los_Angeles", 2026, 3, 8, 1, 0, -480);
    expect("2026-03-08T10:00:00Z", "America/Los_Angeles", 2026, 3, 8, 3, 0, -420);
    /* Phoenix and Regina keep standard time. */
    expect("2026-07-01T12:00:00Z", "America/Regina", 2026, 7, 1, 6, 3, -360);
    /* 2027 starts on 14 March. */
    expect("2027-03-14T06:59:00Z", "America/New_York", 2027, 3, 14, 1, 0, -300);
    expect("2027-03-14T07:00:00Z", "America/New_York", 2027, 3, 14, 3, 0, -240);
    /* Newfoundland's half hour. */
    expect("2026-07-01T12:00:00Z", "America/St_Johns", 2026, 7, 1, 9, 3, -150);
}

static void test_dst_eu(void **state)
{
    (void)state;
    /* Everywhere at 01:00 UTC: 29 March and 25 October 2026. */
    expect("2026-03-29T00:59:00Z", "Europe/London", 2026, 3, 29, 0, 0, 0);
    expect("2026-03-29T01:00:00Z", "Europe/London", 2026, 3, 29, 2, 0, 60);
    expect("2026-03-29T00:59:00Z", "Europe/Berlin", 2026, 3, 29, 1, 0, 60);
    expect("2026-03-29T01:00:00Z", "Europe/Berlin", 2026, 3, 29, 3, 0, 120);
    expect("2026-10-25T00:59:00Z", "Europe/Athens", 2026, 10, 25, 3, 0, 180);
    expect("2026-10-25T01:00:00Z", "Europe/Athens", 2026, 10, 25, 3, 0, 120);
    expect("2026-10-25T01:00:00Z", "Europe/Lisbon", 2026, 10, 25, 1, 0, 0);
    /* Moscow and Istanbul have none. */
    expect("2026-07-01T12:00:00Z", "Europe/Moscow", 2026, 7, 1, 15, 3, 180);
    expect("2026-01-01T12:00:00Z", "Europe/Istanbul", 2026, 1, 1, 15, 4, 180);
}

static void test_dst_south(void **state)
{
    (void)state;
    /* Sydney: ends 5 April 2026 03:00 AEDT, starts 4 October 2026 02:00 AEST. */
    expect("2026-04-04T15:59:00Z", "Australia/Sydney", 2026, 4, 5, 2, 0, 660);
    expect("2026-04-04T16:00:00Z", "Australia/Sydney", 2026, 4, 5, 2, 0, 600);
    expect("2026-10-03T15:59:00Z", "Australia/Sydney", 2026, 10, 4, 1, 0, 600);
    expect("2026-10-03T16:00:00Z", "Australia/Sydney", 2026, 10, 4, 3, 0, 660);
    expect("2026-01-15T00:00:00Z", "Australia/Melbourne", 2026, 1, 15, 11, 4, 660);
    /* Adelaide's half hour, with DST; Brisbane and Perth without. */
    expect("2026-01-15T00:00:00Z", "Australia/Adelaide", 2026, 1, 15, 10, 4, 630);
    expect("2026-01-15T00:00:00Z", "Australia/Brisbane", 2026, 1, 15, 10, 4, 600);
    expect("2026-01-15T00:00:00Z", "Australia/Perth", 2026, 1, 15, 8, 4, 480);
    /* Auckland: ends 5 April 2026 03:00 NZDT, starts 27 September 2026 02:00 NZST. */
    expect("2026-04-04T13:59:00Z", "Pacific/Auckland", 2026, 4, 5, 2, 0, 780);
    expect("2026-04-04T14:00:00Z", "Pacific/Auckland", 2026, 4, 5, 2, 0, 720);
    expect("2026-09-26T13:59:00Z", "Pacific/Auckland", 2026, 9, 27, 1, 0, 720);
    expect("2026-09-26T14:00:00Z", "Pacific/Auckland", 2026, 9, 27, 3, 0, 780);
    /* Santiago: first Sunday of April and of September, by UTC. */
    expect("2026-04-05T02:59:00Z", "America/Santiago", 2026, 4, 4, 23, 6, -180);
    expect("2026-04-05T03:00:00Z", "America/Santiago", 2026, 4, 4, 23, 6, -240);
    expect("2026-09-06T04:00:00Z", "America/Santiago", 2026, 9, 6, 1, 0, -180);
    /* Brazil has had none since 2019. */
    expect("2026-01-15T12:00:00Z", "America/Sao_Paulo", 2026, 1, 15, 9, 4, -180);
}

static void test_index_matches_name(void **state)
{
    (void)state;
    int i = rc_zone_index("America/Chicago");
    assert_true(i >= 0);
    assert_int_equal(rc_zone_index("Nowhere/Else"), -1);
    for (int64_t t = at("2026-01-01T00:00:00Z"); t < at("2027-01-01T00:00:00Z"); t += 3 * 3600000LL + 1234) {
        struct rc_local a, b;
        rc_local_time(t, "America/Chicago", &a);
        rc_local_time_idx(t, i, &b);
        assert_memory_equal(&a, &b, sizeof a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zone_by_country),  cmocka_unit_test(test_zone_by_postal_code),
        cmocka_unit_test(test_fixed_offsets),    cmocka_unit_test(test_dst_us),
        cmocka_unit_test(test_dst_eu),           cmocka_unit_test(test_dst_south),
        cmocka_unit_test(test_index_matches_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
