/* Money at the API edge: currency exponents, exact decimal parsing of text
 * and JSON numbers, and formatting with the currency's decimals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/money.h"

static void exponent_of_known_currencies(void **state)
{
    (void)state;
    assert_int_equal(currency_exponent("EUR"), 2);
    assert_int_equal(currency_exponent("USD"), 2);
    assert_int_equal(currency_exponent("GBP"), 2);
    assert_int_equal(currency_exponent("JPY"), 0);
    assert_int_equal(currency_exponent("KRW"), 0);
    assert_int_equal(currency_exponent("KWD"), 3);
    assert_int_equal(currency_exponent("BHD"), 3);
    assert_int_equal(currency_exponent("CLF"), 4);
    assert_int_equal(currency_exponent("UYW"), 4);
    /* First and last entries of the two-decimal list: the scan must reach both ends. */
    assert_int_equal(currency_exponent("AED"), 2);
    assert_int_equal(currency_exponent("ZWL"), 2);
}

static void exponent_of_bad_codes(void **state)
{
    (void)state;
    assert_int_equal(currency_exponent("eur"), -1);
    assert_int_equal(currency_exponent("Eur"), -1);
    assert_int_equal(currency_exponent("EU"), -1);
    assert_int_equal(currency_exponent("EURO"), -1);
    assert_int_equal(currency_exponent(""), -1);
    assert_int_equal(currency_exponent(NULL), -1);
    assert_int_equal(currency_exponent("XXX"), -1);
    assert_int_equal(currency_exponent("ABC"), -1);
    assert_int_equal(currency_exponent("E1R"), -1);
    /* A code made of the list's separators and neighbours must not match across entries. */
    assert_int_equal(currency_exponent("EDA"), -1);
    assert_int_equal(currency_exponent("UR "), -1);
}

static void expect_decimal(const char *s, int exponent, int64_t want)
{
    int64_t got = -424242;
    enum money_err e = money_parse_decimal(s, exponent, &got);
    if (e != MONEY_OK)
        fail_msg("\"%s\" (exponent %d) gave error %d", s, exponent, (int)e);
    if (got != want)
        fail_msg("\"%s\" (exponent %d) gave %lld, want %lld", s, exponent, (long long)got, (long long)want);
}

static void expect_decimal_err(const char *s, int exponent, enum money_err want)
{
    int64_t got = -424242;
    enum money_err e = money_parse_decimal(s, exponent, &got);
    if (e != want)
        fail_msg("\"%s\" (exponent %d) gave error %d, want %d", s ? s : "(null)", exponent, (int)e, (int)want);
    assert_int_equal(got, -424242);
}

static void decimal_with_each_exponent(void **state)
{
    (void)state;
    expect_decimal("12", 2, 1200);
    expect_decimal("12.5", 2, 1250);
    expect_decimal("12.34", 2, 1234);
    expect_decimal("12.340", 2, 1234);
    expect_decimal("12.3400000", 2, 1234);
    expect_decimal("0", 2, 0);
    expect_decimal("0.00", 2, 0);
    expect_decimal("-0.01", 2, -1);
    expect_decimal("-12.5", 2, -1250);
    expect_decimal("007.50", 2, 750);
    expect_decimal("5000", 0, 5000);
    expect_decimal("5000.0", 0, 5000);
    expect_decimal("1.234", 3, 1234);
    expect_decimal("1.2", 3, 1200);
    expect_decimal("1.2345", 4, 12345);
    expect_decimal("0.0001", 4, 1);
}

static void decimal_too_precise(void **state)
{
    (void)state;
    expect_decimal_err("12.345", 2, MONEY_TOO_PRECISE);
    expect_decimal_err("0.001", 2, MONEY_TOO_PRECISE);
    expect_decimal_err("12.3401", 2, MONEY_TOO_PRECISE);
    expect_decimal_err("5000.5", 0, MONEY_TOO_PRECISE);
    expect_decimal_err("1.2345", 3, MONEY_TOO_PRECISE);
    expect_decimal_err("1.23456", 4, MONEY_TOO_PRECISE);
}

static void decimal_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "-", "--1", "+1", " 1", "1 ", "1e5", "1E5", "1.", ".5", "-.5", "1.2.3", "1,5",
        "0x10", "abc", "12a", "1.5x", "1. 5", "NaN", "inf", "\t1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_decimal_err(bad[i], 2, MONEY_NOT_A_NUMBER);
    expect_decimal_err(NULL, 2, MONEY_NOT_A_NUMBER);
    /* An unknown currency's exponent (-1) never yields an amount. */
    expect_decimal_err("12", -1, MONEY_NOT_A_NUMBER);
}

