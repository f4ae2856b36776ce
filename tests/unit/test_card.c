/* Instrument checks: card numbers, brands, masking, expiry, CVV, and MB WAY
 * phone numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/timefmt.h"
#include "gateway/card.h"

static void luhn(void **state)
{
    (void)state;
    assert_true(card_luhn_ok("4242424242424242"));
    assert_true(card_luhn_ok("5555555555554444"));
    assert_true(card_luhn_ok("378282246310005"));
    assert_true(card_luhn_ok("79927398713"));
    assert_false(card_luhn_ok("1234567890123456"));
    assert_false(card_luhn_ok("4242424242424241"));
    assert_false(card_luhn_ok("79927398710"));
    assert_false(card_luhn_ok(""));
    assert_false(card_luhn_ok("42424242424242a2"));
    assert_false(card_luhn_ok("4242 4242 4242 4242"));
    /* Every single-digit change of a valid number must be caught. */
    char n[17];
    for (int pos = 0; pos < 16; pos++) {
        for (char d = '0'; d <= '9'; d++) {
            memcpy(n, "4242424242424242", sizeof n);
            if (n[pos] == d)
                continue;
            n[pos] = d;
            if (card_luhn_ok(n))
                fail_msg("%s passes the Luhn check", n);
        }
    }
    /* Swapping adjacent distinct digits (other than 0/9) must be caught too. */
    assert_false(card_luhn_ok("2442424242424242"));
}

static void expect_normalized(const char *in, const char *want)
{
    char out[20];
    int n = card_normalize(in, out, sizeof out);
    if (n < 0)
        fail_msg("\"%s\" was rejected", in);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(out, want);
}

static void expect_not_normalized(const char *in)
{
    char out[20];
    if (card_normalize(in, out, sizeof out) >= 0)
        fail_msg("\"%s\" was accepted", in);
}

static void normalize(void **state)
{
    (void)state;
    expect_normalized("4242424242424242", "4242424242424242");
    expect_normalized("4242 4242 4242 4242", "4242424242424242");
    expect_normalized("4242-4242-4242-4242", "4242424242424242");
    expect_normalized("3782 822463 10005", "378282246310005");
    expect_normalized("123456789012", "123456789012");
    expect_normalized("1234567890123456789", "1234567890123456789");
    expect_normalized("1 2 3 4 5 6 7 8 9 0 1 2", "123456789012");
    expect_normalized(" 4242424242424242", "4242424242424242");
    expect_normalized("4242 4242 4242 4242  ", "4242424242424242");

    expect_not_normalized("");
    expect_not_normalized("12345678901");
    expect_not_normalized("1234 5678 901");
    expect_not_normalized("12345678901234567890");
    expect_not_normalized("4242 4242 4242 4242 4242");
    expect_not_normalized("4242a24242424242");
    expect_not_normalized("4242424242424242x");
    expect_not_normalized("4242424242424242-");
    expect_not_normalized("4242  4242 4242 4242");
    expect_not_normalized("4242 -4242 4242 4242");
    expect_not_normalized("4242.4242.4242.4242");
    expect_not_normalized("4242\t4242\t4242\t4242");
    expect_not_normalized("+4242424242424242");
    expect_not_normalized("-4242424242424242");
}

static void normalize_respects_output_size(void **state)
{
    (void)state;
    char out[13];
    memset(out, 'x', sizeof out);
    assert_int_equal(card_normalize("123456789012", out, sizeof out), 12);
    assert_string_equal(out, "123456789012");
    assert_int_equal(card_normalize("1234567890123", out, sizeof out), -1);
}

static void expect_brand(const char *digits, const char *want)
{
    const char *got = card_brand(digits);
    if (strcmp(got, want) != 0)
        fail_msg("%s is %s, want %s", digits, got, want);
}

