/* The growable buffer, its JSON string writer (ASCII-only output), and the
 * bounded string helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

static void appends_grow_and_terminate(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    assert_string_equal(buf_cstr(&b), "");
    buf_puts(&b, "abc");
    buf_putc(&b, '-');
    buf_append(&b, "xyz123", 3);
    buf_put_i64(&b, INT64_MIN);
    buf_printf(&b, "|%d|%s", 42, "z");
    assert_string_equal(buf_cstr(&b), "abc-xyz-9223372036854775808|42|z");
    assert_int_equal(b.len, strlen(b.data));
    /* Far beyond the first allocation, with contents intact. */
    for (int i = 0; i < 10000; i++)
        buf_putc(&b, (char)('a' + i % 26));
    assert_int_equal(b.len, 32 + 10000);
    assert_int_equal(b.data[b.len], '\0');
    assert_memory_equal(b.data, "abc-xyz-", 8);
    assert_int_equal(b.data[32], 'a');
    assert_int_equal(b.data[b.len - 1], 'a' + 9999 % 26);
    assert_false(b.oom);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(buf_cstr(&b), "");
    buf_free(&b);
}

static void steal_hands_over_contents(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    buf_puts(&b, "hello");
    size_t len = 0;
    char *s = buf_steal(&b, &len);
    assert_string_equal(s, "hello");
    assert_int_equal(len, 5);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(s);

    s = buf_steal(&b, NULL);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
}

static void reserve_overflow_sets_oom(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    buf_puts(&b, "x");
    assert_int_equal(buf_reserve(&b, SIZE_MAX), -1);
    assert_true(b.oom);
    /* Once out of memory, appends are no-ops rather than partial writes. */
    buf_puts(&b, "more");
    assert_int_equal(b.len, 1);
    assert_string_equal(buf_cstr(&b), "");
    assert_null(buf_steal(&b, NULL));
    buf_free(&b);
}

static char *json_string(const char *s)
{
    buf b;
    buf_init(&b);
    buf_put_json_string(&b, s);
    return buf_steal(&b, NULL);
}

static void expect_json_string(const char *in, const char *want)
{
    char *got = json_string(in);
    assert_string_equal(got, want);
    /* Every output byte is printable ASCII. */
    for (const unsigned char *p = (const unsigned char *)got; *p; p++)
        if (*p < 0x20 || *p >= 0x7F)
            fail_msg("byte 0x%02x in the output for \"%s\"", *p, in);
    free(got);
}

static void json_escapes(void **state)
{
    (void)state;
    expect_json_string("", "\"\"");
    expect_json_string("plain text 123", "\"plain text 123\"");
    expect_json_string("say \"hi\"", "\"say \\\"hi\\\"\"");
    expect_json_string("a\\b", "\"a\\\\b\"");
    expect_json_string("/", "\"/\"");
    expect_json_string("\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\"");
    expect_json_string("\x01", "\"\\u0001\"");
    expect_json_string("a\x1f" "b", "\"a\\u001fb\"");
    expect_json_string("\x7f", "\"\\u007f\"");
    expect_json_string("\"\"\\\\", "\"\\\"\\\"\\\\\\\\\"");
}

static void json_non_ascii(void **state)
{
    (void)state;
    expect_json_string("\xc3\xa9", "\"\\u00e9\"");
    expect_json_string("caf\xc3\xa9!", "\"caf\\u00e9!\"");
    expect_json_string("\xc2\x80", "\"\\u0080\"");
    expect_json_string("\xe2\x82\xac", "\"\\u20ac\"");
    expect_json_string("\xef\xbf\xbf", "\"\\uffff\"");
    expect_json_string("\xf0\x9f\x98\x80", "\"\\ud83d\\ude00\"");
    expect_json_string("\xf0\x90\x80\x80", "\"\\ud800\\udc00\"");
    expect_json_string("\xf4\x8f\xbf\xbf", "\"\\udbff\\udfff\"");
}

static void json_invalid_utf8(void **state)
{
    (void)state;
    /* Each bad byte becomes one replacement character; what follows is kept. */
    expect_json_string("\xff", "\"\\ufffd\"");
    expect_json_string("a\x80z", "\"a\\ufffdz\"");
    expect_json_string("\xc3", "\"\\ufffd\"");
    expect_json_string("\xc3(", "\"\\ufffd(\"");
    expect_json_string("\xc0\x80", "\"\\ufffd\\ufffd\"");
    expect_json_string("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");
    expect_json_string("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
    expect_json_string("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
    expect_json_string("\xe2\x82", "\"\\ufffd\\ufffd\"");
    expect_json_string("\xf0\x9f\x98", "\"\\ufffd\\ufffd\\ufffd\"");
}

static void json_output_parses_back(void **state)
{
    (void)state;
    static const char *const samples[] = {
        "Jo\xc3\xa3o \"Z\xc3\xa9\" \\ \xf0\x9f\x98\x80\n\x01\x7f",
        "\xe4\xb8\xad\xe6\x96\x87",
        "tab\there",
    };
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char *text = json_string(samples[i]);
        cJSON *v = cJSON_Parse(text);
        assert_non_null(v);
        assert_true(cJSON_IsString(v));
        assert_string_equal(v->valuestring, samples[i]);
        cJSON_Delete(v);
        free(text);
    }
}

static void string_copy(void **state)
{
    (void)state;
    char dst[6];
    assert_int_equal(str_copy(dst, sizeof dst, "hello"), 0);
    assert_string_equal(dst, "hello");
    assert_int_equal(str_copy(dst, sizeof dst, ""), 0);
    assert_string_equal(dst, "");
    assert_int_equal(str_copy(dst, sizeof dst, "hello!"), -1);
    assert_string_equal(dst, "hello");
    assert_int_equal(str_copy(dst, sizeof dst, "a much longer string"), -1);
    assert_string_equal(dst, "a muc");
    char one[1] = {'x'};
    assert_int_equal(str_copy(one, sizeof one, "abc"), -1);
    assert_int_equal(one[0], '\0');
    char none[1] = {'x'};
    assert_int_equal(str_copy(none, 0, "abc"), -1);
    assert_int_equal(none[0], 'x');
}

static void string_to_i64(void **state)
{
    (void)state;
    static const struct { const char *s; int64_t v; } ok[] = {
        {"0", 0}, {"42", 42}, {"-42", -42}, {"007", 7},
        {"9223372036854775807", INT64_MAX}, {"-9223372036854775808", INT64_MIN},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t v = -1;
        assert_int_equal(str_to_i64(ok[i].s, &v), 0);
        assert_int_equal(v, ok[i].v);
    }
    static const char *const bad[] = {
        "", "abc", "12a", "a12", "1 2", "12 ", "1.5", "1e3", "0x10", "-", "--1",
        "9223372036854775808", "-9223372036854775809", "99999999999999999999", " 12", "+12", "- 1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 4242;
        if (str_to_i64(bad[i], &v) == 0)
            fail_msg("\"%s\" parsed as %lld", bad[i], (long long)v);
        assert_int_equal(v, 4242);
    }
    int64_t v = 4242;
    assert_int_equal(str_to_i64(NULL, &v), -1);
    assert_int_equal(v, 4242);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(appends_grow_and_terminate),
        cmocka_unit_test(steal_hands_over_contents),
        cmocka_unit_test(reserve_overflow_sets_oom),
        cmocka_unit_test(json_escapes),
        cmocka_unit_test(json_non_ascii),
        cmocka_unit_test(json_invalid_utf8),
        cmocka_unit_test(json_output_parses_back),
        cmocka_unit_test(string_copy),
        cmocka_unit_test(string_to_i64),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