static void decimal_range(void **state)
{
    (void)state;
    expect_decimal("999999999999999", 2, 99999999999999900);
    expect_decimal("-999999999999999.99", 2, -99999999999999999);
    expect_decimal("999999999999999", 0, 999999999999999);
    /* Leading zeros are not magnitude. */
    expect_decimal("00000000000000000001", 2, 100);
    expect_decimal_err("1000000000000000", 2, MONEY_OUT_OF_RANGE);
    expect_decimal_err("-1000000000000000", 2, MONEY_OUT_OF_RANGE);
    expect_decimal_err("99999999999999999999999", 0, MONEY_OUT_OF_RANGE);
    /* The largest major amount still fits int64 minor units with four decimals. */
    expect_decimal("922337203685477.5807", 4, INT64_MAX);
    expect_decimal("-922337203685477.5807", 4, -INT64_MAX);
    expect_decimal_err("922337203685477.5808", 4, MONEY_OUT_OF_RANGE);
    expect_decimal_err("999999999999999", 4, MONEY_OUT_OF_RANGE);
    expect_decimal_err("999999999999999.9999", 4, MONEY_OUT_OF_RANGE);
}

static enum money_err parse_json_text(const char *json, int exponent, int64_t *out)
{
    cJSON *v = cJSON_Parse(json);
    if (!v)
        fail_msg("test JSON does not parse: %s", json);
    enum money_err e = money_parse_json(v, exponent, out);
    cJSON_Delete(v);
    return e;
}

static void expect_json(const char *json, int exponent, int64_t want)
{
    int64_t got = -424242;
    enum money_err e = parse_json_text(json, exponent, &got);
    if (e != MONEY_OK)
        fail_msg("%s (exponent %d) gave error %d", json, exponent, (int)e);
    if (got != want)
        fail_msg("%s (exponent %d) gave %lld, want %lld", json, exponent, (long long)got, (long long)want);
}

static void expect_json_err(const char *json, int exponent, enum money_err want)
{
    int64_t got = -424242;
    enum money_err e = parse_json_text(json, exponent, &got);
    if (e != want)
        fail_msg("%s (exponent %d) gave error %d, want %d", json, exponent, (int)e, (int)want);
}

static void json_numbers_are_exact(void **state)
{
    (void)state;
    expect_json("12.23", 2, 1223);
    expect_json("0.1", 2, 10);
    /* Values whose binary form lies just below the decimal: naive d * 100 truncates them. */
    expect_json("0.29", 2, 29);
    expect_json("19.99", 2, 1999);
    expect_json("1.15", 2, 115);
    expect_json("4.35", 2, 435);
    expect_json("50", 2, 5000);
    expect_json("50.0", 2, 5000);
    expect_json("1e2", 2, 10000);
    expect_json("-5.5", 2, -550);
    expect_json("0", 2, 0);
    expect_json("123456789012.34", 2, 12345678901234);
    expect_json("5000", 0, 5000);
    expect_json("1.234", 3, 1234);
    expect_json("0.0001", 4, 1);
    expect_json("1e-2", 2, 1);
    /* Shortest text in exponent form is expanded before the decimals are counted. */
    expect_json("1.5e14", 2, 15000000000000000);
    expect_json("2.5e-1", 2, 25);
    expect_json("-1.23e2", 2, -12300);
    expect_json("-0.0", 2, 0);
    expect_json("999999999999999", 2, 99999999999999900);
}

static void json_numbers_rejected(void **state)
{
    (void)state;
    expect_json_err("1e-7", 2, MONEY_TOO_PRECISE);
    expect_json_err("1.005", 2, MONEY_TOO_PRECISE);
    expect_json_err("1.25e-1", 2, MONEY_TOO_PRECISE);
    expect_json_err("12.345", 2, MONEY_TOO_PRECISE);
    expect_json_err("0.5", 0, MONEY_TOO_PRECISE);
    expect_json_err("5e-324", 2, MONEY_TOO_PRECISE);
    expect_json_err("1e20", 2, MONEY_OUT_OF_RANGE);
    expect_json_err("-1e20", 2, MONEY_OUT_OF_RANGE);
    expect_json_err("1e15", 2, MONEY_OUT_OF_RANGE);
    expect_json_err("1e308", 2, MONEY_OUT_OF_RANGE);
    expect_json_err("999999999999999", 4, MONEY_OUT_OF_RANGE);
    expect_json_err("true", 2, MONEY_NOT_A_NUMBER);
    expect_json_err("null", 2, MONEY_NOT_A_NUMBER);
    expect_json_err("[1]", 2, MONEY_NOT_A_NUMBER);
    expect_json_err("{\"a\":1}", 2, MONEY_NOT_A_NUMBER);
    int64_t out = 0;
    assert_int_equal(money_parse_json(NULL, 2, &out), MONEY_NOT_A_NUMBER);
}