static void brands(void **state)
{
    (void)state;
    expect_brand("4242424242424242", "visa");
    expect_brand("4000000000000002", "visa");
    expect_brand("4", "visa");
    expect_brand("5555555555554444", "mastercard");
    expect_brand("5105105105105100", "mastercard");
    for (int p = 51; p <= 55; p++) {
        char d[17];
        snprintf(d, sizeof d, "%d00000000000000", p);
        expect_brand(d, "mastercard");
    }
    expect_brand("2221000000000009", "mastercard");
    expect_brand("2223003122003222", "mastercard");
    expect_brand("2720990000000000", "mastercard");
    expect_brand("2220990000000000", "unknown");
    expect_brand("2721000000000000", "unknown");
    expect_brand("378282246310005", "amex");
    expect_brand("341111111111111", "amex");
    expect_brand("351111111111111", "unknown");
    expect_brand("6011111111111117", "discover");
    expect_brand("6500000000000002", "discover");
    expect_brand("6440000000000000", "discover");
    expect_brand("6490000000000000", "discover");
    expect_brand("6430000000000000", "unknown");
    expect_brand("6012000000000000", "unknown");
    expect_brand("3530111333300000", "jcb");
    expect_brand("3528000000000000", "jcb");
    expect_brand("3589000000000000", "jcb");
    expect_brand("3527000000000000", "unknown");
    expect_brand("3590000000000000", "unknown");
    expect_brand("36227206271667", "diners");
    expect_brand("30569309025904", "diners");
    expect_brand("6200000000000005", "unionpay");
    expect_brand("5018000000000009", "maestro");
    expect_brand("6759000000000000", "maestro");
    expect_brand("1234567890123456", "unknown");
    expect_brand("9999999999999999", "unknown");
    expect_brand("", "unknown");
    expect_brand("5", "unknown");
    expect_brand("222", "unknown");
}

static void expect_mask(const char *digits, const char *want)
{
    char out[24];
    card_mask(digits, out, sizeof out);
    assert_string_equal(out, want);
}

static void mask_keeps_first_six_and_last_four(void **state)
{
    (void)state;
    expect_mask("4242424242424242", "424242******4242");
    expect_mask("378282246310005", "378282*****0005");
    expect_mask("123456789012", "123456**9012");
    expect_mask("1234567890123456789", "123456*********6789");
    /* Nothing is hidden when the number is too short to have a middle. */
    expect_mask("1234567890", "1234567890");
    char small[8];
    card_mask("4242424242424242", small, sizeof small);
    assert_string_equal(small, "424242*");
}

static void parse_month(void **state)
{
    (void)state;
    static const struct { const char *s; int month; } ok[] = {
        {"1", 1}, {"01", 1}, {"05", 5}, {"5", 5}, {"9", 9}, {"10", 10}, {"12", 12},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int m = 0;
        assert_int_equal(card_parse_month(ok[i].s, &m), 0);
        assert_int_equal(m, ok[i].month);
    }
    static const char *const bad[] = {"", "0", "00", "13", "99", "012", "a", "1a", " 5", "5 ", "+5", "-1", "1.0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int m = 4242;
        if (card_parse_month(bad[i], &m) == 0)
            fail_msg("month \"%s\" was accepted", bad[i]);
        assert_int_equal(m, 4242);
    }
}

static void parse_year(void **state)
{
    (void)state;
    int y = 0;
    assert_int_equal(card_parse_year("2028", &y), 0);
    assert_int_equal(y, 2028);
    assert_int_equal(card_parse_year("1900", &y), 0);
    assert_int_equal(y, 1900);
    assert_int_equal(card_parse_year("2999", &y), 0);
    assert_int_equal(y, 2999);
    static const char *const bad[] = {"", "28", "202", "20280", "1899", "3000", "+202", " 202", "202 ", "20a8", "-202"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        y = 4242;
        if (card_parse_year(bad[i], &y) == 0)
            fail_msg("year \"%s\" was accepted", bad[i]);
        assert_int_equal(y, 4242);
    }
}

static int64_t at(const char *iso)
{
    int64_t ms = 0;
    if (time_parse_iso8601_strict(iso, &ms) != 0)
        fail_msg("bad test instant %s", iso);
    return ms;
}