static void json_strings_are_decimal_text(void **state)
{
    (void)state;
    expect_json("\"12.5\"", 2, 1250);
    expect_json("\"12.340\"", 2, 1234);
    expect_json("\"-0.01\"", 2, -1);
    expect_json_err("\"12.345\"", 2, MONEY_TOO_PRECISE);
    expect_json_err("\"1e5\"", 2, MONEY_NOT_A_NUMBER);
    expect_json_err("\"\"", 2, MONEY_NOT_A_NUMBER);
    expect_json_err("\" 12\"", 2, MONEY_NOT_A_NUMBER);
    expect_json_err("\"1000000000000000\"", 2, MONEY_OUT_OF_RANGE);
}

static void expect_format(int64_t minor, int exponent, const char *want)
{
    char out[32];
    memset(out, 'x', sizeof out);
    money_format(minor, exponent, out, sizeof out);
    assert_string_equal(out, want);
}

static void format_with_currency_decimals(void **state)
{
    (void)state;
    expect_format(5000, 2, "50.00");
    expect_format(1234, 2, "12.34");
    expect_format(5, 2, "0.05");
    expect_format(0, 2, "0.00");
    expect_format(5000, 0, "5000");
    expect_format(0, 0, "0");
    expect_format(1234, 3, "1.234");
    expect_format(1, 3, "0.001");
    expect_format(12345, 4, "1.2345");
    expect_format(-1, 2, "-0.01");
    expect_format(-150, 2, "-1.50");
    expect_format(-5, 0, "-5");
    expect_format(-1234, 3, "-1.234");
    expect_format(INT64_MAX, 2, "92233720368547758.07");
    expect_format(INT64_MIN, 2, "-92233720368547758.08");
}

static void format_and_parse_round_trip(void **state)
{
    (void)state;
    static const int64_t values[] = {0, 1, -1, 9, 10, 99, 100, 101, 123456, -987654321, 999999999999999};
    for (int exponent = 0; exponent <= 4; exponent++) {
        for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
            char text[32];
            money_format(values[i], exponent, text, sizeof text);
            int64_t back = 0;
            assert_int_equal(money_parse_decimal(text, exponent, &back), MONEY_OK);
            assert_int_equal(back, values[i]);
        }
    }
}

static void format_respects_buffer_size(void **state)
{
    (void)state;
    char out[6];
    memset(out, 'x', sizeof out);
    money_format(123456789, 2, out, sizeof out);
    assert_int_equal(strlen(out), sizeof out - 1);
    assert_memory_equal(out, "12345", 5);
}

static void expect_shortest(double d, const char *want)
{
    char out[32];
    double_shortest(d, out, sizeof out);
    assert_string_equal(out, want);
    assert_true(strtod(out, NULL) == d);
}

static void shortest_text_round_trips(void **state)
{
    (void)state;
    expect_shortest(0.1, "0.1");
    expect_shortest(12.23, "12.23");
    expect_shortest(5, "5");
    expect_shortest(-2.5, "-2.5");
    expect_shortest(0, "0");
    expect_shortest(1e20, "1e+20");
    expect_shortest(1e-7, "1e-07");
    expect_shortest(0.1 + 0.2, "0.30000000000000004");
    expect_shortest(1.0 / 3.0, "0.3333333333333333");
    expect_shortest(123456789012.34, "123456789012.34");
    /* Every double must come back bit-identical, however many digits it needs. */
    double d = 1.0;
    for (int i = 0; i < 200; i++) {
        char out[32];
        double_shortest(d, out, sizeof out);
        assert_true(strtod(out, NULL) == d);
        d = d * 1.37 + 0.011;
    }
}

static void error_messages(void **state)
{
    (void)state;
    const char *m1 = money_err_message(MONEY_NOT_A_NUMBER);
    const char *m2 = money_err_message(MONEY_TOO_PRECISE);
    const char *m3 = money_err_message(MONEY_OUT_OF_RANGE);
    assert_true(strlen(m1) > 0 && strlen(m2) > 0 && strlen(m3) > 0);
    assert_string_not_equal(m1, m2);
    assert_string_not_equal(m2, m3);
    assert_string_not_equal(m1, m3);
    assert_non_null(strstr(m2, "decimals"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exponent_of_known_currencies),
        cmocka_unit_test(exponent_of_bad_codes),
        cmocka_unit_test(decimal_with_each_exponent),
        cmocka_unit_test(decimal_too_precise),
        cmocka_unit_test(decimal_malformed),
        cmocka_unit_test(decimal_range),
        cmocka_unit_test(json_numbers_are_exact),
        cmocka_unit_test(json_numbers_rejected),
        cmocka_unit_test(json_strings_are_decimal_text),
        cmocka_unit_test(format_with_currency_decimals),
        cmocka_unit_test(format_and_parse_round_trip),
        cmocka_unit_test(format_respects_buffer_size),
        cmocka_unit_test(shortest_text_round_trips),
        cmocka_unit_test(error_messages),
    };
    return cmocka_run_group_tests_name("money", tests, NULL, NULL);
}