static void expiry_boundaries(void **state)
{
    (void)state;
    const int64_t now = at("2026-11-21T10:15:30.123Z");
    assert_true(card_expiry_valid(11, 2026, now));
    assert_true(card_expiry_valid(12, 2026, now));
    assert_true(card_expiry_valid(1, 2027, now));
    assert_true(card_expiry_valid(1, 2040, now));
    assert_false(card_expiry_valid(10, 2026, now));
    assert_false(card_expiry_valid(1, 2026, now));
    assert_false(card_expiry_valid(12, 2025, now));

    /* Valid through the last millisecond of the expiry month, not one after. */
    assert_true(card_expiry_valid(11, 2026, at("2026-11-30T23:59:59.999Z")));
    assert_false(card_expiry_valid(11, 2026, at("2026-12-01T00:00:00.000Z")));
    assert_true(card_expiry_valid(11, 2026, at("2026-11-01T00:00:00.000Z")));
    assert_true(card_expiry_valid(12, 2026, at("2026-12-31T23:59:59.999Z")));
    assert_false(card_expiry_valid(12, 2026, at("2027-01-01T00:00:00.000Z")));
    assert_true(card_expiry_valid(1, 2027, at("2027-01-01T00:00:00.000Z")));
}

static void cvv(void **state)
{
    (void)state;
    assert_true(card_cvv_ok("123", "visa"));
    assert_true(card_cvv_ok("000", "mastercard"));
    assert_true(card_cvv_ok("999", "unknown"));
    assert_true(card_cvv_ok("1234", "amex"));
    assert_false(card_cvv_ok("1234", "visa"));
    assert_false(card_cvv_ok("12", "visa"));
    assert_false(card_cvv_ok("123", "amex"));
    assert_false(card_cvv_ok("12345", "amex"));
    assert_false(card_cvv_ok("", "visa"));
    assert_false(card_cvv_ok("12a", "visa"));
    assert_false(card_cvv_ok("abc", "visa"));
    assert_false(card_cvv_ok("12 3", "visa"));
    assert_false(card_cvv_ok(" 12", "visa"));
    assert_false(card_cvv_ok("123a", "amex"));
}

static void expect_phone(const char *in, const char *want)
{
    char out[10];
    memset(out, 'x', sizeof out);
    if (mbway_normalize_phone(in, out) != 0)
        fail_msg("\"%s\" was rejected", in);
    assert_string_equal(out, want);
}

static void expect_not_phone(const char *in)
{
    char out[10] = "untouched";
    if (mbway_normalize_phone(in, out) == 0)
        fail_msg("\"%s\" was accepted as %s", in, out);
    assert_string_equal(out, "untouched");
}

static void mbway_phones(void **state)
{
    (void)state;
    expect_phone("912345678", "912345678");
    expect_phone("+351912345678", "912345678");
    expect_phone("00351 912 345 678", "912345678");
    expect_phone("351912345678", "912345678");
    expect_phone("+351 912 345 678", "912345678");
    expect_phone("  912345678", "912345678");
    expect_phone("912 345 678 ", "912345678");
    expect_phone("922345678", "922345678");
    expect_phone("932345678", "932345678");
    expect_phone("962345678", "962345678");

    expect_not_phone("212345678");
    expect_not_phone("+351212345678");
    expect_not_phone("942345678");
    expect_not_phone("952345678");
    expect_not_phone("902345678");
    expect_not_phone("812345678");
    expect_not_phone("91234567");
    expect_not_phone("9123456789");
    expect_not_phone("+34612345678");
    expect_not_phone("+34912345678");
    expect_not_phone("0034912345678");
    expect_not_phone("+912345678");
    expect_not_phone("+00351912345678");
    expect_not_phone("0035191234567");
    expect_not_phone("3519123456789");
    expect_not_phone("91234567a");
    expect_not_phone("912.345.678");
    expect_not_phone("++351912345678");
    expect_not_phone("");
    expect_not_phone("+");
    expect_not_phone("123456789012345678901234567890");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(luhn),
        cmocka_unit_test(normalize),
        cmocka_unit_test(normalize_respects_output_size),
        cmocka_unit_test(brands),
        cmocka_unit_test(mask_keeps_first_six_and_last_four),
        cmocka_unit_test(parse_month),
        cmocka_unit_test(parse_year),
        cmocka_unit_test(expiry_boundaries),
        cmocka_unit_test(cvv),
        cmocka_unit_test(mbway_phones),
    };
    return cmocka_run_group_tests_name("card", tests, NULL, NULL);
}
